// Goal: the etcd backend's own mechanics, beyond the shared conformance suite: how a commit
// becomes one Txn (compares, split delete ranges, the operations limit), URL parsing, and, on a
// real cluster (KELPIE_TEST_ETCD_ENDPOINTS; skipped without one), the cases the shared suite does
// not reach: a set inside a cleared range, add_read_conflict against a deletion, watches that
// must see deletions, answers too large for one gRPC message, close() during a watch, an
// unreachable cluster, a compacted snapshot, and batching (shared revisions, no write skew, a
// refused batch resent commit by commit, shared snapshots). Faults a real cluster cannot show on
// cue (a member behind the snapshot, a stuck commit, a cancelled batch leader) use a stand-in
// member: a gRPC KV service of our own on 127.0.0.1.
// Method: pure functions are checked directly; cluster cases are coroutines over the Store API
// (raw gRPC only to compact).

#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "io/combinators.h"
#include "io/real_world.h"
#include "store/etcd/etcd_txn.h"
#include "store/etcd_store.h"
#include "tests/store_conformance/backends.h"
#include "tests/store_conformance/co_assert.h"

namespace kelpie::store::testing {
namespace {

using detail::Mutation;
using detail::ReadSet;


std::string k(const std::string& suffix) { return "conformance/etcd/" + suffix; }

// --- pure ---

TEST(EtcdTxn, SplitRangeAroundKeys) {
    using Pieces = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(detail::split_range_around("a", "z", {}), (Pieces{{"a", "z"}}));
    EXPECT_EQ(detail::split_range_around("a", "z", {"0", "m", "z"}),
              (Pieces{{"a", "m"}, {std::string("m\0", 2), "z"}}));
    EXPECT_EQ(detail::split_range_around("a", "c", {"a", std::string("a\0", 2)}),
              (Pieces{{std::string("a\0\0", 3), "c"}}));
    EXPECT_EQ(detail::split_range_around("a", std::string("a\0", 2), {"a"}), Pieces{});
}

TEST(EtcdTxn, ComparesCoverPointsRangesAndObservedKeys) {
    ReadSet reads;
    reads.keys = {{"p", 5}, {"absent", 0}, {"p", 5}};
    reads.ranges = {{"r/", "r0", {{"r/a", 3}, {"r/b", 4}, {"s-past-window", 2}}},
                    {"r/", "r0", {{"r/a", 3}}}};
    auto txn = detail::build_commit_txn({Mutation{.kind = Mutation::Kind::set, .key = "w"}}, reads,
                                        10);
    ASSERT_TRUE(txn.ok());
    // Points (deduplicated, the pair past the window left out), then the range once.
    ASSERT_EQ(txn->compare_size(), 5);
    EXPECT_EQ(txn->compare(0).key(), "absent");
    EXPECT_EQ(txn->compare(0).mod_revision(), 0);
    EXPECT_EQ(txn->compare(1).key(), "p");
    EXPECT_EQ(txn->compare(2).key(), "r/a");
    EXPECT_EQ(txn->compare(3).key(), "r/b");
    EXPECT_EQ(txn->compare(3).result(), etcdserverpb::Compare::EQUAL);
    EXPECT_EQ(txn->compare(4).key(), "r/");
    EXPECT_EQ(txn->compare(4).range_end(), "r0");
    EXPECT_EQ(txn->compare(4).result(), etcdserverpb::Compare::LESS);
    EXPECT_EQ(txn->compare(4).mod_revision(), 11);
    EXPECT_EQ(txn->success_size(), 1);
}

TEST(EtcdTxn, ClearRangeIsSplitAroundSetKeys) {
    std::vector<Mutation> mutations = {
        Mutation{.kind = Mutation::Kind::clear_range, .key = "a", .end = "z"},
        Mutation{.kind = Mutation::Kind::clear, .key = "c"},
        Mutation{.kind = Mutation::Kind::set, .key = "m", .value = "v", .lease = LeaseId(7)}};
    auto txn = detail::build_commit_txn(mutations, ReadSet{}, 0);
    ASSERT_TRUE(txn.ok());
    ASSERT_EQ(txn->success_size(), 4);
    EXPECT_EQ(txn->success(0).request_delete_range().range_end(), "m");
    EXPECT_EQ(txn->success(1).request_delete_range().key(), std::string("m\0", 2));
    EXPECT_EQ(txn->success(2).request_delete_range().key(), "c");  // delete twice: accepted
    EXPECT_EQ(txn->success(3).request_put().lease(), 7);
    EXPECT_EQ(txn->compare_size(), 0);  // blind writes: nothing to check
}

TEST(EtcdTxn, TooManyComparesAndOperationsIsLimitExceeded) {
    ReadSet reads;
    reads.ranges.push_back({"r/", "r0", {}});
    for (size_t i = 0; i < transaction_operations_max; i++) {
        reads.ranges[0].observed.push_back({"r/" + std::to_string(i), 1});
    }
    auto txn = detail::build_commit_txn({Mutation{.kind = Mutation::Kind::set, .key = "w"}}, reads,
                                        10);
    EXPECT_EQ(txn.code(), ErrorCode::limit_exceeded);
}

TEST(EtcdTxn, InconsistentObservationsConflict) {
    ReadSet reads;
    reads.keys = {{"p", 5}, {"p", 6}};
    EXPECT_EQ(detail::build_commit_txn({Mutation{.key = "w"}}, reads, 10).code(),
              ErrorCode::conflict);
}

// A commit Txn that reads `read_keys` (absent) and the range [range_begin, range_end) if given,
// and applies `mutations`.
etcdserverpb::TxnRequest commit_txn(std::vector<std::string> read_keys,
                                    std::vector<Mutation> mutations,
                                    std::pair<std::string, std::string> range = {}) {
    ReadSet reads;
    for (const std::string& key : read_keys) {
        reads.keys.push_back({key, 0});
    }
    if (!range.first.empty()) {
        reads.ranges.push_back({range.first, range.second, {}});
    }
    auto txn = detail::build_commit_txn(mutations, reads, 10);
    KELPIE_ASSERT(txn.ok());
    return *txn;
}

Mutation set_key(std::string key) { return Mutation{.kind = Mutation::Kind::set, .key = key}; }

TEST(EtcdTxn, CommitsShareABatchOnlyIfNeitherWritesWhatTheOtherTouches) {
    auto share = [](const etcdserverpb::TxnRequest& a, const etcdserverpb::TxnRequest& b) {
        const bool ab = detail::can_share_batch(detail::footprint_of(a), detail::footprint_of(b));
        const bool ba = detail::can_share_batch(detail::footprint_of(b), detail::footprint_of(a));
        EXPECT_EQ(ab, ba);
        return ab;
    };
    const auto reads_p_writes_a = commit_txn({"p"}, {set_key("a")});
    // Both read p: reads never exclude each other.
    EXPECT_TRUE(share(reads_p_writes_a, commit_txn({"p"}, {set_key("b")})));
    // One writes what the other read (the write-skew pair), or what it writes.
    EXPECT_FALSE(share(reads_p_writes_a, commit_txn({}, {set_key("p")})));
    EXPECT_FALSE(share(reads_p_writes_a, commit_txn({"a"}, {set_key("q")})));
    EXPECT_FALSE(share(reads_p_writes_a, commit_txn({}, {set_key("a")})));
    EXPECT_FALSE(share(reads_p_writes_a,
                       commit_txn({}, {Mutation{.kind = Mutation::Kind::clear, .key = "a"}})));
    // Ranges: a write inside a range read (a phantom) or inside a cleared range; the end is
    // exclusive.
    const auto reads_range = commit_txn({}, {set_key("z")}, {"r/", "r0"});
    EXPECT_FALSE(share(reads_range, commit_txn({}, {set_key("r/x")})));
    EXPECT_TRUE(share(reads_range, commit_txn({}, {set_key("r0")})));
    EXPECT_TRUE(share(reads_range, commit_txn({}, {set_key("r")})));
    const auto clears_range = commit_txn(
        {}, {Mutation{.kind = Mutation::Kind::clear_range, .key = "m", .end = "n"}});
    EXPECT_FALSE(share(clears_range, commit_txn({"m/x"}, {set_key("y")})));
    EXPECT_FALSE(share(clears_range, commit_txn({}, {set_key("m")})));
    EXPECT_TRUE(share(clears_range, commit_txn({"n"}, {set_key("y")})));
    // etcd's "\0" range end reaches the end of the keyspace.
    etcdserverpb::TxnRequest to_the_end;
    auto* compare = to_the_end.add_compare();
    compare->set_key("t");
    compare->set_range_end(std::string(1, '\0'));
    EXPECT_FALSE(share(to_the_end, commit_txn({}, {set_key("\xff\xff")})));
    EXPECT_TRUE(share(to_the_end, commit_txn({}, {set_key("s")})));
}

TEST(EtcdUrl, Parses) {
    auto one = parse_etcd_url("etcd://127.0.0.1:2379");
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(one->endpoints, std::vector<std::string>{"127.0.0.1:2379"});
    auto three = parse_etcd_url("etcd://127.0.0.1:1,localhost:2,10.0.0.3:65535");
    ASSERT_TRUE(three.ok());
    EXPECT_EQ(three->endpoints,
              (std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:2", "10.0.0.3:65535"}));
    for (const char* bad : {"", "http://127.0.0.1:2379", "etcd://", "etcd://127.0.0.1",
                            "etcd://127.0.0.1:0", "etcd://127.0.0.1:65536", "etcd://1.2.3:4",
                            "etcd://256.0.0.1:4", "etcd://host:4", "etcd://127.0.0.1:1,",
                            "etcd://127.0.0.1:x"}) {
        EXPECT_EQ(parse_etcd_url(bad).code(), ErrorCode::invalid_argument) << bad;
    }
}

// --- no cluster needed ---

io::Task<void> unreachable(io::RealWorld* world, Result<std::unique_ptr<Store>>* out) {
    EtcdStoreOptions options;
    options.endpoints.push_back("127.0.0.1:1");  // nothing listens on port 1
    options.call_timeout = Duration::ms(500);
    *out = co_await open_etcd_store(world->executor(), world->blocking_pool(), options);
}

TEST(EtcdStore, UnreachableClusterIsUnavailableNamingTheEndpoints) {
    io::RealWorld world;
    Result<std::unique_ptr<Store>> store = Error(ErrorCode::internal, "unset");
    const io::Stopwatch watch;
    io::block_on(world, world.executor(), unreachable(&world, &store));
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.code(), ErrorCode::unavailable);
    EXPECT_NE(store.error().message.find("127.0.0.1:1"), std::string::npos)
        << store.error().message;
    EXPECT_LT(watch.elapsed(), Duration::s(3));
}

// --- against a stand-in member: faults a real cluster cannot be made to show on cue ---

// A gRPC KV service on 127.0.0.1 that answers like an etcd member (every key absent, revision
// 10), except where told otherwise: every serializable Range says "future revision" (a member
// behind the snapshot), the first `unavailable_reads` Ranges of key "slow" fail UNAVAILABLE, and
// each Txn is answered after `txn_delay`. It counts what it was sent.
class StandInMember final : public etcdserverpb::KV::Service {
public:
    explicit StandInMember(std::chrono::milliseconds txn_delay, int unavailable_reads = 0)
        : txn_delay_(txn_delay), unavailable_reads_(unavailable_reads) {
        grpc::ServerBuilder builder;
        builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
        builder.RegisterService(this);
        server_ = builder.BuildAndStart();
    }
    ~StandInMember() override { server_->Shutdown(); }
    std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

    std::atomic<int> txns{0};
    std::atomic<int> serializable_ranges{0};
    std::atomic<int> linearizable_ranges{0};

    grpc::Status Range(grpc::ServerContext*, const etcdserverpb::RangeRequest* request,
                       etcdserverpb::RangeResponse* response) override {
        if (request->serializable()) {
            serializable_ranges++;
            return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                                "etcdserver: mvcc: required revision is a future revision");
        }
        if (request->key() == "slow" && unavailable_reads_-- > 0) {
            return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stand-in: not now");
        }
        linearizable_ranges++;
        response->mutable_header()->set_revision(10);
        return grpc::Status::OK;
    }
    grpc::Status Txn(grpc::ServerContext*, const etcdserverpb::TxnRequest* request,
                     etcdserverpb::TxnResponse* response) override {
        txns++;
        std::this_thread::sleep_for(txn_delay_);
        const bool reads_only = request->success_size() > 0 && request->success(0).has_request_range();
        response->mutable_header()->set_revision(reads_only ? 10 : 11);
        response->set_succeeded(true);
        for (int i = 0; reads_only && i < request->success_size(); i++) {
            response->add_responses()->mutable_response_range();  // nothing found
        }
        return grpc::Status::OK;
    }

private:
    std::chrono::milliseconds txn_delay_;
    std::atomic<int> unavailable_reads_;
    int port_ = 0;
    std::unique_ptr<grpc::Server> server_;
};

io::Task<void> with_stand_in(io::RealWorld* world, std::string endpoint, Duration call_timeout,
                             std::function<io::Task<void>(Store*)> body) {
    EtcdStoreOptions options;
    options.endpoints.push_back(endpoint);
    options.call_timeout = call_timeout;
    auto store = co_await open_etcd_store(world->executor(), world->blocking_pool(), options);
    CO_ASSERT_OK(store);
    co_await body(store->get());
    co_await (*store)->close();
}

// A later read at the snapshot is served by whichever member it reaches, without a quorum round;
// a member that has not applied the snapshot yet says so, and the read is repeated linearizably.
TEST(EtcdStandIn, ALaterReadAtAFutureRevisionIsRepeatedLinearizably) {
    StandInMember member(std::chrono::milliseconds(0));
    io::RealWorld world;
    auto body = [](Store* s) -> io::Task<void> {
        auto t = s->begin();
        CO_ASSERT_OK(co_await t->get("a"));  // the first read: linearizable, fixes the snapshot
        EXPECT_EQ(t->read_revision(), 10);
        CO_ASSERT_OK(co_await t->get("b"));  // serializable at 10, refused, repeated
    };
    io::block_on(world, world.executor(),
                 with_stand_in(&world, member.endpoint(), Duration::s(2), body));
    EXPECT_EQ(member.serializable_ranges.load(), 1);
    EXPECT_EQ(member.linearizable_ranges.load(), 3);  // the open probe, the first read, the repeat
}

io::Task<void> put_into(Store* s, std::string key, Result<Revision>* out) {
    auto t = s->begin();
    (void)t->set(key, "v");
    *out = co_await t->commit();
}

// Time queued counts against a call's timeout: behind a commit that the member does not answer
// in time, the queued commits are not sent when it returns, and fail unavailable (nothing
// applied) instead of starting a full timeout of their own.
TEST(EtcdStandIn, CommitsQueuedBehindAStuckBatchFailUnsentAtTheirDeadline) {
    StandInMember member(std::chrono::milliseconds(1500));
    io::RealWorld world;
    std::vector<Result<Revision>> results(4, Error(ErrorCode::internal, "unset"));
    auto body = [&results](Store* s) -> io::Task<void> {
        std::vector<io::Task<void>> tasks;
        for (size_t i = 0; i < results.size(); i++) {
            tasks.push_back(put_into(s, "k" + std::to_string(i), &results[i]));
        }
        co_await io::when_all(std::move(tasks));
    };
    io::block_on(world, world.executor(),
                 with_stand_in(&world, member.endpoint(), Duration::ms(500), body));
    EXPECT_EQ(results[0].code(), ErrorCode::unknown_result);  // sent: it may have applied
    for (size_t i = 1; i < results.size(); i++) {
        ASSERT_FALSE(results[i].ok());
        EXPECT_EQ(results[i].code(), ErrorCode::unavailable);
        EXPECT_NE(results[i].error().message.find("not sent"), std::string::npos)
            << results[i].error().message;
    }
    EXPECT_EQ(member.txns.load(), 1);
}

io::Task<void> get_into(Store* s, std::string key, Result<std::optional<KeyValue>>* out) {
    auto t = s->begin();
    *out = co_await t->get(key);
}

io::Task<void> cancelled_leader(Store* s, io::CancellationToken token,
                                Result<std::optional<KeyValue>>* out) {
    try {
        co_await io::with_cancellation(token, get_into(s, "slow", out));
    } catch (const io::Cancelled&) {
        *out = Error(ErrorCode::internal, "cancelled");
    }
}

io::Task<void> cancel_after(io::Executor* ex, io::CancellationSource* source, Duration after) {
    co_await ex->sleep_for(after);
    source->cancel();
}

// The read that leads a batch answers the others too: cancelling it (here while it backs off
// between retries) must not leave the reads queued behind it waiting forever.
TEST(EtcdStandIn, CancellingABatchLeaderStillAnswersTheReadsBehindIt) {
    StandInMember member(std::chrono::milliseconds(0), 2);
    io::RealWorld world;
    io::CancellationSource source;
    std::vector<Result<std::optional<KeyValue>>> results(4, Error(ErrorCode::internal, "unset"));
    auto body = [&results, &source, &world](Store* s) -> io::Task<void> {
        std::vector<io::Task<void>> tasks;
        tasks.push_back(cancelled_leader(s, source.token(), &results[0]));  // leads; retries
        for (size_t i = 1; i < results.size(); i++) {
            tasks.push_back(get_into(s, "k" + std::to_string(i), &results[i]));  // queue
        }
        tasks.push_back(cancel_after(&world.executor(), &source, Duration::ms(10)));
        co_await io::when_all(std::move(tasks));
    };
    io::block_on(world, world.executor(),
                 with_stand_in(&world, member.endpoint(), Duration::s(2), body));
    EXPECT_TRUE(results[0].ok());  // its batch ran to the end: the retry succeeded
    for (size_t i = 1; i < results.size(); i++) {
        EXPECT_TRUE(results[i].ok()) << results[i].error().to_string();
    }
    EXPECT_EQ(member.txns.load(), 1);  // the three queued reads, together
}

// --- on a cluster ---

class EtcdStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        backend_ = make_etcd_backend();
        if (backend_ == nullptr) {
            GTEST_SKIP() << "etcd backend is not configured (KELPIE_TEST_ETCD_ENDPOINTS)";
        }
    }
    void run(io::Task<void> t) { backend_->run(std::move(t)); }
    Store& store() { return backend_->store(); }
    io::Executor& ex() { return backend_->executor(); }
    std::unique_ptr<Backend> backend_;
};

io::Task<Result<Revision>> put(Store& s, std::string key, std::string value) {
    auto t = s.begin();
    (void)t->set(key, value);
    co_return co_await t->commit();
}

io::Task<Result<Revision>> erase(Store& s, std::string key) {
    auto t = s.begin();
    (void)t->clear(key);
    co_return co_await t->commit();
}

io::Task<Result<std::vector<std::string>>> keys_in(Store& s, std::string begin, std::string end) {
    auto t = s.begin();
    auto r = co_await t->range(begin, end);
    if (!r.ok()) {
        co_return std::move(r).error();
    }
    std::vector<std::string> keys;
    for (const KeyValue& kv : r->pairs) {
        keys.push_back(kv.key.substr(k("").size()));
    }
    co_return keys;
}

io::Task<void> set_inside_cleared_range(Store* s) {
    for (const char* key : {"cr/a", "cr/b", "cr/c", "cr/d"}) {
        CO_ASSERT_OK(co_await put(*s, k(key), "old"));
    }
    auto t = s->begin();
    CO_ASSERT_OK(t->clear_range(k("cr/a"), k("cr/d")));
    CO_ASSERT_OK(t->set(k("cr/b"), "new"));
    CO_ASSERT_OK(t->clear(k("cr/c")));
    CO_ASSERT_OK(co_await t->commit());
    auto keys = co_await keys_in(*s, k("cr/"), k("cr0"));
    CO_ASSERT_OK(keys);
    EXPECT_EQ(*keys, (std::vector<std::string>{"cr/b", "cr/d"}));
}
TEST_F(EtcdStoreTest, SetInsideClearedRangeCommits) { run(set_inside_cleared_range(&store())); }

io::Task<void> read_conflict_sees_deletion(Store* s) {
    CO_ASSERT_OK(co_await put(*s, k("rc/x"), "v"));
    auto t1 = s->begin();
    CO_ASSERT_OK(co_await t1->get(k("rc/other")));  // fixes t1's snapshot: rc/x present
    CO_ASSERT_OK(co_await erase(*s, k("rc/x")));
    CO_ASSERT_OK(t1->add_read_conflict(k("rc/x")));
    CO_ASSERT_OK(t1->set(k("rc/y"), "1"));
    EXPECT_EQ((co_await t1->commit()).code(), ErrorCode::conflict);
    // Without a read, the snapshot is taken at commit: nothing changed since, so it commits.
    auto t2 = s->begin();
    CO_ASSERT_OK(t2->add_read_conflict(k("rc/x")));
    CO_ASSERT_OK(t2->set(k("rc/y"), "2"));
    auto c2 = co_await t2->commit();
    CO_ASSERT_OK(c2);
    EXPECT_GT(t2->read_revision(), 0);
}
TEST_F(EtcdStoreTest, AddReadConflictSeesDeletion) { run(read_conflict_sees_deletion(&store())); }

io::Task<void> watch_sees_deletions(io::Executor* ex, Store* s) {
    CO_ASSERT_OK(co_await put(*s, k("wd/x"), "v"));
    auto before = co_await s->current_revision();
    CO_ASSERT_OK(before);
    auto deleted = co_await erase(*s, k("wd/x"));
    CO_ASSERT_OK(deleted);
    // A past deletion: only etcd's history has it.
    auto past = co_await s->watch(k("wd/"), k("wd0"), *before, Duration::ms(1));
    CO_ASSERT_OK(past);
    EXPECT_EQ(past->revision, *deleted);
    // A live deletion.
    CO_ASSERT_OK(co_await put(*s, k("wd/y"), "v"));
    auto now = co_await s->current_revision();
    CO_ASSERT_OK(now);
    auto deleter = [](io::Executor* e, Store* st) -> io::Task<void> {
        co_await e->sleep_for(Duration::ms(100));
        (void)co_await erase(*st, k("wd/y"));
    };
    io::spawn(*ex, deleter(ex, s));
    auto live = co_await s->watch(k("wd/"), k("wd0"), *now, Duration::s(10));
    CO_ASSERT_OK(live);
    EXPECT_GT(live->revision, *now);
}
TEST_F(EtcdStoreTest, WatchSeesDeletions) { run(watch_sees_deletions(&ex(), &store())); }

io::Task<void> large_answers_are_paged(Store* s) {
    // Six 1 MiB values: more than one gRPC message (4 MiB) can carry.
    for (int i = 0; i < 6; i++) {
        CO_ASSERT_OK(co_await put(*s, k("big/") + std::to_string(i),
                                  std::string(value_bytes_max, static_cast<char>('a' + i))));
    }
    auto t = s->begin();
    auto all = co_await t->range(k("big/"), k("big0"));
    CO_ASSERT_OK(all);
    CO_ASSERT(all->pairs.size() == 6u);
    EXPECT_FALSE(all->more);
    EXPECT_EQ(all->pairs[5].value, std::string(value_bytes_max, 'f'));
}
TEST_F(EtcdStoreTest, AnswersTooLargeForOneMessageArePaged) {
    run(large_answers_are_paged(&store()));
}

io::Task<void> range_reads_count_toward_the_limit(Store* s) {
    for (int chunk = 0; chunk < 2; chunk++) {
        auto t = s->begin();
        for (int i = 0; i < 600; i++) {
            CO_ASSERT_OK(t->set(k("many/") + std::to_string(chunk * 600 + i), "v"));
        }
        CO_ASSERT_OK(co_await t->commit());
    }
    auto t = s->begin();
    auto all = co_await t->range(k("many/"), k("many0"));
    CO_ASSERT_OK(all);
    EXPECT_EQ(all->pairs.size(), 1200u);
    CO_ASSERT_OK(t->set(k("many-count"), "1200"));
    auto c = co_await t->commit();
    EXPECT_EQ(c.code(), ErrorCode::limit_exceeded);
    EXPECT_NE(c.error().message.find("transaction_operations_max"), std::string::npos);
}
TEST_F(EtcdStoreTest, RangeReadsCountTowardTheOperationsLimit) {
    run(range_reads_count_toward_the_limit(&store()));
}

io::Task<void> close_ends_a_watch(io::Executor* ex, Store* s) {
    auto now = co_await s->current_revision();
    CO_ASSERT_OK(now);
    auto closer = [](io::Executor* e, Store* st) -> io::Task<void> {
        co_await e->sleep_for(Duration::ms(200));
        co_await st->close();
    };
    io::spawn(*ex, closer(ex, s));
    const Instant start = ex->now();
    auto w = co_await s->watch(k("cw/"), k("cw0"), *now, Duration::s(30));
    EXPECT_EQ(w.code(), ErrorCode::closed);
    EXPECT_LT(ex->now() - start, Duration::s(5));
    EXPECT_EQ((co_await s->current_revision()).code(), ErrorCode::closed);
    EXPECT_EQ((co_await put(*s, k("cw/x"), "v")).code(), ErrorCode::closed);
}
TEST_F(EtcdStoreTest, CloseEndsAWatch) { run(close_ends_a_watch(&ex(), &store())); }

// Batching. Coroutines started together run to their first suspension in order, so a first
// commit leads a batch at once and the ones started with it queue behind it: they go together in
// the next batch, as far as they can share one.

io::Task<void> blind_put(Store* s, std::string key, Result<Revision>* out) {
    *out = co_await put(*s, std::move(key), "v");
}

io::Task<void> concurrent_commits_share_a_batch(Store* s) {
    constexpr int writers = 16;
    std::vector<Result<Revision>> revisions(writers, Error(ErrorCode::internal, "unset"));
    std::vector<io::Task<void>> tasks;
    for (int i = 0; i < writers; i++) {
        tasks.push_back(blind_put(s, k("batch/") + std::to_string(i), &revisions[size_t(i)]));
    }
    co_await io::when_all(std::move(tasks));
    std::set<Revision> distinct;
    for (const Result<Revision>& r : revisions) {
        CO_ASSERT_OK(r);
        distinct.insert(*r);
    }
    EXPECT_LT(distinct.size(), size_t(writers));  // batched: several commits in one etcd Txn
    // Each key's mod_revision is its commit's revision, shared or not.
    auto t = s->begin();
    auto all = co_await t->range(k("batch/"), k("batch0"));
    CO_ASSERT_OK(all);
    CO_ASSERT(all->pairs.size() == size_t(writers));
    for (const KeyValue& kv : all->pairs) {
        const int i = std::stoi(kv.key.substr(k("batch/").size()));
        EXPECT_EQ(kv.mod_revision, *revisions[size_t(i)]) << kv.key;
    }
}
TEST_F(EtcdStoreTest, ConcurrentCommitsShareABatch) {
    run(concurrent_commits_share_a_batch(&store()));
}

io::Task<void> commit_into(Transaction* t, Result<Revision>* out) { *out = co_await t->commit(); }

// Write skew: each reads x and y and, seeing both 0, sets its own to 1 ("at most one is 1").
// etcd checks every compare of a batch against the state before it, so in one batch both
// would commit; serializable, one must conflict.
io::Task<void> write_skew_is_not_batched(Store* s) {
    CO_ASSERT_OK(co_await put(*s, k("skew/x"), "0"));
    CO_ASSERT_OK(co_await put(*s, k("skew/y"), "0"));
    auto t1 = s->begin();
    auto t2 = s->begin();
    for (Transaction* t : {t1.get(), t2.get()}) {
        auto x = co_await t->get(k("skew/x"));
        auto y = co_await t->get(k("skew/y"));
        CO_ASSERT_OK(x);
        CO_ASSERT_OK(y);
        CO_ASSERT((*x)->value == "0" && (*y)->value == "0");
    }
    CO_ASSERT_OK(t1->set(k("skew/x"), "1"));
    CO_ASSERT_OK(t2->set(k("skew/y"), "1"));
    Result<Revision> filler = Error(ErrorCode::internal, "unset");
    Result<Revision> c1 = filler;
    Result<Revision> c2 = filler;
    std::vector<io::Task<void>> tasks;
    tasks.push_back(blind_put(s, k("skew/filler"), &filler));  // leads; t1 and t2 queue
    tasks.push_back(commit_into(t1.get(), &c1));
    tasks.push_back(commit_into(t2.get(), &c2));
    co_await io::when_all(std::move(tasks));
    CO_ASSERT_OK(filler);
    CO_ASSERT_OK(c1);  // first in line
    CO_ASSERT(!c2.ok());  // else both of the write-skew pair were applied
    EXPECT_EQ(c2.code(), ErrorCode::conflict);
}
TEST_F(EtcdStoreTest, WriteSkewIsNotBatched) { run(write_skew_is_not_batched(&store())); }

io::Task<void> commit_with_lease(Store* s, std::string key, LeaseId lease, Result<Revision>* out) {
    auto t = s->begin();
    (void)t->set(key, "v", WriteOptions{.lease = lease});
    *out = co_await t->commit();
}

// A batch that etcd refuses for one member's sake (its lease is gone) is sent again commit by
// commit: that one fails, the others commit.
io::Task<void> refused_batch_is_resent_one_by_one(Store* s) {
    auto lease = co_await s->grant_lease(Duration::s(10));
    CO_ASSERT_OK(lease);
    CO_ASSERT_OK(co_await s->revoke_lease(*lease));
    Result<Revision> filler = Error(ErrorCode::internal, "unset");
    Result<Revision> dead = filler;
    Result<Revision> a = filler;
    Result<Revision> b = filler;
    std::vector<io::Task<void>> tasks;
    tasks.push_back(blind_put(s, k("refused/filler"), &filler));
    tasks.push_back(blind_put(s, k("refused/a"), &a));
    tasks.push_back(commit_with_lease(s, k("refused/dead"), *lease, &dead));
    tasks.push_back(blind_put(s, k("refused/b"), &b));
    co_await io::when_all(std::move(tasks));
    CO_ASSERT_OK(filler);
    CO_ASSERT_OK(a);
    CO_ASSERT_OK(b);
    EXPECT_EQ(dead.code(), ErrorCode::lease_expired);
    auto keys = co_await keys_in(*s, k("refused/"), k("refused0"));
    CO_ASSERT_OK(keys);
    EXPECT_EQ(*keys, (std::vector<std::string>{"refused/a", "refused/b", "refused/filler"}));
}
TEST_F(EtcdStoreTest, RefusedBatchIsResentOneByOne) {
    run(refused_batch_is_resent_one_by_one(&store()));
}

io::Task<void> read_into(Store* s, std::string key, std::string* value, Revision* snapshot) {
    auto t = s->begin();
    auto r = co_await t->get(key);
    if (r.ok() && r->has_value()) {
        *value = (*r)->value;
    }
    *snapshot = t->read_revision();
}

// First reads that queue go in one batch at one snapshot, which is never older than a commit
// acknowledged before they started.
io::Task<void> concurrent_first_reads_share_a_snapshot(Store* s) {
    auto committed = co_await put(*s, k("snap/x"), "1");
    CO_ASSERT_OK(committed);
    constexpr int readers = 8;
    std::vector<std::string> values(readers);
    std::vector<Revision> snapshots(readers);
    std::vector<io::Task<void>> tasks;
    for (int i = 0; i < readers; i++) {
        tasks.push_back(read_into(s, k("snap/x"), &values[size_t(i)], &snapshots[size_t(i)]));
    }
    co_await io::when_all(std::move(tasks));
    for (int i = 0; i < readers; i++) {
        EXPECT_EQ(values[size_t(i)], "1");
        EXPECT_GE(snapshots[size_t(i)], *committed);
    }
    EXPECT_LT(std::set<Revision>(snapshots.begin(), snapshots.end()).size(), size_t(readers));
}
TEST_F(EtcdStoreTest, ConcurrentFirstReadsShareASnapshot) {
    run(concurrent_first_reads_share_a_snapshot(&store()));
}

// Compacts the cluster's history up to `revision` (not part of the Store API).
grpc::Status compact(Revision revision) {
    const char* endpoints = std::getenv("KELPIE_TEST_ETCD_ENDPOINTS");
    auto channel = grpc::CreateChannel(std::string("ipv4:") + endpoints,
                                       grpc::InsecureChannelCredentials());
    auto kv = etcdserverpb::KV::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(gpr_time_from_seconds(5, GPR_TIMESPAN));
    etcdserverpb::CompactionRequest request;
    request.set_revision(revision);
    etcdserverpb::CompactionResponse response;
    return kv->Compact(&context, request, &response);
}

io::Task<void> compacted_snapshot_conflicts(Store* s) {
    CO_ASSERT_OK(co_await put(*s, k("cs/x"), "1"));
    auto t = s->begin();
    CO_ASSERT_OK(co_await t->get(k("cs/x")));
    CO_ASSERT_OK(co_await put(*s, k("cs/x"), "2"));
    auto now = co_await s->current_revision();
    CO_ASSERT_OK(now);
    const grpc::Status compacted = compact(*now);
    if (!compacted.ok()) {
        ADD_FAILURE() << "compact: " << compacted.error_message();
        co_return;
    }
    auto late = co_await t->get(k("cs/y"));  // at t's snapshot, now compacted away
    EXPECT_EQ(late.code(), ErrorCode::conflict);
    // A watch whose history was compacted away (start revision < the compaction's) reports a
    // change instead of failing.
    auto w = co_await s->watch(k("cs-none/"), k("cs-none0"), t->read_revision() - 1,
                               Duration::ms(1));
    CO_ASSERT_OK(w);
    EXPECT_GE(w->revision, *now);
}
TEST_F(EtcdStoreTest, CompactedSnapshotConflicts) { run(compacted_snapshot_conflicts(&store())); }

}  // namespace
}  // namespace kelpie::store::testing
