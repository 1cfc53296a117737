// Goal: single ownership, fencing and durable invocations hold on every store backend, not just
// the simulated one: memory (simulated world), RocksDB (real files, real time) and etcd (a real
// 3-member cluster, started by etcd_conformance_test.sh).
// Method: the same coroutine tests over the Store interface (tests/store_conformance/backends.h):
// concurrent claimers; an owner whose lease the store dropped is fenced while the new owner
// commits; the example Counter on the actor runtime (exactly-once under 100 concurrent duplicates,
// idle deactivation, state kept); a reminder that fires after the runtime restarts (RocksDB: after
// the store itself is closed and reopened).

#include <functional>

#include <gtest/gtest.h>

#include "actor/actor.h"
#include "examples/counter/counter.h"
#include "io/combinators.h"
#include "registry/registry.h"
#include "tests/store_conformance/backends.h"
#include "tests/store_conformance/co_assert.h"

namespace kelpie::actor {
namespace {

using registry::Claim;
using registry::Registry;
using registry::RegistryOptions;
using store::testing::Backend;
using store::testing::BackendParam;

RegistryOptions node(std::string id) {
    RegistryOptions o;
    o.node_id = std::move(id);
    o.lease_ttl = Duration::s(5);
    o.safety_margin = Duration::s(1);
    return o;
}

RuntimeOptions runtime_options() {
    RuntimeOptions o;
    o.idle_timeout = Duration::s(1);
    o.reminder_poll_interval = Duration::ms(100);
    return o;
}

class ActorBackends : public store::testing::BackendTest {};

io::Task<Status> fenced_write(Registry* r, store::Store* s, registry::ActorId actor, Claim claim) {
    auto t = s->begin();
    KELPIE_CO_TRY(co_await r->check_fence(*t, actor, claim));
    KELPIE_CO_TRY(t->set("conformance/fenced/" + actor.key, std::to_string(claim.fencing_token)));
    KELPIE_CO_TRY(co_await t->commit());
    co_return ok_status();
}

io::Task<void> concurrent_claims(io::Executor* ex, store::Store* s) {
    std::vector<std::unique_ptr<Registry>> nodes;
    for (int i = 0; i < 5; i++) {
        nodes.push_back(std::make_unique<Registry>(*ex, *s, node("claimer-" + std::to_string(i))));
        Status started_1 = co_await nodes.back()->start();
        CO_ASSERT_OK(started_1);
    }
    const registry::ActorId actor{"counter", "claimed-once"};
    std::vector<io::Task<Result<Claim>>> claims;
    for (auto& n : nodes) {
        claims.push_back(n->claim(actor));
    }
    std::vector<Result<Claim>> results = co_await io::when_all(std::move(claims));
    int owners = 0;
    for (const Result<Claim>& r : results) {
        if (r.ok()) {
            owners++;
            EXPECT_EQ(r->fencing_token, 1u);
        } else {
            EXPECT_EQ(r.code(), ErrorCode::not_owner) << r.error().to_string();
        }
    }
    EXPECT_EQ(owners, 1);
    for (auto& n : nodes) {
        co_await n->stop();
    }
}

TEST_P(ActorBackends, ConcurrentClaimersGetExactlyOneOwner) {
    run(concurrent_claims(&backend_->executor(), &backend_->store()));
}

io::Task<void> expired_owner_is_fenced(io::Executor* ex, store::Store* s) {
    Registry a(*ex, *s, node("fence-a"));
    Registry b(*ex, *s, node("fence-b"));
    Status started_2 = co_await a.start();
    CO_ASSERT_OK(started_2);
    Status started_3 = co_await b.start();
    CO_ASSERT_OK(started_3);
    const registry::ActorId actor{"counter", "fenced"};
    Result<Claim> first = co_await a.claim(actor);
    CO_ASSERT_OK(first);
    Status started_4 = co_await fenced_write(&a, s, actor, *first);
    CO_ASSERT_OK(started_4);
    Result<Claim> refused = co_await b.claim(actor);
    CO_ASSERT(!refused.ok());
    EXPECT_EQ(refused.code(), ErrorCode::not_owner);

    // The store drops A's lease, as it does when A stops renewing it (A is paused or cut off).
    Status started_5 = co_await s->revoke_lease(a.lease());
    CO_ASSERT_OK(started_5);
    Result<Claim> second = co_await b.claim(actor);
    CO_ASSERT_OK(second);
    EXPECT_GT(second->fencing_token, first->fencing_token);
    Status zombie = co_await fenced_write(&a, s, actor, *first);
    CO_ASSERT(!zombie.ok());
    EXPECT_EQ(zombie.code(), ErrorCode::fenced) << zombie.error().to_string();
    Status started_6 = co_await fenced_write(&b, s, actor, *second);
    CO_ASSERT_OK(started_6);
    co_await a.stop();
    co_await b.stop();
}

TEST_P(ActorBackends, OwnerWhoseLeaseIsGoneIsFencedWhileTheNewOwnerCommits) {
    run(expired_owner_is_fenced(&backend_->executor(), &backend_->store()));
}

io::Task<Result<std::string>> invoke(Runtime* rt, registry::ActorId actor, std::string method,
                                     std::string argument, std::string key) {
    Invocation call{std::move(method), std::move(argument)};
    InvokeOptions options{std::move(key)};
    co_return co_await rt->invoke(std::move(actor), std::move(call), std::move(options));
}

void register_counter(Runtime& rt) {
    rt.register_type(std::string(examples::Counter::type),
                     [] { return std::make_unique<examples::Counter>(); });
}

io::Task<void> counter_exactly_once(io::Executor* ex, store::Store* s) {
    Registry reg(*ex, *s, node("counter-node"));
    Status started_7 = co_await reg.start();
    CO_ASSERT_OK(started_7);
    Runtime rt(*ex, *s, reg, runtime_options());
    register_counter(rt);
    rt.start();
    const registry::ActorId c{"counter", "exactly-once"};
    Result<std::string> first = co_await invoke(&rt, c, "add", "5", "");
    CO_ASSERT_OK(first);
    EXPECT_EQ(*first, "5");
    std::vector<io::Task<Result<std::string>>> duplicates;
    for (int i = 0; i < 100; i++) {
        duplicates.push_back(invoke(&rt, c, "add", "10", "same-request"));
    }
    std::vector<Result<std::string>> results = co_await io::when_all(std::move(duplicates));
    for (const Result<std::string>& r : results) {
        CO_ASSERT_OK(r);
        EXPECT_EQ(*r, "15");
    }
    EXPECT_EQ(rt.counters().duplicate_invocations, 99u);
    // Idle deactivation (1 s), then the state comes back from the store.
    co_await ex->sleep_for(Duration::ms(2500));
    EXPECT_EQ(rt.state_of(c), ActivationState::inactive);
    Result<std::string> after = co_await invoke(&rt, c, "get", "", "");
    CO_ASSERT_OK(after);
    EXPECT_EQ(*after, "15");
    EXPECT_EQ(rt.counters().activations, 2u);
    co_await rt.stop();
    co_await reg.stop();
}

TEST_P(ActorBackends, CounterRunsEachIdempotencyKeyOnceAndKeepsItsState) {
    run(counter_exactly_once(&backend_->executor(), &backend_->store()));
}

// One node: a registry and a runtime with the Counter, started and stopped around `body`.
io::Task<void> with_node(io::Executor* ex, store::Store* s, std::string node_id,
                         std::function<io::Task<void>(Runtime*)> body) {
    Registry reg(*ex, *s, node(std::move(node_id)));
    Status started = co_await reg.start();
    CO_ASSERT_OK(started);
    Runtime rt(*ex, *s, reg, runtime_options());
    register_counter(rt);
    rt.start();
    co_await body(&rt);
    co_await rt.stop();
    co_await reg.stop();
}

io::Task<void> schedule_reminder(Runtime* rt) {
    const registry::ActorId c{"counter", "reminded"};
    Result<std::string> r = co_await invoke(rt, c, "remind", "1500", "");
    CO_ASSERT_OK(r);
}

io::Task<void> reminder_has_fired(io::Executor* ex, Runtime* rt) {
    const registry::ActorId c{"counter", "reminded"};
    std::string value;
    for (int i = 0; i < 100 && value != "1"; i++) {
        co_await ex->sleep_for(Duration::ms(100));
        Result<std::string> got = co_await invoke(rt, c, "get", "", "");
        CO_ASSERT_OK(got);
        value = *got;
    }
    EXPECT_EQ(value, "1");
    co_await ex->sleep_for(Duration::s(1));
    Result<std::string> later = co_await invoke(rt, c, "get", "", "");
    CO_ASSERT_OK(later);
    EXPECT_EQ(*later, "1");  // fired once
}

TEST_P(ActorBackends, ReminderFiresAfterARestart) {
    std::function<io::Task<void>(Runtime*)> schedule = [](Runtime* rt) {
        return schedule_reminder(rt);
    };
    run(with_node(&backend_->executor(), &backend_->store(), "reminder-node", schedule));
    const bool reopened = backend_->reopen();
    if (GetParam().name == "rocksdb") {
        EXPECT_TRUE(reopened);
    }
    io::Executor* ex = &backend_->executor();
    std::function<io::Task<void>(Runtime*)> check = [ex](Runtime* rt) {
        return reminder_has_fired(ex, rt);
    };
    run(with_node(&backend_->executor(), &backend_->store(), "reminder-node", check));
}

std::vector<BackendParam> backends() {
    return {
        {"memory", [] { return store::testing::make_memory_backend(); }},
        {"rocksdb", [] { return store::testing::make_rocksdb_backend(); }},
        {"etcd", [] { return store::testing::make_etcd_backend(); }},
    };
}

INSTANTIATE_TEST_SUITE_P(Backends, ActorBackends, ::testing::ValuesIn(backends()),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace kelpie::actor
