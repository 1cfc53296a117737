#pragma once

// Gate: tracks in-flight work of a service so that stop() can wait for it (Seastar's gate).
// Work enters with enter() and leaves by destroying the returned Holder. After close() starts,
// enter() fails with ErrorCode::closed; close() finishes once every holder is gone.

#include <coroutine>
#include <utility>

#include "base/result.h"
#include "io/executor.h"

namespace kelpie::io {

class Gate {
public:
    class Holder {
    public:
        Holder() = default;
        explicit Holder(Gate* gate) : gate_(gate) {}
        Holder(Holder&& other) noexcept : gate_(std::exchange(other.gate_, nullptr)) {}
        Holder& operator=(Holder&& other) noexcept {
            if (this != &other) {
                release();
                gate_ = std::exchange(other.gate_, nullptr);
            }
            return *this;
        }
        ~Holder() { release(); }
        void release() {
            if (gate_ != nullptr) {
                std::exchange(gate_, nullptr)->leave();
            }
        }

    private:
        Gate* gate_ = nullptr;
    };

    explicit Gate(Executor& executor) : executor_(&executor) {}
    Gate(const Gate&) = delete;
    Gate& operator=(const Gate&) = delete;
    // REQUIRES: no holder is alive (close() was awaited, or nothing ever entered).
    ~Gate() { KELPIE_ASSERT(count_ == 0); }

    Result<Holder> enter() {
        if (closing_) {
            return Error(ErrorCode::closed, "shutting down");
        }
        count_++;
        return Holder(this);
    }

    size_t count() const { return count_; }
    bool closing() const { return closing_; }

    // Stops admitting work and waits until every holder has been released. Call once.
    Task<void> close() {
        KELPIE_ASSERT(!closing_);
        closing_ = true;
        if (count_ > 0) {
            // lint: allow(temporary-await): trivially destructible (a pointer)
            co_await Drained{this};
        }
    }

private:
    struct Drained {
        Gate* gate;
        bool await_ready() const { return gate->count_ == 0; }
        void await_suspend(std::coroutine_handle<> h) { gate->closer_ = h; }
        void await_resume() const {}
    };

    void leave() {
        KELPIE_ASSERT(count_ > 0);
        count_--;
        if (count_ == 0 && closer_) {
            executor_->post(std::exchange(closer_, {}));
        }
    }

    Executor* executor_;
    size_t count_ = 0;
    bool closing_ = false;
    std::coroutine_handle<> closer_;
};

}  // namespace kelpie::io
