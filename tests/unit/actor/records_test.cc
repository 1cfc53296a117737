// Goal: the actor layer's stored records and keys (state, journal entries, reminders, indexes) and
// the registry's placement records survive a round trip, and any bytes whatsoever decode either to
// a valid record or to ErrorCode::corruption — never a crash (DESIGN §11). A corrupted state
// record reaches the caller as corruption. Method: RapidCheck properties over random records and
// random bytes; one simulated cluster with a state record overwritten by garbage.

#include "actor/runtime/records.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "registry/registry.h"
#include "sim/cluster.h"
#include "examples/counter/counter.h"

namespace kelpie::actor::records {
namespace {

// (A function, not `r.ok() || r.code() == ...` inside RC_ASSERT: RapidCheck evaluates both sides
// of a top-level || to report them, and code() of an ok result asserts.)
template <typename T>
bool ok_or_corruption(const Result<T>& r) {
    return r.ok() || r.code() == ErrorCode::corruption;
}

RC_GTEST_PROP(Records, StateRoundTrips, (uint32_t token, std::string bytes)) {
    Result<StateRecord> r = decode_state(encode_state(StateRecord{token, bytes}));
    RC_ASSERT(r.ok());
    RC_ASSERT(r->fencing_token == token);
    RC_ASSERT(r->bytes == bytes);
}

RC_GTEST_PROP(Records, JournalRoundTrips,
              (std::string method, std::string argument, std::string result, bool failed,
               int64_t expires_ms)) {
    JournalEntry e;
    e.status = failed ? JournalStatus::done : JournalStatus::pending;
    e.call = Invocation(method, argument);
    if (failed) {
        e.error = ErrorCode::invalid_argument;
    }
    e.result = result;
    e.expires_ms = expires_ms;
    Result<JournalEntry> r = decode_journal(encode_journal(e));
    RC_ASSERT(r.ok());
    RC_ASSERT(r->status == e.status);
    RC_ASSERT(r->call.method == method);
    RC_ASSERT(r->call.argument == argument);
    RC_ASSERT(r->error == e.error);
    RC_ASSERT(r->result == result);
    RC_ASSERT(r->expires_ms == expires_ms);
}

RC_GTEST_PROP(Records, ReminderAndIndexKeysRoundTrip,
              (std::string type, std::string key, std::string name, int64_t due_ms)) {
    const ActorId actor(type, key);
    Result<IndexedKey> due = decode_reminder_due_key(reminder_due_key(due_ms, actor, name));
    RC_ASSERT(due.ok());
    RC_ASSERT(due->time_ms == due_ms && due->actor == actor && due->name == name);
    Result<IndexedKey> gc = decode_journal_gc_key(journal_gc_key(due_ms, actor, name));
    RC_ASSERT(gc.ok() && gc->actor == actor && gc->name == name);
    Result<IndexedKey> pending = decode_pending_key(pending_key(actor, name));
    RC_ASSERT(pending.ok() && pending->actor == actor && pending->name == name);
    Result<ActorId> state = state_actor(state_key(actor));
    RC_ASSERT(state.ok() && *state == actor);
}

RC_GTEST_PROP(Records, ReminderFireKeysRoundTrip, (std::string name, uint32_t due_ms)) {
    RC_PRE(!name.empty());
    std::optional<ReminderFire> fire =
        parse_reminder_idempotency_key(reminder_idempotency_key(ReminderFire{name, due_ms}));
    RC_ASSERT(fire.has_value());
    RC_ASSERT(fire->name == name && fire->due_ms == static_cast<int64_t>(due_ms));
}

// Any bytes: a record or corruption, never a crash.
RC_GTEST_PROP(Records, ArbitraryBytesDecodeOrReportCorruption, (std::string bytes)) {
    auto check = [](const auto& r) { RC_ASSERT(ok_or_corruption(r)); };
    check(decode_state(bytes));
    check(decode_journal(bytes));
    check(decode_reminder(bytes));
    check(decode_due(bytes));
    check(decode_pending_key(bytes));
    check(decode_reminder_due_key(bytes));
    check(decode_journal_gc_key(bytes));
    check(state_actor(bytes));
    check(registry::decode_placement(bytes));
    check(registry::placement_actor(bytes));
    (void)parse_reminder_idempotency_key(bytes);
    (void)decode_stored_state(bytes, bytes);
}

// Valid records with one byte changed: still a record or corruption.
RC_GTEST_PROP(Records, FlippedBytesDecodeOrReportCorruption,
              (std::string method, std::string argument, size_t where, uint8_t value)) {
    JournalEntry e;
    e.call = Invocation(method, argument);
    std::string bytes = encode_journal(e);
    bytes[where % bytes.size()] = static_cast<char>(value);
    Result<JournalEntry> r = decode_journal(bytes);
    RC_ASSERT(ok_or_corruption(r));
    std::string placement =
        registry::encode_placement(registry::Placement{method, store::LeaseId(7), 3});
    placement[where % placement.size()] = static_cast<char>(value);
    Result<registry::Placement> p = registry::decode_placement(placement);
    RC_ASSERT(ok_or_corruption(p));
}

TEST(Records, CorruptedStateReachesTheCallerAsCorruption) {
    io::SimWorld world(io::SimWorldOptions{.seed = 1});
    sim::SimClusterOptions o;
    o.nodes = 1;
    sim::SimCluster c(world, o);
    c.register_type("counter", [] { return std::make_unique<examples::Counter>(); });
    ASSERT_TRUE(c.start_all().ok());
    const ActorId a("counter", "broken");
    auto garbage = [](store::Store* s, std::string key) -> io::Task<Status> {
        auto t = s->begin();
        KELPIE_CO_TRY(t->set(key, "\x15not a record"));
        KELPIE_CO_TRY(co_await t->commit());
        co_return ok_status();
    };
    ASSERT_TRUE(io::block_on(world, c.store_executor(), garbage(&c.store(), state_key(a))).ok());
    Runtime* rt = c.node(0).runtime.get();
    auto get = [](Runtime* r, ActorId id) -> io::Task<Result<std::string>> {
        co_return co_await r->invoke(std::move(id), Invocation("get", ""));
    };
    Result<std::string> r = c.run(0, get(rt, a));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), ErrorCode::corruption) << r.error().to_string();
    // The node is fine: other actors are served.
    EXPECT_EQ(c.run(0, get(rt, ActorId("counter", "fine"))).value(), "0");
    c.stop_all();
}

}  // namespace
}  // namespace kelpie::actor::records
