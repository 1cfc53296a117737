#include <map>
#include <set>

#include <fmt/format.h>

#include "io/real_world.h"
#include "main/commands.h"
#include "sim/harness.h"

namespace kelpie::cli {

namespace {

// The --faults flag that reproduces `faults` ("" for all).
std::string faults_flag(const std::set<std::string>& faults) {
    if (faults == sim::all_fault_kinds()) {
        return "";
    }
    if (faults.empty()) {
        return " --faults none";
    }
    std::string out = " --faults ";
    for (const std::string& kind : faults) {
        out += kind + ",";
    }
    out.pop_back();
    return out;
}

}  // namespace

int run_sim(const SimOptions& options) {
    uint64_t passed = 0;
    uint64_t failed = 0;
    std::map<std::string, uint64_t> fired;
    double simulated_s = 0;
    const io::Stopwatch total_wall;
    for (uint64_t seed = options.seed_first; seed <= options.seed_last; seed++) {
        const io::Stopwatch wall;
        const sim::SimRunResult r = sim::run_simulation(sim::SimRunOptions{
            .seed = seed,
            .nodes = options.nodes,
            .duration = options.duration,
            .canary = options.canary,
            .bug = options.bug,
            .faults = options.faults,
        });
        simulated_s += r.simulated.to_seconds_f();
        for (const auto& [kind, count] : r.faults) {
            fired[kind] += count;
        }
        const double wall_s = wall.elapsed().to_seconds_f();
        if (r.ok()) {
            passed++;
            fmt::print("seed={} trace={:016x} result=ok\n", seed, r.trace_hash);
        } else {
            failed++;
            fmt::print("seed={} trace={:016x} result=violation:{} at={} detail=\"{}\" "
                       "replay=\"kelpie sim --seed {} --nodes {} --duration {}{}{}{}\"\n",
                       seed, r.trace_hash, r.violation->invariant,
                       r.violation->at.since_origin().to_string(), r.violation->detail, seed,
                       options.nodes, options.duration.to_string(),
                       options.canary ? " --canary" : "",
                       options.bug.empty() ? "" : " --bug " + options.bug,
                       faults_flag(options.faults));
        }
        if (options.verbose) {
            fmt::print("  simulated={} wall={:.3f}s events={} messages={} send_timeouts={} "
                       "store_commits={} actor_calls_acked={} actor_turns={}\n",
                       r.simulated.to_string(), wall_s, r.events, r.messages, r.timeouts,
                       r.store_commits, r.actor_calls_acked, r.actor_turns);
        }
        std::fflush(stdout);
    }
    fmt::print("faults fired (kind, times):\n");
    for (const auto& [kind, what] : sim::fault_kinds()) {
        if (options.faults.contains(kind)) {
            fmt::print("  {:<22} {}\n", kind, fired[kind]);
        }
    }
    const double wall_total = total_wall.elapsed().to_seconds_f();
    fmt::print("time compression: {:.0f} simulated s / {:.1f} wall s = {:.0f}x\n", simulated_s,
               wall_total, wall_total > 0 ? simulated_s / wall_total : 0.0);
    fmt::print("{} passed, {} failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

}  // namespace kelpie::cli
