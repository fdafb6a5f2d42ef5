// The decoded view of one packet: offsets and fields the later stages need, pointing into the
// packet buffer (which the caller keeps alive). Filled by Decode() on a worker lcore; plain data,
// no ownership, no allocation.
#pragma once

#include <cstdint>

#include "dataplane/common/ip_addr.h"

namespace fs::decode {

// Every malformed or unusual case the decoder meets is one named, counted event. Names follow
// Suricata's decoder events (src/decode-events.c) where Suricata has one, so operators can
// compare. The X-macro keeps the enum and its names in one place.
#define FS_DECODE_EVENTS(X)                                    \
  X(kEthPktTooSmall, "ethernet.pkt_too_small")                 \
  X(kVlanHeaderTooSmall, "vlan.header_too_small")              \
  X(kVlanTooManyLayers, "vlan.too_many_layers")                \
  X(kIpv4PktTooSmall, "ipv4.pkt_too_small")                    \
  X(kIpv4HlenTooSmall, "ipv4.hlen_too_small")                  \
  X(kIpv4IplenSmallerThanHlen, "ipv4.iplen_smaller_than_hlen") \
  X(kIpv4TruncPkt, "ipv4.trunc_pkt")                           \
  X(kIpv4WrongIpVersion, "ipv4.wrong_ip_version")              \
  X(kIpv4OptInvalidLen, "ipv4.opt_invalid_len")                \
  X(kIpv4OptMalformed, "ipv4.opt_malformed")                   \
  X(kIpv6PktTooSmall, "ipv6.pkt_too_small")                    \
  X(kIpv6TruncPkt, "ipv6.trunc_pkt")                           \
  X(kIpv6WrongIpVersion, "ipv6.wrong_ip_version")              \
  X(kIpv6TruncExthdr, "ipv6.trunc_exthdr")                     \
  X(kIpv6ExthdrTooMany, "ipv6.exthdr_too_many")                \
  X(kTcpPktTooSmall, "tcp.pkt_too_small")                      \
  X(kTcpHlenTooSmall, "tcp.hlen_too_small")                    \
  X(kTcpInvalidOptlen, "tcp.invalid_optlen")                   \
  X(kTcpOptInvalidLen, "tcp.opt_invalid_len")                  \
  X(kUdpPktTooSmall, "udp.pkt_too_small")                      \
  X(kUdpHlenTooSmall, "udp.hlen_too_small")                    \
  X(kUdpHlenInvalid, "udp.hlen_invalid")                       \
  X(kIcmpv4PktTooSmall, "icmpv4.pkt_too_small")                \
  X(kIcmpv6PktTooSmall, "icmpv6.pkt_too_small")                \
  X(kIpv6WithIcmpv4, "ipv6.icmpv4")                            \
  X(kIpv4WithIcmpv6, "icmpv6.ipv4")

enum class DecodeEvent : uint8_t {
  kNone = 0,
#define FS_X(id, name) id,
  FS_DECODE_EVENTS(FS_X)
#undef FS_X
      kCount
};

inline constexpr int kDecodeEventCount = static_cast<int>(DecodeEvent::kCount);

// "ipv4.trunc_pkt" etc.; "none" for kNone.
const char* DecodeEventName(DecodeEvent e);

// How far decoding got. A packet is flow-tracked only with kL4 (TCP/UDP/ICMP fully valid) or
// kL3Other (valid IP carrying another protocol, e.g. GRE, ESP).
// kNone with an event: the packet is rejected (fields filled before the failing check may be
// set, e.g. addresses and proto for ICMPv4-in-IPv6). kL4 with an event: a non-fatal anomaly that
// Suricata also keeps decoding (tcp.opt_invalid_len; ipv4.opt_malformed for a multi-byte option
// type in the last header byte); the segment is kept so reassembly has no hole to evade through.
enum class Layer : uint8_t {
  kNone = 0,    // nothing usable (event set), or not IP (ARP, LLDP, ...)
  kL3Fragment,  // valid IP header, but a fragment: transport header not decoded (defrag: issue 4)
  kL3Other,     // valid IP header, transport protocol we do not decode
  kL4,          // TCP/UDP/ICMPv4/ICMPv6 header valid
};

namespace tcpflag {
inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10,
                         kUrg = 0x20, kEce = 0x40, kCwr = 0x80;
}

struct Packet {
  const uint8_t* data = nullptr;  // start of the Ethernet frame
  uint32_t caplen = 0;            // bytes available at data
  uint32_t wirelen = 0;           // length on the wire (>= caplen)
  uint64_t ts_us = 0;             // capture timestamp, microseconds since the epoch

  Layer layer = Layer::kNone;
  DecodeEvent event = DecodeEvent::kNone;  // first malformed case met, if any
  uint8_t ip_version = 0;                  // 4 or 6 from the ether type (even if then rejected)
  uint8_t proto = 0;                       // IP protocol number (after IPv6 extension headers)
  uint8_t vlan_count = 0;
  uint8_t ttl = 0;               // IPv4 TTL / IPv6 hop limit
  uint16_t vlan_id[2] = {0, 0};  // outer first
  uint16_t ether_type = 0;       // after VLAN tags

  IpAddr src, dst;
  uint16_t sport = 0, dport = 0;  // host order; ICMP: 0

  uint8_t tcp_flags = 0;
  uint16_t tcp_window = 0;
  uint32_t tcp_seq = 0, tcp_ack = 0;
  uint8_t tcp_wscale = 0xff;  // 0xff: option absent
  uint16_t tcp_mss = 0;       // 0: option absent
  bool tcp_sack_permitted = false;
  bool tcp_has_timestamp = false;
  uint8_t icmp_type = 0, icmp_code = 0;

  uint16_t l3_offset = 0;       // from data
  uint16_t l4_offset = 0;       // from data; valid from kL3Fragment on (start of IP payload)
  uint16_t payload_offset = 0;  // from data; application payload (kL4 only)
  uint16_t payload_len = 0;     // bounded by caplen and by the IP total length (padding excluded)

  bool fragment = false;  // IPv4 MF/offset, or IPv6 fragment header other than an atomic one
  bool ipv4_has_options = false;

  const uint8_t* payload() const { return data + payload_offset; }
};

// Decodes one Ethernet frame. Never reads past data[caplen). Fills *p and returns p->event
// (kNone when nothing was malformed). Cheap and allocation-free: runs per packet on workers.
DecodeEvent Decode(const uint8_t* data, uint32_t caplen, uint32_t wirelen, uint64_t ts_us,
                   Packet* p);

// Decoder counters for one worker. Single writer (the worker); readers sum at scrape time.
struct DecodeCounters {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t ipv4 = 0, ipv6 = 0;  // by ether type, valid or not (as Suricata counts decoder.ipv4)
  uint64_t tcp = 0, udp = 0, icmp = 0, other_l3 = 0;  // kL4 by protocol; kL3Other
  uint64_t non_ip = 0;                      // ARP, LLDP, ... (processed; nothing to inspect)
  uint64_t fragments = 0;                   // IP fragments seen (not reassembled yet)
  uint64_t events[kDecodeEventCount] = {};  // by DecodeEvent value; events[kNone] stays 0

  void Count(const Packet& p);
};

}  // namespace fs::decode
