#pragma once

// Private to llm/: what the HTTP providers share — the error an HTTP status means, and the retry
// loop (backoff, Retry-After, a timeout per attempt, no retry once a delta was delivered).

#include <functional>
#include <string>

#include "io/executor.h"
#include "io/task.h"
#include "llm/http/client.h"
#include "llm/llm.h"

namespace kelpie::llm::common {

// One attempt's outcome.
class Attempt {
public:
    Attempt(Result<ChatResponse> r) : result(std::move(r)) {}  // NOLINT: implicit on purpose
    Result<ChatResponse> result;
    bool retryable = false;           // a transient failure: 429, 5xx, refused or broken connection
    Duration retry_after;             // the server's Retry-After, if it gave one
};

// The error an HTTP error status means, with the provider's own message when the body has one:
// 401/403 authentication, 429 rate limit (retryable), 408/409/5xx/529 unavailable (retryable),
// other 4xx invalid_argument.
Attempt status_failure(std::string_view provider, const http::Response& response);

// Error for a transport failure of http::send (connection refused/broken is retryable).
Attempt transport_failure(Error error);

using AttemptFn = std::function<io::Task<Attempt>()>;
// Runs `attempt` until it succeeds, fails for good, or llm_retries_max retries are spent; each
// attempt may take `timeout` (then it fails with ErrorCode::timeout, retried like a 5xx unless a
// delta was delivered). `delivered` must point at the flag the attempt sets when it delivers.
io::Task<Result<ChatResponse>> with_retries(io::Executor& executor, Duration timeout,
                                            AttemptFn attempt, const bool* delivered);

// One HTTP attempt of a provider. Without `stream_sink` the whole body goes to `parse`; with it,
// a 2xx body streams into the sink and `finish` gives the answer. Non-2xx answers and transport
// failures become the Attempt's error (status_failure, transport_failure).
using ParseWhole = std::function<Result<ChatResponse>(const std::string& body)>;
using FinishStream = std::function<Result<ChatResponse>()>;
io::Task<Attempt> http_attempt(io::Network& network, http::Url url, http::Request request,
                               std::string provider, ParseWhole parse, http::BodySink stream_sink,
                               FinishStream finish);

// A response with no text and no tool calls is an error (llm_empty_response).
Result<ChatResponse> check_not_empty(ChatResponse response);

}  // namespace kelpie::llm::common
