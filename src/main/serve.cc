#include <spdlog/spdlog.h>

#include "base/version.h"
#include "io/real_world.h"
#include "main/commands.h"
#include "server/server.h"

namespace kelpie::cli {

namespace {

// Waits for SIGINT or SIGTERM, then stops the server gracefully and the world after it.
io::Task<void> stop_on_signal(io::RealWorld* world, server::Server* server) {
    const std::string signal = co_await world->wait_for_shutdown_signal();
    spdlog::info("received {}, shutting down", signal);
    co_await server->stop();
    world->stop();
}

}  // namespace

int run_serve(const ServeOptions& options) {
    auto data_dir = io::make_directories(options.data_dir);
    if (!data_dir.ok()) {
        spdlog::error("cannot use data directory: {}", data_dir.error().message);
        return 1;
    }
    io::RealWorld world;
    server::Server server(world.executor(), world.network());
    auto address = server.start(io::Address{options.host, options.port});
    if (!address.ok()) {
        spdlog::error("cannot listen on {}:{}: {}", options.host, options.port,
                      address.error().message);
        return 1;
    }
    spdlog::info("kelpie {} listening on http://{} with data in {}", version_string,
                 address->to_string(), *data_dir);

    io::spawn(world.executor(), stop_on_signal(&world, &server));
    world.run();
    spdlog::info("stopped");
    return 0;
}

}  // namespace kelpie::cli
