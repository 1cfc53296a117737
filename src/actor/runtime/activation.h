#pragma once

// Private: one activation of one actor on this node — its lifecycle, mailbox and turns.
//
// Life (run()): claim the placement -> load the state (fenced read) -> Active: replay the pending
// journal entries, then take invocations from the mailbox one at a time -> Deactivating (idle,
// asked to, lease lost, fenced, unknown commit outcome): stop taking turns, hand every call still
// queued back to the runtime (it waits for this activation to end and goes to the next one),
// release the placement unless fenced -> Inactive.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actor/actor.h"
#include "actor/runtime/records.h"
#include "io/channel.h"

namespace kelpie::actor {

struct Runtime::Envelope {
    ActorId actor;
    Invocation call;
    std::string idempotency_key;
    std::optional<records::ReminderFire> reminder;  // set when a reminder fired this call
    // Where the result goes; null for a replayed journal entry (its caller is gone).
    std::shared_ptr<io::Channel<Result<std::string>>> reply;

    void answer(Result<std::string> result) {
        if (reply != nullptr) {
            (void)reply->try_send(std::move(result));
        }
    }
};

class Activation : public std::enable_shared_from_this<Activation> {
public:
    using Envelope = Runtime::Envelope;

    Activation(Runtime& runtime, ActorId id, ActorFactory factory);

    const ActorId& id() const { return id_; }
    ActivationState state() const { return state_; }
    io::Channel<std::shared_ptr<Envelope>>& mailbox() { return mailbox_; }
    // Closed when the activation is Inactive: await receive() on it to wait for the end.
    std::shared_ptr<io::Channel<int>> ended() const { return ended_; }

    // The whole life of the activation; spawned by the runtime.
    io::Task<void> run(std::shared_ptr<Activation> self);
    // Stops taking turns; queued calls move to the next activation. `release`: give the placement
    // back at the end. Idempotent.
    void begin_deactivation(bool release = true);
    // BUG (switch invoke_races_deactivation): runs a call outside the mailbox.
    static io::Task<void> run_stray(std::shared_ptr<Activation> self,
                                    std::shared_ptr<Envelope> envelope);

private:
    class TurnContext;

    io::Task<Status> activate();
    io::Task<void> replay_pending();
    io::Task<void> turn(std::shared_ptr<Envelope> envelope);
    // Accepts a call with an idempotency key: the stored outcome if it already completed, or
    // nullopt once a pending entry is written.
    io::Task<Result<std::optional<Result<std::string>>>> journal_accept(std::shared_ptr<Envelope> e);
    // Commits the turn's state, reminder changes and (if `completion`) the journal outcome.
    io::Task<Status> commit_turn(std::shared_ptr<Envelope> e, std::optional<Result<std::string>> completion);
    io::Task<Status> record_outcome(std::shared_ptr<Envelope> e, Result<std::string> outcome);
    Status rollback();
    // Errors of the store, the lease or the runtime (not of the actor's logic): a turn failing
    // with one is not recorded as the call's outcome.
    static bool infrastructure_error(ErrorCode code);
    void after_failed_commit(ErrorCode code);
    io::Task<void> idle_watch(std::shared_ptr<Activation> self);
    io::Task<void> fail_queued(Error error);

    Runtime& runtime_;
    ActorId id_;
    ActorFactory factory_;
    std::shared_ptr<Actor> actor_;
    ActivationState state_ = ActivationState::activating;
    io::Channel<std::shared_ptr<Envelope>> mailbox_;
    std::shared_ptr<io::Channel<int>> ended_;
    registry::Claim claim_;
    std::string committed_;  // the state bytes as last committed
    // Reminder changes of the current turn, by name: the new reminder, or nullopt to cancel it.
    std::map<std::string, std::optional<records::ReminderRecord>> reminders_;
    // Writes staged by Context::put since the last commit: key -> value, or nullopt to delete.
    std::map<std::string, std::optional<std::string>> writes_;
    // Conditions staged by Context::expect since the last commit: key -> the value it must hold.
    std::map<std::string, std::optional<std::string>> expects_;
    bool release_ = true;
    bool busy_ = false;
    bool deactivate_after_turn_ = false;
    uint64_t turn_number_ = 0;
    Instant last_activity_;
    io::CancellationSource idle_cancel_;
    std::vector<std::shared_ptr<Envelope>> leftovers_;
};

}  // namespace kelpie::actor
