#include "llm/common/call.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "io/combinators.h"

namespace kelpie::llm::common {

namespace json = boost::json;

namespace {

// The message in an OpenAI ({"error":{"message"}}) or Anthropic ({"error":{"message"}}) error
// body; the body itself (cut short) otherwise.
std::string provider_message(const std::string& body) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (!ec && v.is_object()) {
        const json::value* e = v.as_object().if_contains("error");
        if (e != nullptr && e->is_object()) {
            const json::value* m = e->as_object().if_contains("message");
            if (m != nullptr && m->is_string()) {
                return std::string(m->as_string());
            }
        }
        if (e != nullptr && e->is_string()) {
            return std::string(e->as_string());
        }
    }
    return body.substr(0, 300);
}

Duration retry_after_of(const http::Response& r) {
    auto it = r.headers.find("retry-after");
    if (it == r.headers.end()) {
        return Duration::zero();
    }
    char* end = nullptr;
    const double seconds = std::strtod(it->second.c_str(), &end);
    if (end == it->second.c_str() || seconds < 0) {
        return Duration::zero();
    }
    const Duration d = Duration::ms(static_cast<int64_t>(seconds * 1000));
    return d > llm_retry_delay_max ? llm_retry_delay_max : d;
}

}  // namespace

Attempt status_failure(std::string_view provider, const http::Response& response) {
    const int status = response.status;
    const std::string message = provider_message(response.body);
    if (status == 401 || status == 403) {
        return Attempt(Error(ErrorCode::invalid_argument,
                             fmt::format("{}: authentication failed (HTTP {}): {}", provider, status,
                                         message)));
    }
    if (status == 429) {
        Attempt a(Error(ErrorCode::limit_exceeded,
                        fmt::format("{}: rate limit (HTTP 429): {}", provider, message)));
        a.retryable = true;
        a.retry_after = retry_after_of(response);
        return a;
    }
    if (status == 408 || status == 409 || status >= 500) {
        Attempt a(Error(ErrorCode::unavailable,
                        fmt::format("{}: HTTP {}: {}", provider, status, message)));
        a.retryable = true;
        a.retry_after = retry_after_of(response);
        return a;
    }
    return Attempt(Error(ErrorCode::invalid_argument,
                         fmt::format("{}: HTTP {}: {}", provider, status, message)));
}

Attempt transport_failure(Error error) {
    const bool transient = error.code == ErrorCode::unavailable;
    Attempt a(std::move(error));
    a.retryable = transient;
    return a;
}

io::Task<Result<ChatResponse>> with_retries(io::Executor& executor, Duration timeout,
                                            AttemptFn attempt, const bool* delivered) {
    Duration backoff = llm_retry_delay_base;
    for (int tries = 0;; tries++) {
        Result<Attempt> outcome = co_await io::with_timeout(executor, timeout, attempt());
        if (outcome.ok() && outcome->result.ok()) {
            co_return std::move(outcome->result);
        }
        Attempt failed = outcome.ok() ? std::move(*outcome)
                                      : Attempt(Error(ErrorCode::timeout,
                                                      fmt::format("no answer within {}",
                                                                  timeout.to_string())));
        if (!outcome.ok()) {
            failed.retryable = true;
        }
        if (!failed.retryable || *delivered || tries >= llm_retries_max) {
            if (tries > 0 && failed.result.error().code != ErrorCode::timeout) {
                failed.result = Error(failed.result.error().code,
                                      fmt::format("{} (after {} retries)", failed.result.error().message, tries));
            }
            co_return std::move(failed.result);
        }
        Duration wait = failed.retry_after > backoff ? failed.retry_after : backoff;
        if (wait > llm_retry_delay_max) {
            wait = llm_retry_delay_max;
        }
        co_await executor.sleep_for(wait);
        backoff = backoff + backoff;
    }
}

io::Task<Attempt> http_attempt(io::Network& network, http::Url url, http::Request request,
                               std::string provider, ParseWhole parse, http::BodySink stream_sink,
                               FinishStream finish) {
    const bool streamed = static_cast<bool>(stream_sink);
    Result<http::Response> answer =
        co_await http::send(network, url, std::move(request), stream_sink, llm_response_bytes_max);
    if (!answer.ok()) {
        co_return transport_failure(std::move(answer).error());
    }
    if (answer->status < 200 || answer->status >= 300) {
        co_return status_failure(provider, *answer);
    }
    if (streamed) {
        co_return Attempt(finish());
    }
    Result<ChatResponse> parsed = parse(answer->body);
    if (!parsed.ok()) {
        co_return Attempt(std::move(parsed));
    }
    co_return Attempt(check_not_empty(std::move(*parsed)));
}

Result<ChatResponse> check_not_empty(ChatResponse response) {
    if (response.content.empty() && response.tool_calls.empty() && response.reasoning.empty()) {
        return Error(ErrorCode::unavailable, "the model gave an empty response");
    }
    return response;
}

}  // namespace kelpie::llm::common
