#include "sim/cluster.h"

#include <fmt/format.h>

namespace kelpie::sim {

SimCluster::SimCluster(io::SimWorld& world, SimClusterOptions options)
    : world_(world), options_(std::move(options)) {
    store_executor_ = &world_.add_node();
    disk_ = store::make_memory_disk();
    open_store();
    nodes_.resize(options_.nodes);
    for (size_t i = 0; i < nodes_.size(); i++) {
        nodes_[i].executor = &world_.add_node();
        make_node_objects(i);
    }
}

namespace {

// Abandons a node's objects: their tasks may still be suspended in the world (or be a dead
// node's, which never resume), so they must never be destroyed — a killed process's memory.
void abandon(SimCluster::Node& n) {
    (void)n.runtime.release();
    (void)n.registry.release();
    (void)n.link.release();
}

}  // namespace

void SimCluster::open_store() {
    store::MemoryStoreOptions o = options_.store;
    o.disk = disk_;
    Result<std::unique_ptr<store::Store>> s = store::make_memory_store(*store_executor_, o);
    KELPIE_ASSERT_MSG(s.ok(), "the memory store does not open");
    store_ = std::move(*s);
    for (Node& n : nodes_) {
        if (n.link != nullptr) {
            n.link->set_inner(store_.get());
        }
    }
}

void SimCluster::crash_store() {
    if (store_ == nullptr) {
        return;
    }
    for (Node& n : nodes_) {
        n.link->set_inner(nullptr);
    }
    // Queued commits fail (the links report them as broken connections); the object is abandoned
    // like the process's memory, since calls in flight may still hold its transactions.
    io::block_on(world_, *store_executor_, store_->close());
    (void)store_.release();
}

void SimCluster::restart_store() {
    crash_store();
    open_store();
}

SimCluster::~SimCluster() {
    for (Node& n : nodes_) {
        if (n.up) {
            abandon(n);
        }
    }
    for (Node& n : graveyard_) {
        abandon(n);
    }
    if (store_ == nullptr) {
        return;
    }
    io::block_on(world_, *store_executor_, store_->close());
    // Tasks still suspended in the world (a paused or killed node's, a call in flight) may hold
    // transactions on the store: like them, it is abandoned with the world, never destroyed.
    (void)store_.release();
}

void SimCluster::make_node_objects(size_t i) {
    Node& n = nodes_[i];
    n.link = std::make_unique<StoreLink>(*n.executor, *store_executor_, store_.get(), options_.link);
    registry::RegistryOptions ro = options_.registry;
    ro.node_id = fmt::format("node-{}", i + 1);
    ro.address = ro.node_id;
    n.registry = std::make_unique<registry::Registry>(*n.executor, *n.link, ro);
    n.runtime = std::make_unique<actor::Runtime>(*n.executor, *n.link, *n.registry, options_.runtime);
}

void SimCluster::register_type(std::string type, actor::ActorFactory factory) {
    for (Node& n : nodes_) {
        n.runtime->register_type(type, factory);
    }
    types_.emplace_back(std::move(type), std::move(factory));
}

Status SimCluster::start(size_t i) {
    Node& n = nodes_.at(i);
    KELPIE_ASSERT(!n.up);
    registry::Registry* r = n.registry.get();
    Status started = run(i, [](registry::Registry* reg) -> io::Task<Status> {
        co_return co_await reg->start();
    }(r));
    if (!started.ok()) {
        return started;
    }
    n.runtime->start();
    n.up = true;
    return {};
}

Status SimCluster::start_all() {
    for (size_t i = 0; i < nodes_.size(); i++) {
        KELPIE_TRY(start(i));
    }
    return {};
}

void SimCluster::stop(size_t i) {
    Node& n = nodes_.at(i);
    if (!n.up) {
        return;
    }
    actor::Runtime* rt = n.runtime.get();
    registry::Registry* r = n.registry.get();
    run(i, [](actor::Runtime* runtime, registry::Registry* reg) -> io::Task<void> {
        co_await runtime->stop();
        co_await reg->stop();
    }(rt, r));
    n.up = false;
}

void SimCluster::stop_all() {
    for (size_t i = 0; i < nodes_.size(); i++) {
        stop(i);
    }
}

void SimCluster::crash(size_t i) {
    Node& n = nodes_.at(i);
    n.executor->kill();
    graveyard_.push_back(std::move(n));
    Node fresh;
    fresh.executor = &world_.add_node();
    nodes_[i] = std::move(fresh);
    make_node_objects(i);
    for (const auto& [type, factory] : types_) {
        nodes_[i].runtime->register_type(type, factory);
    }
    for (const NodeHook& hook : hooks_) {
        hook(i, nodes_[i]);
    }
}

void SimCluster::on_node_objects(NodeHook hook) {
    for (size_t i = 0; i < nodes_.size(); i++) {
        hook(i, nodes_[i]);
    }
    hooks_.push_back(std::move(hook));
}

}  // namespace kelpie::sim
