#pragma once

// Cancellation. Every task runs inside a CancelScope, inherited from the task that awaits it.
// Cancelling a scope makes every suspension point inside it (sleeps, channel waits, socket
// operations, ...) finish with the Cancelled exception, which unwinds the task through its RAII
// destructors, like FoundationDB's actor_cancelled. Code that is not suspended is never interrupted:
// cancellation is observed at the next suspension point.
//
// Scopes form a tree through ScopeLinks: when_all / when_any / with_timeout make a child scope per
// group, linked to the caller's scope; CancellationSource lets code outside a task cancel one.
// Everything here is single-threaded: a scope and its waiters belong to one executor (one shard).

#include <exception>
#include <memory>

#include "base/assert.h"

namespace kelpie::io {

// Thrown from a suspension point of a cancelled task. Swallowed by spawn(); propagated by awaiting.
class Cancelled : public std::exception {
public:
    const char* what() const noexcept override { return "operation cancelled"; }
};

class CancelScope {
public:
    // Something to notify when the scope is cancelled. Embedded in awaitables (which live in the
    // suspended coroutine's frame), so registration never allocates.
    class Waiter {
    public:
        using Callback = void (*)(Waiter* self);
        explicit Waiter(Callback on_cancel) : on_cancel_(on_cancel) {}
        Waiter(const Waiter&) = delete;
        Waiter& operator=(const Waiter&) = delete;
        ~Waiter() { unlink(); }

        bool linked() const { return scope_ != nullptr; }
        // Removes this waiter from its scope, if any. Safe to call at any time.
        void unlink();

    private:
        friend class CancelScope;
        Callback on_cancel_;
        CancelScope* scope_ = nullptr;
        Waiter* prev_ = nullptr;
        Waiter* next_ = nullptr;
    };

    CancelScope() = default;
    CancelScope(const CancelScope&) = delete;
    CancelScope& operator=(const CancelScope&) = delete;
    ~CancelScope();

    bool cancelled() const { return cancelled_; }

    // Cancels the scope (idempotent): notifies every registered waiter once, in registration
    // order, removing each before its callback runs. Callbacks may register or remove others.
    void cancel();

    // Registers `w` to be notified on cancel. REQUIRES: !cancelled() and !w->linked().
    void add(Waiter* w);

private:
    bool cancelled_ = false;
    Waiter* head_ = nullptr;
    Waiter* tail_ = nullptr;
};

// While alive, cancelling `source` cancels `target` (if `source` is already cancelled, `target`
// is cancelled at construction). Either pointer may be null, making the link a no-op.
class ScopeLink {
public:
    ScopeLink(CancelScope* source, CancelScope* target);
    ScopeLink(const ScopeLink&) = delete;
    ScopeLink& operator=(const ScopeLink&) = delete;

private:
    struct LinkWaiter : CancelScope::Waiter {
        LinkWaiter() : Waiter(&fire) {}
        static void fire(Waiter* self) { static_cast<LinkWaiter*>(self)->target->cancel(); }
        CancelScope* target = nullptr;
    };
    LinkWaiter waiter_;
};

// A handle through which code outside a task can cancel it (see with_cancellation and spawn).
// Cheap to copy; the source and its tokens share one scope.
class CancellationToken {
public:
    CancellationToken() = default;
    bool cancelled() const { return scope_ != nullptr && scope_->cancelled(); }
    // Null for a default-constructed token (which is never cancelled).
    CancelScope* scope() const { return scope_.get(); }

private:
    friend class CancellationSource;
    explicit CancellationToken(std::shared_ptr<CancelScope> s) : scope_(std::move(s)) {}
    std::shared_ptr<CancelScope> scope_;
};

class CancellationSource {
public:
    CancellationSource() : scope_(std::make_shared<CancelScope>()) {}
    CancellationToken token() const { return CancellationToken(scope_); }
    void cancel() { scope_->cancel(); }
    bool cancelled() const { return scope_->cancelled(); }

private:
    std::shared_ptr<CancelScope> scope_;
};

}  // namespace kelpie::io
