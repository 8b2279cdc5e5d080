#!/usr/bin/env bash
# The README's start command (`npm run quickstart`): installs and builds Sluice, then
# starts the engine service and the web editor with an example pipeline running.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund
fi
echo "==> build"
npm run --silent build
npm run --silent build -w @sluice/web

exec node scripts/quickstart.js
