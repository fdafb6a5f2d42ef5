#include "patterns/hs_memory.h"

#include <hs/hs.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "dataplane/common/large_array.h"

namespace fs::patterns {
namespace {

// Mapped databases and their sizes: hs_free_database gives back only the pointer, and a database
// allocated with malloc before UseDatabaseMemory (or small) is not in here.
struct Mapped {
  std::mutex mu;
  std::unordered_map<void*, size_t> sizes;
  size_t bytes = 0;
};

Mapped& Registry() {
  static Mapped* m = new Mapped;  // never destroyed: databases may be freed during exit
  return *m;
}

void* AllocDatabase(size_t size) {
  if (size < kLargeDatabaseBytes) return std::malloc(size);
  void* p = nullptr;
  try {
    p = AllocLarge(size);
  } catch (const std::bad_alloc&) {
    return nullptr;  // Hyperscan reports HS_NOMEM
  }
  Mapped& m = Registry();
  std::lock_guard<std::mutex> lock(m.mu);
  m.sizes.emplace(p, size);
  m.bytes += size;
  return p;
}

void FreeDatabase(void* p) {
  if (p == nullptr) return;
  Mapped& m = Registry();
  size_t size = 0;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    auto it = m.sizes.find(p);
    if (it != m.sizes.end()) {
      size = it->second;
      m.bytes -= size;
      m.sizes.erase(it);
    }
  }
  if (size == 0) return std::free(p);
  FreeLarge(p, size);
}

}  // namespace

void UseDatabaseMemory() {
  static std::once_flag once;
  std::call_once(once, [] { hs_set_database_allocator(&AllocDatabase, &FreeDatabase); });
}

size_t LargeDatabases() {
  Mapped& m = Registry();
  std::lock_guard<std::mutex> lock(m.mu);
  return m.sizes.size();
}

size_t LargeDatabaseBytes() {
  Mapped& m = Registry();
  std::lock_guard<std::mutex> lock(m.mu);
  return m.bytes;
}

}  // namespace fs::patterns
