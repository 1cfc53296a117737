// Store benchmarks: commit throughput and latency per backend, at concurrency 1 and 64, each next
// to a baseline measured in the same run on the same machine.
//
//   memory   small transactions (get + set + commit) per second on the simulated executor
//   rocksdb  our commits (one key per transaction, synced)  vs  raw rocksdb::DB::Put with sync=true
//            in a loop (one writer): group commit should make ours at concurrency 64 several times
//            the raw synced single-write rate
//
// Usage: store_bench [--seconds S] [--only memory|rocksdb]   (default 3 s per measurement). Figures, never assertions.

#include <rocksdb/db.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/latency.h"
#include "io/combinators.h"
#include "io/real_world.h"
#include "io/sim_world.h"
#include "store/memory_store.h"
#include "store/rocksdb_store.h"

using namespace kelpie;
using Clock = std::chrono::steady_clock;

namespace {

using bench::Figures;
using bench::print;
using bench::summarize;

// One writer: each transaction sets one key of its own and commits; latency per commit.
// The whole run touches keys_total keys, whatever the concurrency, so that c=1 and c=64 measure
// the same data set (each writer owns keys_total / concurrency of them: no conflicts).
constexpr int keys_total = 1024;

io::Task<void> commit_loop(io::Executor* ex, store::Store* s, int writer, int concurrency,
                           Clock::time_point until, std::vector<double>* latencies,
                           bool with_read) {
    const int keys_per_writer = keys_total / concurrency;
    // The keys are made before the timed loop: the figures are the store's, not the formatting's.
    std::vector<std::string> keys;
    for (int k = 0; k < keys_per_writer; k++) {
        keys.push_back("bench/" + std::to_string(writer) + "/" + std::to_string(k));
    }
    // One clock read per transaction: its end is the next one's start.
    auto now = Clock::now();
    for (int64_t n = 0; now < until; n++) {
        const auto start = now;
        auto t = s->begin();
        const std::string& key = keys[static_cast<size_t>(n % keys_per_writer)];
        if (with_read) {
            auto r = co_await t->get(key);
            KELPIE_ASSERT(r.ok());
        }
        (void)t->set(key, "0123456789abcdef0123456789abcdef");
        auto c = co_await t->commit();
        KELPIE_ASSERT_MSG(c.ok(), c.ok() ? "" : c.error().to_string().c_str());
        now = Clock::now();
        latencies->push_back(std::chrono::duration<double, std::micro>(now - start).count());
        if (n % 64 == 63) {
            co_await ex->yield();
            now = Clock::now();
        }
    }
}

template <typename Driver>
Figures run_writers(Driver& driver, io::Executor& ex, store::Store& s, int concurrency,
                    double seconds, bool with_read) {
    std::vector<std::vector<double>> latencies(static_cast<size_t>(concurrency));
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(seconds));
    std::vector<io::Task<void>> tasks;
    for (int w = 0; w < concurrency; w++) {
        tasks.push_back(commit_loop(&ex, &s, w, concurrency, until,
                                    &latencies[static_cast<size_t>(w)], with_read));
    }
    const auto start = Clock::now();
    io::block_on(driver, ex, io::when_all(std::move(tasks)));
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    return summarize(latencies, elapsed);
}

void bench_memory(double seconds) {
    std::printf("memory backend (simulated executor, wall-clock throughput)\n");
    for (int concurrency : {1, 64}) {
        io::SimWorld world(io::SimWorldOptions{.seed = 1});
        io::SimExecutor& ex = world.add_node();
        auto s = store::make_memory_store(ex);
        KELPIE_ASSERT(s.ok());
        print("get + set + commit", concurrency,
              run_writers(world, ex, **s, concurrency, seconds, true));
        io::block_on(world, ex, (*s)->close());
    }
}

Figures raw_rocksdb_synced_puts(const std::string& path, double seconds) {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    KELPIE_ASSERT(rocksdb::DB::Open(options, path, &db).ok());
    rocksdb::WriteOptions write;
    write.sync = true;
    std::vector<double> latencies;
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(seconds));
    const auto start = Clock::now();
    for (int64_t n = 0; Clock::now() < until; n++) {
        const auto t0 = Clock::now();
        KELPIE_ASSERT(db->Put(write, "bench/raw/" + std::to_string(n % keys_total),
                              "0123456789abcdef0123456789abcdef")
                          .ok());
        latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    delete db;
    return summarize({latencies}, elapsed);
}

void bench_rocksdb(double seconds) {
    char pattern[] = "/tmp/kelpie-store-bench-XXXXXX";
    KELPIE_ASSERT(mkdtemp(pattern) != nullptr);
    const std::string dir = pattern;
    std::printf("rocksdb backend (synced commits; this machine's disk)\n");
    const Figures raw = raw_rocksdb_synced_puts(dir + "/raw", seconds);
    print("baseline: raw DB::Put, sync=true, 1 writer", 1, raw);
    Figures ours64;
    for (int concurrency : {1, 64}) {
        io::RealWorld world;
        io::Executor& ex = world.executor();
        store::RocksDbStoreOptions options{.path = dir + "/ours" + std::to_string(concurrency)};
        auto s = io::block_on(world, ex,
                              store::open_rocksdb_store(ex, world.blocking_pool(), options));
        KELPIE_ASSERT(s.ok());
        const Figures f = run_writers(world, ex, **s, concurrency, seconds, false);
        print("kelpie commit (set one key), synced", concurrency, f);
        if (concurrency == 64) {
            ours64 = f;
        }
        io::block_on(world, ex, (*s)->close());
    }
    std::printf("  ratio: kelpie commits at c=64 / raw synced puts = %.2fx (target >= 4x)\n",
                ours64.per_second / std::max(raw.per_second, 1.0));
    std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 3;
    std::string only;
    for (int i = 1; i + 1 < argc; i++) {
        if (std::strcmp(argv[i], "--seconds") == 0) {
            seconds = std::atof(argv[i + 1]);
        } else if (std::strcmp(argv[i], "--only") == 0) {
            only = argv[i + 1];
        }
    }
    if (only.empty() || only == "memory") {
        bench_memory(seconds);
    }
    if (only.empty() || only == "rocksdb") {
        bench_rocksdb(seconds);
    }
    return 0;
}
