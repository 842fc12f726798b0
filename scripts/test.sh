#!/usr/bin/env bash
# The whole test suite, as the README's Quick start and .ci/run give it: make the machine ready
# (Debian packages, npm dependencies, services answering), lint and format check, type check,
# build, then every unit, integration and browser test against the real services.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
npx biome check .
npx tsc -p tsconfig.check.json
npm run --silent build
npm run --silent build:agent
npx vitest run "$@"
