#pragma once

// LLM providers (DESIGN §8): one provider-neutral chat interface with tool calls, streamed or not,
// and its implementations — OpenAI-compatible chat completions (OpenAI, vLLM, llama.cpp server,
// Ollama, ...) and Anthropic messages over HTTP, and a seeded simulated model for the simulator.
//
// - A request names the model as the provider sees it ("gpt-4o-mini"); model *handles*
//   ("openai/gpt-4o-mini") are resolved by Providers::resolve.
// - Tool-call arguments are the JSON text the model produced, unparsed: models emit malformed JSON
//   and the agent, not the provider, decides what that means.
// - Errors: every failure is a Result error whose code says what happened (see LlmErrorType and
//   error_type()): the agent turns it into a Letta stop reason and error_type.
// - Retries: 429 and 5xx answers and refused/reset connections are retried with backoff
//   (llm_retries_max, Retry-After honoured up to llm_retry_delay_max); a streamed call is retried
//   only before its first delta was delivered.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/units.h"
#include "io/executor.h"
#include "io/network.h"
#include "io/task.h"

namespace kelpie::llm {

// Limits and defaults.
inline constexpr Duration llm_request_timeout_default = Duration::s(300);  // whole call
inline constexpr Duration llm_connect_timeout = Duration::s(10);
inline constexpr int llm_retries_max = 3;                    // retries after the first attempt
inline constexpr Duration llm_retry_delay_base = Duration::ms(500);  // doubled per retry
inline constexpr Duration llm_retry_delay_max = Duration::s(20);
inline constexpr size_t llm_response_bytes_max = 32 * 1024 * 1024;  // one response, or one stream

enum class Role : uint8_t { system, user, assistant, tool };

struct ToolCall {
    std::string id;         // "call_..." / "toolu_...": the provider's id, echoed in the tool result
    std::string name;
    std::string arguments;  // JSON text as produced by the model (may be malformed)
};

struct ChatMessage {
    Role role = Role::user;
    std::string content;               // text (may be empty for an assistant turn with tool calls)
    std::vector<ToolCall> tool_calls;  // assistant only
    std::string tool_call_id;          // tool only: which call this is the result of
    std::string tool_name;             // tool only: the tool's name (some providers want it)
};

struct ToolSchema {
    std::string name;
    std::string description;
    std::string parameters_json;  // a JSON-schema object: {"type":"object","properties":{...},...}
};

enum class ToolChoice : uint8_t { automatic, required, none };

// A conversation, oldest first: immutable and shared, so that an agent sending its whole context
// step after step does not copy it into every request (it appends in place when no request holds
// it any more).
using ChatMessages = std::shared_ptr<const std::vector<ChatMessage>>;
inline ChatMessages chat_messages(std::vector<ChatMessage> messages) {
    return std::make_shared<const std::vector<ChatMessage>>(std::move(messages));
}

struct ChatRequest {
    ChatRequest() = default;  // not an aggregate: it is passed by value into coroutines (ADR 0001)

    std::string model;   // the provider's model name ("gpt-4o-mini")
    std::string system;  // the compiled system prompt (sent as the provider expects)
    ChatMessages messages = chat_messages({});  // never null
    std::vector<ToolSchema> tools;
    ToolChoice tool_choice = ToolChoice::automatic;
    std::optional<int64_t> max_tokens;
    std::optional<double> temperature;
    bool parallel_tool_calls = false;
    Duration timeout = llm_request_timeout_default;
};

enum class FinishReason : uint8_t { stop, tool_calls, length, content_filter, other };

struct Usage {
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
    int64_t total_tokens = 0;
};

struct ChatResponse {
    std::string content;    // the text answer (may be empty when there are tool calls)
    std::string reasoning;  // reasoning / thinking text, if the model gave any
    std::vector<ToolCall> tool_calls;
    FinishReason finish = FinishReason::stop;
    Usage usage;
    std::string model;  // as the provider reported it
};

// One piece of a streamed answer, delivered as it arrives.
struct ChatDelta {
    enum class Kind : uint8_t { content, reasoning, tool_call };
    Kind kind = Kind::content;
    std::string text;        // content / reasoning: the new text
    size_t tool_index = 0;   // tool_call: which call (0, 1, ... in the order they started)
    std::string tool_id;     // tool_call: set on the first delta of a call
    std::string tool_name;   // tool_call: set on the first delta of a call
    std::string arguments;   // tool_call: the next fragment of the arguments' JSON text
};
// Called on the executor for each delta, in order; must not suspend.
using DeltaSink = std::function<void(const ChatDelta&)>;

// How a failed call is reported to the user (Letta's error_type); derived from the error code:
//   timeout -> llm_timeout, limit_exceeded with "rate limit" -> llm_rate_limit, ...
enum class LlmErrorType : uint8_t {
    timeout,          // llm_timeout
    rate_limit,       // llm_rate_limit (429 after the retries)
    authentication,   // llm_authentication (401/403)
    empty_response,   // llm_empty_response
    invalid_response, // the provider answered bytes that are not its protocol
    error,            // llm_error (anything else: 4xx, 5xx after retries, connection failures)
};
LlmErrorType error_type(const Error& error);
std::string_view error_type_name(LlmErrorType type);  // "llm_timeout", ...

class Provider {
public:
    virtual ~Provider() = default;
    // "openai", "anthropic", "sim", ...
    virtual std::string_view name() const = 0;
    // One chat call. With `on_delta` set the call streams and reports each delta as it arrives;
    // the returned response is then the whole answer, assembled from the deltas.
    virtual io::Task<Result<ChatResponse>> complete(ChatRequest request, DeltaSink on_delta) = 0;
};

// Where an HTTP provider lives. base_url: "http://127.0.0.1:9999/v1" (OpenAI-compatible: the
// path prefix before /chat/completions) or "https://api.anthropic.com" (Anthropic: before
// /v1/messages); https goes over io::Network::connect_tls, the certificate verified. An empty
// api_key sends no credential header.
struct ProviderConfig {
    std::string base_url;
    std::string api_key;
};

// `executor` and `network` must outlive the provider. Fails with invalid_argument on a bad URL.
Result<std::unique_ptr<Provider>> make_openai_provider(io::Executor& executor, io::Network& network,
                                                       ProviderConfig config);
Result<std::unique_ptr<Provider>> make_anthropic_provider(io::Executor& executor,
                                                          io::Network& network,
                                                          ProviderConfig config);

// "openai/gpt-4o-mini" -> {"openai", "gpt-4o-mini"}. The model part may itself contain '/'
// ("openai/meta-llama/Llama-3-8B"). Fails with invalid_argument without a provider part.
struct ModelHandle {
    std::string provider;
    std::string model;
    std::string to_string() const { return provider + "/" + model; }
};
Result<ModelHandle> parse_model_handle(std::string_view handle);

// The providers a node is configured with, by name.
class Providers {
public:
    void add(std::unique_ptr<Provider> provider);
    // The provider for a handle; not_found names the configured providers.
    Result<Provider*> resolve(const ModelHandle& handle) const;
    std::vector<std::string> names() const;

private:
    std::map<std::string, std::unique_ptr<Provider>, std::less<>> providers_;
};

}  // namespace kelpie::llm
