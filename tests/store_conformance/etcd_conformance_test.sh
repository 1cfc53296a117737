#!/usr/bin/env bash
# Goal: the etcd backend implements the store's semantics on a real 3-member cluster, and keeps
# its failure contract when members die.
# Method:
#  (1) Start a 3-member cluster (scripts/etcd-cluster, 127.0.0.1 only) and run every etcd case of
#      the conformance and serializability suites (and of the etcd-specific tests, if given)
#      against it. Any failed or skipped case fails this test; gtest's own exit code is kept.
#  (2) Faults: eight writers on one store (etcd_fault_child; their commits are batched) commit
#      numbered keys in a loop, retrying. Kill one member: commits continue. Kill a second (quorum lost): commits fail with unavailable or
#      unknown_result, and no call takes longer than the call timeout + 1 s. Restart both:
#      commits resume. At the end every acknowledged key is present.
#
#  (3) If given, the registry and actor runtime tests (claims, fencing, exactly-once, reminders
#      after a restart) against the same cluster.
#
# Usage: etcd_conformance_test.sh STORE_CONFORMANCE_TESTS ETCD_FAULT_CHILD [ETCD_STORE_TESTS
#                                 [ACTOR_BACKEND_TESTS]]
set -uo pipefail
tests=${1:?usage: etcd_conformance_test.sh STORE_CONFORMANCE_TESTS ETCD_FAULT_CHILD [ETCD_STORE_TESTS]}
child=${2:?usage: etcd_conformance_test.sh STORE_CONFORMANCE_TESTS ETCD_FAULT_CHILD [ETCD_STORE_TESTS]}
extra_tests=${3:-}
actor_tests=${4:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cluster_script="$here/../../scripts/etcd-cluster"

readonly CALL_TIMEOUT_MS=2000
readonly LATENCY_MAX_MS=$((CALL_TIMEOUT_MS + 1000))
readonly WRITERS=8  # concurrent writers on one store: its commits are batched

work=$(mktemp -d)
cluster="$work/cluster"
child_pid=""
cleanup() {
    if [ -n "$child_pid" ]; then kill -KILL "$child_pid" 2> /dev/null || true; fi
    "$cluster_script" stop "$cluster" > /dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

passed=0; failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

endpoints=$("$cluster_script" start "$cluster" | tail -n 1) || { echo "FAIL: cluster did not start"; exit 1; }
echo "cluster: $endpoints"
export KELPIE_TEST_ETCD_ENDPOINTS=$endpoints

# --- (1) the suites --------------------------------------------------------------------------

# run_gtest NAME BINARY FILTER: runs it; FAILs on a non-zero exit, a skipped case or no case.
# Sets gtest_rc to the first non-zero exit code seen.
gtest_rc=0
run_gtest() {
    local name=$1 binary=$2 filter=$3 out rc
    out="$work/$name.out"
    "$binary" --gtest_filter="$filter" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    if [ "$rc" != 0 ]; then
        fail "$name: gtest exit code $rc"
        [ "$gtest_rc" = 0 ] && gtest_rc=$rc
    elif grep -q '^\[  SKIPPED \]' "$out"; then
        fail "$name: some cases were skipped (is the etcd backend configured?)"
    elif ! grep -q '^\[  PASSED  \] [1-9]' "$out"; then
        fail "$name: no test case ran"
    else
        pass "$name: $(grep '^\[  PASSED  \]' "$out")"
    fi
}

run_gtest conformance "$tests" '*etcd*:*Etcd*'
if [ -n "$extra_tests" ]; then
    run_gtest etcd_store "$extra_tests" '*-EtcdStandIn.*'  # the stand-in cases run on their own
fi
if [ -n "$actor_tests" ]; then
    run_gtest actor_backends "$actor_tests" '*etcd*'
fi

# --- (2) faults ------------------------------------------------------------------------------

log="$work/writer.log"
stop_file="$work/stop"
prefix="fault/$(date +%s)-$$/"
"$child" write "$endpoints" "$prefix" "$stop_file" "$CALL_TIMEOUT_MS" "$WRITERS" > "$log" 2> "$work/writer.err" &
child_pid=$!

acked_count() { grep -c '^acked ' "$log"; }
acked_since() { tail -n +"$(($1 + 1))" "$log" | grep -c '^acked '; }
lines() { wc -l < "$log"; }
# wait_for_acks SINCE_LINE COUNT TIMEOUT_S: 0 once COUNT acks appeared after line SINCE_LINE.
wait_for_acks() {
    local deadline=$((SECONDS + $3))
    while [ "$(acked_since "$1" "$2")" -lt "$2" ]; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

if wait_for_acks 0 20 15; then
    pass "healthy cluster: writer committing ($(acked_count) acked)"
else
    fail "healthy cluster: writer did not commit: $(tail -3 "$work/writer.err")"
fi

mark=$(lines)
"$cluster_script" kill "$cluster" 1
sleep 3
if [ "$(acked_since "$mark" 1)" -ge 1 ]; then
    pass "member 1 killed: commits continue ($(acked_since "$mark") acked in 3 s)"
else
    fail "member 1 killed: no commit in 3 s"
fi

mark=$(lines)
"$cluster_script" kill "$cluster" 2
sleep $((2 * CALL_TIMEOUT_MS / 1000 + 2))
outage=$(tail -n +"$((mark + 1))" "$log" | grep '^attempt ')
failures=$(grep -cE ' (unavailable|unknown_result) [0-9]+$' <<< "$outage")
attempts=$(grep -c . <<< "$outage")
if [ "$failures" -ge 1 ] && [ "$attempts" -ge 2 ]; then
    pass "quorum lost: $attempts commit attempts, $failures failed with unavailable/unknown_result ($(grep -oE ' (unavailable|unknown_result) ' <<< "$outage" | sort | uniq -c | tr -s ' \n' ' '))"
else
    fail "quorum lost: $attempts attempts, $failures unavailable/unknown_result failures"
fi

mark=$(lines)
"$cluster_script" restart "$cluster" 1 && "$cluster_script" restart "$cluster" 2
if wait_for_acks "$mark" 10 20; then
    pass "members restarted: commits resume"
else
    fail "members restarted: fewer than 10 commits in 20 s"
fi

touch "$stop_file"
for _ in $(seq 150); do kill -0 "$child_pid" 2> /dev/null || break; sleep 0.1; done
if kill -0 "$child_pid" 2> /dev/null; then
    fail "writer did not stop within 15 s of the stop file"
    kill -KILL "$child_pid"
fi
wait "$child_pid"; child_rc=$?
child_pid=""
[ "$child_rc" = 0 ] && pass "writer stopped cleanly" || fail "writer exit code $child_rc: $(tail -3 "$work/writer.err")"

slowest=$(grep '^attempt ' "$log" | awk '{ if ($5 > m) m = $5 } END { print m + 0 }')
if [ "$slowest" -le "$LATENCY_MAX_MS" ]; then
    pass "no call hung: slowest commit attempt ${slowest} ms (limit ${LATENCY_MAX_MS} ms)"
else
    fail "a commit attempt took ${slowest} ms (limit ${LATENCY_MAX_MS} ms)"
fi

if out=$("$child" verify "$endpoints" "$prefix" "$log"); then
    pass "every acked key present: $out"
else
    fail "acked keys lost: $out"
fi

echo "$passed passed, $failed failed"
if [ "$gtest_rc" != 0 ]; then
    exit "$gtest_rc"
fi
[ "$failed" = 0 ]
