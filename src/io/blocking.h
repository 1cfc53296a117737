#pragma once

// Running blocking calls (RocksDB, synchronous gRPC) without stalling an executor: the call runs on
// a BlockingPool thread and the awaiting task resumes on its own executor afterwards.
//
//   Result<Value> v = co_await io::run_blocking(executor, pool, [&] { return db->get(key); });
//
// The function must not touch executor-owned state (it runs on another thread); capture what it
// needs by value or by reference to data the awaiting task keeps alive (its frame does: the task is
// suspended until the function returns). Not cancellable: a cancelled task still waits for the
// call to finish, then sees Cancelled at its next suspension point.

#include <exception>
#include <functional>
#include <optional>
#include <type_traits>

#include "io/executor.h"
#include "io/task.h"

namespace kelpie::io {

class BlockingPool {
public:
    virtual ~BlockingPool() = default;
    // Runs `work` on some pool thread, eventually. Thread-safe.
    virtual void submit(std::function<void()> work) = 0;
};

// Runs work at once, on the calling thread: for tests and the simulator, where determinism matters
// more than not blocking (the simulated world has no other thread to block).
class InlineBlockingPool final : public BlockingPool {
public:
    void submit(std::function<void()> work) override { work(); }
};

namespace detail {
template <typename R>
struct BlockingAwaiter {
    Executor* executor;
    BlockingPool* pool;
    std::function<R()> fn;
    std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> value;
    std::exception_ptr error;

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
        executor->external_work_started();
        pool->submit([this, h] {
            try {
                if constexpr (std::is_void_v<R>) {
                    fn();
                    value.emplace(true);
                } else {
                    value.emplace(fn());
                }
            } catch (...) {
                error = std::current_exception();
            }
            executor->post(h);
        });
    }
    R await_resume() {
        executor->external_work_finished();
        if (error) {
            std::rethrow_exception(error);
        }
        if constexpr (!std::is_void_v<R>) {
            return std::move(*value);
        }
    }
};
}  // namespace detail

template <typename F>
auto run_blocking(Executor& executor, BlockingPool& pool, F fn) {
    using R = std::invoke_result_t<F&>;
    return detail::BlockingAwaiter<R>{&executor, &pool, std::function<R()>(std::move(fn)), {}, {}};
}

}  // namespace kelpie::io
