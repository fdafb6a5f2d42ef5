// SYN flood through the real sensor: every SYN opens a new flow (flowsentry-pcapgen syn-flood),
// the flow table is small (--flow-capacity), and the sensor must process every packet, count the
// flows it had to evict, and keep its resident memory flat: a flood ten times longer must not
// need more memory than the short one, because everything that grows with flows is capped.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/support/process.h"

namespace fs::testing {
namespace {

constexpr uint64_t kFlowCapacity = 65536;  // per worker
constexpr int kWorkers = 2;
// Both runs overflow both workers' tables (kWorkers * kFlowCapacity = 131072 flows), so both
// touch every table slot; the long run differs only in how many times slots are reused.
constexpr uint64_t kShortFlood = 200000;
constexpr uint64_t kLongFlood = 2000000;

// Sum over workers of one counter in the Prometheus text the sensor wrote with --metrics-out
// (-1 if the metric is absent).
double MetricSum(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  double sum = 0;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') continue;
    sum += std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
    found = true;
  }
  return found ? sum : -1;
}

struct FloodRun {
  ProcessResult process;
  nlohmann::json summary;
  std::string metrics;
};

class FloodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("flood");
    std::ofstream(dir_ + "/one.rules")
        << "alert tcp any any -> any any (msg:\"flood test\"; content:\"never-in-a-syn\"; "
           "sid:4100001; rev:1;)\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Generates `packets` SYNs, runs the sensor over them and deletes the capture.
  FloodRun Run(uint64_t packets) {
    FloodRun run;
    const std::string cap = fmt::format("{}/flood-{}.pcap", dir_, packets);
    auto g = RunProcess({BinDir() + "/flowsentry-pcapgen", "syn-flood", "--packets",
                         std::to_string(packets), "--out", cap},
                        120);
    EXPECT_EQ(g.exit_code, 0) << g.err;
    const std::string summary = fmt::format("{}/summary-{}.json", dir_, packets);
    const std::string metrics = fmt::format("{}/metrics-{}.txt", dir_, packets);
    run.process =
        RunProcess({BinDir() + "/flowsentry", "--pcap", cap, "--rules", dir_ + "/one.rules",
                    "--eve", "", "--metrics-listen", "", "--metrics-out", metrics, "--workers",
                    std::to_string(kWorkers), "--flow-capacity", std::to_string(kFlowCapacity),
                    "--summary-json", summary, "--no-summary"},
                   120);
    std::filesystem::remove(cap);
    run.summary = nlohmann::json::parse(ReadFile(summary), nullptr, false);
    run.metrics = ReadFile(metrics);
    return run;
  }

  // Every packet processed or counted as dropped, and the table overflow counted as evictions.
  void ExpectAccounted(const FloodRun& r, uint64_t packets) {
    SCOPED_TRACE(fmt::format("{} SYNs", packets));
    ASSERT_EQ(r.process.exit_code, 0) << r.process.err;
    ASSERT_TRUE(r.summary.is_object()) << "no --summary-json written";
    const uint64_t processed = r.summary.value("packets", uint64_t{0});
    const uint64_t dropped = r.summary.value("dropped", uint64_t{0});
    EXPECT_EQ(processed + dropped, packets);
    // Reading a capture the sensor waits for its workers: nothing should need dropping.
    EXPECT_EQ(dropped, 0u);
    const double created = MetricSum(r.metrics, "flowsentry_flows_created_total");
    const double evicted = MetricSum(r.metrics, "flowsentry_flows_evicted_total");
    ASSERT_GE(created, 0) << "flowsentry_flows_created_total missing from --metrics-out";
    ASSERT_GE(evicted, 0) << "flowsentry_flows_evicted_total missing from --metrics-out";
    EXPECT_EQ(created, double(processed));
    // The capture spans packets microseconds, far below any flow timeout, so a flow leaves the
    // table only by eviction; at the end at most kWorkers * kFlowCapacity remain (shut down),
    // and at least one worker's table is full.
    EXPECT_GE(evicted, double(processed) - double(kWorkers * kFlowCapacity));
    EXPECT_LE(evicted, double(processed) - double(kFlowCapacity));
  }

  std::string dir_;
};

TEST_F(FloodTest, MemoryStaysFlatAndEvictionsAreCounted) {
  const FloodRun small = Run(kShortFlood);
  ExpectAccounted(small, kShortFlood);
  const FloodRun large = Run(kLongFlood);
  ExpectAccounted(large, kLongFlood);
  ASSERT_GT(small.process.max_rss_kb, 0);
  ASSERT_GT(large.process.max_rss_kb, 0);

  // The relative bound. What the sensor holds is fixed at start-up by its configuration: the
  // DPDK memory (mbuf pools and rings, sized from descriptor and ring counts, not from the
  // capture), each worker's flow table (kFlowCapacity entries), reassembly segment pool,
  // Hyperscan scratch and stream state, the pattern database and the output rings. The short
  // flood already fills every flow table, so each of those regions has been touched as far as a
  // flood can touch it; ten times more flows may only reuse the same slots. The long run's peak
  // may exceed the short one's by allocator noise and by what grows with time rather than flows
  // (log and metric buffers): 5% + 16 MiB. At today's ~170 MiB peak that is ~25 MiB, less than
  // a leak of 16 bytes per flow would add over the extra 1.8M flows (27 MiB).
  const long tolerance_kb = small.process.max_rss_kb / 20 + 16 * 1024;
  RecordProperty("short_flood_max_rss_kb", std::to_string(small.process.max_rss_kb));
  RecordProperty("long_flood_max_rss_kb", std::to_string(large.process.max_rss_kb));
  EXPECT_LE(large.process.max_rss_kb, small.process.max_rss_kb + tolerance_kb)
      << "peak RSS grew with the flood length: " << small.process.max_rss_kb << " kB after "
      << kShortFlood << " SYNs, " << large.process.max_rss_kb << " kB after " << kLongFlood;

  // The absolute bound, from the caps themselves: the EAL memory the sensor asked DPDK for
  // (it logs "--no-huge -m <MB>" when it runs without hugepages), plus per worker a generous
  // 512 bytes per flow-table entry, the 64 MiB reassembly pool and 64 MiB for Hyperscan, and
  // what it takes in at start-up for its first flows' sessions and streams (app-layer.prealloc,
  // stream.prealloc: it logs "<MB> MB a worker taken in memory at start-up"), plus 128 MiB for
  // the process itself (code, libraries, pattern compiler, output).
  const std::string& log = large.process.err;
  const size_t m = log.find("--no-huge -m ");
  if (m != std::string::npos) {
    const long eal_mb = std::strtol(log.c_str() + m + 13, nullptr, 10);
    long readied_mb = 0;
    const size_t r = log.find(" MB a worker taken in memory at start-up");
    if (r != std::string::npos) {
      const size_t start = log.find_last_of(' ', r - 1);
      readied_mb =
          std::strtol(log.c_str() + (start == std::string::npos ? 0 : start + 1), nullptr, 10);
    }
    const long cap_kb = (eal_mb + 128) * 1024 + kWorkers * (long(kFlowCapacity) * 512 / 1024 +
                                                            128 * 1024 + readied_mb * 1024);
    RecordProperty("rss_cap_kb", std::to_string(cap_kb));
    EXPECT_LE(large.process.max_rss_kb, cap_kb)
        << "peak RSS " << large.process.max_rss_kb << " kB over the configured caps (" << eal_mb
        << " MB of EAL memory, " << kWorkers << " workers of " << kFlowCapacity << " flows, "
        << readied_mb << " MB a worker taken at start-up)";
  }
  std::cout << fmt::format("peak RSS: {} kB ({} SYNs), {} kB ({} SYNs)\n", small.process.max_rss_kb,
                           kShortFlood, large.process.max_rss_kb, kLongFlood);
}

}  // namespace
}  // namespace fs::testing
