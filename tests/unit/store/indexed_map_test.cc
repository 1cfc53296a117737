// Goal: IndexedMap (the in-process store's ordered map with a hash index) answers point lookups and
// ordered iteration exactly as a std::map would, through inserts, updates, erases and erase_if.
// Method: RapidCheck against a std::map model over a small key space (so that operations collide).

#include "store/local/indexed_map.h"

#include <map>
#include <string>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

namespace kelpie::store::detail {
namespace {

TEST(IndexedMap, PointAndOrderedViewsAgree) {
    IndexedMap<int> m;
    m["b"] = 2;
    m["a"] = 1;
    m["c"] = 3;
    ASSERT_NE(m.find("b"), nullptr);
    EXPECT_EQ(*m.find("b"), 2);
    EXPECT_EQ(m.find("z"), nullptr);
    m.erase("b");
    EXPECT_FALSE(m.contains("b"));
    std::string order;
    for (const auto& [k, v] : m.ordered()) {
        order += k;
    }
    EXPECT_EQ(order, "ac");
    m.erase_if([](const std::string&, int v) { return v > 1; });
    EXPECT_EQ(m.size(), 1u);
    EXPECT_TRUE(m.contains("a"));
    EXPECT_FALSE(m.contains("c"));
}

RC_GTEST_PROP(IndexedMap, MatchesAStdMap, ()) {
    IndexedMap<int> m;
    std::map<std::string, int> model;
    const int steps = *rc::gen::inRange(1, 300);
    for (int i = 0; i < steps; i++) {
        const std::string key(1, static_cast<char>('a' + *rc::gen::inRange(0, 12)));
        switch (*rc::gen::inRange(0, 4)) {
            case 0: {
                const int v = *rc::gen::inRange(0, 100);
                m[key] = v;
                model[key] = v;
                break;
            }
            case 1:
                m.erase(key);
                model.erase(key);
                break;
            case 2: {
                const int below = *rc::gen::inRange(0, 100);
                m.erase_if([below](const std::string&, int v) { return v < below; });
                std::erase_if(model, [below](const auto& e) { return e.second < below; });
                break;
            }
            default:
                break;  // lookups only
        }
        const int* found = m.find(key);
        RC_ASSERT((found != nullptr) == model.contains(key));
        if (found != nullptr) {
            RC_ASSERT(*found == model.at(key));
        }
        RC_ASSERT(m.size() == model.size());
        RC_ASSERT(std::equal(m.ordered().begin(), m.ordered().end(), model.begin(), model.end(),
                             [](const auto& a, const auto& b) {
                                 return a.first == b.first && a.second == b.second;
                             }));
    }
}

}  // namespace
}  // namespace kelpie::store::detail
