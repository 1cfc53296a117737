#pragma once

// The backends the store conformance suite runs against. Each gives a Store on an executor and a
// way to run a task to completion on it (the simulated world for memory, the real world for
// RocksDB and etcd).

#include <functional>
#include <ostream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "io/executor.h"
#include "io/task.h"
#include "store/memory_store.h"
#include "store/store.h"

namespace kelpie::store::testing {

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;
    virtual io::Executor& executor() = 0;
    virtual Store& store() = 0;
    // Runs `task` to completion (other work, such as lease expiry, keeps running meanwhile).
    virtual void run(io::Task<void> task) = 0;
    // Closes the store and opens it again on the same data, as a restarted process would. False
    // if the backend cannot (memory: its data lives only as long as the store object).
    virtual bool reopen() { return false; }
};

std::unique_ptr<Backend> make_memory_backend(uint64_t seed = 1, StoreFaults faults = {},
                                             StoreBugs bugs = {});
std::unique_ptr<Backend> make_rocksdb_backend();
// Needs a running etcd cluster: the endpoints come from KELPIE_TEST_ETCD_ENDPOINTS; returns null
// when it is not set.
std::unique_ptr<Backend> make_etcd_backend();

struct BackendParam {
    std::string name;
    std::function<std::unique_ptr<Backend>()> make;
};
inline void PrintTo(const BackendParam& p, std::ostream* out) { *out << p.name; }

// A test parameterised by backend: makes it in SetUp (skipping the test when it is not configured)
// and runs coroutine bodies on it.
class BackendTest : public ::testing::TestWithParam<BackendParam> {
protected:
    void SetUp() override {
        backend_ = GetParam().make();
        if (backend_ == nullptr) {
            GTEST_SKIP() << GetParam().name << " backend is not configured";
        }
    }
    void run(io::Task<void> t) { backend_->run(std::move(t)); }
    Store& store() { return backend_->store(); }
    io::Executor& ex() { return backend_->executor(); }
    std::unique_ptr<Backend> backend_;
};

}  // namespace kelpie::store::testing
