#!/usr/bin/env bash
# Set up and run every test: installs the Debian packages, builds, runs the unit and
# integration tests (ctest starts real mosquitto brokers and librdkafka mock clusters
# itself), then the unit tests again under ASan+UBSan, then a short fuzz run.
#   SKIP_SANITIZERS=1  skip the ASan+UBSan pass      FUZZ_SECONDS=N  (default 20; 0 skips)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
t0=$(date +%s)

echo "== build (RelWithDebInfo)"
BUILD_DIR=build scripts/build.sh -DMQB_WERROR=ON
echo "== unit and integration tests"
ctest --test-dir build --output-on-failure --timeout 600 -j2

if [ "${SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== unit tests under ASan+UBSan"
  BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DMQB_ASAN=ON -DMQB_UBSAN=ON
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan -L unit --output-on-failure -j2
fi

if [ "${FUZZ_SECONDS:-20}" != 0 ] && [ -x tests/fuzz/run.sh ]; then
  echo "== fuzzing (${FUZZ_SECONDS:-20} s per target)"
  tests/fuzz/run.sh "${FUZZ_SECONDS:-20}"
fi
echo "== all tests passed in $(( $(date +%s) - t0 )) s"
