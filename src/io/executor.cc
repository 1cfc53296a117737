#include "io/executor.h"

#include <cstdio>

namespace kelpie::io {

bool SleepAwaiter::suspend(CancelScope* scope) {
    if (scope != nullptr && scope->cancelled()) {
        cancelled_ = true;
        return false;
    }
    timer_ = executor_->start_timer(deadline_, TimerCallback{&on_fire, this});
    if (scope != nullptr) {
        scope->add(this);
    }
    return true;
}

void SleepAwaiter::on_fire(void* data) {
    auto* self = static_cast<SleepAwaiter*>(data);
    self->unlink();
    self->handle_.resume();
}

void SleepAwaiter::on_cancel(Waiter* waiter) {
    auto* self = static_cast<SleepAwaiter*>(waiter);
    if (self->executor_->cancel_timer(self->timer_)) {
        self->cancelled_ = true;
        // Resume from the executor, not from inside the canceller's stack.
        self->executor_->post(self->handle_);
    }
}

namespace {

struct SpawnState {
    CancelScope scope;
    CancellationToken token;  // keeps the token's scope alive while linked
    std::optional<ScopeLink> link;
};

DetachedTask spawn_body(Task<void> task, SpawnState* state) {
    try {
        co_await std::move(task).in_scope(&state->scope);
    } catch (const Cancelled&) {
        // A cancelled detached task ends quietly.
    } catch (const std::exception& e) {
        assert_fail("exception escaped a spawned task", __FILE__, __LINE__, e.what());
    } catch (...) {
        assert_fail("unknown exception escaped a spawned task", __FILE__, __LINE__);
    }
    delete state;
}

}  // namespace

void spawn(Executor& executor, Task<void> task, CancellationToken token) {
    auto* state = new SpawnState();
    state->token = std::move(token);
    state->link.emplace(state->token.scope(), &state->scope);
    DetachedTask runner = spawn_body(std::move(task), state);
    runner.handle.promise().scope = &state->scope;
    executor.post(runner.handle);
}

}  // namespace kelpie::io
