// Indicator matching at scale: build time, memory and per-lookup cost of the IP matcher with 1M
// entries (a mix of IPv4 hosts, IPv4 blocks and IPv6 blocks/hosts, in three lists), of the domain
// matcher with 1M names, and of the real ET Open compromised-ips list.
//
//   build-release/bin/flowsentry_bench_ip_match --benchmark_counters_tabular=true
//
// Lookups cycle through 4M pre-generated addresses (64 MiB), far more than the caches hold, so the
// figures include the cache misses a worker sees on real traffic rather than a hot loop over a few
// addresses.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "dataplane/scan/domain_match.h"
#include "dataplane/scan/ip_match.h"
#include "patterns/indicators.h"
#include "patterns/range_set.h"

namespace {

using fs::IpAddr;
using fs::patterns::DomainEntry;
using fs::patterns::FromU128;
using fs::patterns::IpPrefix;
using fs::patterns::ListMask;
using fs::patterns::ToU128;
using fs::patterns::U128;
using fs::scan::DomainMatcher;
using fs::scan::IpMatcher;

constexpr size_t kEntries = 1'000'000;
constexpr size_t kQueries = size_t{1} << 22;
constexpr U128 kMapped = U128{0xffff} << 32;

// IPv4 blocks as real lists have them: mostly /20../31, 1% /16../19, a handful of /8../15 (a
// uniform /8../31 mix would cover the whole IPv4 space and make every lookup a hit).
unsigned V4BlockLength(std::mt19937_64& rng, size_t i) {
  if (i % 100'000 == 7) return 8 + static_cast<unsigned>(rng() % 8);
  if (rng() % 100 == 0) return 16 + static_cast<unsigned>(rng() % 4);
  return 20 + static_cast<unsigned>(rng() % 12);
}

IpPrefix MakePrefix(U128 addr, unsigned len) {
  const U128 host = len == 0 ? ~U128{0} : len == 128 ? U128{0} : (U128{1} << (128 - len)) - 1;
  return IpPrefix{FromU128(addr & ~host), static_cast<uint8_t>(len)};
}

// IPv6 global unicast either spread over 2000::/3 or concentrated in one RIR block (2a00::/12,
// RIPE), which is what real lists look like and the harder case for the 16-bit bucket index.
U128 RandomV6(std::mt19937_64& rng, bool concentrated) {
  const U128 low = (U128{rng()} << 64 | rng()) >> 16;
  const U128 top = concentrated ? 0x2a00u | (rng() & 0xfu) : 0x2000u | (rng() & 0x1fffu);
  return (top << 112) | low;
}

struct Data {
  std::vector<std::pair<IpPrefix, uint32_t>> entries;
  std::vector<IpAddr> v4_random, v4_hits, v6_random, v6_hits, mixed;
};

// 70% IPv4 /32, 10% IPv4 /8../31, 20% IPv6 (/32, /48, /56, /64, /128); three lists.
const Data& GetData(bool concentrated) {
  static Data data[2];
  Data& d = data[concentrated];
  if (!d.entries.empty()) return d;
  std::mt19937_64 rng(concentrated ? 2 : 1);
  d.entries.reserve(kEntries);
  for (size_t i = 0; i < kEntries; ++i) {
    IpPrefix p;
    const unsigned kind = i % 10;
    if (kind < 7) {
      p = MakePrefix(kMapped | (rng() & 0xffffffffu), 128);
    } else if (kind == 7) {
      p = MakePrefix(kMapped | (rng() & 0xffffffffu), 96 + V4BlockLength(rng, i));
    } else {
      const unsigned lens[] = {32, 48, 56, 64, 128};
      p = MakePrefix(RandomV6(rng, concentrated), lens[rng() % 5]);
    }
    d.entries.emplace_back(p, static_cast<uint32_t>(rng() % 3));
  }
  auto inside = [&](const IpPrefix& p) {
    const U128 host = p.len == 128 ? U128{0} : (U128{1} << (128 - p.len)) - 1;
    return FromU128(ToU128(p.addr) | ((U128{rng()} << 64 | rng()) & host));
  };
  for (size_t i = 0; i < kQueries; ++i) {
    d.v4_random.push_back(FromU128(kMapped | (rng() & 0xffffffffu)));
    d.v6_random.push_back(FromU128(RandomV6(rng, concentrated)));
    const IpPrefix* p;
    do {
      p = &d.entries[rng() % d.entries.size()].first;
    } while (!p->IsV4());
    d.v4_hits.push_back(inside(*p));
    do {
      p = &d.entries[rng() % d.entries.size()].first;
    } while (p->IsV4());
    d.v6_hits.push_back(inside(*p));
    // Traffic-like: 80% IPv4, 20% IPv6, 1 in 16 a listed address.
    const bool v6 = rng() % 5 == 0;
    const bool hit = rng() % 16 == 0;
    d.mixed.push_back(v6 ? (hit ? d.v6_hits.back() : d.v6_random.back())
                         : (hit ? d.v4_hits.back() : d.v4_random.back()));
  }
  return d;
}

IpMatcher BuildMatcher(const Data& d) {
  IpMatcher::Builder b;
  for (const auto& [p, list] : d.entries) b.Add(p, list);
  return std::move(b).Build();
}

const IpMatcher& GetMatcher(bool concentrated) {
  static IpMatcher m[2] = {BuildMatcher(GetData(false)), BuildMatcher(GetData(true))};
  return m[concentrated];
}

void ReportStats(benchmark::State& state, const IpMatcher& m) {
  const IpMatcher::Stats& s = m.stats();
  state.counters["entries"] = static_cast<double>(s.v4_entries + s.v6_entries);
  state.counters["v4_ranges"] = static_cast<double>(s.v4_ranges);
  state.counters["v6_ranges"] = static_cast<double>(s.v6_ranges);
  state.counters["MiB"] = static_cast<double>(s.memory_bytes) / (1 << 20);
  state.counters["B/entry"] = static_cast<double>(s.memory_bytes) / (s.v4_entries + s.v6_entries);
}

// arg 0: IPv6 spread over 2000::/3; 1: concentrated in 2a00::/12.
void BM_Build1M(benchmark::State& state) {
  const Data& d = GetData(state.range(0) != 0);
  for (auto _ : state) {
    IpMatcher m = BuildMatcher(d);
    benchmark::DoNotOptimize(m);
    state.PauseTiming();
    ReportStats(state, m);
    { IpMatcher gone = std::move(m); }
    state.ResumeTiming();
  }
}
BENCHMARK(BM_Build1M)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3);

enum Set { kV4Random, kV4Hits, kV6Random, kV6Hits, kMixed };
const std::vector<IpAddr>& Queries(const Data& d, int64_t set) {
  switch (set) {
    case kV4Random:
      return d.v4_random;
    case kV4Hits:
      return d.v4_hits;
    case kV6Random:
      return d.v6_random;
    case kV6Hits:
      return d.v6_hits;
    default:
      return d.mixed;
  }
}
const char* SetName(int64_t set) {
  const char* kNames[] = {"v4_random", "v4_listed", "v6_random", "v6_listed", "mixed_traffic"};
  return kNames[set];
}

// args: query set, IPv6 distribution.
void BM_Lookup1M(benchmark::State& state) {
  const bool concentrated = state.range(1) != 0;
  const IpMatcher& m = GetMatcher(concentrated);
  const std::vector<IpAddr>& q = Queries(GetData(concentrated), state.range(0));
  size_t i = 0, hits = 0;
  for (auto _ : state) {
    const ListMask r = m.Lookup(q[i]);
    benchmark::DoNotOptimize(r);
    hits += r != 0;
    i = (i + 1) & (kQueries - 1);
  }
  state.SetLabel(std::string(SetName(state.range(0))) + (concentrated ? "/v6_in_2a00::/12" : ""));
  state.SetItemsProcessed(state.iterations());
  state.counters["hit_ratio"] = static_cast<double>(hits) / state.iterations();
}
BENCHMARK(BM_Lookup1M)
    ->ArgsProduct({{kV4Random, kV4Hits, kV6Random, kV6Hits, kMixed}, {0}})
    ->Args({kV6Random, 1})
    ->Args({kV6Hits, 1})
    ->Args({kMixed, 1});

// A worker burst: 32 packets, both addresses each, through LookupBulk.
void BM_LookupBulk1M(benchmark::State& state) {
  const bool concentrated = state.range(1) != 0;
  const IpMatcher& m = GetMatcher(concentrated);
  const std::vector<IpAddr>& q = Queries(GetData(concentrated), state.range(0));
  constexpr size_t kBurst = 64;
  ListMask out[kBurst];
  size_t i = 0;
  for (auto _ : state) {
    m.LookupBulk(q.data() + i, kBurst, out);
    benchmark::DoNotOptimize(out);
    i = (i + kBurst) & (kQueries - 1);
  }
  state.SetLabel(std::string(SetName(state.range(0))) + (concentrated ? "/v6_in_2a00::/12" : ""));
  state.SetItemsProcessed(state.iterations() * kBurst);
}
BENCHMARK(BM_LookupBulk1M)
    ->ArgsProduct({{kV4Random, kV4Hits, kV6Random, kV6Hits, kMixed}, {0}})
    ->Args({kMixed, 1});

// No lists configured: the cost a worker pays when the feature is unused (it should check
// lists() == 0 and skip the stage instead).
void BM_LookupEmpty(benchmark::State& state) {
  const IpMatcher m;
  const std::vector<IpAddr>& q = GetData(false).mixed;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.Lookup(q[i]));
    i = (i + 1) & (kQueries - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LookupEmpty);

// The real ET Open list, as a district would deploy it.
void BM_EtCompromised(benchmark::State& state) {
  fs::patterns::IndicatorListConfig c;
  c.name = "et-compromised";
  c.file = FS_SOURCE_DIR "/../shared/data/rules/et-open/compromised-ips.txt";
  if (!std::filesystem::exists(c.file)) {
    state.SkipWithError("shared/data/rules/et-open/compromised-ips.txt not present");
    return;
  }
  auto list = fs::patterns::LoadIndicatorList(c);
  std::vector<fs::patterns::IndicatorList> lists = {std::move(*list)};
  const IpMatcher m = std::move(*IpMatcher::Build(lists));
  const std::vector<IpAddr>& q = GetData(false).mixed;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.Lookup(q[i]));
    i = (i + 1) & (kQueries - 1);
  }
  state.SetItemsProcessed(state.iterations());
  ReportStats(state, m);
}
BENCHMARK(BM_EtCompromised);

// ---- domains ----

std::string RandomLabel(std::mt19937_64& rng) {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(6 + rng() % 10, 'a');
  for (char& c : s) c = kChars[rng() % 36];
  return s;
}

struct DomainData {
  std::vector<std::pair<DomainEntry, uint32_t>> entries;
  std::vector<std::string> hits, misses;
};

const DomainData& GetDomains() {
  static DomainData d;
  if (!d.entries.empty()) return d;
  std::mt19937_64 rng(3);
  const char* kTlds[] = {"com", "net", "org", "ru", "xyz", "top", "info", "cn"};
  for (size_t i = 0; i < kEntries; ++i) {
    std::string name = RandomLabel(rng) + "." + kTlds[rng() % 8];
    if (rng() % 4 == 0) name = RandomLabel(rng) + "." + name;
    d.entries.push_back({DomainEntry{name, rng() % 3 == 0}, static_cast<uint32_t>(rng() % 3)});
  }
  for (size_t i = 0; i < 1 << 20; ++i) {
    const DomainEntry& e = d.entries[rng() % d.entries.size()].first;
    std::string hit = e.suffix ? "www." + e.name : e.name;
    hit[0] = static_cast<char>(hit[0] & ~0x20);  // mixed case, as in packets
    d.hits.push_back(hit);
    d.misses.push_back("cdn-" + RandomLabel(rng) + "." + RandomLabel(rng) + ".example.com");
  }
  return d;
}

DomainMatcher BuildDomains() {
  DomainMatcher::Builder b;
  for (const auto& [e, list] : GetDomains().entries) b.Add(e, list);
  return std::move(b).Build();
}

void BM_DomainBuild1M(benchmark::State& state) {
  GetDomains();
  for (auto _ : state) {
    DomainMatcher m = BuildDomains();
    benchmark::DoNotOptimize(m);
    state.PauseTiming();
    state.counters["entries"] = static_cast<double>(m.entries());
    state.counters["MiB"] = static_cast<double>(m.memory_bytes()) / (1 << 20);
    { DomainMatcher gone = std::move(m); }
    state.ResumeTiming();
  }
}
BENCHMARK(BM_DomainBuild1M)->Unit(benchmark::kMillisecond)->Iterations(3);

// arg 0: listed names, 1: unlisted 4-label names.
void BM_DomainMatch1M(benchmark::State& state) {
  static const DomainMatcher m = BuildDomains();
  const std::vector<std::string>& q = state.range(0) == 0 ? GetDomains().hits : GetDomains().misses;
  size_t i = 0, hits = 0;
  for (auto _ : state) {
    const ListMask r = m.Match(q[i]);
    benchmark::DoNotOptimize(r);
    hits += r != 0;
    i = (i + 1) & ((size_t{1} << 20) - 1);
  }
  state.SetLabel(state.range(0) == 0 ? "listed" : "unlisted");
  state.SetItemsProcessed(state.iterations());
  state.counters["hit_ratio"] = static_cast<double>(hits) / state.iterations();
}
BENCHMARK(BM_DomainMatch1M)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
