#include <fmt/format.h>

#include "actor/runtime/activation.h"
#include "actor/actor.h"
#include "actor/runtime/records.h"

namespace kelpie::actor {

namespace {

// How many due reminders / expired journal entries one pass handles.
constexpr size_t reminder_batch_max = 256;
constexpr size_t journal_gc_batch_max = 256;
// How many actors one recovery sweep activates at most (the rest wait for the next sweep).
constexpr size_t recovery_sweep_actors_max = 1024;

Status check_invocation(const Invocation& call, const InvokeOptions& options) {
    if (call.method.empty() || call.method.size() > method_name_bytes_max) {
        return Error(ErrorCode::invalid_argument,
                     fmt::format("method name must be 1..{} bytes", method_name_bytes_max));
    }
    if (call.argument.size() > invocation_argument_bytes_max) {
        return Error(ErrorCode::limit_exceeded,
                     fmt::format("argument is {} bytes; invocation_argument_bytes_max is {}",
                                 call.argument.size(), invocation_argument_bytes_max));
    }
    if (options.idempotency_key.size() > idempotency_key_bytes_max) {
        return Error(ErrorCode::limit_exceeded,
                     fmt::format("idempotency key longer than idempotency_key_bytes_max ({})",
                                 idempotency_key_bytes_max));
    }
    if (options.idempotency_key.starts_with(records::reserved_idempotency_prefix)) {
        return Error(ErrorCode::invalid_argument,
                     fmt::format("idempotency keys starting with '{}' are reserved",
                                 records::reserved_idempotency_prefix));
    }
    return {};
}

}  // namespace

std::string_view activation_state_name(ActivationState s) {
    switch (s) {
        case ActivationState::inactive: return "inactive";
        case ActivationState::activating: return "activating";
        case ActivationState::active: return "active";
        case ActivationState::deactivating: return "deactivating";
    }
    return "?";
}

Runtime::Runtime(io::Executor& executor, store::Store& store, registry::Registry& registry,
                 RuntimeOptions options)
    : executor_(executor), store_(store), registry_(registry), options_(options), tasks_(executor) {}

Runtime::~Runtime() {
    KELPIE_ASSERT_MSG(activations_.empty() && loops_running_ == 0,
                      "Runtime destroyed with live activations: await stop() first");
}

void Runtime::register_type(std::string type, ActorFactory factory) {
    KELPIE_ASSERT(!started_);
    KELPIE_ASSERT(factories_.find(type) == factories_.end());
    factories_.emplace(std::move(type), std::move(factory));
}

void Runtime::start() {
    KELPIE_ASSERT(!started_);
    started_ = true;
    registry_.on_lease_lost([this] { on_lease_lost(); });
    loops_done_ = std::make_shared<io::Channel<int>>(executor_, 1);
    loops_running_ = 3;
    io::spawn(executor_,
              periodically(options_.reminder_poll_interval, options_.reminder_poll_interval,
                           &Runtime::fire_due_reminders),
              stop_loops_.token());
    io::spawn(executor_,
              periodically(options_.journal_gc_interval, options_.journal_gc_interval,
                           &Runtime::collect_journal),
              stop_loops_.token());
    io::spawn(executor_,
              periodically(Duration::zero(), options_.recovery_sweep_interval,
                           &Runtime::recover_pending),
              stop_loops_.token());
}

io::Task<void> Runtime::stop() {
    if (stopping_) {
        co_return;
    }
    stopping_ = true;
    stop_loops_.cancel();
    if (loops_running_ > 0) {
        std::shared_ptr<io::Channel<int>> done = loops_done_;
        (void)co_await done->receive();
    }
    // Deactivate everything; calls queued meanwhile fail with closed (see dispatch_leftover).
    while (!activations_.empty()) {
        std::shared_ptr<Activation> a = activations_.begin()->second;
        a->begin_deactivation();
        std::shared_ptr<io::Channel<int>> ended = a->ended();
        (void)co_await ended->receive();
    }
    // Reminder firings and re-deliveries still under way end now (their calls fail closed).
    co_await tasks_.close();
    registry_.on_lease_lost(nullptr);
}

ActivationState Runtime::state_of(const ActorId& actor) const {
    auto it = activations_.find(actor);
    return it == activations_.end() ? ActivationState::inactive : it->second->state();
}

bool Runtime::accepting_turns(const ActorId& actor) const {
    return state_of(actor) == ActivationState::active && registry_.lease_valid();
}

size_t Runtime::active_count() const { return activations_.size(); }

const std::string& Runtime::node_id() const { return registry_.node_id(); }

Result<std::shared_ptr<Activation>> Runtime::find_or_create(const ActorId& actor) {
    auto it = activations_.find(actor);
    if (it != activations_.end()) {
        return it->second;
    }
    auto factory = factories_.find(actor.type);
    if (factory == factories_.end()) {
        return Error(ErrorCode::not_found, fmt::format("no actor type '{}'", actor.type));
    }
    auto activation = std::make_shared<Activation>(*this, actor, factory->second);
    activations_.emplace(actor, activation);
    io::spawn(executor_, activation->run(activation));
    return activation;
}

void Runtime::remove(const ActorId& actor, const Activation* activation) {
    auto it = activations_.find(actor);
    if (it != activations_.end() && it->second.get() == activation) {
        activations_.erase(it);
    }
}

// Puts `envelope` into the mailbox of the actor's current activation, waiting out deactivations.
io::Task<Status> Runtime::deliver(std::shared_ptr<Envelope> envelope) {
    while (true) {
        if (stopping_) {
            co_return Error(ErrorCode::closed, "the actor runtime is stopping");
        }
        KELPIE_CO_TRY_ASSIGN(std::shared_ptr<Activation> a, find_or_create(envelope->actor));
        if (a->state() == ActivationState::deactivating) {
            if (options_.bugs.invoke_races_deactivation) {
                // BUG (switch): the call goes to the instance that is going away.
                io::spawn(executor_, Activation::run_stray(a, envelope));
                co_return ok_status();
            }
            std::shared_ptr<io::Channel<int>> ended = a->ended();
            (void)co_await ended->receive();
            continue;
        }
        co_return a->mailbox().try_send(envelope);
    }
}

namespace {

io::Task<Result<std::string>> failed(Error error) { co_return error; }

}  // namespace

io::Task<Result<std::string>> Runtime::invoke(ActorId actor, Invocation call, InvokeOptions options) {
    if (Status s = registry::check_actor_id(actor); !s.ok()) {
        return failed(std::move(s).error());
    }
    if (Status s = check_invocation(call, options); !s.ok()) {
        return failed(std::move(s).error());
    }
    auto envelope = std::make_shared<Envelope>();
    envelope->actor = std::move(actor);
    envelope->call = std::move(call);
    envelope->idempotency_key = std::move(options.idempotency_key);
    envelope->reply = std::make_shared<io::Channel<Result<std::string>>>(executor_, 1);
    return send_and_wait(std::move(envelope));
}

io::Task<Result<std::string>> Runtime::send_and_wait(std::shared_ptr<Envelope> envelope) {
    std::shared_ptr<io::Channel<Result<std::string>>> reply = envelope->reply;
    KELPIE_CO_TRY(co_await deliver(envelope));
    std::optional<Result<std::string>> result = co_await reply->receive();
    if (!result.has_value()) {
        co_return Error(ErrorCode::internal, "invocation dropped without an answer");
    }
    co_return std::move(*result);
}

void Runtime::dispatch_leftover(std::shared_ptr<Envelope> envelope) {
    Result<io::Gate::Holder> held = tasks_.enter();
    if (stopping_ || !held.ok()) {
        envelope->answer(Error(ErrorCode::closed, "the actor runtime is stopping"));
        return;
    }
    auto redeliver = [](Runtime* self, std::shared_ptr<Envelope> e,
                        [[maybe_unused]] io::Gate::Holder holder) -> io::Task<void> {
        Status delivered = co_await self->deliver(e);
        if (!delivered.ok()) {
            e->answer(std::move(delivered).error());
        }
    };
    io::spawn(executor_, redeliver(this, std::move(envelope), std::move(*held)));
}

void Runtime::on_lease_lost() {
    // No release: the store may be unreachable, and a placement naming a dead lease is claimable
    // anyway. If the lease was alive after all, the next activation here claims it back.
    for (auto& [id, activation] : activations_) {
        activation->begin_deactivation(/*release=*/false);
    }
}

// Reminders ------------------------------------------------------------------------------------

// Runs `work` after `first`, then every `interval`, until the runtime stops (cancellation ends it
// at a sleep).
io::Task<void> Runtime::periodically(Duration first, Duration interval,
                                     io::Task<void> (Runtime::*work)()) {
    struct Done {
        Runtime* r;
        ~Done() {
            if (--r->loops_running_ == 0) {
                r->loops_done_->close();
            }
        }
    } done{this};
    Duration wait = first;
    while (true) {
        co_await executor_.sleep_for(wait);
        co_await (this->*work)();
        wait = interval;
    }
}

io::Task<void> Runtime::fire_due_reminders() {
    if (!registry_.lease_valid()) {
        co_return;  // this node may not own anything now
    }
    const int64_t now_ms = executor_.wall_now().unix_ms();
    auto t = store_.begin();
    Result<store::RangeResult> due =
        co_await t->range(records::reminder_due_begin(), records::reminder_due_end(now_ms + 1),
                          store::RangeOptions{.limit = reminder_batch_max});
    if (!due.ok()) {
        co_return;  // try again at the next poll
    }
    for (const store::KeyValue& kv : due->pairs) {
        Result<records::IndexedKey> key = records::decode_reminder_due_key(kv.key);
        Result<Invocation> call = records::decode_due(kv.value);
        if (!key.ok() || !call.ok() || factories_.find(key->actor.type) == factories_.end()) {
            continue;
        }
        const records::ReminderFire fire{key->name, key->time_ms};
        const std::string flight = fmt::format("{}\x1f{}", key->actor.to_string(),
                                               records::reminder_idempotency_key(fire));
        if (!reminders_in_flight_.insert(flight).second) {
            continue;  // still being delivered from an earlier poll
        }
        auto envelope = std::make_shared<Envelope>();
        envelope->actor = key->actor;
        envelope->call = std::move(*call);
        envelope->idempotency_key = records::reminder_idempotency_key(fire);
        envelope->reminder = fire;
        envelope->reply = std::make_shared<io::Channel<Result<std::string>>>(executor_, 1);
        counters_.reminders_fired++;
        Result<io::Gate::Holder> held = tasks_.enter();
        if (!held.ok()) {
            co_return;  // stopping
        }
        auto fire_one = [](Runtime* self, std::shared_ptr<Envelope> e, std::string flight_key,
                           [[maybe_unused]] io::Gate::Holder holder) -> io::Task<void> {
            (void)co_await self->send_and_wait(std::move(e));
            self->reminders_in_flight_.erase(flight_key);
        };
        io::spawn(executor_, fire_one(this, std::move(envelope), flight, std::move(*held)));
    }
}

// Recovery -------------------------------------------------------------------------------------------

// Activates every actor that has journaled calls still pending and is not active here: its
// activation replays them (Activation::replay_pending). A node that crashed mid-turn thus finishes
// the turn after restarting even if no caller comes back. An actor owned by another node fails its
// claim (not_owner) and is left alone.
io::Task<void> Runtime::recover_pending() {
    if (!registry_.lease_valid()) {
        co_return;
    }
    std::string begin = records::pending_all_begin();
    const std::string end = records::pending_all_end();
    for (size_t found = 0; found < recovery_sweep_actors_max; found++) {
        auto t = store_.begin();
        Result<store::RangeResult> next =
            co_await t->range(begin, end, store::RangeOptions{.limit = 1});
        if (!next.ok() || next->pairs.empty() || stopping_) {
            co_return;
        }
        Result<records::IndexedKey> key = records::decode_pending_key(next->pairs[0].key);
        if (!key.ok()) {
            co_return;
        }
        begin = records::pending_end(key->actor);  // the next actor
        if (factories_.find(key->actor.type) == factories_.end() ||
            activations_.find(key->actor) != activations_.end()) {
            continue;
        }
        if (find_or_create(key->actor).ok()) {
            counters_.recovered++;
        }
    }
}

// Journal garbage collection -----------------------------------------------------------------------

io::Task<void> Runtime::collect_journal() {
    const int64_t now_ms = executor_.wall_now().unix_ms();
    store::TransactionBody<size_t> collect_body =
        [now_ms](store::Transaction& t) -> io::Task<Result<size_t>> {
            KELPIE_CO_TRY_ASSIGN(
                store::RangeResult expired,
                co_await t.range(records::journal_gc_begin(), records::journal_gc_end(now_ms + 1),
                                 store::RangeOptions{.limit = journal_gc_batch_max}));
            size_t n = 0;
            for (const store::KeyValue& kv : expired.pairs) {
                KELPIE_CO_TRY(t.clear(kv.key));
                KELPIE_CO_TRY_ASSIGN(records::IndexedKey k, records::decode_journal_gc_key(kv.key));
                const std::string entry_key = records::journal_key(k.actor, k.name);
                KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> entry, co_await t.get(entry_key));
                if (!entry.has_value()) {
                    continue;
                }
                KELPIE_CO_TRY_ASSIGN(records::JournalEntry e, records::decode_journal(entry->value));
                // Only the completion this index entry was written for (a key reused after an
                // earlier collection has its own index entry).
                if (e.status == records::JournalStatus::done && e.expires_ms == k.time_ms) {
                    KELPIE_CO_TRY(t.clear(entry_key));
                    n++;
                }
            }
            KELPIE_CO_TRY(co_await t.commit());
            co_return n;
        };
    Result<size_t> collected = co_await store::run_transaction(executor_, store_, collect_body);
    if (collected.ok()) {
        counters_.journal_entries_collected += *collected;
    }
}

}  // namespace kelpie::actor
