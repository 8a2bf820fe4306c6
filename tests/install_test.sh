#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then a separate project finds the package, builds the
# simple_generate example against it and runs it on a tiny model.
#   install_test.sh BUILD_DIR SOURCE_DIR TOKENIZER_JSON
set -euo pipefail
build="$1"
src="$2"
tok="$3"
w="$(mktemp -d)"
trap 'rm -rf "$w"' EXIT
cmake --install "$build" --prefix "$w/prefix" >/dev/null
for f in bin/bitnet include/bitnet/bitnet.h lib/libbitnet.so lib/cmake/bitnet/bitnetConfig.cmake; do
  [ -e "$w/prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
cmake -S "$src/tests/install_consumer" -B "$w/consumer" -DCMAKE_PREFIX_PATH="$w/prefix" \
      -DEXAMPLE_SOURCE="$src/examples/simple_generate.cpp" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$w/consumer" >/dev/null
"$w/prefix/bin/bitnet" synth "$w/tiny" --preset tiny --tokenizer "$tok" >/dev/null 2>&1
out="$("$w/consumer/consumer" "$w/tiny" 128000,791 2>&1)" || { echo "FAIL: consumer exited non-zero: $out"; exit 1; }
[ -n "$out" ] || { echo "FAIL: consumer printed nothing"; exit 1; }
echo "1 passed, 0 failed"
