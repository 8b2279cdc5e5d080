#!/usr/bin/env bash
# `npm test`: typecheck, lint, then every test; ends with one plain "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."

npm run --silent typecheck || exit $?
npm run --silent lint || exit $?

mkdir -p .cache
rm -f .cache/vitest-results.json
npx vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest-results.json
status=$?

echo "==> web app build and browser tests"
rm -f playwright/results.json
if npm run --silent build -w @sluice/web; then
  npx playwright test -c playwright/playwright.config.ts || status=1
else
  status=1
fi
node scripts/test-summary.js .cache/vitest-results.json playwright/results.json || status=1
exit $status
