// Benchmark capture profiles (issue 7): deterministic captures sized by a packet target, each
// stressing one side of the sensor, built from the same session and protocol builders as the
// district capture (session.h, dns.h, http.h, tls.h, smb2.h, rdp.h):
//   imix         the district's steady-state mix: web over TLS/HTTP, DNS, SMB file shares, RDP,
//                NTP, ICMP, ARP; some hosts on VLAN 20, some over IPv6
//   small        64-byte frames (60 captured + FCS), TCP without payload, round-robin over a set
//                of concurrent flows (--flows): the per-packet cost without scanning, and the flow
//                table's cost as the number of concurrent flows grows
//   elephant     a few long transfers: TLS downloads and SMB file copies of tens of MB
//   short-flows  many short conversations, mostly DNS, some one-request HTTP and TLS
//   attack       the district story's malicious steps repeated many times (external RDP brute
//                force, PsExec over SMB, ransom notes and renames, C2 over DNS and HTTP) in a
//                thin benign background: many alerts
// The same options give a byte-identical file. Called from the generator's main() or a test;
// single-threaded.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fs::pcapgen {

enum class BenchProfile : uint8_t { kImix, kSmall, kElephant, kShortFlows, kAttack };

struct BenchProfileInfo {
  BenchProfile profile;
  const char* name;         // subcommand name: "imix", "small", ...
  const char* description;  // one line for --help
  uint64_t default_packets;
};
// All profiles, in the order above.
const std::vector<BenchProfileInfo>& BenchProfiles();

struct BenchOptions {
  uint64_t seed = 1;
  // Packet target: generation stops once the capture holds at least this many frames (whole
  // conversations, so it may overshoot by one conversation). 0: the profile's default x scale.
  uint64_t packets = 0;
  uint32_t scale = 1;
  // small: concurrent TCP flows (0: 4096). The capture then holds at least 4 packets per flow
  // (handshake, then ACKs in both directions) whatever the packet target.
  uint32_t flows = 0;
  uint64_t start_ts_us = 1789372800ULL * 1000000;  // Mon 2026-09-14 08:00:00 UTC
};

struct BenchStats {
  uint64_t packets = 0;
  uint64_t bytes = 0;  // sum of captured frame lengths
  // Conversations generated (ARP makes none). A flow tracker may count fewer ICMP flows: echo
  // series between the same two hosts share one ICMP flow.
  uint64_t flows = 0, tcp_flows = 0, udp_flows = 0, icmp_flows = 0;
  uint64_t ipv6_flows = 0;
  uint64_t arp_packets = 0;
  // Frames by length on the wire (captured length + 4-byte FCS): 64, 65-127, 128-255, 256-511,
  // 512-1023, 1024-1518 (RFC 2544 sizes).
  uint64_t sizes[6] = {};
  uint64_t first_ts_us = 0, last_ts_us = 0;
  // Conversations by kind ("tls", "dns", "rdp-bruteforce", "smb-psexec", ...), in name order.
  std::vector<std::pair<std::string, uint64_t>> sessions;
};

// Writes the capture to `path` (classic pcap, Ethernet, microsecond timestamps). On failure
// returns false with an operator-readable message in *error. `stats` may be null.
bool WriteBenchCapture(const std::string& path, BenchProfile profile, const BenchOptions& options,
                       BenchStats* stats, std::string* error);

}  // namespace fs::pcapgen
