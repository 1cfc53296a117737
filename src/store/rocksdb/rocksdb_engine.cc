// The RocksDB engine: the durable LocalEngine under `kelpie serve`. Every call into RocksDB runs on
// the blocking pool; batches are written with WriteOptions::sync (fsync of the WAL) so that an
// acknowledged commit survives a crash or power loss.

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "io/blocking.h"
#include "store/local/local_engine.h"
#include "store/local/local_store.h"
#include "store/rocksdb_store.h"

namespace kelpie::store {

namespace detail {
namespace {

Error to_error(const rocksdb::Status& s, const std::string& what) {
    const ErrorCode code = s.IsCorruption() ? ErrorCode::corruption : ErrorCode::io_error;
    return Error(code, what + ": " + s.ToString());
}

class RocksDbEngine final : public LocalEngine {
public:
    RocksDbEngine(io::Executor& executor, io::BlockingPool& pool, rocksdb::DB* db, bool sync)
        : executor_(executor), pool_(pool), db_(db), sync_(sync) {}
    ~RocksDbEngine() override {
        // Close on the calling thread: no store call is in flight any more (LocalStore::close).
        // Flushing first makes the next open fast (no WAL to replay); the WAL is durable anyway.
        (void)db_->Flush(rocksdb::FlushOptions());
        delete db_;
    }

    std::shared_ptr<Snapshot> snapshot() override {
        return std::make_shared<RocksSnapshot>(db_, db_->GetSnapshot());
    }

    io::Task<Result<std::optional<std::string>>> get(std::shared_ptr<Snapshot> snapshot,
                                                     std::string key) override {
        rocksdb::DB* db = db_;
        const rocksdb::Snapshot* snap = static_cast<RocksSnapshot&>(*snapshot).snapshot;
        {
            // Fast path, on the executor: a read that RocksDB may answer only from memory (the
            // memtables and the block cache; kBlockCacheTier never touches the disk). Incomplete
            // means it would have to read a file: then the blocking pool does it.
            rocksdb::ReadOptions memory_only;
            memory_only.snapshot = snap;
            memory_only.verify_checksums = true;
            memory_only.read_tier = rocksdb::kBlockCacheTier;
            std::string value;
            const rocksdb::Status s = db->Get(memory_only, key, &value);
            if (s.ok()) {
                co_return std::optional<std::string>(std::move(value));
            }
            if (s.IsNotFound()) {
                co_return std::optional<std::string>();
            }
            if (!s.IsIncomplete()) {
                co_return to_error(s, "rocksdb get");
            }
        }
        // lint: allow(lambda-await): not a coroutine call; the closure holds no owning member
        co_return co_await io::run_blocking(
            executor_, pool_, [db, snap, &key]() -> Result<std::optional<std::string>> {
                rocksdb::ReadOptions options;
                options.snapshot = snap;
                options.verify_checksums = true;
                std::string value;
                const rocksdb::Status s = db->Get(options, key, &value);
                if (s.IsNotFound()) {
                    return std::optional<std::string>();
                }
                if (!s.ok()) {
                    return to_error(s, "rocksdb get");
                }
                return std::optional<std::string>(std::move(value));
            });
    }

    io::Task<Result<RawPairs>> scan(std::shared_ptr<Snapshot> snapshot, std::string begin,
                                    std::string end, size_t limit, bool reverse) override {
        rocksdb::DB* db = db_;
        const rocksdb::Snapshot* snap = static_cast<RocksSnapshot&>(*snapshot).snapshot;
        // lint: allow(lambda-await): not a coroutine call; the closure holds no owning member
        co_return co_await io::run_blocking(
            executor_, pool_, [db, snap, &begin, &end, limit, reverse]() -> Result<RawPairs> {
                rocksdb::ReadOptions options;
                options.snapshot = snap;
                options.verify_checksums = true;
                const rocksdb::Slice lower(begin);
                const rocksdb::Slice upper(end);
                options.iterate_lower_bound = &lower;
                options.iterate_upper_bound = &upper;
                std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(options));
                RawPairs out;
                if (reverse) {
                    it->SeekToLast();
                } else {
                    it->SeekToFirst();
                }
                while (it->Valid() && out.size() < limit) {
                    out.emplace_back(it->key().ToString(), it->value().ToString());
                    if (reverse) {
                        it->Prev();
                    } else {
                        it->Next();
                    }
                }
                if (!it->status().ok()) {
                    return to_error(it->status(), "rocksdb scan");
                }
                return out;
            });
    }

    io::Task<Status> apply(std::vector<EngineWrite> writes) override {
        rocksdb::DB* db = db_;
        const bool sync = sync_;
        // lint: allow(lambda-await): not a coroutine call; the closure holds no owning member
        co_return co_await io::run_blocking(executor_, pool_, [db, sync, &writes]() -> Status {
            rocksdb::WriteBatch batch;
            for (const EngineWrite& w : writes) {
                rocksdb::Status s;
                switch (w.kind) {
                    case EngineWrite::Kind::put:
                        s = batch.Put(w.key, w.value);
                        break;
                    case EngineWrite::Kind::erase:
                        s = batch.Delete(w.key);
                        break;
                    case EngineWrite::Kind::erase_range:
                        s = batch.DeleteRange(w.key, w.end);
                        break;
                }
                if (!s.ok()) {
                    return to_error(s, "rocksdb batch");
                }
            }
            rocksdb::WriteOptions options;
            options.sync = sync;
            const rocksdb::Status s = db->Write(options, &batch);
            if (!s.ok()) {
                return to_error(s, "rocksdb write");
            }
            return {};
        });
    }

private:
    struct RocksSnapshot final : Snapshot {
        RocksSnapshot(rocksdb::DB* d, const rocksdb::Snapshot* s) : db(d), snapshot(s) {}
        ~RocksSnapshot() override { db->ReleaseSnapshot(snapshot); }
        rocksdb::DB* db;
        const rocksdb::Snapshot* snapshot;
    };

    io::Executor& executor_;
    io::BlockingPool& pool_;
    rocksdb::DB* db_;
    bool sync_;
};

}  // namespace
}  // namespace detail

io::Task<Result<std::unique_ptr<Store>>> open_rocksdb_store(io::Executor& executor,
                                                            io::BlockingPool& pool,
                                                            RocksDbStoreOptions options) {
    const std::string path = options.path;
    // lint: allow(lambda-await): not a coroutine call; the closure holds no owning member
    auto opened = co_await io::run_blocking(executor, pool, [&path]() -> Result<rocksdb::DB*> {
        rocksdb::Options db_options;
        db_options.create_if_missing = true;
        db_options.paranoid_checks = true;
        // Flushes and compactions write their files out as they go (1 MiB at a time) rather than
        // all at their end, so a commit's WAL sync does not queue behind a large writeback.
        db_options.bytes_per_sync = 1 << 20;
        rocksdb::DB* db = nullptr;
        const rocksdb::Status s = rocksdb::DB::Open(db_options, path, &db);
        if (!s.ok()) {
            return detail::to_error(s, "open rocksdb at '" + path + "'");
        }
        return db;
    });
    if (!opened.ok()) {
        co_return std::move(opened).error();
    }
    auto store = std::make_unique<detail::LocalStore>(
        executor, std::make_unique<detail::RocksDbEngine>(executor, pool, *opened, options.sync),
        "rocksdb", StoreFaults{});
    Status recovered = co_await store->open();
    if (!recovered.ok()) {
        co_return std::move(recovered).error();
    }
    co_return std::unique_ptr<Store>(std::move(store));
}

}  // namespace kelpie::store
