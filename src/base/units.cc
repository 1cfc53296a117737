#include "base/units.h"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace kelpie {

std::string Duration::to_string() const {
    const int64_t magnitude = ns_ < 0 ? -ns_ : ns_;
    if (magnitude >= 1'000'000'000) {
        return fmt::format("{:.3f}s", to_seconds_f());
    }
    if (magnitude >= 1'000'000) {
        return fmt::format("{}ms", to_ms());
    }
    if (magnitude >= 1'000) {
        return fmt::format("{}us", to_us());
    }
    return fmt::format("{}ns", ns_);
}

bool parse_duration(const std::string& text, Duration* out) {
    if (text.empty()) {
        return false;
    }
    size_t unit_start = 0;
    while (unit_start < text.size() &&
           ((text[unit_start] >= '0' && text[unit_start] <= '9') || text[unit_start] == '.')) {
        unit_start++;
    }
    const std::string number = text.substr(0, unit_start);
    const std::string unit = text.substr(unit_start);
    if (number.empty() || number == "." || number.find('.') != number.rfind('.')) {
        return false;
    }
    double scale_ns = 0;
    if (unit.empty() || unit == "s") {
        scale_ns = 1e9;
    } else if (unit == "ms") {
        scale_ns = 1e6;
    } else if (unit == "us") {
        scale_ns = 1e3;
    } else if (unit == "ns") {
        scale_ns = 1;
    } else if (unit == "m" || unit == "min") {
        scale_ns = 60e9;
    } else if (unit == "h") {
        scale_ns = 3600e9;
    } else {
        return false;
    }
    char* end = nullptr;
    const double value = std::strtod(number.c_str(), &end);
    if (end == nullptr || *end != '\0' || !std::isfinite(value)) {
        return false;
    }
    const double total_ns = value * scale_ns;
    if (total_ns < 0 || total_ns > 9.0e18) {
        return false;
    }
    *out = Duration::ns(static_cast<int64_t>(std::llround(total_ns)));
    return true;
}

}  // namespace kelpie
