#!/bin/sh
# A test program for prove (scripts/test.sh with FUZZ_BUILD set): each fuzz
# harness for FUZZ_TEST_SECONDS (default 3) seconds.
FUZZ_SECONDS=${FUZZ_TEST_SECONDS:-3} exec "$(dirname "$0")/fuzz.sh" "${FUZZ_BUILD:-build-fuzz}"
