-- wrk script: POST /api/v1/statuses as fast as it answers, for
-- scripts/bench.sh's posting rate.  The tokens come from the environment:
-- BENCH_TOKEN, comma-separated; the requests go round them (one author
-- each), each wrk thread starting at its own offset so that the threads do
-- not post as the same author at the same moment (which only measures the
-- wait for the author's account_stats row).  Every post differs (a
-- counter and the thread), with a hashtag and a link.
--
-- With BENCH_POST_IDS (a file) done() writes the id of every status
-- answered 200 there, one a line: the bench checks that each is a row.
-- With BENCH_POST_T0 (the run's start, ms since the epoch) and
-- BENCH_POST_SLICE (seconds), the 200 answers are counted per slice of the
-- run and done() prints them on a `slices:` line.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

local tokens = {}
for t in string.gmatch(os.getenv("BENCH_TOKEN"), "[^,]+") do
    tokens[#tokens + 1] = "Bearer " .. t
end

local ids_path = os.getenv("BENCH_POST_IDS")
local t0 = tonumber(os.getenv("BENCH_POST_T0") or "")
local slice_ms = (tonumber(os.getenv("BENCH_POST_SLICE") or "") or 10) * 1000

local now_ms
if t0 then
    local ffi = require("ffi")
    ffi.cdef [[
        typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
        int clock_gettime(int clock, bench_timespec *ts);
    ]]
    local ts = ffi.new("bench_timespec")
    now_ms = function()
        ffi.C.clock_gettime(0, ts)    -- CLOCK_REALTIME, as `date +%s%N`
        return tonumber(ts.tv_sec) * 1000 + math.floor(tonumber(ts.tv_nsec) / 1e6)
    end
end

local n = 0
failed = 0     -- globals: done() reads them with thread:get()
slices = {}
answered = {}
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
        return
    end
    if ids_path then
        answered[#answered + 1] = string.match(body, '"id":"(%d+)"') or "?"
    end
    if now_ms then
        local s = math.floor((now_ms() - t0) / slice_ms)
        slices[s] = (slices[s] or 0) + 1
    end
end

-- done() runs in wrk's main script state: the failures are the threads'
done = function(summary, latency, requests)
    local all, per, last = 0, {}, -1
    for _, thread in ipairs(threads) do
        all = all + (thread:get("failed") or 0)
        for s, c in pairs(thread:get("slices") or {}) do
            per[s] = (per[s] or 0) + c
            if s > last then last = s end
        end
    end
    io.write(string.format("posts: %d, failed: %d\n", summary.requests, all))
    if ids_path then
        local f = assert(io.open(ids_path, "w"))
        for _, thread in ipairs(threads) do
            local a = thread:get("answered") or {}
            if #a > 0 then f:write(table.concat(a, "\n"), "\n") end
        end
        f:close()
    end
    if t0 then
        local out = {}
        for s = 0, last do out[#out + 1] = tostring(per[s] or 0) end
        io.write("slices: " .. table.concat(out, " ") .. "\n")
    end
end
