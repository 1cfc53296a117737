#pragma once

// SimCluster: several nodes of the real runtime (registry + actor runtime) in one simulated world,
// sharing one memory store that lives on its own simulated node and is reached over StoreLinks.
// Used by the simulator's workloads and by the registry and actor tests.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actor/actor.h"
#include "io/sim_world.h"
#include "registry/registry.h"
#include "sim/store_link.h"
#include "store/memory_store.h"

namespace kelpie::sim {

struct SimClusterOptions {
    size_t nodes = 3;
    store::MemoryStoreOptions store;
    registry::RegistryOptions registry;  // node_id is set per node ("node-1", ...)
    actor::RuntimeOptions runtime;
    LinkFaults link;
};

class SimCluster {
public:
    struct Node {
        io::SimExecutor* executor = nullptr;
        std::unique_ptr<StoreLink> link;
        std::unique_ptr<registry::Registry> registry;
        std::unique_ptr<actor::Runtime> runtime;
        bool up = false;
    };

    // Adds the store node and `options.nodes` runtime nodes to `world`. Nothing starts yet.
    SimCluster(io::SimWorld& world, SimClusterOptions options);
    ~SimCluster();

    io::SimWorld& world() { return world_; }
    io::SimExecutor& store_executor() { return *store_executor_; }
    // REQUIRES: store_up().
    store::Store& store() { return *store_; }
    size_t size() const { return nodes_.size(); }
    Node& node(size_t i) { return nodes_.at(i); }

    // Every node's runtime gets these types (before start()).
    void register_type(std::string type, actor::ActorFactory factory);
    // Runs `hook` for every node's objects now and for each incarnation made by crash(), before
    // its runtime starts: for layers built on a node's runtime (an agent service per node, say).
    // What the hook builds on a crashed incarnation must never be destroyed (see graveyard_).
    using NodeHook = std::function<void(size_t index, Node& node)>;
    void on_node_objects(NodeHook hook);

    // Starts node i (registry, then runtime), running the world until it is up. Returns the
    // registry's status (the runtime starts only if it is ok).
    Status start(size_t i);
    Status start_all();
    // Stops node i cleanly (deactivates its actors, revokes its lease), running the world.
    void stop(size_t i);
    void stop_all();
    // Crash-restart node i: drops its registry and runtime without any clean-up, as a killed
    // process would (its tasks never resume), then makes fresh ones with the same node id.
    void crash(size_t i);

    // The store process dies (everything in its memory is gone; its disk stays) and stays down
    // until restart_store(): nodes' calls fail with unavailable meanwhile.
    void crash_store();
    // Opens a new store process on the same disk (crashing the current one first if it is up).
    void restart_store();
    bool store_up() const { return store_ != nullptr; }

    // Runs `task` on node i's executor until it completes, driving the whole world.
    template <typename T>
    T run(size_t i, io::Task<T> task) {
        return io::block_on(world_, *nodes_.at(i).executor, std::move(task));
    }

private:
    void make_node_objects(size_t i);
    void open_store();

    io::SimWorld& world_;
    SimClusterOptions options_;
    io::SimExecutor* store_executor_ = nullptr;
    std::shared_ptr<store::MemoryDisk> disk_;
    std::unique_ptr<store::Store> store_;
    std::vector<Node> nodes_;
    std::vector<std::pair<std::string, actor::ActorFactory>> types_;
    std::vector<NodeHook> hooks_;
    // Objects of crashed incarnations: never destroyed (their suspended tasks still point at them
    // and will never run again), like the memory of a killed process.
    std::vector<Node> graveyard_;
};

}  // namespace kelpie::sim
