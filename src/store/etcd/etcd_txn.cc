#include "store/etcd/etcd_txn.h"

#include <algorithm>
#include <map>
#include <set>

namespace kelpie::store::detail {

namespace {

// Point keys and range windows to compare, deduplicated. Returns false if one key was observed
// at two different revisions.
bool collect_reads(const ReadSet& reads, std::map<std::string, Revision>& points,
                   std::set<std::pair<std::string, std::string>>& ranges) {
    auto note = [&points](const std::string& key, Revision observed) {
        KELPIE_ASSERT(observed >= 0);
        auto [it, inserted] = points.emplace(key, observed);
        return inserted || it->second == observed;
    };
    for (const ReadSet::Key& k : reads.keys) {
        if (!note(k.key, k.observed)) {
            return false;
        }
    }
    for (const ReadSet::Range& r : reads.ranges) {
        ranges.emplace(r.begin, r.end);
        for (const ReadSet::Key& k : r.observed) {
            // A limited read may have fetched pairs past the window it covered: not read.
            if (k.key >= r.begin && k.key < r.end && !note(k.key, k.observed)) {
                return false;
            }
        }
    }
    return true;
}

void add_mutations(const std::vector<Mutation>& mutations, etcdserverpb::TxnRequest& txn) {
    std::vector<std::string> set_keys;
    for (const Mutation& m : mutations) {
        if (m.kind == Mutation::Kind::set) {
            set_keys.push_back(m.key);
        }
    }
    std::sort(set_keys.begin(), set_keys.end());
    for (const Mutation& m : mutations) {
        switch (m.kind) {
            case Mutation::Kind::set: {
                auto* put = txn.add_success()->mutable_request_put();
                put->set_key(m.key);
                put->set_value(m.value);
                put->set_lease(m.lease.value);
                break;
            }
            case Mutation::Kind::clear:
                txn.add_success()->mutable_request_delete_range()->set_key(m.key);
                break;
            case Mutation::Kind::clear_range:
                for (auto& [begin, end] : split_range_around(m.key, m.end, set_keys)) {
                    auto* del = txn.add_success()->mutable_request_delete_range();
                    del->set_key(begin);
                    del->set_range_end(end);
                }
                break;
        }
    }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> split_range_around(
    const std::string& begin, const std::string& end, const std::vector<std::string>& keys) {
    std::vector<std::pair<std::string, std::string>> out;
    std::string cursor = begin;
    for (auto it = std::lower_bound(keys.begin(), keys.end(), begin);
         it != keys.end() && *it < end; ++it) {
        if (cursor < *it) {
            out.emplace_back(cursor, *it);
        }
        cursor = *it + '\x00';  // the key right after *it
    }
    if (cursor < end) {
        out.emplace_back(cursor, end);
    }
    return out;
}

namespace {

using Interval = std::pair<std::string, std::string>;

// etcd's range_end: empty for one key, "\0" for every key from `key` on.
Interval interval(const std::string& key, const std::string& range_end) {
    if (range_end.empty()) {
        return {key, key + '\x00'};
    }
    if (range_end == std::string(1, '\x00')) {
        return {key, ""};
    }
    return {key, range_end};
}

bool overlap(const Interval& a, const Interval& b) {
    const bool a_before_b_ends = b.second.empty() || a.first < b.second;
    const bool b_before_a_ends = a.second.empty() || b.first < a.second;
    return a_before_b_ends && b_before_a_ends;
}

bool any_overlap(const std::vector<Interval>& a, const std::vector<Interval>& b) {
    for (const Interval& x : a) {
        for (const Interval& y : b) {
            if (overlap(x, y)) {
                return true;
            }
        }
    }
    return false;
}

}  // namespace

TxnFootprint footprint_of(const etcdserverpb::TxnRequest& txn) {
    TxnFootprint out;
    for (const etcdserverpb::Compare& c : txn.compare()) {
        out.reads.push_back(interval(c.key(), c.range_end()));
    }
    for (const etcdserverpb::RequestOp& op : txn.success()) {
        if (op.has_request_put()) {
            out.writes.push_back(interval(op.request_put().key(), ""));
        } else if (op.has_request_delete_range()) {
            out.writes.push_back(interval(op.request_delete_range().key(),
                                          op.request_delete_range().range_end()));
        } else {
            // Commit Txns hold only puts and deletes; anything else is never batched.
            out.writes.push_back(interval("", std::string(1, '\x00')));
        }
    }
    return out;
}

bool can_share_batch(const TxnFootprint& a, const TxnFootprint& b) {
    return !any_overlap(a.writes, b.writes) && !any_overlap(a.writes, b.reads) &&
           !any_overlap(b.writes, a.reads);
}

Result<etcdserverpb::TxnRequest> build_commit_txn(const std::vector<Mutation>& mutations,
                                                  const ReadSet& reads, Revision snapshot) {
    KELPIE_ASSERT(reads.size() == 0 || snapshot > 0);
    std::map<std::string, Revision> points;
    std::set<std::pair<std::string, std::string>> ranges;
    if (!collect_reads(reads, points, ranges)) {
        return Error(ErrorCode::conflict, "a key was observed at two revisions in one snapshot");
    }
    etcdserverpb::TxnRequest txn;
    for (const auto& [key, observed] : points) {
        auto* compare = txn.add_compare();
        compare->set_key(key);
        compare->set_target(etcdserverpb::Compare::MOD);
        compare->set_result(etcdserverpb::Compare::EQUAL);
        compare->set_mod_revision(observed);
    }
    for (const auto& [begin, end] : ranges) {
        auto* compare = txn.add_compare();
        compare->set_key(begin);
        compare->set_range_end(end);
        compare->set_target(etcdserverpb::Compare::MOD);
        compare->set_result(etcdserverpb::Compare::LESS);
        compare->set_mod_revision(snapshot + 1);
    }
    add_mutations(mutations, txn);
    const size_t operations = static_cast<size_t>(txn.compare_size() + txn.success_size());
    if (operations > transaction_operations_max) {
        return Error(ErrorCode::limit_exceeded,
                     "the commit needs " + std::to_string(txn.compare_size()) +
                         " etcd compares (one per key read, one per range read plus one per "
                         "pair it returned) and " + std::to_string(txn.success_size()) +
                         " operations; at most " + std::to_string(transaction_operations_max) +
                         " in all (transaction_operations_max)");
    }
    return txn;
}

}  // namespace kelpie::store::detail
