#pragma once

// StoreLink: one simulated node's connection to the shared store. The store (a memory backend)
// lives on its own simulated node; every call hops there over a simulated link and the answer hops
// back, so a paused node's calls wait, a partitioned node's calls fail, and a lost answer leaves
// the caller not knowing (unknown_result) — as with a real remote store.
//
// Faults (each counted): a request or an answer lost (the caller waits request_timeout, then gets
// unavailable, or unknown_result for a commit whose answer was lost), a delay up to delay_max per
// direction (which reorders messages: each overtaking is counted), and a partition between the node and the store, symmetric (set_partitioned) or
// asymmetric (set_answers_cut).

#include <cstdint>
#include <memory>

#include "io/executor.h"
#include "store/store.h"

namespace kelpie::sim {

struct LinkFaults {
    Duration delay_max;
    double loss_probability = 0;  // per direction
    Duration request_timeout = Duration::s(2);
};

struct LinkCounters {
    uint64_t requests_lost = 0;
    uint64_t answers_lost = 0;
    uint64_t partitioned_calls = 0;
    uint64_t delayed = 0;
    uint64_t reordered = 0;  // messages that overtook an earlier one on the same link
};

class StoreLink final : public store::Store {
public:
    // `node` is the caller's executor, `store_side` the store's. All must outlive the link.
    // `inner` may be null (the store is down).
    StoreLink(io::Executor& node, io::Executor& store_side, store::Store* inner, LinkFaults faults);

    // Symmetric partition: nothing gets through either way.
    void set_partitioned(bool partitioned) { partitioned_ = partitioned; }
    // Asymmetric partition: requests reach the store (and take effect), answers never come back.
    void set_answers_cut(bool cut) { answers_cut_ = cut; }
    void set_faults(LinkFaults faults) { faults_ = faults; }
    // The store process the link reaches: another one after a store restart; null while the
    // store is down (calls fail with unavailable, as a refused connection).
    void set_inner(store::Store* inner) { inner_ = inner; }
    const LinkCounters& counters() const { return counters_; }

    std::string_view backend_name() const override { return "memory"; }
    std::unique_ptr<store::Transaction> begin() override;
    io::Task<Result<store::LeaseId>> grant_lease(Duration ttl) override;
    io::Task<Result<store::LeaseInfo>> keepalive(store::LeaseId lease) override;
    io::Task<Status> revoke_lease(store::LeaseId lease) override;
    io::Task<Result<store::WatchResult>> watch(std::string begin, std::string end,
                                               store::Revision after, Duration timeout) override;
    io::Task<Result<store::Revision>> current_revision() override;
    io::Task<void> close() override;

    // Internal (used by the link's transactions): runs `op` on the store side.
    template <typename T, typename Op>
    io::Task<Result<T>> hop(Op op, bool outcome_matters);

private:
    bool lost();
    // One message's trip over the link in one direction (0: to the store, 1: back).
    io::Task<void> travel(int direction);

    io::Executor& node_;
    io::Executor& store_side_;
    store::Store* inner_;
    LinkFaults faults_;
    LinkCounters counters_;
    bool partitioned_ = false;
    bool answers_cut_ = false;
    Instant last_arrival_[2];  // per direction, the latest arrival time scheduled so far
};

template <typename T, typename Op>
io::Task<Result<T>> StoreLink::hop(Op op, bool outcome_matters) {
    if (inner_ == nullptr) {
        co_return Error(ErrorCode::unavailable, "the store is down (simulated)");
    }
    if (partitioned_ || lost()) {
        counters_.requests_lost += partitioned_ ? 0 : 1;
        counters_.partitioned_calls += partitioned_ ? 1 : 0;
        co_await node_.sleep_for(faults_.request_timeout);
        co_return Error(ErrorCode::unavailable, "store unreachable (simulated link)");
    }
    co_await travel(0);
    co_await io::resume_on(store_side_);
    Result<T> result = co_await op();
    if (!result.ok() && result.code() == ErrorCode::closed) {
        // The store process went away under the call: to the caller, a broken connection.
        result = Error(outcome_matters ? ErrorCode::unknown_result : ErrorCode::unavailable,
                       "the store restarted during the call (simulated)");
    }
    co_await io::resume_on(node_);
    co_await travel(1);
    if (partitioned_ || answers_cut_ || lost()) {
        counters_.answers_lost += (partitioned_ || answers_cut_) ? 0 : 1;
        counters_.partitioned_calls += (partitioned_ || answers_cut_) ? 1 : 0;
        co_await node_.sleep_for(faults_.request_timeout);
        if (outcome_matters) {
            co_return Error(ErrorCode::unknown_result, "the store's answer was lost (simulated link)");
        }
        co_return Error(ErrorCode::unavailable, "the store's answer was lost (simulated link)");
    }
    co_return result;
}

}  // namespace kelpie::sim
