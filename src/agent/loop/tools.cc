#include "agent/loop/tools.h"

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

#include "agent/agent.h"
#include "agent/model/records.h"

namespace kelpie::agent::loop {

using records::num;
using records::str;

json::object* Memory::find(std::string_view label) {
    for (json::object& b : blocks) {
        if (str(b, "label") == label) {
            return &b;
        }
    }
    return nullptr;
}

size_t utf8_chars(std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s) {
        n += (c & 0xC0) != 0x80;
    }
    return n;
}

namespace {

// A tool's failure: the model sees the message; the turn goes on.
Error tool_error(std::string message) {
    return Error(ErrorCode::invalid_argument, std::move(message));
}

Result<std::string> required(const json::object& args, std::string_view name) {
    const json::value* v = args.if_contains(name);
    if (v == nullptr || !v->is_string()) {
        return tool_error(fmt::format("missing required string argument '{}'", name));
    }
    return std::string(v->as_string());
}

Result<json::object*> writable_block(ToolEnv& env, const std::string& label) {
    json::object* block = env.memory == nullptr ? nullptr : env.memory->find(label);
    if (block == nullptr) {
        return tool_error(fmt::format("no memory block with label '{}'", label));
    }
    if (records::flag(*block, "read_only")) {
        return tool_error(fmt::format("memory block '{}' is read-only", label));
    }
    return block;
}

// Sets a block's value within its limit and records the change.
Result<std::string> set_value(ToolEnv& env, json::object& block, std::string value) {
    const int64_t limit = num(block, "limit", block_chars_limit_default);
    const size_t chars = utf8_chars(value);
    if (static_cast<int64_t>(chars) > limit) {
        return tool_error(fmt::format(
            "edit failed: the new value of block '{}' would be {} characters; its limit is {}",
            str(block, "label"), chars, limit));
    }
    block["value"] = value;
    env.changed.push_back(str(block, "label"));
    return std::string();
}

size_t count_occurrences(std::string_view haystack, std::string_view needle) {
    size_t n = 0;
    for (size_t at = haystack.find(needle); at != std::string_view::npos;
         at = haystack.find(needle, at + needle.size())) {
        n++;
    }
    return n;
}

Result<std::string> memory_insert(const json::object& args, ToolEnv& env) {
    KELPIE_TRY_ASSIGN(std::string label, required(args, "label"));
    KELPIE_TRY_ASSIGN(std::string text, required(args, "new_string"));
    const int64_t line = num(args, "insert_line", -1);
    KELPIE_TRY_ASSIGN(json::object * block, writable_block(env, label));
    std::vector<std::string> lines;
    const std::string old = str(*block, "value");
    size_t start = 0;
    while (start <= old.size()) {
        const size_t end = old.find('\n', start);
        lines.push_back(old.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    if (old.empty()) {
        lines.clear();
    }
    if (line < -1 || line > static_cast<int64_t>(lines.size())) {
        return tool_error(fmt::format("insert_line {} is out of range (0..{}, or -1 for the end)",
                                      line, lines.size()));
    }
    const size_t at = line == -1 ? lines.size() : static_cast<size_t>(line);
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at), text);
    std::string value;
    for (size_t i = 0; i < lines.size(); i++) {
        value += (i == 0 ? "" : "\n") + lines[i];
    }
    KELPIE_TRY(set_value(env, *block, value));
    return fmt::format("The core memory block with label `{}` has been edited.", label);
}

Result<std::string> replace_unique(ToolEnv& env, const std::string& label, const std::string& old_s,
                                   const std::string& new_s, bool require_unique) {
    KELPIE_TRY_ASSIGN(json::object * block, writable_block(env, label));
    std::string value = str(*block, "value");
    if (old_s.empty()) {
        return tool_error("the text to replace must not be empty");
    }
    const size_t n = count_occurrences(value, old_s);
    if (n == 0) {
        return tool_error(fmt::format("no match for the text to replace in memory block '{}'",
                                      label));
    }
    if (n > 1 && require_unique) {
        return tool_error(fmt::format(
            "the text to replace occurs {} times in memory block '{}'; it must be unique", n,
            label));
    }
    for (size_t at = value.find(old_s); at != std::string::npos;
         at = value.find(old_s, at + new_s.size())) {
        value.replace(at, old_s.size(), new_s);
        if (require_unique) {
            break;
        }
    }
    KELPIE_TRY(set_value(env, *block, value));
    return fmt::format("The core memory block with label `{}` has been edited.", label);
}

Result<std::string> memory_replace(const json::object& args, ToolEnv& env) {
    KELPIE_TRY_ASSIGN(std::string label, required(args, "label"));
    KELPIE_TRY_ASSIGN(std::string old_s, required(args, "old_string"));
    KELPIE_TRY_ASSIGN(std::string new_s, required(args, "new_string"));
    return replace_unique(env, label, old_s, new_s, true);
}

Result<std::string> core_memory_append(const json::object& args, ToolEnv& env) {
    KELPIE_TRY_ASSIGN(std::string label, required(args, "label"));
    KELPIE_TRY_ASSIGN(std::string content, required(args, "content"));
    KELPIE_TRY_ASSIGN(json::object * block, writable_block(env, label));
    KELPIE_TRY(set_value(env, *block, str(*block, "value") + "\n" + content));
    return std::string("None");
}

Result<std::string> core_memory_replace(const json::object& args, ToolEnv& env) {
    KELPIE_TRY_ASSIGN(std::string label, required(args, "label"));
    KELPIE_TRY_ASSIGN(std::string old_s, required(args, "old_content"));
    KELPIE_TRY_ASSIGN(std::string new_s, required(args, "new_content"));
    KELPIE_TRY(replace_unique(env, label, old_s, new_s, false));
    return std::string("None");
}

Result<std::string> send_message(const json::object& args, ToolEnv&) {
    KELPIE_TRY(required(args, "message"));
    return std::string("Sent message successfully.");
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Whether `text` contains `query`, ignoring ASCII case, without copying the text.
// REQUIRES: query is lower case.
bool contains_folded(std::string_view text, std::string_view query) {
    return std::search(text.begin(), text.end(), query.begin(), query.end(),
                       [](char a, char b) { return ascii_lower(a) == b; }) != text.end();
}

Result<std::string> conversation_search(const json::object& args, ToolEnv& env) {
    std::string query = str(args, "query");
    std::transform(query.begin(), query.end(), query.begin(), ascii_lower);
    const int64_t limit = std::clamp<int64_t>(num(args, "limit", 10), 1, 100);
    std::vector<std::string> roles;
    if (const json::array* r = records::arr(args, "roles")) {
        for (const json::value& v : *r) {
            if (v.is_string()) {
                roles.emplace_back(v.as_string());
            }
        }
    }
    json::array results;
    if (env.history) {
        const std::vector<ToolEnv::Message> history = env.history();
        // Newest first, as a search for "what was said about X" wants.
        for (auto it = history.rbegin(); it != history.rend(); ++it) {
            const std::string_view role = it->role;
            if (role != "user" && role != "assistant" && role != "tool") {
                continue;
            }
            if (!roles.empty() && std::find(roles.begin(), roles.end(), role) == roles.end()) {
                continue;
            }
            const json::object& m = *it->stored;
            // A user message's content may be parts (joined then); the others are plain strings.
            std::string joined;
            std::string_view text;
            if (role == "user") {
                joined = records::content_text(m.at("content"));
                text = joined;
            } else {
                text = records::view(m, role == "tool" ? "tool_return" : "content");
            }
            if (text.empty() || (!query.empty() && !contains_folded(text, query))) {
                continue;
            }
            json::object hit;
            hit["timestamp"] = str(m, "date");
            hit["role"] = role;
            hit["content"] = text;
            results.push_back(std::move(hit));
            if (static_cast<int64_t>(results.size()) >= limit) {
                break;
            }
        }
    }
    if (results.empty()) {
        return std::string("No results found.");
    }
    return fmt::format("Found {} results: {}", results.size(), json::serialize(results));
}

constexpr const char* label_param =
    R"("label":{"type":"string","description":"Section of the memory to be edited, identified by its label."})";

}  // namespace

const std::map<std::string, BuiltinTool, std::less<>>& builtin_tools() {
    static const std::map<std::string, BuiltinTool, std::less<>> tools = [] {
        std::map<std::string, BuiltinTool, std::less<>> t;
        auto add = [&t](BuiltinTool tool) { t.emplace(tool.name, std::move(tool)); };
        add({"memory_insert",
             "Insert text at a specific line in a memory block.",
             fmt::format(
                 R"({{"type":"object","properties":{{{},"new_string":{{"type":"string","description":"The text to insert."}},"insert_line":{{"type":"integer","description":"The line number after which to insert the text (0 for the beginning, -1 for the end)."}}}},"required":["label","new_string"]}})",
                 label_param),
             "letta_memory_core", memory_insert});
        add({"memory_replace",
             "Replace a specific string in a memory block with a new string. The old string must "
             "occur exactly once.",
             fmt::format(
                 R"({{"type":"object","properties":{{{},"old_string":{{"type":"string","description":"The text to replace (must match exactly, once)."}},"new_string":{{"type":"string","description":"The new text."}}}},"required":["label","old_string","new_string"]}})",
                 label_param),
             "letta_memory_core", memory_replace});
        add({"core_memory_append",
             "Append to the contents of core memory.",
             fmt::format(
                 R"({{"type":"object","properties":{{{},"content":{{"type":"string","description":"Content to write to the memory."}}}},"required":["label","content"]}})",
                 label_param),
             "letta_memory_core", core_memory_append});
        add({"core_memory_replace",
             "Replace the contents of core memory. To delete memories, use an empty string for "
             "new_content.",
             fmt::format(
                 R"({{"type":"object","properties":{{{},"old_content":{{"type":"string","description":"String to replace. Must be an exact match."}},"new_content":{{"type":"string","description":"Content to write to the memory."}}}},"required":["label","old_content","new_content"]}})",
                 label_param),
             "letta_memory_core", core_memory_replace});
        add({"conversation_search",
             "Search prior conversation history using case-insensitive string matching.",
             R"({"type":"object","properties":{"query":{"type":"string","description":"String to search for."},"roles":{"type":"array","items":{"type":"string","enum":["assistant","user","tool"]},"description":"Only return messages from these roles."},"limit":{"type":"integer","description":"Maximum number of results."}},"required":["query"]})",
             "letta_core", conversation_search});
        add({"send_message",
             "Sends a message to the human user.",
             R"({"type":"object","properties":{"message":{"type":"string","description":"Message contents. All unicode (including emojis) are supported."}},"required":["message"]})",
             "letta_core", send_message});
        return t;
    }();
    return tools;
}

std::vector<std::string> default_tool_names(std::string_view agent_type) {
    if (agent_type == "memgpt_agent") {
        return {"send_message", "conversation_search", "core_memory_append", "core_memory_replace"};
    }
    if (agent_type == "memgpt_v2_agent") {
        return {"send_message", "conversation_search", "memory_insert", "memory_replace"};
    }
    return {"conversation_search", "memory_insert", "memory_replace"};
}

json::object tool_json(const BuiltinTool& tool) {
    json::object t;
    t["id"] = records::stable_id("tool", tool.name);
    t["name"] = tool.name;
    t["description"] = tool.description;
    t["tool_type"] = tool.tool_type;
    json::object schema;
    schema["name"] = tool.name;
    schema["description"] = tool.description;
    schema["parameters"] = json::parse(tool.parameters_json);
    t["json_schema"] = std::move(schema);
    t["args_json_schema"] = nullptr;
    t["source_code"] = nullptr;
    t["source_type"] = "python";
    t["tags"] = json::array{"letta_core"};
    t["return_char_limit"] = tool_return_chars_default;
    t["pip_requirements"] = nullptr;
    t["npm_requirements"] = nullptr;
    t["default_requires_approval"] = false;
    t["enable_parallel_execution"] = false;
    t["metadata_"] = json::object();
    t["project_id"] = nullptr;
    return t;
}

namespace {

std::string with_heartbeat(const std::string& parameters_json) {
    boost::system::error_code ec;
    json::value v = json::parse(parameters_json, ec);
    if (ec || !v.is_object()) {
        return parameters_json;
    }
    json::object& p = v.as_object();
    if (!p["properties"].is_object()) {
        p["properties"] = json::object();
    }
    json::object hb;
    hb["type"] = "boolean";
    hb["description"] =
        "Request an immediate heartbeat after function execution. Set to `true` if you want to "
        "send a follow-up message or run a follow-up function.";
    p["properties"].as_object()["request_heartbeat"] = std::move(hb);
    return json::serialize(v);
}

}  // namespace

llm::ToolSchema tool_schema(const BuiltinTool& tool, bool heartbeat) {
    llm::ToolSchema s;
    s.name = tool.name;
    s.description = tool.description;
    s.parameters_json = (heartbeat && tool.name != "send_message") ? with_heartbeat(tool.parameters_json)
                                                                   : tool.parameters_json;
    return s;
}

llm::ToolSchema client_tool_schema(const json::object& tool, bool heartbeat) {
    llm::ToolSchema s;
    s.name = str(tool, "name");
    s.description = str(tool, "description");
    const json::value* p = tool.if_contains("parameters");
    s.parameters_json = (p != nullptr && p->is_object())
                            ? json::serialize(*p)
                            : std::string(R"({"type":"object","properties":{}})");
    if (heartbeat) {
        s.parameters_json = with_heartbeat(s.parameters_json);
    }
    return s;
}

std::string package_tool_result(bool ok, const std::string& message, const std::string& time) {
    json::object o;
    o["status"] = ok ? "OK" : "Failed";
    o["message"] = message;
    o["time"] = time;
    return json::serialize(o);
}

std::string compile_system_prompt(const std::string& system, const Memory& memory,
                                  const std::string& agent_id, const std::string& conversation_id,
                                  size_t previous_messages, const std::string& now) {
    std::string blocks =
        "<memory_blocks>\nThe following memory blocks are currently engaged in your core memory "
        "unit:\n\n";
    for (const json::object& b : memory.blocks) {
        const std::string label = str(b, "label");
        const std::string value = str(b, "value");
        blocks += fmt::format("<{}>\n<description>\n{}\n</description>\n<metadata>\n", label,
                              str(b, "description"));
        if (records::flag(b, "read_only")) {
            blocks += "- read_only=true\n";
        }
        blocks += fmt::format("- chars_current={}\n- chars_limit={}\n</metadata>\n<value>\n{}\n"
                              "</value>\n</{}>\n\n",
                              utf8_chars(value), num(b, "limit", block_chars_limit_default), value,
                              label);
    }
    blocks += "</memory_blocks>";
    const std::string metadata = fmt::format(
        "<memory_metadata>\n- AGENT_ID: {}\n- CONVERSATION_ID: {}\n- System prompt last "
        "recompiled: {}\n- {} previous messages between you and the user are stored in recall "
        "memory (use tools to access them)\n</memory_metadata>",
        agent_id, conversation_id.empty() ? "default" : conversation_id, now, previous_messages);
    const std::string core = blocks + "\n\n" + metadata;
    const std::string placeholder = "{CORE_MEMORY}";
    const size_t at = system.find(placeholder);
    if (at != std::string::npos) {
        std::string out = system;
        out.replace(at, placeholder.size(), core);
        return out;
    }
    return system + "\n\n" + core;
}

std::string default_system_prompt(std::string_view agent_type) {
    if (agent_type == "memgpt_agent" || agent_type == "memgpt_v2_agent") {
        return "You are Letta, a stateful agent with persistent memory. Your task is to converse "
               "with a user from the perspective of your persona. Use the send_message function "
               "to send visible messages to the user; all other output is hidden. Use the memory "
               "tools to keep your core memory up to date.";
    }
    return "You are a helpful self-improving agent with advanced memory. You have core memory "
           "blocks that are always visible to you; keep them current with your memory tools. "
           "Answer the user directly in plain text when you are done calling tools.";
}

}  // namespace kelpie::agent::loop
