// Goal: the HTTP server answers the health check, keeps connections alive, handles pipelined
// requests, rejects bad input with the right 4xx and a JSON detail (never a crash or a hang), and
// stops gracefully. Method: a real loopback server on a free port, driven by raw bytes from a
// client written with io::Network, all on one RealWorld.

#include "server/http.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "base/version.h"
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

}  // namespace
}  // namespace kelpie::server
