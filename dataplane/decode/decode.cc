// Per-packet decoder: Ethernet/VLAN -> IPv4/IPv6 (+extension headers) -> TCP/UDP/ICMP, plus the
// headers of tunnels (GRE, ERSPAN I/II, VXLAN, Geneve, Teredo, 6in4, 4in6, 6in6) and of the packet
// an ICMP error quotes. Runs on worker lcores for every packet. Straight-line code over the frame
// bytes: no allocation, no virtual calls, no exceptions, no recursion; every read is preceded by a
// length check against the captured length (or the tighter IP/UDP payload end).
//
// Event names and the order of the checks follow Suricata's decoders (src/decode-*.c), so a
// packet Suricata rejects is rejected here under the same name where one exists.
//
// Tunnels: Decode() only validates a tunnel header and records where the carried packet starts
// (Packet::inner_*); DecodeInner() decodes that packet with the same functions, one layer per
// call, so nesting costs no recursion and a frame without a tunnel pays one well-predicted branch
// (UDP: a 256-entry port filter; other IP protocols: the kL3Other exit).
#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>

#include "dataplane/common/net_bytes.h"
#include "dataplane/decode/packet.h"

namespace fs::decode {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint16_t kEtherQinQ = 0x88a8;
constexpr uint16_t kEtherQinQOld = 0x9100;  // pre-802.1ad QinQ, still seen on older switches
constexpr uint16_t kEtherArp = 0x0806;
constexpr uint16_t kEtherTeb = 0x6558;     // transparent Ethernet bridging (GRE, Geneve)
constexpr uint16_t kEtherErspan = 0x88be;  // ERSPAN I/II over GRE
constexpr uint16_t kEtherErspan3 = 0x22eb;
constexpr uint16_t kEtherPpp = 0x880b;  // GRE v1 (PPTP)

constexpr uint32_t kEthHeaderLen = 14;
constexpr uint32_t kVlanHeaderLen = 4;  // TCI + inner ether type (the TPID is the outer type)
constexpr uint32_t kIpv4HeaderLen = 20;
constexpr uint32_t kIpv6HeaderLen = 40;
constexpr int kMaxIpv6ExtHeaders = 8;
constexpr uint32_t kTcpHeaderLen = 20;
constexpr uint32_t kUdpHeaderLen = 8;
constexpr uint32_t kIcmpHeaderLen = 8;
constexpr uint32_t kEspHeaderLen = 8;    // SPI + sequence number
constexpr uint32_t kSctpHeaderLen = 12;  // common header
constexpr uint32_t kGreHeaderLen = 4;
constexpr uint32_t kErspan2HeaderLen = 8;
constexpr uint32_t kVxlanHeaderLen = 8;
constexpr uint32_t kGeneveHeaderLen = 8;
constexpr uint32_t kTeredoOriginLen = 8;  // "origin indication" that may precede the IPv6 header

constexpr uint16_t kPortTeredo = 3544, kPortVxlan = 4789, kPortGeneve = 6081;

constexpr uint8_t kProtoIcmp = 1, kProtoIpip = 4, kProtoTcp = 6, kProtoUdp = 17, kProtoIpv6 = 41,
                  kProtoGre = 47, kProtoIcmpv6 = 58, kProtoSctp = 132;
constexpr uint8_t kProtoHopOpts = 0, kProtoRouting = 43, kProtoFragment = 44, kProtoEsp = 50,
                  kProtoAh = 51, kProtoNoNext = 59, kProtoDstOpts = 60, kProtoMobility = 135;

using net::Rd16;
using net::Rd32;

// The packet is unusable from here on: nothing after this layer may be trusted.
inline DecodeEvent Reject(Packet* p, DecodeEvent e) {
  p->layer = Layer::kNone;
  p->invalid = true;
  if (p->event == DecodeEvent::kNone) p->event = e;
  return p->event;
}

// An anomaly that leaves the packet usable (e.g. one bad TCP option): recorded, not fatal.
inline void Note(Packet* p, DecodeEvent e) {
  if (p->event == DecodeEvent::kNone) p->event = e;
}

// An anomaly Suricata marks invalid (ENGINE_SET_INVALID_EVENT) while keeping the packet, e.g. a
// malformed tunnel header after a valid IP header: the packet stays, what it carries does not.
inline void NoteInvalid(Packet* p, DecodeEvent e) {
  Note(p, e);
  p->invalid = true;
}

// IPv4 options (RFC 791 and the option RFCs), checked as Suricata's DecodeIPV4Options does:
// a bad option length or content makes the whole packet invalid (returned); a multi-byte option
// type in the last header byte, with no room for its length, is only noted, because Suricata
// keeps such packets (it wants an EOL there) and we should not lose traffic it inspects.
// Runs only when IHL > 5, which is rare, so it is kept out of line.
[[gnu::noinline]] DecodeEvent CheckIpv4Options(const uint8_t* o, uint32_t n, Packet* p) {
  constexpr uint8_t kEol = 0, kNop = 1, kRr = 7, kQs = 25, kTs = 68, kSec = 130, kLsrr = 131,
                    kEsec = 133, kCipso = 134, kSid = 136, kSsrr = 137, kRtrAlt = 148;
  uint32_t i = 0;
  while (i < n) {
    const uint8_t type = o[i];
    if (type == kEol) break;
    if (type == kNop) {
      ++i;
      continue;
    }
    if (n - i < 2) {
      Note(p, DecodeEvent::kIpv4OptMalformed);
      break;
    }
    const uint8_t len = o[i + 1];
    if (len < 2 || len > n - i) return DecodeEvent::kIpv4OptInvalidLen;
    const uint8_t* opt = o + i;
    switch (type) {
      case kRr:
      case kLsrr:
      case kSsrr: {
        // [type][len][ptr][addr...]: ptr is 1-based, 4-aligned, at most one past the end.
        if (len < 3) return DecodeEvent::kIpv4OptInvalidLen;
        const uint8_t ptr = opt[2];
        if (ptr < 4 || ptr % 4 != 0 || ptr > len + 1) return DecodeEvent::kIpv4OptMalformed;
        break;
      }
      case kTs: {
        // [type][len][ptr][oflw|flg][records]: records are 4 bytes, or 8 with addresses.
        if (len < 5) return DecodeEvent::kIpv4OptInvalidLen;
        const uint8_t ptr = opt[2];
        const uint8_t flag = opt[3] & 0x0f;
        const uint8_t rec = (flag == 1 || flag == 3) ? 8 : 4;
        if (ptr < 5 || (ptr - 5) % rec != 0 || ptr > len + 1) {
          return DecodeEvent::kIpv4OptMalformed;
        }
        break;
      }
      case kQs:
        if (len < 8) return DecodeEvent::kIpv4OptInvalidLen;
        break;
      case kSec:
      case kEsec:
        // RFC 1108 basic/extended security: variable length, at least type, length, level.
        if (len < 3) return DecodeEvent::kIpv4OptInvalidLen;
        break;
      case kSid:
      case kRtrAlt:
        if (len != 4) return DecodeEvent::kIpv4OptInvalidLen;
        break;
      case kCipso: {
        // [type][len][doi x4][tags...], each tag [ttype][tlen][...].
        if (len < 10) return DecodeEvent::kIpv4OptInvalidLen;
        uint32_t t = 6;
        while (t < len) {
          if (len - t < 2) return DecodeEvent::kIpv4OptMalformed;
          const uint8_t ttype = opt[t], tlen = opt[t + 1];
          if (tlen > len - t) return DecodeEvent::kIpv4OptMalformed;
          if (ttype != 1 && ttype != 2 && ttype != 5 && ttype != 6 && ttype != 7) {
            return DecodeEvent::kIpv4OptMalformed;  // 0 is reserved; others unknown
          }
          if (tlen < 4) return DecodeEvent::kIpv4OptMalformed;
          if (ttype != 7 && opt[t + 2] != 0) return DecodeEvent::kIpv4OptMalformed;
          t += tlen;
        }
        break;
      }
      default:
        break;  // unknown options are legal as long as their length is sane
    }
    i += len;
  }
  return DecodeEvent::kNone;
}

// TCP options: the ones the flow stage needs are extracted; lengths are checked as Suricata
// does. A bad length is recorded but does not invalidate the segment (Suricata also keeps
// decoding it); the walk stops at a length that breaks the option framing.
inline void DecodeTcpOptions(const uint8_t* o, uint32_t n, Packet* p) {
  constexpr uint8_t kEol = 0, kNop = 1, kMss = 2, kWs = 3, kSackOk = 4, kSack = 5, kTs = 8;
  uint32_t i = 0;
  while (i < n) {
    const uint8_t type = o[i];
    if (type == kEol) break;
    if (type == kNop) {
      ++i;
      continue;
    }
    if (n - i < 2) break;
    const uint8_t len = o[i + 1];
    if (len < 2 || len > n - i) {
      Note(p, DecodeEvent::kTcpOptInvalidLen);
      return;
    }
    switch (type) {
      case kMss:
        if (len != 4) {
          Note(p, DecodeEvent::kTcpOptInvalidLen);
        } else {
          p->tcp_mss = Rd16(o + i + 2);
        }
        break;
      case kWs:
        if (len != 3) {
          Note(p, DecodeEvent::kTcpOptInvalidLen);
        } else {
          p->tcp_wscale = o[i + 2];
        }
        break;
      case kSackOk:
        if (len != 2) {
          Note(p, DecodeEvent::kTcpOptInvalidLen);
        } else {
          p->tcp_sack_permitted = true;
        }
        break;
      case kSack:
        if (len < 10 || len > 34 || (len - 2) % 8 != 0) Note(p, DecodeEvent::kTcpOptInvalidLen);
        break;
      case kTs:
        if (len != 10) {
          Note(p, DecodeEvent::kTcpOptInvalidLen);
        } else {
          p->tcp_has_timestamp = true;
        }
        break;
      default:
        break;
    }
    i += len;
  }
}

// Records that data[off, off + len) is a packet of kind `kind` carried by tunnel t, preceded by
// `header` tunnel bytes that count towards its length.
inline void SetInner(Packet* p, Tunnel t, InnerKind kind, uint32_t off, uint32_t len,
                     uint8_t header = 0) {
  p->tunnel = t;
  p->inner_kind = kind;
  p->inner_offset = uint16_t(off);
  p->inner_len = uint16_t(len);
  p->inner_header = header;
}

// The packet quoted by an ICMP error, at data[q, end): as Suricata's DecodePartialIPV4/IPV6, only
// for the codes it knows, and it never fails the ICMP packet (a malformed quote is an invalid
// event: the error then just cannot be tied to a flow). Ports come from where the quoted IP
// header says the transport header starts. (Suricata 7 reads them 20 bytes in, which for a quoted
// IPv4 header with options is a tuple read from the options: flow::UseOf ties such errors to no
// flow, as that garbage tuple does in practice.)
[[gnu::noinline]] void DecodeIcmpQuote(Packet* p, uint32_t l4, uint32_t end) {
  const uint8_t type = p->icmp_type, code = p->icmp_code;
  const uint32_t len = end - l4;  // >= kIcmpHeaderLen
  const uint8_t* q = p->data + l4 + kIcmpHeaderLen;
  const uint32_t n = len - kIcmpHeaderLen;
  uint32_t hlen;
  if (p->proto == kProtoIcmp) {
    bool quoted = false;
    switch (type) {
      case 3:  // destination unreachable
        quoted = code <= 15 && n > 0;
        break;
      case 4:  // source quench: Suricata also looks at an empty quote (and flags it)
        quoted = code == 0;
        break;
      case 5:  // redirect
        quoted = code <= 3 && n > 0;
        break;
      case 11:  // time exceeded
        quoted = code <= 1 && n > 0;
        break;
      case 12:  // parameter problem
        quoted = code == 0 && n > 0;
        break;
      default:
        break;
    }
    if (!quoted) return;
    if (n < kIpv4HeaderLen) return NoteInvalid(p, DecodeEvent::kIcmpv4Ipv4TruncPkt);
    if ((q[0] >> 4) != 4) return NoteInvalid(p, DecodeEvent::kIcmpv4Ipv4UnknownVer);
    p->emb_src = IpAddr::FromV4(q + 12);
    p->emb_dst = IpAddr::FromV4(q + 16);
    p->emb_proto = q[9];
    hlen = uint32_t(q[0] & 0x0f) * 4;
    p->emb_ip_hlen = uint8_t(hlen);
    if (hlen < kIpv4HeaderLen) hlen = n + 1;  // no transport header can be located
  } else {
    // ICMPv6: unreachable, packet too big, time exceeded, parameter problem.
    const bool quoted = (type == 1 && code <= 6) || (type == 2 && code == 0) ||
                        (type == 3 && code <= 1) || (type == 4 && code <= 2);
    if (!quoted) return;
    if (n < kIpv6HeaderLen) return NoteInvalid(p, DecodeEvent::kIcmpv6Ipv6TruncPkt);
    if ((q[0] >> 4) != 6) return NoteInvalid(p, DecodeEvent::kIcmpv6Ipv6UnknownVersion);
    p->emb_src = IpAddr::FromV6(q + 8);
    p->emb_dst = IpAddr::FromV6(q + 24);
    p->emb_proto = q[6];  // as Suricata: extension headers of the quoted packet are not walked
    hlen = kIpv6HeaderLen;
    p->emb_ip_hlen = uint8_t(hlen);
  }
  p->icmp_error_embedded = true;
  if (p->emb_proto != kProtoTcp && p->emb_proto != kProtoUdp) return;
  if (n < hlen || n - hlen < 4) return;
  p->emb_ports = true;
  p->emb_sport = Rd16(q + hlen);
  p->emb_dport = Rd16(q + hlen + 2);
  p->emb_l4_complete = n - hlen >= (p->emb_proto == kProtoTcp ? kTcpHeaderLen : kUdpHeaderLen);
}

// GRE (RFC 2784/2890, RFC 1701 routing, RFC 2637 PPTP) at data[off, end), checked as Suricata's
// DecodeGRE: a malformed header is an invalid event on this packet and nothing is carried.
[[gnu::noinline]] void DetectGre(Packet* p, uint32_t off, uint32_t end) {
  const uint8_t* g = p->data + off;
  const uint32_t len = end - off;
  if (len < kGreHeaderLen) return NoteInvalid(p, DecodeEvent::kGrePktTooSmall);
  const uint8_t flags = g[0], ver = g[1];
  const uint16_t type = Rd16(g + 2);
  constexpr uint8_t kCsum = 0x80, kRoute = 0x40, kKey = 0x20, kSeq = 0x10, kSsr = 0x08,
                    kRecur = 0x07;
  uint32_t hlen = kGreHeaderLen;
  switch (ver & 0x07) {
    case 0:
      if (flags & kRecur) return NoteInvalid(p, DecodeEvent::kGreVersion0Recur);
      if (ver & 0x78) return NoteInvalid(p, DecodeEvent::kGreVersion0Flags);
      if (flags & kKey) hlen += 4;
      if (flags & kSeq) hlen += 4;
      if (flags & (kCsum | kRoute)) hlen += 4;  // checksum + offset
      if (hlen > len) return NoteInvalid(p, DecodeEvent::kGreVersion0HdrTooBig);
      if (flags & kRoute) {
        // Source route entries until the NULL one (address family 0, length 0). Each entry
        // advances by at least 4 bytes, so the walk ends within len / 4 steps.
        for (;;) {
          if (len - hlen < 4) return NoteInvalid(p, DecodeEvent::kGreVersion0MalformedSreHdr);
          const uint16_t af = Rd16(g + hlen);
          const uint8_t sre_len = g[hlen + 3];
          hlen += 4;
          if (af == 0 && sre_len == 0) break;
          hlen += sre_len;
          if (hlen > len) return NoteInvalid(p, DecodeEvent::kGreVersion0MalformedSreHdr);
        }
      }
      break;
    case 1:  // enhanced GRE (PPTP): key (payload length + call id) required, PPP only
      if (flags & kCsum) return NoteInvalid(p, DecodeEvent::kGreVersion1Chksum);
      if (flags & kRoute) return NoteInvalid(p, DecodeEvent::kGreVersion1Route);
      if (flags & kSsr) return NoteInvalid(p, DecodeEvent::kGreVersion1Ssr);
      if (flags & kRecur) return NoteInvalid(p, DecodeEvent::kGreVersion1Recur);
      if (ver & 0x78) return NoteInvalid(p, DecodeEvent::kGreVersion1Flags);
      if (type != kEtherPpp) return NoteInvalid(p, DecodeEvent::kGreVersion1WrongProtocol);
      if (!(flags & kKey)) return NoteInvalid(p, DecodeEvent::kGreVersion1NoKey);
      hlen += 4;
      if (flags & kSeq) hlen += 4;
      if (ver & 0x80) hlen += 4;  // acknowledgment number
      if (hlen > len) return NoteInvalid(p, DecodeEvent::kGreVersion1HdrTooBig);
      break;
    default:
      return NoteInvalid(p, DecodeEvent::kGreWrongVersion);
  }
  const uint32_t in = off + hlen, in_len = len - hlen;
  switch (type) {
    case kEtherIpv4:
      return SetInner(p, Tunnel::kGre, InnerKind::kIpv4, in, in_len);
    case kEtherIpv6:
      return SetInner(p, Tunnel::kGre, InnerKind::kIpv6, in, in_len);
    case kEtherVlan:
      return SetInner(p, Tunnel::kGre, InnerKind::kVlan, in, in_len);
    case kEtherTeb:
      return SetInner(p, Tunnel::kGre, InnerKind::kEthernet, in, in_len);
    case kEtherErspan:
      // Type I has no sequence number and no ERSPAN header; type II has both (the header is
      // validated by DecodeInner, which counts its events on the inner packet as Suricata does).
      if (flags & kSeq) {
        return SetInner(p, Tunnel::kErspan2, InnerKind::kEthernet, in, in_len, kErspan2HeaderLen);
      }
      return SetInner(p, Tunnel::kErspan1, InnerKind::kEthernet, in, in_len);
    case kEtherErspan3:
      p->tunnel = Tunnel::kErspan3;
      return;
    case kEtherPpp:
      // PPTP: a version 1 header's key holds the PPP payload length; 0 is an acknowledgment
      // without payload.
      if ((ver & 0x07) == 1 && Rd16(g + 4) == 0) {
        p->tunnel = Tunnel::kGrePpp;
        return;
      }
      return SetInner(p, Tunnel::kGrePpp, InnerKind::kPpp, in, in_len);
    default:
      return;  // other payloads: nothing Suricata decodes
  }
}

// IP protocols 4, 41 and 47 (tunnels), 50 (ESP) and 132 (SCTP) at data[l4, end). ESP and SCTP
// stay kL3Other but get what Suricata keys their flows by: the SPI, the ports.
[[gnu::noinline]] void DecodeOtherProto(Packet* p, uint32_t l4, uint32_t end) {
  const uint32_t len = end - l4;
  // Suricata follows GRE and IPv6-in-IPv6 only straight after the fixed IPv6 header, IPv4-in-IPv6
  // also after extension headers.
  const bool v6_direct = p->ip_version == 6 && l4 == p->l3_offset + kIpv6HeaderLen;
  switch (p->proto) {
    case kProtoGre:
      if (p->ip_version == 4 || v6_direct) DetectGre(p, l4, end);
      return;
    case kProtoIpv6:
      if (p->ip_version == 4) {
        // 6in4: no checks of its own; the carried header is checked by DecodeInner.
        return SetInner(p, Tunnel::kIpv6InIp, InnerKind::kIpv6, l4, len);
      }
      if (!v6_direct) return;
      if (len < kIpv6HeaderLen) return NoteInvalid(p, DecodeEvent::kIpv6Ipv6InIpv6TooSmall);
      if ((p->data[l4] >> 4) != 6) return Note(p, DecodeEvent::kIpv6Ipv6InIpv6WrongVersion);
      return SetInner(p, Tunnel::kIpv6InIp, InnerKind::kIpv6, l4, len);
    case kProtoIpip:
      if (p->ip_version == 4) {
        p->tunnel = Tunnel::kIpip;  // Suricata 7.0.10 does not decode IPv4 in IPv4
        return;
      }
      if (len < kIpv4HeaderLen) return NoteInvalid(p, DecodeEvent::kIpv6Ipv4InIpv6TooSmall);
      if ((p->data[l4] >> 4) != 4) return Note(p, DecodeEvent::kIpv6Ipv4InIpv6WrongVersion);
      return SetInner(p, Tunnel::kIpv4InIp, InnerKind::kIpv4, l4, len);
    case kProtoEsp:
      if (len < kEspHeaderLen) {
        Reject(p, DecodeEvent::kEspPktTooSmall);
        return;
      }
      p->esp_spi = Rd32(p->data + l4);
      return;
    case kProtoSctp:
      if (len < kSctpHeaderLen) {
        Reject(p, DecodeEvent::kSctpPktTooSmall);
        return;
      }
      p->sport = Rd16(p->data + l4);
      p->dport = Rd16(p->data + l4 + 2);
      return;
    default:
      return;
  }
}

// One-branch prefilter for the tunnel ports: their low bytes (0xd8, 0xb5, 0xc1).
constexpr std::array<bool, 256> MakeTunnelPortFilter() {
  std::array<bool, 256> f{};
  f[kPortTeredo & 0xff] = f[kPortVxlan & 0xff] = f[kPortGeneve & 0xff] = true;
  return f;
}
constexpr std::array<bool, 256> kTunnelPortLow = MakeTunnelPortFilter();

inline bool HasPort(const Packet* p, uint16_t port) { return p->sport == port || p->dport == port; }

// Teredo (RFC 4380) in the UDP payload u[0, n): Suricata's heuristics, since nothing in the header
// proves it. True when an IPv6 packet exactly fills the payload.
bool DetectTeredo(Packet* p, const uint8_t* u, uint32_t n) {
  if (n < kIpv6HeaderLen) return false;
  uint32_t start = 0;
  if (u[0] == 0) {
    if (u[1] != 0) return false;  // authentication indication: not carrying a packet
    if (n < kTeredoOriginLen + kIpv6HeaderLen) return false;
    start = kTeredoOriginLen;
  }
  const uint8_t* ip = u + start;
  if ((ip[0] >> 4) != 6) return false;
  if (ip[7] == 0) return false;  // hop limit 0: most likely not Teredo
  const uint32_t plen = Rd16(ip + 4);
  if (ip[6] == kProtoHopOpts && plen < 8) return false;
  if (n != start + kIpv6HeaderLen + plen) return false;
  SetInner(p, Tunnel::kTeredo, InnerKind::kIpv6, p->payload_offset + start, n - start);
  return true;
}

// Geneve (RFC 8926): version 0, reserved bits clear, option lengths adding up.
bool DetectGeneve(Packet* p, const uint8_t* u, uint32_t n) {
  if (n < kGeneveHeaderLen) return false;
  const uint32_t opt_len = uint32_t(u[0] & 0x3f) * 4;
  const uint32_t hlen = kGeneveHeaderLen + opt_len;
  if (n < hlen) return false;
  if ((u[0] >> 6) != 0 || (u[1] & 0x3f) != 0 || u[7] != 0) return false;
  // Each option is at least 4 bytes and opt_len is a multiple of 4, so every option header read
  // here lies inside the header.
  uint32_t pos = kGeneveHeaderLen;
  while (pos < hlen) pos += 4 + uint32_t(u[pos + 3] & 0x1f) * 4;
  if (pos != hlen) return false;
  const uint32_t in = p->payload_offset + hlen, in_len = n - hlen;
  switch (Rd16(u + 2)) {
    case kEtherIpv4:
      SetInner(p, Tunnel::kGeneve, InnerKind::kIpv4, in, in_len);
      break;
    case kEtherIpv6:
      SetInner(p, Tunnel::kGeneve, InnerKind::kIpv6, in, in_len);
      break;
    case kEtherTeb:
      SetInner(p, Tunnel::kGeneve, InnerKind::kEthernet, in, in_len);
      break;
    case kEtherArp:
      p->tunnel = Tunnel::kGeneve;
      break;
    default:
      p->tunnel = Tunnel::kGeneve;
      NoteInvalid(p, DecodeEvent::kGeneveUnknownPayloadType);
      break;
  }
  return true;
}

// VXLAN (RFC 7348): the I flag set, the last reserved byte zero, room for an Ethernet header.
// The carried packet starts after that Ethernet header: Suricata counts it without it.
bool DetectVxlan(Packet* p, const uint8_t* u, uint32_t n) {
  if (n < kVxlanHeaderLen + kEthHeaderLen) return false;
  if ((u[0] & 0x08) == 0 || u[7] != 0) return false;
  const uint32_t in = p->payload_offset + kVxlanHeaderLen + kEthHeaderLen;
  const uint32_t in_len = n - kVxlanHeaderLen - kEthHeaderLen;
  switch (Rd16(u + kVxlanHeaderLen + 12)) {
    case kEtherIpv4:
      SetInner(p, Tunnel::kVxlan, InnerKind::kIpv4, in, in_len);
      break;
    case kEtherIpv6:
      SetInner(p, Tunnel::kVxlan, InnerKind::kIpv6, in, in_len);
      break;
    case kEtherVlan:
    case kEtherQinQ:
    case kEtherQinQOld:
      SetInner(p, Tunnel::kVxlan, InnerKind::kVlan, in, in_len);
      break;
    case kEtherArp:
      p->tunnel = Tunnel::kVxlan;
      break;
    default:
      p->tunnel = Tunnel::kVxlan;
      NoteInvalid(p, DecodeEvent::kVxlanUnknownPayloadType);
      break;
  }
  return true;
}

// UDP tunnels, tried in Suricata's order (DecodeUDP): a payload that fails one is tried as the
// next, and one that fails all is plain UDP.
[[gnu::noinline]] void DetectUdpTunnel(Packet* p) {
  const uint8_t* u = p->data + p->payload_offset;
  const uint32_t n = p->payload_len;
  if (HasPort(p, kPortTeredo) && DetectTeredo(p, u, n)) return;
  if (HasPort(p, kPortGeneve) && DetectGeneve(p, u, n)) return;
  if (HasPort(p, kPortVxlan)) DetectVxlan(p, u, n);
}

// Transport header at data[l4, end), where end is the IP payload end (never past caplen).
inline DecodeEvent DecodeTransport(Packet* p, uint32_t l4, uint32_t end) {
  const uint8_t* d = p->data;
  const uint32_t len = end - l4;
  switch (p->proto) {
    case kProtoTcp: {
      if (len < kTcpHeaderLen) return Reject(p, DecodeEvent::kTcpPktTooSmall);
      const uint8_t* t = d + l4;
      const uint32_t hlen = uint32_t(t[12] >> 4) * 4;
      if (len < hlen) return Reject(p, DecodeEvent::kTcpHlenTooSmall);
      // Data offset below 5 words: Suricata's option length underflows into this event.
      if (hlen < kTcpHeaderLen) return Reject(p, DecodeEvent::kTcpInvalidOptlen);
      p->sport = Rd16(t);
      p->dport = Rd16(t + 2);
      p->tcp_seq = Rd32(t + 4);
      p->tcp_ack = Rd32(t + 8);
      p->tcp_flags = t[13];
      p->tcp_window = Rd16(t + 14);
      if (hlen > kTcpHeaderLen) DecodeTcpOptions(t + kTcpHeaderLen, hlen - kTcpHeaderLen, p);
      p->payload_offset = uint16_t(l4 + hlen);
      p->payload_len = uint16_t(len - hlen);
      break;
    }
    case kProtoUdp: {
      if (len < kUdpHeaderLen) return Reject(p, DecodeEvent::kUdpHlenTooSmall);
      const uint8_t* u = d + l4;
      const uint32_t ulen = Rd16(u + 4);
      if (ulen > len) return Reject(p, DecodeEvent::kUdpPktTooSmall);
      if (ulen < kUdpHeaderLen) return Reject(p, DecodeEvent::kUdpHlenInvalid);
      p->sport = Rd16(u);
      p->dport = Rd16(u + 2);
      // Bytes after the UDP length but inside the IP payload are not UDP data.
      p->payload_offset = uint16_t(l4 + kUdpHeaderLen);
      p->payload_len = uint16_t(ulen - kUdpHeaderLen);
      p->layer = Layer::kL4;
      if (kTunnelPortLow[p->sport & 0xff] | kTunnelPortLow[p->dport & 0xff]) [[unlikely]] {
        DetectUdpTunnel(p);
      }
      return p->event;
    }
    case kProtoIcmp:
    case kProtoIcmpv6: {
      const bool v6_icmp = p->proto == kProtoIcmpv6;
      if (v6_icmp && p->ip_version == 4) return Reject(p, DecodeEvent::kIpv4WithIcmpv6);
      if (!v6_icmp && p->ip_version == 6) return Reject(p, DecodeEvent::kIpv6WithIcmpv4);
      if (len < kIcmpHeaderLen) {
        return Reject(p,
                      v6_icmp ? DecodeEvent::kIcmpv6PktTooSmall : DecodeEvent::kIcmpv4PktTooSmall);
      }
      p->icmp_type = d[l4];
      p->icmp_code = d[l4 + 1];
      p->payload_offset = uint16_t(l4 + kIcmpHeaderLen);
      p->payload_len = uint16_t(len - kIcmpHeaderLen);
      p->layer = Layer::kL4;
      if (v6_icmp ? (p->icmp_type >= 1 && p->icmp_type <= 4) : IsIcmpv4Error(p->icmp_type))
          [[unlikely]] {
        DecodeIcmpQuote(p, l4, end);
      }
      return p->event;
    }
    default:
      p->layer = Layer::kL3Other;
      if (p->proto == kProtoGre || p->proto == kProtoIpv6 || p->proto == kProtoIpip ||
          p->proto == kProtoEsp || p->proto == kProtoSctp) [[unlikely]] {
        DecodeOtherProto(p, l4, end);
      }
      return p->event;
  }
  p->layer = Layer::kL4;
  return p->event;
}

inline DecodeEvent DecodeIpv4(Packet* p, uint32_t off) {
  p->ip_version = 4;
  p->l3_offset = uint16_t(off);
  const uint32_t avail = p->caplen - off;
  if (avail < kIpv4HeaderLen) return Reject(p, DecodeEvent::kIpv4PktTooSmall);
  const uint8_t* ip = p->data + off;
  if ((ip[0] >> 4) != 4) return Reject(p, DecodeEvent::kIpv4WrongIpVersion);
  const uint32_t hlen = uint32_t(ip[0] & 0x0f) * 4;
  if (hlen < kIpv4HeaderLen) return Reject(p, DecodeEvent::kIpv4HlenTooSmall);
  const uint32_t total = Rd16(ip + 2);
  if (total < hlen) return Reject(p, DecodeEvent::kIpv4IplenSmallerThanHlen);
  if (total > avail) return Reject(p, DecodeEvent::kIpv4TruncPkt);

  p->src = IpAddr::FromV4(ip + 12);
  p->dst = IpAddr::FromV4(ip + 16);
  p->ttl = ip[8];
  p->proto = ip[9];
  if (hlen > kIpv4HeaderLen) {
    p->ipv4_has_options = true;
    const DecodeEvent e = CheckIpv4Options(ip + kIpv4HeaderLen, hlen - kIpv4HeaderLen, p);
    if (e != DecodeEvent::kNone) return Reject(p, e);
  }
  // total <= avail, so everything below stays inside the capture; bytes past `total` are
  // Ethernet padding and belong to no layer.
  const uint32_t l4 = off + hlen;
  p->l4_offset = uint16_t(l4);
  const uint16_t frag = Rd16(ip + 6);
  if ((frag & 0x3fff) != 0) {  // MF set or a non-zero offset
    p->fragment = true;
    p->layer = Layer::kL3Fragment;
    return p->event;
  }
  return DecodeTransport(p, l4, off + total);
}

inline DecodeEvent DecodeIpv6(Packet* p, uint32_t off) {
  p->ip_version = 6;
  p->l3_offset = uint16_t(off);
  const uint32_t avail = p->caplen - off;
  if (avail < kIpv6HeaderLen) return Reject(p, DecodeEvent::kIpv6PktTooSmall);
  const uint8_t* ip = p->data + off;
  if ((ip[0] >> 4) != 6) return Reject(p, DecodeEvent::kIpv6WrongIpVersion);
  const uint32_t plen = Rd16(ip + 4);
  if (kIpv6HeaderLen + plen > avail) return Reject(p, DecodeEvent::kIpv6TruncPkt);

  p->src = IpAddr::FromV6(ip + 8);
  p->dst = IpAddr::FromV6(ip + 24);
  p->ttl = ip[7];
  const uint8_t* d = p->data;
  const uint32_t end = off + kIpv6HeaderLen + plen;  // padding beyond this is not payload
  uint32_t cur = off + kIpv6HeaderLen;
  uint8_t nh = ip[6];
  for (int count = 0;; ++count) {
    uint32_t hdr_len;
    switch (nh) {
      case kProtoHopOpts:
      case kProtoRouting:
      case kProtoDstOpts:
      case kProtoMobility:
      case kProtoAh:
      case kProtoFragment:
        break;
      case kProtoNoNext:
        // Nothing after it.
        p->proto = nh;
        p->l4_offset = uint16_t(cur);
        p->layer = Layer::kL3Other;
        return p->event;
      default:
        p->proto = nh;
        p->l4_offset = uint16_t(cur);
        return DecodeTransport(p, cur, end);
    }
    if (count == kMaxIpv6ExtHeaders) return Reject(p, DecodeEvent::kIpv6ExthdrTooMany);
    if (end - cur < 2) return Reject(p, DecodeEvent::kIpv6TruncExthdr);
    const uint8_t* h = d + cur;
    if (nh == kProtoFragment) {
      hdr_len = 8;
    } else if (nh == kProtoAh) {
      hdr_len = (uint32_t(h[1]) + 2) * 4;
    } else {
      hdr_len = (uint32_t(h[1]) + 1) * 8;
    }
    if (hdr_len > end - cur) return Reject(p, DecodeEvent::kIpv6TruncExthdr);
    const uint8_t next = h[0];
    cur += hdr_len;
    if (nh == kProtoFragment) {
      const uint16_t off_m = Rd16(h + 2);
      // Offset 0 with M=0 is an atomic fragment (RFC 6946): a whole datagram, decode on.
      if ((off_m & 0xfff9) != 0) {
        p->fragment = true;
        p->proto = next;
        p->l4_offset = uint16_t(cur);
        p->layer = Layer::kL3Fragment;
        return p->event;
      }
    }
    nh = next;
  }
}

// What follows an ether type `type` at data[off]: VLAN tags (up to kMaxVlans), then IP.
inline DecodeEvent DecodeL2Payload(Packet* p, uint32_t off, uint16_t type) {
  const uint8_t* data = p->data;
  while (type == kEtherVlan || type == kEtherQinQ || type == kEtherQinQOld) {
    if (p->caplen - off < kVlanHeaderLen) return Reject(p, DecodeEvent::kVlanHeaderTooSmall);
    if (p->vlan_count == kMaxVlans) return Reject(p, DecodeEvent::kVlanTooManyLayers);
    p->vlan_id[p->vlan_count++] = Rd16(data + off) & 0x0fff;
    type = Rd16(data + off + 2);
    off += kVlanHeaderLen;
  }
  p->ether_type = type;
  if (type == kEtherIpv4) return DecodeIpv4(p, off);
  if (type == kEtherIpv6) return DecodeIpv6(p, off);
  return p->event;  // not IP: nothing to inspect, not malformed
}

// PPP (RFC 1661) as Suricata's DecodePPP: an optional HDLC address/control pair, a 1- or 2-byte
// protocol, then IPv4 or IPv6. Van Jacobson compressed TCP/IP is not decoded.
DecodeEvent DecodePpp(Packet* p, uint32_t off) {
  const uint8_t* d = p->data + off;
  const uint32_t len = p->caplen - off;
  if (len < 1) return Reject(p, DecodeEvent::kPppPktTooSmall);
  uint32_t proto_off = 0;
  if (d[0] == 0xff) {
    proto_off = 2;
    if (len < 3) return Reject(p, DecodeEvent::kPppPktTooSmall);
  }
  const uint32_t proto_size = (d[proto_off] & 0x01) ? 1 : 2;
  if (len < proto_off + proto_size) return Reject(p, DecodeEvent::kPppPktTooSmall);
  const uint16_t proto = proto_size == 1 ? d[proto_off] : Rd16(d + proto_off);
  const uint32_t data_off = off + proto_off + proto_size;
  const uint32_t avail = len - proto_off - proto_size;
  switch (proto) {
    case 0x0021:  // IPv4
      if (avail < kIpv4HeaderLen) return Reject(p, DecodeEvent::kPppIp4PktTooSmall);
      p->ether_type = kEtherIpv4;
      return DecodeIpv4(p, data_off);
    case 0x0057:  // IPv6
      if (avail < kIpv6HeaderLen) return Reject(p, DecodeEvent::kPppIp6PktTooSmall);
      p->ether_type = kEtherIpv6;
      return DecodeIpv6(p, data_off);
    case 0x002f:  // Van Jacobson uncompressed TCP/IP: not decoded
      return p->event;
    default: {
      // Suricata lists the protocols it knows of (control protocols, IPX, VJ compressed, ...)
      // as unsupported and flags any other 2-byte number as a wrong type; a 1-byte (compressed)
      // number is always just unsupported. Neither leaves anything to decode.
      static constexpr uint16_t kKnown[] = {
          0x0023, 0x0025, 0x0027, 0x0029, 0x002b, 0x002d, 0x0031, 0x0033, 0x0035, 0x00fd, 0x0201,
          0x0231, 0x0233, 0x0281, 0x0283, 0x8021, 0x8023, 0x8025, 0x8027, 0x8029, 0x802b, 0x8033,
          0x8035, 0x8057, 0x80fd, 0x8281, 0xc021, 0xc023, 0xc025, 0xc029, 0xc223};
      if (proto_size == 1 || std::binary_search(std::begin(kKnown), std::end(kKnown), proto)) {
        Note(p, DecodeEvent::kPppUnsupProto);
      } else {
        NoteInvalid(p, DecodeEvent::kPppWrongType);
      }
      return p->event;
    }
  }
}

// Ethernet header at data[off]: its VLAN tags, then the network layer.
inline DecodeEvent DecodeEthernet(Packet* p, uint32_t off) {
  if (p->caplen < off || p->caplen - off < kEthHeaderLen) {
    return Reject(p, DecodeEvent::kEthPktTooSmall);
  }
  return DecodeL2Payload(p, off + kEthHeaderLen, Rd16(p->data + off + 12));
}

}  // namespace

const char* DecodeEventName(DecodeEvent e) {
  switch (e) {
    case DecodeEvent::kNone:
      return "none";
#define FS_X(id, name)  \
  case DecodeEvent::id: \
    return name;
      FS_DECODE_EVENTS(FS_X)
#undef FS_X
    case DecodeEvent::kCount:
      break;
  }
  return "unknown";
}

namespace {
// What a packet starts from. Copying it is a few vector moves; `*p = Packet{}` built a temporary
// on the stack (rep stos, byte stores) and then read it back in 16-byte loads, each of which
// waited for the narrower stores before it: a tenth of a 64-byte frame's cost in the worker.
const Packet kFreshPacket{};
}  // namespace

DecodeEvent Decode(const uint8_t* data, uint32_t caplen, uint32_t wirelen, uint64_t ts_us,
                   Packet* p) {
  *p = kFreshPacket;
  p->data = data;
  p->caplen = caplen;
  p->wirelen = wirelen < caplen ? caplen : wirelen;
  p->ts_us = ts_us;
  return DecodeEthernet(p, 0);
}

DecodeEvent DecodeInner(const Packet& outer, Packet* inner) {
  *inner = kFreshPacket;
  if (outer.inner_kind == InnerKind::kNone) return DecodeEvent::kNone;
  Packet* p = inner;
  p->data = outer.data + outer.inner_offset;
  p->caplen = p->wirelen = outer.inner_len;
  p->ts_us = outer.ts_us;
  p->depth = uint8_t(outer.depth + 1);
  p->carried_by = outer.tunnel;
  if (outer.depth >= kMaxTunnelDepth) return Reject(p, DecodeEvent::kTooManyLayers);

  uint32_t off = outer.inner_header;
  if (outer.tunnel == Tunnel::kErspan2) {
    // [version:4][vlan:12][cos, en, t, session id][reserved, index]: version 1 is type II. Its
    // VLAN (the mirrored frame's, when the switch removed the tag) is the packet's first.
    if (p->caplen < kErspan2HeaderLen) return Reject(p, DecodeEvent::kErspanHeaderTooSmall);
    const uint16_t ver_vlan = Rd16(p->data);
    if ((ver_vlan >> 12) != 1) return Reject(p, DecodeEvent::kErspanUnsupportedVersion);
    if ((ver_vlan & 0x0fff) != 0) p->vlan_id[p->vlan_count++] = ver_vlan & 0x0fff;
  }
  switch (outer.inner_kind) {
    case InnerKind::kEthernet:
      DecodeEthernet(p, off);
      break;
    case InnerKind::kVlan:
      DecodeL2Payload(p, off, kEtherVlan);
      break;
    case InnerKind::kIpv4:
      p->ether_type = kEtherIpv4;
      DecodeIpv4(p, off);
      break;
    case InnerKind::kIpv6:
      p->ether_type = kEtherIpv6;
      DecodeIpv6(p, off);
      break;
    case InnerKind::kPpp:
      DecodePpp(p, off);
      break;
    case InnerKind::kNone:
      break;
  }
  // Teredo is only a guess from the UDP port: Suricata takes the payload for a tunnel only when
  // the whole carried packet is valid, and otherwise treats the datagram as plain UDP.
  if (outer.tunnel == Tunnel::kTeredo && p->invalid) {
    *inner = kFreshPacket;
    return DecodeEvent::kNone;
  }
  return p->event;
}

DecodeEvent DecodeReassembled(const Packet& frag, const uint8_t* data, uint32_t caplen,
                              uint16_t l3_offset, Packet* out) {
  *out = kFreshPacket;
  Packet* p = out;
  p->data = data;
  p->caplen = p->wirelen = caplen;
  p->ts_us = frag.ts_us;
  p->depth = frag.depth;
  p->carried_by = frag.carried_by;
  p->vlan_count = frag.vlan_count;
  for (int i = 0; i < kMaxVlans; ++i) p->vlan_id[i] = frag.vlan_id[i];
  p->ether_type = frag.ether_type;
  p->reassembled = true;
  if (l3_offset > caplen) return Reject(p, DecodeEvent::kIpv4PktTooSmall);
  return frag.ip_version == 6 ? DecodeIpv6(p, l3_offset) : DecodeIpv4(p, l3_offset);
}

const char* TunnelName(Tunnel t) {
  switch (t) {
    case Tunnel::kNone:
      return "none";
    case Tunnel::kGre:
      return "gre";
    case Tunnel::kErspan1:
      return "erspan1";
    case Tunnel::kErspan2:
      return "erspan2";
    case Tunnel::kVxlan:
      return "vxlan";
    case Tunnel::kGeneve:
      return "geneve";
    case Tunnel::kTeredo:
      return "teredo";
    case Tunnel::kIpv6InIp:
      return "ipv6_in_ip";
    case Tunnel::kIpv4InIp:
      return "ipv4_in_ipv6";
    case Tunnel::kGrePpp:
      return "gre_ppp";
    case Tunnel::kIpip:
      return "ipv4_in_ipv4";
    case Tunnel::kErspan3:
      return "erspan3";
    case Tunnel::kCount:
      break;
  }
  return "unknown";
}

}  // namespace fs::decode
