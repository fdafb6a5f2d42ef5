// IP fragment reassembly: which bytes win on overlaps (Suricata's bsd and windows policies), ordering, tiny and
// missing fragments, timeouts, oversize datagrams, the per-datagram fragment cap, tracker and
// pool exhaustion (bounded memory, no allocation per fragment), IPv6 extension headers, and the
// decoder's view of a rebuilt datagram. Fragments are built with pcapgen's PacketBuilder and
// decoded by the real decoder, as the worker sees them.
#include "dataplane/defrag/defrag.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/support/alloc_counter.h"
#include "tools/pcapgen/packet_builder.h"

namespace fs::defrag {
namespace {

using decode::DecodeEvent;
using decode::Layer;
using decode::Packet;
using pcapgen::Bytes;
using pcapgen::PacketBuilder;

constexpr uint64_t kSec = 1000000;
constexpr uint8_t kProtoTest = 253;  // RFC 3692 experimental: the decoder leaves the bytes alone

struct Piece {
  uint16_t offset;
  std::string data;
  bool more;
};

// One fragment as a frame, with its decoded view (which points into frame).
struct Fragment {
  Bytes frame;
  Packet pkt;
};

Bytes ToBytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

Fragment V4(const Piece& p, uint16_t id = 7, uint8_t proto = kProtoTest, uint16_t vlan = 0,
            uint64_t ts = kSec) {
  PacketBuilder b;
  if (vlan != 0) b.Vlan(vlan);
  b.Ipv4("10.0.0.1", "10.0.0.2").Ipv4Fragment(p.offset, p.more, id).IpProto(proto);
  b.Payload(ToBytes(p.data));
  Fragment f{b.Build(), {}};
  decode::Decode(f.frame.data(), uint32_t(f.frame.size()), uint32_t(f.frame.size()), ts, &f.pkt);
  return f;
}

Fragment V6(const Piece& p, uint32_t id = 7, uint8_t proto = kProtoTest, bool hop_by_hop = false,
            uint64_t ts = kSec) {
  PacketBuilder b;
  b.Ipv6("2001:db8::1", "2001:db8::2");
  if (hop_by_hop) b.Ipv6ExtHeader(0, Bytes{1, 4, 0, 0, 0, 0});  // PadN option
  b.Ipv6Fragment(p.offset, p.more, id).IpProto(proto).Payload(ToBytes(p.data));
  Fragment f{b.Build(), {}};
  decode::Decode(f.frame.data(), uint32_t(f.frame.size()), uint32_t(f.frame.size()), ts, &f.pkt);
  return f;
}

// The fragmentable part of a completed datagram (after the IP header).
std::string Body(const Datagram& d, uint32_t ip_header_len) {
  const uint32_t start = d.l3_offset + ip_header_len;
  return std::string(reinterpret_cast<const char*>(d.data) + start, d.len - start);
}

struct OverlapCase {
  const char* name;
  std::vector<Piece> pieces;            // in arrival order
  std::optional<std::string> expected;  // reassembled bytes; nullopt: nothing completes
  uint64_t overlaps;
  // Under the "windows" policy, when it differs from "bsd".
  std::optional<std::string> windows_expected = std::nullopt;
};

// Suricata 7 "bsd" (its built-in default, IPv6 in the shipped config): held data wins over new
// data that starts at or after it; a new fragment that starts before held data wins over it.
// "windows" (IPv4 in Suricata's shipped config) differs where a new fragment starts before held
// data and ends inside or at its end: the held data wins.
const std::vector<OverlapCase> kOverlapCases = {
    {"in_order", {{0, "AAAAAAAA", true}, {8, "BBBBBBBB", false}}, "AAAAAAAABBBBBBBB", 0},
    {"out_of_order",
     {{8, "BBBBBBBB", true}, {16, "CCCC", false}, {0, "AAAAAAAA", true}},
     "AAAAAAAABBBBBBBBCCCC",
     0},
    {"first_fragment_last",
     {{16, "CCCCCCCC", false}, {8, "BBBBBBBB", true}, {0, "AAAAAAAA", true}},
     "AAAAAAAABBBBBBBBCCCCCCCC",
     0},
    {"duplicate",
     {{0, "AAAAAAAA", true}, {0, "AAAAAAAA", true}, {8, "BBBBBBBB", false}},
     "AAAAAAAABBBBBBBB",
     1},
    {"overlap_same_data",
     {{0, "AAAAAAAABBBBBBBB", true}, {8, "BBBBBBBBCCCCCCCC", false}},
     "AAAAAAAABBBBBBBBCCCCCCCC",
     1},
    {"later_start_old_wins",
     {{0, "0000000011111111", true}, {8, "xxxxxxxx22222222", false}},
     "000000001111111122222222",
     1},
    {"earlier_start_new_wins",
     {{8, "11111111", true}, {0, "00000000yyyyyyyy", true}, {16, "22222222", false}},
     "00000000yyyyyyyy22222222",
     1,
     "000000001111111122222222"},
    {"same_start_longer_new_old_wins",
     {{0, "00000000", true}, {0, "zzzzzzzz11111111", true}, {16, "22222222", false}},
     "000000001111111122222222",
     1},
    {"new_inside_old_dropped",
     {{0, "000000001111111122222222", true}, {8, "xxxxxxxx", true}, {24, "33333333", false}},
     "00000000111111112222222233333333",
     1},
    {"new_covers_old_entirely",
     {{8, "11111111", true}, {0, "aaaaaaaabbbbbbbbcccccccc", true}, {24, "33333333", false}},
     "aaaaaaaabbbbbbbbcccccccc33333333",
     1},
    {"last_fragment_duplicated_with_other_data",
     {{0, "00000000", true}, {8, "11111111", false}, {8, "xxxxxxxx", false}},
     "0000000011111111",
     0},  // completes on the first copy of the last fragment; the second starts a new datagram
    {"missing_middle", {{0, "00000000", true}, {16, "22222222", false}}, std::nullopt, 0},
    {"missing_last", {{0, "00000000", true}, {8, "11111111", true}}, std::nullopt, 0},
};

class OverlapTest : public ::testing::TestWithParam<OverlapCase> {};

TEST_P(OverlapTest, ReassemblesAsSuricataForBothPoliciesAndFamilies) {
  const OverlapCase& c = GetParam();
  for (Policy policy : {Policy::kBsd, Policy::kWindows})
    for (int version : {4, 6}) {
      SCOPED_TRACE(std::string(PolicyName(policy)) + " IPv" + std::to_string(version));
      Config cfg;
      cfg.ipv4_policy = cfg.ipv6_policy = policy;
      Defragmenter d(cfg);
      decode::DecodeCounters ev;
      std::optional<std::string> got;
      for (const Piece& p : c.pieces) {
        Fragment f = version == 4 ? V4(p) : V6(p);
        ASSERT_EQ(f.pkt.layer, Layer::kL3Fragment);
        if (d.Add(f.pkt, &ev)) {
          ASSERT_FALSE(got.has_value()) << "completed twice";
          const Datagram dg = d.TakeDatagram(&ev);
          ASSERT_NE(dg.data, nullptr);
          got = Body(dg, version == 4 ? 20 : 40);
          // The rebuilt datagram decodes as a whole packet of the fragments' protocol.
          Packet r;
          decode::DecodeReassembled(f.pkt, dg.data, dg.len, dg.l3_offset, &r);
          EXPECT_EQ(r.layer, Layer::kL3Other);
          EXPECT_EQ(r.event, DecodeEvent::kNone);
          EXPECT_EQ(r.proto, kProtoTest);
          EXPECT_FALSE(r.fragment);
          EXPECT_TRUE(r.reassembled);
        }
        ASSERT_TRUE(d.Validate());
      }
      EXPECT_EQ(got,
                policy == Policy::kWindows && c.windows_expected ? c.windows_expected : c.expected);
      const auto overlap =
          version == 4 ? DecodeEvent::kIpv4FragOverlap : DecodeEvent::kIpv6FragOverlap;
      EXPECT_EQ(ev.events[static_cast<int>(overlap)], c.overlaps);
      EXPECT_EQ(d.counters().overlaps, c.overlaps);
      EXPECT_EQ(d.counters().fragments, c.pieces.size());
    }
}

TEST(Defrag, DefaultPoliciesAreSuricatasShippedConfiguration) {
  const Config cfg;
  EXPECT_EQ(cfg.ipv4_policy,
            Policy::kWindows);               // suricata.yaml host-os-policy windows: [0.0.0.0/0]
  EXPECT_EQ(cfg.ipv6_policy, Policy::kBsd);  // no IPv6 entry: the built-in default
}

INSTANTIATE_TEST_SUITE_P(Defrag, OverlapTest, ::testing::ValuesIn(kOverlapCases),
                         [](const auto& info) { return std::string(info.param.name); });

// Splits a datagram's fragmentable part into pieces of `size` bytes (multiple of 8).
std::vector<Piece> Split(const Bytes& body, size_t size) {
  std::vector<Piece> out;
  for (size_t off = 0; off < body.size(); off += size) {
    const size_t n = std::min(size, body.size() - off);
    out.push_back({uint16_t(off), std::string(body.begin() + off, body.begin() + off + n),
                   off + n < body.size()});
  }
  return out;
}

TEST(Defrag, TinyShuffledUdpFragmentsRebuildTheDatagramTheDecoderReads) {
  std::string payload;
  for (int i = 0; i < 300; ++i) payload += char('a' + i % 26);
  const Bytes whole =
      PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(5353, 53).Payload(payload).BuildL3();
  const Bytes body(whole.begin() + 20, whole.end());  // UDP header + payload
  std::vector<Piece> pieces = Split(body, 8);
  std::mt19937 rng(42);
  std::shuffle(pieces.begin(), pieces.end(), rng);

  Defragmenter d(Config{});
  decode::DecodeCounters ev;
  int completed = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    Fragment f = V4(pieces[i], 99, 17);
    ASSERT_EQ(f.pkt.layer, Layer::kL3Fragment);
    if (!d.Add(f.pkt, &ev)) continue;
    ++completed;
    EXPECT_EQ(i + 1, pieces.size()) << "completed before the last piece arrived";
    const Datagram dg = d.TakeDatagram(&ev);
    Packet r;
    decode::DecodeReassembled(f.pkt, dg.data, dg.len, dg.l3_offset, &r);
    ASSERT_EQ(r.layer, Layer::kL4);
    EXPECT_EQ(r.event, DecodeEvent::kNone);
    EXPECT_EQ(r.sport, 5353);
    EXPECT_EQ(r.dport, 53);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(r.payload()), r.payload_len), payload);
    // Counted on the flow as the frame Suricata rebuilds: link header + whole datagram.
    EXPECT_EQ(r.caplen, 14 + whole.size());
    // Header rewritten: total length, no MF/offset, valid checksum.
    const uint8_t* ip = dg.data + dg.l3_offset;
    EXPECT_EQ(size_t(ip[2] << 8 | ip[3]), whole.size());
    EXPECT_EQ(ip[6] | ip[7], 0);
    uint32_t sum = 0;
    for (int k = 0; k < 20; k += 2) sum += uint32_t(ip[k] << 8 | ip[k + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    EXPECT_EQ(sum, 0xffffu);
  }
  EXPECT_EQ(completed, 1);
  EXPECT_EQ(d.counters().reassembled_ipv4, 1u);
  EXPECT_EQ(d.counters().active, 0u);
  EXPECT_EQ(d.counters().pool_bytes_used, 0u);
}

TEST(Defrag, Ipv6ExtensionHeadersBeforeTheFragmentHeaderAreKept) {
  const std::string payload(100, 'q');
  const Bytes whole =
      PacketBuilder().Ipv6("2001:db8::1", "2001:db8::2").Udp(4000, 53).Payload(payload).BuildL3();
  const Bytes body(whole.begin() + 40, whole.end());
  const std::vector<Piece> pieces = Split(body, 48);
  Defragmenter d(Config{});
  decode::DecodeCounters ev;
  std::vector<Fragment> frags;
  for (const Piece& p : pieces) frags.push_back(V6(p, 0x01020304, 17, /*hop_by_hop=*/true));
  // Last first, then the rest in reverse.
  bool done = false;
  for (auto it = frags.rbegin(); it != frags.rend(); ++it) {
    ASSERT_EQ(it->pkt.layer, Layer::kL3Fragment);
    if (!d.Add(it->pkt, &ev)) continue;
    done = true;
    const Datagram dg = d.TakeDatagram(&ev);
    Packet r;
    decode::DecodeReassembled(it->pkt, dg.data, dg.len, dg.l3_offset, &r);
    ASSERT_EQ(r.layer, Layer::kL4) << decode::DecodeEventName(r.event);
    EXPECT_EQ(r.proto, 17);
    EXPECT_EQ(r.sport, 4000);
    EXPECT_EQ(r.dport, 53);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(r.payload()), r.payload_len), payload);
    // IPv6 header + 8-byte hop-by-hop header + UDP datagram, no fragment header.
    EXPECT_EQ(dg.len - dg.l3_offset, 40u + 8u + body.size());
    EXPECT_EQ(dg.data[dg.l3_offset + 6], 0);    // IPv6 next header: hop-by-hop
    EXPECT_EQ(dg.data[dg.l3_offset + 40], 17);  // hop-by-hop next header: UDP
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(d.counters().reassembled_ipv6, 1u);
}

TEST(Defrag, MissingFragmentTimesOutOnPacketTime) {
  Config cfg;
  cfg.timeout_s = 60;
  Defragmenter d(cfg);
  decode::DecodeCounters ev;
  Fragment a = V4({0, "00000000", true}, 1, kProtoTest, 0, 10 * kSec);
  Fragment c = V4({16, "22222222", false}, 1, kProtoTest, 0, 20 * kSec);
  EXPECT_FALSE(d.Add(a.pkt, &ev));
  EXPECT_FALSE(d.Add(c.pkt, &ev));
  EXPECT_EQ(d.Expire(79 * kSec, 100), 0u);  // 59 s after the last fragment
  EXPECT_EQ(d.counters().active, 1u);
  EXPECT_EQ(d.Expire(81 * kSec, 100), 1u);
  EXPECT_EQ(d.counters().timeouts, 1u);
  EXPECT_EQ(d.counters().active, 0u);
  EXPECT_EQ(d.counters().pool_bytes_used, 0u);
  // A late middle piece starts a new datagram that cannot complete.
  Fragment b = V4({8, "11111111", true}, 1, kProtoTest, 0, 82 * kSec);
  EXPECT_FALSE(d.Add(b.pkt, &ev));
  EXPECT_TRUE(d.Validate());
}

TEST(Defrag, StaleDatagramIsReplacedAtLookup) {
  Defragmenter d(Config{});
  decode::DecodeCounters ev;
  EXPECT_FALSE(d.Add(V4({8, "11111111", false}, 3, kProtoTest, 0, 1 * kSec).pkt, &ev));
  // Same id two minutes later: the old piece must not complete a new datagram.
  EXPECT_FALSE(d.Add(V4({0, "00000000", true}, 3, kProtoTest, 0, 121 * kSec).pkt, &ev));
  EXPECT_EQ(d.counters().timeouts, 1u);
  EXPECT_TRUE(d.Add(V4({8, "22222222", false}, 3, kProtoTest, 0, 122 * kSec).pkt, &ev));
  EXPECT_EQ(Body(d.TakeDatagram(&ev), 20), "0000000022222222");
}

TEST(Defrag, KeyKeepsVlansIdsAndProtocolsApart) {
  Defragmenter d(Config{});
  decode::DecodeCounters ev;
  EXPECT_FALSE(d.Add(V4({0, "00000000", true}, 5, kProtoTest, 10).pkt, &ev));
  EXPECT_FALSE(d.Add(V4({8, "11111111", false}, 5, kProtoTest, 20).pkt, &ev));  // other VLAN
  EXPECT_FALSE(d.Add(V4({8, "11111111", false}, 6, kProtoTest, 10).pkt, &ev));  // other id
  EXPECT_FALSE(d.Add(V4({8, "11111111", false}, 5, 17, 10).pkt, &ev));          // other proto
  EXPECT_EQ(d.counters().active, 4u);
  EXPECT_TRUE(d.Add(V4({8, "11111111", false}, 5, kProtoTest, 10).pkt, &ev));
}

struct OversizeCase {
  int version;
  uint16_t offset;
  size_t len;
  bool too_large;
};

TEST(Defrag, OversizeDatagramIsCountedAndDropped) {
  const OversizeCase cases[] = {
      {4, 65512, 16, true},   // 20 + 65512 + 16 > 65535
      {4, 65496, 16, false},  // 20 + 65496 + 16 = 65532
      {6, 65520, 16, true},   // 65520 + 16 > 65535
      {6, 65512, 16, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << "v" << c.version << " offset " << c.offset);
    Defragmenter d(Config{});
    decode::DecodeCounters ev;
    const Piece p{c.offset, std::string(c.len, 'x'), false};
    Fragment f = c.version == 4 ? V4(p) : V6(p);
    EXPECT_FALSE(d.Add(f.pkt, &ev));
    const auto e =
        c.version == 4 ? DecodeEvent::kIpv4FragPktTooLarge : DecodeEvent::kIpv6FragPktTooLarge;
    EXPECT_EQ(ev.events[static_cast<int>(e)], c.too_large ? 1u : 0u);
    EXPECT_EQ(d.counters().too_large, c.too_large ? 1u : 0u);
    EXPECT_EQ(d.counters().active, c.too_large ? 0u : 1u);
  }
}

TEST(Defrag, TooManyFragmentsDropsTheDatagramAndSwallowsTheRest) {
  Config cfg;
  cfg.max_fragments = 4;
  Defragmenter d(cfg);
  decode::DecodeCounters ev;
  for (uint16_t i = 0; i < 6; ++i) {
    EXPECT_FALSE(d.Add(V4({uint16_t(i * 8), "xxxxxxxx", true}).pkt, &ev));
  }
  EXPECT_FALSE(d.Add(V4({48, "xxxxxxxx", false}).pkt, &ev));
  EXPECT_EQ(d.counters().too_many, 1u);
  EXPECT_EQ(ev.events[static_cast<int>(DecodeEvent::kIpv4FragTooMany)], 1u);
  EXPECT_EQ(d.counters().pool_bytes_used, 0u);
  EXPECT_EQ(d.counters().active, 1u);  // kept, empty, until it times out
  EXPECT_TRUE(d.Validate());
}

TEST(Defrag, TrackerTableFullEvictsTheLeastRecentlyFed) {
  Config cfg;
  cfg.max_datagrams = 4;
  Defragmenter d(cfg);
  decode::DecodeCounters ev;
  for (uint16_t id = 1; id <= 10; ++id) {
    EXPECT_FALSE(d.Add(V4({0, "00000000", true}, id).pkt, &ev));
    EXPECT_LE(d.counters().active, 4u);
    ASSERT_TRUE(d.Validate());
  }
  EXPECT_EQ(d.counters().evicted, 6u);
  EXPECT_FALSE(d.Add(V4({8, "11111111", false}, 1).pkt, &ev));  // evicted long ago
  EXPECT_TRUE(d.Add(V4({8, "11111111", false}, 10).pkt, &ev));  // still held
  EXPECT_EQ(Body(d.TakeDatagram(&ev), 20), "0000000011111111");
}

TEST(Defrag, PoolFullEvictsOlderDatagramsThenIgnoresWhatCannotFit) {
  Config cfg;
  cfg.pool_bytes = 1024;  // 8 chunks of 128 bytes
  Defragmenter d(cfg);
  decode::DecodeCounters ev;
  const std::string k400(400, 'k');  // 4 chunks with a 34-byte head, 4 without
  EXPECT_FALSE(d.Add(V4({0, k400, true}, 1).pkt, &ev));
  EXPECT_FALSE(d.Add(V4({0, k400, true}, 2).pkt, &ev));
  EXPECT_EQ(d.counters().pool_bytes_used, 1024u);
  // A third datagram needs room: the oldest one goes.
  EXPECT_FALSE(d.Add(V4({0, k400, true}, 3).pkt, &ev));
  EXPECT_EQ(d.counters().evicted, 1u);
  // A datagram larger than the whole pool cannot be held: counted, never grows, never crashes.
  EXPECT_FALSE(d.Add(V4({0, std::string(800, 'a'), true}, 4).pkt, &ev));
  EXPECT_FALSE(d.Add(V4({800, std::string(800, 'b'), false}, 4).pkt, &ev));
  EXPECT_GE(ev.events[static_cast<int>(DecodeEvent::kIpv4FragIgnored)], 1u);
  EXPECT_GE(d.counters().ignored, 1u);
  EXPECT_LE(d.counters().pool_bytes_used, 1024u);
  EXPECT_TRUE(d.Validate());
}

TEST(Defrag, RandomFragmentFloodStaysWithinItsMemoryAndNeverAllocates) {
  Config cfg;
  cfg.max_datagrams = 16;
  cfg.pool_bytes = 8192;
  cfg.max_fragments = 8;
  cfg.timeout_s = 2;
  std::mt19937 rng(7);
  // Build the fragments first: building allocates, the defragmenter must not.
  std::vector<Fragment> frags;
  for (int i = 0; i < 3000; ++i) {
    const uint16_t off = uint16_t((rng() % 64) * 8);
    const size_t len = 8 * (1 + rng() % 24);
    const Piece p{off, std::string(len, char('a' + rng() % 26)), rng() % 4 != 0};
    const uint64_t ts = uint64_t(i) * 10000;  // 10 ms apart
    frags.push_back(rng() % 2 ? V4(p, uint16_t(rng() % 40), kProtoTest, 0, ts)
                              : V6(p, rng() % 40, kProtoTest, false, ts));
  }
  Defragmenter d(cfg);
  decode::DecodeCounters ev;
  const uint64_t before = fs::test_support::Allocations();
  for (const Fragment& f : frags) {
    if (d.Add(f.pkt, &ev)) d.TakeDatagram(&ev);
    d.Expire(f.pkt.ts_us, 8);
    ASSERT_LE(d.counters().pool_bytes_used, 8192u);
    ASSERT_LE(d.counters().active, 16u);
  }
  EXPECT_EQ(fs::test_support::Allocations(), before);
  EXPECT_TRUE(d.Validate());
  d.Flush();
  EXPECT_EQ(d.counters().active, 0u);
  EXPECT_EQ(d.counters().pool_bytes_used, 0u);
  EXPECT_TRUE(d.Validate());
}

}  // namespace
}  // namespace fs::defrag
