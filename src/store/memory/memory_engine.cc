// The memory engine: multi-version ordered map. Each applied batch gets a sequence number; a
// snapshot sees the newest version of each key at or below its sequence.
//
// Invariants:
//  (1) Each key's versions are sorted by sequence, at most one per sequence.
//  (2) Versions are dropped only when no live snapshot can see them (see prune()).

#include "store/local/indexed_map.h"
#include "store/local/live_snapshots.h"
#include "store/local/local_engine.h"
#include "store/local/local_store.h"
#include "store/memory_store.h"

namespace kelpie::store {

namespace detail {
namespace {

class MemoryEngine final : public LocalEngine {
public:
    ~MemoryEngine() override { KELPIE_ASSERT(live_.empty()); }

    std::shared_ptr<Snapshot> snapshot() override {
        live_.add(static_cast<int64_t>(sequence_));
        return std::make_shared<MemorySnapshot>(this, sequence_);
    }

    io::Task<Result<std::optional<std::string>>> get(std::shared_ptr<Snapshot> snapshot,
                                                     std::string key) override {
        const uint64_t at = static_cast<MemorySnapshot&>(*snapshot).sequence;
        const std::vector<Version>* versions = data_.find(key);
        if (versions == nullptr) {
            co_return std::optional<std::string>();
        }
        const Version* v = visible(*versions, at);
        co_return v != nullptr ? v->bytes : std::optional<std::string>();
    }

    io::Task<Result<RawPairs>> scan(std::shared_ptr<Snapshot> snapshot, std::string begin,
                                    std::string end, size_t limit, bool reverse) override {
        const uint64_t at = static_cast<MemorySnapshot&>(*snapshot).sequence;
        RawPairs out;
        auto take = [&](const auto& entry) {
            const Version* v = visible(entry.second, at);
            if (v != nullptr && v->bytes.has_value()) {
                out.emplace_back(entry.first, *v->bytes);
            }
            return out.size() < limit;
        };
        if (!reverse) {
            const auto& data = data_.ordered();
            for (auto it = data.lower_bound(begin); it != data.end() && it->first < end; ++it) {
                if (!take(*it)) {
                    break;
                }
            }
        } else {
            const auto& data = data_.ordered();
            auto it = data.lower_bound(end);
            while (it != data.begin()) {
                --it;
                if (it->first < begin || !take(*it)) {
                    break;
                }
            }
        }
        co_return out;
    }

    io::Task<Status> apply(std::vector<EngineWrite> writes) override {
        sequence_++;
        for (EngineWrite& w : writes) {
            switch (w.kind) {
                case EngineWrite::Kind::put:
                    write(w.key, std::move(w.value));
                    break;
                case EngineWrite::Kind::erase:
                    if (data_.contains(w.key)) {
                        write(w.key, std::nullopt);
                    }
                    break;
                case EngineWrite::Kind::erase_range: {
                    std::vector<std::string> keys;
                    const auto& data = data_.ordered();
                    for (auto it = data.lower_bound(w.key); it != data.end() && it->first < w.end;
                         ++it) {
                        keys.push_back(it->first);
                    }
                    for (const std::string& k : keys) {
                        write(k, std::nullopt);
                    }
                    break;
                }
            }
        }
        co_return Status();
    }

private:
    struct Version {
        uint64_t sequence;
        std::optional<std::string> bytes;  // nullopt: deleted
    };
    struct MemorySnapshot final : Snapshot {
        MemorySnapshot(MemoryEngine* e, uint64_t s) : engine(e), sequence(s) {}
        ~MemorySnapshot() override { engine->live_.release(static_cast<int64_t>(sequence)); }
        MemoryEngine* engine;
        uint64_t sequence;
    };

    static const Version* visible(const std::vector<Version>& versions, uint64_t at) {
        for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
            if (it->sequence <= at) {
                return &*it;
            }
        }
        return nullptr;
    }

    void write(const std::string& key, std::optional<std::string> bytes) {
        std::vector<Version>& versions = data_[key];
        if (!versions.empty() && versions.back().sequence == sequence_) {
            versions.back().bytes = std::move(bytes);
        } else {
            versions.push_back(Version{sequence_, std::move(bytes)});
        }
        prune(key, versions);
    }

    // Keeps every version a live snapshot (or a future one, at sequence_) can see.
    void prune(const std::string& key, std::vector<Version>& versions) {
        const uint64_t oldest = live_.empty() ? sequence_ : static_cast<uint64_t>(live_.oldest());
        size_t keep_from = 0;
        for (size_t i = 0; i < versions.size(); i++) {
            if (versions[i].sequence <= oldest) {
                keep_from = i;  // the newest version the oldest reader can see
            }
        }
        versions.erase(versions.begin(), versions.begin() + static_cast<ptrdiff_t>(keep_from));
        if (versions.size() == 1 && !versions[0].bytes.has_value() && versions[0].sequence <= oldest) {
            data_.erase(key);
        }
    }

    IndexedMap<std::vector<Version>> data_;
    LiveSnapshots live_;
    uint64_t sequence_ = 0;
};

}  // namespace

std::unique_ptr<LocalEngine> make_memory_engine() { return std::make_unique<MemoryEngine>(); }

}  // namespace detail

class MemoryDisk {
public:
    std::unique_ptr<detail::LocalEngine> engine = detail::make_memory_engine();
};

std::shared_ptr<MemoryDisk> make_memory_disk() { return std::make_shared<MemoryDisk>(); }

namespace detail {
namespace {

// A store's view of a MemoryDisk: forwards to the disk's engine and injects write failures.
class DiskEngine final : public LocalEngine {
public:
    DiskEngine(std::shared_ptr<MemoryDisk> disk, io::Executor& executor, StoreFaults faults)
        : disk_(std::move(disk)), executor_(executor), faults_(std::move(faults)) {}

    std::shared_ptr<Snapshot> snapshot() override { return disk_->engine->snapshot(); }
    io::Task<Result<std::optional<std::string>>> get(std::shared_ptr<Snapshot> snapshot,
                                                     std::string key) override {
        return disk_->engine->get(std::move(snapshot), std::move(key));
    }
    io::Task<Result<RawPairs>> scan(std::shared_ptr<Snapshot> snapshot, std::string begin,
                                    std::string end, size_t limit, bool reverse) override {
        return disk_->engine->scan(std::move(snapshot), std::move(begin), std::move(end), limit,
                                   reverse);
    }
    io::Task<Status> apply(std::vector<EngineWrite> writes) override {
        const bool enabled = faults_.control == nullptr || faults_.control->enabled;
        if (enabled && faults_.disk_write_failure_probability > 0 &&
            executor_.random().chance(faults_.disk_write_failure_probability)) {
            if (faults_.control != nullptr) {
                faults_.control->disk_write_failures++;
            }
            if (executor_.random().chance(0.5)) {
                (void)co_await disk_->engine->apply(std::move(writes));
            }
            co_return Error(ErrorCode::io_error, "injected: disk write failed");
        }
        co_return co_await disk_->engine->apply(std::move(writes));
    }

private:
    std::shared_ptr<MemoryDisk> disk_;
    io::Executor& executor_;
    StoreFaults faults_;
};

}  // namespace
}  // namespace detail

Result<std::unique_ptr<Store>> make_memory_store(io::Executor& executor, MemoryStoreOptions options) {
    std::shared_ptr<MemoryDisk> disk = options.disk != nullptr ? options.disk : make_memory_disk();
    auto store = std::make_unique<detail::LocalStore>(
        executor, std::make_unique<detail::DiskEngine>(std::move(disk), executor, options.faults),
        "memory", options.faults, options.bugs);
    store->set_commit_observer(std::move(options.on_commit));
    // Opening a memory engine never suspends (its reads complete at once).
    Status opened = io::run_synchronously(store->open());
    if (!opened.ok()) {
        return std::move(opened).error();
    }
    return std::unique_ptr<Store>(std::move(store));
}

}  // namespace kelpie::store
