#pragma once

// A small HTTP/1.1 server on io::Network: Beast's parser for requests, keep-alive, explicit limits,
// graceful stop. It runs on any Executor (real or simulated): it touches no socket itself.
//
// Bad input never crashes or hangs it: a malformed request gets 400, an oversized header 431, an
// oversized body 413 (each with a JSON {"detail": ...} body) and the connection is closed; an idle
// connection is closed after http_idle_timeout.

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/units.h"
#include "io/cancel.h"
#include "io/executor.h"
#include "io/gate.h"
#include "io/network.h"
#include "io/task.h"

namespace kelpie::server {

// Limits. Headers: generous for bearer tokens and cookies, small enough to bound memory per
// connection. Body: Letta requests carry memory blocks and messages, not files.
inline constexpr size_t http_header_bytes_max = 64 * 1024;
inline constexpr size_t http_body_bytes_max = 16 * 1024 * 1024;
// A keep-alive connection with no request in progress is closed after this long; a request whose
// bytes stop arriving for this long is abandoned.
inline constexpr Duration http_idle_timeout = Duration::s(120);
// Connections beyond this are answered 503 and closed at once.
inline constexpr size_t http_connections_max = 1024;
// stop() lets requests in progress finish for at most this long before cancelling them.
inline constexpr Duration http_shutdown_grace = Duration::s(5);
static_assert(http_header_bytes_max < http_body_bytes_max);

struct HttpHeader {
    std::string name;
    std::string value;
};

struct HttpRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // as sent: "/v1/agents/?limit=10"
    std::string path;    // target without the query: "/v1/agents/"
    std::string query;   // after '?', not decoded: "limit=10"
    std::vector<HttpHeader> headers;
    std::string body;

    // The first header with this name (case-insensitive), if any.
    std::optional<std::string> header(std::string_view name) const;
};

// Writes the body of a streamed response (HttpResponse::stream) while it is produced.
class BodyWriter {
public:
    virtual ~BodyWriter() = default;
    // Sends `data` at once, as one HTTP chunk (empty data sends nothing). Fails (io_error, closed)
    // once the client has gone away: the producer should then stop.
    virtual io::Task<Status> write(std::string data) = 0;
};
// Produces a streamed body. Coroutine rules apply: capture nothing by reference.
using BodyProducer = std::function<io::Task<void>(BodyWriter&)>;

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<HttpHeader> headers;
    // If set, the body is produced while it is sent (Server-Sent Events): the head goes out at
    // once with `Transfer-Encoding: chunked`, then `stream` runs, each write() one chunk, and the
    // body ends when it returns. `body` is then ignored. The connection stays usable afterwards
    // unless the client went away.
    BodyProducer stream;
    // 200, `text/event-stream`, no caching: events written by `producer` ("data: ...\n\n").
    static HttpResponse sse(BodyProducer producer);

    // {"detail": message} with the given status: the error shape of the Letta API.
    static HttpResponse error(int status, std::string_view message);
    static HttpResponse json(int status, std::string body);
};

using HttpHandler = std::function<io::Task<HttpResponse>(HttpRequest)>;

class HttpServer {
public:
    // `executor` and `network` must outlive the server; `handler` runs on `executor`, one request
    // at a time per connection.
    HttpServer(io::Executor& executor, io::Network& network, HttpHandler handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds and starts accepting. Returns the bound address (with the chosen port if 0 was asked).
    Result<io::Address> start(const io::Address& address);

    // Stops accepting, closes idle connections, lets requests in progress finish (at most
    // http_shutdown_grace), then cancels what is left. After stop(), start() may not be called.
    io::Task<void> stop();

    size_t connection_count() const { return connections_.size(); }

private:
    struct ConnectionState;
    io::Task<void> accept_loop();
    io::Task<void> serve(std::unique_ptr<io::Connection> connection, ConnectionState* state,
                         io::Gate::Holder holder);

    io::Executor& executor_;
    io::Network& network_;
    HttpHandler handler_;
    std::unique_ptr<io::Listener> listener_;
    io::Gate gate_;
    io::CancellationSource accept_cancel_;
    std::list<ConnectionState> connections_;
    bool stopping_ = false;
};

}  // namespace kelpie::server
