#!/usr/bin/env bash
# Goal: scripts/etcd-cluster gives tests a real 3-member etcd cluster on 127.0.0.1 and can take it
# apart. Method: start a cluster in a temp dir; a write through all endpoints is readable through
# each member; with member 2 killed, writes through the other two still succeed (after the
# election, retried up to 5 s); with member 3 killed as well, quorum is lost and a write with a 2 s
# timeout fails; restarting members 2 and 3 restores writes and the keys written before are still
# there on every member; stop leaves no process behind and is idempotent. About 15 s.
#
# Usage: tests/integration/etcd_cluster_test.sh [REPO_ROOT]
set -euo pipefail
repo=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cluster="$repo/scripts/etcd-cluster"
export ETCDCTL_API=3
work=$(mktemp -d)
cleanup() {
    "$cluster" stop "$work/c" > /dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
passed=0; failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

ctl() { # ENDPOINTS etcdctl-args...
    local ep=$1
    shift
    etcdctl --endpoints="$ep" --dial-timeout=1s --command-timeout=1s "$@"
}
put_within() { # ENDPOINTS KEY VALUE TIMEOUT_MS -> 0 once a put succeeds
    local deadline=$(( $(now_ms) + $4 ))
    until ctl "$1" put "$2" "$3" > "$work/put.out" 2>&1; do
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}
get_value() { ctl "$1" get --print-value-only "$2" 2> /dev/null; }
pids_of_members() { cat "$work/c"/member*.pid 2> /dev/null || true; }

# 1. Start.
t0=$(now_ms)
if "$cluster" start "$work/c" > "$work/start.out" 2> "$work/start.err"; then
    ep=$(tail -n 1 "$work/start.out")
    if [[ $ep =~ ^127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+$ ]] &&
        [ "$ep" = "$("$cluster" endpoints "$work/c")" ]; then
        pass "start: 3 members healthy in $(( $(now_ms) - t0 )) ms, endpoints $ep"
    else
        fail "start printed '$ep'"
    fi
else
    fail "start failed"; cat "$work/start.err"
    echo "$passed passed, $failed failed"
    exit 1
fi
IFS=, read -r ep1 ep2 ep3 <<< "$ep"
all_pids=$(pids_of_members)

# 2. Write through all endpoints, read through each member (linearizable reads).
if ctl "$ep" put /kelpie-test/k v1 > /dev/null; then
    ok=1
    for e in "$ep1" "$ep2" "$ep3"; do
        [ "$(get_value "$e" /kelpie-test/k)" = v1 ] || { ok=0; fail "get via $e: '$(get_value "$e" /kelpie-test/k)'"; }
    done
    [ $ok = 1 ] && pass "put via all endpoints, get v1 via each of the 3 members"
else
    fail "put via all endpoints"
fi

# 3. Kill member 2: the other two are a quorum.
pid2=$(cat "$work/c/member2.pid")
"$cluster" kill "$work/c" 2 2> /dev/null || fail "kill 2 exited non-zero"
if ! kill -0 "$pid2" 2> /dev/null; then pass "kill 2: pid $pid2 is gone"; else fail "kill 2: pid $pid2 still exists"; fi
t0=$(now_ms)
if put_within "$ep1,$ep3" /kelpie-test/k2 after-kill-2 5000; then
    pass "member 2 down: write via members 1 and 3 succeeded after $(( $(now_ms) - t0 )) ms"
else
    fail "member 2 down: no write succeeded within 5 s: $(tail -n 1 "$work/put.out")"
fi

# 4. Kill member 3: quorum lost, writes must fail.
"$cluster" kill "$work/c" 3 2> /dev/null || fail "kill 3 exited non-zero"
t0=$(now_ms)
if etcdctl --endpoints="$ep1" --dial-timeout=1s --command-timeout=2s put /kelpie-test/k3 x > "$work/noquorum" 2>&1; then
    fail "members 2 and 3 down: a write succeeded without quorum"
else
    pass "members 2 and 3 down: write fails after $(( $(now_ms) - t0 )) ms ($(grep -m1 '^Error' "$work/noquorum" || tail -n 1 "$work/noquorum"))"
fi

# 5. Restart members 2 and 3: writes work again, old keys are still there on every member.
if "$cluster" restart "$work/c" 2 2> "$work/restart.err" && "$cluster" restart "$work/c" 3 2>> "$work/restart.err"; then
    pass "restart 2 and 3: both answer endpoint health"
else
    fail "restart"; cat "$work/restart.err"
fi
if put_within "$ep" /kelpie-test/k4 after-restart 5000; then
    pass "after restart: write via all endpoints succeeds"
else
    fail "after restart: write failed: $(tail -n 1 "$work/put.out")"
fi
ok=1
for e in "$ep1" "$ep2" "$ep3"; do
    v1=$(get_value "$e" /kelpie-test/k); v2=$(get_value "$e" /kelpie-test/k2)
    if [ "$v1" != v1 ] || [ "$v2" != after-kill-2 ]; then ok=0; fail "via $e after restart: k='$v1' k2='$v2'"; fi
done
[ $ok = 1 ] && pass "after restart: keys written before (k=v1, k2 written while member 2 was down) are on all 3 members"

# 6. Stop: every etcd process is gone, pid files removed; stop again is a no-op.
all_pids="$all_pids $(pids_of_members)"
t0=$(now_ms)
"$cluster" stop "$work/c" 2> "$work/stop.err" || { fail "stop exited non-zero"; cat "$work/stop.err"; }
left=""
for p in $all_pids; do if kill -0 "$p" 2> /dev/null; then left="$left $p"; fi; done
if [ -z "$left" ] && ! ls "$work/c"/member*.pid > /dev/null 2>&1; then
    pass "stop: all PIDs ($(wc -w <<< "$all_pids")) gone, pid files removed, in $(( $(now_ms) - t0 )) ms"
else
    fail "stop: still alive:$left"
fi
if "$cluster" stop "$work/c" 2> /dev/null; then pass "stop is idempotent"; else fail "second stop failed"; fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
