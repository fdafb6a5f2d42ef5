#include "tools/pcapgen/evasion.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "tools/pcapgen/pcap_writer.h"

namespace fs::pcapgen {

namespace {

constexpr uint64_t kStartUs = 1789372800ULL * 1000000;  // Mon 2026-09-14 08:00:00 UTC
// Frames of a case are this far apart: the order on the wire is the order in the file, and no
// timeout of either engine comes near.
constexpr uint64_t kStepUs = 100;
// No Suricata app-layer parser claims this port, so its protocol detection gives up quietly and
// only the raw stream is inspected, as the sensor does.
constexpr uint16_t kServerPort = 9445;
constexpr uint16_t kClientPort = 49731;
constexpr uint32_t kServerIsn = 0x5e1f0000;
constexpr uint32_t kClientIsn = 0x1a2b3c4d;
constexpr size_t kMss = 1460;
// Suricata's default stream.reassembly.depth ("1mb").
constexpr uint32_t kSuricataDepth = 1 << 20;

// The stream a client sends: 16 bytes of framing, the marker, 8 bytes of trailer. Neither end
// looks like a protocol Suricata would detect. With the marker at offset 16, the bytes that
// differ between marker and decoy are stream offsets [28, 35).
constexpr std::string_view kPrefix = "XFER/1 blk 0001 ";
constexpr std::string_view kSuffix = " chk=0A\n";
constexpr uint32_t kMarkerOff = 16;
constexpr uint32_t kStreamLen = 16 + 26 + 8;
// The UDP datagram's payload: same prefix, marker, 6 bytes of trailer (56 bytes with the UDP
// header, a multiple of 8 so it splits into 8-byte fragments). Marker at transport offset 24,
// the differing bytes at [36, 43).
constexpr std::string_view kUdpSuffix = " end\r\n";

static_assert(kEvasionTcpPattern.size() == 26 && kEvasionTcpDecoy.size() == 26);
static_assert(kEvasionUdpPattern.size() == 26 && kEvasionUdpDecoy.size() == 26);

// A workstation and a server on one VLAN. Built on use, not as globals, so that callers running
// during static initialisation (a test's parameter list) never see them unconstructed.
Host Client(bool ipv6) {
  return Host{
      ipv6 ? "fd00:20:1::31" : "10.20.1.31", {0x00, 0x50, 0x56, 0x14, 0x01, 0x1f}, 0, 128, true};
}
Host Server(bool ipv6) {
  return Host{
      ipv6 ? "fd00:20:1::15" : "10.20.1.15", {0x00, 0x50, 0x56, 0x14, 0x01, 0x0f}, 0, 128, true};
}

Bytes Concat(std::initializer_list<std::string_view> parts) {
  Bytes out;
  for (std::string_view p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes Slice(const Bytes& b, size_t off, size_t len) {
  return Bytes(b.begin() + long(off), b.begin() + long(off + len));
}

// One fragment of an IP datagram's payload: transport bytes [off, off + len) taken from the real
// or the decoy version of the datagram.
struct FragPiece {
  uint32_t off;
  uint32_t len;
  bool decoy = false;
};

// Emits the pieces in the given order as IP fragments (IPv4 identification or IPv6 fragment
// header identification `ident`); MF is set on every piece that does not reach the end.
void EmitFragments(Capture* cap, uint64_t* ts, Path* path, bool from_client, uint8_t proto,
                   const Bytes& real_l4, const Bytes& decoy_l4, uint32_t ident,
                   const std::vector<FragPiece>& pieces) {
  for (const FragPiece& f : pieces) {
    const bool more = f.off + f.len < real_l4.size();
    const Bytes& src = f.decoy ? decoy_l4 : real_l4;
    PacketBuilder b = path->Start(from_client);
    if (path->ipv6()) {
      b.Ipv6Fragment(uint16_t(f.off), more, ident);
    } else {
      b.Ipv4Fragment(uint16_t(f.off), more, uint16_t(ident));
    }
    b.IpProto(proto).Payload(Slice(src, f.off, f.len));
    cap->Add(*ts, b.Build());
    *ts += kStepUs;
  }
}

// The transport bytes (header with its checksum, and payload) of a datagram built by `b`.
Bytes TransportBytes(const PacketBuilder& b, bool ipv6) {
  const Bytes l3 = b.BuildL3();
  const size_t ip_len = ipv6 ? 40 : 20;
  return Bytes(l3.begin() + long(ip_len), l3.end());
}

// A scripted TCP connection seen from the mirror: the client sends stream bytes as the case
// dictates (any offsets, any order, any flags); the server acknowledges each client segment
// with what a receiver would (the end of its contiguous data), and closes politely.
class TcpScript {
 public:
  TcpScript(Capture* cap, bool ipv6, uint32_t client_isn, size_t stream_len)
      : cap_(cap),
        path_(Client(ipv6), Server(ipv6), 0x4100, 0x7300),
        ipv6_(ipv6),
        cisn_(client_isn),
        have_(stream_len, false) {}

  void Handshake() {
    Emit(true, tcp::kSyn, cisn_, 0, {});
    Emit(false, tcp::kSyn | tcp::kAck, kServerIsn, cisn_ + 1, {});
    Emit(true, tcp::kAck, cisn_ + 1, kServerIsn + 1, {});
  }

  // Client bytes [off, off + data.size()) of the stream in one segment; the server ACKs it.
  void Send(uint32_t off, const Bytes& data, uint8_t flags = tcp::kPsh | tcp::kAck) {
    Emit(true, flags, cisn_ + 1 + off, server_nxt_, data);
    Received(off, data.size(), flags);
    ServerAck();
  }

  // As Send, but the segment travels as IP fragments: `pieces` index its transport bytes (TCP
  // header included).
  void SendFragmented(uint32_t off, const Bytes& data, const std::vector<FragPiece>& pieces) {
    PacketBuilder b = path_.Start(true);
    b.Tcp(kClientPort, kServerPort, tcp::kPsh | tcp::kAck, cisn_ + 1 + off, server_nxt_, 64240)
        .Payload(data);
    const Bytes l4 = TransportBytes(b, ipv6_);
    EmitFragments(cap_, &ts_, &path_, true, 6, l4, l4, 0x4242, pieces);
    Received(off, data.size(), 0);
    ServerAck();
  }

  // RST from the client at stream offset `off`: the server's stack drops the connection.
  void ClientRst(uint32_t off) {
    Emit(true, tcp::kRst | tcp::kAck, cisn_ + 1 + off, server_nxt_, {});
  }

  // Client data after the connection is gone: nobody answers.
  void SendUnanswered(uint32_t off, const Bytes& data) {
    Emit(true, tcp::kPsh | tcp::kAck, cisn_ + 1 + off, server_nxt_, data);
  }

  // Client FIN (unless a data segment carried it), server FIN-ACK, client ACK.
  void Close() {
    const uint32_t end = Contiguous();
    if (!fin_) {
      Emit(true, tcp::kFin | tcp::kAck, cisn_ + 1 + end, server_nxt_, {});
      fin_ = true;
      fin_off_ = end;
    }
    Emit(false, tcp::kFin | tcp::kAck, server_nxt_, ClientAckNumber(), {});
    ++server_nxt_;
    Emit(true, tcp::kAck, cisn_ + 1 + end + 1, server_nxt_, {});
  }

 private:
  void Emit(bool from_client, uint8_t flags, uint32_t seq, uint32_t ack, const Bytes& payload) {
    PacketBuilder b = path_.Start(from_client);
    b.Tcp(from_client ? kClientPort : kServerPort, from_client ? kServerPort : kClientPort, flags,
          seq, ack, 64240);
    if (!payload.empty()) b.Payload(payload);
    cap_->Add(ts_, b.Build());
    ts_ += kStepUs;
  }

  void Received(uint32_t off, size_t len, uint8_t flags) {
    for (size_t i = off; i < off + len && i < have_.size(); ++i) have_[i] = true;
    while (contiguous_ < have_.size() && have_[contiguous_]) ++contiguous_;
    if (flags & tcp::kFin) {
      fin_ = true;
      fin_off_ = uint32_t(off + len);
    }
  }

  uint32_t Contiguous() const { return contiguous_; }

  // What the server acknowledges: its contiguous data, plus the FIN once everything before it
  // arrived.
  uint32_t ClientAckNumber() const {
    const uint32_t end = Contiguous();
    return cisn_ + 1 + end + (fin_ && end == fin_off_ ? 1 : 0);
  }

  void ServerAck() { Emit(false, tcp::kAck, server_nxt_, ClientAckNumber(), {}); }

  Capture* cap_;
  Path path_;
  bool ipv6_;
  uint32_t cisn_;
  uint32_t server_nxt_ = kServerIsn + 1;
  std::vector<bool> have_;   // stream bytes the server has received
  uint32_t contiguous_ = 0;  // have_[0, contiguous_) all true
  bool fin_ = false;
  uint32_t fin_off_ = 0;
  uint64_t ts_ = kStartUs;
};

// A client segment of a scripted case: stream bytes [off, off + len) from the real or the decoy
// stream, with extra TCP flags (FIN).
struct Seg {
  uint32_t off;
  uint32_t len;
  bool decoy = false;
  uint8_t extra_flags = 0;
};

Bytes RealStream() { return Concat({kPrefix, kEvasionTcpPattern, kSuffix}); }
Bytes DecoyStream() { return Concat({kPrefix, kEvasionTcpDecoy, kSuffix}); }

// A complete connection (handshake, the segments in the given order, FIN exchange).
Capture TcpCase(const std::vector<Seg>& segs, uint32_t client_isn = kClientIsn,
                bool handshake = true) {
  const Bytes real = RealStream(), decoy = DecoyStream();
  Capture cap;
  TcpScript s(&cap, false, client_isn, real.size());
  if (handshake) s.Handshake();
  for (const Seg& g : segs) {
    s.Send(g.off, Slice(g.decoy ? decoy : real, g.off, g.len),
           uint8_t(tcp::kPsh | tcp::kAck | g.extra_flags));
  }
  s.Close();
  return cap;
}

// The stream is cut into segments at `cuts` (ascending offsets inside the stream).
std::vector<Seg> CutAt(std::initializer_list<uint32_t> cuts, uint32_t len = kStreamLen) {
  std::vector<Seg> out;
  uint32_t from = 0;
  for (uint32_t c : cuts) {
    out.push_back({from, c - from});
    from = c;
  }
  out.push_back({from, len - from});
  return out;
}

// A stream of `filler` bytes followed by prefix, marker and suffix, in MSS-sized segments
// except where `cut_in_marker` asks for a boundary 13 bytes into the marker.
Capture DepthCase(uint32_t marker_off, bool cut_in_marker) {
  const uint32_t filler = marker_off - kMarkerOff;
  Bytes stream(filler, 0);
  // Printable filler without any marker prefix in it.
  for (uint32_t i = 0; i < filler; ++i) stream[i] = uint8_t('a' + i % 23);
  const Bytes tail = RealStream();
  stream.insert(stream.end(), tail.begin(), tail.end());
  Capture cap;
  TcpScript s(&cap, false, kClientIsn, stream.size());
  s.Handshake();
  uint32_t off = 0;
  const uint32_t cut = marker_off + 13;
  while (off < stream.size()) {
    uint32_t n = uint32_t(std::min<size_t>(kMss, stream.size() - off));
    if (cut_in_marker && off < cut && off + n > cut) n = cut - off;
    s.Send(off, Slice(stream, off, n));
    off += n;
  }
  s.Close();
  return cap;
}

// UDP: the datagram with the real marker (or the decoy) as client-to-server transport bytes;
// the UDP checksum is that of the datagram the receiver ends up with (`delivered_decoy`).
struct UdpDatagrams {
  Bytes real, decoy;
};
UdpDatagrams UdpTransport(Path* path, bool delivered_decoy) {
  const Bytes real_payload = Concat({kPrefix, kEvasionUdpPattern, kUdpSuffix});
  const Bytes decoy_payload = Concat({kPrefix, kEvasionUdpDecoy, kUdpSuffix});
  PacketBuilder b = path->Start(true);
  b.Udp(kClientPort, kServerPort).Payload(delivered_decoy ? decoy_payload : real_payload);
  const Bytes delivered = TransportBytes(b, path->ipv6());
  UdpDatagrams d{delivered, delivered};
  std::copy(real_payload.begin(), real_payload.end(), d.real.begin() + 8);
  std::copy(decoy_payload.begin(), decoy_payload.end(), d.decoy.begin() + 8);
  return d;
}

Capture UdpFragCase(bool ipv6, const std::vector<FragPiece>& pieces, bool delivered_decoy) {
  Capture cap;
  Path path(Client(ipv6), Server(ipv6), 0x4100, 0x7300);
  const UdpDatagrams d = UdpTransport(&path, delivered_decoy);
  uint64_t ts = kStartUs;
  EmitFragments(&cap, &ts, &path, true, 17, d.real, d.decoy, 0x00c0ffee, pieces);
  return cap;
}

Capture UdpWholeCase() {
  Capture cap;
  Path path(Client(false), Server(false), 0x4100, 0x7300);
  PacketBuilder b = path.Start(true);
  b.Udp(kClientPort, kServerPort).Payload(Concat({kPrefix, kEvasionUdpPattern, kUdpSuffix}));
  cap.Add(kStartUs, b.Build());
  return cap;
}

// The TCP segment carrying the whole 50-byte stream (70 transport bytes) as IP fragments.
Capture TcpFragCase(const std::vector<FragPiece>& pieces) {
  const Bytes real = RealStream();
  Capture cap;
  TcpScript s(&cap, false, kClientIsn, real.size());
  s.Handshake();
  s.SendFragmented(0, real, pieces);
  s.Close();
  return cap;
}

Capture RstCase() {
  const Bytes real = RealStream();
  Capture cap;
  TcpScript s(&cap, false, kClientIsn, real.size());
  s.Handshake();
  s.Send(0, Slice(real, 0, 28));
  s.ClientRst(28);
  s.SendUnanswered(28, Slice(real, 28, kStreamLen - 28));
  return cap;
}

std::vector<Seg> Reversed(std::vector<Seg> v) {
  std::reverse(v.begin(), v.end());
  return v;
}

}  // namespace

std::string EvasionRules() {
  auto rule = [](const char* proto, const char* flow, std::string_view msg,
                 std::string_view content, uint32_t sid) {
    return std::string("alert ") + proto + " any any -> any any (msg:\"" + std::string(msg) +
           "\"; " + flow + "content:\"" + std::string(content) + "\"; sid:" + std::to_string(sid) +
           "; rev:1;)\n";
  };
  return rule("tcp", "flow:to_server; ", "EVASION tcp marker delivered", kEvasionTcpPattern,
              kEvasionTcpSid) +
         rule("tcp", "flow:to_server; ", "EVASION tcp decoy delivered", kEvasionTcpDecoy,
              kEvasionTcpDecoySid) +
         rule("udp", "", "EVASION udp marker delivered", kEvasionUdpPattern, kEvasionUdpSid) +
         rule("udp", "", "EVASION udp decoy delivered", kEvasionUdpDecoy, kEvasionUdpDecoySid);
}

std::vector<EvasionCase> BuildEvasionCases() {
  std::vector<EvasionCase> out;
  const std::vector<uint32_t> kT = {kEvasionTcpSid}, kTD = {kEvasionTcpDecoySid},
                              kU = {kEvasionUdpSid}, kUD = {kEvasionUdpDecoySid}, kNone = {};
  auto add = [&out](std::string name, std::string description, std::string proto, int ipv,
                    bool whole, std::string delivered, std::vector<uint32_t> must,
                    std::vector<uint32_t> suricata, std::string note, Capture cap) {
    EvasionCase c;
    c.name = std::move(name);
    c.description = std::move(description);
    c.proto = std::move(proto);
    c.ip_version = ipv;
    c.client_ip = Client(ipv == 6).ip;
    c.server_ip = Server(ipv == 6).ip;
    c.client_port = kClientPort;
    c.server_port = kServerPort;
    c.pattern_whole_in_packet = whole;
    c.delivered = std::move(delivered);
    c.must_alert = std::move(must);
    c.suricata_sids = std::move(suricata);
    c.suricata_note = std::move(note);
    c.capture = std::move(cap);
    out.push_back(std::move(c));
  };

  // The marker is stream bytes [16, 42); the decoy differs in [28, 35).
  add("tcp-baseline", "whole marker in one segment (control)", "tcp", 4, true, "real", kT, kT, "",
      TcpCase(CutAt({})));
  add("tcp-split-2", "marker split across two segments at byte 13 of 26", "tcp", 4, false, "real",
      kT, kT, "", TcpCase(CutAt({29})));
  {
    std::vector<Seg> ones;
    for (uint32_t i = 0; i < kStreamLen; ++i) ones.push_back({i, 1});
    add("tcp-split-1byte", "every stream byte in its own segment", "tcp", 4, false, "real", kT, kT,
        "", TcpCase(ones));
  }
  add("tcp-reorder", "three segments sent last first (42-50, 22-42, 0-22)", "tcp", 4, false, "real",
      kT, kT, "", TcpCase(Reversed(CutAt({22, 42}))));
  add("tcp-retransmit", "split in two; the first segment is retransmitted before the second", "tcp",
      4, false, "real", kT, kT, "", TcpCase({{0, 29}, {0, 29}, {29, kStreamLen - 29}}));
  add("tcp-overlap-same", "segments 0-32 and 20-50 overlap with identical bytes", "tcp", 4, false,
      "real", kT, kT, "", TcpCase({{0, 32}, {20, kStreamLen - 20}}));

  // BSD overlap policy on buffered (out-of-order) data: segment 0-8 is held back to the end, so
  // everything else waits in the reassembly queue when the overlaps happen.
  const Seg hole{0, 8};
  add("tcp-overlap-before-real-wins",
      "decoy 24-40 queued, then real 20-40 starts before it: the later segment wins (BSD)", "tcp",
      4, false, "real", kT, kT, "", TcpCase({{8, 12}, {24, 16, true}, {20, 20}, {40, 10}, hole}));
  add("tcp-overlap-before-decoy-wins",
      "real 24-40 queued, then decoy 20-40 starts before it: the decoy wins (BSD)", "tcp", 4, false,
      "decoy", kTD, kTD, "", TcpCase({{8, 12}, {24, 16}, {20, 20, true}, {40, 10}, hole}));
  add("tcp-overlap-same-start-real-wins",
      "real 20-40 queued, then decoy 20-40 at the same start: the first one stays (BSD)", "tcp", 4,
      false, "real", kT, kT, "", TcpCase({{8, 12}, {20, 20}, {20, 20, true}, {40, 10}, hole}));
  add("tcp-overlap-same-start-decoy-wins",
      "decoy 20-40 queued, then real 20-40 at the same start: the decoy stays (BSD)", "tcp", 4,
      false, "decoy", kTD, kTD, "", TcpCase({{8, 12}, {20, 20, true}, {20, 20}, {40, 10}, hole}));
  add("tcp-overlap-after-real-wins",
      "real 20-40 queued, then decoy 24-44 starts after it: the queued bytes stay (BSD)", "tcp", 4,
      false, "real", kT, kT, "", TcpCase({{8, 12}, {20, 20}, {24, 20, true}, {44, 6}, hole}));
  add("tcp-overlap-after-decoy-wins",
      "decoy 20-40 queued, then real 24-44 starts after it: the decoy stays (BSD)", "tcp", 4, false,
      "decoy", kTD, kTD, "", TcpCase({{8, 12}, {20, 20, true}, {24, 20}, {44, 6}, hole}));

  // Client ISN 2^32 - 31: sequence number 0 is stream offset 30, inside the marker.
  add("tcp-seq-wrap", "marker crosses the sequence number wrap (ISN 2^32-31), split at byte 20",
      "tcp", 4, false, "real", kT, kT, "", TcpCase(CutAt({20}), 0xffffffffu - 30));
  add("tcp-fin-data", "the segment with the marker's tail also carries FIN", "tcp", 4, false,
      "real", kT, kNone,
      "Suricata 7.0.10 misses it: the FIN segment is not yet acknowledged when it arrives, and the "
      "only later to-server packet is the final ACK that closes the session, after which the raw "
      "stream is not inspected again; with FIN in a separate segment (tcp-split-2) it alerts",
      TcpCase({{0, 29}, {29, kStreamLen - 29, false, tcp::kFin}}));
  add("tcp-rst-mid", "client RST after 13 bytes of the marker; the rest follows the RST", "tcp", 4,
      false, "none", kNone, kNone, "", RstCase());
  add("tcp-midstream", "no handshake in the capture (midstream pickup), marker split in two", "tcp",
      4, false, "real", kNone, kNone, "", TcpCase(CutAt({29}), kClientIsn, false));
  // MSS-sized segments; the marker starts 1460 * 720 - 13 bytes into the stream, past the 1 MiB
  // depth, and its 13th byte ends a segment.
  add("tcp-beyond-depth", "marker split in two, 2.6 KB past Suricata's 1 MiB stream depth", "tcp",
      4, false, "real", kNone, kNone, "", DepthCase(uint32_t(kMss * 720 - 13), true));
  add("tcp-beyond-depth-whole-packet",
      "marker whole in one segment, 3 KB past Suricata's 1 MiB stream depth", "tcp", 4, true,
      "real", kNone, kT,
      "past the stream depth Suricata no longer reassembles but still inspects each packet's "
      "payload, so a marker whole in one segment alerts",
      DepthCase(uint32_t(kMss * 720 + 100), false));
  static_assert(kMss * 720 - 13 > kSuricataDepth);

  // The TCP segment's 70 transport bytes: header 0-20, marker 36-62.
  add("ipv4-frag-tcp", "the data segment in three IPv4 fragments (0-24, 24-48, 48-70) in order",
      "tcp", 4, false, "real", kT, kT, "", TcpFragCase({{0, 24}, {24, 24}, {48, 22}}));
  add("ipv4-frag-tcp-reverse", "the data segment in three IPv4 fragments, last first", "tcp", 4,
      false, "real", kT, kT, "", TcpFragCase({{48, 22}, {24, 24}, {0, 24}}));

  // The UDP datagram's 56 transport bytes: header 0-8, marker 24-50, decoy bytes 36-43.
  add("udp-baseline", "whole marker in one datagram (control)", "udp", 4, true, "real", kU, kU, "",
      UdpWholeCase());
  add("ipv4-frag-udp", "datagram in three IPv4 fragments (0-24, 24-48, 48-56) in order", "udp", 4,
      false, "real", kU, kU, "", UdpFragCase(false, {{0, 24}, {24, 24}, {48, 8}}, false));
  add("ipv4-frag-udp-reverse", "datagram in three IPv4 fragments, last first", "udp", 4, false,
      "real", kU, kU, "", UdpFragCase(false, {{48, 8}, {24, 24}, {0, 24}}, false));
  {
    std::vector<FragPiece> tiny;
    for (uint32_t off = 0; off < 56; off += 8) tiny.push_back({off, 8});
    add("ipv4-frag-udp-tiny", "datagram in seven 8-byte IPv4 fragments", "udp", 4, false, "real",
        kU, kU, "", UdpFragCase(false, tiny, false));
  }
  // Suricata applies host-os-policy by destination address; its shipped suricata.yaml maps
  // 0.0.0.0/0 to "windows" (IPv6 destinations keep the built-in default, "bsd"). The two differ
  // on a fragment that starts before a queued one and ends where it ends: "bsd" lets the new
  // fragment win, "windows" keeps the queued one.
  add("ipv4-frag-udp-overlap-real-wins",
      "decoy fragment 32-40 first, then real 24-48 covers it: the covering fragment wins (bsd, "
      "windows)",
      "udp", 4, false, "real", kU, kU, "",
      UdpFragCase(false, {{0, 24}, {32, 8, true}, {24, 24}, {48, 8}}, false));
  add("ipv4-frag-udp-overlap-same-end",
      "decoy fragment 32-48 first, then real 24-48 starts before it and ends with it: the queued "
      "decoy stays under Suricata's IPv4 policy (windows)",
      "udp", 4, false, "decoy", kUD, kUD,
      "suricata.yaml host-os-policy maps 0.0.0.0/0 to windows; Suricata's windows defrag policy "
      "keeps the queued fragment here (bsd would take the new one)",
      UdpFragCase(false, {{0, 24}, {32, 16, true}, {24, 24}, {48, 8}}, true));
  add("ipv4-frag-udp-overlap-decoy-wins",
      "decoy fragment 24-48 first, then real 24-48 at the same offset: the first stays", "udp", 4,
      false, "decoy", kUD, kUD, "",
      UdpFragCase(false, {{0, 24}, {24, 24, true}, {24, 24}, {48, 8}}, true));
  add("ipv6-frag-udp-overlap-same-end",
      "as ipv4-frag-udp-overlap-same-end over IPv6: Suricata's default bsd policy lets the real "
      "fragment win",
      "udp", 6, false, "real", kU, kU,
      "IPv6 destinations are outside host-os-policy's 0.0.0.0/0, so the built-in bsd policy "
      "applies",
      UdpFragCase(true, {{0, 24}, {32, 16, true}, {24, 24}, {48, 8}}, false));
  add("ipv6-frag-udp", "datagram in three IPv6 fragments in order", "udp", 6, false, "real", kU, kU,
      "", UdpFragCase(true, {{0, 24}, {24, 24}, {48, 8}}, false));
  add("ipv6-frag-udp-reverse", "datagram in three IPv6 fragments, last first", "udp", 6, false,
      "real", kU, kU, "", UdpFragCase(true, {{48, 8}, {24, 24}, {0, 24}}, false));
  return out;
}

bool WriteEvasionCapture(const std::string& path, const EvasionCase& c, std::string* error) {
  PcapWriter w;
  if (!w.Open(path, error)) return false;
  Bytes frame;
  for (size_t i = 0; i < c.capture.size(); ++i) {
    frame.assign(c.capture.data(i), c.capture.data(i) + c.capture.len(i));
    if (!w.Write(c.capture.ts_us(i), frame)) {
      *error = w.last_error();
      return false;
    }
  }
  if (!w.Close()) {
    *error = w.last_error();
    return false;
  }
  return true;
}

bool WriteSynFloodCapture(const std::string& path, const SynFloodOptions& options,
                          std::string* error) {
  PcapWriter w;
  if (!w.Open(path, error)) return false;
  const uint32_t sources = std::max<uint32_t>(1, std::min<uint32_t>(options.sources, 254));
  // Destination ports 1024-65023 on 172.16.0.0/12 addresses: 64000 ports per address, so up to
  // 2^20 * 64000 SYNs never repeat a (destination address, port) pair.
  constexpr uint64_t kPortsPerAddr = 64000;
  for (uint64_t i = 0; i < options.packets; ++i) {
    const uint64_t addr = i / kPortsPerAddr;
    // Room for any unsigned in each field: GCC's format check cannot see the ranges above.
    char src[48], dst[48];
    std::snprintf(src, sizeof(src), "10.66.0.%u", unsigned(1 + i % sources));
    std::snprintf(dst, sizeof(dst), "172.%u.%u.%u", unsigned(16 + ((addr >> 16) & 0x0f)),
                  unsigned((addr >> 8) & 0xff), unsigned(addr & 0xff));
    const uint16_t sport = uint16_t(32768 + (i * 7919) % 28000);
    const uint16_t dport = uint16_t(1024 + i % kPortsPerAddr);
    // A scanner's ISN: any value, but reproducible.
    const uint32_t seq = uint32_t((i * 0x9e3779b97f4a7c15ULL) >> 32);
    PacketBuilder b;
    b.Ipv4(src, dst, 64)
        .Ipv4Fragment(0, false, uint16_t(i))
        .Tcp(sport, dport, tcp::kSyn, seq, 0, 1024)
        .PadTo(60);
    if (!w.Write(options.start_ts_us + i * options.gap_us, b.Build())) {
      *error = w.last_error();
      return false;
    }
  }
  if (!w.Close()) {
    *error = w.last_error();
    return false;
  }
  return true;
}

}  // namespace fs::pcapgen
