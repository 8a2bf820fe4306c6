#!/usr/bin/env bash
# CI: the kernel and model tests once per kernel table (kernels/dispatch.h):
# BITNET_ISA=scalar, then each SIMD variant this machine runs.
#
#   scripts/ci_isa.sh BUILD_DIR [extra ctest arguments]
#
# BUILD_DIR is an existing, built CMake tree (tests on). The variants come
# from /proc/cpuinfo; BITNET_CI_ISAS="scalar neon" overrides that (e.g. for a
# cross build whose tests ctest runs under qemu, scripts/ci_aarch64.sh).
# BITNET_CI_TESTS overrides the ctest -R regex, BITNET_CI_JOBS ctest's -j
# (default: nproc). Exit status 1 if any table's run fails.
set -euo pipefail

build=${1:?usage: scripts/ci_isa.sh BUILD_DIR [ctest args]}
shift
[[ -f "$build/CTestTestfile.cmake" ]] || { echo "ci_isa: $build is not a CMake build tree with tests" >&2; exit 2; }

# The kernels' own suites (kernels., kernels_isa.) and the model tests whose
# results go through the kernels: ModelTest, the perf paths, foreign GGUFs,
# the HF layout / RoPE checks.
tests=${BITNET_CI_TESTS:-'^(kernels\.|kernels_isa\.|ModelTest\.|PerfPaths\.|ForeignGguf\.|HfPackedLayout\.|Rope\.)'}

detect_isas() {
  local flags
  flags=$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo | cut -d: -f2)
  has() { [[ " $flags " == *" $1 "* ]]; }
  local isas="scalar"
  case "$(uname -m)" in
    x86_64)
      if has avx2 && has fma && has f16c; then isas+=" avx2"; fi
      if has avx2 && has fma && has f16c && has avx_vnni; then isas+=" avxvnni"; fi
      if has avx2 && has fma && has f16c && has avx512f && has avx512bw && has avx512vl && has avx512_vnni; then
        isas+=" avx512vnni"
      fi ;;
    aarch64)
      if has asimddp; then isas+=" neon"; fi ;;
  esac
  echo "$isas"
}

isas=${BITNET_CI_ISAS:-$(detect_isas)}
jobs=${BITNET_CI_JOBS:-$(nproc)}
echo "ci_isa: kernel tables to test: $isas (ctest -R '$tests', -j$jobs)"

# The gate can fail: a name the dispatch does not know must fail the run.
if BITNET_ISA=not-an-isa ctest --test-dir "$build" -R '^kernels_isa\.KernelDispatch\.ActiveTableIsTheOneBitnetIsaNames$' \
     >/dev/null 2>&1; then
  echo "ci_isa: BITNET_ISA=not-an-isa passed; the dispatch is not reading BITNET_ISA" >&2
  exit 1
fi

failed=()
for isa in $isas; do
  echo "== BITNET_ISA=$isa"
  start=$SECONDS
  # Each table's per-entry report, from the dispatch test itself.
  BITNET_ISA=$isa ctest --test-dir "$build" -R '^kernels_isa\.KernelDispatch\.ActiveTableIsTheOneBitnetIsaNames$' -V 2>&1 |
    grep -o 'BITNET_ISA=.* -> table .*' | head -1 || true
  if BITNET_ISA=$isa ctest --test-dir "$build" --output-on-failure -j"$jobs" -R "$tests" --no-tests=error "$@"; then
    echo "== BITNET_ISA=$isa passed in $((SECONDS - start)) s"
  else
    echo "== BITNET_ISA=$isa FAILED after $((SECONDS - start)) s"
    failed+=("$isa")
  fi
done

if ((${#failed[@]})); then
  echo "ci_isa: failed for: ${failed[*]}" >&2
  exit 1
fi
echo "ci_isa: all of $isas passed"
