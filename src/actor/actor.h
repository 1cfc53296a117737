#pragma once

// Virtual actors (DESIGN §5, §7; ADR 0005). An actor always exists logically; the Runtime
// activates it on first use, on the node that wins its placement claim, and deactivates it when
// idle. Callers hold an ActorId (type + key) and invoke methods by name.
//
// - Turns. An activation runs one invocation at a time, to completion (turn-based, like Orleans
//   grains): actor code takes no locks. Invocations wait in a bounded mailbox
//   (mailbox_depth_max); a full mailbox fails the call with limit_exceeded.
// - Lifecycle. Inactive -> Activating -> Active -> Deactivating -> Inactive, enforced always (not an
//   assert): turns run only while Active. An invocation that arrives while the actor deactivates
//   waits, then runs on the next activation.
// - State. Activation loads the actor's state bytes (Actor::load). At the end of each turn the state
//   (Actor::save) is committed in one transaction that also checks the activation's fencing token;
//   if that commit fails, the actor is rolled back to its last committed state and the caller gets
//   the error. fenced or unknown_result also end the activation (its memory may be stale).
// - Leases. Turns run only while the node's lease is valid by its own reckoning (registry.h);
//   losing the lease deactivates every actor on the node.
// - Durable invocations. A call with an idempotency key is journaled (entry + key index, one
//   transaction) before it runs, and its result is stored atomically with the state change: a
//   duplicate key returns the stored result and never runs twice, across crashes and retries.
//   Entries still pending when an activation starts (a crash mid-turn) are run first. A turn that
//   fails with an error of the store, the lease or the runtime (unavailable, unknown_result,
//   conflict, fenced, not_owner, lease_expired, closed: a mid-turn commit that failed, say) has no
//   outcome yet: its entry stays pending and the activation ends, so that it runs again. Completed
//   entries are deleted after journal_retention, found through an index ordered by expiry.
// - Reminders. Context::set_reminder schedules a durable call of a method at a wall-clock time; it
//   fires (at least once, taking effect once: it is a durable invocation) even after restarts.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/units.h"
#include "io/channel.h"
#include "io/executor.h"
#include "io/gate.h"
#include "io/task.h"
#include "registry/registry.h"
#include "store/store.h"

namespace kelpie::actor {

using registry::ActorId;
using ActorRef = ActorId;  // what a caller holds: the actor's type and key

// Limits.
inline constexpr size_t mailbox_depth_max = 1024;           // queued invocations per activation
inline constexpr size_t invocation_argument_bytes_max = 256 * 1024;
inline constexpr size_t idempotency_key_bytes_max = 256;
inline constexpr size_t method_name_bytes_max = 128;
// State bytes of one actor: one store value, less room for the record header.
inline constexpr size_t actor_state_bytes_max = store::value_bytes_max - 64;
inline constexpr size_t reminder_name_bytes_max = 128;

inline constexpr Duration idle_timeout_default = Duration::minutes(15);
inline constexpr Duration journal_retention_default = Duration::hours(24);
inline constexpr Duration reminder_poll_interval_default = Duration::s(1);
inline constexpr Duration journal_gc_interval_default = Duration::minutes(1);
// How often a node looks for actors with journaled calls still pending (a node that crashed
// mid-turn) and activates them so the calls finish without waiting for a new caller. Also once
// at start.
inline constexpr Duration recovery_sweep_interval_default = Duration::minutes(1);

struct Invocation {  // not an aggregate: see ActorId
    Invocation() = default;
    Invocation(std::string m, std::string a) : method(std::move(m)), argument(std::move(a)) {}

    std::string method;
    std::string argument;
};

// What a turn can do besides changing the actor's own members.
class Context {
public:
    virtual ~Context() = default;
    virtual const ActorId& self() const = 0;
    virtual io::Executor& executor() = 0;
    // The activation's fencing token (strictly increases with every activation of this actor).
    virtual uint64_t fencing_token() const = 0;
    // A key naming one side effect of this turn, unique across activations and retries:
    // "<type>/<key>/<fencing token>/<turn>/<step>". Pass it to external systems to dedupe.
    virtual std::string effect_key(uint32_t step) const = 0;
    // Schedules (or replaces) the reminder `name`: call `method(argument)` at `due`, then every
    // `period` if it is positive. Takes effect when the turn commits.
    virtual Status set_reminder(std::string name, WallTime due, Invocation call,
                                Duration period = Duration::zero()) = 0;
    virtual Status cancel_reminder(std::string name) = 0;
    // Stages a write of a record the actor keeps beside its state (an agent's messages, say): the
    // next commit applies it in the same fenced transaction as the state, so the two never
    // disagree; a failed turn discards what it staged. nullopt deletes the key. The key must not
    // be in the actor layer's own subspaces (invalid_argument); the store's limits apply at commit.
    // Records written this way are the actor's to read (store reads see what was committed).
    virtual Status put(std::string key, std::optional<std::string> value) = 0;
    // Makes the next commit conditional on `key` still holding `value` (nullopt: absent) — for a
    // record the actor read outside its state and rewrites from its copy, which other writers may
    // change meanwhile (a memory block shared by agents). If it no longer does, the commit fails
    // with `conflict`, an infrastructure error: the turn is rolled back and a journaled call runs
    // again on a fresh activation, which reads the record anew. Same key rules as put().
    virtual Status expect(std::string key, std::optional<std::string> value) = 0;
    // Commits the state and staged writes now (fenced), so that later steps of a long turn start
    // from them. The end of the turn commits again if anything changed since. A failed commit
    // discards what was staged before it: the turn should fail with its error (it is rolled back).
    virtual io::Task<Status> commit() = 0;
    // Deactivate after this turn (its state is committed first).
    virtual void deactivate_after_turn() = 0;
};

// An actor type implements this. One instance per activation; its members are the state.
class Actor {
public:
    virtual ~Actor() = default;
    // Restores the state from bytes saved earlier (empty: a new actor). An error fails the
    // activation (every queued call gets it).
    virtual Status load(std::string_view state) = 0;
    virtual std::string save() const = 0;
    // Runs one invocation. An error result is returned to the caller and rolls the state back.
    virtual io::Task<Result<std::string>> handle(Context& context, Invocation call) = 0;
};

using ActorFactory = std::function<std::unique_ptr<Actor>()>;

struct InvokeOptions {  // not an aggregate: see ActorId
    InvokeOptions() = default;
    explicit InvokeOptions(std::string key) : idempotency_key(std::move(key)) {}

    std::string idempotency_key;  // empty: none
};

enum class ActivationState : uint8_t { inactive, activating, active, deactivating };
std::string_view activation_state_name(ActivationState s);

// Bug switches for the simulator (all off in production).
struct RuntimeBugs {
    bool idempotency_not_atomic = false;     // result recorded apart from the state change
    bool no_recovery = false;                // pending journal entries are not replayed
    bool invoke_races_deactivation = false;  // calls reach a deactivating instance
    bool early_ack = false;                  // the caller hears "ok" before the commit is durable
};

struct RuntimeOptions {
    Duration idle_timeout = idle_timeout_default;
    Duration journal_retention = journal_retention_default;
    Duration reminder_poll_interval = reminder_poll_interval_default;
    Duration journal_gc_interval = journal_gc_interval_default;
    Duration recovery_sweep_interval = recovery_sweep_interval_default;
    RuntimeBugs bugs;
};

// Sees every turn as it starts (the simulator's checkers; null in production).
class TurnObserver {
public:
    virtual ~TurnObserver() = default;
    virtual void turn_started(const ActorId& actor, const std::string& node, uint64_t fencing_token,
                              ActivationState state) = 0;
};

class Runtime {
public:
    // `executor`, `store` and `registry` must outlive the runtime; the registry must be started.
    Runtime(io::Executor& executor, store::Store& store, registry::Registry& registry,
            RuntimeOptions options = {});
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    // REQUIRES: before start(); `type` not registered yet.
    void register_type(std::string type, ActorFactory factory);
    // Starts the reminder and journal-GC loops and subscribes to lease loss.
    void start();
    // Deactivates every actor (committing nothing new), then stops the loops. Calls made after
    // stop() began fail with closed.
    io::Task<void> stop();

    // Calls `call.method` on the actor. Errors: invalid_argument / limit_exceeded (bad input,
    // mailbox full), not_found (unknown type), not_owner (another node owns the actor),
    // lease_expired (this node may have lost its lease), fenced, unknown_result (the outcome is
    // not known: retry with the same idempotency key), unavailable, closed; or the actor's own.
    // (Not a coroutine itself: it packs its arguments into the call's envelope at once.)
    io::Task<Result<std::string>> invoke(ActorId actor, Invocation call, InvokeOptions options = {});

    // Introspection (tests, the simulator's checkers, health).
    ActivationState state_of(const ActorId& actor) const;
    // True if an activation of `actor` here would start a turn now (Active and the lease valid).
    bool accepting_turns(const ActorId& actor) const;
    size_t active_count() const;
    const std::string& node_id() const;
    void set_observer(TurnObserver* observer) { observer_ = observer; }

    struct Counters {
        uint64_t activations = 0;
        uint64_t deactivations = 0;
        uint64_t turns = 0;
        uint64_t duplicate_invocations = 0;  // answered from the journal
        uint64_t replayed = 0;               // pending entries run on activation
        uint64_t reminders_fired = 0;
        uint64_t journal_entries_collected = 0;
        uint64_t recovered = 0;  // actors activated by the recovery sweep
        uint64_t stale_commits = 0;  // commits refused: a record the turn expected had changed
    };
    const Counters& counters() const { return counters_; }

private:
    friend class Activation;
    struct Envelope;
    Result<std::shared_ptr<class Activation>> find_or_create(const ActorId& actor);
    io::Task<Status> deliver(std::shared_ptr<Envelope> envelope);
    io::Task<Result<std::string>> send_and_wait(std::shared_ptr<Envelope> envelope);
    void dispatch_leftover(std::shared_ptr<Envelope> envelope);
    void remove(const ActorId& actor, const Activation* activation);
    void on_lease_lost();
    io::Task<void> periodically(Duration first, Duration interval,
                                io::Task<void> (Runtime::*work)());
    io::Task<void> fire_due_reminders();
    io::Task<void> collect_journal();
    io::Task<void> recover_pending();

    io::Executor& executor_;
    store::Store& store_;
    registry::Registry& registry_;
    RuntimeOptions options_;
    std::map<std::string, ActorFactory> factories_;
    std::map<ActorId, std::shared_ptr<Activation>> activations_;
    std::set<std::string> reminders_in_flight_;
    TurnObserver* observer_ = nullptr;
    Counters counters_;
    io::Gate tasks_;  // background calls (reminder firings, re-deliveries): stop() waits for them
    io::CancellationSource stop_loops_;
    size_t loops_running_ = 0;
    std::shared_ptr<io::Channel<int>> loops_done_;
    bool started_ = false;
    bool stopping_ = false;
};

// The state bytes `actor` last committed (Actor::save()), read straight from the store without
// activating it: nullopt for an actor that never committed. For read-only views of actors (an API
// GET) that need not wait for a turn; the value may be older than a turn now running.
io::Task<Result<std::optional<std::string>>> read_committed_state(store::Store& store, ActorId actor);

// For the simulator's checkers, which watch the store from outside: if `key` is an actor's state
// key, the actor and the fencing token of the activation that wrote `value`.
struct StoredState {
    ActorId actor;
    uint64_t fencing_token = 0;
    std::string bytes;  // what Actor::save() returned
};
std::optional<StoredState> decode_stored_state(std::string_view key, std::string_view value);

// How many journaled invocations of `actor` have not completed (pending entries), read from the
// store. Recovery runs them when the actor next activates.
io::Task<Result<size_t>> count_pending(store::Store& store, ActorId actor);

}  // namespace kelpie::actor
