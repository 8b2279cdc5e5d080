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

cat <<'MSG'

Sluice is installed. What runs today is the graph model and the `sluice` CLI:
  npx sluice validate <graph.json>   check a job graph, every problem with its line
  npx sluice operators               the operator catalog
  npx sluice schema                  the JSON Schema of the graph format
The engine and the web editor are not built yet; this command will start both,
with an example pipeline running, once they are.
MSG
