-- wrk script: one signed ActivityPub POST, sent again and again (the
-- signature stays valid in Mastodon's time window; replays are the
-- worker's to drop), for scripts/bench.sh's inbox row.  The request comes
-- from the environment: BENCH_INBOX_BODY, _HOST, _DATE, _DIGEST,
-- _SIGNATURE.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_INBOX_BODY")
wrk.headers["Content-Type"] = "application/activity+json"
wrk.headers["Host"] = os.getenv("BENCH_INBOX_HOST")
wrk.headers["Date"] = os.getenv("BENCH_INBOX_DATE")
wrk.headers["Digest"] = os.getenv("BENCH_INBOX_DIGEST")
wrk.headers["Signature"] = os.getenv("BENCH_INBOX_SIGNATURE")

local refused = 0

response = function(status, headers, body)
    if status ~= 202 then
        refused = refused + 1
    end
end

done = function(summary, latency, requests)
    io.write(string.format("inbox: %d requests, %d not 202\n", summary.requests, refused))
end
