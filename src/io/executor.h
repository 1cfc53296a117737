#pragma once

// The Executor: where tasks run. It posts work, keeps timers, tells the time and owns a seeded
// random source. Two implementations: the real one on a Boost.Asio io_context (io/real_world.h) and
// the simulated one, a discrete-event loop in virtual time (io/sim_world.h). Code above io/ receives
// an Executor& and never reaches for the OS itself (docs/adr/0002-determinism-rule.md).
//
// An Executor is single-threaded: everything posted to it runs on one thread, one piece at a time,
// so tasks of one executor never run concurrently and need no locks. REQUIRES: all methods except
// post() are called from the executor's own thread; post() may be called from any thread on the
// real executor (not on the simulated one, which has only one thread).

#include <coroutine>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

#include "base/assert.h"
#include "base/strong_id.h"
#include "base/units.h"
#include "io/cancel.h"
#include "io/random.h"
#include "io/task.h"

namespace kelpie::io {

struct TimerIdTag {};
using TimerId = StrongId<TimerIdTag>;

// A timer's callback: a plain function and its argument, so starting a timer never allocates.
struct TimerCallback {
    void (*fn)(void* data) = nullptr;
    void* data = nullptr;
};

class SleepAwaiter;
class YieldAwaiter;

class Executor {
public:
    virtual ~Executor() = default;

    // Resumes `h` on this executor, after the work already due. `digest` describes the work for the
    // simulator's trace hash (use a stable value, never an address); the real executor ignores it.
    virtual void post(std::coroutine_handle<> h, uint64_t digest = 0) = 0;
    // Runs `fn` on this executor, after the work already due.
    virtual void post_function(std::function<void()> fn, uint64_t digest = 0) = 0;

    // This executor's monotonic time.
    virtual Instant now() const = 0;

    // Calendar time, for durable timestamps only (base/units.h WallTime). The simulated executor
    // starts it at sim_wall_epoch and moves it with the node's clock.
    virtual WallTime wall_now() const = 0;
    // Calls `callback` once, at or after `deadline`, unless cancelled first.
    virtual TimerId start_timer(Instant deadline, TimerCallback callback) = 0;
    // Returns true if the timer was pending (its callback will now never run); false if it already
    // ran or was cancelled.
    virtual bool cancel_timer(TimerId id) = 0;

    // The executor's seeded random source.
    virtual Random& random() = 0;

    // Brackets work under way on another thread that will post back here (io/blocking.h), so
    // that the real executor's loop does not conclude it has nothing left to do. Called on this
    // executor's thread; counted.
    virtual void external_work_started() {}
    virtual void external_work_finished() {}

    // Awaitables. Each throws Cancelled if the awaiting task's scope is cancelled while it waits.
    SleepAwaiter sleep_for(Duration d);
    SleepAwaiter sleep_until(Instant deadline);
    // Lets other ready work run, then resumes.
    YieldAwaiter yield();
};

class SleepAwaiter : private CancelScope::Waiter {
public:
    SleepAwaiter(Executor& executor, Instant deadline)
        : Waiter(&on_cancel), executor_(&executor), deadline_(deadline) {}

    bool await_ready() const noexcept { return false; }
    template <typename Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
        handle_ = h;
        return suspend(scope_of(h));
    }
    void await_resume() const {
        if (cancelled_) {
            throw Cancelled();
        }
    }

private:
    bool suspend(CancelScope* scope);
    static void on_fire(void* self);
    static void on_cancel(Waiter* self);

    Executor* executor_;
    Instant deadline_;
    TimerId timer_;
    std::coroutine_handle<> handle_;
    bool cancelled_ = false;
};

class YieldAwaiter {
public:
    explicit YieldAwaiter(Executor& executor) : executor_(&executor) {}
    bool await_ready() const noexcept { return false; }
    template <typename Promise>
    void await_suspend(std::coroutine_handle<Promise> h) {
        cancelled_ = scope_of(h) != nullptr && scope_of(h)->cancelled();
        executor_->post(h);
    }
    void await_resume() const {
        if (cancelled_) {
            throw Cancelled();
        }
    }

private:
    Executor* executor_;
    bool cancelled_ = false;
};

// `co_await resume_on(executor)` moves the awaiting coroutine onto `executor`: it continues there,
// after the work already due (a hop between simulated nodes or between shards). Not a
// cancellation point.
class ResumeOnAwaiter {
public:
    explicit ResumeOnAwaiter(Executor& executor) : executor_(&executor) {}
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) { executor_->post(h); }
    void await_resume() const noexcept {}

private:
    Executor* executor_;
};
inline ResumeOnAwaiter resume_on(Executor& executor) { return ResumeOnAwaiter(executor); }

inline SleepAwaiter Executor::sleep_for(Duration d) { return SleepAwaiter(*this, now() + d); }
inline SleepAwaiter Executor::sleep_until(Instant deadline) { return SleepAwaiter(*this, deadline); }
inline YieldAwaiter Executor::yield() { return YieldAwaiter(*this); }

// Starts `task` on `executor` (from a post, not inline) and lets it run to completion on its own,
// in a fresh scope cancelled by `token`. A Cancelled exception ends it quietly; any other exception
// escaping it is a bug and stops the process with the exception's message.
void spawn(Executor& executor, Task<void> task, CancellationToken token = {});

// Something that can run one unit of work of an executor: SimWorld and RealWorld.
template <typename D>
concept Driver = requires(D& d) {
    { d.run_one() } -> std::same_as<bool>;
};

namespace detail {
template <typename T>
struct BlockOnState {
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
    std::exception_ptr error;
};
template <typename T>
Task<void> block_on_body(Task<T> task, BlockOnState<T>* state) {
    try {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(task);
            state->value = true;
        } else {
            state->value.emplace(co_await std::move(task));
        }
    } catch (...) {
        state->error = std::current_exception();
    }
}
}  // namespace detail

// Runs `task` on `executor`, driving `driver` until the task completes, and returns its value (or
// rethrows its exception). Other work keeps running while it waits. If the driver runs out of work
// before the task completes, the task can never finish: that is a deadlock, and it asserts.
template <typename T, Driver D>
T block_on(D& driver, Executor& executor, Task<T> task) {
    detail::BlockOnState<T> state;
    spawn(executor, detail::block_on_body(std::move(task), &state));
    while (!state.value.has_value() && !state.error) {
        KELPIE_ASSERT_MSG(driver.run_one(), "block_on: no work left but the task is not done");
    }
    if (state.error) {
        std::rethrow_exception(state.error);
    }
    if constexpr (!std::is_void_v<T>) {
        return std::move(*state.value);
    }
}

}  // namespace kelpie::io
