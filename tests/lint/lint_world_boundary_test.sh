#!/usr/bin/env bash
# Tests scripts/lint_world_boundary on throwaway source trees, then runs it on the real repository.
#
# Usage: tests/lint/lint_world_boundary_test.sh [REPO_ROOT]   (REPO_ROOT defaults to this repo)
#
# Every tree starts from a clean baseline (realistic files full of near misses: comments naming
# banned calls, identifiers such as operand( and my_rand(, member calls such as socket.open(,
# interface declarations such as `Task<Result<File>> open(`, and a src/io/real/ that uses threads,
# Asio and fopen freely). A "violation" case adds one file whose line 7 (or a given line) breaks
# one rule and checks that the lint exits 1 and reports exactly that file, line and rule and
# nothing else, so each case fails if its rule's pattern is removed. A "clean" case adds a near
# miss and checks that the lint still exits 0.
# No pipefail: `printf | grep -q` must not fail when grep exits early and printf gets SIGPIPE.
set -u

repo_root=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"}
lint="$repo_root/scripts/lint_world_boundary"
if [ ! -x "$lint" ]; then
    echo "FAIL: $lint is missing or not executable"
    echo "0 passed, 1 failed"
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
case_number=0
out=''
rc=0

pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() {
    echo "FAIL: $1"
    echo "    $2"
    if [ -n "$out" ]; then sed 's/^/    | /' <<<"$out"; fi
    failed=$((failed + 1))
}

run_lint() {
    out=$("$lint" "$@" 2>&1)
    rc=$?
}

# put ROOT RELPATH: writes stdin to ROOT/RELPATH.
put() {
    mkdir -p "$(dirname "$1/$2")"
    cat >"$1/$2"
}

# The clean baseline. BASELINE_FILES is the number of files the lint must check in it.
BASELINE_FILES=6
make_baseline() {
    local root=$1
    put "$root" src/io/executor.h <<'EOF'
#pragma once

// The Executor: where tasks run. Never call std::thread, std::this_thread::sleep_for, fopen(),
// getenv() or std::chrono::steady_clock::now() here: the world comes in through this interface.
/* Real implementation: src/io/real/ (boost::asio::io_context, std::mutex for post()).
   Simulated implementation: src/io/sim/ (virtual time, seeded rand()-free Random). */

#include <cstdint>
#include <string_view>

#include "io/random.h"

namespace kelpie::io {

class Executor {
public:
    virtual ~Executor() = default;
    virtual Instant now() const = 0;              // not steady_clock::now()
    virtual Random& random() = 0;
    SleepAwaiter sleep_for(Duration d);
    SleepAwaiter sleep_until(Instant deadline);
    Instant time() const { return now(); }
};

class Files {
public:
    virtual ~Files() = default;
    virtual Task<Result<File>> open(std::string_view path) = 0;
    virtual Task<Result<void>> mkdir(std::string_view path) = 0;
    virtual Task<Result<void>> fsync(File& file) = 0;
    Result<void> unlink(std::string_view path);
};

class Network {
public:
    virtual ~Network() = default;
    virtual Task<Result<Connection>> connect(const Address& address) = 0;
    virtual Task<Result<Connection>> accept() = 0;
};

class Processes {
public:
    virtual ~Processes() = default;
    bool kill(ProcessId id, int signal);
    virtual Task<Result<ProcessId>> system(std::string_view command) = 0;
};

}  // namespace kelpie::io
EOF
    put "$root" src/io/random.hpp <<'EOF'
#pragma once
// Seeded xoshiro256**; never std::random_device, never /dev/urandom, never #include <random>.
namespace kelpie::io {
class Random {
public:
    explicit Random(uint64_t random_engine_seed) : seed_(random_engine_seed) {}
    uint64_t next_rand() { return seed_ = mix64(seed_); }
    static uint64_t mix64(uint64_t x) { return x * 0x9e37'79b9'7f4a'7c15ULL; }  // not rand()
private:
    uint64_t seed_;
};
}  // namespace kelpie::io
EOF
    put "$root" src/io/sim/sim_executor.cc <<'EOF'
#include "io/sim/sim_executor.h"

// A discrete-event loop in virtual time: one thread, no std::mutex, no std::condition_variable.

namespace kelpie::io::sim {

Instant SimExecutor::now() const { return now_; }

void SimExecutor::advance(Duration d) {
    const Instant deadline = now_ + d;
    clock_.advance(d);
    int64_t time_ns = deadline.nanos();
    (void)time_ns;
    event.signal();
    signal_all();
}

Task<void> SimExecutor::idle(Executor& executor) {
    co_await executor.sleep_for(Duration::millis(10));
    co_await executor.sleep_until(executor.now() + Duration::seconds(1));
    const Instant t = executor.time();
    (void)t;
}

Result<void> SimFiles::unlink(std::string_view path) { return files_.erase(path); }

}  // namespace kelpie::io::sim
EOF
    put "$root" src/base/intrusive_list.h <<'EOF'
#pragma once
namespace kelpie {
struct Link {
    ~Link() { unlink(); }
    void unlink() { prev->next = next; }
    void signal() { ready = true; }
    void notify() { signal(); }
    Link* prev = nullptr;
    Link* next = nullptr;
    bool ready = false;
};
}  // namespace kelpie
EOF
    put "$root" src/server/http_handler.cpp <<'EOF'
#include <boost/beast/http.hpp>  // Beast's HTTP parser is pure: allowed anywhere
#include <boost/json.hpp>
#include <functional>
#include <sstream>

namespace kelpie::server {

int operand(int x) { return x; }
int brand(int x) { return x; }
int my_rand() { return 4; }

Task<Response> Handler::handle(Request request) {
    namespace http = boost::beast::http;
    http::request_parser<http::string_body> parser;
    boost::system::error_code ec;
    auto callback = std::bind(&Handler::on_body, this, std::placeholders::_1);
    const char* doc = "https://example.com/docs";  // fopen() and getenv() are not called here
    const char quote = '"';  // std::thread in a comment after a char literal
    auto pattern = R"x(")x";  // std::thread in a comment after a raw string
    constexpr int64_t million = 1'000'000;  // std::thread after digit separators
    std::stringstream body;
    std::istringstream input(request.body());
    int total = operand(1) + brand(2) + my_rand() + million;
    co_await socket.open(request.path());
    co_await file->open(request.path());
    co_await network.connect(request.target());
    co_await files.mkdir(request.path());
    co_await processes->kill(id, 15);
    co_await listener.accept();
    if (ec) throw std::system_error(ec);
    co_return Response{total, doc, quote, pattern};
}

}  // namespace kelpie::server
EOF
    put "$root" src/base/strings.ipp <<'EOF'
// Included by strings.h. /* a block comment that opens and closes: std::async */ nothing else.
inline std::string environment_name(const Config& config) { return config.environment_name; }
inline std::chrono::nanoseconds to_chrono(Duration d) { return std::chrono::nanoseconds{d.nanos()}; }
EOF
    # Not scanned: the real world may do anything, and non-C++ files are not sources.
    put "$root" src/io/real/real_executor.cc <<'EOF'
#include <boost/asio.hpp>
#include <thread>
#include <mutex>
#include <random>
namespace kelpie::io::real {
void RealExecutor::run() {
    std::thread worker([this] { context_.run(); });
    std::lock_guard<std::mutex> lock(mutex_);
    auto now = std::chrono::steady_clock::now();
    FILE* f = fopen("/proc/self/stat", "r");
    const char* seed = std::getenv("KELPIE_SEED");
    std::random_device device;
    boost::asio::io_context context;
}
}  // namespace kelpie::io::real
EOF
    put "$root" src/io/real/posix/files.cc <<'EOF'
int PosixFiles::open_raw(const char* path) { int fd = ::open(path, O_RDONLY); fsync(fd); return fd; }
EOF
    put "$root" src/io/CMakeLists.txt <<'EOF'
# std::thread fopen getenv: not a C++ source, not scanned
add_library(kelpie_io executor.cc)
EOF
}

# new_tree: creates a fresh baseline tree; sets TREE.
new_tree() {
    case_number=$((case_number + 1))
    TREE="$work/case$case_number"
    mkdir -p "$TREE"
    make_baseline "$TREE"
}

# plant RELPATH CODE: writes a small source file with CODE starting at line 7. Lines 1-5 hold
# comments (one of them a multi-line block comment mentioning banned calls), so a wrong line
# count or a comment leaking into the scan shows up.
plant() {
    {
        printf '%s\n' \
            '// Planted by tests/lint/lint_world_boundary_test.sh. Mentions std::thread and fopen().' \
            '/* A block comment over three lines, mentioning' \
            '   std::mutex m; auto t = std::chrono::steady_clock::now(); rand(); getenv("HOME");' \
            '*/' \
            '// boost::asio::post(context, [] {});' \
            '#include "base/result.h"'
        printf '%s\n' "$2"
        printf '%s\n' \
            'namespace kelpie::planted {' \
            'inline int answer() { return 42; }  // std::system("true") in a comment' \
            '}  // namespace kelpie::planted'
    } | put "$TREE" "$1"
}

# expect_violation RULE RELPATH CODE [LINE]: CODE in RELPATH must be reported once, as RULE, at
# LINE (default 7), and nothing else may be reported.
expect_violation() {
    local rule=$1 path=$2 code=$3 line=${4:-7}
    local name="$rule: $path: $(printf '%s' "$code" | tr '\n' ' ')"
    new_tree
    plant "$path" "$code"
    run_lint "$TREE"
    local reported
    reported=$(grep -c -E '^src/[^:]+:[0-9]+: [a-z-]+: ' <<<"$out" || true)
    if [ "$rc" -ne 1 ]; then
        fail "$name" "expected exit 1, got $rc"
    elif ! grep -q -F -- "$path:$line: $rule: " <<<"$out"; then
        fail "$name" "expected a line starting '$path:$line: $rule: '"
    elif [ "$reported" -ne 1 ] || ! grep -q -x -F 'lint_world_boundary: 1 violation(s)' <<<"$out"; then
        fail "$name" "expected exactly one violation, got $reported"
    else
        pass "$name"
    fi
}

# expect_clean RELPATH CODE: the baseline plus CODE in RELPATH must pass.
expect_clean() {
    local path=$1 code=$2
    local name="clean: $path: $(printf '%s' "$code" | tr '\n' ' ')"
    new_tree
    plant "$path" "$code"
    run_lint "$TREE"
    if [ "$rc" -ne 0 ]; then
        fail "$name" "expected exit 0, got $rc"
    else
        pass "$name"
    fi
}

# --- The baseline, an empty src/ and a missing src/ ----------------------------------------------

new_tree
run_lint "$TREE"
if [ "$rc" -eq 0 ] && grep -q -x -F "lint_world_boundary: ok ($BASELINE_FILES files checked)" <<<"$out"; then
    pass "clean baseline tree (comments, near misses, src/io/real/) exits 0 and counts $BASELINE_FILES files"
else
    fail "clean baseline tree exits 0 and counts $BASELINE_FILES files" "got exit $rc"
fi

mkdir -p "$work/empty/src"
run_lint "$work/empty"
if [ "$rc" -eq 0 ] && grep -q -x -F 'lint_world_boundary: ok (0 files checked)' <<<"$out"; then
    pass "empty src/ exits 0"
else
    fail "empty src/ exits 0" "got exit $rc"
fi

mkdir -p "$work/nosrc"
run_lint "$work/nosrc"
if [ "$rc" -eq 2 ] && grep -q 'src' <<<"$out"; then
    pass "missing src/ exits 2 with a message"
else
    fail "missing src/ exits 2 with a message" "got exit $rc"
fi

run_lint "$work/does-not-exist"
if [ "$rc" -eq 2 ]; then pass "missing ROOT exits 2"; else fail "missing ROOT exits 2" "got exit $rc"; fi

# --- Report format -------------------------------------------------------------------------------

new_tree
plant src/server/worker.cc '    std::thread worker(run);   '
printf '%s\n' 'int x = 0;' 'const char* home = getenv("HOME");' | put "$TREE" src/server/config.cc
run_lint "$TREE"
expected_report="src/server/config.cc:2: environment: const char* home = getenv(\"HOME\");
src/server/worker.cc:7: threads: std::thread worker(run);
lint_world_boundary: 2 violation(s)"
if [ "$rc" -eq 1 ] && [ "$(sed -n 1,3p <<<"$out")" = "$expected_report" ] &&
    [[ "$(sed -n 4p <<<"$out")" == *src/io/real*interface* ]]; then
    pass "report format: path:line: rule: trimmed code, sorted, summary and hint"
else
    fail "report format: path:line: rule: trimmed code, sorted, summary and hint" "got exit $rc"
fi

# --- One planted violation per pattern -----------------------------------------------------------

# real-clock
expect_violation real-clock src/server/uptime.cc 'const auto t0 = std::chrono::steady_clock::now();'
expect_violation real-clock src/io/sim/sim_clock.cc 'const auto wall = std::chrono::system_clock::now();'
expect_violation real-clock src/server/a.cc 'auto t = std::chrono::high_resolution_clock::now();'
expect_violation real-clock src/server/a.cc 'auto t = std::chrono::utc_clock::now();'
expect_violation real-clock src/server/a.cc 'auto t = std::chrono::file_clock::now();'
expect_violation real-clock src/server/a.cc 'timespec ts{}; int r = clock_gettime(CLOCK_MONOTONIC, &ts);'
expect_violation real-clock src/server/a.cc 'timeval tv{}; gettimeofday(&tv, nullptr);'
expect_violation real-clock src/server/a.cc 'const std::time_t now = std::time(nullptr);'
expect_violation real-clock src/server/a.cc 'seed ^= time(NULL);'
expect_violation real-clock src/server/a.cc 'if (time(0) > deadline) return;'
expect_violation real-clock src/server/a.cc 'const std::clock_t used = clock();'
expect_violation real-clock src/server/a.cc 'std::tm* parts = std::localtime(&now);'
expect_violation real-clock src/server/a.cc 'gmtime_r(&now, &parts);'
expect_violation real-clock src/server/a.cc '#include <sys/time.h>'

# threads
expect_violation threads src/server/a.cc 'std::thread worker([] {});'
expect_violation threads src/server/a.cc 'std::jthread worker([] {});'
expect_violation threads src/server/a.cc 'auto f = std::async(std::launch::deferred, [] { return 1; });'
expect_violation threads src/server/a.cc 'pthread_t tid; int r = pthread_create(&tid, nullptr, run, nullptr);'
expect_violation threads src/server/a.cc '#include <thread>'
expect_violation threads src/server/a.cc '#include <mutex>'
expect_violation threads src/server/a.cc '#include <condition_variable>'
expect_violation threads src/server/a.cc '#include <future>'
expect_violation threads src/io/shard_map.h 'std::mutex mutex_;'
expect_violation threads src/server/a.cc 'std::condition_variable ready_;'
expect_violation threads src/server/a.cc 'std::this_thread::yield();'

# randomness
expect_violation randomness src/server/a.cc 'int roll = rand() % 6;'
expect_violation randomness src/server/a.cc 'std::srand(42);'
expect_violation randomness src/server/a.cc 'srandom(42);'
expect_violation randomness src/server/a.cc 'std::random_device device;'
expect_violation randomness src/server/a.cc 'double x = drand48();'
expect_violation randomness src/server/a.cc 'uint32_t r = arc4random();'
expect_violation randomness src/server/a.cc 'getrandom(&seed, sizeof seed, 0);'
expect_violation randomness src/server/a.cc '#include <random>'
expect_violation randomness src/server/a.cc 'const char* source = "/dev/urandom";'

# sleep
expect_violation sleep src/server/a.cc 'sleep(1);'
expect_violation sleep src/server/a.cc 'usleep(1000);'
expect_violation sleep src/server/a.cc 'nanosleep(&ts, nullptr);'
expect_violation sleep src/server/a.cc 'std::this_thread::sleep_for(std::chrono::milliseconds(10));'
expect_violation sleep src/server/a.cc 'std::this_thread::sleep_until(deadline);'

# files
expect_violation files src/server/a.cc 'FILE* f = fopen("/tmp/x", "r");'
expect_violation files src/server/a.cc 'std::ifstream in("config.json");'
expect_violation files src/server/a.cc 'std::ofstream out(path);'
expect_violation files src/server/a.cc 'std::fstream both(path);'
expect_violation files src/server/a.cc 'int fd = open(path, O_RDONLY);'
expect_violation files src/server/a.cc 'int fd = ::open(path.c_str(), O_RDONLY);'
expect_violation files src/server/a.cc 'for (const auto& e : std::filesystem::directory_iterator(dir)) {}'
expect_violation files src/server/a.cc '#include <filesystem>'
expect_violation files src/server/a.cc '#include <fstream>'
expect_violation files src/server/a.cc 'if (unlink(path.c_str()) != 0) return;'
expect_violation files src/server/a.cc 'mkdir("/tmp/kelpie", 0755);'
expect_violation files src/server/a.cc 'fsync(fd);'
expect_violation files src/server/a.cc 'DIR* d = opendir(".");'

# sockets
expect_violation sockets src/server/a.cc 'int fd = socket(AF_INET, SOCK_STREAM, 0);'
expect_violation sockets src/server/a.cc 'connect(fd, address, length);'
expect_violation sockets src/server/a.cc 'int client = accept(fd, nullptr, nullptr);'
expect_violation sockets src/server/a.cc 'int client = ::accept4(fd, nullptr, nullptr, 0);'
expect_violation sockets src/io/sim/sim_network.cc '#include <sys/socket.h>'
expect_violation sockets src/server/a.cc '#include <netinet/in.h>'
expect_violation sockets src/server/a.cc '#include <arpa/inet.h>'
expect_violation sockets src/server/a.cc '#include <boost/asio.hpp>'
expect_violation sockets src/server/a.cc '#include <boost/asio/ip/tcp.hpp>'
expect_violation sockets src/server/a.cc 'boost::asio::io_context context;'
expect_violation sockets src/server/a.cc 'namespace net = boost::asio;'
expect_violation sockets src/server/a.cc 'asio::ip::tcp::endpoint endpoint;'
expect_violation sockets src/server/a.cc '#include <boost/beast/core/tcp_stream.hpp>'
expect_violation sockets src/server/a.cc 'boost::beast::tcp_stream stream(context);'
expect_violation sockets src/server/a.cc 'int r = getaddrinfo(host, port, &hints, &result);'
expect_violation sockets src/server/a.cc '#include <asio.hpp>'

# environment
expect_violation environment src/server/a.cc 'const char* home = std::getenv("HOME");'
expect_violation environment src/server/a.cc 'const char* seed = secure_getenv("KELPIE_SEED");'
expect_violation environment src/server/a.cc 'setenv("TZ", "UTC", 1);'
expect_violation environment src/server/a.cc 'extern char** environ;'

# processes
expect_violation processes src/server/a.cc 'pid_t pid = fork();'
expect_violation processes src/server/a.cc 'pid_t pid = vfork();'
expect_violation processes src/server/a.cc 'execvp(argv[0], argv);'
expect_violation processes src/server/a.cc 'execl("/bin/sh", "sh", nullptr);'
expect_violation processes src/server/a.cc 'posix_spawn(&pid, path, nullptr, nullptr, argv, envp);'
expect_violation processes src/server/a.cc 'int status = std::system("rm -rf /tmp/x");'
expect_violation processes src/server/a.cc 'FILE* pipe = popen("ls", "r");'
expect_violation processes src/server/a.cc 'kill(pid, SIGTERM);'
expect_violation processes src/server/a.cc 'std::signal(SIGINT, on_interrupt);'
expect_violation processes src/server/a.cc 'struct sigaction action {};'
expect_violation processes src/server/a.cc '#include <csignal>'
expect_violation processes src/server/a.cc '#include <boost/process.hpp>'

# Where the file lives: src/io/ top level, src/io/sim/, a sibling of src/io/real/, every extension.
expect_violation threads src/io/executor_pool.h 'std::thread worker(run);'
expect_violation real-clock src/io/sim/sim_world.cc 'auto now = std::chrono::steady_clock::now();'
expect_violation sockets src/io/real_world.cc 'boost::asio::io_context context;'
expect_violation sockets src/io/realtime/clock.cc 'boost::asio::io_context context;'
expect_violation threads src/base/a.hh 'std::mutex m;'
expect_violation threads src/base/a.hpp 'std::mutex m;'
expect_violation threads src/base/a.cpp 'std::mutex m;'
expect_violation threads src/base/a.ipp 'std::mutex m;'

# Comments are stripped, but code around them is still seen.
expect_violation threads src/server/a.cc '/* fine */ std::thread worker(run);'
expect_violation threads src/server/a.cc '/* a comment
   over two lines */ std::mutex m;' 8
expect_violation threads src/server/a.cc 'const char* url = "http://example.com/"; std::thread worker(run);'
expect_violation threads src/server/a.cc "char quote = '\"'; std::thread worker(run);"
expect_violation threads src/server/a.cc "int n = 1'000; std::thread worker(run); char c = 'x';"
expect_violation threads src/server/a.cc 'auto re = R"(a"b)"; std::thread worker(run);'

# The escape: `// lint: allow(rule)` exempts its own line from the named rule(s) only.
expect_clean src/server/a.cc 'std::thread worker(run);  // lint: allow(threads)'
expect_clean src/server/a.cc 'std::thread worker([] { std::fopen("x", "r"); });  // lint: allow(threads, files)'
expect_violation threads src/server/a.cc 'std::thread worker(run);  // lint: allow(files)'
expect_violation files src/server/a.cc 'std::thread worker([] { std::fopen("x", "r"); });  // lint: allow(threads)'
expect_violation threads src/server/a.cc 'std::thread worker(run);  // lint: allow()'
expect_violation threads src/server/a.cc 'std::thread worker(run);  // lint: allow(thread)'
expect_violation threads src/server/a.cc '// lint: allow(threads)
std::thread worker(run);' 8

# --- Near misses that must not be reported -------------------------------------------------------

expect_clean src/server/a.cc 'int x = operand(y) + brand(z) + my_rand() + random_engine_seed;'
expect_clean src/server/a.cc 'co_await executor.sleep_for(Duration::millis(10));'
expect_clean src/server/a.cc 'co_await executor.sleep_until(deadline);'
expect_clean src/server/a.cc 'co_await socket.open(path); co_await file->open(path, mode);'
expect_clean src/io/files.h 'virtual Task<Result<File>> open(std::string_view path) = 0;'
expect_clean src/io/network.h 'Result<Connection> connect(const Address& address);'
expect_clean src/io/files.cc 'Result<void> Files::unlink(std::string_view path) { return ok(); }'
expect_clean src/io/list.h '~Waiter() { unlink(); }'
expect_clean src/io/event.h 'void set() { signal(); }'
expect_clean src/io/processes.h 'bool kill(ProcessId id, int signal);'
expect_clean src/server/a.cc 'auto on_request = std::bind(&Server::on_request, this, std::placeholders::_1);'
expect_clean src/server/a.cc '#include <boost/beast/http.hpp>'
expect_clean src/server/a.cc 'boost::beast::http::request_parser<boost::beast::http::string_body> parser;'
expect_clean src/server/a.cc 'boost::system::error_code ec; throw std::system_error(ec);'
expect_clean src/server/a.cc 'Instant time() const; int64_t time_ns = clock_.time();'
expect_clean src/server/a.cc 'std::stringstream out; std::istringstream in(text);'
expect_clean src/server/a.cc 'auto re = R"x(")x";  // std::thread in a comment after a raw string'
expect_clean src/server/a.cc "constexpr int64_t n = 1'000'000;  // std::thread after digit separators"
expect_clean src/io/real/real_network.cc 'int fd = socket(AF_INET, SOCK_STREAM, 0); boost::asio::io_context context;'
expect_clean src/io/real/posix/processes.cc 'pid_t pid = fork(); std::signal(SIGINT, on_interrupt);'
expect_clean src/io/notes.txt 'std::thread worker(run); FILE* f = fopen("x", "r");'

# --- The real repository -------------------------------------------------------------------------

run_lint "$repo_root"
sed 's/^/    /' <<<"$out"
if [ "$rc" -eq 0 ]; then
    pass "the repository itself ($repo_root) is clean"
else
    out=''
    fail "the repository itself ($repo_root) is clean" "exit $rc (violations listed above)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
