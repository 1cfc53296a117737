// counter_example: the Counter actor on the embedded RocksDB store, from the command line.
//
//   counter_example DATA_DIR KEY add 5       -> 5
//   counter_example DATA_DIR KEY add 2       -> 7      (state survives the process)
//   counter_example DATA_DIR KEY get         -> 7
//
// Each run is one node: it registers (node lease), activates the actor (placement claim, fenced
// load), runs one turn (fenced commit), deactivates and leaves.

#include <cstdio>
#include <string>

#include "actor/actor.h"
#include "examples/counter/counter.h"
#include "io/real_world.h"
#include "registry/registry.h"
#include "store/rocksdb_store.h"

using namespace kelpie;

int main(int argc, char** argv) {
    if (argc < 4 || argc > 5) {
        std::fprintf(stderr, "usage: counter_example DATA_DIR KEY add|get|remind [ARG]\n");
        return 2;
    }
    io::RealWorld world;
    io::Executor& ex = world.executor();
    auto opened = io::block_on(world, ex, store::open_rocksdb_store(
        ex, world.blocking_pool(), store::RocksDbStoreOptions{.path = argv[1]}));
    if (!opened.ok()) {
        std::fprintf(stderr, "counter_example: %s\n", opened.error().to_string().c_str());
        return 1;
    }
    std::unique_ptr<store::Store> s = std::move(opened).value();
    registry::RegistryOptions node;
    node.node_id = "counter-example";
    registry::Registry reg(ex, *s, node);
    actor::Runtime runtime(ex, *s, reg);
    runtime.register_type(std::string(examples::Counter::type),
                          [] { return std::make_unique<examples::Counter>(); });
    Result<std::string> result = Error(ErrorCode::internal, "not run");
    if (Status started = io::block_on(world, ex, reg.start()); !started.ok()) {
        result = started.error();
    } else {
        runtime.start();
        actor::Invocation call(argv[3], argc == 5 ? argv[4] : "");
        result = io::block_on(world, ex, runtime.invoke(actor::ActorId("counter", argv[2]), call));
        io::block_on(world, ex, runtime.stop());
        io::block_on(world, ex, reg.stop());
    }
    io::block_on(world, ex, s->close());
    if (!result.ok()) {
        std::fprintf(stderr, "counter_example: %s\n", result.error().to_string().c_str());
        return 1;
    }
    std::printf("%s\n", result->c_str());
    return 0;
}
