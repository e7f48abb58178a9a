#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#   1. installs missing Debian packages (scripts/deps.sh)
#   2. -Werror build and the unit tests (cmocka)
#   3. the same build under AddressSanitizer + UndefinedBehaviorSanitizer, and
#      there every test: unit, integration (pytest, real kferry-broker
#      processes, kcat / kafka-python / confluent-kafka / Kafka's Java tools)
#      and the real-Kafka tier (tests/realkafka: kferry against real Apache
#      Kafka clusters from $KAFKA_HOME or ../shared/kafka; skipped, saying so,
#      without one).  Each tier runs once, under the sanitizers, so that every
#      path is also checked for memory errors (and CI stays under 30 minutes).
#   4. a short libFuzzer smoke run of every harness (docs/FUZZING.md has the long run)
#   5. clang-format check
# Build trees go to build/, build-asan/ and build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
JOBS=$(nproc)
# CI artifacts (the web view's screenshot, tests/integration/test_webview.py)
export KFERRY_ARTIFACTS_DIR=${KFERRY_ARTIFACTS_DIR:-$PWD/ci-artifacts}
mkdir -p "$KFERRY_ARTIFACTS_DIR"
step() { printf '\n==== %s ====\n' "$*"; }

step "format check"
mapfile -t SRCS < <(git ls-files '*.c' '*.h' 2>/dev/null || find src tests bench -name '*.[ch]')
clang-format --dry-run --Werror "${SRCS[@]}"

step "build (-Werror)"
cmake -S . -B build -DKF_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"

step "unit tests"
ctest --test-dir build --output-on-failure --timeout 600 -R '^unit\.'

step "ASan + UBSan build and tests (with the real-Kafka tier)"
cmake -S . -B build-asan -DKF_WERROR=ON -DKF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure --timeout 1500

if [ -x tests/fuzz/smoke.sh ]; then
  step "fuzz smoke"
  tests/fuzz/smoke.sh build-fuzz "${KF_FUZZ_SECONDS:-8}"
fi
step "all tests passed"
