#pragma once

// The real world: the only door to the operating system. Executors on Boost.Asio io_contexts (one
// per shard, each run by one thread), TCP networking, signals and directories. Asio stays behind
// this header (pimpl), so nothing above io/ sees it.
//
// Shards: shard 0 runs on the thread that calls run() (or run_one()); shards 1..N-1 each get a
// thread of their own, started by the constructor and joined by the destructor. Work posted to a
// shard runs only on its thread; tasks on different shards share nothing unless they post to
// each other.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "io/blocking.h"
#include "io/executor.h"
#include "io/network.h"
#include "io/task.h"

namespace kelpie::io {

struct RealWorldOptions {
    uint32_t shards = 1;
    // Threads for blocking calls (RocksDB, synchronous gRPC), shared by all shards.
    uint32_t blocking_threads = 4;
    // Seed of the executors' random sources; unset: drawn from the OS.
    std::optional<uint64_t> seed;
    // A PEM file of CA certificates trusted for outbound TLS besides the system's (empty: none).
    // A file that cannot be read makes TLS connections fail with an error naming it.
    std::string tls_ca_file;
};

class RealWorld {
public:
    explicit RealWorld(RealWorldOptions options = {});
    ~RealWorld();
    RealWorld(const RealWorld&) = delete;
    RealWorld& operator=(const RealWorld&) = delete;

    uint32_t shard_count() const;
    // REQUIRES: shard < shard_count().
    Executor& executor(uint32_t shard = 0);
    // TCP (and TLS over it) on the shard's io_context. REQUIRES: used only from that shard's tasks.
    Network& network(uint32_t shard = 0);
    // Loads shard 0's trusted CAs for outbound TLS now rather than on the first connection, so a
    // bad RealWorldOptions::tls_ca_file is reported at start: fails with io_error naming it.
    Status prepare_tls();
    // The pool for blocking calls (io/blocking.h).
    BlockingPool& blocking_pool();

    // Runs shard 0 on the calling thread until stop() is called.
    void run();
    // Runs one ready handler of shard 0, waiting for one if needed. Returns false (without waiting)
    // when shard 0 has no work at all. Makes RealWorld a Driver for block_on().
    bool run_one();
    // Makes run() return and stops every shard's thread. Callable from any thread.
    void stop();

    // Waits (on shard 0) until one of `signals` (e.g. SIGINT, SIGTERM) arrives; returns its number.
    Task<int> wait_for_signal(std::vector<int> signals);
    // Waits for SIGINT or SIGTERM; returns "SIGINT" or "SIGTERM".
    Task<std::string> wait_for_shutdown_signal();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Measures elapsed real time (for reports such as the simulator's time compression).
class Stopwatch {
public:
    Stopwatch();
    Duration elapsed() const;

private:
    int64_t start_ns_;
};

// Creates `path` and its parents if missing; returns its absolute form. Fails with io_error
// (naming the path and the OS error) if it cannot, or if `path` exists and is not a directory.
Result<std::string> make_directories(const std::string& path);

}  // namespace kelpie::io
