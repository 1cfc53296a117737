#include "agent/model/records.h"

#include <map>

#include <fmt/format.h>

#include "base/hash.h"
#include "store/store.h"
#include "store/tuple.h"

namespace kelpie::agent::records {

namespace {

using store::Subspace;
using store::Tuple;

const Subspace& space(std::string_view name) {
    // One subspace per record kind; built on first use (names are literals of this file).
    static std::map<std::string, Subspace, std::less<>> spaces;
    auto it = spaces.find(name);
    if (it == spaces.end()) {
        it = spaces.emplace(std::string(name), Subspace(Tuple().append(name))).first;
    }
    return it->second;
}

Result<std::string> last_text(std::string_view space_name, std::string_view key, size_t size) {
    const Subspace& s = space(space_name);
    if (!s.contains(key)) {
        return Error(ErrorCode::corruption, fmt::format("malformed {} key", space_name));
    }
    Result<Tuple> t = s.unpack(key);
    if (!t.ok() || t->size() != size || !std::holds_alternative<std::string>((*t)[size - 1])) {
        return Error(ErrorCode::corruption, fmt::format("malformed {} key", space_name));
    }
    return std::get<std::string>((*t)[size - 1]);
}

std::string hex(uint64_t v, int digits) {
    return fmt::format("{:0{}x}", v & (digits >= 16 ? ~0ULL : ((1ULL << (digits * 4)) - 1)),
                       digits);
}

std::string uuid_from(uint64_t hi, uint64_t lo) {
    // Version 4, variant 1 bits set, as uuid4 has them.
    hi = (hi & ~0xF000ULL) | 0x4000ULL;
    lo = (lo & ~(0xC000ULL << 48)) | (0x8000ULL << 48);
    return fmt::format("{}-{}-{}-{}-{}", hex(hi >> 32, 8), hex(hi >> 16, 4), hex(hi, 4),
                       hex(lo >> 48, 4), hex(lo, 12));
}

}  // namespace

std::string agent_index_key(int64_t created_us, std::string_view agent_id) {
    return space("agent_by_created").key(Tuple().append(created_us).append(agent_id));
}
std::string agent_index_begin() { return space("agent_by_created").range_begin(); }
std::string agent_index_end() { return space("agent_by_created").range_end(); }
Result<std::string> agent_index_id(std::string_view key) {
    return last_text("agent_by_created", key, 2);
}

std::string block_key(std::string_view block_id) {
    return space("block").key(Tuple().append(block_id));
}
std::string block_begin() { return space("block").range_begin(); }
std::string block_end() { return space("block").range_end(); }

std::string message_key(std::string_view agent_id, int64_t seq) {
    return space("msg").key(Tuple().append(agent_id).append(seq));
}
std::string messages_begin(std::string_view agent_id, int64_t from_seq) {
    return message_key(agent_id, from_seq);
}
std::string messages_end(std::string_view agent_id) {
    return store::prefix_end(space("msg").key(Tuple().append(agent_id)));
}
std::optional<std::pair<std::string, int64_t>> message_key_parts(std::string_view key) {
    const Subspace& s = space("msg");
    if (!s.contains(key)) {
        return std::nullopt;
    }
    Result<Tuple> t = s.unpack(key);
    if (!t.ok() || t->size() != 2 || !std::holds_alternative<std::string>((*t)[0]) ||
        !std::holds_alternative<int64_t>((*t)[1])) {
        return std::nullopt;
    }
    return std::pair<std::string, int64_t>(std::get<std::string>((*t)[0]), std::get<int64_t>((*t)[1]));
}

std::string message_id_key(std::string_view message_id) {
    return space("msg_id").key(Tuple().append(message_id));
}

std::string run_key(std::string_view run_id) { return space("run").key(Tuple().append(run_id)); }
std::string runs_begin() { return space("run").range_begin(); }
std::string runs_end() { return space("run").range_end(); }
std::string agent_run_key(std::string_view agent_id, int64_t created_us, std::string_view run_id) {
    return space("agent_run").key(Tuple().append(agent_id).append(created_us).append(run_id));
}
std::string agent_runs_begin(std::string_view agent_id) {
    return space("agent_run").key(Tuple().append(agent_id));
}
std::string agent_runs_end(std::string_view agent_id) {
    return store::prefix_end(agent_runs_begin(agent_id));
}
Result<std::string> agent_run_id(std::string_view key) { return last_text("agent_run", key, 3); }

std::string tool_key(std::string_view tool_id) { return space("tool").key(Tuple().append(tool_id)); }
std::string tool_name_key(std::string_view name) {
    return space("tool_name").key(Tuple().append(name));
}
std::string tools_begin() { return space("tool").range_begin(); }
std::string tools_end() { return space("tool").range_end(); }

std::string conversation_key(std::string_view conversation_id) {
    return space("conv").key(Tuple().append(conversation_id));
}
std::string agent_conversation_key(std::string_view agent_id, int64_t created_us,
                                   std::string_view conversation_id) {
    return space("agent_conv").key(Tuple().append(agent_id).append(created_us).append(conversation_id));
}
std::string agent_conversations_begin(std::string_view agent_id) {
    return space("agent_conv").key(Tuple().append(agent_id));
}
std::string agent_conversations_end(std::string_view agent_id) {
    return store::prefix_end(agent_conversations_begin(agent_id));
}
std::string answer_key(std::string_view request) {
    return space("answer").key(Tuple().append(request));
}
std::string answer_gc_key(int64_t expires_ms, std::string_view request) {
    return space("answer_gc").key(Tuple().append(expires_ms).append(request));
}
std::string answer_gc_begin() { return space("answer_gc").range_begin(); }
std::string answer_gc_end(int64_t expires_ms_exclusive) {
    return space("answer_gc").key(Tuple().append(expires_ms_exclusive));
}
Result<std::string> answer_gc_request(std::string_view key) { return last_text("answer_gc", key, 2); }

Result<std::string> agent_conversation_id(std::string_view key) {
    return last_text("agent_conv", key, 3);
}

std::string new_id(io::Random& random, std::string_view prefix) {
    const uint64_t hi = random.next_u64();
    const uint64_t lo = random.next_u64();
    return fmt::format("{}-{}", prefix, uuid_from(hi, lo));
}

std::string stable_id(std::string_view prefix, std::string_view name) {
    const uint64_t hi = hash_bytes({"kelpie-stable-id", prefix, name});
    const uint64_t lo = mix64(hi ^ hash_bytes(name));
    return fmt::format("{}-{}", prefix, uuid_from(hi, lo));
}

std::string iso_time(WallTime t) {
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm): pure arithmetic, no clock.
    const int64_t ms = t.unix_ms();
    int64_t seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
    const int64_t second_of_day = seconds - days * 86400;
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const int64_t doe = days - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    const int64_t day = doy - (153 * mp + 2) / 5 + 1;
    const int64_t month = mp < 10 ? mp + 3 : mp - 9;
    const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00", year, month, day,
                       second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
}

int64_t micros(WallTime t) { return t.unix_ms() * 1000; }

Result<json::object> parse_record(std::string_view bytes, std::string_view what) {
    boost::system::error_code ec;
    json::value v = json::parse(bytes, ec);
    if (ec || !v.is_object()) {
        return Error(ErrorCode::corruption, fmt::format("stored {} is not a JSON object", what));
    }
    return std::move(v.as_object());
}

std::string str(const json::object& o, std::string_view key, std::string_view fallback) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) {
        return std::string(fallback);
    }
    return std::string(v->as_string());
}

std::string_view view(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) {
        return {};
    }
    return std::string_view(v->as_string());
}

int64_t num(const json::object& o, std::string_view key, int64_t fallback) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr) {
        return fallback;
    }
    if (v->is_int64()) {
        return v->as_int64();
    }
    if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
        return static_cast<int64_t>(v->as_uint64());
    }
    return fallback;
}

bool flag(const json::object& o, std::string_view key, bool fallback) {
    const json::value* v = o.if_contains(key);
    return (v != nullptr && v->is_bool()) ? v->as_bool() : fallback;
}

const json::object* obj(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return (v != nullptr && v->is_object()) ? &v->as_object() : nullptr;
}

const json::array* arr(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return (v != nullptr && v->is_array()) ? &v->as_array() : nullptr;
}

std::string content_text(const json::value& content) {
    if (content.is_string()) {
        return std::string(content.as_string());
    }
    std::string out;
    if (content.is_array()) {
        for (const json::value& part : content.as_array()) {
            if (part.is_object() && str(part.as_object(), "type") == "text") {
                if (!out.empty()) {
                    out += "\n";
                }
                out += str(part.as_object(), "text");
            }
        }
    }
    return out;
}

namespace {

json::object base_message(const json::object& stored, std::string_view type, int index) {
    json::object m;
    const std::string id = str(stored, "id");
    m["id"] = id;
    m["date"] = str(stored, "date");
    m["message_type"] = type;
    std::string otid = str(stored, "otid");
    if (otid.empty() || index > 0) {
        // Derived from the id, the last character the index (as Letta's tests expect).
        std::string base = id.size() > 8 ? id.substr(id.find('-') + 1) : id;
        if (!base.empty()) {
            base.back() = static_cast<char>('0' + index % 10);
        }
        otid = base;
    }
    m["otid"] = otid;
    m["name"] = nullptr;
    m["sender_id"] = nullptr;
    m["run_id"] = stored.contains("run_id") ? stored.at("run_id") : json::value(nullptr);
    m["step_id"] = stored.contains("step_id") ? stored.at("step_id") : json::value(nullptr);
    m["seq_id"] = nullptr;
    if (const json::value* conv = stored.if_contains("conversation_id");
        conv != nullptr && conv->is_string()) {
        m["conversation_id"] = *conv;
    }
    return m;
}

json::object tool_call_json(const json::object& call) {
    json::object c;
    c["name"] = str(call, "name");
    c["arguments"] = str(call, "arguments");
    c["tool_call_id"] = str(call, "id");
    return c;
}

}  // namespace

json::array render_message(const json::object& stored, bool hide_send_message) {
    json::array out;
    const std::string role = str(stored, "role");
    if (role == "system") {
        json::object m = base_message(stored, "system_message", 0);
        m["content"] = str(stored, "content");
        out.push_back(std::move(m));
    } else if (role == "user") {
        json::object m = base_message(stored, "user_message", 0);
        m["content"] = stored.contains("content") ? stored.at("content") : json::value("");
        out.push_back(std::move(m));
    } else if (role == "assistant") {
        int index = 0;
        const std::string reasoning = str(stored, "reasoning");
        if (!reasoning.empty()) {
            json::object m = base_message(stored, "reasoning_message", index++);
            m["reasoning"] = reasoning;
            m["source"] = "reasoner_model";
            m["signature"] = nullptr;
            out.push_back(std::move(m));
        }
        const std::string text = str(stored, "content");
        if (!text.empty()) {
            json::object m = base_message(stored, "assistant_message", index++);
            m["content"] = text;
            out.push_back(std::move(m));
        }
        const json::array* calls = arr(stored, "tool_calls");
        if (calls != nullptr && !calls->empty()) {
            json::array shown;
            for (const json::value& c : *calls) {
                if (!c.is_object()) {
                    continue;
                }
                const json::object& call = c.as_object();
                if (hide_send_message && str(call, "name") == "send_message") {
                    // memgpt agents: the message argument is what the user sees.
                    boost::system::error_code ec;
                    json::value args = json::parse(str(call, "arguments"), ec);
                    json::object m = base_message(stored, "assistant_message", index++);
                    m["content"] = (!ec && args.is_object())
                                       ? str(args.as_object(), "message")
                                       : str(call, "arguments");
                    out.push_back(std::move(m));
                    continue;
                }
                shown.push_back(tool_call_json(call));
            }
            if (!shown.empty()) {
                const bool approval = flag(stored, "approval_request");
                json::object m = base_message(
                    stored, approval ? "approval_request_message" : "tool_call_message", index++);
                m["tool_call"] = shown.front();
                m["tool_calls"] = shown;
                out.push_back(std::move(m));
            }
        }
    } else if (role == "tool") {
        if (hide_send_message && str(stored, "tool_name") == "send_message") {
            return out;
        }
        json::object m = base_message(stored, "tool_return_message", 0);
        m["tool_return"] = str(stored, "tool_return");
        m["status"] = str(stored, "status", "success");
        m["tool_call_id"] = str(stored, "tool_call_id");
        m["stdout"] = nullptr;
        m["stderr"] = nullptr;
        json::object r;
        r["type"] = "tool";
        r["tool_return"] = m["tool_return"];
        r["status"] = m["status"];
        r["tool_call_id"] = m["tool_call_id"];
        r["stdout"] = nullptr;
        r["stderr"] = nullptr;
        json::array returns;
        returns.push_back(std::move(r));
        m["tool_returns"] = std::move(returns);
        out.push_back(std::move(m));
    } else if (role == "approval") {
        json::object m = base_message(stored, "approval_response_message", 0);
        m["approvals"] = stored.contains("approvals") ? stored.at("approvals") : json::array();
        const json::array* approvals = arr(stored, "approvals");
        if (approvals != nullptr && !approvals->empty() && approvals->front().is_object()) {
            const json::object& first = approvals->front().as_object();
            m["approve"] = str(first, "type") == "approval" ? flag(first, "approve") : true;
            m["approval_request_id"] = str(first, "tool_call_id");
            m["reason"] = first.contains("reason") ? first.at("reason") : json::value(nullptr);
        }
        out.push_back(std::move(m));
    }
    return out;
}

}  // namespace kelpie::agent::records
