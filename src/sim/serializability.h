#pragma once

// A history checker for store transactions: given what each committed transaction read (keys with
// the mod_revision observed) and wrote, at which commit revision, it decides whether the history
// is serializable in commit-revision order — every key a transaction read had, just before its
// commit, exactly the mod_revision it observed. Commits may share a revision (the etcd backend
// applies independent commits in one Txn); those must be independent — none writes a key another
// one reads or writes — so that any order among them is a serial one. Used by the simulator's
// bank workload and by the store property tests (one checker, not two).

#include <string>
#include <utility>
#include <vector>

#include "store/store.h"

namespace kelpie::sim {

struct CommittedTransaction {
    store::Revision revision = 0;                                  // its commit revision
    std::vector<std::pair<std::string, store::Revision>> reads;  // key, mod_revision observed
    std::vector<std::string> writes;                              // keys written
};

// Empty if serializable; otherwise what is wrong, naming the revision and the key.
std::string check_serializable(const std::vector<CommittedTransaction>& history);

}  // namespace kelpie::sim
