#include "sim/serializability.h"

#include <algorithm>
#include <map>

namespace kelpie::sim {

std::string check_serializable(const std::vector<CommittedTransaction>& history) {
    // Per key: the revisions that wrote it, sorted.
    std::map<std::string, std::vector<store::Revision>> writes;
    for (const CommittedTransaction& c : history) {
        for (const std::string& k : c.writes) {
            writes[k].push_back(c.revision);
        }
    }
    for (auto& [k, revisions] : writes) {
        std::sort(revisions.begin(), revisions.end());
        if (std::adjacent_find(revisions.begin(), revisions.end()) != revisions.end()) {
            return "two commits share a revision writing " + k;
        }
    }
    for (const CommittedTransaction& c : history) {
        for (const auto& [k, observed] : c.reads) {
            const auto& revisions = writes[k];
            auto it = std::lower_bound(revisions.begin(), revisions.end(), c.revision);
            const bool wrote_k = std::find(c.writes.begin(), c.writes.end(), k) != c.writes.end();
            if (it != revisions.end() && *it == c.revision && !wrote_k) {
                return "commits sharing revision " + std::to_string(c.revision) +
                       " are not independent: one read " + k + ", which another wrote";
            }
            const store::Revision before = it == revisions.begin() ? 0 : *std::prev(it);
            if (before != observed) {
                return "commit at revision " + std::to_string(c.revision) + " read " + k +
                       " at mod_revision " + std::to_string(observed) +
                       " but the last write before it was at " + std::to_string(before);
            }
        }
    }
    return "";
}

}  // namespace kelpie::sim
