// TCP stream reassembly: one table of {description, packets, expected delivered bytes per
// direction, expected counters}, plus a shared-pool test and randomized segmentation. Packets are
// built with PacketBuilder and decoded, and each frame is freed right after OnPacket: under ASan
// this also proves that nothing keeps a pointer into a packet (out-of-order bytes must be copied).
#include "dataplane/reassembly/reassembly.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/decode/packet.h"
#include "tools/pcapgen/packet_builder.h"
#include "tools/pcapgen/rng.h"

namespace fs::reassembly {
namespace {

namespace tf = decode::tcpflag;
using pcapgen::PacketBuilder;

// Records what the sink receives, per direction: data as is, "[gap N]" for a Gap, "[depth]" for
// DepthReached. Checks that stream offsets are consecutive.
struct Recorder {
  std::string out[2];
  uint32_t offset[2] = {0, 0};

  void Data(int dir, const uint8_t* data, uint32_t len, uint32_t stream_offset) {
    EXPECT_EQ(stream_offset, offset[dir]) << "dir " << dir;
    EXPECT_GT(len, 0u);
    out[dir].append(reinterpret_cast<const char*>(data), len);
    offset[dir] += len;
  }
  void Gap(int dir, uint32_t len) {
    EXPECT_GT(len, 0u);
    out[dir] += "[gap " + std::to_string(len) + "]";
    offset[dir] += len;
  }
  void DepthReached(int dir) { out[dir] += "[depth]"; }
};

// One packet. seq = isn[dir] + 1 + rel (modulo 2^32); a SYN has rel -1.
struct Step {
  int dir = 0;
  uint8_t flags = tf::kAck;
  int64_t rel = 0;
  std::string payload{};
  std::optional<Verdict> want{};
};

Step D(int dir, int64_t rel, std::string payload, Verdict want) {
  return {dir, tf::kAck | tf::kPsh, rel, std::move(payload), want};
}
Step C(int64_t rel, std::string payload, Verdict want) {
  return D(0, rel, std::move(payload), want);
}
Step S(int64_t rel, std::string payload, Verdict want) {
  return D(1, rel, std::move(payload), want);
}
Step Fin(int dir, int64_t rel, std::string payload, Verdict want) {
  return {dir, tf::kAck | tf::kFin, rel, std::move(payload), want};
}
Step Rst(int dir, int64_t rel, std::string payload, Verdict want) {
  return {dir, tf::kAck | tf::kRst, rel, std::move(payload), want};
}
Step Syn(int dir, std::string payload, Verdict want) {
  return {dir, static_cast<uint8_t>(dir == 0 ? tf::kSyn : tf::kSyn | tf::kAck), -1,
          std::move(payload), want};
}

constexpr uint32_t kDefaultIsn[2] = {1000, 5000};

// Builds and decodes the packet, runs it, and frees the frame.
SegmentResult Feed(Reassembler& r, FlowStreams& fs, const Step& st, const uint32_t isn[2],
                   Recorder& rec) {
  const uint32_t seq = static_cast<uint32_t>(isn[st.dir] + 1 + st.rel);
  PacketBuilder b;
  if (st.dir == 0) {
    b.Ipv4("10.0.0.1", "10.0.0.2").Tcp(40000, 80, st.flags, seq, isn[1] + 1);
  } else {
    b.Ipv4("10.0.0.2", "10.0.0.1").Tcp(80, 40000, st.flags, seq, isn[0] + 1);
  }
  b.Payload(st.payload);
  std::vector<uint8_t> frame = b.Build();
  decode::Packet p;
  decode::Decode(frame.data(), static_cast<uint32_t>(frame.size()),
                 static_cast<uint32_t>(frame.size()), 0, &p);
  EXPECT_EQ(p.layer, decode::Layer::kL4);
  EXPECT_EQ(p.payload_len, st.payload.size());
  return r.OnPacket(fs, st.dir, p, rec);
}

std::vector<std::pair<const char*, uint64_t>> Fields(const Counters& c) {
  return {{"segments", c.segments},
          {"bytes_delivered", c.bytes_delivered},
          {"duplicates", c.duplicates},
          {"overlaps", c.overlaps},
          {"overlaps_different", c.overlaps_different},
          {"ooo_buffered", c.ooo_buffered},
          {"gaps", c.gaps},
          {"gap_bytes", c.gap_bytes},
          {"depth_reached", c.depth_reached},
          {"pool_exhausted", c.pool_exhausted},
          {"dir_cap_reached", c.dir_cap_reached},
          {"out_of_window", c.out_of_window},
          {"keepalives", c.keepalives},
          {"not_tracked", c.not_tracked},
          {"midstream_pickups", c.midstream_pickups},
          {"syn_data_ignored", c.syn_data_ignored},
          {"after_fin", c.after_fin},
          {"after_rst", c.after_rst},
          {"after_depth", c.after_depth},
          {"rst_with_data", c.rst_with_data},
          {"rst_invalid", c.rst_invalid},
          {"fin_not_recorded", c.fin_not_recorded}};
}

// Every counter not listed must be 0. Unknown names fail.
void ExpectCounters(const Counters& c, const std::map<std::string, uint64_t>& want) {
  for (const auto& [name, value] : Fields(c)) {
    auto it = want.find(name);
    EXPECT_EQ(value, it == want.end() ? 0 : it->second) << "counter " << name;
  }
  for (const auto& [name, value] : want) {
    bool known = false;
    for (const auto& [n, v] : Fields(c)) known |= name == n;
    EXPECT_TRUE(known) << "no counter " << name;
  }
}

Config SmallCap(uint32_t slots) {
  Config c;
  c.max_ooo_slots_per_dir = slots;
  return c;
}
Config SmallPool(uint32_t slots) {
  Config c;
  c.pool_bytes = uint64_t{slots} * (kSlotDataBytes + 16);
  return c;
}
Config Depth(uint32_t depth) {
  Config c;
  c.depth = depth;
  return c;
}
Config Midstream() {
  Config c;
  c.midstream = true;
  return c;
}
Config Distance(uint32_t d) {
  Config c;
  c.max_ooo_distance = d;
  return c;
}

struct Case {
  std::string name{};
  std::vector<Step> steps{};
  std::string want0{}, want1{};  // delivered to-server / to-client, after Release
  std::map<std::string, uint64_t> counters{};
  Config cfg = {};
  bool handshake = true;  // SYN, SYN+ACK, ACK first
  bool flush = true;      // Release(flush) at the end
  uint32_t isn0 = kDefaultIsn[0], isn1 = kDefaultIsn[1];
};

constexpr Verdict kAdded = Verdict::kAdded, kDup = Verdict::kDuplicate,
                  kIgnored = Verdict::kIgnored, kNoData = Verdict::kNoData,
                  kNotTracked = Verdict::kNotTracked, kDepthV = Verdict::kDepth;

// 50 segments of 1 to 7 bytes, sent last first.
Case Reversed50() {
  Case c{.name = "reversed order of 50 segments"};
  std::vector<Step> fwd;
  int64_t rel = 0;
  for (int i = 0; i < 50; ++i) {
    const size_t n = static_cast<size_t>(i % 7) + 1;
    std::string s(n, static_cast<char>('A' + i % 26));
    c.want0 += s;
    fwd.push_back(C(rel, s, kAdded));
    rel += static_cast<int64_t>(n);
  }
  c.steps.assign(fwd.rbegin(), fwd.rend());
  c.counters = {{"segments", 50}, {"bytes_delivered", c.want0.size()}, {"ooo_buffered", 49}};
  return c;
}

Case LongSegment() {
  std::string big(3000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  return {.name = "out-of-order segment longer than a slot",
          .steps = {C(1, big, kAdded), C(1, big, kDup), C(0, "#", kAdded)},
          .want0 = "#" + big,
          .counters = {{"segments", 3},
                       {"bytes_delivered", 3001},
                       {"ooo_buffered", 1},
                       {"duplicates", 1},
                       {"overlaps", 1}}};
}

std::vector<Case> Cases() {
  const std::string kB10(10, 'B'), kC10(10, 'C'), kC17(17, 'C'), kA10(10, 'A');
  std::vector<Case> v = {
      {.name = "in order, both directions",
       .steps = {C(0, "GET / ", kAdded), C(6, "HTTP", kAdded), S(0, "200 OK", kAdded)},
       .want0 = "GET / HTTP",
       .want1 = "200 OK",
       .counters = {{"segments", 3}, {"bytes_delivered", 16}}},
      {.name = "sequence numbers wrap around",
       .steps = {C(0, "0123456789abcdef", kAdded), C(20, "klmn", kAdded), C(16, "ghij", kAdded),
                 S(0, "xy", kAdded), S(2, "z", kAdded)},
       .want0 = "0123456789abcdefghijklmn",
       .want1 = "xyz",
       .counters = {{"segments", 5}, {"bytes_delivered", 27}, {"ooo_buffered", 1}},
       .isn0 = 0xFFFFFFF0u,
       .isn1 = 0xFFFFFFFEu},
      {.name = "retransmission of delivered data",
       .steps = {C(0, "abcdef", kAdded), C(0, "abcdef", kDup), C(2, "cd", kDup),
                 C(4, "efgh", kAdded)},
       .want0 = "abcdefgh",
       .counters = {{"segments", 4}, {"bytes_delivered", 8}, {"duplicates", 2}, {"overlaps", 3}}},
      {.name = "retransmission of buffered data, same bytes",
       .steps = {C(4, "efgh", kAdded), C(4, "efgh", kDup), C(5, "fg", kDup), C(0, "abcd", kAdded)},
       .want0 = "abcdefgh",
       .counters = {{"segments", 4},
                    {"bytes_delivered", 8},
                    {"ooo_buffered", 1},
                    {"duplicates", 2},
                    {"overlaps", 2}}},
      {.name = "bsd: same start as buffered, longer: buffered bytes win, tail added",
       .steps = {C(4, "EFGH", kAdded), C(4, "efghij", kAdded), C(0, "abcd", kAdded)},
       .want0 = "abcdEFGHij",
       .counters = {{"segments", 3},
                    {"bytes_delivered", 10},
                    {"ooo_buffered", 2},
                    {"overlaps", 1},
                    {"overlaps_different", 1}}},
      {.name = "bsd: same start as buffered, same length: duplicate, buffered bytes win",
       .steps = {C(4, "EFGH", kAdded), C(4, "efgh", kDup), C(0, "abcd", kAdded)},
       .want0 = "abcdEFGH",
       .counters = {{"segments", 3},
                    {"bytes_delivered", 8},
                    {"ooo_buffered", 1},
                    {"duplicates", 1},
                    {"overlaps", 1},
                    {"overlaps_different", 1}}},
      {.name = "bsd: starts before buffered: new bytes win the overlap",
       .steps = {C(4, "EFGHI", kAdded), C(2, "cdefg", kAdded), C(0, "ab", kAdded)},
       .want0 = "abcdefgHI",
       .counters = {{"segments", 3},
                    {"bytes_delivered", 9},
                    {"ooo_buffered", 2},
                    {"overlaps", 1},
                    {"overlaps_different", 1}}},
      {.name = "bsd: starts before and covers buffered: buffered replaced",
       .steps = {C(4, "EF", kAdded), C(2, "cdefgh", kAdded), C(0, "ab", kAdded)},
       .want0 = "abcdefgh",
       .counters = {{"segments", 3},
                    {"bytes_delivered", 8},
                    {"ooo_buffered", 2},
                    {"overlaps", 1},
                    {"overlaps_different", 1}}},
      {.name = "bsd: starts after buffered: buffered bytes win, tail added",
       .steps = {C(4, "EFGHIJ", kAdded), C(6, "ghijklmn", kAdded), C(0, "abcd", kAdded)},
       .want0 = "abcdEFGHIJklmn",
       .counters = {{"segments", 3},
                    {"bytes_delivered", 14},
                    {"ooo_buffered", 2},
                    {"overlaps", 1},
                    {"overlaps_different", 1}}},
      {.name = "bsd: inside buffered: duplicate, buffered bytes win",
       .steps = {C(4, "EFGHIJ", kAdded), C(5, "fg", kDup), C(0, "abcd", kAdded)},
       .want0 = "abcdEFGHIJ",
       .counters = {{"segments", 3},
                    {"bytes_delivered", 10},
                    {"ooo_buffered", 1},
                    {"duplicates", 1},
                    {"overlaps", 1},
                    {"overlaps_different", 1}}},
      {.name = "bsd: lowest start wins each byte over three segments",
       // A=[10,20) B=[5,15) C=[8,25): B owns 5..14 (starts before A and C), C owns 15..24.
       .steps = {C(10, kA10, kAdded), C(5, kB10, kAdded), C(8, kC17, kAdded),
                 C(0, "zzzzz", kAdded)},
       .want0 = "zzzzz" + kB10 + kC10,
       .counters = {{"segments", 4},
                    {"bytes_delivered", 25},
                    {"ooo_buffered", 3},
                    {"overlaps", 2},
                    {"overlaps_different", 2}}},
      {.name = "in-order packet wins over a later-starting buffered segment",
       .steps = {C(3, "DEFG", kAdded), C(0, "abcde", kAdded)},
       .want0 = "abcdeFG",
       .counters = {{"segments", 2},
                    {"bytes_delivered", 7},
                    {"ooo_buffered", 1},
                    {"overlaps", 1},
                    {"overlaps_different", 1}}},
      {.name = "delivered bytes are final: overlap of delivered data adds only the tail",
       .steps = {C(0, "abcd", kAdded), C(2, "XYef", kAdded)},
       .want0 = "abcdef",
       .counters = {{"segments", 2}, {"bytes_delivered", 6}, {"overlaps", 1}}},
      {.name = "1-byte segments",
       .steps = {C(0, "a", kAdded), C(2, "c", kAdded), C(1, "b", kAdded), C(4, "e", kAdded),
                 C(3, "d", kAdded)},
       .want0 = "abcde",
       .counters = {{"segments", 5}, {"bytes_delivered", 5}, {"ooo_buffered", 2}}},
      {.name = "keep-alives and window probes",
       .steps = {C(0, "abc", kAdded), C(2, "", kIgnored), C(2, "x", kIgnored), C(3, "d", kAdded),
                 C(3, "d", kIgnored), C(4, "", kNoData)},
       .want0 = "abcd",
       .counters = {{"segments", 2}, {"bytes_delivered", 4}, {"keepalives", 3}}},
      {.name = "RST mid-stream: flushed and closed, its data and later data ignored",
       .steps = {C(0, "abc", kAdded), C(5, "XYZ", kAdded), S(0, "srv", kAdded),
                 Rst(0, 3, "evil", kIgnored), C(8, "more", kIgnored), S(3, "late", kIgnored),
                 C(0, "", kNoData)},
       .want0 = "abc[gap 2]XYZ",
       .want1 = "srv",
       .counters = {{"segments", 3},
                    {"bytes_delivered", 9},
                    {"ooo_buffered", 1},
                    {"gaps", 1},
                    {"gap_bytes", 2},
                    {"rst_with_data", 1},
                    {"after_rst", 2}}},
      {.name = "RST off next_seq is ignored (bsd)",
       .steps = {C(0, "abc", kAdded), Rst(0, 10, "", kNoData), C(3, "def", kAdded)},
       .want0 = "abcdef",
       .counters = {{"segments", 2}, {"bytes_delivered", 6}, {"rst_invalid", 1}}},
      {.name = "FIN with data; data after FIN ignored",
       .steps = {Fin(0, 0, "abc", kAdded), C(4, "zzz", kIgnored), C(0, "ab", kDup),
                 C(3, "late", kIgnored), Fin(0, 0, "abc", kDup), S(0, "ok", kAdded)},
       .want0 = "abc",
       .want1 = "ok",
       .counters = {{"segments", 6},
                    {"bytes_delivered", 5},
                    {"after_fin", 2},
                    {"duplicates", 2},
                    {"overlaps", 2}}},
      {.name = "FIN beyond a hole: remembered, data past it ignored",
       .steps = {Fin(0, 3, "def", kAdded), C(6, "ghi", kIgnored), C(5, "fXY", kDup),
                 C(0, "abc", kAdded), C(6, "jkl", kIgnored)},
       .want0 = "abcdef",
       .counters = {{"segments", 5},
                    {"bytes_delivered", 6},
                    {"ooo_buffered", 1},
                    {"after_fin", 2},
                    {"duplicates", 1},
                    {"overlaps", 1},
                    {"overlaps_different", 0}}},
      {.name = "SYN with data (TCP Fast Open): payload ignored",
       .steps = {Syn(0, "tfo", kIgnored), Syn(1, "", kNoData), C(0, "", kNoData),
                 C(0, "abc", kAdded)},
       .want0 = "abc",
       .counters = {{"segments", 1}, {"bytes_delivered", 3}, {"syn_data_ignored", 1}},
       .handshake = false},
      {.name = "no SYN, midstream off: not tracked",
       .steps = {C(0, "abc", kNotTracked), S(0, "xyz", kNotTracked), C(3, "", kNotTracked)},
       .counters = {{"not_tracked", 2}},
       .handshake = false},
      {.name = "no SYN, midstream on: picked up at the first data packet",
       .steps = {C(0, "", kNotTracked), C(0, "abc", kAdded), C(6, "ghi", kAdded),
                 C(3, "def", kAdded), S(0, "xyz", kAdded)},
       .want0 = "abcdefghi",
       .want1 = "xyz",
       .counters = {{"segments", 4},
                    {"bytes_delivered", 12},
                    {"ooo_buffered", 1},
                    {"midstream_pickups", 2}},
       .cfg = Midstream(),
       .handshake = false},
      {.name = "depth: crossing segment delivered in part, later data kDepth",
       .steps = {C(0, "abcdef", kAdded), C(6, "ghijkl", kAdded), C(12, "mn", kDepthV),
                 S(0, "0123456789AB", kAdded), S(12, "", kNoData)},
       .want0 = "abcdefghij[depth]",
       .want1 = "0123456789[depth]",
       .counters =
           {{"segments", 3}, {"bytes_delivered", 20}, {"depth_reached", 2}, {"after_depth", 1}},
       .cfg = Depth(10)},
      {.name = "depth: buffered bytes past the depth are not kept",
       .steps = {C(6, "ghijkl", kAdded), C(10, "x", kDepthV), C(0, "abcdef", kAdded)},
       .want0 = "abcdefgh[depth]",
       .counters = {{"segments", 3},
                    {"bytes_delivered", 8},
                    {"ooo_buffered", 1},
                    {"after_depth", 1},
                    {"depth_reached", 1}},
       .cfg = Depth(8)},
      {.name = "depth: a gap counts towards the depth",
       .steps = {C(0, "ab", kAdded), C(5, "fghij", kAdded), C(8, "x", kDepthV)},
       .want0 = "ab[gap 3]fgh[depth]",
       .counters = {{"segments", 3},
                    {"bytes_delivered", 5},
                    {"after_depth", 1},
                    {"ooo_buffered", 1},
                    {"gaps", 1},
                    {"gap_bytes", 3},
                    {"depth_reached", 1}},
       .cfg = Depth(8)},
      {.name = "direction cap: first hole skipped, contiguous data delivered",
       .steps = {C(2, "c", kAdded), C(4, "e", kAdded), C(6, "g", kAdded)},
       .want0 = "[gap 2]c[gap 1]e[gap 1]g",
       .counters = {{"segments", 3},
                    {"bytes_delivered", 3},
                    {"ooo_buffered", 3},
                    {"gaps", 3},
                    {"gap_bytes", 4},
                    {"dir_cap_reached", 1}},
       .cfg = SmallCap(2)},
      {.name = "direction cap: the new segment fills the skipped-to point",
       .steps = {C(4, "e", kAdded), C(2, "c", kAdded), C(3, "d", kAdded)},
       .want0 = "[gap 2]cde",
       .counters = {{"segments", 3},
                    {"bytes_delivered", 3},
                    {"ooo_buffered", 1},
                    {"gaps", 1},
                    {"gap_bytes", 2},
                    {"dir_cap_reached", 1}},
       .cfg = SmallCap(1)},
      {.name = "pool exhausted: first hole skipped",
       .steps = {C(2, "c", kAdded), C(4, "e", kAdded), C(6, "g", kAdded), S(0, "s", kAdded)},
       .want0 = "[gap 2]c[gap 1]e[gap 1]g",
       .want1 = "s",
       .counters = {{"segments", 4},
                    {"bytes_delivered", 4},
                    {"ooo_buffered", 3},
                    {"gaps", 3},
                    {"gap_bytes", 4},
                    {"pool_exhausted", 1}},
       .cfg = SmallPool(2)},
      {.name = "no pool at all: every hole skipped at once",
       .steps = {C(0, "a", kAdded), C(3, "d", kAdded), C(1, "bc", kDup)},
       .want0 = "a[gap 2]d",
       .counters = {{"segments", 3},
                    {"bytes_delivered", 2},
                    {"gaps", 1},
                    {"gap_bytes", 2},
                    {"pool_exhausted", 1},
                    {"duplicates", 1},
                    {"overlaps", 1}},
       .cfg = SmallPool(0)},
      {.name = "release with flush delivers data after a hole",
       .steps = {C(0, "ab", kAdded), C(5, "fgh", kAdded), C(10, "k", kAdded)},
       .want0 = "ab[gap 3]fgh[gap 2]k",
       .counters = {{"segments", 3},
                    {"bytes_delivered", 6},
                    {"ooo_buffered", 2},
                    {"gaps", 2},
                    {"gap_bytes", 5}}},
      {.name = "release without flush drops buffered data",
       .steps = {C(0, "ab", kAdded), C(5, "fgh", kAdded)},
       .want0 = "ab",
       .counters = {{"segments", 2}, {"bytes_delivered", 2}, {"ooo_buffered", 1}},
       .flush = false},
      {.name = "out of window: too far ahead, or far behind (wraps to ahead)",
       .steps = {C(101, "far", kIgnored), C(100, "ok", kAdded), C(-0x80000010LL, "old", kIgnored),
                 C(-0x7FFFFFF0LL, "old", kDup)},
       .want0 = "[gap 100]ok",
       .counters = {{"segments", 4},
                    {"bytes_delivered", 2},
                    {"ooo_buffered", 1},
                    {"duplicates", 1},
                    {"overlaps", 1},
                    {"out_of_window", 2},
                    {"gaps", 1},
                    {"gap_bytes", 100}},
       .cfg = Distance(100)},
  };
  v.push_back(Reversed50());
  v.push_back(LongSegment());
  return v;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class ReassemblyTable : public ::testing::TestWithParam<Case> {};

TEST_P(ReassemblyTable, DeliversExactBytesAndCounts) {
  const Case& c = GetParam();
  Reassembler r(c.cfg);
  FlowStreams fs{};
  Recorder rec;
  const uint32_t isn[2] = {c.isn0, c.isn1};
  std::vector<Step> steps;
  if (c.handshake) {
    steps = {Syn(0, "", kNoData), Syn(1, "", kNoData), C(0, "", kNoData)};
  }
  steps.insert(steps.end(), c.steps.begin(), c.steps.end());
  for (size_t i = 0; i < steps.size(); ++i) {
    const SegmentResult res = Feed(r, fs, steps[i], isn, rec);
    if (steps[i].want) {
      EXPECT_EQ(static_cast<int>(res.verdict), static_cast<int>(*steps[i].want))
          << "step " << i << " rel " << steps[i].rel << " '" << steps[i].payload << "'";
    }
  }
  r.Release(fs, c.flush, rec);
  EXPECT_EQ(rec.out[0], c.want0);
  EXPECT_EQ(rec.out[1], c.want1);
  ExpectCounters(r.counters(), c.counters);
  EXPECT_EQ(r.pool_slots_in_use(), 0u);
  EXPECT_EQ(fs.dir[0].ooo_head, 0u);
  EXPECT_EQ(fs.dir[1].ooo_slots, 0u);
}

INSTANTIATE_TEST_SUITE_P(Cases, ReassemblyTable, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string n;
                           for (char ch : info.param.name) {
                             n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           }
                           return std::to_string(info.index) + "_" + n.substr(0, 60);
                         });

TEST(Reassembly, SegmentResultReportsNewBytesAndOverlap) {
  Reassembler r(Config{});
  FlowStreams fs{};
  Recorder rec;
  const uint32_t* isn = kDefaultIsn;
  Feed(r, fs, Syn(0, "", kNoData), isn, rec);
  SegmentResult a = Feed(r, fs, C(4, "EFGH", kAdded), isn, rec);
  EXPECT_EQ(a.new_bytes, 4u);
  EXPECT_FALSE(a.overlap);
  SegmentResult b = Feed(r, fs, C(2, "cdeX", kAdded), isn, rec);  // wins 4..5 only
  EXPECT_EQ(b.new_bytes, 4u);
  EXPECT_TRUE(b.overlap);
  EXPECT_TRUE(b.overlap_different);
  // In order and starting lowest: it wins over the buffered "cdeX" too.
  SegmentResult c = Feed(r, fs, C(0, "abcdef", kAdded), isn, rec);
  EXPECT_EQ(c.new_bytes, 6u);
  EXPECT_TRUE(c.overlap_different);
  EXPECT_EQ(rec.out[0], "abcdefGH");
  SegmentResult d = Feed(r, fs, C(7, "Hi", kAdded), isn, rec);
  EXPECT_EQ(d.new_bytes, 1u);
  EXPECT_TRUE(d.overlap);
  EXPECT_FALSE(d.overlap_different);  // delivered bytes are not kept: never compared
  EXPECT_EQ(rec.out[0], "abcdefGHi");
  EXPECT_EQ(r.pool_slots_in_use(), 0u);
}

// Two flows share one worker's pool: a flow that holds nothing when the pool is empty skips its
// own hole instead of stalling, and Release returns every slot.
TEST(Reassembly, SharedPoolExhaustedByAnotherFlow) {
  Config cfg = SmallPool(2);
  Reassembler r(cfg);
  ASSERT_EQ(r.pool_slots(), 2u);
  FlowStreams a{}, b{};
  Recorder ra, rb;
  const uint32_t* isn = kDefaultIsn;
  Feed(r, a, Syn(0, "", kNoData), isn, ra);
  Feed(r, b, Syn(0, "", kNoData), isn, rb);
  EXPECT_EQ(Feed(r, a, C(2, "c", kAdded), isn, ra).verdict, kAdded);
  EXPECT_EQ(Feed(r, a, C(4, "e", kAdded), isn, ra).verdict, kAdded);
  EXPECT_EQ(r.pool_slots_in_use(), 2u);
  EXPECT_EQ(Feed(r, b, C(3, "d", kAdded), isn, rb).verdict, kAdded);
  EXPECT_EQ(rb.out[0], "[gap 3]d");
  EXPECT_EQ(r.counters().pool_exhausted, 1u);
  EXPECT_EQ(r.pool_slots_in_use(), 2u);  // a keeps its slots
  r.Release(b, true, rb);
  r.Release(a, true, ra);
  EXPECT_EQ(ra.out[0], "[gap 2]c[gap 1]e");
  EXPECT_EQ(r.pool_slots_in_use(), 0u);
}

// A repeated SYN with a new ISN restarts a direction that delivered nothing yet; after data, a
// SYN changes nothing.
TEST(Reassembly, RepeatedSyn) {
  Reassembler r(Config{});
  FlowStreams fs{};
  Recorder rec;
  uint32_t isn[2] = {1000, 5000};
  Feed(r, fs, Syn(0, "", kNoData), isn, rec);
  isn[0] = 7000;
  Feed(r, fs, Syn(0, "", kNoData), isn, rec);
  EXPECT_EQ(Feed(r, fs, C(0, "abc", kAdded), isn, rec).verdict, kAdded);
  isn[0] = 0x40000000;
  Feed(r, fs, Syn(0, "", kNoData), isn, rec);
  EXPECT_EQ(Feed(r, fs, C(0, "zzz", kAdded), isn, rec).verdict, kIgnored);  // out of window
  isn[0] = 7000;
  EXPECT_EQ(Feed(r, fs, C(3, "def", kAdded), isn, rec).verdict, kAdded);
  EXPECT_EQ(rec.out[0], "abcdef");
}

// Overlap policy against a byte-by-byte model: each byte not yet delivered goes to the segment
// with the lowest start that covers it (the earlier arrival on a tie); delivered bytes are final;
// Release(flush) skips the holes. Random segments of random letters, random order.
std::string ModelBsd(const std::vector<std::pair<uint32_t, std::string>>& segs, uint32_t span) {
  std::string out;
  std::vector<int> owner(span, -1);  // start of the owning segment, -1 = none
  std::string bytes(span, '\0');
  uint32_t next = 0;
  for (const auto& [start, data] : segs) {
    for (uint32_t k = 0; k < data.size(); ++k) {
      const uint32_t p = start + k;
      if (p < next) continue;
      if (owner[p] < 0 || static_cast<int>(start) < owner[p]) {
        owner[p] = static_cast<int>(start);
        bytes[p] = data[k];
      }
    }
    while (next < span && owner[next] >= 0) out += bytes[next++];
  }
  while (next < span) {
    uint32_t hole = 0;
    while (next < span && owner[next] < 0) ++hole, ++next;
    if (hole > 0 && next < span) out += "[gap " + std::to_string(hole) + "]";
    while (next < span && owner[next] >= 0) out += bytes[next++];
  }
  return out;
}

TEST(Reassembly, RandomOverlapsMatchBsdModel) {
  for (uint64_t seed = 100; seed < 400; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    pcapgen::Rng rng(seed);
    constexpr uint32_t kSpan = 64;
    std::vector<std::pair<uint32_t, std::string>> segs;
    const int n = 1 + static_cast<int>(rng.Next() % 30);
    for (int i = 0; i < n; ++i) {
      const uint32_t start = static_cast<uint32_t>(rng.Next() % (kSpan - 1));
      const uint32_t len = std::min<uint32_t>(kSpan - start, 1 + rng.Next() % 16);
      std::string data(len, '\0');
      for (char& ch : data) ch = static_cast<char>('a' + rng.Next() % 26);
      segs.push_back({start, data});
    }
    Config cfg;
    cfg.max_ooo_slots_per_dir = 65535;
    cfg.pool_bytes = 1 << 20;
    Reassembler r(cfg);
    FlowStreams fs{};
    Recorder rec;
    const uint32_t isn[2] = {static_cast<uint32_t>(rng.Next()), 5000};
    Feed(r, fs, Syn(0, "", kNoData), isn, rec);
    std::vector<std::pair<uint32_t, std::string>> effective;
    for (const auto& [start, data] : segs) {
      const SegmentResult res = Feed(r, fs, C(start, data, kAdded), isn, rec);
      // A 1-byte segment at next_seq-1 is a keep-alive: ignored, as the model's final bytes.
      if (res.verdict != kIgnored) effective.push_back({start, data});
    }
    r.Release(fs, true, rec);
    EXPECT_EQ(rec.out[0], ModelBsd(effective, kSpan));
    EXPECT_EQ(r.pool_slots_in_use(), 0u);
  }
}

// Random segmentation, reordering within a window, duplicated and re-segmented retransmissions
// of a 64 KiB random stream: exactly the original bytes come out, with no gap.
TEST(Reassembly, RandomizedSegmentationDeliversOriginalStream) {
  for (uint64_t seed : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    pcapgen::Rng rng(seed);
    std::string stream(64 * 1024, '\0');
    for (char& ch : stream) ch = static_cast<char>(rng.Next() & 0xff);
    uint32_t isn[2] = {static_cast<uint32_t>(rng.Next()), 5000};
    if (seed == 1) isn[0] = 0xFFFFFFF0u;  // wraps inside the stream

    struct Seg {
      size_t off, len;
    };
    std::vector<Seg> segs;
    for (size_t off = 0; off < stream.size();) {
      const size_t len = std::min<size_t>(stream.size() - off, 1 + rng.Next() % 1460);
      segs.push_back({off, len});
      off += len;
    }
    // Re-segmented retransmissions of random ranges, and plain duplicates.
    const size_t originals = segs.size();
    for (size_t i = 0; i < originals / 4; ++i) {
      const size_t off = rng.Next() % stream.size();
      const size_t len = std::min<size_t>(stream.size() - off, 1 + rng.Next() % 1460);
      segs.push_back({off, len});
      segs.push_back(segs[rng.Next() % originals]);
    }
    // Order: roughly by offset, with random displacement up to 16 positions.
    std::vector<std::pair<uint64_t, Seg>> keyed;
    for (size_t i = 0; i < segs.size(); ++i) {
      const uint64_t pos = segs[i].off / 700 + rng.Next() % 16;
      keyed.push_back({pos * 1000003 + rng.Next() % 1000003, segs[i]});
    }
    std::sort(keyed.begin(), keyed.end(),
              [](const auto& x, const auto& y) { return x.first < y.first; });

    Reassembler r(Config{});
    FlowStreams fs{};
    Recorder rec;
    Feed(r, fs, Syn(0, "", kNoData), isn, rec);
    Feed(r, fs, Syn(1, "", kNoData), isn, rec);
    uint64_t new_bytes = 0;
    for (const auto& [key, sg] : keyed) {
      const SegmentResult res = Feed(
          r, fs, C(static_cast<int64_t>(sg.off), stream.substr(sg.off, sg.len), kAdded), isn, rec);
      ASSERT_TRUE(res.verdict == kAdded || res.verdict == kDup);
      EXPECT_FALSE(res.overlap_different);
      new_bytes += res.new_bytes;
    }
    EXPECT_EQ(
        Feed(r, fs, Fin(0, static_cast<int64_t>(stream.size()), "", kNoData), isn, rec).verdict,
        kNoData);
    EXPECT_TRUE(fs.dir[0].flags & kFin);
    r.Release(fs, true, rec);
    EXPECT_GE(new_bytes, stream.size());  // bytes replacing buffered ones count again
    EXPECT_EQ(rec.out[0].size(), stream.size());
    EXPECT_TRUE(rec.out[0] == stream);
    EXPECT_EQ(r.counters().gaps, 0u);
    EXPECT_EQ(r.counters().overlaps_different, 0u);
    EXPECT_EQ(r.counters().bytes_delivered, stream.size());
    EXPECT_EQ(r.pool_slots_in_use(), 0u);
  }
}

// Decoys: segments arrive last first, each followed by a decoy of different bytes that starts
// one byte later and ends with it. Under bsd the buffered original started first and keeps its
// bytes, so the decoys are duplicates and never reach the stream.
TEST(Reassembly, RandomizedDecoysStartingLaterLose) {
  for (uint64_t seed : {11u, 12u, 13u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    pcapgen::Rng rng(seed);
    std::string stream(16 * 1024, '\0');
    for (char& ch : stream) ch = static_cast<char>('a' + rng.Next() % 26);
    const uint32_t isn[2] = {static_cast<uint32_t>(rng.Next()), 5000};
    Reassembler r(Config{});
    FlowStreams fs{};
    Recorder rec;
    Feed(r, fs, Syn(0, "", kNoData), isn, rec);
    // Send segments last to first; after each, a decoy starting one byte later (upper case).
    std::vector<std::pair<size_t, size_t>> segs;
    for (size_t off = 0; off < stream.size();) {
      const size_t len = std::min<size_t>(stream.size() - off, 2 + rng.Next() % 200);
      segs.push_back({off, len});
      off += len;
    }
    for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
      Feed(r, fs, C(static_cast<int64_t>(it->first), stream.substr(it->first, it->second), kAdded),
           isn, rec);
      std::string decoy = stream.substr(it->first + 1, it->second - 1);
      for (char& ch : decoy) ch = static_cast<char>(ch - 'a' + 'A');
      if (it != segs.rend() - 1) {  // the first segment is delivered at once: no decoy target
        Feed(r, fs, C(static_cast<int64_t>(it->first + 1), decoy, kDup), isn, rec);
      }
    }
    r.Release(fs, true, rec);
    EXPECT_TRUE(rec.out[0] == stream);
    EXPECT_EQ(r.counters().overlaps_different, segs.size() - 1);
    EXPECT_EQ(r.pool_slots_in_use(), 0u);
  }
}

}  // namespace
}  // namespace fs::reassembly
