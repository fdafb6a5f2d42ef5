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
#define FS_DECODE_EVENTS(X)                                               \
  X(kEthPktTooSmall, "ethernet.pkt_too_small")                            \
  X(kVlanHeaderTooSmall, "vlan.header_too_small")                         \
  X(kVlanTooManyLayers, "vlan.too_many_layers")                           \
  X(kIpv4PktTooSmall, "ipv4.pkt_too_small")                               \
  X(kIpv4HlenTooSmall, "ipv4.hlen_too_small")                             \
  X(kIpv4IplenSmallerThanHlen, "ipv4.iplen_smaller_than_hlen")            \
  X(kIpv4TruncPkt, "ipv4.trunc_pkt")                                      \
  X(kIpv4WrongIpVersion, "ipv4.wrong_ip_version")                         \
  X(kIpv4OptInvalidLen, "ipv4.opt_invalid_len")                           \
  X(kIpv4OptMalformed, "ipv4.opt_malformed")                              \
  X(kIpv6PktTooSmall, "ipv6.pkt_too_small")                               \
  X(kIpv6TruncPkt, "ipv6.trunc_pkt")                                      \
  X(kIpv6WrongIpVersion, "ipv6.wrong_ip_version")                         \
  X(kIpv6TruncExthdr, "ipv6.trunc_exthdr")                                \
  X(kIpv6ExthdrTooMany, "ipv6.exthdr_too_many")                           \
  X(kTcpPktTooSmall, "tcp.pkt_too_small")                                 \
  X(kTcpHlenTooSmall, "tcp.hlen_too_small")                               \
  X(kTcpInvalidOptlen, "tcp.invalid_optlen")                              \
  X(kTcpOptInvalidLen, "tcp.opt_invalid_len")                             \
  X(kUdpPktTooSmall, "udp.pkt_too_small")                                 \
  X(kUdpHlenTooSmall, "udp.hlen_too_small")                               \
  X(kUdpHlenInvalid, "udp.hlen_invalid")                                  \
  X(kIcmpv4PktTooSmall, "icmpv4.pkt_too_small")                           \
  X(kIcmpv6PktTooSmall, "icmpv6.pkt_too_small")                           \
  X(kIpv6WithIcmpv4, "ipv6.icmpv4")                                       \
  X(kIpv4WithIcmpv6, "icmpv6.ipv4")                                       \
  /* ICMP errors: the quoted (embedded) packet */                         \
  X(kIcmpv4Ipv4TruncPkt, "icmpv4.ipv4_trunc_pkt")                         \
  X(kIcmpv4Ipv4UnknownVer, "icmpv4.ipv4_unknown_ver")                     \
  X(kIcmpv6Ipv6TruncPkt, "icmpv6.ipv6_trunc_pkt")                         \
  X(kIcmpv6Ipv6UnknownVersion, "icmpv6.ipv6_unknown_version")             \
  /* tunnels: counted on the packet whose payload holds the bad header */ \
  X(kGrePktTooSmall, "gre.pkt_too_small")                                 \
  X(kGreWrongVersion, "gre.wrong_version")                                \
  X(kGreVersion0Recur, "gre.version0_recur")                              \
  X(kGreVersion0Flags, "gre.version0_flags")                              \
  X(kGreVersion0HdrTooBig, "gre.version0_hdr_too_big")                    \
  X(kGreVersion0MalformedSreHdr, "gre.version0_malformed_sre_hdr")        \
  X(kGreVersion1Chksum, "gre.version1_chksum")                            \
  X(kGreVersion1Route, "gre.version1_route")                              \
  X(kGreVersion1Ssr, "gre.version1_ssr")                                  \
  X(kGreVersion1Recur, "gre.version1_recur")                              \
  X(kGreVersion1Flags, "gre.version1_flags")                              \
  X(kGreVersion1NoKey, "gre.version1_no_key")                             \
  X(kGreVersion1WrongProtocol, "gre.version1_wrong_protocol")             \
  X(kGreVersion1HdrTooBig, "gre.version1_hdr_too_big")                    \
  X(kVxlanUnknownPayloadType, "vxlan.unknown_payload_type")               \
  X(kGeneveUnknownPayloadType, "geneve.unknown_payload_type")             \
  X(kIpv6Ipv4InIpv6TooSmall, "ipv6.ipv4_in_ipv6_too_small")               \
  X(kIpv6Ipv4InIpv6WrongVersion, "ipv6.ipv4_in_ipv6_wrong_version")       \
  X(kIpv6Ipv6InIpv6TooSmall, "ipv6.ipv6_in_ipv6_too_small")               \
  X(kIpv6Ipv6InIpv6WrongVersion, "ipv6.ipv6_in_ipv6_wrong_version")       \
  /* tunnels: counted on the inner packet whose decoding they stopped */  \
  X(kErspanHeaderTooSmall, "erspan.header_too_small")                     \
  X(kErspanUnsupportedVersion, "erspan.unsupported_version")              \
  X(kPppPktTooSmall, "ppp.pkt_too_small")                                 \
  X(kPppIp4PktTooSmall, "ppp.ip4_pkt_too_small")                          \
  X(kPppIp6PktTooSmall, "ppp.ip6_pkt_too_small")                          \
  X(kPppWrongType, "ppp.wrong_type")                                      \
  X(kPppUnsupProto, "ppp.unsup_proto")                                    \
  X(kEspPktTooSmall, "esp.pkt_too_small")                                 \
  X(kSctpPktTooSmall, "sctp.pkt_too_small")                               \
  X(kTooManyLayers, "too_many_layers")                                    \
  /* IP fragment reassembly (defrag): counted on the fragment */          \
  X(kIpv4FragPktTooLarge, "ipv4.frag_pkt_too_large")                      \
  X(kIpv6FragPktTooLarge, "ipv6.frag_pkt_too_large")                      \
  X(kIpv4FragOverlap, "ipv4.frag_overlap")                                \
  X(kIpv6FragOverlap, "ipv6.frag_overlap")                                \
  X(kIpv4FragIgnored, "ipv4.frag_ignored")                                \
  X(kIpv6FragIgnored, "ipv6.frag_ignored")                                \
  /* not Suricata's: over max_fragments in one datagram */                \
  X(kIpv4FragTooMany, "ipv4.frag_too_many")                               \
  X(kIpv6FragTooMany, "ipv6.frag_too_many")

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

// How far decoding got. kL4 and kL3Other packets are candidates for flow tracking; which of them
// get a flow follows Suricata (flow::Tracks: e.g. GRE and IP-in-IP outer packets get none).
// kNone with an event: the packet is rejected (fields filled before the failing check may be
// set, e.g. addresses and proto for ICMPv4-in-IPv6). kL4 or kL3Other with an event: a non-fatal
// anomaly that Suricata also keeps decoding (tcp.opt_invalid_len; ipv4.opt_malformed for a
// multi-byte option type in the last header byte; a malformed ICMP-quoted or tunnel header); the
// packet is kept so reassembly has no hole to evade through.
enum class Layer : uint8_t {
  kNone = 0,    // nothing usable (event set), or not IP (ARP, LLDP, ...)
  kL3Fragment,  // valid IP header, but a fragment: transport header not decoded (defrag: issue 4)
  kL3Other,     // valid IP header, another protocol (GRE, ESP: SPI, SCTP: ports, ...)
  kL4,          // TCP/UDP/ICMPv4/ICMPv6 header valid
};

namespace tcpflag {
inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10,
                         kUrg = 0x20, kEce = 0x40, kCwr = 0x80;
}

// Encapsulations. Decode() recognises them in the payload of a packet and records where the
// carried packet starts; DecodeInner() decodes it. The set and every rule (which ports, which
// headers, what the carried packet's length is) follow Suricata 7.0.10's decoders.
enum class Tunnel : uint8_t {
  kNone = 0,
  kGre,       // GRE version 0 carrying IPv4, IPv6, Ethernet (0x6558) or 802.1Q (0x8100)
  kErspan1,   // GRE 0x88be without sequence number: the mirrored Ethernet frame follows
  kErspan2,   // GRE 0x88be with sequence number: 8-byte ERSPAN II header, then the frame
  kVxlan,     // UDP port 4789 (either side), RFC 7348
  kGeneve,    // UDP port 6081 (either side), RFC 8926
  kTeredo,    // UDP port 3544 (either side), RFC 4380: IPv6 in UDP
  kIpv6InIp,  // IPv4 protocol 41 (6in4, 6to4, ISATAP) and IPv6 next header 41
  kIpv4InIp,  // IPv6 next header 4 (4in6)
  kGrePpp,    // GRE carrying PPP (PPTP, RFC 2637): IPv4 or IPv6 inside PPP
  // Recognised and counted but not decoded, as Suricata 7.0.10 (no inner packet, no flow):
  kIpip,     // IPv4 protocol 4 (Suricata 7.0.10 has no IPv4-in-IPv4 decoder)
  kErspan3,  // GRE 0x22eb (Suricata has no ERSPAN type III decoder)
  kCount
};
inline constexpr int kTunnelCount = static_cast<int>(Tunnel::kCount);
const char* TunnelName(Tunnel t);  // "gre", "erspan1", ...; "none" for kNone

// How the bytes at Packet::inner_offset begin.
enum class InnerKind : uint8_t { kNone = 0, kEthernet, kVlan, kIpv4, kIpv6, kPpp };

// Tunnel layers decoded below the captured frame. A packet at this depth that carries another
// one gets no inner packet but decoder.too_many_layers (Suricata's equivalent cap is 16 headers).
inline constexpr uint8_t kMaxTunnelDepth = 4;
// VLAN tags kept per packet (Suricata's VLAN_MAX_LAYERS).
inline constexpr uint8_t kMaxVlans = 3;

struct Packet {
  const uint8_t* data = nullptr;  // start of the Ethernet frame; inner packets: of their bytes
  uint32_t caplen = 0;            // bytes available at data (inner packets: as Suricata counts)
  uint32_t wirelen = 0;           // length on the wire (>= caplen)
  uint64_t ts_us = 0;             // capture timestamp, microseconds since the epoch

  Layer layer = Layer::kNone;
  DecodeEvent event = DecodeEvent::kNone;  // first malformed case met, if any
  uint8_t ip_version = 0;                  // 4 or 6 from the ether type (even if then rejected)
  uint8_t proto = 0;                       // IP protocol number (after IPv6 extension headers)
  uint8_t vlan_count = 0;
  uint8_t ttl = 0;                   // IPv4 TTL / IPv6 hop limit
  uint16_t vlan_id[kMaxVlans] = {};  // outer first
  uint16_t ether_type = 0;           // after VLAN tags
  // Suricata's PKT_IS_INVALID: set with every rejection and with the anomalies Suricata marks
  // invalid although it keeps decoding (a malformed ICMP-quoted or tunnel header).
  bool invalid = false;

  IpAddr src, dst;
  uint16_t sport = 0, dport = 0;  // host order: TCP, UDP, SCTP; 0 otherwise
  uint32_t esp_spi = 0;           // ESP: security parameter index

  uint8_t tcp_flags = 0;
  uint16_t tcp_window = 0;
  uint32_t tcp_seq = 0, tcp_ack = 0;
  uint8_t tcp_wscale = 0xff;  // 0xff: option absent
  uint16_t tcp_mss = 0;       // 0: option absent
  bool tcp_sack_permitted = false;
  bool tcp_has_timestamp = false;
  uint8_t icmp_type = 0, icmp_code = 0;

  // ICMP error messages (ICMPv4 types 3, 4, 5, 11, 12 and ICMPv6 types 1-4, with a code Suricata
  // knows) quote the IP header and the first bytes of the packet that caused them. Suricata
  // counts an ICMPv4 destination-unreachable on the flow of the quoted packet (flow::UseOf).
  bool icmp_error_embedded = false;  // the quoted IP header was decoded: emb_src/dst/proto set
  bool emb_ports = false;            // TCP/UDP: the quoted ports are present
  bool emb_l4_complete = false;      // TCP/UDP: the whole TCP (20) / UDP (8) header is quoted
  uint8_t emb_proto = 0;             // protocol of the quoted packet (IPv6: its first next header)
  uint8_t emb_ip_hlen = 0;           // length of the quoted IP header (IPv4: from its IHL)
  uint16_t emb_sport = 0, emb_dport = 0;  // host order
  IpAddr emb_src, emb_dst;

  // Tunnels. depth is Suricata's recursion_level: 0 for the frame, n for a packet decoded from n
  // encapsulations; flows of different depths never mix. A packet whose payload holds another
  // packet names the tunnel and where that packet's bytes are: DecodeInner() decodes them.
  uint8_t depth = 0;
  Tunnel tunnel = Tunnel::kNone;            // encapsulation found in this packet's payload
  Tunnel carried_by = Tunnel::kNone;        // depth > 0: the encapsulation this packet came out of
  InnerKind inner_kind = InnerKind::kNone;  // kNone: nothing to decode (even if tunnel is set)
  uint8_t inner_header = 0;   // tunnel header bytes at inner_offset before the carried packet,
                              // counted in its length as Suricata does (ERSPAN II: 8)
  uint16_t inner_offset = 0;  // from data
  uint16_t inner_len = 0;     // bytes from inner_offset: the inner packet's caplen

  uint16_t l3_offset = 0;       // from data
  uint16_t l4_offset = 0;       // from data; valid from kL3Fragment on (start of IP payload)
  uint16_t payload_offset = 0;  // from data; application payload (kL4 only)
  uint16_t payload_len = 0;     // bounded by caplen and by the IP total length (padding excluded)

  bool fragment = false;  // IPv4 MF/offset, or IPv6 fragment header other than an atomic one
  // Rebuilt from fragments (DecodeReassembled): its bytes were counted with the fragments, so
  // it is not counted again as a received frame (DecodeCounters::Count, Worker rx counters).
  bool reassembled = false;
  bool ipv4_has_options = false;

  const uint8_t* payload() const { return data + payload_offset; }
};

// ICMPv4 error message types (Suricata's ICMPV4_IS_ERROR_MSG): no flow is ever created for them.
inline bool IsIcmpv4Error(uint8_t type) {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

// Decodes one Ethernet frame. Never reads past data[caplen). Fills *p and returns p->event
// (kNone when nothing was malformed). Cheap and allocation-free: runs per packet on workers.
// A frame whose payload carries a tunnel is described as the outer packet it is; p->inner_kind
// tells that DecodeInner() has more to decode.
DecodeEvent Decode(const uint8_t* data, uint32_t caplen, uint32_t wirelen, uint64_t ts_us,
                   Packet* p);

// Decodes the packet carried by outer (outer.inner_kind != kNone) into *inner, which then
// describes it as Decode() describes a frame: its data starts at outer.data + outer.inner_offset,
// caplen = wirelen = outer.inner_len (the bytes Suricata counts on the inner flow), ts_us from
// outer, depth = outer.depth + 1, carried_by = outer.tunnel, VLAN ids only from the tunnel itself
// (an ERSPAN II header, the carried frame's own tags; never outer's: Suricata starts a tunnel
// packet without them). The inner packet may carry another one. Beyond kMaxTunnelDepth it is
// rejected with too_many_layers. Returns inner->event. Allocation-free, no recursion.
// inner->depth == 0 afterwards means there is no inner packet: outer.inner_kind was kNone, or the
// tunnel was a guess that did not hold (Teredo: the carried packet is invalid, so Suricata treats
// the datagram as plain UDP). Otherwise the worker counts, flow-tracks and scans *inner as it does
// a frame, even when it is rejected (its event then counts).
DecodeEvent DecodeInner(const Packet& outer, Packet* inner);

// Decodes a datagram rebuilt from fragments (defrag::Defragmenter::TakeDatagram): data[0, caplen)
// holds l3_offset bytes that preceded the IP header in the first fragment's packet, then the whole
// IP datagram. What lies below the IP header (VLAN ids, ether type, tunnel depth and carrier,
// timestamp) is taken from frag, a decoded fragment of the same datagram (the fragments share it:
// it is part of their reassembly key). Sets reassembled. Returns out->event. Allocation-free.
DecodeEvent DecodeReassembled(const Packet& frag, const uint8_t* data, uint32_t caplen,
                              uint16_t l3_offset, Packet* out);

// Decoder counters for one worker. Single writer (the worker); readers sum at scrape time.
// Count() every packet the worker handles: the frame, then each inner packet DecodeInner made.
struct DecodeCounters {
  uint64_t packets = 0;         // frames (depth 0)
  uint64_t bytes = 0;           // frame bytes
  uint64_t tunneled = 0;        // inner packets (depth > 0); their bytes are inside the frames'
  uint64_t ipv4 = 0, ipv6 = 0;  // by ether type, valid or not (as Suricata counts decoder.ipv4)
  uint64_t tcp = 0, udp = 0, icmp = 0, other_l3 = 0;  // kL4 by protocol; kL3Other
  uint64_t non_ip = 0;     // ARP, LLDP, ... (processed; nothing to inspect)
  uint64_t fragments = 0;  // IP fragments seen (each one; defrag::Counters counts datagrams)
  // By encapsulation: inner packets it produced (DecodeInner), plus packets carrying one whose
  // content is not decoded (IPv4-in-IPv4, ERSPAN III, PPTP, ARP in VXLAN, ...).
  uint64_t tunnels[kTunnelCount] = {};
  uint64_t events[kDecodeEventCount] = {};  // by DecodeEvent value; events[kNone] stays 0

  void Count(const Packet& p);  // inline below: every packet calls it
};

inline void DecodeCounters::Count(const Packet& p) {
  if (p.reassembled) {
    // Its bytes arrived (and were counted) as fragments.
  } else if (p.depth == 0) {
    ++packets;
    bytes += p.caplen;
  } else {
    ++tunneled;
    ++tunnels[static_cast<int>(p.carried_by)];
  }
  // A tunnel whose content is not decoded (or not a packet, e.g. ARP in VXLAN) has no inner
  // packet to count it: count it here.
  if (p.tunnel != Tunnel::kNone && p.inner_kind == InnerKind::kNone) {
    ++tunnels[static_cast<int>(p.tunnel)];
  }
  ipv4 += p.ip_version == 4;
  ipv6 += p.ip_version == 6;
  non_ip += p.ip_version == 0 && p.event == DecodeEvent::kNone;
  fragments += p.fragment;
  if (p.layer == Layer::kL4) {
    constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmpv6 = 58;  // IP protocol numbers
    tcp += p.proto == kTcp;
    udp += p.proto == kUdp;
    icmp += p.proto == kIcmp || p.proto == kIcmpv6;
  } else if (p.layer == Layer::kL3Other) {
    ++other_l3;
  }
  if (p.event != DecodeEvent::kNone) ++events[static_cast<int>(p.event)];
}

}  // namespace fs::decode
