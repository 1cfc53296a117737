// Benchmarks of the world layer, each beside a baseline measured in the same run:
//   executor post + resume (real)   vs  a bare boost::asio::post round trip on one io_context
//   Task create + await             (frame allocation + symmetric transfer; no baseline: pure cost)
//   simulated events                events per second of the discrete-event loop
// After the table, a summary prints the ratios. Figures, not assertions: nothing here fails.

#include <benchmark/benchmark.h>

#include <boost/asio.hpp>
#include <cstdio>
#include <map>
#include <string>

#include "io/executor.h"
#include "io/real/real_executor.h"
#include "io/sim_world.h"

namespace {

namespace asio = boost::asio;
using namespace kelpie;

// Baseline: a handler that re-posts itself; one iteration = one post + one handler run.
void BM_AsioPostRoundTrip(benchmark::State& state) {
    asio::io_context context(1);
    struct Repost {
        asio::io_context* context;
        void operator()() const { asio::post(*context, Repost{context}); }
    };
    asio::post(context, Repost{&context});
    for (auto _ : state) {
        context.run_one();
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AsioPostRoundTrip);

// Ours: a coroutine that yields through the real executor; one iteration = one post + resume.
// Starts a coroutine that yields forever on `ex`: each resume is one post + resume. The caller
// destroys the returned handle when done.
std::coroutine_handle<> start_yielder(io::Executor& ex) {
    auto yielder = [](io::Executor* e) -> io::Task<void> {
        for (;;) {
            co_await e->yield();
        }
    };
    io::Task<void> task = yielder(&ex);
    auto handle = task.release();
    ex.post(handle);
    return handle;
}

void BM_ExecutorPostResume(benchmark::State& state) {
    asio::io_context context(1);
    io::real::RealExecutor ex(context, 1);
    std::coroutine_handle<> handle = start_yielder(ex);
    for (auto _ : state) {
        context.run_one();
    }
    state.SetItemsProcessed(state.iterations());
    handle.destroy();
}
BENCHMARK(BM_ExecutorPostResume);

io::Task<int> leaf(int x) { co_return x + 1; }

// Task creation + await + completion, inline (no executor involved).
void BM_TaskCreateAwait(benchmark::State& state) {
    io::SimWorld world(io::SimWorldOptions{.seed = 1});
    io::SimExecutor& ex = world.add_node();
    auto body = [](benchmark::State* s) -> io::Task<int> {
        int sum = 0;
        for (auto _ : *s) {
            sum = co_await leaf(sum);
        }
        co_return sum;
    };
    benchmark::DoNotOptimize(io::block_on(world, ex, body(&state)));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TaskCreateAwait);

// The simulated executor: one iteration = one event (a coroutine yielding, i.e. post + resume).
void BM_SimEvents(benchmark::State& state) {
    io::SimWorld world(io::SimWorldOptions{.seed = 1});
    io::SimExecutor& ex = world.add_node();
    std::coroutine_handle<> handle = start_yielder(ex);
    for (auto _ : state) {
        world.step();
    }
    state.SetItemsProcessed(state.iterations());
    handle.destroy();
}
BENCHMARK(BM_SimEvents);

// The simulated executor with timers: 64 sleepers with random 1-100 ms sleeps; one iteration =
// one timer event.
void BM_SimTimers(benchmark::State& state) {
    io::SimWorld world(io::SimWorldOptions{.seed = 1});
    io::SimExecutor& ex = world.add_node();
    auto sleeper = [](io::Executor* e) -> io::Task<void> {
        for (;;) {
            co_await e->sleep_for(Duration::ms(e->random().between(1, 100)));
        }
    };
    std::vector<std::coroutine_handle<>> handles;
    for (int i = 0; i < 64; i++) {
        io::Task<void> t = sleeper(&ex);
        handles.push_back(t.release());
        ex.post(handles.back());
    }
    for (auto _ : state) {
        world.step();
    }
    state.SetItemsProcessed(state.iterations());
    // The frames are abandoned with the world (they are suspended in timers that never fire).
}
BENCHMARK(BM_SimTimers);

// Captures each benchmark's time per iteration to print the ratios after the table.
class SummaryReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& r : runs) {
            ns_per_op_[r.benchmark_name()] = r.GetAdjustedRealTime();
        }
        ConsoleReporter::ReportRuns(runs);
    }
    void Summarize() const {
        auto get = [&](const char* name) {
            auto it = ns_per_op_.find(name);
            return it == ns_per_op_.end() ? 0.0 : it->second;
        };
        const double asio_ns = get("BM_AsioPostRoundTrip");
        const double ours_ns = get("BM_ExecutorPostResume");
        const double sim_ns = get("BM_SimEvents");
        const double timer_ns = get("BM_SimTimers");
        std::printf("\nsummary (same run, same machine):\n");
        if (asio_ns > 0 && ours_ns > 0) {
            std::printf("  executor post+resume: %.1f ns vs bare asio::post %.1f ns -> %.2fx "
                        "(target <= 2x)\n",
                        ours_ns, asio_ns, ours_ns / asio_ns);
        }
        if (sim_ns > 0) {
            std::printf("  simulated executor: %.2f M events/s (target >= 1 M/s)\n", 1e3 / sim_ns);
        }
        if (timer_ns > 0) {
            std::printf("  simulated timers: %.2f M timer events/s\n", 1e3 / timer_ns);
        }
    }

private:
    std::map<std::string, double> ns_per_op_;
};

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    SummaryReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    reporter.Summarize();
    benchmark::Shutdown();
    return 0;
}
