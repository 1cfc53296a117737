#include "io/network.h"

#include <charconv>

namespace kelpie::io {

std::string Address::to_string() const {
    if (host.find(':') != std::string::npos) {
        return "[" + host + "]:" + std::to_string(port);
    }
    return host + ":" + std::to_string(port);
}

Result<Address> Address::parse(const std::string& text) {
    std::string host;
    std::string port_text;
    if (!text.empty() && text.front() == '[') {
        const size_t close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return Error(ErrorCode::invalid_argument, "bad address '" + text + "': want [v6]:port");
        }
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        const size_t colon = text.rfind(':');
        if (colon == std::string::npos || text.find(':') != colon) {
            return Error(ErrorCode::invalid_argument, "bad address '" + text + "': want host:port");
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    if (host.empty()) {
        return Error(ErrorCode::invalid_argument, "bad address '" + text + "': empty host");
    }
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        port > 65535) {
        return Error(ErrorCode::invalid_argument,
                     "bad address '" + text + "': port must be 0..65535");
    }
    return Address{host, static_cast<uint16_t>(port)};
}

}  // namespace kelpie::io
