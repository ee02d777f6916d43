-- wrk script: POST /api/v1/statuses as fast as it answers, for
-- scripts/bench.sh's posting rate.  The tokens come from the environment:
-- BENCH_TOKEN, comma-separated; the requests go round them (one author
-- each), each wrk thread starting at its own offset so that the threads do
-- not post as the same author at the same moment (which only measures the
-- wait for the author's account_stats row).  Every post differs (a
-- counter and the thread), with a hashtag and a link.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

local tokens = {}
for t in string.gmatch(os.getenv("BENCH_TOKEN"), "[^,]+") do
    tokens[#tokens + 1] = "Bearer " .. t
end

local n = 0
failed = 0     -- a global: done() reads it with thread:get()
local threads = {}

setup = function(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end

request = function()
    n = n + 1
    wrk.headers["Authorization"] =
        tokens[(n + (id or 0) * math.floor(#tokens / 2)) % #tokens + 1]
    return wrk.format(nil, nil, nil,
        "status=Benchmark+post+" .. (id or 0) .. "." .. n
        .. "+about+%23nginx+https%3A%2F%2Fnginx.org%2F")
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
    io.write(string.format("posts: %d, failed: %d\n", summary.requests, all))
end
