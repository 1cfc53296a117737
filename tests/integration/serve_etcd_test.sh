#!/usr/bin/env bash
# Goal: `kelpie serve --store etcd://...` runs a node on a real 3-member etcd cluster (started here
# on loopback by scripts/etcd-cluster, stopped by PID on exit), reports "etcd" in its health, and
# stops with exit 0 on SIGTERM; an etcd URL that nothing answers gives a clear error and exit 1.
set -uo pipefail
kelpie=${1:?usage: serve_etcd_test.sh path/to/kelpie}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    "$root/scripts/etcd-cluster" stop "$work/etcd" > /dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
passed=0; failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

endpoints=$("$root/scripts/etcd-cluster" start "$work/etcd") || { echo "FAIL: etcd cluster did not start"; echo "0 passed, 1 failed"; exit 1; }
"$kelpie" serve --port 0 --data-dir "$work/data" --store "etcd://$endpoints" > "$work/log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/log" | grep -o '[0-9]*$')
    [ -n "$port" ] && break
    sleep 0.1
done
if [ -n "$port" ] && body=$(curl -sf --max-time 2 "http://127.0.0.1:$port/v1/health"); then
    [[ "$body" == *'"store":"etcd"'* ]] && pass "health on etcd: $body" || fail "health: $body"
else
    fail "no health answer"; cat "$work/log"
fi
kill -TERM "$pid"
code=0; wait "$pid" || code=$?
pid=""
[ "$code" = 0 ] && pass "SIGTERM exits 0" || { fail "SIGTERM gave $code"; cat "$work/log"; }

# Nothing listens on this port: a clear error within the call timeout, exit 1.
dead_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
start=$SECONDS
"$kelpie" serve --port 0 --data-dir "$work/data2" --store "etcd://127.0.0.1:$dead_port" > "$work/dead.log" 2>&1
rc=$?
took=$((SECONDS - start))
[ $rc = 1 ] && grep -q "cannot open the store: unavailable" "$work/dead.log" && [ $took -le 15 ] \
    && pass "unreachable etcd: exit 1 after ${took}s: $(grep -o 'cannot open the store.*' "$work/dead.log" | head -c 150)" \
    || { fail "unreachable etcd: rc=$rc after ${took}s"; cat "$work/dead.log"; }

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
