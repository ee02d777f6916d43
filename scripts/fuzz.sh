#!/bin/bash
# make fuzz (and, briefly, make test):  scripts/fuzz.sh [FUZZ_BUILD]
#
# Runs each libFuzzer harness of FUZZ_BUILD (default build-fuzz; built from
# lib/fuzz/*.c) for FUZZ_SECONDS (default 60) seconds, one after the other,
# starting from its committed seed corpus lib/fuzz/corpus/<name>/.  New
# inputs go to var/fuzz/<name>/corpus (kept between runs, never committed);
# a crash leaves its input in var/fuzz/<name>/ and the log beside it.
# Prints TAP, so prove can run it.
#
# Environment: FUZZ_SECONDS, FUZZ_MAX_LEN (default 8192), FUZZ_ONLY (names).
set -u
cd "$(dirname "$0")/.."

build=${1:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
max_len=${FUZZ_MAX_LEN:-8192}

names=()
for src in lib/fuzz/*.c; do
    name=$(basename "$src" .c)
    if [ -n "${FUZZ_ONLY:-}" ] && ! [[ " $FUZZ_ONLY " == *" $name "* ]]; then
        continue
    fi
    names+=("$name")
done

echo "1..${#names[@]}"
i=0
failed=0
for name in "${names[@]}"; do
    i=$((i + 1))
    bin=$build/$name
    if [ ! -x "$bin" ]; then
        echo "not ok $i - $name: $bin is missing (make fuzz-build)"
        failed=1
        continue
    fi

    work=var/fuzz/$name
    mkdir -p "$work/corpus"
    log=$work/log

    # detect_leaks: the parsers must free all they take, on every path
    if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
       UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
       "$bin" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
              -rss_limit_mb=1024 -print_final_stats=1 \
              -artifact_prefix="$work/" "$work/corpus" "lib/fuzz/corpus/$name" \
              > "$log" 2>&1
    then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        echo "ok $i - $name: ${runs:-?} inputs in ${seconds}s"
    else
        echo "not ok $i - $name: see $log"
        tail -n 40 "$log" | sed 's/^/# /'
        failed=1
    fi
done

exit "$failed"
