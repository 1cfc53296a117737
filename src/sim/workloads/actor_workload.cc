#include "sim/workloads/actor_workload.h"

#include <fmt/format.h>

#include "io/channel.h"
#include "io/combinators.h"

namespace kelpie::sim {

namespace {

constexpr uint32_t actors_min = 2;
constexpr uint32_t actors_max = 6;
constexpr Duration client_call_timeout = Duration::s(5);
constexpr const char* ledger_type = "ledger";

// The workload's actor: an append-only list of applied operation ids. "apply(op)" appends op;
// "get" returns the list. A duplicate or a missing acknowledged op is visible in every state it
// commits.
std::vector<std::string> split_ops(std::string_view state) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < state.size()) {
        size_t comma = state.find(',', start);
        if (comma == std::string_view::npos) {
            comma = state.size();
        }
        out.emplace_back(state.substr(start, comma - start));
        start = comma + 1;
    }
    return out;
}

class Ledger final : public actor::Actor {
public:
    Status load(std::string_view state) override {
        ops_ = split_ops(state);
        return {};
    }
    std::string save() const override {
        std::string out;
        for (const std::string& op : ops_) {
            if (!out.empty()) {
                out += ',';
            }
            out += op;
        }
        return out;
    }
    io::Task<Result<std::string>> handle(actor::Context& context, actor::Invocation call) override {
        if (call.method == "apply") {
            // A turn takes time (an agent's takes minutes): crashes and fences land inside it.
            if (turn_time_max_ms_ > 0) {
                io::Executor& ex = context.executor();
                co_await ex.sleep_for(Duration::ms(ex.random().between(0, turn_time_max_ms_)));
            }
            ops_.push_back(call.argument);
            co_return std::to_string(ops_.size());
        }
        co_return save();
    }

    explicit Ledger(int64_t turn_time_max_ms) : turn_time_max_ms_(turn_time_max_ms) {}

private:
    int64_t turn_time_max_ms_;
    std::vector<std::string> ops_;
};

}  // namespace

// Watches the store from outside (every applied commit) and every turn as it starts.
class ActorWorkload::Checker final : public actor::TurnObserver {
public:
    explicit Checker(io::SimWorld& world) : world_(world) {}
    void set_cluster(SimCluster* cluster) { cluster_ = cluster; }

    void violation(std::string invariant, std::string detail) {
        if (!first_.has_value()) {
            first_ = Violation{std::move(invariant), std::move(detail), world_.now()};
        }
    }
    const std::optional<Violation>& first() const { return first_; }

    // single_activation holds only if the store never expires a lease early; seeds that inject
    // early expiry check the rest (single_writer still must hold: that is what fencing is for).
    bool check_single_activation = true;

    void acked(const registry::ActorId& actor, const std::string& op) { acked_[actor].insert(op); }
    const std::set<std::string>& acked_ops(const registry::ActorId& actor) { return acked_[actor]; }

    void committed(store::Revision revision, const std::vector<store::AppliedWrite>& writes) {
        for (const store::AppliedWrite& w : writes) {
            if (w.kind != store::AppliedWrite::Kind::set) {
                continue;
            }
            if (registry::is_placement_key(w.key)) {
                placement_written(revision, w);
            } else if (std::optional<actor::StoredState> s = actor::decode_stored_state(w.key, w.value)) {
                state_written(revision, *s);
            }
        }
    }

    void turn_started(const registry::ActorId& actor, const std::string& node, uint64_t token,
                      actor::ActivationState state) override {
        turns++;
        if (state != actor::ActivationState::active) {
            violation("turn_outside_active",
                      fmt::format("{} on {} (token {}) started a turn while {}", actor.to_string(),
                                  node, token, actor::activation_state_name(state)));
        }
        if (!check_single_activation || cluster_ == nullptr) {
            return;
        }
        for (size_t i = 0; i < cluster_->size(); i++) {
            SimCluster::Node& n = cluster_->node(i);
            if (n.up && n.runtime->node_id() != node && n.runtime->accepting_turns(actor)) {
                violation("single_activation",
                          fmt::format("{}: a turn started on {} (token {}) while {} also accepts "
                                      "turns for it",
                                      actor.to_string(), node, token, n.runtime->node_id()));
            }
        }
    }

    uint64_t turns = 0;

private:
    void placement_written(store::Revision revision, const store::AppliedWrite& w) {
        Result<registry::ActorId> actor = registry::placement_actor(w.key);
        Result<registry::Placement> p = registry::decode_placement(w.value);
        if (!actor.ok() || !p.ok()) {
            violation("corruption", "undecodable placement record at revision " +
                                        std::to_string(revision));
            return;
        }
        auto it = placements_.find(*actor);
        if (it != placements_.end()) {
            const registry::Placement& old = it->second;
            const bool claim = !p->owner_node.empty();
            if (p->fencing_token < old.fencing_token ||
                (claim && p->fencing_token <= old.fencing_token)) {
                violation("fencing_monotonic",
                          fmt::format("{}: placement token {} (owner '{}') after {} (owner '{}') "
                                      "at revision {}",
                                      actor->to_string(), p->fencing_token, p->owner_node,
                                      old.fencing_token, old.owner_node, revision));
            }
        }
        placements_[*actor] = *p;
    }

    void state_written(store::Revision revision, const actor::StoredState& s) {
        auto it = placements_.find(s.actor);
        if (it == placements_.end() || it->second.owner_node.empty() ||
            it->second.fencing_token != s.fencing_token) {
            violation("single_writer",
                      fmt::format("{}: state written by token {} at revision {}, but the "
                                  "placement names '{}' with token {}",
                                  s.actor.to_string(), s.fencing_token, revision,
                                  it == placements_.end() ? "" : it->second.owner_node,
                                  it == placements_.end() ? 0 : it->second.fencing_token));
        }
        if (s.actor.type != ledger_type) {
            return;
        }
        std::vector<std::string> ops = split_ops(s.bytes);
        std::set<std::string> seen;
        for (const std::string& op : ops) {
            if (!seen.insert(op).second && op.starts_with('k')) {
                violation("idempotency_once", fmt::format("{}: op {} applied twice (revision {})",
                                                          s.actor.to_string(), op, revision));
            }
        }
        for (const std::string& op : acked_[s.actor]) {
            if (!seen.contains(op)) {
                violation("acked_write_lost",
                          fmt::format("{}: acknowledged op {} missing from the state committed at "
                                      "revision {}",
                                      s.actor.to_string(), op, revision));
            }
        }
    }

    io::SimWorld& world_;
    SimCluster* cluster_ = nullptr;
    std::optional<Violation> first_;
    std::map<registry::ActorId, registry::Placement> placements_;
    std::map<registry::ActorId, std::set<std::string>> acked_;
};

ActorWorkload::ActorWorkload(io::SimWorld& world, ActorWorkloadOptions options)
    : world_(world), options_(std::move(options)) {
    io::Random& random = world_.random();
    // Swarm testing: each seed uses its own subset of the allowed fault kinds.
    for (const std::string& kind : options_.faults) {
        if (random.chance(0.6)) {
            plan_.insert(kind);
        }
    }
    store_faults_ = std::make_shared<store::StoreFaultControl>();
    SimClusterOptions o;
    o.nodes = options_.nodes;
    o.store.faults.control = store_faults_;
    auto pct = [&random](int64_t lo, int64_t hi) {
        return static_cast<double>(random.between(lo, hi)) / 1000.0;
    };
    if (plan_.contains("store_conflict")) {
        o.store.faults.conflict_probability = pct(5, 100);
    }
    if (plan_.contains("store_unknown_result")) {
        o.store.faults.unknown_result_probability = pct(5, 50);
    }
    if (plan_.contains("store_unavailable")) {
        o.store.faults.unavailable_probability = pct(5, 50);
    }
    if (plan_.contains("store_latency")) {
        o.store.faults.latency_max = Duration::ms(random.between(1, 50));
    }
    if (plan_.contains("disk_failure")) {
        o.store.faults.disk_write_failure_probability = pct(5, 30) / 10.0;
    }
    if (plan_.contains("early_lease_expiry")) {
        o.store.faults.early_lease_expiry_probability = pct(1, 5) / 10.0;
    }
    o.store.bugs.skip_read_check = options_.bug == "skip_read_check";
    o.store.bugs.non_atomic_commit = options_.bug == "non_atomic_commit";
    lease_ttl_ = Duration::s(random.between(2, 5));
    o.registry.lease_ttl = lease_ttl_;
    o.registry.safety_margin = Duration::ms(300);
    o.registry.bugs.claim_without_check = options_.bug == "claim_without_check";
    o.registry.bugs.commit_without_fence = options_.bug == "commit_without_fence";
    o.registry.bugs.lease_after_expiry = options_.bug == "lease_after_expiry";
    // Traffic and idleness vary by seed: some seeds keep actors busy, others let them idle out
    // (and come back) all the time.
    o.runtime.idle_timeout = Duration::ms(random.between(20, 5'000));
    think_max_ms_ = random.between(20, 3'000);
    if (plan_.contains("call_loss")) {
        call_loss_ = pct(5, 50);
    }
    if (plan_.contains("call_duplicate")) {
        call_duplicate_ = pct(10, 200);
    }
    if (plan_.contains("call_delay")) {
        call_delay_max_ = Duration::ms(random.between(1, 200));
    }
    abandon_probability_ = pct(50, 500);
    o.runtime.journal_retention = Duration::minutes(30);
    o.runtime.bugs.idempotency_not_atomic = options_.bug == "idempotency_not_atomic";
    o.runtime.bugs.no_recovery = options_.bug == "no_recovery";
    o.runtime.bugs.invoke_races_deactivation = options_.bug == "invoke_races_deactivation";
    o.runtime.bugs.early_ack = options_.bug == "early_ack";
    if (plan_.contains("link_delay") || plan_.contains("link_reorder")) {
        o.link.delay_max = Duration::ms(random.between(1, 30));
    }
    if (plan_.contains("link_loss")) {
        o.link.loss_probability = pct(5, 50);
    }
    o.link.request_timeout = Duration::ms(random.between(500, 2000));

    checker_ = std::make_unique<Checker>(world_);
    Checker* checker = checker_.get();
    o.store.on_commit = [checker](store::Revision rev, const std::vector<store::AppliedWrite>& w) {
        checker->committed(rev, w);
    };
    cluster_ = std::make_unique<SimCluster>(world_, o);
    checker_->set_cluster(cluster_.get());
    checker_->check_single_activation = !plan_.contains("early_lease_expiry");
    const int64_t turn_time_max_ms = random.chance(0.5) ? random.between(1, 500) : 0;
    cluster_->register_type(ledger_type, [turn_time_max_ms] {
        return std::make_unique<Ledger>(turn_time_max_ms);
    });
    for (size_t i = 0; i < cluster_->size(); i++) {
        cluster_->node(i).runtime->set_observer(checker_.get());
        if (plan_.contains("clock_drift")) {
            cluster_->node(i).executor->set_clock_drift_ppm(random.between(-9'000, 9'000));
            fired_["clock_drift"]++;
        }
    }
    clients_ = &world_.add_node();
    const auto actor_count = static_cast<uint32_t>(random.between(actors_min, actors_max));
    for (uint32_t a = 0; a < actor_count; a++) {
        actors_.push_back(registry::ActorId{ledger_type, "l" + std::to_string(a)});
    }
}

ActorWorkload::~ActorWorkload() = default;

const std::optional<Violation>& ActorWorkload::violation() const { return checker_->first(); }

uint64_t ActorWorkload::turns() const { return checker_->turns; }

void ActorWorkload::start(Instant fault_phase_end, Instant liveness_end) {
    fault_phase_end_ = fault_phase_end;
    liveness_end_ = liveness_end;
    for (size_t i = 0; i < cluster_->size(); i++) {
        if (!cluster_->start(i).ok()) {
            restarts_[i] = world_.now() + Duration::s(1);  // a supervisor tries again
        }
    }
    const auto clients = static_cast<uint32_t>(world_.random().between(2, 3 * options_.nodes + 2));
    for (uint32_t c = 0; c < clients; c++) {
        clients_running_++;
        io::spawn(*clients_, client(c));
    }
}

io::Task<Result<std::string>> ActorWorkload::rpc(size_t node, registry::ActorId actor,
                                                 std::string method, std::string argument,
                                                 std::string key) {
    SimCluster::Node& n = cluster_->node(node);
    if (!n.up) {
        co_return Error(ErrorCode::unavailable, "node is down");
    }
    io::Random& random = clients_->random();
    auto box = std::make_shared<io::Channel<Result<std::string>>>(*clients_, 1);
    // One delivery of the call to the node: after `delay` in transit, the node runs it; its answer
    // travels back unless `answer_lost`.
    auto call = [](actor::Runtime* rt, io::Executor* node_ex, io::Executor* home, Duration delay,
                   bool answer_lost, registry::ActorId a, std::string m, std::string arg,
                   std::string k,
                   std::shared_ptr<io::Channel<Result<std::string>>> reply) -> io::Task<void> {
        if (delay > Duration::zero()) {
            co_await node_ex->sleep_for(delay);
        }
        actor::Invocation invocation{std::move(m), std::move(arg)};
        actor::InvokeOptions options{std::move(k)};
        Result<std::string> r =
            co_await rt->invoke(std::move(a), std::move(invocation), std::move(options));
        co_await io::resume_on(*home);
        if (!answer_lost) {
            (void)reply->try_send(std::move(r));
        }
    };
    const bool request_lost = call_loss_ > 0 && random.chance(call_loss_);
    const int deliveries = request_lost ? 0 : (call_duplicate_ > 0 && random.chance(call_duplicate_) ? 2 : 1);
    if (request_lost) {
        fired_["call_loss"]++;
    }
    if (deliveries == 2) {
        fired_["call_duplicate"]++;
    }
    for (int d = 0; d < deliveries; d++) {
        Duration delay;
        if (call_delay_max_ > Duration::zero()) {
            delay = Duration::ns(random.between(0, call_delay_max_.to_ns()));
            fired_["call_delay"]++;
        }
        const bool answer_lost = call_loss_ > 0 && random.chance(call_loss_);
        if (answer_lost) {
            fired_["call_loss"]++;
        }
        io::spawn(*n.executor, call(n.runtime.get(), n.executor, clients_, delay, answer_lost,
                                    actor, method, argument, key, box));
    }
    auto receive = [](std::shared_ptr<io::Channel<Result<std::string>>> b)
        -> io::Task<std::optional<Result<std::string>>> { co_return co_await b->receive(); };
    Result<std::optional<Result<std::string>>> got =
        co_await io::with_timeout(*clients_, client_call_timeout, receive(box));
    if (!got.ok()) {
        co_return std::move(got).error();
    }
    if (!got->has_value()) {
        co_return Error(ErrorCode::internal, "reply channel closed");
    }
    co_return std::move(**got);
}

io::Task<void> ActorWorkload::client(uint32_t id) {
    io::Random& random = clients_->random();
    for (uint64_t seq = 0; clients_->now() < fault_phase_end_; seq++) {
        co_await clients_->sleep_for(Duration::ms(random.between(1, think_max_ms_)));
        const registry::ActorId actor = actors_[random.below(actors_.size())];
        // Most calls carry an idempotency key (op ids "k..."): they must take effect exactly once.
        // The rest have none ("n...": retried, they may apply more than once, but an acknowledged
        // one must never be lost).
        const bool keyed = random.chance(0.8);
        const std::string op = fmt::format("{}{}-{}", keyed ? 'k' : 'n', id, seq);
        std::string key;  // (built apart: a ?: temporary inside co_await trips g++ 12, ADR 0001)
        if (keyed) {
            key = op;
        }
        // Most clients insist until acknowledged; some give up after one try (a caller that went
        // away): what they started must still complete once it was journaled.
        const bool persistent = !random.chance(abandon_probability_);
        while (true) {
            const size_t node = random.below(cluster_->size());
            Result<std::string> r = co_await rpc(node, actor, "apply", op, key);
            if (r.ok()) {
                checker_->acked(actor, op);
                acknowledged_++;
                break;
            }
            if (!persistent || clients_->now() >= liveness_end_) {
                break;
            }
            co_await clients_->sleep_for(Duration::ms(random.between(20, 500)));
        }
    }
    clients_running_--;
}

void ActorWorkload::crash_node() {
    std::vector<size_t> up;
    for (size_t i = 0; i < cluster_->size(); i++) {
        if (cluster_->node(i).up) {
            up.push_back(i);
        }
    }
    if (up.empty()) {
        return;
    }
    const size_t i = up[world_.random().below(up.size())];
    cluster_->crash(i);
    cluster_->node(i).runtime->set_observer(checker_.get());
    restarts_[i] = world_.now() + Duration::ms(world_.random().between(0, 5000));
    fired_["node_crash"]++;
}

void ActorWorkload::heal_due() {
    if (!cluster_->store_up() && world_.now() >= store_restart_at_) {
        cluster_->restart_store();
    }
    for (auto it = partition_ends_.begin(); it != partition_ends_.end();) {
        if (it->second <= world_.now()) {
            cluster_->node(it->first).link->set_partitioned(false);
            cluster_->node(it->first).link->set_answers_cut(false);
            it = partition_ends_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto it = restarts_.begin(); it != restarts_.end();) {
        if (it->second <= world_.now()) {
            if (!cluster_->node(it->first).up && !cluster_->start(it->first).ok()) {
                it->second = world_.now() + Duration::s(1);  // failed to start: try again
                ++it;
                continue;
            }
            it = restarts_.erase(it);
        } else {
            ++it;
        }
    }
}

void ActorWorkload::tick() {
    io::Random& random = world_.random();
    heal_due();
    const size_t n = cluster_->size();
    if (plan_.contains("node_crash") && random.chance(0.04)) {
        crash_node();
    }
    if (plan_.contains("node_pause") && random.chance(0.06)) {
        const size_t i = random.below(n);
        // Half the pauses outlast the lease: the node wakes up a zombie.
        const Duration d = random.chance(0.5) ? Duration::ms(random.between(10, 1000))
                                              : lease_ttl_ + Duration::ms(random.between(0, 5000));
        cluster_->node(i).executor->pause_for(d);
        fired_["node_pause"]++;
    }
    if (plan_.contains("partition") && random.chance(0.05)) {
        const size_t i = random.below(n);
        cluster_->node(i).link->set_partitioned(true);
        partition_ends_[i] = world_.now() + Duration::ms(random.between(200, 3 * lease_ttl_.to_ms()));
        fired_["partition"]++;
    }
    if (plan_.contains("partition_asymmetric") && random.chance(0.05)) {
        const size_t i = random.below(n);
        cluster_->node(i).link->set_answers_cut(true);
        partition_ends_[i] = world_.now() + Duration::ms(random.between(200, 3 * lease_ttl_.to_ms()));
        fired_["partition_asymmetric"]++;
    }
    // A failed disk write makes the store refuse commits; its supervisor restarts it.
    if (store_faults_->disk_write_failures > disk_failures_seen_) {
        disk_failures_seen_ = store_faults_->disk_write_failures;
        if (cluster_->store_up()) {
            cluster_->crash_store();
            store_restart_at_ = world_.now() + Duration::ms(random.between(100, 3000));
        }
    }
    if (plan_.contains("store_crash") && cluster_->store_up() && random.chance(0.02)) {
        cluster_->crash_store();
        store_restart_at_ = world_.now() + Duration::ms(random.between(100, 5000));
        fired_["store_crash"]++;
    }
    if (plan_.contains("clock_jump") && random.chance(0.03)) {
        cluster_->node(random.below(n)).executor->advance_clock(Duration::ms(random.between(1, 2000)));
        fired_["clock_jump"]++;
    }
}

void ActorWorkload::heal() {
    store_faults_->enabled = false;
    if (!cluster_->store_up()) {
        cluster_->restart_store();
    }
    for (size_t i = 0; i < cluster_->size(); i++) {
        SimCluster::Node& node = cluster_->node(i);
        node.link->set_partitioned(false);
        node.link->set_answers_cut(false);
        node.link->set_faults(LinkFaults{.request_timeout = Duration::s(1)});
    }
    for (size_t i = 0; i < cluster_->size(); i++) {
        // Healed, a start can still fail once (a stale answer in flight): try a few times.
        for (int attempt = 0; attempt < 10 && !cluster_->node(i).up; attempt++) {
            if (!cluster_->start(i).ok()) {
                world_.run_for(Duration::s(1));
            }
        }
        if (!cluster_->node(i).up) {
            checker_->violation("not_live", fmt::format("node {} does not start after the faults "
                                                        "stopped", i + 1));
        }
    }
    partition_ends_.clear();
    restarts_.clear();
}

void ActorWorkload::finish(Duration bound) {
    const Instant deadline = world_.now() + bound;
    for (const registry::ActorId& actor : actors_) {
        // Serve the actor (this activates it and replays what is pending), through any node.
        std::optional<std::string> state;
        while (!state.has_value() && world_.now() < deadline) {
            auto get = [](ActorWorkload* w, registry::ActorId a, size_t node)
                -> io::Task<Result<std::string>> {
                co_return co_await w->rpc(node, std::move(a), "get", "", "");
            };
            const size_t node = world_.random().below(cluster_->size());
            Result<std::string> r = io::block_on(world_, *clients_, get(this, actor, node));
            if (r.ok()) {
                state = std::move(*r);
            } else {
                world_.run_for(Duration::ms(100));
            }
        }
        if (!state.has_value()) {
            checker_->violation("not_live", fmt::format("{} was not served within {} after the "
                                                        "faults stopped",
                                                        actor.to_string(), bound.to_string()));
            return;
        }
        Result<size_t> pending = io::block_on(world_, cluster_->store_executor(),
                                              actor::count_pending(cluster_->store(), actor));
        if (!pending.ok() || *pending != 0) {
            checker_->violation("pending_not_replayed",
                                fmt::format("{}: {} journaled call(s) never completed after it "
                                            "was served",
                                            actor.to_string(),
                                            pending.ok() ? std::to_string(*pending) : "?"));
        }
        std::vector<std::string> ops = split_ops(*state);
        std::set<std::string> seen;
        for (const std::string& op : ops) {
            if (!seen.insert(op).second && op.starts_with('k')) {
                checker_->violation("idempotency_once",
                                    fmt::format("{}: op {} appears twice in the final state",
                                                actor.to_string(), op));
            }
        }
        for (const std::string& op : checker_->acked_ops(actor)) {
            if (!seen.contains(op)) {
                checker_->violation("acked_write_lost",
                                    fmt::format("{}: acknowledged op {} missing at the end",
                                                actor.to_string(), op));
            }
        }
    }
}

void ActorWorkload::stop() { cluster_->stop_all(); }

std::vector<std::pair<std::string, uint64_t>> ActorWorkload::fault_counts() const {
    std::map<std::string, uint64_t> counts = fired_;
    counts["store_conflict"] += store_faults_->conflicts;
    counts["store_unknown_result"] += store_faults_->unknown_results;
    counts["store_unavailable"] += store_faults_->unavailable;
    counts["store_latency"] += store_faults_->latency_spikes;
    counts["early_lease_expiry"] += store_faults_->early_lease_expiries;
    counts["disk_failure"] += store_faults_->disk_write_failures;
    for (size_t i = 0; i < cluster_->size(); i++) {
        const LinkCounters& c = cluster_->node(i).link->counters();
        counts["link_loss"] += c.requests_lost + c.answers_lost;
        counts["link_delay"] += c.delayed;
        counts["link_reorder"] += c.reordered;
    }
    return {counts.begin(), counts.end()};
}

}  // namespace kelpie::sim
