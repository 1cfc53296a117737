#!/usr/bin/env bash
# Goal: the structure checks can fail. Method: copy the source tree to a temp dir and plant
#  (1) an upward include (io including server/) -> CMake configure must fail naming the file;
#  (2) an undeclared link dependency (base calling a function defined in io) -> base's link test
#      must fail to link;
#  (3) a public header that is not self-contained -> base's header check must fail to compile;
# and check that the untouched copy passes all three.
set -uo pipefail
repo=${1:?usage: structure_test.sh REPO_ROOT}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

fresh_copy() {
    rm -rf "$work/tree" "$work/build"
    mkdir -p "$work/tree"
    (cd "$repo" && tar cf - CMakeLists.txt cmake src scripts examples) | (cd "$work/tree" && tar xf -)
}
configure() {
    cmake -S "$work/tree" -B "$work/build" -G Ninja -DKELPIE_BUILD_TESTS=OFF \
        -DKELPIE_BUILD_BENCH=OFF > "$work/configure.log" 2>&1
}

# Baseline: the real tree configures and base's checks build.
fresh_copy
if configure && cmake --build "$work/build" --target kelpie_base_link_test \
        kelpie_base_header_check > "$work/build.log" 2>&1; then
    pass "unmodified tree: configure, link test and header check succeed"
else
    fail "unmodified tree failed"; tail -n 20 "$work/configure.log" "$work/build.log"
fi

# (1) Upward include.
fresh_copy
sed -i '1i #include "server/http.h"' "$work/tree/src/io/cancel.cc"
if configure; then
    fail "upward include io -> server was not rejected"
elif grep -q "module 'io' includes 'server/'" "$work/configure.log"; then
    pass "upward include io -> server rejected at configure time"
else
    fail "configure failed for another reason"; tail -n 20 "$work/configure.log"
fi

# (2) Undeclared link dependency: base calls into io.
fresh_copy
cat >> "$work/tree/src/base/result.cc" <<'CC'
namespace kelpie::io { struct Address; }
namespace kelpie { void structure_test_uses_io(); void structure_test_uses_io() {
    extern int kelpie_io_symbol_for_structure_test(); (void)kelpie_io_symbol_for_structure_test(); } }
CC
cat >> "$work/tree/src/io/cancel.cc" <<'CC'
int kelpie_io_symbol_for_structure_test() { return 1; }
CC
if configure && ! cmake --build "$work/build" --target kelpie_base_link_test > "$work/build.log" 2>&1; then
    grep -q "undefined reference to .*kelpie_io_symbol_for_structure_test" "$work/build.log" \
        && pass "undeclared dependency base -> io fails base's link test" \
        || { fail "link test failed for another reason"; tail -n 20 "$work/build.log"; }
else
    fail "undeclared dependency base -> io was not caught"
fi

# (3) A public header that needs an include it does not have.
fresh_copy
printf '#pragma once\nstruct NotSelfContained { std::string s; };\n' > "$work/tree/src/base/broken.h"
if configure && ! cmake --build "$work/build" --target kelpie_base_header_check > "$work/build.log" 2>&1; then
    grep -q "broken.h" "$work/build.log" && pass "non-self-contained header fails the header check" \
        || { fail "header check failed for another reason"; tail -n 20 "$work/build.log"; }
else
    fail "non-self-contained header was not caught"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
