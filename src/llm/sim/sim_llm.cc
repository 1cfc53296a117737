#include "llm/sim_llm.h"

#include <fmt/format.h>

namespace kelpie::llm {

SimLlm::SimLlm(io::Executor& executor, SimLlmFaults faults) : executor_(executor), faults_(faults) {}

bool SimLlm::roll(double probability) {
    if (probability <= 0) {
        return false;
    }
    constexpr uint64_t scale = 1'000'000;
    return executor_.random().below(scale) < static_cast<uint64_t>(probability * scale);
}

ChatResponse SimLlm::default_reply(const ChatRequest& request) {
    ChatResponse r;
    r.model = request.model;
    r.usage = Usage{100, 10, 110};
    const std::vector<ChatMessage>& messages = *request.messages;
    if (!messages.empty() && messages.back().role == Role::tool) {
        r.content = "DONE";
        return r;
    }
    std::string last;
    for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
        if (it->role == Role::user) {
            last = it->content;
            break;
        }
    }
    // "CALL <tool> <json>" anywhere on the last line of the user's text.
    const size_t at = last.rfind("CALL ");
    if (at != std::string::npos) {
        const std::string rest = last.substr(at + 5);
        const size_t space = rest.find(' ');
        ToolCall call;
        call.id = fmt::format("call_{}", next_call_id_++);
        call.name = rest.substr(0, space);
        call.arguments = space == std::string::npos ? "{}" : rest.substr(space + 1);
        r.tool_calls.push_back(std::move(call));
        r.finish = FinishReason::tool_calls;
        return r;
    }
    r.content = "ECHO: " + last;
    return r;
}

io::Task<Result<ChatResponse>> SimLlm::complete(ChatRequest request, DeltaSink on_delta) {
    last_request_messages_ = request.messages->size();
    last_request_ends_ = request.messages->empty()
                             ? std::pair<std::string, std::string>()
                             : std::pair(request.messages->front().content, request.messages->back().content);
    if (faults_.keep_requests) {
        requests_.push_back(request);
    }
    const int64_t min_ms = std::max<int64_t>(faults_.latency_min.to_ms(), 0);
    const int64_t spread_ms = std::max<int64_t>(faults_.latency_max.to_ms() - min_ms, 0);
    const Duration latency = Duration::ms(
        min_ms + static_cast<int64_t>(executor_.random().below(static_cast<uint64_t>(spread_ms) + 1)));
    co_await executor_.sleep_for(latency);
    if (roll(faults_.timeout_probability)) {
        fired_["timeout"]++;
        co_await executor_.sleep_for(request.timeout);
        co_return Error(ErrorCode::timeout, "simulated LLM: no answer within the request timeout");
    }
    if (roll(faults_.rate_limit_probability)) {
        fired_["rate_limit"]++;
        co_return Error(ErrorCode::limit_exceeded, "simulated LLM: rate limit (HTTP 429) after retries");
    }
    if (roll(faults_.error_probability)) {
        fired_["error"]++;
        co_return Error(ErrorCode::unavailable, "simulated LLM: HTTP 500 after retries");
    }
    Result<ChatResponse> reply = Error(ErrorCode::internal, "unset");
    if (!script_.empty()) {
        reply = std::move(script_.front());
        script_.pop_front();
    } else {
        reply = default_reply(request);
    }
    if (!reply.ok()) {
        co_return reply;
    }
    if (roll(faults_.malformed_probability) && !reply->tool_calls.empty()) {
        fired_["malformed"]++;
        reply->tool_calls.front().arguments = "{\"label\": \"hum";  // cut short: not JSON
    }
    if (on_delta) {
        auto halves = [](const std::string& s) {
            const size_t half = s.size() / 2;
            return std::pair<std::string, std::string>(s.substr(0, half), s.substr(half));
        };
        if (!reply->content.empty()) {
            auto [a, b] = halves(reply->content);
            ChatDelta d;
            d.kind = ChatDelta::Kind::content;
            d.text = a;
            on_delta(d);
            d.text = b;
            on_delta(d);
        }
        for (size_t i = 0; i < reply->tool_calls.size(); i++) {
            const ToolCall& c = reply->tool_calls[i];
            auto [a, b] = halves(c.arguments);
            ChatDelta d;
            d.kind = ChatDelta::Kind::tool_call;
            d.tool_index = i;
            d.tool_id = c.id;
            d.tool_name = c.name;
            d.arguments = a;
            on_delta(d);
            d.tool_id.clear();
            d.tool_name.clear();
            d.arguments = b;
            on_delta(d);
        }
    }
    answered_++;
    co_return reply;
}

}  // namespace kelpie::llm
