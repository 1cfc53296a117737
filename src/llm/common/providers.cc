// Provider-independent parts of llm.h: model handles, the provider table, error classification.
// (The HTTP providers live in openai/ and anthropic/, the simulated model in sim/.)

#include <fmt/format.h>

#include "llm/llm.h"

namespace kelpie::llm {

Result<ModelHandle> parse_model_handle(std::string_view handle) {
    const size_t slash = handle.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == handle.size()) {
        return Error(ErrorCode::invalid_argument,
                     fmt::format("model handle '{}' is not '<provider>/<model>'", handle));
    }
    return ModelHandle{std::string(handle.substr(0, slash)), std::string(handle.substr(slash + 1))};
}

void Providers::add(std::unique_ptr<Provider> provider) {
    std::string name(provider->name());
    providers_[std::move(name)] = std::move(provider);
}

Result<Provider*> Providers::resolve(const ModelHandle& handle) const {
    auto it = providers_.find(handle.provider);
    if (it == providers_.end()) {
        return Error(ErrorCode::not_found,
                     fmt::format("no LLM provider '{}' is configured (configured: [{}])",
                                 handle.provider, fmt::join(names(), ", ")));
    }
    return it->second.get();
}

std::vector<std::string> Providers::names() const {
    std::vector<std::string> out;
    for (const auto& [name, provider] : providers_) {
        out.push_back(name);
    }
    return out;
}

LlmErrorType error_type(const Error& error) {
    switch (error.code) {
        case ErrorCode::timeout: return LlmErrorType::timeout;
        case ErrorCode::corruption: return LlmErrorType::invalid_response;
        default: break;
    }
    const std::string& m = error.message;
    if (error.code == ErrorCode::limit_exceeded && m.find("rate limit") != std::string::npos) {
        return LlmErrorType::rate_limit;
    }
    if (m.find("authentication") != std::string::npos) {
        return LlmErrorType::authentication;
    }
    if (m.find("empty response") != std::string::npos) {
        return LlmErrorType::empty_response;
    }
    return LlmErrorType::error;
}

std::string_view error_type_name(LlmErrorType type) {
    switch (type) {
        case LlmErrorType::timeout: return "llm_timeout";
        case LlmErrorType::rate_limit: return "llm_rate_limit";
        case LlmErrorType::authentication: return "llm_authentication";
        case LlmErrorType::empty_response: return "llm_empty_response";
        case LlmErrorType::invalid_response: return "llm_error";
        case LlmErrorType::error: return "llm_error";
    }
    return "llm_error";
}

}  // namespace kelpie::llm
