#pragma once

// Time as types, so that a bare `int timeout` never appears: Duration is a signed span of
// nanoseconds; Instant is a point on some executor's monotonic clock, counted in nanoseconds from
// that clock's origin. Instants from different executors (different simulated nodes, or a real and
// a simulated one) are not comparable; nothing in this type can stop you, so do not.

#include <compare>
#include <cstdint>
#include <string>

namespace kelpie {

class Duration {
public:
    constexpr Duration() = default;

    static constexpr Duration ns(int64_t n) { return Duration(n); }
    static constexpr Duration us(int64_t n) { return Duration(n * 1'000); }
    static constexpr Duration ms(int64_t n) { return Duration(n * 1'000'000); }
    static constexpr Duration s(int64_t n) { return Duration(n * 1'000'000'000); }
    static constexpr Duration minutes(int64_t n) { return s(n * 60); }
    static constexpr Duration hours(int64_t n) { return s(n * 3600); }
    static constexpr Duration zero() { return Duration(0); }

    constexpr int64_t to_ns() const { return ns_; }
    constexpr int64_t to_us() const { return ns_ / 1'000; }
    constexpr int64_t to_ms() const { return ns_ / 1'000'000; }
    constexpr int64_t to_s() const { return ns_ / 1'000'000'000; }
    constexpr double to_seconds_f() const { return static_cast<double>(ns_) / 1e9; }

    constexpr auto operator<=>(const Duration&) const = default;
    constexpr Duration operator+(Duration o) const { return Duration(ns_ + o.ns_); }
    constexpr Duration operator-(Duration o) const { return Duration(ns_ - o.ns_); }
    constexpr Duration operator*(int64_t k) const { return Duration(ns_ * k); }
    constexpr Duration operator/(int64_t k) const { return Duration(ns_ / k); }
    constexpr Duration& operator+=(Duration o) {
        ns_ += o.ns_;
        return *this;
    }
    constexpr Duration& operator-=(Duration o) {
        ns_ -= o.ns_;
        return *this;
    }

    // "1.250s", "15ms", "300us", "42ns".
    std::string to_string() const;

private:
    constexpr explicit Duration(int64_t n) : ns_(n) {}
    int64_t ns_ = 0;
};

class Instant {
public:
    constexpr Instant() = default;
    static constexpr Instant from_ns(int64_t n) { return Instant(n); }
    constexpr int64_t ns_since_origin() const { return ns_; }
    constexpr Duration since_origin() const { return Duration::ns(ns_); }

    constexpr auto operator<=>(const Instant&) const = default;
    constexpr Instant operator+(Duration d) const { return Instant(ns_ + d.to_ns()); }
    constexpr Instant operator-(Duration d) const { return Instant(ns_ - d.to_ns()); }
    constexpr Duration operator-(Instant o) const { return Duration::ns(ns_ - o.ns_); }
    constexpr Instant& operator+=(Duration d) {
        ns_ += d.to_ns();
        return *this;
    }

private:
    constexpr explicit Instant(int64_t n) : ns_(n) {}
    int64_t ns_ = 0;
};

// A point in calendar time: milliseconds since the Unix epoch, UTC. For durable timestamps that must
// mean the same after a restart or on another node (reminders, retention, API timestamps). Never
// measure an interval with it (wall clocks jump): use Instant.
class WallTime {
public:
    constexpr WallTime() = default;
    static constexpr WallTime from_unix_ms(int64_t ms) { return WallTime(ms); }
    constexpr int64_t unix_ms() const { return ms_; }

    constexpr auto operator<=>(const WallTime&) const = default;
    constexpr WallTime operator+(Duration d) const { return WallTime(ms_ + d.to_ms()); }
    constexpr WallTime operator-(Duration d) const { return WallTime(ms_ - d.to_ms()); }
    constexpr Duration operator-(WallTime o) const { return Duration::ms(ms_ - o.ms_); }

private:
    constexpr explicit WallTime(int64_t ms) : ms_(ms) {}
    int64_t ms_ = 0;
};

// Parses "250ms", "3s", "1.5s", "2m", "1h", "100us", "7ns" or a bare number of seconds ("30").
// Returns false on anything else (including negative values and overflow).
bool parse_duration(const std::string& text, Duration* out);

}  // namespace kelpie
