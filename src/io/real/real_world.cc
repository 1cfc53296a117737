#include "io/real_world.h"

#include <csignal>
#include <filesystem>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include <boost/asio.hpp>

#include "io/real/asio_await.h"
#include "io/real/real_executor.h"
#include "io/real/real_network.h"

namespace kelpie::io {

namespace asio = boost::asio;

namespace {

// A fixed set of threads taking work from one queue. Stops (joining its threads) on destruction,
// after running the work already submitted.
class ThreadPool final : public BlockingPool {
public:
    explicit ThreadPool(uint32_t threads) {
        for (uint32_t i = 0; i < threads; i++) {
            threads_.emplace_back([this] { run(); });
        }
    }
    ~ThreadPool() override {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& t : threads_) {
            t.join();
        }
    }
    void submit(std::function<void()> work) override {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            KELPIE_ASSERT(!stopping_);
            queue_.push_back(std::move(work));
        }
        wake_.notify_one();
    }

private:
    void run() {
        for (;;) {
            std::function<void()> work;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
                if (queue_.empty()) {
                    return;
                }
                work = std::move(queue_.front());
                queue_.pop_front();
            }
            work();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> queue_;  // guarded by mutex_
    bool stopping_ = false;                    // guarded by mutex_
    std::vector<std::thread> threads_;
};

}  // namespace

struct RealWorld::Impl {
    std::unique_ptr<ThreadPool> blocking;
    struct Shard {
        asio::io_context context{1};
        std::unique_ptr<real::RealExecutor> executor;
        std::unique_ptr<real::RealNetwork> network;
        std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
        std::thread thread;
    };
    std::vector<std::unique_ptr<Shard>> shards;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> run_guard;
    std::atomic<bool> stop_requested{false};
};

RealWorld::RealWorld(RealWorldOptions options) : impl_(std::make_unique<Impl>()) {
    KELPIE_ASSERT(options.shards >= 1);
    KELPIE_ASSERT(options.blocking_threads >= 1);
    impl_->blocking = std::make_unique<ThreadPool>(options.blocking_threads);
    uint64_t seed = 0;
    if (options.seed.has_value()) {
        seed = *options.seed;
    } else {
        std::random_device device;
        seed = (static_cast<uint64_t>(device()) << 32) ^ device();
    }
    for (uint32_t i = 0; i < options.shards; i++) {
        auto shard = std::make_unique<Impl::Shard>();
        shard->executor = std::make_unique<real::RealExecutor>(shard->context, mix64(seed + i));
        shard->network = std::make_unique<real::RealNetwork>(shard->context, options.tls_ca_file);
        impl_->shards.push_back(std::move(shard));
    }
    for (uint32_t i = 1; i < options.shards; i++) {
        Impl::Shard& shard = *impl_->shards[i];
        shard.work.emplace(shard.context.get_executor());
        shard.thread = std::thread([&shard] { shard.context.run(); });
    }
}

Status RealWorld::prepare_tls() {
    Result<boost::asio::ssl::context*> context = impl_->shards[0]->network->tls_context();
    if (!context.ok()) {
        return std::move(context).error();
    }
    return Status();
}

RealWorld::~RealWorld() {
    stop();
    for (auto& shard : impl_->shards) {
        if (shard->thread.joinable()) {
            shard->thread.join();
        }
    }
    impl_->blocking.reset();  // finishes submitted work; its completions post into the contexts
    // Executors (and their timers) go before their io_contexts.
    for (auto& shard : impl_->shards) {
        shard->network.reset();
        shard->executor.reset();
    }
}

uint32_t RealWorld::shard_count() const { return static_cast<uint32_t>(impl_->shards.size()); }

Executor& RealWorld::executor(uint32_t shard) {
    KELPIE_ASSERT(shard < impl_->shards.size());
    return *impl_->shards[shard]->executor;
}

BlockingPool& RealWorld::blocking_pool() { return *impl_->blocking; }

Network& RealWorld::network(uint32_t shard) {
    KELPIE_ASSERT(shard < impl_->shards.size());
    return *impl_->shards[shard]->network;
}

void RealWorld::run() {
    if (impl_->stop_requested) {
        return;
    }
    asio::io_context& context = impl_->shards[0]->context;
    impl_->run_guard.emplace(context.get_executor());
    // An io_context stops by itself whenever it runs out of work (e.g. inside an earlier
    // block_on); it must be restarted before it runs again.
    if (context.stopped()) {
        context.restart();
    }
    context.run();
    impl_->run_guard.reset();
    context.restart();
}

bool RealWorld::run_one() {
    asio::io_context& context = impl_->shards[0]->context;
    if (context.stopped()) {
        context.restart();
    }
    if (context.run_one() > 0) {
        return true;
    }
    context.restart();  // out of work: make the context usable again
    return false;
}

void RealWorld::stop() {
    impl_->stop_requested = true;
    for (auto& shard : impl_->shards) {
        shard->work.reset();
        shard->context.stop();
    }
}

Task<int> RealWorld::wait_for_signal(std::vector<int> signals) {
    asio::signal_set set(impl_->shards[0]->context);
    for (int s : signals) {
        set.add(s);
    }
    // lint: allow(lambda-await): not a coroutine call; the closure holds no owning member
    auto [ec, number] = co_await real::asio_op<int>(
        [&set](auto handler) { set.async_wait(std::move(handler)); },
        [&set] {
            real::error_code ignored;
            set.cancel(ignored);
        });
    KELPIE_ASSERT_MSG(!ec, "signal wait failed");
    co_return number;
}

Task<std::string> RealWorld::wait_for_shutdown_signal() {
    std::vector<int> signals;
    signals.push_back(SIGINT);
    signals.push_back(SIGTERM);
    const int number = co_await wait_for_signal(std::move(signals));
    co_return std::string(number == SIGINT ? "SIGINT" : "SIGTERM");
}

namespace {
int64_t monotonic_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

Stopwatch::Stopwatch() : start_ns_(monotonic_ns()) {}

Duration Stopwatch::elapsed() const { return Duration::ns(monotonic_ns() - start_ns_); }

Result<std::string> make_directories(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path absolute = fs::absolute(path, ec);
    if (ec) {
        return Error(ErrorCode::io_error, "resolve '" + path + "': " + ec.message());
    }
    fs::create_directories(absolute, ec);
    if (ec) {
        return Error(ErrorCode::io_error, "create directory '" + absolute.string() + "': " +
                                              ec.message());
    }
    if (!fs::is_directory(absolute, ec)) {
        return Error(ErrorCode::io_error, "'" + absolute.string() + "' is not a directory");
    }
    return absolute.lexically_normal().string();
}

}  // namespace kelpie::io
