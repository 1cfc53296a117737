#!/usr/bin/env bash
# Goal: the example actor works as a newcomer would use it: state persists across processes on
# the embedded store, bad input is a clear error (exit 1), bad usage exits 2.
set -euo pipefail
example=${1:?usage: counter_example_test.sh path/to/counter_example}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

[ "$("$example" "$work/db" alice add 5)" = 5 ] && pass "add 5 -> 5" || fail "add 5"
[ "$("$example" "$work/db" alice add 2)" = 7 ] && pass "a second process sees it: add 2 -> 7" || fail "add 2"
[ "$("$example" "$work/db" bob get)" = 0 ] && pass "another key starts at 0" || fail "bob get"
[ "$("$example" "$work/db" alice get)" = 7 ] && pass "get -> 7" || fail "get"
set +e
out=$("$example" "$work/db" alice add seven 2>&1); rc=$?
set -e
[ $rc = 1 ] && grep -q "invalid_argument: not an integer" <<< "$out" && pass "bad argument: clear error" \
    || fail "bad argument rc=$rc: $out"
set +e
"$example" > /dev/null 2>&1; rc=$?
set -e
[ $rc = 2 ] && pass "usage error exits 2" || fail "usage rc=$rc"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
