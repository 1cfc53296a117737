#pragma once

// Private to llm/: one HTTP/1.1 request per connection over io::Network, the response parsed by
// Beast's parser (as the server parses requests), and a Server-Sent Events splitter. http:// and
// https:// (TLS from io::Network::connect_tls, the certificate checked against the host).

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/units.h"
#include "io/network.h"
#include "io/task.h"

namespace kelpie::llm::http {

struct Url {
    bool tls = false;  // https
    std::string host;
    uint16_t port = 80;  // 443 for https unless given
    std::string prefix;  // path before the endpoint ("/v1"), no trailing slash
};
// "http[s]://host[:port][/prefix]"; anything else gives invalid_argument.
Result<Url> parse_url(std::string_view url);

struct Response {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;                            // empty when streamed to on_body
};

// Receives the body as it arrives; an error stops the transfer (the request fails with it).
using BodySink = std::function<Status(std::string_view piece)>;

struct Request {
    std::string method = "POST";
    std::string path;  // with the URL's prefix already applied
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

// Sends `request` and reads the answer. With `on_body` set, a 2xx body goes to it piece by piece
// (other statuses are still collected in Response::body, for their error message). Fails with
// unavailable (connection refused or broken), corruption (not HTTP), limit_exceeded (the answer
// exceeds `body_bytes_max`). Timeouts are the caller's (io::with_timeout).
io::Task<Result<Response>> send(io::Network& network, Url url, Request request, BodySink on_body,
                                size_t body_bytes_max);

// Splits a text/event-stream into events as bytes arrive (any split of the bytes gives the same
// events): `event:` and `data:` fields (several data lines joined by '\n'), comments ignored,
// CRLF or LF line ends.
class SseSplitter {
public:
    struct Event {
        std::string event;  // empty: unnamed
        std::string data;
    };
    // Feeds bytes; returns the events completed by them.
    std::vector<Event> feed(std::string_view bytes);

private:
    std::string line_;
    Event current_;
    bool has_data_ = false;
};

}  // namespace kelpie::llm::http
