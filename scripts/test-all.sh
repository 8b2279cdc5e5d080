#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, then runs every test.
# This is the README's test command (`npm run test:all`) and all that .ci/run does.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "Sluice needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))." >&2
  exit 1
fi

# Browser tests use Debian's Chromium; Playwright must never download a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -x /usr/bin/chromium ]; then
  echo "==> apt-get install chromium"
  apt-get update -qq && apt-get install -y -qq chromium
fi

echo "==> npm ci"
npm ci --no-audit --no-fund

echo "==> npm test"
npm test
