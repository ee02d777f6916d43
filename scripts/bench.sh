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
# BENCH_FANOUT_WARM (distribute jobs run first to warm the worker's connections, 50),
# BENCH_BIG (follower counts of the big-account section, default "1000 1000000";
# `big` in BENCH_ONLY for it alone),
# BENCH_DELIVERIES (20000), BENCH_FARM_HOSTS (32), BENCH_HOST_CONCURRENCY (8),
# BENCH_SEARCH_STATUSES (1000000; BENCH_ONLY=search for that section alone).
# BENCH_POST_CONNECTIONS (wrk's connections of the posting run, default 16; a
# list such as "16 64" makes one run each, in that order).
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

# The worker's job threads (5 by default) each have a PostgreSQL
# connection; a job is taken by whichever thread waits longest, so the
# measured one would run on a connection that never ran a fan-out: a fresh
# backend's first plans (catalog caches, PostgreSQL's five custom plans
# before the generic one), tens of ms once per connection, not per post.
# BENCH_FANOUT_WARM (50) distribute jobs of a post to a few followers run
# first on every thread, as on a worker that has been running.
fanout_warm() {
    local author status i
    author=$(psql_bench "INSERT INTO accounts (username) VALUES ('fanwarm') RETURNING id")
    psql_bench "INSERT INTO accounts (username) SELECT 'fanwarm_' || g FROM generate_series(1, 10) g" >/dev/null
    psql_bench "INSERT INTO follows (account_id, target_account_id)
        SELECT id, $author FROM accounts WHERE username LIKE 'fanwarm\_%'" >/dev/null
    status=$(psql_bench "INSERT INTO statuses (account_id, text, local) VALUES ($author, 'warm', true) RETURNING id")
    for i in $(seq 1 "${BENCH_FANOUT_WARM:-50}"); do
        MASTODON_REDIS=127.0.0.1:$REDISPORT "$BUILD_ABS/mastodon-worker" enqueue default distribute \
            "{\"status_id\":\"$status\",\"payload\":{\"id\":\"$status\",\"content\":\"warm\",\"account\":{\"id\":\"$author\"}}}" >/dev/null
    done
    for _ in $(seq 1 1000); do
        [ "$(redis-cli -h 127.0.0.1 -p "$REDISPORT" XLEN mastodon:queue:default)" = 0 ] && return 0
        sleep 0.01
    done
    die "the fan-out warm-up jobs did not finish"
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
    fanout_warm
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

# Posting: each POST /api/v1/statuses is one INSERT statement, the loader
# and the distribute job (the worker runs them meanwhile).  Issue 10's row:
# BENCH_POST_AUTHORS (64) authors, the requests going round them, each
# followed by the same 100 local accounts with home feeds.  A single author
# (BENCH_POST_AUTHORS=1) is bounded by its account_stats row, which every
# post updates and holds until its commit, as Mastodon's does.
post_bench() {
    local ids=$VAR/post-followers.ids tokens= token digest author user i
    local authors=${BENCH_POST_AUTHORS:-64}
    psql_bench "INSERT INTO accounts (username) SELECT 'postf' || g FROM generate_series(1, 100) g" >/dev/null
    psql_bench "SELECT id FROM accounts WHERE username LIKE 'postf%'" > "$ids"
    zadd_resp mastodon:feed:home: 0 0 < "$ids" | redis-cli -h 127.0.0.1 -p "$REDISPORT" --pipe >/dev/null
    for i in $(seq 1 "$authors"); do
        if [ "$i" = 1 ]; then
            author=$ACCOUNT token=$TOKEN
        else
            token=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | head -c 43)
            digest=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
            author=$(psql_bench "INSERT INTO accounts (username) VALUES ('poster$i') RETURNING id")
            user=$(psql_bench "INSERT INTO users (account_id, email, confirmed_at) VALUES ($author,
                'poster$i@example.com', now()) RETURNING id")
            psql_bench "INSERT INTO oauth_access_tokens (token, scopes, application_id, resource_owner_id)
                VALUES ('$digest', 'read write', $APP, $user)" >/dev/null
        fi
        psql_bench "INSERT INTO follows (account_id, target_account_id)
            SELECT id, $author FROM accounts WHERE username LIKE 'postf%'" >/dev/null
        tokens=$tokens${tokens:+,}$token
    done
    local conns
    for conns in ${BENCH_POST_CONNECTIONS:-16}; do
        post_run "$conns" "$authors" "$tokens"
    done
}

# post_run CONNECTIONS AUTHORS TOKENS: one posting run, its rate and CPU per
# post, then the worker's queue drained (the next run starts from none)
post_run() {
    local conns=$1 authors=$2 tokens=$3
    local cpu0 cpu1
    cpu0=$(server_cpu_ticks)
    BENCH_TOKEN=$tokens wrk -t2 -c"$conns" -d"$DURATION" -s "$MASTODON_ROOT/scripts/bench/post.lua" \
        "$BASE/api/v1/statuses" > "$VAR/post.out" 2>&1 || true
    cpu1=$(server_cpu_ticks)
    echo
    echo "POST /api/v1/statuses (wrk -c$conns, $authors author(s) each followed by 100 local feeds):" \
        "$(awk '/^Requests\/sec:/ {print $2}' "$VAR/post.out") posts/s; $(grep -E '^posts:' "$VAR/post.out")"
    # CPU per post does not depend much on what else the machine runs
    awk -v a="$cpu0" -v b="$cpu1" -v hz="$(getconf CLK_TCK)" \
        -v n="$(awk '/^posts:/ {sub(",", "", $2); print $2}' "$VAR/post.out")" \
        'BEGIN { split(a, x, " "); split(b, y, " "); f = 1000 / hz / n
                 if (n > 0) printf "  CPU per post (PostgreSQL, nginx, Redis, the worker, during the run): %.2f ms" \
                     " (PostgreSQL %.2f, nginx %.2f, Redis %.2f, the worker %.2f)\n", (y[1] - x[1]) * f,
                     (y[2] - x[2]) * f, (y[3] - x[3]) * f, (y[4] - x[4]) * f, (y[5] - x[5]) * f }'
    # the jobs left when wrk stopped (a worker behind), run to the end: the
    # whole cost of a post, whatever share of it the run's end cut off
    local left start drained=0 cpu2
    left=$(redis-cli -h 127.0.0.1 -p "$REDISPORT" XLEN mastodon:queue:default)
    start=$(date +%s%N)
    for _ in $(seq 1 1200); do
        [ "$(redis-cli -h 127.0.0.1 -p "$REDISPORT" XLEN mastodon:queue:default)" = 0 ] \
            && [ "$(psql_bench "SELECT count(*) FROM job_outbox")" = 0 ] && { drained=1; break; }
        sleep 0.05
    done
    cpu2=$(server_cpu_ticks)
    [ "$drained" = 1 ] || echo "  (the worker's queue did not drain within 60 s)"
    awk -v a="$cpu0" -v b="$cpu2" -v hz="$(getconf CLK_TCK)" -v left="$left" \
        -v ms="$(( ($(date +%s%N) - start) / 1000000 ))" \
        -v n="$(awk '/^posts:/ {sub(",", "", $2); print $2}' "$VAR/post.out")" \
        'BEGIN { split(a, x, " "); split(b, y, " "); f = 1000 / hz / n
                 if (n > 0) printf "  ... with the %d jobs queued at the end run (%d ms): %.2f ms" \
                     " (PostgreSQL %.2f, nginx %.2f, Redis %.2f, the worker %.2f)\n", left, ms,
                     (y[1] - x[1]) * f, (y[2] - x[2]) * f, (y[3] - x[3]) * f, (y[4] - x[4]) * f,
                     (y[5] - x[5]) * f }'
}

# The CPU ticks (user + system) the servers of this run used so far: all,
# then PostgreSQL's processes, nginx's, Redis and the worker.
server_cpu_ticks() {
    local pm ngx p
    pm=$(head -n1 "$VAR/pg/data/postmaster.pid")
    ngx=$(cat "$NGX/nginx.pid")
    {
        for p in $(pgrep -P "$pm") "$pm"; do echo "pg $(cat "/proc/$p/stat")"; done
        for p in $(pgrep -P "$ngx"); do echo "nginx $(cat "/proc/$p/stat")"; done
        echo "redis $(cat "/proc/$(cat "$VAR/redis/redis.pid")/stat")"
        echo "worker $(cat "/proc/$(cat "$VAR/worker.pid")/stat")"
    } 2>/dev/null | awk '{ w = $1; if (!sub(/^.*\) /, "")) next; t[w] += $12 + $13 }
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
