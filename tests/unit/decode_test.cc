// Decoder tests: one table of {description, frame, expected layer/event/fields, expected inner
// packets}. Frames come from PacketBuilder (raw bytes only where the builder cannot express the
// case); tunneled packets are decoded layer by layer with DecodeInner() as the worker does. Run
// under ASan+UBSan in the debug preset, so the truncation and mutation sweeps also prove that
// Decode() and DecodeInner() never read outside the captured bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dataplane/decode/packet.h"
#include "tools/pcapgen/packet_builder.h"

namespace fs::decode {
namespace {

using pcapgen::Bytes;
using pcapgen::PacketBuilder;

// Expected values; an unset optional (or empty string) is not checked.
struct Expect {
  Layer layer = Layer::kL4;
  DecodeEvent event = DecodeEvent::kNone;
  std::optional<uint8_t> ip_version{};
  std::string src{}, dst{};
  std::optional<uint8_t> proto{};
  std::optional<uint16_t> sport{}, dport{};
  std::optional<std::vector<uint16_t>> vlans{};
  std::optional<uint16_t> ether_type{};
  std::optional<uint32_t> l4_offset{}, payload_offset{}, payload_len{};
  std::optional<uint8_t> tcp_flags{};
  std::optional<uint32_t> tcp_seq{}, tcp_ack{};
  std::optional<uint16_t> tcp_mss{};
  std::optional<uint8_t> tcp_wscale{};
  std::optional<bool> tcp_sack_permitted{}, tcp_has_timestamp{};
  std::optional<uint8_t> icmp_type{}, icmp_code{};
  std::optional<bool> fragment{}, ipv4_has_options{};
  std::optional<uint8_t> ttl{};
  // Tunnels: on an inner packet depth/caplen/carried_by; on any packet what it carries.
  std::optional<uint8_t> depth{};
  std::optional<uint32_t> caplen{};
  std::optional<bool> invalid{};
  std::optional<Tunnel> tunnel{}, carried_by{};
  std::optional<InnerKind> inner_kind{};
  std::optional<uint32_t> inner_offset{}, inner_len{};
  // ICMP errors: the quoted packet.
  std::optional<bool> icmp_error_embedded{}, emb_ports{}, emb_l4_complete{};
  std::string emb_src{}, emb_dst{};
  std::optional<uint8_t> emb_proto{}, emb_ip_hlen{};
  std::optional<uint16_t> emb_sport{}, emb_dport{};
  std::optional<uint32_t> esp_spi{};
};

struct Case {
  std::string name;
  Bytes frame;
  Expect want;
  // The packets DecodeInner() finds inside, outermost first (depth 1, 2, ...); empty: none.
  std::vector<Expect> inners{};
};

// Fills the offsets the builder knows, unless the case set them.
Case Built(std::string name, const PacketBuilder& b, Expect want, std::vector<Expect> inners = {}) {
  if (want.layer == Layer::kL4 && want.event == DecodeEvent::kNone) {
    if (!want.l4_offset) want.l4_offset = uint32_t(b.L4Offset());
    if (!want.payload_offset) want.payload_offset = uint32_t(b.PayloadOffset());
  }
  return {std::move(name), b.Build(), std::move(want), std::move(inners)};
}

Bytes Truncated(Bytes b, size_t n) {
  b.resize(n);
  return b;
}

constexpr uint8_t kSyn = tcpflag::kSyn, kAck = tcpflag::kAck, kPsh = tcpflag::kPsh;
const std::string kA4 = "192.0.2.10", kB4 = "198.51.100.20";
const std::string kA6 = "2001:db8::10", kB6 = "2001:db8:1::20";

PacketBuilder V4() { return PacketBuilder().Ipv4(kA4, kB4); }
PacketBuilder V6() { return PacketBuilder().Ipv6(kA6, kB6); }
// SYN options as Linux sends them: MSS 1460, SACK-permitted, timestamps, NOP, window scale 7.
const Bytes kSynOptions = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};

// ---- tunnels and ICMP errors ----

constexpr uint32_t kV4Outer = 14 + 20;  // where the payload of V4() starts
constexpr uint32_t kV6Outer = 14 + 40;
const std::string kInA = "10.9.0.1", kInB = "10.9.0.2";
const std::string kInA6 = "2001:db8:9::1", kInB6 = "2001:db8:9::2";

// The carried packets: IPv4 UDP, IPv6 TCP, and Ethernet frames around them.
PacketBuilder InnerUdp4() {
  return PacketBuilder().Ipv4(kInA, kInB).Udp(1234, 53).Payload("inner");
}
PacketBuilder InnerTcp6() {
  return PacketBuilder().Ipv6(kInA6, kInB6).Tcp(40000, 443, kSyn, 77, 0);
}
const Bytes kUdp4 = InnerUdp4().BuildL3();  // 33 bytes
const Bytes kTcp6 = InnerTcp6().BuildL3();  // 60 bytes

Bytes Cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// What DecodeInner should say about kUdp4 / kTcp6 carried by `by` at depth 1, whose bytes (as
// Suricata counts them) are `caplen` long and start `l3` bytes before the IP header.
Expect InUdp4(Tunnel by, uint32_t caplen, uint32_t l3 = 0, uint8_t depth = 1) {
  Expect e;
  e.ip_version = 4;
  e.src = kInA;
  e.dst = kInB;
  e.proto = 17;
  e.sport = 1234;
  e.dport = 53;
  e.ether_type = 0x0800;
  e.l4_offset = l3 + 20;
  e.payload_offset = l3 + 28;
  e.payload_len = 5;
  e.depth = depth;
  e.caplen = caplen;
  e.carried_by = by;
  e.tunnel = Tunnel::kNone;
  e.invalid = false;
  return e;
}
Expect InTcp6(Tunnel by, uint32_t caplen, uint32_t l3 = 0) {
  Expect e;
  e.ip_version = 6;
  e.src = kInA6;
  e.dst = kInB6;
  e.proto = 6;
  e.sport = 40000;
  e.dport = 443;
  e.tcp_flags = kSyn;
  e.ether_type = 0x86dd;
  e.l4_offset = l3 + 40;
  e.payload_len = 0;
  e.depth = 1;
  e.caplen = caplen;
  e.carried_by = by;
  return e;
}
template <class F>
Expect With(Expect e, F&& f) {
  f(e);
  return e;
}
// A rejected inner packet.
Expect InBad(Tunnel by, DecodeEvent ev, uint8_t depth = 1) {
  Expect e;
  e.layer = Layer::kNone;
  e.event = ev;
  e.depth = depth;
  e.carried_by = by;
  e.invalid = true;
  return e;
}

// Outer packet: what it carries where.
Expect Carries(Layer layer, uint8_t proto, Tunnel t, InnerKind k, uint32_t off, uint32_t len) {
  Expect e;
  e.layer = layer;
  e.proto = proto;
  e.tunnel = t;
  e.inner_kind = k;
  e.inner_offset = off;
  e.inner_len = len;
  e.depth = 0;
  e.invalid = false;
  return e;
}
// Outer packet with a malformed tunnel header: an invalid event, nothing carried.
Expect BadTunnel(Layer layer, DecodeEvent ev, bool invalid = true) {
  Expect e;
  e.layer = layer;
  e.event = ev;
  e.inner_kind = InnerKind::kNone;
  e.invalid = invalid;
  return e;
}

PacketBuilder GreOver4(const Bytes& gre) { return V4().IpProto(47).Payload(gre); }
using PB = PacketBuilder;

void AddTunnelCases(std::vector<Case>& c) {
  const uint32_t n4 = uint32_t(kUdp4.size()), n6 = uint32_t(kTcp6.size());
  // GRE version 0.
  c.push_back(Built("gre with key and sequence number carrying ipv4 udp",
                    GreOver4(PB::Gre(0x0800, kUdp4, 0x1234, 7)),
                    Carries(Layer::kL3Other, 47, Tunnel::kGre, InnerKind::kIpv4, kV4Outer + 12, n4),
                    {InUdp4(Tunnel::kGre, n4)}));
  c.push_back(Built("gre with checksum carrying ipv6 tcp",
                    GreOver4(PB::Gre(0x86dd, kTcp6, {}, {}, true)),
                    Carries(Layer::kL3Other, 47, Tunnel::kGre, InnerKind::kIpv6, kV4Outer + 8, n6),
                    {InTcp6(Tunnel::kGre, n6)}));
  c.push_back(Built("gre over ipv6 carrying ipv4", V6().IpProto(47).Payload(PB::Gre(0x0800, kUdp4)),
                    Carries(Layer::kL3Other, 47, Tunnel::kGre, InnerKind::kIpv4, kV6Outer + 4, n4),
                    {InUdp4(Tunnel::kGre, n4)}));
  c.push_back(Built("gre after an ipv6 extension header is not followed (as Suricata)",
                    V6().Ipv6ExtHeader(60, {}).IpProto(47).Payload(PB::Gre(0x0800, kUdp4)),
                    Carries(Layer::kL3Other, 47, Tunnel::kNone, InnerKind::kNone, 0, 0)));
  {
    // Routing present: checksum/offset word, one source route entry (4 + 4 bytes), NULL entry.
    const Bytes gre =
        Cat({0x40, 0, 0x08, 0, 0, 0, 0, 0, 0x08, 0, 0, 4, 1, 2, 3, 4, 0, 0, 0, 0}, kUdp4);
    c.push_back(
        Built("gre with a source route list", GreOver4(gre),
              Carries(Layer::kL3Other, 47, Tunnel::kGre, InnerKind::kIpv4, kV4Outer + 20, n4),
              {InUdp4(Tunnel::kGre, n4)}));
  }
  {
    const Bytes tagged = Cat({0x00, 0x05, 0x08, 0x00}, kUdp4);  // TCI 5, IPv4
    c.push_back(
        Built("gre carrying an 802.1q frame body", GreOver4(PB::Gre(0x8100, tagged)),
              Carries(Layer::kL3Other, 47, Tunnel::kGre, InnerKind::kVlan, kV4Outer + 4, n4 + 4),
              {With(InUdp4(Tunnel::kGre, n4 + 4, 4),
                    [](Expect& e) { e.vlans = std::vector<uint16_t>{5}; })}));
  }
  {
    const Bytes frame = InnerUdp4().Vlan(44).Build();
    const uint32_t nf = uint32_t(frame.size());
    c.push_back(
        Built("gre transparent ethernet bridging keeps the frame's tag",
              GreOver4(PB::Gre(0x6558, frame, 99)),
              Carries(Layer::kL3Other, 47, Tunnel::kGre, InnerKind::kEthernet, kV4Outer + 8, nf),
              {With(InUdp4(Tunnel::kGre, nf, 18),
                    [](Expect& e) { e.vlans = std::vector<uint16_t>{44}; })}));
    c.push_back(Built(
        "outer vlan tags do not apply to the carried packet",
        V4().Vlan(100).Vlan(200).IpProto(47).Payload(PB::Gre(0x0800, kUdp4)),
        With(Carries(Layer::kL3Other, 47, Tunnel::kGre, InnerKind::kIpv4, kV4Outer + 8 + 4, n4),
             [](Expect& e) {
               e.vlans = std::vector<uint16_t>{100, 200};
             }),
        {With(InUdp4(Tunnel::kGre, n4), [](Expect& e) { e.vlans = std::vector<uint16_t>{}; })}));
  }
  {
    // ERSPAN: type I (no sequence number) and type II (sequence number, 8-byte header whose
    // VLAN becomes the first tag; the header counts in the carried packet's length).
    const Bytes frame = InnerUdp4().Build();
    const uint32_t nf = uint32_t(frame.size());
    c.push_back(Built(
        "erspan type I", GreOver4(PB::Gre(0x88be, frame)),
        Carries(Layer::kL3Other, 47, Tunnel::kErspan1, InnerKind::kEthernet, kV4Outer + 4, nf),
        {InUdp4(Tunnel::kErspan1, nf, 14)}));
    const Bytes tagged = InnerUdp4().Vlan(30).Build();
    const uint32_t nt = uint32_t(tagged.size());
    c.push_back(Built(
        "erspan type II: session vlan then the frame's tag",
        GreOver4(PB::Gre(0x88be, PB::ErspanII(20, 5, tagged), {}, 1)),
        Carries(Layer::kL3Other, 47, Tunnel::kErspan2, InnerKind::kEthernet, kV4Outer + 8, nt + 8),
        {With(InUdp4(Tunnel::kErspan2, nt + 8, 8 + 18), [](Expect& e) {
          e.vlans = std::vector<uint16_t>{20, 30};
        })}));
    c.push_back(Built(
        "erspan type II with vlan 0 adds no tag",
        GreOver4(PB::Gre(0x88be, PB::ErspanII(0, 5, frame), {}, 1)),
        Carries(Layer::kL3Other, 47, Tunnel::kErspan2, InnerKind::kEthernet, kV4Outer + 8, nf + 8),
        {With(InUdp4(Tunnel::kErspan2, nf + 8, 8 + 14),
              [](Expect& e) { e.vlans = std::vector<uint16_t>{}; })}));
    c.push_back(Built(
        "erspan type II vlan and a qinq frame: three tags",
        GreOver4(PB::Gre(0x88be, PB::ErspanII(7, 5, InnerUdp4().Vlan(8).Vlan(9).Build()), {}, 1)),
        Carries(Layer::kL3Other, 47, Tunnel::kErspan2, InnerKind::kEthernet, kV4Outer + 8,
                nf + 8 + 8),
        {With(InUdp4(Tunnel::kErspan2, nf + 16, 8 + 22), [](Expect& e) {
          e.vlans = std::vector<uint16_t>{7, 8, 9};
        })}));
    c.push_back(
        Built("erspan type II vlan and three tags in the frame: too many",
              GreOver4(PB::Gre(
                  0x88be, PB::ErspanII(7, 5, InnerUdp4().Vlan(1).Vlan(2).Vlan(3).Build()), {}, 1)),
              Carries(Layer::kL3Other, 47, Tunnel::kErspan2, InnerKind::kEthernet, kV4Outer + 8,
                      nf + 8 + 12),
              {InBad(Tunnel::kErspan2, DecodeEvent::kVlanTooManyLayers)}));
    c.push_back(
        Built("erspan type II header cut short",
              GreOver4(PB::Gre(0x88be, Bytes{0x10, 0x05, 0, 1}, {}, 1)),
              Carries(Layer::kL3Other, 47, Tunnel::kErspan2, InnerKind::kEthernet, kV4Outer + 8, 4),
              {InBad(Tunnel::kErspan2, DecodeEvent::kErspanHeaderTooSmall)}));
    c.push_back(Built(
        "erspan version 2 header in type II framing",
        GreOver4(PB::Gre(0x88be, PB::ErspanIII(0, 5, frame), {}, 1)),
        Carries(Layer::kL3Other, 47, Tunnel::kErspan2, InnerKind::kEthernet, kV4Outer + 8, nf + 12),
        {InBad(Tunnel::kErspan2, DecodeEvent::kErspanUnsupportedVersion)}));
    c.push_back(Built("erspan type III is recognised, not decoded (as Suricata 7)",
                      GreOver4(PB::Gre(0x22eb, PB::ErspanIII(20, 5, frame), {}, 1)),
                      Carries(Layer::kL3Other, 47, Tunnel::kErspan3, InnerKind::kNone, 0, 0)));
  }
  // PPTP: enhanced GRE carrying PPP; the PPP header counts in the carried packet's length.
  c.push_back(
      Built("pptp: gre v1, ppp with address/control, ipv4",
            GreOver4(PB::GrePptp(5, Cat({0xff, 0x03, 0x00, 0x21}, kUdp4), 9)),
            Carries(Layer::kL3Other, 47, Tunnel::kGrePpp, InnerKind::kPpp, kV4Outer + 12, n4 + 4),
            {InUdp4(Tunnel::kGrePpp, n4 + 4, 4)}));
  c.push_back(
      Built("pptp: compressed ppp protocol field", GreOver4(PB::GrePptp(5, Cat({0x21}, kUdp4))),
            Carries(Layer::kL3Other, 47, Tunnel::kGrePpp, InnerKind::kPpp, kV4Outer + 8, n4 + 1),
            {InUdp4(Tunnel::kGrePpp, n4 + 1, 1)}));
  c.push_back(Built("pptp acknowledgment without payload", GreOver4(PB::GrePptp(5, {}, 9)),
                    Carries(Layer::kL3Other, 47, Tunnel::kGrePpp, InnerKind::kNone, 0, 0)));
  c.push_back(
      Built("ppp over gre v0 carrying ipv6",
            GreOver4(PB::Gre(0x880b, Cat({0xff, 0x03, 0x00, 0x57}, kTcp6))),
            Carries(Layer::kL3Other, 47, Tunnel::kGrePpp, InnerKind::kPpp, kV4Outer + 4, n6 + 4),
            {InTcp6(Tunnel::kGrePpp, n6 + 4, 4)}));
  {
    const Tunnel t = Tunnel::kGrePpp;
    auto ppp = [&](std::string name, const Bytes& body, Expect inner) {
      c.push_back(Built(
          std::move(name), GreOver4(PB::Gre(0x880b, body)),
          Carries(Layer::kL3Other, 47, t, InnerKind::kPpp, kV4Outer + 4, uint32_t(body.size())),
          {inner}));
    };
    ppp("ppp: empty", {}, InBad(t, DecodeEvent::kPppPktTooSmall));
    ppp("ppp: address/control without protocol", {0xff, 0x03},
        InBad(t, DecodeEvent::kPppPktTooSmall));
    ppp("ppp: 2-byte protocol cut short", {0x00}, InBad(t, DecodeEvent::kPppPktTooSmall));
    ppp("ppp: ipv4 shorter than its header", {0x00, 0x21, 0x45, 0, 0, 20},
        InBad(t, DecodeEvent::kPppIp4PktTooSmall));
    ppp("ppp: ipv6 shorter than its header", Cat({0x00, 0x57}, Bytes(39, 0x60)),
        InBad(t, DecodeEvent::kPppIp6PktTooSmall));
    ppp("ppp: unknown protocol number", {0x12, 0x34, 1, 2, 3, 4},
        InBad(t, DecodeEvent::kPppWrongType));
    Expect lcp;
    lcp.layer = Layer::kNone;
    lcp.event = DecodeEvent::kPppUnsupProto;
    lcp.depth = 1;
    lcp.invalid = false;
    ppp("ppp: link control protocol is not decoded", {0xc0, 0x21, 1, 1, 0, 4}, lcp);
    Expect vj = lcp;
    vj.event = DecodeEvent::kNone;
    ppp("ppp: van jacobson uncompressed is not decoded", Cat({0x00, 0x2f}, kUdp4), vj);
  }
  // Malformed GRE: an invalid event on the outer packet, nothing carried.
  const Layer o = Layer::kL3Other;
  c.push_back(Built("gre shorter than its header", GreOver4({0, 0, 8}),
                    BadTunnel(o, DecodeEvent::kGrePktTooSmall)));
  c.push_back(Built("gre v0 recursion control", GreOver4(Cat({0x01, 0, 8, 0}, kUdp4)),
                    BadTunnel(o, DecodeEvent::kGreVersion0Recur)));
  c.push_back(Built("gre v0 reserved flag bits", GreOver4(Cat({0x00, 0x08, 8, 0}, kUdp4)),
                    BadTunnel(o, DecodeEvent::kGreVersion0Flags)));
  c.push_back(Built("gre v0 key and sequence beyond the packet",
                    GreOver4({0x30, 0, 8, 0, 1, 2, 3, 4}),
                    BadTunnel(o, DecodeEvent::kGreVersion0HdrTooBig)));
  c.push_back(Built("gre v0 source route entry longer than the packet",
                    GreOver4({0x40, 0, 8, 0, 0, 0, 0, 0, 8, 0, 0, 200, 1, 2, 3, 4}),
                    BadTunnel(o, DecodeEvent::kGreVersion0MalformedSreHdr)));
  c.push_back(Built("gre v0 source route list without its end",
                    GreOver4({0x40, 0, 8, 0, 0, 0, 0, 0, 8, 0, 0, 4, 1, 2, 3, 4}),
                    BadTunnel(o, DecodeEvent::kGreVersion0MalformedSreHdr)));
  const Bytes v1_tail = {0, 4, 0, 5, 0xff, 0x03, 0, 0x21};
  c.push_back(Built("gre v1 with checksum", GreOver4(Cat({0xa0, 0x01, 0x88, 0x0b}, v1_tail)),
                    BadTunnel(o, DecodeEvent::kGreVersion1Chksum)));
  c.push_back(Built("gre v1 with routing", GreOver4(Cat({0x60, 0x01, 0x88, 0x0b}, v1_tail)),
                    BadTunnel(o, DecodeEvent::kGreVersion1Route)));
  c.push_back(Built("gre v1 with strict source route",
                    GreOver4(Cat({0x28, 0x01, 0x88, 0x0b}, v1_tail)),
                    BadTunnel(o, DecodeEvent::kGreVersion1Ssr)));
  c.push_back(Built("gre v1 recursion control", GreOver4(Cat({0x21, 0x01, 0x88, 0x0b}, v1_tail)),
                    BadTunnel(o, DecodeEvent::kGreVersion1Recur)));
  c.push_back(Built("gre v1 reserved flag bits", GreOver4(Cat({0x20, 0x09, 0x88, 0x0b}, v1_tail)),
                    BadTunnel(o, DecodeEvent::kGreVersion1Flags)));
  c.push_back(Built("gre v1 carrying ipv4", GreOver4(Cat({0x20, 0x01, 0x08, 0x00}, v1_tail)),
                    BadTunnel(o, DecodeEvent::kGreVersion1WrongProtocol)));
  c.push_back(Built("gre v1 without key", GreOver4(Cat({0x00, 0x01, 0x88, 0x0b}, v1_tail)),
                    BadTunnel(o, DecodeEvent::kGreVersion1NoKey)));
  c.push_back(Built("gre v1 sequence and acknowledgment beyond the packet",
                    GreOver4({0x30, 0x81, 0x88, 0x0b, 0, 4, 0, 5, 0, 0, 0, 1}),
                    BadTunnel(o, DecodeEvent::kGreVersion1HdrTooBig)));
  c.push_back(Built("gre version 2", GreOver4(Cat({0x00, 0x02, 8, 0}, kUdp4)),
                    BadTunnel(o, DecodeEvent::kGreWrongVersion)));
  c.push_back(Built("gre carrying an unknown protocol is just gre",
                    GreOver4(PB::Gre(0x88b5, kUdp4)),
                    Carries(Layer::kL3Other, 47, Tunnel::kNone, InnerKind::kNone, 0, 0)));

  // IP in IP.
  c.push_back(Built("6in4 carrying ipv6 tcp", V4().IpProto(41).Payload(kTcp6),
                    Carries(Layer::kL3Other, 41, Tunnel::kIpv6InIp, InnerKind::kIpv6, kV4Outer, n6),
                    {InTcp6(Tunnel::kIpv6InIp, n6)}));
  c.push_back(Built("6in4 with a payload too short for ipv6",
                    V4().IpProto(41).Payload(Bytes(10, 0x60)),
                    Carries(Layer::kL3Other, 41, Tunnel::kIpv6InIp, InnerKind::kIpv6, kV4Outer, 10),
                    {InBad(Tunnel::kIpv6InIp, DecodeEvent::kIpv6PktTooSmall)}));
  c.push_back(Built("6in6 carrying ipv6 tcp", V6().IpProto(41).Payload(kTcp6),
                    Carries(Layer::kL3Other, 41, Tunnel::kIpv6InIp, InnerKind::kIpv6, kV6Outer, n6),
                    {InTcp6(Tunnel::kIpv6InIp, n6)}));
  c.push_back(Built("6in6 after an extension header is not followed (as Suricata)",
                    V6().Ipv6ExtHeader(60, {}).IpProto(41).Payload(kTcp6),
                    Carries(Layer::kL3Other, 41, Tunnel::kNone, InnerKind::kNone, 0, 0)));
  c.push_back(Built("6in6 too short", V6().IpProto(41).Payload(Bytes(39, 0x60)),
                    BadTunnel(o, DecodeEvent::kIpv6Ipv6InIpv6TooSmall)));
  c.push_back(Built("6in6 carrying ipv4", V6().IpProto(41).Payload(Cat(kUdp4, Bytes(8, 0))),
                    BadTunnel(o, DecodeEvent::kIpv6Ipv6InIpv6WrongVersion, false)));
  c.push_back(Built("4in6 carrying ipv4 udp", V6().IpProto(4).Payload(kUdp4),
                    Carries(Layer::kL3Other, 4, Tunnel::kIpv4InIp, InnerKind::kIpv4, kV6Outer, n4),
                    {InUdp4(Tunnel::kIpv4InIp, n4)}));
  c.push_back(
      Built("4in6 after a destination options header",
            V6().Ipv6ExtHeader(60, {}).IpProto(4).Payload(kUdp4),
            Carries(Layer::kL3Other, 4, Tunnel::kIpv4InIp, InnerKind::kIpv4, kV6Outer + 8, n4),
            {InUdp4(Tunnel::kIpv4InIp, n4)}));
  c.push_back(Built("4in6 too short", V6().IpProto(4).Payload(Bytes(19, 0x45)),
                    BadTunnel(o, DecodeEvent::kIpv6Ipv4InIpv6TooSmall)));
  c.push_back(Built("4in6 carrying ipv6", V6().IpProto(4).Payload(kTcp6),
                    BadTunnel(o, DecodeEvent::kIpv6Ipv4InIpv6WrongVersion, false)));
  c.push_back(Built("ipv4 in ipv4 is recognised, not decoded (as Suricata 7.0.10)",
                    V4().IpProto(4).Payload(kUdp4),
                    Carries(Layer::kL3Other, 4, Tunnel::kIpip, InnerKind::kNone, 0, 0)));
  c.push_back(Built("gre carrying ipv4 cut short by the gre packet",
                    GreOver4(PB::Gre(0x0800, Bytes(kUdp4.begin(), kUdp4.begin() + 30))),
                    Carries(Layer::kL3Other, 47, Tunnel::kGre, InnerKind::kIpv4, kV4Outer + 4, 30),
                    {InBad(Tunnel::kGre, DecodeEvent::kIpv4TruncPkt)}));

  // UDP tunnels. The outer datagram stays a plain UDP packet for the flow table.
  constexpr uint32_t kUdpPayload = kV4Outer + 8;
  {
    const Bytes frame = InnerUdp4().Build();
    const uint32_t nf = uint32_t(frame.size());
    // VXLAN: the carried packet is counted without its Ethernet header.
    c.push_back(Built(
        "vxlan carrying ipv4 udp", V4().Udp(51000, 4789).Payload(PB::Vxlan(77, frame)),
        With(Carries(Layer::kL4, 17, Tunnel::kVxlan, InnerKind::kIpv4, kUdpPayload + 22, nf - 14),
             [](Expect& e) { e.dport = 4789; }),
        {InUdp4(Tunnel::kVxlan, nf - 14)}));
    const Bytes tagged6 = InnerTcp6().Vlan(14).Build();
    c.push_back(
        Built("vxlan from port 4789 carrying a tagged ipv6 frame",
              V4().Udp(4789, 51000).Payload(PB::Vxlan(1, tagged6)),
              Carries(Layer::kL4, 17, Tunnel::kVxlan, InnerKind::kVlan, kUdpPayload + 22, n6 + 4),
              {With(InTcp6(Tunnel::kVxlan, n6 + 4, 4),
                    [](Expect& e) { e.vlans = std::vector<uint16_t>{14}; })}));
    c.push_back(
        Built("vxlan carrying arp: nothing to decode",
              V4().Udp(51000, 4789).Payload(PB::Vxlan(1, PB().RawL3(0x0806, Bytes(28, 0)).Build())),
              Carries(Layer::kL4, 17, Tunnel::kVxlan, InnerKind::kNone, 0, 0)));
    c.push_back(
        Built("vxlan carrying lldp",
              V4().Udp(51000, 4789).Payload(PB::Vxlan(1, PB().RawL3(0x88cc, Bytes(20, 0)).Build())),
              With(BadTunnel(Layer::kL4, DecodeEvent::kVxlanUnknownPayloadType),
                   [](Expect& e) { e.tunnel = Tunnel::kVxlan; })));
    Bytes no_i = PB::Vxlan(1, frame);
    no_i[0] = 0;
    c.push_back(Built("vxlan without the I flag is plain udp", V4().Udp(51000, 4789).Payload(no_i),
                      Carries(Layer::kL4, 17, Tunnel::kNone, InnerKind::kNone, 0, 0)));
    Bytes reserved = PB::Vxlan(1, frame);
    reserved[7] = 1;
    c.push_back(Built("vxlan with a non-zero last byte is plain udp",
                      V4().Udp(51000, 4789).Payload(reserved),
                      Carries(Layer::kL4, 17, Tunnel::kNone, InnerKind::kNone, 0, 0)));
    c.push_back(Built("vxlan too short for an ethernet header is plain udp",
                      V4().Udp(51000, 4789).Payload(PB::Vxlan(1, Bytes(13, 0))),
                      Carries(Layer::kL4, 17, Tunnel::kNone, InnerKind::kNone, 0, 0)));
    // Geneve: the carried packet starts after the header and its options.
    c.push_back(
        Built("geneve with an option carrying ethernet",
              V4().Udp(40000, 6081)
                  .Payload(PB::Geneve(0x6558, 9, frame, {0x01, 0x02, 0x03, 0x01, 1, 2, 3, 4})),
              Carries(Layer::kL4, 17, Tunnel::kGeneve, InnerKind::kEthernet, kUdpPayload + 16, nf),
              {InUdp4(Tunnel::kGeneve, nf, 14)}));
    c.push_back(
        Built("geneve carrying ipv6", V4().Udp(6081, 40000).Payload(PB::Geneve(0x86dd, 9, kTcp6)),
              Carries(Layer::kL4, 17, Tunnel::kGeneve, InnerKind::kIpv6, kUdpPayload + 8, n6),
              {InTcp6(Tunnel::kGeneve, n6)}));
    c.push_back(Built("geneve carrying mpls",
                      V4().Udp(40000, 6081).Payload(PB::Geneve(0x8847, 9, kUdp4)),
                      With(BadTunnel(Layer::kL4, DecodeEvent::kGeneveUnknownPayloadType),
                           [](Expect& e) { e.tunnel = Tunnel::kGeneve; })));
    c.push_back(
        Built("geneve with option lengths not adding up is plain udp",
              V4().Udp(40000, 6081)
                  .Payload(PB::Geneve(0x0800, 9, kUdp4, {0x01, 0x02, 0x03, 0x03, 1, 2, 3, 4})),
              Carries(Layer::kL4, 17, Tunnel::kNone, InnerKind::kNone, 0, 0)));
    Bytes v1 = PB::Geneve(0x0800, 9, kUdp4);
    v1[0] |= 0x40;
    c.push_back(Built("geneve version 1 is plain udp", V4().Udp(40000, 6081).Payload(v1),
                      Carries(Layer::kL4, 17, Tunnel::kNone, InnerKind::kNone, 0, 0)));
  }
  {
    // Teredo: a guess from the port; the carried IPv6 packet must fill the datagram exactly.
    const Bytes orig = {0x00, 0x00, 0x12, 0x34, 1, 2, 3, 4};
    c.push_back(
        Built("teredo with an origin indication", V4().Udp(3544, 50000).Payload(Cat(orig, kTcp6)),
              Carries(Layer::kL4, 17, Tunnel::kTeredo, InnerKind::kIpv6, kUdpPayload + 8, n6),
              {InTcp6(Tunnel::kTeredo, n6)}));
    c.push_back(Built("teredo without indication", V4().Udp(50000, 3544).Payload(kTcp6),
                      Carries(Layer::kL4, 17, Tunnel::kTeredo, InnerKind::kIpv6, kUdpPayload, n6),
                      {InTcp6(Tunnel::kTeredo, n6)}));
    const Expect udp = Carries(Layer::kL4, 17, Tunnel::kNone, InnerKind::kNone, 0, 0);
    c.push_back(Built("teredo: a trailing byte makes it plain udp",
                      V4().Udp(3544, 50000).Payload(Cat(kTcp6, {0})), udp));
    c.push_back(Built("teredo: authentication indication is plain udp",
                      V4().Udp(3544, 50000).Payload(Cat({0x00, 0x01, 0, 0, 0, 0, 0, 0}, kTcp6)),
                      udp));
    c.push_back(Built("teredo: hop limit 0 is plain udp",
                      V4().Udp(3544, 50000).Payload(PB().Ipv6(kInA6, kInB6, 0).Udp(1, 2).BuildL3()),
                      udp));
    c.push_back(Built("teredo: an ipv4 payload is plain udp",
                      V4().Udp(3544, 50000).Payload(Cat(kUdp4, Bytes(8, 0))), udp));
    // The IPv6 header fits but the UDP inside is malformed: Suricata treats it as plain UDP
    // (no inner packet), though the outer had looked like Teredo.
    c.push_back(
        Built("teredo carrying an invalid packet is no tunnel",
              V4().Udp(3544, 50000)
                  .Payload(PB().Ipv6(kInA6, kInB6).Udp(1, 2).OverrideUdpLength(4).BuildL3()),
              Carries(Layer::kL4, 17, Tunnel::kTeredo, InnerKind::kIpv6, kUdpPayload, 48)));
  }

  // Nesting: each DecodeInner() call peels one layer; a fifth is too many (Suricata's 16-layer
  // limit also ends GRE-in-IPv4 nesting after four).
  {
    auto nest = [](int levels, const Bytes& innermost) {
      Bytes pkt = innermost;
      for (int i = levels; i >= 1; --i) {
        PB o = PB().Ipv4("10.0." + std::to_string(i) + ".1", "10.0." + std::to_string(i) + ".2")
                   .IpProto(47)
                   .Payload(PB::Gre(0x0800, pkt));
        pkt = i > 1 ? o.BuildL3() : o.Build();
      }
      return pkt;
    };
    auto gre_layer = [&](int depth, uint32_t caplen) {
      Expect e = Carries(Layer::kL3Other, 47, Tunnel::kGre, InnerKind::kIpv4, 24, caplen - 24);
      e.depth = uint8_t(depth);
      e.caplen = caplen;
      e.carried_by = Tunnel::kGre;
      e.src = "10.0." + std::to_string(depth + 1) + ".1";
      return e;
    };
    std::vector<Expect> four;
    for (int d = 1; d <= 3; ++d) four.push_back(gre_layer(d, n4 + uint32_t(24 * (4 - d))));
    four.push_back(InUdp4(Tunnel::kGre, n4, 0, 4));
    c.push_back(
        {"gre nested four deep", nest(4, kUdp4),
         Carries(Layer::kL3Other, 47, Tunnel::kGre, InnerKind::kIpv4, kV4Outer + 4, n4 + 24 * 3),
         four});
    std::vector<Expect> five;
    for (int d = 1; d <= 4; ++d) five.push_back(gre_layer(d, n4 + uint32_t(24 * (5 - d))));
    Expect too_deep = InBad(Tunnel::kGre, DecodeEvent::kTooManyLayers, 5);
    too_deep.caplen = n4;
    five.push_back(too_deep);
    c.push_back(
        {"gre nested five deep: the fifth is too many", nest(5, kUdp4),
         Carries(Layer::kL3Other, 47, Tunnel::kGre, InnerKind::kIpv4, kV4Outer + 4, n4 + 24 * 4),
         five});
    // Mixed: 6in4 carrying IPv6 UDP to port 4789 carrying VXLAN carrying IPv4.
    const Bytes frame = InnerUdp4().Build();
    const Bytes vx6 = PB().Ipv6("2001:db8::a", "2001:db8::b")
                          .Udp(40000, 4789)
                          .Payload(PB::Vxlan(3, frame))
                          .BuildL3();
    Expect mid = Carries(Layer::kL4, 17, Tunnel::kVxlan, InnerKind::kIpv4, 40 + 8 + 22,
                         uint32_t(frame.size()) - 14);
    mid.depth = 1;
    mid.caplen = uint32_t(vx6.size());
    mid.carried_by = Tunnel::kIpv6InIp;
    c.push_back(Built("vxlan over ipv6 over ipv4", V4().IpProto(41).Payload(vx6),
                      Carries(Layer::kL3Other, 41, Tunnel::kIpv6InIp, InnerKind::kIpv6, kV4Outer,
                              uint32_t(vx6.size())),
                      {mid, InUdp4(Tunnel::kVxlan, uint32_t(frame.size()) - 14, 0, 2)}));
  }

  // ESP and SCTP: what Suricata keys their flows by.
  c.push_back(Built("ipv4 esp: the spi",
                    V4().IpProto(50).Payload(Bytes{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 9, 9}),
                    With(Carries(Layer::kL3Other, 50, Tunnel::kNone, InnerKind::kNone, 0, 0),
                         [](Expect& e) { e.esp_spi = 0xdeadbeef; })));
  c.push_back(Built("ipv6 esp after destination options",
                    V6().Ipv6ExtHeader(60, {}).IpProto(50).Payload(Bytes{0, 0, 1, 0, 0, 0, 0, 1}),
                    With(Carries(Layer::kL3Other, 50, Tunnel::kNone, InnerKind::kNone, 0, 0),
                         [](Expect& e) { e.esp_spi = 0x100; })));
  c.push_back({"esp shorter than spi and sequence number",
               V4().IpProto(50).Payload(Bytes(7, 1)).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kEspPktTooSmall, .proto = 50}});
  c.push_back(Built(
      "sctp: the ports",
      V4().IpProto(132).Payload(Bytes{0x0b, 0x59, 0x96, 0x4c, 0, 0, 0, 0, 0, 0, 0, 0}),
      With(Carries(Layer::kL3Other, 132, Tunnel::kNone, InnerKind::kNone, 0, 0), [](Expect& e) {
        e.sport = 2905;
        e.dport = 38476;
      })));
  c.push_back({"sctp shorter than its common header",
               V6().IpProto(132).Payload(Bytes(11, 0)).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kSctpPktTooSmall, .proto = 132}});
}

// An ICMP error quoting `quoted` (the IP datagram of the packet that caused it).
Expect Quote(const std::string& src, const std::string& dst, uint8_t proto, uint16_t sport,
             uint16_t dport, bool ports, bool complete, uint8_t hlen = 20) {
  Expect e;
  e.layer = Layer::kL4;
  e.icmp_error_embedded = true;
  e.emb_src = src;
  e.emb_dst = dst;
  e.emb_proto = proto;
  e.emb_ip_hlen = hlen;
  e.emb_ports = ports;
  e.emb_l4_complete = complete;
  if (ports) {
    e.emb_sport = sport;
    e.emb_dport = dport;
  }
  e.invalid = false;
  return e;
}
Expect NoQuote(DecodeEvent ev = DecodeEvent::kNone) {
  Expect e;
  e.layer = Layer::kL4;
  e.event = ev;
  e.icmp_error_embedded = false;
  e.emb_ports = false;
  e.invalid = ev != DecodeEvent::kNone;
  return e;
}
Bytes Head(const Bytes& b, size_t n) { return Bytes(b.begin(), b.begin() + long(n)); }

void AddIcmpErrorCases(std::vector<Case>& c) {
  const Bytes udp = kUdp4;
  const Bytes tcp = PB().Ipv4(kInA, kInB).Tcp(40000, 80, kSyn, 5, 0).BuildL3();
  const Bytes icmp = PB().Ipv4(kInA, kInB).Icmpv4(8, 0).Payload("ping").BuildL3();
  auto err4 = [](uint8_t type, uint8_t code, const Bytes& quote) {
    return V4().Icmpv4(type, code).Payload(quote);
  };
  const Expect full_udp = Quote(kInA, kInB, 17, 1234, 53, true, true);
  c.push_back(Built("icmpv4 port unreachable quoting udp", err4(3, 3, udp), full_udp));
  c.push_back(
      Built("icmpv4 unreachable quoting the udp header only", err4(3, 1, Head(udp, 28)), full_udp));
  c.push_back(Built("icmpv4 unreachable quoting 8 bytes of tcp (a router's quote)",
                    err4(3, 13, Head(tcp, 28)), Quote(kInA, kInB, 6, 40000, 80, true, false)));
  c.push_back(Built("icmpv4 unreachable quoting the whole tcp header", err4(3, 13, tcp),
                    Quote(kInA, kInB, 6, 40000, 80, true, true)));
  c.push_back(Built("icmpv4 unreachable quoting 3 bytes of udp: no ports",
                    err4(3, 3, Head(udp, 23)), Quote(kInA, kInB, 17, 0, 0, false, false)));
  c.push_back(Built("icmpv4 unreachable quoting an echo", err4(3, 1, icmp),
                    Quote(kInA, kInB, 1, 0, 0, false, false)));
  c.push_back(Built("icmpv4 time exceeded quoting udp", err4(11, 0, udp), full_udp));
  c.push_back(Built("icmpv4 redirect quoting udp", err4(5, 1, udp), full_udp));
  c.push_back(Built("icmpv4 parameter problem quoting udp", err4(12, 0, udp), full_udp));
  c.push_back(Built("icmpv4 source quench quoting udp", err4(4, 0, udp), full_udp));
  {
    const Bytes opt = PB().Ipv4(kInA, kInB).Ipv4Options({148, 4, 0, 0}).Udp(1234, 53).BuildL3();
    c.push_back(Built("icmpv4 unreachable quoting a header with options: ports after them",
                      err4(3, 3, opt), Quote(kInA, kInB, 17, 1234, 53, true, true, 24)));
  }
  c.push_back(
      Built("icmpv4 unreachable with an unknown code is not decoded", err4(3, 16, udp), NoQuote()));
  c.push_back(Built("icmpv4 time exceeded with an unknown code is not decoded", err4(11, 2, udp),
                    NoQuote()));
  c.push_back(Built("icmpv4 parameter problem code 1 is not decoded (as Suricata)",
                    err4(12, 1, udp), NoQuote()));
  c.push_back(Built("icmpv4 unreachable without a quote", err4(3, 3, {}), NoQuote()));
  c.push_back(Built("icmpv4 quote shorter than an ipv4 header", err4(3, 3, Head(udp, 19)),
                    NoQuote(DecodeEvent::kIcmpv4Ipv4TruncPkt)));
  c.push_back(Built("icmpv4 source quench with an empty quote (Suricata flags it)", err4(4, 0, {}),
                    NoQuote(DecodeEvent::kIcmpv4Ipv4TruncPkt)));
  c.push_back(Built("icmpv4 quote with an ipv6 header", err4(3, 3, kTcp6),
                    NoQuote(DecodeEvent::kIcmpv4Ipv4UnknownVer)));
  c.push_back(Built("icmpv4 echo reply is no error", err4(0, 0, udp), NoQuote()));

  const Bytes udp6 = PB().Ipv6(kInA6, kInB6).Udp(5353, 53).Payload("q").BuildL3();
  auto err6 = [](uint8_t type, uint8_t code, const Bytes& quote) {
    return V6().Icmpv6(type, code).Payload(quote);
  };
  c.push_back(Built("icmpv6 port unreachable quoting udp", err6(1, 4, udp6),
                    Quote(kInA6, kInB6, 17, 5353, 53, true, true, 40)));
  c.push_back(Built("icmpv6 packet too big quoting 8 bytes of tcp", err6(2, 0, Head(kTcp6, 48)),
                    Quote(kInA6, kInB6, 6, 40000, 443, true, false, 40)));
  c.push_back(Built("icmpv6 time exceeded quoting udp", err6(3, 1, udp6),
                    Quote(kInA6, kInB6, 17, 5353, 53, true, true, 40)));
  c.push_back(Built("icmpv6 parameter problem quoting udp", err6(4, 2, udp6),
                    Quote(kInA6, kInB6, 17, 5353, 53, true, true, 40)));
  c.push_back(
      Built("icmpv6 unreachable with an unknown code is not decoded", err6(1, 7, udp6), NoQuote()));
  c.push_back(Built("icmpv6 quote shorter than an ipv6 header", err6(1, 4, Head(udp6, 39)),
                    NoQuote(DecodeEvent::kIcmpv6Ipv6TruncPkt)));
  c.push_back(Built("icmpv6 packet too big with an empty quote", err6(2, 0, {}),
                    NoQuote(DecodeEvent::kIcmpv6Ipv6TruncPkt)));
  c.push_back(Built("icmpv6 quote with an ipv4 header", err6(1, 4, Cat(udp, Bytes(20, 0))),
                    NoQuote(DecodeEvent::kIcmpv6Ipv6UnknownVersion)));
  c.push_back(Built("icmpv6 echo request is no error", err6(128, 0, udp6), NoQuote()));

  // An error carried in a tunnel is decoded in the inner packet.
  {
    const Bytes err = PB().Ipv4(kInB, kInA).Icmpv4(3, 3).Payload(udp).BuildL3();
    Expect in = Quote(kInA, kInB, 17, 1234, 53, true, true);
    in.depth = 1;
    in.caplen = uint32_t(err.size());
    in.carried_by = Tunnel::kGre;
    in.icmp_type = 3;
    c.push_back(Built("icmpv4 error inside gre", GreOver4(PB::Gre(0x0800, err)),
                      Carries(Layer::kL3Other, 47, Tunnel::kGre, InnerKind::kIpv4, kV4Outer + 4,
                              uint32_t(err.size())),
                      {in}));
  }
}

std::vector<Case> Cases() {
  std::vector<Case> c;
  // ---- valid packets, one per protocol and encapsulation ----
  c.push_back(Built("ipv4 tcp syn with mss/sack/ts/wscale options",
                    V4().Tcp(40000, 443, kSyn, 1000, 0).TcpOptions(kSynOptions),
                    {.ip_version = 4,
                     .src = kA4,
                     .dst = kB4,
                     .proto = 6,
                     .sport = 40000,
                     .dport = 443,
                     .vlans = std::vector<uint16_t>{},
                     .ether_type = 0x0800,
                     .payload_len = 0,
                     .tcp_flags = kSyn,
                     .tcp_seq = 1000,
                     .tcp_ack = 0,
                     .tcp_mss = 1460,
                     .tcp_wscale = 7,
                     .tcp_sack_permitted = true,
                     .tcp_has_timestamp = true,
                     .fragment = false,
                     .ipv4_has_options = false,
                     .ttl = 64}));
  c.push_back(Built("ipv4 tcp data without options",
                    V4().Tcp(40000, 80, kAck | kPsh, 1001, 5001).Payload("GET / HTTP/1.1\r\n\r\n"),
                    {.proto = 6,
                     .payload_len = 18,
                     .tcp_flags = kAck | kPsh,
                     .tcp_seq = 1001,
                     .tcp_ack = 5001,
                     .tcp_mss = 0,
                     .tcp_wscale = 0xff,
                     .tcp_sack_permitted = false,
                     .tcp_has_timestamp = false}));
  c.push_back(Built("ipv4 udp dns query", V4().Udp(53000, 53).Payload("\x12\x34query"),
                    {.ip_version = 4,
                     .src = kA4,
                     .dst = kB4,
                     .proto = 17,
                     .sport = 53000,
                     .dport = 53,
                     .payload_len = 7}));
  c.push_back(Built(
      "ipv4 icmp echo request", V4().Icmpv4(8, 0, 0x00010001).Payload("ping"),
      {.proto = 1, .sport = 0, .dport = 0, .payload_len = 4, .icmp_type = 8, .icmp_code = 0}));
  c.push_back(Built("ipv6 tcp syn-ack", V6().Tcp(443, 40000, kSyn | kAck, 7, 1001),
                    {.ip_version = 6,
                     .src = kA6,
                     .dst = kB6,
                     .proto = 6,
                     .sport = 443,
                     .dport = 40000,
                     .ether_type = 0x86dd,
                     .payload_len = 0,
                     .tcp_flags = kSyn | kAck,
                     .ttl = 64}));
  c.push_back(
      Built("ipv6 udp", V6().Udp(5353, 5353).Payload("mdns"),
            {.ip_version = 6, .proto = 17, .sport = 5353, .dport = 5353, .payload_len = 4}));
  c.push_back(
      Built("ipv6 icmpv6 echo request", V6().Icmpv6(128, 0, 0x00020001).Payload("hi"),
            {.ip_version = 6, .proto = 58, .payload_len = 2, .icmp_type = 128, .icmp_code = 0}));
  c.push_back(Built(
      "802.1q tagged ipv4 udp", V4().Vlan(100).Udp(1, 2).Payload("x"),
      {.proto = 17, .vlans = std::vector<uint16_t>{100}, .ether_type = 0x0800, .payload_len = 1}));
  c.push_back(Built("qinq 0x88a8 + 0x8100 ipv4 tcp",
                    V4().Vlan(300, 5).Vlan(42).Tcp(1025, 445, kAck, 1, 1).Payload("smb"),
                    {.proto = 6,
                     .sport = 1025,
                     .dport = 445,
                     .vlans = std::vector<uint16_t>{300, 42},
                     .ether_type = 0x0800,
                     .payload_len = 3}));
  c.push_back(Built("qinq 0x9100 + 0x8100 ipv6 udp",
                    V6().VlanWithTpid(0x9100, 7).VlanWithTpid(0x8100, 4094).Udp(9, 9),
                    {.ip_version = 6,
                     .proto = 17,
                     .vlans = std::vector<uint16_t>{7, 4094},
                     .ether_type = 0x86dd,
                     .payload_len = 0}));
  c.push_back(
      Built("ipv4 options: nop, record route, eol",
            V4().Ipv4Options({1, 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}).Tcp(1, 2, kSyn, 0, 0),
            {.proto = 6, .sport = 1, .payload_len = 0, .ipv4_has_options = true}));
  c.push_back(Built("ipv4 option router alert (igmp-style)",
                    V4().Ipv4Options({148, 4, 0, 0}).Udp(7, 7).Payload("ra"),
                    {.proto = 17, .payload_len = 2, .ipv4_has_options = true}));
  c.push_back(Built("ipv4 option timestamp (ts only, empty)",
                    V4().Ipv4Options({68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0}).Udp(7, 7),
                    {.proto = 17, .ipv4_has_options = true}));
  c.push_back(Built("ipv6 hop-by-hop + dest opts + routing chain, udp",
                    V6().Ipv6ExtHeader(0, {})
                        .Ipv6ExtHeader(60, {1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
                        .Ipv6ExtHeader(43, {4, 0, 0, 0, 0, 0})
                        .Udp(1000, 2000)
                        .Payload("chain"),
                    {.ip_version = 6,
                     .proto = 17,
                     .sport = 1000,
                     .dport = 2000,
                     .l4_offset = 14 + 40 + 8 + 16 + 8,
                     .payload_len = 5}));
  c.push_back(Built("ipv6 authentication header, tcp",
                    V6().Ipv6ExtHeader(51, {0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd})
                        .Tcp(22, 50000, kAck, 9, 9),
                    {.ip_version = 6, .proto = 6, .sport = 22, .l4_offset = 14 + 40 + 16}));
  c.push_back(Built("ipv6 mobility header then udp", V6().Ipv6ExtHeader(135, {}).Udp(1, 1),
                    {.ip_version = 6, .proto = 17}));
  c.push_back(
      Built("ipv6 atomic fragment (offset 0, M=0) decodes on",
            V6().Ipv6Fragment(0, false, 0x1234).Tcp(80, 1024, kAck, 1, 1).Payload("a"),
            {.ip_version = 6, .proto = 6, .sport = 80, .payload_len = 1, .fragment = false}));
  c.push_back(Built("ethernet padding after a short tcp ack is not payload",
                    V4().Tcp(1, 2, kAck, 1, 1).PadTo(60),
                    {.proto = 6, .payload_offset = 54, .payload_len = 0}));
  c.push_back(Built("ethernet padding after a short udp datagram is not payload",
                    V4().Vlan(5).Udp(1, 2).Payload("abc").PadTo(64),
                    {.proto = 17, .payload_len = 3}));
  c.push_back(Built("trailer after ipv6 payload length is not payload",
                    V6().Icmpv6(129, 0).PadTo(100), {.proto = 58, .payload_len = 0}));
  c.push_back(Built("udp length shorter than the ip payload bounds the payload",
                    V4().Udp(1, 2).Payload("abcdef").OverrideUdpLength(10),
                    {.proto = 17, .payload_len = 2}));

  // ---- fragments: header decoded, transport left for defrag ----
  c.push_back(Built("ipv4 first fragment (MF, offset 0)",
                    V4().Ipv4Fragment(0, true, 77).Tcp(1, 2, kAck, 1, 1).Payload(Bytes(20, 1)),
                    {.layer = Layer::kL3Fragment,
                     .ip_version = 4,
                     .src = kA4,
                     .dst = kB4,
                     .proto = 6,
                     .sport = 0,
                     .l4_offset = 34,
                     .payload_len = 0,
                     .fragment = true}));
  c.push_back(Built("ipv4 middle fragment (MF, offset 1480)",
                    V4().Ipv4Fragment(1480, true, 77).IpProto(17).Payload(Bytes(64, 2)),
                    {.layer = Layer::kL3Fragment, .proto = 17, .l4_offset = 34, .fragment = true}));
  c.push_back(Built("ipv4 last fragment (offset 2960, no MF)",
                    V4().Ipv4Fragment(2960, false, 77).IpProto(17).Payload(Bytes(10, 3)),
                    {.layer = Layer::kL3Fragment, .proto = 17, .fragment = true}));
  c.push_back(
      Built("ipv6 first fragment after a hop-by-hop header",
            V6().Ipv6ExtHeader(0, {}).Ipv6Fragment(0, true, 99).Udp(1, 2).Payload(Bytes(8, 5)),
            {.layer = Layer::kL3Fragment,
             .ip_version = 6,
             .src = kA6,
             .dst = kB6,
             .proto = 17,
             .sport = 0,
             .l4_offset = 14 + 40 + 8 + 8,
             .fragment = true}));
  c.push_back(
      Built("ipv6 non-first fragment",
            V6().Ipv6Fragment(1232, false, 99).IpProto(6).Payload(Bytes(40, 4)),
            {.layer = Layer::kL3Fragment, .proto = 6, .l4_offset = 14 + 40 + 8, .fragment = true}));

  // ---- other IP protocols and non-IP ----
  c.push_back(Built(
      "ipv4 gre: an empty erspan type I frame", V4().IpProto(47).Payload(Bytes{0, 0, 0x88, 0xbe}),
      {.layer = Layer::kL3Other, .ip_version = 4, .src = kA4, .proto = 47, .l4_offset = 34},
      {InBad(Tunnel::kErspan1, DecodeEvent::kEthPktTooSmall)}));
  c.push_back(Built("ipv4 sctp", V4().IpProto(132).Payload(Bytes(12, 0)),
                    {.layer = Layer::kL3Other, .proto = 132}));
  c.push_back(
      Built("ipv6 esp ends the header chain",
            V6().Ipv6ExtHeader(60, {}).IpProto(50).Payload(Bytes(16, 9)),
            {.layer = Layer::kL3Other, .ip_version = 6, .proto = 50, .l4_offset = 14 + 40 + 8}));
  c.push_back(Built("ipv6 no next header", V6(),
                    {.layer = Layer::kL3Other, .ip_version = 6, .proto = 59, .l4_offset = 54}));
  c.push_back(Built("arp is not ip and not an event",
                    PacketBuilder().RawL3(0x0806, Bytes(28, 0)).PadTo(60),
                    {.layer = Layer::kNone,
                     .ip_version = 0,
                     .vlans = std::vector<uint16_t>{},
                     .ether_type = 0x0806}));
  c.push_back(Built("lldp behind a vlan tag", PacketBuilder().Vlan(9).RawL3(0x88cc, Bytes(20, 0)),
                    {.layer = Layer::kNone,
                     .ip_version = 0,
                     .vlans = std::vector<uint16_t>{9},
                     .ether_type = 0x88cc}));

  // ---- one or more cases per decoder event ----
  const Bytes tcp_frame = V4().Tcp(1, 2, kAck, 1, 1).Build();
  c.push_back({"frame shorter than ethernet",
               Truncated(tcp_frame, 13),
               {.layer = Layer::kNone, .event = DecodeEvent::kEthPktTooSmall}});
  c.push_back({"empty frame", {}, {.layer = Layer::kNone, .event = DecodeEvent::kEthPktTooSmall}});
  c.push_back({"vlan tag cut short",
               PacketBuilder().RawL3(0x8100, {0x00, 0x0a}).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kVlanHeaderTooSmall}});
  c.push_back(Built("three vlan tags (Suricata keeps three)",
                    V4().Vlan(1).Vlan(2).Vlan(3).Udp(1, 2),
                    {.proto = 17, .vlans = std::vector<uint16_t>{1, 2, 3}}));
  c.push_back({"four vlan tags",
               V4().Vlan(1).Vlan(2).Vlan(3).Vlan(4).Udp(1, 2).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kVlanTooManyLayers}});
  c.push_back({"ipv4 header cut short",
               PacketBuilder().RawL3(0x0800, Bytes(19, 0x45)).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv4PktTooSmall, .ip_version = 4}});
  c.push_back({"ipv4 ihl 4",
               V4().OverrideIpv4Ihl(4).Udp(1, 2).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv4HlenTooSmall}});
  c.push_back({"ipv4 total length below header length",
               V4().OverrideIpv4TotalLength(19).Udp(1, 2).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv4IplenSmallerThanHlen}});
  c.push_back({"ipv4 total length beyond the capture",
               V4().OverrideIpv4TotalLength(1500).Udp(1, 2).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv4TruncPkt}});
  c.push_back({"ipv4 datagram cut by the snaplen",
               Truncated(tcp_frame, 50),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv4TruncPkt}});
  c.push_back({"ipv4 header longer than the capture",
               Truncated(V4().Ipv4Options(Bytes(8, 1)).Udp(1, 2).Build(), 14 + 24),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv4TruncPkt}});
  c.push_back({"ipv6 header behind ipv4 ether type",
               V4().OverrideIpVersion(6).Udp(1, 2).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv4WrongIpVersion}});
  c.push_back({"ipv4 option length beyond the header",
               V4().Ipv4Options({148, 8, 0, 0}).Udp(1, 2).Build(),
               {.layer = Layer::kNone,
                .event = DecodeEvent::kIpv4OptInvalidLen,
                .ipv4_has_options = true}});
  c.push_back({"ipv4 option length 1",
               V4().Ipv4Options({131, 1, 0, 0}).Udp(1, 2).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv4OptInvalidLen}});
  c.push_back({"ipv4 security option too short for its level byte",
               V4().Ipv4Options({130, 2, 0, 0}).Udp(1, 2).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv4OptInvalidLen}});
  c.push_back({"ipv4 record route pointer not 4-aligned",
               V4().Ipv4Options({7, 7, 5, 0, 0, 0, 0, 0}).Udp(1, 2).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv4OptMalformed}});
  c.push_back({"ipv4 timestamp pointer below 5",
               V4().Ipv4Options({68, 8, 4, 0, 0, 0, 0, 0}).Udp(1, 2).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv4OptMalformed}});
  // Suricata keeps this packet (it only wants an EOL), so the event is noted, not fatal.
  c.push_back(Built("ipv4 multi-byte option type in the last header byte",
                    V4().Ipv4Options({1, 1, 1, 7}).Udp(1, 2),
                    {.event = DecodeEvent::kIpv4OptMalformed,
                     .proto = 17,
                     .sport = 1,
                     .l4_offset = 38,
                     .payload_offset = 46,
                     .payload_len = 0}));
  c.push_back({"ipv6 header cut short",
               PacketBuilder().RawL3(0x86dd, Bytes(39, 0x60)).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv6PktTooSmall, .ip_version = 6}});
  c.push_back({"ipv6 payload length beyond the capture",
               V6().Udp(1, 2).OverrideIpv6PayloadLength(9).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv6TruncPkt}});
  c.push_back({"ipv6 datagram cut by the snaplen",
               Truncated(V6().Tcp(1, 2, kAck, 1, 1).Build(), 70),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv6TruncPkt}});
  c.push_back({"ipv4 header behind ipv6 ether type",
               V6().OverrideIpVersion(4).Udp(1, 2).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv6WrongIpVersion}});
  c.push_back({"ipv6 extension header longer than the payload",
               V6().Ipv6ExtHeader(0, {}).Udp(1, 2).OverrideIpv6PayloadLength(4).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv6TruncExthdr}});
  c.push_back({"ipv6 extension header without its length byte",
               V6().Ipv6ExtHeader(60, {}).OverrideIpv6PayloadLength(1).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIpv6TruncExthdr}});
  {
    PacketBuilder b = V6();
    for (int i = 0; i < 9; ++i) b.Ipv6ExtHeader(60, {});
    c.push_back({"nine ipv6 extension headers",
                 b.Udp(1, 2).Build(),
                 {.layer = Layer::kNone, .event = DecodeEvent::kIpv6ExthdrTooMany}});
    PacketBuilder ok = V6();
    for (int i = 0; i < 8; ++i) ok.Ipv6ExtHeader(60, {});
    c.push_back(Built("eight ipv6 extension headers are allowed", ok.Udp(1, 2),
                      {.proto = 17, .l4_offset = 14 + 40 + 64}));
  }
  c.push_back({"tcp segment shorter than a tcp header",
               V4().IpProto(6).Payload(Bytes(19, 0)).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kTcpPktTooSmall, .proto = 6}});
  c.push_back({"tcp data offset beyond the segment",
               V4().Tcp(1, 2, kAck, 1, 1).OverrideTcpDataOffset(6).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kTcpHlenTooSmall}});
  c.push_back({"tcp data offset below 5 words",
               V6().Tcp(1, 2, kAck, 1, 1).OverrideTcpDataOffset(4).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kTcpInvalidOptlen}});
  c.push_back(Built("tcp mss option with length 3 (noted, segment kept)",
                    V4().Tcp(1, 2, kSyn, 1, 0).TcpOptions({2, 3, 5, 1, 3, 3, 2}),
                    {.event = DecodeEvent::kTcpOptInvalidLen,
                     .proto = 6,
                     .tcp_flags = kSyn,
                     .tcp_mss = 0,
                     .tcp_wscale = 2}));
  c.push_back(Built("tcp option length past the options (walk stops)",
                    V4().Tcp(1, 2, kSyn, 1, 0).TcpOptions({2, 4, 5, 0xb4, 8, 10, 0, 0}),
                    {.event = DecodeEvent::kTcpOptInvalidLen,
                     .proto = 6,
                     .tcp_mss = 1460,
                     .tcp_has_timestamp = false}));
  c.push_back(Built("tcp option length 0", V6().Tcp(1, 2, kSyn, 1, 0).TcpOptions({30, 0}),
                    {.event = DecodeEvent::kTcpOptInvalidLen, .proto = 6}));
  c.push_back({"udp length beyond the ip payload",
               V4().Udp(1, 2).Payload("abc").OverrideUdpLength(12).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kUdpPktTooSmall}});
  c.push_back({"udp datagram shorter than a udp header",
               V6().IpProto(17).Payload(Bytes(7, 0)).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kUdpHlenTooSmall}});
  c.push_back({"udp length below 8",
               V4().Udp(1, 2).Payload("abc").OverrideUdpLength(7).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kUdpHlenInvalid}});
  c.push_back({"icmpv4 shorter than its header",
               V4().IpProto(1).Payload(Bytes(7, 8)).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIcmpv4PktTooSmall, .proto = 1}});
  c.push_back({"icmpv6 shorter than its header",
               V6().IpProto(58).Payload(Bytes(4, 128)).Build(),
               {.layer = Layer::kNone, .event = DecodeEvent::kIcmpv6PktTooSmall}});
  c.push_back({"icmpv4 inside ipv6",
               V6().Icmpv4(8, 0).Build(),
               {.layer = Layer::kNone,
                .event = DecodeEvent::kIpv6WithIcmpv4,
                .ip_version = 6,
                .src = kA6,
                .proto = 1}});
  c.push_back({"icmpv6 inside ipv4",
               V4().Icmpv6(128, 0).Build(),
               {.layer = Layer::kNone,
                .event = DecodeEvent::kIpv4WithIcmpv6,
                .ip_version = 4,
                .src = kA4,
                .proto = 58}});
  AddTunnelCases(c);
  AddIcmpErrorCases(c);
  return c;
}

class DecodeTable : public testing::TestWithParam<Case> {};

std::string Hex(const Bytes& b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (uint8_t v : b) {
    s += kHex[v >> 4];
    s += kHex[v & 15];
  }
  return s;
}

// Checks one optional expectation against the decoded field of the same name.
#define EXPECT_FIELD(f)           \
  do {                            \
    if (w.f) {                    \
      EXPECT_EQ(p.f, *w.f) << #f; \
    }                             \
  } while (0)

// Everything a decoded packet (frame or inner packet) must satisfy against its expectation. All
// its pointers must stay inside the frame it was decoded from.
void CheckPacket(const Packet& p, const Expect& w, const Bytes& frame) {
  EXPECT_EQ(DecodeEventName(p.event), std::string(DecodeEventName(w.event)));
  EXPECT_EQ(int(p.layer), int(w.layer));
  EXPECT_EQ(p.ts_us, 123u);
  EXPECT_FIELD(ip_version);
  if (!w.src.empty()) {
    EXPECT_EQ(p.src.ToString(), w.src);
  }
  if (!w.dst.empty()) {
    EXPECT_EQ(p.dst.ToString(), w.dst);
  }
  EXPECT_FIELD(proto);
  EXPECT_FIELD(sport);
  EXPECT_FIELD(dport);
  if (w.vlans) {
    ASSERT_EQ(p.vlan_count, w.vlans->size());
    for (size_t i = 0; i < w.vlans->size(); ++i) EXPECT_EQ(p.vlan_id[i], (*w.vlans)[i]);
  }
  EXPECT_FIELD(ether_type);
  EXPECT_FIELD(l4_offset);
  EXPECT_FIELD(payload_offset);
  EXPECT_FIELD(payload_len);
  EXPECT_FIELD(tcp_flags);
  EXPECT_FIELD(tcp_seq);
  EXPECT_FIELD(tcp_ack);
  EXPECT_FIELD(tcp_mss);
  EXPECT_FIELD(tcp_wscale);
  EXPECT_FIELD(tcp_sack_permitted);
  EXPECT_FIELD(tcp_has_timestamp);
  EXPECT_FIELD(icmp_type);
  EXPECT_FIELD(icmp_code);
  EXPECT_FIELD(fragment);
  EXPECT_FIELD(ipv4_has_options);
  EXPECT_FIELD(ttl);
  EXPECT_FIELD(depth);
  EXPECT_FIELD(caplen);
  EXPECT_FIELD(invalid);
  if (w.tunnel) {
    EXPECT_EQ(TunnelName(p.tunnel), std::string(TunnelName(*w.tunnel)));
  }
  if (w.carried_by) {
    EXPECT_EQ(TunnelName(p.carried_by), std::string(TunnelName(*w.carried_by)));
  }
  if (w.inner_kind) {
    EXPECT_EQ(int(p.inner_kind), int(*w.inner_kind));
  }
  EXPECT_FIELD(inner_offset);
  EXPECT_FIELD(inner_len);
  EXPECT_FIELD(icmp_error_embedded);
  EXPECT_FIELD(emb_ports);
  EXPECT_FIELD(emb_l4_complete);
  if (!w.emb_src.empty()) {
    EXPECT_EQ(p.emb_src.ToString(), w.emb_src);
  }
  if (!w.emb_dst.empty()) {
    EXPECT_EQ(p.emb_dst.ToString(), w.emb_dst);
  }
  EXPECT_FIELD(emb_proto);
  EXPECT_FIELD(emb_ip_hlen);
  EXPECT_FIELD(emb_sport);
  EXPECT_FIELD(emb_dport);
  EXPECT_FIELD(esp_spi);
  // Bounds, whatever the packet: its bytes lie in the frame, and so do its parts.
  EXPECT_GE(p.data, frame.data());
  EXPECT_LE(p.data + p.caplen, frame.data() + frame.size());
  EXPECT_LE(uint32_t(p.payload_offset) + p.payload_len, p.caplen);
  if (p.inner_kind != InnerKind::kNone) {
    EXPECT_LE(uint32_t(p.inner_offset) + p.inner_len, p.caplen);
  }
  if (p.layer == Layer::kL4) {
    EXPECT_EQ(p.payload(), p.data + p.payload_offset);
  }
}

// The frame and every packet DecodeInner() finds in it, as the worker decodes them.
std::vector<Packet> DecodeChain(const Bytes& frame, uint32_t wirelen, uint64_t ts) {
  std::vector<Packet> chain(1);
  Decode(frame.data(), uint32_t(frame.size()), wirelen, ts, &chain[0]);
  while (chain.back().inner_kind != InnerKind::kNone && chain.size() < kMaxTunnelDepth + 2u) {
    Packet inner;
    const DecodeEvent ev = DecodeInner(chain.back(), &inner);
    EXPECT_EQ(ev, inner.event);
    if (inner.depth == 0) break;
    EXPECT_EQ(inner.depth, chain.back().depth + 1);
    chain.push_back(inner);
  }
  return chain;
}

TEST_P(DecodeTable, DecodesAsExpected) {
  const Case& tc = GetParam();
  SCOPED_TRACE(tc.name + " frame=" + Hex(tc.frame));
  // Decode from an exactly-sized heap copy so ASan sees any read past the capture.
  const Bytes frame = tc.frame;
  Packet p;
  const DecodeEvent ret =
      Decode(frame.data(), uint32_t(frame.size()), uint32_t(frame.size()), 123, &p);
  EXPECT_EQ(ret, p.event);
  EXPECT_EQ(p.caplen, frame.size());
  EXPECT_EQ(p.depth, 0);
  CheckPacket(p, tc.want, frame);

  const std::vector<Packet> chain = DecodeChain(frame, uint32_t(frame.size()), 123);
  ASSERT_EQ(chain.size() - 1, tc.inners.size()) << "inner packets";
  for (size_t i = 0; i < tc.inners.size(); ++i) {
    SCOPED_TRACE("inner packet at depth " + std::to_string(i + 1));
    CheckPacket(chain[i + 1], tc.inners[i], frame);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, DecodeTable, testing::ValuesIn(Cases()),
                         [](const testing::TestParamInfo<Case>& info) {
                           std::string n = info.param.name;
                           for (char& ch : n) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return std::to_string(info.index) + "_" + n;
                         });

TEST(DecodeTableCoverage, EveryEventHasACase) {
  std::set<int> seen;
  for (const Case& tc : Cases()) {
    seen.insert(int(tc.want.event));
    for (const Expect& in : tc.inners) seen.insert(int(in.event));
  }
  // Raised by IP fragment reassembly, not by Decode(): covered by defrag_test.cc.
  for (DecodeEvent e : {DecodeEvent::kIpv4FragPktTooLarge, DecodeEvent::kIpv6FragPktTooLarge,
                        DecodeEvent::kIpv4FragOverlap, DecodeEvent::kIpv6FragOverlap,
                        DecodeEvent::kIpv4FragIgnored, DecodeEvent::kIpv6FragIgnored,
                        DecodeEvent::kIpv4FragTooMany, DecodeEvent::kIpv6FragTooMany}) {
    seen.insert(int(e));
  }
  for (int e = 1; e < kDecodeEventCount; ++e) {
    EXPECT_TRUE(seen.count(e)) << "no case produces " << DecodeEventName(DecodeEvent(e));
  }
}

TEST(DecodeEventName, EveryValueHasADistinctName) {
  std::set<std::string> names;
  for (int e = 0; e < kDecodeEventCount; ++e) {
    const std::string n = DecodeEventName(DecodeEvent(e));
    EXPECT_FALSE(n.empty()) << e;
    EXPECT_NE(n, "unknown") << e;
    EXPECT_TRUE(names.insert(n).second) << "duplicate name " << n;
  }
  EXPECT_EQ(std::string(DecodeEventName(DecodeEvent::kNone)), "none");
  EXPECT_EQ(std::string(DecodeEventName(DecodeEvent::kIpv4TruncPkt)), "ipv4.trunc_pkt");
}

// Every prefix of a valid datagram is a truncated capture: it must decode without touching
// bytes past the prefix and must never pass as a complete transport packet.
TEST(DecodeSweep, EveryTruncationOfAValidPacketIsRejectedOrNotL4) {
  int swept = 0;
  for (const Case& tc : Cases()) {
    if (tc.want.layer != Layer::kL4 || tc.want.event != DecodeEvent::kNone) continue;
    Packet full;
    Decode(tc.frame.data(), uint32_t(tc.frame.size()), 0, 0, &full);
    ASSERT_EQ(full.layer, Layer::kL4) << tc.name;
    // Past the end of the transport data only Ethernet padding (or bytes outside the UDP
    // length) remain, whose loss does not change the packet.
    const size_t end = size_t(full.payload_offset) + full.payload_len;
    for (size_t n = 0; n < end; ++n) {
      const Bytes cut(tc.frame.begin(), tc.frame.begin() + long(n));
      Packet p;
      Decode(cut.data(), uint32_t(n), uint32_t(tc.frame.size()), 0, &p);
      EXPECT_TRUE(p.event != DecodeEvent::kNone || p.layer != Layer::kL4)
          << tc.name << " truncated to " << n << " bytes decoded as a full packet";
    }
    ++swept;
  }
  EXPECT_GT(swept, 20);
}

// Deterministic byte mutations of every case: the decoder, down every tunnel layer, must stay
// inside the capture (ASan) and whatever it reports must point inside it.
TEST(DecodeSweep, MutatedBytesStayInBounds) {
  uint32_t rng = 12345;
  auto next = [&rng] {
    rng = rng * 1103515245u + 12345u;
    return uint8_t(rng >> 16);
  };
  for (const Case& tc : Cases()) {
    for (size_t i = 0; i < tc.frame.size(); ++i) {
      for (uint8_t v : {uint8_t(0x00), uint8_t(0xff), next()}) {
        Bytes m = tc.frame;
        m[i] = v;
        for (const Packet& p : DecodeChain(m, uint32_t(m.size()), 0)) {
          ASSERT_GE(p.data, m.data()) << tc.name << " @" << i;
          ASSERT_LE(p.data + p.caplen, m.data() + m.size()) << tc.name << " @" << i;
          ASSERT_LE(uint32_t(p.payload_offset) + p.payload_len, p.caplen) << tc.name << " @" << i;
          if (p.layer != Layer::kNone) {
            ASSERT_LE(p.l4_offset, p.caplen) << tc.name << " @" << i;
          }
          if (p.inner_kind != InnerKind::kNone) {
            ASSERT_LE(uint32_t(p.inner_offset) + p.inner_len, p.caplen) << tc.name << " @" << i;
          }
          ASSERT_LE(p.depth, kMaxTunnelDepth + 1) << tc.name << " @" << i;
        }
      }
    }
  }
}

// Every tunnel carrying every prefix of a valid packet (the outer packets stay valid, so only the
// carried bytes are short): decoding stays inside them (ASan) and a cut packet never passes as a
// complete transport packet. The same for ICMP errors quoting every prefix of a datagram.
TEST(DecodeSweep, TunneledPacketCutAtEveryLength) {
  const Bytes frame4 = InnerUdp4().Build();
  const Bytes frame6 = InnerTcp6().Vlan(3).Build();
  struct Carrier {
    const char* name;
    Bytes full;                               // what a whole carried packet looks like
    size_t keep;                              // leading bytes never cut (tunnel headers)
    std::function<Bytes(const Bytes&)> wrap;  // builds the frame around the (cut) bytes
  };
  const std::vector<Carrier> carriers = {
      {"gre/ipv4", kUdp4, 0,
       [](const Bytes& b) { return GreOver4(PB::Gre(0x0800, b, 1, 2)).Build(); }},
      {"gre/ipv6", kTcp6, 0, [](const Bytes& b) { return GreOver4(PB::Gre(0x86dd, b)).Build(); }},
      {"gre/teb", frame4, 0, [](const Bytes& b) { return GreOver4(PB::Gre(0x6558, b)).Build(); }},
      {"erspan1", frame6, 0, [](const Bytes& b) { return GreOver4(PB::Gre(0x88be, b)).Build(); }},
      {"erspan2", PB::ErspanII(9, 1, frame6), 0,
       [](const Bytes& b) { return GreOver4(PB::Gre(0x88be, b, {}, 5)).Build(); }},
      {"pptp", Cat({0xff, 0x03, 0x00, 0x21}, kUdp4), 0,
       [](const Bytes& b) { return GreOver4(PB::GrePptp(1, b)).Build(); }},
      {"6in4", kTcp6, 0, [](const Bytes& b) { return V4().IpProto(41).Payload(b).Build(); }},
      {"6in6", kTcp6, 40, [](const Bytes& b) { return V6().IpProto(41).Payload(b).Build(); }},
      {"4in6", kUdp4, 20, [](const Bytes& b) { return V6().IpProto(4).Payload(b).Build(); }},
      {"vxlan", PB::Vxlan(5, frame6), 22,
       [](const Bytes& b) { return V4().Udp(1, 4789).Payload(b).Build(); }},
      {"geneve", PB::Geneve(0x6558, 5, frame4, {0, 1, 2, 1, 9, 9, 9, 9}), 16,
       [](const Bytes& b) { return V6().Udp(6081, 1).Payload(b).Build(); }},
      {"teredo", kTcp6, 40, [](const Bytes& b) { return V4().Udp(3544, 1).Payload(b).Build(); }},
      {"icmpv4 error", kUdp4, 0,
       [](const Bytes& b) { return V4().Icmpv4(3, 3).Payload(b).Build(); }},
      {"icmpv6 error", kTcp6, 0,
       [](const Bytes& b) { return V6().Icmpv6(1, 4).Payload(b).Build(); }},
  };
  for (const Carrier& c : carriers) {
    SCOPED_TRACE(c.name);
    // The whole packet decodes completely at the last layer.
    const std::vector<Packet> whole = DecodeChain(c.wrap(c.full), 0, 0);
    const bool icmp = std::string(c.name).rfind("icmp", 0) == 0;
    ASSERT_EQ(whole.size(), icmp ? 1u : 2u);
    EXPECT_EQ(whole.back().layer, Layer::kL4);
    EXPECT_EQ(whole.back().event, DecodeEvent::kNone);
    if (icmp) {
      EXPECT_TRUE(whole[0].emb_l4_complete);
    }
    for (size_t n = c.keep; n < c.full.size(); ++n) {
      const Bytes frame = c.wrap(Bytes(c.full.begin(), c.full.begin() + long(n)));
      const std::vector<Packet> chain = DecodeChain(frame, 0, 0);
      if (!icmp) {
        EXPECT_EQ(chain[0].event, DecodeEvent::kNone) << n;
      }
      if (icmp) {
        // A short quote loses only what it does not contain; shorter than an IP header it is
        // flagged (except an empty ICMPv4 unreachable, which quotes nothing).
        const bool v4 = chain[0].ip_version == 4;
        const size_t ip = v4 ? 20 : 40, l4 = v4 ? 8 : 20;
        const bool flagged = n < ip && (n > 0 || !v4);
        EXPECT_EQ(chain[0].event != DecodeEvent::kNone, flagged) << n;
        EXPECT_EQ(chain[0].icmp_error_embedded, n >= ip) << n;
        EXPECT_EQ(chain[0].emb_ports, n >= ip + 4) << n;
        EXPECT_EQ(chain[0].emb_l4_complete, n >= ip + l4) << n;
        EXPECT_EQ(chain[0].layer, Layer::kL4) << n;
        continue;
      }
      for (size_t i = 1; i < chain.size(); ++i) {
        const Packet& p = chain[i];
        EXPECT_TRUE(p.event != DecodeEvent::kNone || p.layer != Layer::kL4)
            << n << " bytes decoded as a complete packet at depth " << i;
        EXPECT_LE(p.data + p.caplen, frame.data() + frame.size());
      }
    }
  }
}

TEST(DecodeInner, WithoutInnerResetsToNoPacket) {
  const Bytes f = V4().Udp(1, 2).Build();
  Packet outer, inner;
  Decode(f.data(), uint32_t(f.size()), 0, 5, &outer);
  inner.depth = 3;
  inner.layer = Layer::kL4;
  EXPECT_EQ(DecodeInner(outer, &inner), DecodeEvent::kNone);
  EXPECT_EQ(inner.depth, 0);
  EXPECT_EQ(inner.layer, Layer::kNone);
  EXPECT_EQ(inner.data, nullptr);
}

TEST(DecodeInner, KeepsTimeAndNothingElseFromTheOuterPacket) {
  const Bytes f =
      V4().Vlan(7).Ipv4Options({148, 4, 0, 0}).IpProto(47).Payload(PB::Gre(0x0800, kUdp4)).Build();
  Packet outer, inner;
  Decode(f.data(), uint32_t(f.size()), 9000, 777, &outer);
  ASSERT_EQ(outer.inner_kind, InnerKind::kIpv4);
  DecodeInner(outer, &inner);
  EXPECT_EQ(inner.ts_us, 777u);
  EXPECT_EQ(inner.data, f.data() + outer.inner_offset);
  EXPECT_EQ(inner.caplen, kUdp4.size());
  EXPECT_EQ(inner.wirelen, kUdp4.size());
  EXPECT_EQ(inner.vlan_count, 0);
  EXPECT_FALSE(inner.ipv4_has_options);
  EXPECT_EQ(inner.ttl, 64);
  EXPECT_EQ(inner.depth, 1);
  EXPECT_EQ(inner.carried_by, Tunnel::kGre);
  EXPECT_EQ(inner.tunnel, Tunnel::kNone);
}

TEST(DecodeCounters, CountsTunnelsAndInnerPackets) {
  DecodeCounters n;
  const std::vector<Bytes> frames = {
      GreOver4(PB::Gre(0x0800, kUdp4)).Build(),
      GreOver4(PB::Gre(0x88be, PB::ErspanII(1, 1, InnerUdp4().Build()), {}, 1)).Build(),
      V4().Udp(1, 4789).Payload(PB::Vxlan(1, PB().RawL3(0x0806, Bytes(28, 0)).Build())).Build(),
      V4().IpProto(4).Payload(kUdp4).Build(),
      V4().Udp(3544, 1)
          .Payload(PB().Ipv6(kInA6, kInB6).Udp(1, 2).OverrideUdpLength(4).BuildL3())
          .Build(),
  };
  uint64_t bytes = 0;
  for (const Bytes& f : frames) {
    for (const Packet& p : DecodeChain(f, 0, 0)) n.Count(p);
    bytes += f.size();
  }
  EXPECT_EQ(n.packets, frames.size());
  EXPECT_EQ(n.bytes, bytes);  // inner bytes are inside the frames: not counted again
  EXPECT_EQ(n.tunneled, 2u);
  EXPECT_EQ(n.tunnels[int(Tunnel::kGre)], 1u);
  EXPECT_EQ(n.tunnels[int(Tunnel::kErspan2)], 1u);
  EXPECT_EQ(n.tunnels[int(Tunnel::kVxlan)], 1u);  // ARP: nothing decoded, still VXLAN
  EXPECT_EQ(n.tunnels[int(Tunnel::kIpip)], 1u);
  EXPECT_EQ(n.tunnels[int(Tunnel::kTeredo)], 0u);  // the guess did not hold
  EXPECT_EQ(n.udp, 4u);                            // inner GRE/ERSPAN UDP, VXLAN, Teredo outers
  EXPECT_EQ(n.ipv4, 7u);                           // five frames, two inner packets
  EXPECT_EQ(n.ipv6, 0u);
}

TEST(TunnelName, EveryValueHasADistinctName) {
  std::set<std::string> names;
  for (int t = 0; t < kTunnelCount; ++t) {
    const std::string name = TunnelName(Tunnel(t));
    EXPECT_NE(name, "unknown") << t;
    EXPECT_TRUE(names.insert(name).second) << name;
  }
}

TEST(Decode, ResetsEveryFieldBetweenPackets) {
  const Bytes rich = V4().Vlan(10)
                         .Vlan(20)
                         .Ipv4Options({148, 4, 0, 0})
                         .Tcp(1, 2, kSyn, 3, 4)
                         .TcpOptions(kSynOptions)
                         .Payload("data")
                         .Build();
  const Bytes arp = PacketBuilder().RawL3(0x0806, Bytes(28, 0)).Build();
  const Bytes tunneled =
      V4().Vlan(1).Vlan(2).Vlan(3).IpProto(47).Payload(PB::Gre(0x0800, kUdp4)).Build();
  const Bytes error = V4().Icmpv4(3, 3).Payload(kUdp4).Build();
  const Bytes esp = V4().IpProto(50).Payload(Bytes(8, 0xee)).Build();
  Packet p;
  Decode(tunneled.data(), uint32_t(tunneled.size()), 0, 1, &p);
  ASSERT_EQ(p.inner_kind, InnerKind::kIpv4);
  Decode(error.data(), uint32_t(error.size()), 0, 1, &p);
  ASSERT_TRUE(p.icmp_error_embedded);
  Decode(esp.data(), uint32_t(esp.size()), 0, 1, &p);
  ASSERT_EQ(p.esp_spi, 0xeeeeeeeeu);
  Decode(rich.data(), uint32_t(rich.size()), uint32_t(rich.size()), 1, &p);
  ASSERT_EQ(p.layer, Layer::kL4);
  ASSERT_EQ(p.tunnel, Tunnel::kNone);
  ASSERT_FALSE(p.icmp_error_embedded);
  ASSERT_EQ(p.esp_spi, 0u);
  p.invalid = true;
  p.depth = 2;
  p.inner_kind = InnerKind::kVlan;
  p.emb_ports = true;
  Decode(arp.data(), uint32_t(arp.size()), uint32_t(arp.size()), 2, &p);
  EXPECT_EQ(p.data, arp.data());
  EXPECT_EQ(p.ts_us, 2u);
  EXPECT_EQ(p.layer, Layer::kNone);
  EXPECT_EQ(p.event, DecodeEvent::kNone);
  EXPECT_EQ(p.ip_version, 0);
  EXPECT_EQ(p.src, IpAddr{});
  EXPECT_EQ(p.dst, IpAddr{});
  EXPECT_EQ(p.sport, 0);
  EXPECT_EQ(p.tcp_flags, 0);
  EXPECT_EQ(p.ttl, 0);
  EXPECT_EQ(p.l3_offset, 0);
  EXPECT_EQ(p.l4_offset, 0);
  EXPECT_EQ(p.payload_offset, 0);
  EXPECT_EQ(p.vlan_count, 0);
  EXPECT_EQ(p.vlan_id[0], 0);
  EXPECT_EQ(p.tcp_mss, 0);
  EXPECT_EQ(p.tcp_wscale, 0xff);
  EXPECT_FALSE(p.tcp_sack_permitted);
  EXPECT_FALSE(p.ipv4_has_options);
  EXPECT_EQ(p.payload_len, 0);
  EXPECT_EQ(p.proto, 0);
  EXPECT_EQ(p.ether_type, 0x0806);
  EXPECT_FALSE(p.invalid);
  EXPECT_EQ(p.depth, 0);
  EXPECT_EQ(p.tunnel, Tunnel::kNone);
  EXPECT_EQ(p.carried_by, Tunnel::kNone);
  EXPECT_EQ(p.inner_kind, InnerKind::kNone);
  EXPECT_EQ(p.inner_offset, 0);
  EXPECT_EQ(p.inner_len, 0);
  EXPECT_FALSE(p.icmp_error_embedded);
  EXPECT_FALSE(p.emb_ports);
  EXPECT_EQ(p.emb_src, IpAddr{});
  EXPECT_EQ(p.emb_sport, 0);
  EXPECT_EQ(p.vlan_id[2], 0);
}

TEST(Decode, WireLengthNeverBelowCaptureLength) {
  const Bytes f = V4().Udp(1, 2).Build();
  Packet p;
  Decode(f.data(), uint32_t(f.size()), 0, 0, &p);
  EXPECT_EQ(p.wirelen, f.size());
  Decode(f.data(), uint32_t(f.size()), 9000, 0, &p);
  EXPECT_EQ(p.wirelen, 9000u);
}

TEST(DecodeCounters, CountsLayersProtocolsAndEvents) {
  DecodeCounters n;
  uint64_t bytes = 0;
  for (const Case& tc : Cases()) {
    Packet p;
    Decode(tc.frame.data(), uint32_t(tc.frame.size()), 0, 0, &p);
    n.Count(p);
    bytes += tc.frame.size();
  }
  uint64_t want_tcp = 0, want_udp = 0, want_icmp = 0, want_other = 0, want_v4 = 0, want_v6 = 0,
           want_non_ip = 0, want_frag = 0, want_events[kDecodeEventCount] = {};
  for (const Case& tc : Cases()) {
    const Expect& w = tc.want;
    Packet p;  // protocol and IP version come from the decoder; the table is checked above
    Decode(tc.frame.data(), uint32_t(tc.frame.size()), 0, 0, &p);
    if (w.layer == Layer::kL4) {
      want_tcp += p.proto == 6;
      want_udp += p.proto == 17;
      want_icmp += p.proto == 1 || p.proto == 58;
    }
    want_other += w.layer == Layer::kL3Other;
    want_frag += w.layer == Layer::kL3Fragment;
    want_v4 += p.ip_version == 4;
    want_v6 += p.ip_version == 6;
    want_non_ip += p.ip_version == 0 && w.event == DecodeEvent::kNone;
    if (w.event != DecodeEvent::kNone) ++want_events[int(w.event)];
  }
  EXPECT_EQ(n.packets, Cases().size());
  EXPECT_EQ(n.bytes, bytes);
  EXPECT_EQ(n.tcp, want_tcp);
  EXPECT_EQ(n.udp, want_udp);
  EXPECT_EQ(n.icmp, want_icmp);
  EXPECT_EQ(n.other_l3, want_other);
  EXPECT_EQ(n.fragments, want_frag);
  EXPECT_EQ(n.ipv4, want_v4);
  EXPECT_EQ(n.ipv6, want_v6);
  EXPECT_EQ(n.non_ip, 2u);  // the ARP and LLDP cases
  EXPECT_EQ(n.non_ip, want_non_ip);
  EXPECT_EQ(n.events[0], 0u);  // kNone is not an event
  for (int e = 1; e < kDecodeEventCount; ++e) {
    EXPECT_EQ(n.events[e], want_events[e]) << DecodeEventName(DecodeEvent(e));
  }
  EXPECT_GT(n.tcp, 5u);
  EXPECT_GT(n.udp, 5u);
  EXPECT_GT(n.fragments, 4u);
}

}  // namespace
}  // namespace fs::decode
