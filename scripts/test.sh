#!/usr/bin/env bash
# Set up and run every test: installs the Debian packages, builds, runs the unit and
# integration tests (ctest starts real mosquitto brokers and librdkafka mock clusters
# itself), then the unit tests again under ASan+UBSan, then the arm64 cross build (unit
# tests under qemu-user, the arm64 .deb: scripts/cross-arm64.sh), then a short fuzz run.
#   SKIP_SANITIZERS=1  skip the ASan+UBSan pass      FUZZ_SECONDS=N  (default 15 per target; 0 skips)
#   SKIP_ARM64=1       skip the arm64 cross build, its tests under qemu and its package
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f _test-*.log
scripts/deps.sh
t0=$(date +%s)

echo "== build (RelWithDebInfo)"
BUILD_DIR=build scripts/build.sh -DMQB_WERROR=ON
echo "== unit and integration tests"
ctest --test-dir build --output-on-failure --timeout 600 -j2 2>&1 | tee _test-main.log

if [ "${SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== unit tests under ASan+UBSan"
  BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DMQB_ASAN=ON -DMQB_UBSAN=ON
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan -L unit --output-on-failure -j2 2>&1 | tee _test-asan.log
fi

if [ "${SKIP_ARM64:-0}" != 1 ]; then
  echo "== arm64: cross build, unit tests under qemu-aarch64-static, package"
  scripts/cross-arm64.sh 2>&1 | tee _test-arm64.log
fi

if [ "${FUZZ_SECONDS:-15}" != 0 ] && [ -x tests/fuzz/run.sh ]; then
  echo "== fuzzing (${FUZZ_SECONDS:-15} s per target)"
  tests/fuzz/run.sh "${FUZZ_SECONDS:-15}"
fi
# One closing line over every ctest pass: main, ASan+UBSan, arm64 under qemu (ctest runs
# each test binary; the fuzz run above fails the script on any finding).
passed=0; failed=0
for f in _test-*.log; do
  [ -f "$f" ] || continue
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$f" | tail -1) || true
  [ -n "$line" ] || continue        # e.g. cross-arm64.sh on an arm64 machine: nothing ran
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line"); bad=$(sed -E 's/.*passed, ([0-9]+) tests failed.*/\1/' <<<"$line")
  passed=$((passed + total - bad)); failed=$((failed + bad))
done
echo "== all tests passed in $(( $(date +%s) - t0 )) s"
echo "$passed passed, $failed failed"
