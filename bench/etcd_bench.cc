// etcd backend benchmark: our transactional commits vs raw etcd Puts, at concurrency 1 and 64, in
// the same run against the same cluster.
//
//   baseline  raw KV::Put through a gRPC channel to the same endpoints, N threads (and, to show what
//             etcd itself charges, a raw KV::Txn holding the same Put, and a raw read-modify-write:
//             a Range, linearizable or serializable, then a Txn comparing its mod_revision)
//   ours      Store commits (read one key, set it: a snapshot read and a commit Txn with a
//             compare), N coroutines; and blind writes (set, commit: no read, no compare). The
//             store batches concurrent first reads and independent commits (etcd_store.h).
//
// Usage: etcd_bench ENDPOINTS [--seconds S]    (ENDPOINTS: h1:p1,h2:p2,...; scripts/bench starts a
// 3-member loopback cluster and passes it). Figures, never assertions.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "bench/latency.h"
#include "io/combinators.h"
#include "io/real_world.h"
#include "store/etcd_store.h"

using namespace kelpie;
using Clock = std::chrono::steady_clock;

namespace {

using bench::Figures;
using bench::print;
using bench::summarize;

// Compacts the cluster's history up to now: every phase writes tens of thousands of revisions,
// and the scripts' clusters run without auto-compaction, so without this each phase would run on
// a larger history than the one before it.
void compact_history(const std::string& endpoints) {
    auto channel = grpc::CreateChannel("ipv4:" + endpoints, grpc::InsecureChannelCredentials());
    auto stub = etcdserverpb::KV::NewStub(channel);
    etcdserverpb::RangeRequest probe;
    probe.set_key("bench/");
    probe.set_count_only(true);
    etcdserverpb::RangeResponse now;
    grpc::ClientContext read_context;
    read_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!stub->Range(&read_context, probe, &now).ok()) {
        return;
    }
    etcdserverpb::CompactionRequest request;
    request.set_revision(now.header().revision());
    request.set_physical(true);  // answer once the compaction is done
    etcdserverpb::CompactionResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    (void)stub->Compact(&context, request, &response);  // "already compacted" is fine too
}

enum class Raw { put, txn, rmw, rmw_serializable };

// Raw writes from `concurrency` threads, one call (two for rmw) after another in each.
Figures raw_puts(const std::string& endpoints, int concurrency, double seconds, Raw mode) {
    compact_history(endpoints);
    grpc::ChannelArguments args;
    args.SetLoadBalancingPolicyName("round_robin");
    auto channel = grpc::CreateCustomChannel("ipv4:" + endpoints,
                                             grpc::InsecureChannelCredentials(), args);
    auto stub = etcdserverpb::KV::NewStub(channel);
    std::vector<std::vector<double>> latencies(static_cast<size_t>(concurrency));
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(seconds));
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int w = 0; w < concurrency; w++) {
        threads.emplace_back([&, w] {
            for (int64_t n = 0; Clock::now() < until; n++) {
                etcdserverpb::PutRequest request;
                request.set_key("bench/raw/" + std::to_string(w) + "/" + std::to_string(n % 100));
                request.set_value("0123456789abcdef0123456789abcdef");
                grpc::ClientContext context;
                context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
                const auto t0 = Clock::now();
                bool ok = false;
                if (mode == Raw::rmw || mode == Raw::rmw_serializable) {
                    etcdserverpb::RangeRequest get;
                    get.set_key(request.key());
                    get.set_serializable(mode == Raw::rmw_serializable);
                    etcdserverpb::RangeResponse got;
                    if (!stub->Range(&context, get, &got).ok()) {
                        continue;
                    }
                    grpc::ClientContext context2;
                    etcdserverpb::TxnRequest txn;
                    auto* compare = txn.add_compare();
                    compare->set_key(request.key());
                    compare->set_target(etcdserverpb::Compare::MOD);
                    compare->set_result(etcdserverpb::Compare::EQUAL);
                    compare->set_mod_revision(got.kvs_size() ? got.kvs(0).mod_revision() : 0);
                    *txn.add_success()->mutable_request_put() = request;
                    etcdserverpb::TxnResponse response;
                    ok = stub->Txn(&context2, txn, &response).ok() && response.succeeded();
                } else if (mode == Raw::txn) {
                    etcdserverpb::TxnRequest txn;
                    *txn.add_success()->mutable_request_put() = request;
                    etcdserverpb::TxnResponse response;
                    ok = stub->Txn(&context, txn, &response).ok();
                } else {
                    etcdserverpb::PutResponse response;
                    ok = stub->Put(&context, request, &response).ok();
                }
                if (ok) {
                    latencies[static_cast<size_t>(w)].push_back(
                        std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    return summarize(latencies, elapsed);
}

io::Task<void> committer(store::Store* s, int writer, Clock::time_point until,
                         std::vector<double>* latencies, bool with_read) {
    for (int64_t n = 0; Clock::now() < until; n++) {
        const std::string key = "bench/txn/" + std::to_string(writer) + "/" + std::to_string(n % 100);
        const auto t0 = Clock::now();
        auto t = s->begin();
        if (with_read) {
            auto r = co_await t->get(key);
            if (!r.ok()) {
                continue;
            }
        }
        (void)t->set(key, "0123456789abcdef0123456789abcdef");
        auto c = co_await t->commit();
        if (c.ok()) {
            latencies->push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        }
    }
}

Figures our_commits(const std::string& endpoints, int concurrency, double seconds, bool with_read) {
    compact_history(endpoints);
    io::RealWorld world(io::RealWorldOptions{.blocking_threads = static_cast<uint32_t>(concurrency)});
    io::Executor& ex = world.executor();
    auto options = store::parse_etcd_url("etcd://" + endpoints);
    KELPIE_ASSERT(options.ok());
    auto s = io::block_on(world, ex, store::open_etcd_store(ex, world.blocking_pool(), *options));
    KELPIE_ASSERT_MSG(s.ok(), s.ok() ? "" : s.error().to_string().c_str());
    std::vector<std::vector<double>> latencies(static_cast<size_t>(concurrency));
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(seconds));
    std::vector<io::Task<void>> tasks;
    for (int w = 0; w < concurrency; w++) {
        tasks.push_back(committer(s->get(), w, until, &latencies[static_cast<size_t>(w)], with_read));
    }
    const auto start = Clock::now();
    io::block_on(world, ex, io::when_all(std::move(tasks)));
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    io::block_on(world, ex, (*s)->close());
    return summarize(latencies, elapsed);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: etcd_bench h1:p1,h2:p2,... [--seconds S]\n");
        return 2;
    }
    const std::string endpoints = argv[1];
    double seconds = 3;
    for (int i = 2; i + 1 < argc; i++) {
        if (std::strcmp(argv[i], "--seconds") == 0) {
            seconds = std::atof(argv[i + 1]);
        }
    }
    std::printf("etcd backend (cluster at %s)\n", endpoints.c_str());
    for (int concurrency : {1, 64}) {
        const Figures raw = raw_puts(endpoints, concurrency, seconds, Raw::put);
        print("baseline: raw etcd Put (gRPC)", concurrency, raw);
        const Figures ours = our_commits(endpoints, concurrency, seconds, true);
        print("kelpie txn (get + set + commit)", concurrency, ours);
        std::printf("  ratio at c=%d: kelpie txns / raw puts = %.2fx (target >= 0.5x)\n",
                    concurrency, ours.per_second / std::max(raw.per_second, 1.0));
        // Where the time goes: the same commit without the read (one Txn, no compare).
        const Figures blind = our_commits(endpoints, concurrency, seconds, false);
        print("kelpie blind write (set + commit)", concurrency, blind);
        const Figures raw_txn = raw_puts(endpoints, concurrency, seconds, Raw::txn);
        print("raw etcd Txn holding one Put (gRPC)", concurrency, raw_txn);
        std::printf("  etcd's own cost of a Txn: raw Txns / raw puts = %.2fx; kelpie blind writes / "
                    "raw Txns = %.2fx\n",
                    raw_txn.per_second / std::max(raw.per_second, 1.0),
                    blind.per_second / std::max(raw_txn.per_second, 1.0));
        const Figures rmw = raw_puts(endpoints, concurrency, seconds, Raw::rmw);
        print("raw etcd Range + Txn(compare, put)", concurrency, rmw);
        const Figures rmw_s = raw_puts(endpoints, concurrency, seconds, Raw::rmw_serializable);
        print("raw etcd serializable Range + Txn", concurrency, rmw_s);
    }
    return 0;
}
