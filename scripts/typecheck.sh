#!/usr/bin/env bash
# Builds every package (tsc -b checks their sources) and type-checks every test folder.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -b
for config in packages/*/test/tsconfig.json apps/*/test/tsconfig.json; do
  [ -f "$config" ] && npx tsc -p "$config"
done
npx tsc -p apps/web --noEmit
npx tsc -p playwright --noEmit
