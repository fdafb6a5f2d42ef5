// Where Hyperscan puts compiled databases. The worker reads its databases' tables at random on
// every scan; large ones get memory of their own, aligned to 2 MB and advised for huge pages
// (fs::AllocLarge), so that a scan's table reads are not TLB misses each (docs/PERFORMANCE.md,
// "Huge pages for the worker's tables"). Smaller ones stay with malloc, Hyperscan's default.
#pragma once

#include <cstddef>

namespace fs::patterns {

// Databases of at least this many bytes are mapped on their own.
inline constexpr size_t kLargeDatabaseBytes = size_t{512} << 10;

// Makes Hyperscan allocate databases (compiled or deserialised) through this file's allocator;
// idempotent and thread-safe. Databases allocated before (with malloc) are freed correctly after.
void UseDatabaseMemory();

// Databases alive in memory of their own, and their bytes (for tests and the start-up log).
size_t LargeDatabases();
size_t LargeDatabaseBytes();

}  // namespace fs::patterns
