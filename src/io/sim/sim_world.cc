// The discrete-event loop behind io/sim_world.h.
//
// Invariants:
//  (1) now_ never decreases; an event never runs before its time.
//  (2) Event order depends only on the seed and on the order events were scheduled in: ties in
//      time are broken by a number drawn from tie_breaks_ at scheduling time, then by sequence.
//  (3) Every executed event is folded into trace_hash_, so that any divergence in scheduling shows
//      up in the hash. Cancelled timers are dropped unexecuted: they neither move time nor hash.

#include <algorithm>

#include "base/hash.h"
#include "io/sim_world.h"

namespace kelpie::io {

__extension__ typedef __int128 int128_t;

// --- SimExecutor ---

SimExecutor::SimExecutor(SimWorld& world, NodeIndex index, uint64_t seed)
    : world_(world), index_(index), random_(seed) {}

void SimExecutor::post(std::coroutine_handle<> h, uint64_t digest) {
    world_.schedule(SimWorld::Event{.at = world_.now_,
                                    .kind = SimEventKind::resume,
                                    .node = index_,
                                    .digest = digest,
                                    .handle = h});
}

void SimExecutor::post_function(std::function<void()> fn, uint64_t digest) {
    world_.schedule(SimWorld::Event{.at = world_.now_,
                                    .kind = SimEventKind::call,
                                    .node = index_,
                                    .digest = digest,
                                    .fn = std::move(fn)});
}

void SimExecutor::pause_for(Duration d) {
    KELPIE_ASSERT(d >= Duration::zero());
    paused_until_ = std::max(paused_until_, world_.now_ + d);
}

bool SimExecutor::paused() const { return paused_until_ > world_.now_; }

Instant SimExecutor::now() const { return to_local(world_.now_); }

TimerId SimExecutor::start_timer(Instant deadline, TimerCallback callback) {
    KELPIE_ASSERT(callback.fn != nullptr);
    const TimerId id(world_.next_timer_id_++);
    world_.timers_.emplace(id.value, callback);
    const Instant at = std::max(to_world(deadline), world_.now_);
    world_.schedule(SimWorld::Event{.at = at,
                                    .kind = SimEventKind::timer,
                                    .node = index_,
                                    .digest = static_cast<uint64_t>(deadline.ns_since_origin()),
                                    .timer = id});
    return id;
}

bool SimExecutor::cancel_timer(TimerId id) { return world_.timers_.erase(id.value) > 0; }

void SimExecutor::set_clock_drift_ppm(int64_t ppm) {
    KELPIE_ASSERT(ppm > -100'000);
    KELPIE_ASSERT(ppm < 100'000);
    // Re-anchor so the local clock is continuous at the change.
    anchor_local_ = to_local(world_.now_);
    anchor_world_ = world_.now_;
    drift_ppm_ = ppm;
}

void SimExecutor::advance_clock(Duration d) {
    KELPIE_ASSERT(d >= Duration::zero());
    anchor_local_ = to_local(world_.now_) + d;
    anchor_world_ = world_.now_;
}

Instant SimExecutor::to_local(Instant world_time) const {
    const int64_t elapsed = (world_time - anchor_world_).to_ns();
    const int64_t skew = static_cast<int64_t>(static_cast<int128_t>(elapsed) * drift_ppm_ /
                                              1'000'000);
    return anchor_local_ + Duration::ns(elapsed + skew);
}

Instant SimExecutor::to_world(Instant local_time) const {
    const int64_t local_elapsed = (local_time - anchor_local_).to_ns();
    // Inverse of to_local, rounded up so that a timer never fires before its local deadline.
    const int128_t numerator = static_cast<int128_t>(local_elapsed) * 1'000'000;
    const int128_t denominator = 1'000'000 + drift_ppm_;
    int128_t elapsed = numerator / denominator;
    if (elapsed * denominator < numerator) {
        elapsed++;
    }
    Instant world_time = anchor_world_ + Duration::ns(static_cast<int64_t>(elapsed));
    while (to_local(world_time) < local_time) {
        world_time += Duration::ns(1);
    }
    return world_time;
}

// --- SimWorld ---

SimWorld::SimWorld(SimWorldOptions options)
    : options_(options),
      random_(hash_combine(options.seed, 0x776f726c64)),        // "world"
      tie_breaks_(hash_combine(options.seed, 0x7469652d627265)) {  // "tie-bre"
    trace_hash_ = mix64(options.seed);
}

SimWorld::~SimWorld() = default;

SimExecutor& SimWorld::add_node() {
    const NodeIndex index(static_cast<uint32_t>(nodes_.size()));
    const uint64_t node_seed = hash_combine(hash_combine(options_.seed, 0x6e6f6465), index.value);
    nodes_.push_back(std::make_unique<SimExecutor>(*this, index, node_seed));
    return *nodes_.back();
}

SimExecutor& SimWorld::node(NodeIndex index) {
    KELPIE_ASSERT(index.value < nodes_.size());
    return *nodes_[index.value];
}

bool SimWorld::Later::operator()(const Event& a, const Event& b) const {
    if (a.at != b.at) {
        return a.at > b.at;
    }
    if (a.tie_break != b.tie_break) {
        return a.tie_break > b.tie_break;
    }
    return a.sequence > b.sequence;
}

void SimWorld::schedule(Event event) {
    KELPIE_ASSERT(event.at >= now_);
    event.tie_break = tie_breaks_.next_u64();
    event.sequence = next_sequence_++;
    queue_.push_back(std::move(event));
    std::push_heap(queue_.begin(), queue_.end(), Later{});
}

void SimWorld::drop_cancelled_timers() {
    // A cancelled timer is dropped without moving time or touching the trace.
    while (!queue_.empty() && queue_.front().kind == SimEventKind::timer &&
           !timers_.contains(queue_.front().timer.value)) {
        std::pop_heap(queue_.begin(), queue_.end(), Later{});
        queue_.pop_back();
    }
}

bool SimWorld::step() {
    drop_cancelled_timers();
    if (queue_.empty()) {
        return false;
    }
    std::pop_heap(queue_.begin(), queue_.end(), Later{});
    Event event = std::move(queue_.back());
    queue_.pop_back();
    KELPIE_ASSERT(event.at >= now_);
    now_ = event.at;
    if (nodes_[event.node.value]->dead_) {
        if (event.kind == SimEventKind::timer) {
            timers_.erase(event.timer.value);
        }
        return true;  // a killed node's event: dropped, not traced
    }
    const Instant paused_until = nodes_[event.node.value]->paused_until_;
    if (paused_until > now_) {
        // The node is frozen: its event waits until it wakes (not executed, not traced).
        event.at = paused_until;
        schedule(std::move(event));
        return true;
    }
    events_executed_++;
    KELPIE_ASSERT_MSG(events_executed_ <= options_.events_max, "simulation exceeded events_max");
    execute(event);
    return true;
}

void SimWorld::execute(Event& event) {
    uint64_t h = hash_combine(trace_hash_, static_cast<uint64_t>(event.at.ns_since_origin()));
    h = hash_combine(h, (static_cast<uint64_t>(event.kind) << 32) | event.node.value);
    trace_hash_ = hash_combine(h, event.digest);
    switch (event.kind) {
        case SimEventKind::resume:
            event.handle.resume();
            return;
        case SimEventKind::call:
            event.fn();
            return;
        case SimEventKind::timer: {
            auto it = timers_.find(event.timer.value);
            KELPIE_ASSERT(it != timers_.end());
            const TimerCallback callback = it->second;
            timers_.erase(it);
            callback.fn(callback.data);
            return;
        }
    }
    KELPIE_UNREACHABLE();
}

uint64_t SimWorld::run_until_idle() {
    uint64_t count = 0;
    while (step()) {
        count++;
    }
    return count;
}

void SimWorld::run_for(Duration d) {
    const Instant until = now_ + d;
    for (drop_cancelled_timers(); !queue_.empty() && queue_.front().at <= until;
         drop_cancelled_timers()) {
        step();
    }
    now_ = std::max(now_, until);
}

}  // namespace kelpie::io
