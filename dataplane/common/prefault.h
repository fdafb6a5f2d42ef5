// Taking a pool's pages at start-up rather than on the packet path. Memory the sensor reserves
// (new[] of a pool) is only address space until a page is first written; that first write is a
// page fault, about 10 us on this VM (a paravirtualised exception): some 20,000 cycles on the
// packet that happens to make it. A worker takes the first part of its session and stream pools
// this way at Init (docs/PERFORMANCE.md, "Pools taken at start-up").
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace fs {

inline uintptr_t PageBytes() {
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// One byte of each page of [p, p + bytes) read and written back: each page is mapped in,
// writable, and keeps its contents. Only for memory no other thread uses yet.
inline void TouchPages(void* p, size_t bytes) {
  const uintptr_t page = PageBytes();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p);
  const uintptr_t end = begin + bytes;
  for (uintptr_t a = begin; a < end; a = (a & ~(page - 1)) + page) {
    volatile uint8_t* b = reinterpret_cast<volatile uint8_t*>(a);
    *b = *b;
  }
}

// Maps every page of [p, p + bytes) in, writable, now, without changing the contents: in one
// system call (Linux 5.14's MADV_POPULATE_WRITE, as if each page were written), or where the
// kernel refuses that, with TouchPages. Only for memory no other thread uses yet.
inline void Prefault(void* p, size_t bytes) {
  if (p == nullptr || bytes == 0) return;
  const uintptr_t page = PageBytes();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p);
  const uintptr_t first = begin & ~(page - 1);
  const uintptr_t last = (begin + bytes + page - 1) & ~(page - 1);
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
  if (madvise(reinterpret_cast<void*>(first), last - first, MADV_POPULATE_WRITE) == 0) return;
  TouchPages(p, bytes);
}

}  // namespace fs
