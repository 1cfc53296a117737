#pragma once

// Private: the agent actor — one agent's settings, memory and history, and its loop.
//
// Methods (argument and result are JSON text):
//   create(agent)          first turn of a new agent: settings, blocks, the system message
//   update(patch)          settings; returns the AgentState
//   update_block(label, patch), attach_block(id), detach_block(id), attach_tool(name),
//   detach_tool(name), reset(add_default_initial_messages), delete()
//   send(request)          the agent loop for one run (a durable invocation keyed by the run id)
//
// State (Actor::save): {"agent": settings, "next_seq", "context_start", "pending_approval",
// "runs": runs in progress, "deleted"}. Messages, blocks, runs and indexes are records beside it
// (model/records.h), written with Context::put so each commit carries them with the state.

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "actor/actor.h"
#include "agent/agent.h"
#include "agent/loop/tools.h"
#include "llm/llm.h"

namespace kelpie::agent::loop {

// What every agent actor of a node shares with the service.
struct Shared {
    Shared(io::Executor& e, store::Store& s, llm::Providers& p, ServiceOptions o)
        : executor(e), store(s), providers(p), options(std::move(o)) {}
    io::Executor& executor;
    store::Store& store;
    llm::Providers& providers;
    ServiceOptions options;
    std::map<std::string, std::shared_ptr<RunStream>> streams;  // live streams by run id
    std::set<std::string> cancel_requested;                      // run ids
    std::map<std::string, std::string> active_runs;              // run id -> agent id, running here
    AgentService::Counters counters;
};

// Letta's AgentState for stored settings and the agent's blocks.
json::object render_agent(const json::object& agent, const std::vector<json::object>& blocks,
                          const json::object* pending_approval);
// The model handle an agent uses, resolved against the defaults.
std::string effective_model(const json::object& agent, const ServiceOptions& options);

class AgentActor final : public actor::Actor {
public:
    explicit AgentActor(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

    Status load(std::string_view state) override;
    std::string save() const override;
    io::Task<Result<std::string>> handle(actor::Context& context, actor::Invocation call) override;

private:
    struct Turn;
    io::Task<Result<std::string>> create(actor::Context& context, json::object request);
    io::Task<Result<std::string>> send(actor::Context& context, json::object request);
    io::Task<Status> load_blocks();
    io::Task<Status> load_history();
    void trim_history();
    Result<json::object> apply_update(const json::object& patch);
    Status apply_block_patch(json::object& block, const json::object& patch);
    std::string state_json() const;

    // Messages.
    json::object& append(actor::Context& context, json::object message);
    Status stage(actor::Context& context, const json::object& message);
    void publish(const std::string& run_id, const json::object& message);
    void publish_rendered(const std::string& run_id, const json::object& stored);
    Status persist_blocks(actor::Context& context, const std::vector<std::string>& labels);
    Status write_block(actor::Context& context, const json::object& block);
    Status refresh_system_message(actor::Context& context, const std::string& conversation_id);
    std::vector<ToolEnv::Message> conversation_history(const std::string& conversation_id) const;
    // The model's view of one conversation's history.
    llm::ChatMessages prompt_messages(const std::string& conversation_id);
    Status write_run(actor::Context& context, const json::object& run);

    std::shared_ptr<Shared> shared_;
    json::object agent_;
    int64_t next_seq_ = 0;
    int64_t context_start_ = 0;
    std::optional<json::object> pending_approval_;
    json::object runs_;  // run id -> progress of runs in progress
    bool deleted_ = false;
    bool exists_ = false;

    Memory memory_;  // loaded at the start of each turn
    // Each block's record as last read or written by this turn: a block is rewritten only if its
    // record still holds this (Context::expect), so an edit by another agent or the API made
    // meanwhile is never overwritten — the turn runs again instead.
    std::map<std::string, std::string> block_records_;
    bool history_loaded_ = false;
    // Stored messages from context_start_, oldest first. A deque: trimming drops from the front.
    std::deque<json::object> history_;
    // Beside each message of history_ (same index): what a step asks of it, derived once when
    // the message enters the history, so that a step does not re-read every message's JSON.
    struct PromptForm {
        std::string_view role;  // one of the known roles (static storage), or empty
        bool shown = false;  // the model sees it (model_message)
        std::string conversation_id;
        bool system() const { return role == "system"; }
        // A message of `conversation` (the system message belongs to none).
        bool in_conversation(const std::string& conversation) const {
            return !system() && conversation_id == conversation;
        }
        bool in_prompt(const std::string& conversation) const {
            return shown && conversation_id == conversation;
        }
    };
    std::deque<PromptForm> prompt_forms_;
    // The system message's compile without its time and message count, as last written by this
    // activation (empty: not written yet): refresh_system_message rewrites it only on a change.
    std::string system_basis_;
    // The model's view of one conversation (prompt_messages), kept between steps and turns and
    // extended in place: history_[0, prompt_upto_) is reflected in it. Shared with the request
    // in flight; extended only when no request holds it any more (else copied first).
    std::shared_ptr<std::vector<llm::ChatMessage>> prompt_;
    std::string prompt_conversation_;
    size_t prompt_upto_ = 0;
    void history_push(json::object message);
    void history_clear();
};

}  // namespace kelpie::agent::loop
