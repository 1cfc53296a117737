#include <fmt/format.h>

#include "io/real_world.h"
#include "main/commands.h"
#include "sim/harness.h"

namespace kelpie::cli {

int run_sim(const SimOptions& options) {
    uint64_t passed = 0;
    uint64_t failed = 0;
    for (uint64_t seed = options.seed_first; seed <= options.seed_last; seed++) {
        const io::Stopwatch wall;
        const sim::SimRunResult r = sim::run_simulation(sim::SimRunOptions{
            .seed = seed,
            .nodes = options.nodes,
            .duration = options.duration,
            .canary = options.canary,
            .bug = options.bug,
        });
        const double wall_s = wall.elapsed().to_seconds_f();
        if (r.ok()) {
            passed++;
            fmt::print("seed={} trace={:016x} result=ok\n", seed, r.trace_hash);
        } else {
            failed++;
            fmt::print("seed={} trace={:016x} result=violation:{} at={} detail=\"{}\" "
                       "replay=\"kelpie sim --seed {} --nodes {} --duration {}{}{}\"\n",
                       seed, r.trace_hash, r.violation->invariant,
                       r.violation->at.since_origin().to_string(), r.violation->detail, seed,
                       options.nodes, options.duration.to_string(),
                       options.canary ? " --canary" : "",
                       options.bug.empty() ? "" : " --bug " + options.bug);
        }
        if (options.verbose) {
            fmt::print("  simulated={} wall={:.3f}s events={} messages={} send_timeouts={} "
                       "store_commits={}\n",
                       r.simulated.to_string(), wall_s, r.events, r.messages, r.timeouts,
                       r.store_commits);
        }
        std::fflush(stdout);
    }
    fmt::print("{} passed, {} failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

}  // namespace kelpie::cli
