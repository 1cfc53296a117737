#pragma once

// Private to the in-process store: an ordered map from string keys with a hash index over the
// same nodes. Point lookups, the common case (every transaction's get and commit), cost a hash
// and one comparison instead of a string comparison per tree level; ordered iteration (ranges)
// is the map's.
//
// Invariant: index_ holds exactly ordered_'s nodes, each under a view of the node's own key (map
// nodes never move, so the views stay valid until the node is erased, which erases its entry
// first).

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace kelpie::store::detail {

template <typename V>
class IndexedMap {
public:
    using Ordered = std::map<std::string, V, std::less<>>;

    // The value under `key`, or null.
    V* find(std::string_view key) {
        auto it = index_.find(key);
        return it == index_.end() ? nullptr : &it->second->second;
    }
    const V* find(std::string_view key) const {
        auto it = index_.find(key);
        return it == index_.end() ? nullptr : &it->second->second;
    }
    bool contains(std::string_view key) const { return index_.contains(key); }

    // The value under `key`, inserted value-initialised if absent.
    V& operator[](std::string_view key) {
        auto it = index_.find(key);
        if (it == index_.end()) {
            auto node = ordered_.emplace(std::string(key), V()).first;
            it = index_.emplace(std::string_view(node->first), node).first;
        }
        return it->second->second;
    }

    void erase(std::string_view key) {
        auto it = index_.find(key);
        if (it != index_.end()) {
            const auto node = it->second;
            index_.erase(it);
            ordered_.erase(node);
        }
    }

    // Erases every entry for which pred(key, value) holds.
    template <typename Pred>
    void erase_if(Pred pred) {
        for (auto node = ordered_.begin(); node != ordered_.end();) {
            if (pred(node->first, node->second)) {
                index_.erase(std::string_view(node->first));
                node = ordered_.erase(node);
            } else {
                ++node;
            }
        }
    }

    // In key order, for ranges (read-only: changes go through the members above).
    const Ordered& ordered() const { return ordered_; }
    size_t size() const { return ordered_.size(); }

private:
    Ordered ordered_;
    std::unordered_map<std::string_view, typename Ordered::iterator> index_;
};

}  // namespace kelpie::store::detail
