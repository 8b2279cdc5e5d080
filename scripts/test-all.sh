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

# Kafka tests run a real broker fetched from Maven Central: Java 17+ and Maven must be here.
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ] || ! command -v mvn >/dev/null; then
  echo "==> apt-get install openjdk-17-jre-headless maven"
  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven || true
fi

echo "==> npm ci"
npm ci --no-audit --no-fund

# Checks Java and Maven (with a clear message) and fetches the broker's jars once, so that
# the first Kafka test does not spend its timeout on downloads.
echo "==> fetch the Kafka broker (Maven Central)"
node scripts/kafka/broker.js --fetch

echo "==> npm test"
npm test
