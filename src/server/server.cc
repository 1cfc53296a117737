#include "server/server.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "base/version.h"
#include "io/combinators.h"

namespace kelpie::server {

namespace json = boost::json;

namespace {

HttpResponse health(std::string_view store) {
    json::object body;
    body["status"] = "ok";
    body["version"] = version_string;
    body["store"] = store;
    return HttpResponse::json(200, json::serialize(body));
}

int status_for(ErrorCode code) {
    switch (code) {
        case ErrorCode::invalid_argument:
        case ErrorCode::limit_exceeded: return 422;
        case ErrorCode::not_found: return 404;
        case ErrorCode::already_exists:
        case ErrorCode::failed_precondition: return 409;
        case ErrorCode::timeout: return 504;
        case ErrorCode::unavailable:
        case ErrorCode::closed:
        case ErrorCode::not_owner:
        case ErrorCode::lease_expired:
        case ErrorCode::fenced:
        case ErrorCode::unknown_result: return 503;
        default: return 500;
    }
}

HttpResponse from_error(const Error& e, const std::string& method) {
    HttpResponse r = HttpResponse::error(status_for(e.code), e.message.empty() ? e.to_string() : e.message);
    if (method == "POST" && (r.status == 409 || r.status >= 500)) {
        r.headers.push_back(HttpHeader{"x-should-retry", "false"});
    }
    return r;
}

HttpResponse ok_json(const json::value& v) { return HttpResponse::json(200, json::serialize(v)); }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Percent-decoding ('+' is a space in a query string); a malformed escape stays as it is.
std::string decode(std::string_view s, bool plus_is_space) {
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
            hex_value(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
            i += 2;
        } else if (s[i] == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

agent::Query parse_query(std::string_view q) {
    agent::Query out;
    while (!q.empty()) {
        const size_t amp = q.find('&');
        const std::string_view part = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
        if (part.empty()) {
            continue;
        }
        const size_t eq = part.find('=');
        out.add(decode(part.substr(0, eq), true),
                eq == std::string_view::npos ? std::string() : decode(part.substr(eq + 1), true));
    }
    return out;
}

// "/v1/agents/abc/" -> {"agents", "abc"}.
std::vector<std::string> segments(std::string_view path) {
    std::vector<std::string> out;
    while (!path.empty()) {
        const size_t slash = path.find('/');
        const std::string_view s = path.substr(0, slash);
        if (!s.empty()) {
            out.push_back(decode(s, false));
        }
        if (slash == std::string_view::npos) {
            break;
        }
        path = path.substr(slash + 1);
    }
    if (!out.empty() && out.front() == "v1") {
        out.erase(out.begin());
    }
    return out;
}

Result<json::value> parse_body(const HttpRequest& request) {
    if (request.body.empty()) {
        return json::value(nullptr);
    }
    boost::system::error_code ec;
    json::value v = json::parse(request.body, ec);
    if (ec) {
        return Error(ErrorCode::invalid_argument,
                     fmt::format("malformed JSON body: {}", ec.message()));
    }
    return v;
}

bool body_flag(const json::value& body, std::string_view key, bool fallback) {
    if (!body.is_object()) {
        return fallback;
    }
    const json::value* v = body.as_object().if_contains(key);
    return (v != nullptr && v->is_bool()) ? v->as_bool() : fallback;
}

std::string body_string(const json::value& body, std::string_view key) {
    if (!body.is_object()) {
        return "";
    }
    const json::value* v = body.as_object().if_contains(key);
    return (v != nullptr && v->is_string()) ? std::string(v->as_string()) : std::string();
}

std::string sse_data(const std::string& json_text) { return "data: " + json_text + "\n\n"; }

io::Task<std::optional<std::string>> next_event(std::shared_ptr<io::Channel<std::string>> events) {
    co_return co_await events->receive();
}

// Writes the events of `events` as SSE until it closes, with a ping whenever it stays silent for
// sse_ping_interval (if `pings`). After the client is gone (a failed write) it keeps reading, so
// the run's publisher never blocks; returns whether the client is still connected.
io::Task<bool> forward_events(io::Executor* executor, std::shared_ptr<agent::RunStream> stream,
                              std::shared_ptr<io::Channel<std::string>> events, bool pings,
                              bool connected, BodyWriter& writer) {
    while (true) {
        std::optional<std::string> event;
        if (pings) {
            Result<std::optional<std::string>> next =
                co_await io::with_timeout(*executor, sse_ping_interval, next_event(events));
            if (!next.ok()) {
                json::object ping;
                ping["message_type"] = "ping";
                ping["id"] = "ping-" + std::to_string(executor->random().next_u64());
                ping["run_id"] = nullptr;
                ping["seq_id"] = stream->last_seq_id();
                if (connected) {
                    connected = (co_await writer.write(sse_data(json::serialize(ping)))).ok();
                }
                continue;
            }
            event = std::move(*next);
        } else {
            event = co_await next_event(events);
        }
        if (!event.has_value()) {
            co_return connected;
        }
        if (connected) {
            connected = (co_await writer.write(sse_data(*event))).ok();
        }
    }
}

// The end of a run's stream: stop_reason and usage_statistics (or the error), then [DONE].
std::string stream_tail(const Result<json::object>& outcome, bool overflowed) {
    std::string tail;
    if (!outcome.ok()) {
        json::object stop;
        stop["message_type"] = "stop_reason";
        stop["stop_reason"] = "error";
        json::object error;
        error["message_type"] = "error_message";
        error["error_type"] = "internal_error";
        error["message"] = outcome.error().message;
        error["detail"] = outcome.error().to_string();
        tail = sse_data(json::serialize(stop)) + "event: error\n" + sse_data(json::serialize(error));
    } else {
        const json::object& response = *outcome;
        if (overflowed) {
            json::object error;
            error["message_type"] = "error_message";
            error["error_type"] = "stream_incomplete";
            error["message"] = "the client read the stream too slowly; events were dropped";
            tail += sse_data(json::serialize(response.at("stop_reason"))) + "event: error\n" +
                    sse_data(json::serialize(error));
        } else if (const json::value* error = response.if_contains("error")) {
            tail += sse_data(json::serialize(response.at("stop_reason"))) + "event: error\n" +
                    sse_data(json::serialize(*error));
        } else {
            tail += sse_data(json::serialize(response.at("stop_reason")));
            tail += sse_data(json::serialize(response.at("usage")));
        }
    }
    return tail + "data: [DONE]\n\n";
}

io::Task<void> run_send(agent::AgentService* agents, std::string agent_id, std::string conversation,
                        json::value body, std::shared_ptr<agent::RunStream> stream, std::string key) {
    Result<agent::SendResult> r =
        co_await agents->send_message(std::move(agent_id), std::move(conversation), std::move(body),
                                      stream, std::move(key));
    if (!stream->outcome().has_value()) {
        stream->finish(std::move(r).error());  // refused before the run began
    }
}

// Writes a run's events as SSE while it runs, then the stop reason, usage and [DONE].
io::Task<void> produce_stream(io::Executor* executor, agent::AgentService* agents,
                              std::string agent_id, std::string conversation, json::value body,
                              std::string key, bool pings, BodyWriter& writer) {
    auto stream = std::make_shared<agent::RunStream>(
        *executor, body_flag(body, "stream_tokens", false), body_flag(body, "background", false));
    // The run goes on even if the client leaves: it is a durable invocation.
    io::spawn(*executor, run_send(agents, std::move(agent_id), std::move(conversation), std::move(body),
                                  stream, std::move(key)));
    // The client's own channel: shared with the stream, which owns it.
    std::shared_ptr<io::Channel<std::string>> events(stream, &stream->events);
    const bool connected = co_await forward_events(executor, stream, events, pings, true, writer);
    // The channel closes only in RunStream::finish, which sets the outcome first.
    KELPIE_ASSERT(stream->outcome().has_value());
    if (connected) {
        (void)co_await writer.write(stream_tail(*stream->outcome(), stream->overflowed));
    }
}

// Follows a recorded run again (POST /v1/runs/{id}/stream): the events after the client's last
// seq_id, the live ones while the run goes on, then its end.
io::Task<void> resume_stream(io::Executor* executor, std::shared_ptr<agent::RunStream> stream,
                             agent::RunStream::Follower follower, bool pings, BodyWriter& writer) {
    bool connected = true;
    for (const std::string& event : follower.replay) {
        if (connected) {
            connected = (co_await writer.write(sse_data(event))).ok();
        }
    }
    bool cut = false;
    if (follower.live != nullptr) {
        connected = co_await forward_events(executor, stream, follower.live, pings, connected, writer);
        cut = *follower.overflowed;
    }
    if (connected && stream->outcome().has_value()) {
        (void)co_await writer.write(stream_tail(*stream->outcome(), cut));
    }
}

// The answer to a request to follow a recorded run again: its events after the body's
// `starting_after`, live ones, its end (SSE); or why not.
HttpResponse follow_run(io::Executor* executor, std::shared_ptr<agent::RunStream> stream,
                        const json::value& body) {
    int64_t after = 0;
    if (body.is_object()) {
        if (const json::value* v = body.as_object().if_contains("starting_after"); v != nullptr && !v->is_null()) {
            if (v->is_int64()) {
                after = v->as_int64();
            } else if (v->is_uint64()) {
                after = static_cast<int64_t>(std::min<uint64_t>(v->as_uint64(), INT64_MAX));
            } else {
                return HttpResponse::error(422, "'starting_after' must be an integer seq_id");
            }
        }
    }
    Result<agent::RunStream::Follower> follower = stream->follow(after);
    if (!follower.ok()) {
        return HttpResponse::error(400, follower.error().message);
    }
    const bool pings = body_flag(body, "include_pings", true);
    auto producer = [executor, stream, f = std::move(*follower), pings](BodyWriter& writer) {
        return resume_stream(executor, stream, f, pings, writer);
    };
    return HttpResponse::sse(producer);
}

}  // namespace

Server::Server(io::Executor& executor, io::Network& network, store::Store& store,
               agent::AgentService* agents)
    : executor_(executor),
      store_(store),
      agents_(agents),
      http_(executor, network, [this](HttpRequest r) { return handle(std::move(r)); }) {}

Result<io::Address> Server::start(const io::Address& address) { return http_.start(address); }

io::Task<void> Server::stop() { return http_.stop(); }

io::Task<HttpResponse> Server::handle(HttpRequest request) {
    const std::vector<std::string> p = segments(request.path);
    const std::string& method = request.method;
    // is("agents/*/messages"): the path has these segments; * matches any one.
    auto is = [&p](std::string_view pattern) {
        size_t i = 0;
        while (!pattern.empty()) {
            const size_t slash = pattern.find('/');
            const std::string_view want = pattern.substr(0, slash);
            if (i >= p.size() || (want != "*" && p[i] != want)) {
                return false;
            }
            i++;
            pattern = slash == std::string_view::npos ? std::string_view() : pattern.substr(slash + 1);
        }
        return i == p.size();
    };
    if ((is("health") || is("ready")) && method == "GET") {
        co_return health(store_.backend_name());
    }
    if (is("health") || is("ready")) {
        HttpResponse r = HttpResponse::error(405, "Method Not Allowed: " + method);
        r.headers.push_back({"Allow", "GET"});
        co_return r;
    }
    if (agents_ == nullptr || p.empty()) {
        co_return HttpResponse::error(404, "Not Found: " + request.path);
    }
    agent::AgentService& a = *agents_;
    const agent::Query query = parse_query(request.query);
    Result<json::value> parsed = parse_body(request);
    if (!parsed.ok() && (method == "POST" || method == "PATCH" || method == "PUT")) {
        co_return from_error(parsed.error(), method);
    }
    json::value body = parsed.ok() ? std::move(*parsed) : json::value(nullptr);
    const std::string idempotency_key = request.header("idempotency-key").value_or("");

    // Turns a service result into a response.
    auto answer_object = [&](Result<json::object> r) {
        return r.ok() ? ok_json(*r) : from_error(r.error(), method);
    };
    auto answer_array = [&](Result<json::array> r) {
        return r.ok() ? ok_json(*r) : from_error(r.error(), method);
    };

    // Models and tools.
    if (is("models") && method == "GET") {
        co_return ok_json(a.list_models());
    }
    if (is("models/embedding") && method == "GET") {
        co_return ok_json(json::array());
    }
    if (is("tools/add-base-tools") && method == "POST") {
        co_return ok_json(a.base_tools());
    }
    if (is("tools") && (method == "POST" || method == "PUT")) {
        co_return answer_object(co_await a.create_tool(std::move(body), method == "PUT", idempotency_key));
    }
    if (is("tools/*") && method == "PATCH") {
        co_return answer_object(co_await a.update_tool(p[1], std::move(body), idempotency_key));
    }
    if (is("tools/*") && method == "DELETE") {
        Status s = co_await a.delete_tool(p[1], idempotency_key);
        if (!s.ok()) {
            co_return from_error(s.error(), method);
        }
        co_return ok_json(json::object());
    }
    if (is("tools") && method == "GET") {
        co_return answer_array(co_await a.list_tools(query));
    }
    if (is("tools/*") && method == "GET") {
        co_return answer_object(co_await a.retrieve_tool(p[1]));
    }

    // Agents.
    if (is("agents") && method == "POST") {
        co_return answer_object(co_await a.create_agent(std::move(body), idempotency_key));
    }
    if (is("agents") && method == "GET") {
        co_return answer_array(co_await a.list_agents(query));
    }
    if (is("agents/*")) {
        if (method == "GET") {
            Result<std::string> text = co_await a.retrieve_agent_text(p[1]);
            co_return text.ok() ? HttpResponse::json(200, std::move(*text)) : from_error(text.error(), method);
        }
        if (method == "PATCH") {
            co_return answer_object(co_await a.update_agent(p[1], std::move(body), idempotency_key));
        }
        if (method == "DELETE") {
            Status s = co_await a.delete_agent(p[1], idempotency_key);
            if (!s.ok()) {
                co_return from_error(s.error(), method);
            }
            json::object done;
            done["message"] = fmt::format("Agent id={} successfully deleted", p[1]);
            co_return ok_json(done);
        }
    }
    if (is("agents/*/reset-messages") && method == "PATCH") {
        co_return answer_object(co_await a.reset_messages(p[1], std::move(body), idempotency_key));
    }
    if (is("agents/*/core-memory/blocks") && method == "GET") {
        co_return answer_array(co_await a.list_agent_blocks(p[1], query));
    }
    if (is("agents/*/core-memory/blocks/*")) {
        if (method == "GET") {
            co_return answer_object(co_await a.retrieve_agent_block(p[1], p[4]));
        }
        if (method == "PATCH") {
            co_return answer_object(co_await a.update_agent_block(p[1], p[4], std::move(body), idempotency_key));
        }
    }
    if (is("agents/*/core-memory/blocks/attach/*") && method == "PATCH") {
        co_return answer_object(co_await a.attach_block(p[1], p[5], idempotency_key));
    }
    if (is("agents/*/core-memory/blocks/detach/*") && method == "PATCH") {
        co_return answer_object(co_await a.detach_block(p[1], p[5], idempotency_key));
    }
    if (is("agents/*/tools") && method == "GET") {
        co_return answer_array(co_await a.list_agent_tools(p[1], query));
    }
    if (is("agents/*/tools/attach/*") && method == "PATCH") {
        co_return answer_object(co_await a.attach_tool(p[1], p[4], idempotency_key));
    }
    if (is("agents/*/tools/detach/*") && method == "PATCH") {
        co_return answer_object(co_await a.detach_tool(p[1], p[4], idempotency_key));
    }

    // Messages: to an agent (JSON unless streaming) or a conversation (SSE unless streaming=false).
    const bool agent_send = (is("agents/*/messages") || is("agents/*/messages/stream")) &&
                            method == "POST";
    const bool conversation_send = is("conversations/*/messages") && method == "POST";
    if (agent_send || conversation_send) {
        std::string agent_id = agent_send ? p[1] : body_string(body, "agent_id");
        std::string conversation = conversation_send && p[1] != "default" ? p[1] : "";
        if (conversation_send && p[1] != "default") {
            Result<std::string> owner = co_await a.conversation_agent(p[1]);
            if (!owner.ok()) {
                co_return from_error(owner.error(), method);
            }
            agent_id = *owner;
        }
        if (agent_id.empty()) {
            co_return HttpResponse::error(422, "'agent_id' is required to send to the default conversation");
        }
        const bool streaming = (agent_send && p.size() == 4) ||
                               body_flag(body, "streaming", conversation_send);
        if (!streaming && agent_send &&
            (body_flag(body, "stream_tokens", false) || body_flag(body, "background", false) ||
             !body_flag(body, "include_pings", true))) {
            co_return HttpResponse::error(
                422, "stream_tokens, background and include_pings=false need streaming=true");
        }
        if (!streaming) {
            Result<agent::SendResult> r = co_await a.send_message(agent_id, conversation, std::move(body),
                                                                  nullptr, idempotency_key);
            if (!r.ok()) {
                co_return from_error(r.error(), method);
            }
            co_return ok_json(r->response);
        }
        // Refusals (unknown agent, bad body, waiting for approval) are HTTP errors, not streams.
        Result<json::object> checked = co_await a.check_send(agent_id, body);
        if (!checked.ok()) {
            co_return from_error(checked.error(), method);
        }
        const bool pings = body_flag(body, "include_pings", true);
        io::Executor* executor = &executor_;
        agent::AgentService* service = agents_;
        auto producer = [executor, service, agent_id, conversation, body, idempotency_key,
                         pings](BodyWriter& writer) {
            return produce_stream(executor, service, agent_id, conversation, body, idempotency_key,
                                  pings, writer);
        };
        co_return HttpResponse::sse(producer);
    }
    if (is("runs/*/stream") && method == "POST") {
        std::shared_ptr<agent::RunStream> stream = a.recorded_stream(p[1]);
        if (stream == nullptr) {
            Result<json::object> run = co_await a.retrieve_run(p[1]);
            if (!run.ok()) {
                co_return from_error(run.error(), method);
            }
            co_return HttpResponse::error(
                400, "Run was not created in background mode on this server, so it cannot be "
                     "streamed again (send with background=true; finished runs are kept for a while)");
        }
        co_return follow_run(&executor_, std::move(stream), body);
    }
    if (is("conversations/*/stream") && method == "POST") {
        // letta-code's resume by conversation: the run with the input's otid, else the newest.
        std::string agent_id;
        std::string conversation = p[1];
        if (p[1] == "default") {
            agent_id = body_string(body, "agent_id");
            conversation.clear();
            if (agent_id.empty()) {
                co_return HttpResponse::error(422, "'agent_id' is required for the default conversation");
            }
        } else {
            Result<std::string> owner = co_await a.conversation_agent(p[1]);
            if (!owner.ok()) {
                co_return from_error(owner.error(), method);
            }
            agent_id = *owner;
        }
        const std::string run_id = body_string(body, "run_id");
        std::shared_ptr<agent::RunStream> stream =
            run_id.empty() ? a.recorded_conversation_stream(agent_id, conversation, body_string(body, "otid"))
                           : a.recorded_stream(run_id);
        if (stream == nullptr) {
            co_return HttpResponse::error(
                404, "No background run of this conversation is recorded on this server to stream");
        }
        co_return follow_run(&executor_, std::move(stream), body);
    }
    if (is("agents/*/messages/async") && method == "POST") {
        co_return answer_object(co_await a.send_message_async(p[1], std::move(body), idempotency_key));
    }
    if (is("agents/*/messages") && method == "GET") {
        co_return answer_array(co_await a.list_messages(p[1], query));
    }
    if (is("agents/*/messages/cancel") && method == "POST") {
        co_return answer_object(co_await a.cancel_runs(p[1], std::move(body)));
    }
    if (is("messages/*") && method == "GET") {
        co_return answer_array(co_await a.retrieve_message(p[1]));
    }

    // Blocks.
    if (is("blocks") && method == "POST") {
        co_return answer_object(co_await a.create_block(std::move(body), idempotency_key));
    }
    if (is("blocks") && method == "GET") {
        co_return answer_array(co_await a.list_blocks(query));
    }
    if (is("blocks/*")) {
        if (method == "GET") {
            co_return answer_object(co_await a.retrieve_block(p[1]));
        }
        if (method == "PATCH") {
            co_return answer_object(co_await a.update_block(p[1], std::move(body), idempotency_key));
        }
        if (method == "DELETE") {
            Status s = co_await a.delete_block(p[1], idempotency_key);
            if (!s.ok()) {
                co_return from_error(s.error(), method);
            }
            co_return ok_json(json::object());
        }
    }

    // Runs.
    if (is("runs") && method == "GET") {
        co_return answer_array(co_await a.list_runs(query));
    }
    if (is("runs/*") && method == "GET") {
        co_return answer_object(co_await a.retrieve_run(p[1]));
    }
    if (is("runs/*/messages") && method == "GET") {
        co_return answer_array(co_await a.run_messages(p[1], query));
    }
    if (is("runs/*/usage") && method == "GET") {
        co_return answer_object(co_await a.run_usage(p[1]));
    }
    if (is("runs/*/steps") && method == "GET") {
        co_return answer_array(co_await a.run_steps(p[1]));
    }

    // Conversations.
    if (is("conversations") && method == "POST") {
        co_return answer_object(co_await a.create_conversation(query.get("agent_id").value_or(""), std::move(body), idempotency_key));
    }
    if (is("conversations") && method == "GET") {
        co_return answer_array(co_await a.list_conversations(query));
    }
    if (is("conversations/*") && method == "GET") {
        co_return answer_object(co_await a.retrieve_conversation(p[1]));
    }
    if (is("conversations/*/messages") && method == "GET") {
        co_return answer_array(co_await a.list_conversation_messages(
            p[1], query.get("agent_id").value_or(""), query));
    }
    co_return HttpResponse::error(404, fmt::format("Not Found: {} {}", method, request.path));
}

}  // namespace kelpie::server
