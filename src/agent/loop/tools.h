#pragma once

// Private: the built-in tools (Letta's base and memory tools), their schemas, and the compiled
// system prompt (research: letta-api.md §4.1–§4.2).

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "base/result.h"
#include "llm/llm.h"

namespace kelpie::agent::loop {

namespace json = boost::json;

// An agent's core memory during a turn: blocks by label, in attachment order.
struct Memory {
    std::vector<json::object> blocks;  // Letta Block JSON
    json::object* find(std::string_view label);
};

// What a tool may see and change.
struct ToolEnv {
    Memory* memory = nullptr;
    // Labels of blocks the tool changed (the caller persists them and recompiles the prompt).
    std::vector<std::string> changed;
    // conversation_search: the stored messages of this conversation, oldest first (made on
    // demand: most tools never look), each with its role so that a search by role need not read
    // the message.
    struct Message {
        std::string_view role;
        const json::object* stored = nullptr;
    };
    std::function<std::vector<Message>()> history;
};

struct BuiltinTool {
    std::string name;
    std::string description;
    std::string parameters_json;  // JSON schema
    std::string tool_type;        // letta_core | letta_memory_core
    std::function<Result<std::string>(const json::object& args, ToolEnv& env)> run;
};

// Characters as Letta counts them (code points of UTF-8 text).
size_t utf8_chars(std::string_view s);

// Every built-in tool by name.
const std::map<std::string, BuiltinTool, std::less<>>& builtin_tools();
// The default tools of an agent type (Letta's create_agent_async with include_base_tools).
std::vector<std::string> default_tool_names(std::string_view agent_type);

// Letta's Tool JSON for a built-in tool (with a stable id).
json::object tool_json(const BuiltinTool& tool);
// The schema sent to the model; memgpt agents get the extra `request_heartbeat` parameter.
llm::ToolSchema tool_schema(const BuiltinTool& tool, bool heartbeat);
// A client tool from a send request ({name, description?, parameters?}).
llm::ToolSchema client_tool_schema(const json::object& tool, bool heartbeat);

// {"status":"OK"|"Failed","message":...,"time":...}: what the model sees as a tool result.
std::string package_tool_result(bool ok, const std::string& message, const std::string& time);

// The system prompt with the memory blocks rendered in (placeholder {CORE_MEMORY} replaced, or
// appended).
std::string compile_system_prompt(const std::string& system, const Memory& memory,
                                  const std::string& agent_id, const std::string& conversation_id,
                                  size_t previous_messages, const std::string& now);

// Letta's default system prompts per agent type (short versions).
std::string default_system_prompt(std::string_view agent_type);

}  // namespace kelpie::agent::loop
