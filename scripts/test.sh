#!/usr/bin/env bash
# The whole test suite, as the README's Quick start and .ci/run give it: lint and format check,
# type check, build, then every unit, integration and browser test against the real services.
set -euo pipefail
cd "$(dirname "$0")/.."
npx biome check .
npx tsc -p tsconfig.json --noEmit
npm run --silent build
npx vitest run "$@"
