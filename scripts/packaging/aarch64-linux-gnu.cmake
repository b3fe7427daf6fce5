# aarch64-linux-gnu.cmake — CMake toolchain file: cross-compile mqbridge for arm64 with
# Debian's multiarch toolchain (crossbuild-essential-arm64) against the :arm64 -dev
# packages in /usr/lib/aarch64-linux-gnu, and run the test binaries under qemu-user.
#
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=scripts/packaging/aarch64-linux-gnu.cmake
#   ctest --test-dir build-arm64 -L unit     # each test binary under qemu-aarch64-static
#
# scripts/cross-arm64.sh installs the packages, builds, tests and packages (the .deb's
# Architecture comes from CMAKE_SYSTEM_PROCESSOR: scripts/packaging/package.cmake).
# No sysroot: Debian's cross gcc already searches the multiarch directories
# (/usr/include/aarch64-linux-gnu, /usr/lib/aarch64-linux-gnu) and the arch-independent
# headers in /usr/include are shared with the amd64 packages.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)

# pkg-config sees only the arm64 .pc files (and the arch-independent ones), never the
# build machine's: a missing :arm64 -dev package fails the configure instead of
# silently linking amd64 flags.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# find_program: tools that run on the build machine (python3, gzip, objdump below);
# find_library / find_path: the target's multiarch directories come first through
# CMAKE_LIBRARY_ARCHITECTURE.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

# dpkg-shlibdeps (CPack's SHLIBDEPS) reads the binaries' NEEDED entries with objdump:
# the cross one understands aarch64 ELF.
set(CMAKE_OBJDUMP /usr/bin/aarch64-linux-gnu-objdump CACHE FILEPATH "cross objdump")
set(CMAKE_STRIP /usr/bin/aarch64-linux-gnu-strip CACHE FILEPATH "cross strip")

# ctest runs every test executable through the emulator (add_test with a target name).
# No -L prefix: libc6:arm64 (pulled in by the :arm64 -dev packages) puts the aarch64
# dynamic loader at /lib/ld-linux-aarch64.so.1 and the libraries in the multiarch
# directories, where that loader looks by itself.
find_program(MQB_QEMU_AARCH64 qemu-aarch64-static)
if(MQB_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${MQB_QEMU_AARCH64})
endif()
