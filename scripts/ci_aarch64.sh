#!/usr/bin/env bash
# CI: cross-builds the kernel and model tests for aarch64 (Debian's
# g++-aarch64-linux-gnu, cmake/aarch64-linux-gnu.cmake) and runs them under
# qemu-user with BITNET_ISA=scalar and BITNET_ISA=neon, so the NEON kernels are
# tested on every change on an x86 machine.
#
#   scripts/ci_aarch64.sh [BUILD_DIR]     (default build-aarch64)
#
# Installs what is missing (root, Debian 12): the cross compiler, qemu-user,
# libgtest-dev (GoogleTest's sources, cross-built here), and the arm64
# libraries through multiarch (dpkg --add-architecture arm64): libc6:arm64 and
# libstdc++6:arm64 (what the tests load under qemu), libpcre2-dev:arm64,
# libcpp-httplib-dev:arm64. nlohmann_json is header-only,
# taken from the host.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=$(realpath -m "${1:-build-aarch64}")
jobs=${BITNET_CI_JOBS:-$(nproc)}
start=$SECONDS

echo "== aarch64: packages"
pkgs=()
command -v aarch64-linux-gnu-g++ >/dev/null || pkgs+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || pkgs+=(qemu-user)
[[ -f /usr/src/googletest/CMakeLists.txt ]] || pkgs+=(libgtest-dev)
command -v file >/dev/null || pkgs+=(file)
for p in libc6:arm64 libstdc++6:arm64 libpcre2-dev:arm64 libcpp-httplib-dev:arm64 libedit-dev:arm64; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || pkgs+=("$p")
done
if ((${#pkgs[@]})); then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then dpkg --add-architecture arm64; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
toolchain=$root/cmake/aarch64-linux-gnu.cmake

echo "== aarch64: GoogleTest from /usr/src/googletest"
gtest_prefix=$build/_gtest
if [[ ! -f $gtest_prefix/lib/cmake/GTest/GTestConfig.cmake ]]; then
  cmake -S /usr/src/googletest -B "$build/_gtest-build" -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$gtest_prefix" -DBUILD_GMOCK=OFF "${launcher[@]}" >/dev/null
  cmake --build "$build/_gtest-build" -j"$jobs" >/dev/null
  cmake --install "$build/_gtest-build" >/dev/null
fi

echo "== aarch64: configure and build the kernel and model tests"
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_BUILD_TYPE=Release -DBITNET_XRT=OFF -DBITNET_PYTHON=OFF \
  -DBITNET_BUILD_BENCH=OFF -DGTest_DIR="$gtest_prefix/lib/cmake/GTest" "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$jobs" --target kernels_test kernels_isa_test kernels_dispatch_test output_int8_test \
  model_test perf_paths_test foreign_gguf_test
file "$build/src/kernels/kernels_dispatch_test" | grep -q "ARM aarch64" || { echo "not an aarch64 binary" >&2; exit 1; }
echo "== aarch64: built in $((SECONDS - start)) s"

qemu=(qemu-aarch64)  # the arm64 multiarch libraries; see cmake/aarch64-linux-gnu.cmake
echo "== aarch64: the NEON kernels are the ones that run (qemu -cpu max has dotprod)"
report=$(BITNET_ISA=neon "${qemu[@]}" -cpu max "$build/src/kernels/kernels_dispatch_test" \
           --gtest_filter='KernelDispatch.ActiveTableIsTheOneBitnetIsaNames' | grep -- '-> table')
echo "$report"
[[ $report == *"-> table neon:"*"w2a8_mat_vec=neon w2a8_mat_mul=neon"* ]] || { echo "BITNET_ISA=neon did not select NEON" >&2; exit 1; }
# ...and a CPU without dotprod is told no, not silently given scalar kernels.
if BITNET_ISA=neon "${qemu[@]}" -cpu cortex-a53 "$build/src/kernels/kernels_dispatch_test" \
     --gtest_filter='KernelDispatch.ActiveTableIsTheOneBitnetIsaNames' >/dev/null 2>&1; then
  echo "BITNET_ISA=neon ran on a CPU without dotprod" >&2
  exit 1
fi
"${qemu[@]}" -cpu cortex-a53 "$build/src/kernels/kernels_dispatch_test" --gtest_brief=1 \
  --gtest_filter='KernelDispatch.BitnetIsaNamesAreCheckedNotTrusted'

echo "== aarch64: tests under qemu, per kernel table"
BITNET_CI_ISAS="scalar neon" scripts/ci_isa.sh "$build"
echo "== aarch64: done in $((SECONDS - start)) s"
