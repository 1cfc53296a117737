#pragma once

// Private: the agent layer's records in the store and the Letta JSON shapes made from them
// (docs/internals/store_format.md).
//
//   ("agent_by_created", created_us, agent_id)   ""        listing order of agents
//   ("block", block_id)                          Block JSON (Letta's shape; owned by the agents it
//                                                is attached to, or standalone)
//   ("msg", agent_id, seq)                       stored message JSON (below)
//   ("msg_id", message_id)                       {"agent_id", "seq"}
//   ("run", run_id)                              Run JSON
//   ("agent_run", agent_id, created_us, run_id)  ""        runs of an agent, oldest first
//   ("conv", conversation_id)                    Conversation JSON
//   ("agent_conv", agent_id, created_us, conv_id) ""
//   ("answer", request)                          {"answer": JSON, "expires_ms"}: the stored answer
//                                                of a catalog change made with an Idempotency-Key
//   ("answer_gc", expires_ms, request)           ""        the same, by expiry
//
// The agent's own settings live in its actor state (AgentState below).
//
// A stored message: {"id","seq","role": system|user|assistant|tool|approval,"date",
//   "conversation_id","run_id","step_id","otid", "content" (user: as sent, string or parts;
//   system/assistant: text), "reasoning", "tool_calls": [{"id","name","arguments"}],
//   "approval_request": bool, "tool_call_id","tool_name","status","tool_return","packaged",
//   "approvals": [...] (role approval), "heartbeat": bool}

#include <cstdint>
#include <optional>
#include <string>

#include <boost/json.hpp>

#include "base/result.h"
#include "base/units.h"
#include "io/random.h"

namespace kelpie::agent::records {

namespace json = boost::json;

std::string agent_index_key(int64_t created_us, std::string_view agent_id);
std::string agent_index_begin();
std::string agent_index_end();
Result<std::string> agent_index_id(std::string_view key);

std::string block_key(std::string_view block_id);
std::string block_begin();
std::string block_end();

std::string message_key(std::string_view agent_id, int64_t seq);
std::string messages_begin(std::string_view agent_id, int64_t from_seq = 0);
std::string messages_end(std::string_view agent_id);
std::string message_id_key(std::string_view message_id);
// (agent id, seq) of a message key.
std::optional<std::pair<std::string, int64_t>> message_key_parts(std::string_view key);

std::string run_key(std::string_view run_id);
std::string runs_begin();
std::string runs_end();
std::string agent_run_key(std::string_view agent_id, int64_t created_us, std::string_view run_id);
std::string agent_runs_begin(std::string_view agent_id);
std::string agent_runs_end(std::string_view agent_id);
Result<std::string> agent_run_id(std::string_view key);

std::string tool_key(std::string_view tool_id);        // Tool JSON of a custom tool
std::string tool_name_key(std::string_view name);      // its id, by name
std::string tools_begin();
std::string tools_end();

std::string conversation_key(std::string_view conversation_id);
std::string agent_conversation_key(std::string_view agent_id, int64_t created_us,
                                   std::string_view conversation_id);
std::string agent_conversations_begin(std::string_view agent_id);
std::string agent_conversations_end(std::string_view agent_id);
Result<std::string> agent_conversation_id(std::string_view key);

// `request`: the operation, its target and the Idempotency-Key ("update_block\n<id>\n<key>").
std::string answer_key(std::string_view request);
std::string answer_gc_key(int64_t expires_ms, std::string_view request);
std::string answer_gc_begin();
std::string answer_gc_end(int64_t expires_ms_exclusive);
Result<std::string> answer_gc_request(std::string_view key);

// "<prefix>-<uuid4>" from the executor's random source.
std::string new_id(io::Random& random, std::string_view prefix);
// A stable id for a built-in thing, derived from its name ("tool-<uuid-shaped hash>").
std::string stable_id(std::string_view prefix, std::string_view name);
// ISO-8601 with seconds and offset: "2026-01-01T12:00:00+00:00" (Letta's message `date`).
std::string iso_time(WallTime t);
int64_t micros(WallTime t);

// Parses stored JSON; a record that is not a JSON object is corruption.
Result<json::object> parse_record(std::string_view bytes, std::string_view what);

// JSON accessors that never throw: the value, or the fallback when absent or of another type.
std::string str(const json::object& o, std::string_view key, std::string_view fallback = "");
// The same without a copy: valid while `o` is unchanged; empty when absent or not a string.
std::string_view view(const json::object& o, std::string_view key);
int64_t num(const json::object& o, std::string_view key, int64_t fallback = 0);
bool flag(const json::object& o, std::string_view key, bool fallback = false);
const json::object* obj(const json::object& o, std::string_view key);
const json::array* arr(const json::object& o, std::string_view key);

// The Letta messages one stored message renders to (an assistant message can give reasoning,
// assistant text and a tool call, sharing the id, with otids ending in 0, 1, ...). `hide_send_message`:
// memgpt agents show send_message calls as assistant messages and hide their returns.
json::array render_message(const json::object& stored, bool hide_send_message);
// The text of user content (a string, or parts whose text parts are joined).
std::string content_text(const json::value& content);

}  // namespace kelpie::agent::records
