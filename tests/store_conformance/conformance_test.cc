// Goal: every store backend implements exactly the semantics of src/store/store.h. One suite, run
// unchanged against each backend (memory on the simulated world; RocksDB on the real one; etcd
// against a real 3-member cluster when KELPIE_TEST_ETCD_ENDPOINTS names one).
// Method: each test is a coroutine over the Store interface only; timing-dependent cases (leases)
// poll with a deadline instead of assuming exact timing.

#include <gtest/gtest.h>

#include "io/combinators.h"
#include "store/store.h"
#include "tests/store_conformance/backends.h"
#include "tests/store_conformance/co_assert.h"

namespace kelpie::store::testing {
namespace {


std::string k(const std::string& suffix) { return "conformance/" + suffix; }

// Commits one transaction setting key=value (no reads).
io::Task<Result<Revision>> put(Store& s, std::string key, std::string value, LeaseId lease = {}) {
    auto t = s.begin();
    Status st = t->set(key, value, WriteOptions{.lease = lease});
    if (!st.ok()) {
        co_return std::move(st).error();
    }
    co_return co_await t->commit();
}

// Reads key in a fresh transaction.
io::Task<Result<std::optional<std::string>>> read(Store& s, std::string key) {
    auto t = s.begin();
    auto r = co_await t->get(key);
    if (!r.ok()) {
        co_return std::move(r).error();
    }
    co_return r->has_value() ? std::optional<std::string>((*r)->value) : std::nullopt;
}

class Conformance : public BackendTest {};

io::Task<void> read_your_writes(Store* s) {
    auto t = s->begin();
    CO_ASSERT(t->set(k("ryw/a"), "1").ok());
    auto got = co_await t->get(k("ryw/a"));
    CO_ASSERT_OK(got);
    CO_ASSERT(got->has_value());
    EXPECT_EQ((*got)->value, "1");
    auto range = co_await t->range(k("ryw/"), k("ryw0"));
    CO_ASSERT_OK(range);
    CO_ASSERT(range->pairs.size() == 1);
    CO_ASSERT(t->clear(k("ryw/a")).ok());
    auto cleared = co_await t->get(k("ryw/a"));
    CO_ASSERT_OK(cleared);
    EXPECT_FALSE(cleared->has_value());
    CO_ASSERT(t->set(k("ryw/b"), "2").ok());
    auto committed = co_await t->commit();
    CO_ASSERT_OK(committed);
    auto after = co_await read(*s, k("ryw/b"));
    CO_ASSERT_OK(after);
    EXPECT_EQ(*after, std::optional<std::string>("2"));
    auto gone = co_await read(*s, k("ryw/a"));
    CO_ASSERT_OK(gone);
    EXPECT_FALSE(gone->has_value());
}
TEST_P(Conformance, ReadYourWrites) { run(read_your_writes(&store())); }

io::Task<void> snapshot_reads(Store* s) {
    CO_ASSERT_OK(co_await put(*s, k("snap/a"), "old-a"));
    CO_ASSERT_OK(co_await put(*s, k("snap/b"), "old-b"));
    auto t1 = s->begin();
    auto first = co_await t1->get(k("snap/a"));  // fixes t1's snapshot
    CO_ASSERT_OK(first);
    auto t2 = s->begin();
    CO_ASSERT(t2->set(k("snap/a"), "new-a").ok());
    CO_ASSERT(t2->set(k("snap/b"), "new-b").ok());
    CO_ASSERT_OK(co_await t2->commit());
    auto a = co_await t1->get(k("snap/a"));
    auto b = co_await t1->get(k("snap/b"));
    CO_ASSERT_OK(a);
    CO_ASSERT_OK(b);
    EXPECT_EQ((*a)->value, "old-a");
    EXPECT_EQ((*b)->value, "old-b");  // not t2's, although t2 committed before this read
    auto range = co_await t1->range(k("snap/"), k("snap0"));
    CO_ASSERT_OK(range);
    CO_ASSERT(range->pairs.size() == 2);
    EXPECT_EQ(range->pairs[1].value, "old-b");
}
TEST_P(Conformance, SnapshotReads) { run(snapshot_reads(&store())); }

io::Task<void> range_order_and_limits(Store* s) {
    auto t = s->begin();
    // Insert out of order, including a key just outside the range on each side.
    for (int i : {7, 3, 9, 0, 5, 1, 8, 2, 6, 4}) {
        CO_ASSERT(t->set(k("range/") + std::to_string(i), std::to_string(i)).ok());
    }
    CO_ASSERT(t->set(k("range."), "before").ok());
    CO_ASSERT(t->set(k("range0"), "after").ok());
    CO_ASSERT_OK(co_await t->commit());

    auto r = s->begin();
    auto all = co_await r->range(k("range/"), k("range0"));
    CO_ASSERT_OK(all);
    CO_ASSERT(all->pairs.size() == 10);
    for (int i = 0; i < 10; i++) {
        EXPECT_EQ(all->pairs[i].key, k("range/") + std::to_string(i));
    }
    EXPECT_FALSE(all->more);
    auto first3 = co_await r->range(k("range/"), k("range0"), RangeOptions{.limit = 3});
    CO_ASSERT_OK(first3);
    CO_ASSERT(first3->pairs.size() == 3);
    EXPECT_TRUE(first3->more);
    EXPECT_EQ(first3->pairs[2].key, k("range/2"));
    auto next = co_await r->range(first3->pairs.back().key + '\x00', k("range0"),
                                  RangeOptions{.limit = 100});
    CO_ASSERT_OK(next);
    EXPECT_EQ(next->pairs.size(), 7u);
    EXPECT_EQ(next->pairs.front().key, k("range/3"));
    auto last2 = co_await r->range(k("range/"), k("range0"), RangeOptions{.limit = 2, .reverse = true});
    CO_ASSERT_OK(last2);
    CO_ASSERT(last2->pairs.size() == 2);
    EXPECT_EQ(last2->pairs[0].key, k("range/9"));
    EXPECT_EQ(last2->pairs[1].key, k("range/8"));
    EXPECT_TRUE(last2->more);
    auto bounded = co_await r->range(k("range/3"), k("range/6"));
    CO_ASSERT_OK(bounded);
    EXPECT_EQ(bounded->pairs.size(), 3u);  // 3, 4, 5: end is exclusive
    auto empty = co_await r->range(k("range/x"), k("range/y"));
    CO_ASSERT_OK(empty);
    EXPECT_TRUE(empty->pairs.empty());
    EXPECT_FALSE(empty->more);
}
TEST_P(Conformance, RangeOrderAndLimits) { run(range_order_and_limits(&store())); }

io::Task<void> range_merges_buffered_writes(Store* s) {
    auto setup = s->begin();
    for (int i = 0; i < 6; i++) {
        CO_ASSERT(setup->set(k("merge/") + std::to_string(i), "db").ok());
    }
    CO_ASSERT_OK(co_await setup->commit());
    auto t = s->begin();
    CO_ASSERT(t->clear_range(k("merge/1"), k("merge/3")).ok());  // hides 1, 2
    CO_ASSERT(t->set(k("merge/2"), "mine").ok());                 // ...but 2 is set again
    CO_ASSERT(t->clear(k("merge/4")).ok());
    CO_ASSERT(t->set(k("merge/45"), "new").ok());
    auto r = co_await t->range(k("merge/"), k("merge0"));
    CO_ASSERT_OK(r);
    std::vector<std::string> keys;
    for (const auto& kv : r->pairs) {
        keys.push_back(kv.key.substr(k("merge/").size()) + "=" + kv.value);
    }
    EXPECT_EQ(keys, (std::vector<std::string>{"0=db", "2=mine", "3=db", "45=new", "5=db"}));
    auto limited = co_await t->range(k("merge/"), k("merge0"), RangeOptions{.limit = 2, .reverse = true});
    CO_ASSERT_OK(limited);
    CO_ASSERT(limited->pairs.size() == 2);
    EXPECT_EQ(limited->pairs[0].key, k("merge/5"));
    EXPECT_EQ(limited->pairs[1].key, k("merge/45"));
}
TEST_P(Conformance, RangeMergesBufferedWrites) { run(range_merges_buffered_writes(&store())); }

io::Task<void> conflict_on_changed_read_key(Store* s) {
    CO_ASSERT_OK(co_await put(*s, k("cc/x"), "0"));
    auto t1 = s->begin();
    CO_ASSERT_OK(co_await t1->get(k("cc/x")));
    CO_ASSERT_OK(co_await put(*s, k("cc/x"), "1"));  // another commit changes what t1 read
    CO_ASSERT(t1->set(k("cc/y"), "from t1").ok());
    auto r = co_await t1->commit();
    CO_ASSERT(!r.ok());
    EXPECT_EQ(r.code(), ErrorCode::conflict);
    auto y = co_await read(*s, k("cc/y"));
    CO_ASSERT_OK(y);
    EXPECT_FALSE(y->has_value());  // nothing of t1 applied
}
TEST_P(Conformance, ConflictOnChangedReadKey) { run(conflict_on_changed_read_key(&store())); }

io::Task<void> conflict_on_absent_key_created(Store* s) {
    auto t1 = s->begin();
    auto got = co_await t1->get(k("ca/x"));
    CO_ASSERT_OK(got);
    CO_ASSERT(!got->has_value());
    CO_ASSERT_OK(co_await put(*s, k("ca/x"), "created"));
    CO_ASSERT(t1->set(k("ca/x"), "also created").ok());
    auto r = co_await t1->commit();
    EXPECT_EQ(r.code(), ErrorCode::conflict);
}
TEST_P(Conformance, ConflictOnAbsentKeyCreated) { run(conflict_on_absent_key_created(&store())); }

io::Task<void> delete_of_read_key_conflicts(Store* s) {
    CO_ASSERT_OK(co_await put(*s, k("dk/x"), "v"));
    auto t1 = s->begin();
    auto got = co_await t1->get(k("dk/x"));
    CO_ASSERT_OK(got);
    CO_ASSERT(got->has_value());
    auto t2 = s->begin();
    CO_ASSERT(t2->clear(k("dk/x")).ok());
    CO_ASSERT_OK(co_await t2->commit());
    CO_ASSERT(t1->set(k("dk/y"), "decided on x").ok());
    auto c = co_await t1->commit();
    EXPECT_EQ(c.code(), ErrorCode::conflict);  // "mod_revision <= snapshot" alone would miss it
}
TEST_P(Conformance, DeleteOfReadKeyConflicts) { run(delete_of_read_key_conflicts(&store())); }

io::Task<void> phantom_conflict(Store* s) {
    CO_ASSERT_OK(co_await put(*s, k("ph/a"), "a"));
    auto t1 = s->begin();
    auto r = co_await t1->range(k("ph/"), k("ph0"));
    CO_ASSERT_OK(r);
    CO_ASSERT(r->pairs.size() == 1);
    CO_ASSERT_OK(co_await put(*s, k("ph/b"), "inserted into the range t1 read"));
    CO_ASSERT(t1->set(k("ph-count"), "1").ok());
    auto c = co_await t1->commit();
    EXPECT_EQ(c.code(), ErrorCode::conflict);
}
TEST_P(Conformance, PhantomInsertConflicts) { run(phantom_conflict(&store())); }

io::Task<void> delete_in_read_range_conflicts(Store* s) {
    CO_ASSERT_OK(co_await put(*s, k("dr/a"), "a"));
    CO_ASSERT_OK(co_await put(*s, k("dr/b"), "b"));
    auto t1 = s->begin();
    CO_ASSERT_OK(co_await t1->range(k("dr/"), k("dr0")));
    auto t2 = s->begin();
    CO_ASSERT(t2->clear(k("dr/b")).ok());
    CO_ASSERT_OK(co_await t2->commit());
    CO_ASSERT(t1->set(k("dr-count"), "2").ok());
    auto c = co_await t1->commit();
    EXPECT_EQ(c.code(), ErrorCode::conflict);
}
TEST_P(Conformance, DeleteInReadRangeConflicts) { run(delete_in_read_range_conflicts(&store())); }

io::Task<void> limited_range_conflicts_only_where_read(Store* s) {
    for (const char* key : {"lr/a", "lr/b", "lr/c"}) {
        CO_ASSERT_OK(co_await put(*s, k(key), "v"));
    }
    auto t1 = s->begin();
    auto r = co_await t1->range(k("lr/"), k("lr0"), RangeOptions{.limit = 1});
    CO_ASSERT_OK(r);
    CO_ASSERT(r->pairs.size() == 1);                  // read only lr/a
    CO_ASSERT_OK(co_await put(*s, k("lr/c"), "w"));  // past what t1 read
    CO_ASSERT(t1->set(k("lr-x"), "1").ok());
    auto c = co_await t1->commit();
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().to_string());
}
TEST_P(Conformance, LimitedRangeConflictsOnlyWhereRead) {
    run(limited_range_conflicts_only_where_read(&store()));
}

io::Task<void> disjoint_transactions_both_commit(Store* s) {
    auto t1 = s->begin();
    auto t2 = s->begin();
    CO_ASSERT_OK(co_await t1->get(k("dj/1")));
    CO_ASSERT_OK(co_await t2->get(k("dj/2")));
    CO_ASSERT(t1->set(k("dj/1"), "one").ok());
    CO_ASSERT(t2->set(k("dj/2"), "two").ok());
    auto c1 = co_await t1->commit();
    auto c2 = co_await t2->commit();
    CO_ASSERT_OK(c1);
    CO_ASSERT_OK(c2);
    EXPECT_LT(*c1, *c2);  // every writing commit gets a higher revision
}
TEST_P(Conformance, DisjointTransactionsBothCommit) { run(disjoint_transactions_both_commit(&store())); }

io::Task<void> blind_writes_never_conflict(Store* s) {
    auto t1 = s->begin();
    CO_ASSERT(t1->set(k("bw/x"), "t1").ok());
    CO_ASSERT_OK(co_await put(*s, k("bw/x"), "other"));
    auto c = co_await t1->commit();
    CO_ASSERT_OK(c);
    auto v = co_await read(*s, k("bw/x"));
    CO_ASSERT_OK(v);
    EXPECT_EQ(*v, std::optional<std::string>("t1"));
}
TEST_P(Conformance, BlindWritesNeverConflict) { run(blind_writes_never_conflict(&store())); }

io::Task<void> mod_revision_is_the_commit_revision(Store* s) {
    auto c = co_await put(*s, k("mr/x"), "v");
    CO_ASSERT_OK(c);
    auto t = s->begin();
    auto got = co_await t->get(k("mr/x"));
    CO_ASSERT_OK(got);
    CO_ASSERT(got->has_value());
    EXPECT_EQ((*got)->mod_revision, *c);
    auto now = co_await s->current_revision();
    CO_ASSERT_OK(now);
    EXPECT_GE(*now, *c);
    auto ro = s->begin();
    CO_ASSERT_OK(co_await ro->get(k("mr/x")));
    EXPECT_TRUE((co_await ro->commit()).ok());  // read-only: commits trivially
}
TEST_P(Conformance, ModRevisionIsTheCommitRevision) { run(mod_revision_is_the_commit_revision(&store())); }

io::Task<void> clear_range_removes_keys(Store* s) {
    for (int i = 0; i < 5; i++) {
        CO_ASSERT_OK(co_await put(*s, k("cr/") + std::to_string(i), "v"));
    }
    auto t = s->begin();
    CO_ASSERT(t->clear_range(k("cr/1"), k("cr/4")).ok());
    CO_ASSERT_OK(co_await t->commit());
    auto r = s->begin();
    auto left = co_await r->range(k("cr/"), k("cr0"));
    CO_ASSERT_OK(left);
    CO_ASSERT(left->pairs.size() == 2);
    EXPECT_EQ(left->pairs[0].key, k("cr/0"));
    EXPECT_EQ(left->pairs[1].key, k("cr/4"));
}
TEST_P(Conformance, ClearRangeRemovesKeys) { run(clear_range_removes_keys(&store())); }

// Polls until `key` is absent, for at most `deadline`; returns how long it took, or nullopt.
io::Task<std::optional<Duration>> wait_gone(io::Executor* ex, Store* s, std::string key,
                                            Duration deadline) {
    const Instant start = ex->now();
    while (ex->now() - start < deadline) {
        auto v = co_await read(*s, key);
        if (v.ok() && !v->has_value()) {
            co_return ex->now() - start;
        }
        co_await ex->sleep_for(Duration::ms(100));
    }
    co_return std::nullopt;
}

io::Task<void> lease_expiry_deletes_attached_keys(io::Executor* ex, Store* s) {
    auto lease = co_await s->grant_lease(Duration::s(1));
    CO_ASSERT_OK(lease);
    CO_ASSERT_OK(co_await put(*s, k("le/attached"), "v", *lease));
    CO_ASSERT_OK(co_await put(*s, k("le/free"), "v"));
    auto t = s->begin();
    auto got = co_await t->get(k("le/attached"));
    CO_ASSERT_OK(got);
    CO_ASSERT(got->has_value());
    EXPECT_EQ((*got)->lease, *lease);
    auto gone = co_await wait_gone(ex, s, k("le/attached"), Duration::s(10));
    CO_ASSERT(gone.has_value());
    EXPECT_GE(*gone, Duration::ms(500));  // not long before its TTL
    auto free = co_await read(*s, k("le/free"));
    CO_ASSERT_OK(free);
    EXPECT_TRUE(free->has_value());
    auto again = co_await s->keepalive(*lease);
    EXPECT_EQ(again.code(), ErrorCode::lease_expired);
    auto late = co_await put(*s, k("le/late"), "v", *lease);  // writing with a dead lease fails
    EXPECT_EQ(late.code(), ErrorCode::lease_expired);
    auto late_value = co_await read(*s, k("le/late"));
    CO_ASSERT_OK(late_value);
    EXPECT_FALSE(late_value->has_value());
}
TEST_P(Conformance, LeaseExpiryDeletesAttachedKeys) {
    run(lease_expiry_deletes_attached_keys(&ex(), &store()));
}

io::Task<void> keepalive_extends_lease(io::Executor* ex, Store* s) {
    auto lease = co_await s->grant_lease(Duration::s(2));
    CO_ASSERT_OK(lease);
    CO_ASSERT_OK(co_await put(*s, k("ka/x"), "v", *lease));
    const Instant start = ex->now();
    while (ex->now() - start < Duration::s(5)) {  // 2.5 TTLs
        auto info = co_await s->keepalive(*lease);
        CO_ASSERT_OK(info);
        EXPECT_EQ(info->ttl, Duration::s(2));
        co_await ex->sleep_for(Duration::ms(400));
    }
    auto still = co_await read(*s, k("ka/x"));
    CO_ASSERT_OK(still);
    EXPECT_TRUE(still->has_value());
    auto gone = co_await wait_gone(ex, s, k("ka/x"), Duration::s(10));
    EXPECT_TRUE(gone.has_value());
}
TEST_P(Conformance, KeepaliveExtendsLease) { run(keepalive_extends_lease(&ex(), &store())); }

io::Task<void> revoke_deletes_keys(Store* s) {
    auto lease = co_await s->grant_lease(Duration::s(60));
    CO_ASSERT_OK(lease);
    CO_ASSERT_OK(co_await put(*s, k("rv/x"), "v", *lease));
    CO_ASSERT((co_await s->revoke_lease(*lease)).ok());
    auto v = co_await read(*s, k("rv/x"));
    CO_ASSERT_OK(v);
    EXPECT_FALSE(v->has_value());
    EXPECT_TRUE((co_await s->revoke_lease(*lease)).ok());  // already gone: still ok
    EXPECT_EQ((co_await s->keepalive(*lease)).code(), ErrorCode::lease_expired);
}
TEST_P(Conformance, RevokeDeletesKeys) { run(revoke_deletes_keys(&store())); }

io::Task<void> rewritten_key_leaves_its_lease(io::Executor* ex, Store* s) {
    auto lease = co_await s->grant_lease(Duration::s(1));
    CO_ASSERT_OK(lease);
    CO_ASSERT_OK(co_await put(*s, k("rl/x"), "leased", *lease));
    CO_ASSERT_OK(co_await put(*s, k("rl/x"), "unleased"));  // rewritten without the lease
    co_await ex->sleep_for(Duration::ms(2500));
    auto v = co_await read(*s, k("rl/x"));
    CO_ASSERT_OK(v);
    EXPECT_EQ(*v, std::optional<std::string>("unleased"));
}
TEST_P(Conformance, RewrittenKeyLeavesItsLease) { run(rewritten_key_leaves_its_lease(&ex(), &store())); }

io::Task<void> limits_are_rejected_clearly(Store* s) {
    auto t = s->begin();
    EXPECT_EQ(t->set(std::string(key_bytes_max + 1, 'k'), "v").code(), ErrorCode::limit_exceeded);
    EXPECT_EQ(t->set(k("lim/v"), std::string(value_bytes_max + 1, 'v')).code(),
              ErrorCode::limit_exceeded);
    EXPECT_EQ(t->set("", "v").code(), ErrorCode::invalid_argument);
    EXPECT_EQ(t->set(std::string("\xff") + "sys", "v").code(), ErrorCode::invalid_argument);
    EXPECT_EQ(t->clear_range("b", "a").code(), ErrorCode::invalid_argument);
    EXPECT_EQ((co_await t->range("a", "b", RangeOptions{.limit = 0})).code(),
              ErrorCode::invalid_argument);
    EXPECT_EQ((co_await s->grant_lease(Duration::ms(10))).code(), ErrorCode::invalid_argument);
    // Transaction size: a value at the limit fits, a second one does not.
    CO_ASSERT(t->set(k("lim/big1"), std::string(value_bytes_max, 'a')).ok());
    EXPECT_EQ(t->set(k("lim/big2"), std::string(value_bytes_max / 2, 'b')).code(),
              ErrorCode::limit_exceeded);
    CO_ASSERT_OK(co_await t->commit());
    auto big = co_await read(*s, k("lim/big1"));
    CO_ASSERT_OK(big);
    EXPECT_EQ((*big)->size(), value_bytes_max);
    // Operation count.
    auto many = s->begin();
    Status last;
    for (size_t i = 0; i <= transaction_operations_max && last.ok(); i++) {
        last = many->set(k("lim/many/") + std::to_string(i), "v");
    }
    EXPECT_EQ(last.code(), ErrorCode::limit_exceeded);
    // A lease that never existed.
    auto bogus = co_await put(*s, k("lim/lease"), "v", LeaseId(123456789));
    EXPECT_EQ(bogus.code(), ErrorCode::lease_expired);
}
TEST_P(Conformance, LimitsAreRejectedClearly) { run(limits_are_rejected_clearly(&store())); }

io::Task<void> watch_sees_changes(io::Executor* ex, Store* s) {
    auto start = co_await s->current_revision();
    CO_ASSERT_OK(start);
    auto quiet = co_await s->watch(k("w/"), k("w0"), *start, Duration::ms(300));
    EXPECT_EQ(quiet.code(), ErrorCode::timeout);
    auto writer = [](io::Executor* e, Store* st) -> io::Task<void> {
        co_await e->sleep_for(Duration::ms(50));
        (void)co_await put(*st, k("w-outside"), "not watched");
        (void)co_await put(*st, k("w/inside"), "watched");
    };
    io::spawn(*ex, writer(ex, s));
    auto seen = co_await s->watch(k("w/"), k("w0"), *start, Duration::s(10));
    CO_ASSERT_OK(seen);
    EXPECT_GT(seen->revision, *start);
    auto v = co_await read(*s, k("w/inside"));
    CO_ASSERT_OK(v);
    EXPECT_TRUE(v->has_value());
    // A change that already happened is reported at once.
    auto past = co_await s->watch(k("w/"), k("w0"), *start, Duration::ms(1));
    EXPECT_TRUE(past.ok());
}
TEST_P(Conformance, WatchSeesChanges) { run(watch_sees_changes(&ex(), &store())); }

io::Task<void> run_transaction_retries_conflicts(io::Executor* ex, Store* s) {
    // 20 concurrent increments of one counter: every one lands exactly once.
    auto increment = [](io::Executor* e, Store* st) -> io::Task<void> {
        TransactionBody<int64_t> body = [](Transaction& t) -> io::Task<Result<int64_t>> {
            auto v = co_await t.get(k("rt/counter"));
            if (!v.ok()) {
                co_return std::move(v).error();
            }
            const int64_t n = v->has_value() ? std::stoll((*v)->value) : 0;
            if (Status st2 = t.set(k("rt/counter"), std::to_string(n + 1)); !st2.ok()) {
                co_return std::move(st2).error();
            }
            auto c = co_await t.commit();
            if (!c.ok()) {
                co_return std::move(c).error();
            }
            co_return n + 1;
        };
        auto r = co_await run_transaction(*e, *st, body, RetryOptions{.attempts_max = 100});
        KELPIE_ASSERT_MSG(r.ok(), r.ok() ? "" : r.error().to_string().c_str());
    };
    std::vector<io::Task<void>> tasks;
    for (int i = 0; i < 20; i++) {
        tasks.push_back(increment(ex, s));
    }
    co_await io::when_all(std::move(tasks));
    auto v = co_await read(*s, k("rt/counter"));
    CO_ASSERT_OK(v);
    EXPECT_EQ(*v, std::optional<std::string>("20"));
}
TEST_P(Conformance, RunTransactionRetriesConflicts) {
    run(run_transaction_retries_conflicts(&ex(), &store()));
}

std::vector<BackendParam> backends() {
    std::vector<BackendParam> out = {
        {"memory", [] { return make_memory_backend(); }},
        {"rocksdb", [] { return make_rocksdb_backend(); }},
        {"etcd", [] { return make_etcd_backend(); }},
    };
    return out;
}

INSTANTIATE_TEST_SUITE_P(Backends, Conformance, ::testing::ValuesIn(backends()),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace kelpie::store::testing
