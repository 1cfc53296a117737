#pragma once

// Private: the actor layer's keys and records in the store (docs/internals/store_format.md).
//
//   ("actor", type, key, "s")              state         (1, fencing token, state bytes)
//   ("actor", type, key, "j", ikey)        journal entry (1, status, method, argument, error code,
//                                                         result, expires_ms)
//   ("actor", type, key, "r", name)        reminder      (1, due_ms, period_ms, method, argument)
//   ("actor_pending", type, key, ikey)     pending index ""      (entries not yet completed; one
//                                          subspace for all actors, so recovery finds them)
//   ("reminder_due", due_ms, type, key, name)   due index (1, method, argument)
//   ("journal_gc", expires_ms, type, key, ikey) GC index  ""
//
// Every record starts with a format number; decoding validates everything and reports corruption.

#include <cstdint>
#include <optional>
#include <string>

#include "actor/actor.h"
#include "base/result.h"

namespace kelpie::actor::records {

std::string state_key(const ActorId& a);
std::string journal_key(const ActorId& a, std::string_view idempotency_key);
std::string pending_key(const ActorId& a, std::string_view idempotency_key);
std::string pending_begin(const ActorId& a);
std::string pending_end(const ActorId& a);
std::string pending_all_begin();
std::string pending_all_end();
std::string reminder_key(const ActorId& a, std::string_view name);
std::string reminder_due_key(int64_t due_ms, const ActorId& a, std::string_view name);
std::string reminder_due_begin();
std::string reminder_due_end(int64_t due_ms_exclusive);
std::string journal_gc_key(int64_t expires_ms, const ActorId& a, std::string_view idempotency_key);
std::string journal_gc_begin();
std::string journal_gc_end(int64_t expires_ms_exclusive);

// Decoded pending-index, due-index and GC-index keys.
struct IndexedKey {
    int64_t time_ms = 0;  // due_ms or expires_ms; 0 for the pending index
    ActorId actor;
    std::string name;  // idempotency key or reminder name
};
Result<IndexedKey> decode_pending_key(std::string_view key);
Result<IndexedKey> decode_reminder_due_key(std::string_view key);
Result<IndexedKey> decode_journal_gc_key(std::string_view key);
Result<ActorId> state_actor(std::string_view key);
// True for keys in the subspaces above (which Context::put may not write).
bool is_runtime_key(std::string_view key);

struct StateRecord {
    uint64_t fencing_token = 0;  // of the activation that wrote it
    std::string bytes;
};
std::string encode_state(const StateRecord& r);
Result<StateRecord> decode_state(std::string_view bytes);

enum class JournalStatus : int64_t { pending = 0, done = 1 };
struct JournalEntry {
    JournalStatus status = JournalStatus::pending;
    Invocation call;
    std::optional<ErrorCode> error;  // done with an error result
    std::string result;              // the value, or the error message
    int64_t expires_ms = 0;          // done: when the GC may delete it
};
std::string encode_journal(const JournalEntry& e);
Result<JournalEntry> decode_journal(std::string_view bytes);
// The stored outcome as the caller sees it.
Result<std::string> journal_result(const JournalEntry& e);

struct ReminderRecord {
    int64_t due_ms = 0;
    int64_t period_ms = 0;  // 0: fires once
    Invocation call;
};
std::string encode_reminder(const ReminderRecord& r);
Result<ReminderRecord> decode_reminder(std::string_view bytes);
std::string encode_due(const Invocation& call);
Result<Invocation> decode_due(std::string_view bytes);

// A reminder firing is a durable invocation with a reserved idempotency key naming the reminder and
// its due time, so that a firing takes effect once however often it is delivered. User keys may not
// start with reserved_idempotency_prefix.
inline constexpr std::string_view reserved_idempotency_prefix = "kelpie-";
struct ReminderFire {
    std::string name;
    int64_t due_ms = 0;
};
std::string reminder_idempotency_key(const ReminderFire& fire);
std::optional<ReminderFire> parse_reminder_idempotency_key(std::string_view key);

}  // namespace kelpie::actor::records
