#!/usr/bin/env bash
# Goal: run letta-code 0.25.9 headless against a kelpie binary (letta-code/letta-code.test.mjs):
# a plain prompt, and a client-side tool through approvals.
# Method: install what the two lock files pin (npm ci; letta-code's own packages live apart in
# letta-code/ because they are large), then node's test runner. The test starts and stops its
# own server, fake LLM and letta-code processes.
# Usage: run-letta-code-tests.sh path/to/kelpie
set -euo pipefail
kelpie=$(realpath "${1:?usage: run-letta-code-tests.sh path/to/kelpie}")
cd "$(dirname "${BASH_SOURCE[0]}")"
for dir in . letta-code; do
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
        (cd "$dir" && npm ci --no-audit --no-fund && touch node_modules)
    fi
done
KELPIE_BIN="$kelpie" exec node --test --test-concurrency=1 letta-code/letta-code.test.mjs
