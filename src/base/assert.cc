#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace kelpie {
namespace {

// Installed by the simulator (single-threaded) or left empty. Not a hidden world dependency: it
// only adds text to a crash report.
AssertContextFn context_fn = nullptr;
void* context_data = nullptr;

}  // namespace

void set_assert_context(AssertContextFn fn, void* data) {
    context_fn = fn;
    context_data = data;
}

void assert_fail(const char* expression, const char* file, int line, const char* message) {
    char context[256] = {0};
    if (context_fn != nullptr) {
        context_fn(context_data, context, sizeof(context));
    }
    std::fprintf(stderr, "kelpie: assertion failed: %s%s%s\n  at %s:%d%s%s\n", expression,
                 message != nullptr ? " — " : "", message != nullptr ? message : "", file, line,
                 context[0] != 0 ? "\n  context: " : "", context);
    std::fflush(stderr);
    std::abort();
}

}  // namespace kelpie
