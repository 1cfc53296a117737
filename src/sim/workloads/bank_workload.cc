#include "sim/bank_workload.h"

#include "io/combinators.h"

namespace kelpie::sim {

namespace {

constexpr int64_t initial_balance = 100;
constexpr uint32_t attempts_max = 1000;

std::string account(uint32_t i) { return "bank/" + std::to_string(i); }

io::Task<Result<store::KeyValue>> read_account(store::Transaction& t, uint32_t i) {
    auto v = co_await t.get(account(i));
    if (!v.ok()) {
        co_return std::move(v).error();
    }
    if (!v->has_value()) {
        co_return Error(ErrorCode::internal, "account " + account(i) + " is missing");
    }
    co_return **v;
}

}  // namespace

io::Task<void> BankWorkload::transfer_worker(io::Executor& ex, store::Store& s) {
    for (uint32_t n = 0; n < options_.transfers && !failure_; n++) {
        const auto from = static_cast<uint32_t>(ex.random().below(options_.accounts));
        const auto to = static_cast<uint32_t>(ex.random().below(options_.accounts));
        const auto guarantor = static_cast<uint32_t>(ex.random().below(options_.accounts));
        const int64_t amount = ex.random().between(1, 10);
        CommittedTransaction attempt;
        // A transfer also reads a guarantor account, which it does not write, and moves money
        // only while that account is in credit: two transfers may then each write what the other
        // only read (write skew), which only a serializable store keeps from both committing.
        store::TransactionBody<store::Revision> body =
            [from, to, guarantor, amount,
             &attempt](store::Transaction& t) -> io::Task<Result<store::Revision>> {
            attempt = CommittedTransaction{};
            auto a = co_await read_account(t, from);
            if (!a.ok()) {
                co_return std::move(a).error();
            }
            auto b = co_await read_account(t, to);
            if (!b.ok()) {
                co_return std::move(b).error();
            }
            auto g = co_await read_account(t, guarantor);
            if (!g.ok()) {
                co_return std::move(g).error();
            }
            attempt.reads = {{a->key, a->mod_revision},
                             {b->key, b->mod_revision},
                             {g->key, g->mod_revision}};
            const int64_t balance_from = std::stoll(a->value);
            if (from == to || balance_from < amount || std::stoll(g->value) <= 0) {
                co_return t.read_revision();  // nothing to move: read-only
            }
            (void)t.set(a->key, std::to_string(balance_from - amount));
            (void)t.set(b->key, std::to_string(std::stoll(b->value) + amount));
            attempt.writes = {a->key, b->key};
            co_return co_await t.commit();
        };
        auto r = co_await store::run_transaction(ex, s, body,
                                                 store::RetryOptions{.attempts_max = attempts_max});
        if (!r.ok()) {
            failure_ = BankViolation{"transaction_failed", "a transfer failed after " +
                                                               std::to_string(attempts_max) +
                                                               " attempts: " + r.error().to_string()};
            co_return;
        }
        if (!attempt.writes.empty()) {
            attempt.revision = *r;
            history_.push_back(std::move(attempt));
        }
        if (ex.random().chance(0.3)) {
            co_await ex.sleep_for(Duration::us(ex.random().between(0, 500)));
        }
    }
}

io::Task<void> BankWorkload::auditor(io::Executor& ex, store::Store& s) {
    const uint32_t audits = options_.transfers;
    for (uint32_t n = 0; n < audits && !failure_; n++) {
        store::TransactionBody<int64_t> body = [](store::Transaction& t) -> io::Task<Result<int64_t>> {
            auto all = co_await t.range("bank/", "bank0");
            if (!all.ok()) {
                co_return std::move(all).error();
            }
            int64_t sum = 0;
            for (const store::KeyValue& kv : all->pairs) {
                sum += std::stoll(kv.value);
            }
            co_return sum;
        };
        auto r = co_await store::run_transaction(ex, s, body,
                                                 store::RetryOptions{.attempts_max = attempts_max});
        if (!r.ok()) {
            failure_ = BankViolation{"transaction_failed", "an audit failed: " + r.error().to_string()};
            co_return;
        }
        audit_totals_.push_back(*r);
        co_await ex.sleep_for(Duration::us(ex.random().between(0, 300)));
    }
}

io::Task<void> BankWorkload::run(io::Executor& ex, store::Store& s) {
    KELPIE_ASSERT(options_.accounts >= 3);
    const uint32_t accounts = options_.accounts;
    store::TransactionBody<store::Revision> seed_accounts =
        [accounts](store::Transaction& t) -> io::Task<Result<store::Revision>> {
        for (uint32_t i = 0; i < accounts; i++) {
            (void)t.set(account(i), std::to_string(initial_balance));
        }
        co_return co_await t.commit();
    };
    // Blind writes of fixed values: safe to retry after an unknown result.
    auto seeded = co_await store::run_transaction(
        ex, s, seed_accounts,
        store::RetryOptions{.attempts_max = attempts_max, .retry_unknown_result = true});
    if (!seeded.ok()) {
        failure_ = BankViolation{"transaction_failed", "seeding failed: " + seeded.error().to_string()};
        co_return;
    }
    total_ = initial_balance * accounts;
    CommittedTransaction first{*seeded, {}, {}};
    for (uint32_t i = 0; i < accounts; i++) {
        first.writes.push_back(account(i));
    }
    history_.push_back(std::move(first));
    std::vector<io::Task<void>> tasks;
    for (uint32_t w = 0; w < options_.workers; w++) {
        tasks.push_back(transfer_worker(ex, s));
    }
    tasks.push_back(auditor(ex, s));
    co_await io::when_all(std::move(tasks));
}

std::optional<BankViolation> BankWorkload::check() const {
    if (failure_) {
        return failure_;
    }
    for (int64_t total : audit_totals_) {
        if (total != total_) {
            return BankViolation{"conserved_total", "an audit saw total " + std::to_string(total) +
                                                        ", expected " + std::to_string(total_)};
        }
    }
    std::string problem = check_serializable(history_);
    if (!problem.empty()) {
        return BankViolation{"serializability", std::move(problem)};
    }
    return std::nullopt;
}

}  // namespace kelpie::sim
