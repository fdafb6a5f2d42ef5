#include "tools/pcapgen/session.h"

#include <algorithm>
#include <cassert>
#include <cstdio>

#include "tools/pcapgen/byte_writer.h"
#include "tools/pcapgen/rng.h"

namespace fs::pcapgen {

namespace {
// Segments in flight at most: 128 x 1460 bytes stays inside the 262656-byte receive window.
constexpr uint32_t kMaxCwnd = 128;
}  // namespace

const Mac kRouterMac = {0x00, 0x1c, 0x73, 0x20, 0x00, 0x01};

void Capture::Add(uint64_t ts_us, const Bytes& frame) {
  entries_.push_back(
      Entry{ts_us, entries_.size(), arena_.size(), static_cast<uint32_t>(frame.size())});
  arena_.insert(arena_.end(), frame.begin(), frame.end());
}

void Capture::SortByTime() {
  std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    return a.ts_us != b.ts_us ? a.ts_us < b.ts_us : a.order < b.order;
  });
}

Path::Path(const Host& client, const Host& server, uint16_t client_ip_id, uint16_t server_ip_id)
    : client_(client),
      server_(server),
      vlan_(client.internal ? client.vlan : server.vlan),
      ip_id_{client_ip_id, server_ip_id} {}

PacketBuilder Path::Start(bool from_client) {
  const Host& from = from_client ? client_ : server_;
  const Host& to = from_client ? server_ : client_;
  // Hosts on the same VLAN talk MAC to MAC; anything else crosses the router, and the sensor
  // sees the frame on the internal party's segment.
  const bool same_l2 = from.internal && to.internal && from.vlan == to.vlan;
  Mac src = from.mac, dst = to.mac;
  if (!same_l2) {
    const bool from_is_near = from.internal && (from_client || !to.internal);
    if (from_is_near) {
      dst = kRouterMac;
    } else {
      src = kRouterMac;
    }
  }
  PacketBuilder b;
  b.Eth(src.data(), dst.data()).PadTo(60);
  if (vlan_ != 0) b.Vlan(vlan_);
  if (ipv6()) {
    b.Ipv6(from.ip, to.ip, from.ttl);
  } else {
    // Offset 0 without MF is not a fragment: this only sets the identification field, which a
    // Windows sender increments per datagram.
    b.Ipv4(from.ip, to.ip, from.ttl).Ipv4Fragment(0, false, ip_id_[from_client ? 0 : 1]++);
  }
  return b;
}

TcpSession::TcpSession(Capture* capture, Rng* rng, const Host& client, uint16_t client_port,
                       const Host& server, uint16_t server_port, uint64_t start_us,
                       const TcpTiming& timing)
    : capture_(capture),
      path_(client, server, static_cast<uint16_t>(rng->Next()), static_cast<uint16_t>(rng->Next())),
      port_{client_port, server_port},
      timing_(timing),
      mss_(client.IsIpv6() ? 1440 : 1460) {
  for (int d = 0; d < 2; ++d) {
    isn_[d] = static_cast<uint32_t>(rng->Next());
    snd_nxt_[d] = isn_[d];
    avail_[d] = start_us;
    last_emit_[d] = 0;
  }
}

uint32_t TcpSession::AckAt(int d, uint64_t ts) const {
  const auto& log = sent_[Other(d)];
  // Last entry with timestamp <= ts (the log is time-ordered per side).
  auto it = std::upper_bound(
      log.begin(), log.end(), ts,
      [](uint64_t t, const std::pair<uint64_t, uint32_t>& e) { return t < e.first; });
  if (it == log.begin()) return 0;
  return std::prev(it)->second;
}

uint64_t TcpSession::Emit(int d, uint64_t ts, uint8_t flags, const uint8_t* payload, size_t len,
                          bool with_options) {
  ts = std::max(ts, last_emit_[d]);
  last_emit_[d] = ts;
  last_ts_ = std::max(last_ts_, ts);
  const bool has_ack = (flags & tcp::kAck) != 0;
  const uint32_t ack = has_ack ? AckAt(d, ts) : 0;
  // Window scale 8 is negotiated in the handshake, so 1026 advertises 262656 bytes (Windows'
  // usual receive window); SYNs carry the unscaled 64240.
  const uint16_t window = (flags & tcp::kSyn) ? 64240 : 1026;
  PacketBuilder b = path_.Start(d == 0);
  b.Tcp(port_[d], port_[Other(d)], flags, snd_nxt_[d], ack, window);
  if (with_options) {
    // MSS, NOP, window scale 8, NOP, NOP, SACK permitted: what Windows puts in a SYN.
    b.TcpOptions(Bytes{0x02, 0x04, uint8_t(mss_ >> 8), uint8_t(mss_), 0x01, 0x03, 0x03, 0x08, 0x01,
                       0x01, 0x04, 0x02});
  }
  if (len > 0) b.Payload(Bytes(payload, payload + len));
  capture_->Add(ts, b.Build());
  ++packets_;
  uint32_t consumed = static_cast<uint32_t>(len);
  if (flags & (tcp::kSyn | tcp::kFin)) ++consumed;
  if (consumed > 0) {
    snd_nxt_[d] += consumed;
    sent_[d].emplace_back(ts, snd_nxt_[d]);
  }
  return ts;
}

void TcpSession::FlushDelayedAck(int d, uint64_t next_ts) {
  if (delayed_ack_at_[d] == 0) return;
  const uint64_t due = delayed_ack_at_[d];
  delayed_ack_at_[d] = 0;
  if (due <= next_ts) Emit(d, due, tcp::kAck, nullptr, 0);
}

void TcpSession::Open() {
  const uint64_t syn = Emit(0, avail_[0], tcp::kSyn, nullptr, 0, true);
  const uint64_t synack = Emit(1, syn + Rtt(1), tcp::kSyn | tcp::kAck, nullptr, 0, true);
  const uint64_t ack = Emit(0, synack + Rtt(0), tcp::kAck, nullptr, 0);
  avail_[0] = ack + Gap(0);
  avail_[1] = ack + Rtt(1);
}

void TcpSession::Send(Dir dir, const Bytes& data, uint64_t think_us) {
  SendFrom(Idx(dir), data, avail_[Idx(dir)] + think_us);
}

void TcpSession::SendAt(Dir dir, const Bytes& data, uint64_t at_us) {
  SendFrom(Idx(dir), data, std::max(at_us, avail_[Idx(dir)]));
}

void TcpSession::SendFrom(int d, const Bytes& data, uint64_t start_us) {
  assert(!closed_ && !shut_[d]);
  const int r = Other(d);
  uint64_t t = start_us;
  FlushDelayedAck(d, t);
  FlushDelayedAck(r, t);
  size_t off = 0;
  uint64_t last_seg = t;
  while (off < data.size()) {
    // One congestion window's worth of segments back to back; the next round waits for the
    // ACK of this round's first pair to reach the sender.
    uint64_t first_ack = 0;
    uint32_t sent = 0;
    for (uint32_t i = 0; i < cwnd_[d] && off < data.size(); ++i, ++sent) {
      const size_t n = std::min<size_t>(mss_, data.size() - off);
      const bool last = off + n == data.size();
      uint8_t flags = tcp::kAck;
      if (last) flags |= tcp::kPsh;
      last_seg = Emit(d, t, flags, data.data() + off, n);
      off += n;
      t = last_seg + Gap(d);
      if (i % 2 == 1) {
        // The receiver acknowledges every second full segment promptly.
        FlushDelayedAck(r, last_seg + Rtt(r));
        const uint64_t a = Emit(r, last_seg + Rtt(r), tcp::kAck, nullptr, 0);
        if (first_ack == 0) first_ack = a;
        delayed_ack_at_[r] = 0;
      } else {
        delayed_ack_at_[r] = last_seg + Rtt(r) + timing_.delayed_ack_us;
      }
    }
    // Slow start: the window grows by one segment per segment acknowledged, so it doubles only
    // when a round filled it.
    cwnd_[d] = std::min<uint32_t>(cwnd_[d] + sent, kMaxCwnd);
    if (off < data.size() && first_ack != 0) t = std::max(t, first_ack + Rtt(d));
  }
  avail_[d] = last_seg + Gap(d);
  avail_[r] = std::max(avail_[r], last_seg + Rtt(r));
}

void TcpSession::Close(Dir initiator, uint64_t think_us) {
  const int d = Idx(initiator);
  const int r = Other(d);
  const uint64_t t = avail_[d] + think_us;
  FlushDelayedAck(d, t);
  const uint64_t fin = Emit(d, t, tcp::kFin | tcp::kAck, nullptr, 0);
  FlushDelayedAck(r, fin + Rtt(r));
  const uint64_t fin2 =
      Emit(r, std::max(fin + Rtt(r), avail_[r]), tcp::kFin | tcp::kAck, nullptr, 0);
  delayed_ack_at_[d] = 0;
  Emit(d, fin2 + Rtt(d), tcp::kAck, nullptr, 0);
  closed_ = true;
}

void TcpSession::Shutdown(Dir side, uint64_t think_us) {
  const int d = Idx(side);
  const int r = Other(d);
  assert(!closed_ && !shut_[d]);
  const uint64_t t = avail_[d] + think_us;
  FlushDelayedAck(d, t);
  const uint64_t fin = Emit(d, t, tcp::kFin | tcp::kAck, nullptr, 0);
  FlushDelayedAck(r, fin + Rtt(r));
  delayed_ack_at_[r] = 0;
  const uint64_t ack = Emit(r, std::max(fin + Rtt(r), avail_[r]), tcp::kAck, nullptr, 0);
  shut_[d] = true;
  avail_[r] = std::max(avail_[r], ack + Gap(r));
  closed_ = shut_[r];
}

void TcpSession::Reset(Dir from, uint64_t think_us) {
  const int d = Idx(from);
  const uint64_t t = avail_[d] + think_us;
  FlushDelayedAck(d, t);
  delayed_ack_at_[Other(d)] = 0;
  Emit(d, t, tcp::kRst | tcp::kAck, nullptr, 0);
  closed_ = true;
}

UdpFlow::UdpFlow(Capture* capture, Rng* rng, const Host& client, uint16_t client_port,
                 const Host& server, uint16_t server_port)
    : capture_(capture),
      path_(client, server, static_cast<uint16_t>(rng->Next()), static_cast<uint16_t>(rng->Next())),
      client_port_(client_port),
      server_port_(server_port) {}

void UdpFlow::Send(Dir dir, uint64_t ts_us, const Bytes& payload) {
  const bool from_client = dir == Dir::kToServer;
  PacketBuilder b = path_.Start(from_client);
  if (from_client) {
    b.Udp(client_port_, server_port_);
  } else {
    b.Udp(server_port_, client_port_);
  }
  b.Payload(payload);
  capture_->Add(ts_us, b.Build());
}

uint64_t AddPing(Capture* capture, const Host& from, const Host& to, uint64_t start_us,
                 uint16_t ident, uint16_t first_seq, int count, uint32_t rtt_us) {
  Path path(from, to, static_cast<uint16_t>(ident * 7), static_cast<uint16_t>(ident * 13));
  const std::string_view kWindowsPingData = "abcdefghijklmnopqrstuvwabcdefghi";
  uint64_t last = start_us;
  for (int i = 0; i < count; ++i) {
    const uint64_t ts = start_us + static_cast<uint64_t>(i) * 1000000;
    const uint32_t rest = (uint32_t{ident} << 16) | uint16_t(first_seq + i);
    PacketBuilder req = path.Start(true);
    PacketBuilder rep = path.Start(false);
    if (path.ipv6()) {
      req.Icmpv6(128, 0, rest);
      rep.Icmpv6(129, 0, rest);
    } else {
      req.Icmpv4(8, 0, rest);
      rep.Icmpv4(0, 0, rest);
    }
    req.Payload(kWindowsPingData);
    rep.Payload(kWindowsPingData);
    capture->Add(ts, req.Build());
    last = ts + rtt_us;
    capture->Add(last, rep.Build());
  }
  return last;
}

void AddArp(Capture* capture, const Host& asker, const Host& target, uint64_t ts_us,
            uint32_t reply_after_us) {
  auto arp = [](uint16_t op, const Mac& sha, const std::string& spa, const Mac& tha,
                const std::string& tpa) {
    ByteWriter w;
    w.Be16(1).Be16(0x0800).U8(6).U8(4).Be16(op);
    auto v4 = [&w](const std::string& ip) {
      unsigned a = 0, b = 0, c = 0, d = 0;
      std::sscanf(ip.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d);
      w.U8(uint8_t(a)).U8(uint8_t(b)).U8(uint8_t(c)).U8(uint8_t(d));
    };
    for (uint8_t x : sha) w.U8(x);
    v4(spa);
    for (uint8_t x : tha) w.U8(x);
    v4(tpa);
    return w.Take();
  };
  static constexpr Mac kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  PacketBuilder req;
  req.Eth(asker.mac.data(), kBroadcast.data()).PadTo(60);
  if (asker.vlan != 0) req.Vlan(asker.vlan);
  req.RawL3(0x0806, arp(1, asker.mac, asker.ip, Mac{}, target.ip));
  capture->Add(ts_us, req.Build());
  PacketBuilder rep;
  rep.Eth(target.mac.data(), asker.mac.data()).PadTo(60);
  if (asker.vlan != 0) rep.Vlan(asker.vlan);
  rep.RawL3(0x0806, arp(2, target.mac, target.ip, asker.mac, asker.ip));
  capture->Add(ts_us + reply_after_us, rep.Build());
}

}  // namespace fs::pcapgen
