#pragma once

// The `bank` workload: workers move money between accounts with read-modify-write transactions on
// a real store (run_transaction, retries), auditors read every account in one transaction. It
// records every committed transaction so that the history can be checked:
//   serializability  check_serializable() over the recorded history (sim/serializability.h);
//   conserved_total  every audit saw the initial total.
// Used by `kelpie sim` (memory store, injected faults, bug switches) and by the store property
// tests (every backend).

#include <optional>
#include <string>
#include <vector>

#include "io/executor.h"
#include "io/task.h"
#include "sim/serializability.h"
#include "store/store.h"

namespace kelpie::sim {

struct BankOptions {
    uint32_t accounts = 4;  // REQUIRES: >= 3 (with 2, the total check cannot see lost updates)
    uint32_t workers = 4;
    uint32_t transfers = 20;  // per worker; as many audits in all
};

struct BankViolation {
    std::string invariant;  // "serializability", "conserved_total", "transaction_failed"
    std::string detail;
};

class BankWorkload {
public:
    explicit BankWorkload(BankOptions options) : options_(options) {}

    // Seeds the accounts and runs every worker and auditor to the end. Randomness comes from
    // `executor`. `executor` and `store` must outlive the task.
    io::Task<void> run(io::Executor& executor, store::Store& store);

    // After run(): the first violation found, if any.
    std::optional<BankViolation> check() const;

    size_t commits() const { return history_.size(); }
    size_t audits() const { return audit_totals_.size(); }

private:
    io::Task<void> transfer_worker(io::Executor& executor, store::Store& store);
    io::Task<void> auditor(io::Executor& executor, store::Store& store);

    BankOptions options_;
    std::vector<CommittedTransaction> history_;
    std::vector<int64_t> audit_totals_;
    int64_t total_ = 0;
    std::optional<BankViolation> failure_;
};

}  // namespace kelpie::sim
