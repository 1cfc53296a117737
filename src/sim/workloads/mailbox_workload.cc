// The `mailbox` workload (see sim/harness.h): senders and receivers on every node exchange numbered
// messages through bounded channels, with random delays, send timeouts and retries, on drifting
// clocks; a checker watches every delivery and every wake-up.
//
// Invariants of the workload itself:
//  (1) A message counts as sent only when its send completed (the send was acknowledged). A send
//      that timed out did not enqueue and is retried with the same sequence number.
//  (2) Per (sender, receiver) pair, sequence numbers are sent 0, 1, 2, ... and must be received in
//      exactly that order, each once.

#include <map>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "io/channel.h"
#include "io/combinators.h"
#include "io/sim_world.h"
#include "sim/bank_workload.h"
#include "sim/harness.h"
#include "sim/workloads/actor_workload.h"
#include "sim/workloads/agent_workload.h"
#include "store/memory_store.h"

namespace kelpie::sim {

namespace {

constexpr uint32_t receivers_per_node = 4;
constexpr uint32_t senders_per_node = 6;
// After the sending phase, everything must have drained within this much virtual time.
constexpr Duration liveness_bound = Duration::s(60);

struct Message {
    uint32_t sender = 0;    // global sender index
    uint32_t receiver = 0;  // global receiver index
    uint64_t sequence = 0;  // per (sender, receiver) pair
};

class Checker {
public:
    explicit Checker(io::SimWorld& world) : world_(world) {}

    void violation(std::string invariant, std::string detail) {
        if (!first_.has_value()) {
            first_ = Violation{std::move(invariant), std::move(detail), world_.now()};
        }
    }
    const std::optional<Violation>& first() const { return first_; }
    // Makes `v` the reported violation (an earlier one found by another workload's checker).
    void replace(Violation v) { first_ = std::move(v); }

    void acknowledged(const Message& m) { sent_[{m.sender, m.receiver}]++; }

    void received(const Message& m) {
        uint64_t& expected = next_[{m.sender, m.receiver}];
        if (m.sequence < expected) {
            violation("message_duplicated",
                      fmt::format("sender {} -> receiver {}: seq {} again (expected {})", m.sender,
                                  m.receiver, m.sequence, expected));
        } else if (m.sequence > expected) {
            violation("message_lost",
                      fmt::format("sender {} -> receiver {}: got seq {}, seq {} never arrived "
                                  "(lost or reordered)",
                                  m.sender, m.receiver, m.sequence, expected));
            expected = m.sequence + 1;
        } else {
            expected++;
        }
        delivered_++;
    }

    // After the run: everything acknowledged was received.
    void check_all_delivered() {
        for (const auto& [pair, count] : sent_) {
            const uint64_t got = next_[pair];
            if (got < count) {
                violation("message_lost",
                          fmt::format("sender {} -> receiver {}: {} acknowledged, {} received",
                                      pair.first, pair.second, count, got));
            }
        }
    }

    // Sleeps on `ex` and checks the wake-up is not early on that node's clock.
    io::Task<void> sleep(io::Executor& ex, Duration d) {
        const Instant deadline = ex.now() + d;
        co_await ex.sleep_for(d);
        if (ex.now() < deadline) {
            violation("timer_early", fmt::format("woke at {} before deadline {}",
                                                 ex.now().since_origin().to_string(),
                                                 deadline.since_origin().to_string()));
        }
    }

    uint64_t delivered() const { return delivered_; }
    uint64_t timeouts = 0;

private:
    io::SimWorld& world_;
    std::optional<Violation> first_;
    std::map<std::pair<uint32_t, uint32_t>, uint64_t> sent_;
    std::map<std::pair<uint32_t, uint32_t>, uint64_t> next_;
    uint64_t delivered_ = 0;
};

struct Node {
    io::SimExecutor* executor = nullptr;
    std::vector<std::unique_ptr<io::Channel<Message>>> mailboxes;
    uint32_t first_receiver = 0;  // global index of mailboxes[0]
};

io::Task<Status> send(io::Channel<Message>& mailbox, Message m) { co_return co_await mailbox.send(m); }

io::Task<void> sender(io::Executor& ex, Node& node, Checker& checker, uint32_t id,
                      Instant stop_at) {
    std::map<uint32_t, uint64_t> next_sequence;
    while (ex.now() < stop_at) {
        // Mostly short pauses, sometimes a long one.
        const Duration pause = ex.random().chance(0.05)
                                   ? Duration::ms(ex.random().between(500, 5000))
                                   : Duration::ms(ex.random().between(0, 50));
        co_await checker.sleep(ex, pause);
        const auto local = static_cast<uint32_t>(ex.random().below(node.mailboxes.size()));
        Message m{id, node.first_receiver + local, next_sequence[node.first_receiver + local]};
        for (;;) {
            const Duration timeout = Duration::ms(ex.random().between(1, 40));
            Status sent = co_await io::with_timeout(ex, timeout, send(*node.mailboxes[local], m));
            if (sent.ok()) {
                break;
            }
            KELPIE_ASSERT(sent.code() == ErrorCode::timeout);
            checker.timeouts++;
        }
        checker.acknowledged(m);
        next_sequence[m.receiver]++;
    }
}

io::Task<void> receiver(io::Executor& ex, io::Channel<Message>& mailbox, Checker& checker,
                        bool canary) {
    bool dropped = false;
    while (auto m = co_await mailbox.receive()) {
        if (canary && !dropped && m->sequence == 3) {
            dropped = true;  // the canary: a delivered message silently lost
            continue;
        }
        checker.received(*m);
        // Usually quick; now and then slow, so that mailboxes fill and senders time out.
        const Duration work = ex.random().chance(0.03)
                                  ? Duration::ms(ex.random().between(100, 500))
                                  : Duration::us(ex.random().between(0, 20'000));
        co_await checker.sleep(ex, work);
    }
}

// Runs one node: its senders until stop_at, then closes its mailboxes and lets receivers drain.
io::Task<void> run_node(Node& node, Checker& checker, Instant stop_at, uint32_t first_sender,
                        bool canary) {
    io::Executor& ex = *node.executor;
    std::vector<io::Task<void>> receivers;
    for (size_t i = 0; i < node.mailboxes.size(); i++) {
        receivers.push_back(receiver(ex, *node.mailboxes[i], checker, canary && i == 0));
    }
    auto senders_then_close = [](io::Executor& e, Node& n, Checker& c, Instant stop,
                                 uint32_t first) -> io::Task<void> {
        std::vector<io::Task<void>> senders;
        for (uint32_t s = 0; s < senders_per_node; s++) {
            senders.push_back(sender(e, n, c, first + s, stop));
        }
        co_await io::when_all(std::move(senders));
        for (auto& mailbox : n.mailboxes) {
            mailbox->close();
        }
    };
    receivers.push_back(senders_then_close(ex, node, checker, stop_at, first_sender));
    co_await io::when_all(std::move(receivers));
}

}  // namespace

std::vector<std::pair<std::string, std::string>> bug_names() {
    return {
        {"skip_read_check",
         "store commits without checking the read set (lost updates; claims without a version "
         "check)"},
        {"non_atomic_commit",
         "the memory store applies a commit's first write at once and the rest later"},
        {"claim_without_check",
         "placement claim reads in one transaction and writes blind in another (TOCTOU)"},
        {"commit_without_fence", "actor state commits skip the fencing-token check"},
        {"lease_after_expiry",
         "a node trusts its lease until the store says it expired (no conservative reckoning)"},
        {"idempotency_not_atomic",
         "an invocation's result is journaled in a transaction apart from its state change"},
        {"no_recovery", "pending journal entries are not replayed on activation"},
        {"invoke_races_deactivation", "a call that arrives during deactivation runs on the "
                                      "deactivating instance"},
        {"agent_call_without_return",
         "an agent step commits the model's tool call before the tool's return"},
        {"early_ack", "the caller is told ok before the turn's commit is durable"},
        {"agent_block_write_unchecked",
         "an agent's turn rewrites a shared block from the copy it read at the turn's start"},
    };
}

std::vector<std::pair<std::string, std::string>> fault_kinds() {
    return {
        {"link_loss", "a request to the store, or its answer, is lost"},
        {"link_delay", "requests and answers between a node and the store are delayed"},
        {"link_reorder", "delays make messages on a node's link overtake earlier ones"},
        {"call_loss", "a client's call to a node, or its answer, is lost (the client retries)"},
        {"call_duplicate", "a client's call is delivered to the node twice"},
        {"call_delay", "client calls are delayed in transit (and so reordered)"},
        {"partition", "a node is cut off from the store (both ways) for a while"},
        {"partition_asymmetric", "a node's requests reach the store, the answers do not"},
        {"node_crash", "a node's process is killed and restarted later with the same id"},
        {"node_pause", "a node freezes (sometimes longer than its lease TTL: a zombie)"},
        {"clock_drift", "node clocks run fast or slow (within clock_drift_max_ppm)"},
        {"clock_jump", "a node's clock jumps forward"},
        {"store_conflict", "the store fails commits with conflict"},
        {"store_unknown_result", "the store reports unknown_result (applied or not)"},
        {"store_unavailable", "the store fails reads and commits with unavailable"},
        {"store_latency", "store calls take up to tens of milliseconds"},
        {"early_lease_expiry", "the store expires a lease before its TTL"},
        {"store_crash", "the store process dies (its disk survives) and restarts later"},
        {"disk_failure", "a store disk write fails: the store refuses commits and is restarted"},
        {"llm_error", "the agents' model fails a call (HTTP 5xx after the retries)"},
        {"llm_rate_limit", "the agents' model answers 429 (rate limit) after the retries"},
        {"llm_timeout", "the agents' model does not answer within the call's timeout"},
        {"llm_malformed", "the agents' model makes a tool call whose arguments are not JSON"},
    };
}

namespace {

// The bank workload's store on node 0: memory backend, faults picked by the seed (swarm style:
// each seed its own mix), and the bug switch if it is a store bug.
store::MemoryStoreOptions bank_store_options(io::Random& random, const std::string& bug) {
    store::MemoryStoreOptions o;
    if (random.chance(0.5)) {
        o.faults.conflict_probability = static_cast<double>(random.between(0, 20)) / 100.0;
    }
    if (random.chance(0.5)) {
        o.faults.unavailable_probability = static_cast<double>(random.between(0, 10)) / 100.0;
    }
    if (random.chance(0.5)) {
        o.faults.latency_max = Duration::us(random.between(1, 5000));
    }
    // Not injected here: unknown results (a transfer is not idempotent, so the workload could not
    // tell what happened) and early lease expiry (the workload uses no leases).
    o.bugs.skip_read_check = bug == "skip_read_check";
    return o;
}

}  // namespace

SimRunResult run_simulation(const SimRunOptions& options) {
    KELPIE_ASSERT(options.nodes >= 1);
    io::SimWorld world(io::SimWorldOptions{.seed = options.seed});
    Checker checker(world);
    std::vector<Node> nodes(options.nodes);
    for (uint32_t n = 0; n < options.nodes; n++) {
        Node& node = nodes[n];
        node.executor = &world.add_node();
        // Each seed picks its own clock drift per node (up to ±200 ppm) and mailbox sizes.
        node.executor->set_clock_drift_ppm(world.random().between(-200, 200));
        node.first_receiver = n * receivers_per_node;
        for (uint32_t r = 0; r < receivers_per_node; r++) {
            const auto capacity = static_cast<size_t>(world.random().between(1, 8));
            node.mailboxes.push_back(
                std::make_unique<io::Channel<Message>>(*node.executor, capacity));
        }
    }

    uint32_t finished = 0;
    for (uint32_t n = 0; n < options.nodes; n++) {
        io::SimExecutor& ex = *nodes[n].executor;
        auto body = [](Node& node, Checker& c, Instant stop, uint32_t first, bool canary,
                       uint32_t* done) -> io::Task<void> {
            co_await run_node(node, c, stop, first, canary);
            (*done)++;
        };
        io::spawn(ex, body(nodes[n], checker, ex.now() + options.duration, n * senders_per_node,
                           options.canary && n == 0, &finished));
    }

    // The bank workload on node 0's store.
    auto made = store::make_memory_store(*nodes[0].executor,
                                         bank_store_options(world.random(), options.bug));
    KELPIE_ASSERT(made.ok());
    std::unique_ptr<store::Store> bank_store = std::move(made).value();
    BankWorkload bank(BankOptions{
        .accounts = static_cast<uint32_t>(world.random().between(3, 8)),
        .workers = static_cast<uint32_t>(world.random().between(2, 8)),
        .transfers = static_cast<uint32_t>(world.random().between(10, 60)),
    });
    bool bank_done = false;
    auto bank_body = [](BankWorkload* b, io::Executor* e, store::Store* st,
                        bool* done) -> io::Task<void> {
        co_await b->run(*e, *st);
        co_await st->close();
        *done = true;
    };
    io::spawn(*nodes[0].executor,
              bank_body(&bank, nodes[0].executor, bank_store.get(), &bank_done));

    // The actors workload: a cluster of real runtimes under the seed's fault plan.
    ActorWorkload actors(world, ActorWorkloadOptions{.nodes = options.nodes,
                                                     .bug = options.bug,
                                                     .faults = options.faults});
    const Instant faults_end = world.now() + options.duration;
    const Instant horizon = faults_end + liveness_bound;
    actors.start(faults_end, horizon);
    // The agents workload: agent services with a simulated model on their own cluster.
    AgentWorkload agents(world, AgentWorkloadOptions{.nodes = options.nodes, .bug = options.bug, .faults = options.faults});
    agents.start(faults_end, horizon);

    // The fault phase. Occasionally a mailbox node's clock jumps forward too.
    uint64_t mailbox_clock_jumps = 0;
    while (world.now() < faults_end) {
        world.run_for(Duration::s(1));
        actors.tick();
        agents.tick();
        if (options.faults.contains("clock_jump") && world.random().chance(0.02)) {
            const auto n = static_cast<uint32_t>(world.random().below(options.nodes));
            nodes[n].executor->advance_clock(Duration::ms(world.random().between(1, 2000)));
            mailbox_clock_jumps++;
        }
    }
    // The liveness phase: everything healed; all work must finish within liveness_bound.
    actors.heal();
    agents.heal();
    while (world.now() < horizon && (finished < options.nodes || !bank_done ||
                                     !actors.clients_done() || !agents.clients_done())) {
        world.run_for(Duration::s(1));
    }
    if (finished < options.nodes) {
        checker.violation("not_live", fmt::format("{} of {} nodes still running {} after the "
                                                  "sending phase",
                                                  options.nodes - finished, options.nodes,
                                                  liveness_bound.to_string()));
        // Tasks stuck here can never finish; their frames are abandoned with the world.
    } else {
        checker.check_all_delivered();
    }
    if (!bank_done) {
        checker.violation("not_live", "the bank workload is still running " +
                                          liveness_bound.to_string() + " after the sending phase");
        // Its frames are abandoned with the world, and so is its store (never closed).
        (void)bank_store.release();
    } else if (auto v = bank.check()) {
        checker.violation(v->invariant, v->detail);
    }
    if (!actors.clients_done()) {
        checker.violation("not_live", "actor clients still have unacknowledged calls " +
                                          liveness_bound.to_string() + " after the faults stopped");
    } else {
        actors.finish(liveness_bound);
    }
    actors.stop();
    if (actors.violation().has_value() &&
        (!checker.first().has_value() || actors.violation()->at < checker.first()->at)) {
        checker.replace(*actors.violation());
    }
    if (!agents.clients_done()) {
        checker.violation("not_live", "agent clients still have unacknowledged messages " +
                                          liveness_bound.to_string() + " after the faults stopped");
    } else {
        agents.finish(Duration::s(30));
    }
    agents.stop();
    if (agents.violation().has_value() &&
        (!checker.first().has_value() || agents.violation()->at < checker.first()->at)) {
        checker.replace(*agents.violation());
    }

    SimRunResult result;
    result.seed = options.seed;
    result.trace_hash = world.trace_hash();
    result.violation = checker.first();
    result.simulated = world.now().since_origin();
    result.events = world.events_executed();
    result.messages = checker.delivered();
    result.timeouts = checker.timeouts;
    result.store_commits = bank.commits();
    result.actor_calls_acked = actors.acknowledged();
    result.actor_turns = actors.turns();
    result.agent_messages_acked = agents.acknowledged();
    result.faults = actors.fault_counts();
    for (const auto& kind_count : agents.fault_counts()) {
        result.faults.push_back(kind_count);
    }
    for (auto& [kind, count] : result.faults) {
        if (kind == "clock_jump") {
            count += mailbox_clock_jumps;
        }
    }
    return result;
}

}  // namespace kelpie::sim
