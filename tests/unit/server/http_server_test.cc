// Goal: the HTTP server answers the health check, keeps connections alive, handles pipelined
// requests, rejects bad input with the right 4xx and a JSON detail (never a crash or a hang), and
// stops gracefully. Method: a real loopback server on a free port, driven by raw bytes from a
// client written with io::Network, all on one RealWorld.

#include "server/http.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "base/version.h"
#include "io/channel.h"
#include "io/combinators.h"
#include "io/real_world.h"
#include "server/server.h"
#include "store/memory_store.h"

namespace kelpie::server {
namespace {

struct Reply {
    int status = 0;
    std::string head;
    std::string body;
};

// Parses every complete response in `bytes` (Content-Length framed).
std::vector<Reply> parse_replies(const std::string& bytes) {
    std::vector<Reply> out;
    size_t pos = 0;
    while (pos < bytes.size()) {
        const size_t end = bytes.find("\r\n\r\n", pos);
        if (end == std::string::npos) {
            break;
        }
        Reply r;
        r.head = bytes.substr(pos, end - pos);
        r.status = std::stoi(r.head.substr(9, 3));
        const size_t cl = r.head.find("Content-Length: ");
        const size_t length = std::stoul(r.head.substr(cl + 16));
        r.body = bytes.substr(end + 4, length);
        pos = end + 4 + length;
        out.push_back(r);
    }
    return out;
}

// A memory store on the real executor: the server only reads its name here.
std::unique_ptr<store::Store> test_store(io::Executor& ex) {
    auto s = store::make_memory_store(ex);
    KELPIE_ASSERT(s.ok());
    return std::move(s).value();
}

struct HttpServerTest : ::testing::Test {
    io::RealWorld world;
    io::Executor& ex = world.executor();
    std::unique_ptr<store::Store> store = test_store(ex);
    Server server{ex, world.network(), *store};
    io::Address address;

    void SetUp() override {
        auto a = server.start(io::Address{"127.0.0.1", 0});
        ASSERT_TRUE(a.ok()) << a.error().to_string();
        address = *a;
    }
    void TearDown() override {
        io::block_on(world, ex, server.stop());
        io::block_on(world, ex, store->close());
    }

    // Sends `request` bytes, reads until the server closes or `expect` replies arrived.
    std::vector<Reply> exchange(std::string request, size_t expect = 1) {
        auto body = [](io::Network* net, io::Address a, std::string bytes,
                       size_t n) -> io::Task<std::string> {
            auto conn = co_await net->connect(a);
            KELPIE_ASSERT(conn.ok());
            Status s = co_await (*conn)->write_all(bytes);
            KELPIE_ASSERT(s.ok());
            std::string received;
            char buffer[4096];
            while (parse_replies(received).size() < n) {
                auto r = co_await (*conn)->read_some(buffer);
                if (!r.ok() || *r == 0) {
                    break;
                }
                received.append(buffer, *r);
            }
            co_return received;
        };
        auto r = io::block_on(world, ex,
                              io::with_timeout(ex, Duration::s(10),
                                               body(&world.network(), address, request, expect)));
        KELPIE_ASSERT(r.ok());
        return parse_replies(*r);
    }
};

TEST_F(HttpServerTest, HealthWithAndWithoutTrailingSlash) {
    for (const char* path : {"/v1/health", "/v1/health/"}) {
        auto replies = exchange(std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
        ASSERT_EQ(replies.size(), 1u) << path;
        EXPECT_EQ(replies[0].status, 200);
        auto json = boost::json::parse(replies[0].body).as_object();
        EXPECT_EQ(json.at("status").as_string(), "ok");
        EXPECT_EQ(json.at("version").as_string(), version_string);
        EXPECT_EQ(json.at("store").as_string(), "memory");
        EXPECT_NE(replies[0].head.find("Content-Type: application/json"), std::string::npos);
    }
}

TEST_F(HttpServerTest, UnknownPathIs404AndWrongMethodIs405) {
    auto replies = exchange("GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].status, 404);
    EXPECT_EQ(boost::json::parse(replies[0].body).as_object().at("detail").as_string(),
              "Not Found: /v1/nope");
    replies = exchange("POST /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].status, 405);
}

TEST_F(HttpServerTest, KeepAliveAndPipelining) {
    // Three requests in one write on one connection: three answers, in order.
    auto replies = exchange(
        "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /v1/missing HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /v1/health/ HTTP/1.1\r\nHost: x\r\n\r\n",
        3);
    ASSERT_EQ(replies.size(), 3u);
    EXPECT_EQ(replies[0].status, 200);
    EXPECT_EQ(replies[1].status, 404);
    EXPECT_EQ(replies[2].status, 200);
    EXPECT_NE(replies[0].head.find("Connection: keep-alive"), std::string::npos);
}

TEST_F(HttpServerTest, MalformedRequestIs400) {
    auto replies = exchange("THIS IS NOT HTTP\r\n\r\n");
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].status, 400);
    EXPECT_NE(boost::json::parse(replies[0].body).as_object().at("detail").as_string().find(
                  "malformed HTTP request"),
              std::string::npos);
}

TEST_F(HttpServerTest, OversizedHeaderIs431) {
    std::string request = "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ";
    request += std::string(http_header_bytes_max + 10, 'a');
    request += "\r\n\r\n";
    auto replies = exchange(request);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].status, 431);
}

TEST_F(HttpServerTest, OversizedBodyIs413BeforeTheBodyIsSent) {
    auto replies = exchange("POST /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                            std::to_string(http_body_bytes_max + 1) + "\r\n\r\n");
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].status, 413);
    EXPECT_NE(replies[0].head.find("Connection: close"), std::string::npos);
}

TEST_F(HttpServerTest, ClientVanishingMidBodyDoesNotHurtTheServer) {
    // The client promises 100 bytes, sends 5 and disconnects; the server must go on serving.
    auto body = [](io::Network* net, io::Address a) -> io::Task<std::string> {
        auto conn = co_await net->connect(a);
        KELPIE_ASSERT(conn.ok());
        Status s = co_await (*conn)->write_all(std::string_view(
            "POST /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhello"));
        KELPIE_ASSERT(s.ok());
        co_return std::string();
    };
    (void)io::block_on(world, ex, body(&world.network(), address));
    // The connection above was closed by its destructor mid-body; the server must survive it.
    auto replies = exchange("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].status, 200);
}

TEST(HttpServerStop, StopClosesIdleConnectionsAndFinishes) {
    io::RealWorld world;
    io::Executor& ex = world.executor();
    auto store = test_store(ex);
    Server server(ex, world.network(), *store);
    auto address = server.start(io::Address{"127.0.0.1", 0});
    ASSERT_TRUE(address.ok());
    auto body = [](io::Network* net, io::Address a, Server* s) -> io::Task<size_t> {
        auto conn = co_await net->connect(a);
        KELPIE_ASSERT(conn.ok());
        Status w = co_await (*conn)->write_all(
            std::string_view("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"));
        KELPIE_ASSERT(w.ok());
        char buffer[1024];
        auto n = co_await (*conn)->read_some(buffer);
        KELPIE_ASSERT(n.ok() && *n > 0);
        // The connection is now idle and kept alive; stop() must close it and return.
        co_await s->stop();
        auto after = co_await (*conn)->read_some(buffer);
        co_return after.ok() ? *after : 999;
    };
    EXPECT_EQ(io::block_on(world, ex, body(&world.network(), *address, &server)), 0u);
    io::block_on(world, ex, store->close());
}


// Streamed responses (Server-Sent Events): the head and each event leave as they are written,
// chunk-framed; the connection stays usable afterwards; a client that goes away mid-stream makes
// the producer's next write fail, and the server carries on.
struct StreamingTest : ::testing::Test {
    io::RealWorld world;
    io::Executor& ex = world.executor();
    std::shared_ptr<io::Channel<int>> release = std::make_shared<io::Channel<int>>(ex, 1);
    std::shared_ptr<int> failed_writes = std::make_shared<int>(0);
    HttpServer server{ex, world.network(), [this](HttpRequest request) { return handle(request); }};
    io::Address address;

    io::Task<HttpResponse> handle(HttpRequest request) {
        if (request.path == "/held") {  // one event, wait for the test, a second event
            std::shared_ptr<io::Channel<int>> gate = release;
            co_return HttpResponse::sse([gate](BodyWriter& w) -> io::Task<void> {
                (void)co_await w.write("data: one\n\n");
                (void)co_await gate->receive();
                (void)co_await w.write("data: two\n\n");
            });
        }
        if (request.path == "/endless") {  // an event every 10 ms until a write fails
            io::Executor* e = &ex;
            std::shared_ptr<int> failures = failed_writes;
            co_return HttpResponse::sse([e, failures](BodyWriter& w) -> io::Task<void> {
                for (int i = 0; i < 10'000; i++) {
                    Status s = co_await w.write("data: tick\n\n");
                    if (!s.ok()) {
                        (*failures)++;
                        co_return;
                    }
                    co_await e->sleep_for(Duration::ms(10));
                }
            });
        }
        co_return HttpResponse::json(200, "{\"plain\":true}");
    }

    void SetUp() override {
        auto a = server.start(io::Address{"127.0.0.1", 0});
        ASSERT_TRUE(a.ok()) << a.error().to_string();
        address = *a;
    }
    void TearDown() override { io::block_on(world, ex, server.stop()); }
};

// Reads from `c` into `received` until it contains `needle` (or the peer closes).
io::Task<bool> read_until(io::Connection* c, std::string* received, std::string needle) {
    char buffer[4096];
    while (received->find(needle) == std::string::npos) {
        auto r = co_await c->read_some(buffer);
        if (!r.ok() || *r == 0) {
            co_return false;
        }
        received->append(buffer, *r);
    }
    co_return true;
}

TEST_F(StreamingTest, EventsLeaveAsTheyAreWrittenAndTheConnectionStaysUsable) {
    auto body = [](io::Network* net, io::Address a,
                   std::shared_ptr<io::Channel<int>> gate) -> io::Task<void> {
        auto conn = co_await net->connect(a);
        KELPIE_ASSERT(conn.ok());
        std::string request = "GET /held HTTP/1.1\r\nHost: x\r\n\r\n";
        KELPIE_ASSERT((co_await (*conn)->write_all(request)).ok());
        std::string received;
        // The first event arrives while the producer is still waiting: it was streamed.
        EXPECT_TRUE(co_await read_until(conn->get(), &received, "data: one"));
        EXPECT_NE(received.find("Transfer-Encoding: chunked"), std::string::npos);
        EXPECT_NE(received.find("Content-Type: text/event-stream"), std::string::npos);
        EXPECT_NE(received.find("Cache-Control: no-cache"), std::string::npos);
        EXPECT_EQ(received.find("data: two"), std::string::npos);
        EXPECT_NE(received.find("\r\n\r\nb\r\ndata: one\n\n\r\n"), std::string::npos) << received;
        (void)gate->try_send(1);
        EXPECT_TRUE(co_await read_until(conn->get(), &received, "0\r\n\r\n"));
        EXPECT_NE(received.find("b\r\ndata: two\n\n\r\n0\r\n\r\n"), std::string::npos) << received;
        // Same connection, next request: an ordinary response.
        std::string next = "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n";
        KELPIE_ASSERT((co_await (*conn)->write_all(next)).ok());
        std::string second;
        EXPECT_TRUE(co_await read_until(conn->get(), &second, "{\"plain\":true}"));
        EXPECT_NE(second.find("Content-Length: 14"), std::string::npos) << second;
    };
    auto r = io::block_on(world, ex,
                          io::with_timeout(ex, Duration::s(10),
                                           body(&world.network(), address, release)));
    EXPECT_TRUE(r.ok());
}

TEST_F(StreamingTest, ClientGoneMidStreamStopsTheProducerAndTheServerCarriesOn) {
    auto body = [](io::Network* net, io::Address a) -> io::Task<void> {
        auto conn = co_await net->connect(a);
        KELPIE_ASSERT(conn.ok());
        std::string request = "GET /endless HTTP/1.1\r\nHost: x\r\n\r\n";
        KELPIE_ASSERT((co_await (*conn)->write_all(request)).ok());
        std::string received;
        EXPECT_TRUE(co_await read_until(conn->get(), &received, "data: tick"));
        (*conn)->close();
    };
    auto r = io::block_on(world, ex, io::with_timeout(ex, Duration::s(10),
                                                      body(&world.network(), address)));
    ASSERT_TRUE(r.ok());
    // Within a few ticks the producer's write fails and it stops.
    auto wait = [](io::Executor* e, std::shared_ptr<int> failures) -> io::Task<void> {
        for (int i = 0; i < 500 && *failures == 0; i++) {
            co_await e->sleep_for(Duration::ms(10));
        }
    };
    io::block_on(world, ex, wait(&ex, failed_writes));
    EXPECT_EQ(*failed_writes, 1);
    // Other clients are still served.
    auto plain = [](io::Network* net, io::Address a) -> io::Task<bool> {
        auto conn = co_await net->connect(a);
        KELPIE_ASSERT(conn.ok());
        std::string request = "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n";
        KELPIE_ASSERT((co_await (*conn)->write_all(request)).ok());
        std::string received;
        co_return co_await read_until(conn->get(), &received, "{\"plain\":true}");
    };
    EXPECT_TRUE(io::block_on(world, ex, plain(&world.network(), address)));
}

}  // namespace
}  // namespace kelpie::server
