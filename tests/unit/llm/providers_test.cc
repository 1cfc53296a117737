// Goal: the HTTP providers speak the real wire formats and fail clearly: OpenAI chat completions
// and Anthropic messages, plain and streamed, with tool calls (parallel, arguments split across
// deltas), usage; retries on 429 and 5xx (Retry-After honoured) but not on 401, malformed answers
// or after a delta was delivered; a timeout per attempt; Letta's error types. Also the URL parser,
// model handles and the SSE splitter (any split of the bytes gives the same events).
// Method: the scripted fake LLM (tests/compat/fake-llm.mjs, a real HTTP server in a child process
// on 127.0.0.1, stopped by its PID) on the real world's executor; its control API scripts the
// replies and its request log shows what the provider sent.

#include "llm/llm.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <fstream>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "io/real_world.h"
#include "llm/http/client.h"

extern char** environ;

namespace kelpie::llm {
namespace {

namespace json = boost::json;

// Starts a program (found on PATH) with stdout, and stderr unless `keep_stderr`, to /dev/null;
// returns its pid, or -1.
pid_t spawn_quiet(std::vector<std::string> args, bool keep_stderr) {
    std::vector<char*> argv;
    for (std::string& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    if (!keep_stderr) {
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    }
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc == 0 ? pid : -1;
}

// Runs a program to completion (stdout and stderr to /dev/null); returns its exit status.
int run_program(std::vector<std::string> args) {
    const pid_t pid = spawn_quiet(std::move(args), false);
    if (pid < 0) {
        return -1;
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A throwaway self-signed certificate (its own CA) for 127.0.0.1 only, made with the openssl CLI.
struct TestCertificate {
    std::filesystem::path cert;
    std::filesystem::path key;
};
TestCertificate make_test_certificate(const std::filesystem::path& dir) {
    TestCertificate c{dir / "cert.pem", dir / "key.pem"};
    const int rc = run_program({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                                "/CN=kelpie-test", "-addext", "subjectAltName=IP:127.0.0.1",
                                "-keyout", c.key.string(), "-out", c.cert.string()});
    if (rc != 0) {
        throw std::runtime_error("openssl could not make a test certificate");
    }
    return c;
}

// The fake LLM as a child process on a free port (serving HTTPS with `tls` set).
class FakeLlm {
public:
    explicit FakeLlm(std::optional<TestCertificate> tls = std::nullopt)
        : tls_(tls.has_value()) {
        dir_ = std::filesystem::temp_directory_path() /
               ("kelpie-fake-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
        std::filesystem::create_directories(dir_);
        const std::string port_file = (dir_ / "port").string();
        const std::string script = std::string(KELPIE_SOURCE_DIR) + "/tests/compat/fake-llm.mjs";
        std::vector<std::string> args = {"node", script, "--port", "0", "--port-file", port_file};
        if (tls.has_value()) {
            args.insert(args.end(), {"--tls-cert", tls->cert.string(), "--tls-key", tls->key.string()});
        }
        pid_ = spawn_quiet(std::move(args), true);
        if (pid_ < 0) {
            pid_ = 0;
            throw std::runtime_error("cannot start node");
        }
        for (int i = 0; i < 200 && port_ == 0; i++) {
            std::ifstream in(port_file);
            if (!(in >> port_)) {
                port_ = 0;
                std::this_thread::sleep_for(std::chrono::milliseconds(25));
            }
        }
        if (port_ == 0) {
            throw std::runtime_error("the fake LLM did not start");
        }
    }
    ~FakeLlm() {
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        std::filesystem::remove_all(dir_);
    }
    uint16_t port() const { return port_; }
    std::string base(std::string_view suffix = "", std::string_view host = "127.0.0.1") const {
        return std::string(tls_ ? "https://" : "http://") + std::string(host) + ":" +
               std::to_string(port_) + std::string(suffix);
    }

private:
    static inline int counter_ = 0;
    bool tls_ = false;
    pid_t pid_ = 0;
    uint16_t port_ = 0;
    std::filesystem::path dir_;
};

class ProviderTest : public ::testing::Test {
protected:
    template <typename T>
    T run(io::Task<T> task) {
        return io::block_on(world_, world_.executor(), std::move(task));
    }
    // A call to the fake's control API.
    json::value control(std::string method, std::string path, std::string body = "") {
        http::Url url = *http::parse_url(fake_.base());
        http::Request r;
        r.method = std::move(method);
        r.path = std::move(path);
        r.headers.emplace_back("Content-Type", "application/json");
        r.body = std::move(body);
        Result<http::Response> answer = run(http::send(world_.network(), url, r, nullptr, 1 << 24));
        EXPECT_TRUE(answer.ok()) << answer.error().to_string();
        return answer.ok() ? json::parse(answer->body) : json::value();
    }
    void queue(std::string responses_json) {
        control("POST", "/__fake/reset");
        control("POST", "/__fake/queue", R"({"responses":)" + responses_json + "}");
    }
    json::array requests() { return control("GET", "/__fake/requests").as_array(); }

    std::unique_ptr<Provider> openai(std::string key = "k") {
        ProviderConfig c;
        c.base_url = fake_.base("/v1");
        c.api_key = std::move(key);
        return std::move(make_openai_provider(world_.executor(), world_.network(), c)).value();
    }
    std::unique_ptr<Provider> anthropic() {
        ProviderConfig c;
        c.base_url = fake_.base();
        c.api_key = "ak";
        return std::move(make_anthropic_provider(world_.executor(), world_.network(), c)).value();
    }
    static ChatRequest hello() {
        ChatRequest r;
        r.model = "gpt-4o-mini";
        r.system = "You are a test.";
        ChatMessage m;
        m.content = "hi";
        r.messages = chat_messages({m});
        ToolSchema t;
        t.name = "memory_insert";
        t.description = "insert";
        t.parameters_json = R"({"type":"object","properties":{"label":{"type":"string"}}})";
        r.tools.push_back(t);
        return r;
    }
    Result<ChatResponse> complete(Provider& p, ChatRequest r, std::vector<ChatDelta>* deltas = nullptr) {
        DeltaSink sink;
        if (deltas != nullptr) {
            sink = [deltas](const ChatDelta& d) { deltas->push_back(d); };
        }
        return run(p.complete(std::move(r), sink));
    }

    io::RealWorld world_;
    FakeLlm fake_;
};

TEST_F(ProviderTest, OpenAiTextWithUsageAndWhatItSent) {
    queue(R"([{"text":"hello"}])");
    auto p = openai();
    Result<ChatResponse> r = complete(*p, hello());
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->content, "hello");
    EXPECT_EQ(r->finish, FinishReason::stop);
    EXPECT_EQ(r->usage.total_tokens, 110);
    json::array log = requests();
    ASSERT_EQ(log.size(), 1u);
    const json::object& sent = log[0].as_object();
    EXPECT_EQ(sent.at("path").as_string(), "/v1/chat/completions");
    EXPECT_EQ(sent.at("headers").at("authorization").as_string(), "Bearer k");
    const json::object& body = sent.at("body").as_object();
    EXPECT_EQ(body.at("messages").as_array()[0].at("role").as_string(), "system");
    EXPECT_EQ(body.at("messages").as_array()[0].at("content").as_string(), "You are a test.");
    EXPECT_EQ(body.at("tools").as_array()[0].at("function").at("name").as_string(), "memory_insert");
    EXPECT_EQ(body.at("tool_choice").as_string(), "auto");
    EXPECT_FALSE(body.contains("stream"));
}

TEST_F(ProviderTest, OpenAiStreamsParallelToolCallsInPieces) {
    queue(R"([{"tools":[{"name":"a","args":{"x":1}},{"name":"b","args":{"y":"zz"}}]}])");
    auto p = openai();
    std::vector<ChatDelta> deltas;
    Result<ChatResponse> r = complete(*p, hello(), &deltas);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    ASSERT_EQ(r->tool_calls.size(), 2u);
    EXPECT_EQ(r->tool_calls[0].name, "a");
    EXPECT_EQ(json::parse(r->tool_calls[0].arguments), json::parse(R"({"x":1})"));
    EXPECT_EQ(r->tool_calls[1].id, "call_2");
    EXPECT_EQ(json::parse(r->tool_calls[1].arguments), json::parse(R"({"y":"zz"})"));
    EXPECT_EQ(r->finish, FinishReason::tool_calls);
    EXPECT_EQ(r->usage.prompt_tokens, 100);
    // Each call's arguments came in at least two deltas, named on the first.
    std::map<size_t, int> pieces;
    for (const ChatDelta& d : deltas) {
        ASSERT_EQ(d.kind, ChatDelta::Kind::tool_call);
        pieces[d.tool_index] += d.arguments.empty() ? 0 : 1;
    }
    EXPECT_GE(pieces[0], 2);
    EXPECT_GE(pieces[1], 2);
    EXPECT_EQ(deltas.front().tool_name, "a");
    EXPECT_EQ(requests()[0].at("body").at("stream_options").at("include_usage").as_bool(), true);
}

TEST_F(ProviderTest, OpenAiStreamedTextArrivesAsDeltas) {
    queue(R"([{"text":"streamed answer"}])");
    auto p = openai();
    std::vector<ChatDelta> deltas;
    Result<ChatResponse> r = complete(*p, hello(), &deltas);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    std::string joined;
    for (const ChatDelta& d : deltas) {
        joined += d.text;
    }
    EXPECT_GE(deltas.size(), 2u);
    EXPECT_EQ(joined, "streamed answer");
    EXPECT_EQ(r->content, "streamed answer");
}

TEST_F(ProviderTest, RateLimitIsRetriedThenSucceeds) {
    queue(R"([{"http":429,"retry_after":0},{"text":"after the wait"}])");
    auto p = openai();
    Result<ChatResponse> r = complete(*p, hello());
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->content, "after the wait");
    EXPECT_EQ(requests().size(), 2u);
}

TEST_F(ProviderTest, ServerErrorsExhaustTheRetries) {
    queue(R"([{"http":500},{"http":500},{"http":500},{"http":500},{"text":"too late"}])");
    auto p = openai();
    Result<ChatResponse> r = complete(*p, hello());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), ErrorCode::unavailable);
    EXPECT_NE(r.error().message.find("after 3 retries"), std::string::npos) << r.error().message;
    EXPECT_EQ(error_type_name(error_type(r.error())), "llm_error");
    EXPECT_EQ(requests().size(), static_cast<size_t>(1 + llm_retries_max));
}

TEST_F(ProviderTest, AuthenticationFailureIsNotRetried) {
    queue(R"([{"http":401},{"text":"never"}])");
    auto p = openai("wrong");
    Result<ChatResponse> r = complete(*p, hello());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(error_type_name(error_type(r.error())), "llm_authentication");
    EXPECT_EQ(requests().size(), 1u);
}

TEST_F(ProviderTest, MalformedAnswersAreInvalidResponses) {
    queue(R"([{"malformed":true}])");
    auto p = openai();
    Result<ChatResponse> r = complete(*p, hello());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), ErrorCode::corruption);
    EXPECT_EQ(error_type(r.error()), LlmErrorType::invalid_response);
    queue(R"([{"malformed":true}])");
    std::vector<ChatDelta> deltas;
    Result<ChatResponse> streamed = complete(*p, hello(), &deltas);
    ASSERT_FALSE(streamed.ok());
}

TEST_F(ProviderTest, AnErrorAfterADeltaIsNotRetried) {
    queue(R"([{"text":"partial answer here","sse_error":true},{"text":"never"}])");
    auto p = openai();
    std::vector<ChatDelta> deltas;
    Result<ChatResponse> r = complete(*p, hello(), &deltas);
    ASSERT_FALSE(r.ok());
    EXPECT_FALSE(deltas.empty());
    EXPECT_EQ(requests().size(), 1u);
}

TEST_F(ProviderTest, EachAttemptHasATimeout) {
    queue(R"([{"text":"slow","delay_ms":5000},{"text":"in time"}])");
    auto p = openai();
    ChatRequest req = hello();
    req.timeout = Duration::ms(300);
    Result<ChatResponse> r = complete(*p, req);
    ASSERT_TRUE(r.ok()) << r.error().to_string();  // the first attempt timed out; the retry answered
    EXPECT_EQ(r->content, "in time");
    queue(R"([{"text":"slow","delay_ms":5000},{"text":"slow","delay_ms":5000},{"text":"slow","delay_ms":5000},{"text":"slow","delay_ms":5000}])");
    Result<ChatResponse> t = complete(*p, req);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(error_type_name(error_type(t.error())), "llm_timeout");
}

TEST_F(ProviderTest, RefusedConnectionIsUnavailable) {
    ProviderConfig c;
    c.base_url = "http://127.0.0.1:1/v1";  // nothing listens on port 1
    auto p = std::move(make_openai_provider(world_.executor(), world_.network(), c)).value();
    Result<ChatResponse> r = complete(*p, hello());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), ErrorCode::unavailable);
}

TEST_F(ProviderTest, AnthropicTextToolsAndWhatItSent) {
    queue(R"([{"tool":"memory_insert","args":{"label":"human"}},{"text":"done"}])");
    auto p = anthropic();
    ChatRequest req = hello();
    req.model = "claude-sonnet-4-5";
    std::vector<ChatDelta> deltas;
    Result<ChatResponse> r = complete(*p, req, &deltas);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    ASSERT_EQ(r->tool_calls.size(), 1u);
    EXPECT_EQ(r->tool_calls[0].id, "toolu_1");
    EXPECT_EQ(json::parse(r->tool_calls[0].arguments), json::parse(R"({"label":"human"})"));
    EXPECT_EQ(r->finish, FinishReason::tool_calls);
    // The tool's result goes back as a user turn with a tool_result block.
    ChatMessage call;
    call.role = Role::assistant;
    call.tool_calls = r->tool_calls;
    ChatMessage result;
    result.role = Role::tool;
    result.tool_call_id = "toolu_1";
    result.content = "ok";
    std::vector<ChatMessage> conversation = *req.messages;
    conversation.push_back(call);
    conversation.push_back(result);
    req.messages = chat_messages(std::move(conversation));
    Result<ChatResponse> second = complete(*p, req);
    ASSERT_TRUE(second.ok()) << second.error().to_string();
    EXPECT_EQ(second->content, "done");
    json::array log = requests();
    ASSERT_EQ(log.size(), 2u);
    const json::object& sent = log[1].as_object();
    EXPECT_EQ(sent.at("path").as_string(), "/v1/messages");
    EXPECT_EQ(sent.at("headers").at("x-api-key").as_string(), "ak");
    EXPECT_EQ(sent.at("headers").at("anthropic-version").as_string(), "2023-06-01");
    EXPECT_EQ(sent.at("body").at("system").as_string(), "You are a test.");
    const json::array& messages = sent.at("body").at("messages").as_array();
    ASSERT_EQ(messages.size(), 3u);
    EXPECT_EQ(messages[2].at("role").as_string(), "user");
    EXPECT_EQ(messages[2].at("content").as_array()[0].at("type").as_string(), "tool_result");
    EXPECT_EQ(messages[2].at("content").as_array()[0].at("tool_use_id").as_string(), "toolu_1");
}

// https endpoints: TLS over io::Network::connect_tls against the fake LLM serving HTTPS with a
// throwaway certificate for 127.0.0.1. Trusted (RealWorldOptions::tls_ca_file), the whole
// provider path works, streamed too; untrusted, or for another name, the handshake is refused
// with the reason, before any request byte leaves.
class TlsTest : public ::testing::Test {
protected:
    TlsTest()
        : dir_(std::filesystem::temp_directory_path() /
               ("kelpie-tls-" + std::to_string(::getpid()))),
          cert_((std::filesystem::create_directories(dir_), make_test_certificate(dir_))),
          fake_(cert_) {}
    ~TlsTest() override { std::filesystem::remove_all(dir_); }

    template <typename T>
    static T run(io::RealWorld& world, io::Task<T> task) {
        return io::block_on(world, world.executor(), std::move(task));
    }
    static Result<http::Response> get(io::RealWorld& world, const std::string& base) {
        http::Request r;
        r.method = "GET";
        r.path = "/__fake/requests";
        return run(world, http::send(world.network(), *http::parse_url(base), r, nullptr, 1 << 20));
    }

    std::filesystem::path dir_;
    TestCertificate cert_;
    FakeLlm fake_;
};

TEST_F(TlsTest, TrustedEndpointServesPlainAndStreamedCalls) {
    io::RealWorld world(io::RealWorldOptions{.tls_ca_file = cert_.cert.string()});
    ProviderConfig c;
    c.base_url = fake_.base("/v1");
    c.api_key = "k";
    auto p = std::move(make_openai_provider(world.executor(), world.network(), c)).value();
    ChatRequest r;
    r.model = "gpt-4o-mini";
    ChatMessage m;
    m.content = "hi";
    r.messages = chat_messages({m});
    Result<ChatResponse> plain = run(world, p->complete(r, nullptr));
    ASSERT_TRUE(plain.ok()) << plain.error().to_string();
    EXPECT_FALSE(plain->content.empty());
    std::string streamed;
    int deltas = 0;
    Result<ChatResponse> answer = run(world, p->complete(r, [&](const ChatDelta& d) {
        streamed += d.text;
        deltas++;
    }));
    ASSERT_TRUE(answer.ok()) << answer.error().to_string();
    EXPECT_GE(deltas, 2);
    EXPECT_EQ(streamed, answer->content);
    EXPECT_EQ(streamed, plain->content);
    Result<http::Response> log = get(world, fake_.base());
    ASSERT_TRUE(log.ok()) << log.error().to_string();
    const json::array sent = json::parse(log->body).as_array();
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[0].at("headers").at("authorization").as_string(), "Bearer k");
    EXPECT_EQ(sent[0].at("headers").at("host").as_string(),
              "127.0.0.1:" + std::to_string(fake_.port()));
}

TEST_F(TlsTest, UntrustedCertificateIsRefusedWithTheReason) {
    io::RealWorld world;  // the system's CAs only
    Result<http::Response> r = get(world, fake_.base());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), ErrorCode::unavailable);
    EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("self-signed certificate"), std::string::npos)
        << r.error().message;
}

TEST_F(TlsTest, CertificateForAnotherNameIsRefused) {
    io::RealWorld world(io::RealWorldOptions{.tls_ca_file = cert_.cert.string()});
    // "localhost" resolves to the same fake, but the certificate names only 127.0.0.1.
    Result<http::Response> r = get(world, fake_.base("", "localhost"));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("hostname mismatch"), std::string::npos)
        << r.error().message;
}

TEST_F(TlsTest, AnUnreadableCaFileIsReportedAtStart) {
    io::RealWorld world(io::RealWorldOptions{.tls_ca_file = (dir_ / "missing.pem").string()});
    Status ready = world.prepare_tls();
    ASSERT_FALSE(ready.ok());
    EXPECT_NE(ready.error().message.find("missing.pem"), std::string::npos)
        << ready.error().message;
    // A plain-text file is no CA file either.
    std::ofstream(dir_ / "junk.pem") << "not a certificate\n";
    io::RealWorld junk(io::RealWorldOptions{.tls_ca_file = (dir_ / "junk.pem").string()});
    EXPECT_FALSE(junk.prepare_tls().ok());
}

TEST(Llm, UrlsAndModelHandles) {
    Result<http::Url> u = http::parse_url("http://127.0.0.1:9999/v1/");
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->host, "127.0.0.1");
    EXPECT_EQ(u->port, 9999);
    EXPECT_EQ(u->prefix, "/v1");
    EXPECT_EQ(http::parse_url("http://localhost")->port, 80);
    EXPECT_EQ(http::parse_url("http://[::1]:8080")->host, "::1");
    Result<http::Url> tls = http::parse_url("https://api.openai.com/v1");
    ASSERT_TRUE(tls.ok());
    EXPECT_TRUE(tls->tls);
    EXPECT_EQ(tls->port, 443);
    EXPECT_EQ(tls->host, "api.openai.com");
    EXPECT_FALSE(u->tls);
    EXPECT_EQ(http::parse_url("ftp://x").code(), ErrorCode::invalid_argument);
    EXPECT_EQ(http::parse_url("http://host:99999").code(), ErrorCode::invalid_argument);
    EXPECT_EQ(http::parse_url("http://:80").code(), ErrorCode::invalid_argument);
    Result<ModelHandle> h = parse_model_handle("openai/meta-llama/Llama-3-8B");
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->provider, "openai");
    EXPECT_EQ(h->model, "meta-llama/Llama-3-8B");
    EXPECT_EQ(parse_model_handle("gpt-4o").code(), ErrorCode::invalid_argument);
    Providers none;
    EXPECT_EQ(none.resolve(*h).code(), ErrorCode::not_found);
}

TEST(Sse, FieldsCommentsAndLineEnds) {
    http::SseSplitter s;
    auto events = s.feed(": comment\r\nevent: ping\r\ndata: {}\r\n\r\ndata: a\ndata: b\n\ndata:[DONE]\n\n");
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[0].event, "ping");
    EXPECT_EQ(events[0].data, "{}");
    EXPECT_EQ(events[1].data, "a\nb");
    EXPECT_EQ(events[2].data, "[DONE]");
}

RC_GTEST_PROP(Sse, AnySplitOfTheBytesGivesTheSameEvents, ()) {
    const std::string stream =
        "event: message_start\ndata: {\"x\":1}\n\n: ping\r\ndata: line one\r\ndata: line two\r\n\r\n"
        "data: {\"choices\":[]}\n\nevent: error\ndata: {\"error\":\"e\"}\n\n";
    http::SseSplitter whole;
    const auto expected = whole.feed(stream);
    const auto cuts = *rc::gen::container<std::vector<size_t>>(rc::gen::inRange<size_t>(0, stream.size()));
    std::vector<size_t> sorted = cuts;
    std::sort(sorted.begin(), sorted.end());
    http::SseSplitter pieces;
    std::vector<http::SseSplitter::Event> got;
    size_t at = 0;
    for (size_t cut : sorted) {
        for (auto& e : pieces.feed(std::string_view(stream).substr(at, cut - at))) {
            got.push_back(e);
        }
        at = cut;
    }
    for (auto& e : pieces.feed(std::string_view(stream).substr(at))) {
        got.push_back(e);
    }
    RC_ASSERT(got.size() == expected.size());
    for (size_t i = 0; i < got.size(); i++) {
        RC_ASSERT(got[i].event == expected[i].event);
        RC_ASSERT(got[i].data == expected[i].data);
    }
}

}  // namespace
}  // namespace kelpie::llm
