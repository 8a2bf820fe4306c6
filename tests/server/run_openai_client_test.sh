#!/usr/bin/env bash
# CTest entry for openai_client_test.mjs: makes a tiny model with the real
# tokenizer and runs the node test against `bitnet serve`. Exit 77 (SKIPPED)
# when node, the installed openai package or the tokenizer is missing.
set -uo pipefail
bitnet="$1"
tokenizer="$2"
here="$(cd "$(dirname "$0")" && pwd)"

skip() { echo "SKIPPED: $*"; exit 77; }
command -v node >/dev/null 2>&1 || skip "node is not installed"
[ -f "$here/node_modules/openai/package.json" ] || skip "openai npm package missing: run tests/server/setup.sh"
[ -f "$tokenizer" ] || skip "no tokenizer.json (run scripts/fetch_tokenizer.sh)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bitnet" synth "$work/tiny" --preset tiny --tokenizer "$tokenizer" >/dev/null || { echo "FAIL: synth"; exit 1; }
BITNET_EXE="$bitnet" BITNET_MODEL="$work/tiny" node "$here/openai_client_test.mjs"
