#pragma once

// An example actor: a durable counter. Its state is one integer; its methods are
//   add(n)      adds n (a decimal integer) and returns the new value
//   get()       returns the value
//   remind(ms)  in `ms` milliseconds, call add(1) on itself — a durable reminder
// Each turn's change commits atomically when the turn ends; an error rolls it back.

#include <charconv>
#include <string>

#include "actor/actor.h"

namespace kelpie::examples {

class Counter final : public actor::Actor {
public:
    static constexpr std::string_view type = "counter";

    Status load(std::string_view state) override {
        if (state.empty()) {
            value_ = 0;  // a new counter
            return {};
        }
        return parse(state, &value_);
    }

    std::string save() const override { return std::to_string(value_); }

    io::Task<Result<std::string>> handle(actor::Context& context, actor::Invocation call) override {
        if (call.method == "add") {
            int64_t n = 0;
            KELPIE_CO_TRY(parse(call.argument, &n));
            if (__builtin_add_overflow(value_, n, &value_)) {
                co_return Error(ErrorCode::invalid_argument, "counter would overflow");
            }
            co_return std::to_string(value_);
        }
        if (call.method == "get") {
            co_return std::to_string(value_);
        }
        if (call.method == "remind") {
            int64_t ms = 0;
            KELPIE_CO_TRY(parse(call.argument, &ms));
            const WallTime due = context.executor().wall_now() + Duration::ms(ms);
            KELPIE_CO_TRY(context.set_reminder("tick", due, actor::Invocation{"add", "1"}));
            co_return std::string("scheduled");
        }
        co_return Error(ErrorCode::invalid_argument, "counter has no method '" + call.method + "'");
    }

private:
    static Status parse(std::string_view text, int64_t* out) {
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
        if (error != std::errc() || end != text.data() + text.size()) {
            return Error(ErrorCode::invalid_argument, "not an integer: '" + std::string(text) + "'");
        }
        return {};
    }

    int64_t value_ = 0;
};

}  // namespace kelpie::examples
