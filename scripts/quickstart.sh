#!/usr/bin/env bash
# The README's start command (`npm run quickstart`): installs and builds Sluice, then
# starts what exists so far on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund
fi
echo "==> build"
npm run --silent build

echo "==> validating the example pipelines"
npx sluice validate examples/*.json

echo "==> running an example pipeline on the embedded engine"
npx sluice run examples/clickstream-page-views.json --show 5

cat <<'MSG'

Sluice is installed, and the engine just ran an example pipeline. Try:
  npx sluice run examples/<name>.json     run any example (all but the Kafka one)
  npx sluice validate <graph.json>        check a job graph, every problem with its line
  npx sluice operators                    the operator catalog
The web editor and the engine service are being built; this command will start both,
with an example pipeline running, once they are.
MSG
