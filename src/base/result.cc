#include "base/result.h"

namespace kelpie {

std::string_view error_code_name(ErrorCode code) {
    switch (code) {
        case ErrorCode::invalid_argument: return "invalid_argument";
        case ErrorCode::not_found: return "not_found";
        case ErrorCode::already_exists: return "already_exists";
        case ErrorCode::limit_exceeded: return "limit_exceeded";
        case ErrorCode::timeout: return "timeout";
        case ErrorCode::cancelled: return "cancelled";
        case ErrorCode::closed: return "closed";
        case ErrorCode::unavailable: return "unavailable";
        case ErrorCode::conflict: return "conflict";
        case ErrorCode::unknown_result: return "unknown_result";
        case ErrorCode::fenced: return "fenced";
        case ErrorCode::not_owner: return "not_owner";
        case ErrorCode::lease_expired: return "lease_expired";
        case ErrorCode::io_error: return "io_error";
        case ErrorCode::corruption: return "corruption";
        case ErrorCode::internal: return "internal";
        case ErrorCode::failed_precondition: return "failed_precondition";
    }
    KELPIE_UNREACHABLE();
}

std::string Error::to_string() const {
    std::string out(error_code_name(code));
    if (!message.empty()) {
        out += ": ";
        out += message;
    }
    return out;
}

}  // namespace kelpie
