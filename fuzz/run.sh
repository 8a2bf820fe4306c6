#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz and runs each for SECONDS
# on a generated seed corpus. Needs: clang (14+) and its libFuzzer runtime
# (Debian: apt-get install -y clang libclang-rt-14-dev), cmake, nlohmann-json3-dev.
#   fuzz/run.sh 30
# Crashes are written to build-fuzz/artifacts/; the script exits non-zero on one.
set -euo pipefail

seconds="${1:?usage: fuzz/run.sh SECONDS}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-fuzz"
cxx="${CXX_FUZZ:-$(command -v clang++ || command -v clang++-14 || true)}"
[[ -n "$cxx" ]] || { echo "clang++ not found: apt-get install -y clang libclang-rt-14-dev" >&2; exit 1; }

# Until the root CMakeLists.txt adds fuzz/ (when BITNET_FUZZ is ON), configure fuzz/ on its own.
if grep -q 'add_subdirectory(fuzz)' "$root/CMakeLists.txt"; then
  cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBITNET_FUZZ=ON -DBITNET_BUILD_TESTS=OFF -DBITNET_BUILD_BENCH=OFF >/dev/null
  bin="$build/fuzz"
else
  cmake -S "$root/fuzz" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBITNET_FUZZ=ON >/dev/null
  bin="$build"
fi
targets=(gguf safetensors)
# model_fuzz links the whole loader, so it exists only in the root-project build.
[[ "$bin" == "$build/fuzz" ]] && targets+=(model)
cmake --build "$build" -j"${FUZZ_JOBS:-1}" --target "${targets[@]/%/_fuzz}" fuzz_make_seeds

seeds="$build/seeds"
rm -rf "$seeds"
"$bin/fuzz_make_seeds" "$seeds"
mkdir -p "$build/corpus/gguf" "$build/corpus/safetensors" "$build/corpus/model" "$build/artifacts"

status=0
for target in "${targets[@]}"; do
  echo "== ${target}_fuzz for ${seconds}s"
  extra=()
  # The whole-loader fuzzer also starts from the GGUF seeds (its GGUF path).
  [[ "$target" == model ]] && extra=("$seeds/gguf")
  # New inputs go to corpus/<target> (kept between runs); seeds are read-only.
  "$bin/${target}_fuzz" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$build/artifacts/${target}-" -print_final_stats=1 \
    "$build/corpus/$target" "$seeds/$target" "${extra[@]}" 2>&1 | tail -n 25 || status=1
done
exit "$status"
