-- wrk script: password-grant sign-ins (bcrypt in the thread pool), for
-- scripts/bench.sh's sign-in latency check.  The body comes from the
-- environment: BENCH_SIGNIN_BODY.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_SIGNIN_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

failed = 0     -- a global: done() reads it with thread:get()
local threads = {}

setup = function(thread)
    table.insert(threads, thread)
end

response = function(status, headers, body)
    if status ~= 200 then
        failed = failed + 1
    end
end

-- done() runs in wrk's main script state: the failures are the threads'
done = function(summary, latency, requests)
    local all = 0
    for _, thread in ipairs(threads) do
        all = all + (thread:get("failed") or 0)
    end
    io.write(string.format("sign-ins: %d, failed: %d\n", summary.requests, all))
end
