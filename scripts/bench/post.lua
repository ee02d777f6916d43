-- wrk script: POST /api/v1/statuses as fast as it answers, for
-- scripts/bench.sh's posting rate.  The tokens come from the environment:
-- BENCH_TOKEN, comma-separated; the requests go round them (one author
-- each).  Every post differs (a counter), with a hashtag and a link.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

local tokens = {}
for t in string.gmatch(os.getenv("BENCH_TOKEN"), "[^,]+") do
    tokens[#tokens + 1] = "Bearer " .. t
end

local n = 0
local failed = 0

request = function()
    n = n + 1
    wrk.headers["Authorization"] = tokens[n % #tokens + 1]
    return wrk.format(nil, nil, nil,
        "status=Benchmark+post+" .. n .. "+about+%23nginx+https%3A%2F%2Fnginx.org%2F")
end

response = function(status, headers, body)
    if status ~= 200 then
        failed = failed + 1
    end
end

done = function(summary, latency, requests)
    io.write(string.format("posts: %d, failed: %d\n", summary.requests, failed))
end
