// Goal: LiveSnapshots (the in-process store's record of snapshots in use) always names the oldest
// live one, whatever order they are released in, and is empty exactly when none is live.
// Method: RapidCheck against a multiset model, with snapshots taken at non-decreasing revisions.

#include "store/local/live_snapshots.h"

#include <set>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

namespace kelpie::store::detail {
namespace {

TEST(LiveSnapshots, OldestSurvivesReleasesInAnyOrder) {
    LiveSnapshots live;
    EXPECT_TRUE(live.empty());
    live.add(3);
    live.add(3);
    live.add(5);
    live.add(9);
    EXPECT_EQ(live.oldest(), 3);
    live.release(5);  // a middle one: the oldest stays
    EXPECT_EQ(live.oldest(), 3);
    live.release(3);
    EXPECT_EQ(live.oldest(), 3);  // one more at 3
    live.release(3);
    EXPECT_EQ(live.oldest(), 9);  // 5 was already released
    live.add(9);
    live.release(9);
    EXPECT_FALSE(live.empty());
    live.release(9);
    EXPECT_TRUE(live.empty());
}

RC_GTEST_PROP(LiveSnapshots, MatchesAMultiset, ()) {
    LiveSnapshots live;
    std::multiset<int64_t> model;
    int64_t revision = 0;
    const int steps = *rc::gen::inRange(1, 200);
    for (int i = 0; i < steps; i++) {
        if (model.empty() || *rc::gen::arbitrary<bool>()) {
            revision += *rc::gen::inRange<int64_t>(0, 3);
            live.add(revision);
            model.insert(revision);
        } else {
            const auto index = *rc::gen::inRange<size_t>(0, model.size());
            auto it = std::next(model.begin(), static_cast<std::ptrdiff_t>(index));
            live.release(*it);
            model.erase(it);
        }
        RC_ASSERT(live.empty() == model.empty());
        if (!model.empty()) {
            RC_ASSERT(live.oldest() == *model.begin());
        }
    }
}

}  // namespace
}  // namespace kelpie::store::detail
