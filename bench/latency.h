#pragma once

// Throughput and latency figures shared by the benchmarks: collect per-operation latencies, then
// summarize them over the measured wall time and print one aligned line.

#include <algorithm>
#include <cstdio>
#include <vector>

namespace kelpie::bench {

struct Figures {
    double per_second = 0;
    double p50_us = 0;
    double p99_us = 0;
    double max_us = 0;
    size_t count = 0;
};

// Merges the per-worker latency lists (microseconds) measured over `seconds` of wall time.
inline Figures summarize(const std::vector<std::vector<double>>& per_worker_us, double seconds) {
    std::vector<double> all;
    for (const auto& l : per_worker_us) {
        all.insert(all.end(), l.begin(), l.end());
    }
    Figures f;
    f.count = all.size();
    f.per_second = static_cast<double>(f.count) / seconds;
    if (!all.empty()) {
        std::sort(all.begin(), all.end());
        f.p50_us = all[all.size() / 2];
        f.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
        f.max_us = all.back();
    }
    return f;
}

inline void print(const char* what, int concurrency, const Figures& f) {
    std::printf("  %-44s c=%-3d %10.0f /s   p50 %8.1f us   p99 %9.1f us   (%zu ops)\n", what,
                concurrency, f.per_second, f.p50_us, f.p99_us, f.count);
}

}  // namespace kelpie::bench
