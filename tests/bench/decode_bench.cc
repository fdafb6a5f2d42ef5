// Decode stage: decode::Decode over whole captures held in memory, as a worker decodes a burst.
// Frames come from the project's generator: the district capture (its mix of TCP/UDP, IPv4/IPv6,
// VLAN-tagged and ARP frames) and the 64-byte profile (TCP headers only).
//
//   build-bench/bin/flowsentry_bench_decode --benchmark_counters_tabular=true
//
// items/s is packets per second on one core; bytes/s counts whole frames.
#include <benchmark/benchmark.h>

#include "dataplane/decode/packet.h"
#include "tests/bench/bench_frames.h"

namespace {

using fs::benchdata::Frames;

void DecodeFrames(benchmark::State& state, const Frames& frames) {
  fs::decode::Packet p;
  uint64_t payload = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < frames.size(); ++i) {
      fs::decode::Decode(frames.data(i), frames.len[i], frames.len[i], frames.ts_us[i], &p);
      payload += p.payload_len;
    }
    benchmark::DoNotOptimize(payload);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * frames.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frames.total_bytes));
  state.counters["frames"] = static_cast<double>(frames.size());
  state.counters["ns_per_pkt"] =
      benchmark::Counter(static_cast<double>(state.iterations() * frames.size()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// args: district scale (1: 25k frames, 19 MB; 4: about 90k frames).
void BM_DecodeDistrict(benchmark::State& state) {
  DecodeFrames(state, fs::benchdata::DistrictFrames(static_cast<uint32_t>(state.range(0))));
}
BENCHMARK(BM_DecodeDistrict)->Arg(1)->Arg(4)->Unit(benchmark::kMillisecond);

// 64-byte frames (the small profile): the per-packet floor of decoding.
void BM_DecodeSmall(benchmark::State& state) {
  DecodeFrames(state, fs::benchdata::ProfileFrames(fs::pcapgen::BenchProfile::kSmall,
                                                   static_cast<uint64_t>(state.range(0))));
}
BENCHMARK(BM_DecodeSmall)->Arg(100000)->Unit(benchmark::kMillisecond);

// The benchmark IMIX profile.
void BM_DecodeImix(benchmark::State& state) {
  DecodeFrames(state, fs::benchdata::ProfileFrames(fs::pcapgen::BenchProfile::kImix,
                                                   static_cast<uint64_t>(state.range(0))));
}
BENCHMARK(BM_DecodeImix)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
