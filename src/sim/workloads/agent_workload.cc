#include "sim/workloads/agent_workload.h"

#include <fmt/format.h>

#include "agent/agent.h"
#include "io/channel.h"
#include "io/combinators.h"
#include "llm/sim_llm.h"

namespace kelpie::sim {

namespace {

constexpr uint32_t agents_min = 1;
constexpr uint32_t agents_max = 4;
constexpr uint32_t clients_min = 1;
constexpr uint32_t clients_max = 4;
// A send waits this long for its answer before the client retries (same key). A turn may take
// several model calls, each up to the model's timeout.
constexpr Duration client_call_timeout = Duration::s(30);
constexpr Duration model_timeout = Duration::s(5);

std::string text_of(const agent::json::object& o, std::string_view key) {
    const agent::json::value* v = o.if_contains(key);
    return (v != nullptr && v->is_string()) ? std::string(v->as_string()) : std::string();
}

}  // namespace

AgentWorkload::AgentWorkload(io::SimWorld& world, AgentWorkloadOptions options)
    : world_(world), options_(std::move(options)) {
    io::Random& random = world_.random();
    for (const std::string& kind : options_.faults) {
        if (random.chance(0.6)) {
            plan_.insert(kind);
        }
    }
    auto pct = [&random](int64_t lo, int64_t hi) {
        return static_cast<double>(random.between(lo, hi)) / 1000.0;
    };
    llm::SimLlmFaults model_faults;
    model_faults.keep_requests = false;
    model_faults.latency_max = Duration::ms(random.between(1, 2000));
    if (plan_.contains("llm_error")) {
        model_faults.error_probability = pct(10, 200);
    }
    if (plan_.contains("llm_rate_limit")) {
        model_faults.rate_limit_probability = pct(10, 200);
    }
    if (plan_.contains("llm_timeout")) {
        model_faults.timeout_probability = pct(10, 100);
    }
    if (plan_.contains("llm_malformed")) {
        model_faults.malformed_probability = pct(50, 500);
    }
    SimClusterOptions o;
    o.nodes = std::max<uint32_t>(1, std::min<uint32_t>(options_.nodes, 3));
    o.registry.lease_ttl = Duration::s(random.between(2, 5));
    o.registry.safety_margin = Duration::ms(300);
    o.runtime.idle_timeout = Duration::ms(random.between(100, 10'000));
    o.runtime.recovery_sweep_interval = Duration::s(2);
    o.runtime.journal_retention = Duration::minutes(30);
    if (plan_.contains("link_loss")) {
        o.link.loss_probability = pct(1, 30);
    }
    if (plan_.contains("link_delay")) {
        o.link.delay_max = Duration::ms(random.between(1, 100));
    }
    o.store.on_commit = [this](store::Revision, const std::vector<store::AppliedWrite>& writes) {
        committed(writes);
    };
    cluster_ = std::make_unique<SimCluster>(world_, o);
    nodes_.resize(cluster_->size());
    live_.resize(cluster_->size());
    cluster_->on_node_objects([this, model_faults](size_t i, SimCluster::Node& n) {
        if (live_[i].service != nullptr) {
            abandoned_.push_back(std::move(live_[i]));  // a crash made this incarnation
        }
        Incarnation made;
        made.providers = std::make_unique<llm::Providers>();
        auto model = std::make_unique<llm::SimLlm>(*n.executor, model_faults);
        nodes_[i].model = model.get();
        models_.push_back(model.get());
        made.providers->add(std::move(model));
        agent::ServiceOptions service_options;
        service_options.default_model = "sim/model-1";
        service_options.llm_timeout = model_timeout;
        service_options.bugs.call_without_return = options_.bug == "agent_call_without_return";
        service_options.bugs.block_write_unchecked = options_.bug == "agent_block_write_unchecked";
        made.service = std::make_unique<agent::AgentService>(*n.executor, *n.link, *n.runtime,
                                                             *made.providers, service_options);
        made.service->register_actor_types();
        nodes_[i].service = made.service.get();
        live_[i] = std::move(made);
    });
    clients_ = &world_.add_node();
}

AgentWorkload::~AgentWorkload() {
    for (Incarnation& i : abandoned_) {
        (void)i.service.release();
        (void)i.providers.release();
    }
}

void AgentWorkload::violation(std::string invariant, std::string detail) {
    if (!violation_.has_value()) {
        violation_ = Violation{std::move(invariant), std::move(detail), world_.now()};
    }
}

void AgentWorkload::committed(const std::vector<store::AppliedWrite>& writes) {
    std::set<std::string> touched;
    for (const store::AppliedWrite& w : writes) {
        if (w.kind != store::AppliedWrite::Kind::set) {
            continue;
        }
        std::optional<agent::StoredMessage> m = agent::decode_stored_message(w.key, w.value);
        if (!m.has_value()) {
            continue;
        }
        const std::string role = text_of(m->message, "role");
        if (role == "assistant") {
            const agent::json::value* approval = m->message.if_contains("approval_request");
            const bool waits = approval != nullptr && approval->is_bool() && approval->as_bool();
            if (const agent::json::value* calls = m->message.if_contains("tool_calls");
                calls != nullptr && calls->is_array() && !waits) {
                for (const agent::json::value& c : calls->as_array()) {
                    const std::string id = text_of(c.as_object(), "id");
                    if (!answered_calls_[m->agent_id].contains(id)) {
                        open_calls_[m->agent_id].insert(id);
                    }
                }
            }
        } else if (role == "tool") {
            const std::string id = text_of(m->message, "tool_call_id");
            answered_calls_[m->agent_id].insert(id);
            open_calls_[m->agent_id].erase(id);
        }
        touched.insert(m->agent_id);
    }
    for (const std::string& a : touched) {
        if (!open_calls_[a].empty()) {
            violation("tool_call_unpaired",
                      fmt::format("agent {}: a commit stored tool call {} without its return", a,
                                  *open_calls_[a].begin()));
        }
    }
}

void AgentWorkload::start(Instant fault_phase_end, Instant liveness_end) {
    fault_phase_end_ = fault_phase_end;
    liveness_end_ = liveness_end;
    for (size_t i = 0; i < cluster_->size(); i++) {
        if (!cluster_->start(i).ok()) {
            restarts_[i] = world_.now() + Duration::s(1);  // a supervisor tries again
        }
    }
    io::Random& random = world_.random();
    const auto agents = static_cast<uint32_t>(random.between(agents_min, agents_max));
    // Created before the faults start (retried over lossy links): each agent has a "human" block
    // of its own and the "shared" block, which the model edits.
    for (uint32_t attempt = 0; shared_block_.empty() && attempt < 100; attempt++) {
        const size_t node = random.below(cluster_->size());
        if (!cluster_->node(node).up) {
            (void)cluster_->start(node);
            continue;
        }
        Result<agent::json::object> b = cluster_->run(
            node, nodes_[node].service->create_block(
                      agent::json::parse(R"({"label":"shared","value":"start"})"), "shared-block"));
        if (b.ok()) {
            shared_block_ = text_of(*b, "id");
        }
    }
    for (uint32_t attempt = 0; !shared_block_.empty() && agents_.size() < agents && attempt < 100; attempt++) {
        const size_t node = random.below(cluster_->size());
        if (!cluster_->node(node).up) {
            (void)cluster_->start(node);
            continue;
        }
        Result<agent::json::object> a = cluster_->run(
            node, nodes_[node].service->create_agent(agent::json::parse(fmt::format(
                      R"({{"memory_blocks":[{{"label":"human","value":"start"}}],"block_ids":["{}"]}})",
                      shared_block_))));
        if (a.ok()) {
            agents_.push_back(text_of(*a, "id"));
        }
    }
    if (agents_.size() < agents) {
        violation("not_live", "creating the agents failed 100 times");
        return;
    }
    const auto clients = static_cast<uint32_t>(random.between(clients_min, clients_max));
    for (uint32_t c = 0; c < clients; c++) {
        clients_running_++;
        io::spawn(*clients_, client(c));
    }
}

io::Task<Result<std::string>> AgentWorkload::rpc(size_t node, std::string agent_id, std::string text,
                                                 std::string key) {
    SimCluster::Node& n = cluster_->node(node);
    if (!n.up) {
        co_return Error(ErrorCode::unavailable, "node is down");
    }
    auto box = std::make_shared<io::Channel<Result<std::string>>>(*clients_, 1);
    auto call = [](agent::AgentService* service, io::Executor* home, std::string a, std::string body,
                   std::string k, std::shared_ptr<io::Channel<Result<std::string>>> reply) -> io::Task<void> {
        agent::json::value parsed = agent::json::parse(body);
        Result<agent::SendResult> r = co_await service->send_message(a, "", std::move(parsed), nullptr, k);
        co_await io::resume_on(*home);
        if (r.ok()) {
            (void)reply->try_send(agent::json::serialize(r->response));
        } else {
            (void)reply->try_send(std::move(r).error());
        }
    };
    agent::json::object message;
    message["role"] = "user";
    message["content"] = text;
    message["otid"] = key;
    agent::json::object body;
    body["messages"] = agent::json::array{message};
    io::spawn(*n.executor, call(nodes_[node].service, clients_, std::move(agent_id),
                                agent::json::serialize(body), key, box));
    auto wait = [](std::shared_ptr<io::Channel<Result<std::string>>> b) -> io::Task<Result<std::string>> {
        std::optional<Result<std::string>> r = co_await b->receive();
        if (!r.has_value()) {
            co_return Error(ErrorCode::closed, "no answer");
        }
        co_return std::move(*r);
    };
    co_return co_await io::with_timeout(*clients_, client_call_timeout, wait(box));
}

// Whether an acknowledged response shows a tool call that succeeded (the insert took effect).
bool AgentWorkload::inserted(const std::string& response) {
    boost::system::error_code ec;
    agent::json::value v = agent::json::parse(response, ec);
    if (ec || !v.is_object()) {
        return false;
    }
    const agent::json::value* messages = v.as_object().if_contains("messages");
    if (messages == nullptr || !messages->is_array()) {
        return false;
    }
    for (const agent::json::value& m : messages->as_array()) {
        if (m.is_object() && text_of(m.as_object(), "message_type") == "tool_return_message" &&
            text_of(m.as_object(), "status") == "success") {
            return true;
        }
    }
    return false;
}

io::Task<void> AgentWorkload::client(uint32_t id) {
    io::Random& random = clients_->random();
    for (uint64_t seq = 0; clients_->now() < fault_phase_end_; seq++) {
        co_await clients_->sleep_for(Duration::ms(random.between(10, 3000)));
        const std::string agent_id = agents_[random.below(agents_.size())];
        const std::string key = fmt::format("c{}-{}", id, seq);
        std::string text = "hello " + key;
        const uint64_t kind = random.below(3);
        if (kind == 1) {
            text = fmt::format(R"(CALL memory_insert {{"label":"human","new_string":"{}"}})", key);
        } else if (kind == 2) {
            text = fmt::format(R"(CALL memory_insert {{"label":"shared","new_string":"{};"}})", key);
        }
        while (true) {
            const size_t node = random.below(cluster_->size());
            Result<std::string> r = co_await rpc(node, agent_id, text, key);
            if (r.ok()) {
                acked_[agent_id].insert(key);
                acknowledged_++;
                if (kind == 2 && inserted(*r)) {
                    shared_inserts_.insert(key);
                }
                break;
            }
            if (clients_->now() >= liveness_end_) {
                break;
            }
            co_await clients_->sleep_for(Duration::ms(random.between(50, 1000)));
        }
    }
    clients_running_--;
}

void AgentWorkload::tick() {
    io::Random& random = world_.random();
    for (auto it = restarts_.begin(); it != restarts_.end();) {
        if (world_.now() >= it->second &&
            (cluster_->node(it->first).up || cluster_->start(it->first).ok())) {
            it = restarts_.erase(it);
        } else {
            ++it;
        }
    }
    if (plan_.contains("node_crash") && random.chance(0.02)) {
        std::vector<size_t> up;
        for (size_t i = 0; i < cluster_->size(); i++) {
            if (cluster_->node(i).up && !restarts_.contains(i)) {
                up.push_back(i);
            }
        }
        if (!up.empty()) {
            const size_t i = up[random.below(up.size())];
            cluster_->crash(i);
            restarts_[i] = world_.now() + Duration::ms(random.between(0, 5000));
            fired_["node_crash"]++;
        }
    }
}

void AgentWorkload::heal() {
    for (const auto& [i, when] : restarts_) {
        for (int attempt = 0; attempt < 20 && !cluster_->node(i).up; attempt++) {
            (void)cluster_->start(i);
        }
    }
    restarts_.clear();
    for (size_t i = 0; i < cluster_->size(); i++) {
        if (nodes_[i].model != nullptr) {
            nodes_[i].model->heal();
        }
        cluster_->node(i).link->set_faults(LinkFaults{.request_timeout = Duration::s(1)});
    }
}

void AgentWorkload::finish(Duration bound) {
    world_.run_for(bound);  // pending turns finish (recovery sweep), idle agents deactivate
    size_t node = 0;
    while (node < cluster_->size() && !cluster_->node(node).up) {
        node++;
    }
    if (node == cluster_->size()) {
        violation("not_live", "no agent node is up at the end");
        return;
    }
    for (const std::string& a : agents_) {
        Result<size_t> pending = cluster_->run(
            node, actor::count_pending(*cluster_->node(node).link,
                                       registry::ActorId(std::string(agent::agent_actor_type), a)));
        if (pending.ok() && *pending > 0) {
            violation("pending_not_replayed",
                      fmt::format("agent {} still has {} journaled turns {} after the faults stopped",
                                  a, *pending, bound.to_string()));
        }
        // The whole history, page by page (oldest first).
        Result<agent::json::array> history = agent::json::array();
        std::string after;
        for (int pages = 0; pages < 1000; pages++) {
            agent::Query q;
            q.add("limit", std::to_string(agent::list_limit_max));
            q.add("order", "asc");
            if (!after.empty()) {
                q.add("after", after);
            }
            Result<agent::json::array> page = Error(ErrorCode::internal, "not read");
            for (int attempt = 0; attempt < 10; attempt++) {
                page = cluster_->run(node, nodes_[node].service->list_messages(a, q));
                if (page.ok() || page.code() != ErrorCode::unavailable) {
                    break;
                }
            }
            if (!page.ok()) {
                history = std::move(page).error();
                break;
            }
            if (page->empty()) {
                break;
            }
            after = text_of(page->back().as_object(), "id");
            for (agent::json::value& m : *page) {
                history->push_back(std::move(m));
            }
        }
        std::map<std::string, int> seen;
        std::set<std::string> calls;
        std::set<std::string> returns;
        for (const agent::json::value& m : *history) {
            const agent::json::object& o = m.as_object();
            const std::string type = text_of(o, "message_type");
            if (type == "user_message") {
                seen[text_of(o, "otid")]++;
            } else if (type == "tool_call_message") {
                for (const agent::json::value& c : o.at("tool_calls").as_array()) {
                    calls.insert(text_of(c.as_object(), "tool_call_id"));
                }
            } else if (type == "tool_return_message") {
                returns.insert(text_of(o, "tool_call_id"));
            }
        }
        for (const std::string& otid : acked_[a]) {
            if (seen[otid] == 0) {
                violation("acked_message_lost",
                          fmt::format("agent {}: acknowledged message {} is not in its history", a, otid));
            } else if (seen[otid] > 1) {
                violation("message_duplicated",
                          fmt::format("agent {}: message {} is in its history {} times", a, otid, seen[otid]));
            }
        }
        for (const std::string& c : calls) {
            if (!returns.contains(c)) {
                violation("tool_call_unpaired",
                          fmt::format("agent {}: tool call {} has no return in the history", a, c));
            }
        }
    }
    // The shared block holds every acknowledged insert.
    Result<agent::json::object> block = Error(ErrorCode::internal, "not read");
    for (int attempt = 0; attempt < 10; attempt++) {
        block = cluster_->run(node, nodes_[node].service->retrieve_block(shared_block_));
        if (block.ok() || block.code() != ErrorCode::unavailable) {
            break;
        }
    }
    if (!block.ok()) {
        violation("not_live", "reading the shared block failed: " + block.error().message);
        return;
    }
    const std::string value = text_of(*block, "value");
    for (const std::string& key : shared_inserts_) {
        if (value.find(key + ";") == std::string::npos) {
            violation("block_edit_lost",
                      fmt::format("the shared block lacks the acknowledged insert {} (it has {} "
                                  "bytes)", key, value.size()));
            break;
        }
    }
}

void AgentWorkload::stop() { cluster_->stop_all(); }

std::vector<std::pair<std::string, uint64_t>> AgentWorkload::fault_counts() const {
    std::map<std::string, uint64_t> counts = fired_;
    for (const llm::SimLlm* m : models_) {
        for (const auto& [kind, n] : m->faults_fired()) {
            counts["llm_" + kind] += n;
        }
    }
    std::vector<std::pair<std::string, uint64_t>> out;
    for (const std::string& kind : options_.faults) {
        if (kind.starts_with("llm_")) {
            out.emplace_back(kind, counts[kind]);
        }
    }
    return out;
}

}  // namespace kelpie::sim
