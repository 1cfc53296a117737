#include "store/store.h"

namespace kelpie::store {

std::string prefix_end(std::string_view prefix) {
    std::string end(prefix);
    while (!end.empty()) {
        if (static_cast<uint8_t>(end.back()) != 0xff) {
            end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
            return end;
        }
        end.pop_back();
    }
    return end;
}

Status check_key(std::string_view key) {
    if (key.empty()) {
        return Error(ErrorCode::invalid_argument, "empty key");
    }
    if (key.size() > key_bytes_max) {
        return Error(ErrorCode::limit_exceeded, "key of " + std::to_string(key.size()) +
                                                    " bytes exceeds key_bytes_max (" +
                                                    std::to_string(key_bytes_max) + ")");
    }
    if (static_cast<uint8_t>(key[0]) == 0xff) {
        return Error(ErrorCode::invalid_argument,
                     "keys starting with byte 0xff are reserved for the store itself");
    }
    return {};
}

Status check_value(std::string_view value) {
    if (value.size() > value_bytes_max) {
        return Error(ErrorCode::limit_exceeded, "value of " + std::to_string(value.size()) +
                                                    " bytes exceeds value_bytes_max (" +
                                                    std::to_string(value_bytes_max) + ")");
    }
    return {};
}

Status check_range(std::string_view begin, std::string_view end) {
    if (begin > end) {
        return Error(ErrorCode::invalid_argument, "range begin is after its end");
    }
    if (begin.size() > key_bytes_max || end.size() > key_bytes_max) {
        return Error(ErrorCode::limit_exceeded, "range bound exceeds key_bytes_max (" +
                                                    std::to_string(key_bytes_max) + ")");
    }
    return {};
}

Status check_lease_ttl(Duration ttl) {
    if (ttl < lease_ttl_min || ttl > lease_ttl_max) {
        return Error(ErrorCode::invalid_argument,
                     "lease ttl " + ttl.to_string() + " outside [" + lease_ttl_min.to_string() +
                         ", " + lease_ttl_max.to_string() + "]");
    }
    return {};
}

}  // namespace kelpie::store
