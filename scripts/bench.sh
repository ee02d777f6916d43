#!/bin/bash
# make bench:  scripts/bench.sh BUILD
#
# Ephemeral set-up as in `make test` (throwaway PostgreSQL, Redis, one worker,
# one nginx with the module, worker_processes 2).  For every endpoint below, the
# module's response body is fetched once and written to a static file that the
# same nginx serves; wrk then loads both and the ratio module/static is printed.
#
# Environment: BENCH_DURATION (10s), BENCH_CONNECTIONS (64), BENCH_THREADS (2),
# BENCH_WARMUP (2s), BENCH_ONLY (names from the list: only those endpoints;
# `signin`, `post`, `fanout`, `deliver`, `inbox`, `media` or `stream` for those sections alone),
# BENCH_STREAM_IDLE (10000), BENCH_STREAM_CLIENTS (1000),
# BENCH_MEDIA (20 images),
# BENCH_FANOUT (follower counts of the fan-out section, default "10000 100000"),
# BENCH_FANOUT_PROFILE (1: perf over the fan-out jobs, by process and symbol),
# BENCH_BIG (follower counts of the big-account section, default "1000 1000000";
# `big` in BENCH_ONLY for it alone),
# BENCH_DELIVERIES (20000), BENCH_FARM_HOSTS (32), BENCH_HOST_CONCURRENCY (8),
# BENCH_SEARCH_STATUSES (1000000; BENCH_ONLY=search for that section alone).
# BENCH_POST_CONNECTIONS (wrk's connections of the posting run, default 16; a
# list such as "16 64" makes one run each, in that order).
# Posting (`post`, last): BENCH_POST_AUTHORS (64), BENCH_POST_DURATION (60s:
# wrk's posting run, issue 10's "sustained for 60 s"; 10s for a quick run),
# BENCH_POST_SLICE (10: posts/s printed per so many seconds of it),
# BENCH_POST_DURABLE (1: PostgreSQL runs with fsync and synchronous_commit
# on for the section, as a post must be durable when answered; 0 keeps the
# tests' fsync off), BENCH_POST_DRAIN_MAX (600 s for the worker's queue to
# drain), BENCH_FLOOR_DURATION (BENCH_DURATION: each pgbench and wrk run of
# the floor), BENCH_FLOOR_POSTS (3000: posts of the raw Redis floor); what
# it prints: above post_bench().
#
# Fan-out: an account with N local followers, every follower's home feed
# present (complete, as an active user's), posts once; the worker's
# distribute job (its own "done in N ms") is compared with redis-cli --pipe
# sending N plain ZADDs into N such feeds: what Redis alone needs.
set -eu
. "$(dirname "$0")/lib.sh"
cd "$MASTODON_ROOT"

# One line per endpoint: "name path [auth]".  Add a line to bench another
# GET; "auth" sends the bench user's bearer token (made below).
ENDPOINTS='
instance /api/v1/instance
verify_credentials /api/v1/accounts/verify_credentials auth
account /api/v1/accounts/@ACCOUNT@
status /api/v1/statuses/@STATUS@ auth
home /api/v1/timelines/home?limit=20 auth
list /api/v1/timelines/list/@LIST@?limit=20 auth
public_local /api/v1/timelines/public?local=true&limit=20
tag /api/v1/timelines/tag/nginx?limit=20
public /api/v1/timelines/public?limit=20
public_viewer /api/v1/timelines/public?local=true&limit=20 auth
notifications /api/v1/notifications?limit=20 auth
'

BUILD=${1:-build}
[ -d "$BUILD" ] || die "build dir $BUILD is missing: run \`make\` first"
BUILD_ABS=$(cd "$BUILD" && pwd)
worker_check "$BUILD_ABS"
module_check "$BUILD_ABS"
command -v wrk >/dev/null || die "wrk not found (scripts/install-deps.sh installs it)"

DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}

mkdir -p var
chmod 755 var
VAR=$(mktemp -d "$MASTODON_ROOT/var/bench.XXXXXX")
chmod 755 "$VAR"
NGX=$VAR/nginx
mkdir -p "$NGX" "$VAR/static"
chmod 755 "$NGX" "$VAR/static"

status=1
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ "$rc" != 0 ] && status=$rc
    nginx_stop "$NGX" || true
    pidfile_stop "$VAR/worker.pid" TERM 30 || true
    redis_stop "$VAR/redis" || true
    pg_stop "$VAR/pg" fast || true
    kill_leftovers "$VAR" || warn "processes were left behind (killed)"
    if [ "$status" = 0 ]; then
        [ -n "${BENCH_KEEP:-}" ] || rm -rf "$VAR"
    else
        echo "==> bench failed; files kept in $VAR" >&2
        tail -n 20 "$NGX/error.log" "$VAR/worker.log" 2>/dev/null >&2 || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

note "PostgreSQL, Redis and the worker in $VAR"
PGPORT=$(pg_create "$VAR/pg")
pg_template "$PGPORT" "$BUILD_ABS" mastodon
REDISPORT=$(redis_create "$VAR/redis")

start_nginx() {
    local port=$1
    cat > "$NGX/nginx.conf" <<EOF
# written by scripts/bench.sh
load_module $BUILD_ABS/nginx/ngx_http_mastodon_module.so;
worker_processes 2;
thread_pool mastodon threads=4;
error_log $NGX/error.log warn;
pid $NGX/nginx.pid;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path $NGX/body;
    proxy_temp_path $NGX/proxy;
    fastcgi_temp_path $NGX/fastcgi;
    uwsgi_temp_path $NGX/uwsgi;
    scgi_temp_path $NGX/scgi;
    keepalive_requests 100000;

    mastodon_database "$(pg_conninfo "$PGPORT" mastodon)";
    mastodon_redis 127.0.0.1:$REDISPORT;
    mastodon_domain localhost:$port;
    mastodon_https off;
    mastodon_instance_cache 60s;
    mastodon_thread_pool mastodon;
    mastodon_bcrypt_cost 10;
    mastodon_oauth_password_grant on;
    mastodon_rate_limit off;        # wrk is one client with one token

    server {
        listen 127.0.0.1:$port;
        server_name localhost;

        # the same bytes, served by nginx itself (files written below)
        location /static/ {
            root $VAR;
            types { }
            default_type application/json;
        }

        location = /bench/accept {
            return 202;             # the inbox row's floor
        }

        location = /bench/posted {  # a post's answer, from a file
            error_page 405 =200 /static/posted;
            return 405;
        }

        location / {
            mastodon;
        }
    }
}
EOF
    nginx_start "$NGX"
}

for _ in 1 2 3 4 5 6 7 8; do
    PORT=$(free_port)
    rc=0; start_nginx "$PORT" || rc=$?
    [ $rc = 0 ] && break
    [ $rc = 2 ] || die "nginx failed to start"
done
[ $rc = 0 ] || die "nginx: no free port"
wait_port "$PORT" 10 || die "nginx does not accept on $PORT"
BASE=http://127.0.0.1:$PORT

MASTODON_DATABASE=$(pg_conninfo "$PGPORT" mastodon) MASTODON_REDIS=127.0.0.1:$REDISPORT \
MASTODON_DOMAIN=localhost:$PORT MASTODON_SQL_DIR=$MASTODON_ROOT/sql MASTODON_LOG_FILE=$VAR/worker.log \
    "$BUILD_ABS/mastodon-worker" run </dev/null >>"$VAR/worker.out" 2>&1 &
echo $! > "$VAR/worker.pid"

# A user with a token, for the authenticated endpoints (only the token's
# SHA-256 digest is stored, as the server does).
psql_bench() {
    psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d mastodon -c "$1"
}
TOKEN=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | head -c 43)
DIGEST=$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)
ACCOUNT=$(psql_bench "INSERT INTO accounts (username, display_name, note) VALUES ('bench', 'Bench',
    'Benchmarks #nginx https://nginx.org') RETURNING id")
psql_bench "INSERT INTO account_stats (account_id, followers_count) VALUES ($ACCOUNT, 42)" >/dev/null
USER_ID=$(psql_bench "INSERT INTO users (account_id, email, confirmed_at) VALUES ($ACCOUNT,
    'bench@example.com', now()) RETURNING id")
APP=$(psql_bench "INSERT INTO oauth_applications (name, uid, secret, redirect_uri, scopes)
    VALUES ('bench', 'bench', 'bench', 'urn:ietf:wg:oauth:2.0:oob', 'read write') RETURNING id")
psql_bench "INSERT INTO oauth_access_tokens (token, scopes, application_id, resource_owner_id)
    VALUES ('$DIGEST', 'read write', $APP, $USER_ID)" >/dev/null

# The home timeline's data: the bench user follows 200 accounts that posted
# 5 statuses each (a mention, a link, a hashtag: the formatter's work), in
# turns, so a page of 20 comes from 20 authors.  ANALYZE as autovacuum would:
# plans made without statistics scan these small tables whole.
note "200 followed accounts, 1000 statuses"
psql_bench "
    INSERT INTO accounts (username, display_name, note)
        SELECT 'author' || i, 'Author ' || i, 'I write #statuses' FROM generate_series(1, 200) i;
    INSERT INTO users (account_id, email, confirmed_at)
        SELECT id, username || '@example.com', now() FROM accounts WHERE username LIKE 'author%';
    INSERT INTO account_stats (account_id, statuses_count)
        SELECT id, 5 FROM accounts WHERE username LIKE 'author%';
    INSERT INTO follows (account_id, target_account_id)
        SELECT $ACCOUNT, id FROM accounts WHERE username LIKE 'author%';
    UPDATE account_stats SET following_count = 200 WHERE account_id = $ACCOUNT;
    INSERT INTO statuses (id, uri, text, local, visibility, language, account_id)
        SELECT x.id, 'http://localhost/users/' || x.username || '/statuses/' || x.id,
               'Hello @bench, status ' || x.n || ' of ' || x.display_name
               || ' about #nginx, see https://nginx.org/en/docs/http/ngx_http_core_module.html',
               true, 0, 'en', x.account_id
        FROM (SELECT timestamp_id('statuses') AS id, a.username, a.display_name, a.id AS account_id, n
              FROM generate_series(1, 5) n, accounts a WHERE a.username LIKE 'author%'
              ORDER BY n, a.id) x;
    INSERT INTO status_stats (status_id, favourites_count) SELECT id, 3 FROM statuses;
    INSERT INTO mentions (status_id, account_id) SELECT id, $ACCOUNT FROM statuses;
    INSERT INTO tags (name) VALUES ('nginx');
    INSERT INTO statuses_tags (status_id, tag_id) SELECT s.id, t.id FROM statuses s, tags t;
    ANALYZE;
" >/dev/null
STATUS=$(psql_bench "SELECT max(id) FROM statuses")
# a list of the same 200 accounts: the list timeline against the home one
LIST=$(psql_bench "INSERT INTO lists (account_id, title) VALUES ($ACCOUNT, 'bench') RETURNING id")
psql_bench "INSERT INTO list_accounts (list_id, account_id, follow_id)
    SELECT $LIST, target_account_id, id FROM follows WHERE account_id = $ACCOUNT" >/dev/null
# the bench user's notifications: a mention by each of the newest statuses
psql_bench "INSERT INTO notifications (activity_id, activity_type, account_id, from_account_id, type)
    SELECT m.id, 'Mention', $ACCOUNT, s.account_id, 'mention' FROM mentions m
    JOIN statuses s ON s.id = m.status_id ORDER BY s.id DESC LIMIT 40" >/dev/null

# rps URL [HEADER]: wrk's Requests/sec and its p99 latency; warns about
# non-2xx answers.
rps() {
    local out
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency ${2:+-H "$2"} "$1")
    if printf '%s\n' "$out" | grep -q 'Non-2xx'; then
        warn "$1: $(printf '%s\n' "$out" | grep 'Non-2xx')"
    fi
    printf '%s\n' "$out" | awk '/^Requests\/sec:/ {r = $2} /^ +99%/ {p = $2} END {print r, p}'
}

note "nginx on $BASE; wrk -t$THREADS -c$CONNS -d$DURATION (after a ${WARMUP} warm-up)"
results=()
while read -r name path auth; do
    [ -n "$name" ] || continue
    [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $name "* ]] || continue
    path=${path//@ACCOUNT@/$ACCOUNT}
    path=${path//@STATUS@/$STATUS}
    path=${path//@LIST@/$LIST}
    header=
    [ "${auth:-}" = auth ] && header="Authorization: Bearer $TOKEN"
    code=$(curl -s -o "$VAR/static/$name" -w '%{http_code}' ${header:+-H "$header"} "$BASE$path") \
        || die "curl $BASE$path failed"
    case $code in 2??) ;; *) die "GET $path answered $code: $(head -c 300 "$VAR/static/$name")" ;; esac
    chmod 644 "$VAR/static/$name"
    cmp -s "$VAR/static/$name" <(curl -s "$BASE/static/$name") || die "static copy of $path differs"
    wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" ${header:+-H "$header"} "$BASE$path" >/dev/null
    wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$BASE/static/$name" >/dev/null
    read -r m p99 <<< "$(rps "$BASE$path" "$header")"
    read -r s sp99 <<< "$(rps "$BASE/static/$name")"
    results+=("$name $path $m $s $(stat -c %s "$VAR/static/$name") ${p99:--} ${sp99:--}")
done <<< "$ENDPOINTS"

# Sign-ins hash passwords with bcrypt (cost 10, ~50 ms of CPU each) in the
# thread pool: the event loop must keep answering.  GET /api/v1/instance's
# latency alone, then while 50 clients sign in without pause.
signin_bench() {
    local app_id secret body lat_alone lat_busy signins
    MASTODON_DATABASE=$(pg_conninfo "$PGPORT" mastodon) MASTODON_REDIS=127.0.0.1:$REDISPORT \
    MASTODON_SQL_DIR=$MASTODON_ROOT/sql "$BUILD_ABS/mastodon-worker" accounts create signin \
        --email signin@example.com --password 'correct horse battery' --confirmed --approve >/dev/null
    secret=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    psql_bench "INSERT INTO oauth_applications (name, uid, secret, redirect_uri, scopes)
        VALUES ('signin', 'signin-app', '$secret', 'urn:ietf:wg:oauth:2.0:oob', 'read')" >/dev/null
    body="grant_type=password&client_id=signin-app&client_secret=$secret&scope=read"
    body="$body&username=signin%40example.com&password=correct+horse+battery"
    [ "$(curl -s -o /dev/null -w '%{http_code}' -d "$body" "$BASE/oauth/token")" = 200 ] \
        || die "the sign-in used by the bench fails"

    latency() {
        wrk -t1 -c4 -d"$DURATION" --latency "$BASE/api/v1/instance" \
            | awk '/^ +50%/ {p50 = $2} /^ +99%/ {p99 = $2} END {print p50 " / " p99}'
    }

    lat_alone=$(latency)
    BENCH_SIGNIN_BODY=$body wrk -t2 -c50 -d"$DURATION" -s "$MASTODON_ROOT/scripts/bench/signin.lua" \
        "$BASE/oauth/token" > "$VAR/signin.out" 2>&1 &
    local pid=$!
    sleep 1
    lat_busy=$(latency)
    wait "$pid" || true
    signins=$(awk '/^Requests\/sec:/ {print $2}' "$VAR/signin.out")

    echo
    echo "GET /api/v1/instance latency, p50 / p99 (wrk -c4):"
    echo "  alone:                          $lat_alone"
    echo "  during 50 concurrent sign-ins:  $lat_busy   ($signins sign-ins/s, bcrypt cost 10)"
    grep -E 'failed' "$VAR/signin.out" | sed 's/^/  /'
}

echo
# issue 10's targets (ratio to static), printed to the right of the ratio
target_of() {
    case $1 in
    home) echo '>= 0.5' ;;
    status) echo '>= 0.6' ;;
    verify_credentials|account) echo '>= 0.7' ;;
    public_local|tag|public|public_viewer) echo '>= 0.4' ;;
    notifications) echo '>= 0.3' ;;
    *) echo '-' ;;
    esac
}
# and the p99 latency's, to the right of the module's p99
p99_target_of() {
    case $1 in
    home) echo '<= 10ms' ;;
    *) echo '-' ;;
    esac
}

printf '%-20s %-44s %8s %12s %12s %8s %8s %11s %11s %10s\n' endpoint path bytes 'module r/s' \
    'static r/s' ratio target "p99@-c$CONNS" 'static p99' 'p99 target'
for r in "${results[@]}"; do
    # shellcheck disable=SC2086
    set -- $r
    printf '%-20s %-44s %8s %12s %12s %8s %8s %11s %11s %10s\n' "$1" "$2" "$5" "$3" "$4" \
        "$(awk -v m="$3" -v s="$4" 'BEGIN { if (s > 0) printf "%.2f", m / s; else print "-" }')" \
        "$(target_of "$1")" "$6" "$7" "$(p99_target_of "$1")"
done

# Where a home-timeline request spends its time: perf samples of the whole
# box while wrk loads the home timeline, those of this run's processes kept
# (nginx's workers, Redis, PostgreSQL's backends: not wrk, not other work on
# the box), shares by process then the heaviest symbols.  Skipped without
# perf or permission (BENCH_PROFILE=0 skips it too; BENCH_PROFILE_PATH
# profiles another GET of the bench user instead).
profile_home() {
    local pids pm data=$VAR/home.perf
    command -v perf >/dev/null || { echo; echo "(no perf: no profile)"; return 0; }
    pm=$(head -n 1 "$VAR/pg/data/postmaster.pid")
    pids="$(child_pids "$(cat "$NGX/nginx.pid")") $(cat "$VAR/redis/redis.pid") $pm $(child_pids "$pm")"
    pids=$(echo $pids | tr ' ' ',')
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -H "Authorization: Bearer $TOKEN" \
        "$BASE${BENCH_PROFILE_PATH:-/api/v1/timelines/home?limit=20}" > "$VAR/home-prof.out" 2>&1 &
    local w=$!
    sleep 0.5
    if ! perf record -a -F 2999 -o "$data" -- sleep 2 >/dev/null 2>&1; then
        wait "$w" || true
        echo; echo "(perf record failed: no profile)"; return 0
    fi
    wait "$w" || true
    echo
    echo "Profile of GET ${BENCH_PROFILE_PATH:-/api/v1/timelines/home} (perf, 2 s under wrk -c$CONNS; this run's processes):"
    perf report -i "$data" --pid "$pids" --sort comm --stdio 2>/dev/null \
        | awk '/^ +[0-9.]+%/ { printf "  %-8s %s\n", $1, $2 }' | head -n 6
    echo "  heaviest symbols (share of all the run's samples):"
    perf report -i "$data" --pid "$pids" --sort comm,dso,sym --stdio 2>/dev/null \
        | awk '/^ +[0-9.]+%/ { $2 = $2; sub(/^ +/, ""); print "    " $0 }' | head -n "${BENCH_PROFILE_SYMBOLS:-25}"
}

if [ "${BENCH_PROFILE:-1}" != 0 ] && [[ -z "${BENCH_ONLY:-}" || " $BENCH_ONLY " == *" home "* ]]; then
    profile_home
fi

if [ -z "${BENCH_ONLY:-}" ] || [ "$BENCH_ONLY" = signin ]; then
    signin_bench
fi

# RESP for `ZADD <prefix><id> <score> <member>`, one per id read on stdin.
zadd_resp() {
    awk -v p="$1" -v s="$2" -v m="$3" '{
        k = p $1
        printf "*4\r\n$4\r\nZADD\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n",
            length(k), k, length(s), s, length(m), m
    }'
}

# Redis' CPU time so far (user + system), in ms.
redis_cpu_ms() {
    redis-cli -h 127.0.0.1 -p "$REDISPORT" INFO cpu \
        | awk -F: '/^used_cpu_(user|sys):/ { t += $2 } END { printf "%d", t * 1000 }'
}

# One distribute job of $2 by $1 to the followers in $3 (profiled with
# perf into $4 when given): "job_ms wall_ms" on stdout.
fanout_post() {
    local author=$1 status=$2 ids=$3 prof=${4:-} perf_pid= start jid wall done_ms
    if [ -n "$prof" ] && command -v perf >/dev/null; then
        perf record -a -F 2999 -o "$prof" -- sleep 60 >/dev/null 2>&1 &
        perf_pid=$!
        sleep 0.5
    fi
    start=$(date +%s%N)
    MASTODON_REDIS=127.0.0.1:$REDISPORT "$BUILD_ABS/mastodon-worker" enqueue default distribute \
        "{\"status_id\":\"$status\",\"payload\":{\"id\":\"$status\",\"content\":\"bench\",\"account\":{\"id\":\"$author\"}}}" >/dev/null
    jid=
    for _ in $(seq 1 6000); do
        jid=$(grep "distribute: status $status into" "$VAR/worker.log" | head -n 1) && [ -n "$jid" ] && break
        sleep 0.01
    done
    wall=$(( ($(date +%s%N) - start) / 1000000 ))
    [ -n "$perf_pid" ] && { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
    [ -n "$jid" ] || die "the distribute job of status $status did not finish"
    sleep 0.2
    done_ms=$(grep -A3 "distribute: status $status into" "$VAR/worker.log" | awk '/job distribute .* done in/ {print $(NF-1); exit}')
    [ "$(redis-cli -h 127.0.0.1 -p "$REDISPORT" ZSCORE "mastodon:feed:home:$(tail -n 1 "$ids")" "$status")" != "" ] \
        || die "the last follower's feed lacks status $status"
    echo "${done_ms:-?} $wall"
}

# The author posts twice: the first fan-out meets feeds the worker has not
# seen yet (made by redis-cli, as after an upgrade: it reads each once and
# learns them, the `first job ms` column); the second is the steady state
# of active users' feeds, measured against the raw ZADDs.
fanout_bench() {
    local n author ids status first job raw_ms start prof= c0 c1 c2 t0 t1
    local redis=(redis-cli -h 127.0.0.1 -p "$REDISPORT")
    echo
    echo "Fan-out of one post to N local followers' home feeds (distribute job vs. raw pipelined ZADDs):"
    printf '  %9s %12s %12s %14s %8s %15s %15s %15s %12s %15s\n' followers 'job ms' 'wall ms' 'raw ZADD ms' ratio \
        'first job ms' 'redis cpu job' 'redis cpu raw' 'pg cpu job' 'worker cpu job'
    for n in ${BENCH_FANOUT:-10000 100000}; do
        author=$(psql_bench "INSERT INTO accounts (username) VALUES ('fan$n') RETURNING id")
        psql_bench "INSERT INTO accounts (username) SELECT 'fan${n}_' || g FROM generate_series(1, $n) g" >/dev/null
        psql_bench "INSERT INTO follows (account_id, target_account_id)
            SELECT id, $author FROM accounts WHERE username LIKE 'fan${n}\_%'" >/dev/null
        psql_bench "ANALYZE follows; ANALYZE accounts" >/dev/null
        ids=$VAR/fanout-$n.ids
        psql_bench "SELECT id FROM accounts WHERE username LIKE 'fan${n}\_%' ORDER BY id" > "$ids"
        # every feed exists and is complete; the raw keys likewise
        { zadd_resp mastodon:feed:home: 0 0 < "$ids"; zadd_resp "mastodon:bench:raw$n:" 0 0 < "$ids"; } \
            | "${redis[@]}" --pipe >/dev/null
        status=$(psql_bench "INSERT INTO statuses (account_id, text, local) VALUES ($author, 'bench', true) RETURNING id")
        first=$(fanout_post "$author" "$status" "$ids")
        zadd_resp "mastodon:bench:raw$n:" "$status" "$status" < "$ids" | "${redis[@]}" --pipe >/dev/null

        status=$(psql_bench "INSERT INTO statuses (account_id, text, local) VALUES ($author, 'bench', true) RETURNING id")
        [ "${BENCH_FANOUT_PROFILE:-0}" != 0 ] && prof=$VAR/fanout-$n.perf
        c0=$(redis_cpu_ms)
        t0=$(server_cpu_ticks)
        job=$(fanout_post "$author" "$status" "$ids" "$prof")
        t1=$(server_cpu_ticks)
        zadd_resp "mastodon:bench:raw$n:" "$status" "$status" < "$ids" > "$VAR/fanout-$n.resp"
        c1=$(redis_cpu_ms)
        start=$(date +%s%N)
        "${redis[@]}" --pipe < "$VAR/fanout-$n.resp" >/dev/null
        raw_ms=$(( ($(date +%s%N) - start) / 1000000 ))
        c2=$(redis_cpu_ms)
        set -- $job
        printf '  %9s %12s %12s %14s %8s %15s %15s %15s %12s %15s\n' "$n" "$1" "$2" "$raw_ms" \
            "$(awk -v a="$1" -v b="$raw_ms" 'BEGIN { if (b > 0 && a > 0) printf "%.1f", a / b; else print "-" }')" \
            "${first%% *}" "$((c1 - c0))" "$((c2 - c1))" \
            $(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" \
                'BEGIN { split(a, x, " "); split(b, y, " "); printf "%d %d", (y[2] - x[2]) * 1000 / hz, (y[5] - x[5]) * 1000 / hz }')
    done
    echo "  (job ms: the worker's own time for the job; wall: enqueue to its log line, polled every 10 ms;"
    echo "   cpu: user+system ms over the job, from its enqueue (the 0.2 s after its log line included),"
    echo "   and Redis' over the raw ZADDs; PostgreSQL's and the worker's in clock ticks)"
    [ "${BENCH_FANOUT_PROFILE:-0}" != 0 ] || return 0
    # BENCH_FANOUT_PROFILE=1: perf over the whole box from the enqueue to the
    # job's log line, the run's worker, Redis and PostgreSQL by share
    local pm pids
    pm=$(head -n 1 "$VAR/pg/data/postmaster.pid")
    pids="$(cat "$VAR/worker.pid") $(child_pids "$(cat "$VAR/worker.pid")") $(cat "$VAR/redis/redis.pid") $pm $(child_pids "$pm")"
    pids=$(echo $pids | tr ' ' ',')
    for n in ${BENCH_FANOUT:-10000 100000}; do
        [ -f "$VAR/fanout-$n.perf" ] || continue
        echo "  profile of the $n-follower job (perf, share of all samples; this run's processes):"
        perf report -i "$VAR/fanout-$n.perf" --pid "$pids" --sort comm --stdio 2>/dev/null \
            | awk '/^ +[0-9.]+%/ { printf "    %-8s %s\n", $1, $2 }' | head -n 4
        perf report -i "$VAR/fanout-$n.perf" --pid "$pids" --sort comm,dso,sym --stdio 2>/dev/null \
            | awk '/^ +[0-9.]+%/ { $2 = $2; sub(/^ +/, ""); print "    " $0 }' | head -n 20
    done
}

# Posting (issue 10: "POST /api/v1/statuses, each author followed by 100
# local accounts, worker running: >= 5,000 posts/s sustained for 60 s,
# every post durable when answered, and reads not slower afterwards").
# Each POST /api/v1/statuses is one INSERT statement, the loader and the
# distribute job (the worker runs them meanwhile).  BENCH_POST_AUTHORS (64)
# authors, the requests going round them, each followed by the same 100
# local accounts with home feeds.  A single author (BENCH_POST_AUTHORS=1)
# is bounded by its account_stats row, which every post updates and holds
# until its commit, as Mastodon's does.  PostgreSQL runs durable for this
# section (BENCH_POST_DURABLE=0 keeps the tests' fsync off).  wrk posts for
# BENCH_POST_DURATION (60s), the 200 answers counted per BENCH_POST_SLICE
# (10) seconds; then the queue is drained and checked: every status
# answered is a row, every follower's feed holds the newest of them; the
# home timeline and a status are read before and after with the table's
# wrk settings; last the floor of a post's durable work on this box.
post_bench() {
    local ids=$VAR/post-followers.ids tokens= token digest author user i
    local authors=${BENCH_POST_AUTHORS:-64}
    local duration=${BENCH_POST_DURATION:-60s} slice=${BENCH_POST_SLICE:-10}
    local redis=(redis-cli -h 127.0.0.1 -p "$REDISPORT")
    psql_bench "INSERT INTO accounts (username) SELECT 'postf' || g FROM generate_series(1, 100) g" >/dev/null
    psql_bench "SELECT id FROM accounts WHERE username LIKE 'postf%'" > "$ids"
    zadd_resp mastodon:feed:home: 0 0 < "$ids" | "${redis[@]}" --pipe >/dev/null
    # authors of their own: the bench user's home timeline (read before and
    # after) stays the same page
    : > "$VAR/post-authors.ids"
    for i in $(seq 1 "$authors"); do
        token=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | head -c 43)
        digest=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
        author=$(psql_bench "INSERT INTO accounts (username) VALUES ('poster$i') RETURNING id")
        user=$(psql_bench "INSERT INTO users (account_id, email, confirmed_at) VALUES ($author,
            'poster$i@example.com', now()) RETURNING id")
        psql_bench "INSERT INTO oauth_access_tokens (token, scopes, application_id, resource_owner_id)
            VALUES ('$digest', 'read write', $APP, $user)" >/dev/null
        psql_bench "INSERT INTO follows (account_id, target_account_id)
            SELECT id, $author FROM accounts WHERE username LIKE 'postf%'" >/dev/null
        echo "$author" >> "$VAR/post-authors.ids"
        tokens=$tokens${tokens:+,}$token
    done
    # a quiet PostgreSQL to start from: the earlier sections' bulk loads are
    # not vacuumed during the run
    psql_bench "VACUUM ANALYZE" >/dev/null
    if [ "${BENCH_POST_DURABLE:-1}" != 0 ]; then
        psql_bench "ALTER SYSTEM SET fsync = on" >/dev/null
        psql_bench "ALTER SYSTEM SET synchronous_commit = on" >/dev/null
        psql_bench "ALTER SYSTEM SET full_page_writes = on" >/dev/null
        psql_bench "SELECT pg_reload_conf()" >/dev/null
        sleep 0.5
        psql_bench "CHECKPOINT" >/dev/null
    fi
    local durable
    durable="fsync $(psql_bench "SHOW fsync"), synchronous_commit $(psql_bench "SHOW synchronous_commit")"
    # one post answered: its bytes are what nginx serves for the floor
    curl -s -o "$VAR/static/posted" -H "Authorization: Bearer ${tokens%%,*}" \
        --data-urlencode 'status=Benchmark post 0.0 about #nginx https://nginx.org/' \
        "$BASE/api/v1/statuses"
    chmod 644 "$VAR/static/posted"
    grep -q '"id":"' "$VAR/static/posted" || die "the bench's first post failed: $(head -c 300 "$VAR/static/posted")"

    local before after
    before=$(post_reads)

    local conns
    for conns in ${BENCH_POST_CONNECTIONS:-16}; do
        post_run "$conns" "$authors" "$tokens" "$duration" "$slice" "$durable" "$ids"
    done

    after=$(post_reads)
    echo "  reads before / after the posting run (wrk -t$THREADS -c$CONNS -d$DURATION after a $WARMUP warm-up," \
        "bench user's token):"
    printf '    %-34s %10s %10s %6s %11s %11s %9s %9s\n' '' 'r/s before' 'r/s after' ratio 'p99 before' \
        'p99 after' 'bytes bef' 'bytes aft'
    paste <(printf '%s\n' "$before") <(printf '%s\n' "$after") | while read -r name r0 p0 b0 _ r1 p1 b1; do
        printf '    %-34s %10s %10s %6s %11s %11s %9s %9s\n' "$name" "$r0" "$r1" \
            "$(awk -v a="$r1" -v b="$r0" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" \
            "$p0" "$p1" "$b0" "$b1"
    done

    post_floor "$tokens"
}

# post_run CONNECTIONS AUTHORS TOKENS DURATION SLICE DURABLE FOLLOWER_IDS: one
# posting run (wrk -cCONNECTIONS), its rate, CPU per post, slices, queue
# drained (the next run starts from none), WAL, durability, feeds, commands
post_run() {
    local conns=$1 authors=$2 tokens=$3 duration=$4 slice=$5 durable=$6 ids=$7
    local redis=(redis-cli -h 127.0.0.1 -p "$REDISPORT")
    local cpu0 cpu1 max0 t0 n wal0 wal1
    sleep 1
    max0=$(psql_bench "SELECT coalesce(max(id), 0) FROM statuses")
    "${redis[@]}" INFO commandstats > "$VAR/post-cmd0"
    wal0=$(wal_stats)
    cpu0=$(server_cpu_ticks)
    t0=$(( $(date +%s%N) / 1000000 ))
    (
        TIMEFORMAT='%U %S'
        time BENCH_TOKEN=$tokens BENCH_POST_IDS=$VAR/post.answered BENCH_POST_T0=$t0 \
            BENCH_POST_SLICE=$slice wrk -t2 -c"$conns" -d"$duration" \
            -s "$MASTODON_ROOT/scripts/bench/post.lua" "$BASE/api/v1/statuses" > "$VAR/post.out" 2>&1
    ) 2> "$VAR/post.time" || true
    cpu1=$(server_cpu_ticks)
    n=$(awk '/^posts:/ {sub(",", "", $2); print $2}' "$VAR/post.out")
    echo
    echo "POST /api/v1/statuses (wrk -c$conns, $authors author(s) each followed by 100 local feeds):" \
        "$(awk '/^Requests\/sec:/ {print $2}' "$VAR/post.out") posts/s; $(grep -E '^posts:' "$VAR/post.out")"
    # CPU per post does not depend much on what else the machine runs
    awk -v a="$cpu0" -v b="$cpu1" -v hz="$(getconf CLK_TCK)" -v n="$n" \
        'BEGIN { split(a, x, " "); split(b, y, " "); f = 1000 / hz / n
                 if (n > 0) printf "  CPU per post (PostgreSQL, nginx, Redis, the worker, during the run): %.2f ms" \
                     " (PostgreSQL %.2f, nginx %.2f, Redis %.2f, the worker %.2f)\n", (y[1] - x[1]) * f,
                     (y[2] - x[2]) * f, (y[3] - x[3]) * f, (y[4] - x[4]) * f, (y[5] - x[5]) * f }'
    # the jobs left when wrk stopped (a worker behind), run to the end: the
    # whole cost of a post, whatever share of it the run's end cut off
    local left outbox start drained=0 cpu2 drain_ms deadline
    left=$("${redis[@]}" XLEN mastodon:queue:default)
    outbox=$(psql_bench "SELECT count(*) FROM job_outbox")
    start=$(date +%s%N)
    deadline=$(( $(date +%s) + ${BENCH_POST_DRAIN_MAX:-600} ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        [ "$("${redis[@]}" XLEN mastodon:queue:default)" = 0 ] \
            && [ "$(psql_bench "SELECT count(*) FROM job_outbox")" = 0 ] && { drained=1; break; }
        sleep 0.05
    done
    drain_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    cpu2=$(server_cpu_ticks)
    "${redis[@]}" INFO commandstats > "$VAR/post-cmd1"
    sleep 1     # the backends' WAL statistics reach pg_stat_wal when idle
    wal1=$(wal_stats)
    [ "$drained" = 1 ] || echo "  (the worker's queue did not drain within ${BENCH_POST_DRAIN_MAX:-600} s)"
    awk -v a="$cpu0" -v b="$cpu2" -v hz="$(getconf CLK_TCK)" -v left="$left" -v ms="$drain_ms" -v n="$n" \
        'BEGIN { split(a, x, " "); split(b, y, " "); f = 1000 / hz / n
                 if (n > 0) printf "  ... with the %d jobs queued at the end run (%d ms): %.2f ms" \
                     " (PostgreSQL %.2f, nginx %.2f, Redis %.2f, the worker %.2f)\n", left, ms,
                     (y[1] - x[1]) * f, (y[2] - x[2]) * f, (y[3] - x[3]) * f, (y[4] - x[4]) * f,
                     (y[5] - x[5]) * f }'
    POST_CPU_MS=$(awk -v a="$cpu0" -v b="$cpu2" -v hz="$(getconf CLK_TCK)" -v n="$n" \
        'BEGIN { split(a, x, " "); split(b, y, " "); if (n > 0) printf "%.3f", (y[1] - x[1]) * 1000 / hz / n; else print 0 }')
    POST_RATE=$(awk '/^Requests\/sec:/ {print $2}' "$VAR/post.out")

    # is it sustained: the 200 answers per slice of the run
    local secs
    secs=$(duration_s "$duration")
    echo "  sustained ($duration, $durable): posts/s per ${slice} s slice:" \
        "$(awk -v secs="$secs" -v sl="$slice" '/^slices:/ {
            # the answers after the last slice (the ms wrk started late) into it
            last = int((secs + sl - 1) / sl) + 1
            nf = NF < last ? NF : last
            for (i = last + 1; i <= NF; i++) $nf += $i
            for (i = 2; i <= nf; i++) {
                len = secs - (i - 2) * sl; if (len > sl) len = sl
                r = $i / len; out = out sprintf(" %.0f", r)
                if (i < nf || len == sl) { if (min == "" || r < min) min = r; if (r > max) max = r }
            }
            printf "%s (full slices: min %.0f, max %.0f)", out, min, max }' "$VAR/post.out")"
    echo "  queue at the end: $left jobs in mastodon:queue:default, $outbox rows in job_outbox;" \
        "drained in $drain_ms ms"
    awk -v n="$n" '{ if (n > 0) printf "  wrk itself: %.3f ms CPU per post (not in the figures above)\n", ($1 + $2) * 1000 / n }' \
        "$VAR/post.time" 2>/dev/null || true

    echo "  WAL (run and drain): $(wal_per_post "$wal0" "$wal1" "$n")"
    post_check "$max0" "$ids"
    post_commands
}

# PostgreSQL's WAL so far: records, full-page images, bytes, syncs
wal_stats() {
    psql_bench "SELECT wal_records, wal_fpi, wal_bytes, wal_sync FROM pg_stat_wal" | tr '|' ' '
}

# wal_per_post BEFORE AFTER POSTS: the WAL written per post and how many
# posts shared a flush (group commit)
wal_per_post() {
    awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { split(a, x, " "); split(b, y, " ")
        if (n <= 0) { print "-"; exit }
        s = y[4] - x[4]; g = s > 0 ? n / s : 0
        printf "%.1f records, %.2f full-page images, %.0f bytes per post; %.2f posts a WAL sync\n",
            (y[1] - x[1]) / n, (y[2] - x[2]) / n, (y[3] - x[3]) / n, g }'
}

# seconds of a wrk duration (10s, 2m, 90)
duration_s() {
    case $1 in
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
    esac
}

# The bench user's home timeline and a status, each after a warm-up:
# "name r/s p99 bytes" lines.
post_reads() {
    local path out
    for path in "/api/v1/timelines/home?limit=20" "/api/v1/statuses/$STATUS"; do
        wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -H "Authorization: Bearer $TOKEN" "$BASE$path" >/dev/null
        out=$(rps "$BASE$path" "Authorization: Bearer $TOKEN")
        echo "${path%%\?*} $out $(curl -s -H "Authorization: Bearer $TOKEN" "$BASE$path" | wc -c)"
    done
}

# "Every post durable when answered": each id answered 200 is a row, once;
# then each follower's home feed holds exactly the newest of the run's
# statuses (a feed keeps the newest feed_max, 400: the older ones were in
# it and trimmed), nothing missing, nothing twice.
post_check() {
    local max0=$1 followers=$2 answered rows missing dups ok=0 bad=0 k kmin=-1 kmax=0 f want
    local redis=(redis-cli -h 127.0.0.1 -p "$REDISPORT")
    sort "$VAR/post.answered" > "$VAR/post.answered.sorted"
    answered=$(wc -l < "$VAR/post.answered.sorted")
    dups=$(uniq -d "$VAR/post.answered.sorted" | wc -l)
    psql_bench "SELECT id FROM statuses WHERE id > $max0 AND account_id IN
        ($(paste -sd, "$VAR/post-authors.ids")) ORDER BY id DESC" > "$VAR/post.rows"
    rows=$(wc -l < "$VAR/post.rows")
    missing=$(sort "$VAR/post.rows" | comm -23 <(uniq "$VAR/post.answered.sorted") - | wc -l)
    echo "  durable: $answered answered 200, $rows rows in statuses; answered but not a row: $missing," \
        "answered twice: $dups; rows not answered 200 (cut by the run's end, or failed): $((rows - answered + dups))"
    [ "$missing" = 0 ] && [ "$dups" = 0 ] || warn "posts answered 200 are missing from statuses"
    want=$(( rows < 400 ? rows : 400 ))
    while read -r f; do
        "${redis[@]}" ZREVRANGE "mastodon:feed:home:$f" 0 -1 \
            | awk -v m="$max0" 'length($1) > length(m) || (length($1) == length(m) && $1 > m)' > "$VAR/post.feed"
        k=$(wc -l < "$VAR/post.feed")
        if [ "$k" -ge "$want" ] && cmp -s "$VAR/post.feed" <(head -n "$k" "$VAR/post.rows"); then
            ok=$((ok + 1))
        else
            bad=$((bad + 1))
        fi
        if [ "$kmin" -lt 0 ] || [ "$k" -lt "$kmin" ]; then kmin=$k; fi
        if [ "$k" -gt "$kmax" ]; then kmax=$k; fi
    done < "$followers"
    echo "  feeds: $ok of $((ok + bad)) followers' home feeds hold exactly the newest $kmin-$kmax of the run's" \
        "statuses (>= $want wanted), none missing or twice"
    [ "$bad" = 0 ] || warn "$bad followers' home feeds lack posts of the run"
    POST_ROWS=$rows
}

# Redis' calls per post of the run (and its drain), from INFO commandstats:
# what the floor below sends raw.
post_commands() {
    awk -v n="$POST_ROWS" -F'[:,=]' '
        FNR == NR && /^cmdstat_/ { c0[$1] = $3; next }
        /^cmdstat_/ { d = $3 - c0[$1]; if (d > 0 && n > 0) { sub(/^cmdstat_/, "", $1); printf "%s %.3f\n", $1, d / n } }' \
        "$VAR/post-cmd0" "$VAR/post-cmd1" | sort -k2,2nr > "$VAR/post.percmd"
    echo "  Redis calls per post (INFO commandstats over the run and its drain):" \
        "$(awk '{ printf "%s %s%s", $1, $2, (NR % 8 ? ", " : ",\n    ") }' "$VAR/post.percmd" | sed 's/, *$//')"
}

# The floor of a post's durable work with this run's engines: the rows a
# post writes (sql/0050 mastodon_post_statuses(): conversations, statuses
# with its indexes and triggers, status_stats, statuses_tags, the job and
# account_stats) by plain prepared INSERTs in one pipelined transaction
# (pgbench -c16, as wrk), then 16 posts a transaction; Redis' part (the
# commands counted above: ZADDs, trims, the job's XADD/XACK, PUBLISH) sent
# raw by redis-cli --pipe; nginx answering the POST's bytes from a file.
# CPU per post of each, and the posts/s the box's cores would give.
post_floor() {
    local tokens=$1 first base tag secs=${BENCH_FLOOR_DURATION:-$DURATION} k c0 c1 f=$VAR/floor
    local redis=(redis-cli -h 127.0.0.1 -p "$REDISPORT")
    mkdir -p "$f"
    chmod 777 "$f"
    first=$(psql_bench "SELECT coalesce(max(id), 0) + 1 FROM accounts")
    tag=$(psql_bench "SELECT id FROM tags WHERE name = 'nginx'")
    base=$(psql_bench "SELECT timestamp_id('statuses') + 1000000000")
    # the job into a copy of job_outbox (its own notification: the relay
    # is not woken)
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d mastodon -f - >/dev/null <<EOF
CREATE TABLE bench_floor_outbox (LIKE job_outbox INCLUDING ALL);
CREATE FUNCTION bench_floor_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted) THEN
        PERFORM pg_notify('bench_floor_outbox', '');
    END IF;
    RETURN NULL;
END
\$\$;
CREATE TRIGGER bench_floor_outbox_notify AFTER INSERT ON bench_floor_outbox
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION bench_floor_outbox_notify();
INSERT INTO accounts (id, username) SELECT $first + g, 'floor' || g FROM generate_series(0, 255) g;
INSERT INTO account_stats (account_id, statuses_count) SELECT $first + g, 1 FROM generate_series(0, 255) g;
ANALYZE;
EOF
    # client c's k-th post of its n-th transaction: status base + (n*16+k)*64 + c,
    # by author first + c*16 + k (no two clients share an author)
    floor_script() {
        local per=$1 k
        echo '\set n :n + 1'
        echo '\startpipeline'
        for ((k = 0; k < per; k++)); do
            echo "\\set s :base + ((:n * 16 + $k) * 64 + :client_id)"
            echo "\\set a :first + :client_id * 16 + $k"
            echo "INSERT INTO conversations (id) VALUES (:s);"
            echo "INSERT INTO statuses (id, uri, text, reply, sensitive, spoiler_text, visibility, language," \
                 "conversation_id, local, account_id, application_id) VALUES (:s," \
                 "'http://bench.localhost/users/floor/statuses/' || :s," \
                 "'Benchmark post 0.0 about #nginx https://nginx.org/', false, false, '', 0, 'en', :s, true, :a, $APP);"
            echo "INSERT INTO status_stats (status_id) VALUES (:s);"
            echo "INSERT INTO statuses_tags (status_id, tag_id) VALUES (:s, $tag);"
            echo "INSERT INTO bench_floor_outbox (queue, type, args) VALUES ('default', 'distribute'," \
                 "'{\"status_id\":\"' || :s || '\"}');"
            echo "INSERT INTO account_stats (account_id, statuses_count, last_status_at)" \
                 "VALUES (:a, 1, now() AT TIME ZONE 'UTC') ON CONFLICT (account_id) DO UPDATE SET" \
                 "statuses_count = account_stats.statuses_count + 1, last_status_at = excluded.last_status_at," \
                 "updated_at = now() AT TIME ZONE 'UTC';"
        done
        echo '\endpipeline'
    }
    # the same 16 posts' rows with one multi-row INSERT a table
    floor_script_rows() {
        local k sep
        echo '\set n :n + 1'
        for ((k = 0; k < 16; k++)); do
            echo "\\set s$k :base + ((:n * 16 + $k) * 64 + :client_id)"
            echo "\\set a$k :first + :client_id * 16 + $k"
        done
        echo '\startpipeline'
        rows() {    # rows FORMAT: FORMAT with @ as k, for k in 0..15, comma-separated
            sep=
            for ((k = 0; k < 16; k++)); do printf '%s%s' "$sep" "${1//@/$k}"; sep=', '; done
        }
        echo "INSERT INTO conversations (id) VALUES $(rows '(:s@)');"
        echo "INSERT INTO statuses (id, uri, text, reply, sensitive, spoiler_text, visibility, language," \
             "conversation_id, local, account_id, application_id) VALUES $(rows "(:s@,
             'http://bench.localhost/users/floor/statuses/' || :s@,
             'Benchmark post 0.0 about #nginx https://nginx.org/', false, false, '', 0, 'en', :s@, true, :a@, $APP)" \
             | tr -d '\n');"
        echo "INSERT INTO status_stats (status_id) VALUES $(rows '(:s@)');"
        echo "INSERT INTO statuses_tags (status_id, tag_id) VALUES $(rows "(:s@, $tag)");"
        echo "INSERT INTO bench_floor_outbox (queue, type, args) VALUES" \
             "$(rows "('default', 'distribute', '{\"status_id\":\"' || :s@ || '\"}')");"
        echo "INSERT INTO account_stats (account_id, statuses_count, last_status_at) VALUES" \
             "$(rows "(:a@, 1, now() AT TIME ZONE 'UTC')") ON CONFLICT (account_id) DO UPDATE SET" \
             "statuses_count = account_stats.statuses_count + 1, last_status_at = excluded.last_status_at," \
             "updated_at = now() AT TIME ZONE 'UTC';"
        echo '\endpipeline'
    }
    local per variant tx lat pg_ms pg1 pg16 pgr pgq tps1 tps16 tpsr tpsq lat1 lat16 latr latq w0
    # A transaction that NOTIFYs holds a lock from the queueing of its
    # notifications to the end of its commit: such commits are serialized,
    # each with its own WAL flush (no group commit across connections).  A
    # post notifies (job_outbox, account_stats, statuses, statuses_tags
    # triggers): `quiet` is the one-post transaction with those triggers off.
    local notify_triggers="statuses statuses_page_forget
account_stats account_stats_forget
statuses_tags statuses_tags_page_forget
bench_floor_outbox bench_floor_outbox_notify"
    notify_triggers() {
        local t g
        while read -r t g; do
            psql_bench "ALTER TABLE $t $1 TRIGGER $g" >/dev/null
        done <<< "$notify_triggers"
    }
    for variant in 1 16 rows quiet; do
        per=${variant/rows/16}
        per=${per/quiet/1}
        if [ "$variant" = rows ]; then
            floor_script_rows > "$f/post$variant.sql"
        else
            floor_script "$per" > "$f/post$variant.sql"
        fi
        chmod 644 "$f/post$variant.sql"
        if [ "$variant" = quiet ]; then notify_triggers DISABLE; fi
        c0=$(server_cpu_ticks)
        w0=$(wal_stats)
        "$(pg_bindir)/pgbench" -n -M prepared -c16 -j2 -T "$(duration_s "$secs")" \
            -D n=$(( $(echo "$variant" | sed 's/rows/32/; s/quiet/48/') * 1000000 )) -D base="$base" -D first="$first" -f "$f/post$variant.sql" \
            -h 127.0.0.1 -p "$PGPORT" -U postgres mastodon > "$f/pgbench$variant.out" 2>&1 \
            || { cat "$f/pgbench$variant.out" >&2; die "pgbench of the floor failed"; }
        # its backends gone (their CPU then is the postmaster's reaped children's)
        for _ in $(seq 1 100); do
            [ "$(psql_bench "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgbench'")" = 0 ] && break
            sleep 0.05
        done
        sleep 0.2
        c1=$(server_cpu_ticks)
        tx=$(awk '/^number of transactions actually processed:/ {print $NF}' "$f/pgbench$variant.out")
        wal_per_post "$w0" "$(wal_stats)" "$((tx * per))" > "$f/wal$variant"
        lat=$(awk '/^latency average/ {print $4}' "$f/pgbench$variant.out")
        pg_ms=$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" -v n="$((tx * per))" \
            'BEGIN { split(a, x, " "); split(b, y, " "); if (n > 0) printf "%.3f", (y[2] - x[2]) * 1000 / hz / n; else print 0 }')
        tx=$(awk -v t="$tx" -v s="$(duration_s "$secs")" 'BEGIN { printf "%.0f", t / s }')
        case $variant in
        1) pg1=$pg_ms tps1=$tx lat1=$lat ;;
        16) pg16=$pg_ms tps16=$tx lat16=$lat ;;
        rows) pgr=$pg_ms tpsr=$tx latr=$lat ;;
        quiet) pgq=$pg_ms tpsq=$tx latq=$lat; notify_triggers ENABLE ;;
        esac
    done

    local redis_ms
    redis_ms=$(floor_redis)

    # nginx: the same POSTs answered with the same bytes from a file
    local ngx_ms reqs rate
    c0=$(server_cpu_ticks)
    BENCH_TOKEN=$tokens wrk -t2 -c16 -d"$secs" -s "$MASTODON_ROOT/scripts/bench/post.lua" \
        "$BASE/bench/posted" > "$f/nginx.out" 2>&1 || true
    c1=$(server_cpu_ticks)
    reqs=$(awk '/^posts:/ {sub(",", "", $2); print $2}' "$f/nginx.out")
    rate=$(awk '/^Requests\/sec:/ {print $2}' "$f/nginx.out")
    grep -q 'failed: 0$' "$f/nginx.out" || warn "nginx's floor: $(grep '^posts:' "$f/nginx.out")"
    ngx_ms=$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" -v n="$reqs" \
        'BEGIN { split(a, x, " "); split(b, y, " "); if (n > 0) printf "%.3f", (y[3] - x[3]) * 1000 / hz / n; else print 0 }')

    local cores
    cores=$(nproc)
    echo
    echo "Floor of a post's durable work on this box (same run, the real engines):"
    printf '  %-66s %7s tx/s, latency %8s ms, PostgreSQL CPU %s ms per post (%s posts/s)\n' \
        "PostgreSQL, a post's rows by plain INSERTs (pgbench -c16, 1 a tx):" "$tps1" "$lat1" "$pg1" "$tps1"
    printf '  %-66s %7s tx/s, latency %8s ms, PostgreSQL CPU %s ms per post (%s posts/s)\n' \
        "... 16 posts a transaction (pgbench -c16):" "$tps16" "$lat16" "$pg16" "$((tps16 * 16))"
    printf '  %-66s %7s tx/s, latency %8s ms, PostgreSQL CPU %s ms per post (%s posts/s)\n' \
        "... 16 posts a transaction, one multi-row INSERT a table:" "$tpsr" "$latr" "$pgr" "$((tpsr * 16))"
    printf '  %-66s %7s tx/s, latency %8s ms, PostgreSQL CPU %s ms per post (%s posts/s)\n' \
        "... 1 a transaction without the triggers' NOTIFYs:" "$tpsq" "$latq" "$pgq" "$tpsq"
    printf '    %-64s %s\n' "WAL, one a transaction:" "$(cat "$f/wal1")" \
        "WAL, 16 a transaction:" "$(cat "$f/wal16")" "WAL, 16 a transaction, multi-row:" "$(cat "$f/walrows")" \
        "WAL, one a transaction without NOTIFY:" "$(cat "$f/walquiet")"
    printf '  %-66s CPU %s ms per post\n' "Redis, the calls per post above raw (redis-cli --pipe):" "$redis_ms"
    printf '  %-66s %7s r/s, CPU %s ms per request\n' \
        "nginx, the same POSTs answered $(stat -c %s "$VAR/static/posted") bytes from a file (wrk -c16):" \
        "$rate" "$ngx_ms"
    echo "  ($(psql_bench "SHOW fsync" | sed 's/^/fsync /'), synchronous_commit" \
        "$(psql_bench "SHOW synchronous_commit"); transactions pipelined: one round trip each)"
    # Little's law: posts in flight = rate x the time to answer one, and a
    # post alone (pgbench -c1) takes at least its commit's WAL flush
    "$(pg_bindir)/pgbench" -n -M prepared -c1 -T 3 -D n=100000000 -D base="$base" -D first="$first" \
        -f "$f/post1.sql" -h 127.0.0.1 -p "$PGPORT" -U postgres mastodon > "$f/pgbench-c1.out" 2>&1 || true
    awk '/^latency average/ { printf "  a post alone (pgbench -c1): %s ms: 5,000 posts/s need %.0f posts in flight" \
        " or more (wrk has 16)\n", $4, 5000 * $4 / 1000 }' "$f/pgbench-c1.out"
    awk -v pg="$pg1" -v pg16="$pg16" -v pgr="$pgr" -v pgq="$pgq" -v r="$redis_ms" -v ng="$ngx_ms" -v cores="$cores" \
        -v ours="$POST_RATE" -v cpu="$POST_CPU_MS" 'BEGIN {
        f1 = pg + r + ng; f16 = pg16 + r + ng
        x1 = f1 > 0 ? cores * 1000 / f1 : 0; x16 = f16 > 0 ? cores * 1000 / f16 : 0
        printf "posting floor on this box: %.0f posts/s (PG %.3f ms + Redis %.3f ms + nginx %.3f ms CPU per post, %d cores)\n",
            x1, pg, r, ng, cores
        printf "  with 16 posts a PostgreSQL transaction: %.0f posts/s (PG %.3f ms + Redis %.3f ms + nginx %.3f ms)\n",
            x16, pg16, r, ng
        fr = pgr + r + ng; xr = fr > 0 ? cores * 1000 / fr : 0
        printf "  ... and one multi-row INSERT a table: %.0f posts/s (PG %.3f ms + Redis %.3f ms + nginx %.3f ms)\n",
            xr, pgr, r, ng
        fq = pgq + r + ng; xq = fq > 0 ? cores * 1000 / fq : 0
        printf "  one a transaction without NOTIFY: %.0f posts/s (PG %.3f ms + Redis %.3f ms + nginx %.3f ms)\n",
            xq, pgq, r, ng
        r1 = x1 > 0 ? ours / x1 : 0; r16 = x16 > 0 ? ours / x16 : 0; rr = xr > 0 ? ours / xr : 0
        rc = f1 > 0 ? cpu / f1 : 0
        printf "  ours: %s posts/s = %.2f of the floor (%.2f and %.2f of the 16-a-transaction ones); %.3f ms CPU" \
            " per post by the servers, jobs included: %.1fx the floor'"'"'s %.3f ms\n", ours, r1, r16, rr, cpu, rc, f1 }'
}

# Redis' share of the floor: BENCH_FLOOR_POSTS (3000) posts' calls (the
# counts per post of post_commands) into 100 feeds of 400 as the real ones,
# a job stream with a consumer group, PUBLISH of the answer's bytes; the
# XACKs once the entries are pending (XREADGROUP, not counted).  Prints
# Redis' CPU ms per post.
floor_redis() {
    local posts=${BENCH_FLOOR_POSTS:-3000} c0 c1 c2 c3 f=$VAR/floor
    local redis=(redis-cli -h 127.0.0.1 -p "$REDISPORT")
    seq 1 100 | while read -r i; do
        seq 1 400 | awk -v k="mastodon:bench:floor:feed:$i" '{ printf "*4\r\n$4\r\nZADD\r\n$%d\r\n%s\r\n$%d\r\n%d\r\n$%d\r\n%d\r\n",
            length(k), k, length($1), $1, length($1), $1 }'
    done | "${redis[@]}" --pipe >/dev/null
    "${redis[@]}" XGROUP CREATE mastodon:bench:floor:queue g '$' MKSTREAM >/dev/null
    # per post j: floor(rate * (j + 1)) - floor(rate * j) calls of each command
    BENCH_FLOOR_PAYLOAD=$(tr -d '\r\n' < "$VAR/static/posted") awk -v posts="$posts" -v phase=1 -f <(floor_redis_awk) "$VAR/post.percmd" > "$f/redis1.resp"
    awk -v posts="$posts" -v phase=2 -f <(floor_redis_awk) "$VAR/post.percmd" > "$f/redis2.resp"
    c0=$(redis_cpu_us)
    "${redis[@]}" --pipe < "$f/redis1.resp" >/dev/null
    c1=$(redis_cpu_us)
    "${redis[@]}" XREADGROUP GROUP g c COUNT $((posts * 10)) STREAMS mastodon:bench:floor:queue '>' >/dev/null
    c2=$(redis_cpu_us)
    "${redis[@]}" --pipe < "$f/redis2.resp" >/dev/null
    c3=$(redis_cpu_us)
    awk -v a=$((c1 - c0 + c3 - c2)) -v n="$posts" 'BEGIN { printf "%.3f", a / 1000 / n }'
}

# the awk program writing floor_redis' RESP: phase 1 the writes, phase 2
# the XACKs (and XDELs) of the entries phase 1 added
floor_redis_awk() {
    cat <<'EOF'
function bulk(s) { return sprintf("$%d\r\n%s\r\n", length(s), s) }
function cmd(n, a,    i, out) { out = sprintf("*%d\r\n", n); for (i = 1; i <= n; i++) out = out bulk(a[i]); printf "%s", out }
{ rate[$1] = $2 }
END {
    split("zadd zremrangebyrank xadd publish", w1, " ")
    split("xack xdel", w2, " ")
    zi = 0
    for (j = 0; j < posts; j++) {
        sid = 100000000 + j
        if (phase == 1) {
            for (t = 1; t <= 4; t++) {
                c = w1[t]; m = int(rate[c] * (j + 1)) - int(rate[c] * j)
                for (q = 0; q < m; q++) {
                    if (c == "zadd") {
                        a[1] = "ZADD"; a[2] = "mastodon:bench:floor:feed:" (zi++ % 100 + 1); a[3] = sid; a[4] = sid; cmd(4, a)
                    } else if (c == "zremrangebyrank") {
                        a[1] = "ZREMRANGEBYRANK"; a[2] = "mastodon:bench:floor:feed:" ((j * 7 + q) % 100 + 1)
                        a[3] = "0"; a[4] = "-402"; cmd(4, a)
                    } else if (c == "xadd") {
                        a[1] = "XADD"; a[2] = "mastodon:bench:floor:queue"; a[3] = "1-" (j * 8 + q + 1)
                        a[4] = "job"; a[5] = "{\"type\":\"distribute\",\"args\":{\"status_id\":\"" sid "\"},\"jid\":\"" sid "\"}"
                        cmd(5, a)
                    } else {
                        a[1] = "PUBLISH"; a[2] = "mastodon:bench:floor:timeline"; a[3] = ENVIRON["BENCH_FLOOR_PAYLOAD"]; cmd(3, a)
                    }
                }
            }
        } else {
            for (t = 1; t <= 2; t++) {
                c = w2[t]; m = int(rate[c] * (j + 1)) - int(rate[c] * j)
                for (q = 0; q < m; q++) {
                    if (c == "xack") {
                        a[1] = "XACK"; a[2] = "mastodon:bench:floor:queue"; a[3] = "g"; a[4] = "1-" (j * 8 + q + 1); cmd(4, a)
                    } else {
                        a[1] = "XDEL"; a[2] = "mastodon:bench:floor:queue"; a[3] = "1-" (j * 8 + q + 1); cmd(3, a)
                    }
                }
            }
        }
    }
}
EOF
}

# Redis' CPU time so far (user + system), in microseconds.
redis_cpu_us() {
    redis-cli -h 127.0.0.1 -p "$REDISPORT" INFO cpu \
        | awk -F: '/^used_cpu_(user|sys):/ { t += $2 } END { printf "%d", t * 1000000 }'
}

# The CPU ticks (user + system) the servers of this run used so far: all,
# then PostgreSQL's processes, nginx's, Redis and the worker.
server_cpu_ticks() {
    local pm ngx p
    pm=$(head -n1 "$VAR/pg/data/postmaster.pid")
    ngx=$(cat "$NGX/nginx.pid")
    {
        for p in $(pgrep -P "$pm"); do echo "pg $(cat "/proc/$p/stat")"; done
        echo "pgm $(cat "/proc/$pm/stat")"
        for p in $(pgrep -P "$ngx"); do echo "nginx $(cat "/proc/$p/stat")"; done
        echo "redis $(cat "/proc/$(cat "$VAR/redis/redis.pid")/stat")"
        echo "worker $(cat "/proc/$(cat "$VAR/worker.pid")/stat")"
    } 2>/dev/null | awk '{ w = $1; if (!sub(/^.*\) /, "")) next; t[w] += $12 + $13 }
        # the postmaster with its reaped children: backends that exited meanwhile
        w == "pgm" { t["pg"] += $12 + $13 + $14 + $15 }
        END { printf "%d %d %d %d %d\n", t["pg"] + t["nginx"] + t["redis"] + t["worker"],
                                          t["pg"], t["nginx"], t["redis"], t["worker"] }'
}

# Delivery: signed POSTs of one activity to a farm of inboxes (a plain
# nginx answering 202 on BENCH_FARM_HOSTS loopback addresses 127.0.0.2...),
# through the worker's deliver() as a job runs them (deliver-bench), against
# the same POSTs unsigned (libcurl multi's floor) and the RSA signatures
# alone (the ceiling), in the same run.
deliver_bench() {
    local hosts=${BENCH_FARM_HOSTS:-32} count=${BENCH_DELIVERIES:-20000} farm=$VAR/farm
    local port i listens="" urls=() rc sender
    mkdir -p "$farm"
    chmod 755 "$farm"
    for _ in 1 2 3 4 5 6 7 8; do
        port=$(free_port)
        listens=""
        for i in $(seq 2 $((hosts + 1))); do listens="$listens        listen 127.0.0.$i:$port;
"; done
        cat > "$farm/nginx.conf" <<EOF
# written by scripts/bench.sh: the inbox farm
worker_processes 1;
error_log $farm/error.log warn;
pid $farm/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $farm/body;
    keepalive_requests 1000000;
    server {
$listens
        location / { return 202; }
    }
}
EOF
        rc=0; nginx_start "$farm" || rc=$?
        [ $rc = 0 ] && break
        [ $rc = 2 ] || die "the farm's nginx failed to start"
    done
    [ $rc = 0 ] || die "the farm's nginx: no free port"
    for i in $(seq 2 $((hosts + 1))); do urls+=("http://127.0.0.$i:$port/users/u$i/inbox"); done
    MASTODON_DATABASE=$(pg_conninfo "$PGPORT" mastodon) \
        "$BUILD_ABS/mastodon-worker" accounts create benchsender --email benchsender@example.com \
        --confirmed --approve --if-not-exists >/dev/null
    sender=$(psql_bench "SELECT id FROM accounts WHERE username = 'benchsender' AND domain IS NULL")
    echo
    echo "Delivery of one activity to $count inboxes on $hosts hosts (one job thread, deliver_host_concurrency ${BENCH_HOST_CONCURRENCY:-8}):"
    MASTODON_DATABASE=$(pg_conninfo "$PGPORT" mastodon) MASTODON_REDIS=127.0.0.1:$REDISPORT \
    MASTODON_FEDERATION_ALLOW_HTTP=1 MASTODON_FEDERATION_ALLOWED_ADDRESSES=127.0.0.0/8 \
    MASTODON_DELIVER_HOST_CONCURRENCY=${BENCH_HOST_CONCURRENCY:-8} MASTODON_LOG_LEVEL=warn \
        "$BUILD_ABS/mastodon-worker" deliver-bench "$sender" "$count" "${urls[@]}" \
        > "$VAR/deliver.out" 2>&1 || { cat "$VAR/deliver.out" >&2; die "deliver-bench failed"; }
    awk '{ printf "  %-9s %s\n", $1 ":", substr($0, length($1) + 2) }' "$VAR/deliver.out"
    echo "  (sign: RSA-2048 signatures alone, the ceiling; unsigned: the same POSTs without"
    echo "   signing, libcurl multi's floor; signed: the deliveries as the worker makes them)"
    nginx_stop "$farm" || true
}

if [ -z "${BENCH_ONLY:-}" ] || [ "$BENCH_ONLY" = fanout ]; then
    fanout_bench
fi

# Big accounts (issue 10: "a post by an account with 1,000,000 followers: no
# more work at posting time than for 1,000"): an account with N local
# followers (rows made with generate_series, no home feeds) posts once; the
# worker's distribute job time.  Above the worker's big_account_followers
# (10000 by default) the post is merged on read (sql/0031_big_accounts.sql)
# and the job walks only the followers with follows.notify.
big_bench() {
    local n author first status jid done_ms
    echo
    echo "A post by an account with N followers (distribute job; merged on read from 10000):"
    printf '  %9s %12s %10s %8s\n' followers 'job ms' 'setup s' merged
    for n in ${BENCH_BIG:-1000 1000000}; do
        local t0
        t0=$(date +%s)
        author=$(psql_bench "INSERT INTO accounts (username) VALUES ('big$n') RETURNING id")
        first=$(psql_bench "SELECT coalesce(max(id), 0) FROM accounts")
        psql_bench "INSERT INTO accounts (id, username)
            SELECT $first + g, 'big${n}_' || g FROM generate_series(1, $n) g" >/dev/null
        psql_bench "INSERT INTO follows (account_id, target_account_id)
            SELECT $first + g, $author FROM generate_series(1, $n) g" >/dev/null
        psql_bench "INSERT INTO account_stats (account_id, followers_count) VALUES ($author, $n)
            ON CONFLICT (account_id) DO UPDATE SET followers_count = excluded.followers_count" >/dev/null
        psql_bench "ANALYZE follows; ANALYZE accounts" >/dev/null
        status=$(psql_bench "INSERT INTO statuses (account_id, text, local) VALUES ($author, 'big', true) RETURNING id")
        t0=$(( $(date +%s) - t0 ))

        MASTODON_REDIS=127.0.0.1:$REDISPORT "$BUILD_ABS/mastodon-worker" enqueue default distribute \
            "{\"status_id\":\"$status\",\"payload\":{\"id\":\"$status\",\"content\":\"big\",\"account\":{\"id\":\"$author\"}}}" >/dev/null
        jid=
        for _ in $(seq 1 6000); do
            jid=$(grep "distribute: status $status into" "$VAR/worker.log" | head -n 1) && [ -n "$jid" ] && break
            sleep 0.01
        done
        [ -n "$jid" ] || die "the distribute job of the account with $n followers did not finish"
        sleep 0.2
        done_ms=$(grep -A3 "distribute: status $status into" "$VAR/worker.log" | awk '/job distribute .* done in/ {print $(NF-1); exit}')
        printf '  %9s %12s %10s %8s\n' "$n" "${done_ms:-?}" "$t0" \
            "$(psql_bench "SELECT count(*) FROM feed_big_accounts WHERE account_id = $author")"
    done
}

if [ -z "${BENCH_ONLY:-}" ] || [ "$BENCH_ONLY" = big ]; then
    big_bench
fi

if [ -z "${BENCH_ONLY:-}" ] || [ "$BENCH_ONLY" = deliver ]; then
    deliver_bench
fi

# Inbox: one signed POST (cavage rsa-sha256, a 2048-bit key) replayed by
# wrk: the module checks it, verifies the RSA signature (key from the
# shared-memory cache) and stores it with its job in PostgreSQL before 202;
# nginx answering 202 to the same requests (return 202) is the floor.
inbox_bench() {
    local key uri pub body date digest string sig code stored0 stored1
    key=$VAR/inbox-peer.key
    uri=https://peer.test/users/peer
    openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$key"
    pub=$(openssl pkey -in "$key" -pubout)
    psql_bench "INSERT INTO accounts (username, domain, uri, public_key)
        VALUES ('peer', 'peer.test', '$uri', '$pub')" >/dev/null
    body="{\"@context\":\"https://www.w3.org/ns/activitystreams\",\"id\":\"$uri#likes/1\","
    body="$body\"type\":\"Like\",\"actor\":\"$uri\",\"object\":\"http://localhost:$PORT/users/bench/statuses/$STATUS\"}"
    date=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
    digest="SHA-256=$(printf '%s' "$body" | openssl dgst -sha256 -binary | base64 -w0)"
    string=$(printf '(request-target): post /users/bench/inbox\nhost: localhost:%s\ndate: %s\ndigest: %s' \
        "$PORT" "$date" "$digest")
    sig=$(printf '%s' "$string" | openssl dgst -sha256 -sign "$key" | base64 -w0)
    export BENCH_INBOX_BODY=$body BENCH_INBOX_HOST=localhost:$PORT BENCH_INBOX_DATE=$date \
        BENCH_INBOX_DIGEST=$digest
    export BENCH_INBOX_SIGNATURE="keyId=\"$uri#main-key\",algorithm=\"rsa-sha256\",headers=\"(request-target) host date digest\",signature=\"$sig\""
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Host: localhost:$PORT" -H "Date: $date" \
        -H "Digest: $digest" -H "Signature: $BENCH_INBOX_SIGNATURE" \
        -H 'Content-Type: application/activity+json' --data-binary "$body" "$BASE/users/bench/inbox")
    [ "$code" = 202 ] || die "the signed inbox POST of the bench answered $code"

    wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s "$MASTODON_ROOT/scripts/bench/inbox.lua" \
        "$BASE/users/bench/inbox" >/dev/null
    # rows stored, by their sequence: the worker deletes the rows it processed
    stored0=$(psql_bench "SELECT last_value FROM inbox_activities_id_seq")
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$MASTODON_ROOT/scripts/bench/inbox.lua" \
        "$BASE/users/bench/inbox" > "$VAR/inbox.out" 2>&1 || true
    stored1=$(psql_bench "SELECT last_value FROM inbox_activities_id_seq")
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$MASTODON_ROOT/scripts/bench/inbox.lua" \
        "$BASE/bench/accept" > "$VAR/accept.out" 2>&1 || true

    echo
    echo "Inbox POSTs, signature verified and stored before 202 (wrk -c$CONNS, one 2048-bit RSA key):"
    printf '  %-34s %10s r/s   (%s; %s rows stored)\n' "module POST /users/bench/inbox" \
        "$(awk '/^Requests\/sec:/ {print $2}' "$VAR/inbox.out")" "$(grep -E '^inbox:' "$VAR/inbox.out")" \
        "$((stored1 - stored0))"
    printf '  %-34s %10s r/s\n' "nginx return 202, same requests" \
        "$(awk '/^Requests\/sec:/ {print $2}' "$VAR/accept.out")"
}

if [ -z "${BENCH_ONLY:-}" ] || [ "$BENCH_ONLY" = inbox ]; then
    inbox_bench
fi

# Media: a 12-megapixel JPEG (4000x3000) through what a media_process job
# does (decode, autorotate, strip, the original re-encoded, the small
# preview made by vips_thumbnail with shrink-on-load, the blurhash:
# media-bench, one thread), against the bare
# vipsthumbnail command making only the preview, on the same file in the
# same run.
media_bench() {
    local n=${BENCH_MEDIA:-20} src out start ms i files=()
    src=$VAR/media-12mp.jpg
    out=$VAR/media-out
    mkdir -p "$out"
    vips gaussnoise "$VAR/media-noise.v" 4000 3000 --mean 128 --sigma 40
    vips gaussblur "$VAR/media-noise.v" "$src[Q=90]" 2
    "$BUILD_ABS/mastodon-worker" media-bench "$src" "$n" "$out" > "$VAR/media.out" 2>&1 \
        || { cat "$VAR/media.out" >&2; die "media-bench failed"; }
    for ((i = 0; i < n; i++)); do files+=("$src"); done
    start=$(date +%s%N)
    VIPS_CONCURRENCY=1 vipsthumbnail --size 640x360 -o "$out/thumb_%s.jpg[Q=90,strip]" "${files[@]}"
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    echo
    echo "Media: a 12-megapixel JPEG, $n times, one thread:"
    printf '  %-44s %s\n' "worker (original + small + blurhash):" "$(cat "$VAR/media.out")"
    printf '  %-44s media %s in %s ms: %s/s\n' "vipsthumbnail (the small preview alone):" "$n" "$ms" \
        "$(awk -v n="$n" -v ms="$ms" 'BEGIN { printf "%.2f", (ms > 0 ? n * 1000 / ms : 0) }')"
}

if [ -z "${BENCH_ONLY:-}" ] || [ "$BENCH_ONLY" = media ]; then
    media_bench
fi

# Search: BENCH_SEARCH_STATUSES statuses (10 words each out of a
# vocabulary of about a thousand, so that a word is in 1% of them; 1000
# authors, three in four indexable; 80% public, 10% unlisted, 10% private),
# made with generate_series; the bench user favourites 1000 of them.  A
# two-word query of the bench user, p50/p99 of GET /api/v2/search
# (wrk -c4: the module's whole path, statuses rendered), against pgbench
# running mastodon_search_statuses() with the same arguments (the same
# plan: the module's statement is that function, planned with custom
# plans).  The load sets the vectors itself and builds the GIN index
# after, as `search deploy` on a restored dump would; the time is printed.
search_bench() {
    local n=${BENCH_SEARCH_STATUSES:-1000000} start load q words log
    start=$(date +%s)
    psql_bench "
        INSERT INTO accounts (username, display_name, indexable)
            SELECT 'searched' || i, 'Searched ' || i, i % 4 <> 0 FROM generate_series(1, 1000) i;
        INSERT INTO users (account_id, email, confirmed_at)
            SELECT id, username || '@example.com', now() FROM accounts WHERE username LIKE 'searched%';
        DROP INDEX index_statuses_on_search_vector;
        ALTER TABLE statuses DISABLE TRIGGER statuses_search_vector;
        WITH au AS (SELECT array_agg(id ORDER BY id) AS ids FROM accounts
                     WHERE username LIKE 'searched%'),
             s AS (SELECT (((extract(epoch FROM now())::bigint - 86400) * 1000 - g) << 16) | (g & 65535) AS id,
                          au.ids[1 + g % 1000] AS account_id,
                          concat_ws(' ', 'w' || (g * 7919 % 1000), 'w' || (g * 104729 % 997),
                              'w' || (g * 31 % 991), 'w' || (g * 613 % 983), 'w' || (g * 3571 % 977),
                              'w' || (g * 7 % 971), 'w' || (g * 65537 % 967), 'w' || (g * 101 % 953),
                              'w' || (g * 1009 % 947), 'w' || (g * 50021 % 941)) AS text,
                          CASE WHEN g % 10 = 0 THEN 2 WHEN g % 10 = 1 THEN 1 ELSE 0 END AS visibility,
                          g
                     FROM au, generate_series(1::bigint, $n) g)
        INSERT INTO statuses (id, account_id, text, language, visibility, local, created_at,
                              search_vector)
            SELECT id, account_id, text, 'en', visibility, true,
                   now() AT TIME ZONE 'UTC' - interval '1 day' - (g || ' milliseconds')::interval,
                   mastodon_search_vector(text, '', 'en')
              FROM s;
        ALTER TABLE statuses ENABLE TRIGGER statuses_search_vector;
        SET maintenance_work_mem = '256MB';
        CREATE INDEX index_statuses_on_search_vector ON statuses USING gin (search_vector)
            WHERE deleted_at IS NULL AND reblog_of_id IS NULL;
        INSERT INTO favourites (account_id, status_id)
            SELECT $ACCOUNT, id FROM statuses WHERE text LIKE 'w12 %' LIMIT 1000;
        ANALYZE;
    " >/dev/null
    load=$(( $(date +%s) - start ))
    words='w12 w345'
    q=$(printf '%s' "$words" | sed 's/ /+/g')
    log=$VAR/search-pg
    mkdir -p "$log"
    wrk -t1 -c4 -d"$WARMUP" -H "Authorization: Bearer $TOKEN" \
        "$BASE/api/v2/search?q=$q&type=statuses" >/dev/null
    wrk -t1 -c4 -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" \
        "$BASE/api/v2/search?q=$q&type=statuses" > "$VAR/search.out" 2>&1 || true
    printf '%s\n' "SELECT x.id FROM mastodon_search_statuses($ACCOUNT, '$words', '{}', '{}', NULL,
        '{}', '{}', '{}', '{}', '{}', '{}', NULL, 'localhost', '{}', '{}', '{}', 0, NULL, NULL,
        20, 0) x(id);" > "$log/query.sql"
    (cd "$log" && "$(pg_bindir)/pgbench" -n -M simple -c4 -j1 -T "${DURATION%s}" -f query.sql -l \
        -h 127.0.0.1 -p "$PGPORT" -U postgres mastodon > pgbench.out 2>&1) || true
    echo
    echo "Status search, $n statuses (set up in ${load}s), \"$words\" for a viewer, p50 / p99:"
    printf '  %-44s %s / %s (%s r/s; %s statuses found)\n' "module GET /api/v2/search (wrk -c4):" \
        "$(awk '/^ +50%/ {print $2}' "$VAR/search.out")" "$(awk '/^ +99%/ {print $2}' "$VAR/search.out")" \
        "$(awk '/^Requests\/sec:/ {print $2}' "$VAR/search.out")" \
        "$(curl -s -H "Authorization: Bearer $TOKEN" "$BASE/api/v2/search?q=$q&type=statuses" \
           | grep -o '"visibility":' | wc -l)"
    cat "$log"/pgbench_log.* 2>/dev/null | awk '{print $3}' | sort -n | awk '
        { v[NR] = $1 }
        END { if (NR == 0) { print "  pgbench: no log"; exit }
              printf "  %-44s %.2fms / %.2fms (%d queries)\n",
                  "PostgreSQL, the same function (pgbench -c4):",
                  v[int(NR * 0.5) + (NR * 0.5 > int(NR * 0.5))] / 1000,
                  v[int(NR * 0.99) + (NR * 0.99 > int(NR * 0.99))] / 1000, NR }'
}

if [ -z "${BENCH_ONLY:-}" ] || [ "$BENCH_ONLY" = search ]; then
    search_bench
fi

# Streaming: a second nginx, one worker, on the same PostgreSQL and Redis;
# scripts/bench/stream_load.c (built here) holds the WebSocket clients of
# the public stream.  Memory per idle connection: the worker's RSS with
# BENCH_STREAM_IDLE (10000) clients upgraded, less its RSS before, per
# client.  Post-to-client latency: BENCH_STREAM_CLIENTS (1000) clients, a
# POST /api/v1/statuses at a time through the worker's fan-out to every
# client (p50/p99 of the clients' receive times).  Events/s: 100 update
# events with a rendered status PUBLISHed on timeline:public, each through
# the viewers' filter statement (one per event for all of the worker's
# viewers: the default PostgreSQL wait queue), until all clients have all
# of them.
stream_bench() {
    local dir=$VAR/stream-nginx sport pid before after idle=${BENCH_STREAM_IDLE:-10000}
    local n=${BENCH_STREAM_CLIENTS:-1000} load=$VAR/stream_load i lpid rc
    local p50 p99 got want rate ms
    mkdir -p "$dir"
    cc -std=gnu11 -O2 -Wall -Wextra -o "$load" scripts/bench/stream_load.c
    for i in 1 2 3 4 5 6 7 8; do
        sport=$(free_port)
        cat > "$dir/nginx.conf" <<EOF
# written by scripts/bench.sh: the streaming section's
load_module $BUILD_ABS/nginx/ngx_http_mastodon_module.so;
worker_processes 1;
worker_rlimit_nofile $(ulimit -Hn | sed s/unlimited/40000/);
error_log $dir/error.log warn;
pid $dir/nginx.pid;
events { worker_connections $(( idle + 1000 )); }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    mastodon_database "$(pg_conninfo "$PGPORT" mastodon)";
    mastodon_redis 127.0.0.1:$REDISPORT;
    mastodon_domain localhost:$PORT;
    mastodon_https off;
    mastodon_rate_limit off;
    mastodon_streaming_heartbeat 600s;
    server {
        listen 127.0.0.1:$sport backlog=4096;
        location / { mastodon; }
    }
}
EOF
        rc=0; nginx_start "$dir" || rc=$?
        [ $rc = 0 ] && break
        [ $rc = 2 ] || die "the streaming nginx failed to start"
    done
    wait_port "$sport" 10 || die "the streaming nginx does not accept on $sport"
    pid=$(pgrep -P "$(cat "$dir/nginx.pid")" | head -n 1)
    # the hard limit on open files is what a process here can have
    ulimit -n "$(ulimit -Hn)"
    [ "$(ulimit -n)" = unlimited ] || [ "$idle" -le $(( $(ulimit -n) - 100 )) ] \
        || idle=$(( $(ulimit -n) - 100 ))
    echo
    echo "Streaming (WebSocket, stream=public, one nginx worker):"
    sleep 1
    before=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    rm -f "$VAR/stream.ready"
    timeout 120 "$load" "$sport" "$TOKEN" "$idle" idle 60 "$VAR/stream.ready" &
    lpid=$!
    for i in $(seq 1 600); do [ -e "$VAR/stream.ready" ] && break; sleep 0.1; done
    sleep 1
    after=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    kill "$lpid" 2>/dev/null || true
    wait "$lpid" 2>/dev/null || true
    if [ -e "$VAR/stream.ready" ]; then
        printf '  %-48s %s KiB (RSS %s -> %s KiB)\n' "memory per idle connection ($idle clients):" \
            "$(awk -v a="$before" -v b="$after" -v n="$idle" 'BEGIN { printf "%.1f", (b - a) / n }')" \
            "$before" "$after"
    else
        printf '  %-48s %s\n' "memory per idle connection ($idle clients):" "not all connected"
    fi
    sleep 2
    read -r p50 p99 got want < <(timeout 120 "$load" "$sport" "$TOKEN" "$n" latency 20 || echo "- - 0 0")
    printf '  %-48s %s ms / %s ms (%s of %s deliveries)\n' "post-to-client latency p50 / p99 ($n clients):" \
        "$p50" "$p99" "$got" "$want"
    curl -s "$BASE/api/v1/statuses/$STATUS" > "$VAR/stream.payload"
    read -r rate got ms < <(timeout 120 "$load" "$sport" "$TOKEN" "$n" rate "$REDISPORT" 100 \
        "$VAR/stream.payload" || echo "- 0 0")
    printf '  %-48s %s events/s (%s delivered in %s ms)\n' "events delivered ($n clients, 100 updates):" \
        "$rate" "$got" "$ms"
    nginx_stop "$dir" || true
}

if [ -z "${BENCH_ONLY:-}" ] || [ "$BENCH_ONLY" = stream ]; then
    stream_bench
fi

# last: the posts leave the worker a backlog of distribute jobs
if [ -z "${BENCH_ONLY:-}" ] || [ "$BENCH_ONLY" = post ]; then
    post_bench
fi

status=0
