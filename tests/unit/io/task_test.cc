// Goal: Task<T> composes (values, void, nesting, deep chains, move-only results), propagates
// exceptions to the awaiter, is lazy, and frees frames it never ran; its frame cache reuses freed
// frames. Method: run on the simulated executor with block_on, which asserts if a task can never
// complete.

#include "io/task.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "io/executor.h"
#include "io/sim_world.h"

namespace kelpie::io {
namespace {

Task<int> constant(int x) { co_return x; }

Task<int> add(int a, int b) {
    const int x = co_await constant(a);
    const int y = co_await constant(b);
    co_return x + y;
}

Task<int> chain(int depth) {
    if (depth == 0) {
        co_return 0;
    }
    co_return 1 + co_await chain(depth - 1);
}

Task<void> throws_runtime_error() {
    throw std::runtime_error("boom");
    co_return;
}

Task<std::unique_ptr<int>> make_unique_int(int v) { co_return std::make_unique<int>(v); }

struct TaskTest : ::testing::Test {
    SimWorld world{SimWorldOptions{.seed = 7}};
    SimExecutor& ex = world.add_node();
    template <typename T>
    T run(Task<T> t) {
        return block_on(world, ex, std::move(t));
    }
};

TEST_F(TaskTest, ReturnsValues) {
    EXPECT_EQ(run(add(2, 3)), 5);
}

TEST_F(TaskTest, DeepChainsDoNotOverflowTheStack) {
    // Symmetric transfer: 100k nested awaits complete without growing the native stack.
    EXPECT_EQ(run(chain(100'000)), 100'000);
}

TEST_F(TaskTest, ExceptionsPropagateToTheAwaiter) {
    auto outer = []() -> Task<std::string> {
        try {
            co_await throws_runtime_error();
        } catch (const std::runtime_error& e) {
            co_return std::string("caught ") + e.what();
        }
        co_return std::string("not thrown");
    };
    EXPECT_EQ(run(outer()), "caught boom");
    EXPECT_THROW(run(throws_runtime_error()), std::runtime_error);
}

TEST_F(TaskTest, MoveOnlyResults) {
    EXPECT_EQ(*run(make_unique_int(9)), 9);
}

TEST_F(TaskTest, TasksAreLazy) {
    bool started = false;
    auto body = [](bool* flag) -> Task<void> {
        *flag = true;
        co_return;
    };
    {
        Task<void> t = body(&started);
        EXPECT_FALSE(started);
    }  // destroyed without running: its frame is freed, nothing runs
    EXPECT_FALSE(started);
    run(body(&started));
    EXPECT_TRUE(started);
}

TEST_F(TaskTest, SleepAdvancesVirtualTimeOnly) {
    auto sleeper = [](Executor* e) -> Task<Duration> {
        const Instant start = e->now();
        co_await e->sleep_for(Duration::hours(1));
        co_return e->now() - start;
    };
    EXPECT_EQ(run(sleeper(&ex)), Duration::hours(1));
    EXPECT_EQ(world.now().since_origin(), Duration::hours(1));
}

TEST_F(TaskTest, SpawnedTasksRunConcurrently) {
    std::vector<int> order;
    auto worker = [](Executor* e, std::vector<int>* out, int id, int delay_ms) -> Task<void> {
        co_await e->sleep_for(Duration::ms(delay_ms));
        out->push_back(id);
    };
    spawn(ex, worker(&ex, &order, 1, 30));
    spawn(ex, worker(&ex, &order, 2, 10));
    spawn(ex, worker(&ex, &order, 3, 20));
    world.run_until_idle();
    EXPECT_EQ(order, (std::vector<int>{2, 3, 1}));
    EXPECT_EQ(world.now().since_origin(), Duration::ms(30));
}

TEST_F(TaskTest, SpawnWithTokenIsCancelled) {
    CancellationSource source;
    bool finished = false;
    bool unwound = false;
    auto worker = [](Executor* e, bool* done, bool* cleanup) -> Task<void> {
        struct Guard {
            bool* flag;
            ~Guard() { *flag = true; }
        } guard{cleanup};
        co_await e->sleep_for(Duration::s(10));
        *done = true;
    };
    spawn(ex, worker(&ex, &finished, &unwound), source.token());
    world.run_for(Duration::s(1));
    source.cancel();
    world.run_until_idle();
    EXPECT_FALSE(finished);
    EXPECT_TRUE(unwound);  // the task unwound through its destructors
    EXPECT_LT(world.now().since_origin(), Duration::s(10));
}

TEST_F(TaskTest, CheckCancelledThrowsOnlyWhenCancelled) {
    auto body = [](Executor* e) -> Task<int> {
        co_await check_cancelled();  // not cancelled: no-op
        co_await e->yield();
        co_return 3;
    };
    EXPECT_EQ(run(body(&ex)), 3);
}

TEST_F(TaskTest, BlockOnDetectsDeadlock) {
    auto stuck = []() -> Task<void> {
        struct Never {
            bool await_ready() { return false; }
            void await_suspend(std::coroutine_handle<>) {}
            void await_resume() {}
        };
        co_await Never{};
    };
    EXPECT_DEATH(run(stuck()), "no work left but the task is not done");
}

}  // namespace
}  // namespace kelpie::io

namespace kelpie::io {
namespace {

// The frame cache (frame_allocator.cc): a freed frame serves the next one of its size class on
// the same thread; large frames and frames freed past the cache's bound go to the heap; frames
// freed on another thread are usable there.
TEST(FrameCache, ReusesFreedFramesBySizeClass) {
    void* a = detail::allocate_frame(100);
    detail::free_frame(a, 100);
    void* b = detail::allocate_frame(120);  // same 64-byte class (65..128)
    EXPECT_EQ(a, b);
    void* c = detail::allocate_frame(40);  // another class: not the block just handed out
    EXPECT_NE(c, b);
    detail::free_frame(b, 120);
    detail::free_frame(c, 40);
    std::vector<void*> many;
    for (int i = 0; i < 5000; i++) {  // beyond the per-class bound (64 KiB): the rest go to the heap
        many.push_back(detail::allocate_frame(300));
    }
    for (void* f : many) {
        detail::free_frame(f, 300);
    }
    void* big = detail::allocate_frame(64 * 1024);
    static_cast<char*>(big)[64 * 1024 - 1] = 1;  // the whole block is usable
    detail::free_frame(big, 64 * 1024);
    std::thread other([] {
        void* f = detail::allocate_frame(200);
        static_cast<char*>(f)[199] = 1;
        detail::free_frame(f, 200);
    });
    other.join();
}

TEST(FrameCache, TasksRunWithCachedFrames) {
    SimWorld world{SimWorldOptions{.seed = 1}};
    SimExecutor& ex = world.add_node();
    for (int i = 0; i < 3; i++) {  // each round reuses the frames the one before freed
        EXPECT_EQ(block_on(world, ex, add(i, 2)), i + 2);
        EXPECT_EQ(block_on(world, ex, chain(1000)), 1000);
    }
}

}  // namespace
}  // namespace kelpie::io
