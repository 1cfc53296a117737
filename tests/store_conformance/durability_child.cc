// A child process for the RocksDB durability and corruption tests.
//
//   durability_child commit DIR      8 concurrent writers commit keys d/<writer>/<n> in a loop and
//                                    print "acked <key>" after each commit returns ok (flushed),
//                                    until killed.
//   durability_child verify DIR LOG  reopens DIR and checks that every key acked in LOG is there;
//                                    prints "verified N acked commits" or the first missing key.
//   durability_child open DIR        opens DIR, reads every key; prints "ok N keys" or the error.
// Exit codes: 0 ok, 1 a check failed, 2 the store could not be opened or read.

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "io/combinators.h"
#include "io/real_world.h"
#include "store/rocksdb_store.h"

using namespace kelpie;

namespace {

io::Task<void> writer(io::Executor* ex, store::Store* s, int id) {
    for (int64_t n = 0;; n++) {
        const std::string key = "d/" + std::to_string(id) + "/" + std::to_string(n);
        auto t = s->begin();
        (void)t->set(key, std::to_string(n));
        auto c = co_await t->commit();
        if (!c.ok()) {
            std::fprintf(stderr, "commit failed: %s\n", c.error().to_string().c_str());
            std::fflush(stderr);
            co_await ex->sleep_for(Duration::ms(10));
            continue;
        }
        std::printf("acked %s\n", key.c_str());
        std::fflush(stdout);
    }
}

io::Task<int> commit_forever(io::Executor* ex, store::Store* s) {
    std::vector<io::Task<void>> writers;
    for (int id = 0; id < 8; id++) {
        writers.push_back(writer(ex, s, id));
    }
    co_await io::when_all(std::move(writers));
    co_return 0;
}

io::Task<int> verify(store::Store* s, std::vector<std::string> keys) {
    for (const std::string& key : keys) {
        auto t = s->begin();
        auto v = co_await t->get(key);
        if (!v.ok()) {
            std::printf("read failed: %s\n", v.error().to_string().c_str());
            co_return 2;
        }
        if (!v->has_value()) {
            std::printf("LOST acknowledged key %s\n", key.c_str());
            co_return 1;
        }
    }
    std::printf("verified %zu acked commits\n", keys.size());
    co_return 0;
}

io::Task<int> read_all(store::Store* s) {
    size_t count = 0;
    std::string cursor = "d/";
    for (;;) {
        auto t = s->begin();
        auto page = co_await t->range(cursor, "d0", store::RangeOptions{.limit = 1000});
        if (!page.ok()) {
            std::printf("error: %s\n", page.error().to_string().c_str());
            co_return 2;
        }
        count += page->pairs.size();
        if (!page->more) {
            break;
        }
        cursor = page->pairs.back().key + '\x00';
    }
    std::printf("ok %zu keys\n", count);
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: durability_child commit|verify|open DIR [LOG]\n");
        return 2;
    }
    const std::string mode = argv[1];
    io::RealWorld world;
    io::Executor& ex = world.executor();
    auto opened = io::block_on(world, ex,
                               store::open_rocksdb_store(ex, world.blocking_pool(),
                                                         store::RocksDbStoreOptions{.path = argv[2]}));
    if (!opened.ok()) {
        std::printf("error: %s\n", opened.error().to_string().c_str());
        return 2;
    }
    store::Store& s = **opened;
    int rc = 0;
    if (mode == "commit") {
        rc = io::block_on(world, ex, commit_forever(&ex, &s));
    } else if (mode == "verify" && argc == 4) {
        std::vector<std::string> keys;
        std::ifstream log(argv[3]);
        std::string word;
        std::string key;
        while (log >> word >> key) {
            if (word == "acked") {
                keys.push_back(key);
            }
        }
        rc = io::block_on(world, ex, verify(&s, keys));
    } else {
        rc = io::block_on(world, ex, read_all(&s));
    }
    io::block_on(world, ex, s.close());
    return rc;
}
