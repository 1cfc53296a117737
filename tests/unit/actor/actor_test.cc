// Goal: the actor runtime keeps its promises under the timings that break naive runtimes: turns
// run one at a time and only while Active; idle deactivation happens at the configured time; a
// call racing a deactivation runs exactly once, on the next activation; a full mailbox is an error;
// a failed commit leaves no partial state; a zombie is fenced and shuts itself down; losing the
// lease deactivates everything; reminders survive restarts; an idempotency key takes effect once
// (100 concurrent duplicates; a crash between journaling and completion); the journal is collected.
// Method: SimCluster (several real runtimes sharing a memory store over simulated links), the
// example Counter actor, and a few test actors; each bug switch is shown to break its test.

#include "actor/actor.h"

#include <gtest/gtest.h>

#include "actor/runtime/records.h"

#include "examples/counter/counter.h"
#include "io/combinators.h"
#include "sim/cluster.h"

namespace kelpie::actor {
namespace {

using examples::Counter;

const ActorId counter_a{"counter", "a"};

// A slow actor: "sleep(ms)" waits inside its turn, then counts; "count" returns the count.
class Sleeper final : public Actor {
public:
    Status load(std::string_view state) override {
        count_ = state.empty() ? 0 : std::stoll(std::string(state));
        return {};
    }
    std::string save() const override { return std::to_string(count_); }
    io::Task<Result<std::string>> handle(Context& context, Invocation call) override {
        if (in_turn_) {
            co_return Error(ErrorCode::internal, "a turn started while another was running");
        }
        in_turn_ = true;
        if (call.method == "sleep") {
            co_await context.executor().sleep_for(Duration::ms(std::stoll(call.argument)));
        }
        if (call.method == "sleep" || call.method == "bump") {
            count_++;
        }
        in_turn_ = false;
        co_return std::to_string(count_);
    }

private:
    int64_t count_ = 0;
    bool in_turn_ = false;  // detects overlapping turns on this instance
};

// Grows its state on request: "append(n)" adds n bytes; "size" reports the size.
class Blob final : public Actor {
public:
    Status load(std::string_view state) override {
        data_ = std::string(state);
        return {};
    }
    std::string save() const override { return data_; }
    io::Task<Result<std::string>> handle(Context&, Invocation call) override {
        if (call.method == "append") {
            data_.append(static_cast<size_t>(std::stoll(call.argument)), 'x');
        }
        co_return std::to_string(data_.size());
    }

private:
    std::string data_;
};

// Records every turn start and flags any that is not on an Active activation, or that overlaps
// another accepting activation of the same actor on another node.
class TurnChecker final : public TurnObserver {
public:
    explicit TurnChecker(sim::SimCluster& c) : cluster_(c) {}
    void turn_started(const ActorId& actor, const std::string& node, uint64_t,
                      ActivationState state) override {
        turns++;
        if (state != ActivationState::active) {
            outside_active++;
        }
        for (size_t i = 0; i < cluster_.size(); i++) {
            Runtime* rt = cluster_.node(i).runtime.get();
            if (rt->node_id() != node && rt->accepting_turns(actor)) {
                double_activation++;
            }
        }
    }
    uint64_t turns = 0;
    uint64_t outside_active = 0;
    uint64_t double_activation = 0;

private:
    sim::SimCluster& cluster_;
};

sim::SimClusterOptions options(size_t nodes, RuntimeBugs bugs = {}) {
    sim::SimClusterOptions o;
    o.nodes = nodes;
    o.registry.lease_ttl = Duration::s(3);
    o.registry.safety_margin = Duration::ms(300);
    o.runtime.idle_timeout = Duration::s(30);
    o.runtime.bugs = bugs;
    o.link.delay_max = Duration::ms(2);
    return o;
}

// Exercises the rest of Context. State: a log of steps.
//   "two_steps_then_fail": appends "a", commits mid-turn, appends "b", then fails: "a" must stay.
//   "effect": returns effect_key(3).   "bye": appends "bye" and asks to be deactivated.
//   "tick_every(ms)": a periodic reminder calling "tick"; "stop_ticking": cancels it.
class Stepper final : public Actor {
public:
    Status load(std::string_view state) override {
        log_ = std::string(state);
        return {};
    }
    std::string save() const override { return log_; }
    io::Task<Result<std::string>> handle(Context& context, Invocation call) override {
        if (call.method == "two_steps_then_fail") {
            log_ += "a";
            KELPIE_CO_TRY(co_await context.commit());
            log_ += "b";
            co_return Error(ErrorCode::invalid_argument, "the second step failed");
        }
        if (call.method == "effect") {
            co_return context.effect_key(3);
        }
        if (call.method == "bye") {
            log_ += "bye";
            context.deactivate_after_turn();
        }
        if (call.method == "tick_every") {
            const Duration period = Duration::ms(std::stoll(call.argument));
            KELPIE_CO_TRY(context.set_reminder("ticker", context.executor().wall_now() + period,
                                               Invocation("tick", ""), period));
        }
        if (call.method == "stop_ticking") {
            KELPIE_CO_TRY(context.cancel_reminder("ticker"));
        }
        if (call.method == "tick") {
            log_ += "t";
        }
        if (call.method == "put" || call.method == "put_then_fail") {
            log_ += "p";
            KELPIE_CO_TRY(context.put("side/" + call.argument, std::optional<std::string>("v")));
            if (call.method == "put_then_fail") {
                co_return Error(ErrorCode::invalid_argument, "failed after staging a write");
            }
        }
        if (call.method == "put_if") {
            // "<name>=<expected value>", or "<name>=-" for "expected absent".
            const size_t eq = call.argument.find('=');
            const std::string name = call.argument.substr(0, eq);
            const std::string expected = call.argument.substr(eq + 1);
            log_ += "e";
            KELPIE_CO_TRY(context.expect("side/" + name, expected == "-" ? std::nullopt
                                                                          : std::optional<std::string>(expected)));
            KELPIE_CO_TRY(context.put("side/" + name, std::optional<std::string>("w")));
        }
        if (call.method == "erase") {
            KELPIE_CO_TRY(context.put("side/" + call.argument, std::nullopt));
        }
        if (call.method == "put_reserved") {
            // The state key of another actor: the runtime's own subspace.
            KELPIE_CO_TRY(context.put(records::state_key(ActorId("counter", "x")),
                                      std::optional<std::string>("v")));
        }
        co_return log_;
    }

private:
    std::string log_;
};

void register_types(sim::SimCluster& c) {
    c.register_type("stepper", [] { return std::make_unique<Stepper>(); });
    c.register_type(std::string(Counter::type), [] { return std::make_unique<Counter>(); });
    c.register_type("sleeper", [] { return std::make_unique<Sleeper>(); });
    c.register_type("blob", [] { return std::make_unique<Blob>(); });
}

Result<std::string> call(sim::SimCluster& c, size_t node, ActorId actor, std::string method,
                         std::string argument = "", std::string key = "") {
    Runtime* rt = c.node(node).runtime.get();
    return c.run(node, [](Runtime* r, ActorId a, std::string m, std::string arg,
                          std::string k) -> io::Task<Result<std::string>> {
        Invocation invocation{std::move(m), std::move(arg)};
        InvokeOptions opts{std::move(k)};
        co_return co_await r->invoke(std::move(a), std::move(invocation), std::move(opts));
    }(rt, std::move(actor), std::move(method), std::move(argument), std::move(key)));
}

// Starts `invoke` on node `node` without waiting; the result lands in *out.
void start_call(sim::SimCluster& c, size_t node, ActorId actor, std::string method,
                std::string argument, std::string key, Result<std::string>* out) {
    Runtime* rt = c.node(node).runtime.get();
    io::spawn(*c.node(node).executor,
              [](Runtime* r, ActorId a, std::string m, std::string arg, std::string k,
                 Result<std::string>* o) -> io::Task<void> {
                  Invocation invocation{std::move(m), std::move(arg)};
                  InvokeOptions opts{std::move(k)};
                  *o = co_await r->invoke(std::move(a), std::move(invocation), std::move(opts));
              }(rt, std::move(actor), std::move(method), std::move(argument), std::move(key), out));
}

TEST(Actor, CounterStateSurvivesDeactivation) {
    io::SimWorld world(io::SimWorldOptions{.seed = 1});
    sim::SimCluster c(world, options(1));
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    EXPECT_EQ(call(c, 0, counter_a, "add", "5").value(), "5");
    EXPECT_EQ(call(c, 0, counter_a, "add", "-2").value(), "3");
    EXPECT_EQ(c.node(0).runtime->state_of(counter_a), ActivationState::active);
    world.run_for(Duration::s(31));
    EXPECT_EQ(c.node(0).runtime->state_of(counter_a), ActivationState::inactive);
    EXPECT_EQ(call(c, 0, counter_a, "get").value(), "3");
    EXPECT_EQ(c.node(0).runtime->counters().activations, 2u);
    Result<std::string> bad = call(c, 0, counter_a, "add", "x");
    EXPECT_EQ(bad.code(), ErrorCode::invalid_argument);
    EXPECT_EQ(call(c, 0, ActorId{"nope", "a"}, "get").code(), ErrorCode::not_found);
    EXPECT_EQ(call(c, 0, counter_a, "").code(), ErrorCode::invalid_argument);
    EXPECT_EQ(call(c, 0, counter_a, "get", std::string(invocation_argument_bytes_max + 1, 'a')).code(),
              ErrorCode::limit_exceeded);
    EXPECT_EQ(call(c, 0, counter_a, "get", "", "kelpie-reminder:1:x").code(),
              ErrorCode::invalid_argument);
    c.stop_all();
}

TEST(Actor, RejectsOversizedNamesAndKeys) {
    io::SimWorld world(io::SimWorldOptions{.seed = 1});
    sim::SimCluster c(world, options(1));
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    EXPECT_EQ(call(c, 0, counter_a, "get", "", std::string(idempotency_key_bytes_max + 1, 'k')).code(),
              ErrorCode::limit_exceeded);
    EXPECT_EQ(call(c, 0, ActorId("counter", std::string(registry::actor_name_bytes_max + 1, 'x')),
                   "get").code(),
              ErrorCode::limit_exceeded);
    EXPECT_EQ(call(c, 0, counter_a, std::string(method_name_bytes_max + 1, 'm')).code(),
              ErrorCode::invalid_argument);
    EXPECT_EQ(call(c, 0, counter_a, "get", "", std::string(idempotency_key_bytes_max, 'k')).value(),
              "0");
    c.stop_all();
}

TEST(Actor, MidTurnCommitSurvivesALaterFailureOfTheTurn) {
    io::SimWorld world(io::SimWorldOptions{.seed = 1});
    sim::SimCluster c(world, options(1));
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    const ActorId s("stepper", "s");
    Result<std::string> failed = call(c, 0, s, "two_steps_then_fail");
    EXPECT_EQ(failed.code(), ErrorCode::invalid_argument);
    EXPECT_EQ(call(c, 0, s, "log").value(), "a");  // "a" was committed, "b" rolled back
    world.run_for(Duration::s(31));                 // idle: reload from the store
    EXPECT_EQ(c.node(0).runtime->state_of(s), ActivationState::inactive);
    EXPECT_EQ(call(c, 0, s, "log").value(), "a");
    c.stop_all();
}

// Reads one key from the cluster's store ("" if absent).
std::string stored(sim::SimCluster& c, std::string key) {
    return c.run(0, [](store::Store* st, std::string k) -> io::Task<std::string> {
        auto t = st->begin();
        Result<std::optional<store::KeyValue>> kv = co_await t->get(k);
        co_return (kv.ok() && kv->has_value()) ? (*kv)->value : std::string();
    }(&c.store(), std::move(key)));
}

TEST(Actor, StagedWritesCommitWithTheStateOrNotAtAll) {
    io::SimWorld world(io::SimWorldOptions{.seed = 1});
    sim::SimCluster c(world, options(1));
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    const ActorId s("stepper", "w");
    EXPECT_EQ(call(c, 0, s, "put", "one").value(), "p");
    EXPECT_EQ(stored(c, "side/one"), "v");
    // A failed turn discards both its state change and its staged write.
    EXPECT_EQ(call(c, 0, s, "put_then_fail", "two").code(), ErrorCode::invalid_argument);
    EXPECT_EQ(stored(c, "side/two"), "");
    EXPECT_EQ(call(c, 0, s, "log").value(), "p");
    EXPECT_EQ(call(c, 0, s, "erase", "one").value(), "p");
    EXPECT_EQ(stored(c, "side/one"), "");
    EXPECT_EQ(call(c, 0, s, "put_reserved").code(), ErrorCode::invalid_argument);
    Result<std::optional<std::string>> state =
        c.run(0, read_committed_state(c.store(), s));
    ASSERT_TRUE(state.ok());
    EXPECT_EQ(state->value_or("none"), "p");
    c.stop_all();
}

// Context::expect: the commit happens only if the record still holds what the actor read;
// otherwise the turn is refused with `conflict` and leaves nothing (state or writes) behind.
TEST(Actor, ExpectedRecordThatChangedRefusesTheCommit) {
    io::SimWorld world(io::SimWorldOptions{.seed = 1});
    sim::SimCluster c(world, options(1));
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    const ActorId s("stepper", "x");
    ASSERT_TRUE(call(c, 0, s, "put", "k").ok());  // side/k = v
    EXPECT_EQ(call(c, 0, s, "put_if", "k=v").value(), "pe");
    EXPECT_EQ(stored(c, "side/k"), "w");
    // Expecting the old value now: refused, nothing applied.
    EXPECT_EQ(call(c, 0, s, "put_if", "k=v").code(), ErrorCode::conflict);
    EXPECT_EQ(stored(c, "side/k"), "w");
    EXPECT_EQ(c.node(0).runtime->counters().stale_commits, 1u);
    Result<std::optional<std::string>> state = c.run(0, read_committed_state(c.store(), s));
    ASSERT_TRUE(state.ok());
    EXPECT_EQ(state->value_or("none"), "pe");
    // Absence can be expected too.
    EXPECT_TRUE(call(c, 0, s, "put_if", "fresh=-").ok());
    EXPECT_EQ(stored(c, "side/fresh"), "w");
    EXPECT_EQ(call(c, 0, s, "put_if", "fresh=-").code(), ErrorCode::conflict);
    c.stop_all();
}

TEST(Actor, EffectKeysAreUniqueAcrossTurnsAndActivations) {
    io::SimWorld world(io::SimWorldOptions{.seed = 1});
    sim::SimCluster c(world, options(1));
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    const ActorId s("stepper", "e");
    const std::string first = call(c, 0, s, "effect").value();
    const std::string second = call(c, 0, s, "effect").value();
    EXPECT_EQ(first, "stepper/e/1/1/3");  // type/key/fencing token/turn/step
    EXPECT_EQ(second, "stepper/e/1/2/3");
    world.run_for(Duration::s(31));  // deactivate; the next activation has a new token
    EXPECT_EQ(call(c, 0, s, "effect").value(), "stepper/e/2/1/3");
    c.stop_all();
}

TEST(Actor, DeactivateAfterTurnDeactivatesOnceTheTurnCommitted) {
    io::SimWorld world(io::SimWorldOptions{.seed = 1});
    sim::SimCluster c(world, options(1));
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    const ActorId s("stepper", "d");
    EXPECT_EQ(call(c, 0, s, "bye").value(), "bye");
    world.run_for(Duration::ms(100));
    EXPECT_EQ(c.node(0).runtime->state_of(s), ActivationState::inactive);
    EXPECT_EQ(call(c, 0, s, "log").value(), "bye");
    EXPECT_EQ(c.node(0).runtime->counters().activations, 2u);
    c.stop_all();
}

TEST(Actor, PeriodicReminderKeepsFiringUntilCancelled) {
    io::SimWorld world(io::SimWorldOptions{.seed = 1});
    sim::SimCluster c(world, options(1));
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    const ActorId s("stepper", "r");
    ASSERT_TRUE(call(c, 0, s, "tick_every", "5000").ok());
    world.run_for(Duration::s(23));  // due at 5, 10, 15, 20 s (polled every second)
    EXPECT_EQ(call(c, 0, s, "log").value(), "tttt");
    ASSERT_TRUE(call(c, 0, s, "stop_ticking").ok());
    world.run_for(Duration::s(30));
    EXPECT_EQ(call(c, 0, s, "log").value(), "tttt");
    EXPECT_EQ(c.node(0).runtime->counters().reminders_fired, 4u);
    c.stop_all();
}

TEST(Actor, IdleDeactivationHappensAtTheConfiguredTime) {
    io::SimWorld world(io::SimWorldOptions{.seed = 2});
    sim::SimCluster c(world, options(1));
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    ASSERT_TRUE(call(c, 0, counter_a, "add", "1").ok());
    const Instant last_turn = world.now();
    Instant deactivated;
    while (deactivated == Instant() && world.now() < last_turn + Duration::s(60)) {
        world.run_for(Duration::ms(10));
        if (c.node(0).runtime->state_of(counter_a) != ActivationState::active &&
            deactivated == Instant()) {
            deactivated = world.now();
        }
    }
    ASSERT_NE(deactivated, Instant());
    // idle_timeout is 30 s: not before, and promptly after (the link delay is at most 2 ms).
    EXPECT_GE(deactivated - last_turn, Duration::s(30));
    EXPECT_LE(deactivated - last_turn, Duration::s(30) + Duration::ms(50));
    c.stop_all();
}

// Sends a call at the instant the actor starts deactivating; returns (result, observer).
struct RaceOutcome {
    Result<std::string> result = Error(ErrorCode::internal, "not run");
    uint64_t outside_active = 0;
    uint64_t activations = 0;
    std::string final_value;
};

RaceOutcome race_deactivation(uint64_t seed, RuntimeBugs bugs) {
    io::SimWorld world(io::SimWorldOptions{.seed = seed});
    sim::SimCluster c(world, options(1, bugs));
    register_types(c);
    TurnChecker checker(c);
    c.node(0).runtime->set_observer(&checker);
    EXPECT_TRUE(c.start_all().ok());
    EXPECT_TRUE(call(c, 0, counter_a, "add", "1").ok());
    // Step until the idle timer starts the deactivation, then call at once.
    while (c.node(0).runtime->state_of(counter_a) == ActivationState::active) {
        world.step();
    }
    EXPECT_EQ(c.node(0).runtime->state_of(counter_a), ActivationState::deactivating);
    RaceOutcome out;
    start_call(c, 0, counter_a, "add", "10", "", &out.result);
    world.run_for(Duration::s(5));
    out.outside_active = checker.outside_active;
    out.activations = c.node(0).runtime->counters().activations;
    out.final_value = call(c, 0, counter_a, "get").value_or("?");
    c.stop_all();
    return out;
}

TEST(Actor, InvocationRacingDeactivationRunsOnceOnTheNextActivation) {
    for (uint64_t seed = 1; seed <= 10; seed++) {
        RaceOutcome r = race_deactivation(seed, {});
        ASSERT_TRUE(r.result.ok()) << r.result.error().to_string();
        EXPECT_EQ(r.result.value(), "11");
        EXPECT_EQ(r.final_value, "11");  // ran exactly once
        EXPECT_EQ(r.outside_active, 0u);
        EXPECT_EQ(r.activations, 2u);
    }
}

TEST(Actor, InvokeRacesDeactivationBugRunsATurnOutsideActive) {
    RaceOutcome r = race_deactivation(1, RuntimeBugs{.invoke_races_deactivation = true});
    EXPECT_GE(r.outside_active, 1u);
}

TEST(Actor, TurnsNeverOverlap) {
    io::SimWorld world(io::SimWorldOptions{.seed = 3});
    sim::SimCluster c(world, options(1));
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    const ActorId s{"sleeper", "s"};
    std::vector<Result<std::string>> results(20, Error(ErrorCode::internal, "not run"));
    for (size_t i = 0; i < results.size(); i++) {
        start_call(c, 0, s, "sleep", "100", "", &results[i]);
    }
    // One at a time, 100 ms each: after one second at most ten have finished.
    world.run_for(Duration::s(1));
    size_t finished = 0;
    for (const auto& r : results) {
        finished += r.ok() ? 1 : 0;
    }
    EXPECT_LE(finished, 10u);
    world.run_for(Duration::s(10));
    std::set<std::string> seen;
    for (const auto& r : results) {
        ASSERT_TRUE(r.ok()) << r.error().to_string();  // an overlap would be an error here
        seen.insert(r.value());
    }
    EXPECT_EQ(seen.size(), 20u);  // each turn saw the previous one's effect
    EXPECT_EQ(call(c, 0, s, "count").value(), "20");
    c.stop_all();
}

TEST(Actor, FullMailboxIsAnError) {
    io::SimWorld world(io::SimWorldOptions{.seed = 4});
    sim::SimCluster c(world, options(1));
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    const ActorId s{"sleeper", "s"};
    ASSERT_TRUE(call(c, 0, s, "count").ok());  // activate it
    const size_t n = mailbox_depth_max + 10;
    std::vector<Result<std::string>> results(n, Error(ErrorCode::internal, "not run"));
    for (size_t i = 0; i < n; i++) {
        start_call(c, 0, s, "sleep", "1", "", &results[i]);
    }
    world.run_for(Duration::s(60));
    size_t ok = 0;
    size_t full = 0;
    for (const auto& r : results) {
        if (r.ok()) {
            ok++;
        } else {
            EXPECT_EQ(r.code(), ErrorCode::limit_exceeded) << r.error().to_string();
            full++;
        }
    }
    EXPECT_GE(full, 1u);
    EXPECT_EQ(ok + full, n);
    EXPECT_EQ(call(c, 0, s, "count").value(), std::to_string(ok));  // nothing rejected ran
    c.stop_all();
}

TEST(Actor, FailedCommitLeavesNoPartialState) {
    io::SimWorld world(io::SimWorldOptions{.seed = 5});
    sim::SimCluster c(world, options(1));
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    const ActorId b{"blob", "b"};
    EXPECT_EQ(call(c, 0, b, "append", "10").value(), "10");
    // Too large to commit: the turn fails and the actor is back at 10 bytes, in memory and stored.
    Result<std::string> big = call(c, 0, b, "append", std::to_string(actor_state_bytes_max));
    ASSERT_FALSE(big.ok());
    EXPECT_EQ(big.code(), ErrorCode::limit_exceeded);
    EXPECT_EQ(call(c, 0, b, "size").value(), "10");
    // The store unreachable at commit time for longer than the retries last: same.
    c.node(0).link->set_partitioned(true);
    start_call(c, 0, b, "append", "5", "", &big);
    world.run_for(Duration::s(60));
    ASSERT_FALSE(big.ok());
    EXPECT_EQ(big.code(), ErrorCode::unavailable) << big.error().to_string();
    c.node(0).link->set_partitioned(false);
    world.run_for(Duration::s(10));  // the node registers again
    EXPECT_EQ(call(c, 0, b, "size").value(), "10");
    c.stop_all();
}

TEST(Actor, ZombieIsFencedAndShutsDownWhileTheNewOwnerServes) {
    io::SimWorld world(io::SimWorldOptions{.seed = 6});
    sim::SimCluster c(world, options(2));
    register_types(c);
    TurnChecker checker(c);
    c.node(0).runtime->set_observer(&checker);
    c.node(1).runtime->set_observer(&checker);
    ASSERT_TRUE(c.start_all().ok());
    const ActorId s{"sleeper", "z"};
    EXPECT_EQ(call(c, 0, s, "bump").value(), "1");
    // A 3 s turn on node 0; one second in, node 0 freezes for 10 s (a long pause: the zombie).
    Result<std::string> zombie = Error(ErrorCode::internal, "not run");
    start_call(c, 0, s, "sleep", "3000", "", &zombie);
    world.run_for(Duration::s(1));
    c.node(0).executor->pause_for(Duration::s(10));
    world.run_for(Duration::s(5));  // node 0's lease has expired in the store
    EXPECT_EQ(call(c, 1, s, "bump").value(), "2");  // node 1 took over from the committed 1
    world.run_for(Duration::s(10));                 // node 0 wakes and tries to commit
    ASSERT_FALSE(zombie.ok());
    EXPECT_EQ(zombie.code(), ErrorCode::fenced) << zombie.error().to_string();
    EXPECT_EQ(c.node(0).runtime->state_of(s), ActivationState::inactive);
    EXPECT_EQ(call(c, 1, s, "count").value(), "2");
    EXPECT_EQ(checker.double_activation, 0u);
    c.stop_all();
}

TEST(Actor, LosingTheLeaseDeactivatesEverything) {
    io::SimWorld world(io::SimWorldOptions{.seed = 7});
    sim::SimCluster c(world, options(1));
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    for (int i = 0; i < 5; i++) {
        ASSERT_TRUE(call(c, 0, ActorId{"counter", std::to_string(i)}, "add", "1").ok());
    }
    EXPECT_EQ(c.node(0).runtime->active_count(), 5u);
    c.node(0).link->set_partitioned(true);
    world.run_for(Duration::s(5));
    EXPECT_EQ(c.node(0).runtime->active_count(), 0u);
    Result<std::string> refused = call(c, 0, counter_a, "get");
    EXPECT_EQ(refused.code(), ErrorCode::lease_expired) << refused.error().to_string();
    c.node(0).link->set_partitioned(false);
    world.run_for(Duration::s(5));  // the node re-registers with a new lease
    EXPECT_EQ(call(c, 0, ActorId{"counter", "3"}, "get").value(), "1");
    c.stop_all();
}

TEST(Actor, ReminderFiresAfterARestart) {
    io::SimWorld world(io::SimWorldOptions{.seed = 8});
    sim::SimCluster c(world, options(1));
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    EXPECT_EQ(call(c, 0, counter_a, "remind", "20000").value(), "scheduled");
    world.run_for(Duration::s(1));
    c.crash(0);  // killed: nothing of the old process runs again
    world.run_for(Duration::s(1));
    ASSERT_TRUE(c.start(0).ok());
    world.run_for(Duration::s(10));
    EXPECT_EQ(call(c, 0, counter_a, "get").value(), "0");  // not yet due
    world.run_for(Duration::s(15));
    EXPECT_EQ(call(c, 0, counter_a, "get").value(), "1");
    world.run_for(Duration::s(60));
    EXPECT_EQ(call(c, 0, counter_a, "get").value(), "1");  // a one-shot reminder fires once
    EXPECT_EQ(c.node(0).runtime->counters().reminders_fired, 1u);
    c.stop_all();
}

TEST(Actor, SameIdempotencyKeyHundredTimesConcurrentlyRunsOnce) {
    for (uint64_t seed = 1; seed <= 5; seed++) {
        io::SimWorld world(io::SimWorldOptions{.seed = seed});
        sim::SimCluster c(world, options(2));
        register_types(c);
        ASSERT_TRUE(c.start_all().ok());
        ASSERT_TRUE(call(c, 0, counter_a, "add", "1").ok());
        std::vector<Result<std::string>> results(100, Error(ErrorCode::internal, "not run"));
        for (size_t i = 0; i < results.size(); i++) {
            start_call(c, 0, counter_a, "add", "7", "request-1", &results[i]);
        }
        world.run_for(Duration::s(10));
        for (const auto& r : results) {
            ASSERT_TRUE(r.ok()) << r.error().to_string();
            EXPECT_EQ(r.value(), "8");
        }
        EXPECT_EQ(call(c, 0, counter_a, "get").value(), "8");
        EXPECT_EQ(c.node(0).runtime->counters().duplicate_invocations, 99u);
        c.stop_all();
    }
}

// Node 0 journals a call with key K and crashes before completing it; node 1 gets the retry.
// Returns the final counter value (1 + 7 if K took effect once).
std::string crash_between_journal_and_completion(uint64_t seed, RuntimeBugs bugs) {
    io::SimWorld world(io::SimWorldOptions{.seed = seed});
    sim::SimCluster c(world, options(2, bugs));
    register_types(c);
    EXPECT_TRUE(c.start_all().ok());
    const ActorId s{"sleeper", "k"};
    EXPECT_EQ(call(c, 0, s, "bump").value(), "1");
    Result<std::string> first = Error(ErrorCode::internal, "not run");
    // 'sleep' keeps the turn open for 2 s after its journal entry is written.
    start_call(c, 0, s, "sleep", "2000", "K", &first);
    world.run_for(Duration::ms(1000));
    c.crash(0);
    world.run_for(Duration::s(5));  // the dead node's lease expires
    Result<std::string> retry = call(c, 1, s, "sleep", "2000", "K");
    EXPECT_TRUE(retry.ok()) << retry.error().to_string();
    Result<std::string> again = call(c, 1, s, "sleep", "2000", "K");
    EXPECT_TRUE(again.ok());
    if (retry.ok() && again.ok()) {
        EXPECT_EQ(retry.value(), again.value());
    }
    std::string value = call(c, 1, s, "count").value_or("?");
    c.stop_all();
    return value;
}

TEST(Actor, CrashBetweenJournalAndCompletionStillRunsOnce) {
    for (uint64_t seed = 1; seed <= 5; seed++) {
        EXPECT_EQ(crash_between_journal_and_completion(seed, {}), "2") << "seed " << seed;
    }
}

// Node 0 journals a 2 s call and dies a second in; then node 1 serves the actor once.
// Returns (node 1's answer to "count", how many entries node 1 replayed).
std::pair<std::string, uint64_t> serve_after_a_crash_mid_turn(RuntimeBugs bugs) {
    io::SimWorld world(io::SimWorldOptions{.seed = 1});
    sim::SimCluster c(world, options(2, bugs));
    register_types(c);
    EXPECT_TRUE(c.start_all().ok());
    const ActorId s{"sleeper", "k"};
    Result<std::string> first = Error(ErrorCode::internal, "not run");
    start_call(c, 0, s, "sleep", "2000", "K", &first);
    world.run_for(Duration::ms(1000));
    c.crash(0);
    world.run_for(Duration::s(5));
    // Any call activates the actor on node 1, which first finishes the journaled one.
    std::pair<std::string, uint64_t> out{call(c, 1, s, "count").value_or("?"),
                                         c.node(1).runtime->counters().replayed};
    c.stop_all();
    return out;
}

TEST(Actor, PendingEntriesAreReplayedOnActivation) {
    EXPECT_EQ(serve_after_a_crash_mid_turn({}), (std::pair<std::string, uint64_t>{"1", 1}));
}

TEST(Actor, NoRecoveryBugLeavesPendingEntriesUnrun) {
    EXPECT_EQ(serve_after_a_crash_mid_turn(RuntimeBugs{.no_recovery = true}),
              (std::pair<std::string, uint64_t>{"0", 0}));
}

// Node 0 journals a 2 s call and crashes a second in; it restarts and nobody calls the actor again.
// Returns (the actor's committed count, pending entries left) a minute later.
std::pair<std::string, size_t> restart_without_callers(RuntimeBugs bugs) {
    io::SimWorld world(io::SimWorldOptions{.seed = 3});
    sim::SimCluster c(world, options(1, bugs));
    register_types(c);
    EXPECT_TRUE(c.start_all().ok());
    const ActorId s{"sleeper", "r"};
    Result<std::string> first = Error(ErrorCode::internal, "not run");
    start_call(c, 0, s, "sleep", "2000", "K", &first);
    world.run_for(Duration::ms(1000));
    c.crash(0);
    world.run_for(Duration::s(5));  // the dead incarnation's lease expires
    EXPECT_TRUE(c.start(0).ok());
    world.run_for(Duration::s(10));
    Result<std::optional<std::string>> state = c.run(0, read_committed_state(c.store(), s));
    Result<size_t> pending = c.run(0, count_pending(c.store(), s));
    std::pair<std::string, size_t> out{state.ok() ? state->value_or("none") : "error",
                                       pending.value_or(99)};
    c.stop_all();
    return out;
}

TEST(Actor, RecoverySweepFinishesACrashedTurnWithoutACaller) {
    EXPECT_EQ(restart_without_callers({}), (std::pair<std::string, size_t>{"1", 0}));
    EXPECT_EQ(restart_without_callers(RuntimeBugs{.no_recovery = true}),
              (std::pair<std::string, size_t>{"none", 1}));
}

TEST(Actor, CompletedJournalEntriesAreCollectedAfterRetention) {
    io::SimWorld world(io::SimWorldOptions{.seed = 9});
    sim::SimClusterOptions o = options(1);
    o.runtime.journal_retention = Duration::minutes(5);
    o.runtime.journal_gc_interval = Duration::minutes(1);
    sim::SimCluster c(world, o);
    register_types(c);
    ASSERT_TRUE(c.start_all().ok());
    for (int i = 0; i < 10; i++) {
        ASSERT_TRUE(call(c, 0, counter_a, "add", "1", "key-" + std::to_string(i)).ok());
    }
    world.run_for(Duration::minutes(3));
    EXPECT_EQ(c.node(0).runtime->counters().journal_entries_collected, 0u);
    EXPECT_EQ(call(c, 0, counter_a, "add", "1", "key-0").value(), "1");  // still deduplicated
    world.run_for(Duration::minutes(4));
    EXPECT_EQ(c.node(0).runtime->counters().journal_entries_collected, 10u);
    c.stop_all();
}

}  // namespace
}  // namespace kelpie::actor
