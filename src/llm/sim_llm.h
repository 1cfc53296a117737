#pragma once

// A simulated model for the simulator and unit tests: deterministic given the executor's seed, no
// I/O. Replies come from a script (queue) or a fixed rule; faults are injected with the given
// probabilities, each counted:
//   error           a 500 after the retries          -> ErrorCode::unavailable
//   rate_limit      429 after the retries            -> ErrorCode::limit_exceeded ("rate limit")
//   timeout         no answer within request.timeout -> ErrorCode::timeout
//   malformed       a tool call whose arguments are not JSON
// Default rule (no script): the last message is a tool result -> text "DONE"; the last user text
// starts with "CALL <tool> <json args>" -> that tool call; otherwise "ECHO: <last user text>".
// A streamed call delivers the text (or each call's arguments) in two deltas.

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "io/executor.h"
#include "llm/llm.h"

namespace kelpie::llm {

struct SimLlmFaults {
    double error_probability = 0;
    double rate_limit_probability = 0;
    double timeout_probability = 0;
    double malformed_probability = 0;
    Duration latency_max = Duration::ms(50);  // each call takes latency_min..latency_max
    Duration latency_min = Duration::zero();
    // Keep every request for requests() (tests); the simulator's long runs turn it off.
    bool keep_requests = true;
};

class SimLlm final : public Provider {
public:
    SimLlm(io::Executor& executor, SimLlmFaults faults = {});

    std::string_view name() const override { return "sim"; }
    io::Task<Result<ChatResponse>> complete(ChatRequest request, DeltaSink on_delta) override;

    // Scripted replies, used in order before the default rule.
    void queue(ChatResponse reply) { script_.emplace_back(std::move(reply)); }
    void queue_error(Error error) { script_.emplace_back(std::move(error)); }
    // No more faults from now on (the simulator's liveness phase); latency stays.
    void heal() {
        SimLlmFaults healed;
        healed.latency_max = faults_.latency_max;
        healed.latency_min = faults_.latency_min;
        healed.keep_requests = faults_.keep_requests;
        faults_ = healed;
    }
    // Every request received, in order.
    const std::vector<ChatRequest>& requests() const { return requests_; }
    // How many messages (besides the system prompt) the latest request carried, kept or not.
    size_t last_request_messages() const { return last_request_messages_; }
    // The contents of its first and last message.
    const std::pair<std::string, std::string>& last_request_ends() const { return last_request_ends_; }
    // Faults fired, by kind ("error", "rate_limit", "timeout", "malformed").
    const std::map<std::string, uint64_t>& faults_fired() const { return fired_; }
    // Calls that completed successfully.
    uint64_t answered() const { return answered_; }

private:
    ChatResponse default_reply(const ChatRequest& request);
    bool roll(double probability);

    io::Executor& executor_;
    SimLlmFaults faults_;
    std::deque<Result<ChatResponse>> script_;
    std::vector<ChatRequest> requests_;
    std::map<std::string, uint64_t> fired_;
    uint64_t answered_ = 0;
    size_t last_request_messages_ = 0;
    std::pair<std::string, std::string> last_request_ends_;
    uint64_t next_call_id_ = 1;
};

}  // namespace kelpie::llm
