// Agent server benchmarks, end to end over HTTP on loopback (real time, embedded RocksDB with
// synced commits), each next to a baseline measured in the same run:
//
//   baseline   GET on a minimal server: the same HTTP server code (Beast's parser over io::Network)
//              answering a fixed JSON body as long as an agent's, with no store and no agent
//   GET agent  GET /v1/agents/{id}: committed state + blocks read from the store, rendered
//   send       POST /v1/agents/{id}/messages with a model that answers at once (the simulated
//              model, no latency): one step — journal accept, the turn, one fenced commit
//   send, in-process   the same without HTTP (AgentService::send_message)
//
// Store round trips per step: a counting wrapper around the store counts reads (get, range) and
// commits; a one-step send and a two-step send (a tool call, then the answer) give the cost of a
// turn and of each further step. Usage: agent_bench [--seconds S] (default 2). Figures only.

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "bench/latency.h"
#include "io/combinators.h"
#include "io/real_world.h"
#include "llm/sim_llm.h"
#include "registry/registry.h"
#include "server/server.h"
#include "store/rocksdb_store.h"

using namespace kelpie;
using Clock = std::chrono::steady_clock;

namespace {

using bench::print;
using bench::summarize;

double us_since(Clock::time_point start) {
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

struct Counts {
    uint64_t reads = 0;
    uint64_t commits = 0;
    uint64_t bytes_written = 0;  // keys and values set
};

class CountingTransaction final : public store::Transaction {
public:
    CountingTransaction(std::unique_ptr<store::Transaction> inner, Counts* counts)
        : inner_(std::move(inner)), counts_(counts) {}
    io::Task<Result<std::optional<store::KeyValue>>> get(std::string key) override {
        counts_->reads++;
        return inner_->get(std::move(key));
    }
    io::Task<Result<store::RangeResult>> range(std::string begin, std::string end,
                                               store::RangeOptions options) override {
        counts_->reads++;
        return inner_->range(std::move(begin), std::move(end), options);
    }
    Status set(std::string_view k, std::string_view v, store::WriteOptions o) override {
        counts_->bytes_written += k.size() + v.size();
        return inner_->set(k, v, o);
    }
    Status clear(std::string_view k) override { return inner_->clear(k); }
    Status clear_range(std::string_view b, std::string_view e) override { return inner_->clear_range(b, e); }
    Status add_read_conflict(std::string_view k) override { return inner_->add_read_conflict(k); }
    io::Task<Result<store::Revision>> commit() override {
        counts_->commits++;
        return inner_->commit();
    }
    store::Revision read_revision() const override { return inner_->read_revision(); }

private:
    std::unique_ptr<store::Transaction> inner_;
    Counts* counts_;
};

class CountingStore final : public store::Store {
public:
    explicit CountingStore(store::Store& inner) : inner_(inner) {}
    std::string_view backend_name() const override { return inner_.backend_name(); }
    std::unique_ptr<store::Transaction> begin() override {
        return std::make_unique<CountingTransaction>(inner_.begin(), &counts);
    }
    io::Task<Result<store::LeaseId>> grant_lease(Duration ttl) override { return inner_.grant_lease(ttl); }
    io::Task<Result<store::LeaseInfo>> keepalive(store::LeaseId l) override { return inner_.keepalive(l); }
    io::Task<Status> revoke_lease(store::LeaseId l) override { return inner_.revoke_lease(l); }
    io::Task<Result<store::WatchResult>> watch(std::string b, std::string e, store::Revision a,
                                               Duration t) override {
        return inner_.watch(std::move(b), std::move(e), a, t);
    }
    io::Task<Result<store::Revision>> current_revision() override { return inner_.current_revision(); }
    io::Task<void> close() override { return inner_.close(); }
    Counts counts;

private:
    store::Store& inner_;
};

// A keep-alive HTTP/1.1 client connection: one request at a time, Content-Length bodies only.
class Client {
public:
    static io::Task<std::unique_ptr<Client>> connect(io::Network* network, io::Address address) {
        auto c = std::make_unique<Client>();
        Result<std::unique_ptr<io::Connection>> conn = co_await network->connect(address);
        KELPIE_ASSERT(conn.ok());
        c->conn_ = std::move(*conn);
        c->host_ = address.to_string();
        co_return c;
    }
    // Returns the status; the body in *body.
    io::Task<int> call(std::string method, std::string target, std::string request_body, std::string* body) {
        std::string head = method + " " + target + " HTTP/1.1\r\nHost: " + host_ +
                           "\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(request_body.size()) + "\r\n\r\n" + request_body;
        Status w = co_await conn_->write_all(std::span<const char>(head.data(), head.size()));
        KELPIE_ASSERT(w.ok());
        std::span<char> chunk(chunk_);
        size_t end;
        while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
            Result<size_t> n = co_await conn_->read_some(chunk);
            KELPIE_ASSERT(n.ok() && *n > 0);
            buffer_.append(chunk.data(), *n);
        }
        const int status = std::stoi(buffer_.substr(9, 3));
        const std::string headers = buffer_.substr(0, end);
        const size_t cl = headers.find("Content-Length: ");
        KELPIE_ASSERT(cl != std::string::npos);
        const size_t length = std::stoul(headers.substr(cl + 16));
        while (buffer_.size() < end + 4 + length) {
            Result<size_t> n = co_await conn_->read_some(chunk);
            KELPIE_ASSERT(n.ok() && *n > 0);
            buffer_.append(chunk.data(), *n);
        }
        *body = buffer_.substr(end + 4, length);
        buffer_.erase(0, end + 4 + length);
        co_return status;
    }

private:
    std::unique_ptr<io::Connection> conn_;
    std::string host_;
    std::string buffer_;
    std::vector<char> chunk_ = std::vector<char>(64 * 1024);  // made once: zeroing it per call costs
};

io::Task<void> http_loop(io::Network* network, io::Address address, std::string method,
                         std::vector<std::string> targets, std::string body, int worker,
                         Clock::time_point until, std::vector<double>* out) {
    std::unique_ptr<Client> client = co_await Client::connect(network, address);
    const std::string& target = targets[static_cast<size_t>(worker) % targets.size()];
    std::string answer;
    while (Clock::now() < until) {
        const auto start = Clock::now();
        const int status = co_await client->call(method, target, body, &answer);
        KELPIE_ASSERT_MSG(status == 200, answer.c_str());
        out->push_back(us_since(start));
    }
}

// The input that makes the simulated model call a tool, then answer: a search of tool returns that
// finds nothing (the words are only in user and assistant messages), so that its return stays
// small as the history grows.
constexpr const char* further_step_input =
    R"(CALL conversation_search {\"query\":\"no such words\",\"roles\":[\"tool\"]})";

// Alternates a one-step send and a two-step send (a tool call, then the answer) to one agent, so
// that both see the same history: their difference is the cost of one further step.
io::Task<void> step_pairs(io::Network* network, io::Address address, std::string target,
                          Clock::time_point until, std::vector<double>* one, std::vector<double>* two) {
    std::unique_ptr<Client> client = co_await Client::connect(network, address);
    std::string answer;
    const std::string tool_call = std::string(R"({"input":")") + further_step_input + "\"}";
    while (Clock::now() < until) {
        auto start = Clock::now();
        KELPIE_ASSERT(co_await client->call("POST", target, R"({"input":"hi"})", &answer) == 200);
        one->push_back(us_since(start));
        start = Clock::now();
        KELPIE_ASSERT(co_await client->call("POST", target, tool_call, &answer) == 200);
        two->push_back(us_since(start));
    }
}

io::Task<void> direct_sends(agent::AgentService* service, std::vector<std::string> agents, int worker,
                            Clock::time_point until, std::vector<double>* out) {
    const std::string agent = agents[static_cast<size_t>(worker) % agents.size()];
    while (Clock::now() < until) {
        const auto start = Clock::now();
        agent::json::value body = agent::json::parse(R"({"input":"hi"})");
        Result<agent::SendResult> r = co_await service->send_message(agent, "", std::move(body), nullptr, "");
        KELPIE_ASSERT(r.ok());
        out->push_back(us_since(start));
    }
}

template <typename MakeTask>
bench::Figures measure(io::RealWorld& world, const char* what, int concurrency, double seconds,
                       MakeTask make) {
    std::vector<std::vector<double>> latencies(static_cast<size_t>(concurrency));
    const auto start = Clock::now();
    const Clock::time_point until =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    std::vector<io::Task<void>> tasks;
    for (int w = 0; w < concurrency; w++) {
        tasks.push_back(make(w, until, &latencies[static_cast<size_t>(w)]));
    }
    io::block_on(world, world.executor(), io::when_all(std::move(tasks)));
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const bench::Figures f = summarize(latencies, elapsed);
    print(what, concurrency, f);
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 2;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = std::atof(argv[++i]);
        }
    }
    char pattern[] = "/tmp/kelpie-agent-bench-XXXXXX";
    KELPIE_ASSERT(mkdtemp(pattern) != nullptr);
    const std::string dir = pattern;

    io::RealWorld world;
    io::Executor& ex = world.executor();
    auto opened = io::block_on(world, ex,
                               store::open_rocksdb_store(ex, world.blocking_pool(),
                                                         store::RocksDbStoreOptions{.path = dir + "/db"}));
    KELPIE_ASSERT(opened.ok());
    std::unique_ptr<store::Store> rocks = std::move(opened).value();
    CountingStore s(*rocks);
    registry::RegistryOptions ro;
    ro.node_id = "bench";
    registry::Registry reg(ex, s, ro);
    KELPIE_ASSERT(io::block_on(world, ex, reg.start()).ok());
    actor::Runtime rt(ex, s, reg);
    llm::Providers providers;
    llm::SimLlmFaults immediate;
    immediate.latency_max = Duration::zero();
    immediate.keep_requests = false;  // a model that keeps every prompt grows with the run
    providers.add(std::make_unique<llm::SimLlm>(ex, immediate));
    agent::ServiceOptions so;
    so.default_model = "sim/immediate";
    // The runtime's own time per further step (recorded while step_times is set).
    std::vector<agent::StepTimes>* step_times = nullptr;
    so.on_step_timed = [&step_times](const agent::StepTimes& t) {
        if (step_times != nullptr) {
            step_times->push_back(t);
        }
    };
    agent::AgentService agents(ex, s, rt, providers, so);
    agents.register_actor_types();
    rt.start();
    server::Server api(ex, world.network(), s, &agents);
    Result<io::Address> api_address = api.start(io::Address{"127.0.0.1", 0});
    KELPIE_ASSERT(api_address.ok());

    // Agents, one per concurrent client.
    std::vector<std::string> ids;
    std::vector<std::string> agent_paths;
    std::vector<std::string> message_paths;
    for (int i = 0; i < 16; i++) {
        auto body = agent::json::parse(R"({"memory_blocks":[{"label":"human","value":"Name: Bench"},{"label":"persona","value":"fast"}]})");
        Result<agent::json::object> a = io::block_on(world, ex, agents.create_agent(std::move(body)));
        KELPIE_ASSERT(a.ok());
        ids.emplace_back(a->at("id").as_string());
        agent_paths.push_back("/v1/agents/" + ids.back());
        message_paths.push_back("/v1/agents/" + ids.back() + "/messages");
    }
    Result<agent::json::object> sample = io::block_on(world, ex, agents.retrieve_agent(ids[0]));
    const std::string fixed_body = agent::json::serialize(*sample);

    // The minimal server: same HTTP code, a constant answer of the same size.
    server::HttpServer minimal(ex, world.network(), [fixed_body](server::HttpRequest) -> io::Task<server::HttpResponse> {
        co_return server::HttpResponse::json(200, fixed_body);
    });
    Result<io::Address> minimal_address = minimal.start(io::Address{"127.0.0.1", 0});
    KELPIE_ASSERT(minimal_address.ok());

    std::printf("agent_bench: RocksDB store (synced commits), loopback HTTP, model answering at once; "
                "%.1f s per line; agent JSON %zu bytes\n",
                seconds, fixed_body.size());
    io::Network* net = &world.network();
    const io::Address api_at = *api_address;
    const io::Address minimal_at = *minimal_address;
    for (int c : {1, 16}) {
        const bench::Figures base = measure(world, "baseline: GET minimal server", c, seconds,
            [net, minimal_at](int w, Clock::time_point u, std::vector<double>* o) {
                return http_loop(net, minimal_at, "GET", {"/"}, "", w, u, o);
            });
        const bench::Figures get = measure(world, "GET /v1/agents/{id}", c, seconds,
            [net, api_at, agent_paths](int w, Clock::time_point u, std::vector<double>* o) {
                return http_loop(net, api_at, "GET", agent_paths, "", w, u, o);
            });
        std::printf("    -> GET agent / minimal server: %.2fx (nothing committed meanwhile: the "
                    "rendering cache answers)\n",
                    get.per_second / base.per_second);
        if (c == 1) {
            // The same GETs while another client sends messages to another agent: commits keep
            // changing the store's revision, so most GETs render again.
            std::vector<std::vector<double>> get_us(1);
            std::vector<std::vector<double>> send_us(1);
            const auto start = Clock::now();
            const Clock::time_point until = start + std::chrono::duration_cast<Clock::duration>(
                                                        std::chrono::duration<double>(seconds));
            std::vector<io::Task<void>> both;
            both.push_back(http_loop(net, api_at, "GET", {agent_paths[0]}, "", 0, until, &get_us[0]));
            both.push_back(http_loop(net, api_at, "POST", {message_paths[15]}, R"({"input":"hi"})", 0,
                                     until, &send_us[0]));
            io::block_on(world, ex, io::when_all(std::move(both)));
            const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
            const bench::Figures busy = summarize(get_us, elapsed);
            print("GET /v1/agents/{id}, sends running", 1, busy);
            std::printf("    -> GET agent (store changing) / minimal server: %.2fx\n",
                        busy.per_second / base.per_second);
        }
        measure(world, "send (1 step) over HTTP", c, seconds,
            [net, api_at, message_paths](int w, Clock::time_point u, std::vector<double>* o) {
                return http_loop(net, api_at, "POST", message_paths, R"({"input":"hi"})", w, u, o);
            });
        if (c == 1) {
            std::vector<std::vector<double>> one_us(1);
            std::vector<std::vector<double>> two_us(1);
            std::vector<agent::StepTimes> times;
            step_times = &times;
            const auto start = Clock::now();
            const Clock::time_point until = start + std::chrono::duration_cast<Clock::duration>(
                                                        std::chrono::duration<double>(seconds));
            io::block_on(world, ex, step_pairs(net, api_at, message_paths[14], until, &one_us[0], &two_us[0]));
            const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
            step_times = nullptr;
            const bench::Figures one = summarize(one_us, elapsed);
            const bench::Figures two = summarize(two_us, elapsed);
            print("send (1 step), alternating with 2-step", 1, one);
            print("send (2 steps: tool call, answer)", 1, two);
            std::printf("    -> each further step (2-step minus 1-step): p50 %.1f us, p99 %.1f us "
                        "(target: runtime overhead per step <= 1 ms p99)\n",
                        two.p50_us - one.p50_us, two.p99_us - one.p99_us);
            // The target, measured directly: the runtime's time in each further step.
            auto figures = [&](Duration (*part)(const agent::StepTimes&)) {
                std::vector<std::vector<double>> us(1);
                for (const agent::StepTimes& t : times) {
                    us[0].push_back(static_cast<double>(part(t).to_ns()) / 1000.0);
                }
                return summarize(us, elapsed);
            };
            const bench::Figures total = figures([](const agent::StepTimes& t) { return t.total(); });
            const bench::Figures prepare = figures([](const agent::StepTimes& t) { return t.prepare; });
            const bench::Figures finish = figures([](const agent::StepTimes& t) { return t.finish; });
            const bench::Figures commit = figures([](const agent::StepTimes& t) { return t.commit; });
            const bench::Figures tools = figures([](const agent::StepTimes& t) { return t.tools; });
            std::printf("    -> each further step, timed inside the runtime (%zu steps): p50 %.1f us, "
                        "p99 %.1f us, max %.1f us (target: <= 1 ms p99)\n"
                        "       of which: to the model call p50 %.1f / p99 %.1f us; answer to commit "
                        "p50 %.1f / p99 %.1f us (the tool itself, a search of up to %zu messages: p50 %.1f / "
                        "p99 %.1f us); synced commit p50 %.1f / p99 %.1f us\n",
                        times.size(), total.p50_us, total.p99_us, total.max_us, prepare.p50_us,
                        prepare.p99_us, finish.p50_us, finish.p99_us, agent::context_messages_max,
                        tools.p50_us, tools.p99_us, commit.p50_us, commit.p99_us);
        }
        agent::AgentService* svc = &agents;
        measure(world, "send (1 step) in-process", c, seconds,
            [svc, ids](int w, Clock::time_point u, std::vector<double>* o) {
                return direct_sends(svc, ids, w, u, o);
            });
    }

    // Store operations per send and per step.
    static constexpr int sends = 50;
    auto count = [&](const char* text) {
        const Counts before = s.counts;
        for (int i = 0; i < sends; i++) {
            std::string body_text = std::string(R"({"input":")") + text + "\"}";
            Result<agent::SendResult> r = io::block_on(world, ex, agents.send_message(ids[1], "", agent::json::parse(body_text), nullptr, ""));
            KELPIE_ASSERT(r.ok());
        }
        return Counts{(s.counts.reads - before.reads), (s.counts.commits - before.commits),
                      (s.counts.bytes_written - before.bytes_written)};
    };
    const Counts one = count("hi");
    const Counts two = count(further_step_input);
    auto per_send = [](uint64_t n) { return static_cast<double>(n) / sends; };
    std::printf("  store operations per 1-step send: %.2f reads, %.2f commits, %.0f bytes written\n",
                per_send(one.reads), per_send(one.commits), per_send(one.bytes_written));
    std::printf("  store operations per 2-step send: %.2f reads, %.2f commits, %.0f bytes written\n",
                per_send(two.reads), per_send(two.commits), per_send(two.bytes_written));
    std::printf("  -> each further step: %.2f reads, %.2f commits, %.0f bytes written\n",
                per_send(two.reads - one.reads), per_send(two.commits - one.commits),
                per_send(two.bytes_written - one.bytes_written));

    io::block_on(world, ex, minimal.stop());
    io::block_on(world, ex, api.stop());
    io::block_on(world, ex, rt.stop());
    io::block_on(world, ex, reg.stop());
    io::block_on(world, ex, rocks->close());
    rocks.reset();
    std::filesystem::remove_all(dir);
    return 0;
}
