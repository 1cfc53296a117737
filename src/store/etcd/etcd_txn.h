#pragma once

// Private to the etcd backend: how a transaction's commit becomes ONE etcd Txn. Pure functions
// (no I/O), so that they can be tested without a cluster.
//
// The Txn's compares make it serializable (optimistic concurrency control, validated by etcd
// atomically with the writes): it succeeds only if everything the transaction read still looks
// as it did at the snapshot revision R.
//  (1) A point key read with mod_revision m (0: absent): MOD(key) == m. An absent key has
//      MOD 0 in etcd, so "still absent" is the same compare.
//  (2) A range window [b, e) read: MOD([b, e)) < R + 1, i.e. no key in it was created or updated
//      after R (etcd compares every key in the range; an empty range compares as an all-zero
//      pair, which passes), plus (1) for every key observed in the window, which catches keys
//      deleted after R (a deletion leaves nothing behind for (2) to see).
// The success operations are the mutations. etcd refuses a Txn in which a put and a delete
// cover the same key ("duplicate key given in txn request", checked with etcd 3.4.23), which a
// clear_range followed by a set inside it would produce: such a range is split around the keys
// set (two deletes of one key are accepted, so point clears need no splitting).

#include <string>
#include <vector>

#include "base/result.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "store/common/write_buffer.h"

namespace kelpie::store::detail {

// Builds the commit Txn. REQUIRES: no key in `reads` has a negative observation (add_read_conflict
// keys are resolved at the snapshot first); snapshot > 0 if `reads` is not empty.
// Fails with limit_exceeded, before anything is sent, if compares plus operations exceed
// transaction_operations_max, and with conflict if `reads` observed one key at two different
// mod_revisions (impossible at one snapshot, so something changed under it).
Result<etcdserverpb::TxnRequest> build_commit_txn(const std::vector<Mutation>& mutations,
                                                  const ReadSet& reads, Revision snapshot);

// What a commit Txn touches: the keys its compares read and its operations write, as [begin, end)
// intervals (a point key k is [k, k + '\0'); an empty end means "to the end of the keyspace").
struct TxnFootprint {
    std::vector<std::pair<std::string, std::string>> reads;
    std::vector<std::pair<std::string, std::string>> writes;
};
TxnFootprint footprint_of(const etcdserverpb::TxnRequest& txn);

// Whether two commit Txns may be applied as nested Txns of one batch Txn. etcd evaluates every
// compare of a batch against the state before it, so this holds only if neither writes a key the
// other reads or writes: then each one's compares see exactly what they would see with the other
// applied first, or last, and the batch is equivalent to the two commits one after the other, in
// either order (and etcd accepts it: it refuses a Txn whose puts overlap other puts or deletes).
bool can_share_batch(const TxnFootprint& a, const TxnFootprint& b);

// [begin, end) minus the given keys, as ordered disjoint ranges (empty ones left out).
// REQUIRES: `keys` sorted.
std::vector<std::pair<std::string, std::string>> split_range_around(
    const std::string& begin, const std::string& end, const std::vector<std::string>& keys);

}  // namespace kelpie::store::detail
