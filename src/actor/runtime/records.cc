#include "actor/runtime/records.h"

#include <charconv>

#include "store/tuple.h"

namespace kelpie::actor::records {

namespace {

using store::Subspace;
using store::Tuple;
using store::TupleBytes;
using store::TupleElement;

constexpr int64_t record_format = 1;

const Subspace& actors() {
    static const Subspace s(Tuple().append("actor"));
    return s;
}
const Subspace& reminders_due() {
    static const Subspace s(Tuple().append("reminder_due"));
    return s;
}
const Subspace& pending_index() {
    static const Subspace s(Tuple().append("actor_pending"));
    return s;
}
const Subspace& journal_gc() {
    static const Subspace s(Tuple().append("journal_gc"));
    return s;
}

Tuple actor_tuple(const ActorId& a) { return Tuple().append(a.type).append(a.key); }

Error corrupt(std::string_view what) {
    return Error(ErrorCode::corruption, "malformed " + std::string(what));
}

bool is_int(const Tuple& t, size_t i) { return std::holds_alternative<int64_t>(t[i]); }
bool is_text(const Tuple& t, size_t i) { return std::holds_alternative<std::string>(t[i]); }
bool is_bytes(const Tuple& t, size_t i) { return std::holds_alternative<TupleBytes>(t[i]); }
int64_t int_at(const Tuple& t, size_t i) { return std::get<int64_t>(t[i]); }
const std::string& text_at(const Tuple& t, size_t i) { return std::get<std::string>(t[i]); }
const std::string& bytes_at(const Tuple& t, size_t i) { return std::get<TupleBytes>(t[i]).value; }

// Unpacks a record and checks its format number and element count.
Result<Tuple> unpack_record(std::string_view bytes, size_t size, std::string_view what) {
    Result<Tuple> t = Tuple::unpack(bytes);
    if (!t.ok() || t->size() != size || !is_int(*t, 0) || int_at(*t, 0) != record_format) {
        return corrupt(what);
    }
    return t;
}

// (time, type, key, name) after a subspace prefix.
Result<IndexedKey> decode_timed(const Subspace& space, std::string_view key, std::string_view what) {
    if (!space.contains(key)) {
        return corrupt(what);
    }
    Result<Tuple> t = space.unpack(key);
    if (!t.ok() || t->size() != 4 || !is_int(*t, 0) || !is_text(*t, 1) || !is_text(*t, 2) ||
        !is_text(*t, 3)) {
        return corrupt(what);
    }
    return IndexedKey{int_at(*t, 0), ActorId{text_at(*t, 1), text_at(*t, 2)}, text_at(*t, 3)};
}

}  // namespace

bool is_runtime_key(std::string_view key) {
    return actors().contains(key) || pending_index().contains(key) ||
           reminders_due().contains(key) || journal_gc().contains(key);
}

std::string state_key(const ActorId& a) { return actors().key(actor_tuple(a).append("s")); }
std::string journal_key(const ActorId& a, std::string_view ikey) {
    return actors().key(actor_tuple(a).append("j").append(ikey));
}
std::string pending_key(const ActorId& a, std::string_view ikey) {
    return pending_index().key(actor_tuple(a).append(ikey));
}
std::string pending_begin(const ActorId& a) { return pending_index().key(actor_tuple(a)); }
std::string pending_end(const ActorId& a) { return store::prefix_end(pending_begin(a)); }
std::string pending_all_begin() { return pending_index().range_begin(); }
std::string pending_all_end() { return pending_index().range_end(); }
std::string reminder_key(const ActorId& a, std::string_view name) {
    return actors().key(actor_tuple(a).append("r").append(name));
}
std::string reminder_due_key(int64_t due_ms, const ActorId& a, std::string_view name) {
    return reminders_due().key(Tuple().append(due_ms).append(a.type).append(a.key).append(name));
}
std::string reminder_due_begin() { return reminders_due().range_begin(); }
std::string reminder_due_end(int64_t due_ms_exclusive) {
    return reminders_due().key(Tuple().append(due_ms_exclusive));
}
std::string journal_gc_key(int64_t expires_ms, const ActorId& a, std::string_view ikey) {
    return journal_gc().key(Tuple().append(expires_ms).append(a.type).append(a.key).append(ikey));
}
std::string journal_gc_begin() { return journal_gc().range_begin(); }
std::string journal_gc_end(int64_t expires_ms_exclusive) {
    return journal_gc().key(Tuple().append(expires_ms_exclusive));
}

Result<IndexedKey> decode_pending_key(std::string_view key) {
    if (!pending_index().contains(key)) {
        return corrupt("pending index key");
    }
    Result<Tuple> t = pending_index().unpack(key);
    if (!t.ok() || t->size() != 3 || !is_text(*t, 0) || !is_text(*t, 1) || !is_text(*t, 2)) {
        return corrupt("pending index key");
    }
    return IndexedKey{0, ActorId{text_at(*t, 0), text_at(*t, 1)}, text_at(*t, 2)};
}
Result<IndexedKey> decode_reminder_due_key(std::string_view key) {
    return decode_timed(reminders_due(), key, "reminder due key");
}
Result<IndexedKey> decode_journal_gc_key(std::string_view key) {
    return decode_timed(journal_gc(), key, "journal GC key");
}

Result<ActorId> state_actor(std::string_view key) {
    if (!actors().contains(key)) {
        return corrupt("state key");
    }
    Result<Tuple> t = actors().unpack(key);
    if (!t.ok() || t->size() != 3 || !is_text(*t, 0) || !is_text(*t, 1) || !is_text(*t, 2) ||
        text_at(*t, 2) != "s") {
        return corrupt("state key");
    }
    return ActorId{text_at(*t, 0), text_at(*t, 1)};
}

std::string encode_state(const StateRecord& r) {
    return Tuple()
        .append(record_format)
        .append(static_cast<int64_t>(r.fencing_token))
        .append_bytes(r.bytes)
        .pack();
}

Result<StateRecord> decode_state(std::string_view bytes) {
    KELPIE_TRY_ASSIGN(Tuple t, unpack_record(bytes, 3, "actor state record"));
    if (!is_int(t, 1) || int_at(t, 1) < 0 || !is_bytes(t, 2)) {
        return corrupt("actor state record");
    }
    return StateRecord{static_cast<uint64_t>(int_at(t, 1)), bytes_at(t, 2)};
}

std::string encode_journal(const JournalEntry& e) {
    return Tuple()
        .append(record_format)
        .append(static_cast<int64_t>(e.status))
        .append(e.call.method)
        .append_bytes(e.call.argument)
        .append(e.error.has_value() ? static_cast<int64_t>(*e.error) : int64_t{-1})
        .append_bytes(e.result)
        .append(e.expires_ms)
        .pack();
}

Result<JournalEntry> decode_journal(std::string_view bytes) {
    KELPIE_TRY_ASSIGN(Tuple t, unpack_record(bytes, 7, "journal entry"));
    if (!is_int(t, 1) || int_at(t, 1) < 0 || int_at(t, 1) > 1 || !is_text(t, 2) ||
        !is_bytes(t, 3) || !is_int(t, 4) || int_at(t, 4) < -1 ||
        int_at(t, 4) > static_cast<int64_t>(ErrorCode::failed_precondition) || !is_bytes(t, 5) ||
        !is_int(t, 6)) {
        return corrupt("journal entry");
    }
    JournalEntry e;
    e.status = static_cast<JournalStatus>(int_at(t, 1));
    e.call = Invocation{text_at(t, 2), bytes_at(t, 3)};
    if (int_at(t, 4) >= 0) {
        e.error = static_cast<ErrorCode>(int_at(t, 4));
    }
    e.result = bytes_at(t, 5);
    e.expires_ms = int_at(t, 6);
    return e;
}

Result<std::string> journal_result(const JournalEntry& e) {
    if (e.error.has_value()) {
        return Error(*e.error, e.result);
    }
    return e.result;
}

std::string encode_reminder(const ReminderRecord& r) {
    return Tuple()
        .append(record_format)
        .append(r.due_ms)
        .append(r.period_ms)
        .append(r.call.method)
        .append_bytes(r.call.argument)
        .pack();
}

Result<ReminderRecord> decode_reminder(std::string_view bytes) {
    KELPIE_TRY_ASSIGN(Tuple t, unpack_record(bytes, 5, "reminder record"));
    if (!is_int(t, 1) || !is_int(t, 2) || int_at(t, 2) < 0 || !is_text(t, 3) || !is_bytes(t, 4)) {
        return corrupt("reminder record");
    }
    return ReminderRecord{int_at(t, 1), int_at(t, 2), Invocation{text_at(t, 3), bytes_at(t, 4)}};
}

std::string encode_due(const Invocation& call) {
    return Tuple().append(record_format).append(call.method).append_bytes(call.argument).pack();
}

Result<Invocation> decode_due(std::string_view bytes) {
    KELPIE_TRY_ASSIGN(Tuple t, unpack_record(bytes, 3, "reminder due entry"));
    if (!is_text(t, 1) || !is_bytes(t, 2)) {
        return corrupt("reminder due entry");
    }
    return Invocation{text_at(t, 1), bytes_at(t, 2)};
}

std::string reminder_idempotency_key(const ReminderFire& fire) {
    return std::string(reserved_idempotency_prefix) + "reminder:" + std::to_string(fire.due_ms) +
           ":" + fire.name;
}

std::optional<ReminderFire> parse_reminder_idempotency_key(std::string_view key) {
    const std::string prefix = std::string(reserved_idempotency_prefix) + "reminder:";
    if (!key.starts_with(prefix)) {
        return std::nullopt;
    }
    key.remove_prefix(prefix.size());
    const size_t colon = key.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return std::nullopt;
    }
    int64_t due = 0;
    const std::string_view digits = key.substr(0, colon);
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), due);
    if (error != std::errc() || end != digits.data() + digits.size() || due < 0) {
        return std::nullopt;
    }
    return ReminderFire{std::string(key.substr(colon + 1)), due};
}

}  // namespace kelpie::actor::records

namespace kelpie::actor {

std::optional<StoredState> decode_stored_state(std::string_view key, std::string_view value) {
    Result<ActorId> actor = records::state_actor(key);
    if (!actor.ok()) {
        return std::nullopt;
    }
    Result<records::StateRecord> r = records::decode_state(value);
    if (!r.ok()) {
        return std::nullopt;
    }
    return StoredState{std::move(*actor), r->fencing_token, std::move(r->bytes)};
}

io::Task<Result<std::optional<std::string>>> read_committed_state(store::Store& store, ActorId actor) {
    auto t = store.begin();
    KELPIE_CO_TRY_ASSIGN(std::optional<store::KeyValue> kv, co_await t->get(records::state_key(actor)));
    if (!kv.has_value()) {
        co_return std::optional<std::string>();
    }
    KELPIE_CO_TRY_ASSIGN(records::StateRecord r, records::decode_state(kv->value));
    co_return std::optional<std::string>(std::move(r.bytes));
}

io::Task<Result<size_t>> count_pending(store::Store& store, ActorId actor) {
    auto t = store.begin();
    KELPIE_CO_TRY_ASSIGN(store::RangeResult r,
                         co_await t->range(records::pending_begin(actor), records::pending_end(actor)));
    co_return r.pairs.size();
}

}  // namespace kelpie::actor
