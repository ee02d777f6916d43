-- wrk script: password-grant sign-ins (bcrypt in the thread pool), for
-- scripts/bench.sh's sign-in latency check.  The body comes from the
-- environment: BENCH_SIGNIN_BODY.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_SIGNIN_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

local failed = 0

response = function(status, headers, body)
    if status ~= 200 then
        failed = failed + 1
    end
end

done = function(summary, latency, requests)
    io.write(string.format("sign-ins: %d, failed: %d\n", summary.requests, failed))
end
