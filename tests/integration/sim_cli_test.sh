#!/usr/bin/env bash
# Goal: `kelpie sim` prints one line per seed in the documented format and a final tally; the same
# seeds give byte-identical output on a second run (determinism across processes); different
# seeds give different traces; the canary makes every seed fail with exit code 1; bad arguments
# are rejected with exit 2 and a clear message; the fault table and time compression are printed;
# --faults selects the fault kinds.
set -euo pipefail
kelpie=${1:?usage: sim_cli_test.sh path/to/kelpie}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

"$kelpie" sim --seeds 1..50 > "$work/a"
"$kelpie" sim --seeds 1..50 > "$work/b"
[ "$(grep -cE '^seed=[0-9]+ trace=[0-9a-f]{16} result=ok$' "$work/a")" = 50 ] \
    && pass "50 ok lines" || { fail "ok lines"; head "$work/a"; }
[ "$(tail -n 1 "$work/a")" = "50 passed, 0 failed" ] && pass "final tally" || fail "tally: $(tail -n 1 "$work/a")"
# Everything but the wall-clock line must be byte-identical.
grep -v '^time compression:' "$work/a" > "$work/a.det"
grep -v '^time compression:' "$work/b" > "$work/b.det"
cmp -s "$work/a.det" "$work/b.det" && pass "second run byte-identical (but the wall-clock line)" \
    || { fail "runs differ"; diff "$work/a.det" "$work/b.det" | head || true; }
distinct=$(grep -o 'trace=[0-9a-f]*' "$work/a" | sort -u | wc -l)
[ "$distinct" = 50 ] && pass "50 distinct traces" || fail "only $distinct distinct traces"

"$kelpie" sim --seed 7 > "$work/single"
grep -q '^seed=7 ' "$work/single" && [ "$(sed -n 1p "$work/single")" = "$(sed -n 7p "$work/a")" ] \
    && pass "--seed 7 equals line 7 of the range" || fail "--seed 7 differs from the range run"

set +e
"$kelpie" sim --seeds 1..5 --canary > "$work/canary"; rc=$?
set -e
[ $rc = 1 ] && [ "$(grep -c 'result=violation:message_lost' "$work/canary")" = 5 ] \
    && [ "$(tail -n 1 "$work/canary")" = "0 passed, 5 failed" ] \
    && pass "canary: every seed fails, exit 1" || { fail "canary rc=$rc"; cat "$work/canary"; }
grep -q 'replay="kelpie sim --seed 1 ' "$work/canary" && pass "violation line has a replay hint" || fail "no replay hint"

grep -q '^faults fired (kind, times):$' "$work/a" && grep -qE '^  node_crash +[0-9]+$' "$work/a" \
    && pass "fault table printed" || fail "no fault table"
grep -qE '^time compression: [0-9]+ simulated s / [0-9.]+ wall s = [0-9]+x$' "$work/a" \
    && pass "time compression printed" || fail "no time compression line"

"$kelpie" sim --list-faults > "$work/faults"
[ "$(wc -l < "$work/faults")" -ge 13 ] && grep -q '^node_pause ' "$work/faults" \
    && pass "--list-faults lists the fault kinds" || fail "--list-faults: $(cat "$work/faults")"
"$kelpie" sim --seeds 1..3 --faults none > "$work/nofaults"
[ "$(grep -cE '^  [a-z_]+ +0$' "$work/nofaults")" = 0 ] && [ "$(tail -n 1 "$work/nofaults")" = "3 passed, 0 failed" ] \
    && pass "--faults none: passes, fault table empty" || { fail "--faults none"; cat "$work/nofaults"; }
"$kelpie" sim --seeds 1..3 --faults node_crash,partition > "$work/some"
[ "$(grep -cE '^  [a-z_]+ +[0-9]+$' "$work/some")" = 2 ] \
    && pass "--faults LIST: only the listed kinds in the table" || { fail "--faults LIST"; cat "$work/some"; }

"$kelpie" sim --list-bugs > "$work/bugs"
grep -q '^skip_read_check ' "$work/bugs" && pass "--list-bugs names skip_read_check" || fail "--list-bugs: $(cat "$work/bugs")"
set +e
"$kelpie" sim --seeds 1..20 --bug skip_read_check > "$work/bug"; rc=$?
set -e
caught=$(grep -c 'result=violation:' "$work/bug")
[ $rc = 1 ] && [ "$caught" -ge 1 ] && grep -q -- '--bug skip_read_check"' "$work/bug" \
    && pass "--bug skip_read_check: $caught of 20 seeds fail, replay names the bug" \
    || { fail "--bug skip_read_check rc=$rc caught=$caught"; tail -3 "$work/bug"; }

for bad in "--bug nonsense" "--seeds 5..1" "--seeds x" "--duration 0s" "--duration forever" \
           "--faults bogus" "--faults node_crash,,partition"; do
    set +e
    # shellcheck disable=SC2086
    "$kelpie" sim $bad > "$work/bad" 2>&1; rc=$?
    set -e
    [ $rc = 2 ] && grep -q "kelpie sim: bad" "$work/bad" && pass "rejects '$bad'" || { fail "'$bad' rc=$rc"; cat "$work/bad"; }
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
