#pragma once

// The RocksDB backend: the embedded, durable default of `kelpie serve`. Commits are written with a
// synced WAL; concurrent commits are grouped into one synced write (group commit). Blocking RocksDB
// calls run on `pool`, never on the executor's thread.

#include <memory>
#include <string>

#include "io/blocking.h"
#include "io/executor.h"
#include "store/store.h"

namespace kelpie::store {

struct RocksDbStoreOptions {
    std::string path;  // the database directory; created if missing
    // fsync every commit batch (the default and the only durable setting); false only for
    // benchmarks that want to see the cost of the sync.
    bool sync = true;
};

// Opens (or creates) the database and recovers the store's revision and leases (leases restart
// their full TTL, as etcd's do after a leader change). Fails with corruption on damaged files and
// io_error when the directory cannot be used (e.g. another process holds its lock).
// `executor` and `pool` must outlive the store.
io::Task<Result<std::unique_ptr<Store>>> open_rocksdb_store(io::Executor& executor,
                                                            io::BlockingPool& pool,
                                                            RocksDbStoreOptions options);

}  // namespace kelpie::store
