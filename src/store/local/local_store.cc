#include "store/local/local_store.h"

#include <algorithm>

#include "io/combinators.h"
#include "store/local/record.h"

namespace kelpie::store::detail {

namespace {

const std::string system_prefix("\xff", 1);
const std::string revision_key = system_prefix + "rev";
const std::string lease_prefix = system_prefix + "lease/";
const std::string lease_index_prefix = system_prefix + "lkey/";

std::string lease_key(LeaseId id) {
    std::string k = lease_prefix;
    put_int64(k, id.value);
    return k;
}

std::string lease_index_key(LeaseId id, std::string_view key) {
    std::string k = lease_index_prefix;
    put_int64(k, id.value);
    k += key;
    return k;
}

std::string lease_index_prefix_for(LeaseId id) {
    std::string k = lease_index_prefix;
    put_int64(k, id.value);
    return k;
}

bool writes_touch_range(const std::vector<Mutation>& writes, const std::string& begin,
                        const std::string& end) {
    for (const Mutation& m : writes) {
        if (m.kind == Mutation::Kind::clear_range ? (m.key < end && begin < m.end)
                                                 : (m.key >= begin && m.key < end)) {
            return true;
        }
    }
    return false;
}

Error closed_error() { return Error(ErrorCode::closed, "store is closed"); }

}  // namespace

// --- LocalTransaction ---

class LocalTransaction final : public BufferedTransaction {
public:
    explicit LocalTransaction(LocalStore& store)
        : store_(store), snapshot_(store.revision_), engine_snapshot_(store.engine_->snapshot()) {
        store_.live_snapshots_.add(snapshot_);
    }
    ~LocalTransaction() override { store_.release_snapshot(snapshot_); }

    Revision read_revision() const override { return snapshot_; }

protected:
    io::Task<Result<std::optional<KeyValue>>> snapshot_get(std::string key) override {
        if (store_.faults_active()) {
            if (Status s = co_await store_.inject_faults(); !s.ok()) {
                co_return std::move(s).error();
            }
        }
        auto raw = co_await store_.engine_->get(engine_snapshot_, key);
        if (!raw.ok()) {
            co_return std::move(raw).error();
        }
        if (!raw->has_value()) {
            co_return std::optional<KeyValue>();
        }
        auto record = decode_record(key, std::move(**raw));
        if (!record.ok()) {
            co_return std::move(record).error();
        }
        co_return std::optional<KeyValue>(
            KeyValue{std::move(key), std::move(record->value), record->mod_revision, record->lease});
    }

    io::Task<Result<RangeResult>> snapshot_range(std::string begin, std::string end, size_t limit,
                                                 bool reverse) override {
        if (store_.faults_active()) {
            if (Status s = co_await store_.inject_faults(); !s.ok()) {
                co_return std::move(s).error();
            }
        }
        auto raw = co_await store_.engine_->scan(engine_snapshot_, begin, end, limit + 1, reverse);
        if (!raw.ok()) {
            co_return std::move(raw).error();
        }
        RangeResult out;
        out.more = raw->size() > limit;
        if (out.more) {
            raw->resize(limit);
        }
        for (auto& [key, bytes] : *raw) {
            auto record = decode_record(key, std::move(bytes));
            if (!record.ok()) {
                co_return std::move(record).error();
            }
            out.pairs.push_back(
                KeyValue{std::move(key), std::move(record->value), record->mod_revision, record->lease});
        }
        co_return out;
    }

    io::Task<Result<Revision>> commit_writes(std::vector<Mutation> mutations,
                                             ReadSet reads) override {
        if (store_.faults_active()) {
            if (Status s = co_await store_.inject_faults(); !s.ok()) {
                co_return std::move(s).error();
            }
        }
        LocalStore::PendingCommit commit;
        commit.mutations = std::move(mutations);
        commit.reads = std::move(reads);
        commit.snapshot = snapshot_;
        co_return co_await store_.submit(commit);
    }

private:
    LocalStore& store_;
    Revision snapshot_;
    std::shared_ptr<LocalEngine::Snapshot> engine_snapshot_;
};

// --- LocalStore ---

LocalStore::LocalStore(io::Executor& executor, std::unique_ptr<LocalEngine> engine,
                       std::string name, StoreFaults faults, StoreBugs bugs)
    : executor_(executor),
      engine_(std::move(engine)),
      name_(std::move(name)),
      faults_(faults),
      bugs_(bugs),
      wake_(executor, 1) {}

LocalStore::~LocalStore() {
    // REQUIRES: close() was awaited (or open() never started the background tasks), and no
    // transaction outlives the store.
    KELPIE_ASSERT(background_running_ == 0);
    KELPIE_ASSERT(live_snapshots_.empty());
}

std::unique_ptr<Transaction> LocalStore::begin() { return std::make_unique<LocalTransaction>(*this); }

void LocalStore::release_snapshot(Revision snapshot) { live_snapshots_.release(snapshot); }

io::Task<Status> LocalStore::inject_faults() {
    if (closed_) {
        co_return closed_error();
    }
    if (!faults_enabled()) {
        co_return Status();
    }
    if (faults_.latency_max > Duration::zero()) {
        count(&StoreFaultControl::latency_spikes);
        co_await executor_.sleep_for(
            Duration::ns(executor_.random().between(0, faults_.latency_max.to_ns())));
    }
    if (faults_.unavailable_probability > 0 &&
        executor_.random().chance(faults_.unavailable_probability)) {
        count(&StoreFaultControl::unavailable);
        co_return Error(ErrorCode::unavailable, "injected: store unavailable");
    }
    co_return Status();
}

io::Task<Status> LocalStore::open() {
    std::shared_ptr<LocalEngine::Snapshot> snap = engine_->snapshot();
    auto rev = co_await engine_->get(snap, revision_key);
    if (!rev.ok()) {
        co_return std::move(rev).error();
    }
    if (rev->has_value()) {
        if ((*rev)->size() != 8) {
            co_return Error(ErrorCode::corruption, "stored revision has the wrong size");
        }
        revision_ = get_int64(**rev);
    }
    // Leases: every lease restarts its full TTL (as etcd's do after a leader change).
    auto leases = co_await engine_->scan(snap, lease_prefix, prefix_end(lease_prefix),
                                         range_limit_max, false);
    if (!leases.ok()) {
        co_return std::move(leases).error();
    }
    for (const auto& [key, value] : *leases) {
        if (key.size() != lease_prefix.size() + 8 || value.size() != 8) {
            co_return Error(ErrorCode::corruption, "malformed lease record");
        }
        const LeaseId id(get_int64(std::string_view(key).substr(lease_prefix.size())));
        const Duration ttl = Duration::ns(get_int64(value));
        leases_[id] = LeaseState{ttl, executor_.now() + ttl, {}};
    }
    // Attachments: the index names candidates; the key's own record decides.
    std::string cursor = lease_index_prefix;
    const std::string index_end = prefix_end(lease_index_prefix);
    for (;;) {
        auto page = co_await engine_->scan(snap, cursor, index_end, range_limit_max, false);
        if (!page.ok()) {
            co_return std::move(page).error();
        }
        for (const auto& [key, value] : *page) {
            if (key.size() <= lease_index_prefix.size() + 8) {
                co_return Error(ErrorCode::corruption, "malformed lease index entry");
            }
            const LeaseId id(get_int64(std::string_view(key).substr(lease_index_prefix.size())));
            const std::string user_key = key.substr(lease_index_prefix.size() + 8);
            auto record_bytes = co_await engine_->get(snap, user_key);
            if (!record_bytes.ok()) {
                co_return std::move(record_bytes).error();
            }
            if (!record_bytes->has_value()) {
                continue;
            }
            auto record = decode_record(user_key, **record_bytes);
            if (!record.ok()) {
                co_return std::move(record).error();
            }
            auto lease = leases_.find(id);
            if (record->lease == id && lease != leases_.end()) {
                attachment_[user_key] = id;
                lease->second.keys.insert(user_key);
            }
        }
        if (page->size() < range_limit_max) {
            break;
        }
        cursor = page->back().first + '\x00';
    }

    auto run = [](LocalStore* self, io::Task<void> body) -> io::Task<void> {
        try {
            co_await std::move(body);
        } catch (const io::Cancelled&) {
        }
        self->background_running_--;
        if (self->background_running_ == 0 && self->close_waiter_) {
            self->executor_.post(std::exchange(self->close_waiter_, {}));
        }
    };
    background_running_ = 2;
    io::spawn(executor_, run(this, committer()), background_.token());
    io::spawn(executor_, run(this, lease_expiry_loop()), background_.token());
    co_return Status();
}

io::Task<Result<Revision>> LocalStore::submit(PendingCommit& commit) {
    if (closed_) {
        co_return closed_error();
    }
    if (failed_.has_value()) {
        co_return *failed_;
    }
    queue_.push_back(&commit);
    (void)wake_.try_send(true);
    struct Done {
        PendingCommit* commit;
        bool await_ready() const { return commit->result.has_value(); }
        void await_suspend(std::coroutine_handle<> h) { commit->waiter = h; }
        void await_resume() const {}
    };
    // lint: allow(temporary-await): trivially destructible (a pointer)
    co_await Done{&commit};
    co_return std::move(*commit.result);
}

namespace {

std::vector<AppliedWrite> applied_writes(const std::vector<Mutation>& mutations) {
    std::vector<AppliedWrite> out;
    out.reserve(mutations.size());
    for (const Mutation& m : mutations) {
        AppliedWrite w;
        w.key = m.key;
        switch (m.kind) {
            case Mutation::Kind::set:
                w.kind = AppliedWrite::Kind::set;
                w.value = m.value;
                break;
            case Mutation::Kind::clear: w.kind = AppliedWrite::Kind::clear; break;
            case Mutation::Kind::clear_range:
                w.kind = AppliedWrite::Kind::clear_range;
                w.end = m.end;
                break;
        }
        out.push_back(std::move(w));
    }
    return out;
}

}  // namespace

io::Task<void> LocalStore::committer() {
    while (co_await wake_.receive()) {
        while (!queue_.empty()) {
            std::vector<PendingCommit*> batch;
            while (!queue_.empty() && batch.size() < commit_batch_commits_max) {
                batch.push_back(queue_.front());
                queue_.pop_front();
            }
            co_await apply_batch(std::move(batch));
            // Split-off halves (non_atomic_commit bug): applied after a pause in which others
            // can read the half-applied state; then freed.
            bool split = false;
            for (auto& d : detached_) {
                if (!d->result.has_value() &&
                    std::find(queue_.begin(), queue_.end(), d.get()) == queue_.end()) {
                    queue_.push_back(d.get());
                    split = true;
                }
            }
            if (split) {
                co_await executor_.sleep_for(
                    Duration::ms(1 + static_cast<int64_t>(executor_.random().below(50))));
            }
            std::erase_if(detached_, [](const std::unique_ptr<PendingCommit>& d) {
                return d->result.has_value();
            });
        }
    }
}

std::optional<Error> LocalStore::check_commit(const PendingCommit& c,
                                              const ConflictHistory& batch) const {
    if (failed_.has_value()) {
        return *failed_;
    }
    if (c.check_reads && !bugs_.skip_read_check) {
        // Against everything applied, and against the commits admitted earlier in this batch
        // (all newer than any snapshot).
        if (history_.conflicts(c.snapshot, c.reads) || batch.conflicts(c.snapshot, c.reads)) {
            return Error(ErrorCode::conflict, "a key or range read was written since the snapshot");
        }
    }
    for (const Mutation& m : c.mutations) {
        if (m.kind != Mutation::Kind::set || m.lease.value == 0) {
            continue;
        }
        auto lease = leases_.find(m.lease);
        if (lease == leases_.end() || lease->second.expires_at <= executor_.now()) {
            return Error(ErrorCode::lease_expired,
                         "lease " + std::to_string(m.lease.value) + " does not exist or expired");
        }
    }
    return std::nullopt;
}

void LocalStore::admit(PendingCommit& c, Revision revision, std::vector<EngineWrite>& writes) {
    for (const Mutation& m : c.mutations) {
        switch (m.kind) {
            case Mutation::Kind::clear_range:
                writes.push_back(EngineWrite{EngineWrite::Kind::erase_range, m.key, m.end, {}});
                attachment_.erase(attachment_.lower_bound(m.key), attachment_.lower_bound(m.end));
                break;
            case Mutation::Kind::clear:
                writes.push_back(EngineWrite{EngineWrite::Kind::erase, m.key, {}, {}});
                attachment_.erase(m.key);
                break;
            case Mutation::Kind::set:
                writes.push_back(EngineWrite{EngineWrite::Kind::put, m.key, {},
                                             encode_record(revision, m.lease, m.value)});
                if (m.lease.value != 0) {
                    attachment_[m.key] = m.lease;
                    leases_.at(m.lease).keys.insert(m.key);
                    writes.push_back(EngineWrite{EngineWrite::Kind::put,
                                                 lease_index_key(m.lease, m.key), {}, {}});
                } else {
                    attachment_.erase(m.key);
                }
                break;
        }
    }
    for (EngineWrite& w : c.system_writes) {
        writes.push_back(std::move(w));
    }
    if (c.expire_lease.value != 0) {
        leases_.erase(c.expire_lease);
    }
}

io::Task<void> LocalStore::apply_batch(std::vector<PendingCommit*> batch) {
    std::vector<EngineWrite> writes;
    std::vector<const PendingCommit*> accepted;
    std::vector<Revision> revisions;
    ConflictHistory batch_writes;
    Revision next = revision_;
    for (PendingCommit* c : batch) {
        if (c->expire_lease.value != 0) {
            // The keys still attached to the lease now, after the commits before it in the batch.
            auto lease = leases_.find(c->expire_lease);
            if (lease != leases_.end()) {
                for (const std::string& key : lease->second.keys) {
                    auto a = attachment_.find(key);
                    if (a != attachment_.end() && a->second == c->expire_lease) {
                        c->mutations.push_back(Mutation{.kind = Mutation::Kind::clear, .key = key});
                    }
                }
            }
        }
        if (auto error = check_commit(*c, batch_writes)) {
            c->result = std::move(*error);
            continue;
        }
        if (c->check_reads && faults_enabled() && faults_.conflict_probability > 0 &&
            executor_.random().chance(faults_.conflict_probability)) {
            count(&StoreFaultControl::conflicts);
            c->result = Error(ErrorCode::conflict, "injected conflict");
            continue;
        }
        if (c->check_reads && faults_enabled() && faults_.unknown_result_probability > 0 &&
            executor_.random().chance(faults_.unknown_result_probability)) {
            count(&StoreFaultControl::unknown_results);
            const bool applied = executor_.random().chance(0.5);
            c->result = Error(ErrorCode::unknown_result,
                              applied ? "injected: outcome unknown (applied)"
                                      : "injected: outcome unknown (not applied)");
            if (!applied) {
                continue;
            }
        }
        if (bugs_.non_atomic_commit && c->mutations.size() > 1 && c->expire_lease.value == 0) {
            // BUG (switch): only the first write now; the rest later, unchecked.
            auto rest = std::make_unique<PendingCommit>();
            rest->mutations.assign(c->mutations.begin() + 1, c->mutations.end());
            rest->check_reads = false;
            c->mutations.resize(1);
            detached_.push_back(std::move(rest));
        }
        next++;
        admit(*c, next, writes);
        if (c != batch.back()) {  // only later commits of this batch check against it
            batch_writes.record(next, c->mutations);
        }
        accepted.push_back(c);
        revisions.push_back(next);
    }
    if (!accepted.empty()) {
        std::string rev_bytes;
        put_int64(rev_bytes, next);
        writes.push_back(EngineWrite{EngineWrite::Kind::put, revision_key, {}, rev_bytes});
        Status applied = co_await engine_->apply(std::move(writes));
        if (!applied.ok()) {
            failed_ = Error(ErrorCode::io_error,
                            "store write failed (" + applied.error().to_string() +
                                "); the store refuses further commits until restarted");
            for (const PendingCommit* c : accepted) {
                auto* pc = const_cast<PendingCommit*>(c);
                if (!pc->result.has_value()) {
                    pc->result = Error(ErrorCode::unknown_result, applied.error().to_string());
                }
            }
        } else {
            revision_ = next;
            for (size_t i = 0; i < accepted.size(); i++) {
                auto* pc = const_cast<PendingCommit*>(accepted[i]);
                history_.record(revisions[i], pc->mutations);
                if (!pc->result.has_value()) {
                    pc->result = revisions[i];
                }
                for (Watcher* w : watchers_) {
                    if (writes_touch_range(pc->mutations, w->begin, w->end)) {
                        (void)w->wake->try_send(revisions[i]);
                    }
                }
                if (observer_) {
                    observer_(revisions[i], applied_writes(pc->mutations));
                }
            }
        }
    }
    for (PendingCommit* c : batch) {
        if (c->waiter) {
            executor_.post(c->waiter);
        }
    }
    // Forget history no live snapshot can conflict with, amortised.
    if (history_.size() > 2 * history_size_after_gc_ + 1024) {
        history_.forget_through(live_snapshots_.empty() ? revision_ : live_snapshots_.oldest());
        history_size_after_gc_ = history_.size();
    }
}

io::Task<Result<LeaseId>> LocalStore::grant_lease(Duration ttl) {
    if (Status s = check_lease_ttl(ttl); !s.ok()) {
        co_return std::move(s).error();
    }
    LeaseId id;
    do {
        id = LeaseId(static_cast<int64_t>(executor_.random().next_u64() >> 1));
    } while (id.value == 0 || leases_.contains(id));
    PendingCommit commit;
    commit.check_reads = false;
    std::string ttl_bytes;
    put_int64(ttl_bytes, ttl.to_ns());
    commit.system_writes.push_back(EngineWrite{EngineWrite::Kind::put, lease_key(id), {}, ttl_bytes});
    auto r = co_await submit(commit);
    if (!r.ok()) {
        co_return std::move(r).error();
    }
    leases_[id] = LeaseState{ttl, executor_.now() + ttl, {}};
    co_return id;
}

io::Task<Result<LeaseInfo>> LocalStore::keepalive(LeaseId lease) {
    if (Status s = co_await inject_faults(); !s.ok()) {
        co_return std::move(s).error();
    }
    auto it = leases_.find(lease);
    if (it == leases_.end() || it->second.expires_at <= executor_.now()) {
        co_return Error(ErrorCode::lease_expired,
                        "lease " + std::to_string(lease.value) + " does not exist or expired");
    }
    it->second.expires_at = executor_.now() + it->second.ttl;
    co_return LeaseInfo{lease, it->second.ttl, it->second.ttl};
}

io::Task<Status> LocalStore::expire_lease(LeaseId lease) {
    PendingCommit commit;
    commit.check_reads = false;
    commit.expire_lease = lease;
    commit.system_writes.push_back(EngineWrite{EngineWrite::Kind::erase, lease_key(lease), {}, {}});
    const std::string index = lease_index_prefix_for(lease);
    commit.system_writes.push_back(
        EngineWrite{EngineWrite::Kind::erase_range, index, prefix_end(index), {}});
    auto r = co_await submit(commit);
    if (!r.ok()) {
        co_return std::move(r).error();
    }
    co_return Status();
}

io::Task<Status> LocalStore::revoke_lease(LeaseId lease) {
    if (closed_) {
        co_return closed_error();
    }
    if (!leases_.contains(lease)) {
        co_return Status();
    }
    co_return co_await expire_lease(lease);
}

io::Task<void> LocalStore::lease_expiry_loop() {
    for (;;) {
        co_await executor_.sleep_for(lease_expiry_check_interval);
        const Instant now = executor_.now();
        std::vector<LeaseId> due;
        for (const auto& [id, state] : leases_) {
            const bool early = faults_enabled() && faults_.early_lease_expiry_probability > 0 &&
                               executor_.random().chance(faults_.early_lease_expiry_probability);
            if (early && state.expires_at > now) {
                count(&StoreFaultControl::early_lease_expiries);
            }
            if (state.expires_at <= now || early) {
                due.push_back(id);
            }
        }
        for (LeaseId id : due) {
            if (leases_.contains(id)) {
                (void)co_await expire_lease(id);
            }
        }
    }
}

io::Task<Result<WatchResult>> LocalStore::watch(std::string begin, std::string end, Revision after,
                                                Duration timeout) {
    if (closed_) {
        co_return closed_error();
    }
    if (Status s = check_range(begin, end); !s.ok()) {
        co_return std::move(s).error();
    }
    end = clip_user_end(std::move(end));
    if (after < revision_ && history_.changed_since(after, begin, end)) {
        co_return WatchResult{revision_};
    }
    io::Channel<Revision> wake(executor_, 1);
    Watcher watcher{begin, end, &wake};
    watchers_.push_back(&watcher);
    struct Unregister {
        LocalStore* store;
        Watcher* watcher;
        ~Unregister() { std::erase(store->watchers_, watcher); }
    } unregister{this, &watcher};
    auto receive = [](io::Channel<Revision>* ch) -> io::Task<Revision> {
        auto r = co_await ch->receive();
        co_return r.value_or(0);
    };
    auto r = co_await io::with_timeout(executor_, timeout, receive(&wake));
    if (!r.ok()) {
        co_return std::move(r).error();
    }
    co_return WatchResult{*r};
}

io::Task<Result<Revision>> LocalStore::current_revision() {
    if (closed_) {
        co_return closed_error();
    }
    co_return revision_;
}

io::Task<void> LocalStore::close() {
    if (closed_) {
        co_return;
    }
    closed_ = true;
    wake_.close();
    background_.cancel();
    if (background_running_ > 0) {
        struct Wait {
            LocalStore* store;
            bool await_ready() const { return store->background_running_ == 0; }
            void await_suspend(std::coroutine_handle<> h) { store->close_waiter_ = h; }
            void await_resume() const {}
        };
        // lint: allow(temporary-await): trivially destructible (a pointer)
        co_await Wait{this};
    }
    // Commits queued after the committer stopped can no longer be applied.
    while (!queue_.empty()) {
        PendingCommit* c = queue_.front();
        queue_.pop_front();
        c->result = closed_error();
        if (c->waiter) {
            executor_.post(c->waiter);
        }
    }
}

}  // namespace kelpie::store::detail
