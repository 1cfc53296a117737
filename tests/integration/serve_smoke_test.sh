#!/usr/bin/env bash
# Goal: `kelpie serve` as a user runs it. With no flags it listens on 127.0.0.1:8283 and keeps its
# data in ./kelpie-data; it answers GET /v1/health within 5 s of starting; SIGTERM (and SIGINT)
# stop it with exit code 0; flags and KELPIE_* environment variables choose host, port and data
# directory; a port already in use gives a clear error and exit 1.
# Method: start the binary in a temp directory, poll the health endpoint with curl, signal the
# exact PID we started. Port 8283 is used only if it is free; otherwise that case is reported as
# skipped-by-necessity and the flag/env cases (free ports chosen by the OS) still run.
set -euo pipefail
kelpie=${1:?usage: serve_smoke_test.sh path/to/kelpie}
kelpie=$(realpath "$kelpie")
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
passed=0; failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
port_in_use() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# wait_health URL LOG: polls for up to 5 s; prints the body.
wait_health() {
    local url=$1 deadline=$((SECONDS + 5))
    while [ $SECONDS -le $deadline ]; do
        if body=$(curl -sf --max-time 1 "$url" 2>/dev/null); then echo "$body"; return 0; fi
        sleep 0.05
    done
    return 1
}

# stop_with SIGNAL PID: sends the signal and waits (10 s at most) for the process to exit; sets
# $code to its exit code. (Not in a $(...) subshell: only this shell can wait for its own child.)
exited() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) || return 0; [[ "$st" == Z* ]]; }
stop_with() {
    local sig=$1 pid=$2 deadline=$((SECONDS + 10))
    kill -"$sig" "$pid"
    while ! exited "$pid" && [ $SECONDS -le $deadline ]; do sleep 0.05; done
    if ! exited "$pid"; then code="still-running"; return; fi
    code=0
    wait "$pid" || code=$?
}

version=$("$kelpie" --version)
[[ "$version" =~ ^kelpie\ [0-9]+\.[0-9]+\.[0-9]+$ ]] && pass "--version prints '$version'" || fail "--version printed '$version'"

# 1. Defaults: 127.0.0.1:8283, ./kelpie-data.
if port_in_use 8283; then
    echo "NOTE: port 8283 is busy on this machine; the no-flag case cannot run here"
else
    mkdir -p "$work/default" && cd "$work/default"
    "$kelpie" serve > log 2>&1 &
    pid=$!; pids+=("$pid")
    if body=$(wait_health http://127.0.0.1:8283/v1/health); then
        [[ "$body" == '{"status":"ok","version":"'*'","store":"rocksdb"}' ]] && pass "defaults: health $body" || fail "defaults: body $body"
    else
        fail "defaults: no health answer within 5 s"; cat log
    fi
    [ -d "$work/default/kelpie-data" ] && pass "defaults: ./kelpie-data created" || fail "defaults: no ./kelpie-data"
    [ -f "$work/default/kelpie-data/store/CURRENT" ] && pass "defaults: RocksDB store in ./kelpie-data/store" || fail "defaults: no RocksDB store"
    grep -q "listening on http://127.0.0.1:8283 with data in $work/default/kelpie-data (store: rocksdb" log \
        && pass "defaults: start-up line names address and data dir" || { fail "defaults: start-up line"; cat log; }
    stop_with TERM "$pid"
    [ "$code" = 0 ] && pass "defaults: SIGTERM exits 0" || fail "defaults: SIGTERM gave $code"
    cd "$work"
fi

# 2. Flags, trailing slash, SIGINT.
port=$(free_port)
"$kelpie" serve --host 127.0.0.1 --port "$port" --data-dir "$work/flags-data" > "$work/flags.log" 2>&1 &
pid=$!; pids+=("$pid")
if body=$(wait_health "http://127.0.0.1:$port/v1/health/"); then pass "flags: /v1/health/ $body"; else fail "flags: no answer"; cat "$work/flags.log"; fi
[ -d "$work/flags-data" ] && pass "flags: --data-dir created" || fail "flags: --data-dir missing"
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/unknown")
[ "$status" = 404 ] && pass "flags: unknown path 404" || fail "flags: unknown path gave $status"

# 3a. A second server on the same data dir: the store's lock refuses it clearly.
set +e
"$kelpie" serve --port 0 --data-dir "$work/flags-data" > "$work/locked.log" 2>&1
rc=$?
set -e
[ $rc = 1 ] && grep -q "cannot open the store: .*lock" "$work/locked.log" \
    && pass "data dir in use: exit 1, names the lock" || { fail "data dir in use: rc=$rc"; cat "$work/locked.log"; }

# 3b. The same port again: clear error, exit 1, first server unharmed.
set +e
"$kelpie" serve --port "$port" --data-dir "$work/second" > "$work/second.log" 2>&1
rc=$?
set -e
[ $rc = 1 ] && grep -q "cannot listen on 127.0.0.1:$port" "$work/second.log" \
    && pass "port in use: exit 1 with a clear message" || { fail "port in use: rc=$rc"; cat "$work/second.log"; }
stop_with INT "$pid"
[ "$code" = 0 ] && pass "flags: SIGINT exits 0" || fail "flags: SIGINT gave $code"

# 4. Environment variables.
port=$(free_port)
KELPIE_PORT=$port KELPIE_DATA_DIR="$work/env-data" "$kelpie" serve > "$work/env.log" 2>&1 &
pid=$!; pids+=("$pid")
if wait_health "http://127.0.0.1:$port/v1/health" > /dev/null; then pass "env: KELPIE_PORT honoured"; else fail "env: no answer"; cat "$work/env.log"; fi
[ -d "$work/env-data" ] && pass "env: KELPIE_DATA_DIR honoured" || fail "env: data dir missing"
stop_with TERM "$pid"
[ "$code" = 0 ] && pass "env: SIGTERM exits 0" || fail "env: SIGTERM gave $code"

# 5. Data survives a restart: write through the store... (the API that writes arrives with the
# agent server; until then the store's own durability tests cover this).
# 6. --store memory and a bad --store.
port=$(free_port)
"$kelpie" serve --port "$port" --data-dir "$work/mem" --store memory > "$work/mem.log" 2>&1 &
pid=$!; pids+=("$pid")
if body=$(wait_health "http://127.0.0.1:$port/v1/health"); then
    [[ "$body" == *'"store":"memory"'* ]] && pass "--store memory: $body" || fail "--store memory: $body"
else
    fail "--store memory: no answer"; cat "$work/mem.log"
fi
stop_with TERM "$pid"
set +e
"$kelpie" serve --port 0 --data-dir "$work/bogus" --store bogus > "$work/bogus.log" 2>&1
rc=$?
set -e
[ $rc = 1 ] && grep -q "unknown --store 'bogus'" "$work/bogus.log" && pass "bad --store: clear error" || { fail "bad --store rc=$rc"; cat "$work/bogus.log"; }

# 7. A data dir that cannot be created: clear error, exit 1.
touch "$work/a-file"
set +e
"$kelpie" serve --port 0 --data-dir "$work/a-file/sub" > "$work/bad.log" 2>&1
rc=$?
set -e
[ $rc = 1 ] && grep -q "cannot use data directory" "$work/bad.log" \
    && pass "bad data dir: exit 1 with a clear message" || { fail "bad data dir: rc=$rc"; cat "$work/bad.log"; }

# 7b. An unreadable --tls-ca-file (trusted CAs for https model endpoints): clear error, exit 1.
set +e
"$kelpie" serve --port 0 --data-dir "$work/tls" --tls-ca-file "$work/no-such-ca.pem" > "$work/tls.log" 2>&1
rc=$?
set -e
[ $rc = 1 ] && grep -q -- "--tls-ca-file: .*no-such-ca.pem" "$work/tls.log" \
    && pass "bad --tls-ca-file: exit 1 naming the file" || { fail "bad --tls-ca-file: rc=$rc"; cat "$work/tls.log"; }

# 8. The node: registered as 'local' (or --node-id); killed with SIGKILL, it restarts on the same
# data dir at once (it takes over its dead predecessor's node lease instead of waiting it out).
port=$(free_port)
"$kelpie" serve --port "$port" --data-dir "$work/node" > "$work/node1.log" 2>&1 &
pid=$!; pids+=("$pid")
if wait_health "http://127.0.0.1:$port/v1/health" > /dev/null; then
    grep -q "; node local)" "$work/node1.log" && pass "node: registered as 'local'" || { fail "node id"; cat "$work/node1.log"; }
else
    fail "node: no answer"; cat "$work/node1.log"
fi
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
"$kelpie" serve --port "$port" --data-dir "$work/node" --node-id n-42 > "$work/node2.log" 2>&1 &
pid=$!; pids+=("$pid")
if wait_health "http://127.0.0.1:$port/v1/health" > /dev/null; then
    grep -q "; node n-42)" "$work/node2.log" && pass "node: restarted after SIGKILL, --node-id honoured" \
        || { fail "node: --node-id"; cat "$work/node2.log"; }
else
    fail "node: no answer after a SIGKILL restart"; cat "$work/node2.log"
fi
stop_with TERM "$pid"
[ "$code" = 0 ] && pass "node: SIGTERM exits 0 (actors stopped, lease given up)" || fail "node: SIGTERM gave $code"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
