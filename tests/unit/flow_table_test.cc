// Flow table: keys, directions, counters, TCP state, timeouts, eviction, reuse, flush, ids.
// Packets are built by filling decode::Packet directly: the table must not depend on the decoder.
#include "dataplane/flow/flow_table.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>
#include "tests/support/alloc_counter.h"


namespace fs::flow {
namespace {

using decode::Layer;
using decode::Packet;
namespace tf = decode::tcpflag;

constexpr uint64_t kSec = 1000000;
constexpr uint64_t kT0 = 1700000000 * kSec;  // an arbitrary epoch second

IpAddr Ip(const char* text) {
  auto a = IpAddr::Parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddr{});
}

Packet L4(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t proto,
          uint64_t ts_us, uint32_t caplen = 60) {
  Packet p;
  p.layer = Layer::kL4;
  p.src = Ip(src);
  p.dst = Ip(dst);
  p.ip_version = p.src.IsV4() ? 4 : 6;
  p.proto = proto;
  p.sport = sport;
  p.dport = dport;
  p.ts_us = ts_us;
  p.caplen = caplen;
  p.wirelen = caplen + 100;  // distinct from caplen: bytes must count caplen
  return p;
}

Packet Tcp(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t flags,
           uint64_t ts_us, uint32_t seq = 1000, uint32_t caplen = 60) {
  Packet p = L4(src, sport, dst, dport, IPPROTO_TCP, ts_us, caplen);
  p.tcp_flags = flags;
  p.tcp_seq = seq;
  return p;
}

Packet Udp(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint64_t ts_us,
           uint32_t caplen = 80) {
  return L4(src, sport, dst, dport, IPPROTO_UDP, ts_us, caplen);
}

// ICMP echo request by default; pass 0 for the reply (an ICMPv4 flow is the type pair's).
Packet Icmp(const char* src, const char* dst, uint64_t ts_us, uint8_t type = 8) {
  Packet p = L4(src, 0, dst, 0, 0, ts_us, 98);
  p.proto = static_cast<uint8_t>(p.src.IsV4() ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6});
  p.icmp_type = p.src.IsV4() ? type : uint8_t(type == 8 ? 128 : 129);
  return p;
}

// SCTP: a flow-tracked protocol we do not decode past its ports (Suricata's "default" timeouts).
Packet Sctp(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint64_t ts_us) {
  Packet p = L4(src, sport, dst, dport, IPPROTO_SCTP, ts_us, 120);
  p.layer = Layer::kL3Other;
  return p;
}

Packet Esp(const char* src, const char* dst, uint32_t spi, uint64_t ts_us) {
  Packet p = L4(src, 0, dst, 0, IPPROTO_ESP, ts_us, 110);
  p.layer = Layer::kL3Other;
  p.esp_spi = spi;
  return p;
}

// An IPv4 protocol Suricata keeps no flow for (GRE, IP-in-IP, IGMP, ...).
Packet OtherProto(const char* src, const char* dst, uint8_t proto, uint64_t ts_us) {
  Packet p = L4(src, 0, dst, 0, proto, ts_us, 120);
  p.layer = Layer::kL3Other;
  return p;
}

// ICMPv4 error from `from` to `to` quoting a packet qsrc:qsport -> qdst:qdport of protocol
// qproto, as the decoder describes it: the quoted IPv4 header is 20 bytes and, unless
// `complete` is false, the whole TCP/UDP header is quoted too.
Packet IcmpError(const char* from, const char* to, uint8_t type, const char* qsrc, uint16_t qsport,
                 const char* qdst, uint16_t qdport, uint8_t qproto, uint64_t ts_us,
                 bool complete = true) {
  Packet p = L4(from, 0, to, 0, IPPROTO_ICMP, ts_us, 70);
  p.icmp_type = type;
  p.icmp_code = 3;
  p.icmp_error_embedded = true;
  p.emb_ports = true;
  p.emb_l4_complete = complete;
  p.emb_ip_hlen = 20;
  p.emb_proto = qproto;
  p.emb_src = Ip(qsrc);
  p.emb_dst = Ip(qdst);
  p.emb_sport = qsport;
  p.emb_dport = qdport;
  return p;
}

// Records every end, copying what the callback saw at the time it was called.
struct Ends {
  struct Rec {
    uint64_t flow_id;
    EndReason reason;
    State state;
    uint16_t client_port;
    uint64_t first_ts_us, last_ts_us;
    uint64_t pkts0, pkts1;
  };
  std::vector<Rec> recs;
  Ends() { recs.reserve(1 << 16); }  // the table must not see our allocations
  auto Fn() {
    return [this](const Flow& f, EndReason r) {
      recs.push_back({f.flow_id, r, f.state, f.client_port, f.first_ts_us, f.last_ts_us, f.pkts[0],
                      f.pkts[1]});
    };
  }
};

TEST(FlowKey, BothDirectionsGiveOneKeyAndHash) {
  const Packet a = Tcp("10.0.0.2", 40000, "192.168.1.1", 80, tf::kSyn, kT0);
  const Packet b = Tcp("192.168.1.1", 80, "10.0.0.2", 40000, tf::kSyn | tf::kAck, kT0);
  bool lo_a = false, lo_b = false;
  const FlowKey ka = MakeKey(a, &lo_a);
  const FlowKey kb = MakeKey(b, &lo_b);
  EXPECT_TRUE(ka == kb);
  EXPECT_EQ(HashKey(ka), HashKey(kb));
  EXPECT_NE(lo_a, lo_b);
  EXPECT_EQ(ka.proto, IPPROTO_TCP);
}

TEST(FlowKey, PaddingIsZeroAndKeysCompareAsBytes) {
  Packet p = Udp("2001:db8::1", 5353, "2001:db8::2", 53, kT0);
  const FlowKey k = MakeKey(p, nullptr);
  EXPECT_EQ(k.vlan[0] | k.vlan[1] | k.vlan[2] | k.depth, 0);
  const FlowKey k2 = MakeKey(p, nullptr);
  EXPECT_EQ(std::memcmp(&k, &k2, sizeof(FlowKey)), 0);
  // Stale VLAN ids beyond vlan_count are not part of the key.
  p.vlan_id[0] = 77;
  p.vlan_count = 0;
  EXPECT_TRUE(MakeKey(p, nullptr) == k);
}

TEST(FlowKey, EqualAddressesOrderedByPort) {
  const Packet a = Udp("10.0.0.1", 2000, "10.0.0.1", 1000, kT0);
  const Packet b = Udp("10.0.0.1", 1000, "10.0.0.1", 2000, kT0);
  bool lo_a = true, lo_b = false;
  EXPECT_TRUE(MakeKey(a, &lo_a) == MakeKey(b, &lo_b));
  EXPECT_FALSE(lo_a);
  EXPECT_TRUE(lo_b);
}

// Symmetric and well spread: 64k keys that differ only in a port or an address byte fill 1024
// buckets (and the top bits, as ring selection may use either) close to evenly.
TEST(FlowKey, HashIsWellMixed) {
  constexpr int kBuckets = 1024;
  std::vector<int> low(kBuckets), high(kBuckets);
  int n = 0;
  for (int host = 0; host < 64; ++host) {
    for (int port = 0; port < 1024; ++port, ++n) {
      const std::string src = "10.1.0." + std::to_string(host);
      const Packet p = Udp(src.c_str(), static_cast<uint16_t>(1024 + port), "8.8.8.8", 53, kT0);
      const Packet r = Udp("8.8.8.8", 53, src.c_str(), static_cast<uint16_t>(1024 + port), kT0);
      const uint32_t h = HashKey(MakeKey(p, nullptr));
      ASSERT_EQ(h, HashKey(MakeKey(r, nullptr)));
      ++low[h % kBuckets];
      ++high[h >> 22];
    }
  }
  // Mean 64 per bucket; a binomial spread keeps every bucket well inside [24, 112].
  for (const auto* v : {&low, &high}) {
    const auto [mn, mx] = std::minmax_element(v->begin(), v->end());
    EXPECT_GT(*mn, 24);
    EXPECT_LT(*mx, 112);
  }
  EXPECT_EQ(n, 65536);
}

TEST(FlowKey, EveryFieldChangesHashAndId) {
  const Packet base = Udp("10.0.0.1", 1000, "10.0.0.2", 2000, kT0);
  const FlowKey k0 = MakeKey(base, nullptr);
  std::vector<FlowKey> variants(9, k0);
  variants[0].addr_lo.bytes[15] ^= 1;
  variants[1].addr_hi.bytes[15] ^= 1;
  variants[2].port_lo ^= 1;
  variants[3].port_hi ^= 1;
  variants[4].vlan[0] = 5;
  variants[5].vlan[1] = 5;
  variants[6].vlan[2] = 5;
  variants[7].proto = IPPROTO_TCP;
  variants[8].depth = 1;
  for (size_t i = 0; i < variants.size(); ++i) {
    EXPECT_FALSE(variants[i] == k0) << i;
    EXPECT_NE(HashKey(variants[i]), HashKey(k0)) << i;
    EXPECT_NE(MakeFlowId(variants[i], kT0), MakeFlowId(k0, kT0)) << i;
  }
}

// OwnerOf picks the worker for the software distributor and for the benchmark's RSS-like split:
// both directions of a flow meet on one worker, so do the fragments of a datagram (by
// addresses); what is not IP goes to worker 0; and flows spread over the workers.
TEST(FlowKey, OwnerOfIsSymmetricAndSpreads) {
  for (uint32_t n : {1u, 2u, 3u, 8u}) {
    std::vector<int> per_worker(n);
    for (int port = 0; port < 4000; ++port) {
      const auto sport = static_cast<uint16_t>(1024 + port);
      const Packet a = Tcp("10.0.0.2", sport, "192.168.1.1", 445, tf::kSyn, kT0);
      const Packet b = Tcp("192.168.1.1", 445, "10.0.0.2", sport, tf::kSyn | tf::kAck, kT0);
      const uint32_t owner = OwnerOf(a, n);
      ASSERT_LT(owner, n);
      ASSERT_EQ(owner, OwnerOf(b, n));
      ASSERT_EQ(owner, HashKey(MakeKey(a, nullptr)) % n);
      ++per_worker[owner];
    }
    // 4000 flows: every worker gets at least half its fair share.
    for (int c : per_worker) EXPECT_GT(c, 4000 / static_cast<int>(n) / 2) << n;
  }
  Packet frag = Udp("10.0.0.1", 0, "10.0.0.2", 0, kT0);
  frag.layer = Layer::kL3Fragment;
  Packet frag_back = Udp("10.0.0.2", 0, "10.0.0.1", 0, kT0);
  frag_back.layer = Layer::kL3Fragment;
  EXPECT_EQ(OwnerOf(frag, 8), OwnerOf(frag_back, 8));
  Packet not_ip = Udp("10.0.0.1", 1, "10.0.0.2", 2, kT0);
  not_ip.layer = Layer::kNone;
  EXPECT_EQ(OwnerOf(not_ip, 8), 0u);
}

TEST(FlowTable, BothDirectionsMapToOneFlowWithClientServerSides) {
  // The client's address is the higher one in the second case: sides follow the first sender.
  const std::vector<std::tuple<const char*, const char*>> cases = {{"10.0.0.1", "10.0.0.9"},
                                                                   {"10.0.0.9", "10.0.0.1"},
                                                                   {"2001:db8::1", "2001:db8::2"},
                                                                   {"2001:db8::2", "2001:db8::1"}};
  for (const auto& [client, server] : cases) {
    SCOPED_TRACE(std::string(client) + " -> " + server);
    FlowTable t(16, Timeouts{});
    Ends ends;
    auto r1 = t.Update(Tcp(client, 50000, server, 443, tf::kSyn, kT0), ends.Fn());
    auto r2 = t.Update(Tcp(server, 443, client, 50000, tf::kSyn | tf::kAck, kT0 + 10), ends.Fn());
    auto r3 = t.Update(Tcp(client, 50000, server, 443, tf::kAck, kT0 + 20), ends.Fn());
    ASSERT_NE(r1.flow, nullptr);
    EXPECT_TRUE(r1.created);
    EXPECT_FALSE(r2.created);
    EXPECT_FALSE(r3.created);
    EXPECT_EQ(r1.flow, r2.flow);
    EXPECT_EQ(r1.flow, r3.flow);
    EXPECT_EQ(r1.dir, Dir::kToServer);
    EXPECT_EQ(r2.dir, Dir::kToClient);
    EXPECT_EQ(r3.dir, Dir::kToServer);
    const Flow& f = *r1.flow;
    EXPECT_EQ(f.client_addr, Ip(client));
    EXPECT_EQ(f.server_addr, Ip(server));
    EXPECT_EQ(f.client_port, 50000);
    EXPECT_EQ(f.server_port, 443);
    EXPECT_EQ(f.ip_version, Ip(client).IsV4() ? 4 : 6);
    EXPECT_EQ(f.proto, IPPROTO_TCP);
    EXPECT_EQ(t.size(), 1u);
    EXPECT_TRUE(ends.recs.empty());
  }
}

TEST(FlowTable, CountersPerDirection) {
  FlowTable t(16, Timeouts{});
  Ends ends;
  t.Update(Tcp("10.0.0.1", 1234, "10.0.0.2", 80, tf::kSyn, kT0, 1, 74), ends.Fn());
  t.Update(Tcp("10.0.0.2", 80, "10.0.0.1", 1234, tf::kSyn | tf::kAck, kT0 + 1, 9, 66), ends.Fn());
  t.Update(Tcp("10.0.0.1", 1234, "10.0.0.2", 80, tf::kAck | tf::kPsh, kT0 + 2, 2, 500), ends.Fn());
  auto r = t.Update(Tcp("10.0.0.1", 1234, "10.0.0.2", 80, tf::kAck | tf::kCwr, kT0 + 3, 2, 54),
                    ends.Fn());
  const Flow& f = *r.flow;
  EXPECT_EQ(f.pkts[0], 3u);
  EXPECT_EQ(f.pkts[1], 1u);
  EXPECT_EQ(f.bytes[0], 74u + 500 + 54);  // caplen, not wirelen
  EXPECT_EQ(f.bytes[1], 66u);
  EXPECT_EQ(f.tcp_flags[0], tf::kSyn | tf::kAck | tf::kPsh | tf::kCwr);
  EXPECT_EQ(f.tcp_flags[1], tf::kSyn | tf::kAck);
  EXPECT_EQ(f.first_ts_us, kT0);
  EXPECT_EQ(f.last_ts_us, kT0 + 3);
  // A late (reordered) packet does not move last_ts back.
  r = t.Update(Tcp("10.0.0.2", 80, "10.0.0.1", 1234, tf::kAck, kT0 + 1, 10, 60), ends.Fn());
  EXPECT_EQ(r.flow->last_ts_us, kT0 + 3);
  EXPECT_EQ(t.counters().created, 1u);
  EXPECT_EQ(t.counters().active, 1u);
}

TEST(FlowTable, IgnoresPacketsWithoutFlowLayer) {
  FlowTable t(4, Timeouts{});
  Ends ends;
  for (Layer l : {Layer::kNone, Layer::kL3Fragment}) {
    Packet p = Udp("10.0.0.1", 1, "10.0.0.2", 2, kT0);
    p.layer = l;
    EXPECT_EQ(t.Update(p, ends.Fn()).flow, nullptr);
  }
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.counters().created, 0u);
}

// One step: who sends which flags, and the state expected afterwards.
struct Step {
  bool from_client;
  uint8_t flags;
  State want;
};
struct TcpCase {
  const char* name;
  std::vector<Step> steps;
};

TEST(FlowTable, TcpStateMachine) {
  constexpr uint8_t S = tf::kSyn, A = tf::kAck, F = tf::kFin, R = tf::kRst, P = tf::kPsh;
  constexpr State N = State::kNew, E = State::kEstablished, C = State::kClosed;
  const std::vector<TcpCase> cases = {
      {"3-way handshake", {{true, S, N}, {false, S | A, N}, {true, A, E}}},
      {"data ACK completes handshake", {{true, S, N}, {false, S | A, N}, {true, A | P, E}}},
      {"ACK before SYN+ACK is not a handshake",
       {{true, S, N}, {true, A, N}, {false, S | A, N}, {true, A, E}}},
      {"SYN+ACK from the client side does not count",
       {{true, S, N}, {true, S | A, N}, {true, A, N}}},
      {"FIN client then server",
       {{true, S, N},
        {false, S | A, N},
        {true, A, E},
        {true, F | A, E},
        {false, A, E},
        {false, F | A, C},
        {true, A, C}}},
      {"FIN server then client",
       {{true, S, N}, {false, S | A, N}, {true, A, E}, {false, F | A, E}, {true, F | A, C}}},
      {"RST from server refuses the connection", {{true, S, N}, {false, R | A, C}}},
      {"RST from client after established",
       {{true, S, N}, {false, S | A, N}, {true, A, E}, {true, R, C}, {false, A, C}}},
      {"repeated FIN from one side only",
       {{true, S, N}, {false, S | A, N}, {true, A, E}, {true, F | A, E}, {true, F | A, E}}},
      // Suricata without midstream pickup keeps no session for a flow not opened by a SYN: the
      // flow stays new whatever follows.
      {"mid-stream pickup stays new",
       {{true, A | P, N}, {false, A, N}, {true, F | A, N}, {false, F | A, N}, {true, R, N}}},
      {"SYN+ACK first is mid-stream", {{false, S | A, N}, {true, A, N}, {false, A, N}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    FlowTable t(8, Timeouts{});
    Ends ends;
    uint64_t ts = kT0;
    const Flow* flow = nullptr;
    for (size_t i = 0; i < c.steps.size(); ++i) {
      const Step& s = c.steps[i];
      const Packet p = s.from_client
                           ? Tcp("10.0.0.1", 40000, "10.0.0.2", 22, s.flags, ts += 1000, 7)
                           : Tcp("10.0.0.2", 22, "10.0.0.1", 40000, s.flags, ts += 1000, 99);
      const auto r = t.Update(p, ends.Fn());
      if (flow == nullptr) flow = r.flow;
      ASSERT_EQ(r.flow, flow) << "step " << i;
      EXPECT_EQ(r.flow->state, s.want) << "step " << i;
    }
    EXPECT_TRUE(ends.recs.empty());
    EXPECT_TRUE(t.Validate());
  }
}

TEST(FlowTable, NonTcpEstablishedOnceBothDirectionsSeen) {
  struct Case {
    const char* name;
    Packet fwd, rev;
  };
  const std::vector<Case> cases = {
      {"udp", Udp("10.0.0.1", 5000, "10.0.0.53", 53, kT0),
       Udp("10.0.0.53", 53, "10.0.0.1", 5000, kT0 + 1)},
      {"icmp", Icmp("10.0.0.1", "10.0.0.2", kT0), Icmp("10.0.0.2", "10.0.0.1", kT0 + 1, 0)},
      {"icmpv6", Icmp("fe80::1", "fe80::2", kT0), Icmp("fe80::2", "fe80::1", kT0 + 1)},
      {"sctp", Sctp("10.0.0.1", 36412, "10.0.0.2", 36412, kT0),
       Sctp("10.0.0.2", 36412, "10.0.0.1", 36412, kT0 + 1)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    FlowTable t(8, Timeouts{});
    Ends ends;
    auto r = t.Update(c.fwd, ends.Fn());
    EXPECT_EQ(r.flow->state, State::kNew);
    Packet again = c.fwd;
    again.ts_us += 5;
    EXPECT_EQ(t.Update(again, ends.Fn()).flow->state, State::kNew);
    r = t.Update(c.rev, ends.Fn());
    EXPECT_EQ(r.dir, Dir::kToClient);
    EXPECT_EQ(r.flow->state, State::kEstablished);
    EXPECT_EQ(t.size(), 1u);
  }
}

// Brings a flow to a state; returns the packet time of its last packet.
enum class Kind {
  kTcpNew,
  kTcpEst,
  kTcpClosed,
  kUdpNew,
  kUdpEst,
  kIcmpNew,
  kIcmpEst,
  kIcmp6New,
  kIcmp6Est,
  kOtherNew,
  kOtherEst
};

void Drive(FlowTable& t, Kind k, uint64_t ts, Ends& ends) {
  auto fn = ends.Fn();
  switch (k) {
    case Kind::kTcpNew:
      t.Update(Tcp("10.0.0.1", 1000, "10.0.0.2", 80, tf::kSyn, ts), fn);
      break;
    case Kind::kTcpEst:
    case Kind::kTcpClosed:
      t.Update(Tcp("10.0.0.1", 1000, "10.0.0.2", 80, tf::kSyn, ts - 3), fn);
      t.Update(Tcp("10.0.0.2", 80, "10.0.0.1", 1000, tf::kSyn | tf::kAck, ts - 2), fn);
      t.Update(Tcp("10.0.0.1", 1000, "10.0.0.2", 80, tf::kAck, ts - 1), fn);
      t.Update(Tcp("10.0.0.1", 1000, "10.0.0.2", 80,
                   k == Kind::kTcpClosed ? tf::kRst : tf::kAck | tf::kPsh, ts),
               fn);
      break;
    case Kind::kUdpNew:
    case Kind::kUdpEst:
      if (k == Kind::kUdpEst) t.Update(Udp("10.0.0.2", 53, "10.0.0.1", 999, ts - 1), fn);
      t.Update(Udp("10.0.0.1", 999, "10.0.0.2", 53, ts), fn);
      break;
    case Kind::kIcmpNew:
    case Kind::kIcmpEst:
      if (k == Kind::kIcmpEst) t.Update(Icmp("10.0.0.2", "10.0.0.1", ts - 1, 0), fn);
      t.Update(Icmp("10.0.0.1", "10.0.0.2", ts), fn);
      break;
    case Kind::kIcmp6New:
    case Kind::kIcmp6Est:
      if (k == Kind::kIcmp6Est) t.Update(Icmp("2001:db8::2", "2001:db8::1", ts - 1), fn);
      t.Update(Icmp("2001:db8::1", "2001:db8::2", ts), fn);
      break;
    case Kind::kOtherNew:
    case Kind::kOtherEst:
      if (k == Kind::kOtherEst) t.Update(Sctp("10.0.0.2", 2905, "10.0.0.1", 40000, ts - 1), fn);
      t.Update(Sctp("10.0.0.1", 40000, "10.0.0.2", 2905, ts), fn);
      break;
  }
}

// Suricata's rule: expired when SECS(last) + timeout < SECS(now). Each class gets a distinct
// timeout so a wrong mapping shows. Checked one microsecond either side of the boundary, with
// the last packet early and late within its second.
TEST(FlowTable, TimeoutsPerProtocolAndStateAtExactBoundaries) {
  Timeouts to;
  to.tcp_new = 11;
  to.tcp_established = 12;
  to.tcp_closed = 13;
  to.udp_new = 14;
  to.udp_established = 15;
  to.icmp_new = 16;
  to.icmp_established = 17;
  to.other_new = 18;
  to.other_established = 19;
  const std::vector<std::tuple<Kind, State, uint32_t>> cases = {
      {Kind::kTcpNew, State::kNew, 11},
      {Kind::kTcpEst, State::kEstablished, 12},
      {Kind::kTcpClosed, State::kClosed, 13},
      {Kind::kUdpNew, State::kNew, 14},
      {Kind::kUdpEst, State::kEstablished, 15},
      {Kind::kIcmpNew, State::kNew, 16},
      {Kind::kIcmpEst, State::kEstablished, 17},
      // ICMPv6 uses the "other" timeouts, as in Suricata's protocol map.
      {Kind::kIcmp6New, State::kNew, 18},
      {Kind::kIcmp6Est, State::kEstablished, 19},
      {Kind::kOtherNew, State::kNew, 18},
      {Kind::kOtherEst, State::kEstablished, 19},
  };
  for (const auto& [kind, state, timeout] : cases) {
    for (uint64_t frac : {uint64_t{100}, uint64_t{999999}}) {
      SCOPED_TRACE("kind " + std::to_string(static_cast<int>(kind)) + " frac " +
                   std::to_string(frac));
      FlowTable t(8, to);
      Ends ends;
      const uint64_t last = kT0 + 100 * kSec + frac;
      Drive(t, kind, last, ends);
      ASSERT_EQ(t.size(), 1u);
      ASSERT_TRUE(ends.recs.empty());
      // The flow's own view.
      t.Expire(0, 1, ends.Fn());  // a time in the past expires nothing
      const uint64_t boundary = kT0 + (100 + timeout + 1) * kSec;  // first expired microsecond
      EXPECT_EQ(t.Expire(boundary - 1, 10, ends.Fn()), 0u);
      EXPECT_EQ(t.size(), 1u);
      EXPECT_EQ(t.Expire(boundary, 10, ends.Fn()), 1u);
      ASSERT_EQ(ends.recs.size(), 1u);
      EXPECT_EQ(ends.recs[0].reason, EndReason::kTimeout);
      EXPECT_EQ(ends.recs[0].state, state);
      EXPECT_EQ(ends.recs[0].last_ts_us, last);
      EXPECT_EQ(t.counters().timed_out, 1u);
      EXPECT_EQ(t.size(), 0u);
      EXPECT_TRUE(t.Validate());
    }
  }
}

TEST(FlowTable, TimeoutOfFollowsState) {
  FlowTable t(8, Timeouts{});
  Ends ends;
  auto r = t.Update(Tcp("10.0.0.1", 1, "10.0.0.2", 2, tf::kSyn, kT0), ends.Fn());
  EXPECT_EQ(t.TimeoutOf(*r.flow), 60u);
  t.Update(Tcp("10.0.0.2", 2, "10.0.0.1", 1, tf::kSyn | tf::kAck, kT0), ends.Fn());
  r = t.Update(Tcp("10.0.0.1", 1, "10.0.0.2", 2, tf::kAck, kT0), ends.Fn());
  EXPECT_EQ(t.TimeoutOf(*r.flow), 600u);
  r = t.Update(Udp("10.0.0.1", 1, "10.0.0.2", 2, kT0), ends.Fn());
  EXPECT_EQ(t.TimeoutOf(*r.flow), 30u);
}

TEST(FlowTable, ExpireHonoursBudgetOldestFirst) {
  FlowTable t(64, Timeouts{});
  Ends ends;
  // Ten UDP flows, created in a scrambled order of last activity.
  const int order[10] = {4, 0, 9, 2, 7, 1, 8, 3, 6, 5};
  for (int i : order) {
    t.Update(Udp("10.0.0.1", static_cast<uint16_t>(2000 + i), "10.0.0.2", 53, kT0 + i * kSec),
             ends.Fn());
  }
  // Re-touch in time order so list order matches activity order.
  for (int i = 0; i < 10; ++i) {
    t.Update(Udp("10.0.0.1", static_cast<uint16_t>(2000 + i), "10.0.0.2", 53,
                 kT0 + 20 * kSec + i * kSec),
             ends.Fn());
  }
  const uint64_t now = kT0 + 200 * kSec;
  EXPECT_EQ(t.Expire(now, 3, ends.Fn()), 3u);
  EXPECT_EQ(t.size(), 7u);
  EXPECT_EQ(t.Expire(now, 3, ends.Fn()), 3u);
  EXPECT_EQ(t.Expire(now, 0, ends.Fn()), 0u);
  EXPECT_EQ(t.Expire(now, 100, ends.Fn()), 4u);
  EXPECT_EQ(t.Expire(now, 100, ends.Fn()), 0u);
  ASSERT_EQ(ends.recs.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(ends.recs[i].client_port, 2000 + i) << i;
}

TEST(FlowTable, ExpireAcrossClassesLongestOverdueFirstAndSkipsLiveFlows) {
  FlowTable t(64, Timeouts{});
  Ends ends;
  // TCP new (60 s) last seen at 0 s; UDP new (30 s) last seen at 10 s: the UDP flow's deadline
  // (40 s) comes before the TCP flow's (60 s).
  t.Update(Tcp("10.0.0.1", 1, "10.0.0.2", 2, tf::kSyn, kT0), ends.Fn());
  t.Update(Udp("10.0.0.1", 3, "10.0.0.2", 4, kT0 + 10 * kSec), ends.Fn());
  // A TCP established flow (600 s) seen at 0 s stays.
  Drive(t, Kind::kTcpEst, kT0, ends);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t.Expire(kT0 + 100 * kSec, 1, ends.Fn()), 1u);
  EXPECT_EQ(t.Expire(kT0 + 100 * kSec, 1, ends.Fn()), 1u);
  EXPECT_EQ(t.Expire(kT0 + 100 * kSec, 1, ends.Fn()), 0u);
  ASSERT_EQ(ends.recs.size(), 2u);
  EXPECT_EQ(ends.recs[0].client_port, 3);
  EXPECT_EQ(ends.recs[1].client_port, 1);
  EXPECT_EQ(t.size(), 1u);
}

TEST(FlowTable, PacketOnTimedOutFlowStartsNewFlow) {
  FlowTable t(8, Timeouts{});
  Ends ends;
  auto r1 = t.Update(Udp("10.0.0.1", 999, "10.0.0.2", 53, kT0), ends.Fn());
  const uint64_t old_id = r1.flow->flow_id;
  // 30 s UDP timeout: at 31 s the flow is past due (SECS(last) + 30 < SECS(now)).
  auto r2 = t.Update(Udp("10.0.0.2", 53, "10.0.0.1", 999, kT0 + 31 * kSec), ends.Fn());
  ASSERT_EQ(ends.recs.size(), 1u);
  EXPECT_EQ(ends.recs[0].reason, EndReason::kTimeout);
  EXPECT_EQ(ends.recs[0].flow_id, old_id);
  EXPECT_TRUE(r2.created);
  EXPECT_EQ(r2.dir, Dir::kToServer);  // the new flow's first sender is its client
  EXPECT_EQ(r2.flow->client_port, 53);
  EXPECT_NE(r2.flow->flow_id, old_id);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.counters().timed_out, 1u);
  // Exactly at the boundary second the flow lives on.
  auto r3 = t.Update(Udp("10.0.0.2", 53, "10.0.0.1", 999, kT0 + 61 * kSec), ends.Fn());
  EXPECT_FALSE(r3.created);
}

TEST(FlowTable, FullTableEvictsLeastRecentlyUsedBeforeReusingSlot) {
  FlowTable t(4, Timeouts{});
  std::vector<std::tuple<uint16_t, EndReason, uint32_t, uint64_t>> seen;
  auto on_end = [&](const Flow& f, EndReason r) {
    // Called before the slot is reused: the ended flow is intact and the table still full.
    seen.emplace_back(f.client_port, r, t.size(), f.pkts[0]);
  };
  // A second apart: well past FlowTable::kLruSlack (see TouchWithinSlackKeepsItsPlace).
  for (uint16_t i = 1; i <= 4; ++i) {
    t.Update(Udp("10.0.0.1", i, "10.0.0.2", 53, kT0 + i * kSec), on_end);
  }
  // Flow 1 becomes the most recent; flow 2 is now the least recently used.
  t.Update(Udp("10.0.0.1", 1, "10.0.0.2", 53, kT0 + 5 * kSec), on_end);
  const auto r = t.Update(Tcp("10.0.0.3", 7, "10.0.0.4", 8, tf::kSyn, kT0 + 6 * kSec), on_end);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(std::get<0>(seen[0]), 2);
  EXPECT_EQ(std::get<1>(seen[0]), EndReason::kForced);
  EXPECT_EQ(std::get<2>(seen[0]), 4u);
  EXPECT_EQ(std::get<3>(seen[0]), 1u);
  EXPECT_TRUE(r.created);
  EXPECT_EQ(r.flow->client_port, 7);
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.counters().evicted, 1u);
  EXPECT_EQ(t.counters().created, 5u);
  EXPECT_EQ(t.counters().ended, 1u);
  EXPECT_EQ(t.counters().timed_out, 0u);
  // The evicted flow's packets start a fresh flow (evicting the next oldest, flow 3).
  const auto r2 = t.Update(Udp("10.0.0.2", 53, "10.0.0.1", 2, kT0 + 7 * kSec), on_end);
  EXPECT_TRUE(r2.created);
  EXPECT_EQ(std::get<0>(seen.back()), 3);
  EXPECT_TRUE(t.Validate());
}

TEST(FlowTable, TouchWithinSlackKeepsItsPlace) {
  // A packet less than kLruSlack (about 100 ms) after the one that put its flow at the tail of
  // its list leaves the flow where it is; a later one moves it.
  constexpr uint64_t kSlackUs = uint64_t{FlowTable::kLruSlack} << FlowTable::kLruStampShift;
  static_assert(kSlackUs > 90000 && kSlackUs <= 100000);
  FlowTable t(4, Timeouts{});
  Ends ends;
  for (uint16_t i = 1; i <= 4; ++i) {
    t.Update(Udp("10.0.0.1", i, "10.0.0.2", 53, kT0 + i), ends.Fn());
  }
  // Flow 1 had a packet 4 us after its first: it stays first, and goes first.
  auto r = t.Update(Udp("10.0.0.1", 1, "10.0.0.2", 53, kT0 + 5), ends.Fn());
  EXPECT_EQ(r.flow->pkts[0], 2u);
  EXPECT_EQ(r.flow->last_ts_us, kT0 + 5);
  t.Update(Tcp("10.0.0.3", 7, "10.0.0.4", 8, tf::kSyn, kT0 + 6), ends.Fn());
  ASSERT_EQ(ends.recs.size(), 1u);
  EXPECT_EQ(ends.recs[0].client_port, 1);
  EXPECT_EQ(ends.recs[0].last_ts_us, kT0 + 5);
  // Flow 3's packet a slack after its first moves it behind flow 4: flow 2 goes, then flow 4.
  t.Update(Udp("10.0.0.1", 3, "10.0.0.2", 53, kT0 + 3 + kSlackUs + 1024), ends.Fn());
  t.Update(Tcp("10.0.0.3", 9, "10.0.0.4", 8, tf::kSyn, kT0 + 2 * kSlackUs), ends.Fn());
  t.Update(Tcp("10.0.0.3", 10, "10.0.0.4", 8, tf::kSyn, kT0 + 2 * kSlackUs + 1), ends.Fn());
  ASSERT_EQ(ends.recs.size(), 3u);
  EXPECT_EQ(ends.recs[1].client_port, 2);
  EXPECT_EQ(ends.recs[2].client_port, 4);
  EXPECT_EQ(t.counters().evicted, 3u);
  EXPECT_TRUE(t.Validate());
}

TEST(FlowTable, ExpireAllFindsFlowsExpireReachesLate) {
  // UDP flows A and B put on their list in that order; A's second packet, 60 ms later, is in the
  // next second and within the slack, so A stays at the head. At a time when B is past its
  // timeout and A is not, Expire (the lists' heads) ends nothing yet; ExpireAll ends B.
  FlowTable t(8, Timeouts{});
  Ends ends;
  const uint64_t t0 = kT0 + 960000;
  t.Update(Udp("10.0.0.1", 1, "10.0.0.2", 53, t0), ends.Fn());         // A
  t.Update(Udp("10.0.0.1", 2, "10.0.0.2", 53, t0 + 1000), ends.Fn());  // B
  t.Update(Udp("10.0.0.1", 1, "10.0.0.2", 53, t0 + 60000), ends.Fn());
  // The 30 s UDP timeout ends B (last seen in second 0) in second 31 and A (second 1) in 32.
  const uint64_t now = kT0 + 31 * kSec;
  EXPECT_EQ(t.Expire(now, 100, ends.Fn()), 0u);
  EXPECT_EQ(t.ExpireAll(now, ends.Fn()), 1u);
  ASSERT_EQ(ends.recs.size(), 1u);
  EXPECT_EQ(ends.recs[0].client_port, 2);
  EXPECT_EQ(ends.recs[0].reason, EndReason::kTimeout);
  EXPECT_EQ(t.ExpireAll(now, ends.Fn()), 0u);
  // A second later A is due too: Expire ends it.
  EXPECT_EQ(t.Expire(kT0 + 32 * kSec, 100, ends.Fn()), 1u);
  EXPECT_EQ(ends.recs.back().client_port, 1);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(t.Validate());
}

TEST(FlowTable, CapacityOneStillWorks) {
  FlowTable t(1, Timeouts{});
  Ends ends;
  for (uint16_t i = 0; i < 5; ++i) t.Update(Udp("10.0.0.1", i, "10.0.0.2", 53, kT0 + i), ends.Fn());
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.counters().evicted, 4u);
  EXPECT_TRUE(t.Validate());
}

TEST(FlowTable, TcpPortReuse) {
  constexpr uint8_t S = tf::kSyn, A = tf::kAck, F = tf::kFin, R = tf::kRst;
  struct Case {
    const char* name;
    std::vector<std::tuple<bool, uint8_t, uint32_t>> before;  // from_client, flags, seq
    bool syn_from_client;
    uint32_t syn_seq;
    bool reuse;
  };
  const std::vector<Case> cases = {
      {"after FIN both sides",
       {{true, S, 100},
        {false, S | A, 500},
        {true, A, 101},
        {true, F | A, 101},
        {false, F | A, 501},
        {true, A, 102}},
       true,
       9000,
       true},
      {"after RST",
       {{true, S, 100}, {false, S | A, 500}, {true, A, 101}, {false, R, 501}},
       true,
       9000,
       true},
      {"SYN retransmitted after RST (same ISN) stays",
       {{true, S, 100}, {false, R | A, 0}},
       true,
       100,
       false},
      {"old server opens a new session", {{true, S, 100}, {false, R | A, 0}}, false, 100, true},
      {"established flow is not reused",
       {{true, S, 100}, {false, S | A, 500}, {true, A, 101}},
       true,
       9000,
       false},
      {"half-closed flow is not reused",
       {{true, S, 100}, {false, S | A, 500}, {true, A, 101}, {true, F | A, 101}},
       true,
       9000,
       false},
      {"SYN on a mid-stream flow (no session) starts a new one",
       {{true, A, 100}},
       true,
       9000,
       true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    FlowTable t(8, Timeouts{});
    Ends ends;
    uint64_t ts = kT0;
    const Flow* first = nullptr;
    uint64_t first_id = 0;
    for (const auto& [from_client, flags, seq] : c.before) {
      ts += kSec;
      const auto r =
          from_client ? t.Update(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, flags, ts, seq), ends.Fn())
                      : t.Update(Tcp("10.0.0.2", 80, "10.0.0.1", 40000, flags, ts, seq), ends.Fn());
      if (first == nullptr) {
        first = r.flow;
        first_id = r.flow->flow_id;
      }
    }
    ts += kSec;
    const auto r =
        c.syn_from_client
            ? t.Update(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, S, ts, c.syn_seq), ends.Fn())
            : t.Update(Tcp("10.0.0.2", 80, "10.0.0.1", 40000, S, ts, c.syn_seq), ends.Fn());
    EXPECT_EQ(t.size(), 1u);
    if (c.reuse) {
      ASSERT_EQ(ends.recs.size(), 1u);
      EXPECT_EQ(ends.recs[0].flow_id, first_id);
      EXPECT_EQ(ends.recs[0].reason, EndReason::kTimeout);  // as Suricata's EVE says
      EXPECT_TRUE(r.created);
      EXPECT_EQ(r.dir, Dir::kToServer);
      EXPECT_EQ(r.flow->state, State::kNew);
      EXPECT_EQ(r.flow->first_ts_us, ts);
      EXPECT_EQ(r.flow->pkts[0], 1u);
      EXPECT_EQ(r.flow->client_port, c.syn_from_client ? 40000 : 80);
      EXPECT_NE(r.flow->flow_id, first_id);
      EXPECT_EQ(t.counters().tcp_reuse, 1u);
      EXPECT_EQ(t.counters().timed_out, 1u);
    } else {
      EXPECT_TRUE(ends.recs.empty());
      EXPECT_FALSE(r.created);
      EXPECT_EQ(r.flow->flow_id, first_id);
      EXPECT_EQ(t.counters().tcp_reuse, 0u);
    }
    EXPECT_TRUE(t.Validate());
  }
}

TEST(FlowTable, FlushEndsEverythingOldestFirst) {
  FlowTable t(32, Timeouts{});
  Ends ends;
  t.Update(Udp("10.0.0.1", 3, "10.0.0.2", 53, kT0 + 3), ends.Fn());
  t.Update(Tcp("10.0.0.1", 1, "10.0.0.2", 80, tf::kSyn, kT0 + 1), ends.Fn());
  t.Update(Icmp("10.0.0.1", "10.0.0.2", kT0 + 4), ends.Fn());
  t.Update(Sctp("10.0.0.1", 9, "10.0.0.9", 9, kT0 + 2), ends.Fn());
  t.Update(Udp("10.0.0.1", 3, "10.0.0.2", 53, kT0 + 5), ends.Fn());  // refreshed: last
  t.Flush(ends.Fn());
  ASSERT_EQ(ends.recs.size(), 4u);
  const uint64_t want_last[4] = {kT0 + 1, kT0 + 2, kT0 + 4, kT0 + 5};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(ends.recs[i].reason, EndReason::kShutdown);
    EXPECT_EQ(ends.recs[i].last_ts_us, want_last[i]) << i;
  }
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.counters().ended, 4u);
  EXPECT_EQ(t.counters().timed_out + t.counters().evicted, 0u);
  EXPECT_TRUE(t.Validate());
  t.Flush(ends.Fn());  // empty: nothing more
  EXPECT_EQ(ends.recs.size(), 4u);
}

TEST(FlowTable, FlowIdDeterministicAcrossCapacityAndOrder) {
  std::vector<Packet> pkts;
  for (int i = 0; i < 200; ++i) {
    const std::string a = "10.2." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    pkts.push_back(Udp(a.c_str(), static_cast<uint16_t>(1000 + i), "172.16.0.1", 53,
                       kT0 + static_cast<uint64_t>(i) * 7));
  }
  auto ids = [&](uint32_t capacity, bool reverse) {
    FlowTable t(capacity, Timeouts{});
    Ends ends;
    std::map<uint16_t, uint64_t> out;
    for (size_t k = 0; k < pkts.size(); ++k) {
      const Packet& p = pkts[reverse ? pkts.size() - 1 - k : k];
      out[p.sport] = t.Update(p, ends.Fn()).flow->flow_id;
    }
    return out;
  };
  const auto a = ids(256, false);
  EXPECT_EQ(a, ids(4096, true));
  EXPECT_EQ(a, ids(8, false));  // evicting all the time changes nothing either
  std::set<uint64_t> distinct;
  for (const auto& [port, id] : a) {
    EXPECT_NE(id, 0u);
    EXPECT_LT(id, uint64_t{1} << 51);
    distinct.insert(id);
  }
  EXPECT_EQ(distinct.size(), a.size());
  // Same key, different start: a different id; and MakeFlowId is what the table uses.
  const FlowKey k = MakeKey(pkts[0], nullptr);
  EXPECT_EQ(MakeFlowId(k, pkts[0].ts_us), a.at(pkts[0].sport));
  EXPECT_NE(MakeFlowId(k, pkts[0].ts_us + 1), MakeFlowId(k, pkts[0].ts_us));
  // Either direction first gives the same key, so the same id for the same start time.
  Packet rev = Udp("172.16.0.1", 53, "10.2.0.0", 1000, pkts[0].ts_us);
  EXPECT_EQ(MakeFlowId(MakeKey(rev, nullptr), rev.ts_us), a.at(1000));
}

TEST(FlowTable, VlanSeparatesFlows) {
  FlowTable t(16, Timeouts{});
  Ends ends;
  auto tagged = [](uint8_t count, uint16_t outer, uint16_t inner, bool reverse) {
    Packet p = reverse ? Udp("10.0.0.2", 53, "10.0.0.1", 5000, kT0)
                       : Udp("10.0.0.1", 5000, "10.0.0.2", 53, kT0);
    p.vlan_count = count;
    p.vlan_id[0] = outer;
    p.vlan_id[1] = inner;
    return p;
  };
  const Flow* untagged = t.Update(tagged(0, 0, 0, false), ends.Fn()).flow;
  const Flow* v10 = t.Update(tagged(1, 10, 0, false), ends.Fn()).flow;
  const Flow* v20 = t.Update(tagged(1, 20, 0, false), ends.Fn()).flow;
  const Flow* q10_20 = t.Update(tagged(2, 10, 20, false), ends.Fn()).flow;
  const Flow* q10_30 = t.Update(tagged(2, 10, 30, false), ends.Fn()).flow;
  EXPECT_EQ(t.size(), 5u);
  const std::set<const Flow*> distinct = {untagged, v10, v20, q10_20, q10_30};
  EXPECT_EQ(distinct.size(), 5u);
  // Replies on the same VLANs find their flows.
  EXPECT_EQ(t.Update(tagged(1, 10, 0, true), ends.Fn()).flow, v10);
  EXPECT_EQ(t.Update(tagged(2, 10, 20, true), ends.Fn()).flow, q10_20);
  EXPECT_EQ(v10->key.vlan[0], 10);
  EXPECT_EQ(v10->key.vlan[1], 0);
  EXPECT_EQ(q10_20->key.vlan[1], 20);
  EXPECT_EQ(v10->state, State::kEstablished);
  EXPECT_EQ(v20->state, State::kNew);
}

// Many flows through a small table with expiry on a budget: invariants hold throughout, nothing
// is allocated after construction, every created flow ends exactly once.
// n packets of distinct flows, four kinds in turn: a TCP SYN from 10.9.x.y to 192.0.2.1:443, a
// UDP datagram to 192.0.2.53:53, an ICMP echo to 192.0.2.7, an IPv6 SYN-ACK from port 443; the
// client ports count up from 20000.
std::vector<Packet> MixedFlows(int n) {
  std::vector<Packet> pool;
  for (int i = 0; i < n; ++i) {
    const std::string a = "10.9." + std::to_string(i / 200) + "." + std::to_string(i % 200);
    const uint16_t port = static_cast<uint16_t>(20000 + i);
    switch (i % 4) {
      case 0:
        pool.push_back(Tcp(a.c_str(), port, "192.0.2.1", 443, tf::kSyn, 0));
        break;
      case 1:
        pool.push_back(Udp(a.c_str(), port, "192.0.2.53", 53, 0));
        break;
      case 2:
        pool.push_back(Icmp(a.c_str(), "192.0.2.7", 0));
        break;
      default:
        pool.push_back(Tcp("2001:db8::5", 443, ("2001:db8:1::" + std::to_string(i)).c_str(), port,
                           tf::kSyn | tf::kAck, 0));
        break;
    }
  }
  return pool;
}

TEST(FlowTable, ChurnKeepsInvariantsWithoutAllocating) {
  constexpr uint32_t kCapacity = 512;
  FlowTable t(kCapacity, Timeouts{});
  std::vector<std::pair<uint64_t, uint64_t>> ended;  // (flow_id, first_ts)
  ended.reserve(1 << 20);
  uint64_t end_calls = 0, forced = 0, timeouts = 0;
  auto on_end = [&](const Flow& f, EndReason r) {
    ++end_calls;
    forced += r == EndReason::kForced;
    timeouts += r == EndReason::kTimeout;
    ended.emplace_back(f.flow_id, f.first_ts_us);
  };
  std::mt19937_64 rng(12345);
  const std::vector<Packet> pool = MixedFlows(4000);
  const uint8_t tcp_flags[] = {
      tf::kSyn, tf::kSyn | tf::kAck, tf::kAck, tf::kAck | tf::kPsh, tf::kFin | tf::kAck, tf::kRst};
  uint64_t ts = kT0;
  {  // the counter is live in this build (sanitizers included)
    const uint64_t probe = fs::test_support::Allocations();
    int* volatile q = new int(1);
    delete q;
    ASSERT_GT(fs::test_support::Allocations(), probe);
  }
  const uint64_t allocs_before = fs::test_support::Allocations();
  for (int i = 0; i < 200000; ++i) {
    // Mostly a hot set, sometimes a cold flow; time advances ~1 ms per packet.
    const size_t pick = (rng() % 4 == 0) ? rng() % pool.size() : rng() % 300;
    Packet p = pool[pick];
    ts += rng() % 2000;
    p.ts_us = ts;
    if (rng() % 2) {  // reverse direction
      std::swap(p.src, p.dst);
      std::swap(p.sport, p.dport);
    }
    if (p.proto == IPPROTO_TCP) p.tcp_flags = tcp_flags[rng() % 6];
    p.tcp_seq = static_cast<uint32_t>(rng());
    const auto r = t.Update(p, on_end);
    if (r.flow == nullptr || t.size() > kCapacity) {
      ADD_FAILURE() << "packet " << i;
      break;
    }
    if (i % 97 == 0) t.Expire(ts, 8, on_end);
    if (i % 20011 == 0 && !t.Validate()) {
      ADD_FAILURE() << "invalid at " << i;
      break;
    }
  }
  const uint64_t allocs_during = fs::test_support::Allocations() - allocs_before;
  EXPECT_TRUE(t.Validate());
  const Counters c = t.counters();
  EXPECT_EQ(c.created - c.ended, c.active);
  EXPECT_EQ(c.ended, end_calls);
  EXPECT_EQ(c.evicted, forced);
  EXPECT_EQ(c.timed_out, timeouts);
  EXPECT_GT(c.evicted, 0u);
  EXPECT_GT(c.timed_out, 0u);
  EXPECT_GT(c.tcp_reuse, 0u);
  t.Flush(on_end);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.counters().created, t.counters().ended);
  EXPECT_EQ(end_calls, t.counters().created);
  EXPECT_TRUE(t.Validate());
  // `ended` was reserved up front; a vector growth would show as an allocation too.
  EXPECT_LE(ended.size(), ended.capacity());
  EXPECT_EQ(allocs_during, 0u);
  // Every (id, start) ended once.
  std::set<std::pair<uint64_t, uint64_t>> unique(ended.begin(), ended.end());
  EXPECT_EQ(unique.size(), ended.size());
}

// The worker's look-ahead (Worker::ProcessBurst): keys prepared for a burst of packets and
// prefetched before the first is handled, while handling earlier ones ends and creates flows,
// give exactly what Update computing each key itself gives.
TEST(FlowTable, PreparedKeysInBurstsMatchPlainUpdates) {
  constexpr uint32_t kCapacity = 64;  // small: evictions while a burst is in flight
  FlowTable plain(kCapacity, Timeouts{}), ahead(kCapacity, Timeouts{});
  Ends plain_ends, ahead_ends;
  std::mt19937_64 rng(777);
  std::vector<Packet> pool = MixedFlows(240);
  for (int i = 0; i < 240; i += 4) {
    // ICMP errors quoting the TCP flows (they find the flow while it lives, never create one),
    // and packets without a flow of their own.
    const std::string a = "10.9.0." + std::to_string(i);
    pool.push_back(IcmpError("192.0.2.1", a.c_str(), 3, a.c_str(), static_cast<uint16_t>(20000 + i),
                             "192.0.2.1", 443, IPPROTO_TCP, 0));
    pool.push_back(OtherProto(a.c_str(), "192.0.2.9", IPPROTO_GRE, 0));
  }
  constexpr size_t kBurst = 32;
  FlowTable::Prepared keys[kBurst];
  Packet burst[kBurst];
  uint64_t ts = kT0;
  size_t with_flow = 0, created = 0, embedded_found = 0;
  for (int round = 0; round < 400; ++round) {
    const size_t n = 1 + rng() % kBurst;
    for (size_t i = 0; i < n; ++i) {
      burst[i] = pool[rng() % pool.size()];
      ts += rng() % (3 * kSec);  // now and then past a timeout
      burst[i].ts_us = ts;
      if (rng() % 2) {
        std::swap(burst[i].src, burst[i].dst);
        std::swap(burst[i].sport, burst[i].dport);
      }
      FlowTable::Prepare(burst[i], &keys[i]);
      ahead.PrefetchBucket(keys[i]);
    }
    for (size_t i = 0; i < n; ++i) ahead.PrefetchFlow(keys[i]);
    for (size_t i = 0; i < n; ++i) {
      const auto a = plain.Update(burst[i], plain_ends.Fn());
      const auto b = ahead.Update(burst[i], keys[i], ahead_ends.Fn());
      ASSERT_EQ(a.flow == nullptr, b.flow == nullptr) << round << "/" << i;
      if (a.flow == nullptr) continue;
      ++with_flow;
      embedded_found += burst[i].icmp_error_embedded;
      created += a.created;
      ASSERT_EQ(a.flow->flow_id, b.flow->flow_id);
      ASSERT_EQ(a.dir, b.dir);
      ASSERT_EQ(a.created, b.created);
      ASSERT_EQ(a.flow->pkts[0] + a.flow->pkts[1], b.flow->pkts[0] + b.flow->pkts[1]);
    }
  }
  EXPECT_GT(with_flow, 1000u);
  EXPECT_GT(embedded_found, 0u);  // ICMP errors found the flows they quote
  EXPECT_GT(created, kCapacity);  // flows were evicted and replaced along the way
  EXPECT_GT(plain.counters().evicted, 0u);
  ASSERT_EQ(plain_ends.recs.size(), ahead_ends.recs.size());
  for (size_t i = 0; i < plain_ends.recs.size(); ++i) {
    EXPECT_EQ(plain_ends.recs[i].flow_id, ahead_ends.recs[i].flow_id);
    EXPECT_EQ(plain_ends.recs[i].reason, ahead_ends.recs[i].reason);
  }
  EXPECT_TRUE(ahead.Validate());
  // A packet without a flow of its own prepares to nothing, and Update returns no flow for it.
  FlowTable::Prepared none;
  FlowTable::Prepare(OtherProto("10.0.0.1", "10.0.0.2", IPPROTO_GRE, kT0), &none);
  EXPECT_EQ(none.use, FlowUse::kNone);
  ahead.PrefetchBucket(none);
  ahead.PrefetchFlow(none);
  EXPECT_EQ(ahead.Update(OtherProto("10.0.0.1", "10.0.0.2", IPPROTO_GRE, kT0), none,
                         ahead_ends.Fn())
                .flow,
            nullptr);
}

// ---- which packets have flows, after Suricata 7 (FlowSetupPacket, FlowCreateCheck) ----

TEST(FlowUse, FollowsSuricata) {
  struct Case {
    const char* name;
    Packet p;
    FlowUse want;
  };
  Packet frag = Udp("10.0.0.1", 1, "10.0.0.2", 2, kT0);
  frag.layer = Layer::kL3Fragment;
  Packet rejected = Udp("10.0.0.1", 1, "10.0.0.2", 2, kT0);
  rejected.layer = Layer::kNone;
  Packet v6_in_v6 = OtherProto("2001:db8::1", "2001:db8::2", IPPROTO_IPV6, kT0);
  Packet echo = Icmp("10.0.0.1", "10.0.0.2", kT0);
  echo.icmp_type = 8;
  Packet invalid_quote =
      IcmpError("10.0.0.9", "10.0.0.1", 3, "10.0.0.1", 1, "10.0.0.2", 2, IPPROTO_UDP, kT0);
  invalid_quote.invalid = true;
  Packet options_quote =
      IcmpError("10.0.0.9", "10.0.0.1", 3, "10.0.0.1", 1, "10.0.0.2", 2, IPPROTO_UDP, kT0);
  options_quote.emb_ip_hlen = 24;
  Packet not_quoted =
      IcmpError("10.0.0.9", "10.0.0.1", 3, "10.0.0.1", 1, "10.0.0.2", 2, IPPROTO_UDP, kT0);
  not_quoted.icmp_error_embedded = not_quoted.emb_ports = not_quoted.emb_l4_complete = false;
  Packet icmp6_error = Icmp("2001:db8::1", "2001:db8::2", kT0);
  icmp6_error.icmp_type = 1;
  const std::vector<Case> cases = {
      {"tcp", Tcp("10.0.0.1", 1, "10.0.0.2", 2, tf::kSyn, kT0), FlowUse::kOwn},
      {"udp", Udp("10.0.0.1", 1, "10.0.0.2", 2, kT0), FlowUse::kOwn},
      {"icmp echo", echo, FlowUse::kOwn},
      {"icmpv6 error: its own ICMPv6 flow", icmp6_error, FlowUse::kOwn},
      {"sctp", Sctp("10.0.0.1", 1, "10.0.0.2", 2, kT0), FlowUse::kOwn},
      {"esp", Esp("10.0.0.1", "10.0.0.2", 7, kT0), FlowUse::kOwn},
      {"6in4 outer", OtherProto("10.0.0.1", "10.0.0.2", IPPROTO_IPV6, kT0), FlowUse::kOwn},
      {"6in6 outer", v6_in_v6, FlowUse::kNone},
      {"gre outer", OtherProto("10.0.0.1", "10.0.0.2", IPPROTO_GRE, kT0), FlowUse::kNone},
      {"ipip outer", OtherProto("10.0.0.1", "10.0.0.2", IPPROTO_IPIP, kT0), FlowUse::kNone},
      {"igmp", OtherProto("10.0.0.1", "224.0.0.1", IPPROTO_IGMP, kT0), FlowUse::kNone},
      {"fragment", frag, FlowUse::kNone},
      {"rejected", rejected, FlowUse::kNone},
      {"unreachable quoting udp",
       IcmpError("10.0.0.9", "10.0.0.1", 3, "10.0.0.1", 1, "10.0.0.2", 2, IPPROTO_UDP, kT0),
       FlowUse::kEmbedded},
      {"unreachable quoting a whole tcp header",
       IcmpError("10.0.0.9", "10.0.0.1", 3, "10.0.0.1", 1, "10.0.0.2", 2, IPPROTO_TCP, kT0),
       FlowUse::kEmbedded},
      {"unreachable quoting 8 bytes of tcp",
       IcmpError("10.0.0.9", "10.0.0.1", 3, "10.0.0.1", 1, "10.0.0.2", 2, IPPROTO_TCP, kT0, false),
       FlowUse::kNone},
      {"unreachable quoting icmp",
       IcmpError("10.0.0.9", "10.0.0.1", 3, "10.0.0.1", 0, "10.0.0.2", 0, IPPROTO_ICMP, kT0, false),
       FlowUse::kNone},
      {"unreachable with an invalid quote", invalid_quote, FlowUse::kNone},
      {"unreachable quoting an ipv4 header with options", options_quote, FlowUse::kNone},
      {"unreachable without a quote", not_quoted, FlowUse::kNone},
      {"time exceeded",
       IcmpError("10.0.0.9", "10.0.0.1", 11, "10.0.0.1", 1, "10.0.0.2", 2, IPPROTO_UDP, kT0),
       FlowUse::kNone},
      {"redirect",
       IcmpError("10.0.0.9", "10.0.0.1", 5, "10.0.0.1", 1, "10.0.0.2", 2, IPPROTO_UDP, kT0),
       FlowUse::kNone},
      {"source quench",
       IcmpError("10.0.0.9", "10.0.0.1", 4, "10.0.0.1", 1, "10.0.0.2", 2, IPPROTO_UDP, kT0),
       FlowUse::kNone},
      {"parameter problem",
       IcmpError("10.0.0.9", "10.0.0.1", 12, "10.0.0.1", 1, "10.0.0.2", 2, IPPROTO_UDP, kT0),
       FlowUse::kNone},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(static_cast<int>(UseOf(c.p)), static_cast<int>(c.want));
    FlowTable t(8, Timeouts{});
    Ends ends;
    const auto r = t.Update(c.p, ends.Fn());
    EXPECT_EQ(r.flow != nullptr, c.want == FlowUse::kOwn);  // kEmbedded: no flow to find here
    EXPECT_EQ(t.size(), c.want == FlowUse::kOwn ? 1u : 0u);
    EXPECT_EQ(t.counters().created, c.want == FlowUse::kOwn ? 1u : 0u);
  }
}

// An ICMPv4 destination unreachable counts on the flow of the packet it quotes: by address of
// its sender (to the server only when the flow's client sent it), without making the flow
// established, and it never creates a flow.
TEST(FlowTable, IcmpErrorLandsOnQuotedFlow) {
  struct Case {
    const char* name;
    Packet first;  // opens the flow
    Packet error;
    Dir want_dir;
  };
  const std::vector<Case> cases = {
      {"port unreachable from the server", Udp("10.0.0.1", 5000, "10.0.0.2", 53, kT0),
       IcmpError("10.0.0.2", "10.0.0.1", 3, "10.0.0.1", 5000, "10.0.0.2", 53, IPPROTO_UDP, kT0 + 1),
       Dir::kToClient},
      {"unreachable from a router", Udp("10.0.0.1", 5000, "10.0.0.2", 53, kT0),
       IcmpError("10.0.0.254", "10.0.0.1", 3, "10.0.0.1", 5000, "10.0.0.2", 53, IPPROTO_UDP,
                 kT0 + 1),
       Dir::kToClient},
      {"the client reports a server packet", Udp("10.0.0.1", 5000, "10.0.0.2", 53, kT0),
       IcmpError("10.0.0.1", "10.0.0.2", 3, "10.0.0.2", 53, "10.0.0.1", 5000, IPPROTO_UDP, kT0 + 1),
       Dir::kToServer},
      {"tcp, whole header quoted", Tcp("10.0.0.1", 40000, "10.0.0.2", 80, tf::kSyn, kT0),
       IcmpError("10.0.0.254", "10.0.0.1", 3, "10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP,
                 kT0 + 1),
       Dir::kToClient},
      {"ipv6 flow client, ipv4 addresses quoted: same rules",
       Udp("192.0.2.1", 123, "192.0.2.2", 123, kT0),
       IcmpError("192.0.2.2", "192.0.2.1", 3, "192.0.2.1", 123, "192.0.2.2", 123, IPPROTO_UDP,
                 kT0 + 1),
       Dir::kToClient},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    FlowTable t(8, Timeouts{});
    Ends ends;
    const Flow* f = t.Update(c.first, ends.Fn()).flow;
    ASSERT_NE(f, nullptr);
    const auto r = t.Update(c.error, ends.Fn());
    ASSERT_EQ(r.flow, f);
    EXPECT_FALSE(r.created);
    EXPECT_EQ(r.dir, c.want_dir);
    const int d = static_cast<int>(c.want_dir);
    EXPECT_EQ(f->pkts[d], d == 0 ? 2u : 1u);
    EXPECT_EQ(f->bytes[d], (d == 0 ? c.first.caplen : 0) + c.error.caplen);
    EXPECT_EQ(f->last_ts_us, kT0 + 1);
    EXPECT_EQ(f->state, State::kNew);  // an error is no answer
    EXPECT_EQ(f->tcp_flags[1], 0);
    EXPECT_EQ(t.size(), 1u);
    EXPECT_TRUE(t.Validate());
  }
}

TEST(FlowTable, IcmpErrorNeverCreatesOrRevivesAFlow) {
  FlowTable t(8, Timeouts{});
  Ends ends;
  const Packet err =
      IcmpError("10.0.0.2", "10.0.0.1", 3, "10.0.0.1", 5000, "10.0.0.2", 53, IPPROTO_UDP, kT0);
  EXPECT_EQ(t.Update(err, ends.Fn()).flow, nullptr);
  EXPECT_EQ(t.size(), 0u);
  // Quoting another flow's tuple (other port, other VLAN, other tunnel depth) finds nothing.
  t.Update(Udp("10.0.0.1", 5001, "10.0.0.2", 53, kT0), ends.Fn());
  Packet other_vlan = err;
  other_vlan.emb_sport = 5001;
  other_vlan.vlan_count = 1;
  other_vlan.vlan_id[0] = 7;
  Packet other_depth = err;
  other_depth.emb_sport = 5001;
  other_depth.depth = 1;
  EXPECT_EQ(t.Update(err, ends.Fn()).flow, nullptr);
  EXPECT_EQ(t.Update(other_vlan, ends.Fn()).flow, nullptr);
  EXPECT_EQ(t.Update(other_depth, ends.Fn()).flow, nullptr);
  EXPECT_EQ(t.size(), 1u);
  // On a flow past its timeout the error ends it (timeout) and starts nothing.
  Packet late = err;
  late.emb_sport = 5001;
  late.ts_us = kT0 + 31 * kSec;
  EXPECT_EQ(t.Update(late, ends.Fn()).flow, nullptr);
  ASSERT_EQ(ends.recs.size(), 1u);
  EXPECT_EQ(ends.recs[0].reason, EndReason::kTimeout);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.counters().created, 1u);
  EXPECT_TRUE(t.Validate());
}

// Suricata keys ICMPv4 flows by addresses and the type pair (type, request/reply counterpart),
// ICMPv6 flows by addresses only.
TEST(FlowTable, IcmpFlowsKeyedLikeSuricata) {
  FlowTable t(16, Timeouts{});
  Ends ends;
  auto icmp = [](const char* s, const char* d, uint8_t type, uint64_t ts) {
    Packet p = Icmp(s, d, ts);
    p.icmp_type = type;
    return p;
  };
  const Flow* echo = t.Update(icmp("10.0.0.1", "10.0.0.2", 8, kT0), ends.Fn()).flow;
  const auto reply = t.Update(icmp("10.0.0.2", "10.0.0.1", 0, kT0 + 1), ends.Fn());
  EXPECT_EQ(reply.flow, echo);
  EXPECT_EQ(reply.dir, Dir::kToClient);
  EXPECT_EQ(echo->state, State::kEstablished);
  EXPECT_EQ(echo->client_port, 8);  // the client's type and its counterpart
  EXPECT_EQ(echo->server_port, 0);
  const Flow* ts = t.Update(icmp("10.0.0.1", "10.0.0.2", 13, kT0 + 2), ends.Fn()).flow;
  EXPECT_NE(ts, echo);
  EXPECT_EQ(t.Update(icmp("10.0.0.2", "10.0.0.1", 14, kT0 + 3), ends.Fn()).flow, ts);
  // A second echo from the other side is another exchange: (8, 0) from .2 is not (0, 8).
  const Flow* echo2 = t.Update(icmp("10.0.0.2", "10.0.0.1", 8, kT0 + 4), ends.Fn()).flow;
  EXPECT_NE(echo2, echo);
  EXPECT_EQ(t.size(), 3u);
  // ICMPv6: one flow per address pair whatever the types.
  const Flow* v6 = t.Update(icmp("2001:db8::1", "2001:db8::2", 128, kT0), ends.Fn()).flow;
  EXPECT_EQ(t.Update(icmp("2001:db8::2", "2001:db8::1", 129, kT0), ends.Fn()).flow, v6);
  EXPECT_EQ(t.Update(icmp("2001:db8::2", "2001:db8::1", 1, kT0), ends.Fn()).flow, v6);
  EXPECT_EQ(t.Update(icmp("2001:db8::1", "2001:db8::2", 135, kT0), ends.Fn()).flow, v6);
  EXPECT_EQ(t.size(), 4u);
}

// Suricata's FlowGetPacketDirection: protocols without ports or ICMP count every packet to the
// server, so such flows never become established.
TEST(FlowTable, OtherProtocolsCountToServer) {
  FlowTable t(16, Timeouts{});
  Ends ends;
  const auto a = t.Update(OtherProto("10.0.0.1", "10.0.0.2", IPPROTO_IPV6, kT0), ends.Fn());
  const auto b = t.Update(OtherProto("10.0.0.2", "10.0.0.1", IPPROTO_IPV6, kT0 + 1), ends.Fn());
  ASSERT_EQ(a.flow, b.flow);
  EXPECT_EQ(b.dir, Dir::kToServer);
  EXPECT_EQ(a.flow->pkts[0], 2u);
  EXPECT_EQ(a.flow->state, State::kNew);
  // ESP: one flow per SPI (each direction of an SA pair has its own).
  const Flow* out = t.Update(Esp("10.0.0.1", "10.0.0.2", 0x1001, kT0), ends.Fn()).flow;
  const Flow* in = t.Update(Esp("10.0.0.2", "10.0.0.1", 0x2002, kT0), ends.Fn()).flow;
  EXPECT_NE(out, in);
  EXPECT_EQ(t.Update(Esp("10.0.0.1", "10.0.0.2", 0x1001, kT0 + 1), ends.Fn()).flow, out);
  EXPECT_EQ(out->pkts[0], 2u);
  // SCTP by ports, as TCP/UDP.
  const auto s1 = t.Update(Sctp("10.0.0.1", 5000, "10.0.0.2", 38412, kT0), ends.Fn());
  const auto s2 = t.Update(Sctp("10.0.0.2", 38412, "10.0.0.1", 5000, kT0), ends.Fn());
  const auto s3 = t.Update(Sctp("10.0.0.1", 5001, "10.0.0.2", 38412, kT0), ends.Fn());
  EXPECT_EQ(s1.flow, s2.flow);
  EXPECT_EQ(s2.dir, Dir::kToClient);
  EXPECT_NE(s3.flow, s1.flow);
  EXPECT_EQ(t.size(), 5u);
}

// Tunnels: a packet decoded from a tunnel is keyed with its depth and its own VLAN ids, so the
// same tuple inside and outside a tunnel, or at two depths, are different flows.
TEST(FlowTable, TunnelDepthAndThreeVlansSeparateFlows) {
  FlowTable t(16, Timeouts{});
  Ends ends;
  Packet outer = Udp("10.0.0.1", 1000, "10.0.0.2", 2000, kT0);
  Packet inner = outer;
  inner.depth = 1;
  Packet inner2 = outer;
  inner2.depth = 2;
  Packet qinqinq = outer;
  qinqinq.vlan_count = 3;
  qinqinq.vlan_id[0] = 1;
  qinqinq.vlan_id[1] = 2;
  qinqinq.vlan_id[2] = 3;
  Packet qinqinq4 = qinqinq;
  qinqinq4.vlan_id[2] = 4;
  const std::set<const Flow*> flows = {
      t.Update(outer, ends.Fn()).flow, t.Update(inner, ends.Fn()).flow,
      t.Update(inner2, ends.Fn()).flow, t.Update(qinqinq, ends.Fn()).flow,
      t.Update(qinqinq4, ends.Fn()).flow};
  EXPECT_EQ(flows.size(), 5u);
  EXPECT_EQ(t.size(), 5u);
  Packet reply = inner;
  std::swap(reply.src, reply.dst);
  std::swap(reply.sport, reply.dport);
  const auto r = t.Update(reply, ends.Fn());
  EXPECT_EQ(r.flow->key.depth, 1);
  EXPECT_EQ(r.dir, Dir::kToClient);
  EXPECT_EQ(t.size(), 5u);
}

}  // namespace
}  // namespace fs::flow
