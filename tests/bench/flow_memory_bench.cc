// Bytes per concurrent flow (issue 4, "Memory and flow lifecycle"): one worker's flow table, TCP
// reassembly, stream-scan contexts and Hyperscan stream states holding N open TCP flows, for each
// rule set (none, the district pack, the accepted ET Open rules). Every component is computed from
// the structures' sizes and the total is measured as resident memory (VmRSS) before and after.
//
// Not a Google Benchmark timing loop: the figure is a size, one pass is exact and repetitions add
// nothing. Each flow is a real handshake and one data segment each way (decoded frames through
// FlowTable::Update, Reassembler::OnPacket and Scanner::StreamData, as dataplane/worker wires
// them), so each flow holds a stream context and both Hyperscan streams. A second phase adds one
// out-of-order segment per flow, which the reassembler must buffer.
//
//   build-mem/bin/flowsentry_bench_flow_memory [--flows N] [--json FILE] [--sets none,district,et]
//
// Exit status: 0 when every set ran and met the target (flow entry + reassembly bookkeeping at
// most 256 bytes per flow), 2 when a set missed it, 1 when the run itself went wrong.
#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/decode/packet.h"
#include "dataplane/flow/flow_table.h"
#include "dataplane/reassembly/reassembly.h"
#include "dataplane/scan/scanner.h"
#include "dataplane/scan/stream_pool.h"
#include "patterns/pattern_set.h"
#include "patterns/rule_parser.h"
#include "tools/pcapgen/packet_builder.h"

#ifndef FS_SOURCE_DIR
#define FS_SOURCE_DIR "."
#endif

namespace {

using fs::patterns::PatternSet;

constexpr uint32_t kTargetBytes = 256;    // issue 4: flow entry + reassembly bookkeeping per flow
constexpr uint32_t kMaxFlows = 1u << 24;  // client addresses are 10.0.0.0 + flow index

// ---- resident memory -------------------------------------------------------------------------

// A "Name:   123 kB" line of a /proc file, in bytes; 0 when absent or unreadable.
uint64_t ProcKb(const char* file, const std::string& name) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) == 0 && line.size() > name.size() && line[name.size()] == ':') {
      return std::stoull(line.substr(name.size() + 1)) * 1024;
    }
  }
  return 0;
}

uint64_t ResidentBytes() { return ProcKb("/proc/self/status", "VmRSS"); }

// Resident anonymous memory in transparent huge pages. The figures do not depend on the page
// size (every structure here is touched whole), but the run time does: each 4 KiB page fault
// costs about 20 us on the VM of docs/PERFORMANCE.md, and the out-of-order phase touches 2 GiB.
uint64_t HugePageBytes() { return ProcKb("/proc/self/smaps_rollup", "AnonHugePages"); }

// Freed heap memory that glibc keeps would be reused without new page faults and hide part of the
// next set's memory: give it back before every baseline.
uint64_t BaselineBytes() {
  malloc_trim(0);
  return ResidentBytes();
}

// ---- the packets of one flow -----------------------------------------------------------------

enum Kind { kSyn, kSynAck, kRequest, kResponse, kOutOfOrder, kKinds };

constexpr std::string_view kRequestText =
    "GET /district/portal/index.html HTTP/1.1\r\nHost: portal.example.org\r\n"
    "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept: */*\r\n\r\n";
constexpr std::string_view kResponseText =
    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 48213\r\n"
    "Cache-Control: no-cache\r\n\r\n<!DOCTYPE html><html><head><title>Portal</title>";
// The out-of-order segment: a full-size to-client segment arriving after a lost one.
constexpr uint32_t kMss = 1448;

// The five frames of a flow, built once with PacketBuilder and patched per flow (addresses, ports,
// sequence numbers), then decoded as frames from the wire are. Checksums go stale: the decoder, as
// Suricata with -k none, does not verify them. Single-threaded.
class FlowFrames {
 public:
  FlowFrames() {
    namespace tf = fs::decode::tcpflag;
    using fs::pcapgen::PacketBuilder;
    const std::string ooo(kMss, 'x');
    Build(kSyn, PacketBuilder().Ipv4("10.0.0.1", "192.0.2.80").Tcp(1024, 80, tf::kSyn, 0, 0));
    Build(kSynAck,
          PacketBuilder().Ipv4("192.0.2.80", "10.0.0.1").Tcp(80, 1024, tf::kSyn | tf::kAck, 0, 0));
    Build(kRequest, PacketBuilder()
                        .Ipv4("10.0.0.1", "192.0.2.80")
                        .Tcp(1024, 80, tf::kPsh | tf::kAck, 0, 0)
                        .Payload(kRequestText));
    Build(kResponse, PacketBuilder()
                         .Ipv4("192.0.2.80", "10.0.0.1")
                         .Tcp(80, 1024, tf::kPsh | tf::kAck, 0, 0)
                         .Payload(kResponseText));
    Build(
        kOutOfOrder,
        PacketBuilder().Ipv4("192.0.2.80", "10.0.0.1").Tcp(80, 1024, tf::kAck, 0, 0).Payload(ooo));
  }

  // Frame k of flow i, decoded. Its pointers are into a buffer the next Make(k, ...) overwrites.
  fs::decode::Packet Make(Kind k, uint32_t i, uint64_t ts_us) {
    Frame& f = frames_[k];
    const uint32_t client = (10u << 24) + i;
    const uint16_t client_port = static_cast<uint16_t>(1024 + i % 60000);
    const uint32_t c_isn = i * 2654435761u;  // spread ISNs over the sequence space
    const uint32_t s_isn = ~c_isn;
    const uint32_t req = static_cast<uint32_t>(kRequestText.size());
    const uint32_t resp = static_cast<uint32_t>(kResponseText.size());
    const bool to_server = k == kSyn || k == kRequest;
    uint32_t seq = 0, ack = 0;
    switch (k) {
      case kSyn:
        seq = c_isn;
        break;
      case kSynAck:
        seq = s_isn;
        ack = c_isn + 1;
        break;
      case kRequest:
        seq = c_isn + 1;
        ack = s_isn + 1;
        break;
      case kResponse:
        seq = s_isn + 1;
        ack = c_isn + 1 + req;
        break;
      case kOutOfOrder:  // one kMss segment after the response was lost: a hole before this one
        seq = s_isn + 1 + resp + kMss;
        ack = c_isn + 1 + req;
        break;
      case kKinds:
        break;
    }
    Put32(f.bytes.data() + f.l3 + (to_server ? 12 : 16), client);
    Put16(f.bytes.data() + f.l4 + (to_server ? 0 : 2), client_port);
    Put32(f.bytes.data() + f.l4 + 4, seq);
    Put32(f.bytes.data() + f.l4 + 8, ack);
    fs::decode::Packet p;
    const uint32_t len = static_cast<uint32_t>(f.bytes.size());
    fs::decode::Decode(f.bytes.data(), len, len, ts_us, &p);
    return p;
  }

 private:
  struct Frame {
    fs::pcapgen::Bytes bytes;
    size_t l3 = 0, l4 = 0;
  };

  void Build(Kind k, const fs::pcapgen::PacketBuilder& b) {
    frames_[k].bytes = b.Build();
    frames_[k].l3 = b.L3Offset();
    frames_[k].l4 = b.L4Offset();
  }
  static void Put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
  }
  static void Put32(uint8_t* p, uint32_t v) {
    Put16(p, static_cast<uint16_t>(v >> 16));
    Put16(p + 2, static_cast<uint16_t>(v));
  }

  Frame frames_[kKinds];
};

// ---- one worker's structures -----------------------------------------------------------------

// Reassembly -> stream scan, as dataplane/worker's StreamSink: a flow takes its stream context
// from the pool at its first delivered byte, and the scanner opens a direction's Hyperscan stream
// at that direction's first byte.
struct ScanSink {
  fs::scan::Scanner* scanner;
  fs::scan::StreamPool* pool;
  const PatternSet* set;
  fs::flow::Flow* flow;

  void Data(int dir, const uint8_t* data, uint32_t len, uint32_t /*stream_offset*/) {
    if (flow->stream_slot == 0) {
      flow->stream_slot = pool->Acquire(flow->proto, flow->server_port);  // as the worker
      if (flow->stream_slot == 0) return;
    }
    const int addr_class = set->AddrClassOf(fs::patterns::ToU128(flow->client_addr),
                                            fs::patterns::ToU128(flow->server_addr));
    scanner->StreamData(*set, pool->At(flow->stream_slot), dir, addr_class, data, len);
  }
  void Gap(int dir, uint32_t /*len*/) {
    if (flow->stream_slot != 0) scanner->StreamGap(pool->At(flow->stream_slot), dir);
  }
  void DepthReached(int dir) {
    if (flow->stream_slot != 0) scanner->StreamClose(set, pool->At(flow->stream_slot), dir, false);
  }
};

struct RuleSetInput {
  std::string name;
  std::shared_ptr<const PatternSet> set;
  size_t rules_seen = 0;
  double compile_s = 0;
};

// Bytes per flow, computed (a..e) and measured, for one rule set.
struct Figures {
  std::string name;
  size_t rules = 0, rules_seen = 0, stream_rules = 0;
  size_t state_bytes[2] = {0, 0};  // hs_stream_size per direction (0: no stream database)
  size_t block_bytes = 0;          // StreamPool slab block serving one stream
  int streams_per_flow = 0;
  double a = 0, b = 0, c = 0, d = 0, e = 0;
  double measured_table = 0;     // RSS of the constructed flow table / N
  double measured_in_order = 0;  // RSS after N flows with both streams open / N
  double measured_ooo_slot = 0;  // RSS added by one buffered segment per flow / N
  double measured_with_ooo = 0;  // RSS after the out-of-order phase / N
  uint64_t rss_baseline = 0, rss_in_order = 0, rss_with_ooo = 0;
  uint64_t huge_with_ooo = 0;  // of rss_with_ooo, in transparent huge pages
  double compile_s = 0, in_order_s = 0, ooo_s = 0, teardown_s = 0;
  bool pass() const { return a + b <= kTargetBytes; }
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Builds one worker's structures for n flows, opens n TCP flows through them and measures.
// Returns an error message, or nullopt.
std::optional<std::string> Measure(const RuleSetInput& in, uint32_t n, Figures* out) {
  using Clock = std::chrono::steady_clock;
  const PatternSet& set = *in.set;
  Figures& fig = *out;
  fig.name = in.name;
  fig.rules = set.size();
  fig.rules_seen = in.rules_seen;
  fig.stream_rules = set.stats().stream_rules;
  fig.compile_s = in.compile_s;

  fs::scan::Scanner scanner;
  if (!scanner.Prepare(set)) return "Scanner::Prepare: " + scanner.error();
  for (int dir = 0; dir < fs::patterns::kScanDirs; ++dir) {
    // The largest address class's stream (a flow's direction opens one of them).
    size_t state = 0;
    for (int a = 0; a < fs::patterns::kAddrClasses; ++a) {
      const auto& db = set.stream_class_database(static_cast<fs::patterns::ScanDir>(dir), a);
      if (db.db != nullptr) state = std::max(state, db.stream_state_bytes);
    }
    fig.state_bytes[dir] = state;
    if (state != 0) ++fig.streams_per_flow;
  }
  // Sized as dataplane/worker sizes its pool. Resident memory follows the block, so the reload
  // headroom is part of the cost per stream.
  const fs::patterns::CompileStats& st = set.stats();
  const fs::scan::StreamPoolSize size = fs::scan::PoolSizeFor(
      st.stream_state_bytes, st.stream_port_groups[0] + st.stream_port_groups[1] != 0);

  const uint64_t rss0 = BaselineBytes();
  auto table = std::make_unique<fs::flow::FlowTable>(n, fs::flow::Timeouts{});
  const uint64_t rss_table = ResidentBytes();
  // The worker's default reassembly pool: a fixed size, not per flow.
  auto reasm = std::make_unique<fs::reassembly::Reassembler>(fs::reassembly::Config{});
  auto pool = std::make_unique<fs::scan::StreamPool>(n, size.stream_bytes, size.streams);
  pool->Bind();
  fig.block_bytes = pool->block_bytes();

  uint64_t ended_early = 0;
  auto on_end = [&](fs::flow::Flow&, fs::flow::EndReason) { ++ended_early; };
  FlowFrames frames;
  uint64_t ts_us = 1'764'000'000'000'000;
  uint64_t not_added = 0;
  auto feed = [&](fs::reassembly::Reassembler& r, Kind k, uint32_t i) {
    const fs::decode::Packet p = frames.Make(k, i, ts_us++);
    const fs::flow::FlowTable::Result res = table->Update(p, on_end);
    if (res.flow == nullptr) {
      ++not_added;
      return;
    }
    ScanSink sink{&scanner, pool.get(), &set, res.flow};
    const fs::reassembly::SegmentResult seg =
        r.OnPacket(res.flow->streams, static_cast<int>(res.dir), p, sink);
    if (p.payload_len > 0 && seg.verdict != fs::reassembly::Verdict::kAdded) ++not_added;
    // Stream matches would be reported against the packet here; the memory does not depend on it.
    scanner.DropPending();
  };

  auto t = Clock::now();
  for (uint32_t i = 0; i < n; ++i) {
    for (Kind k : {kSyn, kSynAck, kRequest, kResponse}) feed(*reasm, k, i);
  }
  fig.in_order_s = Seconds(t);
  const uint64_t rss_in_order = ResidentBytes();
  const uint64_t want_streams = uint64_t{n} * static_cast<uint64_t>(fig.streams_per_flow);
  if (ended_early != 0 || not_added != 0 || table->size() != n || pool->in_use() != n ||
      scanner.counters().stream_opens != want_streams ||
      pool->counters().streams_open != want_streams) {
    return fmt::format(
        "{}: in-order phase incomplete: {} flows (want {}), {} ended early, {} packets not taken, "
        "{} stream contexts, {} Hyperscan streams open (want {}), {} open failures",
        in.name, table->size(), n, ended_early, not_added, pool->in_use(),
        pool->counters().streams_open, want_streams, scanner.counters().stream_open_failures);
  }

  // One buffered segment for every flow cannot fit the worker's default pool (64 MiB, ~32k slots),
  // so this phase gets a pool of exactly n slots. The flows hold no slot of the first pool (their
  // data was in order), so their FlowStreams carry over unchanged.
  const uint64_t per_slot = reasm->config().pool_bytes / reasm->pool_slots();  // data + header
  fs::reassembly::Config ooo_cfg;
  ooo_cfg.pool_bytes = per_slot * n;
  auto ooo = std::make_unique<fs::reassembly::Reassembler>(ooo_cfg);
  t = Clock::now();
  for (uint32_t i = 0; i < n; ++i) feed(*ooo, kOutOfOrder, i);
  fig.ooo_s = Seconds(t);
  const uint64_t rss_with_ooo = ResidentBytes();
  fig.huge_with_ooo = HugePageBytes();
  if (ended_early != 0 || not_added != 0 || ooo->pool_slots_in_use() != n) {
    return fmt::format("{}: out-of-order phase: {} of {} segments buffered ({} ended early)",
                       in.name, ooo->pool_slots_in_use(), n, ended_early);
  }

  // Tear down as the worker ends flows, which also checks that every resource comes back.
  t = Clock::now();
  table->Flush([&](fs::flow::Flow& f, fs::flow::EndReason) {
    ScanSink sink{&scanner, pool.get(), &set, &f};
    ooo->Release(f.streams, /*flush=*/false, sink);
    if (f.stream_slot == 0) return;
    for (int dir = 0; dir < 2; ++dir)
      scanner.StreamClose(&set, pool->At(f.stream_slot), dir, false);
    pool->Release(f.stream_slot);
    f.stream_slot = 0;
  });
  fig.teardown_s = Seconds(t);
  const bool leaked = pool->in_use() != 0 || pool->counters().streams_open != 0 ||
                      ooo->pool_slots_in_use() != 0 || reasm->pool_slots_in_use() != 0;
  pool->Unbind();
  if (leaked) return in.name + ": teardown left stream contexts, streams or slots in use";

  const double nd = n;
  const double buckets = static_cast<double>(std::bit_ceil(n));  // FlowTable: power of two >= n
  fig.b = sizeof(fs::reassembly::FlowStreams);
  fig.a = static_cast<double>(sizeof(fs::flow::Flow)) - fig.b + buckets * sizeof(uint32_t) / nd;
  fig.c = static_cast<double>(sizeof(fs::scan::StreamCtx)) * (nd + 1) / nd;  // [0] unused
  fig.d = static_cast<double>(fig.streams_per_flow) * static_cast<double>(fig.block_bytes);
  fig.e = static_cast<double>(per_slot);
  fig.rss_baseline = rss0;
  fig.rss_in_order = rss_in_order;
  fig.rss_with_ooo = rss_with_ooo;
  // Signed: with a few flows, noise can make a difference negative.
  auto per_flow = [nd](uint64_t after, uint64_t before) {
    return (static_cast<double>(after) - static_cast<double>(before)) / nd;
  };
  fig.measured_table = per_flow(rss_table, rss0);
  fig.measured_in_order = per_flow(rss_in_order, rss0);
  fig.measured_ooo_slot = per_flow(rss_with_ooo, rss_in_order);
  fig.measured_with_ooo = per_flow(rss_with_ooo, rss0);
  return std::nullopt;
}

// ---- rule sets -------------------------------------------------------------------------------

std::optional<std::string> LoadSet(const std::string& name, const std::string& path,
                                   RuleSetInput* out) {
  out->name = name;
  std::vector<fs::patterns::Rule> rules;
  if (!path.empty()) {
    fs::patterns::ParseResult parsed =
        fs::patterns::LoadRules({path}, fs::patterns::ParseOptions{});
    // Skipped rules are warnings (not supported); rejected ones are left out as the sensor does.
    out->rules_seen = parsed.stats.rules_seen;
    rules = std::move(parsed.rules);
  }
  const auto start = std::chrono::steady_clock::now();
  auto compiled = PatternSet::Compile(std::move(rules), /*generation=*/1);
  out->compile_s = Seconds(start);
  if (!compiled.ok()) return name + ": " + compiled.error().message;
  out->set = std::move(compiled.value());
  return std::nullopt;
}

// ---- report ----------------------------------------------------------------------------------

void PrintTable(const std::vector<Figures>& figs, uint32_t n) {
  auto row = [&](const std::string& label, auto cell) {
    std::string line = fmt::format("  {:<52}", label);
    for (const Figures& f : figs) line += fmt::format(" {:>14}", cell(f));
    fmt::print("{}\n", line);
  };
  auto bytes = [](double v) { return fmt::format("{:.1f}", v); };
  fmt::print("\nBytes per concurrent flow, {} open TCP flows on one worker\n", n);
  row("rule set", [](const Figures& f) { return f.name; });
  row("rules accepted (of seen)", [](const Figures& f) {
    return f.rules_seen != 0 ? fmt::format("{} ({})", f.rules, f.rules_seen)
                             : fmt::format("{}", f.rules);
  });
  row("stream rules", [](const Figures& f) { return fmt::format("{}", f.stream_rules); });
  row("Hyperscan stream state per stream (to-server/client)",
      [](const Figures& f) { return fmt::format("{}/{}", f.state_bytes[0], f.state_bytes[1]); });
  row("(a) flow entry: Flow without (b) + hash bucket share",
      [&](const Figures& f) { return bytes(f.a); });
  row("(b) reassembly bookkeeping: FlowStreams in the Flow",
      [&](const Figures& f) { return bytes(f.b); });
  row(fmt::format("(a)+(b), target <= {}", kTargetBytes), [&](const Figures& f) {
    return fmt::format("{} {}", bytes(f.a + f.b), f.pass() ? "PASS" : "FAIL");
  });
  row("    measured: flow table RSS at start-up / N",
      [&](const Figures& f) { return bytes(f.measured_table); });
  row("(c) stream-scan context: StreamCtx", [&](const Figures& f) { return bytes(f.c); });
  row("(d) Hyperscan stream state: streams x slab block", [&](const Figures& f) {
    return f.streams_per_flow == 0 ? std::string("0")
                                   : fmt::format("{} x {}", f.streams_per_flow, f.block_bytes);
  });
  row("computed (a)+(b)+(c)+(d)", [&](const Figures& f) { return bytes(f.a + f.b + f.c + f.d); });
  row("    MEASURED RSS delta / N, in-order flows",
      [&](const Figures& f) { return bytes(f.measured_in_order); });
  row("(e) one buffered out-of-order segment: pool slot",
      [&](const Figures& f) { return bytes(f.e); });
  row("    measured: RSS added by one segment per flow / N",
      [&](const Figures& f) { return bytes(f.measured_ooo_slot); });
  row("computed (a)..(e)", [&](const Figures& f) { return bytes(f.a + f.b + f.c + f.d + f.e); });
  row("    MEASURED RSS delta / N, with the segment",
      [&](const Figures& f) { return bytes(f.measured_with_ooo); });
  fmt::print("\n");
  constexpr double kMiB = 1 << 20;
  for (const Figures& f : figs) {
    fmt::print(
        "  {}: compile {:.2f} s, open flows {:.2f} s, out-of-order {:.2f} s, teardown {:.2f} s; "
        "RSS baseline {:.1f} MiB, in-order {:.1f} MiB, with segments {:.1f} MiB ({:.0f} MiB in "
        "huge pages)\n",
        f.name, f.compile_s, f.in_order_s, f.ooo_s, f.teardown_s, f.rss_baseline / kMiB,
        f.rss_in_order / kMiB, f.rss_with_ooo / kMiB, f.huge_with_ooo / kMiB);
  }
  const bool small_pages = std::any_of(figs.begin(), figs.end(), [](const Figures& f) {
    return f.huge_with_ooo < f.rss_with_ooo / 2;
  });
  if (small_pages) {
    fmt::print(
        "  note: 4 KiB pages. The figures are the same with transparent huge pages and the run is "
        "much faster:\n  GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (malloc then asks for them)\n");
  }
}

nlohmann::ordered_json ToJson(const Figures& f) {
  return {
      {"rule_set", f.name},
      {"rules", f.rules},
      {"rules_seen", f.rules_seen},
      {"stream_rules", f.stream_rules},
      {"stream_state_bytes", {f.state_bytes[0], f.state_bytes[1]}},
      {"slab_block_bytes", f.block_bytes},
      {"streams_per_flow", f.streams_per_flow},
      {"a_flow_entry", f.a},
      {"b_reassembly_bookkeeping", f.b},
      {"c_stream_ctx", f.c},
      {"d_stream_state", f.d},
      {"e_ooo_segment_slot", f.e},
      {"target_bytes", kTargetBytes},
      {"target_pass", f.pass()},
      {"computed_in_order", f.a + f.b + f.c + f.d},
      {"computed_with_ooo", f.a + f.b + f.c + f.d + f.e},
      {"measured_flow_table", f.measured_table},
      {"measured_in_order", f.measured_in_order},
      {"measured_ooo_slot", f.measured_ooo_slot},
      {"measured_with_ooo", f.measured_with_ooo},
      {"rss_bytes",
       {{"baseline", f.rss_baseline}, {"in_order", f.rss_in_order}, {"with_ooo", f.rss_with_ooo}}},
      {"seconds",
       {{"compile", f.compile_s},
        {"open_flows", f.in_order_s},
        {"ooo", f.ooo_s},
        {"teardown", f.teardown_s}}}};
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t flows = 1'000'000;
  std::string json_path;
  std::vector<std::string> sets = {"none", "district", "et"};
  std::string et_dir = std::string(FS_SOURCE_DIR) + "/../shared/data/rules/et-open";
  std::string district = std::string(FS_SOURCE_DIR) + "/patterns/packs/district.rules";

  CLI::App app{"Bytes per concurrent flow: flow entry, reassembly, stream state (issue 4)"};
  app.add_option("--flows", flows, "Concurrent TCP flows to hold open")
      ->check(CLI::Range(1u, kMaxFlows));
  app.add_option("--json", json_path, "Also write the figures to this JSON file");
  app.add_option("--sets", sets, "Rule sets to measure")
      ->delimiter(',')
      ->check(CLI::IsMember({"none", "district", "et"}));
  app.add_option("--et-rules", et_dir, "Directory of ET Open *.rules files");
  app.add_option("--district-rules", district, "The district pack");
  CLI11_PARSE(app, argc, argv);

  // Allocations above 1 MiB always come from mmap and go back to the kernel when freed, so one
  // set's freed structures are not silently reused by the next (glibc would otherwise raise its
  // mmap threshold up to 32 MiB after the first large free).
  mallopt(M_MMAP_THRESHOLD, 1 << 20);

  std::string command = "flowsentry_bench_flow_memory";
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
  fmt::print("{}\nsizeof: Flow {}, FlowStreams {}, StreamCtx {}; reassembly slot data {}\n",
             command, sizeof(fs::flow::Flow), sizeof(fs::reassembly::FlowStreams),
             sizeof(fs::scan::StreamCtx), fs::reassembly::kSlotDataBytes);

  std::vector<Figures> figs;
  std::vector<std::string> skipped;
  for (const std::string& name : sets) {
    std::string path;
    if (name == "district") path = district;
    if (name == "et") {
      if (access(et_dir.c_str(), R_OK) != 0) {
        fmt::print("et: skipped, {} not found (the shared rule data is absent)\n", et_dir);
        skipped.push_back(name);
        continue;
      }
      path = et_dir;
    }
    RuleSetInput in;
    if (auto err = LoadSet(name, path, &in)) {
      fmt::print(stderr, "error: {}\n", *err);
      return 1;
    }
    fmt::print("{}: {} rules, compiled in {:.2f} s; opening {} flows...\n", name, in.set->size(),
               in.compile_s, flows);
    std::fflush(stdout);
    Figures fig;
    if (auto err = Measure(in, flows, &fig)) {
      fmt::print(stderr, "error: {}\n", *err);
      return 1;
    }
    figs.push_back(fig);
  }
  if (figs.empty()) {
    fmt::print("no rule set measured\n");
    return 0;
  }
  PrintTable(figs, flows);

  const bool all_pass =
      std::all_of(figs.begin(), figs.end(), [](const Figures& f) { return f.pass(); });
  fmt::print("target (a)+(b) <= {} bytes per flow: {}\n", kTargetBytes, all_pass ? "PASS" : "FAIL");

  if (!json_path.empty()) {
    nlohmann::ordered_json j;
    j["command"] = command;
    j["flows"] = flows;
    j["sizeof"] = {{"Flow", sizeof(fs::flow::Flow)},
                   {"FlowStreams", sizeof(fs::reassembly::FlowStreams)},
                   {"StreamCtx", sizeof(fs::scan::StreamCtx)}};
    j["rule_sets"] = nlohmann::ordered_json::array();
    for (const Figures& f : figs) j["rule_sets"].push_back(ToJson(f));
    j["skipped"] = skipped;
    j["target_pass"] = all_pass;
    std::ofstream out(json_path);
    out << j.dump(2) << "\n";
    if (!out) {
      fmt::print(stderr, "error: cannot write {}\n", json_path);
      return 1;
    }
  }
  return all_pass ? 0 : 2;
}
