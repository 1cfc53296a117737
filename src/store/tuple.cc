#include "store/tuple.h"

namespace kelpie::store {

namespace {

constexpr char type_bytes = 0x01;
constexpr char type_string = 0x02;
constexpr char type_int64 = 0x15;

void append_escaped(std::string& out, char type, std::string_view data) {
    out += type;
    for (char c : data) {
        out += c;
        if (c == '\x00') {
            out += '\xff';
        }
    }
    out += '\x00';
}

// Reads an escaped run starting at `pos` (just after the type byte); advances `pos` past the
// terminator.
Result<std::string> read_escaped(std::string_view packed, size_t& pos) {
    std::string out;
    while (pos < packed.size()) {
        const char c = packed[pos++];
        if (c != '\x00') {
            out += c;
            continue;
        }
        if (pos < packed.size() && packed[pos] == '\xff') {
            out += '\x00';
            pos++;
            continue;
        }
        return out;
    }
    return Error(ErrorCode::corruption, "tuple: unterminated string or bytes element");
}

}  // namespace

Tuple& Tuple::append_bytes(std::string_view bytes) {
    elements_.emplace_back(TupleBytes{std::string(bytes)});
    return *this;
}

Tuple& Tuple::append(std::string_view text) {
    elements_.emplace_back(std::string(text));
    return *this;
}

Tuple& Tuple::append(int64_t value) {
    elements_.emplace_back(value);
    return *this;
}

std::string Tuple::pack() const {
    std::string out;
    for (const TupleElement& e : elements_) {
        if (const auto* b = std::get_if<TupleBytes>(&e)) {
            append_escaped(out, type_bytes, b->value);
        } else if (const auto* s = std::get_if<std::string>(&e)) {
            append_escaped(out, type_string, *s);
        } else {
            const uint64_t biased = static_cast<uint64_t>(std::get<int64_t>(e)) ^ (1ULL << 63);
            out += type_int64;
            for (int shift = 56; shift >= 0; shift -= 8) {
                out += static_cast<char>((biased >> shift) & 0xff);
            }
        }
    }
    return out;
}

Result<Tuple> Tuple::unpack(std::string_view packed) {
    Tuple t;
    size_t pos = 0;
    while (pos < packed.size()) {
        const char type = packed[pos++];
        if (type == type_bytes || type == type_string) {
            auto data = read_escaped(packed, pos);
            if (!data.ok()) {
                return std::move(data).error();
            }
            if (type == type_bytes) {
                t.append_bytes(*data);
            } else {
                t.append(std::string_view(*data));
            }
        } else if (type == type_int64) {
            if (packed.size() - pos < 8) {
                return Error(ErrorCode::corruption, "tuple: truncated int64 element");
            }
            uint64_t biased = 0;
            for (int i = 0; i < 8; i++) {
                biased = (biased << 8) | static_cast<uint8_t>(packed[pos++]);
            }
            t.append(static_cast<int64_t>(biased ^ (1ULL << 63)));
        } else {
            return Error(ErrorCode::corruption,
                         "tuple: unknown element type 0x" +
                             std::to_string(static_cast<uint8_t>(type)) + " at byte " +
                             std::to_string(pos - 1));
        }
    }
    return t;
}

Result<Tuple> Subspace::unpack(std::string_view key) const {
    if (!contains(key)) {
        return Error(ErrorCode::invalid_argument, "key is outside the subspace");
    }
    return Tuple::unpack(key.substr(prefix_.size()));
}

}  // namespace kelpie::store
