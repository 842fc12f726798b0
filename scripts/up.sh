#!/usr/bin/env bash
# One command from a fresh clone to a running Kurado on this machine: installs what is missing,
# builds, and runs `kurado up` (embedded MQTT broker and SQLite store, rrdcached, this machine's
# own agent, the web UI on http://localhost:5434). Extra arguments go to `kurado up`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent build
exec node bin/run.js up "$@"
