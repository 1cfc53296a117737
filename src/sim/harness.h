#pragma once

// The simulation harness: runs one seed of a workload on a SimWorld and checks its invariants.
// `kelpie sim` runs it over a range of seeds; tests run it directly.
//
// So far the harness has one workload, `mailbox`: nodes of coroutines that exchange numbered
// messages through bounded channels, with random delays, timeouts and retries, on clocks that
// drift. It exercises the executor, timers, cancellation and channels, and checks:
//   timer_early      no sleep ever wakes before its deadline on its node's clock;
//   message_lost     every message acknowledged as sent is received;
//   message_duplicated  no message is received twice;
//   order_violated   messages from one sender to one receiver arrive in the order sent;
//   not_live         when the workload ends, every sender and receiver has finished.
// and the `bank` workload (sim/bank_workload.h) on the memory store of node 0, with faults each
// seed picks (conflicts, unavailability, latency), checking serializability and conserved_total.
// and the `actors` workload (sim/workloads/actor_workload.h): several nodes of the real registry
// and actor runtime sharing a memory store over simulated links, clients calling "ledger" actors
// with idempotency keys through random nodes, under a per-seed fault plan (fault_kinds()).
// Checked on every commit the store applies and every turn that starts:
//   single_activation   no turn starts while another node also accepts turns for the actor
//                       (not checked in seeds that inject early lease expiry: it assumes the store
//                       honours TTLs);
//   turn_outside_active no turn runs on an activation that is not Active;
//   single_writer       every state commit carries the fencing token the placement names;
//   fencing_monotonic   placement tokens never decrease, and every claim increases them;
//   idempotency_once    no idempotency key takes effect twice;
//   acked_write_lost    every acknowledged call is in every later committed state;
// and after the faults stop (liveness): every client's call is acknowledged, every actor is
// served, no journaled call is left pending (pending_not_replayed), the final states are complete.
// and the `agents` workload (sim/workloads/agent_workload.h): agent services with a simulated model
// (faults llm_error, llm_rate_limit, llm_timeout, llm_malformed; node crashes; link faults),
// checking tool_call_unpaired on every commit, and acked_message_lost, message_duplicated,
// pending_not_replayed and liveness at the end.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/units.h"

namespace kelpie::sim {

// The fault kinds the simulator injects, with one line each.
std::vector<std::pair<std::string, std::string>> fault_kinds();
inline std::set<std::string> all_fault_kinds() {
    std::set<std::string> out;
    for (const auto& [name, what] : fault_kinds()) {
        out.insert(name);
    }
    return out;
}

struct SimRunOptions {
    uint64_t seed = 1;
    uint32_t nodes = 3;
    // Virtual time the workload keeps sending for; the liveness check follows.
    Duration duration = Duration::s(60);
    // Deliberately breaks the workload (drops one received message) so the run must fail with
    // message_lost: proof that a violation is reported. Never set outside tests and the CLI flag.
    bool canary = false;
    // A bug switch (see bug_names()): re-introduces a known bug class so that the run must report
    // a violation. Empty: none.
    std::string bug;
    // The fault kinds (fault_kinds()) the run may inject; each seed picks its own subset and
    // intensities (swarm testing). Default: all.
    std::set<std::string> faults = all_fault_kinds();
};

// The bug switches `kelpie sim --bug NAME` accepts, with one line each saying what they break.
std::vector<std::pair<std::string, std::string>> bug_names();

struct Violation {
    std::string invariant;  // e.g. "message_lost"
    std::string detail;     // what exactly, for the replay
    Instant at;             // the world's virtual time when it was detected
};

struct SimRunResult {
    uint64_t seed = 0;
    uint64_t trace_hash = 0;
    std::optional<Violation> violation;
    Duration simulated;         // virtual time at the end of the run
    uint64_t events = 0;        // events the world executed
    uint64_t messages = 0;      // messages delivered
    uint64_t timeouts = 0;      // sends that timed out and were retried
    uint64_t store_commits = 0; // bank transactions committed
    uint64_t actor_calls_acked = 0;  // actor invocations acknowledged to their clients
    uint64_t actor_turns = 0;
    uint64_t agent_messages_acked = 0;  // agent messages acknowledged to their clients
    // How often each fault kind fired (kinds the run may inject; 0 if its plan left it out).
    std::vector<std::pair<std::string, uint64_t>> faults;

    bool ok() const { return !violation.has_value(); }
};

SimRunResult run_simulation(const SimRunOptions& options);

}  // namespace kelpie::sim
