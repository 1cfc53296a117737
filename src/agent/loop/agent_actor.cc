#include "agent/loop/agent_actor.h"

#include <fmt/format.h>

#include "agent/model/records.h"

namespace kelpie::agent::loop {

using records::arr;
using records::flag;
using records::num;
using records::obj;
using records::str;

namespace {

// A turn's result that the service maps to an HTTP error (the turn itself succeeded, so the
// journal keeps it and a retry with the same key gets the same answer).
Error refuse(ErrorCode code, std::string detail) { return Error(code, std::move(detail)); }

json::value or_null(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v == nullptr ? json::value(nullptr) : *v;
}

std::string provider_endpoint_type(const std::string& handle) {
    const size_t slash = handle.find('/');
    return slash == std::string::npos ? "openai" : handle.substr(0, slash);
}

bool is_memgpt(const json::object& agent) {
    const std::string type = str(agent, "agent_type");
    return type == "memgpt_agent" || type == "memgpt_v2_agent";
}

// The Letta stop reason object.
json::object stop_reason_json(std::string_view reason) {
    json::object o;
    o["message_type"] = "stop_reason";
    o["stop_reason"] = reason;
    return o;
}

std::string run_status_for(std::string_view stop_reason) {
    if (stop_reason == "end_turn" || stop_reason == "max_steps" || stop_reason == "tool_rule" ||
        stop_reason == "requires_approval") {
        return "completed";
    }
    if (stop_reason == "cancelled") {
        return "cancelled";
    }
    return "failed";
}

// Rules of one kind from an agent's tool_rules: the tool names.
std::set<std::string> rule_tools(const json::object& agent, std::string_view type) {
    std::set<std::string> out;
    if (const json::array* rules = arr(agent, "tool_rules")) {
        for (const json::value& r : *rules) {
            if (r.is_object() && str(r.as_object(), "type") == type) {
                out.insert(str(r.as_object(), "tool_name"));
            }
        }
    }
    return out;
}

constexpr size_t response_bytes_max = 768 * 1024;  // a turn's stored result (journal value)

}  // namespace

std::string effective_model(const json::object& agent, const ServiceOptions& options) {
    const std::string model = str(agent, "model");
    if (model.empty() || model.starts_with("letta/")) {
        return options.default_model;
    }
    return model;
}

json::object render_agent(const json::object& agent, const std::vector<json::object>& blocks,
                          const json::object* pending_approval) {
    json::object a;
    for (const char* key : {"id", "name", "description", "system", "agent_type", "created_at",
                            "updated_at", "metadata", "timezone", "last_stop_reason",
                            "last_run_completion", "message_buffer_autoclear"}) {
        a[key] = or_null(agent, key);
    }
    a["tags"] = agent.contains("tags") ? agent.at("tags") : json::array();
    const std::string handle = str(agent, "model_handle");
    a["model"] = handle;
    a["embedding"] = or_null(agent, "embedding");
    json::object llm;
    const size_t slash = handle.find('/');
    llm["model"] = slash == std::string::npos ? handle : handle.substr(slash + 1);
    llm["model_endpoint_type"] = provider_endpoint_type(handle);
    llm["model_endpoint"] = nullptr;
    llm["handle"] = handle;
    llm["context_window"] = num(agent, "context_window", 128000);
    llm["temperature"] = 0.7;
    llm["max_tokens"] = nullptr;
    llm["put_inner_thoughts_in_kwargs"] = false;
    llm["enable_reasoner"] = false;
    a["llm_config"] = std::move(llm);
    json::object emb;
    const std::string emb_handle = str(agent, "embedding");
    const size_t eslash = emb_handle.find('/');
    emb["embedding_model"] = eslash == std::string::npos ? emb_handle : emb_handle.substr(eslash + 1);
    emb["embedding_endpoint_type"] = provider_endpoint_type(emb_handle);
    emb["embedding_dim"] = 1536;
    emb["handle"] = emb_handle;
    a["embedding_config"] = std::move(emb);
    json::array block_array;
    for (const json::object& b : blocks) {
        block_array.push_back(b);
    }
    json::object memory;
    memory["blocks"] = block_array;
    memory["file_blocks"] = json::array();
    memory["prompt_template"] = "";
    memory["agent_type"] = or_null(agent, "agent_type");
    a["blocks"] = std::move(block_array);
    a["memory"] = std::move(memory);
    json::array tools;
    if (const json::array* names = arr(agent, "tool_names")) {
        for (const json::value& n : *names) {
            auto it = n.is_string() ? builtin_tools().find(std::string_view(n.as_string()))
                                    : builtin_tools().end();
            if (it != builtin_tools().end()) {
                tools.push_back(tool_json(it->second));
            }
        }
    }
    a["tools"] = std::move(tools);
    a["tool_rules"] = agent.contains("tool_rules") ? agent.at("tool_rules") : json::array();
    a["sources"] = json::array();
    a["identities"] = json::array();
    a["secrets"] = json::array();
    json::array ids;
    for (const char* key : {"system_message_id", "last_message_id"}) {
        const std::string id = str(agent, key);
        if (!id.empty() && (ids.empty() || ids.back().as_string() != id)) {
            ids.push_back(json::string(id));
        }
    }
    a["message_ids"] = std::move(ids);
    a["pending_approval"] = pending_approval == nullptr ? json::value(nullptr)
                                                        : json::value(*pending_approval);
    a["enable_sleeptime"] = false;
    a["multi_agent_group"] = nullptr;
    a["managed_group"] = nullptr;
    a["hidden"] = nullptr;
    a["project_id"] = nullptr;
    a["template_id"] = nullptr;
    a["base_template_id"] = nullptr;
    return a;
}

// State ------------------------------------------------------------------------------------------

Status AgentActor::load(std::string_view state) {
    if (state.empty()) {
        return {};
    }
    KELPIE_TRY_ASSIGN(json::object s, records::parse_record(state, "agent state"));
    const json::object* agent = obj(s, "agent");
    if (agent == nullptr) {
        return Error(ErrorCode::corruption, "agent state without settings");
    }
    agent_ = *agent;
    next_seq_ = num(s, "next_seq");
    context_start_ = num(s, "context_start");
    if (const json::object* p = obj(s, "pending_approval")) {
        pending_approval_ = *p;
    }
    if (const json::object* r = obj(s, "runs")) {
        runs_ = *r;
    }
    deleted_ = flag(s, "deleted");
    exists_ = true;
    return {};
}

std::string AgentActor::state_json() const {
    if (!exists_) {
        return "";
    }
    json::object s;
    s["agent"] = agent_;
    s["next_seq"] = next_seq_;
    s["context_start"] = context_start_;
    s["pending_approval"] = pending_approval_.has_value() ? json::value(*pending_approval_)
                                                          : json::value(nullptr);
    s["runs"] = runs_;
    s["deleted"] = deleted_;
    return json::serialize(s);
}

std::string AgentActor::save() const { return state_json(); }

io::Task<Status> AgentActor::load_blocks() {
    memory_.blocks.clear();
    block_records_.clear();
    std::vector<std::string> ids;
    if (const json::array* b = arr(agent_, "block_ids")) {
        for (const json::value& v : *b) {
            if (v.is_string()) {
                ids.emplace_back(v.as_string());
            }
        }
    }
    if (ids.empty()) {
        co_return ok_status();
    }
    auto t = shared_->store.begin();
    for (const std::string& id : ids) {
        KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> kv, co_await t->get(records::block_key(id)));
        if (!kv.has_value()) {
            continue;  // deleted standalone block: no longer part of the memory
        }
        KELPIE_CO_TRY_ASSIGN(json::object block, records::parse_record(kv->value, "block"));
        memory_.blocks.push_back(std::move(block));
        block_records_[id] = kv->value;
    }
    co_return ok_status();
}

// Keeps the system message and the newest messages: the context the model sees. Runs at each
// turn's start (no step holds a pointer into the history then), so a long-lived activation's
// history stays bounded.
void AgentActor::trim_history() {
    if (history_.size() <= context_messages_max) {
        return;
    }
    const size_t dropped = history_.size() - context_messages_max;  // after the system message
    if (prompt_ != nullptr && prompt_upto_ >= 1 + dropped) {
        // The prompt loses what it holds of the dropped messages, from its front.
        size_t shown = 0;
        for (size_t i = 1; i <= dropped; i++) {
            shown += prompt_forms_[i].in_prompt(prompt_conversation_) ? 1 : 0;
        }
        if (prompt_.use_count() > 1) {
            prompt_ = std::make_shared<std::vector<llm::ChatMessage>>(*prompt_);
        }
        prompt_->erase(prompt_->begin(), prompt_->begin() + static_cast<std::ptrdiff_t>(shown));
        prompt_upto_ -= dropped;
    } else {
        prompt_.reset();
        prompt_upto_ = 0;
    }
    const auto first_kept = static_cast<std::ptrdiff_t>(1 + dropped);
    history_.erase(history_.begin() + 1, history_.begin() + first_kept);
    prompt_forms_.erase(prompt_forms_.begin() + 1, prompt_forms_.begin() + first_kept);
}

io::Task<Status> AgentActor::load_history() {
    if (history_loaded_) {
        trim_history();
        co_return ok_status();
    }
    history_clear();
    const std::string id = str(agent_, "id");
    std::string begin = records::messages_begin(id, context_start_);
    const std::string end = records::messages_end(id);
    while (true) {
        auto t = shared_->store.begin();
        KELPIE_CO_TRY_ASSIGN(store::RangeResult page, co_await t->range(begin, end));
        for (const store::KeyValue& kv : page.pairs) {
            KELPIE_CO_TRY_ASSIGN(json::object m, records::parse_record(kv.value, "message"));
            history_push(std::move(m));
        }
        if (!page.more || page.pairs.empty()) {
            break;
        }
        begin = page.pairs.back().key + '\x00';
    }
    trim_history();
    history_loaded_ = true;
    co_return ok_status();
}

// Messages -----------------------------------------------------------------------------------------

Status AgentActor::stage(actor::Context& context, const json::object& message) {
    const std::string agent_id = str(agent_, "id");
    const int64_t seq = num(message, "seq");
    KELPIE_TRY(context.put(records::message_key(agent_id, seq), json::serialize(message)));
    json::object where;
    where["agent_id"] = agent_id;
    where["seq"] = seq;
    return context.put(records::message_id_key(str(message, "id")), json::serialize(where));
}

json::object& AgentActor::append(actor::Context& context, json::object message) {
    message["seq"] = next_seq_++;
    message["date"] = records::iso_time(shared_->executor.wall_now());
    if (!message.contains("id")) {
        message["id"] = records::new_id(shared_->executor.random(), "message");
    }
    (void)stage(context, message);  // put fails only for runtime keys, which these are not
    if (str(message, "role") != "system") {
        agent_["last_message_id"] = message["id"];
    }
    history_push(std::move(message));
    return history_.back();
}

void AgentActor::publish(const std::string& run_id, const json::object& message) {
    auto it = shared_->streams.find(run_id);
    if (it != shared_->streams.end()) {
        it->second->publish(message);
    }
}

void AgentActor::publish_rendered(const std::string& run_id, const json::object& stored) {
    if (!shared_->streams.contains(run_id)) {
        return;  // nobody streams this run: no need to render
    }
    for (const json::value& m : records::render_message(stored, is_memgpt(agent_))) {
        publish(run_id, m.as_object());
    }
}

Status AgentActor::persist_blocks(actor::Context& context, const std::vector<std::string>& labels) {
    for (const std::string& label : labels) {
        json::object* block = memory_.find(label);
        if (block == nullptr) {
            continue;
        }
        (*block)["updated_at"] = records::iso_time(shared_->executor.wall_now());
        KELPIE_TRY(write_block(context, *block));
    }
    return {};
}

Status AgentActor::write_block(actor::Context& context, const json::object& block) {
    const std::string id = str(block, "id");
    const std::string key = records::block_key(id);
    std::string record = json::serialize(block);
    if (auto read = block_records_.find(id); read != block_records_.end()) {
        if (!shared_->options.bugs.block_write_unchecked) {  // BUG (switch): a blind rewrite
            KELPIE_TRY(context.expect(key, read->second));
        }
        read->second = record;  // a later step's edit expects this one
    }
    return context.put(key, std::move(record));
}

std::vector<ToolEnv::Message> AgentActor::conversation_history(
    const std::string& conversation_id) const {
    KELPIE_ASSERT(prompt_forms_.size() == history_.size());
    std::vector<ToolEnv::Message> out;
    out.reserve(history_.size());
    auto message = history_.begin();
    for (const PromptForm& form : prompt_forms_) {
        if (form.in_conversation(conversation_id)) {
            out.push_back(ToolEnv::Message{form.role, &*message});
        }
        ++message;
    }
    return out;
}

// The stored system message (the first in context) holds the prompt as last compiled.
Status AgentActor::refresh_system_message(actor::Context& context,
                                          const std::string& conversation_id) {
    if (history_.empty() || !prompt_forms_.front().system()) {
        return {};
    }
    // Recompiled when what it shows of the memory changes (blocks, the template, the
    // conversation), as Letta does: its time and message count are as of that recompile. An
    // unchanged system message keeps the prompt's prefix the same from step to step, which the
    // providers' prompt caches need, and keeps a few KB out of every step's commit.
    std::string basis = compile_system_prompt(str(agent_, "system"), memory_, str(agent_, "id"),
                                              conversation_id, 0, "");
    if (basis == system_basis_) {
        return {};
    }
    size_t messages_in_context = 0;
    for (const PromptForm& form : prompt_forms_) {
        messages_in_context += form.in_conversation(conversation_id) ? 1 : 0;
    }
    json::object& system = history_.front();
    system["content"] = compile_system_prompt(str(agent_, "system"), memory_, str(agent_, "id"),
                                              conversation_id, messages_in_context,
                                              records::iso_time(shared_->executor.wall_now()));
    KELPIE_TRY(stage(context, system));
    system_basis_ = std::move(basis);
    return {};
}

Status AgentActor::write_run(actor::Context& context, const json::object& run) {
    return context.put(records::run_key(str(run, "id")), json::serialize(run));
}

// Settings -----------------------------------------------------------------------------------------

Status AgentActor::apply_block_patch(json::object& block, const json::object& patch) {
    for (const char* key : {"description", "metadata", "tags", "read_only", "hidden"}) {
        if (const json::value* v = patch.if_contains(key)) {
            block[key] = *v;
        }
    }
    if (const json::value* v = patch.if_contains("label"); v != nullptr && v->is_string()) {
        block["label"] = *v;
    }
    if (const json::value* v = patch.if_contains("limit"); v != nullptr && !v->is_null()) {
        block["limit"] = *v;
    }
    if (const json::value* v = patch.if_contains("value"); v != nullptr && v->is_string()) {
        block["value"] = *v;
    }
    const int64_t limit = num(block, "limit", block_chars_limit_default);
    const size_t chars = utf8_chars(str(block, "value"));
    if (static_cast<int64_t>(chars) > limit) {
        return refuse(ErrorCode::invalid_argument,
                      fmt::format("Edit failed: value of block '{}' has {} characters, more than "
                                  "its limit {}",
                                  str(block, "label"), chars, limit));
    }
    block["updated_at"] = records::iso_time(shared_->executor.wall_now());
    return {};
}

Result<json::object> AgentActor::apply_update(const json::object& patch) {
    for (const char* key : {"name", "description", "system", "metadata", "tags", "tool_rules",
                            "timezone", "message_buffer_autoclear", "embedding"}) {
        if (const json::value* v = patch.if_contains(key); v != nullptr && !v->is_null()) {
            agent_[key] = *v;
        }
    }
    if (const json::value* v = patch.if_contains("model"); v != nullptr && v->is_string()) {
        agent_["model"] = *v;
        agent_["model_handle"] = effective_model(agent_, shared_->options);
    }
    if (const json::value* v = patch.if_contains("context_window_limit");
        v != nullptr && (v->is_int64() || v->is_uint64())) {
        agent_["context_window"] = *v;
    }
    agent_["updated_at"] = records::iso_time(shared_->executor.wall_now());
    return agent_;
}

// Turns ---------------------------------------------------------------------------------------------

io::Task<Result<std::string>> AgentActor::handle(actor::Context& context, actor::Invocation call) {
    boost::system::error_code ec;
    json::value arg_value = json::parse(call.argument, ec);
    if (ec || !arg_value.is_object()) {
        co_return Error(ErrorCode::invalid_argument, "agent call argument is not a JSON object");
    }
    json::object arg = std::move(arg_value.as_object());
    if (call.method == "create") {
        co_return co_await create(context, std::move(arg));
    }
    if (!exists_ || deleted_) {
        co_return refuse(ErrorCode::not_found,
                         fmt::format("Agent {} not found", context.self().key));
    }
    KELPIE_CO_TRY(co_await load_blocks());
    if (call.method == "send") {
        co_return co_await send(context, std::move(arg));
    }
    KELPIE_CO_TRY(co_await load_history());
    if (call.method == "update") {
        KELPIE_CO_TRY(apply_update(arg));
        KELPIE_CO_TRY(refresh_system_message(context, ""));
    } else if (call.method == "update_block") {
        json::object* block = memory_.find(str(arg, "label"));
        if (block == nullptr) {
            co_return refuse(ErrorCode::not_found,
                             fmt::format("Block with label {} not found for agent {}",
                                         str(arg, "label"), str(agent_, "id")));
        }
        const json::object* patch = obj(arg, "patch");
        KELPIE_CO_TRY(apply_block_patch(*block, patch == nullptr ? json::object() : *patch));
        KELPIE_CO_TRY(write_block(context, *block));
        KELPIE_CO_TRY(refresh_system_message(context, ""));
        co_return json::serialize(*block);
    } else if (call.method == "attach_block" || call.method == "detach_block") {
        const std::string block_id = str(arg, "block_id");
        json::array ids;
        bool present = false;
        if (const json::array* b = arr(agent_, "block_ids")) {
            for (const json::value& v : *b) {
                if (v.is_string() && v.as_string() == block_id) {
                    present = true;
                    if (call.method == "detach_block") {
                        continue;
                    }
                }
                ids.push_back(v);
            }
        }
        if (call.method == "attach_block" && !present) {
            if (ids.size() >= agent_blocks_max) {
                co_return refuse(ErrorCode::limit_exceeded,
                                 fmt::format("an agent has at most {} blocks", agent_blocks_max));
            }
            const json::object* block = obj(arg, "block");
            if (block != nullptr) {
                const std::string label = str(*block, "label");
                if (memory_.find(label) != nullptr) {
                    co_return refuse(ErrorCode::failed_precondition,
                                     fmt::format("agent {} already has a block labelled '{}'",
                                                 str(agent_, "id"), label));
                }
                memory_.blocks.push_back(*block);
            }
            ids.push_back(json::string(block_id));
        }
        if (call.method == "detach_block") {
            std::erase_if(memory_.blocks,
                          [&](const json::object& b) { return str(b, "id") == block_id; });
        }
        agent_["block_ids"] = std::move(ids);
        KELPIE_CO_TRY(refresh_system_message(context, ""));
    } else if (call.method == "attach_tool" || call.method == "detach_tool") {
        const std::string name = str(arg, "name");
        json::array names;
        bool present = false;
        if (const json::array* t = arr(agent_, "tool_names")) {
            for (const json::value& v : *t) {
                if (v.is_string() && v.as_string() == name) {
                    present = true;
                    if (call.method == "detach_tool") {
                        continue;
                    }
                }
                names.push_back(v);
            }
        }
        if (call.method == "attach_tool" && !present) {
            if (names.size() >= agent_tools_max) {
                co_return refuse(ErrorCode::limit_exceeded,
                                 fmt::format("an agent has at most {} tools", agent_tools_max));
            }
            names.push_back(json::string(name));
        }
        agent_["tool_names"] = std::move(names);
    } else if (call.method == "reset") {
        // A new context: a fresh system message; older messages stay stored (and listable
        // through the runs that made them) but leave the agent's history.
        context_start_ = next_seq_;
        history_clear();
        pending_approval_.reset();
        json::object system;
        system["role"] = "system";
        system["content"] = "";
        system["conversation_id"] = nullptr;
        json::object& stored = append(context, std::move(system));
        agent_["system_message_id"] = stored["id"];
        agent_["last_message_id"] = stored["id"];
        KELPIE_CO_TRY(refresh_system_message(context, ""));
    } else if (call.method == "delete") {
        deleted_ = true;
        KELPIE_CO_TRY(context.put(
            records::agent_index_key(num(agent_, "created_us"), str(agent_, "id")), std::nullopt));
        co_return std::string("{}");
    } else if (call.method != "get") {
        co_return Error(ErrorCode::invalid_argument,
                        fmt::format("agent actor has no method '{}'", call.method));
    }
    co_return json::serialize(render_agent(
        agent_, memory_.blocks, pending_approval_.has_value() ? &*pending_approval_ : nullptr));
}

io::Task<Result<std::string>> AgentActor::create(actor::Context& context, json::object request) {
    const json::object* agent = obj(request, "agent");
    if (agent == nullptr) {
        co_return Error(ErrorCode::invalid_argument, "create: no agent");
    }
    if (!exists_) {
        exists_ = true;
        agent_ = *agent;
        history_clear();
        history_loaded_ = true;
        if (const json::array* blocks = arr(request, "new_blocks")) {
            for (const json::value& b : *blocks) {
                if (b.is_object()) {
                    KELPIE_CO_TRY(context.put(records::block_key(str(b.as_object(), "id")),
                                              json::serialize(b)));
                }
            }
        }
        KELPIE_CO_TRY(context.put(
            records::agent_index_key(num(agent_, "created_us"), str(agent_, "id")), ""));
    }
    KELPIE_CO_TRY(co_await load_blocks());
    if (const json::array* blocks = arr(request, "new_blocks")) {
        // Staged, not committed yet: the store does not have them. Keep the attachment order.
        std::vector<json::object> ordered;
        for (const std::string& id : [&] {
                 std::vector<std::string> ids;
                 if (const json::array* b = arr(agent_, "block_ids")) {
                     for (const json::value& v : *b) {
                         ids.emplace_back(v.as_string());
                     }
                 }
                 return ids;
             }()) {
            const json::object* found = nullptr;
            for (const json::value& b : *blocks) {
                if (str(b.as_object(), "id") == id) {
                    found = &b.as_object();
                }
            }
            for (const json::object& b : memory_.blocks) {
                if (str(b, "id") == id) {
                    found = &b;
                }
            }
            if (found != nullptr) {
                ordered.push_back(*found);
            }
        }
        memory_.blocks = std::move(ordered);
    }
    if (history_.empty() && next_seq_ == 0) {
        json::object system;
        system["role"] = "system";
        system["content"] = "";
        system["conversation_id"] = nullptr;
        json::object& stored = append(context, std::move(system));
        agent_["system_message_id"] = stored["id"];
        agent_["last_message_id"] = stored["id"];
        KELPIE_CO_TRY(refresh_system_message(context, ""));
    }
    co_return json::serialize(render_agent(agent_, memory_.blocks, nullptr));
}

// The loop ------------------------------------------------------------------------------------------

namespace {

// Whether the model sees a stored message: not the system message (it is the prompt), not
// approval bookkeeping (its results are tool messages), not an approval request still waiting
// for its returns (a call is never sent without them; only the last message can be waiting).
bool shown_to_model(const json::object& m) {
    const std::string_view role = records::view(m, "role");
    if (role == "assistant") {
        return !(flag(m, "approval_request") && flag(m, "unanswered"));
    }
    return role == "user" || role == "tool";
}

// What the model sees of one stored message. REQUIRES: shown_to_model(m).
llm::ChatMessage model_message(const json::object& m) {
    const std::string_view role = records::view(m, "role");
    llm::ChatMessage c;
    if (role == "user") {
        c.role = llm::Role::user;
        c.content = records::content_text(m.at("content"));
    } else if (role == "assistant") {
        c.role = llm::Role::assistant;
        c.content = str(m, "content");
        if (const json::array* calls = arr(m, "tool_calls")) {
            for (const json::value& v : *calls) {
                if (v.is_object()) {
                    llm::ToolCall call;
                    call.id = str(v.as_object(), "id");
                    call.name = str(v.as_object(), "name");
                    call.arguments = str(v.as_object(), "arguments");
                    c.tool_calls.push_back(std::move(call));
                }
            }
        }
    } else if (role == "tool") {
        c.role = llm::Role::tool;
        c.tool_call_id = str(m, "tool_call_id");
        c.tool_name = str(m, "tool_name");
        c.content = str(m, "packaged");
    }
    return c;
}

std::string truncate_result(std::string text, size_t chars_max) {
    if (utf8_chars(text) <= chars_max) {
        return text;
    }
    size_t bytes = 0;
    size_t chars = 0;
    while (bytes < text.size() && chars < chars_max) {
        bytes++;
        while (bytes < text.size() && (static_cast<unsigned char>(text[bytes]) & 0xC0) == 0x80) {
            bytes++;
        }
        chars++;
    }
    text.resize(bytes);
    return text + fmt::format("... [NOTE: function output was truncated since it exceeded the "
                              "character limit ({} chars)]",
                              chars_max);
}

}  // namespace

void AgentActor::history_push(json::object message) {
    PromptForm form;
    const std::string_view role = records::view(message, "role");
    for (std::string_view known : {"system", "user", "assistant", "tool", "approval"}) {
        if (role == known) {
            form.role = known;  // the literal's storage, which outlives the message
        }
    }
    form.conversation_id = std::string(records::view(message, "conversation_id"));
    form.shown = shown_to_model(message);
    history_.push_back(std::move(message));
    prompt_forms_.push_back(std::move(form));
}

void AgentActor::history_clear() {
    history_.clear();
    system_basis_.clear();
    prompt_forms_.clear();
    prompt_.reset();
    prompt_upto_ = 0;
}

llm::ChatMessages AgentActor::prompt_messages(const std::string& conversation_id) {
    KELPIE_ASSERT(prompt_forms_.size() == history_.size());
    if (prompt_ == nullptr || prompt_conversation_ != conversation_id) {
        prompt_ = std::make_shared<std::vector<llm::ChatMessage>>();
        prompt_conversation_ = conversation_id;
        prompt_upto_ = 0;
    } else if (prompt_.use_count() > 1) {
        prompt_ = std::make_shared<std::vector<llm::ChatMessage>>(*prompt_);  // still in a request
    }
    for (; prompt_upto_ < history_.size(); prompt_upto_++) {
        if (prompt_forms_[prompt_upto_].in_prompt(conversation_id)) {
            prompt_->push_back(model_message(history_[prompt_upto_]));
        }
    }
    return prompt_;
}

// One run of the loop. `request` (normalised by the service): {"run_id", "conversation_id",
// "created_at", "created_us", "messages": [{"kind": user|system|assistant|approval, ...}],
// "client_tools", "max_steps", "stream", "tokens", "background"}.
io::Task<Result<std::string>> AgentActor::send(actor::Context& context, json::object request) {
    KELPIE_CO_TRY(co_await load_history());
    const std::string run_id = str(request, "run_id");
    const std::string conversation = str(request, "conversation_id");
    const json::value conversation_value =
        conversation.empty() ? json::value(nullptr) : json::value(conversation);
    const bool memgpt = is_memgpt(agent_);
    const int64_t max_steps = std::clamp<int64_t>(num(request, "max_steps", max_steps_default), 1,
                                                  max_steps_max);
    shared_->active_runs[run_id] = str(agent_, "id");
    struct ActiveRun {
        Shared* shared;
        std::string run_id;
        ~ActiveRun() {
            shared->active_runs.erase(run_id);
            shared->cancel_requested.erase(run_id);
        }
    } active_run{shared_.get(), run_id};

    json::object run;
    json::object* progress = nullptr;
    if (json::value* p = runs_.if_contains(run_id); p != nullptr && p->is_object()) {
        progress = &p->as_object();  // resumed after a crash: the input is already in the history
    }
    std::set<std::string> client_tool_names;
    if (const json::array* tools = arr(request, "client_tools")) {
        for (const json::value& t : *tools) {
            if (t.is_object()) {
                client_tool_names.insert(str(t.as_object(), "name"));
            }
        }
    }
    const std::set<std::string> approval_tools = rule_tools(agent_, "requires_approval");
    const std::set<std::string> terminal_tools = rule_tools(agent_, "exit_loop");

    // Custom tools attached to the agent: their schemas, read once per turn.
    std::map<std::string, json::object> custom_tools;
    if (const json::array* names = arr(agent_, "tool_names")) {
        for (const json::value& n : *names) {
            if (!n.is_string() || builtin_tools().contains(std::string_view(n.as_string()))) {
                continue;
            }
            auto t = shared_->store.begin();
            KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> index,
                                 co_await t->get(records::tool_name_key(n.as_string())));
            if (!index.has_value()) {
                continue;
            }
            KELPIE_CO_TRY_ASSIGN(json::object id, records::parse_record(index->value, "tool index"));
            KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> tool, co_await t->get(records::tool_key(str(id, "id"))));
            if (tool.has_value()) {
                KELPIE_CO_TRY_ASSIGN(json::object parsed, records::parse_record(tool->value, "tool"));
                custom_tools[std::string(n.as_string())] = std::move(parsed);
            }
        }
    }
    std::set<std::string> approval_tools_all = approval_tools;
    for (const auto& [name, tool] : custom_tools) {
        if (flag(tool, "default_requires_approval")) {
            approval_tools_all.insert(name);
        }
    }


    auto make_tool_message = [&](const std::string& call_id, const std::string& name, bool ok,
                                 const std::string& result, const std::string& step_id) {
        json::object t;
        t["role"] = "tool";
        t["tool_call_id"] = call_id;
        t["tool_name"] = name;
        t["status"] = ok ? "success" : "error";
        t["tool_return"] = result;
        t["packaged"] = package_tool_result(ok, result, records::iso_time(shared_->executor.wall_now()));
        t["run_id"] = run_id;
        t["step_id"] = step_id.empty() ? json::value(nullptr) : json::value(step_id);
        t["conversation_id"] = conversation_value;
        return t;
    };
    // Runs a server-side tool; returns (ok, result) and records block edits.
    Duration tool_work;  // the tools' own time in this step (StepTimes)
    auto run_tool = [&](const std::string& name, const std::string& arguments) {
        auto it = builtin_tools().find(name);
        if (it == builtin_tools().end()) {
            if (custom_tools.contains(name)) {
                return std::pair<bool, std::string>(
                    false, fmt::format("Tool '{}' is a custom Python tool; this server cannot run "
                                       "custom tools yet (no sandbox)",
                                       name));
            }
            return std::pair<bool, std::string>(
                false, fmt::format("Tool '{}' is not available to this agent", name));
        }
        boost::system::error_code pec;
        json::value args = json::parse(arguments.empty() ? "{}" : arguments, pec);
        if (pec || !args.is_object()) {
            return std::pair<bool, std::string>(
                false, fmt::format("Invalid JSON arguments for tool '{}': {}", name, arguments));
        }
        ToolEnv env;
        env.memory = &memory_;
        env.history = [this, &conversation] { return conversation_history(conversation); };
        const Instant started = shared_->executor.now();
        Result<std::string> result = it->second.run(args.as_object(), env);
        tool_work += shared_->executor.now() - started;
        (void)persist_blocks(context, env.changed);
        if (!result.ok()) {
            return std::pair<bool, std::string>(false, result.error().message);
        }
        return std::pair<bool, std::string>(true, truncate_result(*result, tool_return_chars_default));
    };

    if (progress == nullptr) {
        // A new run: apply the input.
        const json::array* input = arr(request, "messages");
        bool approval_input = false;
        if (input != nullptr) {
            for (const json::value& m : *input) {
                if (m.is_object() && str(m.as_object(), "kind") == "approval") {
                    approval_input = true;
                }
            }
        }
        if (pending_approval_.has_value() && !approval_input) {
            co_return refuse(ErrorCode::failed_precondition,
                             "Cannot send a new message: The agent is waiting for approval on a "
                             "tool call. Please approve or deny the pending request before "
                             "continuing.");
        }
        if (!pending_approval_.has_value() && approval_input) {
            co_return refuse(ErrorCode::failed_precondition,
                             "Cannot process approval: no tool call is waiting for approval "
                             "(invalid tool call ids)");
        }
        json::object new_run;
        new_run["id"] = run_id;
        new_run["agent_id"] = str(agent_, "id");
        new_run["status"] = "running";
        new_run["stop_reason"] = nullptr;
        new_run["background"] = flag(request, "background");
        new_run["conversation_id"] = conversation_value;
        new_run["created_at"] = str(request, "created_at");
        new_run["completed_at"] = nullptr;
        new_run["metadata"] = json::object();
        new_run["steps"] = json::array();
        new_run["usage"] = json::object{{"prompt_tokens", 0}, {"completion_tokens", 0}, {"total_tokens", 0}};
        // Every message of the run comes after this seq: GET /v1/runs/{id}/messages reads from it.
        new_run["first_seq"] = next_seq_;
        KELPIE_CO_TRY(context.put(records::agent_run_key(str(agent_, "id"), num(request, "created_us"),
                                                         run_id),
                                  ""));
        runs_[run_id] = new_run;
        progress = &runs_[run_id].as_object();
        for (const json::value& v : *input) {
            const json::object& m = v.as_object();
            const std::string kind = str(m, "kind");
            if (kind == "approval") {
                json::object approval;
                approval["role"] = "approval";
                approval["approvals"] = m.contains("approvals") ? m.at("approvals") : json::array();
                approval["otid"] = or_null(m, "otid");
                approval["run_id"] = run_id;
                approval["conversation_id"] = conversation_value;
                append(context, std::move(approval));
                // Every call that waited gets its return: the client's, or the tool's own run
                // when approved, or a denial.
                const json::array* calls = arr(*pending_approval_, "tool_calls");
                const json::array* given = arr(m, "approvals");
                if (calls != nullptr) {
                    for (const json::value& cv : *calls) {
                        const json::object& call = cv.as_object();
                        const std::string call_id = str(call, "id");
                        const json::object* answer = nullptr;
                        if (given != nullptr) {
                            for (const json::value& g : *given) {
                                if (g.is_object() && str(g.as_object(), "tool_call_id") == call_id) {
                                    answer = &g.as_object();
                                }
                            }
                        }
                        std::pair<bool, std::string> outcome;
                        if (answer == nullptr) {
                            outcome = {false, "Error: no approval or result was given for this tool call"};
                        } else if (str(*answer, "type") == "tool") {
                            const json::value* ret = answer->if_contains("tool_return");
                            outcome = {str(*answer, "status", "success") == "success",
                                       ret == nullptr ? std::string() : records::content_text(*ret)};
                        } else if (flag(*answer, "approve")) {
                            outcome = run_tool(str(call, "name"), str(call, "arguments"));
                        } else {
                            outcome = {false, fmt::format("Error: request to call tool denied. User reason: {}",
                                                          str(*answer, "reason", ""))};
                        }
                        json::object& stored = append(
                            context, make_tool_message(call_id, str(call, "name"), outcome.first,
                                                       outcome.second, ""));
                        publish_rendered(run_id, stored);
                    }
                }
                // The request is answered: mark the stored request so it reaches the model.
                for (size_t i = history_.size(); i-- > 0;) {
                    if (str(history_[i], "id") == str(*pending_approval_, "message_id")) {
                        history_[i].erase("unanswered");
                        prompt_forms_[i].shown = shown_to_model(history_[i]);
                        if (i < prompt_upto_) {
                            prompt_.reset();  // it left the request out: build the view again
                        }
                        (void)stage(context, history_[i]);
                        break;
                    }
                }
                pending_approval_.reset();
                continue;
            }
            json::object message;
            message["role"] = kind;
            message["content"] = m.contains("content") ? m.at("content") : json::value("");
            message["otid"] = or_null(m, "otid");
            message["run_id"] = run_id;
            message["conversation_id"] = conversation_value;
            append(context, std::move(message));
        }
    }

    // Steps.
    llm::Provider* provider = nullptr;
    std::string model_name;
    {
        Result<llm::ModelHandle> handle =
            llm::parse_model_handle(effective_model(agent_, shared_->options));
        if (handle.ok()) {
            model_name = handle->model;
            Result<llm::Provider*> p = shared_->providers.resolve(*handle);
            if (p.ok()) {
                provider = *p;
            }
        }
    }
    std::string stop = "end_turn";
    json::object error_detail;
    for (int64_t step = static_cast<int64_t>(arr(*progress, "steps")->size());; step++) {
        const Instant step_start = shared_->executor.now();
        tool_work = Duration::zero();
        if (shared_->cancel_requested.contains(run_id)) {
            stop = "cancelled";
            break;
        }
        if (step >= max_steps) {
            stop = "max_steps";
            break;
        }
        if (provider == nullptr) {
            stop = "llm_api_error";
            error_detail["error_type"] = "llm_error";
            error_detail["message"] = "No LLM provider is configured for this agent's model";
            error_detail["detail"] = fmt::format(
                "model '{}': configured providers are [{}]", effective_model(agent_, shared_->options),
                fmt::join(shared_->providers.names(), ", "));
            break;
        }
        KELPIE_CO_TRY(refresh_system_message(context, conversation));
        llm::ChatRequest chat;
        chat.model = model_name;
        chat.timeout = shared_->options.llm_timeout;
        chat.system = str(history_.front(), "content");
        chat.messages = prompt_messages(conversation);
        std::set<std::string> offered;
        if (const json::array* names = arr(agent_, "tool_names")) {
            for (const json::value& n : *names) {
                auto it = n.is_string() ? builtin_tools().find(std::string_view(n.as_string()))
                                        : builtin_tools().end();
                if (it != builtin_tools().end() && !client_tool_names.contains(it->first)) {
                    chat.tools.push_back(tool_schema(it->second, memgpt));
                    offered.insert(it->first);
                }
            }
        }
        for (const auto& [name, tool] : custom_tools) {
            if (client_tool_names.contains(name)) {
                continue;
            }
            const json::object* schema = obj(tool, "json_schema");
            llm::ToolSchema custom;
            custom.name = name;
            custom.description = str(tool, "description");
            const json::value* parameters = schema == nullptr ? nullptr : schema->if_contains("parameters");
            custom.parameters_json = (parameters != nullptr && parameters->is_object())
                                         ? json::serialize(*parameters)
                                         : std::string(R"({"type":"object","properties":{}})");
            chat.tools.push_back(std::move(custom));
            offered.insert(name);
        }
        if (const json::array* tools = arr(request, "client_tools")) {
            for (const json::value& t : *tools) {
                if (t.is_object()) {
                    chat.tools.push_back(client_tool_schema(t.as_object(), false));
                }
            }
        }
        chat.tool_choice = chat.tools.empty() ? llm::ToolChoice::none : llm::ToolChoice::automatic;
        const std::string step_id = records::new_id(shared_->executor.random(), "step");
        const std::string message_id = records::new_id(shared_->executor.random(), "message");
        // Token streaming: deltas go out as they arrive, with the id the stored message will have.
        llm::DeltaSink sink;
        auto stream_it = shared_->streams.find(run_id);
        if (stream_it != shared_->streams.end() && stream_it->second->tokens()) {
            const std::string date = records::iso_time(shared_->executor.wall_now());
            std::string uuid = message_id.substr(message_id.find('-') + 1);
            auto call_names = std::make_shared<std::map<size_t, std::string>>();
            auto call_ids = std::make_shared<std::map<size_t, std::string>>();
            // otid slots in order of first appearance, as the stored message renders them
            // (reasoning, then text, then the tool call).
            auto slots = std::make_shared<std::map<int, char>>();
            sink = [this, run_id, message_id, step_id, date, uuid, client_tool_names,
                    approval_tools = approval_tools_all, call_names, call_ids, slots](const llm::ChatDelta& d) {
                if (d.kind != llm::ChatDelta::Kind::tool_call && d.text.empty()) {
                    return;
                }
                const int kind = static_cast<int>(d.kind);
                if (!slots->contains(kind)) {
                    const char next = static_cast<char>('0' + slots->size());
                    (*slots)[kind] = next;
                }
                json::object m;
                m["id"] = message_id;
                m["date"] = date;
                m["run_id"] = run_id;
                m["step_id"] = step_id;
                std::string otid = uuid;
                otid.back() = (*slots)[kind];
                if (d.kind == llm::ChatDelta::Kind::reasoning) {
                    m["message_type"] = "reasoning_message";
                    m["reasoning"] = d.text;
                    m["source"] = "reasoner_model";
                } else if (d.kind == llm::ChatDelta::Kind::content) {
                    m["message_type"] = "assistant_message";
                    m["content"] = d.text;
                } else {
                    // Every delta names its call (id and tool), as Letta's do: clients merge
                    // the argument pieces by tool_call_id.
                    if (!d.tool_name.empty()) {
                        (*call_names)[d.tool_index] = d.tool_name;
                    }
                    if (!d.tool_id.empty()) {
                        (*call_ids)[d.tool_index] = d.tool_id;
                    }
                    const std::string& name = (*call_names)[d.tool_index];
                    const std::string& call_id = (*call_ids)[d.tool_index];
                    const bool approval = client_tool_names.contains(name) ||
                                          approval_tools.contains(name);
                    m["message_type"] = approval ? "approval_request_message" : "tool_call_message";
                    json::object delta;
                    if (!name.empty()) {
                        delta["name"] = name;
                    }
                    if (!call_id.empty()) {
                        delta["tool_call_id"] = call_id;
                    }
                    delta["arguments"] = d.arguments;
                    m["tool_call"] = delta;
                    m["tool_calls"] = json::array{delta};
                }
                m["otid"] = otid;
                publish(run_id, m);
            };
        }
        shared_->counters.llm_calls++;
        const Duration before_call = shared_->executor.now() - step_start;
        Result<llm::ChatResponse> answer = co_await provider->complete(std::move(chat), sink);
        const Instant answered = shared_->executor.now();
        if (!answer.ok()) {
            stop = "llm_api_error";
            error_detail["error_type"] = llm::error_type_name(llm::error_type(answer.error()));
            error_detail["message"] = "An error occurred with the LLM request.";
            error_detail["detail"] = answer.error().to_string();
            break;
        }
        shared_->counters.steps++;
        json::object step_record;
        step_record["id"] = step_id;
        step_record["prompt_tokens"] = answer->usage.prompt_tokens;
        step_record["completion_tokens"] = answer->usage.completion_tokens;
        step_record["total_tokens"] = answer->usage.total_tokens;
        step_record["model"] = model_name;
        (*progress)["steps"].as_array().push_back(step_record);
        json::object& usage = (*progress)["usage"].as_object();
        usage["prompt_tokens"] = num(usage, "prompt_tokens") + answer->usage.prompt_tokens;
        usage["completion_tokens"] = num(usage, "completion_tokens") + answer->usage.completion_tokens;
        usage["total_tokens"] = num(usage, "total_tokens") + answer->usage.total_tokens;

        json::object assistant;
        assistant["id"] = message_id;
        assistant["role"] = "assistant";
        assistant["content"] = answer->content;
        if (!answer->reasoning.empty()) {
            assistant["reasoning"] = answer->reasoning;
        }
        assistant["run_id"] = run_id;
        assistant["step_id"] = step_id;
        assistant["conversation_id"] = conversation_value;
        json::array calls;
        bool needs_approval = false;
        for (const llm::ToolCall& c : answer->tool_calls) {
            json::object call;
            call["id"] = c.id.empty() ? records::new_id(shared_->executor.random(), "call") : c.id;
            call["name"] = c.name;
            call["arguments"] = c.arguments;
            calls.push_back(std::move(call));
            needs_approval = needs_approval || client_tool_names.contains(c.name) ||
                             approval_tools_all.contains(c.name);
        }
        const bool tokens_streamed = static_cast<bool>(sink);
        if (calls.empty()) {
            json::object& stored = append(context, std::move(assistant));
            if (!tokens_streamed) {
                publish_rendered(run_id, stored);
            }
            stop = answer->finish == llm::FinishReason::length ? "max_tokens_exceeded" : "end_turn";
            break;
        }
        assistant["tool_calls"] = calls;
        if (needs_approval) {
            assistant["approval_request"] = true;
            assistant["unanswered"] = true;
            json::object& stored = append(context, std::move(assistant));
            if (!tokens_streamed) {
                publish_rendered(run_id, stored);
            }
            json::object pending;
            pending["message_id"] = stored["id"];
            pending["run_id"] = run_id;
            pending["tool_calls"] = calls;
            pending_approval_ = std::move(pending);
            stop = "requires_approval";
            break;
        }
        json::object& stored_call = append(context, std::move(assistant));
        if (!tokens_streamed) {
            publish_rendered(run_id, stored_call);
        }
        if (shared_->options.bugs.call_without_return) {
            KELPIE_CO_TRY(co_await context.commit());  // BUG (switch): the call without its return
        }
        bool continue_loop = !memgpt;
        bool rule_stop = false;  // an exit_loop tool rule
        bool sent = false;       // memgpt: send_message ends the turn
        for (const json::value& cv : calls) {
            const json::object& call = cv.as_object();
            const std::string name = str(call, "name");
            std::pair<bool, std::string> outcome;
            if (!offered.contains(name)) {
                outcome = {false, fmt::format("Tool '{}' does not exist or is not attached to this agent", name)};
            } else {
                outcome = run_tool(name, str(call, "arguments"));
            }
            json::object& stored = append(
                context, make_tool_message(str(call, "id"), name, outcome.first, outcome.second, step_id));
            publish_rendered(run_id, stored);
            if (memgpt) {
                boost::system::error_code aec;
                json::value args = json::parse(str(call, "arguments"), aec);
                const bool heartbeat = !aec && args.is_object() && flag(args.as_object(), "request_heartbeat");
                continue_loop = continue_loop || heartbeat || !outcome.first;
                sent = sent || (name == "send_message" && outcome.first);
            }
            rule_stop = rule_stop || terminal_tools.contains(name);
        }
        if (rule_stop) {
            stop = "tool_rule";
            break;
        }
        if (sent) {
            stop = "end_turn";
            break;
        }
        if (!continue_loop) {
            stop = "end_turn";
            break;
        }
        if (memgpt) {
            json::object heartbeat;
            heartbeat["role"] = "user";
            heartbeat["heartbeat"] = true;
            heartbeat["content"] = fmt::format(
                R"({{"type": "heartbeat", "reason": "[This is an automated system message hidden from the user] Function called using request_heartbeat=true, returning control", "time": "{}"}})",
                records::iso_time(shared_->executor.wall_now()));
            heartbeat["run_id"] = run_id;
            heartbeat["conversation_id"] = conversation_value;
            append(context, std::move(heartbeat));
        }
        // The step is complete: make it durable before the next model call.
        KELPIE_CO_TRY(write_run(context, *progress));
        const Instant committing = shared_->executor.now();
        KELPIE_CO_TRY(co_await context.commit());
        if (shared_->options.on_step_timed) {
            shared_->options.on_step_timed(StepTimes{.prepare = before_call,
                                                     .finish = committing - answered,
                                                     .commit = shared_->executor.now() - committing,
                                                     .tools = tool_work});
        }
    }

    // The run ends.
    run = *progress;
    run["status"] = run_status_for(stop);
    run["stop_reason"] = stop;
    run["completed_at"] = records::iso_time(shared_->executor.wall_now());
    if (!error_detail.empty()) {
        run["error"] = error_detail;
    }
    agent_["last_stop_reason"] = stop;
    agent_["last_run_completion"] = run["completed_at"];
    runs_.erase(run_id);
    KELPIE_CO_TRY(write_run(context, run));
    if (stop != "requires_approval") {
        KELPIE_CO_TRY(refresh_system_message(context, conversation));
    }

    json::object result;
    json::array messages;
    // The run's messages are the newest ones (an agent runs one turn at a time).
    auto first = history_.end();
    while (first != history_.begin() && records::view(*(first - 1), "run_id") == run_id) {
        --first;
    }
    for (auto it = first; it != history_.end(); ++it) {
        const std::string role = str(*it, "role");
        if (role != "user" && role != "approval" && role != "system") {
            for (json::value& r : records::render_message(*it, memgpt)) {
                messages.push_back(std::move(r));
            }
        }
    }
    result["messages"] = std::move(messages);
    result["stop_reason"] = stop_reason_json(stop);
    json::object usage_json;
    usage_json["message_type"] = "usage_statistics";
    usage_json["completion_tokens"] = num(*obj(run, "usage"), "completion_tokens");
    usage_json["prompt_tokens"] = num(*obj(run, "usage"), "prompt_tokens");
    usage_json["total_tokens"] = num(*obj(run, "usage"), "total_tokens");
    usage_json["step_count"] = static_cast<int64_t>(arr(run, "steps")->size());
    usage_json["run_ids"] = json::array{json::string(run_id)};
    usage_json["cached_input_tokens"] = 0;
    usage_json["cache_write_tokens"] = 0;
    usage_json["reasoning_tokens"] = 0;
    result["usage"] = std::move(usage_json);
    if (!error_detail.empty()) {
        json::object error = error_detail;
        error["message_type"] = "error_message";
        error["run_id"] = run_id;
        result["error"] = std::move(error);
    }
    result["logprobs"] = nullptr;
    result["turns"] = nullptr;
    std::string text = json::serialize(result);
    while (text.size() > response_bytes_max && !result["messages"].as_array().empty()) {
        // The history keeps everything; the stored answer keeps the newest messages that fit.
        json::array& m = result["messages"].as_array();
        m.erase(m.begin());
        text = json::serialize(result);
    }
    co_return text;
}

}  // namespace kelpie::agent::loop
