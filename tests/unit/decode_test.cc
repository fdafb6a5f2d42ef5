// Decoder tests: one table of {description, frame, expected layer/event/fields}. Frames come
// from PacketBuilder (raw bytes only where the builder cannot express the case). Run under
// ASan+UBSan in the debug preset, so the truncation and mutation sweeps also prove that
// Decode() never reads outside the captured bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
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
};

struct Case {
  std::string name;
  Bytes frame;
  Expect want;
};

// Fills the offsets the builder knows, unless the case set them.
Case Built(std::string name, const PacketBuilder& b, Expect want) {
  if (want.layer == Layer::kL4 && want.event == DecodeEvent::kNone) {
    if (!want.l4_offset) want.l4_offset = uint32_t(b.L4Offset());
    if (!want.payload_offset) want.payload_offset = uint32_t(b.PayloadOffset());
  }
  return {std::move(name), b.Build(), std::move(want)};
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
  c.push_back(
      Built("ipv4 gre", V4().IpProto(47).Payload(Bytes{0, 0, 0x88, 0xbe}),
            {.layer = Layer::kL3Other, .ip_version = 4, .src = kA4, .proto = 47, .l4_offset = 34}));
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
  c.push_back({"three vlan tags",
               V4().Vlan(1).Vlan(2).Vlan(3).Udp(1, 2).Build(),
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

TEST_P(DecodeTable, DecodesAsExpected) {
  const Case& tc = GetParam();
  SCOPED_TRACE(tc.name + " frame=" + Hex(tc.frame));
  // Decode from an exactly-sized heap copy so ASan sees any read past the capture.
  const Bytes frame = tc.frame;
  Packet p;
  const DecodeEvent ret =
      Decode(frame.data(), uint32_t(frame.size()), uint32_t(frame.size()), 123, &p);
  const Expect& w = tc.want;
  EXPECT_EQ(ret, p.event);
  EXPECT_EQ(DecodeEventName(p.event), std::string(DecodeEventName(w.event)));
  EXPECT_EQ(int(p.layer), int(w.layer));
  EXPECT_EQ(p.caplen, frame.size());
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
  if (p.layer == Layer::kL4) {
    EXPECT_LE(uint32_t(p.payload_offset) + p.payload_len, p.caplen);
    EXPECT_EQ(p.payload(), frame.data() + p.payload_offset);
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
  for (const Case& tc : Cases()) seen.insert(int(tc.want.event));
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

// Deterministic byte mutations of every case: the decoder must stay inside the capture (ASan)
// and whatever it reports must point inside it.
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
        Packet p;
        Decode(m.data(), uint32_t(m.size()), uint32_t(m.size()), 0, &p);
        ASSERT_LE(uint32_t(p.payload_offset) + p.payload_len, p.caplen) << tc.name << " @" << i;
        if (p.layer != Layer::kNone) {
          ASSERT_LE(p.l4_offset, p.caplen) << tc.name << " @" << i;
        }
      }
    }
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
  Packet p;
  Decode(rich.data(), uint32_t(rich.size()), uint32_t(rich.size()), 1, &p);
  ASSERT_EQ(p.layer, Layer::kL4);
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
