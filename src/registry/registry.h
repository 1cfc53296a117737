#pragma once

// The registry: node leases, actor placement and fencing tokens (DESIGN §5, ADR 0005,
// docs/tla/SingleActivation.tla). It is what makes "at most one activation of an actor accepts turns,
// and at most one can commit" true on every store backend.
//
// Concepts
// - Node lease. Each node holds one store lease and a node record `node/<id>` attached to it. If
//   the node dies or loses the store, the store expires the lease and the record vanishes.
// - Conservative reckoning. The node believes its lease valid until
//       t_send + ttl * (1 - clock_drift_max) - safety_margin     (its own clock)
//   where t_send is when it *sent* the last keepalive that succeeded. The store restarted the TTL
//   no earlier than t_send, so with bounded drift the node stops before the store can expire it.
//   lease_valid() answers with that reckoning; a node accepts turns only while it is true.
// - Placement `placement/<type>/<key>`: the owner (node id, node lease) and a fencing token that
//   strictly increases with every claim. Not attached to a lease: tokens survive everything.
// - Claim: one serializable transaction that reads the placement, the owner's node record and
//   the claimer's own node record; it succeeds only if the actor has no owner, or the owner's
//   node record is gone or names another lease (that incarnation is dead), or the owner is this
//   very incarnation; and only if the claimer's own record still names its lease.
// - Fence: every durable write of an activation runs check_fence() in its own transaction: it
//   reads the placement and requires (this node, this lease, this token). A stale owner's commit
//   therefore fails with ErrorCode::fenced (or conflicts, and fails fenced on the retry).
// - Release: clean deactivation clears the owner but keeps the token.
//
// Node ids must be unique among live processes. A process that starts with the id of a dead
// predecessor takes over at once: it revokes the predecessor's lease (ADR 0005).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "base/units.h"
#include "io/channel.h"
#include "io/executor.h"
#include "io/task.h"
#include "store/store.h"

namespace kelpie::registry {

// An actor's identity: its type name and its key within the type. Both non-empty, at most
// actor_name_bytes_max each.
// (Not an aggregate on purpose: g++ 12 destroys aggregates passed into coroutines twice in some
// co_await expressions; ADR 0001.)
struct ActorId {
    ActorId() = default;
    ActorId(std::string t, std::string k) : type(std::move(t)), key(std::move(k)) {}

    std::string type;
    std::string key;

    auto operator<=>(const ActorId&) const = default;
    std::string to_string() const { return type + "/" + key; }
};
inline constexpr size_t actor_name_bytes_max = 512;
Status check_actor_id(const ActorId& id);

inline constexpr Duration node_lease_ttl_default = Duration::s(10);
inline constexpr Duration lease_safety_margin_default = Duration::ms(1000);
// The largest rate difference assumed between any node's clock and the store's: 1%.
inline constexpr int64_t clock_drift_max_ppm = 10'000;

// Bug switches (the simulator re-introduces each known bug class to prove its checkers catch it).
// All off in production.
struct RegistryBugs {
    bool claim_without_check = false;   // claim reads in one transaction and writes blind in another
    bool commit_without_fence = false;  // check_fence() checks nothing
    bool lease_after_expiry = false;    // lease_valid() ignores the reckoning (true until told)
};

struct RegistryOptions {
    std::string node_id;  // non-empty, at most actor_name_bytes_max
    std::string address;  // how other nodes reach this one (informational until clustering)
    Duration lease_ttl = node_lease_ttl_default;
    Duration safety_margin = lease_safety_margin_default;
    RegistryBugs bugs;
};

struct Placement {
    std::string owner_node;  // empty: no owner
    store::LeaseId owner_lease;
    uint64_t fencing_token = 0;
};

// What a successful claim gives an activation.
struct Claim {
    uint64_t fencing_token = 0;
    store::LeaseId lease;
    store::Revision revision = 0;  // the claim's commit revision
};

class Registry {
public:
    // `executor` and `store` must outlive the registry.
    Registry(io::Executor& executor, store::Store& store, RegistryOptions options);
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    // Grants the node lease, writes the node record (revoking a dead predecessor's lease) and
    // starts the keepalive loop. invalid_argument on bad options; store errors as they come.
    io::Task<Status> start();
    // Stops the keepalive loop and revokes the lease (deleting the node record). Idempotent.
    io::Task<void> stop();

    const std::string& node_id() const { return options_.node_id; }
    // The current node lease (0 before start() or while re-registering).
    store::LeaseId lease() const { return lease_; }
    // True while the conservative reckoning says the lease is alive: accept turns only then.
    bool lease_valid() const;
    // How many leases this registry has held (1 after start(); +1 each time it re-registers).
    uint64_t incarnation() const { return incarnation_; }

    // Called (on the executor) when the node may have lost its lease: the reckoning ran out
    // without a renewal, or the store said the lease expired. Everything on the node must stop
    // accepting turns. Called again after each later loss.
    void on_lease_lost(std::function<void()> callback) { lease_lost_ = std::move(callback); }

    // Claims `actor` for this node (see the header comment). Errors: not_owner (another live node
    // owns it; the message names it); lease_expired (this node's lease is gone or may be);
    // unavailable / conflict after retries; corruption.
    io::Task<Result<Claim>> claim(ActorId actor);
    // Clears the owner if it is still (this node, claim.lease, token). Ok if someone else owns it
    // by now (nothing to release).
    io::Task<Status> release(ActorId actor, Claim claim);
    // Adds the fence to `transaction`: reads the placement; fenced unless it names this node,
    // claim.lease and claim.fencing_token.
    io::Task<Status> check_fence(store::Transaction& transaction, const ActorId& actor,
                                 const Claim& claim);
    // The placement as stored (nullopt: never claimed).
    io::Task<Result<std::optional<Placement>>> lookup(ActorId actor);

private:
    io::Task<Status> register_node();
    io::Task<void> keepalive_loop();
    void lost();
    void arm_expiry_timer();
    static void on_expiry_timer(void* self);

    io::Executor& executor_;
    store::Store& store_;
    RegistryOptions options_;
    store::LeaseId lease_;
    Instant valid_until_;
    bool lost_reported_ = true;  // until the first registration
    uint64_t incarnation_ = 0;
    std::function<void()> lease_lost_;
    io::TimerId expiry_timer_;
    io::CancellationSource stop_;
    std::shared_ptr<io::Channel<int>> loop_done_;  // closed when the keepalive loop ends
    bool started_ = false;
};

// Key layout (docs/internals/store_format.md).
std::string node_key(std::string_view node_id);
std::string placement_key(const ActorId& actor);

// Record codecs, exposed for the simulator's checkers, which read the store from outside.
std::string encode_placement(const Placement& placement);
Result<Placement> decode_placement(std::string_view bytes);
bool is_placement_key(std::string_view key);
Result<ActorId> placement_actor(std::string_view key);

}  // namespace kelpie::registry
