// The Anthropic provider: POST {base}/v1/messages, streamed (named SSE events, no [DONE]) or not
// (research: letta-api.md §9.2).

#include <boost/json.hpp>
#include <fmt/format.h>

#include "llm/common/call.h"
#include "llm/http/client.h"
#include "llm/llm.h"

namespace kelpie::llm {

namespace json = boost::json;

namespace {

constexpr int64_t anthropic_max_tokens_default = 4096;  // the API requires max_tokens
constexpr const char* anthropic_version = "2023-06-01";

std::string text(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return (v != nullptr && v->is_string()) ? std::string(v->as_string()) : std::string();
}

int64_t integer(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (v != nullptr && v->is_int64()) return v->as_int64();
    if (v != nullptr && v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
    return 0;
}

FinishReason finish_of(std::string_view s) {
    if (s == "end_turn" || s == "stop_sequence" || s == "pause_turn") return FinishReason::stop;
    if (s == "tool_use") return FinishReason::tool_calls;
    if (s == "max_tokens" || s == "model_context_window_exceeded") return FinishReason::length;
    if (s == "refusal") return FinishReason::content_filter;
    return FinishReason::other;
}

Error malformed(std::string what) {
    return Error(ErrorCode::corruption, "anthropic: malformed answer: " + std::move(what));
}

std::string request_body(const ChatRequest& request, bool stream) {
    json::object body;
    body["model"] = request.model;
    body["max_tokens"] = request.max_tokens.value_or(anthropic_max_tokens_default);
    if (!request.system.empty()) {
        body["system"] = request.system;
    }
    // Anthropic wants user and assistant turns to alternate: consecutive messages of one role
    // (a tool result is a user turn) are merged into one.
    json::array messages;
    std::string last_role;
    for (const ChatMessage& m : *request.messages) {
        const std::string role = m.role == Role::assistant ? "assistant" : "user";
        json::array blocks;
        if (m.role == Role::tool) {
            blocks.push_back(json::object{{"type", "tool_result"}, {"tool_use_id", m.tool_call_id},
                                          {"content", m.content}});
        } else {
            if (!m.content.empty()) {
                blocks.push_back(json::object{{"type", "text"}, {"text", m.content}});
            }
            for (const ToolCall& c : m.tool_calls) {
                boost::system::error_code ec;
                json::value input = json::parse(c.arguments.empty() ? "{}" : c.arguments, ec);
                if (ec || !input.is_object()) {
                    input = json::object();  // the model's malformed arguments: sent as no input
                }
                json::object use{{"type", "tool_use"}, {"id", c.id}, {"name", c.name}};
                use["input"] = std::move(input);
                blocks.push_back(std::move(use));
            }
        }
        if (blocks.empty()) {
            blocks.push_back(json::object{{"type", "text"}, {"text", "(empty)"}});
        }
        if (role == last_role && !messages.empty()) {
            json::array& into = messages.back().as_object()["content"].as_array();
            for (json::value& b : blocks) {
                into.push_back(std::move(b));
            }
        } else {
            messages.push_back(json::object{{"role", role}, {"content", std::move(blocks)}});
        }
        last_role = role;
    }
    body["messages"] = std::move(messages);
    if (!request.tools.empty() && request.tool_choice != ToolChoice::none) {
        json::array tools;
        for (const ToolSchema& t : request.tools) {
            boost::system::error_code ec;
            json::value schema = json::parse(t.parameters_json, ec);
            if (ec || !schema.is_object()) {
                schema = json::object{{"type", "object"}, {"properties", json::object()}};
            }
            json::object tool{{"name", t.name}, {"description", t.description}};
            tool["input_schema"] = std::move(schema);
            tools.push_back(std::move(tool));
        }
        body["tools"] = std::move(tools);
        body["tool_choice"] = json::object{
            {"type", request.tool_choice == ToolChoice::required ? "any" : "auto"}};
    }
    if (request.temperature.has_value()) {
        body["temperature"] = *request.temperature;
    }
    if (stream) {
        body["stream"] = true;
    }
    return json::serialize(body);
}

Result<ChatResponse> parse_whole(const std::string& body) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) {
        return malformed("not a JSON object");
    }
    const json::object& o = v.as_object();
    const json::value* content = o.if_contains("content");
    if (content == nullptr || !content->is_array()) {
        return malformed("no content");
    }
    ChatResponse r;
    r.model = text(o, "model");
    r.finish = finish_of(text(o, "stop_reason"));
    for (const json::value& b : content->as_array()) {
        if (!b.is_object()) {
            return malformed("a content block is not an object");
        }
        const json::object& block = b.as_object();
        const std::string type = text(block, "type");
        if (type == "text") {
            r.content += text(block, "text");
        } else if (type == "thinking") {
            r.reasoning += text(block, "thinking");
        } else if (type == "tool_use") {
            ToolCall call;
            call.id = text(block, "id");
            call.name = text(block, "name");
            const json::value* input = block.if_contains("input");
            call.arguments = input == nullptr ? "{}" : json::serialize(*input);
            if (call.name.empty()) {
                return malformed("a tool_use block without a name");
            }
            r.tool_calls.push_back(std::move(call));
        }
    }
    if (const json::value* u = o.if_contains("usage"); u != nullptr && u->is_object()) {
        r.usage.prompt_tokens = integer(u->as_object(), "input_tokens");
        r.usage.completion_tokens = integer(u->as_object(), "output_tokens");
        r.usage.total_tokens = r.usage.prompt_tokens + r.usage.completion_tokens;
    }
    return r;
}

class StreamState {
public:
    StreamState(DeltaSink sink, bool* delivered) : sink_(std::move(sink)), delivered_(delivered) {}

    Status on_event(const std::string& name, const std::string& data) {
        boost::system::error_code ec;
        json::value v = json::parse(data, ec);
        if (ec || !v.is_object()) {
            return malformed("an event is not a JSON object");
        }
        const json::object& o = v.as_object();
        const std::string type = name.empty() ? text(o, "type") : name;
        if (type == "error") {
            const json::value* e = o.if_contains("error");
            const std::string message = (e != nullptr && e->is_object())
                                            ? text(e->as_object(), "type") + ": " + text(e->as_object(), "message")
                                            : data;
            return Error(ErrorCode::unavailable, "anthropic: error in the stream: " + message);
        }
        if (type == "message_start") {
            if (const json::value* m = o.if_contains("message"); m != nullptr && m->is_object()) {
                r_.model = text(m->as_object(), "model");
                if (const json::value* u = m->as_object().if_contains("usage"); u != nullptr && u->is_object()) {
                    r_.usage.prompt_tokens = integer(u->as_object(), "input_tokens");
                }
            }
        } else if (type == "content_block_start") {
            const json::value* b = o.if_contains("content_block");
            if (b == nullptr || !b->is_object()) {
                return malformed("content_block_start without a block");
            }
            const json::object& block = b->as_object();
            const int64_t index = integer(o, "index");
            kinds_[index] = text(block, "type");
            if (kinds_[index] == "tool_use") {
                ToolCall call;
                call.id = text(block, "id");
                call.name = text(block, "name");
                calls_[index] = r_.tool_calls.size();
                r_.tool_calls.push_back(call);
                ChatDelta d;
                d.kind = ChatDelta::Kind::tool_call;
                d.tool_index = calls_[index];
                d.tool_id = call.id;
                d.tool_name = call.name;
                emit(d);
            }
        } else if (type == "content_block_delta") {
            const json::value* dv = o.if_contains("delta");
            if (dv == nullptr || !dv->is_object()) {
                return malformed("content_block_delta without a delta");
            }
            const json::object& delta = dv->as_object();
            const std::string dtype = text(delta, "type");
            const int64_t index = integer(o, "index");
            if (dtype == "text_delta") {
                const std::string t = text(delta, "text");
                r_.content += t;
                emit_text(ChatDelta::Kind::content, t);
            } else if (dtype == "thinking_delta") {
                const std::string t = text(delta, "thinking");
                r_.reasoning += t;
                emit_text(ChatDelta::Kind::reasoning, t);
            } else if (dtype == "input_json_delta") {
                auto it = calls_.find(index);
                if (it == calls_.end()) {
                    return malformed("input_json_delta for a block that is not a tool_use");
                }
                const std::string part = text(delta, "partial_json");
                r_.tool_calls[it->second].arguments += part;
                ChatDelta d;
                d.kind = ChatDelta::Kind::tool_call;
                d.tool_index = it->second;
                d.arguments = part;
                emit(d);
            }
        } else if (type == "message_delta") {
            if (const json::value* dv = o.if_contains("delta"); dv != nullptr && dv->is_object()) {
                if (const std::string s = text(dv->as_object(), "stop_reason"); !s.empty()) {
                    r_.finish = finish_of(s);
                }
            }
            if (const json::value* u = o.if_contains("usage"); u != nullptr && u->is_object()) {
                r_.usage.completion_tokens = integer(u->as_object(), "output_tokens");
            }
        } else if (type == "message_stop") {
            stopped_ = true;
        }
        return {};
    }

    Result<ChatResponse> finish() {
        if (!stopped_) {
            return Error(ErrorCode::unavailable, "anthropic: the stream ended before message_stop");
        }
        for (ToolCall& c : r_.tool_calls) {
            if (c.arguments.empty()) {
                c.arguments = "{}";
            }
        }
        r_.usage.total_tokens = r_.usage.prompt_tokens + r_.usage.completion_tokens;
        return common::check_not_empty(std::move(r_));
    }

private:
    void emit_text(ChatDelta::Kind kind, const std::string& t) {
        if (t.empty()) {
            return;
        }
        ChatDelta d;
        d.kind = kind;
        d.text = t;
        emit(d);
    }
    void emit(const ChatDelta& d) {
        if (sink_) {
            *delivered_ = true;
            sink_(d);
        }
    }

    DeltaSink sink_;
    bool* delivered_;
    ChatResponse r_;
    std::map<int64_t, std::string> kinds_;
    std::map<int64_t, size_t> calls_;  // block index -> tool call
    bool stopped_ = false;
};

class AnthropicProvider final : public Provider {
public:
    AnthropicProvider(io::Executor& executor, io::Network& network, http::Url url, std::string key)
        : executor_(executor), network_(network), url_(std::move(url)), key_(std::move(key)) {}

    std::string_view name() const override { return "anthropic"; }

    io::Task<Result<ChatResponse>> complete(ChatRequest request, DeltaSink on_delta) override {
        auto delivered = std::make_shared<bool>(false);
        http::Request r;
        r.path = url_.prefix + "/v1/messages";
        r.headers.emplace_back("Content-Type", "application/json");
        r.headers.emplace_back("anthropic-version", anthropic_version);
        if (!key_.empty()) {
            r.headers.emplace_back("x-api-key", key_);
        }
        r.body = request_body(request, static_cast<bool>(on_delta));
        AnthropicProvider* self = this;
        common::AttemptFn attempt = [self, r, on_delta, delivered]() -> io::Task<common::Attempt> {
            return self->attempt(r, on_delta, delivered);
        };
        co_return co_await common::with_retries(executor_, request.timeout, attempt, delivered.get());
    }

private:
    io::Task<common::Attempt> attempt(http::Request r, DeltaSink on_delta,
                                      std::shared_ptr<bool> delivered) {
        // Everything handed to http_attempt is named first (ADR 0001: no temporaries inside
        // a co_await expression).
        std::string provider = "anthropic";
        common::ParseWhole parse = parse_whole;
        http::BodySink sink;
        common::FinishStream finish;
        if (on_delta) {
            auto state = std::make_shared<StreamState>(on_delta, delivered.get());
            auto splitter = std::make_shared<http::SseSplitter>();
            sink = [state, splitter](std::string_view piece) -> Status {
                for (const http::SseSplitter::Event& e : splitter->feed(piece)) {
                    KELPIE_TRY(state->on_event(e.event, e.data));
                }
                return {};
            };
            finish = [state] { return state->finish(); };
        }
        co_return co_await common::http_attempt(network_, url_, std::move(r), std::move(provider),
                                                std::move(parse), std::move(sink), std::move(finish));
    }

    io::Executor& executor_;
    io::Network& network_;
    http::Url url_;
    std::string key_;
};

}  // namespace

Result<std::unique_ptr<Provider>> make_anthropic_provider(io::Executor& executor,
                                                          io::Network& network,
                                                          ProviderConfig config) {
    KELPIE_TRY_ASSIGN(http::Url url, http::parse_url(config.base_url));
    return std::unique_ptr<Provider>(std::make_unique<AnthropicProvider>(
        executor, network, std::move(url), std::move(config.api_key)));
}

}  // namespace kelpie::llm
