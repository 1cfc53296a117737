#pragma once

// The `kelpie` binary's subcommands. main/ is the composition root: the only place that wires the
// real world to the modules.

#include <cstdint>
#include <set>
#include <string>

#include "base/units.h"

namespace kelpie::cli {

struct ServeOptions {
    std::string host = "127.0.0.1";
    uint16_t port = 8283;
    std::string data_dir = "./kelpie-data";
    // "rocksdb" (embedded, under <data_dir>/store), "memory" (nothing kept: for trying things out)
    // or "etcd://host:port,host:port,..." (a cluster).
    std::string store = "rocksdb";
    // This node's id in the cluster's registry. Empty: "local" with an embedded store (one process
    // owns the data directory), a fresh random id with etcd. Ids must be unique among live nodes.
    std::string node_id;
    // LLM providers. A provider is configured when its base URL or key is given; the base URL
    // defaults to the vendor's own.
    std::string openai_base_url;
    std::string openai_api_key;
    std::string anthropic_base_url;
    std::string anthropic_api_key;
    // Extra trusted CAs (PEM) for https model endpoints, besides the system's.
    std::string tls_ca_file;
    std::string default_model = "openai/gpt-4o-mini";
};
int run_serve(const ServeOptions& options);

struct SimOptions {
    uint64_t seed_first = 1;
    uint64_t seed_last = 1;
    uint32_t nodes = 3;
    Duration duration = Duration::s(60);
    bool canary = false;
    bool verbose = false;
    std::string bug;  // a bug switch, or empty
    std::set<std::string> faults;  // fault kinds the seeds may inject
};
int run_sim(const SimOptions& options);

}  // namespace kelpie::cli
