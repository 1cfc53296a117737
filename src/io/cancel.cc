#include "io/cancel.h"

namespace kelpie::io {

void CancelScope::Waiter::unlink() {
    if (scope_ == nullptr) {
        return;
    }
    if (prev_ != nullptr) {
        prev_->next_ = next_;
    } else {
        scope_->head_ = next_;
    }
    if (next_ != nullptr) {
        next_->prev_ = prev_;
    } else {
        scope_->tail_ = prev_;
    }
    scope_ = nullptr;
    prev_ = nullptr;
    next_ = nullptr;
}

CancelScope::~CancelScope() {
    while (head_ != nullptr) {
        head_->unlink();
    }
}

void CancelScope::add(Waiter* w) {
    KELPIE_ASSERT(!cancelled_);
    KELPIE_ASSERT(!w->linked());
    w->scope_ = this;
    w->prev_ = tail_;
    w->next_ = nullptr;
    if (tail_ != nullptr) {
        tail_->next_ = w;
    } else {
        head_ = w;
    }
    tail_ = w;
}

void CancelScope::cancel() {
    if (cancelled_) {
        return;
    }
    cancelled_ = true;
    while (head_ != nullptr) {
        Waiter* w = head_;
        w->unlink();
        w->on_cancel_(w);
    }
}

ScopeLink::ScopeLink(CancelScope* source, CancelScope* target) {
    if (source == nullptr || target == nullptr) {
        return;
    }
    waiter_.target = target;
    if (source->cancelled()) {
        target->cancel();
    } else {
        source->add(&waiter_);
    }
}

}  // namespace kelpie::io
