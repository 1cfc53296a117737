#include "llm/http/client.h"

#include <optional>

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <fmt/format.h>

namespace kelpie::llm::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

constexpr size_t read_chunk_bytes = 16 * 1024;
constexpr size_t response_header_bytes_max = 64 * 1024;

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

bool has_control(std::string_view s) {
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f) {
            return true;
        }
    }
    return false;
}

// Beast's response parser with the body delivered as it arrives: to the sink for a 2xx answer
// that asked for one, into Response::body otherwise.
class ResponseParser final : public bhttp::basic_parser<false> {
public:
    ResponseParser(Response& out, BodySink sink, size_t body_bytes_max)
        : out_(out), sink_(std::move(sink)), body_bytes_max_(body_bytes_max) {
        header_limit(static_cast<std::uint32_t>(response_header_bytes_max));
        body_limit(boost::none);  // enforced below, across chunks and streams alike
        eager(true);
    }
    const Error* failure() const { return failure_ ? &*failure_ : nullptr; }

private:
    void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int,
                         beast::error_code& ec) override {
        ec = bhttp::error::bad_method;
    }
    void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
        out_.status = code;
    }
    void on_field_impl(bhttp::field, beast::string_view name, beast::string_view value,
                       beast::error_code&) override {
        out_.headers[lower(std::string_view(name.data(), name.size()))] =
            std::string(value.data(), value.size());
    }
    void on_header_impl(beast::error_code&) override {
        streaming_ = sink_ && out_.status >= 200 && out_.status < 300;
    }
    void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code&) override {}
    std::size_t on_body_impl(beast::string_view body, beast::error_code& ec) override {
        received_ += body.size();
        if (received_ > body_bytes_max_) {
            failure_ = Error(ErrorCode::limit_exceeded,
                             fmt::format("the answer exceeds {} bytes", body_bytes_max_));
            ec = bhttp::error::body_limit;
            return 0;
        }
        const std::string_view piece(body.data(), body.size());
        if (streaming_) {
            Status s = sink_(piece);
            if (!s.ok()) {
                failure_ = std::move(s).error();
                ec = bhttp::error::body_limit;
                return 0;
            }
        } else {
            out_.body.append(piece);
        }
        return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                   beast::error_code& ec) override {
        return on_body_impl(body, ec);
    }
    void on_finish_impl(beast::error_code&) override {}

    Response& out_;
    BodySink sink_;
    size_t body_bytes_max_;
    size_t received_ = 0;
    bool streaming_ = false;
    std::optional<Error> failure_;
};

}  // namespace

Result<Url> parse_url(std::string_view url) {
    Url out;
    std::string_view rest;
    if (url.starts_with("https://")) {
        out.tls = true;
        out.port = 443;
        rest = url.substr(8);
    } else if (url.starts_with("http://")) {
        rest = url.substr(7);
    } else {
        return Error(ErrorCode::invalid_argument,
                     fmt::format("'{}' is not an http:// or https:// URL", url));
    }
    const size_t slash = rest.find('/');
    const std::string_view authority = rest.substr(0, slash);
    std::string prefix = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
    while (!prefix.empty() && prefix.back() == '/') {
        prefix.pop_back();
    }
    out.prefix = prefix;
    std::string_view host = authority;
    // The port's colon: the last one, unless it is inside an IPv6 literal ("[::1]").
    size_t colon = authority.rfind(':');
    const size_t bracket = authority.rfind(']');
    if (bracket != std::string_view::npos && colon != std::string_view::npos && colon < bracket) {
        colon = std::string_view::npos;
    }
    if (colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        const std::string_view port = authority.substr(colon + 1);
        unsigned value = 0;
        if (port.empty() || port.size() > 5) {
            return Error(ErrorCode::invalid_argument, fmt::format("'{}': bad port", url));
        }
        for (char c : port) {
            if (c < '0' || c > '9') {
                return Error(ErrorCode::invalid_argument, fmt::format("'{}': bad port", url));
            }
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        if (value == 0 || value > 65535) {
            return Error(ErrorCode::invalid_argument, fmt::format("'{}': bad port", url));
        }
        out.port = static_cast<uint16_t>(value);
    }
    if (host.starts_with('[') && host.ends_with(']')) {
        host = host.substr(1, host.size() - 2);
    }
    if (host.empty() || has_control(host) || has_control(prefix)) {
        return Error(ErrorCode::invalid_argument, fmt::format("'{}': no host", url));
    }
    out.host = std::string(host);
    return out;
}

io::Task<Result<Response>> send(io::Network& network, Url url, Request request, BodySink on_body,
                                size_t body_bytes_max) {
    // The Host header names the port only when it is not the scheme's default.
    const std::string host_header = url.host.find(':') != std::string::npos
                                        ? "[" + url.host + "]"
                                        : url.host;
    const bool default_port = url.port == (url.tls ? 443 : 80);
    std::string head = fmt::format(
        "{} {} HTTP/1.1\r\nHost: {}{}\r\nConnection: close\r\nContent-Length: {}\r\n",
        request.method, request.path, host_header,
        default_port ? "" : ":" + std::to_string(url.port), request.body.size());
    for (const auto& [name, value] : request.headers) {
        if (has_control(name) || has_control(value)) {
            co_return Error(ErrorCode::invalid_argument,
                            fmt::format("header '{}' holds a control character", name));
        }
        head += name + ": " + value + "\r\n";
    }
    head += "\r\n";
    head += request.body;
    io::Address address;
    address.host = url.host;
    address.port = url.port;
    // Two statements, not a conditional expression: GCC 12 mis-compiles co_await inside ?:.
    Result<std::unique_ptr<io::Connection>> connected = Error(ErrorCode::io_error, "not connected");
    if (url.tls) {
        connected = co_await network.connect_tls(address, url.host);
    } else {
        connected = co_await network.connect(address);
    }
    if (!connected.ok()) {
        co_return Error(ErrorCode::unavailable,
                        fmt::format("cannot connect to {}:{}: {}", url.host, url.port,
                                    connected.error().message));
    }
    std::unique_ptr<io::Connection> connection = std::move(*connected);
    struct Closer {
        io::Connection* c;
        ~Closer() { c->close(); }
    } closer{connection.get()};
    Status written = co_await connection->write_all(std::span<const char>(head.data(), head.size()));
    if (!written.ok()) {
        co_return Error(ErrorCode::unavailable,
                        fmt::format("sending to {}:{} failed: {}", url.host, url.port,
                                    written.error().message));
    }
    Response response;
    ResponseParser parser(response, std::move(on_body), body_bytes_max);
    std::string buffer;
    std::vector<char> chunk(read_chunk_bytes);
    beast::error_code ec;
    while (!parser.is_done()) {
        if (!buffer.empty()) {
            const size_t used = parser.put(beast::net::const_buffer(buffer.data(), buffer.size()), ec);
            buffer.erase(0, used);
            if (ec == bhttp::error::need_more) {
                ec = {};
            } else if (ec) {
                break;
            } else if (used > 0) {
                continue;
            }
        }
        Result<size_t> n = co_await connection->read_some(chunk);
        if (!n.ok()) {
            co_return Error(ErrorCode::unavailable,
                            fmt::format("the connection to {}:{} broke: {}", url.host, url.port,
                                        n.error().message));
        }
        if (*n == 0) {
            parser.put_eof(ec);
            if (!ec && !parser.is_done()) {
                ec = bhttp::error::partial_message;
            }
            break;
        }
        buffer.append(chunk.data(), *n);
    }
    if (const Error* failure = parser.failure()) {
        co_return Error(failure->code, failure->message);
    }
    if (ec) {
        if (ec == bhttp::error::partial_message && response.status != 0) {
            co_return Error(ErrorCode::unavailable,
                            fmt::format("{}:{} closed the connection mid-answer", url.host, url.port));
        }
        co_return Error(ErrorCode::corruption,
                        fmt::format("{}:{} answered something that is not HTTP: {}", url.host,
                                    url.port, ec.message()));
    }
    co_return response;
}

std::vector<SseSplitter::Event> SseSplitter::feed(std::string_view bytes) {
    std::vector<Event> out;
    for (char c : bytes) {
        if (c != '\n') {
            line_.push_back(c);
            continue;
        }
        if (!line_.empty() && line_.back() == '\r') {
            line_.pop_back();
        }
        if (line_.empty()) {
            if (has_data_ || !current_.event.empty()) {
                out.push_back(std::move(current_));
            }
            current_ = Event{};
            has_data_ = false;
        } else if (line_.front() != ':') {
            const size_t colon = line_.find(':');
            const std::string field = line_.substr(0, colon);
            std::string value = colon == std::string::npos ? "" : line_.substr(colon + 1);
            if (!value.empty() && value.front() == ' ') {
                value.erase(0, 1);
            }
            if (field == "data") {
                if (has_data_) {
                    current_.data += '\n';
                }
                current_.data += value;
                has_data_ = true;
            } else if (field == "event") {
                current_.event = value;
            }
        }
        line_.clear();
    }
    return out;
}

}  // namespace kelpie::llm::http
