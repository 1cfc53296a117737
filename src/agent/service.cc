// The agent service: validates Letta request bodies, reads committed records for GETs, and sends
// every change of an agent to its actor (loop/agent_actor.h).

#include <algorithm>
#include <deque>
#include <unordered_map>

#include <fmt/format.h>

#include "agent/agent.h"
#include "agent/loop/agent_actor.h"
#include "agent/loop/tools.h"
#include "agent/model/records.h"
#include "tools/tools.h"

namespace kelpie::agent {

using records::arr;
using records::flag;
using records::num;
using records::obj;
using records::str;

// Query ------------------------------------------------------------------------------------------

void Query::add(std::string name, std::string value) {
    params_.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string> Query::get(std::string_view name) const {
    for (const auto& [n, v] : params_) {
        if (n == name) {
            return v;
        }
    }
    return std::nullopt;
}

std::vector<std::string> Query::get_all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : params_) {
        // qs sends arrays as repeats ("tags=a&tags=b"); some clients add brackets ("tags[]=a").
        if (n == name || (n.size() == name.size() + 2 && n.starts_with(name) && n.ends_with("[]"))) {
            out.push_back(v);
        }
    }
    return out;
}

bool valid_id(std::string_view id, std::string_view prefix) {
    if (id.size() != prefix.size() + 1 + 36 || !id.starts_with(prefix) || id[prefix.size()] != '-') {
        return false;
    }
    const std::string_view uuid = id.substr(prefix.size() + 1);
    for (size_t i = 0; i < uuid.size(); i++) {
        const char c = uuid[i];
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

std::optional<StoredMessage> decode_stored_message(std::string_view key, std::string_view value) {
    std::optional<std::pair<std::string, int64_t>> parts = records::message_key_parts(key);
    if (!parts.has_value()) {
        return std::nullopt;
    }
    Result<json::object> m = records::parse_record(value, "message");
    if (!m.ok()) {
        return std::nullopt;
    }
    return StoredMessage{parts->first, parts->second, std::move(*m)};
}

namespace {

Error invalid(std::string detail) { return Error(ErrorCode::invalid_argument, std::move(detail)); }
Error not_found(std::string detail) { return Error(ErrorCode::not_found, std::move(detail)); }

Status check_id(std::string_view id, std::string_view prefix, std::string_view what) {
    if (!valid_id(id, prefix)) {
        return invalid(fmt::format("{} id '{}' is not a valid id: expected '{}-<uuid4>'", what,
                                   id.substr(0, 100), prefix));
    }
    return {};
}

// A body must be a JSON object (null counts as empty).
Result<json::object> body_object(const json::value& body) {
    if (body.is_null()) {
        return json::object();
    }
    if (!body.is_object()) {
        return invalid("the request body must be a JSON object");
    }
    return body.as_object();
}

// Optional typed fields: absent or null is fine; another type is a 422 naming the field.
Status want_string(const json::object& o, std::string_view key, size_t bytes_max) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) {
        return {};
    }
    if (!v->is_string()) {
        return invalid(fmt::format("'{}' must be a string", key));
    }
    if (v->as_string().size() > bytes_max) {
        return Error(ErrorCode::limit_exceeded,
                     fmt::format("'{}' is longer than {} bytes", key, bytes_max));
    }
    return {};
}
Status want_type(const json::object& o, std::string_view key, json::kind kind, std::string_view name) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) {
        return {};
    }
    const bool integer_ok = kind == json::kind::int64 && v->is_uint64();
    if (v->kind() != kind && !integer_ok) {
        return invalid(fmt::format("'{}' must be {}", key, name));
    }
    return {};
}
Status want_string_array(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) {
        return {};
    }
    if (!v->is_array()) {
        return invalid(fmt::format("'{}' must be an array of strings", key));
    }
    for (const json::value& e : v->as_array()) {
        if (!e.is_string()) {
            return invalid(fmt::format("'{}' must be an array of strings", key));
        }
    }
    return {};
}

std::vector<std::string> strings(const json::object& o, std::string_view key) {
    std::vector<std::string> out;
    if (const json::array* a = arr(o, key)) {
        for (const json::value& v : *a) {
            if (v.is_string()) {
                out.emplace_back(v.as_string());
            }
        }
    }
    return out;
}

const std::set<std::string, std::less<>>& agent_types() {
    static const std::set<std::string, std::less<>> types = {
        "letta_v1_agent", "memgpt_agent",      "memgpt_v2_agent",       "react_agent",
        "workflow_agent", "split_thread_agent", "sleeptime_agent",      "voice_convo_agent",
        "voice_sleeptime_agent"};
    return types;
}

std::string default_block_description(std::string_view label) {
    if (label == "human") {
        return "The human block: Stores key details about the person you are conversing with, "
               "allowing for more personalized and friend-like conversation.";
    }
    if (label == "persona") {
        return "The persona block: Stores details about your current persona, guiding how you "
               "behave and respond. This helps you to maintain consistency and personality in "
               "your interactions.";
    }
    return "";
}

// Validates a block description from a request and makes the stored Block JSON.
Result<json::object> make_block(const json::object& in, io::Random& random, const std::string& now,
                                bool require_value) {
    KELPIE_TRY(want_string(in, "label", block_label_bytes_max));
    KELPIE_TRY(want_string(in, "value", static_cast<size_t>(block_chars_limit_max) * 4));
    KELPIE_TRY(want_string(in, "description", system_prompt_bytes_max));
    KELPIE_TRY(want_type(in, "limit", json::kind::int64, "an integer"));
    KELPIE_TRY(want_type(in, "read_only", json::kind::bool_, "a boolean"));
    KELPIE_TRY(want_type(in, "metadata", json::kind::object, "an object"));
    KELPIE_TRY(want_string_array(in, "tags"));
    const std::string label = str(in, "label");
    if (label.empty()) {
        return invalid("a block needs a non-empty 'label'");
    }
    if (require_value && !in.contains("value")) {
        return invalid("a block needs a 'value'");
    }
    const int64_t limit = num(in, "limit", block_chars_limit_default);
    if (limit <= 0 || limit > block_chars_limit_max) {
        return invalid(fmt::format("block 'limit' must be 1..{}", block_chars_limit_max));
    }
    const std::string value = str(in, "value");
    if (static_cast<int64_t>(loop::utf8_chars(value)) > limit) {
        return invalid(fmt::format(
            "Edit failed: Exceeds {} character limit (requested {}) for block '{}'", limit,
            loop::utf8_chars(value), label));
    }
    json::object b;
    b["id"] = records::new_id(random, "block");
    b["label"] = label;
    b["value"] = value;
    b["limit"] = limit;
    const std::string description = str(in, "description");
    b["description"] = description.empty() ? default_block_description(label) : description;
    b["read_only"] = flag(in, "read_only");
    b["metadata"] = obj(in, "metadata") ? json::value(*obj(in, "metadata")) : json::value(json::object());
    b["tags"] = arr(in, "tags") ? json::value(*arr(in, "tags")) : json::value(json::array());
    b["hidden"] = in.contains("hidden") ? in.at("hidden") : json::value(nullptr);
    b["is_template"] = flag(in, "is_template");
    b["template_name"] = nullptr;
    b["template_id"] = nullptr;
    b["base_template_id"] = nullptr;
    b["deployment_id"] = nullptr;
    b["entity_id"] = nullptr;
    b["preserve_on_migration"] = false;
    b["project_id"] = nullptr;
    b["created_by_id"] = nullptr;
    b["last_updated_by_id"] = nullptr;
    b["created_at"] = now;
    b["updated_at"] = now;
    return b;
}

// Ordering and cursors of id-paged lists (agents, blocks, runs, conversations): `items` oldest
// first; `after`/`before` are relative to the requested order; an unknown cursor is ignored.
Result<json::array> page(std::vector<json::object> items, const Query& q, size_t limit_default) {
    const std::string order = q.get("order").value_or("desc");
    if (order != "asc" && order != "desc") {
        return invalid("'order' must be 'asc' or 'desc'");
    }
    size_t limit = limit_default;
    if (std::optional<std::string> l = q.get("limit")) {
        char* end = nullptr;
        const long long v = std::strtoll(l->c_str(), &end, 10);
        if (l->empty() || *end != '\0' || v < 1) {
            return invalid("'limit' must be a positive integer");
        }
        limit = std::min<size_t>(static_cast<size_t>(v), list_limit_max);
    }
    if (order == "desc") {
        std::reverse(items.begin(), items.end());
    }
    auto find = [&](const std::string& id) {
        return std::find_if(items.begin(), items.end(),
                            [&](const json::object& o) { return str(o, "id") == id; });
    };
    size_t begin = 0;
    size_t end = items.size();
    if (std::optional<std::string> after = q.get("after")) {
        auto it = find(*after);
        if (it != items.end()) {
            begin = static_cast<size_t>(it - items.begin()) + 1;
        }
    }
    if (std::optional<std::string> before = q.get("before")) {
        auto it = find(*before);
        if (it != items.end()) {
            end = static_cast<size_t>(it - items.begin());
        }
    }
    json::array out;
    if (begin >= end) {
        return out;
    }
    if (q.get("before").has_value() && !q.get("after").has_value() && end - begin > limit) {
        begin = end - limit;  // paging backwards: the items right before the cursor
    }
    for (size_t i = begin; i < end && out.size() < limit; i++) {
        out.push_back(std::move(items[i]));
    }
    return out;
}

bool by_created(const json::object& a, const json::object& b) {
    const std::string ca = str(a, "created_at");
    const std::string cb = str(b, "created_at");
    return ca != cb ? ca < cb : str(a, "id") < str(b, "id");
}

}  // namespace

// Impl -------------------------------------------------------------------------------------------

struct AgentService::Impl {
    Impl(io::Executor& e, store::Store& s, actor::Runtime& r, llm::Providers& p, ServiceOptions o)
        : executor(e), store(s), runtime(r), shared(std::make_shared<loop::Shared>(e, s, p, std::move(o))) {}

    io::Executor& executor;
    store::Store& store;
    actor::Runtime& runtime;
    std::shared_ptr<loop::Shared> shared;
    // retrieve_agent_text's renderings, by agent id: (store revision when rendered, the JSON).
    std::unordered_map<std::string, std::pair<store::Revision, std::string>> renderings;
    // Recorded streams of background runs started here, by run id: those running, and the last
    // recorded_runs_max finished; `recorded_order` has their run ids as started, oldest first.
    std::unordered_map<std::string, std::shared_ptr<RunStream>> recorded;
    std::deque<std::string> recorded_order;

    std::string now() const { return records::iso_time(executor.wall_now()); }

    io::Task<Result<json::object>> invoke(std::string agent_id, std::string method, json::object arg,
                                          std::string key) {
        // A turn that failed with `conflict` (a block it rewrites changed under it: ADR 0008)
        // took no effect, or — a send, which commits step by step — is journaled and has no
        // outcome yet: invoking it again runs it on a fresh activation (a send once, by its key).
        const bool rerun_safe = !key.empty() || method != "send";
        const actor::ActorId id{std::string(agent_actor_type), std::move(agent_id)};
        const actor::Invocation call(std::move(method), json::serialize(arg));
        for (uint32_t attempt = 0;; attempt++) {
            Result<std::string> result = co_await runtime.invoke(id, call, actor::InvokeOptions(key));
            if (!result.ok() && result.code() == ErrorCode::conflict && rerun_safe &&
                attempt < conflicted_turn_reruns_max) {
                continue;
            }
            KELPIE_CO_TRY_ASSIGN(std::string answer, std::move(result));
            co_return records::parse_record(answer, "agent call result");
        }
    }

    // The committed actor state of an agent; not_found when it does not exist (or was deleted).
    io::Task<Result<json::object>> state(std::string agent_id) {
        KELPIE_CO_TRY(check_id(agent_id, "agent", "agent"));
        actor::ActorId id{std::string(agent_actor_type), agent_id};
        KELPIE_CO_TRY_ASSIGN(std::optional<std::string> bytes,
                             co_await actor::read_committed_state(store, std::move(id)));
        if (!bytes.has_value() || bytes->empty()) {
            co_return not_found(fmt::format("Agent {} not found", agent_id));
        }
        KELPIE_CO_TRY_ASSIGN(json::object s, records::parse_record(*bytes, "agent state"));
        if (flag(s, "deleted") || obj(s, "agent") == nullptr) {
            co_return not_found(fmt::format("Agent {} not found", agent_id));
        }
        co_return s;
    }

    io::Task<Result<std::vector<json::object>>> blocks(std::vector<std::string> ids) {
        std::vector<json::object> out;
        auto t = store.begin();
        for (const std::string& id : ids) {
            KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> kv,
                                 co_await t->get(records::block_key(id)));
            if (kv.has_value()) {
                KELPIE_CO_TRY_ASSIGN(json::object b, records::parse_record(kv->value, "block"));
                out.push_back(std::move(b));
            }
        }
        co_return out;
    }

    io::Task<Result<json::object>> agent_state_json(std::string agent_id) {
        KELPIE_CO_TRY_ASSIGN(json::object s, co_await state(agent_id));
        const json::object& agent = s.at("agent").as_object();
        KELPIE_CO_TRY_ASSIGN(std::vector<json::object> b, co_await blocks(strings(agent, "block_ids")));
        json::object rendered = loop::render_agent(agent, b, obj(s, "pending_approval"));
        // Custom tools: rendered from their records.
        for (const std::string& name : strings(agent, "tool_names")) {
            if (loop::builtin_tools().contains(name)) {
                continue;
            }
            KELPIE_CO_TRY_ASSIGN(std::optional<json::object> index, co_await read(records::tool_name_key(name), "tool index"));
            if (!index.has_value()) {
                continue;  // deleted since it was attached
            }
            KELPIE_CO_TRY_ASSIGN(std::optional<json::object> tool, co_await read(records::tool_key(str(*index, "id")), "tool"));
            if (tool.has_value()) {
                rendered["tools"].as_array().push_back(std::move(*tool));
            }
        }
        co_return rendered;
    }

    io::Task<Result<std::optional<json::object>>> read(std::string key, std::string what) {
        auto t = store.begin();
        KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> kv, co_await t->get(key));
        if (!kv.has_value()) {
            co_return std::optional<json::object>();
        }
        KELPIE_CO_TRY_ASSIGN(json::object o, records::parse_record(kv->value, what));
        co_return std::optional<json::object>(std::move(o));
    }

    io::Task<Status> write(std::string key, std::string value) {
        store::TransactionBody<store::Revision> body =
            [key, value](store::Transaction& t) -> io::Task<Result<store::Revision>> {
                KELPIE_CO_TRY(t.set(key, value));
                co_return co_await t.commit();
            };
        KELPIE_CO_TRY(co_await store::run_transaction(executor, store, body));
        co_return ok_status();
    }

    // Writes `record` at `key` (and an empty `index` key, if any) unless `key` exists; returns
    // what is stored at `key` then — a create that takes effect once per id.
    io::Task<Result<json::object>> create_once(std::string key, std::string index, json::object record) {
        const std::string value = json::serialize(record);
        store::TransactionBody<std::string> body =
            [key, index, value](store::Transaction& t) -> io::Task<Result<std::string>> {
                KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> existing, co_await t.get(key));
                if (existing.has_value()) {
                    co_return existing->value;
                }
                KELPIE_CO_TRY(t.set(key, value));
                if (!index.empty()) {
                    KELPIE_CO_TRY(t.set(index, ""));
                }
                KELPIE_CO_TRY(co_await t.commit());
                co_return value;
            };
        const store::RetryOptions idempotent{.retry_unknown_result = true};
        KELPIE_CO_TRY_ASSIGN(std::string stored, co_await store::run_transaction(executor, store, body, idempotent));
        co_return records::parse_record(stored, "record");
    }

    // A change to the shared catalog (standalone blocks, custom tools) as one serializable
    // transaction: `body` reads what it changes and stages its writes in `t` and returns the
    // answer, so concurrent changes never lose one another's update. `request` (the operation,
    // its target and the Idempotency-Key; empty: none) makes the change take effect once: its
    // answer is stored in the same transaction, and a retry with the same key gets it back.
    using Change = std::function<io::Task<Result<json::value>>(store::Transaction&)>;
    io::Task<Result<json::value>> change(std::string request, Change body) {
        const int64_t now_ms = executor.wall_now().unix_ms();
        store::TransactionBody<std::string> txn =
            [request, body, now_ms](store::Transaction& t) -> io::Task<Result<std::string>> {
                if (!request.empty()) {
                    KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> stored,
                                         co_await t.get(records::answer_key(request)));
                    if (stored.has_value()) {
                        KELPIE_CO_TRY_ASSIGN(json::object a, records::parse_record(stored->value, "answer"));
                        co_return json::serialize(a["answer"]);
                    }
                }
                KELPIE_CO_TRY_ASSIGN(json::value answer, co_await body(t));
                if (!request.empty()) {
                    store::RangeOptions first{.limit = answers_collected_per_change};
                    KELPIE_CO_TRY_ASSIGN(store::RangeResult expired,
                                         co_await t.range(records::answer_gc_begin(),
                                                          records::answer_gc_end(now_ms + 1), first));
                    for (const store::KeyValue& kv : expired.pairs) {
                        KELPIE_CO_TRY_ASSIGN(std::string old, records::answer_gc_request(kv.key));
                        KELPIE_CO_TRY(t.clear(kv.key));
                        KELPIE_CO_TRY(t.clear(records::answer_key(old)));
                    }
                    const int64_t expires_ms = now_ms + catalog_answer_retention.to_ms();
                    json::object a{{"answer", answer}, {"expires_ms", expires_ms}};
                    KELPIE_CO_TRY(t.set(records::answer_key(request), json::serialize(a)));
                    KELPIE_CO_TRY(t.set(records::answer_gc_key(expires_ms, request), ""));
                }
                KELPIE_CO_TRY(co_await t.commit());
                co_return json::serialize(answer);
            };
        // With a key, a commit of unknown outcome can be retried: the retry finds the answer.
        const store::RetryOptions retry{.retry_unknown_result = !request.empty()};
        KELPIE_CO_TRY_ASSIGN(std::string answer, co_await store::run_transaction(executor, store, txn, retry));
        boost::system::error_code ec;
        json::value parsed = json::parse(answer, ec);
        if (ec) {
            co_return Error(ErrorCode::corruption, "stored answer is not JSON");
        }
        co_return parsed;
    }

    // Every key/value in [begin, end), page by page.
    io::Task<Result<std::vector<store::KeyValue>>> scan(std::string begin, std::string end) {
        std::vector<store::KeyValue> out;
        while (true) {
            auto t = store.begin();
            KELPIE_CO_TRY_ASSIGN(store::RangeResult r, co_await t->range(begin, end));
            for (store::KeyValue& kv : r.pairs) {
                out.push_back(std::move(kv));
            }
            if (!r.more || out.empty()) {
                break;
            }
            begin = out.back().key + '\x00';
        }
        co_return out;
    }

    // The agent's stored messages (from its context start), oldest first.
    io::Task<Result<std::vector<json::object>>> messages(std::string agent_id, int64_t from_seq) {
        KELPIE_CO_TRY_ASSIGN(std::vector<store::KeyValue> kvs,
                             co_await scan(records::messages_begin(agent_id, from_seq),
                                           records::messages_end(agent_id)));
        std::vector<json::object> out;
        for (const store::KeyValue& kv : kvs) {
            KELPIE_CO_TRY_ASSIGN(json::object m, records::parse_record(kv.value, "message"));
            out.push_back(std::move(m));
        }
        co_return out;
    }

    // The stored conversation record (its id checked); not_found if there is none.
    io::Task<Result<json::object>> conversation(std::string conversation_id) {
        KELPIE_CO_TRY(check_id(conversation_id, "conv", "conversation"));
        KELPIE_CO_TRY_ASSIGN(std::optional<json::object> c,
                             co_await read(records::conversation_key(conversation_id), "conversation"));
        if (!c.has_value()) {
            co_return not_found(fmt::format("Conversation {} not found", conversation_id));
        }
        co_return std::move(*c);
    }

    // Fills each conversation's `in_context_message_ids` (all of one agent's): the agent's system
    // message, then the conversation's messages in the agent's context, oldest first, at most
    // context_messages_max of them. letta-code looks for a pending approval in the last one.
    io::Task<Status> fill_in_context(std::string agent_id, std::vector<json::object*> conversations) {
        Result<json::object> s = co_await state(agent_id);
        if (!s.ok()) {
            co_return s.code() == ErrorCode::not_found ? ok_status() : Status(std::move(s).error());
        }
        const json::object& agent = s->at("agent").as_object();
        KELPIE_CO_TRY_ASSIGN(std::vector<json::object> stored, co_await messages(agent_id, num(*s, "context_start")));
        for (json::object* c : conversations) {
            std::vector<std::string> ids;
            for (const json::object& m : stored) {
                if (records::view(m, "role") != "system" && records::view(m, "conversation_id") == records::view(*c, "id")) {
                    ids.emplace_back(records::view(m, "id"));
                }
            }
            json::array out;
            if (const std::string system = str(agent, "system_message_id"); !system.empty()) {
                out.push_back(json::string(system));
            }
            const size_t first = ids.size() > context_messages_max ? ids.size() - context_messages_max : 0;
            for (size_t i = first; i < ids.size(); i++) {
                out.push_back(json::string(ids[i]));
            }
            (*c)["in_context_message_ids"] = std::move(out);
        }
        co_return ok_status();
    }
};

AgentService::AgentService(io::Executor& executor, store::Store& store, actor::Runtime& runtime,
                           llm::Providers& providers, ServiceOptions options)
    : impl_(std::make_unique<Impl>(executor, store, runtime, providers, std::move(options))) {}

AgentService::~AgentService() = default;

void AgentService::register_actor_types() {
    std::shared_ptr<loop::Shared> shared = impl_->shared;
    impl_->runtime.register_type(std::string(agent_actor_type), [shared] {
        return std::make_unique<loop::AgentActor>(shared);
    });
}

const AgentService::Counters& AgentService::counters() const { return impl_->shared->counters; }

std::shared_ptr<RunStream> AgentService::recorded_stream(const std::string& run_id) const {
    auto it = impl_->recorded.find(run_id);
    return it == impl_->recorded.end() ? nullptr : it->second;
}

std::shared_ptr<RunStream> AgentService::recorded_conversation_stream(
    const std::string& agent_id, const std::string& conversation_id, const std::string& otid) const {
    for (auto it = impl_->recorded_order.rbegin(); it != impl_->recorded_order.rend(); ++it) {
        auto found = impl_->recorded.find(*it);
        if (found == impl_->recorded.end()) {
            continue;
        }
        const RunStream& s = *found->second;
        const bool same = s.conversation_id == conversation_id &&
                          (!conversation_id.empty() || s.agent_id == agent_id);
        if (same && (otid.empty() || std::find(s.otids.begin(), s.otids.end(), otid) != s.otids.end())) {
            return found->second;
        }
    }
    return nullptr;
}

// RunStream -----------------------------------------------------------------------------------------

void RunStream::publish(json::object message) {
    message["seq_id"] = ++seq_;
    std::string text = json::serialize(message);
    if (record_ && !record_cut_) {
        if (record_bytes_ + text.size() > run_stream_recorded_bytes_max) {
            record_cut_ = true;  // what follows is live only
        } else {
            record_bytes_ += text.size();
            recorded_.push_back(text);
        }
    }
    for (auto& [channel, cut] : followers_) {
        if (!*cut && !channel->try_send(text).ok()) {
            *cut = true;
        }
    }
    if (!overflowed && !events.try_send(std::move(text)).ok()) {
        overflowed = true;
    }
}

void RunStream::finish(Result<json::object> outcome) {
    outcome_ = std::move(outcome);
    events.close();
    for (auto& follower : followers_) {
        follower.first->close();
    }
    followers_.clear();
}

Result<RunStream::Follower> RunStream::follow(int64_t after_seq_id) {
    if (!record_) {
        return Error(ErrorCode::failed_precondition,
                     "Run was not created in background mode, so it cannot be streamed again");
    }
    const int64_t after = std::max<int64_t>(after_seq_id, 0);
    if (record_cut_ && after < seq_) {
        return Error(ErrorCode::failed_precondition,
                     fmt::format("the run's stream outgrew what is recorded ({} bytes); events "
                                 "after seq_id {} are not kept: read the run's messages instead",
                                 run_stream_recorded_bytes_max, after));
    }
    Follower f;
    for (size_t i = static_cast<size_t>(after); i < recorded_.size(); i++) {
        f.replay.push_back(recorded_[i]);
    }
    if (!outcome_.has_value()) {
        f.live = std::make_shared<io::Channel<std::string>>(executor_, run_stream_events_max);
        f.overflowed = std::make_shared<bool>(false);
        followers_.emplace_back(f.live, f.overflowed);
    }
    return f;
}

// Agents -------------------------------------------------------------------------------------------

io::Task<Result<json::object>> AgentService::create_agent(json::value body_value,
                                                          std::string idempotency_key) {
    KELPIE_CO_TRY_ASSIGN(json::object body, body_object(body_value));
    KELPIE_CO_TRY(want_string(body, "name", name_bytes_max));
    KELPIE_CO_TRY(want_string(body, "description", system_prompt_bytes_max));
    KELPIE_CO_TRY(want_string(body, "system", system_prompt_bytes_max));
    KELPIE_CO_TRY(want_string(body, "agent_type", 64));
    KELPIE_CO_TRY(want_string(body, "model", name_bytes_max));
    KELPIE_CO_TRY(want_string(body, "embedding", name_bytes_max));
    KELPIE_CO_TRY(want_string_array(body, "tags"));
    KELPIE_CO_TRY(want_string_array(body, "tools"));
    KELPIE_CO_TRY(want_string_array(body, "tool_ids"));
    KELPIE_CO_TRY(want_string_array(body, "block_ids"));
    KELPIE_CO_TRY(want_type(body, "memory_blocks", json::kind::array, "an array of blocks"));
    KELPIE_CO_TRY(want_type(body, "tool_rules", json::kind::array, "an array of tool rules"));
    KELPIE_CO_TRY(want_type(body, "metadata", json::kind::object, "an object"));
    KELPIE_CO_TRY(want_type(body, "include_base_tools", json::kind::bool_, "a boolean"));
    KELPIE_CO_TRY(want_type(body, "context_window_limit", json::kind::int64, "an integer"));
    const std::string type = str(body, "agent_type", "letta_v1_agent");
    if (!agent_types().contains(type)) {
        co_return invalid(fmt::format("unknown agent_type '{}'", type));
    }
    Impl& m = *impl_;
    const WallTime wall = m.executor.wall_now();
    const std::string now = records::iso_time(wall);
    json::object agent;
    agent["id"] = idempotency_key.empty() ? records::new_id(m.executor.random(), "agent")
                                          : records::stable_id("agent", "create\n" + idempotency_key);
    const std::string name = str(body, "name");
    agent["name"] = name.empty() ? fmt::format("agent-{}", str(agent, "id").substr(6, 8)) : name;
    agent["description"] = body.contains("description") ? body.at("description") : json::value(nullptr);
    const std::string system = str(body, "system");
    agent["system"] = system.empty() ? loop::default_system_prompt(type) : system;
    agent["agent_type"] = type;
    agent["model"] = str(body, "model");
    agent["model_handle"] = loop::effective_model(agent, m.shared->options);
    const std::string embedding = str(body, "embedding");
    agent["embedding"] = embedding.empty() ? m.shared->options.default_embedding : embedding;
    agent["context_window"] = num(body, "context_window_limit", 128000);
    agent["tags"] = arr(body, "tags") ? json::value(*arr(body, "tags")) : json::value(json::array());
    agent["metadata"] = obj(body, "metadata") ? json::value(*obj(body, "metadata")) : json::value(nullptr);
    agent["tool_rules"] = arr(body, "tool_rules") ? json::value(*arr(body, "tool_rules")) : json::value(json::array());
    agent["created_at"] = now;
    agent["updated_at"] = now;
    agent["created_us"] = records::micros(wall);
    agent["timezone"] = body.contains("timezone") ? body.at("timezone") : json::value(nullptr);
    agent["message_buffer_autoclear"] = flag(body, "message_buffer_autoclear");
    agent["last_stop_reason"] = nullptr;
    agent["last_run_completion"] = nullptr;

    // Tools: the type's defaults, then the named ones; names the server does not know are ignored
    // (letta-code asks for web_search and fetch_webpage), as Letta does.
    std::vector<std::string> tool_names;
    auto add_tool = [&tool_names](const std::string& n) {
        if (loop::builtin_tools().contains(n) &&
            std::find(tool_names.begin(), tool_names.end(), n) == tool_names.end()) {
            tool_names.push_back(n);
        }
    };
    if (flag(body, "include_base_tools", true)) {
        for (const std::string& n : loop::default_tool_names(type)) {
            add_tool(n);
        }
    }
    for (const std::string& n : strings(body, "tools")) {
        if (loop::builtin_tools().contains(n)) {
            add_tool(n);
            continue;
        }
        // A custom tool by name; unknown names are ignored.
        KELPIE_CO_TRY_ASSIGN(std::optional<json::object> custom, co_await m.read(records::tool_name_key(n), "tool index"));
        if (custom.has_value() && std::find(tool_names.begin(), tool_names.end(), n) == tool_names.end()) {
            tool_names.push_back(n);
        }
    }
    for (const std::string& id : strings(body, "tool_ids")) {
        Result<json::object> tool = co_await retrieve_tool(id);
        if (tool.ok() && std::find(tool_names.begin(), tool_names.end(), str(*tool, "name")) == tool_names.end()) {
            tool_names.push_back(str(*tool, "name"));
        }
    }
    json::array names;
    for (const std::string& n : tool_names) {
        names.push_back(json::string(n));
    }
    agent["tool_names"] = std::move(names);

    // Blocks: new ones from memory_blocks, existing ones by id.
    json::array new_blocks;
    json::array block_ids;
    std::set<std::string> labels;
    if (const json::array* blocks = arr(body, "memory_blocks")) {
        if (blocks->size() > agent_blocks_max) {
            co_return Error(ErrorCode::limit_exceeded,
                            fmt::format("an agent has at most {} blocks", agent_blocks_max));
        }
        for (const json::value& b : *blocks) {
            if (!b.is_object()) {
                co_return invalid("'memory_blocks' must be an array of objects");
            }
            KELPIE_CO_TRY_ASSIGN(json::object block, make_block(b.as_object(), m.executor.random(), now, true));
            if (!labels.insert(str(block, "label")).second) {
                co_return invalid(fmt::format("duplicate block label '{}'", str(block, "label")));
            }
            block_ids.push_back(block["id"]);
            new_blocks.push_back(std::move(block));
        }
    }
    for (const std::string& id : strings(body, "block_ids")) {
        KELPIE_CO_TRY(check_id(id, "block", "block"));
        KELPIE_CO_TRY_ASSIGN(std::optional<json::object> block,
                             co_await m.read(records::block_key(id), "block"));
        if (!block.has_value()) {
            co_return not_found(fmt::format("Block {} not found", id));
        }
        if (!labels.insert(str(*block, "label")).second) {
            co_return invalid(fmt::format("duplicate block label '{}'", str(*block, "label")));
        }
        block_ids.push_back(json::string(id));
    }
    agent["block_ids"] = std::move(block_ids);

    json::object arg;
    arg["agent"] = agent;
    arg["new_blocks"] = std::move(new_blocks);
    const std::string id = str(agent, "id");
    std::string key;
    if (!idempotency_key.empty()) {
        key = "http:" + idempotency_key;
    }
    co_return co_await m.invoke(id, "create", std::move(arg), key);
}

io::Task<Result<json::object>> AgentService::retrieve_agent(std::string agent_id) {
    co_return co_await impl_->agent_state_json(std::move(agent_id));
}

io::Task<Result<std::string>> AgentService::retrieve_agent_text(std::string agent_id) {
    // Serialized renderings are kept per store revision: while nothing at all was committed since
    // an agent was rendered, the text is still exact (the revision is read before the records, so
    // a commit racing the reads only makes the entry stale, never wrong for a later revision).
    Impl& m = *impl_;
    KELPIE_CO_TRY_ASSIGN(store::Revision revision, co_await m.store.current_revision());
    auto cached = m.renderings.find(agent_id);
    if (cached != m.renderings.end() && cached->second.first == revision) {
        co_return cached->second.second;
    }
    KELPIE_CO_TRY_ASSIGN(json::object agent, co_await m.agent_state_json(agent_id));
    std::string text = json::serialize(agent);
    if (m.renderings.size() >= rendered_agents_max) {
        m.renderings.clear();
    }
    m.renderings[agent_id] = std::pair<store::Revision, std::string>(revision, text);
    co_return text;
}

io::Task<Result<json::array>> AgentService::list_agents(Query query) {
    Impl& m = *impl_;
    KELPIE_CO_TRY_ASSIGN(std::vector<store::KeyValue> index,
                         co_await m.scan(records::agent_index_begin(), records::agent_index_end()));
    const std::optional<std::string> name = query.get("name");
    const std::vector<std::string> tags = query.get_all("tags");
    const bool match_all = query.get("match_all_tags").value_or("false") == "true";
    const std::optional<std::string> text = query.get("query_text");
    const bool filtered = name.has_value() || !tags.empty() || text.has_value();
    // The page is chosen from ids alone (creation order): without a filter, from the index (so
    // `GET /v1/agents/?limit=1`, letta-code's first call, reads one agent, not every agent on the
    // server); with one, from each agent's settings (one read each). Only the page's agents are
    // rendered in full (their blocks and tools).
    std::vector<json::object> ids;
    for (const store::KeyValue& kv : index) {
        KELPIE_CO_TRY_ASSIGN(std::string id, records::agent_index_id(kv.key));
        if (filtered) {
            Result<json::object> s = co_await m.state(id);
            if (!s.ok()) {
                if (s.code() == ErrorCode::not_found) {
                    continue;  // deleted meanwhile
                }
                co_return std::move(s).error();
            }
            const json::object& agent = s->at("agent").as_object();
            if (name.has_value() && str(agent, "name") != *name) {
                continue;
            }
            if (text.has_value() && str(agent, "name").find(*text) == std::string::npos) {
                continue;
            }
            if (!tags.empty()) {
                const std::vector<std::string> have = strings(agent, "tags");
                size_t hits = 0;
                for (const std::string& t : tags) {
                    hits += std::find(have.begin(), have.end(), t) != have.end();
                }
                if (match_all ? hits != tags.size() : hits == 0) {
                    continue;
                }
            }
        }
        json::object entry;
        entry["id"] = std::move(id);
        ids.push_back(std::move(entry));
    }
    KELPIE_CO_TRY_ASSIGN(json::array window, page(std::move(ids), query, 50));
    json::array out;
    for (const json::value& entry : window) {
        Result<json::object> a = co_await m.agent_state_json(str(entry.as_object(), "id"));
        if (!a.ok() && a.code() != ErrorCode::not_found) {  // not_found: deleted meanwhile
            co_return std::move(a).error();
        }
        if (a.ok()) {
            out.push_back(std::move(*a));
        }
    }
    co_return out;
}

namespace {

std::string journal_key(const std::string& idempotency_key) {
    return idempotency_key.empty() ? std::string() : "http:" + idempotency_key;
}

// Names a catalog change made with an Idempotency-Key (Impl::change); empty without one.
std::string request_key(std::string_view operation, std::string_view target,
                        const std::string& idempotency_key) {
    return idempotency_key.empty() ? std::string()
                                   : fmt::format("{}\n{}\n{}", operation, target, idempotency_key);
}

}  // namespace

io::Task<Result<json::object>> AgentService::update_agent(std::string agent_id, json::value body_value,
                                                          std::string idempotency_key) {
    KELPIE_CO_TRY_ASSIGN(json::object body, body_object(body_value));
    KELPIE_CO_TRY(want_string(body, "name", name_bytes_max));
    KELPIE_CO_TRY(want_string(body, "description", system_prompt_bytes_max));
    KELPIE_CO_TRY(want_string(body, "system", system_prompt_bytes_max));
    KELPIE_CO_TRY(want_string(body, "model", name_bytes_max));
    KELPIE_CO_TRY(want_string_array(body, "tags"));
    KELPIE_CO_TRY(want_type(body, "tool_rules", json::kind::array, "an array of tool rules"));
    KELPIE_CO_TRY(want_type(body, "metadata", json::kind::object, "an object"));
    KELPIE_CO_TRY(co_await impl_->state(agent_id));
    co_return co_await impl_->invoke(agent_id, "update", std::move(body), journal_key(idempotency_key));
}

io::Task<Status> AgentService::delete_agent(std::string agent_id, std::string idempotency_key) {
    if (idempotency_key.empty()) {
        KELPIE_CO_TRY(co_await impl_->state(agent_id));
    } else {
        // No check before the journal: a retry after the delete took effect gets its answer.
        KELPIE_CO_TRY(check_id(agent_id, "agent", "agent"));
    }
    KELPIE_CO_TRY(co_await impl_->invoke(agent_id, "delete", json::object(), journal_key(idempotency_key)));
    co_return ok_status();
}

io::Task<Result<json::object>> AgentService::reset_messages(std::string agent_id, json::value body,
                                                            std::string idempotency_key) {
    KELPIE_CO_TRY(body_object(body));
    KELPIE_CO_TRY(co_await impl_->state(agent_id));
    co_return co_await impl_->invoke(agent_id, "reset", json::object(), journal_key(idempotency_key));
}

// Blocks ------------------------------------------------------------------------------------------

namespace {

// A list the agent holds in attachment order, paged as Letta pages lists (`after` honoured, so
// the SDK's auto-pagination ends).
Result<json::array> page_attached(const json::array& items, const Query& query, size_t limit_default) {
    std::vector<json::object> all;
    for (const json::value& v : items) {
        all.push_back(v.as_object());
    }
    Query q = query;
    if (!query.get("order").has_value()) {
        q.add("order", "asc");
    }
    return page(std::move(all), q, limit_default);
}

}  // namespace

io::Task<Result<json::array>> AgentService::list_agent_blocks(std::string agent_id, Query query) {
    KELPIE_CO_TRY_ASSIGN(json::object a, co_await impl_->agent_state_json(std::move(agent_id)));
    co_return page_attached(a.at("blocks").as_array(), query, 100);
}

io::Task<Result<json::object>> AgentService::retrieve_agent_block(std::string agent_id, std::string label) {
    KELPIE_CO_TRY_ASSIGN(json::object a, co_await impl_->agent_state_json(agent_id));
    for (const json::value& b : a.at("blocks").as_array()) {
        if (str(b.as_object(), "label") == label) {
            co_return b.as_object();
        }
    }
    co_return not_found(fmt::format("Block with label {} not found for agent {}", label, agent_id));
}

io::Task<Result<json::object>> AgentService::update_agent_block(std::string agent_id, std::string label,
                                                                json::value body_value,
                                                                std::string idempotency_key) {
    KELPIE_CO_TRY_ASSIGN(json::object body, body_object(body_value));
    KELPIE_CO_TRY(want_string(body, "value", static_cast<size_t>(block_chars_limit_max) * 4));
    KELPIE_CO_TRY(want_string(body, "label", block_label_bytes_max));
    KELPIE_CO_TRY(want_type(body, "limit", json::kind::int64, "an integer"));
    KELPIE_CO_TRY(want_type(body, "read_only", json::kind::bool_, "a boolean"));
    const int64_t limit = num(body, "limit", 1);
    if (limit <= 0 || limit > block_chars_limit_max) {
        co_return invalid(fmt::format("block 'limit' must be 1..{}", block_chars_limit_max));
    }
    KELPIE_CO_TRY(co_await impl_->state(agent_id));
    json::object arg;
    arg["label"] = label;
    arg["patch"] = std::move(body);
    co_return co_await impl_->invoke(agent_id, "update_block", std::move(arg), journal_key(idempotency_key));
}

io::Task<Result<json::object>> AgentService::attach_block(std::string agent_id, std::string block_id,
                                                                   std::string idempotency_key) {
    KELPIE_CO_TRY(check_id(block_id, "block", "block"));
    KELPIE_CO_TRY(co_await impl_->state(agent_id));
    KELPIE_CO_TRY_ASSIGN(std::optional<json::object> block,
                         co_await impl_->read(records::block_key(block_id), "block"));
    if (!block.has_value()) {
        co_return not_found(fmt::format("Block {} not found", block_id));
    }
    json::object arg;
    arg["block_id"] = block_id;
    arg["block"] = std::move(*block);
    co_return co_await impl_->invoke(agent_id, "attach_block", std::move(arg), journal_key(idempotency_key));
}

io::Task<Result<json::object>> AgentService::detach_block(std::string agent_id, std::string block_id,
                                                                   std::string idempotency_key) {
    KELPIE_CO_TRY(check_id(block_id, "block", "block"));
    KELPIE_CO_TRY(co_await impl_->state(agent_id));
    json::object arg;
    arg["block_id"] = block_id;
    co_return co_await impl_->invoke(agent_id, "detach_block", std::move(arg), journal_key(idempotency_key));
}

io::Task<Result<json::object>> AgentService::create_block(json::value body_value, std::string idempotency_key) {
    KELPIE_CO_TRY_ASSIGN(json::object body, body_object(body_value));
    KELPIE_CO_TRY_ASSIGN(json::object block, make_block(body, impl_->executor.random(), impl_->now(), true));
    if (idempotency_key.empty()) {
        KELPIE_CO_TRY(co_await impl_->write(records::block_key(str(block, "id")), json::serialize(block)));
        co_return block;
    }
    block["id"] = records::stable_id("block", "create\n" + idempotency_key);
    co_return co_await impl_->create_once(records::block_key(str(block, "id")), std::string(), std::move(block));
}

io::Task<Result<json::object>> AgentService::retrieve_block(std::string block_id) {
    KELPIE_CO_TRY(check_id(block_id, "block", "block"));
    KELPIE_CO_TRY_ASSIGN(std::optional<json::object> block,
                         co_await impl_->read(records::block_key(block_id), "block"));
    if (!block.has_value()) {
        co_return not_found(fmt::format("Block {} not found", block_id));
    }
    co_return std::move(*block);
}

io::Task<Result<json::array>> AgentService::list_blocks(Query query) {
    KELPIE_CO_TRY_ASSIGN(std::vector<store::KeyValue> kvs,
                         co_await impl_->scan(records::block_begin(), records::block_end()));
    const std::optional<std::string> label = query.get("label");
    const std::optional<std::string> label_search = query.get("label_search");
    const std::optional<std::string> value_search = query.get("value_search");
    std::vector<json::object> blocks;
    for (const store::KeyValue& kv : kvs) {
        KELPIE_CO_TRY_ASSIGN(json::object b, records::parse_record(kv.value, "block"));
        if ((label.has_value() && str(b, "label") != *label) ||
            (label_search.has_value() && str(b, "label").find(*label_search) == std::string::npos) ||
            (value_search.has_value() && str(b, "value").find(*value_search) == std::string::npos)) {
            continue;
        }
        blocks.push_back(std::move(b));
    }
    std::sort(blocks.begin(), blocks.end(), by_created);
    co_return page(std::move(blocks), query, 50);
}

namespace {

// The record at `key` read in `t` (`what` names it if it is corrupt); `missing` as not_found
// when there is none.
io::Task<Result<json::object>> read_existing(store::Transaction& t, std::string key, std::string what,
                                             std::string missing) {
    KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> stored, co_await t.get(std::move(key)));
    if (!stored.has_value()) {
        co_return not_found(std::move(missing));
    }
    co_return records::parse_record(stored->value, what);
}

}  // namespace

io::Task<Result<json::object>> AgentService::update_block(std::string block_id, json::value body_value,
                                                          std::string idempotency_key) {
    KELPIE_CO_TRY(check_id(block_id, "block", "block"));
    KELPIE_CO_TRY_ASSIGN(json::object body, body_object(body_value));
    KELPIE_CO_TRY(want_string(body, "value", static_cast<size_t>(block_chars_limit_max) * 4));
    KELPIE_CO_TRY(want_string(body, "label", block_label_bytes_max));
    KELPIE_CO_TRY(want_type(body, "limit", json::kind::int64, "an integer"));
    const std::string now = impl_->now();
    Impl::Change edit = [block_id, body, now](store::Transaction& t) -> io::Task<Result<json::value>> {
        const std::string key = records::block_key(block_id);
        KELPIE_CO_TRY_ASSIGN(json::object block,
                             co_await read_existing(t, key, "block", fmt::format("Block {} not found", block_id)));
        for (const char* field : {"label", "value", "limit", "description", "read_only", "metadata", "tags", "hidden"}) {
            if (const json::value* v = body.if_contains(field); v != nullptr && !v->is_null()) {
                block[field] = *v;
            }
        }
        const int64_t limit = num(block, "limit", block_chars_limit_default);
        if (limit <= 0 || limit > block_chars_limit_max) {
            co_return invalid(fmt::format("block 'limit' must be 1..{}", block_chars_limit_max));
        }
        if (static_cast<int64_t>(loop::utf8_chars(str(block, "value"))) > limit) {
            co_return invalid(fmt::format("Edit failed: Exceeds {} character limit (requested {})", limit,
                                          loop::utf8_chars(str(block, "value"))));
        }
        block["updated_at"] = now;
        KELPIE_CO_TRY(t.set(key, json::serialize(block)));
        co_return json::value(std::move(block));
    };
    KELPIE_CO_TRY_ASSIGN(json::value answer,
                         co_await impl_->change(request_key("update_block", block_id, idempotency_key), edit));
    co_return std::move(answer.as_object());
}

io::Task<Status> AgentService::delete_block(std::string block_id, std::string idempotency_key) {
    KELPIE_CO_TRY(check_id(block_id, "block", "block"));
    Impl::Change erase = [block_id](store::Transaction& t) -> io::Task<Result<json::value>> {
        const std::string key = records::block_key(block_id);
        KELPIE_CO_TRY(co_await read_existing(t, key, "block", fmt::format("Block {} not found", block_id)));
        KELPIE_CO_TRY(t.clear(key));
        co_return json::value(nullptr);
    };
    KELPIE_CO_TRY(co_await impl_->change(request_key("delete_block", block_id, idempotency_key), erase));
    co_return ok_status();
}

// Tools and models ---------------------------------------------------------------------------------

json::array AgentService::base_tools() const {
    json::array out;
    for (const auto& [name, tool] : loop::builtin_tools()) {
        out.push_back(loop::tool_json(tool));
    }
    return out;
}

io::Task<Result<json::array>> AgentService::list_tools(Query query) {
    const std::optional<std::string> name = query.get("name");
    const std::vector<std::string> names = query.get_all("names");
    auto wanted = [&](const std::string& n) {
        return (!name.has_value() || n == *name) &&
               (names.empty() || std::find(names.begin(), names.end(), n) != names.end());
    };
    std::vector<json::object> tools;
    for (const auto& [n, tool] : loop::builtin_tools()) {
        if (wanted(n)) {
            tools.push_back(loop::tool_json(tool));
        }
    }
    KELPIE_CO_TRY_ASSIGN(std::vector<store::KeyValue> custom,
                         co_await impl_->scan(records::tools_begin(), records::tools_end()));
    for (const store::KeyValue& kv : custom) {
        KELPIE_CO_TRY_ASSIGN(json::object t, records::parse_record(kv.value, "tool"));
        if (wanted(str(t, "name"))) {
            tools.push_back(std::move(t));
        }
    }
    Query q = query;
    if (!query.get("order").has_value()) {
        q.add("order", "asc");
    }
    co_return page(std::move(tools), q, 50);
}

namespace {

// The built-in tool with this id (built-in ids are derived from their names), or null.
const loop::BuiltinTool* builtin_tool(std::string_view tool_id) {
    for (const auto& [name, tool] : loop::builtin_tools()) {
        if (records::stable_id("tool", name) == tool_id) {
            return &tool;
        }
    }
    return nullptr;
}

}  // namespace

io::Task<Result<json::object>> AgentService::retrieve_tool(std::string tool_id) {
    KELPIE_CO_TRY(check_id(tool_id, "tool", "tool"));
    if (const loop::BuiltinTool* tool = builtin_tool(tool_id)) {
        co_return loop::tool_json(*tool);
    }
    KELPIE_CO_TRY_ASSIGN(std::optional<json::object> t, co_await impl_->read(records::tool_key(tool_id), "tool"));
    if (!t.has_value()) {
        co_return not_found(fmt::format("Tool {} not found", tool_id));
    }
    co_return std::move(*t);
}

namespace {

// Fills a custom tool's name, description and schema from its source (or the given json_schema).
Status derive_tool(json::object& tool, const json::object& body) {
    if (const json::object* schema = obj(body, "json_schema")) {
        const std::string name = str(*schema, "name");
        if (name.empty()) {
            return invalid("'json_schema' needs a 'name'");
        }
        tool["name"] = name;
        tool["description"] = str(*schema, "description");
        tool["json_schema"] = *schema;
        return {};
    }
    const std::string source = str(tool, "source_code");
    Result<tools::ToolDefinition> def = tools::parse_python_tool(source);
    if (!def.ok()) {
        return invalid(fmt::format("cannot derive the tool's schema from its source: {}", def.error().message));
    }
    tool["name"] = def->name;
    tool["description"] = def->description;
    tool["json_schema"] = json::parse(def->json_schema);
    return {};
}

// A built-in tool's id: checked (invalid_argument) before a change is tried. Ids are checked too.
Status refuse_builtin_tool(const std::string& tool_id, std::string_view change) {
    KELPIE_TRY(check_id(tool_id, "tool", "tool"));
    if (const loop::BuiltinTool* tool = builtin_tool(tool_id)) {
        return invalid(fmt::format("'{}' is a built-in tool and cannot be {}", tool->name, change));
    }
    return {};
}

}  // namespace

io::Task<Result<json::object>> AgentService::create_tool(json::value body_value, bool upsert,
                                                         std::string idempotency_key) {
    KELPIE_CO_TRY_ASSIGN(json::object body, body_object(body_value));
    KELPIE_CO_TRY(want_string(body, "source_code", tools::tool_source_bytes_max));
    KELPIE_CO_TRY(want_type(body, "json_schema", json::kind::object, "an object"));
    KELPIE_CO_TRY(want_string_array(body, "tags"));
    KELPIE_CO_TRY(want_type(body, "return_char_limit", json::kind::int64, "an integer"));
    KELPIE_CO_TRY(want_type(body, "default_requires_approval", json::kind::bool_, "a boolean"));
    if (str(body, "source_code").empty()) {
        co_return invalid("'source_code' is required");
    }
    Impl& m = *impl_;
    json::object tool;
    tool["source_code"] = str(body, "source_code");
    KELPIE_CO_TRY(derive_tool(tool, body));
    const std::string name = str(tool, "name");
    if (loop::builtin_tools().contains(name)) {
        co_return Error(ErrorCode::already_exists, fmt::format("'{}' is a built-in tool", name));
    }
    const std::string description = str(body, "description");
    if (!description.empty()) {
        tool["description"] = description;
    }
    tool["tool_type"] = "custom";
    tool["args_json_schema"] = nullptr;
    tool["source_type"] = str(body, "source_type", "python");
    tool["tags"] = arr(body, "tags") ? json::value(*arr(body, "tags")) : json::value(json::array());
    tool["return_char_limit"] = num(body, "return_char_limit", static_cast<int64_t>(tool_return_chars_default));
    tool["pip_requirements"] = body.contains("pip_requirements") ? body.at("pip_requirements") : json::value(nullptr);
    tool["npm_requirements"] = body.contains("npm_requirements") ? body.at("npm_requirements") : json::value(nullptr);
    tool["default_requires_approval"] = flag(body, "default_requires_approval");
    tool["enable_parallel_execution"] = false;
    tool["metadata_"] = obj(body, "metadata_") ? json::value(*obj(body, "metadata_")) : json::value(json::object());
    tool["project_id"] = nullptr;
    tool["created_at"] = m.now();
    tool["updated_at"] = tool["created_at"];
    const std::string new_id = records::new_id(m.executor.random(), "tool");
    // Reads the name's current tool and writes in one transaction: two creates of one name
    // never make two tools.
    Impl::Change create = [tool, name, new_id, upsert](store::Transaction& t) -> io::Task<Result<json::value>> {
        json::object made = tool;
        made["id"] = new_id;
        const std::string name_key = records::tool_name_key(name);
        KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> index, co_await t.get(name_key));
        if (index.has_value()) {
            if (!upsert) {
                co_return Error(ErrorCode::already_exists, fmt::format("Tool with name '{}' already exists", name));
            }
            KELPIE_CO_TRY_ASSIGN(json::object named, records::parse_record(index->value, "tool index"));
            KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> existing,
                                 co_await t.get(records::tool_key(str(named, "id"))));
            if (existing.has_value()) {
                KELPIE_CO_TRY_ASSIGN(json::object old, records::parse_record(existing->value, "tool"));
                made["id"] = old["id"];
                made["created_at"] = old["created_at"];
            }
        }
        const std::string id = str(made, "id");
        KELPIE_CO_TRY(t.set(records::tool_key(id), json::serialize(made)));
        KELPIE_CO_TRY(t.set(name_key, json::serialize(json::object{{"id", id}})));
        co_return json::value(std::move(made));
    };
    const std::string operation = upsert ? "upsert_tool" : "create_tool";
    KELPIE_CO_TRY_ASSIGN(json::value answer, co_await m.change(request_key(operation, "", idempotency_key), create));
    co_return std::move(answer.as_object());
}

io::Task<Result<json::object>> AgentService::update_tool(std::string tool_id, json::value body_value,
                                                         std::string idempotency_key) {
    KELPIE_CO_TRY_ASSIGN(json::object body, body_object(body_value));
    KELPIE_CO_TRY(want_string(body, "source_code", tools::tool_source_bytes_max));
    KELPIE_CO_TRY(want_string_array(body, "tags"));
    KELPIE_CO_TRY(want_type(body, "return_char_limit", json::kind::int64, "an integer"));
    KELPIE_CO_TRY(want_type(body, "json_schema", json::kind::object, "an object"));
    KELPIE_CO_TRY(refuse_builtin_tool(tool_id, "changed"));
    const std::string now = impl_->now();
    Impl::Change edit = [tool_id, body, now](store::Transaction& t) -> io::Task<Result<json::value>> {
        const std::string tool_key = records::tool_key(tool_id);
        KELPIE_CO_TRY_ASSIGN(json::object tool,
                             co_await read_existing(t, tool_key, "tool", fmt::format("Tool {} not found", tool_id)));
        const std::string old_name = str(tool, "name");
        if (!str(body, "source_code").empty() || obj(body, "json_schema") != nullptr) {
            if (!str(body, "source_code").empty()) {
                tool["source_code"] = str(body, "source_code");
            }
            KELPIE_CO_TRY(derive_tool(tool, body));
        }
        for (const char* key : {"description", "tags", "return_char_limit", "default_requires_approval", "metadata_",
                                "pip_requirements", "npm_requirements"}) {
            if (const json::value* v = body.if_contains(key); v != nullptr && !v->is_null()) {
                tool[key] = *v;
            }
        }
        tool["updated_at"] = now;
        const std::string new_name = str(tool, "name");
        if (new_name != old_name) {
            // A rename may not take a name in use: the name index names one tool.
            KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> taken, co_await t.get(records::tool_name_key(new_name)));
            if (taken.has_value() || loop::builtin_tools().contains(new_name)) {
                co_return Error(ErrorCode::already_exists, fmt::format("Tool with name '{}' already exists", new_name));
            }
            KELPIE_CO_TRY(t.clear(records::tool_name_key(old_name)));
        }
        KELPIE_CO_TRY(t.set(records::tool_name_key(new_name), json::serialize(json::object{{"id", tool_id}})));
        KELPIE_CO_TRY(t.set(tool_key, json::serialize(tool)));
        co_return json::value(std::move(tool));
    };
    KELPIE_CO_TRY_ASSIGN(json::value answer,
                         co_await impl_->change(request_key("update_tool", tool_id, idempotency_key), edit));
    co_return std::move(answer.as_object());
}

io::Task<Status> AgentService::delete_tool(std::string tool_id, std::string idempotency_key) {
    KELPIE_CO_TRY(refuse_builtin_tool(tool_id, "deleted"));
    Impl::Change erase = [tool_id](store::Transaction& t) -> io::Task<Result<json::value>> {
        const std::string tool_key = records::tool_key(tool_id);
        KELPIE_CO_TRY_ASSIGN(json::object tool,
                             co_await read_existing(t, tool_key, "tool", fmt::format("Tool {} not found", tool_id)));
        KELPIE_CO_TRY(t.clear(tool_key));
        KELPIE_CO_TRY(t.clear(records::tool_name_key(str(tool, "name"))));
        co_return json::value(nullptr);
    };
    KELPIE_CO_TRY(co_await impl_->change(request_key("delete_tool", tool_id, idempotency_key), erase));
    co_return ok_status();
}

io::Task<Result<json::array>> AgentService::list_agent_tools(std::string agent_id, Query query) {
    KELPIE_CO_TRY_ASSIGN(json::object a, co_await impl_->agent_state_json(std::move(agent_id)));
    co_return page_attached(a.at("tools").as_array(), query, 10);
}

io::Task<Result<json::object>> AgentService::attach_tool(std::string agent_id, std::string tool_id,
                                                                  std::string idempotency_key) {
    KELPIE_CO_TRY_ASSIGN(json::object tool, co_await retrieve_tool(tool_id));
    KELPIE_CO_TRY(co_await impl_->state(agent_id));
    json::object arg;
    arg["name"] = tool["name"];
    co_return co_await impl_->invoke(agent_id, "attach_tool", std::move(arg), journal_key(idempotency_key));
}

io::Task<Result<json::object>> AgentService::detach_tool(std::string agent_id, std::string tool_id,
                                                                  std::string idempotency_key) {
    KELPIE_CO_TRY_ASSIGN(json::object tool, co_await retrieve_tool(tool_id));
    KELPIE_CO_TRY(co_await impl_->state(agent_id));
    json::object arg;
    arg["name"] = tool["name"];
    co_return co_await impl_->invoke(agent_id, "detach_tool", std::move(arg), journal_key(idempotency_key));
}

json::array AgentService::list_models() const {
    std::vector<std::string> handles = {impl_->shared->options.default_model};
    static const std::vector<std::string> anthropic_models = {"claude-sonnet-4-5", "claude-haiku-4-5"};
    static const std::vector<std::string> openai_models = {"gpt-4o-mini", "gpt-4o", "gpt-4.1"};
    for (const std::string& provider : impl_->shared->providers.names()) {
        for (const std::string& model : provider == "anthropic" ? anthropic_models : openai_models) {
            const std::string h = provider + "/" + model;
            if (std::find(handles.begin(), handles.end(), h) == handles.end()) {
                handles.push_back(h);
            }
        }
    }
    json::array out;
    for (const std::string& h : handles) {
        const size_t slash = h.find('/');
        json::object m;
        m["name"] = h.substr(slash + 1);
        m["handle"] = h;
        m["display_name"] = h.substr(slash + 1);
        m["provider_type"] = h.substr(0, slash);
        m["provider_name"] = h.substr(0, slash);
        m["model_type"] = "llm";
        m["max_context_window"] = 128000;
        m["context_window"] = 128000;
        m["model"] = h.substr(slash + 1);
        m["model_endpoint_type"] = h.substr(0, slash);
        m["model_endpoint"] = nullptr;
        out.push_back(std::move(m));
    }
    return out;
}

// Messages ----------------------------------------------------------------------------------------

namespace {

// The send request, validated and normalised for the actor.
Result<json::object> normalise_send(const json::object& body) {
    const json::value* messages = body.if_contains("messages");
    const json::value* input = body.if_contains("input");
    const bool has_messages = messages != nullptr && !messages->is_null();
    const bool has_input = input != nullptr && !input->is_null();
    if (has_messages == has_input) {
        return invalid("give exactly one of 'messages' and 'input'");
    }
    json::array out;
    auto check_content = [](const json::value& content) -> Status {
        if (content.is_string()) {
            if (content.as_string().size() > message_text_bytes_max) {
                return Error(ErrorCode::limit_exceeded,
                             fmt::format("a message is longer than {} bytes", message_text_bytes_max));
            }
            return {};
        }
        if (!content.is_array()) {
            return invalid("message 'content' must be a string or an array of content parts");
        }
        size_t bytes = 0;
        for (const json::value& part : content.as_array()) {
            if (!part.is_object() || !part.as_object().contains("type")) {
                return invalid("each content part must be an object with a 'type'");
            }
            bytes += str(part.as_object(), "text").size();
        }
        if (bytes > message_text_bytes_max) {
            return Error(ErrorCode::limit_exceeded,
                         fmt::format("a message is longer than {} bytes", message_text_bytes_max));
        }
        return {};
    };
    if (has_input) {
        KELPIE_TRY(check_content(*input));
        json::object m;
        m["kind"] = "user";
        m["content"] = *input;
        out.push_back(std::move(m));
    } else {
        if (!messages->is_array() || messages->as_array().empty()) {
            return invalid("'messages' must be a non-empty array");
        }
        if (messages->as_array().size() > send_messages_max) {
            return Error(ErrorCode::limit_exceeded,
                         fmt::format("at most {} messages per request", send_messages_max));
        }
        for (const json::value& v : messages->as_array()) {
            if (!v.is_object()) {
                return invalid("each message must be an object");
            }
            const json::object& m = v.as_object();
            const std::string type = str(m, "type");
            json::object n;
            n["otid"] = m.contains("otid") ? m.at("otid") : json::value(nullptr);
            if (type == "approval" || type == "tool_return" || m.contains("approval_request_id")) {
                json::array approvals;
                if (const json::array* a = arr(m, type == "tool_return" ? "tool_returns" : "approvals")) {
                    for (const json::value& e : *a) {
                        if (!e.is_object() || str(e.as_object(), "tool_call_id").empty()) {
                            return invalid("each approval needs a 'tool_call_id'");
                        }
                        json::object entry = e.as_object();
                        if (type == "tool_return") {
                            entry["type"] = "tool";
                        }
                        if (!entry.contains("type")) {
                            entry["type"] = entry.contains("tool_return") ? "tool" : "approval";
                        }
                        approvals.push_back(std::move(entry));
                    }
                } else if (m.contains("approval_request_id")) {
                    json::object entry;
                    entry["type"] = "approval";
                    entry["tool_call_id"] = str(m, "approval_request_id");
                    entry["approve"] = flag(m, "approve");
                    entry["reason"] = m.contains("reason") ? m.at("reason") : json::value(nullptr);
                    approvals.push_back(std::move(entry));
                }
                if (approvals.empty()) {
                    return invalid("an approval message needs 'approvals'");
                }
                n["kind"] = "approval";
                n["approvals"] = std::move(approvals);
            } else {
                const std::string role = str(m, "role", "user");
                if (role != "user" && role != "system" && role != "assistant") {
                    return invalid(fmt::format("unknown message role '{}'", role));
                }
                const json::value* content = m.if_contains("content");
                if (content == nullptr) {
                    return invalid("a message needs 'content'");
                }
                KELPIE_TRY(check_content(*content));
                n["kind"] = role;
                n["content"] = *content;
            }
            out.push_back(std::move(n));
        }
    }
    KELPIE_TRY(want_type(body, "max_steps", json::kind::int64, "an integer"));
    KELPIE_TRY(want_type(body, "client_tools", json::kind::array, "an array of tools"));
    json::object request;
    request["messages"] = std::move(out);
    const int64_t max_steps = num(body, "max_steps", max_steps_default);
    if (max_steps < 1 || max_steps > max_steps_max) {
        return invalid(fmt::format("'max_steps' must be 1..{}", max_steps_max));
    }
    request["max_steps"] = max_steps;
    json::array client_tools;
    if (const json::array* tools = arr(body, "client_tools")) {
        for (const json::value& t : *tools) {
            if (!t.is_object() || str(t.as_object(), "name").empty()) {
                return invalid("each client tool needs a 'name'");
            }
            client_tools.push_back(t);
        }
    }
    request["client_tools"] = std::move(client_tools);
    return request;
}

bool input_is_approval(const json::object& request) {
    if (const json::array* m = arr(request, "messages")) {
        for (const json::value& v : *m) {
            if (str(v.as_object(), "kind") == "approval") {
                return true;
            }
        }
    }
    return false;
}

}  // namespace

io::Task<Result<json::object>> AgentService::check_send(std::string agent_id, const json::value& body_value) {
    KELPIE_CO_TRY_ASSIGN(json::object body, body_object(body_value));
    KELPIE_CO_TRY_ASSIGN(json::object request, normalise_send(body));
    KELPIE_CO_TRY_ASSIGN(json::object s, co_await impl_->state(agent_id));
    const bool pending = obj(s, "pending_approval") != nullptr;
    if (pending && !input_is_approval(request)) {
        co_return Error(ErrorCode::failed_precondition,
                        "Cannot send a new message: The agent is waiting for approval on a tool "
                        "call. Please approve or deny the pending request before continuing.");
    }
    co_return request;
}

io::Task<Result<SendResult>> AgentService::send_message(std::string agent_id, std::string conversation_id,
                                                        json::value body, std::shared_ptr<RunStream> stream,
                                                        std::string idempotency_key) {
    KELPIE_CO_TRY_ASSIGN(json::object request, co_await check_send(agent_id, body));
    Impl& m = *impl_;
    const WallTime wall = m.executor.wall_now();
    const std::string run_id = idempotency_key.empty()
                                   ? records::new_id(m.executor.random(), "run")
                                   : records::stable_id("run", agent_id + "\n" + idempotency_key);
    request["run_id"] = run_id;
    request["conversation_id"] = conversation_id;
    request["created_at"] = records::iso_time(wall);
    request["created_us"] = records::micros(wall);
    request["background"] = false;
    m.shared->counters.sends++;
    if (stream != nullptr) {
        m.shared->streams[run_id] = stream;
        if (stream->recorded()) {
            request["background"] = true;
            stream->run_id = run_id;
            stream->agent_id = agent_id;
            stream->conversation_id = conversation_id;
            if (const json::array* input = arr(request, "messages")) {
                for (const json::value& v : *input) {
                    if (const std::string otid = str(v.as_object(), "otid"); !otid.empty()) {
                        stream->otids.push_back(otid);
                    }
                }
            }
            if (!m.recorded.contains(run_id)) {
                m.recorded_order.push_back(run_id);  // (a retry by the same key replaces it)
            }
            m.recorded[run_id] = stream;
        }
    }
    const std::string key = idempotency_key.empty() ? run_id : "http:" + idempotency_key;
    Result<json::object> result = co_await m.invoke(agent_id, "send", std::move(request), key);
    m.shared->streams.erase(run_id);
    if (stream != nullptr) {
        stream->finish(result);
        if (stream->recorded()) {
            // Forget the oldest finished recordings beyond recorded_runs_max (running ones stay).
            size_t finished = 0;
            for (auto it = m.recorded_order.rbegin(); it != m.recorded_order.rend(); ++it) {
                auto found = m.recorded.find(*it);
                if (found != m.recorded.end() && found->second->outcome().has_value() &&
                    ++finished > recorded_runs_max) {
                    m.recorded.erase(found);
                }
            }
            std::erase_if(m.recorded_order, [&m](const std::string& r) { return !m.recorded.contains(r); });
        }
    }
    if (!result.ok()) {
        co_return std::move(result).error();
    }
    SendResult out;
    out.response = std::move(*result);
    co_return out;
}

io::Task<Result<json::object>> AgentService::send_message_async(std::string agent_id, json::value body,
                                                                std::string idempotency_key) {
    KELPIE_CO_TRY_ASSIGN(json::object request, co_await check_send(agent_id, body));
    Impl& m = *impl_;
    const WallTime wall = m.executor.wall_now();
    const std::string run_id = idempotency_key.empty()
                                   ? records::new_id(m.executor.random(), "run")
                                   : records::stable_id("run", agent_id + "\n" + idempotency_key);
    json::object run;
    run["id"] = run_id;
    run["agent_id"] = agent_id;
    run["status"] = "created";
    run["stop_reason"] = nullptr;
    run["background"] = true;
    run["conversation_id"] = nullptr;
    run["created_at"] = records::iso_time(wall);
    run["completed_at"] = nullptr;
    run["metadata"] = json::object();
    if (idempotency_key.empty()) {
        KELPIE_CO_TRY(co_await m.write(records::run_key(run_id), json::serialize(run)));
    } else {
        // A retry answers with the run as it is now; the send below runs once (the journal).
        KELPIE_CO_TRY_ASSIGN(run, co_await m.create_once(records::run_key(run_id), std::string(), run));
    }
    request["run_id"] = run_id;
    request["conversation_id"] = "";
    request["created_at"] = run["created_at"];
    request["created_us"] = records::micros(wall);
    request["background"] = true;
    m.shared->counters.sends++;
    // The run goes on without the caller; its outcome is in the run record. The runtime answers
    // with `closed` if it stops first (the journal entry then finishes after the next start).
    auto background = [](Impl* impl, std::string agent, json::object req, std::string key) -> io::Task<void> {
        (void)co_await impl->invoke(std::move(agent), "send", std::move(req), std::move(key));
    };
    const std::string key = idempotency_key.empty() ? run_id : "http:" + idempotency_key;
    io::spawn(m.executor, background(&m, agent_id, std::move(request), key));
    co_return run;
}

io::Task<Result<json::array>> AgentService::list_messages(std::string agent_id, Query query) {
    KELPIE_CO_TRY_ASSIGN(json::object s, co_await impl_->state(agent_id));
    const json::object& agent = s.at("agent").as_object();
    const bool memgpt = str(agent, "agent_type") == "memgpt_agent" ||
                        str(agent, "agent_type") == "memgpt_v2_agent";
    KELPIE_CO_TRY_ASSIGN(std::vector<json::object> stored,
                         co_await impl_->messages(agent_id, num(s, "context_start")));
    const std::optional<std::string> conversation = query.get("conversation_id");
    const std::string order = query.get("order").value_or("desc");
    if (order != "asc" && order != "desc") {
        co_return invalid("'order' must be 'asc' or 'desc'");
    }
    size_t limit = 100;
    if (std::optional<std::string> l = query.get("limit")) {
        char* end = nullptr;
        const long long v = std::strtoll(l->c_str(), &end, 10);
        if (l->empty() || *end != '\0' || v < 1) {
            co_return invalid("'limit' must be a positive integer");
        }
        limit = std::min<size_t>(static_cast<size_t>(v), list_limit_max);
    }
    auto seq_of = [&](const std::string& id) -> std::optional<int64_t> {
        for (const json::object& msg : stored) {
            if (str(msg, "id") == id) {
                return num(msg, "seq");
            }
        }
        return std::nullopt;
    };
    int64_t after = -1;
    int64_t before = INT64_MAX;
    if (std::optional<std::string> a = query.get("after")) {
        std::optional<int64_t> seq = seq_of(*a);
        if (!seq.has_value()) {
            co_return not_found(fmt::format("Message {} not found", *a));
        }
        after = *seq;
    }
    if (std::optional<std::string> b = query.get("before")) {
        std::optional<int64_t> seq = seq_of(*b);
        if (!seq.has_value()) {
            co_return not_found(fmt::format("Message {} not found", *b));
        }
        before = *seq;
    }
    std::vector<const json::object*> window;
    for (const json::object& msg : stored) {
        const int64_t seq = num(msg, "seq");
        if (seq <= after || seq >= before) {
            continue;
        }
        if (conversation.has_value()) {
            const std::string c = str(msg, "conversation_id");
            const bool in = *conversation == "default" ? c.empty() : c == *conversation;
            if (!in && str(msg, "role") != "system") {
                continue;
            }
        }
        window.push_back(&msg);
    }
    // `order` picks which end of the window `limit` takes; the output is chronological either way.
    if (window.size() > limit) {
        if (order == "desc") {
            window.erase(window.begin(), window.end() - static_cast<std::ptrdiff_t>(limit));
        } else {
            window.resize(limit);
        }
    }
    const std::vector<std::string> types = query.get_all("include_return_message_types");
    json::array out;
    for (const json::object* msg : window) {
        for (json::value& r : records::render_message(*msg, memgpt)) {
            if (!types.empty() &&
                std::find(types.begin(), types.end(), str(r.as_object(), "message_type")) == types.end()) {
                continue;
            }
            out.push_back(std::move(r));
        }
    }
    co_return out;
}

io::Task<Result<json::array>> AgentService::retrieve_message(std::string message_id) {
    KELPIE_CO_TRY(check_id(message_id, "message", "message"));
    KELPIE_CO_TRY_ASSIGN(std::optional<json::object> where,
                         co_await impl_->read(records::message_id_key(message_id), "message index"));
    if (!where.has_value()) {
        co_return not_found(fmt::format("Message {} not found", message_id));
    }
    KELPIE_CO_TRY_ASSIGN(std::optional<json::object> stored,
                         co_await impl_->read(records::message_key(str(*where, "agent_id"), num(*where, "seq")),
                                              "message"));
    if (!stored.has_value()) {
        co_return not_found(fmt::format("Message {} not found", message_id));
    }
    co_return records::render_message(*stored, false);
}

io::Task<Result<json::object>> AgentService::cancel_runs(std::string agent_id, json::value body_value) {
    KELPIE_CO_TRY_ASSIGN(json::object body, body_object(body_value));
    KELPIE_CO_TRY(co_await impl_->state(agent_id));
    std::vector<std::string> wanted = strings(body, "run_ids");
    json::object out;
    for (const auto& [run, owner] : impl_->shared->active_runs) {
        if (owner != agent_id ||
            (!wanted.empty() && std::find(wanted.begin(), wanted.end(), run) == wanted.end())) {
            continue;
        }
        impl_->shared->cancel_requested.insert(run);
        out[run] = "cancelled";
    }
    if (out.empty()) {
        co_return Error(ErrorCode::failed_precondition, "No active runs to cancel");
    }
    co_return out;
}

// Runs --------------------------------------------------------------------------------------------

namespace {

json::object public_run(json::object run) {
    run.erase("steps");
    run.erase("usage");
    run.erase("error");
    run.erase("first_seq");
    return run;
}

}  // namespace

io::Task<Result<json::object>> AgentService::retrieve_run(std::string run_id) {
    KELPIE_CO_TRY(check_id(run_id, "run", "run"));
    KELPIE_CO_TRY_ASSIGN(std::optional<json::object> run, co_await impl_->read(records::run_key(run_id), "run"));
    if (!run.has_value()) {
        if (impl_->shared->active_runs.contains(run_id)) {
            json::object r;
            r["id"] = run_id;
            r["status"] = "running";
            co_return r;
        }
        co_return not_found(fmt::format("Run {} not found", run_id));
    }
    co_return public_run(std::move(*run));
}

io::Task<Result<json::array>> AgentService::list_runs(Query query) {
    std::vector<json::object> runs;
    const std::optional<std::string> agent_id = query.get("agent_id");
    if (agent_id.has_value()) {
        KELPIE_CO_TRY(check_id(*agent_id, "agent", "agent"));
        KELPIE_CO_TRY_ASSIGN(std::vector<store::KeyValue> index,
                             co_await impl_->scan(records::agent_runs_begin(*agent_id),
                                                  records::agent_runs_end(*agent_id)));
        for (const store::KeyValue& kv : index) {
            KELPIE_CO_TRY_ASSIGN(std::string id, records::agent_run_id(kv.key));
            KELPIE_CO_TRY_ASSIGN(std::optional<json::object> run,
                                 co_await impl_->read(records::run_key(id), "run"));
            if (run.has_value()) {
                runs.push_back(std::move(*run));
            }
        }
    } else {
        KELPIE_CO_TRY_ASSIGN(std::vector<store::KeyValue> all,
                             co_await impl_->scan(records::runs_begin(), records::runs_end()));
        for (const store::KeyValue& kv : all) {
            KELPIE_CO_TRY_ASSIGN(json::object run, records::parse_record(kv.value, "run"));
            runs.push_back(std::move(run));
        }
        std::sort(runs.begin(), runs.end(), by_created);
    }
    const std::vector<std::string> statuses = query.get_all("statuses");
    const std::optional<std::string> active = query.get("active");
    std::vector<json::object> kept;
    for (json::object& r : runs) {
        const std::string status = str(r, "status");
        if (!statuses.empty() && std::find(statuses.begin(), statuses.end(), status) == statuses.end()) {
            continue;
        }
        if (active == "true" && status != "created" && status != "running") {
            continue;
        }
        kept.push_back(public_run(std::move(r)));
    }
    co_return page(std::move(kept), query, 100);
}

io::Task<Result<json::array>> AgentService::run_messages(std::string run_id, Query query) {
    KELPIE_CO_TRY(check_id(run_id, "run", "run"));
    KELPIE_CO_TRY_ASSIGN(std::optional<json::object> run, co_await impl_->read(records::run_key(run_id), "run"));
    if (!run.has_value()) {
        co_return not_found(fmt::format("Run {} not found", run_id));
    }
    // From the run's first message on (runs stored before first_seq existed: from the start).
    KELPIE_CO_TRY_ASSIGN(std::vector<json::object> stored,
                         co_await impl_->messages(str(*run, "agent_id"), num(*run, "first_seq")));
    std::vector<json::object> rendered;
    for (const json::object& m : stored) {
        if (str(m, "run_id") == run_id) {
            for (json::value& r : records::render_message(m, false)) {
                rendered.push_back(std::move(r.as_object()));
            }
        }
    }
    Query q = query;
    if (!query.get("order").has_value()) {
        q.add("order", "asc");
    }
    co_return page(std::move(rendered), q, 100);
}

io::Task<Result<json::object>> AgentService::run_usage(std::string run_id) {
    KELPIE_CO_TRY(check_id(run_id, "run", "run"));
    KELPIE_CO_TRY_ASSIGN(std::optional<json::object> run, co_await impl_->read(records::run_key(run_id), "run"));
    if (!run.has_value()) {
        co_return not_found(fmt::format("Run {} not found", run_id));
    }
    json::object usage;
    const json::object* u = obj(*run, "usage");
    usage["completion_tokens"] = u ? num(*u, "completion_tokens") : 0;
    usage["prompt_tokens"] = u ? num(*u, "prompt_tokens") : 0;
    usage["total_tokens"] = u ? num(*u, "total_tokens") : 0;
    co_return usage;
}

io::Task<Result<json::array>> AgentService::run_steps(std::string run_id) {
    KELPIE_CO_TRY(check_id(run_id, "run", "run"));
    KELPIE_CO_TRY_ASSIGN(std::optional<json::object> run, co_await impl_->read(records::run_key(run_id), "run"));
    if (!run.has_value()) {
        co_return not_found(fmt::format("Run {} not found", run_id));
    }
    json::array out;
    if (const json::array* steps = arr(*run, "steps")) {
        for (const json::value& v : *steps) {
            json::object s = v.as_object();
            s["agent_id"] = (*run)["agent_id"];
            s["run_id"] = run_id;
            s["status"] = "success";
            s["stop_reason"] = (*run)["stop_reason"];
            out.push_back(std::move(s));
        }
    }
    co_return out;
}

// Conversations ------------------------------------------------------------------------------------

io::Task<Result<json::object>> AgentService::create_conversation(std::string agent_id, json::value body_value,
                                                                 std::string idempotency_key) {
    KELPIE_CO_TRY_ASSIGN(json::object body, body_object(body_value));
    KELPIE_CO_TRY(want_string(body, "description", system_prompt_bytes_max));
    KELPIE_CO_TRY(want_string(body, "model", name_bytes_max));
    KELPIE_CO_TRY(co_await impl_->state(agent_id));
    Impl& m = *impl_;
    const WallTime wall = m.executor.wall_now();
    json::object c;
    c["id"] = records::new_id(m.executor.random(), "conv");
    c["agent_id"] = agent_id;
    c["created_at"] = records::iso_time(wall);
    c["updated_at"] = c["created_at"];
    c["description"] = body.contains("description") ? body.at("description") : json::value(nullptr);
    c["summary"] = nullptr;
    c["archived"] = false;
    c["hidden"] = flag(body, "hidden");
    c["in_context_message_ids"] = json::array();
    c["last_message_at"] = nullptr;
    c["model"] = body.contains("model") ? body.at("model") : json::value(nullptr);
    c["isolated_block_labels"] = arr(body, "isolated_block_labels") ? json::value(*arr(body, "isolated_block_labels"))
                                                                    : json::value(json::array());
    if (!idempotency_key.empty()) {
        c["id"] = records::stable_id("conv", agent_id + "\n" + idempotency_key);
    }
    const std::string id = str(c, "id");
    const std::string index_key = records::agent_conversation_key(agent_id, records::micros(wall), id);
    co_return co_await m.create_once(records::conversation_key(id), index_key, std::move(c));
}

io::Task<Result<json::object>> AgentService::retrieve_conversation(std::string conversation_id) {
    KELPIE_CO_TRY_ASSIGN(json::object c, co_await impl_->conversation(std::move(conversation_id)));
    std::vector<json::object*> one(1, &c);  // (a braced list here trips GCC 12's coroutines)
    KELPIE_CO_TRY(co_await impl_->fill_in_context(str(c, "agent_id"), std::move(one)));
    co_return std::move(c);
}

io::Task<Result<std::string>> AgentService::conversation_agent(std::string conversation_id) {
    KELPIE_CO_TRY_ASSIGN(json::object c, co_await impl_->conversation(std::move(conversation_id)));
    co_return str(c, "agent_id");
}

io::Task<Result<json::array>> AgentService::list_conversations(Query query) {
    const std::optional<std::string> agent_id = query.get("agent_id");
    if (!agent_id.has_value()) {
        co_return invalid("'agent_id' is required");
    }
    KELPIE_CO_TRY(check_id(*agent_id, "agent", "agent"));
    KELPIE_CO_TRY_ASSIGN(std::vector<store::KeyValue> index,
                         co_await impl_->scan(records::agent_conversations_begin(*agent_id),
                                              records::agent_conversations_end(*agent_id)));
    std::vector<json::object> convs;
    for (const store::KeyValue& kv : index) {
        KELPIE_CO_TRY_ASSIGN(std::string id, records::agent_conversation_id(kv.key));
        KELPIE_CO_TRY_ASSIGN(std::optional<json::object> c,
                             co_await impl_->read(records::conversation_key(id), "conversation"));
        if (c.has_value()) {
            convs.push_back(std::move(*c));
        }
    }
    std::vector<json::object*> all;
    for (json::object& c : convs) {
        all.push_back(&c);
    }
    KELPIE_CO_TRY(co_await impl_->fill_in_context(*agent_id, std::move(all)));
    co_return page(std::move(convs), query, 50);
}

io::Task<Result<json::array>> AgentService::list_conversation_messages(std::string conversation_id,
                                                                       std::string agent_id, Query query) {
    if (conversation_id != "default") {
        KELPIE_CO_TRY_ASSIGN(agent_id, co_await conversation_agent(conversation_id));
    }
    Query q;
    q.add("conversation_id", conversation_id);
    for (const char* name : {"after", "before", "limit"}) {
        if (std::optional<std::string> v = query.get(name)) {
            q.add(name, *v);
        }
    }
    const std::string order = query.get("order").value_or("desc");
    q.add("order", order);
    for (const std::string& t : query.get_all("include_return_message_types")) {
        q.add("include_return_message_types", t);
    }
    KELPIE_CO_TRY_ASSIGN(json::array out, co_await list_messages(agent_id, std::move(q)));
    json::array filtered;
    for (json::value& v : out) {
        if (str(v.as_object(), "message_type") != "system_message") {
            filtered.push_back(std::move(v));
        }
    }
    if (order == "desc") {
        // Conversations list newest first at the message level; parts of one message keep their
        // natural order.
        json::array reversed;
        size_t end = filtered.size();
        while (end > 0) {
            size_t begin = end - 1;
            while (begin > 0 && str(filtered[begin - 1].as_object(), "id") == str(filtered[end - 1].as_object(), "id")) {
                begin--;
            }
            for (size_t i = begin; i < end; i++) {
                reversed.push_back(filtered[i]);
            }
            end = begin;
        }
        co_return reversed;
    }
    co_return filtered;
}

}  // namespace kelpie::agent
