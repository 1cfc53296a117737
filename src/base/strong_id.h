#pragma once

// Distinct types for ids, indexes, counts and tokens, so that a NodeId never silently becomes a
// FencingToken. Declare one with a tag:
//   struct NodeIdTag {};
//   using NodeId = StrongId<NodeIdTag>;

#include <compare>
#include <cstdint>
#include <functional>

#include <fmt/format.h>

namespace kelpie {

template <typename Tag, typename Rep = uint64_t>
struct StrongId {
    Rep value{};

    constexpr StrongId() = default;
    constexpr explicit StrongId(Rep v) : value(v) {}
    constexpr auto operator<=>(const StrongId&) const = default;
};

// The simulated or real node a piece of work belongs to. Node 0 is the first node.
struct NodeIndexTag {};
using NodeIndex = StrongId<NodeIndexTag, uint32_t>;

}  // namespace kelpie

template <typename Tag, typename Rep>
struct std::hash<kelpie::StrongId<Tag, Rep>> {
    size_t operator()(const kelpie::StrongId<Tag, Rep>& id) const noexcept {
        return std::hash<Rep>{}(id.value);
    }
};

template <typename Tag, typename Rep>
struct fmt::formatter<kelpie::StrongId<Tag, Rep>> : fmt::formatter<Rep> {
    auto format(const kelpie::StrongId<Tag, Rep>& id, fmt::format_context& ctx) const {
        return fmt::formatter<Rep>::format(id.value, ctx);
    }
};
