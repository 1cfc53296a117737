// HttpServer: one task accepts; one task per connection reads requests with Beast's parser, calls
// the handler, writes the response, and loops while the connection is kept alive.
//
// Invariants:
//  (1) A connection's read buffer never holds more than http_header_bytes_max plus one read chunk
//      of unparsed bytes: Beast fails the header with header_limit once the buffer exceeds it.
//  (2) Every connection task holds a gate holder and a ConnectionState for its whole life; the
//      state is erased (and the holder released) on every exit path, so stop() cannot hang on a
//      connection that ended.
//  (3) stop() cancels a connection only when it is idle, or after http_shutdown_grace.

#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "io/combinators.h"
#include "server/http.h"

namespace kelpie::server {

namespace beast = boost::beast;
namespace http = boost::beast::http;

struct HttpServer::ConnectionState {
    io::CancellationSource cancel;
    bool busy = false;  // a request is being read, handled or answered
    std::list<ConnectionState>::iterator self;
};

namespace {

constexpr size_t read_chunk_bytes = 16 * 1024;

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (size_t i = 0; i < a.size(); i++) {
        const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

// The status line and headers; then the whole body, unless the response is streamed (chunked).
std::string serialize(const HttpResponse& response, bool keep_alive) {
    const auto status = static_cast<http::status>(response.status);
    const bool streamed = static_cast<bool>(response.stream);
    std::string out;
    out.reserve(256 + (streamed ? 0 : response.body.size()));
    out += "HTTP/1.1 ";
    out += std::to_string(response.status);
    out += ' ';
    out += std::string_view(http::obsolete_reason(status));
    out += "\r\nServer: kelpie\r\nContent-Type: ";
    out += response.content_type;
    if (streamed) {
        out += "\r\nTransfer-Encoding: chunked";
    } else {
        out += "\r\nContent-Length: ";
        out += std::to_string(response.body.size());
    }
    out += keep_alive ? "\r\nConnection: keep-alive" : "\r\nConnection: close";
    for (const HttpHeader& h : response.headers) {
        out += "\r\n";
        out += h.name;
        out += ": ";
        out += h.value;
    }
    out += "\r\n\r\n";
    if (!streamed) {
        out += response.body;
    }
    return out;
}

// Sends each write() as one chunk of a chunked body; remembers the first failure.
class ChunkedWriter final : public BodyWriter {
public:
    explicit ChunkedWriter(io::Connection& connection) : connection_(connection) {}

    io::Task<Status> write(std::string data) override {
        if (failed_.has_value()) {
            co_return *failed_;
        }
        if (data.empty()) {
            co_return ok_status();  // an empty chunk would end the body
        }
        char size[32];
        const int n = std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
        std::string frame(size, static_cast<size_t>(n));
        frame += data;
        frame += "\r\n";
        co_return co_await send(std::move(frame));
    }

    // The last chunk: the body is complete.
    io::Task<Status> finish() {
        if (failed_.has_value()) {
            co_return *failed_;
        }
        std::string last = "0\r\n\r\n";
        co_return co_await send(std::move(last));
    }

private:
    io::Task<Status> send(std::string frame) {
        Status s = co_await connection_.write_all(frame);
        if (!s.ok()) {
            failed_ = s.error();
        }
        co_return s;
    }

    io::Connection& connection_;
    std::optional<Error> failed_;
};

HttpResponse parse_error_response(const beast::error_code& ec) {
    if (ec == http::error::body_limit) {
        return HttpResponse::error(413, "request body exceeds http_body_bytes_max (" +
                                            std::to_string(http_body_bytes_max) + " bytes)");
    }
    if (ec == http::error::header_limit) {
        return HttpResponse::error(431, "request header exceeds http_header_bytes_max (" +
                                            std::to_string(http_header_bytes_max) + " bytes)");
    }
    return HttpResponse::error(400, "malformed HTTP request: " + ec.message());
}

HttpRequest to_request(http::request<http::string_body>&& message) {
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    const size_t question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos) {
        request.query = request.target.substr(question + 1);
    }
    for (const auto& field : message) {
        request.headers.push_back(
            HttpHeader{std::string(field.name_string()), std::string(field.value())});
    }
    request.body = std::move(message.body());
    return request;
}

}  // namespace

std::optional<std::string> HttpRequest::header(std::string_view name) const {
    for (const HttpHeader& h : headers) {
        if (iequals(h.name, name)) {
            return h.value;
        }
    }
    return std::nullopt;
}

HttpResponse HttpResponse::error(int status, std::string_view message) {
    boost::json::object body;
    body["detail"] = message;
    return HttpResponse{.status = status, .body = boost::json::serialize(body)};
}

HttpResponse HttpResponse::json(int status, std::string body) {
    return HttpResponse{.status = status, .body = std::move(body)};
}

HttpResponse HttpResponse::sse(BodyProducer producer) {
    HttpResponse r;
    r.content_type = "text/event-stream";
    r.headers.push_back(HttpHeader{"Cache-Control", "no-cache"});
    r.stream = std::move(producer);
    return r;
}

HttpServer::HttpServer(io::Executor& executor, io::Network& network, HttpHandler handler)
    : executor_(executor), network_(network), handler_(std::move(handler)), gate_(executor) {}

HttpServer::~HttpServer() {
    // REQUIRES: stop() was awaited if start() succeeded (the gate asserts it).
}

Result<io::Address> HttpServer::start(const io::Address& address) {
    KELPIE_ASSERT(!stopping_);
    KELPIE_ASSERT(listener_ == nullptr);
    auto listener = network_.listen(address);
    if (!listener.ok()) {
        return std::move(listener).error();
    }
    listener_ = std::move(listener).value();
    auto holder = gate_.enter();
    KELPIE_ASSERT(holder.ok());
    auto loop = [](HttpServer* self, io::Gate::Holder h) -> io::Task<void> {
        co_await self->accept_loop();
        (void)h;
    };
    io::spawn(executor_, loop(this, std::move(holder).value()), accept_cancel_.token());
    return listener_->local_address();
}

io::Task<void> HttpServer::accept_loop() {
    for (;;) {
        auto accepted = co_await listener_->accept();
        if (!accepted.ok()) {
            if (accepted.code() == ErrorCode::closed || stopping_) {
                co_return;
            }
            // E.g. out of file descriptors: say so, back off briefly, keep serving.
            spdlog::warn("http: accept failed: {}", accepted.error().to_string());
            co_await executor_.sleep_for(Duration::ms(50));
            continue;
        }
        std::unique_ptr<io::Connection> connection = std::move(accepted).value();
        auto holder = gate_.enter();
        if (!holder.ok()) {
            co_return;  // stopping
        }
        if (connections_.size() >= http_connections_max) {
            auto refuse = [](std::unique_ptr<io::Connection> c, io::Gate::Holder h) -> io::Task<void> {
                const std::string bytes = serialize(
                    HttpResponse::error(503, "too many connections (http_connections_max=" +
                                                 std::to_string(http_connections_max) + ")"),
                    false);
                (void)co_await c->write_all(bytes);
                c->close();
                (void)h;
            };
            io::spawn(executor_, refuse(std::move(connection), std::move(holder).value()));
            continue;
        }
        connections_.emplace_back();
        ConnectionState* state = &connections_.back();
        state->self = std::prev(connections_.end());
        io::spawn(executor_, serve(std::move(connection), state, std::move(holder).value()),
                  state->cancel.token());
    }
}

io::Task<void> HttpServer::serve(std::unique_ptr<io::Connection> connection,
                                 ConnectionState* state, io::Gate::Holder holder) {
    struct Cleanup {
        HttpServer* server;
        ConnectionState* state;
        io::Connection* connection;
        ~Cleanup() {
            connection->close();
            server->connections_.erase(state->self);
        }
    } cleanup{this, state, connection.get()};

    std::string buffer;
    std::vector<char> chunk(read_chunk_bytes);
    bool keep_alive = true;
    while (keep_alive && !stopping_) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(http_header_bytes_max));
        parser.body_limit(http_body_bytes_max);
        parser.eager(true);
        beast::error_code ec;
        bool started = !buffer.empty();
        state->busy = started;
        for (;;) {
            if (!buffer.empty()) {
                const size_t used =
                    parser.put(beast::net::const_buffer(buffer.data(), buffer.size()), ec);
                buffer.erase(0, used);
                if (ec == http::error::need_more) {
                    ec = {};
                } else if (ec || parser.is_done()) {
                    break;
                } else if (used > 0) {
                    continue;
                }
            }
            auto n = co_await io::with_timeout(executor_, http_idle_timeout,
                                               connection->read_some(chunk));
            if (!n.ok()) {
                co_return;  // idle timeout or a broken connection: nothing to answer
            }
            if (*n == 0) {
                if (!started) {
                    co_return;  // the client closed between requests
                }
                parser.put_eof(ec);
                if (!ec && !parser.is_done()) {
                    ec = http::error::partial_message;
                }
                break;
            }
            started = true;
            state->busy = true;
            buffer.append(chunk.data(), *n);
        }

        if (ec) {
            const std::string bytes = serialize(parse_error_response(ec), false);
            (void)co_await connection->write_all(bytes);
            co_return;
        }

        keep_alive = parser.get().keep_alive();
        HttpRequest request = to_request(parser.release());
        HttpResponse response;
        try {
            response = co_await handler_(std::move(request));
        } catch (const io::Cancelled&) {
            throw;
        } catch (const std::exception& e) {
            spdlog::error("http: handler failed: {}", e.what());
            response = HttpResponse::error(500, std::string("internal error: ") + e.what());
        }
        keep_alive = keep_alive && !stopping_;
        const std::string bytes = serialize(response, keep_alive);
        Status written = co_await connection->write_all(bytes);
        if (!written.ok()) {
            co_return;
        }
        if (response.stream) {
            ChunkedWriter writer(*connection);
            co_await response.stream(writer);
            Status finished = co_await writer.finish();
            if (!finished.ok()) {
                co_return;  // the client went away mid-stream
            }
        }
    }
    (void)holder;
}

io::Task<void> HttpServer::stop() {
    if (stopping_) {
        co_return;
    }
    stopping_ = true;
    accept_cancel_.cancel();
    if (listener_ != nullptr) {
        listener_->close();
    }
    for (ConnectionState& c : connections_) {
        if (!c.busy) {
            c.cancel.cancel();
        }
    }
    auto cancel_all = [](void* data) {
        auto* self = static_cast<HttpServer*>(data);
        for (ConnectionState& c : self->connections_) {
            c.cancel.cancel();
        }
    };
    const io::TimerId grace =
        executor_.start_timer(executor_.now() + http_shutdown_grace, io::TimerCallback{cancel_all, this});
    co_await gate_.close();
    executor_.cancel_timer(grace);
}

}  // namespace kelpie::server
