#!/usr/bin/env bash
# Goal: on RocksDB, every acknowledged commit survives SIGKILL at any moment, and damaged data
# files give a clear error, never a crash.
# Method: (1) five rounds: a child commits in a loop with 8 concurrent writers, printing each acked
# key; it is SIGKILLed after a random 0.2-1.5 s; a fresh process reopens the directory and checks
# every acked key. (2) corruption: truncate the MANIFEST, garble CURRENT, flip bytes in every table
# file — each must make `open` or the reads fail with exit 2 and an "error:" line naming the
# problem (exit codes >= 128 would mean the process crashed).
set -uo pipefail
child=${1:?usage: durability_test.sh path/to/durability_child}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
passed=0; failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

for round in 1 2 3 4 5; do
    dir="$work/kill$round"
    mkdir -p "$dir"
    "$child" commit "$dir/db" > "$dir.acked" 2> "$dir.err" &
    pid=$!; pids+=("$pid")
    delay_ms=$((200 + RANDOM % 1300))
    sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
    kill -KILL "$pid"; wait "$pid" 2>/dev/null
    acked=$(grep -c '^acked ' "$dir.acked")
    out=$("$child" verify "$dir/db" "$dir.acked"); rc=$?
    if [ $rc = 0 ] && [ "$acked" -gt 0 ]; then
        pass "round $round: killed after ${delay_ms}ms; $out"
    else
        fail "round $round: $acked acked, verify rc=$rc: $out"; tail -3 "$dir.err"
    fi
done

# Corruption. Make a database with table files: commit for a while, stop cleanly (SIGKILL would
# leave everything in the WAL; the clean path flushes on close).
base="$work/base"
mkdir -p "$base"
"$child" commit "$base/db" > "$base.acked" 2>/dev/null &
pid=$!; pids+=("$pid")
sleep 1
kill -KILL "$pid"; wait "$pid" 2>/dev/null
"$child" open "$base/db" > /dev/null  # a clean open + close flushes the WAL into table files
ls "$base/db"/*.sst > /dev/null 2>&1 && pass "setup: table files exist" || fail "setup: no table files"

# expect_clear_error NAME DIR PATTERN: opening or reading DIR fails with exit 2 and an error line
# matching PATTERN (which names what is wrong).
expect_clear_error() {
    local name=$1 dir=$2 pattern=$3
    out=$("$child" open "$dir" 2>&1); rc=$?
    if [ $rc = 2 ] && grep -E -q "^error: (corruption|io_error): .*($pattern)" <<< "$out"; then
        pass "$name: clear error: $(head -c 160 <<< "$out")"
    else
        fail "$name: rc=$rc (>=128 means a crash): $(head -c 300 <<< "$out")"
    fi
}

cp -r "$base" "$work/manifest"
m=$(ls "$work/manifest/db"/MANIFEST-* | head -1)
size=$(stat -c %s "$m")
printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' | dd of="$m" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect_clear_error "garbled MANIFEST" "$work/manifest/db" "Corruption|MANIFEST"
# Known limit, not tested as a pass: a MANIFEST *truncated* at a record boundary reads as a shorter
# valid log, and RocksDB may open an older state without an error (see docs/adr/0004).

cp -r "$base" "$work/current"
echo "MANIFEST-999999" > "$work/current/db/CURRENT"
expect_clear_error "CURRENT names a missing manifest" "$work/current/db" "MANIFEST-999999"

cp -r "$base" "$work/sst"
for f in "$work/sst/db"/*.sst; do
    size=$(stat -c %s "$f")
    printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' | dd of="$f" bs=1 seek=$((size / 3)) conv=notrunc status=none
done
expect_clear_error "garbled table file" "$work/sst/db" "Corruption|checksum|sst"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
