#pragma once

// Channel<T>: a bounded FIFO queue between tasks of one executor — the mailbox primitive.
//
// - Bounded: at most capacity_max items are buffered. try_send() on a full channel fails with
//   ErrorCode::limit_exceeded (never a silent drop); send() waits for room.
// - FIFO: items are received in the order their sends completed.
// - No loss: an item handed to a waiting receiver is delivered even if that receiver is cancelled
//   in the same instant (cancellation only takes effect while the receiver is still waiting).
// - close(): further sends fail with ErrorCode::closed; receivers drain the buffer and then get
//   std::nullopt. Waiting senders fail with ErrorCode::closed (their items are not delivered).
// Waking a waiter posts it to the executor; nothing resumes inline inside send() or receive().

#include <deque>
#include <optional>

#include "base/result.h"
#include "io/cancel.h"
#include "io/executor.h"

namespace kelpie::io {

template <typename T>
class Channel {
public:
    // REQUIRES: capacity_max > 0.
    Channel(Executor& executor, size_t capacity_max)
        : executor_(&executor), capacity_max_(capacity_max) {
        KELPIE_ASSERT(capacity_max > 0);
    }
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;
    // REQUIRES: no task is waiting on the channel.
    ~Channel() {
        KELPIE_ASSERT(receivers_.empty());
        KELPIE_ASSERT(senders_.empty());
    }

    size_t size() const { return buffer_.size(); }
    size_t capacity_max() const { return capacity_max_; }
    bool closed() const { return closed_; }

    // Enqueues without waiting. Fails with limit_exceeded when full, closed when closed.
    Status try_send(T item) {
        if (closed_) {
            return Error(ErrorCode::closed, "channel is closed");
        }
        if (ReceiveAwaiter* r = pop_receiver()) {
            r->item_.emplace(std::move(item));
            wake(r);
            return {};
        }
        if (buffer_.size() >= capacity_max_) {
            return Error(ErrorCode::limit_exceeded,
                         "channel full (capacity_max=" + std::to_string(capacity_max_) + ")");
        }
        buffer_.push_back(std::move(item));
        return {};
    }

    class SendAwaiter;
    class ReceiveAwaiter;

    // Enqueues, waiting while the channel is full. Returns closed if the channel is or becomes
    // closed before the item is enqueued.
    SendAwaiter send(T item) { return SendAwaiter(this, std::move(item)); }

    // Dequeues, waiting while the channel is empty. std::nullopt once closed and drained.
    ReceiveAwaiter receive() { return ReceiveAwaiter(this); }

    // Closes the channel and wakes every waiter. Idempotent.
    void close() {
        if (closed_) {
            return;
        }
        closed_ = true;
        while (ReceiveAwaiter* r = pop_receiver()) {
            wake(r);
        }
        while (SendAwaiter* s = pop_sender()) {
            s->status_ = Error(ErrorCode::closed, "channel closed while waiting to send");
            wake(s);
        }
    }

    // Common part of a waiting send or receive: an intrusive FIFO link plus cancellation.
    class WaiterBase : protected CancelScope::Waiter {
    protected:
        WaiterBase(Channel* channel, bool sender)
            : Waiter(&on_cancel), channel_(channel), sender_(sender) {}
        static void on_cancel(CancelScope::Waiter* w) {
            auto* self = static_cast<WaiterBase*>(w);
            self->channel_->remove(self);
            self->cancelled_ = true;
            self->channel_->executor_->post(self->handle_);
        }
        friend class Channel;
        Channel* channel_;
        bool sender_;
        std::coroutine_handle<> handle_;
        WaiterBase* prev_ = nullptr;
        WaiterBase* next_ = nullptr;
        bool queued_ = false;
        bool cancelled_ = false;
    };

    class SendAwaiter : public WaiterBase {
    public:
        SendAwaiter(Channel* channel, T item) : WaiterBase(channel, true), item_(std::move(item)) {}
        bool await_ready() {
            Channel* ch = this->channel_;
            if (ch->closed_ || ch->buffer_.size() < ch->capacity_max_ || !ch->receivers_.empty()) {
                status_ = ch->try_send(std::move(item_));
                return true;
            }
            return false;
        }
        template <typename Promise>
        bool await_suspend(std::coroutine_handle<Promise> h) {
            CancelScope* scope = scope_of(h);
            if (scope != nullptr && scope->cancelled()) {
                this->cancelled_ = true;
                return false;
            }
            this->handle_ = h;
            this->channel_->push_waiter(this->channel_->senders_, this);
            if (scope != nullptr) {
                scope->add(this);
            }
            return true;
        }
        Status await_resume() {
            if (this->cancelled_) {
                throw Cancelled();
            }
            return std::move(status_);
        }

    private:
        friend class Channel;
        T item_;
        Status status_;
    };

    class ReceiveAwaiter : public WaiterBase {
    public:
        explicit ReceiveAwaiter(Channel* channel) : WaiterBase(channel, false) {}
        bool await_ready() {
            Channel* ch = this->channel_;
            if (!ch->buffer_.empty()) {
                item_.emplace(std::move(ch->buffer_.front()));
                ch->buffer_.pop_front();
                ch->refill_from_senders();
                return true;
            }
            return ch->closed_;
        }
        template <typename Promise>
        bool await_suspend(std::coroutine_handle<Promise> h) {
            CancelScope* scope = scope_of(h);
            if (scope != nullptr && scope->cancelled()) {
                this->cancelled_ = true;
                return false;
            }
            this->handle_ = h;
            this->channel_->push_waiter(this->channel_->receivers_, this);
            if (scope != nullptr) {
                scope->add(this);
            }
            return true;
        }
        std::optional<T> await_resume() {
            if (this->cancelled_) {
                throw Cancelled();
            }
            return std::move(item_);
        }

    private:
        friend class Channel;
        std::optional<T> item_;
    };

private:
    struct WaiterList {
        WaiterBase* head = nullptr;
        WaiterBase* tail = nullptr;
        bool empty() const { return head == nullptr; }
    };

    void push_waiter(WaiterList& list, WaiterBase* w) {
        w->queued_ = true;
        w->prev_ = list.tail;
        w->next_ = nullptr;
        (list.tail != nullptr ? list.tail->next_ : list.head) = w;
        list.tail = w;
    }

    ReceiveAwaiter* pop_receiver() { return static_cast<ReceiveAwaiter*>(pop(receivers_)); }
    SendAwaiter* pop_sender() { return static_cast<SendAwaiter*>(pop(senders_)); }
    WaiterBase* pop(WaiterList& list) {
        WaiterBase* w = list.head;
        if (w != nullptr) {
            unlink_from(list, w);
        }
        return w;
    }

    void unlink_from(WaiterList& list, WaiterBase* w) {
        (w->prev_ != nullptr ? w->prev_->next_ : list.head) = w->next_;
        (w->next_ != nullptr ? w->next_->prev_ : list.tail) = w->prev_;
        w->prev_ = nullptr;
        w->next_ = nullptr;
        w->queued_ = false;
    }

    void remove(WaiterBase* w) {
        if (!w->queued_) {
            return;
        }
        unlink_from(w->sender_ ? senders_ : receivers_, w);
    }

    // A receiver took a buffered item: move the first waiting sender's item into the buffer.
    void refill_from_senders() {
        if (senders_.empty() || buffer_.size() >= capacity_max_) {
            return;
        }
        auto* s = static_cast<SendAwaiter*>(senders_.head);
        unlink_from(senders_, s);
        buffer_.push_back(std::move(s->item_));
        s->status_ = Status();
        wake(s);
    }

    // Hands a dequeued waiter back to its task: no longer cancellable, resumed from the executor.
    void wake(WaiterBase* w) {
        w->unlink();
        executor_->post(w->handle_);
    }

    Executor* executor_;
    size_t capacity_max_;
    std::deque<T> buffer_;
    WaiterList receivers_;
    WaiterList senders_;
    bool closed_ = false;
};

}  // namespace kelpie::io
