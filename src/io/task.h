#pragma once

// Task<T>: the project's coroutine type. Every asynchronous function returns one.
//
// - Lazy: calling a coroutine creates the task but runs nothing; the body starts when the task is
//   awaited (inline, by symmetric transfer) or handed to spawn() / when_all() / block_on().
// - Single-shot and move-only: await it once. Destroying a task that never started frees its frame.
//   REQUIRES: a started task is never destroyed before it completes (structured concurrency: the
//   awaiting coroutine, a when_all, or spawn owns it until the end).
// - Exceptions thrown in the body propagate to the awaiter; expected failures travel as
//   Result<T> values (base/result.h). Cancellation arrives as the Cancelled exception (cancel.h).
// - The awaiting task's CancelScope is inherited by the awaited task.
//
// Coroutines take parameters by value (or copy them before the first co_await); lambda coroutines
// never capture by reference (the lambda object dies before the task runs).

#include <coroutine>
#include <cstddef>
#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

#include "base/assert.h"
#include "io/cancel.h"

namespace kelpie::io {

namespace detail {
// Coroutine frames come from a per-thread cache of freed frames, by size (frame_allocator.cc):
// nearly every asynchronous call creates a task, and the heap's allocate and free were a fifth of
// a small store transaction on the memory backend.
void* allocate_frame(std::size_t bytes);
void free_frame(void* frame, std::size_t bytes) noexcept;
}  // namespace detail

// State shared by every promise type of the project; awaitables reach it through their awaiter's
// handle to find the cancellation scope.
struct PromiseBase {
    std::coroutine_handle<> continuation = std::noop_coroutine();
    CancelScope* scope = nullptr;

    static void* operator new(std::size_t bytes) { return detail::allocate_frame(bytes); }
    static void operator delete(void* frame, std::size_t bytes) noexcept {
        detail::free_frame(frame, bytes);
    }
};

// The cancellation scope of the coroutine `h`, or null if it has none (a foreign coroutine type).
template <typename Promise>
CancelScope* scope_of(std::coroutine_handle<Promise> h) {
    if constexpr (std::is_base_of_v<PromiseBase, Promise>) {
        return h.promise().scope;
    } else {
        return nullptr;
    }
}

template <typename T = void>
class Task;

namespace detail {

struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <typename Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) const noexcept {
        return h.promise().continuation;
    }
    void await_resume() const noexcept {}
};

template <typename T>
struct TaskPromise : PromiseBase {
    std::variant<std::monostate, T, std::exception_ptr> result;

    Task<T> get_return_object() noexcept;
    std::suspend_always initial_suspend() const noexcept { return {}; }
    FinalAwaiter final_suspend() const noexcept { return {}; }
    template <typename U>
        requires std::is_convertible_v<U&&, T>
    void return_value(U&& value) {
        result.template emplace<1>(std::forward<U>(value));
    }
    void unhandled_exception() noexcept { result.template emplace<2>(std::current_exception()); }

    T take() {
        if (result.index() == 2) {
            std::rethrow_exception(std::get<2>(result));
        }
        KELPIE_ASSERT(result.index() == 1);
        return std::move(std::get<1>(result));
    }
};

template <>
struct TaskPromise<void> : PromiseBase {
    std::exception_ptr error;
    bool done = false;

    Task<void> get_return_object() noexcept;
    std::suspend_always initial_suspend() const noexcept { return {}; }
    FinalAwaiter final_suspend() const noexcept { return {}; }
    void return_void() noexcept { done = true; }
    void unhandled_exception() noexcept { error = std::current_exception(); }

    void take() {
        if (error) {
            std::rethrow_exception(error);
        }
        KELPIE_ASSERT(done);
    }
};

}  // namespace detail

template <typename T>
class [[nodiscard]] Task {
public:
    using promise_type = detail::TaskPromise<T>;
    using Handle = std::coroutine_handle<promise_type>;
    using value_type = T;

    Task() = default;
    explicit Task(Handle h) : handle_(h) {}
    Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            destroy();
            handle_ = std::exchange(other.handle_, {});
        }
        return *this;
    }
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    ~Task() { destroy(); }

    bool valid() const { return static_cast<bool>(handle_); }

    // Awaiting runs the task inline until its first suspension and resumes the awaiter when it
    // completes, returning its value or rethrowing its exception.
    auto operator co_await() && noexcept { return Awaiter{handle_, nullptr, false}; }
    auto operator co_await() & noexcept { return Awaiter{handle_, nullptr, false}; }

    // Like awaiting, but the task runs in `scope` instead of the awaiter's scope.
    auto in_scope(CancelScope* scope) && noexcept { return Awaiter{handle_, scope, true}; }

    // For runners (spawn, when_all): releases ownership of the coroutine frame.
    Handle release() { return std::exchange(handle_, {}); }

private:
    struct Awaiter {
        Handle handle;
        CancelScope* scope;
        bool explicit_scope;

        bool await_ready() const noexcept { return false; }
        template <typename Promise>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> awaiter) noexcept {
            KELPIE_ASSERT(handle);
            KELPIE_ASSERT(!handle.done());
            handle.promise().continuation = awaiter;
            handle.promise().scope = explicit_scope ? scope : scope_of(awaiter);
            return handle;
        }
        T await_resume() { return handle.promise().take(); }
    };

    void destroy() {
        if (handle_) {
            handle_.destroy();
            handle_ = {};
        }
    }

    Handle handle_;
};

namespace detail {
template <typename T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
    return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
    return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}
}  // namespace detail

// Runs `task` to completion on the calling thread, for tasks that never suspend (e.g. opening an
// empty in-memory store). Asserts if the task suspends.
template <typename T>
T run_synchronously(Task<T> task) {
    auto handle = task.release();
    handle.resume();
    KELPIE_ASSERT_MSG(handle.done(), "run_synchronously: the task suspended");
    struct Destroy {
        std::coroutine_handle<typename Task<T>::promise_type> h;
        ~Destroy() { h.destroy(); }
    } destroy{handle};
    return handle.promise().take();
}

// `co_await current_scope()` gives the running task's CancelScope (possibly null). Never suspends.
struct CurrentScopeAwaiter {
    CancelScope* scope = nullptr;
    bool await_ready() const noexcept { return false; }
    template <typename Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
        scope = scope_of(h);
        return false;
    }
    CancelScope* await_resume() const noexcept { return scope; }
};
inline CurrentScopeAwaiter current_scope() { return {}; }

// `co_await check_cancelled()` throws Cancelled if the running task's scope is cancelled. For long
// computations that do not otherwise suspend.
struct CheckCancelledAwaiter {
    bool cancelled = false;
    bool await_ready() const noexcept { return false; }
    template <typename Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
        CancelScope* scope = scope_of(h);
        cancelled = scope != nullptr && scope->cancelled();
        return false;
    }
    void await_resume() const {
        if (cancelled) {
            throw Cancelled();
        }
    }
};
inline CheckCancelledAwaiter check_cancelled() { return {}; }

// A fire-and-forget coroutine that owns its own frame: it starts when resumed and destroys itself at
// the end. The building block of spawn() and the combinators; not for direct use.
struct DetachedTask {
    struct promise_type : PromiseBase {
        // Runs when the body has finished and the frame is freed; returns the coroutine to resume
        // next (by symmetric transfer), e.g. a joiner, or std::noop_coroutine().
        std::coroutine_handle<> (*on_done)(void* data) = nullptr;
        void* on_done_data = nullptr;

        DetachedTask get_return_object() noexcept {
            return DetachedTask{std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_always initial_suspend() const noexcept { return {}; }
        auto final_suspend() const noexcept {
            struct Final {
                bool await_ready() const noexcept { return false; }
                std::coroutine_handle<> await_suspend(
                    std::coroutine_handle<promise_type> h) const noexcept {
                    auto on_done = h.promise().on_done;
                    void* data = h.promise().on_done_data;
                    h.destroy();
                    return on_done != nullptr ? on_done(data) : std::noop_coroutine();
                }
                void await_resume() const noexcept {}
            };
            return Final{};
        }
        void return_void() noexcept {}
        // Detached bodies catch everything themselves; reaching here is a bug.
        void unhandled_exception() noexcept { KELPIE_UNREACHABLE(); }
    };
    std::coroutine_handle<promise_type> handle;
};

}  // namespace kelpie::io
