// Taking memory's pages at start-up (dataplane/common/prefault.h) and the stream pool's use of it
// (scan::StreamPool::Prealloc).
#include "dataplane/common/prefault.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <cstring>

#include "dataplane/scan/stream_pool.h"

namespace fs {
namespace {

long MinorFaults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Fresh anonymous memory in small pages (so that a page fault is one page whatever the
// machine's transparent huge page setting).
struct Region {
  explicit Region(size_t n) : bytes(n) {
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    base = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
    if (base != nullptr) madvise(base, n, MADV_NOHUGEPAGE);
  }
  ~Region() {
    if (base != nullptr) munmap(base, bytes);
  }
  uint8_t* base = nullptr;
  size_t bytes;
};

// Faults taken writing every page of [p, p + n).
long FaultsWriting(uint8_t* p, size_t n) {
  const long before = MinorFaults();
  for (size_t i = 0; i < n; i += PageBytes()) p[i] = 1;
  return MinorFaults() - before;
}

TEST(Prefault, PagesAreTakenAndContentsKept) {
  constexpr size_t kPages = 256;
  const size_t n = kPages * PageBytes();
  for (bool by_touch : {false, true}) {
    SCOPED_TRACE(by_touch ? "TouchPages" : "Prefault");
    Region fresh(n), readied(n);
    ASSERT_NE(fresh.base, nullptr);
    ASSERT_NE(readied.base, nullptr);
    // Some bytes written before (one page, and the range's first and last bytes' pages).
    std::memset(readied.base + 5 * PageBytes(), 0x5a, PageBytes());
    readied.base[100] = 7;
    readied.base[n - 100] = 9;
    // An unaligned range inside the region: its first and last pages are partly outside it.
    if (by_touch) {
      TouchPages(readied.base + 100, n - 200);
    } else {
      Prefault(readied.base + 100, n - 200);
    }
    EXPECT_EQ(readied.base[100], 7);
    EXPECT_EQ(readied.base[n - 100], 9);
    EXPECT_EQ(readied.base[101], 0);
    for (size_t i = 0; i < PageBytes(); ++i) ASSERT_EQ(readied.base[5 * PageBytes() + i], 0x5a);
    const long cold = FaultsWriting(fresh.base, n);
    const long warm = FaultsWriting(readied.base, n);
    EXPECT_GE(cold, static_cast<long>(kPages) - 2);
    EXPECT_LE(warm, 2) << "pages of the readied range still faulted";
  }
}

TEST(Prefault, NothingToDo) {
  Prefault(nullptr, 4096);
  Region r(PageBytes());
  ASSERT_NE(r.base, nullptr);
  Prefault(r.base, 0);
  EXPECT_GE(FaultsWriting(r.base, PageBytes()), 1);  // still untouched
}

long FaultsAcquiring(scan::StreamPool& pool, uint32_t n) {
  const long before = MinorFaults();
  for (uint32_t i = 0; i < n; ++i) {
    if (pool.Acquire() == 0) return -1;
  }
  return MinorFaults() - before;
}

// The stream pool readies the contexts it hands out first (and their streams' slab blocks):
// acquiring them takes no page fault; the rest still fault as before; the count is bounded.
TEST(StreamPoolPrealloc, FirstContextsTakeNoPageFaults) {
  constexpr uint32_t kContexts = 1u << 16, kReady = 1u << 14;
  scan::StreamPool readied(kContexts, 512, 2);
  const size_t bytes = readied.Prealloc(kReady);
  EXPECT_EQ(bytes, kReady * sizeof(scan::StreamCtx) + size_t{kReady} * 2 * 512);
  EXPECT_EQ(bytes, scan::StreamPool::ReadyBytes(kReady, kContexts, 512, 2));
  scan::StreamPool cold(kContexts, 512, 2);
  const long cold_faults = FaultsAcquiring(cold, kReady);
  // The pool's memory is advised for huge pages (LargeArray): where the kernel gives them, the
  // cold pool faults once per 2 MB rather than once per 4 KB, and the readied one not at all.
  if (cold_faults == 0) {
    GTEST_SKIP() << "no page fault acquiring " << kReady << " fresh contexts: nothing to compare";
  }
  const long warm_faults = FaultsAcquiring(readied, kReady);
  ASSERT_GE(warm_faults, 0);
  EXPECT_LE(warm_faults * 20, cold_faults) << warm_faults << " against " << cold_faults;
  EXPECT_EQ(readied.in_use(), kReady);

  // More than there are: all of them.
  scan::StreamPool small(8, 512, 2);
  EXPECT_EQ(small.Prealloc(100), 8 * sizeof(scan::StreamCtx) + 8 * 2 * 512);
  EXPECT_EQ(scan::StreamPool::ReadyBytes(100, 8, 512, 2),
            8 * sizeof(scan::StreamCtx) + 8 * 2 * 512);
  scan::StreamPool no_streams(8, 0, 2);  // no stream databases: contexts only
  EXPECT_EQ(no_streams.Prealloc(4), 4 * sizeof(scan::StreamCtx));
  EXPECT_EQ(scan::StreamPool::ReadyBytes(4, 8, 0, 2), 4 * sizeof(scan::StreamCtx));
  // Stream port groups: four streams a context, blocks rounded up to 64 bytes.
  scan::StreamPool groups(16, 300, 4);
  EXPECT_EQ(groups.Prealloc(10), 10 * sizeof(scan::StreamCtx) + 10 * 4 * 320);
  EXPECT_EQ(scan::StreamPool::ReadyBytes(10, 16, 300, 4),
            10 * sizeof(scan::StreamCtx) + 10 * 4 * 320);
}

}  // namespace
}  // namespace fs
