// Scan stage: the district capture's packets through the sensor's matcher, three ways:
//   RawHyperscan  hs_scan of each payload with the PatternSet's databases of its direction and
//                 server port (direction from a flow table in set-up): the matcher's limit;
//   FlowOnly      flow::FlowTable::Update + scan::ObservePacket, the per-packet work before scan;
//   FlowScan      the same plus scan::Scanner::ScanPacket (header checks, confirmation,
//                 conditions), as dataplane/worker calls it. FlowScan - FlowOnly = the scan stage.
//                 Every TCP payload counts as one its stream did not take (the stream-only rules
//                 are matched on it too, RulePlan::stream_only);
//   FlowScanInStream  the same with every TCP payload taken by its flow's stream (the packet
//                 scan the worker does beside the stream scan, which is not measured here).
// Rule sets: the district pack, and the accepted ET Open rules when the shared data is present
// (with and without port groups; "et-packet": without stream-only rules, every rule in the
// packet databases, as before 99e4cf9).
//
//   build-bench/bin/flowsentry_bench_scan --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <hs/hs.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/flow/flow_table.h"
#include "dataplane/scan/scanner.h"
#include "patterns/pattern_set.h"
#include "patterns/rule_parser.h"
#include "tests/bench/bench_frames.h"
#include "tools/bench/rules_adapter.h"

#ifndef FS_SOURCE_DIR
#define FS_SOURCE_DIR "."
#endif

namespace {

using fs::patterns::PatternSet;

constexpr const char* kEtRules = "/work/shared/data/rules/et-open";
constexpr uint32_t kDistrictScale = 2;

// nullptr (and *why) when the rules are not available or do not compile.
std::shared_ptr<const PatternSet> SharedSet(const std::string& which, std::string* why) {
  static std::map<std::string, std::shared_ptr<const PatternSet>> cache;
  if (auto it = cache.find(which); it != cache.end()) return it->second;
  // "et-ungrouped": ET Open without port groups (CompileOptions::port_groups), to show their
  // effect.
  const bool et = which.rfind("et", 0) == 0;
  const std::string path = et ? std::string(kEtRules)
                               : std::string(FS_SOURCE_DIR) + "/patterns/packs/district.rules";
  if (access(path.c_str(), R_OK) != 0) {
    *why = path + " not found";
    return nullptr;
  }
  auto parsed = fs::patterns::LoadRules({path}, fs::patterns::ParseOptions{});
  fs::patterns::CompileOptions options;
  options.port_groups = which != "et-ungrouped";
  options.stream_only = which != "et-packet";
  auto compiled = PatternSet::Compile(std::move(parsed.rules), 1, nullptr, {}, options);
  if (!compiled.ok()) {
    *why = compiled.error().message;
    return nullptr;
  }
  return cache.emplace(which, compiled.value()).first->second;
}

const PatternSet* Set(const std::string& which, std::string* why) {
  return SharedSet(which, why).get();
}

const std::vector<fs::decode::Packet>& Packets() {
  static const std::vector<fs::decode::Packet> packets =
      fs::benchdata::DecodeAll(fs::benchdata::DistrictFrames(kDistrictScale));
  return packets;
}

#if FS_HAVE_CONDITIONS
std::unique_ptr<fs::scan::RuleState> MakeRuleState() {
  return std::make_unique<fs::scan::RuleState>(1u << 16);
}
#else
std::unique_ptr<fs::scan::RuleState> MakeRuleState() {
  return std::make_unique<fs::scan::RuleState>();
}
#endif

void Observe(const fs::decode::Packet& p, fs::flow::Flow& f) {
#if FS_HAVE_CONDITIONS
  if (p.proto == f.proto) fs::scan::ObservePacket(p, f);
#else
  (void)p;
  (void)f;
#endif
}

uint64_t PayloadBytes(const std::vector<fs::decode::Packet>& packets) {
  uint64_t n = 0;
  for (const auto& p : packets) n += p.payload_len;
  return n;
}

int CountMatch(unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
  ++*static_cast<uint64_t*>(ctx);
  return 0;
}

void BM_RawHyperscan(benchmark::State& state, const std::string& which) {
  std::string why;
  std::shared_ptr<const PatternSet> set = SharedSet(which, &why);
  if (set == nullptr) {
    state.SkipWithError(why.c_str());
    return;
  }
  const auto& packets = Packets();
  // The databases the sensor's scanner would use, chosen by the bench harness's rules adapter
  // (flowsentry-bench's raw-Hyperscan mode chooses them there too): the direction's database of
  // the payload's protocol and address class, then the port group of the server-side port.
  fs::bench::CompiledRules rules;
  rules.Adopt(set);
  std::string error;
  const fs::bench::ScratchPtr scratch = rules.AllocScratch(&error);
  if (scratch == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  struct Item {
    const uint8_t* data;
    uint32_t len;
    int n;
    const hs_database_t* db[2];
  };
  std::vector<Item> items;
  fs::flow::FlowTable table(1u << 18, fs::flow::Timeouts{});
  auto on_end = [](const fs::flow::Flow&, fs::flow::EndReason) {};
  uint64_t bytes = 0;
  for (const auto& p : packets) {
    if (fs::flow::UseOf(p) == fs::flow::FlowUse::kNone) continue;
    const auto r = table.Update(p, on_end);
    if (r.flow == nullptr || p.payload_len == 0) continue;
    const int d = r.dir == fs::flow::Dir::kToClient ? 1 : 0;
    Item it{p.payload(), p.payload_len, 0, {}};
    // Without a transport header (a later fragment) no port group: proto 0, as the harness.
    const uint8_t proto = p.layer == fs::decode::Layer::kL4 ? p.proto : 0;
    it.n = rules.databases(
        d, proto, p.sport, p.dport,
        rules.addr_class(fs::patterns::ToU128(p.src), fs::patterns::ToU128(p.dst)), it.db);
    if (it.n == 0) continue;
    items.push_back(it);
    bytes += p.payload_len;
  }
  uint64_t matches = 0;
  for (auto _ : state) {
    for (const Item& it : items) {
      for (int k = 0; k < it.n; ++k) {
        hs_scan(it.db[k], reinterpret_cast<const char*>(it.data), it.len, 0, scratch.get(),
                CountMatch, &matches);
      }
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * packets.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["rules"] = static_cast<double>(set->size());
  state.counters["payloads"] = static_cast<double>(items.size());
  state.counters["matches"] =
      static_cast<double>(matches) / static_cast<double>(state.iterations());
}

// with_scan false: the flow work alone (the baseline FlowScan is compared with). in_stream: TCP
// payloads count as taken by their flow's stream (Scanner::ScanPacket).
void FlowPath(benchmark::State& state, const std::string& which, bool with_scan,
              bool in_stream = false) {
  std::string why;
  const PatternSet* set = Set(which, &why);
  if (set == nullptr) {
    state.SkipWithError(why.c_str());
    return;
  }
  const auto& packets = Packets();
  fs::scan::Scanner scanner;
  if (!scanner.Prepare(*set)) {
    state.SkipWithError(scanner.error().c_str());
    return;
  }
  auto rule_state = MakeRuleState();
  fs::flow::FlowTable table(1u << 18, fs::flow::Timeouts{});
  auto on_end = [](const fs::flow::Flow&, fs::flow::EndReason) {};
  uint64_t alerts = 0;
  for (auto _ : state) {
    for (const auto& p : packets) {
      if (fs::flow::UseOf(p) == fs::flow::FlowUse::kNone) continue;
      const auto r = table.Update(p, on_end);
      if (r.flow == nullptr) continue;
      Observe(p, *r.flow);
      if (with_scan) {
        scanner.ScanPacket(*set, p, *r.flow, r.dir, *rule_state, [&alerts](uint32_t) { ++alerts; },
                           in_stream && p.proto == fs::patterns::kIpProtoTcp);
      }
    }
  }
  benchmark::DoNotOptimize(alerts);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * packets.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * PayloadBytes(packets)));
  state.counters["rules"] = static_cast<double>(set->size());
  state.counters["alerts"] = static_cast<double>(alerts) / static_cast<double>(state.iterations());
  state.counters["confirmations"] = static_cast<double>(scanner.counters().confirmations) /
                                    static_cast<double>(state.iterations());
}

void BM_FlowOnly(benchmark::State& state, const std::string& which) {
  FlowPath(state, which, false);
}
void BM_FlowScan(benchmark::State& state, const std::string& which) {
  FlowPath(state, which, true);
}
void BM_FlowScanInStream(benchmark::State& state, const std::string& which) {
  FlowPath(state, which, true, true);
}

BENCHMARK_CAPTURE(BM_RawHyperscan, district, std::string("district"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FlowOnly, district, std::string("district"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FlowScan, district, std::string("district"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FlowScanInStream, district, std::string("district"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RawHyperscan, et, std::string("et"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FlowScan, et, std::string("et"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FlowScanInStream, et, std::string("et"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RawHyperscan, et_packet, std::string("et-packet"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FlowScan, et_packet, std::string("et-packet"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RawHyperscan, et_ungrouped, std::string("et-ungrouped"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FlowScan, et_ungrouped, std::string("et-ungrouped"))
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
