#include "tools/pcapgen/packet_builder.h"

#include <arpa/inet.h>

#include <algorithm>
#include <stdexcept>

namespace fs::pcapgen {
namespace {

constexpr uint8_t kDefaultSrcMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr uint8_t kDefaultDstMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint16_t kEtherQinQ = 0x88a8;
// Local experimental ether type, used when the frame carries only a payload.
constexpr uint16_t kEtherExperimental = 0x88b5;

constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoIcmpv6 = 58;
constexpr uint8_t kExtFragment = 44, kExtAh = 51;

void Put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void Put32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}

// One's-complement sum of 16-bit big-endian words, not yet folded or inverted.
uint32_t SumWords(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += uint32_t(p[i]) << 8 | p[i + 1];
  if (n & 1) acc += uint32_t(p[n - 1]) << 8;
  return acc;
}
uint16_t Fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return uint16_t(~acc);
}

// Pseudo-header sum for the transport checksum (RFC 768/793 for IPv4, RFC 8200 8.1 for IPv6).
uint32_t PseudoSum(bool v6, const uint8_t* src, const uint8_t* dst, uint8_t proto,
                   uint32_t l4_len) {
  uint32_t acc = SumWords(src, v6 ? 16 : 4);
  acc = SumWords(dst, v6 ? 16 : 4, acc);
  acc += proto;
  acc += l4_len >> 16;
  acc += l4_len & 0xffff;
  return acc;
}

void ParseAddr(std::string_view text, int family, uint8_t* out) {
  std::string s(text);
  if (inet_pton(family, s.c_str(), out) != 1) {
    throw std::invalid_argument("PacketBuilder: not an " +
                                std::string(family == AF_INET ? "IPv4" : "IPv6") + " address: '" +
                                s + "'");
  }
}

Bytes PadTo4(const Bytes& b) {
  Bytes out = b;
  out.resize((out.size() + 3) & ~size_t{3}, 0);
  return out;
}

}  // namespace

PacketBuilder::PacketBuilder() {
  std::copy(kDefaultSrcMac, kDefaultSrcMac + 6, src_mac_);
  std::copy(kDefaultDstMac, kDefaultDstMac + 6, dst_mac_);
}

PacketBuilder& PacketBuilder::Eth(const uint8_t src_mac[6], const uint8_t dst_mac[6]) {
  std::copy(src_mac, src_mac + 6, src_mac_);
  std::copy(dst_mac, dst_mac + 6, dst_mac_);
  return *this;
}

PacketBuilder& PacketBuilder::Vlan(uint16_t vid, uint8_t pcp) {
  vlans_.push_back({0, uint16_t((pcp & 7) << 13 | (vid & 0x0fff))});
  return *this;
}

PacketBuilder& PacketBuilder::VlanWithTpid(uint16_t tpid, uint16_t vid, uint8_t pcp) {
  vlans_.push_back({tpid, uint16_t((pcp & 7) << 13 | (vid & 0x0fff))});
  return *this;
}

PacketBuilder& PacketBuilder::Ipv4(std::string_view src, std::string_view dst, uint8_t ttl) {
  l3_ = L3::kIpv4;
  ParseAddr(src, AF_INET, src_ip_);
  ParseAddr(dst, AF_INET, dst_ip_);
  ttl_ = ttl;
  return *this;
}

PacketBuilder& PacketBuilder::Ipv4Options(const Bytes& options) {
  // IHL is 4 bits of 4-byte words: at most 40 option bytes fit.
  if (options.size() > 40) throw std::invalid_argument("PacketBuilder: IPv4 options over 40 bytes");
  ipv4_options_ = PadTo4(options);
  return *this;
}

PacketBuilder& PacketBuilder::Ipv4Fragment(uint16_t offset_bytes, bool more_fragments,
                                           uint16_t ip_id) {
  ipv4_id_ = ip_id;
  ipv4_frag_ = uint16_t((more_fragments ? 0x2000 : 0) | ((offset_bytes / 8) & 0x1fff));
  return *this;
}

PacketBuilder& PacketBuilder::Ipv6(std::string_view src, std::string_view dst, uint8_t hop_limit) {
  l3_ = L3::kIpv6;
  ParseAddr(src, AF_INET6, src_ip_);
  ParseAddr(dst, AF_INET6, dst_ip_);
  ttl_ = hop_limit;
  return *this;
}

PacketBuilder& PacketBuilder::Ipv6ExtHeader(uint8_t type, const Bytes& body) {
  // The length byte allows 2048 bytes ((255 + 1) * 8); for AH (255 + 2) * 4 = 1028, of which
  // 1024 keeps the 8-byte alignment IPv6 requires.
  const size_t max_body = type == kExtAh ? 1024 - 2 : 2048 - 2;
  if (body.size() > max_body) {
    throw std::invalid_argument("PacketBuilder: IPv6 extension header body too long");
  }
  ExtHeader h{type, Bytes(2)};
  h.bytes.insert(h.bytes.end(), body.begin(), body.end());
  h.bytes.resize(std::max<size_t>(8, (h.bytes.size() + 7) & ~size_t{7}), 0);
  if (type == kExtAh) {
    h.bytes[1] = uint8_t(h.bytes.size() / 4 - 2);
  } else if (type == kExtFragment) {
    h.bytes.resize(8);
    h.bytes[1] = 0;
  } else {
    h.bytes[1] = uint8_t(h.bytes.size() / 8 - 1);
  }
  ext_headers_.push_back(std::move(h));
  return *this;
}

PacketBuilder& PacketBuilder::Ipv6Fragment(uint16_t offset_bytes, bool more_fragments,
                                           uint32_t ident) {
  ExtHeader h{kExtFragment, Bytes(8, 0)};
  Put16(&h.bytes[2], uint16_t((offset_bytes / 8) << 3 | (more_fragments ? 1 : 0)));
  Put32(&h.bytes[4], ident);
  ext_headers_.push_back(std::move(h));
  return *this;
}

PacketBuilder& PacketBuilder::Tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq,
                                  uint32_t ack, uint16_t window) {
  l4_ = L4::kTcp;
  sport_ = sport;
  dport_ = dport;
  tcp_flags_ = flags;
  tcp_seq_ = seq;
  tcp_ack_ = ack;
  tcp_window_ = window;
  return *this;
}

PacketBuilder& PacketBuilder::TcpOptions(const Bytes& options) {
  // The data offset is 4 bits of 4-byte words: at most 40 option bytes fit.
  if (options.size() > 40) throw std::invalid_argument("PacketBuilder: TCP options over 40 bytes");
  tcp_options_ = PadTo4(options);
  return *this;
}

PacketBuilder& PacketBuilder::Udp(uint16_t sport, uint16_t dport) {
  l4_ = L4::kUdp;
  sport_ = sport;
  dport_ = dport;
  return *this;
}

PacketBuilder& PacketBuilder::Icmpv4(uint8_t type, uint8_t code, uint32_t rest) {
  l4_ = L4::kIcmpv4;
  icmp_type_ = type;
  icmp_code_ = code;
  icmp_rest_ = rest;
  return *this;
}

PacketBuilder& PacketBuilder::Icmpv6(uint8_t type, uint8_t code, uint32_t rest) {
  l4_ = L4::kIcmpv6;
  icmp_type_ = type;
  icmp_code_ = code;
  icmp_rest_ = rest;
  return *this;
}

PacketBuilder& PacketBuilder::IpProto(uint8_t proto) {
  ip_proto_ = proto;
  return *this;
}

PacketBuilder& PacketBuilder::Payload(std::string_view bytes) {
  payload_.insert(payload_.end(), bytes.begin(), bytes.end());
  return *this;
}

PacketBuilder& PacketBuilder::Payload(const Bytes& bytes) {
  payload_.insert(payload_.end(), bytes.begin(), bytes.end());
  return *this;
}

PacketBuilder& PacketBuilder::RawL3(uint16_t ether_type, const Bytes& bytes) {
  l3_ = L3::kRaw;
  raw_ether_type_ = ether_type;
  raw_l3_ = bytes;
  return *this;
}

PacketBuilder& PacketBuilder::PadTo(size_t min_frame_len) {
  pad_to_ = min_frame_len;
  return *this;
}

PacketBuilder& PacketBuilder::OverrideIpv4Ihl(uint8_t ihl_words) {
  ovr_ihl_ = ihl_words;
  return *this;
}
PacketBuilder& PacketBuilder::OverrideIpv4TotalLength(uint16_t len) {
  ovr_total_len_ = len;
  return *this;
}
PacketBuilder& PacketBuilder::OverrideIpVersion(uint8_t version) {
  ovr_version_ = version;
  return *this;
}
PacketBuilder& PacketBuilder::OverrideIpv6PayloadLength(uint16_t len) {
  ovr_ipv6_plen_ = len;
  return *this;
}
PacketBuilder& PacketBuilder::OverrideTcpDataOffset(uint8_t words) {
  ovr_tcp_doff_ = words;
  return *this;
}
PacketBuilder& PacketBuilder::OverrideUdpLength(uint16_t len) {
  ovr_udp_len_ = len;
  return *this;
}

size_t PacketBuilder::EthLen() const { return 14 + 4 * vlans_.size(); }

size_t PacketBuilder::IpHeaderLen() const {
  if (l3_ == L3::kIpv4) return 20 + ipv4_options_.size();
  if (l3_ == L3::kIpv6) {
    size_t n = 40;
    for (const ExtHeader& h : ext_headers_) n += h.bytes.size();
    return n;
  }
  return 0;
}

size_t PacketBuilder::L4HeaderLen() const {
  switch (l4_) {
    case L4::kTcp:
      return 20 + tcp_options_.size();
    case L4::kUdp:
    case L4::kIcmpv4:
    case L4::kIcmpv6:
      return 8;
    case L4::kNone:
      break;
  }
  return 0;
}

size_t PacketBuilder::L3Offset() const { return l3_ == L3::kNone ? 0 : EthLen(); }

size_t PacketBuilder::L4Offset() const {
  if (l3_ != L3::kIpv4 && l3_ != L3::kIpv6) return 0;
  return EthLen() + IpHeaderLen();
}

size_t PacketBuilder::PayloadOffset() const {
  if (l3_ == L3::kRaw) return EthLen() + raw_l3_.size();
  if (l3_ == L3::kNone) return EthLen();
  return EthLen() + IpHeaderLen() + L4HeaderLen();
}

Bytes PacketBuilder::Build() const {
  const bool is_ip = l3_ == L3::kIpv4 || l3_ == L3::kIpv6;
  const bool v6 = l3_ == L3::kIpv6;
  const size_t eth_len = EthLen();
  const size_t ip_hdr_len = IpHeaderLen();
  const size_t l4_hdr_len = is_ip ? L4HeaderLen() : 0;
  const size_t l4_len = l4_hdr_len + payload_.size();
  const size_t l3_len = l3_ == L3::kRaw ? raw_l3_.size() + payload_.size()
                        : is_ip         ? ip_hdr_len + l4_len
                                        : payload_.size();

  Bytes f(eth_len + l3_len, 0);
  uint8_t* p = f.data();

  // Ethernet + VLAN tags. Each tag's TPID sits where the previous ether type would be.
  std::copy(dst_mac_, dst_mac_ + 6, p);
  std::copy(src_mac_, src_mac_ + 6, p + 6);
  size_t off = 12;
  for (size_t i = 0; i < vlans_.size(); ++i) {
    uint16_t tpid = vlans_[i].tpid;
    if (tpid == 0) tpid = (i == 0 && vlans_.size() > 1) ? kEtherQinQ : kEtherVlan;
    Put16(p + off, tpid);
    Put16(p + off + 2, vlans_[i].tci);
    off += 4;
  }
  const uint16_t ether_type = l3_ == L3::kIpv4   ? kEtherIpv4
                              : l3_ == L3::kIpv6 ? kEtherIpv6
                              : l3_ == L3::kRaw  ? raw_ether_type_
                                                 : kEtherExperimental;
  Put16(p + off, ether_type);
  off += 2;

  if (!is_ip) {
    if (l3_ == L3::kRaw) {
      std::copy(raw_l3_.begin(), raw_l3_.end(), p + off);
      off += raw_l3_.size();
    }
    std::copy(payload_.begin(), payload_.end(), p + off);
    if (f.size() < pad_to_) f.resize(pad_to_, 0);
    return f;
  }

  uint8_t proto = ip_proto_;
  if (l4_ == L4::kTcp) proto = kProtoTcp;
  if (l4_ == L4::kUdp) proto = kProtoUdp;
  if (l4_ == L4::kIcmpv4) proto = kProtoIcmp;
  if (l4_ == L4::kIcmpv6) proto = kProtoIcmpv6;

  uint8_t* ip = p + off;
  if (!v6) {
    const size_t ihl = ip_hdr_len / 4;
    ip[0] =
        uint8_t((ovr_version_.value_or(4) & 0xf) << 4 | (ovr_ihl_.value_or(uint8_t(ihl)) & 0xf));
    ip[1] = 0;
    Put16(ip + 2, ovr_total_len_.value_or(uint16_t(ip_hdr_len + l4_len)));
    Put16(ip + 4, ipv4_id_);
    Put16(ip + 6, ipv4_frag_);
    ip[8] = ttl_;
    ip[9] = proto;
    std::copy(src_ip_, src_ip_ + 4, ip + 12);
    std::copy(dst_ip_, dst_ip_ + 4, ip + 16);
    std::copy(ipv4_options_.begin(), ipv4_options_.end(), ip + 20);
    Put16(ip + 10, Fold(SumWords(ip, ip_hdr_len)));
  } else {
    Put32(ip, uint32_t(ovr_version_.value_or(6) & 0xf) << 28);
    Put16(ip + 4, ovr_ipv6_plen_.value_or(uint16_t(ip_hdr_len - 40 + l4_len)));
    ip[7] = ttl_;
    std::copy(src_ip_, src_ip_ + 16, ip + 8);
    std::copy(dst_ip_, dst_ip_ + 16, ip + 24);
    // Chain: each header's next-header byte names the following one, the last names `proto`.
    uint8_t* next_field = ip + 6;
    size_t e = 40;
    for (const ExtHeader& h : ext_headers_) {
      *next_field = h.type;
      std::copy(h.bytes.begin(), h.bytes.end(), ip + e);
      next_field = ip + e;
      e += h.bytes.size();
    }
    *next_field = proto;
  }

  uint8_t* l4 = ip + ip_hdr_len;
  std::copy(payload_.begin(), payload_.end(), l4 + l4_hdr_len);
  const uint32_t pseudo = PseudoSum(v6, src_ip_, dst_ip_, proto, uint32_t(l4_len));
  switch (l4_) {
    case L4::kTcp: {
      Put16(l4, sport_);
      Put16(l4 + 2, dport_);
      Put32(l4 + 4, tcp_seq_);
      Put32(l4 + 8, tcp_ack_);
      l4[12] = uint8_t(ovr_tcp_doff_.value_or(uint8_t(l4_hdr_len / 4)) << 4);
      l4[13] = tcp_flags_;
      Put16(l4 + 14, tcp_window_);
      std::copy(tcp_options_.begin(), tcp_options_.end(), l4 + 20);
      Put16(l4 + 16, Fold(SumWords(l4, l4_len, pseudo)));
      break;
    }
    case L4::kUdp: {
      Put16(l4, sport_);
      Put16(l4 + 2, dport_);
      Put16(l4 + 4, ovr_udp_len_.value_or(uint16_t(l4_len)));
      uint16_t sum = Fold(SumWords(l4, l4_len, pseudo));
      Put16(l4 + 6, sum == 0 ? 0xffff : sum);  // 0 means "no checksum" in UDP
      break;
    }
    case L4::kIcmpv4:
    case L4::kIcmpv6: {
      l4[0] = icmp_type_;
      l4[1] = icmp_code_;
      Put32(l4 + 4, icmp_rest_);
      // ICMPv4 has no pseudo-header; ICMPv6 does (RFC 4443 2.3), whatever the IP version says.
      const bool with_pseudo = l4_ == L4::kIcmpv6;
      Put16(l4 + 2, Fold(SumWords(l4, l4_len, with_pseudo ? pseudo : 0)));
      break;
    }
    case L4::kNone:
      break;
  }

  if (f.size() < pad_to_) f.resize(pad_to_, 0);
  return f;
}

Bytes PacketBuilder::BuildL3() const {
  Bytes f = Build();
  const size_t eth = EthLen();
  // Build() pads short frames for the wire; a carried datagram has no Ethernet padding.
  size_t end = f.size();
  if (pad_to_ != 0 && (l3_ == L3::kIpv4 || l3_ == L3::kIpv6)) {
    end = eth + IpHeaderLen() + L4HeaderLen() + payload_.size();
  }
  return Bytes(f.begin() + long(eth), f.begin() + long(end));
}

Bytes PacketBuilder::Gre(uint16_t protocol, const Bytes& payload, std::optional<uint32_t> key,
                         std::optional<uint32_t> seq, bool checksum) {
  Bytes g(4, 0);
  g[0] = uint8_t((checksum ? 0x80 : 0) | (key ? 0x20 : 0) | (seq ? 0x10 : 0));
  Put16(&g[2], protocol);
  if (checksum) g.resize(g.size() + 4, 0);  // checksum + reserved1, filled below
  const size_t csum_at = 4;
  if (key) {
    g.resize(g.size() + 4);
    Put32(&g[g.size() - 4], *key);
  }
  if (seq) {
    g.resize(g.size() + 4);
    Put32(&g[g.size() - 4], *seq);
  }
  g.insert(g.end(), payload.begin(), payload.end());
  if (checksum) Put16(&g[csum_at], Fold(SumWords(g.data(), g.size())));
  return g;
}

Bytes PacketBuilder::GrePptp(uint16_t call_id, const Bytes& ppp_payload,
                             std::optional<uint32_t> seq) {
  Bytes g(8, 0);
  g[0] = uint8_t(0x20 | (seq ? 0x10 : 0));  // key present (required), sequence number optional
  g[1] = 0x01;                              // version 1
  Put16(&g[2], 0x880b);                     // PPP
  Put16(&g[4], uint16_t(ppp_payload.size()));
  Put16(&g[6], call_id);
  if (seq) {
    g.resize(12);
    Put32(&g[8], *seq);
  }
  g.insert(g.end(), ppp_payload.begin(), ppp_payload.end());
  return g;
}

Bytes PacketBuilder::ErspanII(uint16_t vlan, uint16_t session_id, const Bytes& frame) {
  Bytes e(8, 0);
  Put16(&e[0], uint16_t(1 << 12 | (vlan & 0x0fff)));  // version 1 = type II
  Put16(&e[2], uint16_t(session_id & 0x03ff));        // COS, En, T zero
  e.insert(e.end(), frame.begin(), frame.end());
  return e;
}

Bytes PacketBuilder::ErspanIII(uint16_t vlan, uint16_t session_id, const Bytes& frame) {
  Bytes e(12, 0);
  Put16(&e[0], uint16_t(2 << 12 | (vlan & 0x0fff)));  // version 2 = type III
  Put16(&e[2], uint16_t(session_id & 0x03ff));
  e.insert(e.end(), frame.begin(), frame.end());
  return e;
}

Bytes PacketBuilder::Vxlan(uint32_t vni, const Bytes& frame) {
  Bytes v(8, 0);
  v[0] = 0x08;  // I: the VNI is valid
  v[4] = uint8_t(vni >> 16);
  v[5] = uint8_t(vni >> 8);
  v[6] = uint8_t(vni);
  v.insert(v.end(), frame.begin(), frame.end());
  return v;
}

Bytes PacketBuilder::Geneve(uint16_t protocol, uint32_t vni, const Bytes& payload,
                            const Bytes& options) {
  const Bytes opts = PadTo4(options);
  if (opts.size() > 63 * 4) throw std::invalid_argument("PacketBuilder: Geneve options too long");
  Bytes g(8, 0);
  g[0] = uint8_t(opts.size() / 4);  // version 0, option length in 4-byte words
  Put16(&g[2], protocol);
  g[4] = uint8_t(vni >> 16);
  g[5] = uint8_t(vni >> 8);
  g[6] = uint8_t(vni);
  g.insert(g.end(), opts.begin(), opts.end());
  g.insert(g.end(), payload.begin(), payload.end());
  return g;
}

}  // namespace fs::pcapgen
