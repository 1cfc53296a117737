#pragma once

// Private to the etcd backend: batching of calls to the cluster, leader style (as RocksDB's write
// groups). A caller that finds no batch in flight leads one at once; callers that arrive while a
// batch is in flight queue. When the batch returns, its leader answers its members and hands the
// lead to the first one still queued, which takes its batch from the queue (itself first) and
// sends it. So one batch is in flight at a time, nothing waits at concurrency 1, and under load
// each call to the cluster carries what queued during the previous one.
//
// Every member of a batch was queued before the batch was sent and is answered after it returned,
// so the batch's moment at the cluster lies inside every member's own call.
//
// Executor thread only. A queued member must not be destroyed before it is answered or leads.

#include <coroutine>
#include <deque>
#include <vector>

#include "base/assert.h"
#include "base/units.h"
#include "io/executor.h"
#include "io/task.h"

namespace kelpie::store::detail {

struct BatchMember {
    // When the member's call must have an answer (its start plus the call timeout): a batch is
    // sent with its earliest member's deadline, and a member still queued at its deadline is
    // answered without being sent. Deadlines grow in queue order.
    Instant deadline;
    bool lead = false;               // woken to lead the next batch, not with an answer
    std::coroutine_handle<> waiter;  // while queued
};

template <typename Member>  // derived from BatchMember
class BatchQueue {
public:
    explicit BatchQueue(io::Executor& executor) : executor_(executor) {}
    BatchQueue(const BatchQueue&) = delete;
    BatchQueue& operator=(const BatchQueue&) = delete;

    // Queues `m` (REQUIRES: its deadline is not before any queued one's). Returns true when `m`
    // leads a batch (it is then waiting().front()): the caller takes the batch out of waiting(),
    // `m` included, sends it, answers every member and calls answered(). Returns false when a
    // batch led by another member has answered `m`.
    io::Task<bool> join(Member& m) {
        queue_.push_back(&m);
        if (!in_flight_) {
            in_flight_ = true;
            co_return true;
        }
        struct Turn {
            Member* member;
            bool await_ready() const { return false; }
            void await_suspend(std::coroutine_handle<> h) { member->waiter = h; }
            void await_resume() const {}
        };
        // lint: allow(temporary-await): trivially destructible (a pointer)
        co_await Turn{&m};
        KELPIE_ASSERT(!m.lead || queue_.front() == &m);
        co_return m.lead;
    }

    // Members queued and not yet in a batch, oldest first.
    std::deque<Member*>& waiting() { return queue_; }

    // After `leader` answered `batch` (every member it took out of waiting(), itself among them):
    // wakes the others and hands the lead on.
    void answered(const std::vector<Member*>& batch, const Member* leader) {
        for (Member* m : batch) {
            if (m != leader) {
                executor_.post(m->waiter);
            }
        }
        if (queue_.empty()) {
            in_flight_ = false;
        } else {
            queue_.front()->lead = true;
            executor_.post(queue_.front()->waiter);
        }
    }

private:
    io::Executor& executor_;
    std::deque<Member*> queue_;
    bool in_flight_ = false;  // invariant: !queue_.empty() implies in_flight_
};

}  // namespace kelpie::store::detail
