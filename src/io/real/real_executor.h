#pragma once

// The real Executor: one Boost.Asio io_context, run by one thread.

#include <chrono>
#include <memory>
#include <optional>
#include <unordered_map>

#include <boost/asio.hpp>

#include "io/executor.h"

namespace kelpie::io::real {

class RealExecutor final : public Executor {
public:
    RealExecutor(boost::asio::io_context& context, uint64_t seed);

    void post(std::coroutine_handle<> h, uint64_t digest = 0) override;
    void post_function(std::function<void()> fn, uint64_t digest = 0) override;
    Instant now() const override;
    WallTime wall_now() const override;
    TimerId start_timer(Instant deadline, TimerCallback callback) override;
    bool cancel_timer(TimerId id) override;
    Random& random() override { return random_; }
    void external_work_started() override;
    void external_work_finished() override;

    boost::asio::io_context& context() { return context_; }

private:
    struct Timer {
        boost::asio::steady_timer timer;
        TimerCallback callback;
    };

    boost::asio::io_context& context_;
    std::chrono::steady_clock::time_point origin_;
    Random random_;
    // Touched only on the executor's thread.
    std::unordered_map<uint64_t, std::unique_ptr<Timer>> timers_;
    uint64_t next_timer_id_ = 1;
    uint64_t external_work_ = 0;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
        external_guard_;
};

}  // namespace kelpie::io::real
