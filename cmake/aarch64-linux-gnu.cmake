# Cross-compiling for aarch64 Linux with Debian's g++-aarch64-linux-gnu; the
# test binaries run under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR), so
# gtest_discover_tests and ctest work as on a native build.
# Libraries come from Debian multiarch (dpkg --add-architecture arm64;
# libpcre2-dev:arm64 libcpp-httplib-dev:arm64); header-only packages and
# their CMake configs (nlohmann_json) from the host. scripts/ci_aarch64.sh
# sets it all up.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# Only the arm64 .pc files (and the arch-independent ones).
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# -cpu max: an Armv8.x+ CPU with dotprod, so the NEON kernels run. The guest
# loads the multiarch arm64 libc and libstdc++ (libc6:arm64, libstdc++6:arm64
# under /lib/aarch64-linux-gnu). Not -L /usr/aarch64-linux-gnu: with the cross
# toolchain's own libc, qemu 7.2 hangs in the first pthread_create.
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-cpu;max")
