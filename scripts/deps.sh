#!/usr/bin/env bash
# Installs the Debian 12 packages kferry needs to build and test (once;
# a no-op when they are already present). Uses sudo when not root.
set -euo pipefail
PKGS=(build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
      libcmocka-dev librdkafka-dev zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev
      libssl-dev libmicrohttpd-dev libjansson-dev libpcre2-dev libxml2-dev libcurl4-openssl-dev
      man-db systemd dpkg-dev binutils  # tests/integration/test_packaging.py: man -l, systemd-analyze, cpack DEB (dpkg-shlibdeps), objdump
      kcat python3 python3-pytest python3-pytest-xdist python3-kafka python3-confluent-kafka
      python3-snappy python3-lz4 python3-zstandard python3-botocore
      chromium  # web view test (tests/integration/test_webview.py): headless DOM dump and screenshot
      openjdk-17-jre-headless libzstd-jni-java libzstd-jni1
      prometheus python3-yaml)  # openjdk..libzstd-jni1: real Kafka (tests/realkafka); prometheus (promtool), python3-yaml: tests/integration/test_monitoring.py
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
