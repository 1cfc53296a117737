#include "store/common/write_buffer.h"

#include <algorithm>

namespace kelpie::store::detail {

std::string clip_user_end(std::string end) {
    static const std::string system_start("\xff", 1);
    if (end > system_start) {
        return system_start;
    }
    return end;
}

// --- WriteBuffer ---

Status WriteBuffer::check_budget(size_t extra_operations, size_t extra_bytes) const {
    if (reads_ + operation_count() + extra_operations > transaction_operations_max) {
        return Error(ErrorCode::limit_exceeded,
                     "transaction exceeds transaction_operations_max (" +
                         std::to_string(transaction_operations_max) + " reads and writes)");
    }
    if (bytes_ + extra_bytes > transaction_write_bytes_max) {
        return Error(ErrorCode::limit_exceeded,
                     "transaction writes exceed transaction_write_bytes_max (" +
                         std::to_string(transaction_write_bytes_max) + " bytes)");
    }
    return {};
}

Status WriteBuffer::set(std::string_view key, std::string_view value, LeaseId lease) {
    KELPIE_TRY(check_key(key));
    KELPIE_TRY(check_value(value));
    if (lease.value < 0) {
        return Error(ErrorCode::invalid_argument, "negative lease id");
    }
    auto it = writes_.find(key);
    const size_t old_bytes = it == writes_.end()
                                 ? 0
                                 : key.size() + (it->second.value ? it->second.value->size() : 0);
    const size_t new_bytes = key.size() + value.size();
    KELPIE_TRY(check_budget(it == writes_.end() ? 1 : 0,
                            new_bytes > old_bytes ? new_bytes - old_bytes : 0));
    bytes_ = bytes_ - old_bytes + new_bytes;
    writes_.insert_or_assign(std::string(key), BufferedWrite{std::string(value), lease});
    return {};
}

Status WriteBuffer::clear(std::string_view key) {
    KELPIE_TRY(check_key(key));
    auto it = writes_.find(key);
    const size_t old_bytes = it == writes_.end()
                                 ? 0
                                 : key.size() + (it->second.value ? it->second.value->size() : 0);
    KELPIE_TRY(check_budget(it == writes_.end() ? 1 : 0, old_bytes > 0 ? 0 : key.size()));
    bytes_ = bytes_ - old_bytes + key.size();
    writes_.insert_or_assign(std::string(key), BufferedWrite{std::nullopt, LeaseId()});
    return {};
}

Status WriteBuffer::clear_range(std::string_view begin_view, std::string_view end_view) {
    KELPIE_TRY(check_range(begin_view, end_view));
    std::string begin(begin_view);
    std::string end = clip_user_end(std::string(end_view));
    if (begin >= end) {
        return {};  // empty range: nothing to clear
    }
    KELPIE_TRY(check_budget(1, begin.size() + end.size()));
    // Merge with every overlapping or touching interval.
    auto it = cleared_.upper_bound(begin);
    if (it != cleared_.begin() && std::prev(it)->second >= begin) {
        --it;
    }
    while (it != cleared_.end() && it->first <= end) {
        begin = std::min(begin, it->first);
        end = std::max(end, it->second);
        bytes_ -= it->first.size() + it->second.size();
        it = cleared_.erase(it);
    }
    bytes_ += begin.size() + end.size();
    // Writes inside the cleared range are superseded (invariant (2)).
    for (auto w = writes_.lower_bound(begin); w != writes_.end() && w->first < end;) {
        bytes_ -= w->first.size() + (w->second.value ? w->second.value->size() : 0);
        w = writes_.erase(w);
    }
    cleared_.emplace(std::move(begin), std::move(end));
    return {};
}

bool WriteBuffer::is_cleared(const std::string& key) const {
    auto it = cleared_.upper_bound(key);
    if (it == cleared_.begin()) {
        return false;
    }
    --it;
    return key >= it->first && key < it->second;
}

BufferedLookup WriteBuffer::lookup(const std::string& key) const {
    auto it = writes_.find(key);
    if (it != writes_.end()) {
        if (it->second.value.has_value()) {
            return BufferedLookup{BufferedLookup::Kind::set, &it->second};
        }
        return BufferedLookup{BufferedLookup::Kind::cleared, nullptr};
    }
    if (is_cleared(key)) {
        return BufferedLookup{BufferedLookup::Kind::cleared, nullptr};
    }
    return {};
}

std::vector<std::pair<std::string, const BufferedWrite*>> WriteBuffer::in_range(
    const std::string& begin, const std::string& end) const {
    std::vector<std::pair<std::string, const BufferedWrite*>> out;
    for (auto it = writes_.lower_bound(begin); it != writes_.end() && it->first < end; ++it) {
        out.emplace_back(it->first, &it->second);
    }
    return out;
}

std::vector<Mutation> WriteBuffer::mutations() const {
    std::vector<Mutation> out;
    out.reserve(cleared_.size() + writes_.size());
    for (const auto& [begin, end] : cleared_) {
        out.push_back(Mutation{.kind = Mutation::Kind::clear_range, .key = begin, .end = end});
    }
    for (const auto& [key, w] : writes_) {
        if (w.value.has_value()) {
            out.push_back(Mutation{.kind = Mutation::Kind::set,
                                   .key = key,
                                   .value = *w.value,
                                   .lease = w.lease});
        } else {
            out.push_back(Mutation{.kind = Mutation::Kind::clear, .key = key});
        }
    }
    return out;
}

// --- BufferedTransaction ---

Status BufferedTransaction::budget_for_read() {
    KELPIE_TRY(buffer_.check_budget(1, 0));
    buffer_.note_read();
    return {};
}

io::Task<Result<std::optional<KeyValue>>> BufferedTransaction::get(std::string key) {
    KELPIE_ASSERT(!committed_);
    if (Status s = check_key(key); !s.ok()) {
        co_return std::move(s).error();
    }
    const BufferedLookup buffered = buffer_.lookup(key);
    if (buffered.kind == BufferedLookup::Kind::set) {
        co_return std::optional<KeyValue>(
            KeyValue{key, *buffered.write->value, 0, buffered.write->lease});
    }
    if (buffered.kind == BufferedLookup::Kind::cleared) {
        co_return std::optional<KeyValue>();
    }
    if (Status s = budget_for_read(); !s.ok()) {
        co_return std::move(s).error();
    }
    auto result = co_await snapshot_get(key);
    if (!result.ok()) {
        co_return result;
    }
    reads_.keys.push_back(ReadSet::Key{key, result->has_value() ? (*result)->mod_revision : 0});
    co_return result;
}

Status BufferedTransaction::add_read_conflict(std::string_view key) {
    KELPIE_TRY(check_key(key));
    KELPIE_TRY(budget_for_read());
    // Recorded as "observed absent at the snapshot is unknown": backends treat a negative
    // observation as "any write after the snapshot conflicts".
    reads_.keys.push_back(ReadSet::Key{std::string(key), -1});
    return {};
}

io::Task<Result<RangeResult>> BufferedTransaction::range(std::string begin, std::string end,
                                                         RangeOptions options) {
    KELPIE_ASSERT(!committed_);
    if (Status s = check_range(begin, end); !s.ok()) {
        co_return std::move(s).error();
    }
    if (options.limit == 0 || options.limit > range_limit_max) {
        co_return Error(ErrorCode::invalid_argument,
                        "range limit must be in 1.." + std::to_string(range_limit_max));
    }
    end = clip_user_end(std::move(end));
    RangeResult out;
    if (begin >= end) {
        co_return out;
    }
    if (Status s = budget_for_read(); !s.ok()) {
        co_return std::move(s).error();
    }
    // Walk the range in snapshot pages, merging each page's window with the buffer.
    // Forward: window [cursor, bound); reverse: window [bound, cursor).
    std::string cursor = options.reverse ? end : begin;
    ReadSet::Range read{begin, end, {}};
    for (;;) {
        const size_t want = options.limit - out.pairs.size();
        // (Not a ?: with a co_await in each arm: g++ 12 miscompiles that.)
        Result<RangeResult> page = Error(ErrorCode::internal, "unset");
        if (options.reverse) {
            page = co_await snapshot_range(begin, cursor, want, true);
        } else {
            page = co_await snapshot_range(cursor, end, want, false);
        }
        if (!page.ok()) {
            co_return std::move(page).error();
        }
        std::string window_begin;
        std::string window_end;
        if (options.reverse) {
            window_end = cursor;
            window_begin = page->more ? page->pairs.back().key : begin;
        } else {
            window_begin = cursor;
            window_end = page->more ? page->pairs.back().key + '\x00' : end;
        }
        for (const KeyValue& kv : page->pairs) {
            read.observed.push_back(ReadSet::Key{kv.key, kv.mod_revision});
        }
        // Merge: snapshot pairs not overridden or cleared, plus buffered sets, in order.
        std::vector<KeyValue> merged;
        for (KeyValue& kv : page->pairs) {
            if (buffer_.lookup(kv.key).kind == BufferedLookup::Kind::not_buffered) {
                merged.push_back(std::move(kv));
            }
        }
        for (const auto& [key, w] : buffer_.in_range(window_begin, window_end)) {
            if (w->value.has_value()) {
                merged.push_back(KeyValue{key, *w->value, 0, w->lease});
            }
        }
        std::sort(merged.begin(), merged.end(),
                  [](const KeyValue& a, const KeyValue& b) { return a.key < b.key; });
        if (options.reverse) {
            std::reverse(merged.begin(), merged.end());
        }
        for (KeyValue& kv : merged) {
            if (out.pairs.size() == options.limit) {
                out.more = true;
                break;
            }
            out.pairs.push_back(std::move(kv));
        }
        if (out.pairs.size() == options.limit) {
            // The read covered up to the last pair returned.
            if (options.reverse) {
                read.begin = out.pairs.back().key;
            } else {
                read.end = out.pairs.back().key + '\x00';
            }
            out.more = out.more || page->more;
            break;
        }
        if (!page->more) {
            break;
        }
        cursor = options.reverse ? window_begin : window_end;
    }
    reads_.ranges.push_back(std::move(read));
    co_return out;
}

Status BufferedTransaction::set(std::string_view key, std::string_view value,
                                WriteOptions options) {
    KELPIE_ASSERT(!committed_);
    return buffer_.set(key, value, options.lease);
}

Status BufferedTransaction::clear(std::string_view key) {
    KELPIE_ASSERT(!committed_);
    return buffer_.clear(key);
}

Status BufferedTransaction::clear_range(std::string_view begin, std::string_view end) {
    KELPIE_ASSERT(!committed_);
    return buffer_.clear_range(begin, end);
}

io::Task<Result<Revision>> BufferedTransaction::commit() {
    KELPIE_ASSERT_MSG(!committed_, "commit() called twice on one transaction");
    committed_ = true;
    if (buffer_.empty()) {
        co_return read_revision();
    }
    co_return co_await commit_writes(buffer_.mutations(), std::move(reads_));
}

}  // namespace kelpie::store::detail
