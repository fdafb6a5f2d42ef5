// Memory for the worker's large tables (dataplane/common/large_array.h) and for large Hyperscan
// databases (patterns/hs_memory.h): mapped on its own, aligned to 2 MB, advised for huge pages.
#include "dataplane/common/large_array.h"

#include <gtest/gtest.h>
#include <hs/hs.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "patterns/hs_memory.h"

namespace fs {
namespace {

// The value of `field` (kB) in /proc/self/smaps for the mapping that starts at p; -1 if none.
long SmapsField(const void* p, const std::string& field) {
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool in_vma = false;
  const uintptr_t want = reinterpret_cast<uintptr_t>(p);
  while (std::getline(in, line)) {
    const size_t dash = line.find('-');
    if (dash != std::string::npos && dash > 0 && line.find(' ') > dash &&
        line.find_first_not_of("0123456789abcdef") == dash) {
      in_vma = std::stoull(line.substr(0, dash), nullptr, 16) == want;
      continue;
    }
    if (in_vma && line.rfind(field + ":", 0) == 0) {
      std::istringstream s(line.substr(field.size() + 1));
      long v = -1;
      s >> v;
      return v;
    }
  }
  return -1;
}

TEST(LargeArray, ValueInitialisedAndAligned) {
  LargeArray<uint64_t> a(100000);
  ASSERT_TRUE(a);
  EXPECT_EQ(a.size(), 100000u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.get()) % kHugePageBytes, 0u);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], 0u) << i;
  a[99999] = 5;
  EXPECT_EQ(a.get()[99999], 5u);
  LargeArray<uint64_t> none;
  EXPECT_FALSE(none);
  EXPECT_EQ(none.size(), 0u);
  EXPECT_FALSE(LargeArray<uint64_t>(0));
}

struct Counted {
  static inline int live = 0;
  Counted() { ++live; }
  ~Counted() { --live; }
  int v = 7;
};

TEST(LargeArray, ConstructsMovesAndDestroysElements) {
  {
    LargeArray<Counted> a(1000);
    EXPECT_EQ(Counted::live, 1000);
    EXPECT_EQ(a[999].v, 7);
    LargeArray<Counted> b(std::move(a));
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    EXPECT_EQ(b.size(), 1000u);
    EXPECT_EQ(Counted::live, 1000);
    LargeArray<Counted> c(10);
    EXPECT_EQ(Counted::live, 1010);
    c = std::move(b);  // c's ten are destroyed
    EXPECT_EQ(Counted::live, 1000);
    EXPECT_EQ(c.size(), 1000u);
    c.reset();
    EXPECT_EQ(Counted::live, 0);
    EXPECT_FALSE(c);
  }
  EXPECT_EQ(Counted::live, 0);
}

// Reserve maps address space only: no page is resident until written (pools that grow with the
// flows keep their memory that way).
TEST(LargeArray, ReserveTouchesNothing) {
  constexpr size_t kBytes = size_t{8} << 20;
  LargeArray<std::byte> r = LargeArray<std::byte>::Reserve(kBytes);
  ASSERT_TRUE(r);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident(kBytes / page);
  ASSERT_EQ(mincore(r.get(), kBytes, resident.data()), 0);
  size_t n = 0;
  for (unsigned char c : resident) n += c & 1;
  EXPECT_EQ(n, 0u) << "pages resident before any write";
  r[kBytes - 1] = std::byte{1};
  ASSERT_EQ(mincore(r.get(), kBytes, resident.data()), 0);
  EXPECT_EQ(resident.back() & 1, 1);
  EXPECT_EQ(r[0], std::byte{0});
}

// CopyOf: the replayed capture and the bench's payloads, built in a vector, then copied once.
TEST(LargeArray, CopyOfCopiesEveryElement) {
  std::vector<uint32_t> v(300000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint32_t>(i * 2654435761u);
  LargeArray<uint32_t> a = LargeArray<uint32_t>::CopyOf(v);
  ASSERT_EQ(a.size(), v.size());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.get()) % kHugePageBytes, 0u);
  EXPECT_EQ(std::memcmp(a.get(), v.data(), v.size() * sizeof(uint32_t)), 0);
  LargeArray<uint32_t> none = LargeArray<uint32_t>::CopyOf({});
  EXPECT_FALSE(none);
  EXPECT_EQ(none.size(), 0u);
}

// Where the kernel has transparent huge pages, the mapping is advised for them (smaps
// THPeligible); with "never", or without them, the memory works as before on 4 KB pages.
TEST(LargeArray, AdvisedForHugePages) {
  const std::string mode = TransparentHugePages();
  LargeArray<uint8_t> a(size_t{4} << 20);
  a[0] = 1;
  if (mode.empty() || mode == "never") {
    GTEST_SKIP() << "transparent huge pages are '" << (mode.empty() ? "absent" : mode)
                 << "' here: nothing to advise";
  }
  EXPECT_EQ(SmapsField(a.get(), "THPeligible"), 1)
      << "the mapping is not advised for huge pages with THP '" << mode << "'";
}

// A Hyperscan database of 5,000 twelve-letter literals (about 800 KB).
hs_database_t* CompileLiterals(int n, std::vector<std::string>* literals) {
  std::mt19937 rng(1);
  literals->clear();
  for (int i = 0; i < n; ++i) {
    std::string s;
    for (int k = 0; k < 12; ++k) s += static_cast<char>('a' + rng() % 26);
    literals->push_back(s);
  }
  std::vector<const char*> ptrs;
  std::vector<unsigned> ids, flags;
  for (int i = 0; i < n; ++i) {
    ptrs.push_back((*literals)[i].c_str());
    ids.push_back(static_cast<unsigned>(i));
    flags.push_back(HS_FLAG_SINGLEMATCH);
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_multi(ptrs.data(), flags.data(), ids.data(), static_cast<unsigned>(n),
                       HS_MODE_BLOCK, nullptr, &db, &err) != HS_SUCCESS) {
    hs_free_compile_error(err);
    return nullptr;
  }
  return db;
}

int CountMatch(unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
  ++*static_cast<int*>(ctx);
  return 0;
}

// Large databases go to memory of their own and come back when freed; small ones, and ones
// allocated with malloc before the allocator was installed, are freed with free.
TEST(DatabaseMemory, LargeDatabasesMappedSmallOnesMalloced) {
  std::vector<std::string> lits;
  hs_database_t* before = CompileLiterals(5000, &lits);  // before the allocator (malloc), if first
  ASSERT_NE(before, nullptr);
  patterns::UseDatabaseMemory();
  patterns::UseDatabaseMemory();  // idempotent
  const size_t n0 = patterns::LargeDatabases(), bytes0 = patterns::LargeDatabaseBytes();

  hs_database_t* large = CompileLiterals(5000, &lits);
  ASSERT_NE(large, nullptr);
  size_t size = 0;
  ASSERT_EQ(hs_database_size(large, &size), HS_SUCCESS);
  ASSERT_GE(size, patterns::kLargeDatabaseBytes) << "the test database is too small to test";
  EXPECT_EQ(patterns::LargeDatabases(), n0 + 1);
  EXPECT_GE(patterns::LargeDatabaseBytes(), bytes0 + size);

  std::vector<std::string> few;
  hs_database_t* small = CompileLiterals(10, &few);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(patterns::LargeDatabases(), n0 + 1);

  // The mapped database scans like any other.
  hs_scratch_t* scratch = nullptr;
  ASSERT_EQ(hs_alloc_scratch(large, &scratch), HS_SUCCESS);
  const std::string text = "xx" + lits[4321] + "yy" + lits[7];
  int matches = 0;
  ASSERT_EQ(hs_scan(large, text.data(), static_cast<unsigned>(text.size()), 0, scratch, CountMatch,
                    &matches),
            HS_SUCCESS);
  EXPECT_EQ(matches, 2);
  hs_free_scratch(scratch);

  hs_free_database(large);
  EXPECT_EQ(patterns::LargeDatabases(), n0);
  EXPECT_EQ(patterns::LargeDatabaseBytes(), bytes0);
  hs_free_database(small);
  hs_free_database(before);
  EXPECT_EQ(patterns::LargeDatabases(), n0);
}

}  // namespace
}  // namespace fs
