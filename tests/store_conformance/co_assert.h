#pragma once

// gtest's ASSERT_* macros `return`, which a coroutine cannot; these `co_return` instead.

#include <gtest/gtest.h>

#define CO_ASSERT(condition)                                  \
    do {                                                      \
        if (!(condition)) {                                   \
            ADD_FAILURE() << "assertion failed: " #condition; \
            co_return;                                        \
        }                                                     \
    } while (false)

#define CO_ASSERT_OK(result)                                                      \
    do {                                                                          \
        if (!(result).ok()) {                                                     \
            ADD_FAILURE() << #result " failed: " << (result).error().to_string(); \
            co_return;                                                            \
        }                                                                         \
    } while (false)
