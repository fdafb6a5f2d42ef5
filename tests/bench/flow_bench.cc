// Flow stage: flow::FlowTable::Update (key, symmetric hash, bucket walk, counters, TCP state,
// LRU move) as the table grows from 1k to 1M concurrent flows. Each iteration touches every flow
// once, round-robin, so consecutive packets never share a flow: the cache-miss-bound case a
// core link with many flows produces. Packets are decoded in set-up; only Update is timed.
//
//   build-bench/bin/flowsentry_bench_flow --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/decode/packet.h"
#include "dataplane/flow/flow_table.h"
#include "tools/pcapgen/packet_builder.h"

namespace {

// One bare TCP ACK (64-byte frame) per flow, client i -> one of 16 servers, decoded.
struct FlowPackets {
  std::vector<std::vector<uint8_t>> frames;
  std::vector<fs::decode::Packet> packets;
};

const FlowPackets& Packets(uint32_t flows) {
  static std::map<uint32_t, std::unique_ptr<FlowPackets>> cache;
  if (auto it = cache.find(flows); it != cache.end()) return *it->second;
  auto fp = std::make_unique<FlowPackets>();
  fp->frames.reserve(flows);
  for (uint32_t f = 0; f < flows; ++f) {
    const std::string client = "10." + std::to_string(64 + (f >> 16)) + "." +
                               std::to_string((f >> 8) & 0xff) + "." + std::to_string(f & 0xff);
    const std::string server = "198.51.100." + std::to_string(160 + f % 16);
    fs::pcapgen::PacketBuilder b;
    b.Ipv4(client, server, 128)
        .Tcp(static_cast<uint16_t>(49152 + (f * 7919u) % 16384), 443, 0x10, f * 2654435761u, 1)
        .PadTo(60);
    fp->frames.push_back(b.Build());
  }
  fp->packets.resize(flows);
  for (uint32_t f = 0; f < flows; ++f) {
    const auto& fr = fp->frames[f];
    fs::decode::Decode(fr.data(), static_cast<uint32_t>(fr.size()),
                       static_cast<uint32_t>(fr.size()), 1789372800000000ULL + f, &fp->packets[f]);
  }
  return *cache.emplace(flows, std::move(fp)).first->second;
}

uint32_t CapacityFor(uint32_t flows) {
  uint32_t c = 1024;
  while (c < flows + flows / 4) c *= 2;
  return c;
}

// args: concurrent flows. All flows exist before timing starts (found on every Update).
void BM_FlowUpdateEstablished(benchmark::State& state) {
  const auto flows = static_cast<uint32_t>(state.range(0));
  const FlowPackets& fp = Packets(flows);
  fs::flow::FlowTable table(CapacityFor(flows), fs::flow::Timeouts{});
  auto on_end = [](const fs::flow::Flow&, fs::flow::EndReason) {};
  for (const auto& p : fp.packets) table.Update(p, on_end);
  uint64_t found = 0;
  for (auto _ : state) {
    for (const auto& p : fp.packets) {
      const auto r = table.Update(p, on_end);
      found += !r.created;
    }
  }
  benchmark::DoNotOptimize(found);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * flows));
  state.counters["capacity"] = CapacityFor(flows);
  state.counters["flow_bytes"] = sizeof(fs::flow::Flow);
  state.counters["ns_per_pkt"] =
      benchmark::Counter(static_cast<double>(state.iterations() * flows),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_FlowUpdateEstablished)
    ->Arg(1 << 10)
    ->Arg(1 << 14)
    ->Arg(1 << 17)
    ->Arg(1 << 20)
    ->Unit(benchmark::kMillisecond);

// Table full (64k flows) and every packet a new flow: lookup miss, end the least recently used
// flow, create. The cost of flow churn (scans, DNS-heavy traffic) under memory pressure.
void BM_FlowCreateEvict(benchmark::State& state) {
  const auto flows = static_cast<uint32_t>(state.range(0));
  const FlowPackets& fp = Packets(flows);
  constexpr uint32_t kCapacity = 1 << 16;
  fs::flow::FlowTable table(kCapacity, fs::flow::Timeouts{});
  uint64_t ended = 0;
  auto on_end = [&ended](const fs::flow::Flow&, fs::flow::EndReason) { ++ended; };
  for (const auto& p : fp.packets) table.Update(p, on_end);
  for (auto _ : state) {
    for (const auto& p : fp.packets) table.Update(p, on_end);
  }
  benchmark::DoNotOptimize(ended);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * flows));
  state.counters["capacity"] = kCapacity;
  state.counters["ns_per_pkt"] =
      benchmark::Counter(static_cast<double>(state.iterations() * flows),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_FlowCreateEvict)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
