#!/usr/bin/env bash
# Cross-build mqbridge for arm64 (edge gateways: Raspberry Pi, industrial boxes) on an
# amd64 Debian machine, prove it and package it:
#   1. installs Debian's multiarch cross toolchain, the :arm64 -dev packages and
#      qemu-user-static (idempotent, like scripts/deps.sh; adds dpkg's arm64 architecture)
#   2. configures ${BUILD_DIR:-build-arm64} with scripts/packaging/aarch64-linux-gnu.cmake and
#      builds only what is shipped or tested: mqbridged, mqbridge, the unit tests, the man
#      pages (no benchmarks, no integration tests)
#   3. runs `ctest -L unit` with every test binary under qemu-aarch64-static (EXCLUDE
#      below lists the tests that cannot run under qemu-user, each with its reason)
#   4. `cpack -G DEB` -> mqbridge_<version>_arm64.deb, checked with dpkg-deb -I
#      (Architecture, Depends from dpkg-shlibdeps), `file` (ARM aarch64 binaries) and the
#      unpacked mqbridged --check-config on the unpacked configuration, under qemu.
# scripts/test.sh runs it (SKIP_ARM64=1 skips it there). Exit status non-zero on any
# failure; ctest's summary line is in the output for test.sh's count.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-arm64}
t0=$(date +%s)
if [ "$(dpkg --print-architecture)" = arm64 ]; then
  echo "== arm64: this machine is arm64: the main build and its tests already are; nothing to cross-build"
  exit 0
fi

# --- 1. packages ----------------------------------------------------------------------
# The :arm64 -dev packages are Multi-Arch: same with their amd64 twins; apt upgrades the
# amd64 ones when the archive's arm64 build is newer (versions must be equal), and never
# has to remove one on bookworm.
PKGS=(crossbuild-essential-arm64 qemu-user-static dpkg-dev file cmake pkg-config
      python3 gzip
      libmosquitto-dev:arm64 librdkafka-dev:arm64 libconfig-dev:arm64 libcmocka-dev:arm64
      libmicrohttpd-dev:arm64 libcjson-dev:arm64 libssl-dev:arm64)
# No libqpid-proton11-dev:arm64: Debian's Proton packages are not Multi-Arch, so the
# arm64 one would replace the amd64 one the main build needs. The cross build is
# configured with -DMQB_AMQP=OFF instead (no AMQP connector in the arm64 package).
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
newarch=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $SUDO dpkg --add-architecture arm64
  newarch=1
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} || newarch)); then
  echo "== arm64: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
t_deps=$(date +%s)

# --- 2. configure and build -----------------------------------------------------------
echo "== arm64: configure $BUILD_DIR (scripts/packaging/aarch64-linux-gnu.cmake, RelWithDebInfo)"
# CMAKE_SKIP_INSTALL_ALL_DEPENDENCY: cpack installs what was built below instead of
# building every target (benchmarks, integration tests) first.
cmake -S . -B "$BUILD_DIR" -DCMAKE_TOOLCHAIN_FILE="$PWD/scripts/packaging/aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON -DMQB_WERROR=ON -DMQB_AMQP=OFF \
  >/dev/null
grep -q 'qemu-aarch64-static' "$BUILD_DIR/tests/CTestTestfile.cmake" ||
  { echo "arm64: ctest would not run the tests under qemu-aarch64-static" >&2; exit 1; }

# Tests that cannot run under qemu-user, by ctest name, with the reason printed. (Test
# timeouts are tripled under the emulator: CMakeLists.txt, mqb_add_test.)
declare -A EXCLUDE=(
  [unit.cli_log]="executes the arm64 build/tools/mqbridge as a child process: without a binfmt_misc entry for qemu-aarch64 (none in this container) the kernel cannot exec an aarch64 binary (exit 127)"
  [unit.cli_help]="executes the arm64 build/tools/mqbridge as a child process (same binfmt_misc reason as unit.cli_log)"
  [unit.store_corrupt]="its three repair cases execute the arm64 build/tools/mqbridge as a child process (same binfmt_misc reason); its reader and scrub cases run natively"
  [unit.statefile]="test_sigkill_during_write: under qemu-user the forked writer often reports no finished write within its 20-120 ms window (failed 3 of 3 runs at load 13, 1 of 3 at load 4; native passes; its 15 other cases pass under qemu)"
)
if grep -qs '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64; then
  unset 'EXCLUDE[unit.cli_log]' 'EXCLUDE[unit.cli_help]' 'EXCLUDE[unit.store_corrupt]'  # the kernel execs aarch64 via qemu
fi
unit_tests=$(ctest --test-dir "$BUILD_DIR" -N -L unit | sed -nE 's/^ *Test +#[0-9]+: (unit\.[A-Za-z0-9_]+)$/\1/p')
targets=$(cmake --build "$BUILD_DIR" --target help | sed -nE 's/^\.\.\. ([^ ]+).*/\1/p')
build=(mqbridged mqbridge mqbridge_plugin man pkg_changelog)
for t in $unit_tests; do
  [ -n "${EXCLUDE[$t]:-}" ] && continue
  grep -Fqx "$t" <<<"$targets" && build+=("$t")       # unit.layers* are scripts, not targets
done
echo "== arm64: build ${#build[@]} targets"
cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${build[@]}"
t_build=$(date +%s)

# --- 3. unit tests under qemu ---------------------------------------------------------
exclude_re=
for t in "${!EXCLUDE[@]}"; do
  echo "== arm64: excluded $t: ${EXCLUDE[$t]}"
  exclude_re+="${exclude_re:+|}^${t//./\\.}\$"
done
echo "== arm64: unit tests under qemu-aarch64-static"
ctest --test-dir "$BUILD_DIR" -L unit ${exclude_re:+-E "$exclude_re"} --output-on-failure \
  --timeout 300 -j"$(nproc)"
t_test=$(date +%s)

# --- 4. the package -------------------------------------------------------------------
echo "== arm64: cpack -G DEB"
rm -f "$BUILD_DIR"/mqbridge_*_arm64.deb
(cd "$BUILD_DIR" && cpack -G DEB >/dev/null)
deb=$(ls "$BUILD_DIR"/mqbridge_*_arm64.deb)
info=$(dpkg-deb -I "$deb")
grep -qx ' Architecture: arm64' <<<"$info" ||
  { echo "arm64: $deb: Architecture is not arm64:" >&2; echo "$info" >&2; exit 1; }
# dpkg-shlibdeps resolved the arm64 libraries (their :arm64 shlibs files)
grep -qE '^ Depends:.*libmosquitto1.*librdkafka1' <<<"$info" ||
  { echo "arm64: $deb: Depends lacks the library packages:" >&2; echo "$info" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root"
for b in usr/sbin/mqbridged usr/bin/mqbridge; do
  f=$(file -b "$root/$b")
  grep -q 'ARM aarch64' <<<"$f" || { echo "arm64: $b is not ARM aarch64: $f" >&2; exit 1; }
  echo "== arm64: $b: $f"
done
echo "== arm64: the unpacked mqbridged --check-config on the unpacked /etc/mqbridge/mqbridge.conf (qemu)"
qemu-aarch64-static "$root/usr/sbin/mqbridged" --check-config -c "$root/etc/mqbridge/mqbridge.conf"
echo "== arm64: $deb"
grep -E '^ (Package|Version|Architecture|Depends):' <<<"$info"
t_end=$(date +%s)
echo "== arm64: done in $((t_end - t0)) s (packages $((t_deps - t0)) s, build $((t_build - t_deps)) s," \
     "tests $((t_test - t_build)) s, package $((t_end - t_test)) s)"
