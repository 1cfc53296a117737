// Goal: agents keep Letta's semantics and their durability promises: create/retrieve/list/update/
// delete with blocks and tools; the default loop (tools until plain text); memory edits reach the
// next prompt; client tools stop for approval and continue with the client's result; a pending
// approval refuses new messages; the same idempotency key answers once; a crash in the middle of a
// multi-step turn resumes at the last committed step without repeating a completed model call and
// leaves no duplicate and no unanswered tool call; bad input is refused with invalid_argument.
// Method: SimCluster (the real registry + runtime on the simulated world) with an AgentService
// per node incarnation and the simulated model (llm/sim_llm.h), whose script and request log
// stand in for a provider.

#include "agent/agent.h"

#include <gtest/gtest.h>

#include "agent/loop/tools.h"
#include "agent/model/records.h"
#include "io/combinators.h"
#include "llm/sim_llm.h"
#include "sim/cluster.h"

namespace kelpie::agent {
namespace {

// One AgentService (with its own simulated model) per node incarnation. Services of crashed
// incarnations are never destroyed: their suspended tasks point at them (SimCluster::graveyard_).
struct Agents {
    struct PerNode {
        llm::SimLlm* llm = nullptr;
        AgentService* service = nullptr;
    };
    std::vector<PerNode> nodes;
    std::vector<llm::SimLlm*> all_llms;

    explicit Agents(sim::SimCluster& c, llm::SimLlmFaults faults = {}) {
        nodes.resize(c.size());
        c.on_node_objects([this, faults](size_t i, sim::SimCluster::Node& n) {
            auto* providers = new llm::Providers();  // lives as long as the incarnation (leaked)
            auto sim = std::make_unique<llm::SimLlm>(*n.executor, faults);
            nodes[i].llm = sim.get();
            all_llms.push_back(sim.get());
            providers->add(std::move(sim));
            ServiceOptions options;
            options.default_model = "sim/model-1";
            nodes[i].service = new AgentService(*n.executor, *n.link, *n.runtime, *providers, options);
            nodes[i].service->register_actor_types();
        });
    }
};

sim::SimClusterOptions cluster_options(size_t nodes) {
    sim::SimClusterOptions o;
    o.nodes = nodes;
    o.registry.lease_ttl = Duration::s(3);
    o.registry.safety_margin = Duration::ms(300);
    o.runtime.recovery_sweep_interval = Duration::s(5);
    o.link.delay_max = Duration::ms(2);
    return o;
}

json::value parse(std::string_view text) { return json::parse(text); }

std::string s(const json::value& v, std::string_view key) {
    const json::value* x = v.as_object().if_contains(key);
    return (x != nullptr && x->is_string()) ? std::string(x->as_string()) : std::string();
}

// The message types of a list of Letta messages, in order.
std::vector<std::string> types(const json::array& messages) {
    std::vector<std::string> out;
    for (const json::value& m : messages) {
        out.push_back(s(m, "message_type"));
    }
    return out;
}

class AgentTest : public ::testing::Test {
protected:
    AgentTest() : world(io::SimWorldOptions{.seed = 7}), cluster(world, cluster_options(1)), agents(cluster) {
        EXPECT_TRUE(cluster.start_all().ok());
    }
    ~AgentTest() override { cluster.stop_all(); }

    AgentService& svc() { return *agents.nodes[0].service; }
    llm::SimLlm& model() { return *agents.nodes[0].llm; }

    json::object create(std::string_view body) {
        Result<json::object> a = cluster.run(0, svc().create_agent(parse(body)));
        EXPECT_TRUE(a.ok()) << a.error().to_string();
        return a.ok() ? *a : json::object();
    }
    Result<SendResult> send(const std::string& agent_id, std::string_view body, std::string key = "") {
        return cluster.run(0, svc().send_message(agent_id, "", parse(body), nullptr, std::move(key)));
    }
    json::array history(const std::string& agent_id) {
        Result<json::array> m = cluster.run(0, svc().list_messages(agent_id, Query()));
        EXPECT_TRUE(m.ok()) << m.error().to_string();
        return m.ok() ? *m : json::array();
    }

    io::SimWorld world;
    sim::SimCluster cluster;
    Agents agents;
};

TEST_F(AgentTest, LifecycleWithBlocksAndTools) {
    json::object a = create(R"({"name":"bob","memory_blocks":[{"label":"human","value":"Name: Bob"},
        {"label":"persona","value":"helpful","limit":50}],"tools":["web_search"],"tags":["t1"]})");
    const std::string id = s(a, "id");
    EXPECT_TRUE(valid_id(id, "agent"));
    EXPECT_EQ(s(a, "agent_type"), "letta_v1_agent");
    EXPECT_EQ(s(a, "model"), "sim/model-1");
    ASSERT_EQ(a.at("blocks").as_array().size(), 2u);
    EXPECT_EQ(a.at("blocks").as_array()[0].at("limit").as_int64(), block_chars_limit_default);
    EXPECT_FALSE(s(a.at("blocks").as_array()[0], "description").empty());  // human default
    std::vector<std::string> tools;
    for (const json::value& t : a.at("tools").as_array()) {
        tools.push_back(s(t, "name"));
    }
    // letta_v1 defaults; the unknown "web_search" is ignored.
    EXPECT_EQ(tools, (std::vector<std::string>{"conversation_search", "memory_insert", "memory_replace"}));

    Result<json::object> got = cluster.run(0, svc().retrieve_agent(id));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(s(*got, "name"), "bob");
    Result<json::object> updated = cluster.run(0, svc().update_agent(id, parse(R"({"name":"robert"})")));
    ASSERT_TRUE(updated.ok());
    EXPECT_EQ(s(*updated, "name"), "robert");
    Query by_name;
    by_name.add("name", "robert");
    EXPECT_EQ(cluster.run(0, svc().list_agents(by_name))->size(), 1u);

    // A block over its limit is refused.
    Result<json::object> too_long = cluster.run(
        0, svc().update_agent_block(id, "persona", parse(R"({"value":")" + std::string(51, 'x') + R"("})")));
    EXPECT_EQ(too_long.code(), ErrorCode::invalid_argument);
    Result<json::object> edited = cluster.run(0, svc().update_agent_block(id, "persona", parse(R"({"value":"terse"})")));
    ASSERT_TRUE(edited.ok());
    EXPECT_EQ(s(*edited, "value"), "terse");

    ASSERT_TRUE(cluster.run(0, svc().delete_agent(id)).ok());
    EXPECT_EQ(cluster.run(0, svc().retrieve_agent(id)).code(), ErrorCode::not_found);
    EXPECT_EQ(cluster.run(0, svc().list_agents(by_name))->size(), 0u);
}

// conversation_search: case-insensitive (ASCII), newest first, filtered by role, limited; user
// content given as parts is searched as its joined text.
TEST(AgentTools, ConversationSearchFindsNewestFirstIgnoringCase) {
    const std::vector<json::object> stored = {
        parse(R"({"role":"system","content":"Tea everywhere","date":"d0"})").as_object(),
        parse(R"({"role":"user","content":[{"type":"text","text":"I like TEA"}],"date":"d1"})").as_object(),
        parse(R"({"role":"assistant","content":"Noted: tea.","date":"d2"})").as_object(),
        parse(R"({"role":"tool","tool_return":"teapot found","date":"d3"})").as_object(),
        parse(R"({"role":"user","content":"coffee","date":"d4"})").as_object(),
    };
    std::vector<loop::ToolEnv::Message> history;
    for (const json::object& m : stored) {
        history.push_back(loop::ToolEnv::Message{m.at("role").as_string(), &m});
    }
    loop::ToolEnv env;
    env.history = [&history] { return history; };
    const loop::BuiltinTool& search = loop::builtin_tools().at("conversation_search");
    auto run = [&](std::string_view args) {
        Result<std::string> r = search.run(parse(args).as_object(), env);
        EXPECT_TRUE(r.ok());
        return r.ok() ? *r : std::string();
    };
    const std::string all = run(R"({"query":"tEa"})");
    ASSERT_EQ(all.rfind("Found 3 results: ", 0), 0u) << all;
    const json::array hits = parse(all.substr(std::string("Found 3 results: ").size())).as_array();
    EXPECT_EQ(s(hits[0], "timestamp"), "d3");  // newest first; the system message is not searched
    EXPECT_EQ(s(hits[1], "content"), "Noted: tea.");
    EXPECT_EQ(s(hits[2], "content"), "I like TEA");
    EXPECT_EQ(s(hits[2], "role"), "user");
    EXPECT_EQ(run(R"({"query":"tea","roles":["user"],"limit":5})").rfind("Found 1 results: ", 0), 0u);
    EXPECT_EQ(run(R"({"query":"tea","limit":1})").rfind("Found 1 results: ", 0), 0u);
    EXPECT_EQ(run(R"({"query":"milk"})"), "No results found.");
}

// A run's recorded stream is bounded (run_stream_recorded_bytes_max): past it, events are live
// only, and following from before the cut is refused with a clear error instead of a stream with
// a hole in it; following from the newest seq_id still works.
TEST(RunStreamRecord, PastItsLimitFollowingFromBeforeTheCutIsRefused) {
    io::SimWorld world(io::SimWorldOptions{.seed = 3});
    io::Executor& ex = world.add_node();
    RunStream stream(ex, false, /*record=*/true);
    const std::string mib(1024 * 1024, 'x');
    const size_t fit = run_stream_recorded_bytes_max / mib.size();
    for (size_t i = 0; i < fit + 2; i++) {
        json::object m;
        m["message_type"] = "assistant_message";
        m["content"] = mib;
        stream.publish(std::move(m));
    }
    ASSERT_EQ(stream.last_seq_id(), static_cast<int64_t>(fit + 2));
    Result<RunStream::Follower> early = stream.follow(0);
    EXPECT_EQ(early.code(), ErrorCode::failed_precondition);
    EXPECT_NE(early.error().message.find("outgrew"), std::string::npos);
    Result<RunStream::Follower> now = stream.follow(stream.last_seq_id());
    ASSERT_TRUE(now.ok());
    EXPECT_TRUE(now->replay.empty());
    ASSERT_NE(now->live, nullptr);
    // A stream that is not recorded cannot be followed at all.
    RunStream plain(ex, false);
    EXPECT_EQ(plain.follow(0).code(), ErrorCode::failed_precondition);
    stream.finish(json::object());
    EXPECT_TRUE(now->live->closed());
}

// The system message is recompiled when what it shows of the memory changes (as Letta does), not
// at every step: an unchanged prompt prefix is what the providers' prompt caches need.
TEST_F(AgentTest, SystemMessageIsRecompiledOnlyWhenTheMemoryChanges) {
    const std::string id = s(create(R"({"memory_blocks":[{"label":"human","value":"Name: Bob"}]})"), "id");
    auto later = [](io::Executor* e) -> io::Task<void> { co_await e->sleep_for(Duration::s(2)); };
    ASSERT_TRUE(send(id, R"({"input":"hi"})").ok());
    const std::string first = model().requests().back().system;
    EXPECT_NE(first.find("Name: Bob"), std::string::npos);
    cluster.run(0, later(cluster.node(0).executor));
    ASSERT_TRUE(send(id, R"({"input":"again"})").ok());
    EXPECT_EQ(model().requests().back().system, first);  // same memory: not rewritten

    // A memory tool's edit shows in the very next step's prompt.
    const size_t before = model().requests().size();
    ASSERT_TRUE(send(id, R"({"input":"CALL memory_insert {\"label\":\"human\",\"new_string\":\"Likes tea\",\"insert_line\":-1}"})").ok());
    ASSERT_EQ(model().requests().size(), before + 2);
    EXPECT_EQ(model().requests()[before].system, first);
    const std::string edited = model().requests()[before + 1].system;
    EXPECT_NE(edited.find("Likes tea"), std::string::npos);
    EXPECT_NE(s(history(id).front(), "content"), first);  // the stored system message too

    // So does an edit through the API.
    ASSERT_TRUE(cluster.run(0, svc().update_agent_block(id, "human", parse(R"({"value":"Name: Robert"})"))).ok());
    ASSERT_TRUE(send(id, R"({"input":"once more"})").ok());
    EXPECT_NE(model().requests().back().system.find("Name: Robert"), std::string::npos);
}

TEST_F(AgentTest, PlainMessageEndsTheTurnWithTheModelsText) {
    const std::string id = s(create("{}"), "id");
    Result<SendResult> r = send(id, R"({"messages":[{"role":"user","content":"hello","otid":"o-1"}]})");
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    const json::object& response = r->response;
    EXPECT_EQ(types(response.at("messages").as_array()), (std::vector<std::string>{"assistant_message"}));
    EXPECT_EQ(s(response.at("messages").as_array()[0], "content"), "ECHO: hello");
    EXPECT_EQ(s(response.at("stop_reason"), "stop_reason"), "end_turn");
    EXPECT_EQ(response.at("usage").at("step_count").as_int64(), 1);
    const json::array h = history(id);
    EXPECT_EQ(types(h), (std::vector<std::string>{"system_message", "user_message", "assistant_message"}));
    EXPECT_EQ(s(h[1], "otid"), "o-1");
    // Content parts are accepted too, and `input` is sugar for one user message.
    ASSERT_TRUE(send(id, R"({"input":[{"type":"text","text":"parts"}]})").ok());
    EXPECT_EQ(s(history(id).back(), "content"), "ECHO: parts");
}

// An agent that stays active keeps its prompt to the context: the system prompt and the newest
// context_messages_max messages (the context kept at the turn's start, then the turn's own
// input), however long the history grows.
TEST(AgentContext, LongLivedActivationKeepsThePromptToTheContext) {
    io::SimWorld world(io::SimWorldOptions{.seed = 11});
    sim::SimCluster cluster(world, cluster_options(1));
    Agents agents(cluster, llm::SimLlmFaults{.latency_max = Duration::zero(), .keep_requests = false});
    ASSERT_TRUE(cluster.start_all().ok());
    AgentService& svc = *agents.nodes[0].service;
    Result<json::object> made = cluster.run(0, svc.create_agent(parse("{}")));
    ASSERT_TRUE(made.ok());
    const std::string id = s(*made, "id");
    const size_t sends = context_messages_max / 2 + 10;  // two messages each: past the context
    for (size_t i = 0; i < sends; i++) {
        const std::string body = R"({"input":"m)" + std::to_string(i) + "\"}";
        Result<SendResult> r = cluster.run(0, svc.send_message(id, "", parse(body), nullptr, ""));
        ASSERT_TRUE(r.ok()) << i << ": " << r.error().to_string();
    }
    // The last prompt: the newest messages up to the limit, ending with this turn's user message.
    // Before the last turn the history held m0, ECHO: m0, ..., ECHO: m<sends-2>; the turn kept
    // the newest context_messages_max - 1 of them.
    const llm::SimLlm& model = *agents.nodes[0].llm;
    EXPECT_EQ(model.last_request_messages(), context_messages_max);
    const size_t dropped = 2 * (sends - 1) - (context_messages_max - 1);
    const std::string first = dropped % 2 == 0 ? "m" + std::to_string(dropped / 2)
                                               : "ECHO: m" + std::to_string(dropped / 2);
    EXPECT_EQ(model.last_request_ends().first, first);
    EXPECT_EQ(model.last_request_ends().second, "m" + std::to_string(sends - 1));
    cluster.stop_all();
}

// A block shared by agents, or edited through the API, is never overwritten with a turn's stale
// copy: an edit made while an agent's turn runs survives, and the turn's own edit lands on top of
// it (the commit expects the block as the turn read it; refused, the turn runs again).
TEST(AgentSharedBlocks, AnEditMadeDuringATurnIsNotLost) {
    io::SimWorld world(io::SimWorldOptions{.seed = 13});
    sim::SimCluster cluster(world, cluster_options(1));
    Agents agents(cluster, llm::SimLlmFaults{.latency_max = Duration::ms(100), .latency_min = Duration::ms(100),
                                             .keep_requests = false});
    ASSERT_TRUE(cluster.start_all().ok());
    AgentService& svc = *agents.nodes[0].service;
    Result<json::object> block = cluster.run(0, svc.create_block(parse(R"({"label":"shared","value":"base"})")));
    ASSERT_TRUE(block.ok());
    const std::string block_id = s(*block, "id");
    Result<json::object> made = cluster.run(
        0, svc.create_agent(parse(R"({"tools":["core_memory_append"],"block_ids":[")" + block_id + R"("]})")));
    ASSERT_TRUE(made.ok()) << made.error().to_string();
    const std::string id = s(*made, "id");
    // The model takes 100 ms to ask for the append; 50 ms into the turn, the API rewrites the block.
    Result<SendResult> sent = Error(ErrorCode::internal, "not run");
    Result<json::object> edited = Error(ErrorCode::internal, "not run");
    auto send = [](AgentService* a, std::string agent, Result<SendResult>* out) -> io::Task<void> {
        *out = co_await a->send_message(
            agent, "", parse(R"({"input":"CALL core_memory_append {\"label\":\"shared\",\"content\":\"+agent\"}"})"),
            nullptr, "");
    };
    auto edit = [](io::Executor* e, AgentService* a, std::string b, Result<json::object>* out) -> io::Task<void> {
        co_await e->sleep_for(Duration::ms(50));
        *out = co_await a->update_block(b, parse(R"({"value":"base+api"})"));
    };
    std::vector<io::Task<void>> both;
    both.push_back(send(&svc, id, &sent));
    both.push_back(edit(cluster.node(0).executor, &svc, block_id, &edited));
    cluster.run(0, io::when_all(std::move(both)));
    ASSERT_TRUE(edited.ok()) << edited.error().to_string();
    ASSERT_TRUE(sent.ok()) << sent.error().to_string();
    Result<json::object> after = cluster.run(0, svc.retrieve_block(block_id));
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(s(*after, "value"), "base+api\n+agent");
    // The turn that ran again left one user message and one call with its return.
    Result<json::array> history = cluster.run(0, svc.list_messages(id, Query()));
    ASSERT_TRUE(history.ok());
    EXPECT_EQ(types(*history), (std::vector<std::string>{"system_message", "user_message", "tool_call_message",
                                                          "tool_return_message", "assistant_message"}));
    EXPECT_GE(cluster.node(0).runtime->counters().stale_commits, 1u);
    cluster.stop_all();
}

TEST_F(AgentTest, MemoryEditIsVisibleInTheNextPrompt) {
    const std::string id = s(create(R"({"memory_blocks":[{"label":"human","value":"Name: Bob"}]})"), "id");
    Result<SendResult> r = send(
        id, R"({"input":"CALL memory_insert {\"label\":\"human\",\"new_string\":\"Likes tea\"}"})");
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(types(r->response.at("messages").as_array()),
              (std::vector<std::string>{"tool_call_message", "tool_return_message", "assistant_message"}));
    EXPECT_EQ(s(r->response.at("messages").as_array()[1], "status"), "success");
    ASSERT_EQ(model().requests().size(), 2u);
    EXPECT_EQ(model().requests()[0].system.find("Likes tea"), std::string::npos);
    EXPECT_NE(model().requests()[1].system.find("Name: Bob\nLikes tea"), std::string::npos);
    // The second request carries the call and its result, paired.
    const std::vector<llm::ChatMessage>& sent = *model().requests()[1].messages;
    ASSERT_GE(sent.size(), 3u);
    EXPECT_EQ(sent[sent.size() - 2].tool_calls.size(), 1u);
    EXPECT_EQ(sent.back().role, llm::Role::tool);
    EXPECT_EQ(sent.back().tool_call_id, sent[sent.size() - 2].tool_calls[0].id);
    Result<json::object> block = cluster.run(0, svc().retrieve_agent_block(id, "human"));
    EXPECT_EQ(s(*block, "value"), "Name: Bob\nLikes tea");
    // A failing tool is an error return, not a failed turn.
    Result<SendResult> bad = send(
        id, R"({"input":"CALL memory_replace {\"label\":\"human\",\"old_string\":\"absent\",\"new_string\":\"x\"}"})");
    ASSERT_TRUE(bad.ok());
    EXPECT_EQ(s(bad->response.at("messages").as_array()[1], "status"), "error");
}

TEST_F(AgentTest, ClientToolWaitsForApprovalThenContinues) {
    const std::string id = s(create("{}"), "id");
    const std::string tools = R"("client_tools":[{"name":"Bash","parameters":{"type":"object","properties":{"command":{"type":"string"}}}}])";
    Result<SendResult> r = send(id, R"({"input":"CALL Bash {\"command\":\"echo hi\"}",)" + tools + "}");
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(s(r->response.at("stop_reason"), "stop_reason"), "requires_approval");
    const json::array& m = r->response.at("messages").as_array();
    ASSERT_EQ(types(m), (std::vector<std::string>{"approval_request_message"}));
    const std::string call_id = s(m[0].at("tool_call"), "tool_call_id");
    // A plain message now is refused (HTTP 409).
    EXPECT_EQ(send(id, R"({"input":"another"})").code(), ErrorCode::failed_precondition);
    Result<json::object> state = cluster.run(0, svc().retrieve_agent(id));
    EXPECT_FALSE(state->at("pending_approval").is_null());
    Result<SendResult> done = send(id, R"({"messages":[{"type":"approval","approvals":[{"type":"tool","tool_call_id":")" +
                                           call_id + R"(","tool_return":[{"type":"text","text":"hi\n"}],"status":"success"}]}],)" +
                                           tools + "}");
    ASSERT_TRUE(done.ok()) << done.error().to_string();
    EXPECT_EQ(types(done->response.at("messages").as_array()),
              (std::vector<std::string>{"tool_return_message", "assistant_message"}));
    EXPECT_EQ(s(done->response.at("messages").as_array()[0], "tool_return"), "hi\n");
    EXPECT_EQ(model().requests().back().messages->back().content,
              R"({"status":"OK","message":"hi\n","time":")" +
                  s(done->response.at("messages").as_array()[0], "date") + "\"}");
    // The answered request now reaches the model, between the input and its return.
    const std::vector<llm::ChatMessage>& after = *model().requests().back().messages;
    ASSERT_EQ(after.size(), 3u);
    EXPECT_EQ(after[0].role, llm::Role::user);
    EXPECT_EQ(after[1].role, llm::Role::assistant);
    ASSERT_EQ(after[1].tool_calls.size(), 1u);
    EXPECT_EQ(after[1].tool_calls[0].id, call_id);
    EXPECT_EQ(after[2].role, llm::Role::tool);
    // An approval with nothing pending is refused.
    EXPECT_EQ(send(id, R"({"messages":[{"type":"approval","approvals":[{"type":"approval","tool_call_id":"x","approve":true}]}]})").code(),
              ErrorCode::failed_precondition);
}

// The prompt holds one conversation's messages, kept between turns: switching conversations
// and back gives each request exactly its conversation so far.
TEST_F(AgentTest, EachPromptHoldsItsConversationOnly) {
    const std::string id = s(create("{}"), "id");
    Result<json::object> conv = cluster.run(0, svc().create_conversation(id, parse("{}")));
    ASSERT_TRUE(conv.ok()) << conv.error().to_string();
    const std::string other = s(*conv, "id");
    auto say = [&](const std::string& conversation, const std::string& text) {
        Result<SendResult> r = cluster.run(
            0, svc().send_message(id, conversation, parse(R"({"input":")" + text + "\"}"), nullptr, ""));
        EXPECT_TRUE(r.ok()) << r.error().to_string();
        std::vector<std::string> seen;
        for (const llm::ChatMessage& m : *model().requests().back().messages) {
            seen.push_back(m.content);
        }
        return seen;
    };
    using Texts = std::vector<std::string>;
    EXPECT_EQ(say("", "d1"), (Texts{"d1"}));
    EXPECT_EQ(say(other, "c1"), (Texts{"c1"}));
    EXPECT_EQ(say("", "d2"), (Texts{"d1", "ECHO: d1", "d2"}));
    EXPECT_EQ(say("", "d3"), (Texts{"d1", "ECHO: d1", "d2", "ECHO: d2", "d3"}));
    EXPECT_EQ(say(other, "c2"), (Texts{"c1", "ECHO: c1", "c2"}));
    // The conversation's in-context ids: the system message, then its four messages; the last is
    // the newest (letta-code looks there for a pending approval).
    Result<json::object> c = cluster.run(0, svc().retrieve_conversation(other));
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    const json::array& ids = c->at("in_context_message_ids").as_array();
    ASSERT_EQ(ids.size(), 5u);
    Result<json::object> agent = cluster.run(0, svc().retrieve_agent(id));
    ASSERT_TRUE(agent.ok());
    EXPECT_EQ(ids.front(), agent->at("message_ids").as_array().front());
    Result<json::array> last = cluster.run(0, svc().retrieve_message(std::string(ids.back().as_string())));
    ASSERT_TRUE(last.ok()) << last.error().to_string();
    EXPECT_EQ(s(last->back(), "content"), "ECHO: c2");
    Query q;
    q.add("agent_id", id);
    Result<json::array> listed = cluster.run(0, svc().list_conversations(q));
    ASSERT_TRUE(listed.ok());
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ(listed->at(0).at("in_context_message_ids").as_array(), ids);
}

TEST_F(AgentTest, SameIdempotencyKeyAnswersOnce) {
    const std::string id = s(create("{}"), "id");
    Result<SendResult> a = send(id, R"({"input":"once"})", "key-1");
    Result<SendResult> b = send(id, R"({"input":"once"})", "key-1");
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(json::serialize(a->response), json::serialize(b->response));
    EXPECT_EQ(model().requests().size(), 1u);
    EXPECT_EQ(history(id).size(), 3u);  // system, user, assistant: the second send did nothing
}

TEST_F(AgentTest, BadInputIsRefused) {
    EXPECT_EQ(cluster.run(0, svc().retrieve_agent("agent-nope")).code(), ErrorCode::invalid_argument);
    EXPECT_EQ(cluster.run(0, svc().retrieve_agent("agent-00000000-0000-4000-8000-000000000000")).code(),
              ErrorCode::not_found);
    EXPECT_EQ(cluster.run(0, svc().create_agent(parse(R"({"name":5})"))).code(), ErrorCode::invalid_argument);
    EXPECT_EQ(cluster.run(0, svc().create_agent(parse(R"([1])"))).code(), ErrorCode::invalid_argument);
    EXPECT_EQ(cluster.run(0, svc().create_agent(parse(R"({"agent_type":"nope"})"))).code(),
              ErrorCode::invalid_argument);
    EXPECT_EQ(cluster.run(0, svc().create_agent(parse(R"({"memory_blocks":[{"label":"a","value":"toolong","limit":3}]})"))).code(),
              ErrorCode::invalid_argument);
    const std::string id = s(create("{}"), "id");
    EXPECT_EQ(send(id, R"({})").code(), ErrorCode::invalid_argument);                        // neither
    EXPECT_EQ(send(id, R"({"input":"a","messages":[]})").code(), ErrorCode::invalid_argument);  // both
    EXPECT_EQ(send(id, R"({"messages":[{"role":"user","content":7}]})").code(), ErrorCode::invalid_argument);
    EXPECT_EQ(send(id, R"({"input":"x","max_steps":0})").code(), ErrorCode::invalid_argument);
    EXPECT_EQ(send(id, R"({"input":")" + std::string(message_text_bytes_max + 1, 'a') + "\"}").code(),
              ErrorCode::limit_exceeded);
    EXPECT_EQ(model().requests().size(), 0u);  // nothing reached the model
}

TEST_F(AgentTest, MaxStepsStopsALoopingModel) {
    const std::string id = s(create("{}"), "id");
    for (int i = 0; i < 5; i++) {
        llm::ChatResponse call;
        call.tool_calls.push_back(llm::ToolCall{"call_" + std::to_string(i), "conversation_search", R"({"query":"x"})"});
        call.finish = llm::FinishReason::tool_calls;
        model().queue(call);
    }
    Result<SendResult> r = send(id, R"({"input":"loop","max_steps":3})");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(s(r->response.at("stop_reason"), "stop_reason"), "max_steps");
    EXPECT_EQ(model().requests().size(), 3u);
}

TEST_F(AgentTest, ModelFailureIsAStopReasonNotALostTurn) {
    const std::string id = s(create("{}"), "id");
    model().queue_error(Error(ErrorCode::limit_exceeded, "rate limit (HTTP 429) after retries"));
    Result<SendResult> r = send(id, R"({"input":"hi"})");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(s(r->response.at("stop_reason"), "stop_reason"), "llm_api_error");
    EXPECT_EQ(s(r->response.at("error"), "error_type"), "llm_rate_limit");
    // The user's message is kept; the agent still answers afterwards.
    EXPECT_EQ(types(history(id)), (std::vector<std::string>{"system_message", "user_message"}));
    ASSERT_TRUE(send(id, R"({"input":"again"})").ok());
}

// A crash while the second model call of a turn is in flight: the turn finishes after the restart
// (the recovery sweep, no caller), the first call is not repeated, and the history holds each
// message once with every tool call answered.
TEST(AgentCrash, TurnResumesAtTheLastCommittedStep) {
    io::SimWorld world(io::SimWorldOptions{.seed = 11});
    sim::SimCluster cluster(world, cluster_options(1));
    llm::SimLlmFaults slow;
    slow.latency_max = Duration::ms(400);
    Agents agents(cluster, slow);
    ASSERT_TRUE(cluster.start_all().ok());
    Result<json::object> created =
        cluster.run(0, agents.nodes[0].service->create_agent(parse(R"({"memory_blocks":[{"label":"human","value":"x"}]})")));
    ASSERT_TRUE(created.ok());
    const std::string id = s(*created, "id");
    llm::SimLlm* first_model = agents.nodes[0].llm;
    // Step 1 edits memory; step 2 answers. Start the send and crash during step 2's call.
    llm::ChatResponse edit;
    edit.tool_calls.push_back(llm::ToolCall{"call_1", "memory_insert", R"({"label":"human","new_string":"y"})"});
    edit.finish = llm::FinishReason::tool_calls;
    first_model->queue(edit);
    AgentService* service = agents.nodes[0].service;
    io::spawn(*cluster.node(0).executor,
              [](AgentService* svc, std::string agent) -> io::Task<void> {
                  json::value body = json::parse(R"({"input":"go"})");
                  (void)co_await svc->send_message(agent, "", std::move(body), nullptr, "");
              }(service, id));
    while (first_model->requests().size() < 2) {
        world.run_for(Duration::ms(1));
    }
    cluster.crash(0);
    world.run_for(Duration::s(5));  // the old lease expires
    ASSERT_TRUE(cluster.start(0).ok());
    world.run_for(Duration::s(10));  // the sweep activates the agent; its pending turn finishes
    llm::SimLlm* second_model = agents.nodes[0].llm;
    ASSERT_NE(second_model, first_model);
    // The restarted node called the model once: step 2 again, with step 1's results.
    ASSERT_EQ(second_model->requests().size(), 1u);
    EXPECT_EQ(second_model->requests()[0].messages->back().role, llm::Role::tool);
    EXPECT_NE(second_model->requests()[0].system.find("x\ny"), std::string::npos);
    Result<json::array> h = cluster.run(0, agents.nodes[0].service->list_messages(id, Query()));
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(types(*h), (std::vector<std::string>{"system_message", "user_message", "tool_call_message",
                                                    "tool_return_message", "assistant_message"}));
    Result<json::array> runs = cluster.run(0, agents.nodes[0].service->list_runs(Query()));
    ASSERT_TRUE(runs.ok());
    ASSERT_EQ(runs->size(), 1u);
    EXPECT_EQ(s((*runs)[0], "status"), "completed");
    cluster.stop_all();
}

}  // namespace
}  // namespace kelpie::agent

namespace kelpie::agent {
namespace {

TEST(Records, IsoTimeIsTheCivilDateInUtc) {
    EXPECT_EQ(records::iso_time(WallTime::from_unix_ms(0)), "1970-01-01T00:00:00+00:00");
    EXPECT_EQ(records::iso_time(WallTime::from_unix_ms(1'767'225'600'000)), "2026-01-01T00:00:00+00:00");
    EXPECT_EQ(records::iso_time(WallTime::from_unix_ms(951'782'400'000 + 3'723'999)),
              "2000-02-29T01:02:03+00:00");  // a leap day
    EXPECT_EQ(records::iso_time(WallTime::from_unix_ms(-1000)), "1969-12-31T23:59:59+00:00");
}

}  // namespace
}  // namespace kelpie::agent
