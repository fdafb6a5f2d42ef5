// Per-packet decoder: Ethernet/VLAN -> IPv4/IPv6 (+extension headers) -> TCP/UDP/ICMP.
// Runs on worker lcores for every packet. Straight-line code over the frame bytes: no
// allocation, no virtual calls, no exceptions; every read is preceded by a length check
// against the captured length (or the tighter IP payload end).
//
// Event names and the order of the checks follow Suricata's decoders (src/decode-*.c), so a
// packet Suricata rejects is rejected here under the same name where one exists.
#include <cstring>

#include "dataplane/decode/packet.h"

namespace fs::decode {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint16_t kEtherQinQ = 0x88a8;
constexpr uint16_t kEtherQinQOld = 0x9100;  // pre-802.1ad QinQ, still seen on older switches

constexpr uint32_t kEthHeaderLen = 14;
constexpr uint32_t kVlanHeaderLen = 4;  // TCI + inner ether type (the TPID is the outer type)
constexpr uint8_t kMaxVlans = 2;
constexpr uint32_t kIpv4HeaderLen = 20;
constexpr uint32_t kIpv6HeaderLen = 40;
constexpr int kMaxIpv6ExtHeaders = 8;
constexpr uint32_t kTcpHeaderLen = 20;
constexpr uint32_t kUdpHeaderLen = 8;
constexpr uint32_t kIcmpHeaderLen = 8;

constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoIcmpv6 = 58;
constexpr uint8_t kProtoHopOpts = 0, kProtoRouting = 43, kProtoFragment = 44, kProtoEsp = 50,
                  kProtoAh = 51, kProtoNoNext = 59, kProtoDstOpts = 60, kProtoMobility = 135;

inline uint16_t Rd16(const uint8_t* b) { return uint16_t(uint16_t(b[0]) << 8 | b[1]); }
inline uint32_t Rd32(const uint8_t* b) {
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
}

// The packet is unusable from here on: nothing after this layer may be trusted.
inline DecodeEvent Reject(Packet* p, DecodeEvent e) {
  p->layer = Layer::kNone;
  if (p->event == DecodeEvent::kNone) p->event = e;
  return p->event;
}

// An anomaly that leaves the packet usable (e.g. one bad TCP option): recorded, not fatal.
inline void Note(Packet* p, DecodeEvent e) {
  if (p->event == DecodeEvent::kNone) p->event = e;
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
      break;
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
      break;
    }
    default:
      p->layer = Layer::kL3Other;
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
      case kProtoEsp:
      case kProtoNoNext:
        // Nothing after these can be parsed (encrypted, or nothing at all).
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

DecodeEvent Decode(const uint8_t* data, uint32_t caplen, uint32_t wirelen, uint64_t ts_us,
                   Packet* p) {
  *p = Packet{};
  p->data = data;
  p->caplen = caplen;
  p->wirelen = wirelen < caplen ? caplen : wirelen;
  p->ts_us = ts_us;
  if (caplen < kEthHeaderLen) return Reject(p, DecodeEvent::kEthPktTooSmall);

  uint32_t off = kEthHeaderLen;
  uint16_t type = Rd16(data + 12);
  while (type == kEtherVlan || type == kEtherQinQ || type == kEtherQinQOld) {
    if (caplen - off < kVlanHeaderLen) return Reject(p, DecodeEvent::kVlanHeaderTooSmall);
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

void DecodeCounters::Count(const Packet& p) {
  ++packets;
  bytes += p.caplen;
  ipv4 += p.ip_version == 4;
  ipv6 += p.ip_version == 6;
  non_ip += p.ip_version == 0 && p.event == DecodeEvent::kNone;
  fragments += p.fragment;
  if (p.layer == Layer::kL4) {
    tcp += p.proto == kProtoTcp;
    udp += p.proto == kProtoUdp;
    icmp += p.proto == kProtoIcmp || p.proto == kProtoIcmpv6;
  } else if (p.layer == Layer::kL3Other) {
    ++other_l3;
  }
  if (p.event != DecodeEvent::kNone) ++events[static_cast<int>(p.event)];
}

}  // namespace fs::decode
