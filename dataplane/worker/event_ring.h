// Single-producer single-consumer ring of fixed-size events: one per worker, the worker
// produces, the control-plane output thread consumes. Lock-free; capacity fixed at start-up.
// TryPush never waits: a full ring returns false and the caller counts the drop.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace fs::worker {

template <class T>
class SpscRing {
 public:
  // capacity is rounded up to a power of two (>= 2).
  explicit SpscRing(uint32_t capacity) {
    uint32_t c = 2;
    while (c < capacity) c <<= 1;
    mask_ = c - 1;
    slots_ = std::make_unique<T[]>(c);
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  // Producer thread only.
  bool TryPush(const T& v) {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - cached_tail_ > mask_) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (head - cached_tail_ > mask_) return false;
    }
    slots_[head & mask_] = v;
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer thread only. Pops up to max items into out; returns the count.
  uint32_t PopBulk(T* out, uint32_t max) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    const uint64_t head = head_.load(std::memory_order_acquire);
    uint64_t n = head - tail;
    if (n > max) n = max;
    for (uint64_t i = 0; i < n; ++i) out[i] = slots_[(tail + i) & mask_];
    tail_.store(tail + n, std::memory_order_release);
    return static_cast<uint32_t>(n);
  }

  // Either thread; approximate while the other side runs.
  bool Empty() const {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire);
  }
  uint32_t capacity() const { return mask_ + 1; }

 private:
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t cached_tail_ = 0;  // producer's view of tail_
  alignas(64) std::atomic<uint64_t> tail_{0};
  alignas(64) uint64_t mask_ = 0;
  std::unique_ptr<T[]> slots_;
};

}  // namespace fs::worker
