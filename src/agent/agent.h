#pragma once

// Agents (DESIGN §7–§8): Letta's data model — agents, core memory blocks, messages, runs,
// conversations, tools, models — and the agent loop, with every agent a virtual actor.
//
// - An agent is the actor ("agent", <agent id>). Everything that changes an agent (its settings,
//   its blocks' values through the agent, its messages) happens in one of its turns, so changes
//   to one agent are serialised and fenced (actor.h). Reads (GET) come straight from the store's
//   committed records and do not activate the agent.
// - A message send is a durable invocation keyed by its run id: the loop (compile the system
//   prompt from the memory blocks, call the model with the tools, run the tools, repeat) commits
//   each completed step — messages, memory edits, tool call/return pairs, run progress — in one
//   fenced transaction. After a crash the turn resumes at the last committed step (the recovery
//   sweep or the next call activates the agent); completed model calls are not repeated. A tool
//   call is stored only together with its return, except a call waiting for approval, which is
//   the last message until the approval arrives.
// - Streaming: the loop publishes each message (or, with tokens, each delta) of a run to the run's
//   RunStream while it runs; the server writes them as SSE.
// - The JSON objects taken and returned are the Letta wire shapes (research: letta-api.md); bodies
//   are validated here (invalid_argument -> HTTP 422) and unknown fields ignored.
//
// Errors: not_found (unknown id), invalid_argument (bad body or query), limit_exceeded (a named
// limit), failed_precondition (waiting for approval, busy), and the store's / runtime's.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "actor/actor.h"
#include "base/result.h"
#include "io/channel.h"
#include "io/executor.h"
#include "io/task.h"
#include "llm/llm.h"
#include "store/store.h"

namespace kelpie::agent {

namespace json = boost::json;

inline constexpr std::string_view agent_actor_type = "agent";

// Limits (Letta's where Letta has one).
inline constexpr int64_t block_chars_limit_default = 100'000;  // a block's default `limit`
inline constexpr int64_t block_chars_limit_max = 1'000'000;
inline constexpr size_t block_label_bytes_max = 128;
inline constexpr size_t agent_blocks_max = 64;     // blocks attached to one agent
inline constexpr size_t agent_tools_max = 128;     // tools attached to one agent
inline constexpr size_t name_bytes_max = 512;      // agent / tool / conversation names
inline constexpr size_t system_prompt_bytes_max = 256 * 1024;
inline constexpr size_t message_text_bytes_max = 128 * 1024;  // one input message
inline constexpr size_t send_messages_max = 64;               // input messages per send
inline constexpr int64_t max_steps_default = 50;
inline constexpr int64_t max_steps_max = 500;
inline constexpr size_t tool_return_chars_default = 50'000;  // longer tool results are truncated
inline constexpr size_t list_limit_max = 1000;               // items per page
inline constexpr size_t rendered_agents_max = 1024;          // GET agent renderings kept per node
inline constexpr size_t run_stream_events_max = 100'000;     // buffered events per streamed run
inline constexpr size_t run_stream_recorded_bytes_max = 16 * 1024 * 1024;  // per background run
inline constexpr size_t recorded_runs_max = 64;  // finished background runs kept per node
// In-context history kept for the model: the oldest messages beyond this are left out of the
// prompt (still stored and listable). Compaction by summary is not implemented yet.
inline constexpr size_t context_messages_max = 2000;
// Stored answers of catalog changes (standalone blocks, tools) made with an Idempotency-Key: kept
// as long as the agents' journal keeps theirs; each keyed change deletes up to this many expired.
inline constexpr Duration catalog_answer_retention = actor::journal_retention_default;
inline constexpr size_t answers_collected_per_change = 16;
// How often a call whose turn failed with `conflict` (a block it rewrites was changed by another
// writer meanwhile) is run again before the conflict is the answer.
inline constexpr uint32_t conflicted_turn_reruns_max = 3;

// The query string of a request, decoded: repeated names keep every value in order.
class Query {
public:
    Query() = default;
    void add(std::string name, std::string value);
    std::optional<std::string> get(std::string_view name) const;
    std::vector<std::string> get_all(std::string_view name) const;

private:
    std::vector<std::pair<std::string, std::string>> params_;
};

// The live event stream of one run (an SSE response). Events are serialised Letta JSON objects,
// each with the next `seq_id` (1, 2, ...). A background run's stream is also recorded on this
// node (up to run_stream_recorded_bytes_max), so that a client that lost its connection can
// follow it again from the last seq_id it saw (POST /v1/runs/{id}/stream), during the run and
// for a while after it (recorded_runs_max per node).
class RunStream {
public:
    RunStream(io::Executor& executor, bool tokens, bool record = false)
        : events(executor, run_stream_events_max), executor_(executor), tokens_(tokens),
          record_(record) {}
    // The original client's events. Closed by the service when the run's turn ends.
    io::Channel<std::string> events;
    bool tokens() const { return tokens_; }
    bool recorded() const { return record_; }
    // Set when the buffer overflowed (a client reading too slowly): the stream is cut with an
    // error; the run itself continues and its messages stay in the history.
    bool overflowed = false;

    // Gives `message` the next seq_id and sends it to the client and every follower.
    void publish(json::object message);
    int64_t last_seq_id() const { return seq_; }
    // Ends the stream: closes the channels; `outcome` is the send's answer (the LettaResponse or
    // its error), which followers end with.
    void finish(Result<json::object> outcome);
    const std::optional<Result<json::object>>& outcome() const { return outcome_; }

    // A client following the run again: the recorded events after `after_seq_id`, then the live
    // ones through `live` (null once the run has ended). failed_precondition if events after it
    // were not recorded (the record outgrew its limit).
    struct Follower {
        std::vector<std::string> replay;
        std::shared_ptr<io::Channel<std::string>> live;
        std::shared_ptr<bool> overflowed;  // the follower read too slowly: its events were cut
    };
    Result<Follower> follow(int64_t after_seq_id);

    // Which send this is (set by the service): for following a conversation's run again.
    std::string run_id;
    std::string agent_id;
    std::string conversation_id;     // "" for the agent's default conversation
    std::vector<std::string> otids;  // of the input messages

private:
    io::Executor& executor_;
    bool tokens_;
    bool record_;
    int64_t seq_ = 0;
    std::vector<std::string> recorded_;  // events 1..recorded_.size(), while record_bytes_ fits
    size_t record_bytes_ = 0;
    bool record_cut_ = false;
    std::vector<std::pair<std::shared_ptr<io::Channel<std::string>>, std::shared_ptr<bool>>> followers_;
    std::optional<Result<json::object>> outcome_;
};

// Bug switches for the simulator (all off in production).
struct AgentBugs {
    bool call_without_return = false;  // a step commits the model's tool call before its return
    // A turn rewrites a block from the copy it read at its start without checking that the block
    // is unchanged: an edit by another agent (or the API) meanwhile is lost.
    bool block_write_unchecked = false;
};

// Where one step's time went, apart from the model call.
struct StepTimes {
    Duration prepare;  // from the step's start to the model call (the prompt, the tool schemas)
    Duration finish;   // from the model's answer to the commit (tools run, messages staged)
    Duration commit;   // the step's durable commit
    Duration tools;    // of `finish`, the server tools' own work (a search, a block edit)
    Duration total() const { return prepare + finish + commit; }
};

struct ServiceOptions {
    // Used for `letta/auto`, an unknown provider, or no model at all.
    std::string default_model = "openai/gpt-4o-mini";
    std::string default_embedding = "openai/text-embedding-3-small";
    // One model call may take this long (then it fails with llm_timeout).
    Duration llm_timeout = llm::llm_request_timeout_default;
    AgentBugs bugs;
    // Told, after each step that ends inside the loop (one followed by another step), the time
    // the runtime spent on it apart from the model call (executor time). For benchmarks.
    std::function<void(const StepTimes&)> on_step_timed;
};

// How a send answers: either the LettaResponse (non-streaming), or for a stream the final
// stop_reason and usage objects (the messages went out through the RunStream).
struct SendResult {
    json::object response;  // {"messages": [...], "stop_reason": {...}, "usage": {...}}
};

class AgentService {
public:
    // All references must outlive the service.
    AgentService(io::Executor& executor, store::Store& store, actor::Runtime& runtime,
                 llm::Providers& providers, ServiceOptions options = {});
    ~AgentService();
    AgentService(const AgentService&) = delete;
    AgentService& operator=(const AgentService&) = delete;

    // Registers the agent actor type. REQUIRES: before runtime.start().
    void register_actor_types();

    // Agents. Mutating calls take the request's Idempotency-Key (empty: none): changes to an agent
    // go through its durable journal, creations derive the new object's id from the key — either
    // way the same key takes effect once and gets the same answer, across restarts.
    // With an idempotency key the agent's id is derived from it: the same key gives the same
    // agent (and the stored answer), across restarts.
    io::Task<Result<json::object>> create_agent(json::value body, std::string idempotency_key = "");
    io::Task<Result<json::object>> retrieve_agent(std::string agent_id);
    // The same, serialized; answered from a per-node cache while the store's revision is unchanged.
    io::Task<Result<std::string>> retrieve_agent_text(std::string agent_id);
    io::Task<Result<json::array>> list_agents(Query query);
    io::Task<Result<json::object>> update_agent(std::string agent_id, json::value body,
                                                std::string idempotency_key = "");
    io::Task<Status> delete_agent(std::string agent_id, std::string idempotency_key = "");
    // PATCH /agents/{id}/reset-messages
    io::Task<Result<json::object>> reset_messages(std::string agent_id, json::value body,
                                                  std::string idempotency_key = "");

    // Core memory of one agent, by label; attach / detach standalone blocks.
    io::Task<Result<json::array>> list_agent_blocks(std::string agent_id, Query query);
    io::Task<Result<json::object>> retrieve_agent_block(std::string agent_id, std::string label);
    io::Task<Result<json::object>> update_agent_block(std::string agent_id, std::string label,
                                                      json::value body, std::string idempotency_key = "");
    io::Task<Result<json::object>> attach_block(std::string agent_id, std::string block_id,
                                                std::string idempotency_key = "");
    io::Task<Result<json::object>> detach_block(std::string agent_id, std::string block_id,
                                                std::string idempotency_key = "");

    // Standalone blocks (/v1/blocks). Changes read and write in one transaction (concurrent
    // changes never lose one another's update); with an Idempotency-Key the answer is stored with
    // the change, and a retry gets it back.
    io::Task<Result<json::object>> create_block(json::value body, std::string idempotency_key = "");
    io::Task<Result<json::object>> retrieve_block(std::string block_id);
    io::Task<Result<json::array>> list_blocks(Query query);
    io::Task<Result<json::object>> update_block(std::string block_id, json::value body,
                                                std::string idempotency_key = "");
    io::Task<Status> delete_block(std::string block_id, std::string idempotency_key = "");

    // Tools: the built-in ones and custom Python tools (created from source: the schema comes
    // from the signature and docstring; `upsert` keeps the id of a tool with the same name), and
    // attach / detach. A custom tool is offered to the model; it cannot run here yet (no sandbox):
    // a call of it returns an error to the model, unless the tool requires approval, in which
    // case the client supplies its result (as with client tools). Changes are transactional and
    // take an Idempotency-Key, as for standalone blocks; a name names one tool.
    io::Task<Result<json::object>> create_tool(json::value body, bool upsert,
                                               std::string idempotency_key = "");
    io::Task<Result<json::object>> update_tool(std::string tool_id, json::value body,
                                               std::string idempotency_key = "");
    io::Task<Status> delete_tool(std::string tool_id, std::string idempotency_key = "");
    io::Task<Result<json::array>> list_tools(Query query);
    io::Task<Result<json::object>> retrieve_tool(std::string tool_id);
    json::array base_tools() const;
    io::Task<Result<json::array>> list_agent_tools(std::string agent_id, Query query);
    io::Task<Result<json::object>> attach_tool(std::string agent_id, std::string tool_id,
                                               std::string idempotency_key = "");
    io::Task<Result<json::object>> detach_tool(std::string agent_id, std::string tool_id,
                                               std::string idempotency_key = "");

    json::array list_models() const;

    // Messages. `conversation_id` empty: the agent's default conversation. `stream` null: the
    // whole LettaResponse is returned; otherwise messages go to the stream as they are made.
    // With an idempotency key, the run id is derived from it (and the agent), so a retry of a
    // send cut by a crash resumes the same run instead of starting a second one.
    // Checks that can refuse the send (unknown agent, bad body, waiting for approval) happen
    // before anything runs, so a streaming caller can still answer with an HTTP error.
    io::Task<Result<json::object>> check_send(std::string agent_id, const json::value& body);
    io::Task<Result<SendResult>> send_message(std::string agent_id, std::string conversation_id,
                                              json::value body, std::shared_ptr<RunStream> stream,
                                              std::string idempotency_key);
    // POST /messages/async: starts the run in the background and returns the Run at once. With
    // an idempotency key the run id is derived from it; a retry returns the run as it is now.
    io::Task<Result<json::object>> send_message_async(std::string agent_id, json::value body,
                                                      std::string idempotency_key = "");
    io::Task<Result<json::array>> list_messages(std::string agent_id, Query query);
    io::Task<Result<json::array>> retrieve_message(std::string message_id);
    io::Task<Result<json::object>> cancel_runs(std::string agent_id, json::value body);

    // Runs.
    io::Task<Result<json::object>> retrieve_run(std::string run_id);
    // The recorded stream of a background run started on this node (running, or among the last
    // recorded_runs_max finished), or null.
    std::shared_ptr<RunStream> recorded_stream(const std::string& run_id) const;
    // The same for a conversation ("" with agent_id: the agent's default one): its newest
    // recorded run, or the one whose input carried `otid` if given; null if none.
    std::shared_ptr<RunStream> recorded_conversation_stream(const std::string& agent_id,
                                                            const std::string& conversation_id,
                                                            const std::string& otid) const;
    io::Task<Result<json::array>> list_runs(Query query);
    io::Task<Result<json::array>> run_messages(std::string run_id, Query query);
    io::Task<Result<json::object>> run_usage(std::string run_id);
    io::Task<Result<json::array>> run_steps(std::string run_id);

    // Conversations.
    io::Task<Result<json::object>> create_conversation(std::string agent_id, json::value body,
                                                       std::string idempotency_key = "");
    io::Task<Result<json::object>> retrieve_conversation(std::string conversation_id);
    io::Task<Result<json::array>> list_conversations(Query query);
    // The agent a conversation belongs to (for POST /conversations/{id}/messages).
    io::Task<Result<std::string>> conversation_agent(std::string conversation_id);
    io::Task<Result<json::array>> list_conversation_messages(std::string conversation_id,
                                                             std::string agent_id, Query query);

    struct Counters {
        uint64_t sends = 0;
        uint64_t llm_calls = 0;
        uint64_t steps = 0;
    };
    const Counters& counters() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// For the simulator's checkers, which watch the store from outside: if `key` is a stored message
// of an agent, the agent id and the message (role, tool_calls, tool_call_id, otid, ...).
struct StoredMessage {
    std::string agent_id;
    int64_t seq = 0;
    json::object message;
};
std::optional<StoredMessage> decode_stored_message(std::string_view key, std::string_view value);

// Id helpers: "<prefix>-<uuid4>". valid_id checks the shape (a malformed path id is a 422).
bool valid_id(std::string_view id, std::string_view prefix);

}  // namespace kelpie::agent
