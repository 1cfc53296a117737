#pragma once

// Structured combinators over Task: each one returns only after every task it started has finished,
// so no task outlives the frame that owns it.
//
//   when_all(tasks)            all of them; the first exception cancels the rest and is rethrown.
//   when_any(tasks)            the first to finish wins; the rest are cancelled and awaited.
//   with_timeout(ex, d, task)  the task's value, or ErrorCode::timeout if it did not finish in d.
//   with_cancellation(t, task) the task, cancelled when token t is.

#include <optional>
#include <tuple>
#include <vector>

#include "base/result.h"
#include "io/cancel.h"
#include "io/executor.h"
#include "io/task.h"

namespace kelpie::io {

namespace detail {

// The value a branch produces: void becomes std::monostate so it can be stored.
template <typename T>
using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// Counts running branches; resumes the parent when the last one finishes.
struct JoinState {
    size_t remaining = 1;  // the parent holds one count until it has started every branch
    std::coroutine_handle<> parent;
    CancelScope scope;     // every branch runs in it; linked to the parent's scope

    static std::coroutine_handle<> branch_done(void* data) {
        auto* self = static_cast<JoinState*>(data);
        KELPIE_ASSERT(self->remaining > 0);
        self->remaining--;
        if (self->remaining == 0 && self->parent) {
            return self->parent;
        }
        return std::noop_coroutine();
    }

    // Awaited by the parent after starting every branch: drops the parent's count and waits.
    auto wait() {
        struct Awaiter {
            JoinState* join;
            bool await_ready() {
                KELPIE_ASSERT(join->remaining > 0);
                join->remaining--;
                return join->remaining == 0;
            }
            void await_suspend(std::coroutine_handle<> h) { join->parent = h; }
            void await_resume() {}
        };
        return Awaiter{this};
    }
};

template <typename T>
struct BranchResult {
    std::optional<Stored<T>> value;
    std::exception_ptr error;
};

// Runs one branch to completion, records its outcome, and calls `on_finish` (which may cancel the
// group) before the join count drops.
template <typename T, typename OnFinish>
DetachedTask run_branch(Task<T> task, BranchResult<T>* out, OnFinish on_finish) {
    try {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(task);
            out->value.emplace();
        } else {
            out->value.emplace(co_await std::move(task));
        }
    } catch (...) {
        out->error = std::current_exception();
    }
    on_finish();
}

template <typename T, typename OnFinish>
void start_branch(JoinState& join, Task<T> task, BranchResult<T>* out, OnFinish on_finish) {
    DetachedTask runner = run_branch(std::move(task), out, std::move(on_finish));
    runner.handle.promise().scope = &join.scope;
    runner.handle.promise().on_done = &JoinState::branch_done;
    runner.handle.promise().on_done_data = &join;
    join.remaining++;
    runner.handle.resume();
}

inline bool is_cancelled_error(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const Cancelled&) {
        return true;
    } catch (...) {
        return false;
    }
}

// After a group finished: rethrows the first real (non-Cancelled) error; else, if any branch was
// cancelled, rethrows Cancelled.
template <typename Results>
void rethrow_group_error(const Results& results) {
    std::exception_ptr cancelled;
    for (const auto& r : results) {
        if (r.error) {
            if (!is_cancelled_error(r.error)) {
                std::rethrow_exception(r.error);
            }
            cancelled = r.error;
        }
    }
    if (cancelled) {
        std::rethrow_exception(cancelled);
    }
}

}  // namespace detail

// Runs every task concurrently (each starts inline, in order, until its first suspension) and
// returns their values in order. If one throws, the others are cancelled; after all have finished,
// the first non-Cancelled exception is rethrown.
template <typename T>
Task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> when_all(
    std::vector<Task<T>> tasks) {
    detail::JoinState join;
    ScopeLink link(co_await current_scope(), &join.scope);
    std::vector<detail::BranchResult<T>> results(tasks.size());
    for (size_t i = 0; i < tasks.size(); i++) {
        detail::BranchResult<T>* out = &results[i];
        detail::start_branch(join, std::move(tasks[i]), out, [out, &join] {
            if (out->error) {
                join.scope.cancel();
            }
        });
    }
    co_await join.wait();
    detail::rethrow_group_error(results);
    if constexpr (!std::is_void_v<T>) {
        std::vector<T> values;
        values.reserve(results.size());
        for (auto& r : results) {
            values.push_back(std::move(*r.value));
        }
        co_return values;
    }
}

// Variadic form: when_all(a(), b()) returns std::tuple<A, B> (void becomes std::monostate).
template <typename... Ts>
Task<std::tuple<detail::Stored<Ts>...>> when_all(Task<Ts>... tasks) {
    detail::JoinState join;
    ScopeLink link(co_await current_scope(), &join.scope);
    std::tuple<detail::BranchResult<Ts>...> results;
    bool failed = false;
    auto start_all = [&]<size_t... I>(std::index_sequence<I...>, auto&... ts) {
        (detail::start_branch(join, std::move(ts), &std::get<I>(results),
                              [out = &std::get<I>(results), &join, &failed] {
                                  if (out->error) {
                                      failed = true;
                                      join.scope.cancel();
                                  }
                              }),
         ...);
    };
    start_all(std::index_sequence_for<Ts...>{}, tasks...);
    co_await join.wait();
    if (failed) {
        std::apply(
            [](auto&... r) {
                std::exception_ptr errors[] = {r.error...};
                std::vector<detail::BranchResult<int>> as_vector;
                for (auto& e : errors) {
                    as_vector.push_back({std::nullopt, e});
                }
                detail::rethrow_group_error(as_vector);
            },
            results);
    }
    co_return std::apply([](auto&... r) { return std::make_tuple(std::move(*r.value)...); },
                         results);
}

template <typename T>
struct WhenAnyResult {
    size_t index = 0;
    detail::Stored<T> value;
};

// Runs every task concurrently; the first to finish (with a value or an exception) wins, the others
// are cancelled, and once all have finished the winner's value is returned (or its exception
// rethrown). A loser that completed with a value in the same instant is dropped: do not race tasks
// whose results must not be lost (e.g. channel receives). REQUIRES: !tasks.empty().
template <typename T>
Task<WhenAnyResult<T>> when_any(std::vector<Task<T>> tasks) {
    KELPIE_ASSERT(!tasks.empty());
    detail::JoinState join;
    ScopeLink link(co_await current_scope(), &join.scope);
    std::vector<detail::BranchResult<T>> results(tasks.size());
    std::optional<size_t> winner;
    for (size_t i = 0; i < tasks.size(); i++) {
        detail::start_branch(join, std::move(tasks[i]), &results[i], [i, &winner, &join] {
            if (!winner.has_value()) {
                winner = i;
                join.scope.cancel();
            }
        });
    }
    co_await join.wait();
    KELPIE_ASSERT(winner.has_value());
    auto& r = results[*winner];
    if (r.error) {
        std::rethrow_exception(r.error);
    }
    co_return WhenAnyResult<T>{*winner, std::move(*r.value)};
}

namespace detail {
template <typename T>
struct TimeoutResult {
    using type = Result<T>;
};
template <typename U>
struct TimeoutResult<Result<U>> {
    using type = Result<U>;  // a task returning Result<U> keeps its type; timeout joins its errors
};

template <typename T>
struct TimeoutState {
    CancelScope* group = nullptr;
    bool timed_out = false;
    static void fire(void* data) {
        auto* self = static_cast<TimeoutState*>(data);
        self->timed_out = true;
        self->group->cancel();
    }
};
}  // namespace detail

// Runs `task`; if it has not finished `timeout` after the call, cancels it and, once it has
// finished, returns ErrorCode::timeout. If the task finished with a value despite the timer (it
// completed in the same instant), the value wins: nothing completed is ever dropped.
// A task returning Result<U> gives Result<U> (its own errors pass through).
template <typename T>
Task<typename detail::TimeoutResult<T>::type> with_timeout(Executor& executor, Duration timeout,
                                                           Task<T> task) {
    detail::JoinState join;
    ScopeLink link(co_await current_scope(), &join.scope);
    detail::TimeoutState<T> state;
    state.group = &join.scope;
    const TimerId timer =
        executor.start_timer(executor.now() + timeout, TimerCallback{&detail::TimeoutState<T>::fire,
                                                                      &state});
    detail::BranchResult<T> result;
    detail::start_branch(join, std::move(task), &result, [] {});
    co_await join.wait();
    executor.cancel_timer(timer);
    if (result.error) {
        if (state.timed_out && detail::is_cancelled_error(result.error)) {
            co_return Error(ErrorCode::timeout, "timed out after " + timeout.to_string());
        }
        std::rethrow_exception(result.error);
    }
    if constexpr (std::is_void_v<T>) {
        co_return Result<void>();
    } else {
        co_return std::move(*result.value);
    }
}

// Runs `task` in a scope that is cancelled when the caller's scope or `token` is.
template <typename T>
Task<T> with_cancellation(CancellationToken token, Task<T> task) {
    CancelScope scope;
    ScopeLink from_parent(co_await current_scope(), &scope);
    ScopeLink from_token(token.scope(), &scope);
    co_return co_await std::move(task).in_scope(&scope);
}

}  // namespace kelpie::io
