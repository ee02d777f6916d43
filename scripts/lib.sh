#!/bin/bash
# Shared shell functions for run.sh, test.sh, bench.sh and the Perl test harness.
#
#   . scripts/lib.sh                      # from another bash script
#   bash scripts/lib.sh FUNCTION ARGS...  # from anything else (t/lib/MastodonTest.pm)
#
# Everything listens on 127.0.0.1 only.  Ports are picked at random in
# 20000-60000; a server that fails with "Address already in use" is retried on
# another port (test files run in parallel).

MASTODON_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

note() { echo "==> $*" >&2; }
warn() { echo "${0##*/}: $*" >&2; }
die()  { echo "${0##*/}: error: $*" >&2; exit 1; }

# --- ports ---------------------------------------------------------------------
# free_port: print a TCP port in 20000-60000 that nothing listens on right now.
free_port() {
    perl -MIO::Socket::INET -e '
        for (1 .. 200) {
            my $p = 20000 + int(rand(40000));
            my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $p,
                                          Proto => "tcp", Listen => 1) or next;
            close $s; print "$p\n"; exit 0;
        }
        exit 1;' || die "no free port found"
}

# wait_port PORT [TIMEOUT_S]: wait until 127.0.0.1:PORT accepts connections.
wait_port() {
    perl -MIO::Socket::INET -MTime::HiRes=sleep,time -e '
        my ($p, $t) = @ARGV; my $end = time + $t;
        while (time < $end) {
            my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $p, Proto => "tcp", Timeout => 1);
            if ($s) { close $s; exit 0 }
            sleep 0.05;
        }
        exit 1;' "$1" "${2:-20}"
}

# pid_alive PID: true when PID runs (a zombie counts as gone).
pid_alive() {
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo Z)
    [ "$st" != Z ] && [ "$st" != X ]
}

# wait_gone PID TIMEOUT_S: wait until PID exited.
wait_gone() {
    local pid=$1 n=$(( ${2:-20} * 10 ))
    while [ "$n" -gt 0 ]; do
        pid_alive "$pid" || return 0
        sleep 0.1; n=$((n - 1))
    done
    return 1
}

# stop_pid PID [SIGNAL] [TIMEOUT_S]: signal PID (default TERM), KILL it (and its
# children) when it has not exited after TIMEOUT_S (default 20).
stop_pid() {
    local pid=$1 sig=${2:-TERM} t=${3:-20} kids
    pid_alive "$pid" || return 0
    kids=$(child_pids "$pid")
    kill -s "$sig" "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$t"; then
        warn "pid $pid did not exit after SIG$sig within ${t}s, killing it"
        # shellcheck disable=SC2086
        kill -9 "$pid" $kids 2>/dev/null || true
        wait_gone "$pid" 5 || true
        return 1
    fi
    return 0
}

# child_pids PID: the pids whose parent is PID.  One pass over /proc (an awk
# per process took seconds on a busy machine); the command name in
# parentheses may hold spaces, so the fields are taken after its last ')'.
child_pids() {
    cat /proc/[0-9]*/stat 2>/dev/null \
        | sed -n 's/^\([0-9]*\) (.*) [A-Za-z] \([0-9]*\) .*/\1 \2/p' \
        | awk -v p="$1" '$2 == p {print $1}'
}

# pidfile_stop FILE [SIGNAL] [TIMEOUT_S]: stop_pid on the pid written in FILE.
pidfile_stop() {
    local f=$1 pid
    [ -s "$f" ] || return 0
    pid=$(head -n1 "$f" | tr -dc 0-9)
    [ -n "$pid" ] && stop_pid "$pid" "${2:-TERM}" "${3:-20}"
    rm -f "$f"
}

# kill_leftovers DIR: kill (KILL) every process whose pid file lies under DIR
# and that still runs: the safety net after a test run.  Prints what it killed.
# Pid files under a directory holding a `pid-namespace` file (t/lib/Federation.pm)
# name pids of a PID namespace that died with its test: skipped.
kill_leftovers() {
    local dir=$1 f pid name left=0 d skip
    [ -d "$dir" ] || return 0
    while IFS= read -r f; do
        skip=0
        d=$(dirname "$f")
        while [ "${#d}" -gt "${#dir}" ]; do
            [ -e "$d/pid-namespace" ] && { skip=1; break; }
            d=$(dirname "$d")
        done
        [ $skip = 1 ] && continue
        pid=$(head -n1 "$f" 2>/dev/null | tr -dc 0-9)
        [ -n "$pid" ] || continue
        pid_alive "$pid" || continue
        name=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-80)
        case "$name" in
            *nginx*|*redis*|*postgres*|*mastodon-worker*|*wrk*) ;;
            *) continue ;;          # a recycled pid: not ours
        esac
        warn "left over: pid $pid ($name) from $f, killing it"
        # shellcheck disable=SC2046
        kill -9 "$pid" $(child_pids "$pid") 2>/dev/null || true
        left=1
    done < <(find "$dir" \( -name '*.pid' -o -name postmaster.pid \) -type f 2>/dev/null)
    return $left
}

# --- directories other users need --------------------------------------------------
# Run as root, PostgreSQL runs as the postgres user and nginx's workers as
# nobody; both must be able to pass through every parent of their directories.
# A checkout in root's own home (mode 700) is not: their directories then go
# to a private directory of their own under /tmp or /var/tmp.

# others_can_enter DIR: true when postgres and nobody can reach DIR (always
# when we are not root: then everything runs as we do).
others_can_enter() {
    [ "$(id -u)" = 0 ] || return 0
    runuser -u postgres -- test -x "$1" 2>/dev/null \
        && runuser -u nobody -- test -x "$1" 2>/dev/null
}

# shared_tmpdir DIR TEMPLATE [ELSEWHERE]: make a directory (mktemp -d TEMPLATE)
# in DIR when postgres and nobody can reach DIR, else in ELSEWHERE (default
# /tmp) with mode 711 (they pass through, only root lists it); print its path.
shared_tmpdir() {
    local dir=$1 template=$2 elsewhere=${3:-/tmp} d
    mkdir -p "$dir"
    if others_can_enter "$dir"; then
        d=$(mktemp -d "$(cd "$dir" && pwd)/$template") || die "mktemp in $dir failed"
        chmod 755 "$d"
    else
        d=$(mktemp -d "$elsewhere/ngx_mastodon-$template") || die "mktemp in $elsewhere failed"
        chmod 711 "$d"
    fi
    echo "$d"
}

# shared_dir LINK: make LINK a directory postgres and nobody can reach and print
# its real path.  Where they cannot reach LINK's parent, LINK becomes a symlink
# to a shared_tmpdir in /var/tmp (kept across reboots), so that the state
# stays findable from the checkout.
shared_dir() {
    local link=$1 real
    if [ -L "$link" ] && [ ! -d "$link" ]; then
        warn "$link points to $(readlink "$link"), which is gone: making a new one"
        rm -f "$link"
    fi
    if [ -d "$link" ]; then
        readlink -f "$link"
        return 0
    fi
    mkdir -p "$(dirname "$link")"
    if others_can_enter "$(dirname "$link")"; then
        mkdir -p "$link"
        chmod 755 "$link"
        readlink -f "$link"
        return 0
    fi
    real=$(mktemp -d "/var/tmp/ngx_mastodon-$(basename "$link").XXXXXX") \
        || die "mktemp in /var/tmp failed"
    chmod 711 "$real"
    ln -s "$real" "$link"
    note "$link -> $real (postgres and nobody cannot enter $(dirname "$link"))"
    echo "$real"
}

# --- PostgreSQL ----------------------------------------------------------------
pg_bindir() {
    local d
    for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -Vr); do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    die "PostgreSQL server binaries not found (scripts/install-deps.sh installs postgresql)"
}

# as_pg CMD...: run CMD as the postgres user when we are root (initdb refuses root).
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# pg_init DIR: initdb a throwaway cluster in DIR/data (trust auth, no fsync).
# With MASTODON_PG_PERSIST=1 (make run) fsync stays on.
pg_init() {
    local dir bin
    dir=$(readlink -m "$1")    # the postgres user may not pass a symlink's parents
    bin=$(pg_bindir)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if ! as_pg test -w "$dir"; then
        die "the postgres user cannot write $dir (a parent directory is not searchable?)"
    fi
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        --no-sync >"$dir/initdb.log" 2>&1 \
      || { tail -20 "$dir/initdb.log" >&2; die "initdb failed in $dir"; }
    {
        echo "# added by scripts/lib.sh"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$dir'"
        echo "max_connections = 300"
        echo "shared_buffers = 64MB"
        echo "log_min_messages = warning"
        echo "log_line_prefix = '%m [%p] %d '"
        if [ "${MASTODON_PG_PERSIST:-0}" != 1 ]; then
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
    } | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
}

# pg_start DIR PORT: start the cluster of DIR on PORT, wait until it accepts.
# Returns 2 when the port was taken (the caller picks another).
pg_start() {
    local dir port=$2 bin
    dir=$(readlink -m "$1")
    bin=$(pg_bindir)
    echo "$port" > "$dir/port"
    : | as_pg tee "$dir/postgres.log" >/dev/null
    if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
            -o "-p $port" start >"$dir/pg_ctl.log" 2>&1; then
        return 0
    fi
    if grep -q "Address already in use" "$dir/postgres.log" 2>/dev/null; then
        return 2
    fi
    tail -20 "$dir/postgres.log" "$dir/pg_ctl.log" >&2
    die "PostgreSQL failed to start in $dir"
}

# pg_create DIR: pg_init + pg_start on a free port; prints the port.
pg_create() {
    local dir=$1 port i rc
    pg_init "$dir"
    for i in 1 2 3 4 5 6 7 8; do
        port=$(free_port)
        rc=0; pg_start "$dir" "$port" || rc=$?
        [ $rc = 0 ] && { echo "$port"; return 0; }
        [ $rc = 2 ] || return 1
    done
    die "PostgreSQL: no free port after $i attempts"
}

# pg_stop DIR [MODE]: stop the cluster of DIR (MODE fast|immediate|smart, default fast).
pg_stop() {
    local dir mode=${2:-fast} bin pid
    dir=$(readlink -m "$1")
    [ -f "$dir/data/postmaster.pid" ] || return 0
    bin=$(pg_bindir)
    pid=$(head -n1 "$dir/data/postmaster.pid" | tr -dc 0-9)
    if ! as_pg "$bin/pg_ctl" -D "$dir/data" -m "$mode" -w -t 30 stop >/dev/null 2>&1; then
        if [ -n "$pid" ] && pid_alive "$pid"; then
            warn "pg_ctl stop failed for $dir, killing postmaster $pid"
            stop_pid "$pid" QUIT 5 || true
        fi
    fi
    # pg_ctl stop -m immediate returns before the children are gone
    [ -n "$pid" ] && wait_gone "$pid" 10
    return 0
}

# pg_conninfo PORT DB
pg_conninfo() {
    echo "hostaddr=127.0.0.1 port=$1 dbname=$2 user=postgres sslmode=disable"
}

# pg_psql PORT DB SQL: run SQL, print the unaligned result.
pg_psql() {
    psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d "$2" -c "$3"
}

# pg_template PORT BUILD [DB]: create DB (default mastodon_template) and migrate it.
pg_template() {
    local port=$1 build=$2 db=${3:-mastodon_template}
    worker_check "$build"
    pg_psql "$port" postgres "CREATE DATABASE $db" >/dev/null
    MASTODON_DATABASE=$(pg_conninfo "$port" "$db") \
    MASTODON_SQL_DIR="$MASTODON_ROOT/sql" \
        "$build/mastodon-worker" migrate \
        || die "mastodon-worker migrate failed on $db"
}

# --- Redis ---------------------------------------------------------------------
# redis_start DIR PORT [persistent]: redis-server daemonized, pid in DIR/redis.pid.
# Returns 2 when the port was taken.
redis_start() {
    local dir=$1 port=$2 mode=${3:-ephemeral}
    mkdir -p "$dir"
    set -- --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --protected-mode yes
    if [ "$mode" = persistent ]; then
        set -- "$@" --appendonly yes --save "3600 1 300 100 60 10000"
    else
        set -- "$@" --save '' --appendonly no
    fi
    : > "$dir/redis.log"
    redis-server "$@" || true
    local n=100
    while [ $n -gt 0 ]; do
        if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
            echo "$port" > "$dir/port"
            return 0
        fi
        if grep -q "Address already in use" "$dir/redis.log"; then return 2; fi
        sleep 0.1; n=$((n - 1))
    done
    tail -20 "$dir/redis.log" >&2
    die "redis-server failed to start in $dir"
}

# redis_create DIR [persistent]: redis_start on a free port; prints the port.
redis_create() {
    local dir=$1 port i rc
    for i in 1 2 3 4 5 6 7 8; do
        port=$(free_port)
        rc=0; redis_start "$dir" "$port" "${2:-ephemeral}" || rc=$?
        [ $rc = 0 ] && { echo "$port"; return 0; }
        [ $rc = 2 ] || return 1
    done
    die "redis: no free port after $i attempts"
}

redis_stop() {
    pidfile_stop "$1/redis.pid" TERM 20
}

# --- build outputs -------------------------------------------------------------
worker_check() {
    [ -x "$1/mastodon-worker" ] || die "$1/mastodon-worker is missing: run \`make worker\` (or \`make\`) first"
}
module_check() {
    [ -f "$1/nginx/ngx_http_mastodon_module.so" ] \
        || die "$1/nginx/ngx_http_mastodon_module.so is missing: run \`make module\` (or \`make\`) first"
}

# asan_preload: the ASan runtime to LD_PRELOAD into the stock nginx binary.
asan_preload() {
    local lib
    lib=$(gcc -print-file-name=libasan.so 2>/dev/null || true)
    [ -n "$lib" ] && [ -e "$lib" ] || die "libasan.so not found (gcc -print-file-name=libasan.so)"
    readlink -f "$lib"
}

# --- nginx ---------------------------------------------------------------------
# nginx_start DIR [ENV...]: start /usr/sbin/nginx -p DIR -c DIR/nginx.conf (daemon),
# wait for DIR/nginx.pid.  Returns 2 when the port was taken.
nginx_start() {
    local dir=$1; shift
    local bin=${NGINX_BIN:-/usr/sbin/nginx} n=200
    rm -f "$dir/nginx.pid"
    : > "$dir/nginx-start.log"
    if ! env "$@" "$bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
            >"$dir/nginx-start.log" 2>&1; then
        if grep -q "Address already in use" "$dir/nginx-start.log"; then return 2; fi
        cat "$dir/nginx-start.log" >&2
        die "nginx failed to start (config $dir/nginx.conf)"
    fi
    while [ $n -gt 0 ] && [ ! -s "$dir/nginx.pid" ]; do sleep 0.05; n=$((n - 1)); done
    [ -s "$dir/nginx.pid" ] || die "nginx started but wrote no $dir/nginx.pid"
}

# nginx_stop DIR: graceful QUIT, KILL after 20 s.
nginx_stop() {
    pidfile_stop "$1/nginx.pid" QUIT 20
}

# When run as a script: call the function named by $1.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -eu
    fn=${1:?usage: lib.sh FUNCTION ARGS...}; shift
    case $(type -t "$fn") in
        function) "$fn" "$@" ;;
        *) die "no such function: $fn" ;;
    esac
fi
