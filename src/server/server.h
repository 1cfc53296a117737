#pragma once

// The Kelpie API server: the Letta-compatible REST API over HttpServer. So far it answers the
// health check; the Letta resources arrive with the agent server.
//
//   GET /v1/health, /v1/health/   200 {"status":"ok","version":"<kelpie version>",
//                                      "store":"<backend: rocksdb | etcd | memory>"}
//   anything else                 404 {"detail":"Not Found: <path>"} (405 for a known path with
//                                 another method)

#include <memory>

#include "io/executor.h"
#include "io/network.h"
#include "server/http.h"
#include "store/store.h"

namespace kelpie::server {

class Server {
public:
    // `store` must outlive the server.
    Server(io::Executor& executor, io::Network& network, store::Store& store);

    // Starts listening; returns the bound address.
    Result<io::Address> start(const io::Address& address);
    // Graceful stop (see HttpServer::stop).
    io::Task<void> stop();

    // Routes one request.
    io::Task<HttpResponse> handle(HttpRequest request);

private:
    store::Store& store_;
    HttpServer http_;
};

}  // namespace kelpie::server
