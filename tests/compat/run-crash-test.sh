#!/usr/bin/env bash
# Goal: run the agent crash test (crash/agent-crash.test.mjs) against a kelpie binary: SIGKILL in
# the middle of a multi-step turn, restart on the same data directory, the turn completes without
# repeating a completed step.
# Method: node's test runner on the one file; it starts the fake LLM in-process and the server as
# a child it kills and restarts by PID. The fake needs no npm packages.
# Usage: run-crash-test.sh path/to/kelpie
set -euo pipefail
kelpie=$(realpath "${1:?usage: run-crash-test.sh path/to/kelpie}")
cd "$(dirname "${BASH_SOURCE[0]}")"
KELPIE_BIN="$kelpie" exec node --test --test-concurrency=1 crash/agent-crash.test.mjs
