// Large per-worker arrays (flow table, reassembly, session and stream pools, threshold table), the
// replay's loaded capture and the bench harness's payloads, in memory the kernel may back with
// 2 MB pages.
//
// A worker's tables are tens to thousands of megabytes, read at random: with 4 KB pages nearly
// every flow, stream state or session a packet touches is also a TLB miss, and on a virtual
// machine each miss walks two sets of page tables. Memory from AllocLarge is mapped on its own,
// aligned to 2 MB and advised MADV_HUGEPAGE, so where transparent huge pages are enabled
// ("always" or "madvise" in /sys/kernel/mm/transparent_hugepage/enabled) the kernel backs each
// 2 MB of it with one page when first touched. Where they are "never", it is ordinary memory with
// 4 KB pages. Memory read front to back gains too: on 4 KB pages the replay's copy took a TLB miss
// on every page its prefetch reached. docs/PERFORMANCE.md, "Huge pages for the worker's tables"
// and "The replayed capture on huge pages".
//
// Control path only (start-up and reload): mapping memory is a system call.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace fs {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// The kernel's transparent huge page mode: "always", "madvise" or "never" ("" where the kernel
// has none). For the start-up log and tests.
inline std::string TransparentHugePages() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(in, line);
  const size_t a = line.find('['), b = line.find(']');
  return a == std::string::npos || b == std::string::npos || b < a ? ""
                                                                   : line.substr(a + 1, b - a - 1);
}

// Zero-filled anonymous memory of at least `bytes` (> 0), aligned to 2 MB, advised for huge
// pages; only address space until a page is first touched. Throws std::bad_alloc when the address
// space cannot be had. Free with FreeLarge(p, bytes), the same bytes.
inline void* AllocLarge(size_t bytes) {
  const size_t len = (bytes + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  // One huge page more than asked, to cut an aligned range out of it.
  void* raw = mmap(nullptr, len + kHugePageBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (begin + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  if (aligned > begin) munmap(raw, aligned - begin);
  const uintptr_t end = begin + len + kHugePageBytes;
  if (end > aligned + len) munmap(reinterpret_cast<void*>(aligned + len), end - (aligned + len));
  void* p = reinterpret_cast<void*>(aligned);
  // Refused only by a kernel without transparent huge pages (then 4 KB pages, as with "never",
  // which takes the advice and ignores it): TransparentHugePages() tells which.
  madvise(p, len, MADV_HUGEPAGE);
  return p;
}

inline void FreeLarge(void* p, size_t bytes) {
  if (p == nullptr) return;
  munmap(p, (bytes + kHugePageBytes - 1) & ~(kHugePageBytes - 1));
}

// An array of n T in AllocLarge memory: what std::unique_ptr<T[]> was for the worker's tables.
// LargeArray<T>(n) value-initialises every element, which also touches (faults in) every page now
// rather than on the packet path; Reserve(n) leaves a trivial type's memory untouched (zeros), for
// pools that take their pages as they grow. Move-only.
template <class T>
class LargeArray {
 public:
  LargeArray() = default;
  explicit LargeArray(size_t n) : LargeArray(Map(n)) {
    for (size_t i = 0; i < n_; ++i) new (p_ + i) T();
  }
  static LargeArray Reserve(size_t n) {
    static_assert(std::is_trivially_default_constructible_v<T> &&
                  std::is_trivially_destructible_v<T>);
    return Map(n);
  }
  // A copy of v's elements (a trivially copyable type): for data built up in a std::vector, then
  // read often enough to want the large pages.
  static LargeArray CopyOf(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    LargeArray a = Reserve(v.size());
    if (!v.empty()) std::memcpy(a.p_, v.data(), v.size() * sizeof(T));
    return a;
  }
  LargeArray(LargeArray&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  LargeArray& operator=(LargeArray&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  LargeArray(const LargeArray&) = delete;
  LargeArray& operator=(const LargeArray&) = delete;
  ~LargeArray() { reset(); }

  // Destroys the elements and unmaps the memory.
  void reset() {
    if (p_ == nullptr) return;
    if constexpr (!std::is_trivially_destructible_v<T>) {
      for (size_t i = n_; i > 0; --i) p_[i - 1].~T();
    }
    FreeLarge(p_, n_ * sizeof(T));
    p_ = nullptr;
    n_ = 0;
  }
  T* get() const { return p_; }
  size_t size() const { return n_; }
  T& operator[](size_t i) const { return p_[i]; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  static LargeArray Map(size_t n) {
    static_assert(alignof(T) <= kHugePageBytes);
    LargeArray a;
    if (n == 0) return a;
    a.p_ = static_cast<T*>(AllocLarge(n * sizeof(T)));
    a.n_ = n;
    return a;
  }

  T* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace fs
