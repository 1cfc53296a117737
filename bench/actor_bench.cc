// Actor runtime benchmarks, on the embedded RocksDB store (real time, synced commits), each next to
// a baseline measured in the same run:
//
//   baseline   a raw store transaction: set one key, commit (what a turn's commit must do at least)
//   turn       Counter "add 1": one turn, one fenced commit (fence read + state write)
//   keyed turn the same with an idempotency key: journal accept + completion (two commits)
//   read turn  Counter "get": a turn that commits nothing (the runtime's own overhead)
//   activation the first call to a new actor: placement claim + fenced state load + the turn
//
// At concurrency 1 (one caller, one actor) and 64 (64 callers, 64 actors).
// Usage: actor_bench [--seconds S]   (default 2 s per measurement). Figures, never assertions.

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "actor/actor.h"
#include "bench/latency.h"
#include "examples/counter/counter.h"
#include "io/combinators.h"
#include "io/real_world.h"
#include "registry/registry.h"
#include "store/rocksdb_store.h"

using namespace kelpie;
using Clock = std::chrono::steady_clock;

namespace {

using bench::print;
using bench::summarize;

double us_since(Clock::time_point start) {
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

io::Task<void> raw_commits(store::Store* s, int worker, Clock::time_point until,
                           std::vector<double>* out) {
    for (int64_t n = 0; Clock::now() < until; n++) {
        const auto start = Clock::now();
        auto t = s->begin();
        (void)t->set("bench/raw/" + std::to_string(worker), std::to_string(n));
        auto c = co_await t->commit();
        KELPIE_ASSERT(c.ok());
        out->push_back(us_since(start));
    }
}

io::Task<void> turns(actor::Runtime* rt, int worker, std::string method, bool keyed,
                     Clock::time_point until, std::vector<double>* out) {
    const actor::ActorId id("counter", "bench-" + std::to_string(worker));
    for (int64_t n = 0; Clock::now() < until; n++) {
        const auto start = Clock::now();
        actor::Invocation call(method, method == "add" ? "1" : "");
        actor::InvokeOptions options(keyed ? "w" + std::to_string(worker) + "-" + std::to_string(n)
                                           : std::string());
        Result<std::string> r = co_await rt->invoke(id, std::move(call), std::move(options));
        KELPIE_ASSERT_MSG(r.ok(), r.ok() ? "" : r.error().to_string().c_str());
        out->push_back(us_since(start));
    }
}

io::Task<void> activations(actor::Runtime* rt, int worker, Clock::time_point until,
                           std::vector<double>* out) {
    for (int64_t n = 0; Clock::now() < until; n++) {
        const actor::ActorId id("counter", "fresh-" + std::to_string(worker) + "-" + std::to_string(n));
        const auto start = Clock::now();
        Result<std::string> r = co_await rt->invoke(id, actor::Invocation("get", ""));
        KELPIE_ASSERT(r.ok());
        out->push_back(us_since(start));
    }
}

template <typename MakeTask>
void measure(io::RealWorld& world, const char* what, int concurrency, double seconds,
             MakeTask make) {
    std::vector<std::vector<double>> latencies(static_cast<size_t>(concurrency));
    const auto start = Clock::now();
    const Clock::time_point until =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    std::vector<io::Task<void>> tasks;
    for (int w = 0; w < concurrency; w++) {
        tasks.push_back(make(w, until, &latencies[static_cast<size_t>(w)]));
    }
    io::block_on(world, world.executor(), io::when_all(std::move(tasks)));
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    print(what, concurrency, summarize(latencies, elapsed));
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 2;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = std::atof(argv[++i]);
        }
    }
    char pattern[] = "/tmp/kelpie-actor-bench-XXXXXX";
    KELPIE_ASSERT(mkdtemp(pattern) != nullptr);
    const std::string dir = pattern;

    io::RealWorld world;
    io::Executor& ex = world.executor();
    auto opened = io::block_on(world, ex,
                               store::open_rocksdb_store(ex, world.blocking_pool(),
                                                         store::RocksDbStoreOptions{.path = dir + "/db"}));
    KELPIE_ASSERT(opened.ok());
    std::unique_ptr<store::Store> s = std::move(opened).value();
    registry::RegistryOptions ro;
    ro.node_id = "bench";
    registry::Registry reg(ex, *s, ro);
    KELPIE_ASSERT(io::block_on(world, ex, reg.start()).ok());
    actor::Runtime rt(ex, *s, reg);
    rt.register_type("counter", [] { return std::make_unique<examples::Counter>(); });
    rt.start();

    std::printf("actor_bench: RocksDB store (synced commits), %.1f s per line\n", seconds);
    for (int c : {1, 64}) {
        store::Store* sp = s.get();
        actor::Runtime* rtp = &rt;
        measure(world, "baseline: raw store txn (set + commit)", c, seconds,
                [sp](int w, Clock::time_point u, std::vector<double>* o) {
                    return raw_commits(sp, w, u, o);
                });
        measure(world, "turn: add (fenced commit)", c, seconds,
                [rtp](int w, Clock::time_point u, std::vector<double>* o) {
                    return turns(rtp, w, "add", false, u, o);
                });
        measure(world, "keyed turn: add + idempotency key", c, seconds,
                [rtp](int w, Clock::time_point u, std::vector<double>* o) {
                    return turns(rtp, w, "add", true, u, o);
                });
        measure(world, "read turn: get (no commit)", c, seconds,
                [rtp](int w, Clock::time_point u, std::vector<double>* o) {
                    return turns(rtp, w, "get", false, u, o);
                });
        measure(world, "activation: claim + load + get", c, seconds,
                [rtp](int w, Clock::time_point u, std::vector<double>* o) {
                    return activations(rtp, w, u, o);
                });
    }
    std::printf("  (active actors at the end: %zu)\n", rt.active_count());
    io::block_on(world, ex, rt.stop());
    io::block_on(world, ex, reg.stop());
    io::block_on(world, ex, s->close());
    s.reset();
    std::filesystem::remove_all(dir);
    return 0;
}
