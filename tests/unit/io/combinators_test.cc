// Goal: when_all, when_any, with_timeout and with_cancellation are structured (nothing outlives
// them), cancel what they should, and never drop a completed result. Method: virtual time on the
// simulated executor, so timing assertions are exact and instant.

#include "io/combinators.h"

#include <gtest/gtest.h>

#include "io/sim_world.h"

namespace kelpie::io {
namespace {

struct Combinators : ::testing::Test {
    SimWorld world{SimWorldOptions{.seed = 11}};
    SimExecutor& ex = world.add_node();
    template <typename T>
    T run(Task<T> t) {
        return block_on(world, ex, std::move(t));
    }
};

Task<int> after(Executor* e, Duration d, int value) {
    co_await e->sleep_for(d);
    co_return value;
}

Task<void> fail_after(Executor* e, Duration d) {
    co_await e->sleep_for(d);
    throw std::runtime_error("branch failed");
}

// Sleeps for `d`, recording whether it finished or was cancelled.
Task<void> tracked(Executor* e, Duration d, std::string* log, std::string name) {
    try {
        co_await e->sleep_for(d);
        *log += name + ":done ";
    } catch (const Cancelled&) {
        *log += name + ":cancelled ";
        throw;
    }
}

TEST_F(Combinators, WhenAllVectorKeepsOrderAndWaitsForTheSlowest) {
    std::vector<Task<int>> tasks;
    tasks.push_back(after(&ex, Duration::ms(30), 1));
    tasks.push_back(after(&ex, Duration::ms(10), 2));
    tasks.push_back(after(&ex, Duration::ms(20), 3));
    EXPECT_EQ(run(when_all(std::move(tasks))), (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(world.now().since_origin(), Duration::ms(30));
}

TEST_F(Combinators, WhenAllVariadicMixesTypes) {
    auto body = [](Executor* e) -> Task<int> {
        auto [a, b, c] = co_await when_all(after(e, Duration::ms(5), 40),
                                           [](Executor* e2) -> Task<void> {
                                               co_await e2->sleep_for(Duration::ms(1));
                                           }(e),
                                           after(e, Duration::ms(2), 2));
        (void)b;
        co_return a + c;
    };
    EXPECT_EQ(run(body(&ex)), 42);
}

TEST_F(Combinators, WhenAllEmpty) {
    EXPECT_TRUE(run(when_all(std::vector<Task<int>>{})).empty());
}

TEST_F(Combinators, WhenAllFailureCancelsTheOthersAndRethrows) {
    std::string log;
    std::vector<Task<void>> tasks;
    tasks.push_back(tracked(&ex, Duration::s(100), &log, "slow"));
    tasks.push_back(fail_after(&ex, Duration::ms(5)));
    tasks.push_back(tracked(&ex, Duration::ms(1), &log, "fast"));
    EXPECT_THROW(run(when_all(std::move(tasks))), std::runtime_error);
    EXPECT_EQ(log, "fast:done slow:cancelled ");
    EXPECT_EQ(world.now().since_origin(), Duration::ms(5));  // did not wait for the slow one
}

TEST_F(Combinators, WhenAnyFirstWinsAndLosersAreCancelled) {
    std::string log;
    auto body = [](Executor* e, std::string* l) -> Task<size_t> {
        std::vector<Task<void>> tasks;
        tasks.push_back(tracked(e, Duration::ms(50), l, "a"));
        tasks.push_back(tracked(e, Duration::ms(10), l, "b"));
        tasks.push_back(tracked(e, Duration::ms(30), l, "c"));
        auto r = co_await when_any(std::move(tasks));
        co_return r.index;
    };
    EXPECT_EQ(run(body(&ex, &log)), 1u);
    // The losers' cancellations are posted at the same instant, so their order is the seed's.
    EXPECT_TRUE(log == "b:done a:cancelled c:cancelled " || log == "b:done c:cancelled a:cancelled ")
        << log;
    EXPECT_EQ(world.now().since_origin(), Duration::ms(10));
}

TEST_F(Combinators, WithTimeoutReturnsValueInTime) {
    auto r = run(with_timeout(ex, Duration::ms(100), after(&ex, Duration::ms(10), 5)));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 5);
    EXPECT_EQ(world.now().since_origin(), Duration::ms(10));
}

TEST_F(Combinators, WithTimeoutCancelsAndReportsTimeout) {
    std::string log;
    auto r = run(with_timeout(ex, Duration::ms(100), tracked(&ex, Duration::hours(1), &log, "op")));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), ErrorCode::timeout);
    EXPECT_EQ(log, "op:cancelled ");
    EXPECT_EQ(world.now().since_origin(), Duration::ms(100));
}

TEST_F(Combinators, WithTimeoutPassesResultErrorsThrough) {
    auto inner = []() -> Task<Result<int>> {
        co_return Error(ErrorCode::not_found, "nope");
    };
    auto r = run(with_timeout(ex, Duration::ms(1), inner()));
    static_assert(std::is_same_v<decltype(r), Result<int>>);
    EXPECT_EQ(r.code(), ErrorCode::not_found);
}

TEST_F(Combinators, WithTimeoutValueWinsWhenBothHappenAtOnce) {
    // The task finishes at exactly the deadline: whatever the tie-break order, a completed value is
    // never turned into a timeout unless the task was actually cancelled before finishing.
    for (uint64_t seed = 1; seed <= 50; seed++) {
        SimWorld w(SimWorldOptions{.seed = seed});
        SimExecutor& e = w.add_node();
        int completed = 0;
        auto op = [](Executor* ex2, int* done) -> Task<int> {
            co_await ex2->sleep_for(Duration::ms(10));
            (*done)++;
            co_return 1;
        };
        auto r = block_on(w, e, with_timeout(e, Duration::ms(10), op(&e, &completed)));
        EXPECT_EQ(r.ok(), completed == 1) << "seed " << seed;
    }
}

TEST_F(Combinators, NestedCancellationPropagatesDown) {
    std::string log;
    auto inner = [](Executor* e, std::string* l) -> Task<void> {
        co_await tracked(e, Duration::s(10), l, "deep");
    };
    auto middle = [inner](Executor* e, std::string* l) -> Task<void> { co_await inner(e, l); };
    auto r = run(with_timeout(ex, Duration::ms(5), middle(&ex, &log)));
    EXPECT_EQ(r.code(), ErrorCode::timeout);
    EXPECT_EQ(log, "deep:cancelled ");
}

TEST_F(Combinators, WithCancellationToken) {
    CancellationSource source;
    std::string log;
    auto canceller = [](Executor* e, CancellationSource* s) -> Task<void> {
        co_await e->sleep_for(Duration::ms(7));
        s->cancel();
    };
    spawn(ex, canceller(&ex, &source));
    EXPECT_THROW(run(with_cancellation(source.token(),
                                       tracked(&ex, Duration::s(1), &log, "op"))),
                 Cancelled);
    EXPECT_EQ(log, "op:cancelled ");
    EXPECT_EQ(world.now().since_origin(), Duration::ms(7));
}

TEST_F(Combinators, AlreadyCancelledTokenCancelsAtFirstSuspension) {
    CancellationSource source;
    source.cancel();
    std::string log;
    EXPECT_THROW(run(with_cancellation(source.token(), tracked(&ex, Duration::ms(1), &log, "x"))),
                 Cancelled);
    EXPECT_EQ(log, "x:cancelled ");
    EXPECT_EQ(world.now().since_origin(), Duration::zero());
}

}  // namespace
}  // namespace kelpie::io
