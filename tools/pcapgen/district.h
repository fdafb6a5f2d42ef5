// The "district" capture profile: about five minutes of a school district's core traffic
// (workstations resolving and browsing over HTTP/TLS, file shares on fs01 over SMB2, internal
// RDP, a little ICMP and ARP; some hosts on VLAN 20, some over IPv6) with the intrusion story of
// docs (RDP brute force -> PsExec lateral movement -> C2 over DNS/HTTP -> ransomware on the file
// share) embedded at fixed times. Deterministic: the same options give a byte-identical file.
// The story does not depend on `scale`: only the benign background grows.
// Called from the generator's main() or a test; single-threaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fs::pcapgen {

struct DistrictOptions {
  uint64_t seed = 1;
  uint32_t scale = 1;  // multiplies the benign volume (flows), not the capture duration
  uint64_t start_ts_us = 1789372800ULL * 1000000;  // Mon 2026-09-14 08:00:00 UTC
};

// One conversation the story puts on the wire, with the signatures (district pack sids) that
// must alert on it. A "control" is a benign conversation that resembles the story (internal RDP
// with the same cookie, SMB to fs01, ordinary DNS/HTTP from the victim) and must not alert.
struct TruthFlow {
  std::string name;   // e.g. "rdp-bruteforce-07", "smb-psexec"
  std::string proto;  // "tcp" or "udp"
  std::string client_ip;
  uint16_t client_port = 0;
  std::string server_ip;
  uint16_t server_port = 0;
  std::vector<uint32_t> sids;  // ascending; empty for controls
  uint64_t first_ts_us = 0;
};

struct DistrictTruth {
  std::vector<TruthFlow> flows;     // story flows, in time order
  std::vector<TruthFlow> controls;  // look-alike benign flows that must not alert
  uint64_t packets = 0;
  uint64_t bytes = 0;  // sum of captured frame lengths
  // Conversations as a flow tracker counts them: one per TCP connection, UDP 5-tuple and ICMP
  // echo series (ARP makes none). VLAN-tagged conversations carry the same tag both ways.
  uint64_t flows_total = 0;
  uint64_t tcp_flows = 0, udp_flows = 0, icmp_flows = 0;
  uint64_t arp_packets = 0;
  uint64_t first_ts_us = 0, last_ts_us = 0;
};

// Writes the capture to `path` (classic pcap, Ethernet, microsecond timestamps). On failure
// returns false with an operator-readable message in *error (file name and reason).
// `truth` may be null.
bool WriteDistrictCapture(const std::string& path, const DistrictOptions& options,
                          DistrictTruth* truth, std::string* error);

}  // namespace fs::pcapgen
