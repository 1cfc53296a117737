#pragma once

// Private to sim/: the `actors` workload (see harness.h). A SimCluster of real runtimes shares one
// memory store over simulated links; clients on their own simulated node send idempotent calls to
// "ledger" actors through random nodes while a seeded fault plan crashes, pauses and partitions
// nodes, drifts and jumps their clocks, and makes the store misbehave. Checkers watch every commit
// the store applies and every turn that starts.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "io/sim_world.h"
#include "sim/cluster.h"
#include "sim/harness.h"

namespace kelpie::sim {

struct ActorWorkloadOptions {
    uint32_t nodes = 3;
    std::string bug;               // a bug switch name, or empty
    std::set<std::string> faults;  // the fault kinds this run may use (each seed picks a subset)
};

class ActorWorkload {
public:
    ActorWorkload(io::SimWorld& world, ActorWorkloadOptions options);
    ~ActorWorkload();

    // Starts the nodes and the clients; clients send until `fault_phase_end`, then keep retrying
    // what is unacknowledged until `liveness_end`.
    void start(Instant fault_phase_end, Instant liveness_end);
    // Called once per simulated second of the fault phase.
    void tick();
    // Ends the fault phase: no more faults, partitions healed, crashed nodes restarted.
    void heal();
    bool clients_done() const { return clients_running_ == 0; }
    // After the clients finished: every actor must be served (its pending calls replayed), every
    // acknowledged call present exactly once. Drives the world (bounded by `bound`).
    void finish(Duration bound);
    // Stops every node (drives the world).
    void stop();

    const std::optional<Violation>& violation() const;
    std::vector<std::pair<std::string, uint64_t>> fault_counts() const;
    uint64_t acknowledged() const { return acknowledged_; }
    uint64_t turns() const;

private:
    class Checker;
    struct Op;

    io::Task<void> client(uint32_t id);
    io::Task<Result<std::string>> rpc(size_t node, registry::ActorId actor, std::string method,
                                      std::string argument, std::string key);
    void crash_node();
    void heal_due();

    io::SimWorld& world_;
    ActorWorkloadOptions options_;
    std::set<std::string> plan_;  // the fault kinds this seed uses
    std::shared_ptr<store::StoreFaultControl> store_faults_;
    std::unique_ptr<SimCluster> cluster_;
    std::unique_ptr<Checker> checker_;
    io::SimExecutor* clients_ = nullptr;
    std::vector<registry::ActorId> actors_;
    Instant fault_phase_end_;
    Instant liveness_end_;
    uint32_t clients_running_ = 0;
    uint64_t acknowledged_ = 0;
    std::map<std::string, uint64_t> fired_;
    // Pending heals: node -> world time when its partition ends / it restarts.
    std::map<size_t, Instant> partition_ends_;
    std::map<size_t, Instant> restarts_;
    Duration lease_ttl_;
    int64_t think_max_ms_ = 1000;  // a client waits up to this long between calls
    double abandon_probability_ = 0.2;  // a client gives up on a call after one try
    // Faults of the client -> node calls (each seed's own): lost requests or answers, duplicated
    // deliveries (a retransmitting proxy), delays that reorder them.
    double call_loss_ = 0;
    double call_duplicate_ = 0;
    Duration call_delay_max_;
    Instant store_restart_at_;          // while the store is down: when it comes back
    uint64_t disk_failures_seen_ = 0;
};

}  // namespace kelpie::sim
