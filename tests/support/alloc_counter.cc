#include "tests/support/alloc_counter.h"

#include <cstdlib>
#include <new>

// The replacements pair malloc with free; GCC cannot see that the pair matches once inlined.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
uint64_t g_allocations = 0;
}  // namespace

namespace fs::test_support {
uint64_t Allocations() { return g_allocations; }
}  // namespace fs::test_support

void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
