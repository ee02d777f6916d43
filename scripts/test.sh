#!/bin/bash
# make test / make test-asan:  scripts/test.sh BUILD
#
# Ephemeral: a throwaway PostgreSQL cluster in var/test.XXXXXX (or
# /tmp/ngx_mastodon-test.XXXXXX, see shared_tmpdir in lib.sh) with a migrated
# template database, then the whole suite in ONE prove run (t/*.t and the C
# unit tests BUILD/unit/*).  Each test file makes its own database from the
# template and starts its own redis-server, nginx and worker (t/lib/MastodonTest.pm).
# The dir is removed on success and kept (with log tails printed) on failure.
#
# Environment: JOBS (prove -j, default 2), TESTS (test files instead of t/*.t),
# MASTODON_TEST_KEEP=1 (keep the dir even on success), FUZZ_BUILD (a dir of
# libFuzzer harnesses: scripts/fuzz.sh runs each for FUZZ_TEST_SECONDS, 3 by
# default, as one more test program).
set -eu
. "$(dirname "$0")/lib.sh"
cd "$MASTODON_ROOT"

BUILD=${1:-build}
[ -d "$BUILD" ] || die "build dir $BUILD is missing: run \`make\` first"
BUILD_ABS=$(cd "$BUILD" && pwd)
worker_check "$BUILD_ABS"
module_check "$BUILD_ABS"
command -v prove >/dev/null || die "prove not found (scripts/install-deps.sh installs perl)"

# the postgres user and nginx's workers (nobody) go in there: under var/, or
# in /tmp when they cannot enter the checkout (root's mode-700 home)
mkdir -p var
chmod 755 var
VAR=$(shared_tmpdir "$MASTODON_ROOT/var" test.XXXXXX)

status=1
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ "$rc" != 0 ] && status=$rc
    pg_stop "$VAR/pg" fast || true
    if ! kill_leftovers "$VAR"; then
        warn "processes were left behind by the run (killed)"
    fi
    if [ "$status" = 0 ] && [ "${MASTODON_TEST_KEEP:-0}" != 1 ]; then
        rm -rf "$VAR"
    else
        echo >&2
        echo "==> test run failed (status $status); files kept in $VAR" >&2
        local f
        while IFS= read -r f; do
            [ -s "$f" ] || continue
            echo "---- tail $f" >&2
            tail -n 25 "$f" >&2
        done < <(find "$VAR" -maxdepth 3 -type f \
                    \( -name 'error.log' -o -name 'worker-*.log' -o -name 'worker-*.out' \
                       -o -name 'redis.log' -o -name 'postgres.log' -o -name 'asan*' -o -name 'ubsan*' \) \
                    2>/dev/null | sort)
        # CI shows only the end of the output: say again which programs failed
        if [ -s "$VAR/prove.out" ]; then
            echo "==> prove's summary (again, after the logs above)" >&2
            sed -n '/^Test Summary Report/,$p' "$VAR/prove.out" >&2
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start=$(date +%s)
note "PostgreSQL: throwaway cluster in $VAR/pg"
PGPORT=$(pg_create "$VAR/pg")
note "PostgreSQL on 127.0.0.1:$PGPORT; migrating mastodon_template"
pg_template "$PGPORT" "$BUILD_ABS" mastodon_template

export MASTODON_TEST_BUILD="$BUILD_ABS"
export MASTODON_TEST_PGPORT="$PGPORT"
export MASTODON_TEST_TEMPLATE=mastodon_template
export MASTODON_TEST_VAR="$VAR"
case "$(basename "$BUILD_ABS")" in
    build-asan) export MASTODON_TEST_ASAN=1 ;;
    *) export MASTODON_TEST_ASAN=${MASTODON_TEST_ASAN:-0} ;;
esac
export CMOCKA_MESSAGE_OUTPUT=TAP    # cmocka unit tests print TAP for prove

# shellcheck disable=SC2206
tests=(${TESTS:-t/*.t})
[ -e "${tests[0]}" ] || tests=()
units=()
for f in "$BUILD"/unit/*; do
    [ -f "$f" ] && [ -x "$f" ] && units+=("$f")
done
if [ -n "${FUZZ_BUILD:-}" ]; then
    units+=(scripts/fuzz-brief.sh)
fi
[ ${#tests[@]} -gt 0 ] || [ ${#units[@]} -gt 0 ] || die "no tests found (t/*.t, $BUILD/unit/*)"

note "prove: ${#tests[@]} test files, ${#units[@]} unit test programs"
rc=0
set -o pipefail
prove -j"${JOBS:-2}" -I t/lib "${tests[@]}" "${units[@]}" 2>&1 | tee "$VAR/prove.out" || rc=$?
set +o pipefail
note "suite finished in $(( $(date +%s) - start ))s (prove exit $rc)"
status=$rc
exit "$rc"
