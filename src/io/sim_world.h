#pragma once

// The simulated world: a single-threaded discrete-event loop in virtual time, holding any number of
// simulated nodes, every random choice drawn from one seed (FoundationDB's simulator, TigerBeetle's
// VOPR). The production code runs on it unchanged through the Executor interface.
//
// Determinism: events are ordered by (virtual time, a random tie-break drawn from the seed when the
// event is scheduled, a sequence number). Every executed event is folded into a rolling trace hash
// of (time, kind, node, digest); the same seed and workload always give the same trace hash.
//
// Time only moves when the loop takes the next event: a one-hour sleep costs one event.

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "base/strong_id.h"
#include "base/units.h"
#include "io/executor.h"

namespace kelpie::io {

class SimWorld;

// Where the simulated calendar starts: 2026-01-01T00:00:00Z.
inline constexpr WallTime sim_wall_epoch = WallTime::from_unix_ms(1'767'225'600'000);

// What an executed event was; part of the trace hash.
enum class SimEventKind : uint8_t {
    resume = 1,  // a posted coroutine
    call = 2,    // a posted function
    timer = 3,   // a timer's callback
};

// One simulated node's executor. Its clock may drift from the world's (set_clock_drift_ppm) and
// be offset from it (advance_clock); its random source is derived from the world seed and its index.
class SimExecutor final : public Executor {
public:
    SimExecutor(SimWorld& world, NodeIndex index, uint64_t seed);

    void post(std::coroutine_handle<> h, uint64_t digest = 0) override;
    void post_function(std::function<void()> fn, uint64_t digest = 0) override;
    Instant now() const override;
    WallTime wall_now() const override { return sim_wall_epoch + now().since_origin(); }
    TimerId start_timer(Instant deadline, TimerCallback callback) override;
    bool cancel_timer(TimerId id) override;
    Random& random() override { return random_; }

    NodeIndex index() const { return index_; }

    // The node's clock runs fast (ppm > 0) or slow (ppm < 0) by this many parts per million.
    // REQUIRES: -100'000 < ppm < 100'000.
    void set_clock_drift_ppm(int64_t ppm);
    // Jumps the node's clock forward by `d` (a monotonic clock never goes back). REQUIRES: d >= 0.
    void advance_clock(Duration d);
    // Freezes the node (a stopped process, a long GC pause, a VM migration) for `d` of world
    // time: none of its events runs before then; they run, in order, when it wakes.
    void pause_for(Duration d);
    bool paused() const;
    // Kills the node's process: none of its pending or future events ever runs (their coroutine
    // frames are abandoned, as a killed process's memory is). A restarted process is a new node.
    void kill() { dead_ = true; }
    bool dead() const { return dead_; }

private:
    friend class SimWorld;
    Instant to_local(Instant world_time) const;
    Instant to_world(Instant local_time) const;

    SimWorld& world_;
    NodeIndex index_;
    Random random_;
    // Local clock = offset_ + anchor_local_ + (world - anchor_world_) * (1 + drift_ppm_ / 1e6).
    Instant anchor_world_;
    Instant anchor_local_;
    int64_t drift_ppm_ = 0;
    Instant paused_until_;  // world time
    bool dead_ = false;
};

struct SimWorldOptions {
    uint64_t seed = 1;
    // Safety net against runaway workloads: step() asserts after this many events.
    uint64_t events_max = 1'000'000'000;
};

class SimWorld {
public:
    explicit SimWorld(SimWorldOptions options);
    ~SimWorld();
    SimWorld(const SimWorld&) = delete;
    SimWorld& operator=(const SimWorld&) = delete;

    uint64_t seed() const { return options_.seed; }

    // Adds a node; its executor lives as long as the world.
    SimExecutor& add_node();
    SimExecutor& node(NodeIndex index);
    size_t node_count() const { return nodes_.size(); }

    // The world's own random source, for decisions outside any node (fault plans, workloads).
    Random& random() { return random_; }

    // Virtual time of the world (the true time; nodes see it through their own clocks).
    Instant now() const { return now_; }

    // Runs the next event, advancing virtual time to it. False if there is none.
    bool step();
    // Same as step(); makes SimWorld a Driver for block_on().
    bool run_one() { return step(); }
    // Runs events until none is left. Returns the number run.
    uint64_t run_until_idle();
    // Runs every event due up to now() + d, then sets now() to that time.
    void run_for(Duration d);

    uint64_t trace_hash() const { return trace_hash_; }
    uint64_t events_executed() const { return events_executed_; }
    size_t events_pending() const { return queue_.size(); }

private:
    friend class SimExecutor;
    struct Event {
        Instant at;
        uint64_t tie_break = 0;
        uint64_t sequence = 0;
        SimEventKind kind = SimEventKind::resume;
        NodeIndex node;
        uint64_t digest = 0;
        std::coroutine_handle<> handle;
        std::function<void()> fn;
        TimerId timer;
    };
    struct Later {
        bool operator()(const Event& a, const Event& b) const;
    };

    void schedule(Event event);
    void drop_cancelled_timers();
    void execute(Event& event);

    SimWorldOptions options_;
    Random random_;
    Random tie_breaks_;
    Instant now_;
    std::vector<Event> queue_;  // a binary heap ordered by Later
    std::vector<std::unique_ptr<SimExecutor>> nodes_;
    std::unordered_map<uint64_t, TimerCallback> timers_;  // pending timers by id
    uint64_t next_timer_id_ = 1;
    uint64_t next_sequence_ = 0;
    uint64_t trace_hash_ = 0;
    uint64_t events_executed_ = 0;
};

}  // namespace kelpie::io
