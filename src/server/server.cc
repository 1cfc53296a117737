#include "server/server.h"

#include <boost/json.hpp>

#include "base/version.h"

namespace kelpie::server {

namespace {

HttpResponse health(std::string_view store) {
    boost::json::object body;
    body["status"] = "ok";
    body["version"] = version_string;
    body["store"] = store;
    return HttpResponse::json(200, boost::json::serialize(body));
}

}  // namespace

io::Task<HttpResponse> Server::handle(HttpRequest request) {
    if (request.path == "/v1/health" || request.path == "/v1/health/") {
        if (request.method != "GET") {
            HttpResponse r = HttpResponse::error(405, "Method Not Allowed: " + request.method);
            r.headers.push_back({"Allow", "GET"});
            co_return r;
        }
        co_return health(store_.backend_name());
    }
    co_return HttpResponse::error(404, "Not Found: " + request.path);
}

Server::Server(io::Executor& executor, io::Network& network, store::Store& store)
    : store_(store),
      http_(executor, network, [this](HttpRequest r) { return handle(std::move(r)); }) {}

Result<io::Address> Server::start(const io::Address& address) { return http_.start(address); }

io::Task<void> Server::stop() { return http_.stop(); }

}  // namespace kelpie::server
