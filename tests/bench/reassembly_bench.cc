// Reassembly stage: reassembly::Reassembler::OnPacket over one 1 MiB stream cut into 1460-byte
// segments, in order (zero-copy path) and with every pair of segments swapped (each second
// segment is buffered in the pool, then drained). The sink only sums lengths. Packets are built
// and decoded in set-up; only OnPacket/Release are timed.
//
//   build-bench/bin/flowsentry_bench_reassembly --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/decode/packet.h"
#include "dataplane/reassembly/reassembly.h"
#include "tools/pcapgen/packet_builder.h"

namespace {

constexpr uint32_t kIsn = 0xFFF00000u;  // wraps inside the stream
constexpr uint32_t kSegment = 1460;
constexpr uint32_t kStreamBytes = 1u << 20;

struct Segments {
  std::vector<std::vector<uint8_t>> frames;
  std::vector<fs::decode::Packet> packets;  // packets[0] is the SYN
};

Segments Build(bool swap_pairs) {
  Segments s;
  auto add = [&s](uint8_t flags, uint32_t seq, const std::string& payload) {
    fs::pcapgen::PacketBuilder b;
    b.Ipv4("10.1.2.3", "198.51.100.7").Tcp(50000, 443, flags, seq, 1).Payload(payload);
    s.frames.push_back(b.Build());
  };
  add(0x02, kIsn, "");
  std::vector<std::pair<uint32_t, std::string>> segs;
  for (uint32_t off = 0; off < kStreamBytes; off += kSegment) {
    std::string payload(std::min(kSegment, kStreamBytes - off), 'x');
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>((off + i) * 31);
    segs.push_back({off, std::move(payload)});
  }
  if (swap_pairs) {
    for (size_t i = 0; i + 1 < segs.size(); i += 2) std::swap(segs[i], segs[i + 1]);
  }
  for (const auto& [off, payload] : segs) add(0x18, kIsn + 1 + off, payload);
  s.packets.resize(s.frames.size());
  for (size_t i = 0; i < s.frames.size(); ++i) {
    const auto& f = s.frames[i];
    fs::decode::Decode(f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()),
                       0, &s.packets[i]);
  }
  return s;
}

struct CountingSink {
  uint64_t bytes = 0;
  void Data(int, const uint8_t*, uint32_t len, uint32_t) { bytes += len; }
  void Gap(int, uint32_t) {}
  void DepthReached(int) {}
};

void Run(benchmark::State& state, bool swap_pairs) {
  const Segments s = Build(swap_pairs);
  fs::reassembly::Config cfg;
  cfg.depth = 0;
  fs::reassembly::Reassembler r(cfg);
  CountingSink sink;
  for (auto _ : state) {
    fs::reassembly::FlowStreams fs{};
    for (const auto& p : s.packets) r.OnPacket(fs, 0, p, sink);
    r.Release(fs, true, sink);
  }
  benchmark::DoNotOptimize(sink.bytes);
  if (sink.bytes != uint64_t{kStreamBytes} * state.iterations()) state.SkipWithError("lost bytes");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kStreamBytes);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * (s.packets.size() - 1)));
}

void BM_ReassembleInOrder(benchmark::State& state) { Run(state, false); }
void BM_ReassembleSwappedPairs(benchmark::State& state) { Run(state, true); }

BENCHMARK(BM_ReassembleInOrder);
BENCHMARK(BM_ReassembleSwappedPairs);

}  // namespace

BENCHMARK_MAIN();
