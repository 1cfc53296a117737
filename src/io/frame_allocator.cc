// Coroutine frame allocation (task.h): a per-thread cache of freed frames by size class.
//
// Invariants:
//  (1) A cached block of class c is exactly c * frame_size_class_bytes bytes from ::operator new.
//  (2) A thread's cache holds at most frame_cache_class_bytes_max bytes of blocks per class (so
//      at most 2 MiB in all); the rest go back to the heap. Frames freed on another thread than
//      the one that made them join that thread's cache (bounded the same way).
//  (3) After a thread's cache is destroyed (thread exit, static destruction), frames go straight
//      to and from the heap.

#include <cstddef>
#include <cstdint>
#include <new>

#include "io/task.h"

namespace kelpie::io::detail {

namespace {

constexpr std::size_t frame_size_class_bytes = 64;
constexpr std::size_t frame_cached_bytes_max = 2048;  // larger frames: straight to the heap
constexpr std::size_t frame_cache_class_bytes_max = 64 * 1024;
constexpr std::size_t frame_classes = frame_cached_bytes_max / frame_size_class_bytes + 1;

struct FreeFrame {
    FreeFrame* next;
};

struct FrameCache {
    FreeFrame* head[frame_classes] = {};
    std::uint32_t count[frame_classes] = {};

    ~FrameCache();
};

thread_local bool cache_destroyed = false;  // trivially destructible: valid until the thread ends
thread_local FrameCache cache;

FrameCache::~FrameCache() {
    cache_destroyed = true;
    for (FreeFrame*& list : head) {
        while (list != nullptr) {
            FreeFrame* next = list->next;
            ::operator delete(list);
            list = next;
        }
    }
}

std::size_t size_class(std::size_t bytes) {
    return (bytes + frame_size_class_bytes - 1) / frame_size_class_bytes;
}

}  // namespace

void* allocate_frame(std::size_t bytes) {
    if (bytes > frame_cached_bytes_max || cache_destroyed) {
        return ::operator new(bytes);
    }
    const std::size_t c = size_class(bytes);
    if (FreeFrame* f = cache.head[c]) {
        cache.head[c] = f->next;
        cache.count[c]--;
        return f;
    }
    return ::operator new(c * frame_size_class_bytes);
}

void free_frame(void* frame, std::size_t bytes) noexcept {
    if (bytes > frame_cached_bytes_max || cache_destroyed) {
        ::operator delete(frame);
        return;
    }
    const std::size_t c = size_class(bytes);
    if ((cache.count[c] + 1) * c * frame_size_class_bytes > frame_cache_class_bytes_max) {
        ::operator delete(frame);
        return;
    }
    auto* f = static_cast<FreeFrame*>(frame);
    f->next = cache.head[c];
    cache.head[c] = f;
    cache.count[c]++;
}

}  // namespace kelpie::io::detail
