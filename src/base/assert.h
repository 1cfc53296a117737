#pragma once

// The one assertion macro. KELPIE_ASSERT stays on in every build type: a broken invariant stops the
// process with the expression, file and line (and the simulation seed, when one is running) rather
// than letting it go on with corrupt state. Use it for programmer errors only; never on external
// input (HTTP bodies, stored bytes, peer messages), which must be validated into a Result instead.
//
// Write one condition per assertion: KELPIE_ASSERT(a); KELPIE_ASSERT(b); — not (a && b) — so the
// message says which one failed. For implications: if (a) { KELPIE_ASSERT(b); }

namespace kelpie {

// Prints the failure with the current assertion context (see set_assert_context) and aborts.
[[noreturn]] void assert_fail(const char* expression, const char* file, int line,
                              const char* message = nullptr);

// A function that describes the running context, e.g. "seed=42 time=1.250s"; the simulator
// installs one so that every assertion failure names the seed that reproduces it. Pass nullptr to
// remove it. The function and its data must outlive the installation.
using AssertContextFn = void (*)(void* data, char* buffer, int buffer_size);
void set_assert_context(AssertContextFn fn, void* data);

}  // namespace kelpie

#define KELPIE_ASSERT(condition)                                    \
    do {                                                            \
        if (!(condition)) [[unlikely]] {                            \
            ::kelpie::assert_fail(#condition, __FILE__, __LINE__);  \
        }                                                           \
    } while (false)

#define KELPIE_ASSERT_MSG(condition, message)                                \
    do {                                                                     \
        if (!(condition)) [[unlikely]] {                                     \
            ::kelpie::assert_fail(#condition, __FILE__, __LINE__, message);  \
        }                                                                    \
    } while (false)

// Marks code that must never run (e.g. after an exhaustive switch).
#define KELPIE_UNREACHABLE() ::kelpie::assert_fail("unreachable", __FILE__, __LINE__)
