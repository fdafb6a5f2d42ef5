// A software prefetch the compiler keeps. GCC 12 (Debian 12's) deletes a __builtin_prefetch that
// sits under a condition in a small inline function at -O2 (the whole `if` goes, e.g.
// `if (k.use != kNone) __builtin_prefetch(&b[k.hash & mask]);` compiles to nothing), so a
// look-ahead written with it can silently do no prefetching at all. An asm volatile cannot be
// dropped.
#pragma once

namespace fs {

// Starts loading the cache line holding p into all cache levels (x86 prefetcht0). p need not be
// valid to dereference in the language's sense: a prefetch never faults.
inline void Prefetch(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p);
#endif
}

}  // namespace fs
