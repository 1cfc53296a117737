#include "sim/store_link.h"

namespace kelpie::sim {

namespace {

class LinkTransaction final : public store::Transaction {
public:
    LinkTransaction(StoreLink& link, std::unique_ptr<store::Transaction> inner)
        : link_(link), inner_(std::move(inner)) {}

    io::Task<Result<std::optional<store::KeyValue>>> get(std::string key) override {
        if (inner_ == nullptr) {
            co_return down();
        }
        store::Transaction* t = inner_.get();
        auto op = [t, key]() { return t->get(key); };
        co_return co_await link_.hop<std::optional<store::KeyValue>>(std::move(op), false);
    }
    io::Task<Result<store::RangeResult>> range(std::string begin, std::string end,
                                               store::RangeOptions options) override {
        if (inner_ == nullptr) {
            co_return down();
        }
        store::Transaction* t = inner_.get();
        auto op = [t, begin, end, options]() { return t->range(begin, end, options); };
        co_return co_await link_.hop<store::RangeResult>(std::move(op), false);
    }
    // Begun while the store was down: writes are dropped here and the commit fails.
    Status set(std::string_view key, std::string_view value, store::WriteOptions options) override {
        return inner_ != nullptr ? inner_->set(key, value, options) : ok_status();
    }
    Status clear(std::string_view key) override {
        return inner_ != nullptr ? inner_->clear(key) : ok_status();
    }
    Status clear_range(std::string_view begin, std::string_view end) override {
        return inner_ != nullptr ? inner_->clear_range(begin, end) : ok_status();
    }
    Status add_read_conflict(std::string_view key) override {
        return inner_ != nullptr ? inner_->add_read_conflict(key) : ok_status();
    }
    io::Task<Result<store::Revision>> commit() override {
        if (inner_ == nullptr) {
            co_return down();
        }
        store::Transaction* t = inner_.get();
        auto op = [t]() { return t->commit(); };
        co_return co_await link_.hop<store::Revision>(std::move(op), true);
    }
    store::Revision read_revision() const override {
        return inner_ != nullptr ? inner_->read_revision() : 0;
    }

private:
    static Error down() { return Error(ErrorCode::unavailable, "the store is down (simulated)"); }
    StoreLink& link_;
    std::unique_ptr<store::Transaction> inner_;
};

}  // namespace

StoreLink::StoreLink(io::Executor& node, io::Executor& store_side, store::Store* inner,
                     LinkFaults faults)
    : node_(node), store_side_(store_side), inner_(inner), faults_(faults) {}

bool StoreLink::lost() {
    return faults_.loss_probability > 0 && node_.random().chance(faults_.loss_probability);
}

io::Task<void> StoreLink::travel(int direction) {
    if (faults_.delay_max > Duration::zero()) {
        counters_.delayed++;
        const Duration delay = Duration::ns(node_.random().between(0, faults_.delay_max.to_ns()));
        const Instant arrival = node_.now() + delay;
        if (arrival < last_arrival_[direction]) {
            counters_.reordered++;
        } else {
            last_arrival_[direction] = arrival;
        }
        co_await node_.sleep_for(delay);
    }
}

std::unique_ptr<store::Transaction> StoreLink::begin() {
    return std::make_unique<LinkTransaction>(*this, inner_ != nullptr ? inner_->begin() : nullptr);
}

io::Task<Result<store::LeaseId>> StoreLink::grant_lease(Duration ttl) {
    store::Store* s = inner_;
    auto op = [s, ttl]() { return s->grant_lease(ttl); };
    co_return co_await hop<store::LeaseId>(std::move(op), true);
}

io::Task<Result<store::LeaseInfo>> StoreLink::keepalive(store::LeaseId lease) {
    store::Store* s = inner_;
    auto op = [s, lease]() { return s->keepalive(lease); };
    co_return co_await hop<store::LeaseInfo>(std::move(op), false);
}

io::Task<Status> StoreLink::revoke_lease(store::LeaseId lease) {
    store::Store* s = inner_;
    auto op = [s, lease]() -> io::Task<Result<bool>> {
        KELPIE_CO_TRY(co_await s->revoke_lease(lease));
        co_return true;
    };
    Result<bool> r = co_await hop<bool>(std::move(op), true);
    if (!r.ok()) {
        co_return std::move(r).error();
    }
    co_return ok_status();
}

io::Task<Result<store::WatchResult>> StoreLink::watch(std::string begin, std::string end,
                                                      store::Revision after, Duration timeout) {
    store::Store* s = inner_;
    auto op = [s, begin, end, after, timeout]() { return s->watch(begin, end, after, timeout); };
    co_return co_await hop<store::WatchResult>(std::move(op), false);
}

io::Task<Result<store::Revision>> StoreLink::current_revision() {
    store::Store* s = inner_;
    auto op = [s]() { return s->current_revision(); };
    co_return co_await hop<store::Revision>(std::move(op), false);
}

io::Task<void> StoreLink::close() { co_return; }  // the shared store is closed by its owner

}  // namespace kelpie::sim
