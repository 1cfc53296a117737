#pragma once

// Private to sim/: the `agents` workload (see harness.h). A SimCluster of real runtimes, each node
// incarnation with its own AgentService and simulated model (llm/sim_llm.h); clients on their own
// simulated node send messages with idempotency keys to a few agents through random nodes — plain
// text, or a directive that makes the model call memory_insert on the agent's own block or on a
// block all the agents share — and retry until acknowledged,
// while the seed's plan makes the model fail (errors, rate limits, timeouts, malformed tool
// calls), crashes nodes, and delays or drops their store traffic. Checked:
//   tool_call_unpaired    on every commit the store applies: an agent's stored tool call (other
//                         than one waiting for approval) always has its return, in the same commit
//                         or an earlier one — a turn's messages are never half-visible;
//   acked_message_lost    at the end, every acknowledged message is in its agent's history;
//   message_duplicated    ... exactly once (the idempotency key's run took effect once);
//   block_edit_lost       at the end, the shared block holds every insert whose turn was
//                         acknowledged with a successful tool return (no turn overwrote another's
//                         edit with an older copy of the block);
//   not_live / pending_not_replayed  every client is acknowledged after the faults stop, and no
//                         agent is left with a journaled turn that never finished.

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

#include "agent/agent.h"
#include "llm/llm.h"
#include "llm/sim_llm.h"

namespace kelpie::sim {

struct AgentWorkloadOptions {
    uint32_t nodes = 3;
    std::string bug;               // a bug switch name, or empty
    std::set<std::string> faults;  // the fault kinds this run may use (each seed picks a subset)
};

class AgentWorkload {
public:
    AgentWorkload(io::SimWorld& world, AgentWorkloadOptions options);
    ~AgentWorkload();

    void start(Instant fault_phase_end, Instant liveness_end);
    // Called once per simulated second of the fault phase.
    void tick();
    void heal();
    bool clients_done() const { return clients_running_ == 0; }
    // After the clients finished: checks every acknowledged message, the pairing of every agent's
    // history and that no turn is left pending. Drives the world.
    void finish(Duration bound);
    void stop();

    const std::optional<Violation>& violation() const { return violation_; }
    std::vector<std::pair<std::string, uint64_t>> fault_counts() const;
    uint64_t acknowledged() const { return acknowledged_; }

private:
    // Whether an acknowledged send's response shows a tool call that succeeded.
    static bool inserted(const std::string& response);
    struct PerNode {
        agent::AgentService* service = nullptr;
        llm::SimLlm* model = nullptr;
    };
    // What one node incarnation owns beside the cluster's objects.
    struct Incarnation {
        std::unique_ptr<llm::Providers> providers;
        std::unique_ptr<agent::AgentService> service;
    };
    void violation(std::string invariant, std::string detail);
    void committed(const std::vector<store::AppliedWrite>& writes);
    io::Task<void> client(uint32_t id);
    io::Task<Result<std::string>> rpc(size_t node, std::string agent_id, std::string text,
                                      std::string key);

    io::SimWorld& world_;
    AgentWorkloadOptions options_;
    std::set<std::string> plan_;
    std::unique_ptr<SimCluster> cluster_;
    std::vector<PerNode> nodes_;
    std::vector<Incarnation> live_;  // per node: freed with the workload
    // Incarnations of crashed nodes: never freed (their frames may still point at them), like
    // SimCluster's graveyard.
    std::vector<Incarnation> abandoned_;
    std::vector<llm::SimLlm*> models_;  // every incarnation's (for the fault counts)
    io::SimExecutor* clients_ = nullptr;
    std::vector<std::string> agents_;
    std::string shared_block_;                    // attached to every agent
    std::set<std::string> shared_inserts_;        // acknowledged successful inserts into it
    std::map<std::string, std::set<std::string>> acked_;  // agent -> acknowledged otids
    // Per agent: tool call ids stored without a return yet (approval requests excluded).
    std::map<std::string, std::set<std::string>> open_calls_;
    std::map<std::string, std::set<std::string>> answered_calls_;
    std::optional<Violation> violation_;
    Instant fault_phase_end_;
    Instant liveness_end_;
    uint32_t clients_running_ = 0;
    uint64_t acknowledged_ = 0;
    std::map<std::string, uint64_t> fired_;
    std::map<size_t, Instant> restarts_;
};

}  // namespace kelpie::sim
