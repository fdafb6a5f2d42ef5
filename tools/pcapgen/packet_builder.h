// PacketBuilder: builds one Ethernet frame layer by layer with correct lengths and checksums,
// for the capture generator and for decoder/flow/scan tests. Malformed variants are made by
// overriding a field (the Override* calls) or by truncating the built bytes.
// Plain value type; any thread. Not for the packet path.
//
// Layers are independent settings, so the order of calls does not matter, except that IPv6
// extension headers (Ipv6ExtHeader, Ipv6Fragment) chain in call order, and Payload() appends.
// The frame is: Ethernet, VLAN tags, then either RawL3 bytes or the IP header, IPv6 extension
// headers, the transport header (if one was set) and the payload.
// A malformed address literal, or options/extension headers too long for their length field,
// are programming errors of the caller: std::invalid_argument.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fs::pcapgen {

using Bytes = std::vector<uint8_t>;

class PacketBuilder {
 public:
  PacketBuilder();  // Ethernet with fixed default MACs

  PacketBuilder& Eth(const uint8_t src_mac[6], const uint8_t dst_mac[6]);
  PacketBuilder& Vlan(uint16_t vid, uint8_t pcp = 0);  // 802.1Q; call twice for QinQ (outer 0x88a8)
  // A tag with an explicit TPID (e.g. 0x9100), for the decoder's tests of older QinQ gear.
  PacketBuilder& VlanWithTpid(uint16_t tpid, uint16_t vid, uint8_t pcp = 0);
  PacketBuilder& Ipv4(std::string_view src, std::string_view dst, uint8_t ttl = 64);
  PacketBuilder& Ipv4Options(const Bytes& options);  // padded to 4 bytes
  PacketBuilder& Ipv4Fragment(uint16_t offset_bytes, bool more_fragments, uint16_t ip_id);
  PacketBuilder& Ipv6(std::string_view src, std::string_view dst, uint8_t hop_limit = 64);
  // body = the header after its next-header and length bytes; padded with zeros to a multiple of
  // 8 bytes in total. The length byte is computed (AH, type 51: in 4-byte units minus 2; others
  // in 8-byte units minus 1; fragment, type 44: reserved 0).
  PacketBuilder& Ipv6ExtHeader(uint8_t type, const Bytes& body);  // hop-by-hop, routing, dest opts
  PacketBuilder& Ipv6Fragment(uint16_t offset_bytes, bool more_fragments, uint32_t ident);
  PacketBuilder& Tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
                     uint16_t window = 64240);
  PacketBuilder& TcpOptions(const Bytes& options);  // padded to 4 bytes
  PacketBuilder& Udp(uint16_t sport, uint16_t dport);
  PacketBuilder& Icmpv4(uint8_t type, uint8_t code, uint32_t rest = 0);
  PacketBuilder& Icmpv6(uint8_t type, uint8_t code, uint32_t rest = 0);
  // IP protocol number of the payload when no transport header was set (GRE 47, ESP 50,
  // SCTP 132, ...). Without a transport header and without this: 59 (no next header).
  PacketBuilder& IpProto(uint8_t proto);
  PacketBuilder& Payload(std::string_view bytes);
  PacketBuilder& Payload(const Bytes& bytes);
  PacketBuilder& RawL3(uint16_t ether_type, const Bytes& bytes);  // e.g. ARP
  // Appends zero bytes after the IP datagram until the frame is min_frame_len long, as an
  // Ethernet NIC pads short frames (60 bytes without FCS). Not counted in any IP length.
  PacketBuilder& PadTo(size_t min_frame_len = 60);

  // Malformed-packet knobs: the built header carries this value instead of the computed one.
  PacketBuilder& OverrideIpv4Ihl(uint8_t ihl_words);
  PacketBuilder& OverrideIpv4TotalLength(uint16_t len);
  PacketBuilder& OverrideIpVersion(uint8_t version);
  PacketBuilder& OverrideIpv6PayloadLength(uint16_t len);
  PacketBuilder& OverrideTcpDataOffset(uint8_t words);
  PacketBuilder& OverrideUdpLength(uint16_t len);

  // Frame bytes with every length and checksum (IPv4, TCP, UDP, ICMPv4/v6) computed.
  // Checksums cover the bytes actually written (a first fragment's transport checksum covers
  // only that fragment's data); the IPv6 pseudo-header uses the IPv6 header's destination.
  Bytes Build() const;

  // Build() without the Ethernet header and VLAN tags: the IP datagram (or RawL3 bytes and
  // payload), e.g. to carry it in a tunnel or to quote it in an ICMP error message.
  Bytes BuildL3() const;

  // Encapsulations, to carry a packet as the Payload() of an outer one. Each returns the tunnel
  // header followed by `payload`.
  // GRE (RFC 2784/2890): version 0; the checksum, key and sequence number fields are present
  // when asked for (the checksum then covers header and payload). Outer IP protocol 47.
  static Bytes Gre(uint16_t protocol, const Bytes& payload, std::optional<uint32_t> key = {},
                   std::optional<uint32_t> seq = {}, bool checksum = false);
  // Enhanced GRE (version 1, PPTP, RFC 2637) carrying PPP: key = payload length + call id.
  static Bytes GrePptp(uint16_t call_id, const Bytes& ppp_payload,
                       std::optional<uint32_t> seq = {});
  // ERSPAN type II header (version 1, 8 bytes) and the mirrored frame: the payload of
  // Gre(0x88be, ..., seq) (type II is the variant with a sequence number).
  static Bytes ErspanII(uint16_t vlan, uint16_t session_id, const Bytes& frame);
  // ERSPAN type III header (version 2, 12 bytes, no platform subheader): payload of Gre(0x22eb).
  static Bytes ErspanIII(uint16_t vlan, uint16_t session_id, const Bytes& frame);
  // VXLAN header (I flag, 24-bit VNI) and an Ethernet frame: a UDP payload for port 4789.
  static Bytes Vxlan(uint32_t vni, const Bytes& frame);
  // Geneve header (version 0, protocol type, VNI, options padded to 4 bytes): UDP port 6081.
  static Bytes Geneve(uint16_t protocol, uint32_t vni, const Bytes& payload,
                      const Bytes& options = {});

  // Byte offset in Build()'s output where the IP header / the transport header / the payload
  // starts (0 when there is none); handy for tests that check decoded offsets.
  size_t L3Offset() const;
  size_t L4Offset() const;
  size_t PayloadOffset() const;

 private:
  enum class L3 : uint8_t { kNone, kIpv4, kIpv6, kRaw };
  enum class L4 : uint8_t { kNone, kTcp, kUdp, kIcmpv4, kIcmpv6 };
  struct VlanTag {
    uint16_t tpid;  // 0: chosen at Build() (0x88a8 outer of several, 0x8100 otherwise)
    uint16_t tci;
  };
  struct ExtHeader {
    uint8_t type;
    Bytes bytes;  // the complete header; byte 0 (next header) filled at Build()
  };

  size_t EthLen() const;
  size_t IpHeaderLen() const;  // IPv4 header with options, or IPv6 header plus extension headers
  size_t L4HeaderLen() const;

  uint8_t src_mac_[6];
  uint8_t dst_mac_[6];
  std::vector<VlanTag> vlans_;

  L3 l3_ = L3::kNone;
  uint8_t src_ip_[16] = {};
  uint8_t dst_ip_[16] = {};
  uint8_t ttl_ = 64;
  Bytes ipv4_options_;  // already padded
  uint16_t ipv4_id_ = 0;
  uint16_t ipv4_frag_ = 0;  // flags (MF) + offset in 8-byte units, host order
  std::vector<ExtHeader> ext_headers_;
  uint16_t raw_ether_type_ = 0;
  Bytes raw_l3_;

  L4 l4_ = L4::kNone;
  uint8_t ip_proto_ = 59;
  uint16_t sport_ = 0, dport_ = 0;
  uint8_t tcp_flags_ = 0;
  uint32_t tcp_seq_ = 0, tcp_ack_ = 0;
  uint16_t tcp_window_ = 0;
  Bytes tcp_options_;  // already padded
  uint8_t icmp_type_ = 0, icmp_code_ = 0;
  uint32_t icmp_rest_ = 0;

  Bytes payload_;
  size_t pad_to_ = 0;

  std::optional<uint8_t> ovr_ihl_;
  std::optional<uint16_t> ovr_total_len_;
  std::optional<uint8_t> ovr_version_;
  std::optional<uint16_t> ovr_ipv6_plen_;
  std::optional<uint8_t> ovr_tcp_doff_;
  std::optional<uint16_t> ovr_udp_len_;
};

}  // namespace fs::pcapgen
