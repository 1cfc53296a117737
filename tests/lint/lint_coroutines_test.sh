#!/usr/bin/env bash
# Tests scripts/lint_coroutines on throwaway source trees: each planted miscompilation pattern
# (docs/adr/0001, g++ 12 bugs 2-4) is reported with its file, line and rule; near misses
# (comments and strings naming the patterns, digit separators, ?: in other statements, named
# locals awaited, reviewed exceptions) are not.
#
# Usage: tests/lint/lint_coroutines_test.sh [REPO_ROOT]   (REPO_ROOT defaults to this repo)
set -u

repo_root=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"}
lint="$repo_root/scripts/lint_coroutines"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# check NAME EXPECTED_RC EXPECTED_OUTPUT SOURCE: lints a tree holding src/a.cc = SOURCE.
check() {
    local name=$1 want_rc=$2 want_out=$3 source=$4
    rm -rf "$work/src" && mkdir -p "$work/src"
    printf '%s\n' "$source" > "$work/src/a.cc"
    local out rc
    out=$("$lint" "$work" 2>&1)
    rc=$?
    if [ "$rc" = "$want_rc" ] && [ "$(cut -d: -f1-3 <<<"$out")" = "$want_out" ]; then
        echo "PASS: $name"
        passed=$((passed + 1))
    else
        echo "FAIL: $name (exit $rc, want $want_rc)"
        sed 's/^/    | /' <<<"$out"
        failed=$((failed + 1))
    fi
}

check "co_await in both arms of ?:" 1 "src/a.cc:2: ternary-await" \
'io::Task<int> f(bool c) {
    co_return c ? co_await a() : co_await b();
}'
check "?: among the arguments of an awaited call" 1 "src/a.cc:3: ternary-await" \
'io::Task<void> f(bool keyed) {
    std::string op = "x";
    co_await rpc(1, keyed ? op : "");
}'
check "an aggregate temporary awaited" 1 "src/a.cc:2: temporary-await" \
'io::Task<void> f() {
    co_await Awaiter{&x, grpc::Status()};
}'
check "a lambda written inside the awaited call" 1 "src/a.cc:3: lambda-await" \
'io::Task<void> f(std::string name) {
    auto r =
        co_await run_transaction(ex, store, [name](Transaction& t) -> io::Task<int> { co_return 1; });
}'
check "near misses are clean" 0 "" \
'// co_await x ? a : b; and co_await T{} in a comment
io::Task<void> f(bool c) {
    const int n = c ? 20'"'"'000 : 1;  /* co_await y ? 1 : 2 */
    const char* s = "co_await z ? [](){} : T{}";
    TransactionBody<int> body = [n](Transaction& t) -> io::Task<int> { co_return n; };
    co_await run_transaction(ex, store, body);
    Awaiter named{&x};
    co_await named;
    auto m = std::map<int, int>{};
    co_await g(m[0], s);
}'
check "a reviewed exception, on the line or the line above" 0 "" \
'io::Task<void> f() {
    co_await Done{&commit};  // lint: allow(temporary-await)
    // lint: allow(lambda-await)
    co_await run_blocking(ex, pool, [&k] { return k; });
}'
check "an exception names its rule only" 1 "src/a.cc:2: temporary-await" \
'io::Task<void> f() {
    co_await Done{&commit};  // lint: allow(lambda-await)
}'

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
