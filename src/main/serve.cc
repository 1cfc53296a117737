#include <spdlog/spdlog.h>

#include "actor/actor.h"
#include "agent/agent.h"
#include "llm/llm.h"
#include "base/version.h"
#include "io/real_world.h"
#include "main/commands.h"
#include "registry/registry.h"
#include "server/server.h"
#include "store/etcd_store.h"
#include "store/memory_store.h"
#include "store/rocksdb_store.h"

namespace kelpie::cli {

namespace {

// Waits for SIGINT or SIGTERM, then stops the server gracefully, deactivates the actors, gives up
// the node lease, closes the store, and stops the world.
io::Task<void> stop_on_signal(io::RealWorld* world, server::Server* server,
                              actor::Runtime* runtime, registry::Registry* registry,
                              store::Store* store) {
    const std::string signal = co_await world->wait_for_shutdown_signal();
    spdlog::info("received {}, shutting down", signal);
    co_await server->stop();
    co_await runtime->stop();
    co_await registry->stop();
    co_await store->close();
    world->stop();
}

// The providers named by the options; a provider that cannot be set up is reported and left out.
void add_providers(const ServeOptions& options, io::RealWorld& world, llm::Providers& providers) {
    if (!options.openai_base_url.empty() || !options.openai_api_key.empty()) {
        llm::ProviderConfig config;
        config.base_url = options.openai_base_url.empty() ? "https://api.openai.com/v1"
                                                          : options.openai_base_url;
        config.api_key = options.openai_api_key;
        auto p = llm::make_openai_provider(world.executor(), world.network(), config);
        if (p.ok()) {
            providers.add(std::move(*p));
            spdlog::info("LLM provider openai at {}", config.base_url);
        } else {
            spdlog::warn("LLM provider openai at {} not available: {}", config.base_url,
                         p.error().message);
        }
    }
    if (!options.anthropic_base_url.empty() || !options.anthropic_api_key.empty()) {
        llm::ProviderConfig config;
        config.base_url = options.anthropic_base_url.empty() ? "https://api.anthropic.com"
                                                             : options.anthropic_base_url;
        config.api_key = options.anthropic_api_key;
        auto p = llm::make_anthropic_provider(world.executor(), world.network(), config);
        if (p.ok()) {
            providers.add(std::move(*p));
            spdlog::info("LLM provider anthropic at {}", config.base_url);
        } else {
            spdlog::warn("LLM provider anthropic at {} not available: {}", config.base_url,
                         p.error().message);
        }
    }
    if (providers.names().empty()) {
        spdlog::warn("no LLM provider configured: set OPENAI_BASE_URL / OPENAI_API_KEY (or the "
                     "Anthropic ones); agents answer with stop_reason llm_api_error until then");
    }
}

std::string default_node_id(const std::string& store_spec, io::Executor& executor) {
    if (!store_spec.starts_with("etcd://")) {
        return "local";  // the embedded store's lock makes this process its only user
    }
    return fmt::format("node-{:016x}", executor.random().next_u64());
}

// Opens the store named by --store. Returns it and a description for the start-up line.
io::Task<Result<std::unique_ptr<store::Store>>> open_store(io::RealWorld* world,
                                                          std::string spec, std::string data_dir,
                                                          std::string* where) {
    if (spec == "rocksdb") {
        *where = data_dir + "/store";
        // A named local, not a temporary inside the co_await: g++ 12 destroys such temporaries
        // twice.
        store::RocksDbStoreOptions options{.path = *where};
        auto opened = co_await store::open_rocksdb_store(world->executor(), world->blocking_pool(),
                                                         std::move(options));
        co_return opened;
    }
    if (spec.starts_with("etcd://")) {
        auto options = store::parse_etcd_url(spec);
        if (!options.ok()) {
            co_return std::move(options).error();
        }
        *where = spec;
        auto opened = co_await store::open_etcd_store(world->executor(), world->blocking_pool(),
                                                      std::move(options).value());
        co_return opened;
    }
    if (spec == "memory") {
        *where = "memory (nothing is kept after exit)";
        co_return store::make_memory_store(world->executor());
    }
    co_return Error(ErrorCode::invalid_argument,
                    "unknown --store '" + spec + "': want rocksdb, memory or etcd://host:port,...");
}

}  // namespace

int run_serve(const ServeOptions& options) {
    auto data_dir = io::make_directories(options.data_dir);
    if (!data_dir.ok()) {
        spdlog::error("cannot use data directory: {}", data_dir.error().message);
        return 1;
    }
    // Blocking calls (RocksDB, synchronous etcd gRPC) each hold a pool thread while they wait.
    io::RealWorld world(
        io::RealWorldOptions{.blocking_threads = 16, .tls_ca_file = options.tls_ca_file});
    if (!options.tls_ca_file.empty()) {
        if (Status tls = world.prepare_tls(); !tls.ok()) {
            spdlog::error("--tls-ca-file: {}", tls.error().message);
            return 1;
        }
    }
    std::string where;
    auto opened = io::block_on(world, world.executor(),
                               open_store(&world, options.store, *data_dir, &where));
    if (!opened.ok()) {
        spdlog::error("cannot open the store: {}", opened.error().to_string());
        return 1;
    }
    std::unique_ptr<store::Store> store = std::move(opened).value();

    // This process is a node of the actor runtime: it holds a node lease from here on.
    registry::RegistryOptions node;
    node.node_id = options.node_id.empty() ? default_node_id(options.store, world.executor())
                                           : options.node_id;
    registry::Registry registry(world.executor(), *store, node);
    Status registered = io::block_on(world, world.executor(), registry.start());
    if (!registered.ok()) {
        spdlog::error("cannot register node '{}': {}", node.node_id, registered.error().to_string());
        io::block_on(world, world.executor(), store->close());
        return 1;
    }
    llm::Providers providers;
    add_providers(options, world, providers);
    actor::Runtime runtime(world.executor(), *store, registry);
    agent::ServiceOptions agent_options;
    agent_options.default_model = options.default_model;
    agent::AgentService agents(world.executor(), *store, runtime, providers, agent_options);
    agents.register_actor_types();
    runtime.start();

    server::Server server(world.executor(), world.network(), *store, &agents);
    auto address = server.start(io::Address{options.host, options.port});
    if (!address.ok()) {
        spdlog::error("cannot listen on {}:{}: {}", options.host, options.port,
                      address.error().message);
        io::block_on(world, world.executor(), runtime.stop());
        io::block_on(world, world.executor(), registry.stop());
        io::block_on(world, world.executor(), store->close());
        return 1;
    }
    spdlog::info("kelpie {} listening on http://{} with data in {} (store: {} at {}; node {})",
                 version_string, address->to_string(), *data_dir, store->backend_name(), where,
                 node.node_id);

    io::spawn(world.executor(),
              stop_on_signal(&world, &server, &runtime, &registry, store.get()));
    world.run();
    spdlog::info("stopped");
    return 0;
}

}  // namespace kelpie::cli
