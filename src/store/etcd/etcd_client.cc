#include "store/etcd/etcd_client.h"

#include <algorithm>

#include <grpc/support/time.h>

namespace kelpie::store::detail {

namespace {

// Metadata that makes etcd refuse a request at once, with UNAVAILABLE "etcdserver: no leader",
// when the member it reaches has no leader (etcd's WithRequireLeader): calls fail fast on quorum
// loss instead of running into their deadline, and such a refusal proves nothing was applied.
constexpr const char* require_leader_key = "hasleader";
constexpr const char* require_leader_value = "true";

// Reconnecting to a restarted member: gRPC's default backoff grows to 120 s.
constexpr int reconnect_backoff_initial_ms = 100;
constexpr int reconnect_backoff_max_ms = 1000;

std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const std::string& p : parts) {
        out += out.empty() ? "" : ",";
        out += p;
    }
    return out;
}

std::string_view code_name(grpc::StatusCode code) {
    switch (code) {
        case grpc::StatusCode::OK: return "OK";
        case grpc::StatusCode::CANCELLED: return "CANCELLED";
        case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
        case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
        case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
        case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
        case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
        case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
        case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
        case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
        case grpc::StatusCode::ABORTED: return "ABORTED";
        case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
        case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
        case grpc::StatusCode::INTERNAL: return "INTERNAL";
        case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
        case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
        case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
        default: return "UNKNOWN_CODE";
    }
}

bool mentions(const grpc::Status& status, std::string_view text) {
    return status.error_message().find(text) != std::string::npos;
}

// Request size limits, enforced by etcd (--max-request-bytes, --max-txn-ops) or by gRPC on a
// message too large for the receiver. Nothing was applied.
bool is_size_limit(const grpc::Status& status) {
    return (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
            (mentions(status, "request is too large") || mentions(status, "too many operations"))) ||
           (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
            mentions(status, "larger than max"));
}

// The request provably never reached etcd's apply path: etcd's leader check refused it, or gRPC
// had no connection to send it on.
bool is_refused_before_apply(const grpc::Status& status) {
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
        return mentions(status, "no leader") || mentions(status, "failed to connect to all") ||
               mentions(status, "connections to all backends failing");
    }
    return status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
           mentions(status, "too many requests");
}

}  // namespace

bool is_future_revision(const grpc::Status& status) {
    return status.error_code() == grpc::StatusCode::OUT_OF_RANGE &&
           mentions(status, "future revision");
}

bool is_retryable(const grpc::Status& status) {
    return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
           (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
            mentions(status, "too many requests"));
}

std::string describe(const grpc::Status& status) {
    return std::string(code_name(status.error_code())) + ": " + status.error_message();
}

EtcdClient::EtcdClient(io::Executor& executor, io::BlockingPool& pool, EtcdStoreOptions options)
    : executor_(executor),
      pool_(pool),
      options_(std::move(options)),
      cluster_name_("etcd cluster " + join(options_.endpoints)) {
    KELPIE_ASSERT(!options_.endpoints.empty());
    grpc::ChannelArguments args;
    args.SetLoadBalancingPolicyName("round_robin");
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, reconnect_backoff_initial_ms);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, reconnect_backoff_initial_ms);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, reconnect_backoff_max_ms);
    channel_ = grpc::CreateCustomChannel("ipv4:" + join(options_.endpoints),
                                         grpc::InsecureChannelCredentials(), args);
    kv_ = etcdserverpb::KV::NewStub(channel_);
    lease_ = etcdserverpb::Lease::NewStub(channel_);
    watch_ = etcdserverpb::Watch::NewStub(channel_);
}

EtcdClient::~EtcdClient() { KELPIE_ASSERT(in_flight_.empty()); }

namespace {

// Resumes the awaiting coroutine on the executor when gRPC completes a unary call.
struct UnaryAwaiter {
    io::Executor* executor;
    const EtcdUnaryCall* call;
    grpc::ClientContext* context;
    grpc::Status status;

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
        executor->external_work_started();
        (*call)(*context, [this, h](grpc::Status s) {  // on a gRPC thread
            status = std::move(s);
            executor->post(h);
        });
    }
    grpc::Status await_resume() {
        executor->external_work_finished();
        return std::move(status);
    }
};

}  // namespace

io::Task<grpc::Status> EtcdClient::perform(grpc::ClientContext* context, EtcdCall call) {
    // lint: allow(lambda-await): not a coroutine call; the closure holds no owning member
    co_return co_await io::run_blocking(executor_, pool_, [&call, context] { return call(*context); });
}

io::Task<grpc::Status> EtcdClient::perform(grpc::ClientContext* context, EtcdUnaryCall call) {
    UnaryAwaiter awaiter{&executor_, &call, context, grpc::Status()};  // named: ADR 0001, bug 3
    co_return co_await awaiter;
}

template <typename Call>
io::Task<grpc::Status> EtcdClient::once(Call call, Duration timeout) {
    if (closed_) {
        co_return grpc::Status(grpc::StatusCode::CANCELLED, "store is closed");
    }
    grpc::ClientContext context;
    // A relative deadline (GPR_TIMESPAN): gRPC adds it to its own clock when the call starts.
    context.set_deadline(
        gpr_time_from_micros(std::max<int64_t>(timeout.to_us(), 0), GPR_TIMESPAN));
    context.AddMetadata(require_leader_key, require_leader_value);
    in_flight_.insert(&context);
    grpc::Status status = co_await perform(&context, std::move(call));
    call_finished(&context);
    co_return status;
}

void EtcdClient::call_finished(grpc::ClientContext* context) {
    in_flight_.erase(context);
    if (in_flight_.empty() && close_waiter_) {
        executor_.post(std::exchange(close_waiter_, {}));
    }
}

template <typename Call>
io::Task<grpc::Status> EtcdClient::with_retry(Call call, Instant deadline) {
    Duration backoff = etcd_retry_backoff_initial;
    for (;;) {
        grpc::Status status = co_await once(call, deadline - executor_.now());
        if (status.ok() || !is_retryable(status) || closed_ ||
            deadline - executor_.now() <= backoff) {
            co_return status;
        }
        co_await executor_.sleep_for(backoff);
        backoff = std::min(backoff * 2, etcd_retry_backoff_max);
    }
}

io::Task<grpc::Status> EtcdClient::call_once(EtcdCall call, Duration timeout) {
    return once(std::move(call), timeout);
}

io::Task<grpc::Status> EtcdClient::call_once(EtcdUnaryCall call, Duration timeout) {
    return once(std::move(call), timeout);
}

io::Task<grpc::Status> EtcdClient::call_with_retry(EtcdCall call) {
    return with_retry(std::move(call), executor_.now() + options_.call_timeout);
}

io::Task<grpc::Status> EtcdClient::call_with_retry(EtcdUnaryCall call) {
    return with_retry(std::move(call), executor_.now() + options_.call_timeout);
}

io::Task<grpc::Status> EtcdClient::call_with_retry(EtcdUnaryCall call, Instant deadline) {
    return with_retry(std::move(call), deadline);
}

Error EtcdClient::closed_error() const {
    return Error(ErrorCode::closed, "the store on " + cluster_name_ + " is closed");
}

Error EtcdClient::read_error(std::string_view what, const grpc::Status& status) const {
    if (closed_) {
        return closed_error();
    }
    const std::string detail =
        std::string(what) + " on " + cluster_name_ + " failed: " + describe(status);
    switch (status.error_code()) {
        case grpc::StatusCode::OUT_OF_RANGE:
            if (mentions(status, "compacted")) {
                return Error(ErrorCode::conflict, detail + " (the snapshot is too old: retry)");
            }
            return Error(ErrorCode::internal, detail);
        case grpc::StatusCode::NOT_FOUND:
            return Error(ErrorCode::not_found, detail);
        case grpc::StatusCode::INVALID_ARGUMENT:
        case grpc::StatusCode::RESOURCE_EXHAUSTED:
            if (is_size_limit(status)) {
                return Error(ErrorCode::limit_exceeded, detail);
            }
            if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
                return Error(ErrorCode::invalid_argument, detail);
            }
            return Error(ErrorCode::unavailable, detail);
        case grpc::StatusCode::PERMISSION_DENIED:
        case grpc::StatusCode::UNAUTHENTICATED:
        case grpc::StatusCode::UNIMPLEMENTED:
        case grpc::StatusCode::FAILED_PRECONDITION:
            return Error(ErrorCode::internal, detail);
        default:  // UNAVAILABLE, DEADLINE_EXCEEDED, UNKNOWN, CANCELLED, ABORTED, INTERNAL, ...
            return Error(ErrorCode::unavailable, detail);
    }
}

Error EtcdClient::commit_error(const grpc::Status& status) const {
    if (closed_ && status.error_code() == grpc::StatusCode::CANCELLED) {
        // close() cancelled it; it may have been applied all the same.
        return Error(ErrorCode::unknown_result,
                     "commit on " + cluster_name_ + " was cancelled by close(); it may have applied");
    }
    const std::string detail = "commit on " + cluster_name_ + " failed: " + describe(status);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND && mentions(status, "lease not found")) {
        return Error(ErrorCode::lease_expired,
                     detail + " (a write names a lease that no longer exists)");
    }
    if (is_size_limit(status)) {
        return Error(ErrorCode::limit_exceeded, detail);
    }
    if (is_refused_before_apply(status)) {
        return Error(ErrorCode::unavailable, detail + " (not applied)");
    }
    switch (status.error_code()) {
        case grpc::StatusCode::INVALID_ARGUMENT:
        case grpc::StatusCode::FAILED_PRECONDITION:
        case grpc::StatusCode::PERMISSION_DENIED:
        case grpc::StatusCode::UNAUTHENTICATED:
        case grpc::StatusCode::UNIMPLEMENTED:
        case grpc::StatusCode::NOT_FOUND:
            // Validation refused it before applying anything: a request we should not have built.
            return Error(ErrorCode::internal, detail);
        default:  // DEADLINE_EXCEEDED, UNKNOWN, UNAVAILABLE after sending, CANCELLED, ...
            return Error(ErrorCode::unknown_result,
                         detail + " (the commit may or may not have applied)");
    }
}

io::Task<void> EtcdClient::close() {
    if (closed_) {
        co_return;
    }
    closed_ = true;
    for (grpc::ClientContext* context : in_flight_) {
        context->TryCancel();  // thread-safe; the call completes with CANCELLED soon
    }
    if (!in_flight_.empty()) {
        struct Wait {
            EtcdClient* client;
            bool await_ready() const { return client->in_flight_.empty(); }
            void await_suspend(std::coroutine_handle<> h) { client->close_waiter_ = h; }
            void await_resume() const {}
        };
        // lint: allow(temporary-await): trivially destructible (a pointer)
        co_await Wait{this};
    }
    kv_.reset();
    lease_.reset();
    watch_.reset();
    channel_.reset();
}

}  // namespace kelpie::store::detail
