// Goal: the real executor runs the same Task code on Boost.Asio with real timers, real TCP sockets
// on loopback, cancellation of in-flight socket operations, signals and several shards. Method:
// block_on over RealWorld; ports are chosen by the OS (port 0). No timing thresholds: only
// "not earlier than" checks, which real clocks guarantee.

#include "io/real_world.h"

#include <csignal>

#include <gtest/gtest.h>

#include "io/combinators.h"

namespace kelpie::io {
namespace {

TEST(RealWorld, TimersSleepAtLeastTheirDuration) {
    RealWorld world;
    Executor& ex = world.executor();
    auto sleeper = [](Executor* e) -> Task<Duration> {
        const Instant start = e->now();
        co_await e->sleep_for(Duration::ms(20));
        co_return e->now() - start;
    };
    EXPECT_GE(block_on(world, ex, sleeper(&ex)), Duration::ms(20));
}

TEST(RealWorld, TimeoutCancelsRealSleep) {
    RealWorld world;
    Executor& ex = world.executor();
    auto sleeper = [](Executor* e) -> Task<void> { co_await e->sleep_for(Duration::s(60)); };
    const Instant start = ex.now();
    auto r = block_on(world, ex, with_timeout(ex, Duration::ms(10), sleeper(&ex)));
    EXPECT_EQ(r.code(), ErrorCode::timeout);
    EXPECT_LT(ex.now() - start, Duration::s(60));
}

Task<void> echo_once(Listener* listener) {
    auto conn = co_await listener->accept();
    KELPIE_ASSERT(conn.ok());
    char buffer[256];
    for (;;) {
        auto n = co_await (*conn)->read_some(buffer);
        KELPIE_ASSERT(n.ok());
        if (*n == 0) {
            break;
        }
        Status s = co_await (*conn)->write_all(std::span<const char>(buffer, *n));
        KELPIE_ASSERT(s.ok());
    }
}

Task<std::string> client(Network* net, Address address, std::string message) {
    auto conn = co_await net->connect(address);
    KELPIE_ASSERT(conn.ok());
    Status s = co_await (*conn)->write_all(message);
    KELPIE_ASSERT(s.ok());
    std::string reply;
    char buffer[256];
    while (reply.size() < message.size()) {
        auto n = co_await (*conn)->read_some(buffer);
        KELPIE_ASSERT(n.ok());
        KELPIE_ASSERT(*n > 0);
        reply.append(buffer, *n);
    }
    (*conn)->close();
    co_return reply;
}

TEST(RealWorld, TcpEchoOnLoopback) {
    RealWorld world;
    Executor& ex = world.executor();
    auto listener = world.network().listen(Address{"127.0.0.1", 0});
    ASSERT_TRUE(listener.ok()) << listener.error().to_string();
    const Address address = (*listener)->local_address();
    EXPECT_NE(address.port, 0);
    spawn(ex, echo_once(listener->get()));
    const std::string message(10'000, 'k');
    EXPECT_EQ(block_on(world, ex, client(&world.network(), address, message)), message);
}

TEST(RealWorld, ListenErrorsAreClear) {
    RealWorld world;
    auto first = world.network().listen(Address{"127.0.0.1", 0});
    ASSERT_TRUE(first.ok());
    auto second = world.network().listen((*first)->local_address());
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.code(), ErrorCode::io_error);
    EXPECT_NE(second.error().message.find("bind"), std::string::npos) << second.error().message;
    auto bad_host = world.network().listen(Address{"not-an-ip", 0});
    EXPECT_EQ(bad_host.code(), ErrorCode::invalid_argument);
}

TEST(RealWorld, ConnectRefusedIsAnError) {
    RealWorld world;
    Address closed_port;
    {
        auto l = world.network().listen(Address{"127.0.0.1", 0});
        ASSERT_TRUE(l.ok());
        closed_port = (*l)->local_address();
    }  // closed again: nothing listens there now
    auto r = block_on(world, world.executor(), world.network().connect(closed_port));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), ErrorCode::io_error);
}

TEST(RealWorld, CancellingAPendingReadUnblocksIt) {
    RealWorld world;
    Executor& ex = world.executor();
    auto listener = world.network().listen(Address{"127.0.0.1", 0});
    ASSERT_TRUE(listener.ok());
    auto body = [](Network* net, Listener* l, Executor* e) -> Task<ErrorCode> {
        auto conn = co_await net->connect(l->local_address());
        KELPIE_ASSERT(conn.ok());
        auto accepted = co_await l->accept();
        KELPIE_ASSERT(accepted.ok());
        // Nobody writes: the read would block forever without cancellation.
        auto read = [](Connection* c) -> Task<Result<size_t>> {
            char buffer[16];
            co_return co_await c->read_some(buffer);
        };
        auto r = co_await with_timeout(*e, Duration::ms(20), read(accepted->get()));
        co_return r.code();
    };
    EXPECT_EQ(block_on(world, ex, body(&world.network(), listener->get(), &ex)), ErrorCode::timeout);
}

TEST(RealWorld, ClosingTheListenerEndsAccept) {
    RealWorld world;
    Executor& ex = world.executor();
    auto listener = world.network().listen(Address{"127.0.0.1", 0});
    ASSERT_TRUE(listener.ok());
    auto closer = [](Executor* e, Listener* l) -> Task<void> {
        co_await e->sleep_for(Duration::ms(5));
        l->close();
    };
    spawn(ex, closer(&ex, listener->get()));
    auto r = block_on(world, ex, (*listener)->accept());
    EXPECT_EQ(r.code(), ErrorCode::closed);
}

TEST(RealWorld, SignalsArriveAsTaskResults) {
    RealWorld world;
    Executor& ex = world.executor();
    auto raiser = [](Executor* e) -> Task<void> {
        co_await e->sleep_for(Duration::ms(1));
        std::raise(SIGUSR1);
    };
    spawn(ex, raiser(&ex));
    EXPECT_EQ(block_on(world, ex, world.wait_for_signal({SIGUSR1})), SIGUSR1);
}

TEST(RealWorld, ShardsRunOnTheirOwnThreads) {
    RealWorld world(RealWorldOptions{.shards = 2, .seed = 1});
    ASSERT_EQ(world.shard_count(), 2u);
    Executor& home = world.executor(0);
    Executor& other = world.executor(1);
    // Hop to shard 1, compute there, hop back to shard 0.
    struct Hop {
        Executor* target;
        bool await_ready() { return false; }
        void await_suspend(std::coroutine_handle<> h) { target->post(h); }
        void await_resume() {}
    };
    auto body = [](Executor* h, Executor* o) -> Task<int> {
        co_await Hop{o};
        int value = 0;
        for (int i = 1; i <= 100; i++) {
            value += i;
        }
        co_await Hop{h};
        co_return value;
    };
    // block_on drives shard 0; while the task is on shard 1, the timeout's timer is the work that
    // shard 0 waits on.
    auto main_task = [body](Executor* h, Executor* o) -> Task<int> {
        auto r = co_await with_timeout(*h, Duration::s(5), body(h, o));
        co_return r.ok() ? *r : -1;
    };
    EXPECT_EQ(block_on(world, home, main_task(&home, &other)), 5050);
}

TEST(RealWorld, RunWorksAfterBlockOnRanOutOfWork) {
    // block_on can leave the io_context stopped (it ran out of work); run() must still serve
    // work posted afterwards, until stop().
    RealWorld world;
    Executor& ex = world.executor();
    auto quick = []() -> Task<int> { co_return 1; };
    EXPECT_EQ(block_on(world, ex, quick()), 1);
    bool ran = false;
    auto later = [](Executor* e, RealWorld* w, bool* flag) -> Task<void> {
        co_await e->sleep_for(Duration::ms(5));
        *flag = true;
        w->stop();
    };
    spawn(ex, later(&ex, &world, &ran));
    world.run();
    EXPECT_TRUE(ran);
}

TEST(Address, ParseAndFormat) {
    auto a = Address::parse("127.0.0.1:8283");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 8283);
    EXPECT_EQ(a->to_string(), "127.0.0.1:8283");
    auto v6 = Address::parse("[::1]:80");
    ASSERT_TRUE(v6.ok());
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->to_string(), "[::1]:80");
    for (const char* bad : {"", "host", ":80", "h:99999", "h:-1", "h:8x", "[::1]80", "a:b:c"}) {
        EXPECT_FALSE(Address::parse(bad).ok()) << bad;
    }
}

}  // namespace
}  // namespace kelpie::io
