#pragma once

// Awaiting Boost.Asio operations from Task coroutines.
//
//   auto [ec, n] = co_await AsioOp<size_t>(
//       [&](auto handler) { socket.async_read_some(buffer, std::move(handler)); },
//       [&] { socket.cancel(); });
//
// The first function starts the operation with the given completion handler; the second cancels
// it, and runs if the awaiting task's scope is cancelled while the operation is in flight. If the
// operation is cancelled this way and did not succeed, await_resume throws Cancelled; if it
// completed anyway, its result is returned (a completed operation's result is never dropped).
// Handlers run on the io_context's thread and resume the task inline.

#include <coroutine>
#include <optional>
#include <utility>

#include <boost/asio.hpp>

#include "base/assert.h"
#include "io/cancel.h"
#include "io/task.h"

namespace kelpie::io::real {

using error_code = boost::system::error_code;

template <typename Value, typename Start, typename Stop>
class AsioOp : private CancelScope::Waiter {
public:
    AsioOp(Start start, Stop stop)
        : Waiter(&on_cancel), start_(std::move(start)), stop_(std::move(stop)) {}

    bool await_ready() const noexcept { return false; }

    template <typename Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) {
        CancelScope* scope = scope_of(h);
        if (scope != nullptr && scope->cancelled()) {
            cancelled_ = true;
            ec_ = boost::asio::error::operation_aborted;
            return false;
        }
        handle_ = h;
        if (scope != nullptr) {
            scope->add(this);
        }
        if constexpr (std::is_void_v<Value>) {
            start_([this](error_code ec) { complete(ec); });
        } else {
            start_([this](error_code ec, Value v) {
                value_.emplace(std::move(v));
                complete(ec);
            });
        }
        return true;
    }

    auto await_resume() {
        if (cancelled_ && ec_) {
            throw Cancelled();
        }
        if constexpr (std::is_void_v<Value>) {
            return ec_;
        } else {
            KELPIE_ASSERT(value_.has_value());
            return std::pair<error_code, Value>(ec_, std::move(*value_));
        }
    }

private:
    void complete(error_code ec) {
        ec_ = ec;
        unlink();
        handle_.resume();
    }
    static void on_cancel(CancelScope::Waiter* w) {
        auto* self = static_cast<AsioOp*>(w);
        self->cancelled_ = true;
        self->stop_();
    }

    struct Empty {};
    Start start_;
    Stop stop_;
    std::coroutine_handle<> handle_;
    error_code ec_;
    std::optional<std::conditional_t<std::is_void_v<Value>, Empty, Value>> value_;
    bool cancelled_ = false;
};

template <typename Value, typename Start, typename Stop>
AsioOp<Value, Start, Stop> asio_op(Start start, Stop stop) {
    return AsioOp<Value, Start, Stop>(std::move(start), std::move(stop));
}

}  // namespace kelpie::io::real
