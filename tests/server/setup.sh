#!/usr/bin/env bash
# Installs the pinned `openai` npm client (package-lock.json) into
# tests/server/node_modules for the server_openai_client test. Safe to re-run;
# without node/npm it says so and leaves the test to report SKIPPED.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
  echo "tests/server/setup.sh: npm not found; server_openai_client will be skipped" >&2
  exit 0
fi
if [ -f node_modules/openai/package.json ] &&
   [ "$(node -p "require('./node_modules/openai/package.json').version")" = "$(node -p "require('./package.json').dependencies.openai")" ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "tests/server/setup.sh: openai $(node -p "require('./node_modules/openai/package.json').version") installed"
