#include "store/local/record.h"

#include "base/crc32c.h"
#include "base/hash.h"

namespace kelpie::store::detail {

void put_int64(std::string& out, int64_t v) {
    const auto u = static_cast<uint64_t>(v);
    char bytes[8];
    for (int i = 0; i < 8; i++) {
        bytes[i] = static_cast<char>((u >> (56 - 8 * i)) & 0xff);
    }
    out.append(bytes, sizeof bytes);  // one append: this runs twice per record written
}

int64_t get_int64(std::string_view bytes) {
    KELPIE_ASSERT(bytes.size() >= 8);
    uint64_t u = 0;
    for (size_t i = 0; i < 8; i++) {
        u = (u << 8) | static_cast<uint8_t>(bytes[i]);
    }
    return static_cast<int64_t>(u);
}

namespace {
// By format version (REQUIRES: 1 or 2).
uint32_t checksum(uint8_t version, std::string_view header, std::string_view value) {
    return version == 1 ? static_cast<uint32_t>(hash_bytes({header, value}))
                        : crc32c({header, value});
}
}  // namespace

std::string encode_record(Revision mod_revision, LeaseId lease, std::string_view value) {
    std::string out;
    out.reserve(record_header_bytes + value.size());
    out += static_cast<char>(record_format_version);
    put_int64(out, mod_revision);
    put_int64(out, lease.value);
    const uint32_t sum = checksum(record_format_version, out, value);
    for (int shift = 24; shift >= 0; shift -= 8) {
        out += static_cast<char>((sum >> shift) & 0xff);
    }
    out += value;
    return out;
}

namespace {

// Validates `bytes` and returns its header fields (the value left empty).
Result<Record> decode_header(std::string_view key, std::string_view bytes) {
    const auto corrupt = [&](const std::string& why) {
        return Error(ErrorCode::corruption, "stored record for key of " +
                                                std::to_string(key.size()) + " bytes: " + why);
    };
    if (bytes.size() < record_header_bytes) {
        return corrupt("truncated (" + std::to_string(bytes.size()) + " bytes)");
    }
    const auto version = static_cast<uint8_t>(bytes[0]);
    if (version != 1 && version != 2) {
        return corrupt("unknown format version " + std::to_string(version));
    }
    uint32_t stored = 0;
    for (size_t i = 17; i < 21; i++) {
        stored = (stored << 8) | static_cast<uint8_t>(bytes[i]);
    }
    if (stored != checksum(version, bytes.substr(0, 17), bytes.substr(record_header_bytes))) {
        return corrupt("checksum mismatch");
    }
    return Record{get_int64(bytes.substr(1)), LeaseId(get_int64(bytes.substr(9))), std::string()};
}

}  // namespace

Result<Record> decode_record(std::string_view key, std::string_view bytes) {
    Result<Record> r = decode_header(key, bytes);
    if (r.ok()) {
        r->value = std::string(bytes.substr(record_header_bytes));
    }
    return r;
}

Result<Record> decode_record(std::string_view key, std::string&& bytes) {
    Result<Record> r = decode_header(key, bytes);
    if (r.ok()) {
        bytes.erase(0, record_header_bytes);  // the value, in place: no second copy
        r->value = std::move(bytes);
    }
    return r;
}

}  // namespace kelpie::store::detail
