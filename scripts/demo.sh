#!/usr/bin/env bash
# The demo: installs missing Debian packages, builds kferry and
# kferry-broker, then runs `kferry demo` - a whole migration rehearsed on two
# local kferry-broker clusters in a temporary directory (cleaned up on exit,
# including Ctrl-C). Extra arguments go to `kferry demo` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target kferry kferry-broker >/dev/null
exec ./build/kferry demo "$@"
