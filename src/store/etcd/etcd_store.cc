// The etcd backend (store/etcd_store.h). A transaction reads at one etcd revision, its snapshot R:
// the first read takes the current revision (a linearizable read) and every later read passes
// `revision = R`. Its commit is one Txn (etcd/etcd_txn.h). Leases and watches map onto etcd's.
//
// Invariants:
//  (1) All reads of a transaction are at its snapshot R once R is set (read_revision() == R).
//  (2) A commit is sent at most once: commit errors other than the proven "not applied" ones are
//      unknown_result, and the caller's run_transaction decides whether to retry.

#include "store/etcd_store.h"

#include <algorithm>
#include <deque>
#include <optional>

#include "store/etcd/batch_queue.h"
#include "store/etcd/etcd_client.h"
#include "store/etcd/etcd_txn.h"

namespace kelpie::store {

namespace detail {

namespace {

// A key nobody writes (0xff... keys are the store's own), for calls that only want the header.
const std::string probe_key = std::string("\xff") + "kelpie/probe";

// etcd replays the history of a watch that starts in the past in a background loop that runs
// every 100 ms; a watch over a range with possible past deletions waits at least this long for
// that replay, whatever its own timeout (etcd 3.4 has no reliable "replay done" signal).
constexpr Duration watch_replay_wait = Duration::ms(500);

// At most this many transactions' first reads go in one read-only Txn (each is one operation of
// it; etcd's --max-txn-ops defaults to 128).
constexpr size_t snapshot_read_batch_reads_max = 64;

// At most this many commits in one batch Txn, and (unless one commit alone is larger) this many
// bytes of their Txns together: under etcd's --max-request-bytes (1.5 MiB by default), with room
// for the batch's own framing. etcd's --max-txn-ops applies to each nested Txn less the batch's
// own count; a batch it refuses is sent again commit by commit.
constexpr size_t commit_batch_txns_max = 64;
constexpr size_t commit_batch_bytes_max = 1024 * 1024;

}  // namespace

// What etcd answered to one commit Txn.
struct CommitAnswer {
    bool succeeded = false;  // its compares held, and its writes were applied
    Revision revision = 0;   // the revision after it (shared by the commits of one batch)
};

namespace {

Result<CommitAnswer> answer_of(Result<etcdserverpb::TxnResponse> response) {
    if (!response.ok()) {
        return std::move(response).error();
    }
    return CommitAnswer{response->succeeded(), response->header().revision()};
}

KeyValue to_key_value(const mvccpb::KeyValue& kv) {
    return KeyValue{kv.key(), kv.value(), kv.mod_revision(), LeaseId(kv.lease())};
}

// What one watch stream saw.
struct WatchOutcome {
    grpc::Status status;           // of the stream
    Revision header_revision = 0;  // the current revision when the watch was created
    Revision event_revision = 0;   // of the first event, or 0
    Revision compact_revision = 0;  // > 0: the start revision was compacted
    std::string cancel_reason;     // the server cancelled the watch (not for compaction)
};

// Reads a watch stream until its first event, a cancellation by the server, or the stream's end
// (deadline, error, close()). Returns true if it stopped with the stream still open.
bool read_first_change(grpc::ClientReaderWriter<etcdserverpb::WatchRequest,
                                                etcdserverpb::WatchResponse>& stream,
                       WatchOutcome& outcome) {
    etcdserverpb::WatchResponse response;
    while (stream.Read(&response)) {
        if (response.created()) {
            outcome.header_revision = response.header().revision();
        }
        if (response.compact_revision() > 0) {
            outcome.compact_revision = response.compact_revision();
            return true;
        }
        if (response.canceled()) {
            outcome.cancel_reason = response.cancel_reason().empty() ? "cancelled by the server"
                                                                     : response.cancel_reason();
            return true;
        }
        if (response.events_size() > 0) {
            outcome.event_revision = response.events(0).kv().mod_revision();
            return true;
        }
    }
    return false;
}

}  // namespace

class EtcdStore;

class EtcdTransaction final : public BufferedTransaction {
public:
    explicit EtcdTransaction(EtcdStore& store) : store_(store) {}
    Revision read_revision() const override { return snapshot_; }

protected:
    io::Task<Result<std::optional<KeyValue>>> snapshot_get(std::string key) override;
    io::Task<Result<RangeResult>> snapshot_range(std::string begin, std::string end, size_t limit,
                                                 bool reverse) override;
    io::Task<Result<Revision>> commit_writes(std::vector<Mutation> mutations,
                                             ReadSet reads) override;

private:
    // A Range at the snapshot; the first one fixes the snapshot (invariant (1)).
    io::Task<Result<etcdserverpb::RangeResponse>> read(etcdserverpb::RangeRequest request);
    // Replaces add_read_conflict observations (-1) by the keys' mod_revisions at the snapshot,
    // taking the snapshot first if the transaction has none.
    io::Task<Status> resolve_read_conflicts(ReadSet& reads);

    EtcdStore& store_;
    Revision snapshot_ = 0;
};

class EtcdStore final : public Store {
public:
    EtcdStore(io::Executor& executor, io::BlockingPool& pool, EtcdStoreOptions options)
        : client_(executor, pool, std::move(options)) {}

    std::string_view backend_name() const override { return "etcd"; }
    std::unique_ptr<Transaction> begin() override {
        return std::make_unique<EtcdTransaction>(*this);
    }
    io::Task<Result<LeaseId>> grant_lease(Duration ttl) override;
    io::Task<Result<LeaseInfo>> keepalive(LeaseId lease) override;
    io::Task<Status> revoke_lease(LeaseId lease) override;
    io::Task<Result<WatchResult>> watch(std::string begin, std::string end, Revision after,
                                        Duration timeout) override;
    io::Task<Result<Revision>> current_revision() override;
    io::Task<void> close() override { co_await client_.close(); }

    // A Range (retried internally on UNAVAILABLE). `what` names it in errors. A serializable
    // read at a revision the member reached has not applied yet is repeated as a linearizable one.
    io::Task<Result<etcdserverpb::RangeResponse>> range(etcdserverpb::RangeRequest request,
                                                        std::string what) {
        return range(std::move(request), std::move(what), call_deadline());
    }
    io::Task<Result<etcdserverpb::RangeResponse>> range(etcdserverpb::RangeRequest request,
                                                        std::string what, Instant deadline);
    // A Range at the current revision (REQUIRES: request.revision() == 0), batched with the
    // others that wait for the one in flight (see "Snapshot reads" below).
    io::Task<Result<etcdserverpb::RangeResponse>> snapshot_read(etcdserverpb::RangeRequest request);
    // A call starting now must be answered by this instant.
    Instant call_deadline() { return client_.executor().now() + client_.call_timeout(); }
    // A read-only Txn (retried internally on UNAVAILABLE until `deadline`). `what` names it in
    // errors.
    io::Task<Result<etcdserverpb::TxnResponse>> read_txn(etcdserverpb::TxnRequest request,
                                                         std::string what, Instant deadline);
    // Commits a commit Txn (etcd/etcd_txn.h), batched with others (see "Commits" below). Sent
    // at most once (invariant (2)).
    io::Task<Result<CommitAnswer>> commit(etcdserverpb::TxnRequest request);

private:
    // Snapshot reads. A transaction's first read takes the current revision, a linearizable read
    // (etcd confirms its leadership with a quorum for each). They are batched (batch_queue.h): a
    // batch of several is ONE read-only Txn holding their Ranges, which share its revision, a
    // linearization point inside every one of them — no read misses a commit acknowledged before
    // it began.
    struct PendingRead : BatchMember {
        etcdserverpb::RangeRequest request;
        std::optional<Result<etcdserverpb::RangeResponse>> result;
    };
    // Sends `batch` and answers every member.
    io::Task<void> send_read_batch(const std::vector<PendingRead*>& batch);

    // Commits. They are batched too (batch_queue.h): the leader takes the queued commits that can
    // share a batch with those already taken (can_share_batch: neither writes what another reads
    // or writes), within commit_batch_txns_max and commit_batch_bytes_max, and sends them as ONE
    // Txn holding each as a nested Txn with its own compares. etcd applies it atomically at one
    // revision, which all its commits share; each one's compares decide whether it applies. A
    // commit left out stays queued, first in line for the next batch.
    struct PendingCommit : BatchMember {
        etcdserverpb::TxnRequest request;
        TxnFootprint footprint;
        size_t bytes = 0;
        std::optional<Result<CommitAnswer>> result;
    };
    // Takes the leader's batch out of the queue (the leader is its front) and returns it; adds it
    // to `taken`, with the members it answered unsent because their deadline had passed.
    std::vector<PendingCommit*> take_commit_batch(std::vector<PendingCommit*>& taken);
    // Sends `batch` and answers every member. If a batch is refused before being applied for a
    // reason that may be one member's (a lease gone, a limit), each is sent again on its own.
    io::Task<void> send_commit_batch(const std::vector<PendingCommit*>& batch);
    // Sends one Txn once, to be answered by `deadline` (not sent if it has passed).
    io::Task<Result<etcdserverpb::TxnResponse>> send_commit(const etcdserverpb::TxnRequest& request,
                                                            Instant deadline);
    // For a call still queued at its deadline: unavailable, nothing sent.
    Error waited_too_long(std::string_view what) const {
        return Error(ErrorCode::unavailable,
                     std::string(what) + " on " + client_.cluster_name() + " not sent: it waited " +
                         client_.call_timeout().to_string() +
                         " (the call timeout) behind earlier calls that the cluster did not answer");
    }

    // Waits up to `wait` on a watch stream from after + 1.
    io::Task<Result<WatchResult>> watch_stream(std::string begin, std::string end, Revision after,
                                               Duration wait);
    // One watch stream, for at most `wait`: what it saw.
    io::Task<WatchOutcome> watch_once(std::string begin, std::string end, Revision after,
                                      Duration wait);

    EtcdClient client_;
    BatchQueue<PendingRead> reads_{client_.executor()};
    BatchQueue<PendingCommit> commits_{client_.executor()};
};

// --- EtcdTransaction ---

io::Task<Result<etcdserverpb::RangeResponse>> EtcdTransaction::read(
    etcdserverpb::RangeRequest request) {
    const Revision at = snapshot_;
    request.set_revision(at);
    if (at != 0) {
        // The member reached has either applied the snapshot (then it answers exactly what any
        // other would: nothing at or below a revision changes) or says so (range() repeats it).
        request.set_serializable(true);
        co_return co_await store_.range(std::move(request), "read");
    }
    auto response = co_await store_.snapshot_read(request);
    if (!response.ok()) {
        co_return response;
    }
    const Revision got = response->header().revision();
    if (snapshot_ == 0 || snapshot_ == got) {
        snapshot_ = got;
        co_return response;
    }
    // A concurrent first read of this transaction fixed the snapshot meanwhile: read at it.
    request.set_revision(snapshot_);
    co_return co_await store_.range(request, "read");
}

io::Task<Result<std::optional<KeyValue>>> EtcdTransaction::snapshot_get(std::string key) {
    etcdserverpb::RangeRequest request;
    request.set_key(key);
    auto response = co_await read(std::move(request));
    if (!response.ok()) {
        co_return std::move(response).error();
    }
    if (response->kvs_size() == 0) {
        co_return std::optional<KeyValue>();
    }
    co_return std::optional<KeyValue>(to_key_value(response->kvs(0)));
}

io::Task<Result<RangeResult>> EtcdTransaction::snapshot_range(std::string begin, std::string end,
                                                              size_t limit, bool reverse) {
    etcdserverpb::RangeRequest request;
    request.set_key(begin);
    request.set_range_end(end);
    if (reverse) {
        request.set_sort_order(etcdserverpb::RangeRequest::DESCEND);
        request.set_sort_target(etcdserverpb::RangeRequest::KEY);
    }
    for (;;) {
        request.set_limit(static_cast<int64_t>(limit) + 1);  // one more, to learn `more`
        auto response = co_await read(request);
        if (!response.ok() && response.code() == ErrorCode::limit_exceeded && limit > 1) {
            limit /= 2;  // the answer was too large for one gRPC message: ask for less
            continue;
        }
        if (!response.ok()) {
            co_return std::move(response).error();
        }
        RangeResult out;
        out.more = static_cast<size_t>(response->kvs_size()) > limit;
        for (int i = 0; i < response->kvs_size() && out.pairs.size() < limit; i++) {
            out.pairs.push_back(to_key_value(response->kvs(i)));
        }
        co_return out;
    }
}

io::Task<Status> EtcdTransaction::resolve_read_conflicts(ReadSet& reads) {
    std::vector<ReadSet::Key*> unresolved;
    for (ReadSet::Key& k : reads.keys) {
        if (k.observed < 0) {
            unresolved.push_back(&k);
        }
    }
    if (unresolved.empty()) {
        co_return Status();
    }
    // One read-only Txn: a keys-only Range per key, all at the snapshot (or, with none yet, at
    // the current revision, which becomes the snapshot).
    etcdserverpb::TxnRequest request;
    for (const ReadSet::Key* k : unresolved) {
        auto* range = request.add_success()->mutable_request_range();
        range->set_key(k->key);
        range->set_keys_only(true);
        range->set_revision(snapshot_);
    }
    auto response = co_await store_.read_txn(std::move(request), "read of add_read_conflict keys",
                                             store_.call_deadline());
    if (!response.ok()) {
        co_return std::move(response).error();
    }
    if (snapshot_ == 0) {
        snapshot_ = response->header().revision();
    }
    for (size_t i = 0; i < unresolved.size(); i++) {
        const auto& kvs = response->responses(static_cast<int>(i)).response_range().kvs();
        unresolved[i]->observed = kvs.empty() ? 0 : kvs[0].mod_revision();
    }
    co_return Status();
}

io::Task<Result<Revision>> EtcdTransaction::commit_writes(std::vector<Mutation> mutations,
                                                          ReadSet reads) {
    if (Status s = co_await resolve_read_conflicts(reads); !s.ok()) {
        co_return std::move(s).error();
    }
    auto request = build_commit_txn(mutations, reads, snapshot_);
    if (!request.ok()) {
        co_return std::move(request).error();
    }
    auto answer = co_await store_.commit(std::move(request).value());
    if (!answer.ok()) {
        co_return std::move(answer).error();
    }
    if (!answer->succeeded) {
        co_return Error(ErrorCode::conflict,
                        "a key or range read was written since the snapshot (revision " +
                            std::to_string(snapshot_) + ")");
    }
    co_return answer->revision;
}

// --- EtcdStore: calls ---

io::Task<Result<etcdserverpb::RangeResponse>> EtcdStore::range(etcdserverpb::RangeRequest request,
                                                               std::string what, Instant deadline) {
    etcdserverpb::RangeResponse response;
    etcdserverpb::KV::Stub* kv = client_.closed() ? nullptr : client_.kv();
    EtcdUnaryCall call =
        [kv, &request, &response](grpc::ClientContext& context, std::function<void(grpc::Status)> done) {
            kv->async()->Range(&context, &request, &response, std::move(done));
        };
    grpc::Status status = co_await client_.call_with_retry(call, deadline);
    if (request.serializable() && is_future_revision(status)) {
        request.set_serializable(false);  // etcd waits until it has applied what the leader has
        status = co_await client_.call_with_retry(std::move(call), deadline);
    }
    if (!status.ok()) {
        co_return client_.read_error(what, status);
    }
    co_return response;
}

io::Task<Result<etcdserverpb::RangeResponse>> EtcdStore::snapshot_read(
    etcdserverpb::RangeRequest request) {
    KELPIE_ASSERT(request.revision() == 0);
    PendingRead me;
    me.deadline = call_deadline();
    me.request = std::move(request);
    if (!co_await reads_.join(me)) {
        co_return std::move(*me.result);
    }
    std::deque<PendingRead*>& waiting = reads_.waiting();
    const Instant now = client_.executor().now();
    std::vector<PendingRead*> taken;
    std::vector<PendingRead*> batch;
    while (!waiting.empty() && batch.size() < snapshot_read_batch_reads_max) {
        PendingRead* read = waiting.front();
        waiting.pop_front();
        taken.push_back(read);
        if (read->deadline <= now) {
            read->result.emplace(waited_too_long("read"));
        } else {
            batch.push_back(read);
        }
    }
    if (!batch.empty()) {
        io::CancelScope shield;  // the batch answers others too: cancelling this read must not cut it
        co_await send_read_batch(batch).in_scope(&shield);
    }
    reads_.answered(taken, &me);
    co_return std::move(*me.result);
}

io::Task<void> EtcdStore::send_read_batch(const std::vector<PendingRead*>& batch) {
    if (batch.size() > 1) {
        etcdserverpb::TxnRequest request;
        for (const PendingRead* read : batch) {
            *request.add_success()->mutable_request_range() = read->request;
        }
        // Deadlines grow in queue order: the first member's is the batch's.
        auto response = co_await read_txn(std::move(request), "read", batch.front()->deadline);
        if (response.ok() && response->responses_size() == static_cast<int>(batch.size())) {
            for (size_t i = 0; i < batch.size(); i++) {
                auto* range = response->mutable_responses(static_cast<int>(i))
                                  ->mutable_response_range();
                *range->mutable_header() = response->header();
                batch[i]->result.emplace(std::move(*range));
            }
            co_return;
        }
        if (response.ok() || response.code() != ErrorCode::limit_exceeded) {
            const Error error = response.ok() ? Error(ErrorCode::internal,
                                                      "a batch of reads on " +
                                                          client_.cluster_name() +
                                                          " answered with the wrong count")
                                              : std::move(response).error();
            for (PendingRead* read : batch) {
                read->result.emplace(error);
            }
            co_return;
        }
        // The answers together were too large for one message: each on its own.
    }
    for (PendingRead* read : batch) {
        read->result.emplace(co_await range(read->request, "read", read->deadline));
    }
}

io::Task<Result<etcdserverpb::TxnResponse>> EtcdStore::read_txn(etcdserverpb::TxnRequest request,
                                                                 std::string what, Instant deadline) {
    etcdserverpb::TxnResponse response;
    etcdserverpb::KV::Stub* kv = client_.closed() ? nullptr : client_.kv();
    EtcdUnaryCall call =
        [kv, &request, &response](grpc::ClientContext& context, std::function<void(grpc::Status)> done) {
            kv->async()->Txn(&context, &request, &response, std::move(done));
        };
    grpc::Status status = co_await client_.call_with_retry(std::move(call), deadline);
    if (!status.ok()) {
        co_return client_.read_error(what, status);
    }
    co_return response;
}

io::Task<Result<CommitAnswer>> EtcdStore::commit(etcdserverpb::TxnRequest request) {
    if (client_.closed()) {
        co_return client_.closed_error();  // not sent
    }
    PendingCommit me;
    me.deadline = call_deadline();
    me.footprint = footprint_of(request);
    me.bytes = request.ByteSizeLong();
    me.request = std::move(request);
    if (!co_await commits_.join(me)) {
        co_return std::move(*me.result);
    }
    std::vector<PendingCommit*> taken;
    const std::vector<PendingCommit*> batch = take_commit_batch(taken);
    if (!batch.empty()) {
        io::CancelScope shield;  // the batch answers others too: cancelling this commit must not cut it
        co_await send_commit_batch(batch).in_scope(&shield);
    }
    commits_.answered(taken, &me);
    co_return std::move(*me.result);
}

std::vector<EtcdStore::PendingCommit*> EtcdStore::take_commit_batch(
    std::vector<PendingCommit*>& taken) {
    std::deque<PendingCommit*>& waiting = commits_.waiting();
    const Instant now = client_.executor().now();
    std::vector<PendingCommit*> batch;
    size_t bytes = 0;
    for (auto it = waiting.begin();
         it != waiting.end() && batch.size() < commit_batch_txns_max;) {
        PendingCommit* c = *it;
        if (c->deadline <= now) {
            c->result.emplace(waited_too_long("commit"));  // not sent
            taken.push_back(c);
            it = waiting.erase(it);
            continue;
        }
        const bool fits = batch.empty() || bytes + c->bytes <= commit_batch_bytes_max;
        const bool independent =
            std::all_of(batch.begin(), batch.end(), [c](const PendingCommit* in_batch) {
                return can_share_batch(in_batch->footprint, c->footprint);
            });
        if (fits && independent) {
            batch.push_back(c);
            taken.push_back(c);
            bytes += c->bytes;
            it = waiting.erase(it);
        } else {
            ++it;
        }
    }
    return batch;
}

io::Task<void> EtcdStore::send_commit_batch(const std::vector<PendingCommit*>& batch) {
    // Deadlines grow in queue order: the first member's is the batch's.
    const Instant deadline = batch.front()->deadline;
    if (batch.size() == 1) {
        batch[0]->result.emplace(answer_of(co_await send_commit(batch[0]->request, deadline)));
        co_return;
    }
    etcdserverpb::TxnRequest request;  // no compares: its success branch always runs
    for (PendingCommit* c : batch) {
        request.add_success()->mutable_request_txn()->Swap(&c->request);
    }
    auto response = co_await send_commit(request, deadline);
    if (response.ok() && response->responses_size() == static_cast<int>(batch.size())) {
        for (size_t i = 0; i < batch.size(); i++) {
            const auto& nested = response->responses(static_cast<int>(i));
            batch[i]->result.emplace(CommitAnswer{
                nested.has_response_txn() && nested.response_txn().succeeded(),
                response->header().revision()});
        }
        co_return;
    }
    const Error error =
        response.ok() ? Error(ErrorCode::unknown_result,
                              "a batch of commits on " + client_.cluster_name() +
                                  " was answered with " + std::to_string(response->responses_size()) +
                                  " outcomes for " + std::to_string(batch.size()))
                      : std::move(response).error();
    const ErrorCode code = error.code;
    if (code == ErrorCode::unknown_result || code == ErrorCode::unavailable ||
        code == ErrorCode::closed) {
        for (PendingCommit* c : batch) {
            c->result.emplace(error);  // the batch's fate (applied, not, or unknown) is each one's
        }
        co_return;
    }
    // Refused before anything was applied, perhaps for one member's sake: each on its own.
    for (size_t i = 0; i < batch.size(); i++) {
        batch[i]->request.Swap(request.mutable_success(static_cast<int>(i))->mutable_request_txn());
        batch[i]->result.emplace(answer_of(co_await send_commit(batch[i]->request, deadline)));
    }
}

io::Task<Result<etcdserverpb::TxnResponse>> EtcdStore::send_commit(
    const etcdserverpb::TxnRequest& request, Instant deadline) {
    if (client_.closed()) {
        co_return client_.closed_error();  // not sent
    }
    if (deadline <= client_.executor().now()) {
        co_return waited_too_long("commit");  // not sent
    }
    etcdserverpb::TxnResponse response;
    etcdserverpb::KV::Stub* kv = client_.kv();
    EtcdUnaryCall call = [kv, &request, &response](grpc::ClientContext& context,
                                                   std::function<void(grpc::Status)> done) {
        kv->async()->Txn(&context, &request, &response, std::move(done));
    };
    grpc::Status status =
        co_await client_.call_once(std::move(call), deadline - client_.executor().now());
    if (!status.ok()) {
        co_return client_.commit_error(status);
    }
    co_return response;
}

io::Task<Result<Revision>> EtcdStore::current_revision() {
    if (client_.closed()) {
        co_return client_.closed_error();
    }
    etcdserverpb::RangeRequest request;
    request.set_key(probe_key);
    request.set_count_only(true);
    auto response = co_await range(std::move(request), "current_revision");
    if (!response.ok()) {
        co_return std::move(response).error();
    }
    co_return response->header().revision();
}

// --- EtcdStore: leases ---

io::Task<Result<LeaseId>> EtcdStore::grant_lease(Duration ttl) {
    if (client_.closed()) {
        co_return client_.closed_error();
    }
    if (Status s = check_lease_ttl(ttl); !s.ok()) {
        co_return std::move(s).error();
    }
    etcdserverpb::LeaseGrantRequest request;
    // etcd counts TTLs in whole seconds: round up, never grant less than asked. (A retried grant
    // may leave an unused lease behind; it expires by its TTL.)
    request.set_ttl((ttl.to_ns() + Duration::s(1).to_ns() - 1) / Duration::s(1).to_ns());
    etcdserverpb::LeaseGrantResponse response;
    etcdserverpb::Lease::Stub* lease = client_.lease();
    EtcdUnaryCall call =
        [lease, &request, &response](grpc::ClientContext& context, std::function<void(grpc::Status)> done) {
            lease->async()->LeaseGrant(&context, &request, &response, std::move(done));
        };
    grpc::Status status = co_await client_.call_with_retry(std::move(call));
    if (!status.ok()) {
        co_return client_.read_error("lease grant", status);
    }
    if (!response.error().empty() || response.id() == 0) {
        co_return Error(ErrorCode::internal, "lease grant on " + client_.cluster_name() +
                                                 " answered without a lease: " + response.error());
    }
    co_return LeaseId(response.id());
}

io::Task<Result<LeaseInfo>> EtcdStore::keepalive(LeaseId lease) {
    if (client_.closed()) {
        co_return client_.closed_error();
    }
    etcdserverpb::LeaseKeepAliveResponse response;
    etcdserverpb::Lease::Stub* stub = client_.lease();
    // One round trip on a fresh LeaseKeepAlive stream: request, end of requests, one answer.
    EtcdCall call = [stub, lease, &response](grpc::ClientContext& context) {
        auto stream = stub->LeaseKeepAlive(&context);
        etcdserverpb::LeaseKeepAliveRequest request;
        request.set_id(lease.value);
        response.Clear();
        if (stream->Write(request)) {
            (void)stream->WritesDone();
            if (!stream->Read(&response)) {
                response.Clear();
            }
        }
        return stream->Finish();
    };
    grpc::Status status = co_await client_.call_with_retry(std::move(call));
    if (!status.ok()) {
        co_return client_.read_error("lease keepalive", status);
    }
    if (response.ttl() <= 0) {
        co_return Error(ErrorCode::lease_expired, "lease " + std::to_string(lease.value) +
                                                      " does not exist or expired");
    }
    const Duration ttl = Duration::s(response.ttl());
    co_return LeaseInfo{lease, ttl, ttl};
}

io::Task<Status> EtcdStore::revoke_lease(LeaseId lease) {
    if (client_.closed()) {
        co_return client_.closed_error();
    }
    etcdserverpb::LeaseRevokeRequest request;
    request.set_id(lease.value);
    etcdserverpb::LeaseRevokeResponse response;
    etcdserverpb::Lease::Stub* stub = client_.lease();
    EtcdUnaryCall call =
        [stub, &request, &response](grpc::ClientContext& context, std::function<void(grpc::Status)> done) {
            stub->async()->LeaseRevoke(&context, &request, &response, std::move(done));
        };
    grpc::Status status = co_await client_.call_with_retry(std::move(call));
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
        co_return Status();  // already gone (expired, or revoked by an earlier attempt)
    }
    if (!status.ok()) {
        co_return client_.read_error("lease revoke", status);
    }
    co_return Status();
}

// --- EtcdStore: watch ---

io::Task<Result<WatchResult>> EtcdStore::watch(std::string begin, std::string end, Revision after,
                                               Duration timeout) {
    if (client_.closed()) {
        co_return client_.closed_error();
    }
    if (Status s = check_range(begin, end); !s.ok()) {
        co_return std::move(s).error();
    }
    end = clip_user_end(std::move(end));
    const Instant start = client_.executor().now();
    if (begin >= end) {
        co_await client_.executor().sleep_for(timeout);  // nothing can change in an empty range
        co_return Error(ErrorCode::timeout, "watch timed out after " + timeout.to_string());
    }
    // Creations and updates since `after` show in the current state: answer them at once.
    etcdserverpb::RangeRequest probe;
    probe.set_key(begin);
    probe.set_range_end(end);
    probe.set_keys_only(true);
    probe.set_min_mod_revision(after + 1);
    probe.set_limit(1);
    auto now = co_await range(std::move(probe), "watch");
    if (!now.ok()) {
        co_return std::move(now).error();
    }
    const Revision current = now->header().revision();
    if (now->kvs_size() > 0) {
        co_return WatchResult{current};  // conservative, as the local store: the current revision
    }
    // Deletions since `after` are only in etcd's history: a watch from after + 1 replays them.
    Duration wait = timeout - (client_.executor().now() - start);
    if (current > after) {
        wait = std::max(wait, watch_replay_wait);
    }
    if (wait <= Duration::zero()) {
        co_return Error(ErrorCode::timeout, "watch timed out after " + timeout.to_string());
    }
    co_return co_await watch_stream(std::move(begin), std::move(end), after, wait);
}

io::Task<Result<WatchResult>> EtcdStore::watch_stream(std::string begin, std::string end,
                                                      Revision after, Duration wait) {
    io::Executor& executor = client_.executor();
    const Instant deadline = executor.now() + wait;
    Duration backoff = etcd_retry_backoff_initial;
    for (;;) {
        const WatchOutcome outcome =
            co_await watch_once(begin, end, after, deadline - executor.now());
        const grpc::Status& status = outcome.status;
        if (outcome.event_revision > 0) {
            co_return WatchResult{outcome.event_revision};
        }
        if (outcome.compact_revision > 0) {
            // History since `after` is gone: report a change (conservative, as the local store).
            co_return WatchResult{std::max(outcome.header_revision, outcome.compact_revision)};
        }
        if (client_.closed()) {
            co_return client_.closed_error();
        }
        if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
            co_return Error(ErrorCode::timeout, "watch timed out after " + wait.to_string());
        }
        if (!outcome.cancel_reason.empty()) {
            co_return Error(ErrorCode::unavailable, "watch on " + client_.cluster_name() +
                                                        " was cancelled: " + outcome.cancel_reason);
        }
        if (!is_retryable(status) || deadline - executor.now() <= backoff) {
            co_return client_.read_error("watch", status);
        }
        co_await executor.sleep_for(backoff);
        backoff = std::min(backoff * 2, etcd_retry_backoff_max);
    }
}

io::Task<WatchOutcome> EtcdStore::watch_once(std::string begin, std::string end,
                                                        Revision after, Duration wait) {
    WatchOutcome outcome;
    etcdserverpb::Watch::Stub* stub = client_.closed() ? nullptr : client_.watch();
    etcdserverpb::WatchRequest request;
    auto* create = request.mutable_create_request();
    create->set_key(begin);
    create->set_range_end(end);
    create->set_start_revision(after + 1);
    // The stream's deadline is the wait: the blocking Read returns when it passes (or when
    // close() cancels the call).
    EtcdCall call = [stub, &request, &outcome](grpc::ClientContext& context) {
        auto stream = stub->Watch(&context);
        if (stream->Write(request) && read_first_change(*stream, outcome)) {
            context.TryCancel();  // done with a stream still open (else keep its status)
        }
        return stream->Finish();
    };
    outcome.status = co_await client_.call_once(std::move(call), wait);
    co_return outcome;
}

}  // namespace detail

// --- factory ---

namespace {

bool parse_port(std::string_view text) {
    if (text.empty() || text.size() > 5) {
        return false;
    }
    int port = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return false;
        }
        port = port * 10 + (c - '0');
    }
    return port >= 1 && port <= 65535;
}

bool is_ipv4(std::string_view text) {
    int parts = 0;
    size_t i = 0;
    while (i <= text.size()) {
        const size_t dot = std::min(text.find('.', i), text.size());
        const std::string_view part = text.substr(i, dot - i);
        if (part.empty() || part.size() > 3 ||
            !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoi(std::string(part)) > 255) {
            return false;
        }
        parts++;
        i = dot + 1;
    }
    return parts == 4;
}

}  // namespace

Result<EtcdStoreOptions> parse_etcd_url(const std::string& url) {
    const std::string scheme = "etcd://";
    auto bad = [&url](const std::string& why) {
        return Error(ErrorCode::invalid_argument,
                     "bad etcd URL '" + url + "': " + why +
                         " (expected etcd://HOST:PORT[,HOST:PORT...], HOST an IPv4 address or "
                         "localhost)");
    };
    if (url.rfind(scheme, 0) != 0) {
        return bad("it does not start with etcd://");
    }
    EtcdStoreOptions options;
    std::string_view rest = std::string_view(url).substr(scheme.size());
    while (true) {
        const size_t comma = std::min(rest.find(','), rest.size());
        const std::string_view endpoint = rest.substr(0, comma);
        const size_t colon = endpoint.rfind(':');
        if (colon == std::string_view::npos) {
            return bad("endpoint '" + std::string(endpoint) + "' has no port");
        }
        std::string host(endpoint.substr(0, colon));
        if (host == "localhost") {
            host = "127.0.0.1";
        }
        if (!is_ipv4(host)) {
            return bad("'" + host + "' is not an IPv4 address");
        }
        if (!parse_port(endpoint.substr(colon + 1))) {
            return bad("'" + std::string(endpoint.substr(colon + 1)) + "' is not a port");
        }
        options.endpoints.push_back(host + ":" + std::string(endpoint.substr(colon + 1)));
        if (comma == rest.size()) {
            break;
        }
        rest = rest.substr(comma + 1);
    }
    return options;
}

io::Task<Result<std::unique_ptr<Store>>> open_etcd_store(io::Executor& executor,
                                                         io::BlockingPool& pool,
                                                         EtcdStoreOptions options) {
    if (options.endpoints.empty()) {
        co_return Error(ErrorCode::invalid_argument, "open_etcd_store: no endpoints");
    }
    const Duration timeout = options.call_timeout;
    auto store = std::make_unique<detail::EtcdStore>(executor, pool, std::move(options));
    auto revision = co_await store->current_revision();
    if (!revision.ok()) {
        co_await store->close();
        co_return Error(ErrorCode::unavailable, "the etcd cluster did not answer within " +
                                                    timeout.to_string() + ": " +
                                                    revision.error().to_string());
    }
    co_return std::unique_ptr<Store>(std::move(store));
}

}  // namespace kelpie::store
