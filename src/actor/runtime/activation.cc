#include "actor/runtime/activation.h"

#include <fmt/format.h>


namespace kelpie::actor {

using records::JournalEntry;
using records::JournalStatus;
using records::ReminderRecord;

class Activation::TurnContext final : public Context {
public:
    explicit TurnContext(Activation& a) : a_(a) {}

    const ActorId& self() const override { return a_.id_; }
    io::Executor& executor() override { return a_.runtime_.executor_; }
    uint64_t fencing_token() const override { return a_.claim_.fencing_token; }
    std::string effect_key(uint32_t step) const override {
        return fmt::format("{}/{}/{}/{}/{}", a_.id_.type, a_.id_.key, a_.claim_.fencing_token,
                           a_.turn_number_, step);
    }
    Status set_reminder(std::string name, WallTime due, Invocation call, Duration period) override {
        KELPIE_TRY(check_reminder_name(name));
        if (call.method.empty() || call.method.size() > method_name_bytes_max ||
            call.argument.size() > invocation_argument_bytes_max) {
            return Error(ErrorCode::invalid_argument, "reminder method or argument out of bounds");
        }
        if (period < Duration::zero() || (period > Duration::zero() && period < Duration::ms(1))) {
            return Error(ErrorCode::invalid_argument, "reminder period must be 0 or >= 1ms");
        }
        a_.reminders_[name] = ReminderRecord{due.unix_ms(), period.to_ms(), std::move(call)};
        return {};
    }
    Status cancel_reminder(std::string name) override {
        KELPIE_TRY(check_reminder_name(name));
        a_.reminders_[name] = std::nullopt;
        return {};
    }
    Status put(std::string key, std::optional<std::string> value) override {
        if (records::is_runtime_key(key)) {
            return Error(ErrorCode::invalid_argument,
                         "Context::put: the key is in the actor layer's own subspaces");
        }
        a_.writes_[std::move(key)] = std::move(value);
        return {};
    }
    Status expect(std::string key, std::optional<std::string> value) override {
        if (records::is_runtime_key(key)) {
            return Error(ErrorCode::invalid_argument,
                         "Context::expect: the key is in the actor layer's own subspaces");
        }
        // The first expectation of a key since the last commit holds: it is what the actor read.
        a_.expects_.emplace(std::move(key), std::move(value));
        return {};
    }
    io::Task<Status> commit() override { return a_.commit_turn(nullptr, std::nullopt); }
    void deactivate_after_turn() override { a_.deactivate_after_turn_ = true; }

private:
    static Status check_reminder_name(const std::string& name) {
        if (name.empty() || name.size() > reminder_name_bytes_max) {
            return Error(ErrorCode::invalid_argument,
                         fmt::format("reminder name must be 1..{} bytes", reminder_name_bytes_max));
        }
        return {};
    }
    Activation& a_;
};

Activation::Activation(Runtime& runtime, ActorId id, ActorFactory factory)
    : runtime_(runtime),
      id_(std::move(id)),
      factory_(std::move(factory)),
      mailbox_(runtime.executor_, mailbox_depth_max),
      ended_(std::make_shared<io::Channel<int>>(runtime.executor_, 1)) {}

void Activation::begin_deactivation(bool release) {
    if (!release) {
        release_ = false;
    }
    if (state_ == ActivationState::deactivating || state_ == ActivationState::inactive) {
        return;
    }
    state_ = ActivationState::deactivating;
    mailbox_.close();  // the turn loop drains what is queued into leftovers_, then ends
}

io::Task<Status> Activation::activate() {
    KELPIE_CO_TRY_ASSIGN(registry::Claim claim, co_await runtime_.registry_.claim(id_));
    claim_ = claim;
    registry::Registry* reg = &runtime_.registry_;
    const ActorId id = id_;
    store::TransactionBody<std::string> load_body =
            [reg, id, claim](store::Transaction& t) -> io::Task<Result<std::string>> {
                KELPIE_CO_TRY(co_await reg->check_fence(t, id, claim));
                KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> kv,
                                     co_await t.get(records::state_key(id)));
                if (!kv.has_value()) {
                    co_return std::string();
                }
                KELPIE_CO_TRY_ASSIGN(records::StateRecord r, records::decode_state(kv->value));
                co_return std::move(r.bytes);
            };
    KELPIE_CO_TRY_ASSIGN(std::string bytes, co_await store::run_transaction(
                                                runtime_.executor_, runtime_.store_, load_body));
    actor_ = factory_();
    KELPIE_CO_TRY(actor_->load(bytes));
    committed_ = std::move(bytes);
    co_return ok_status();
}

io::Task<void> Activation::run([[maybe_unused]] std::shared_ptr<Activation> self) {
    // `self` keeps the activation alive until its life ends.
    const Status activated = co_await activate();
    if (!activated.ok()) {
        begin_deactivation();
        co_await fail_queued(activated.error());
        if (claim_.fencing_token != 0) {
            (void)co_await runtime_.registry_.release(id_, claim_);
        }
    } else {
        if (state_ == ActivationState::activating) {
            state_ = ActivationState::active;
        }
        runtime_.counters_.activations++;
        last_activity_ = runtime_.executor_.now();
        io::spawn(runtime_.executor_, idle_watch(self), idle_cancel_.token());
        if (!runtime_.options_.bugs.no_recovery && state_ == ActivationState::active) {
            co_await replay_pending();
        }
        while (true) {
            std::optional<std::shared_ptr<Envelope>> item = co_await mailbox_.receive();
            if (!item.has_value()) {
                break;
            }
            if (state_ != ActivationState::active) {
                leftovers_.push_back(std::move(*item));
                continue;
            }
            if (!runtime_.registry_.lease_valid()) {
                leftovers_.push_back(std::move(*item));
                begin_deactivation(/*release=*/false);
                continue;
            }
            co_await turn(std::move(*item));
            if (deactivate_after_turn_) {
                begin_deactivation();
            }
        }
        idle_cancel_.cancel();
        if (release_) {
            (void)co_await runtime_.registry_.release(id_, claim_);
        }
    }
    state_ = ActivationState::inactive;
    runtime_.counters_.deactivations++;
    runtime_.remove(id_, this);
    ended_->close();
    for (std::shared_ptr<Envelope>& e : leftovers_) {
        runtime_.dispatch_leftover(std::move(e));
    }
    leftovers_.clear();
}

io::Task<void> Activation::fail_queued(Error error) {
    mailbox_.close();
    // A closed channel still hands out its buffer, then nullopt.
    while (true) {
        std::optional<std::shared_ptr<Envelope>> e = co_await mailbox_.receive();
        if (!e.has_value()) {
            co_return;
        }
        (*e)->answer(Error(error.code, error.message));
    }
}

io::Task<void> Activation::idle_watch([[maybe_unused]] std::shared_ptr<Activation> self) {
    // `self` keeps the activation alive for as long as this task exists (it may start late).
    const Duration idle = runtime_.options_.idle_timeout;
    while (state_ == ActivationState::active) {
        const Instant deadline = last_activity_ + idle;
        if (runtime_.executor_.now() < deadline) {
            co_await runtime_.executor_.sleep_until(deadline);
            continue;
        }
        if (!busy_ && mailbox_.size() == 0) {
            begin_deactivation();
            co_return;
        }
        co_await runtime_.executor_.sleep_for(idle);  // busy: look again later
    }
}

io::Task<void> Activation::replay_pending() {
    const ActorId id = id_;
    using Pending = std::vector<std::pair<std::string, JournalEntry>>;
    store::TransactionBody<Pending> read_pending =
            [id](store::Transaction& t)
                -> io::Task<Result<std::vector<std::pair<std::string, JournalEntry>>>> {
                std::vector<std::pair<std::string, JournalEntry>> out;
                KELPIE_CO_TRY_ASSIGN(store::RangeResult keys,
                                     co_await t.range(records::pending_begin(id),
                                                      records::pending_end(id)));
                for (const store::KeyValue& kv : keys.pairs) {
                    KELPIE_CO_TRY_ASSIGN(records::IndexedKey k, records::decode_pending_key(kv.key));
                    KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> entry,
                                         co_await t.get(records::journal_key(id, k.name)));
                    if (!entry.has_value()) {
                        co_return Error(ErrorCode::corruption,
                                        "pending index names a missing journal entry");
                    }
                    KELPIE_CO_TRY_ASSIGN(JournalEntry e, records::decode_journal(entry->value));
                    out.emplace_back(k.name, std::move(e));
                }
                co_return out;
            };
    Result<Pending> pending =
        co_await store::run_transaction(runtime_.executor_, runtime_.store_, read_pending);
    if (!pending.ok()) {
        begin_deactivation();
        co_return;
    }
    for (auto& [key, entry] : *pending) {
        if (state_ != ActivationState::active) {
            co_return;
        }
        auto envelope = std::make_shared<Envelope>();
        envelope->actor = id_;
        envelope->call = std::move(entry.call);
        envelope->idempotency_key = key;
        envelope->reminder = records::parse_reminder_idempotency_key(key);
        runtime_.counters_.replayed++;
        co_await turn(std::move(envelope));
    }
}

io::Task<void> Activation::run_stray(std::shared_ptr<Activation> self,
                                     std::shared_ptr<Envelope> envelope) {
    co_await self->turn(std::move(envelope));
}

io::Task<void> Activation::turn(std::shared_ptr<Envelope> e) {
    busy_ = true;
    turn_number_++;
    runtime_.counters_.turns++;
    if (runtime_.observer_ != nullptr) {
        runtime_.observer_->turn_started(id_, runtime_.registry_.node_id(), claim_.fencing_token,
                                         state_);
    }
    reminders_.clear();
    writes_.clear();
    expects_.clear();
    bool done = false;
    if (actor_ == nullptr) {
        // Only a call that reached an activation which never loaded (the
        // invoke_races_deactivation bug switch) gets here.
        e->answer(Error(ErrorCode::unavailable, "the actor's activation failed"));
        done = true;
    } else if (!e->idempotency_key.empty()) {
        Result<std::optional<Result<std::string>>> accepted = co_await journal_accept(e);
        if (!accepted.ok()) {
            after_failed_commit(accepted.code());
            e->answer(std::move(accepted).error());
            done = true;
        } else if (accepted->has_value()) {
            runtime_.counters_.duplicate_invocations++;
            e->answer(std::move(**accepted));
            done = true;
        }
    }
    if (!done) {
        TurnContext context(*this);
        Result<std::string> outcome = Error(ErrorCode::internal, "turn did not run");
        try {
            // A reference of its own: the instance lives until its handle() returns, whatever
            // happens to actor_ meanwhile.
            std::shared_ptr<Actor> instance = actor_;
            outcome = co_await instance->handle(context, e->call);
        } catch (const io::Cancelled&) {
            throw;
        } catch (const std::exception& ex) {
            outcome = Error(ErrorCode::internal, fmt::format("actor {} threw: {}", id_.to_string(), ex.what()));
        }
        if (!outcome.ok()) {
            reminders_.clear();
            writes_.clear();
            expects_.clear();
            const Status rolled_back = rollback();
            if (infrastructure_error(outcome.code())) {
                // The store or the lease failed under the turn (a mid-turn commit, say): that is
                // not the call's outcome. Its journal entry stays pending, and this activation
                // ends so that the next one runs the entry again (recovery).
                after_failed_commit(outcome.code());
                begin_deactivation();
            } else if (rolled_back.ok() && !e->idempotency_key.empty()) {
                // The error is the call's outcome: store it, so a retry gets the same answer.
                const Status recorded = co_await commit_turn(e, outcome);
                if (!recorded.ok()) {
                    after_failed_commit(recorded.code());
                    outcome = recorded.error();
                }
            }
            e->answer(std::move(outcome));
        } else {
            if (runtime_.options_.bugs.early_ack) {
                e->answer(outcome);  // BUG (switch): acknowledged before it is durable
            }
            const Status committed = co_await commit_turn(e, outcome);
            if (!committed.ok()) {
                reminders_.clear();
                writes_.clear();
                expects_.clear();
                (void)rollback();
                after_failed_commit(committed.code());
                if (!e->idempotency_key.empty()) {
                    // Its journal entry is still pending: end this activation so that the next
                    // one runs it (recovery), even if the caller never retries.
                    begin_deactivation();
                }
                e->answer(committed.error());
            } else {
                e->answer(std::move(outcome));
            }
        }
    }
    last_activity_ = runtime_.executor_.now();
    busy_ = false;
}

bool Activation::infrastructure_error(ErrorCode code) {
    switch (code) {
        case ErrorCode::unavailable:
        case ErrorCode::unknown_result:
        case ErrorCode::conflict:
        case ErrorCode::fenced:
        case ErrorCode::not_owner:
        case ErrorCode::lease_expired:
        case ErrorCode::closed:
            return true;
        default:
            return false;
    }
}

Status Activation::rollback() {
    actor_ = factory_();
    Status loaded = actor_->load(committed_);
    if (!loaded.ok()) {
        begin_deactivation();
    }
    return loaded;
}

void Activation::after_failed_commit(ErrorCode code) {
    if (code == ErrorCode::fenced) {
        begin_deactivation(/*release=*/false);  // someone else owns the actor now
    } else if (code == ErrorCode::unknown_result || code == ErrorCode::corruption ||
               code == ErrorCode::lease_expired) {
        begin_deactivation();  // memory may differ from the store: reload on the next activation
    }
}

io::Task<Result<std::optional<Result<std::string>>>> Activation::journal_accept(std::shared_ptr<Envelope> e) {
    registry::Registry* reg = &runtime_.registry_;
    const ActorId id = id_;
    const registry::Claim claim = claim_;
    const std::string key = e->idempotency_key;
    const Invocation call = e->call;
    using Accepted = std::optional<Result<std::string>>;
    store::TransactionBody<Accepted> accept_body =
        [reg, id, claim, key, call](store::Transaction& t) -> io::Task<Result<Accepted>> {
            KELPIE_CO_TRY(co_await reg->check_fence(t, id, claim));
            KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> kv,
                                 co_await t.get(records::journal_key(id, key)));
            if (kv.has_value()) {
                KELPIE_CO_TRY_ASSIGN(JournalEntry entry, records::decode_journal(kv->value));
                if (entry.status == JournalStatus::done) {
                    co_return Accepted(records::journal_result(entry));
                }
                co_return Accepted();  // pending: this is its (re)run
            }
            JournalEntry entry;
            entry.call = call;
            KELPIE_CO_TRY(t.set(records::journal_key(id, key), records::encode_journal(entry)));
            KELPIE_CO_TRY(t.set(records::pending_key(id, key), ""));
            KELPIE_CO_TRY(co_await t.commit());
            co_return Accepted();
        };
    const store::RetryOptions idempotent{.retry_unknown_result = true};
    co_return co_await store::run_transaction(runtime_.executor_, runtime_.store_, accept_body,
                                              idempotent);
}

namespace {

// Adds the writes that complete journal entry `key` with `outcome`.
Status write_completion(store::Transaction& t, const ActorId& id, const std::string& key,
                        const Invocation& call, const Result<std::string>& outcome,
                        int64_t expires_ms) {
    JournalEntry entry;
    entry.status = JournalStatus::done;
    entry.call = call;
    if (outcome.ok()) {
        entry.result = outcome.value();
    } else {
        entry.error = outcome.error().code;
        entry.result = outcome.error().message;
    }
    entry.expires_ms = expires_ms;
    KELPIE_TRY(t.set(records::journal_key(id, key), records::encode_journal(entry)));
    KELPIE_TRY(t.clear(records::pending_key(id, key)));
    return t.set(records::journal_gc_key(expires_ms, id, key), "");
}

io::Task<Status> write_reminder(store::Transaction& t, ActorId id, std::string name,
                                std::optional<ReminderRecord> next) {
    KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> old,
                         co_await t.get(records::reminder_key(id, name)));
    if (old.has_value()) {
        KELPIE_CO_TRY_ASSIGN(ReminderRecord r, records::decode_reminder(old->value));
        KELPIE_CO_TRY(t.clear(records::reminder_due_key(r.due_ms, id, name)));
    }
    if (!next.has_value()) {
        KELPIE_CO_TRY(t.clear(records::reminder_key(id, name)));
        co_return ok_status();
    }
    KELPIE_CO_TRY(t.set(records::reminder_key(id, name), records::encode_reminder(*next)));
    KELPIE_CO_TRY(t.set(records::reminder_due_key(next->due_ms, id, name),
                        records::encode_due(next->call)));
    co_return ok_status();
}

// The bookkeeping of a fired reminder: drop the fired due entry; reschedule a periodic reminder
// (skipping periods missed while down) or delete a one-shot one, unless it was changed since.
io::Task<Status> settle_fired_reminder(store::Transaction& t, ActorId id, records::ReminderFire fire,
                                       int64_t now_ms) {
    KELPIE_CO_TRY(t.clear(records::reminder_due_key(fire.due_ms, id, fire.name)));
    KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> kv,
                         co_await t.get(records::reminder_key(id, fire.name)));
    if (!kv.has_value()) {
        co_return ok_status();
    }
    KELPIE_CO_TRY_ASSIGN(ReminderRecord r, records::decode_reminder(kv->value));
    if (r.due_ms != fire.due_ms) {
        co_return ok_status();  // rescheduled since it fired
    }
    if (r.period_ms <= 0) {
        KELPIE_CO_TRY(t.clear(records::reminder_key(id, fire.name)));
        co_return ok_status();
    }
    const int64_t periods = now_ms > r.due_ms ? (now_ms - r.due_ms) / r.period_ms + 1 : 1;
    r.due_ms += periods * r.period_ms;
    KELPIE_CO_TRY(t.set(records::reminder_key(id, fire.name), records::encode_reminder(r)));
    KELPIE_CO_TRY(t.set(records::reminder_due_key(r.due_ms, id, fire.name),
                        records::encode_due(r.call)));
    co_return ok_status();
}

}  // namespace

io::Task<Status> Activation::commit_turn(std::shared_ptr<Envelope> e,
                                         std::optional<Result<std::string>> completion) {
    std::string state = actor_->save();
    if (state.size() > actor_state_bytes_max) {
        co_return Error(ErrorCode::limit_exceeded,
                        fmt::format("actor {} state is {} bytes; actor_state_bytes_max is {}",
                                    id_.to_string(), state.size(), actor_state_bytes_max));
    }
    const bool state_changed = state != committed_;
    const bool complete = e != nullptr && completion.has_value() && !e->idempotency_key.empty();
    const std::optional<records::ReminderFire> fired =
        (e != nullptr && completion.has_value()) ? e->reminder : std::nullopt;
    if (!state_changed && reminders_.empty() && writes_.empty() && expects_.empty() && !complete &&
        !fired.has_value()) {
        co_return ok_status();  // a read-only turn: nothing to commit
    }
    // BUG (switch idempotency_not_atomic): the outcome is recorded in a second transaction.
    const bool split = complete && runtime_.options_.bugs.idempotency_not_atomic;

    registry::Registry* reg = &runtime_.registry_;
    const ActorId id = id_;
    const registry::Claim claim = claim_;
    // What the transaction writes, made once and shared by every attempt and capture (a step's
    // records are KBs; each copy showed in the step's time). The turn's staged changes move in:
    // a failed commit fails the turn, which discards them anyway.
    struct Staged {
        std::string record;
        std::map<std::string, std::optional<ReminderRecord>> reminder_changes;
        std::map<std::string, std::optional<std::string>> writes;
        std::map<std::string, std::optional<std::string>> expects;
        std::string key;
        Invocation call;
        Result<std::string> outcome = std::string();
    };
    auto staged = std::make_shared<Staged>();
    staged->record = records::encode_state(records::StateRecord{claim_.fencing_token, state});
    staged->reminder_changes = std::move(reminders_);
    staged->writes = std::move(writes_);
    staged->expects = std::move(expects_);
    reminders_.clear();
    writes_.clear();
    expects_.clear();
    if (complete) {
        staged->key = e->idempotency_key;
        staged->call = e->call;
        staged->outcome = std::move(*completion);
    }
    std::shared_ptr<const Staged> c = std::move(staged);
    // Set when an expectation fails: not a conflict to retry here (the turn's copy is stale), but
    // reported as one, so that the turn runs again.
    auto stale = std::make_shared<std::string>();
    const int64_t now_ms = runtime_.executor_.wall_now().unix_ms();
    const int64_t expires_ms = now_ms + runtime_.options_.journal_retention.to_ms();

    store::TransactionBody<store::Revision> commit_body =
        [=](store::Transaction& t) -> io::Task<Result<store::Revision>> {
            KELPIE_CO_TRY(co_await reg->check_fence(t, id, claim));
            for (const auto& [expect_key, expected] : c->expects) {
                KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> current, co_await t.get(expect_key));
                const bool holds = current.has_value() ? (expected.has_value() && current->value == *expected)
                                                       : !expected.has_value();
                if (!holds) {
                    *stale = expect_key;
                    co_return Error(ErrorCode::failed_precondition, "stale");
                }
            }
            if (state_changed) {
                KELPIE_CO_TRY(t.set(records::state_key(id), c->record));
            }
            for (const auto& change : c->reminder_changes) {
                KELPIE_CO_TRY(co_await write_reminder(t, id, change.first, change.second));
            }
            for (const auto& [write_key, value] : c->writes) {
                if (value.has_value()) {
                    KELPIE_CO_TRY(t.set(write_key, *value));
                } else {
                    KELPIE_CO_TRY(t.clear(write_key));
                }
            }
            if (fired.has_value() && !c->reminder_changes.contains(fired->name)) {
                KELPIE_CO_TRY(co_await settle_fired_reminder(t, id, *fired, now_ms));
            }
            if (complete && !split) {
                KELPIE_CO_TRY(write_completion(t, id, c->key, c->call, c->outcome, expires_ms));
            }
            co_return co_await t.commit();
        };
    Result<store::Revision> written =
        co_await store::run_transaction(runtime_.executor_, runtime_.store_, std::move(commit_body));
    if (!stale->empty()) {
        runtime_.counters_.stale_commits++;
        co_return Error(ErrorCode::conflict,
                        fmt::format("actor {}: a record it read changed before its commit",
                                    id_.to_string()));
    }
    if (!written.ok()) {
        co_return std::move(written).error();
    }
    committed_ = std::move(state);
    if (split) {
        store::TransactionBody<store::Revision> completion_body =
            [=](store::Transaction& t) -> io::Task<Result<store::Revision>> {
                KELPIE_CO_TRY(co_await reg->check_fence(t, id, claim));
                KELPIE_CO_TRY(write_completion(t, id, c->key, c->call, c->outcome, expires_ms));
                co_return co_await t.commit();
            };
        Result<store::Revision> second =
            co_await store::run_transaction(runtime_.executor_, runtime_.store_, completion_body);
        if (!second.ok()) {
            co_return std::move(second).error();
        }
    }
    co_return ok_status();
}

}  // namespace kelpie::actor
