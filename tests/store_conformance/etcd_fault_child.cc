// The writer and checker of the etcd fault test (etcd_conformance_test.sh).
//
//   etcd_fault_child write ENDPOINTS PREFIX STOP_FILE CALL_TIMEOUT_MS [WRITERS]
//       WRITERS (default 1) concurrent writers on one store (so that its commits are batched);
//       writer w commits PREFIXw/00000000, PREFIXw/00000001, ... one key per transaction through
//       run_transaction (retrying conflict, unavailable and, the write being idempotent,
//       unknown_result) until STOP_FILE exists. Prints, flushed, one line per commit attempt and
//       one per acknowledged key; T is milliseconds since start:
//         attempt T KEY CODE LATENCY_MS     (CODE: ok, unavailable, unknown_result, ...)
//         acked T KEY REVISION
//   etcd_fault_child verify ENDPOINTS PREFIX ACKED_FILE
//       Checks that every key of an "acked" line in ACKED_FILE is present. Prints a summary;
//       exit 0 if all are, 1 if not.
// Exit 2: usage or setup error (the store could not be opened).

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <vector>

#include "io/combinators.h"
#include "io/real_world.h"
#include "store/etcd_store.h"

namespace kelpie::store {
namespace {

std::string key_of(const std::string& prefix, int64_t n) {
    char digits[16];
    std::snprintf(digits, sizeof digits, "%08lld", static_cast<long long>(n));
    return prefix + digits;
}

io::Task<Result<std::unique_ptr<Store>>> open(io::RealWorld* world, const std::string& endpoints,
                                              Duration call_timeout) {
    auto options = parse_etcd_url("etcd://" + endpoints);
    if (!options.ok()) {
        co_return std::move(options).error();
    }
    options->call_timeout = call_timeout;
    co_return co_await open_etcd_store(world->executor(), world->blocking_pool(), *options);
}

io::Task<void> writer(io::Executor* executor, Store* store, std::string prefix,
                      std::string stop_file, Instant start) {
    io::Executor& ex = *executor;
    for (int64_t n = 0; !std::filesystem::exists(stop_file); n++) {
        const std::string key = key_of(prefix, n);
        TransactionBody<Revision> body = [executor = &ex, start, key](Transaction& t)
            -> io::Task<Result<Revision>> {
            (void)t.set(key, "v");
            const Instant before = executor->now();
            auto r = co_await t.commit();
            const std::string code = r.ok() ? "ok" : std::string(error_code_name(r.code()));
            std::printf("attempt %lld %s %s %lld\n",
                        static_cast<long long>((executor->now() - start).to_ms()), key.c_str(),
                        code.c_str(), static_cast<long long>((executor->now() - before).to_ms()));
            std::fflush(stdout);
            co_return r;
        };
        // Retries until the cluster is back; the stop file ends the loop between commits.
        auto r = co_await run_transaction(ex, *store, body,
                                          RetryOptions{.attempts_max = 1'000'000,
                                                       .backoff_max = Duration::ms(200),
                                                       .retry_unknown_result = true});
        if (r.ok()) {
            std::printf("acked %lld %s %lld\n", static_cast<long long>((ex.now() - start).to_ms()),
                        key.c_str(), static_cast<long long>(*r));
            std::fflush(stdout);
        } else {
            std::fprintf(stderr, "gave up on %s: %s\n", key.c_str(), r.error().to_string().c_str());
        }
    }
}

io::Task<int> write_loop(io::RealWorld* world, std::string endpoints, std::string prefix,
                         std::string stop_file, Duration call_timeout, int writers) {
    io::Executor& ex = world->executor();
    auto store = co_await open(world, endpoints, call_timeout);
    if (!store.ok()) {
        std::cerr << "error: " << store.error().to_string() << "\n";
        co_return 2;
    }
    const Instant start = ex.now();
    std::vector<io::Task<void>> tasks;
    for (int w = 0; w < writers; w++) {
        tasks.push_back(writer(&ex, store->get(), prefix + std::to_string(w) + "/", stop_file, start));
    }
    co_await io::when_all(std::move(tasks));
    co_await (*store)->close();
    co_return 0;
}

io::Task<int> verify(io::RealWorld* world, std::string endpoints, std::string prefix,
                     std::set<std::string> acked) {
    auto store = co_await open(world, endpoints, Duration::s(5));
    if (!store.ok()) {
        std::cerr << "error: " << store.error().to_string() << "\n";
        co_return 2;
    }
    std::set<std::string> present;
    std::string cursor = prefix;
    const std::string end = prefix_end(prefix);
    for (bool more = true; more;) {
        auto t = (*store)->begin();
        auto page = co_await t->range(cursor, end);
        if (!page.ok()) {
            std::cerr << "error: " << page.error().to_string() << "\n";
            co_await (*store)->close();
            co_return 2;
        }
        for (const KeyValue& kv : page->pairs) {
            present.insert(kv.key);
        }
        more = page->more;
        if (more) {
            cursor = page->pairs.back().key + '\x00';
        }
    }
    co_await (*store)->close();
    size_t missing = 0;
    for (const std::string& key : acked) {
        if (!present.contains(key)) {
            if (missing++ < 10) {
                std::cout << "missing acked key " << key << "\n";
            }
        }
    }
    std::cout << acked.size() << " acked, " << present.size() << " present, " << missing
              << " acked keys missing\n";
    co_return missing == 0 ? 0 : 1;
}

std::set<std::string> read_acked(const std::string& path) {
    std::set<std::string> acked;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string tag, time, key;
        if (words >> tag >> time >> key && tag == "acked") {
            acked.insert(key);
        }
    }
    return acked;
}

int usage() {
    std::cerr << "usage: etcd_fault_child write ENDPOINTS PREFIX STOP_FILE CALL_TIMEOUT_MS [WRITERS]\n"
                 "       etcd_fault_child verify ENDPOINTS PREFIX ACKED_FILE\n";
    return 2;
}

}  // namespace
}  // namespace kelpie::store

int main(int argc, char** argv) {
    using namespace kelpie;
    if (argc < 5) {
        return store::usage();
    }
    const std::string mode = argv[1];
    io::RealWorld world;
    // One block_on for the whole run (see the workaround note in backends.cc).
    if (mode == "write" && (argc == 6 || argc == 7)) {
        const Duration call_timeout = Duration::ms(std::stoll(argv[5]));
        const int writers = argc == 7 ? std::stoi(argv[6]) : 1;
        if (writers < 1 || writers > 256) {
            return store::usage();
        }
        return io::block_on(world, world.executor(),
                            store::write_loop(&world, argv[2], argv[3], argv[4], call_timeout,
                                              writers));
    }
    if (mode == "verify" && argc == 5) {
        return io::block_on(world, world.executor(),
                            store::verify(&world, argv[2], argv[3], store::read_acked(argv[4])));
    }
    return store::usage();
}
