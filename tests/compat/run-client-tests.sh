#!/usr/bin/env bash
# Goal: run the Letta client compatibility suite (client/*.test.mjs) — the real
# @letta-ai/letta-client 1.12.1 against a kelpie binary with the scripted fake LLM.
# Method: install exactly what package-lock.json pins (npm ci) when node_modules is missing or
# older than the lock file; then node's test runner, one file at a time (each file starts and
# stops its own server and fake on free loopback ports).
# Usage: run-client-tests.sh path/to/kelpie
set -euo pipefail
kelpie=$(realpath "${1:?usage: run-client-tests.sh path/to/kelpie}")
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
    npm ci --no-audit --no-fund
    touch node_modules
fi
KELPIE_BIN="$kelpie" exec node --test --test-concurrency=1 client/
