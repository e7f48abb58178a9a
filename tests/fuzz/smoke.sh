#!/bin/sh
# smoke.sh - build the libFuzzer harnesses into BUILD_DIR and run each one
# for SECONDS (default 30) from its committed seed corpus.
#
# Invariant: the committed corpus is only read; new inputs go to a scratch
# copy under BUILD_DIR.  Exits non-zero if a build fails or any harness
# finds a crash, leak, timeout or sanitizer report (artifacts are kept in
# BUILD_DIR/fuzz-artifacts/ for reproduction, see docs/FUZZING.md).
#
# Usage: tests/fuzz/smoke.sh BUILD_DIR [SECONDS] [HARNESS...]
set -eu

if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD_DIR [SECONDS] [HARNESS...]" >&2
    exit 2
fi
build=$1
secs=${2:-30}
if [ $# -ge 2 ]; then shift 2; else shift 1; fi
src=$(cd "$(dirname "$0")/../.." && pwd)

if [ $# -gt 0 ]; then
    harnesses="$*"
else
    harnesses=""
    for f in "$src"/tests/fuzz/fuzz_*.c; do
        h=$(basename "$f" .c)
        harnesses="$harnesses $h"
    done
    harnesses=${harnesses# }
fi

cc=${CC:-clang}
cmake -S "$src" -B "$build" -DKF_FUZZ=ON -DKF_WERROR=ON -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# shellcheck disable=SC2086 # word splitting of the target list is intended
cmake --build "$build" -j"$(nproc)" --target $harnesses

art="$build/fuzz-artifacts"
mkdir -p "$art"
failed=""
for h in $harnesses; do
    work="$build/fuzz-corpus/$h"
    mkdir -p "$work"
    seeds="$src/tests/fuzz/corpus/$h"
    echo "== $h: ${secs}s"
    # -max_len leaves room for whole produce requests; fuzz_cleaner reads
    # only its first 256 bytes (MAXIN in the harness: every record costs
    # disk work). -timeout catches hangs; leaks are fatal like crashes.
    maxlen=65536
    [ "$h" = fuzz_cleaner ] && maxlen=256
    if ! "$build/tests/$h" "$work" "$seeds" -max_total_time="$secs" -max_len="$maxlen" \
        -timeout=25 -rss_limit_mb=2048 -detect_leaks=1 -print_final_stats=1 \
        -artifact_prefix="$art/$h-" >"$art/$h.log" 2>&1; then
        echo "!! $h failed; last lines of $art/$h.log:" >&2
        tail -n 40 "$art/$h.log" >&2
        failed="$failed $h"
    else
        grep -E '^#[0-9]+[[:space:]]+DONE' "$art/$h.log" || tail -n 1 "$art/$h.log"
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz smoke FAILED:$failed (artifacts in $art)" >&2
    exit 1
fi
echo "fuzz smoke passed: $harnesses"
