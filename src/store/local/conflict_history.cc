#include "store/local/conflict_history.h"

#include <algorithm>

namespace kelpie::store::detail {

void ConflictHistory::record(Revision revision, const std::vector<Mutation>& writes) {
    KELPIE_ASSERT(revision > horizon_);
    for (const Mutation& m : writes) {
        if (m.kind == Mutation::Kind::clear_range) {
            KELPIE_ASSERT(range_writes_.empty() || range_writes_.back().revision <= revision);
            range_writes_.push_back(RangeWrite{m.key, m.end, revision});
        } else {
            point_writes_[m.key] = revision;
        }
    }
}

bool ConflictHistory::key_written_after(Revision snapshot, const std::string& key) const {
    const Revision* written = point_writes_.find(key);
    if (written != nullptr && *written > snapshot) {
        return true;
    }
    for (auto r = range_writes_.rbegin(); r != range_writes_.rend() && r->revision > snapshot; ++r) {
        if (key >= r->begin && key < r->end) {
            return true;
        }
    }
    return false;
}

bool ConflictHistory::range_written_after(Revision snapshot, const std::string& begin,
                                          const std::string& end) const {
    const auto& points = point_writes_.ordered();
    for (auto it = points.lower_bound(begin); it != points.end() && it->first < end; ++it) {
        if (it->second > snapshot) {
            return true;
        }
    }
    for (auto r = range_writes_.rbegin(); r != range_writes_.rend() && r->revision > snapshot; ++r) {
        if (r->begin < end && begin < r->end) {
            return true;
        }
    }
    return false;
}

bool ConflictHistory::conflicts(Revision snapshot, const ReadSet& reads) const {
    if (snapshot < horizon_) {
        return true;
    }
    for (const ReadSet::Key& k : reads.keys) {
        if (key_written_after(snapshot, k.key)) {
            return true;
        }
    }
    for (const ReadSet::Range& r : reads.ranges) {
        if (range_written_after(snapshot, r.begin, r.end)) {
            return true;
        }
    }
    return false;
}

bool ConflictHistory::changed_since(Revision after, const std::string& begin,
                                    const std::string& end) const {
    if (after < horizon_) {
        return true;
    }
    return range_written_after(after, begin, end);
}

void ConflictHistory::forget_through(Revision oldest_needed) {
    if (oldest_needed <= horizon_) {
        return;
    }
    horizon_ = oldest_needed;
    point_writes_.erase_if([this](const std::string&, Revision r) { return r <= horizon_; });
    std::erase_if(range_writes_, [&](const RangeWrite& r) { return r.revision <= horizon_; });
}

}  // namespace kelpie::store::detail
