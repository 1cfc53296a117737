#pragma once

// Tuple-encoded keys (FoundationDB's tuple layer, reduced to what Kelpie needs): a tuple of byte
// strings, text strings and signed 64-bit integers packs into bytes whose lexicographic order is
// the tuple order, element by element. Every subsystem owns a Subspace (a packed prefix) and keeps
// its keys under it.
//
// Encoding (docs/internals/tuple_format.md):
//   bytes   0x01 <bytes, each 0x00 written as 0x00 0xff> 0x00
//   string  0x02 <utf-8, same escaping> 0x00
//   int64   0x15 <8 bytes big-endian of (value XOR 2^63)>
// Unpacking validates everything: malformed bytes give ErrorCode::corruption, never a crash.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"

namespace kelpie::store {

struct TupleBytes {
    std::string value;
    bool operator==(const TupleBytes&) const = default;
};

using TupleElement = std::variant<TupleBytes, std::string, int64_t>;

class Tuple {
public:
    Tuple() = default;

    Tuple& append_bytes(std::string_view bytes);
    Tuple& append(std::string_view text);
    Tuple& append(const char* text) { return append(std::string_view(text)); }
    Tuple& append(int64_t value);

    size_t size() const { return elements_.size(); }
    const TupleElement& operator[](size_t i) const { return elements_.at(i); }

    std::string pack() const;
    static Result<Tuple> unpack(std::string_view packed);

    bool operator==(const Tuple&) const = default;

private:
    std::vector<TupleElement> elements_;
};

// A key prefix owned by one subsystem.
class Subspace {
public:
    explicit Subspace(const Tuple& prefix) : prefix_(prefix.pack()) {}
    Subspace(const Subspace& parent, const Tuple& child)
        : prefix_(parent.prefix_ + child.pack()) {}

    const std::string& prefix() const { return prefix_; }
    std::string key(const Tuple& t) const { return prefix_ + t.pack(); }
    // [begin, end) covering every key of the subspace (but not the bare prefix itself).
    std::string range_begin() const { return prefix_ + '\x00'; }
    std::string range_end() const { return prefix_ + '\xff'; }
    bool contains(std::string_view key) const { return key.starts_with(prefix_); }
    // The tuple after the prefix. REQUIRES: contains(key); malformed bytes give corruption.
    Result<Tuple> unpack(std::string_view key) const;

private:
    std::string prefix_;
};

}  // namespace kelpie::store
