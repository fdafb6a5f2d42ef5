// The session layer of the capture generator: hosts as the mirror port sees them, a time-ordered
// frame store, and TCP/UDP/ICMP/ARP conversations that emit correct frames through PacketBuilder.
// Sessions are generated one after another but interleave in time; Capture sorts the frames by
// timestamp (stable on insertion order) before they are written.
// Single-threaded: one generator owns a Capture and its sessions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tools/pcapgen/packet_builder.h"

namespace fs::pcapgen {

class Rng;

using Mac = std::array<uint8_t, 6>;

// One endpoint. `mac` is the address its frames carry on the mirrored segment: for an external
// host that is the district router's MAC, since the sensor sees it only through the router.
struct Host {
  std::string ip;  // dotted quad or IPv6 text
  Mac mac{};
  uint16_t vlan = 0;  // 802.1Q VID of the host's access VLAN; 0 = untagged (native)
  uint8_t ttl = 128;  // TTL / hop limit as seen at the sensor (Windows 128, Linux 64, less hops)
  bool internal = true;

  bool IsIpv6() const { return ip.find(':') != std::string::npos; }
};

// All frames of a capture, kept in one arena (a scale-10 capture holds hundreds of thousands of
// small frames; one allocation each would dominate generation time).
class Capture {
 public:
  void Add(uint64_t ts_us, const Bytes& frame);
  // Orders by timestamp; frames with equal timestamps keep their insertion order, so that cause
  // precedes effect within a session and the result is deterministic.
  void SortByTime();

  size_t size() const { return entries_.size(); }
  uint64_t ts_us(size_t i) const { return entries_[i].ts_us; }
  const uint8_t* data(size_t i) const { return arena_.data() + entries_[i].offset; }
  uint32_t len(size_t i) const { return entries_[i].len; }
  uint64_t bytes() const { return arena_.size(); }

 private:
  struct Entry {
    uint64_t ts_us;
    uint64_t order;
    uint64_t offset;
    uint32_t len;
  };
  std::vector<Entry> entries_;
  std::vector<uint8_t> arena_;
};

// Layer 2/3 addressing of one client/server pair: MACs, VLAN tag (the same in both directions, or
// a flow tracker would split the conversation) and IP version.
class Path {
 public:
  Path(const Host& client, const Host& server, uint16_t client_ip_id = 0x1000,
       uint16_t server_ip_id = 0x2000);
  // A builder with Ethernet, VLAN and IP headers already set for one direction, padded to the
  // Ethernet minimum. Each call takes the next IPv4 identification of that sender.
  PacketBuilder Start(bool from_client);
  const Host& client() const { return client_; }
  const Host& server() const { return server_; }
  bool ipv6() const { return client_.IsIpv6(); }

 private:
  Host client_, server_;
  uint16_t vlan_;
  uint16_t ip_id_[2];
};

// The district router's MAC: the source of every frame from outside and the destination of every
// frame that leaves a host's VLAN.
extern const Mac kRouterMac;

namespace tcp {
inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;
}

enum class Dir : uint8_t { kToServer = 0, kToClient = 1 };

// Timing of one TCP conversation as the sensor sees it. The sensor sits in the core, so an
// external server's reaction to a client packet appears one WAN round trip later.
struct TcpTiming {
  uint32_t client_rtt_us = 300;  // sensor -> client -> sensor
  uint32_t server_rtt_us = 500;  // sensor -> server -> sensor
  uint32_t client_gap_us = 15;   // spacing of back-to-back client segments at the sensor
  uint32_t server_gap_us = 15;
  uint32_t delayed_ack_us = 40000;
};

// One TCP connection: handshake, data in both directions with correct seq/ack, segmentation by
// MSS, ACK clocking with a slow-start congestion window, delayed ACKs, FIN/FIN or RST.
// Each side may act only after it has seen the other side's last packet (plus its RTT), so the
// emitted frames are causally consistent. Per direction, timestamps never go backwards.
class TcpSession {
 public:
  TcpSession(Capture* capture, Rng* rng, const Host& client, uint16_t client_port,
             const Host& server, uint16_t server_port, uint64_t start_us, const TcpTiming& timing);

  // SYN, SYN-ACK, ACK (with MSS, window scale and SACK-permitted options).
  void Open();
  // `data` from one side, `think_us` after that side could first act. The receiver ACKs every
  // second segment and delays the ACK of an odd last one (a prompt reply piggybacks it).
  void Send(Dir dir, const Bytes& data, uint64_t think_us = 0);
  // As Send, but starting at `at_us` (or as soon as the side is able to, if later): for
  // interleaved traffic such as a remote desktop's screen updates and keystrokes.
  void SendAt(Dir dir, const Bytes& data, uint64_t at_us);
  // FIN from `initiator`, FIN-ACK from the other side, final ACK.
  void Close(Dir initiator, uint64_t think_us = 0);
  // Half close: FIN from `side`, ACKed by the other side, which may go on sending (Send from
  // `side` is not allowed after it). Shutting down both sides ends the connection.
  void Shutdown(Dir side, uint64_t think_us = 0);
  // RST-ACK from `from`; the connection is over.
  void Reset(Dir from, uint64_t think_us = 0);

  // Time at which `dir`'s side could next send (it has seen everything sent to it).
  uint64_t ReadyAt(Dir dir) const { return avail_[Idx(dir)]; }
  // Time of the last packet emitted by this session.
  uint64_t last_ts_us() const { return last_ts_; }
  uint32_t packets() const { return packets_; }

 private:
  static int Idx(Dir d) { return static_cast<int>(d); }
  void SendFrom(int d, const Bytes& data, uint64_t start_us);
  static int Other(int d) { return 1 - d; }
  uint32_t Rtt(int d) const { return d == 0 ? timing_.client_rtt_us : timing_.server_rtt_us; }
  uint32_t Gap(int d) const { return d == 0 ? timing_.client_gap_us : timing_.server_gap_us; }
  // Emits one segment from side d (0 = client) at ts (clamped to d's last timestamp) and
  // returns the timestamp used.
  uint64_t Emit(int d, uint64_t ts, uint8_t flags, const uint8_t* payload, size_t len,
                bool with_options = false);
  // Highest sequence number the other side has sent by time ts: what d acknowledges then.
  uint32_t AckAt(int d, uint64_t ts) const;
  // An overdue delayed ACK of side d is emitted before d's next packet at `next_ts`; one that is
  // not yet due is superseded by that packet.
  void FlushDelayedAck(int d, uint64_t next_ts);

  Capture* capture_;
  Path path_;
  uint16_t port_[2];
  TcpTiming timing_;
  uint16_t mss_;
  uint32_t isn_[2];
  uint32_t snd_nxt_[2];
  uint32_t cwnd_[2] = {10, 10};  // segments
  uint64_t avail_[2];
  uint64_t last_emit_[2];
  uint64_t last_ts_ = 0;
  uint64_t delayed_ack_at_[2] = {0, 0};  // 0: none pending
  bool closed_ = false;
  bool shut_[2] = {false, false};  // FIN sent by side d (Shutdown)
  uint32_t packets_ = 0;
  // (timestamp, sequence number after the segment) of every data/FIN/SYN segment per side.
  std::vector<std::pair<uint64_t, uint32_t>> sent_[2];
};

// A UDP conversation (one 5-tuple): datagrams in either direction at given times.
class UdpFlow {
 public:
  UdpFlow(Capture* capture, Rng* rng, const Host& client, uint16_t client_port, const Host& server,
          uint16_t server_port);
  void Send(Dir dir, uint64_t ts_us, const Bytes& payload);

 private:
  Capture* capture_;
  Path path_;
  uint16_t client_port_, server_port_;
};

// ICMP echo request/reply pairs (ICMPv4 or ICMPv6 by address family), one per second as ping
// does, with Windows' 32-byte payload. Returns the timestamp of the last reply.
uint64_t AddPing(Capture* capture, const Host& from, const Host& to, uint64_t start_us,
                 uint16_t ident, uint16_t first_seq, int count, uint32_t rtt_us);

// ARP who-has from `asker` for `target` (broadcast) and the unicast reply.
void AddArp(Capture* capture, const Host& asker, const Host& target, uint64_t ts_us,
            uint32_t reply_after_us);

}  // namespace fs::pcapgen
