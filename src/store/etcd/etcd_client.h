#pragma once

// Private to the etcd backend: the connection to one etcd cluster, and how gRPC outcomes become
// store errors.
//
// Unary calls (reads, commits, lease grants and revokes) go through gRPC's callback API: gRPC
// completes them on a thread of its own, which only posts the waiting coroutine back to the
// executor, so any number can be in flight. Streaming calls (a lease keepalive, a watch) are
// synchronous stub calls made on the blocking pool. Every call has a deadline and is registered
// while it runs so that close() can cancel it. All members are touched only on the executor's
// thread, except the stubs, which gRPC's and the pool's threads use (gRPC stubs are thread-safe;
// they are released only after every call has returned).

#include <coroutine>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include <grpcpp/grpcpp.h>

#include "base/result.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "io/blocking.h"
#include "io/executor.h"
#include "io/task.h"
#include "store/etcd_store.h"

namespace kelpie::store::detail {

// Internal retries of idempotent calls (reads, lease calls) on UNAVAILABLE, e.g. a killed member
// or an election under way: exponential backoff from the initial value, all within call_timeout.
inline constexpr Duration etcd_retry_backoff_initial = Duration::ms(25);
inline constexpr Duration etcd_retry_backoff_max = Duration::ms(400);

// One blocking gRPC call: performs it with `context` and returns its status. Runs on a pool
// thread; whatever it captures by reference must live in the awaiting coroutine's frame.
using EtcdCall = std::function<grpc::Status(grpc::ClientContext&)>;
// One unary call through the callback API: starts it with `context` (stub->async()->Method(...))
// and hands gRPC `done`, which gRPC runs once, on a thread of its own, when the call completes.
// What it captures by reference (request, response) must live in the awaiting coroutine's frame.
using EtcdUnaryCall =
    std::function<void(grpc::ClientContext& context, std::function<void(grpc::Status)> done)>;

class EtcdClient {
public:
    // REQUIRES: options.endpoints is not empty. Does not wait for a connection.
    EtcdClient(io::Executor& executor, io::BlockingPool& pool, EtcdStoreOptions options);
    // REQUIRES: close() was awaited (no call is in flight).
    ~EtcdClient();

    io::Executor& executor() { return executor_; }
    Duration call_timeout() const { return options_.call_timeout; }
    bool closed() const { return closed_; }

    // REQUIRES: !closed(). Valid until close() returns.
    etcdserverpb::KV::Stub* kv() { return kv_.get(); }
    etcdserverpb::Lease::Stub* lease() { return lease_.get(); }
    etcdserverpb::Watch::Stub* watch() { return watch_.get(); }

    // Runs `call` once with a deadline `timeout` from its start. After close() (or when close()
    // cancels it) the status is CANCELLED; check closed() before mapping it.
    io::Task<grpc::Status> call_once(EtcdCall call, Duration timeout);
    io::Task<grpc::Status> call_once(EtcdUnaryCall call, Duration timeout);

    // For idempotent calls only: runs `call`, retrying it with backoff while it fails with a
    // retryable status (is_retryable), for at most call_timeout in all (or until `deadline`).
    io::Task<grpc::Status> call_with_retry(EtcdCall call);
    io::Task<grpc::Status> call_with_retry(EtcdUnaryCall call);
    io::Task<grpc::Status> call_with_retry(EtcdUnaryCall call, Instant deadline);

    // Errors, each naming `what` failed and the endpoints.
    // A failed read or lease call: UNAVAILABLE, DEADLINE_EXCEEDED, UNKNOWN and the like give
    // unavailable; OUT_OF_RANGE "compacted" gives conflict (the snapshot is too old).
    Error read_error(std::string_view what, const grpc::Status& status) const;
    // A failed commit: only outcomes that prove the request was not applied give a definite error
    // (lease_expired, limit_exceeded, unavailable for "no leader" or no connection at all);
    // anything else that may have reached the cluster gives unknown_result.
    Error commit_error(const grpc::Status& status) const;
    Error closed_error() const;
    // "etcd cluster 127.0.0.1:2379,127.0.0.1:22379"
    const std::string& cluster_name() const { return cluster_name_; }

    // Cancels the calls in flight, waits until they have returned, and releases the channel.
    // Further calls fail with closed. Idempotent.
    io::Task<void> close();

private:
    // Runs the call on `context`: a blocking one on the pool, a unary one through gRPC.
    io::Task<grpc::Status> perform(grpc::ClientContext* context, EtcdCall call);
    io::Task<grpc::Status> perform(grpc::ClientContext* context, EtcdUnaryCall call);
    template <typename Call>
    io::Task<grpc::Status> once(Call call, Duration timeout);
    template <typename Call>
    io::Task<grpc::Status> with_retry(Call call, Instant deadline);
    void call_finished(grpc::ClientContext* context);

    // Constant after construction.
    io::Executor& executor_;
    io::BlockingPool& pool_;
    const EtcdStoreOptions options_;
    const std::string cluster_name_;

    // Executor thread only (the stubs themselves are used by pool threads; see the file comment).
    std::shared_ptr<grpc::Channel> channel_;
    std::unique_ptr<etcdserverpb::KV::Stub> kv_;
    std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
    std::unique_ptr<etcdserverpb::Watch::Stub> watch_;
    std::set<grpc::ClientContext*> in_flight_;
    std::coroutine_handle<> close_waiter_;
    bool closed_ = false;
};

// A serializable read at a revision the member it reached has not applied yet.
bool is_future_revision(const grpc::Status& status);

// Whether an idempotent call that failed with `status` is worth another attempt.
bool is_retryable(const grpc::Status& status);

// "UNAVAILABLE: etcdserver: no leader"
std::string describe(const grpc::Status& status);

}  // namespace kelpie::store::detail
