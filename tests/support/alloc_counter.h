// Counts every allocation made through global operator new in the test binary that links
// tests/support/alloc_counter.cc (it replaces operator new/delete with counting malloc/free), so a
// test can assert that a hot path allocates nothing:
//   const uint64_t before = fs::test_support::Allocations();  ...  EXPECT_EQ(Allocations(),
//   before);
#pragma once

#include <cstdint>

namespace fs::test_support {
uint64_t Allocations();
}  // namespace fs::test_support
