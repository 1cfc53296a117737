// Goal: the Letta REST surface behaves as the real clients expect (research: letta-api.md §1, §3,
// §10): paths with or without the trailing slash, bare-array lists whose pagination terminates,
// {"detail"} errors with the right status (422 malformed body / id / types / invalid UTF-8, 404
// unknown id, 409 waiting for approval), SSE framing (messages, stop_reason, usage_statistics,
// [DONE]), and that no request, however malformed, crashes the server or stops it serving.
// Method: Server::handle driven directly (no sockets) on a simulated cluster node with a real
// AgentService and the simulated model; the streamed body is collected by a BodyWriter. The fuzz
// property is a RapidCheck generator of requests over the known routes with random bodies.

#include "server/server.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "llm/sim_llm.h"
#include "sim/cluster.h"

namespace kelpie::server {
namespace {

namespace json = boost::json;

// The API runs without sockets here: nothing listens.
class NoNetwork final : public io::Network {
public:
    Result<std::unique_ptr<io::Listener>> listen(const io::Address&) override {
        return Error(ErrorCode::unavailable, "no network in this test");
    }
    io::Task<Result<std::unique_ptr<io::Connection>>> connect(const io::Address&) override {
        co_return Error(ErrorCode::unavailable, "no network in this test");
    }
    io::Task<Result<std::unique_ptr<io::Connection>>> connect_tls(const io::Address&,
                                                                  std::string) override {
        co_return Error(ErrorCode::unavailable, "no network in this test");
    }
};

class Collector final : public BodyWriter {
public:
    io::Task<Status> write(std::string data) override {
        chunks.push_back(std::move(data));
        co_return ok_status();
    }
    std::vector<std::string> chunks;
};

class Api {
public:
    Api()
        : world_(io::SimWorldOptions{.seed = 5}),
          cluster_(world_, options()) {
        cluster_.on_node_objects([this](size_t, sim::SimCluster::Node& n) {
            auto sim = std::make_unique<llm::SimLlm>(*n.executor);
            model = sim.get();
            providers_.add(std::move(sim));
            agent::ServiceOptions o;
            o.default_model = "sim/m";
            executor_ = n.executor;
            agents_ = std::make_unique<agent::AgentService>(*n.executor, *n.link, *n.runtime, providers_, o);
            agents_->register_actor_types();
            server_ = std::make_unique<Server>(*n.executor, network_, *n.link, agents_.get());
        });
        EXPECT_TRUE(cluster_.start_all().ok());
    }
    ~Api() { cluster_.stop_all(); }

    HttpResponse call(std::string method, std::string target, std::string body = "",
                      std::vector<HttpHeader> headers = {}) {
        HttpRequest r;
        r.method = std::move(method);
        r.target = target;
        const size_t q = target.find('?');
        r.path = target.substr(0, q);
        r.query = q == std::string::npos ? "" : target.substr(q + 1);
        r.body = std::move(body);
        r.headers = std::move(headers);
        return cluster_.run(0, server_->handle(std::move(r)));
    }
    // Runs a streamed response to its end; returns the body.
    std::string drain(const HttpResponse& r) {
        Collector c;
        cluster_.run(0, [](BodyProducer p, Collector* w) -> io::Task<void> { co_await p(*w); }(r.stream, &c));
        std::string out;
        for (const std::string& s : c.chunks) {
            out += s;
        }
        return out;
    }
    // Starts a streamed response in the background, written to `w` (which may fail like a client
    // that went away); the world runs it during later calls.
    void start_drain(const HttpResponse& r, BodyWriter* w) {
        io::spawn(*executor_, [](BodyProducer p, BodyWriter* out) -> io::Task<void> { co_await p(*out); }(r.stream, w));
    }
    json::value body(const HttpResponse& r) { return json::parse(r.body); }
    // Lets the world run for `d` of simulated time (background work goes on meanwhile).
    void pass(Duration d) {
        cluster_.run(0, [](io::Executor* e, Duration t) -> io::Task<void> { co_await e->sleep_for(t); }(executor_, d));
    }
    std::string create_agent(std::string body = "{}") {
        HttpResponse r = call("POST", "/v1/agents/", body);
        EXPECT_EQ(r.status, 200) << r.body;
        return std::string(json::parse(r.body).at("id").as_string());
    }

    llm::SimLlm* model = nullptr;

private:
    static sim::SimClusterOptions options() {
        sim::SimClusterOptions o;
        o.nodes = 1;
        return o;
    }
    io::SimWorld world_;
    sim::SimCluster cluster_;
    io::Executor* executor_ = nullptr;
    NoNetwork network_;
    llm::Providers providers_;
    std::unique_ptr<agent::AgentService> agents_;
    std::unique_ptr<Server> server_;
};

// A client that reads the first `keep` writes of a stream, then goes away (writes fail).
class LeavingClient final : public BodyWriter {
public:
    explicit LeavingClient(size_t keep) : keep_(keep) {}
    io::Task<Status> write(std::string data) override {
        if (chunks.size() >= keep_) {
            co_return Error(ErrorCode::closed, "the client went away");
        }
        chunks.push_back(std::move(data));
        co_return ok_status();
    }
    std::vector<std::string> chunks;

private:
    size_t keep_;
};

// The JSON of each `data:` line of an SSE body, in order ("[DONE]" kept as it is).
std::vector<std::string> sse_events(const std::string& body) {
    std::vector<std::string> events;
    size_t at = 0;
    while ((at = body.find("data: ", at)) != std::string::npos) {
        const size_t end = body.find("\n\n", at);
        events.push_back(body.substr(at + 6, end - at - 6));
        at = end;
    }
    return events;
}

std::string detail(const HttpResponse& r) {
    json::value v = json::parse(r.body);
    return std::string(v.at("detail").as_string());
}

TEST(Api, AgentsWithAndWithoutTrailingSlashAndPaginationTerminates) {
    Api api;
    std::vector<std::string> ids;
    for (int i = 0; i < 5; i++) {
        ids.push_back(api.create_agent(R"({"name":"a)" + std::to_string(i) + R"("})"));
    }
    EXPECT_EQ(api.call("GET", "/v1/agents/" + ids[0]).status, 200);
    EXPECT_EQ(api.call("GET", "/v1/agents/" + ids[0] + "/").status, 200);
    EXPECT_EQ(api.call("GET", "/v1/agents").status, 200);
    // Pages of 2 by `after`, newest first, until an empty page: 5 agents, each once.
    std::vector<std::string> seen;
    std::string after;
    for (int page = 0; page < 10; page++) {
        HttpResponse r = api.call("GET", "/v1/agents/?limit=2" + (after.empty() ? "" : "&after=" + after));
        ASSERT_EQ(r.status, 200);
        json::array a = api.body(r).as_array();
        if (a.empty()) {
            break;
        }
        for (const json::value& v : a) {
            seen.emplace_back(v.at("id").as_string());
        }
        after = seen.back();
    }
    // Every agent exactly once, in the order of the unpaged list.
    std::vector<std::string> all;
    const json::value unpaged = api.body(api.call("GET", "/v1/agents/"));
    for (const json::value& v : unpaged.as_array()) {
        all.emplace_back(v.at("id").as_string());
    }
    EXPECT_EQ(seen, all);
    std::vector<std::string> sorted_seen = seen;
    std::sort(sorted_seen.begin(), sorted_seen.end());
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(sorted_seen, ids);
    // An unfiltered list picks its page from the index before reading any agent; a filtered one
    // from each agent's settings: both must page alike (every name here contains "a"), and both
    // render only the page's agents in full.
    ASSERT_EQ(all.size(), 5u);
    auto listed = [&](const std::string& q) {
        std::vector<std::string> out;
        const json::value page = api.body(api.call("GET", "/v1/agents/?" + q));
        for (const json::value& v : page.as_array()) {
            out.emplace_back(v.at("id").as_string());
        }
        return out;
    };
    for (const std::string& q : std::vector<std::string>{"limit=2&order=asc", "limit=3&before=" + all[1], "order=asc&after=" + all[3] + "&limit=2",
                                "after=" + all[0] + "&before=" + all[4], "after=no-such-agent&limit=4"}) {
        EXPECT_EQ(listed(q), listed(q + "&query_text=a")) << q;
        EXPECT_FALSE(listed(q).empty()) << q;
    }
    // Tags as repeated query parameters.
    api.call("PATCH", "/v1/agents/" + ids[1], R"({"tags":["x","y"]})");
    json::array tagged = api.body(api.call("GET", "/v1/agents/?tags=x&tags=z")).as_array();
    ASSERT_EQ(tagged.size(), 1u);
    EXPECT_EQ(tagged[0].at("id").as_string(), ids[1]);
    EXPECT_TRUE(tagged[0].as_object().contains("memory"));  // rendered in full, blocks and all
    // By exact name, and a query_text that matches nothing.
    const std::string name(api.body(api.call("GET", "/v1/agents/" + ids[2])).at("name").as_string());
    json::array named = api.body(api.call("GET", "/v1/agents/?name=" + name)).as_array();
    ASSERT_EQ(named.size(), 1u);
    EXPECT_EQ(named[0].at("id").as_string(), ids[2]);
    EXPECT_TRUE(api.body(api.call("GET", "/v1/agents/?query_text=no-agent-has-this")).as_array().empty());
}

// GET agent answers from a cache keyed by the store's revision: any commit (the agent's own, or a
// shared block's) must show in the next GET.
TEST(Api, GetAgentSeesEveryChange) {
    Api api;
    const std::string id = api.create_agent(R"({"name":"before"})");
    EXPECT_EQ(api.body(api.call("GET", "/v1/agents/" + id)).at("name").as_string(), "before");
    EXPECT_EQ(api.body(api.call("GET", "/v1/agents/" + id)).at("name").as_string(), "before");
    api.call("PATCH", "/v1/agents/" + id, R"({"name":"after"})");
    EXPECT_EQ(api.body(api.call("GET", "/v1/agents/" + id)).at("name").as_string(), "after");
    HttpResponse block = api.call("POST", "/v1/blocks/", R"({"label":"shared","value":"one"})");
    const std::string block_id(api.body(block).at("id").as_string());
    api.call("PATCH", "/v1/agents/" + id + "/core-memory/blocks/attach/" + block_id);
    EXPECT_EQ(api.body(api.call("GET", "/v1/agents/" + id)).at("blocks").as_array().size(), 1u);
    api.call("PATCH", "/v1/blocks/" + block_id, R"({"value":"two"})");  // not through the agent
    EXPECT_EQ(api.body(api.call("GET", "/v1/agents/" + id)).at("blocks").as_array()[0].at("value").as_string(), "two");
    api.call("DELETE", "/v1/agents/" + id);
    EXPECT_EQ(api.call("GET", "/v1/agents/" + id).status, 404);
}

TEST(Api, ErrorsHaveTheRightStatusAndADetail) {
    Api api;
    const std::string id = api.create_agent();
    struct Case {
        std::string method, target, body;
        int status;
    };
    const std::vector<Case> cases = {
        {"GET", "/v1/agents/agent-00000000-0000-4000-8000-000000000000", "", 404},
        {"GET", "/v1/agents/not-an-id", "", 422},
        {"POST", "/v1/agents/", "{not json", 422},
        {"POST", "/v1/agents/", "{\"name\":\"\xff\xfe\"}", 422},  // invalid UTF-8
        {"POST", "/v1/agents/", R"({"name":42})", 422},
        {"POST", "/v1/agents/", R"({"memory_blocks":"no"})", 422},
        {"POST", "/v1/agents/" + id + "/messages", R"({"messages":"hi"})", 422},
        {"POST", "/v1/agents/" + id + "/messages", R"({"input":"hi","stream_tokens":true})", 422},
        {"GET", "/v1/agents/" + id + "/messages?limit=-3", "", 422},
        {"GET", "/v1/agents/" + id + "/messages?after=message-00000000-0000-4000-8000-000000000000", "", 404},
        {"POST", "/v1/blocks/", R"({"label":"a","value":"abcdef","limit":2})", 422},
        {"GET", "/v1/nothing/here", "", 404},
        {"DELETE", "/v1/health/", "", 405},
    };
    for (const Case& c : cases) {
        HttpResponse r = api.call(c.method, c.target, c.body);
        EXPECT_EQ(r.status, c.status) << c.method << " " << c.target << " " << c.body << " -> " << r.body;
        EXPECT_FALSE(detail(r).empty()) << c.target;
    }
    EXPECT_EQ(api.call("GET", "/v1/health/").status, 200);  // still serving
    EXPECT_EQ(api.model->requests().size(), 0u);
}

TEST(Api, NonStreamingSendAndHistory) {
    Api api;
    const std::string id = api.create_agent(R"({"memory_blocks":[{"label":"human","value":"Bob"}]})");
    HttpResponse r = api.call("POST", "/v1/agents/" + id + "/messages",
                              R"({"messages":[{"role":"user","content":"hi"}],"unknown_field":1})");
    ASSERT_EQ(r.status, 200) << r.body;
    json::value v = api.body(r);
    EXPECT_EQ(v.at("stop_reason").at("stop_reason").as_string(), "end_turn");
    EXPECT_EQ(v.at("messages").as_array().at(0).at("content").as_string(), "ECHO: hi");
    const std::string run_id(v.at("usage").at("run_ids").as_array().at(0).as_string());
    HttpResponse run = api.call("GET", "/v1/runs/" + run_id);
    ASSERT_EQ(run.status, 200) << run.body;
    EXPECT_EQ(api.body(run).at("status").as_string(), "completed");
    json::array history = api.body(api.call("GET", "/v1/agents/" + id + "/messages?limit=2")).as_array();
    ASSERT_EQ(history.size(), 2u);  // the newest two, oldest first
    EXPECT_EQ(history[0].at("message_type").as_string(), "user_message");
    EXPECT_EQ(history[1].at("message_type").as_string(), "assistant_message");
    // GET /v1/messages/{id} returns every part of one stored message.
    HttpResponse one = api.call("GET", "/v1/messages/" + std::string(history[1].at("id").as_string()));
    ASSERT_EQ(one.status, 200);
    EXPECT_EQ(api.body(one).as_array().size(), 1u);
    // A run's messages are its own (read from the run's first message on, which stays internal).
    HttpResponse second = api.call("POST", "/v1/agents/" + id + "/messages",
                                   R"({"messages":[{"role":"user","content":"again"}]})");
    ASSERT_EQ(second.status, 200) << second.body;
    const std::string run2(api.body(second).at("usage").at("run_ids").as_array().at(0).as_string());
    for (const auto& [which, text] : {std::pair{run_id, std::string("hi")}, std::pair{run2, std::string("again")}}) {
        json::array own = api.body(api.call("GET", "/v1/runs/" + which + "/messages")).as_array();
        ASSERT_EQ(own.size(), 2u) << which;
        EXPECT_EQ(own[0].at("message_type").as_string(), "user_message");
        EXPECT_EQ(own[0].at("content").as_string(), text);
        EXPECT_EQ(own[1].at("content").as_string(), "ECHO: " + text);
        EXPECT_FALSE(api.body(api.call("GET", "/v1/runs/" + which)).as_object().contains("first_seq"));
    }
}

// letta-code sends with background=true and, when its connection drops, follows the run again
// from the last seq_id it saw (POST /v1/runs/{id}/stream {starting_after}): it must get exactly
// the events it missed, the live ones, then the run's end — during the run and after it.
TEST(Api, ABackgroundStreamCutMidRunIsFollowedAgainFromItsLastSeqId) {
    Api api;
    const std::string id = api.create_agent();
    HttpResponse r = api.call("POST", "/v1/agents/" + id + "/messages",
                              R"({"input":"CALL conversation_search {\"query\":\"x\"}","streaming":true,"background":true,"include_pings":false})");
    ASSERT_EQ(r.status, 200);
    LeavingClient first(1);  // sees the tool call, then its connection drops
    api.start_drain(r, &first);
    for (int i = 0; i < 1000 && first.chunks.empty(); i++) {
        api.pass(Duration::ms(1));
    }
    ASSERT_EQ(first.chunks.size(), 1u);
    const json::value seen = json::parse(sse_events(first.chunks[0]).at(0));
    EXPECT_EQ(seen.at("message_type").as_string(), "tool_call_message");
    EXPECT_EQ(seen.at("seq_id").as_int64(), 1);
    const std::string run_id(seen.at("run_id").as_string());
    // The run is still going (the model takes a while): follow it from seq_id 1.
    HttpResponse again = api.call("POST", "/v1/runs/" + run_id + "/stream",
                                  R"({"starting_after":1,"include_pings":false})");
    ASSERT_EQ(again.status, 200) << again.body;
    const std::vector<std::string> rest = sse_events(api.drain(again));
    ASSERT_EQ(rest.size(), 5u);
    std::vector<std::string> kinds;
    for (size_t i = 0; i + 1 < rest.size(); i++) {
        const json::value e = json::parse(rest[i]);
        kinds.emplace_back(e.at("message_type").as_string());
        if (i < 2) {
            EXPECT_EQ(e.at("seq_id").as_int64(), static_cast<int64_t>(i + 2));  // none missed, none twice
        }
    }
    EXPECT_EQ(kinds, (std::vector<std::string>{"tool_return_message", "assistant_message", "stop_reason",
                                               "usage_statistics"}));
    EXPECT_EQ(rest.back(), "[DONE]");
    // After the run: the whole stream again, from the start.
    const std::vector<std::string> all = sse_events(api.drain(
        api.call("POST", "/v1/runs/" + run_id + "/stream", R"({"include_pings":false})")));
    ASSERT_EQ(all.size(), 6u);
    EXPECT_EQ(all[0], sse_events(first.chunks[0]).at(0));
    EXPECT_EQ(json::parse(all[3]).at("message_type").as_string(), "stop_reason");
    EXPECT_EQ(api.body(api.call("GET", "/v1/runs/" + run_id)).at("background").as_bool(), true);

    // letta-code resumes by conversation too (POST /v1/conversations/{id}/stream): the run whose
    // input carried the otid, from the seq_id given.
    const std::string conv(api.body(api.call("POST", "/v1/conversations/?agent_id=" + id, "{}")).at("id").as_string());
    HttpResponse in_conv = api.call("POST", "/v1/conversations/" + conv + "/messages",
                                    R"({"messages":[{"role":"user","content":"CALL conversation_search {\"query\":\"y\"}","otid":"otid-c1"}],"background":true,"include_pings":false})");
    ASSERT_EQ(in_conv.status, 200) << in_conv.body;
    LeavingClient dropped(1);
    api.start_drain(in_conv, &dropped);
    for (int i = 0; i < 1000 && dropped.chunks.empty(); i++) {
        api.pass(Duration::ms(1));
    }
    const std::vector<std::string> conv_rest = sse_events(api.drain(api.call(
        "POST", "/v1/conversations/" + conv + "/stream", R"({"otid":"otid-c1","starting_after":1,"include_pings":false})")));
    ASSERT_EQ(conv_rest.size(), 5u);
    EXPECT_EQ(json::parse(conv_rest[0]).at("message_type").as_string(), "tool_return_message");
    EXPECT_EQ(json::parse(conv_rest[0]).at("seq_id").as_int64(), 2);
    // The agent's default conversation needs the agent; its newest background run is the one.
    const std::vector<std::string> by_default = sse_events(api.drain(api.call(
        "POST", "/v1/conversations/default/stream", R"({"agent_id":")" + id + R"(","include_pings":false})")));
    ASSERT_EQ(by_default.size(), 6u);
    EXPECT_EQ(std::string(json::parse(by_default[0]).at("run_id").as_string()), run_id);
    EXPECT_EQ(api.call("POST", "/v1/conversations/default/stream", "{}").status, 422);
    EXPECT_EQ(api.call("POST", "/v1/conversations/" + conv + "/stream", R"({"otid":"no-such-otid"})").status, 404);

    // A run that was not sent in the background cannot be followed; an unknown run is a 404, a
    // malformed seq_id a 422.
    const std::vector<std::string> plain = sse_events(api.drain(api.call(
        "POST", "/v1/agents/" + id + "/messages", R"({"input":"hi","streaming":true,"include_pings":false})")));
    const std::string plain_run(json::parse(plain.at(0)).at("run_id").as_string());
    HttpResponse refused = api.call("POST", "/v1/runs/" + plain_run + "/stream", "{}");
    EXPECT_EQ(refused.status, 400);
    EXPECT_NE(detail(refused).find("background"), std::string::npos);
    EXPECT_EQ(api.call("POST", "/v1/runs/run-00000000-0000-4000-8000-000000000000/stream", "{}").status, 404);
    EXPECT_EQ(api.call("POST", "/v1/runs/" + run_id + "/stream", R"({"starting_after":"x"})").status, 422);

    // A node keeps the recordings of its last recorded_runs_max finished background runs.
    for (size_t i = 0; i < agent::recorded_runs_max; i++) {
        (void)api.drain(api.call("POST", "/v1/agents/" + id + "/messages",
                                 R"({"input":"again","streaming":true,"background":true,"include_pings":false})"));
    }
    EXPECT_EQ(api.call("POST", "/v1/runs/" + run_id + "/stream", "{}").status, 400);
    EXPECT_EQ(api.body(api.call("GET", "/v1/runs/" + run_id)).at("status").as_string(), "completed");
}

TEST(Api, StreamingSendIsFramedAsLettaSse) {
    Api api;
    const std::string id = api.create_agent();
    HttpResponse r = api.call("POST", "/v1/agents/" + id + "/messages",
                              R"({"input":"CALL conversation_search {\"query\":\"x\"}","streaming":true,"include_pings":false})");
    ASSERT_EQ(r.status, 200);
    ASSERT_TRUE(static_cast<bool>(r.stream));
    EXPECT_EQ(r.content_type, "text/event-stream");
    const std::string body = api.drain(r);
    const std::vector<std::string> events = sse_events(body);
    ASSERT_GE(events.size(), 6u) << body;
    std::vector<std::string> kinds;
    for (size_t i = 0; i + 1 < events.size(); i++) {
        kinds.emplace_back(json::parse(events[i]).at("message_type").as_string());
    }
    EXPECT_EQ(kinds, (std::vector<std::string>{"tool_call_message", "tool_return_message", "assistant_message",
                                               "stop_reason", "usage_statistics"}));
    EXPECT_EQ(events.back(), "[DONE]");
    // Token streaming: deltas of one message share its id and otid.
    HttpResponse t = api.call("POST", "/v1/agents/" + id + "/messages/stream",
                              R"({"input":"tokens please","stream_tokens":true,"include_pings":false})");
    const std::string tbody = api.drain(t);
    std::set<std::string> otids;
    std::string text;
    for (const std::string& data : sse_events(tbody)) {
        if (data.empty() || data[0] != '{') {
            continue;
        }
        json::value e = json::parse(data);
        if (e.at("message_type").as_string() == "assistant_message") {
            otids.insert(std::string(e.at("otid").as_string()));
            text += std::string(e.at("content").as_string());
        }
    }
    EXPECT_EQ(otids.size(), 1u);
    EXPECT_EQ(text, "ECHO: tokens please");
}

TEST(Api, PendingApprovalIs409AndIdempotencyKeyReplays) {
    Api api;
    const std::string id = api.create_agent();
    const std::string send = R"({"input":"CALL Bash {\"command\":\"ls\"}","client_tools":[{"name":"Bash"}]})";
    HttpResponse first = api.call("POST", "/v1/agents/" + id + "/messages", send);
    ASSERT_EQ(first.status, 200);
    EXPECT_EQ(api.body(first).at("stop_reason").at("stop_reason").as_string(), "requires_approval");
    HttpResponse busy = api.call("POST", "/v1/agents/" + id + "/messages", R"({"input":"hello"})");
    EXPECT_EQ(busy.status, 409);
    EXPECT_NE(detail(busy).find("waiting for approval"), std::string::npos);
    HttpResponse busy_stream = api.call("POST", "/v1/agents/" + id + "/messages", R"({"input":"hello","streaming":true})");
    EXPECT_EQ(busy_stream.status, 409);  // refused before any event
    EXPECT_FALSE(static_cast<bool>(busy_stream.stream));

    const std::string other = api.create_agent();
    std::vector<HttpHeader> key = {HttpHeader{"Idempotency-Key", "k-1"}};
    HttpResponse a = api.call("POST", "/v1/agents/" + other + "/messages", R"({"input":"one"})", key);
    HttpResponse b = api.call("POST", "/v1/agents/" + other + "/messages", R"({"input":"one"})", key);
    ASSERT_EQ(a.status, 200);
    EXPECT_EQ(a.body, b.body);
    EXPECT_EQ(api.body(api.call("GET", "/v1/agents/" + other + "/messages")).as_array().size(), 3u);
    // Creating an agent with a key: once.
    std::vector<HttpHeader> create_key = {HttpHeader{"Idempotency-Key", "create-1"}};
    HttpResponse c1 = api.call("POST", "/v1/agents/", R"({"name":"once"})", create_key);
    HttpResponse c2 = api.call("POST", "/v1/agents/", R"({"name":"once"})", create_key);
    ASSERT_EQ(c1.status, 200);
    EXPECT_EQ(c1.body, c2.body);
    EXPECT_EQ(api.body(api.call("GET", "/v1/agents/?name=once")).as_array().size(), 1u);
    // Blocks and conversations: the same key creates one.
    std::vector<HttpHeader> block_key = {HttpHeader{"Idempotency-Key", "block-1"}};
    HttpResponse b1 = api.call("POST", "/v1/blocks/", R"({"label":"k","value":"v"})", block_key);
    HttpResponse b2 = api.call("POST", "/v1/blocks/", R"({"label":"k","value":"v"})", block_key);
    ASSERT_EQ(b1.status, 200);
    EXPECT_EQ(b1.body, b2.body);
    EXPECT_EQ(api.body(api.call("GET", "/v1/blocks/?label=k")).as_array().size(), 1u);
    std::vector<HttpHeader> conv_key = {HttpHeader{"Idempotency-Key", "conv-1"}};
    HttpResponse v1 = api.call("POST", "/v1/conversations/?agent_id=" + other, "{}", conv_key);
    HttpResponse v2 = api.call("POST", "/v1/conversations/?agent_id=" + other, "{}", conv_key);
    ASSERT_EQ(v1.status, 200);
    EXPECT_EQ(v1.body, v2.body);
    EXPECT_EQ(api.body(api.call("GET", "/v1/conversations/?agent_id=" + other)).as_array().size(), 1u);
    // A block edit with a key: a retry after the block changed again gets the first answer.
    std::vector<HttpHeader> edit_key = {HttpHeader{"Idempotency-Key", "edit-1"}};
    const std::string with_block = api.create_agent(R"({"memory_blocks":[{"label":"human","value":"a"}]})");
    HttpResponse e1 = api.call("PATCH", "/v1/agents/" + with_block + "/core-memory/blocks/human", R"({"value":"b"})", edit_key);
    api.call("PATCH", "/v1/agents/" + with_block + "/core-memory/blocks/human", R"({"value":"c"})");
    HttpResponse e2 = api.call("PATCH", "/v1/agents/" + with_block + "/core-memory/blocks/human", R"({"value":"b"})", edit_key);
    EXPECT_EQ(e1.body, e2.body);
    EXPECT_EQ(api.body(api.call("GET", "/v1/agents/" + with_block + "/core-memory/blocks/human")).at("value").as_string(), "c");
}

// Every other change takes an Idempotency-Key too: a retry with the key after something else
// changed the same object gets the first answer and does not undo the later change; deletes
// answer their retries as they answered first; an async send starts one run.
TEST(Api, IdempotencyKeyOnEveryOtherChange) {
    Api api;
    auto with_key = [](const std::string& k) { return std::vector<HttpHeader>{HttpHeader{"Idempotency-Key", k}}; };
    // Standalone blocks.
    const std::string block(api.body(api.call("POST", "/v1/blocks/", R"({"label":"k","value":"v"})")).at("id").as_string());
    HttpResponse e1 = api.call("PATCH", "/v1/blocks/" + block, R"({"value":"x"})", with_key("b-edit"));
    ASSERT_EQ(e1.status, 200) << e1.body;
    ASSERT_EQ(api.call("PATCH", "/v1/blocks/" + block, R"({"value":"y"})").status, 200);
    HttpResponse e2 = api.call("PATCH", "/v1/blocks/" + block, R"({"value":"x"})", with_key("b-edit"));
    EXPECT_EQ(e1.body, e2.body);
    EXPECT_EQ(api.body(api.call("GET", "/v1/blocks/" + block)).at("value").as_string(), "y");
    // Tools: created once; an edit's retry gets the first answer; a rename cannot take a used name.
    const std::string source = R"(def lookup(city: str) -> str:\n    \"\"\"Finds it.\"\"\"\n    return city\n)";
    const std::string other_source = R"(def other(x: str) -> str:\n    \"\"\"Other.\"\"\"\n    return x\n)";
    HttpResponse t1 = api.call("POST", "/v1/tools/", R"({"source_code":")" + source + R"("})", with_key("t-make"));
    HttpResponse t2 = api.call("POST", "/v1/tools/", R"({"source_code":")" + source + R"("})", with_key("t-make"));
    ASSERT_EQ(t1.status, 200) << t1.body;
    EXPECT_EQ(t1.body, t2.body);  // not a 409: the retry of the create that made it
    EXPECT_EQ(api.call("POST", "/v1/tools/", R"({"source_code":")" + source + R"("})").status, 409);
    const std::string tool(api.body(t1).at("id").as_string());
    HttpResponse p1 = api.call("PATCH", "/v1/tools/" + tool, R"({"tags":["a"]})", with_key("t-edit"));
    ASSERT_EQ(api.call("PATCH", "/v1/tools/" + tool, R"({"tags":["b"]})").status, 200);
    HttpResponse p2 = api.call("PATCH", "/v1/tools/" + tool, R"({"tags":["a"]})", with_key("t-edit"));
    EXPECT_EQ(p1.body, p2.body);
    EXPECT_EQ(api.body(api.call("GET", "/v1/tools/" + tool)).at("tags"), json::parse(R"(["b"])"));
    ASSERT_EQ(api.call("POST", "/v1/tools/", R"({"source_code":")" + other_source + R"("})").status, 200);
    HttpResponse clash = api.call("PATCH", "/v1/tools/" + tool, R"({"source_code":")" + other_source + R"("})");
    EXPECT_EQ(clash.status, 409) << clash.body;
    EXPECT_EQ(api.body(api.call("GET", "/v1/tools/?name=other")).as_array().size(), 1u);
    EXPECT_EQ(api.body(api.call("GET", "/v1/tools/?name=lookup")).as_array().size(), 1u);
    // Attach and detach through the agent's journal: a late retry of the attach does not re-attach.
    const std::string agent = api.create_agent();
    HttpResponse a1 = api.call("PATCH", "/v1/agents/" + agent + "/tools/attach/" + tool, "", with_key("attach"));
    ASSERT_EQ(a1.status, 200) << a1.body;
    ASSERT_EQ(api.call("PATCH", "/v1/agents/" + agent + "/tools/detach/" + tool, "").status, 200);
    HttpResponse a2 = api.call("PATCH", "/v1/agents/" + agent + "/tools/attach/" + tool, "", with_key("attach"));
    EXPECT_EQ(a1.body, a2.body);
    const json::value agent_tools = api.body(api.call("GET", "/v1/agents/" + agent + "/tools"));
    for (const json::value& t : agent_tools.as_array()) {
        EXPECT_NE(t.at("id").as_string(), tool);
    }
    HttpResponse ba1 = api.call("PATCH", "/v1/agents/" + agent + "/core-memory/blocks/attach/" + block, "", with_key("battach"));
    ASSERT_EQ(ba1.status, 200) << ba1.body;
    ASSERT_EQ(api.call("PATCH", "/v1/agents/" + agent + "/core-memory/blocks/detach/" + block, "").status, 200);
    EXPECT_EQ(api.call("PATCH", "/v1/agents/" + agent + "/core-memory/blocks/attach/" + block, "", with_key("battach")).body,
              ba1.body);
    EXPECT_EQ(api.call("GET", "/v1/agents/" + agent + "/core-memory/blocks/k").status, 404);
    // An async send with a key starts one run; its retry answers with that run.
    HttpResponse s1 = api.call("POST", "/v1/agents/" + agent + "/messages/async", R"({"input":"once"})", with_key("async"));
    HttpResponse s2 = api.call("POST", "/v1/agents/" + agent + "/messages/async", R"({"input":"once"})", with_key("async"));
    ASSERT_EQ(s1.status, 200) << s1.body;
    ASSERT_EQ(s2.status, 200) << s2.body;
    const std::string run(api.body(s1).at("id").as_string());
    EXPECT_EQ(api.body(s2).at("id").as_string(), run);
    std::string status;
    for (int i = 0; i < 100 && status != "completed"; i++) {
        api.pass(Duration::ms(100));
        status = std::string(api.body(api.call("GET", "/v1/runs/" + run)).at("status").as_string());
    }
    ASSERT_EQ(status, "completed");
    size_t sent = 0;
    const json::value history = api.body(api.call("GET", "/v1/agents/" + agent + "/messages"));
    for (const json::value& m : history.as_array()) {
        sent += m.at("message_type").as_string() == "user_message" ? 1 : 0;
    }
    EXPECT_EQ(sent, 1u);
    // Deletes: a retry with the key answers as the delete did; without one, the object is gone.
    for (const auto& [path, k] : std::vector<std::pair<std::string, std::string>>{
             {"/v1/blocks/" + block, "d-block"}, {"/v1/tools/" + tool, "d-tool"}, {"/v1/agents/" + agent, "d-agent"}}) {
        HttpResponse d1 = api.call("DELETE", path, "", with_key(k));
        HttpResponse d2 = api.call("DELETE", path, "", with_key(k));
        EXPECT_EQ(d1.status, 200) << path << " " << d1.body;
        EXPECT_EQ(d2.body, d1.body) << path;
        EXPECT_EQ(api.call("DELETE", path, "").status, 404) << path;
        EXPECT_EQ(api.call("GET", path).status, 404) << path;
    }
}

TEST(Api, CustomToolsFromPythonSource) {
    Api api;
    const std::string source = R"(def lookup(city: str) -> str:\n    \"\"\"Finds the weather.\n\n    Args:\n        city: The city.\n    \"\"\"\n    return city\n)";
    HttpResponse made = api.call("POST", "/v1/tools/", R"({"source_code":")" + source + R"(","tags":["w"]})");
    ASSERT_EQ(made.status, 200) << made.body;
    json::value tool = api.body(made);
    EXPECT_EQ(tool.at("name").as_string(), "lookup");
    EXPECT_EQ(tool.at("tool_type").as_string(), "custom");
    EXPECT_EQ(tool.at("json_schema").at("parameters").at("required"), json::parse(R"(["city"])"));
    const std::string id(tool.at("id").as_string());
    EXPECT_EQ(api.call("POST", "/v1/tools/", R"({"source_code":")" + source + R"("})").status, 409);
    HttpResponse upserted = api.call("PUT", "/v1/tools/", R"({"source_code":")" + source + R"(","return_char_limit":10})");
    ASSERT_EQ(upserted.status, 200);
    EXPECT_EQ(api.body(upserted).at("id").as_string(), id);  // same tool
    EXPECT_EQ(api.body(api.call("GET", "/v1/tools/?name=lookup")).as_array().size(), 1u);
    HttpResponse patched = api.call("PATCH", "/v1/tools/" + id, R"({"tags":["x","y"]})");
    EXPECT_EQ(api.body(patched).at("tags").as_array().size(), 2u);
    // Attached, the model is offered it; a call of it gets a clear error return.
    const std::string agent = api.create_agent(R"({"tools":["lookup"]})");
    HttpResponse r = api.call("POST", "/v1/agents/" + agent + "/messages", R"({"input":"CALL lookup {\"city\":\"Oslo\"}"})");
    ASSERT_EQ(r.status, 200) << r.body;
    json::value v = api.body(r);
    EXPECT_EQ(v.at("messages").as_array().at(1).at("status").as_string(), "error");
    EXPECT_NE(std::string(v.at("messages").as_array().at(1).at("tool_return").as_string()).find("custom"), std::string::npos);
    EXPECT_EQ(api.model->requests().front().tools.back().name, "lookup");
    EXPECT_EQ(api.call("DELETE", "/v1/tools/" + id).status, 200);
    EXPECT_EQ(api.call("GET", "/v1/tools/" + id).status, 404);
    EXPECT_EQ(api.call("POST", "/v1/tools/", R"({"source_code":"x = 1"})").status, 422);
    EXPECT_EQ(api.call("DELETE", "/v1/tools/" + std::string(api.body(api.call("GET", "/v1/tools/?name=send_message")).as_array()[0].at("id").as_string())).status, 422);
}

// Any request on the known routes, with any body, gets an answer with a JSON body; errors carry a
// detail; nothing crashes and the server still serves afterwards.
RC_GTEST_PROP(ApiFuzz, AnyRequestGetsAJsonAnswer, ()) {
    static Api* api = new Api();  // one server for every case (its state accumulates)
    static const std::string agent = api->create_agent();
    const std::vector<std::string> paths = {
        "/v1/agents/", "/v1/agents/" + agent, "/v1/agents/" + agent + "/messages",
        "/v1/agents/" + agent + "/core-memory/blocks/human", "/v1/blocks/", "/v1/tools/",
        "/v1/conversations/", "/v1/runs/", "/v1/agents/" + agent + "/reset-messages",
        "/v1/agents/x/y/z", "/v1/blocks/block-1", "/v1/conversations/default/stream",
        "/v1/runs/run-00000000-0000-4000-8000-000000000000/stream", "/v1/runs/x/stream"};
    const std::string method = *rc::gen::element<std::string>("GET", "POST", "PATCH", "DELETE", "PUT");
    std::string path = *rc::gen::elementOf(paths);
    const std::string query = *rc::gen::element<std::string>("", "?limit=0", "?limit=abc", "?after=zzz",
                                                             "?order=sideways", "?tags=%ff%00", "?limit=3&order=asc");
    // Bodies: JSON-ish fragments (often valid, often not) or raw bytes.
    const std::string body = *rc::gen::oneOf(
        rc::gen::element<std::string>("", "{}", "[]", "null", "{\"input\":\"x\"}", "{\"messages\":[{}]}",
                                      "{\"name\":null}", "{\"value\":\"v\",\"label\":\"l\"}",
                                      "{\"input\":[{\"type\":1}]}", "{\"max_steps\":1e9}",
                                      "{\"input\":\"x\",\"streaming\":true,\"background\":true}",
                                      "{\"starting_after\":-5,\"agent_id\":\"" + agent + "\"}",
                                      "{\"starting_after\":1e30}"),
        rc::gen::container<std::string>(rc::gen::arbitrary<char>()));
    if (method == "DELETE" && path == "/v1/agents/" + agent) {
        path = "/v1/agents/agent-00000000-0000-4000-8000-000000000001";  // keep the shared agent
    }
    HttpResponse r = api->call(method, path + query, body);
    RC_ASSERT(r.status >= 200 && r.status < 500);
    if (!r.stream) {
        boost::system::error_code ec;
        json::value v = json::parse(r.body, ec);
        RC_ASSERT(!ec);
        if (r.status >= 400) {
            RC_ASSERT(v.is_object() && v.as_object().contains("detail"));
        }
    } else {
        api->drain(r);
    }
    RC_ASSERT(api->call("GET", "/v1/health").status == 200);
}

}  // namespace
}  // namespace kelpie::server
