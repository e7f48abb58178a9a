#!/bin/sh
# librdkafka-tests.sh - run librdkafka 2.0.2's own test suite against
# kferry-broker (docs/LIBRDKAFKA-TESTS.md).
#
# Downloads Debian's librdkafka 2.0.2 source package into a cache directory
# (verifying the orig tarball's SHA-256 against the .dsc), builds the
# library and its test-runner, starts build/kferry-broker on a free port
# with a scratch data directory, and runs each listed test on its own,
# printing one PASS/FAIL/TIMEOUT/SKIP line per test and a summary.  Nothing of
# librdkafka is committed: it lives only in the cache directory.
#
# Usage: scripts/librdkafka-tests.sh [TEST...]
#   TEST           test numbers (0001 0012 ...); default: scripts/librdkafka-tests.list
# Environment:
#   KFERRY_BUILD_DIR    where kferry-broker is (default: build)
#   LIBRDKAFKA_SRC_DIR  cache directory (default: build/librdkafka-src)
#   TEST_KAFKA_VERSION  broker version librdkafka's tests assume (default 3.0.0)
#   LRK_TEST_TIMEOUT    seconds per test before it counts as TIMEOUT (default 120)
#   LRK_KEEP=1          keep the broker's data directory and logs
#   LRK_QUICK=1         librdkafka's quick mode (-Q): faster, but it skips
#                       most subtests, so a PASS there means little
# Exit status: 0 when every listed test passed, 1 otherwise.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${KFERRY_BUILD_DIR:-$src/build}
cache=${LIBRDKAFKA_SRC_DIR:-$src/build/librdkafka-src}
ver=2.0.2
dsc=librdkafka_${ver}-1.dsc
orig=librdkafka_${ver}.orig.tar.gz
pool=http://deb.debian.org/debian/pool/main/libr/librdkafka
per_test=${LRK_TEST_TIMEOUT:-120}
export TEST_KAFKA_VERSION="${TEST_KAFKA_VERSION:-3.0.0}"

broker="$build/kferry-broker"
if [ ! -x "$broker" ]; then
    echo "no $broker: build kferry first (cmake --build build)" >&2
    exit 2
fi

# --- fetch and verify the source ---------------------------------------
mkdir -p "$cache"
cd "$cache"
[ -s "$dsc" ] || curl -sSfL -o "$dsc" "$pool/$dsc"
want=$(awk '/^Checksums-Sha256:/ {on=1; next} /^[^ ]/ {on=0} on && $3 == f {print $1}' \
    f="$orig" "$dsc")
if [ -z "$want" ]; then
    echo "$dsc names no SHA-256 for $orig" >&2
    exit 1
fi
[ -s "$orig" ] || curl -sSfL -o "$orig" "$pool/$orig"
have=$(sha256sum "$orig" | cut -d' ' -f1)
if [ "$have" != "$want" ]; then
    echo "$orig: sha256 $have, the .dsc says $want" >&2
    rm -f "$orig"
    exit 1
fi
tree="$cache/librdkafka-$ver"
[ -d "$tree" ] || tar xzf "$orig"

# --- build librdkafka and its test-runner ------------------------------
# Debian's -dev packages provide zlib, zstd, lz4, ssl and sasl; GSSAPI and
# curl (OIDC) are not needed here.
cd "$tree"
if [ ! -x tests/test-runner ]; then
    echo "== building librdkafka $ver and its test-runner (a few minutes)"
    [ -f Makefile.config ] || ./configure --disable-gssapi --disable-curl --enable-static \
        >"$cache/configure.log" 2>&1
    make -j"$(nproc)" libs >"$cache/make.log" 2>&1
    make -j"$(nproc)" -C tests build >>"$cache/make.log" 2>&1
fi

# --- start kferry-broker -----------------------------------------------
data=$(mktemp -d "${TMPDIR:-/tmp}/kferry-lrk-XXXXXX")
blog="$data.broker.log"
# Auto-created topics get 4 partitions: several tests assume more than one
# partition in an auto-created topic (Kafka's test cluster config).
"$broker" --listen 127.0.0.1:0 --data-dir "$data" \
    --override group.initial.rebalance.delay.ms="${LRK_REBALANCE_DELAY_MS:-3000}" \
    --override num.partitions=4 >"$data.broker.out" 2>"$blog" &
bpid=$!
cleanup() {
    kill "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null || true
    if [ "${LRK_KEEP:-0}" != 1 ]; then
        rm -rf "$data" "$data.broker.out" "$blog"
    else
        echo "kept $data and $blog"
    fi
}
trap cleanup EXIT INT TERM
addr=
for _ in $(seq 1 100); do
    addr=$(sed -n 's/^kferry-broker listening on PLAINTEXT:\/\///p' "$data.broker.out" 2>/dev/null)
    [ -n "$addr" ] && break
    sleep 0.1
done
if [ -z "$addr" ]; then
    echo "kferry-broker did not start:" >&2
    cat "$blog" >&2
    exit 1
fi
echo "== kferry-broker on $addr, TEST_KAFKA_VERSION=$TEST_KAFKA_VERSION"

cat >tests/test.conf <<EOF
metadata.broker.list=$addr
EOF

# --- run ---------------------------------------------------------------
if [ $# -gt 0 ]; then
    tests="$*"
else
    tests=$(sed -e 's/#.*//' "$src/scripts/librdkafka-tests.list" | awk 'NF {print $1}')
fi
quick=
[ "${LRK_QUICK:-0}" = 1 ] && quick=-Q
pass=0
fail=0
skip=0
failed=""
logs="$cache/logs"
mkdir -p "$logs"
cd tests
esc=$(printf '\033')
for t in $tests; do
    start=$(date +%s)
    # Not -Q: librdkafka's quick mode silently skips every SUB_TEST()
    # (non-quick) subtest, so a test can "pass" having done nothing.
    if TESTS=$t timeout "$per_test" ./test-runner $quick -p1 >"$logs/$t.log" 2>&1; then
        rc=0
    else
        rc=$?
    fi
    # One test number can register several tests: count them from the
    # runner's summary table ("| 0045_name | SKIPPED | ...").
    counts=$(sed "s/$esc\[[0-9;]*m//g" "$logs/$t.log" | awk -F'|' -v t="$t" '
        $2 ~ "^ *" t "_" { gsub(/ /, "", $3); n[$3]++ }
        END { printf "%d %d %d", n["PASSED"], n["FAILED"], n["SKIPPED"] }')
    set -- $counts
    if [ "$rc" = 124 ]; then
        res=TIMEOUT
    elif [ "$rc" != 0 ] || [ "$2" -gt 0 ]; then
        res=FAIL
    elif [ "$1" = 0 ]; then
        res=SKIP
    else
        res=PASS
    fi
    case $res in
    PASS) pass=$((pass + 1)) ;;
    SKIP) skip=$((skip + 1)) ;;
    *)
        fail=$((fail + 1))
        failed="$failed $t"
        ;;
    esac
    note=""
    [ "$3" -gt 0 ] && [ "$res" = PASS ] && note=" ($3 of $(($1 + $3)) skipped)"
    printf '%-6s %-8s %4ss  %s%s\n' "$t" "$res" "$(($(date +%s) - start))" "$logs/$t.log" "$note"
done
echo "== $pass passed, $skip skipped, $fail failed${failed:+:$failed}"
[ "$fail" = 0 ]
