#pragma once

// The Kelpie API server: the Letta-compatible REST API over HttpServer. So far it answers the
// health check; the Letta resources arrive with the agent server.
//
//   GET /v1/health, /v1/health/   200 {"status":"ok","version":"<kelpie version>"}
//   anything else                 404 {"detail":"Not Found: <path>"} (405 for a known path with
//                                 another method)

#include <memory>

#include "io/executor.h"
#include "io/network.h"
#include "server/http.h"

namespace kelpie::server {

// Routes one request. Pure: no I/O beyond what the routes themselves do.
io::Task<HttpResponse> handle_api_request(HttpRequest request);

class Server {
public:
    Server(io::Executor& executor, io::Network& network);

    // Starts listening; returns the bound address.
    Result<io::Address> start(const io::Address& address);
    // Graceful stop (see HttpServer::stop).
    io::Task<void> stop();

private:
    HttpServer http_;
};

}  // namespace kelpie::server
