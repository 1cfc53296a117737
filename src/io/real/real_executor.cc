#include "io/real/real_executor.h"

namespace kelpie::io::real {

namespace asio = boost::asio;

RealExecutor::RealExecutor(asio::io_context& context, uint64_t seed)
    : context_(context), origin_(std::chrono::steady_clock::now()), random_(seed) {}

void RealExecutor::post(std::coroutine_handle<> h, uint64_t /*digest*/) {
    asio::post(context_, [h] { h.resume(); });
}

void RealExecutor::post_function(std::function<void()> fn, uint64_t /*digest*/) {
    asio::post(context_, std::move(fn));
}

WallTime RealExecutor::wall_now() const {
    const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    return WallTime::from_unix_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count());
}

Instant RealExecutor::now() const {
    const auto elapsed = std::chrono::steady_clock::now() - origin_;
    return Instant::from_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
}

TimerId RealExecutor::start_timer(Instant deadline, TimerCallback callback) {
    const uint64_t id = next_timer_id_++;
    auto timer = std::make_unique<Timer>(Timer{asio::steady_timer(context_), callback});
    timer->timer.expires_at(origin_ + std::chrono::nanoseconds(deadline.ns_since_origin()));
    timer->timer.async_wait([this, id](const boost::system::error_code&) {
        // Whatever the error code says, the map decides: a timer cancelled after its handler was
        // queued is no longer in it and must not fire.
        auto it = timers_.find(id);
        if (it == timers_.end()) {
            return;
        }
        const TimerCallback cb = it->second->callback;
        timers_.erase(it);
        cb.fn(cb.data);
    });
    timers_.emplace(id, std::move(timer));
    return TimerId(id);
}

bool RealExecutor::cancel_timer(TimerId id) {
    auto it = timers_.find(id.value);
    if (it == timers_.end()) {
        return false;
    }
    timers_.erase(it);  // destroying the steady_timer cancels its wait
    return true;
}

void RealExecutor::external_work_started() {
    if (external_work_++ == 0) {
        external_guard_.emplace(context_.get_executor());
    }
}

void RealExecutor::external_work_finished() {
    KELPIE_ASSERT(external_work_ > 0);
    if (--external_work_ == 0) {
        external_guard_.reset();
    }
}

}  // namespace kelpie::io::real
