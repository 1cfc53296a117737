#!/usr/bin/env bash
# Goal: run the fake LLM's own tests (fake-llm.test.mjs) against the pinned official OpenAI and
# Anthropic clients, from ctest or by hand, with no state shared between runs.
# Method: install exactly what package-lock.json pins (npm ci) when node_modules is missing or
# older than the lock file, then run node's test runner one file at a time; the exit code is
# node's. The tests start and stop their own servers, so nothing outlives this script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# `-nt` is also true when node_modules does not exist, which covers a fresh checkout.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
    npm ci --no-audit --no-fund
    # npm ci may keep the directory's old mtime; touch it so the next run skips the install.
    touch node_modules
fi

exec node --test --test-concurrency=1 fake-llm.test.mjs
