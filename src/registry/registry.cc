#include "registry/registry.h"

#include <fmt/format.h>

#include "store/tuple.h"

namespace kelpie::registry {

namespace {

constexpr int64_t record_format = 1;

const store::Subspace& nodes() {
    static const store::Subspace s(store::Tuple().append("node"));
    return s;
}
const store::Subspace& placements() {
    static const store::Subspace s(store::Tuple().append("placement"));
    return s;
}

struct NodeRecord {
    store::LeaseId lease;
    std::string address;
};

std::string encode_node(const NodeRecord& r) {
    return store::Tuple().append(record_format).append(r.lease.value).append(r.address).pack();
}

Result<NodeRecord> decode_node(std::string_view bytes) {
    KELPIE_TRY_ASSIGN(store::Tuple t, store::Tuple::unpack(bytes));
    if (t.size() != 3 || t[0] != store::TupleElement(record_format) ||
        !std::holds_alternative<int64_t>(t[1]) || !std::holds_alternative<std::string>(t[2])) {
        return Error(ErrorCode::corruption, "malformed node record");
    }
    return NodeRecord{store::LeaseId(std::get<int64_t>(t[1])), std::get<std::string>(t[2])};
}

// What the node may assume about its lease, measured from when it sent the request that
// (re)started it: the TTL shrunk by the worst drift, minus the safety margin.
Duration reckoned_validity(const RegistryOptions& o) {
    return o.lease_ttl - o.lease_ttl * clock_drift_max_ppm / 1'000'000 - o.safety_margin;
}

Error lease_doubt(const std::string& node) {
    return Error(ErrorCode::lease_expired,
                 fmt::format("node {} may have lost its lease; not accepting work", node));
}

}  // namespace

Status check_actor_id(const ActorId& id) {
    if (id.type.empty() || id.key.empty()) {
        return Error(ErrorCode::invalid_argument, "actor type and key must be non-empty");
    }
    if (id.type.size() > actor_name_bytes_max || id.key.size() > actor_name_bytes_max) {
        return Error(ErrorCode::limit_exceeded,
                     fmt::format("actor type or key longer than actor_name_bytes_max ({})",
                                 actor_name_bytes_max));
    }
    return {};
}

std::string node_key(std::string_view node_id) {
    return nodes().key(store::Tuple().append(node_id));
}

std::string placement_key(const ActorId& actor) {
    return placements().key(store::Tuple().append(actor.type).append(actor.key));
}

bool is_placement_key(std::string_view key) { return placements().contains(key); }

Result<ActorId> placement_actor(std::string_view key) {
    if (!placements().contains(key)) {
        return Error(ErrorCode::corruption, "not a placement key");
    }
    KELPIE_TRY_ASSIGN(store::Tuple t, placements().unpack(key));
    if (t.size() != 2 || !std::holds_alternative<std::string>(t[0]) ||
        !std::holds_alternative<std::string>(t[1])) {
        return Error(ErrorCode::corruption, "malformed placement key");
    }
    return ActorId{std::get<std::string>(t[0]), std::get<std::string>(t[1])};
}

std::string encode_placement(const Placement& p) {
    return store::Tuple()
        .append(record_format)
        .append(p.owner_node)
        .append(p.owner_lease.value)
        .append(static_cast<int64_t>(p.fencing_token))
        .pack();
}

Result<Placement> decode_placement(std::string_view bytes) {
    KELPIE_TRY_ASSIGN(store::Tuple t, store::Tuple::unpack(bytes));
    if (t.size() != 4 || t[0] != store::TupleElement(record_format) ||
        !std::holds_alternative<std::string>(t[1]) || !std::holds_alternative<int64_t>(t[2]) ||
        !std::holds_alternative<int64_t>(t[3]) || std::get<int64_t>(t[3]) < 0) {
        return Error(ErrorCode::corruption, "malformed placement record");
    }
    return Placement{std::get<std::string>(t[1]), store::LeaseId(std::get<int64_t>(t[2])),
                     static_cast<uint64_t>(std::get<int64_t>(t[3]))};
}

namespace {

io::Task<Result<std::optional<Placement>>> read_placement(store::Transaction& t,
                                                          const ActorId& actor) {
    KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> kv, co_await t.get(placement_key(actor)));
    if (!kv.has_value()) {
        co_return std::optional<Placement>();
    }
    KELPIE_CO_TRY_ASSIGN(Placement p, decode_placement(kv->value));
    co_return std::optional<Placement>(std::move(p));
}

io::Task<Result<std::optional<NodeRecord>>> read_node(store::Transaction& t, std::string node) {
    KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> kv, co_await t.get(node_key(node)));
    if (!kv.has_value()) {
        co_return std::optional<NodeRecord>();
    }
    KELPIE_CO_TRY_ASSIGN(NodeRecord r, decode_node(kv->value));
    co_return std::optional<NodeRecord>(std::move(r));
}

}  // namespace

Registry::Registry(io::Executor& executor, store::Store& store, RegistryOptions options)
    : executor_(executor), store_(store), options_(std::move(options)) {}

Registry::~Registry() {
    if (expiry_timer_.value != 0) {
        executor_.cancel_timer(expiry_timer_);
    }
}

bool Registry::lease_valid() const {
    if (lease_.value == 0) {
        return false;
    }
    if (options_.bugs.lease_after_expiry) {
        return true;  // BUG (switch): acts on the lease until the store says it is gone
    }
    return executor_.now() < valid_until_;
}

io::Task<Status> Registry::start() {
    KELPIE_ASSERT(!started_);
    if (options_.node_id.empty() || options_.node_id.size() > actor_name_bytes_max) {
        co_return Error(ErrorCode::invalid_argument, "node id must be 1..512 bytes");
    }
    KELPIE_CO_TRY(store::check_lease_ttl(options_.lease_ttl));
    if (reckoned_validity(options_) <= options_.lease_ttl / 3) {
        co_return Error(ErrorCode::invalid_argument,
                        "safety margin too large for the lease TTL: the node would doubt its lease "
                        "before the first keepalive");
    }
    KELPIE_CO_TRY(co_await register_node());
    started_ = true;
    loop_done_ = std::make_shared<io::Channel<int>>(executor_, 1);
    io::spawn(executor_, keepalive_loop(), stop_.token());
    co_return ok_status();
}

io::Task<Status> Registry::register_node() {
    const Instant sent = executor_.now();
    KELPIE_CO_TRY_ASSIGN(store::LeaseId lease, co_await store_.grant_lease(options_.lease_ttl));
    const std::string node = options_.node_id;
    // A predecessor with this node id is dead (node ids are unique among live processes): revoke
    // its lease now rather than wait out its TTL.
    std::optional<store::LeaseId> predecessor;
    {
        auto t = store_.begin();
        KELPIE_CO_TRY_ASSIGN(std::optional<NodeRecord> old, co_await read_node(*t, node));
        if (old.has_value() && old->lease != lease) {
            predecessor = old->lease;
        }
    }
    if (predecessor.has_value()) {
        KELPIE_CO_TRY(co_await store_.revoke_lease(*predecessor));
    }
    const std::string record = encode_node(NodeRecord{lease, options_.address});
    store::TransactionBody<store::Revision> write_record =
        [node, record, lease](store::Transaction& t) -> io::Task<Result<store::Revision>> {
        const store::WriteOptions attached{.lease = lease};
        KELPIE_CO_TRY(t.set(node_key(node), record, attached));
        co_return co_await t.commit();
    };
    const store::RetryOptions idempotent{.retry_unknown_result = true};
    Result<store::Revision> written =
        co_await store::run_transaction(executor_, store_, write_record, idempotent);
    if (!written.ok()) {
        (void)co_await store_.revoke_lease(lease);
        co_return std::move(written).error();
    }
    lease_ = lease;
    incarnation_++;
    valid_until_ = sent + reckoned_validity(options_);
    lost_reported_ = false;
    arm_expiry_timer();
    co_return ok_status();
}

void Registry::arm_expiry_timer() {
    if (expiry_timer_.value != 0) {
        executor_.cancel_timer(expiry_timer_);
    }
    expiry_timer_ = executor_.start_timer(valid_until_, io::TimerCallback{&on_expiry_timer, this});
}

void Registry::on_expiry_timer(void* self) {
    auto* r = static_cast<Registry*>(self);
    r->expiry_timer_ = io::TimerId();
    if (!r->options_.bugs.lease_after_expiry && r->executor_.now() >= r->valid_until_) {
        r->lost();  // the reckoning ran out without a renewal
    }
}

void Registry::lost() {
    if (lost_reported_) {
        return;
    }
    lost_reported_ = true;
    if (lease_lost_) {
        lease_lost_();
    }
}

io::Task<void> Registry::keepalive_loop() {
    std::shared_ptr<io::Channel<int>> done = loop_done_;
    struct CloseOnExit {
        io::Channel<int>* c;
        ~CloseOnExit() { c->close(); }
    } close_on_exit{done.get()};
    const Duration interval = options_.lease_ttl / 3;
    while (true) {
        co_await executor_.sleep_for(interval);
        if (lease_.value == 0) {
            // A previous re-registration failed: try again.
            (void)co_await register_node();
            continue;
        }
        const Instant sent = executor_.now();
        Result<store::LeaseInfo> r = co_await store_.keepalive(lease_);
        if (r.ok()) {
            valid_until_ = std::max(valid_until_, sent + reckoned_validity(options_));
            lost_reported_ = false;
            arm_expiry_timer();
        } else if (r.code() == ErrorCode::lease_expired) {
            lease_ = store::LeaseId();
            lost();  // the store says the lease expired
            (void)co_await register_node();
        } else if (r.code() == ErrorCode::closed) {
            co_return;
        }
        // Otherwise (unavailable, timeout): keep trying; the expiry timer reports the loss.
    }
}

io::Task<void> Registry::stop() {
    if (!started_) {
        co_return;
    }
    started_ = false;
    stop_.cancel();
    std::shared_ptr<io::Channel<int>> done = loop_done_;
    (void)co_await done->receive();
    if (expiry_timer_.value != 0) {
        executor_.cancel_timer(expiry_timer_);
        expiry_timer_ = io::TimerId();
    }
    const store::LeaseId lease = std::exchange(lease_, store::LeaseId());
    if (lease.value != 0) {
        (void)co_await store_.revoke_lease(lease);
    }
}

io::Task<Result<Claim>> Registry::claim(ActorId actor) {
    KELPIE_CO_TRY(check_actor_id(actor));
    if (!lease_valid()) {
        co_return lease_doubt(options_.node_id);
    }
    const store::LeaseId lease = lease_;
    const std::string me = options_.node_id;

    if (options_.bugs.claim_without_check) {
        // BUG (switch): read in one transaction, write blind in another (TOCTOU).
        uint64_t token = 0;
        {
            auto t = store_.begin();
            KELPIE_CO_TRY_ASSIGN(std::optional<Placement> p, co_await read_placement(*t, actor));
            token = p.has_value() ? p->fencing_token : 0;
        }
        auto t = store_.begin();
        KELPIE_CO_TRY(t->set(placement_key(actor), encode_placement(Placement{me, lease, token + 1})));
        KELPIE_CO_TRY_ASSIGN(store::Revision rev, co_await t->commit());
        co_return Claim{token + 1, lease, rev};
    }

    store::TransactionBody<Claim> claim_body =
        [actor, lease, me](store::Transaction& t) -> io::Task<Result<Claim>> {
            KELPIE_CO_TRY_ASSIGN(std::optional<Placement> p, co_await read_placement(t, actor));
            KELPIE_CO_TRY_ASSIGN(std::optional<NodeRecord> self, co_await read_node(t, me));
            if (!self.has_value() || self->lease != lease) {
                co_return lease_doubt(me);
            }
            const bool mine = p.has_value() && p->owner_node == me && p->owner_lease == lease;
            if (p.has_value() && !p->owner_node.empty() && !mine) {
                KELPIE_CO_TRY_ASSIGN(std::optional<NodeRecord> owner,
                                     co_await read_node(t, p->owner_node));
                if (owner.has_value() && owner->lease == p->owner_lease) {
                    co_return Error(ErrorCode::not_owner,
                                    fmt::format("actor {} is owned by node {}", actor.to_string(),
                                                p->owner_node));
                }
            }
            const uint64_t token = (p.has_value() ? p->fencing_token : 0) + 1;
            KELPIE_CO_TRY(t.set(placement_key(actor), encode_placement(Placement{me, lease, token})));
            KELPIE_CO_TRY_ASSIGN(store::Revision rev, co_await t.commit());
            co_return Claim{token, lease, rev};
        };
    co_return co_await store::run_transaction(executor_, store_, claim_body);
}

io::Task<Status> Registry::release(ActorId actor, Claim claim) {
    const std::string me = options_.node_id;
    store::TransactionBody<bool> release_body =
        [actor, claim, me](store::Transaction& t) -> io::Task<Result<bool>> {
            KELPIE_CO_TRY_ASSIGN(std::optional<Placement> p, co_await read_placement(t, actor));
            if (!p.has_value() || p->owner_node != me || p->owner_lease != claim.lease ||
                p->fencing_token != claim.fencing_token) {
                co_return false;  // someone else owns it by now: nothing to release
            }
            KELPIE_CO_TRY(t.set(placement_key(actor),
                                encode_placement(Placement{"", store::LeaseId(), claim.fencing_token})));
            KELPIE_CO_TRY(co_await t.commit());
            co_return true;
        };
    const store::RetryOptions idempotent{.retry_unknown_result = true};
    Result<bool> r = co_await store::run_transaction(executor_, store_, release_body, idempotent);
    if (!r.ok()) {
        co_return std::move(r).error();
    }
    co_return ok_status();
}

io::Task<Status> Registry::check_fence(store::Transaction& transaction, const ActorId& actor,
                                       const Claim& claim) {
    if (options_.bugs.commit_without_fence) {
        co_return ok_status();  // BUG (switch): a zombie can commit
    }
    KELPIE_CO_TRY_ASSIGN(std::optional<Placement> p, co_await read_placement(transaction, actor));
    if (!p.has_value() || p->owner_node != options_.node_id || p->owner_lease != claim.lease ||
        p->fencing_token != claim.fencing_token) {
        co_return Error(ErrorCode::fenced,
                        fmt::format("actor {}: this activation (node {}, token {}) is no longer the "
                                    "owner (placement: node '{}', token {})",
                                    actor.to_string(), options_.node_id, claim.fencing_token,
                                    p.has_value() ? p->owner_node : "", p.has_value() ? p->fencing_token : 0));
    }
    co_return ok_status();
}

io::Task<Result<std::optional<Placement>>> Registry::lookup(ActorId actor) {
    auto t = store_.begin();
    co_return co_await read_placement(*t, actor);
}

}  // namespace kelpie::registry
