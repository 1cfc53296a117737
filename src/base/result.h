#pragma once

// Expected failures are values: public module APIs return [[nodiscard]] Result<T>.
//
// An ErrorCode exists only where some caller reacts to it differently (retry on `conflict`, retry
// idempotently on `unknown_result`, re-route on `not_owner`, stop on `fenced`, 4xx on
// `invalid_argument`, ...). Details go into the message, not into new codes.

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/assert.h"

namespace kelpie {

enum class ErrorCode {
    invalid_argument,  // The caller's input is malformed or out of range (HTTP 400/422).
    not_found,         // The named thing does not exist (HTTP 404).
    already_exists,    // Creating something that exists (HTTP 409).
    limit_exceeded,    // A named limit (size, count, depth) was hit; the message names it.
    timeout,           // A deadline passed before the operation finished.
    cancelled,         // The operation was cancelled by its caller.
    closed,            // The object was closed or is shutting down; no new work accepted.
    unavailable,       // Temporarily unreachable (network, store); retry later.
    conflict,          // Optimistic transaction conflict; retry from the start.
    unknown_result,    // The operation may or may not have taken effect; retry idempotently.
    fenced,            // A stale owner tried to write; it must stop.
    not_owner,         // Another node owns the actor now; route the call there.
    lease_expired,     // The lease named is gone (expired or revoked); stop acting on it.
    io_error,          // The operating system reported an error (disk, socket).
    corruption,        // Stored or received bytes failed validation.
    internal,          // A bug or an unexpected state; see the message.
    // The object is not in a state that allows the operation now (an agent waiting for a tool
    // approval, a conversation busy with another request): HTTP 409. (Last: stored codes keep
    // their numbers.)
    failed_precondition,
};

// A short stable name for logs and wire formats, e.g. "not_found".
std::string_view error_code_name(ErrorCode code);

struct [[nodiscard]] Error {
    ErrorCode code;
    std::string message;

    Error(ErrorCode c, std::string m) : code(c), message(std::move(m)) {}

    // "not_found: agent agent-123 does not exist"
    std::string to_string() const;
};

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
    Result(Error error) : storage_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

    bool ok() const { return storage_.index() == 0; }
    explicit operator bool() const { return ok(); }

    // REQUIRES: ok().
    T& value() & {
        KELPIE_ASSERT(ok());
        return std::get<0>(storage_);
    }
    const T& value() const& {
        KELPIE_ASSERT(ok());
        return std::get<0>(storage_);
    }
    T&& value() && {
        KELPIE_ASSERT(ok());
        return std::get<0>(std::move(storage_));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    // REQUIRES: !ok().
    const Error& error() const& {
        KELPIE_ASSERT(!ok());
        return std::get<1>(storage_);
    }
    Error&& error() && {
        KELPIE_ASSERT(!ok());
        return std::get<1>(std::move(storage_));
    }
    ErrorCode code() const { return error().code; }

    T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

private:
    std::variant<T, Error> storage_;
};

// Result<void>: success carries nothing.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), has_error_(true) {}  // NOLINT: implicit

    bool ok() const { return !has_error_; }
    explicit operator bool() const { return ok(); }

    const Error& error() const& {
        KELPIE_ASSERT(has_error_);
        return error_;
    }
    Error&& error() && {
        KELPIE_ASSERT(has_error_);
        return std::move(error_);
    }
    ErrorCode code() const { return error().code; }

private:
    Error error_{ErrorCode::internal, {}};
    bool has_error_ = false;
};

using Status = Result<void>;

inline Status ok_status() { return {}; }

// Propagates an error from an expression returning Result<...>:
//   KELPIE_TRY(store.check(x));
#define KELPIE_TRY(expression)                            \
    do {                                                  \
        auto kelpie_try_result_ = (expression);           \
        if (!kelpie_try_result_.ok()) {                   \
            return std::move(kelpie_try_result_).error(); \
        }                                                 \
    } while (false)

// The same in a coroutine: KELPIE_CO_TRY(co_await t.commit());
#define KELPIE_CO_TRY(expression)                            \
    do {                                                     \
        auto kelpie_try_result_ = (expression);              \
        if (!kelpie_try_result_.ok()) {                      \
            co_return std::move(kelpie_try_result_).error(); \
        }                                                    \
    } while (false)

// Declares a variable from a Result's value, or propagates its error:
//   KELPIE_TRY_ASSIGN(Tuple t, Tuple::unpack(bytes));
//   KELPIE_CO_TRY_ASSIGN(auto kv, co_await t.get(key));   // in a coroutine
#define KELPIE_TRY_CONCAT_INNER(a, b) a##b
#define KELPIE_TRY_CONCAT(a, b) KELPIE_TRY_CONCAT_INNER(a, b)
#define KELPIE_TRY_ASSIGN_IMPL(tmp, decl, expression, ret) \
    auto tmp = (expression);                               \
    if (!tmp.ok()) {                                       \
        ret std::move(tmp).error();                        \
    }                                                      \
    decl = std::move(tmp).value()
#define KELPIE_TRY_ASSIGN(decl, expression) \
    KELPIE_TRY_ASSIGN_IMPL(KELPIE_TRY_CONCAT(kelpie_try_, __LINE__), decl, expression, return)
#define KELPIE_CO_TRY_ASSIGN(decl, expression) \
    KELPIE_TRY_ASSIGN_IMPL(KELPIE_TRY_CONCAT(kelpie_try_, __LINE__), decl, expression, co_return)

}  // namespace kelpie
