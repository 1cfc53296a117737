// The OpenAI-compatible provider: POST {base}/chat/completions, streamed (SSE, `data: [DONE]`) or
// not (research: letta-api.md §9.1). Covers OpenAI, vLLM, llama.cpp's server and Ollama.

#include <boost/json.hpp>
#include <fmt/format.h>

#include "llm/common/call.h"
#include "llm/http/client.h"
#include "llm/llm.h"

namespace kelpie::llm {

namespace json = boost::json;

namespace {

std::string_view role_name(Role r) {
    switch (r) {
        case Role::system: return "system";
        case Role::user: return "user";
        case Role::assistant: return "assistant";
        case Role::tool: return "tool";
    }
    return "user";
}

FinishReason finish_of(std::string_view f) {
    if (f == "stop") return FinishReason::stop;
    if (f == "tool_calls" || f == "function_call") return FinishReason::tool_calls;
    if (f == "length") return FinishReason::length;
    if (f == "content_filter") return FinishReason::content_filter;
    return FinishReason::other;
}

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

void read_usage(const json::value* u, Usage& usage) {
    if (u == nullptr || !u->is_object()) {
        return;
    }
    usage.prompt_tokens = integer(u->as_object(), "prompt_tokens");
    usage.completion_tokens = integer(u->as_object(), "completion_tokens");
    usage.total_tokens = integer(u->as_object(), "total_tokens");
}

std::string request_body(const ChatRequest& request, bool stream) {
    json::object body;
    body["model"] = request.model;
    json::array messages;
    if (!request.system.empty()) {
        messages.push_back(json::object{{"role", "system"}, {"content", request.system}});
    }
    for (const ChatMessage& m : *request.messages) {
        json::object o;
        o["role"] = role_name(m.role);
        if (m.role == Role::tool) {
            o["tool_call_id"] = m.tool_call_id;
            o["content"] = m.content;
        } else if (m.role == Role::assistant && !m.tool_calls.empty()) {
            o["content"] = m.content.empty() ? json::value(nullptr) : json::value(m.content);
            json::array calls;
            for (const ToolCall& c : m.tool_calls) {
                json::object call;
                call["id"] = c.id;
                call["type"] = "function";
                call["function"] = json::object{{"name", c.name}, {"arguments", c.arguments}};
                calls.push_back(std::move(call));
            }
            o["tool_calls"] = std::move(calls);
        } else {
            o["content"] = m.content;
        }
        messages.push_back(std::move(o));
    }
    body["messages"] = std::move(messages);
    if (!request.tools.empty()) {
        json::array tools;
        for (const ToolSchema& t : request.tools) {
            boost::system::error_code ec;
            json::value parameters = json::parse(t.parameters_json, ec);
            if (ec || !parameters.is_object()) {
                parameters = json::object{{"type", "object"}, {"properties", json::object()}};
            }
            json::object function{{"name", t.name}, {"description", t.description}};
            function["parameters"] = std::move(parameters);
            tools.push_back(json::object{{"type", "function"}, {"function", std::move(function)}});
        }
        body["tools"] = std::move(tools);
        body["tool_choice"] = request.tool_choice == ToolChoice::required ? "required"
                              : request.tool_choice == ToolChoice::none  ? "none"
                                                                         : "auto";
        body["parallel_tool_calls"] = request.parallel_tool_calls;
    }
    if (request.max_tokens.has_value()) {
        body["max_tokens"] = *request.max_tokens;
    }
    if (request.temperature.has_value()) {
        body["temperature"] = *request.temperature;
    }
    if (stream) {
        body["stream"] = true;
        body["stream_options"] = json::object{{"include_usage", true}};
    }
    return json::serialize(body);
}

Error malformed(std::string what) {
    return Error(ErrorCode::corruption, "openai: malformed answer: " + std::move(what));
}

Result<ChatResponse> parse_whole(const std::string& body) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) {
        return malformed("not a JSON object");
    }
    const json::object& o = v.as_object();
    const json::value* choices = o.if_contains("choices");
    if (choices == nullptr || !choices->is_array() || choices->as_array().empty() ||
        !choices->as_array()[0].is_object()) {
        return malformed("no choices");
    }
    const json::object& choice = choices->as_array()[0].as_object();
    const json::value* message = choice.if_contains("message");
    if (message == nullptr || !message->is_object()) {
        return malformed("no message");
    }
    ChatResponse r;
    r.model = text(o, "model");
    r.content = text(message->as_object(), "content");
    r.reasoning = text(message->as_object(), "reasoning_content");
    r.finish = finish_of(text(choice, "finish_reason"));
    if (const json::value* calls = message->as_object().if_contains("tool_calls");
        calls != nullptr && calls->is_array()) {
        for (const json::value& c : calls->as_array()) {
            const json::value* f = c.is_object() ? c.as_object().if_contains("function") : nullptr;
            if (f == nullptr || !f->is_object()) {
                return malformed("a tool call without a function");
            }
            ToolCall call;
            call.id = text(c.as_object(), "id");
            call.name = text(f->as_object(), "name");
            call.arguments = text(f->as_object(), "arguments");
            if (call.name.empty()) {
                return malformed("a tool call without a name");
            }
            r.tool_calls.push_back(std::move(call));
        }
    }
    read_usage(o.if_contains("usage"), r.usage);
    return r;
}

// Assembles a streamed answer from its chunks and reports the deltas.
class StreamState {
public:
    StreamState(DeltaSink sink, bool* delivered) : sink_(std::move(sink)), delivered_(delivered) {}

    Status on_event(const std::string& data) {
        if (done_) {
            return {};
        }
        if (data.starts_with("[DONE]")) {
            done_ = true;
            return {};
        }
        boost::system::error_code ec;
        json::value v = json::parse(data, ec);
        if (ec || !v.is_object()) {
            return malformed("a stream chunk is not a JSON object");
        }
        const json::object& o = v.as_object();
        if (const json::value* e = o.if_contains("error"); e != nullptr && !e->is_null()) {
            const std::string message = e->is_object() ? text(e->as_object(), "message") : json::serialize(*e);
            return Error(ErrorCode::unavailable, "openai: error in the stream: " + message);
        }
        if (r_.model.empty()) {
            r_.model = text(o, "model");
        }
        read_usage(o.if_contains("usage"), r_.usage);
        const json::value* choices = o.if_contains("choices");
        if (choices == nullptr || !choices->is_array() || choices->as_array().empty()) {
            return {};
        }
        const json::value& c0 = choices->as_array()[0];
        if (!c0.is_object()) {
            return malformed("a choice is not an object");
        }
        const json::object& choice = c0.as_object();
        if (const std::string f = text(choice, "finish_reason"); !f.empty()) {
            r_.finish = finish_of(f);
        }
        const json::value* delta = choice.if_contains("delta");
        if (delta == nullptr || !delta->is_object()) {
            return {};
        }
        const json::object& d = delta->as_object();
        if (const std::string t = text(d, "content"); !t.empty()) {
            r_.content += t;
            emit_text(ChatDelta::Kind::content, t);
        }
        if (const std::string t = text(d, "reasoning_content"); !t.empty()) {
            r_.reasoning += t;
            emit_text(ChatDelta::Kind::reasoning, t);
        }
        if (const json::value* calls = d.if_contains("tool_calls"); calls != nullptr && calls->is_array()) {
            for (const json::value& cv : calls->as_array()) {
                if (!cv.is_object()) {
                    return malformed("a tool call delta is not an object");
                }
                const json::object& c = cv.as_object();
                const int64_t wire_index = integer(c, "index");
                auto [it, fresh] = index_.try_emplace(wire_index, r_.tool_calls.size());
                if (fresh) {
                    r_.tool_calls.emplace_back();
                }
                ToolCall& call = r_.tool_calls[it->second];
                ChatDelta out;
                out.kind = ChatDelta::Kind::tool_call;
                out.tool_index = it->second;
                if (const std::string id = text(c, "id"); !id.empty() && call.id.empty()) {
                    call.id = id;
                    out.tool_id = id;
                }
                if (const json::value* f = c.if_contains("function"); f != nullptr && f->is_object()) {
                    if (const std::string n = text(f->as_object(), "name"); !n.empty() && call.name.empty()) {
                        call.name = n;
                        out.tool_name = n;
                    }
                    out.arguments = text(f->as_object(), "arguments");
                    call.arguments += out.arguments;
                }
                emit(out);
            }
        }
        return {};
    }

    Result<ChatResponse> finish() {
        for (const ToolCall& c : r_.tool_calls) {
            if (c.name.empty()) {
                return malformed("a streamed tool call without a name");
            }
        }
        return common::check_not_empty(std::move(r_));
    }

private:
    void emit_text(ChatDelta::Kind kind, const std::string& t) {
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
    std::map<int64_t, size_t> index_;  // the wire's call index -> ours
    bool done_ = false;
};

class OpenAiProvider final : public Provider {
public:
    OpenAiProvider(io::Executor& executor, io::Network& network, http::Url url, std::string key)
        : executor_(executor), network_(network), url_(std::move(url)), key_(std::move(key)) {}

    std::string_view name() const override { return "openai"; }

    io::Task<Result<ChatResponse>> complete(ChatRequest request, DeltaSink on_delta) override {
        auto delivered = std::make_shared<bool>(false);
        const bool stream = static_cast<bool>(on_delta);
        http::Request r;
        r.path = url_.prefix + "/chat/completions";
        r.headers.emplace_back("Content-Type", "application/json");
        r.headers.emplace_back("Accept", stream ? "text/event-stream" : "application/json");
        if (!key_.empty()) {
            r.headers.emplace_back("Authorization", "Bearer " + key_);
        }
        r.body = request_body(request, stream);
        OpenAiProvider* self = this;
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
        std::string provider = "openai";
        common::ParseWhole parse = parse_whole;
        http::BodySink sink;
        common::FinishStream finish;
        if (on_delta) {
            auto state = std::make_shared<StreamState>(on_delta, delivered.get());
            auto splitter = std::make_shared<http::SseSplitter>();
            sink = [state, splitter](std::string_view piece) -> Status {
                for (const http::SseSplitter::Event& e : splitter->feed(piece)) {
                    KELPIE_TRY(state->on_event(e.data));
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

Result<std::unique_ptr<Provider>> make_openai_provider(io::Executor& executor, io::Network& network,
                                                       ProviderConfig config) {
    KELPIE_TRY_ASSIGN(http::Url url, http::parse_url(config.base_url));
    return std::unique_ptr<Provider>(
        std::make_unique<OpenAiProvider>(executor, network, std::move(url), std::move(config.api_key)));
}

}  // namespace kelpie::llm
