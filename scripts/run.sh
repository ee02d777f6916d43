#!/bin/bash
# make run / make stop:  scripts/run.sh start|stop|status
#
# A persistent development instance, everything under var/ and on 127.0.0.1:
#   var/pg/          PostgreSQL cluster (initdb once), database "mastodon"
#   var/redis/       Redis (append-only file, kept)
#   var/run/nginx/   nginx prefix: nginx.conf (from conf/nginx-dev.conf.in), logs, pid
# (var/pg and var/run/nginx are symlinks to /var/tmp/ngx_mastodon-*.XXXXXX
# when the checkout is in a directory the postgres user and nginx's workers
# cannot enter, such as root's home: see shared_dir in lib.sh)
#   var/run/worker.{pid,log}
#   var/admin-password   the admin's generated password (mode 600)
# `start` again restarts nginx and the worker with the current build and keeps
# the data (migrations run on every start; they are idempotent).
# Environment: PORT (default 8080), BUILD (default build; build-asan works too),
# INSTANCE (default 1): INSTANCE=2 is a second, independent instance with
# everything under var/instance2/ (the same layout) and PORT 8081 by default
# (INSTANCE=N: var/instanceN/, port 8079+N).  Every dev instance's worker may
# fetch from and deliver to http:// URLs on loopback (federation_allow_http,
# federation_allowed_addresses), so instances on one machine federate.
set -eu
. "$(dirname "$0")/lib.sh"
cd "$MASTODON_ROOT"

BUILD=${BUILD:-build}
INSTANCE=${INSTANCE:-1}
case "$INSTANCE" in
    [1-9]|[1-9][0-9]) ;;
    *) die "INSTANCE must be a number from 1 to 99 (got \"$INSTANCE\")" ;;
esac
PORT=${PORT:-$((8079 + INSTANCE))}
if [ "$INSTANCE" = 1 ]; then
    VAR=$MASTODON_ROOT/var
    SUFFIX=""
else
    VAR=$MASTODON_ROOT/var/instance$INSTANCE
    SUFFIX=" INSTANCE=$INSTANCE"
fi
PGDIR=$VAR/pg
REDISDIR=$VAR/redis
RUNDIR=$VAR/run
NGXDIR=$RUNDIR/nginx
DB=mastodon
ADMIN_USER="admin"
ADMIN_EMAIL=admin@localhost

pg_running() {
    [ -f "$PGDIR/data/postmaster.pid" ] && pid_alive "$(head -n1 "$PGDIR/data/postmaster.pid")"
}
redis_running() {
    [ -s "$REDISDIR/redis.pid" ] && pid_alive "$(cat "$REDISDIR/redis.pid")"
}

start_postgres() {
    export MASTODON_PG_PERSIST=1
    shared_dir "$PGDIR" >/dev/null
    if [ ! -d "$PGDIR/data" ]; then
        note "PostgreSQL: initdb in $PGDIR"
        pg_init "$PGDIR"
    fi
    if pg_running; then
        PGPORT=$(cat "$PGDIR/port")
        note "PostgreSQL already runs on 127.0.0.1:$PGPORT"
        return
    fi
    local port rc
    port=$(cat "$PGDIR/port" 2>/dev/null || free_port)
    for _ in 1 2 3 4 5; do
        rc=0; pg_start "$PGDIR" "$port" || rc=$?
        [ $rc = 0 ] && break
        [ $rc = 2 ] || die "PostgreSQL failed to start"
        warn "port $port is taken, trying another one"
        port=$(free_port)
    done
    [ $rc = 0 ] || die "PostgreSQL: no free port"
    PGPORT=$port
    note "PostgreSQL on 127.0.0.1:$PGPORT"
}

start_redis() {
    if redis_running; then
        REDISPORT=$(cat "$REDISDIR/port")
        note "Redis already runs on 127.0.0.1:$REDISPORT"
        return
    fi
    local port rc
    port=$(cat "$REDISDIR/port" 2>/dev/null || free_port)
    for _ in 1 2 3 4 5; do
        rc=0; redis_start "$REDISDIR" "$port" persistent || rc=$?
        [ $rc = 0 ] && break
        [ $rc = 2 ] || die "Redis failed to start"
        warn "port $port is taken, trying another one"
        port=$(free_port)
    done
    [ $rc = 0 ] || die "Redis: no free port"
    REDISPORT=$port
    note "Redis on 127.0.0.1:$REDISPORT"
}

worker_env() {
    export MASTODON_DATABASE MASTODON_REDIS MASTODON_DOMAIN MASTODON_SQL_DIR MASTODON_BASE_URL \
        MASTODON_FEDERATION_ALLOW_HTTP MASTODON_FEDERATION_ALLOWED_ADDRESSES
    MASTODON_DATABASE=$(pg_conninfo "$PGPORT" "$DB")
    MASTODON_REDIS=127.0.0.1:$REDISPORT
    MASTODON_DOMAIN=localhost:$PORT
    MASTODON_BASE_URL=http://localhost:$PORT
    MASTODON_SQL_DIR=$MASTODON_ROOT/sql
    # development only: the other dev instances are http://localhost:PORT
    MASTODON_FEDERATION_ALLOW_HTTP=${MASTODON_FEDERATION_ALLOW_HTTP:-1}
    MASTODON_FEDERATION_ALLOWED_ADDRESSES=${MASTODON_FEDERATION_ALLOWED_ADDRESSES:-127.0.0.1,::1}
}

migrate() {
    if [ -z "$(pg_psql "$PGPORT" postgres "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
        note "creating database $DB"
        pg_psql "$PGPORT" postgres "CREATE DATABASE $DB" >/dev/null
    fi
    note "migrating"
    "$BUILD_ABS/mastodon-worker" migrate || die "mastodon-worker migrate failed"
}

create_admin() {
    local out pw
    if ! out=$("$BUILD_ABS/mastodon-worker" accounts create "$ADMIN_USER" --email "$ADMIN_EMAIL" \
            --role Owner --confirmed --approve --if-not-exists 2>"$RUNDIR/accounts-create.err"); then
        warn "could not create the admin account:"
        cat "$RUNDIR/accounts-create.err" >&2
        return 0
    fi
    # the password is printed only when the account was created
    pw=$(printf '%s\n' "$out" | sed -n 's/^.*[Pp]assword[^A-Za-z0-9]*[:=] *\([^ ]*\).*$/\1/p' | tail -n1)
    if [ -z "$pw" ] && [ "$(printf '%s\n' "$out" | grep -c .)" = 1 ] && ! printf '%s' "$out" | grep -q ' '; then
        pw=$out    # a bare password on one line
    fi
    if [ -n "$pw" ] && [ ! -s "$VAR/admin-password" ]; then
        (umask 077; printf '%s\n' "$pw" > "$VAR/admin-password")
        chmod 600 "$VAR/admin-password"
    fi
}

stop_worker() {
    if [ -s "$RUNDIR/worker.pid" ]; then
        note "stopping the worker"
        pidfile_stop "$RUNDIR/worker.pid" TERM 30 || true
    fi
}

start_worker() {
    stop_worker
    note "starting the worker (log: ${RUNDIR#"$MASTODON_ROOT"/}/worker.log)"
    mkdir -p "$RUNDIR/public/system" && chmod 755 "$RUNDIR/public" "$RUNDIR/public/system"
    MASTODON_MEDIA_ROOT=$RUNDIR/public/system MASTODON_LOG_FILE=$RUNDIR/worker.log setsid "$BUILD_ABS/mastodon-worker" run \
        </dev/null >>"$RUNDIR/worker.out" 2>&1 &
    echo $! > "$RUNDIR/worker.pid"
    sleep 0.3
    pid_alive "$(cat "$RUNDIR/worker.pid")" || {
        tail -20 "$RUNDIR/worker.out" "$RUNDIR/worker.log" 2>/dev/null >&2
        die "the worker exited right away"
    }
}

write_nginx_conf() {
    local prefix
    prefix=$(shared_dir "$NGXDIR")    # nginx's workers use its temp paths
    sed -e "s|@MODULE@|$BUILD_ABS/nginx/ngx_http_mastodon_module.so|g" \
        -e "s|@PREFIX@|$prefix|g" \
        -e "s|@DATABASE@|$(pg_conninfo "$PGPORT" "$DB")|g" \
        -e "s|@REDIS@|127.0.0.1:$REDISPORT|g" \
        -e "s|@PORT@|$PORT|g" \
        -e "s|@PUBLIC@|$RUNDIR/public|g" \
        -e "s|@CONF@|$MASTODON_ROOT/conf|g" \
        conf/nginx-dev.conf.in > "$NGXDIR/nginx.conf"
}

start_nginx() {
    local env=()
    if [ -s "$NGXDIR/nginx.pid" ]; then
        note "stopping nginx (restart with the current build)"
        nginx_stop "$NGXDIR" || true
    fi
    write_nginx_conf
    # an ASan build of the module (BUILD=build-asan) needs the runtime preloaded
    if grep -qa 'libasan\.so' "$BUILD_ABS/nginx/ngx_http_mastodon_module.so"; then
        env=(LD_PRELOAD="$(asan_preload)" ASAN_OPTIONS=detect_leaks=0)
    fi
    env "${env[@]}" /usr/sbin/nginx -t -p "$NGXDIR/" -c "$NGXDIR/nginx.conf" -e "$NGXDIR/error.log" \
        >"$NGXDIR/nginx-t.log" 2>&1 \
        || { cat "$NGXDIR/nginx-t.log" >&2; die "nginx -t failed on $NGXDIR/nginx.conf"; }
    local rc=0
    nginx_start "$NGXDIR" "${env[@]}" || rc=$?
    [ $rc = 2 ] && die "port $PORT is in use: stop what uses it or run PORT=<another> make run$SUFFIX"
    [ $rc = 0 ] || die "nginx failed to start"
    wait_port "$PORT" 10 || die "nginx does not accept on 127.0.0.1:$PORT (see $NGXDIR/error.log)"
}

do_start() {
    [ -d "$BUILD" ] || die "build dir $BUILD is missing: run \`make\` first"
    BUILD_ABS=$(cd "$BUILD" && pwd)
    worker_check "$BUILD_ABS"
    module_check "$BUILD_ABS"
    mkdir -p "$VAR" "$RUNDIR"
    chmod 755 "$VAR" "$RUNDIR"    # postgres and nginx's workers (nobody) go in there

    start_postgres
    start_redis
    worker_env
    migrate
    create_admin
    start_worker
    start_nginx

    echo
    local rel=${VAR#"$MASTODON_ROOT"/}
    echo "ngx_mastodon runs at   http://localhost:$PORT/   (instance $INSTANCE, @$ADMIN_USER@localhost:$PORT)"
    if [ -s "$VAR/admin-password" ]; then
        echo "admin login:           $ADMIN_EMAIL / $(cat "$VAR/admin-password")"
    else
        echo "admin login:           $ADMIN_EMAIL (no password recorded in $rel/admin-password)"
    fi
    echo "logs:                  $rel/run/nginx/error.log, $rel/run/worker.log"
    echo "stop it with:          make stop$SUFFIX"
}

do_stop() {
    local any=0
    if [ -s "$NGXDIR/nginx.pid" ]; then note "stopping nginx"; nginx_stop "$NGXDIR" || true; any=1; fi
    if [ -s "$RUNDIR/worker.pid" ]; then stop_worker; any=1; fi
    if [ -s "$REDISDIR/redis.pid" ]; then note "stopping Redis"; redis_stop "$REDISDIR" || true; any=1; fi
    if pg_running; then note "stopping PostgreSQL"; pg_stop "$PGDIR" fast; any=1; fi
    [ $any = 1 ] || note "nothing was running (instance $INSTANCE)"
}

do_status() {
    local f pid
    for f in "$NGXDIR/nginx.pid" "$RUNDIR/worker.pid" "$REDISDIR/redis.pid" "$PGDIR/data/postmaster.pid"; do
        pid=$(head -n1 "$f" 2>/dev/null || true)
        if [ -n "$pid" ] && pid_alive "$pid"; then echo "running  $pid  ${f#"$MASTODON_ROOT"/}"
        else echo "stopped       ${f#"$MASTODON_ROOT"/}"; fi
    done
}

case "${1:-}" in
    start)  do_start ;;
    stop)   do_stop ;;
    status) do_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
