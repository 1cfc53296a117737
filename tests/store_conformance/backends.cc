#include "tests/store_conformance/backends.h"

#include <cstdlib>
#include <filesystem>

#include "io/real_world.h"
#include "io/sim_world.h"
#include "store/etcd_store.h"
#include "store/memory_store.h"
#include "store/rocksdb_store.h"

namespace kelpie::store::testing {

namespace {

class MemoryBackend final : public Backend {
public:
    MemoryBackend(uint64_t seed, StoreFaults faults, StoreBugs bugs)
        : world_(io::SimWorldOptions{.seed = seed}), executor_(world_.add_node()) {
        auto s = make_memory_store(executor_, MemoryStoreOptions{.faults = faults, .bugs = bugs});
        KELPIE_ASSERT(s.ok());
        store_ = std::move(s).value();
    }
    ~MemoryBackend() override {
        io::block_on(world_, executor_, store_->close());
        store_.reset();
    }
    std::string name() const override { return "memory"; }
    io::Executor& executor() override { return executor_; }
    Store& store() override { return *store_; }
    void run(io::Task<void> task) override { io::block_on(world_, executor_, std::move(task)); }

private:
    io::SimWorld world_;
    io::SimExecutor& executor_;
    std::unique_ptr<Store> store_;
};

// A store on the real world (RocksDB, etcd): runs tasks with block_on and closes the store last.
class RealWorldBackend : public Backend {
public:
    ~RealWorldBackend() override {
        if (store_ != nullptr) {
            io::block_on(world_, world_.executor(), store_->close());
            store_.reset();
        }
    }
    io::Executor& executor() override { return world_.executor(); }
    Store& store() override { return *store_; }
    void run(io::Task<void> task) override {
        io::block_on(world_, world_.executor(), std::move(task));
    }

protected:
    io::RealWorld world_;
    std::unique_ptr<Store> store_;
};

class RocksDbBackend final : public RealWorldBackend {
public:
    RocksDbBackend() {
        char pattern[] = "/tmp/kelpie-rocksdb-test-XXXXXX";
        KELPIE_ASSERT(mkdtemp(pattern) != nullptr);
        dir_ = pattern;
        open();
    }
    bool reopen() override {
        io::block_on(world_, world_.executor(), store_->close());
        store_.reset();
        open();
        return true;
    }
    ~RocksDbBackend() override {
        io::block_on(world_, world_.executor(), store_->close());
        store_.reset();
        std::filesystem::remove_all(dir_);
    }
    std::string name() const override { return "rocksdb"; }

private:
    void open() {
        auto s = io::block_on(world_, world_.executor(),
                              open_rocksdb_store(world_.executor(), world_.blocking_pool(),
                                                 RocksDbStoreOptions{.path = dir_ + "/db"}));
        KELPIE_ASSERT_MSG(s.ok(), s.ok() ? "" : s.error().to_string().c_str());
        store_ = std::move(s).value();
    }

    std::string dir_;
};

}  // namespace

std::unique_ptr<Backend> make_memory_backend(uint64_t seed, StoreFaults faults, StoreBugs bugs) {
    return std::make_unique<MemoryBackend>(seed, faults, bugs);
}

std::unique_ptr<Backend> make_rocksdb_backend() { return std::make_unique<RocksDbBackend>(); }

}  // namespace kelpie::store::testing

namespace kelpie::store::testing {

namespace {

// The key prefixes the suites write under. Each etcd backend clears them when it is made, so
// that every test starts from an empty keyspace although the cluster outlives the test.
constexpr const char* etcd_test_prefixes[] = {"conformance/", "bank/"};

io::Task<Status> clear_test_keys(io::Executor* executor, Store* store) {
    TransactionBody<Revision> body = [](Transaction& t) -> io::Task<Result<Revision>> {
        for (const char* prefix : etcd_test_prefixes) {
            if (Status s = t.clear_range(prefix, prefix_end(prefix)); !s.ok()) {
                co_return std::move(s).error();
            }
        }
        co_return co_await t.commit();
    };
    // A blind clear: idempotent, so unknown_result may be retried.
    auto r = co_await run_transaction(*executor, *store, body,
                                      RetryOptions{.retry_unknown_result = true});
    if (!r.ok()) {
        co_return std::move(r).error();
    }
    co_return Status();
}

class EtcdBackend final : public RealWorldBackend {
public:
    explicit EtcdBackend(EtcdStoreOptions options) {
        auto s = io::block_on(world_, world_.executor(),
                              open_etcd_store(world_.executor(), world_.blocking_pool(),
                                              std::move(options)));
        KELPIE_ASSERT_MSG(s.ok(), s.ok() ? "" : s.error().to_string().c_str());
        store_ = std::move(s).value();
        Status cleared = io::block_on(world_, world_.executor(),
                                      clear_test_keys(&world_.executor(), store_.get()));
        KELPIE_ASSERT_MSG(cleared.ok(), cleared.ok() ? "" : cleared.error().to_string().c_str());
    }
    std::string name() const override { return "etcd"; }
};

}  // namespace

std::unique_ptr<Backend> make_etcd_backend() {
    const char* endpoints = std::getenv("KELPIE_TEST_ETCD_ENDPOINTS");
    if (endpoints == nullptr || *endpoints == '\0') {
        return nullptr;
    }
    auto options = parse_etcd_url(std::string("etcd://") + endpoints);
    KELPIE_ASSERT_MSG(options.ok(), options.ok() ? "" : options.error().to_string().c_str());
    return std::make_unique<EtcdBackend>(std::move(options).value());
}

}  // namespace kelpie::store::testing
