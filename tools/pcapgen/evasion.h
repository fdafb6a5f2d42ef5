// The "evasion" capture profile: one small capture per evasion technique (TCP segmentation,
// reordering, retransmission, overlaps under the BSD policy, sequence wrap, FIN/RST tricks,
// midstream pickup, stream depth, IPv4/IPv6 fragmentation), each carrying a marker that a rule
// file (EvasionRules()) matches, and the "syn-flood" profile: millions of SYNs that each open a
// new flow, to show that the sensor's memory stays within its caps.
// The integration tests run Suricata 7 and the sensor on every case and compare the alerts; the
// unit tests check the captures themselves. Called from the generator's main() or a test;
// single-threaded. Deterministic: the same build gives byte-identical files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tools/pcapgen/session.h"

namespace fs::pcapgen {

// One rule per pattern. The real marker is what an attacker wants the endpoint to receive; the
// decoy differs from it in the middle 7 bytes ("evasion" -> "decoyed"), so an engine that keeps
// the wrong copy of overlapping data alerts on the decoy's sid instead.
inline constexpr uint32_t kEvasionTcpSid = 4000001;
inline constexpr uint32_t kEvasionTcpDecoySid = 4000002;
inline constexpr uint32_t kEvasionUdpSid = 4000003;
inline constexpr uint32_t kEvasionUdpDecoySid = 4000004;
inline constexpr std::string_view kEvasionTcpPattern = "EternalBlue-evasion-marker";
inline constexpr std::string_view kEvasionTcpDecoy = "EternalBlue-decoyed-marker";
inline constexpr std::string_view kEvasionUdpPattern = "NbtDatagram-evasion-marker";
inline constexpr std::string_view kEvasionUdpDecoy = "NbtDatagram-decoyed-marker";

// The rule file (Suricata syntax, which the sensor reads too): to_server TCP rules for the TCP
// marker and its decoy, UDP rules for the UDP marker and its decoy.
std::string EvasionRules();

struct EvasionCase {
  std::string name;  // file stem, e.g. "tcp-split-2"
  std::string description;
  std::string proto;  // "tcp" or "udp": which pattern pair the case carries
  int ip_version = 4;
  // The one conversation of the capture (the client sends the marker).
  std::string client_ip, server_ip;
  uint16_t client_port = 0, server_port = 0;
  // Some single frame carries the whole real pattern. False for every split/fragmented case:
  // the unit test checks that no frame holds it, so only reassembly can find it.
  bool pattern_whole_in_packet = false;
  // What the receiving host assembles from the capture (TCP and IP overlaps resolved by the BSD
  // policy, Suricata's default): "real" or "decoy" marker, or "none" (the connection was reset
  // before the marker was complete).
  std::string delivered;
  // Sids that any engine inspecting what the endpoint receives must raise, whatever Suricata
  // does. Empty where not alerting is a documented policy (midstream pickup off, beyond the
  // stream depth, data after RST).
  std::vector<uint32_t> must_alert;
  // Suricata 7.0.10's verdict on this capture with its default configuration and
  // EvasionRules(), as observed when the case was written (sids, ascending), and why.
  std::vector<uint32_t> suricata_sids;
  std::string suricata_note;
  Capture capture;  // the frames, in time order
};

// Builds every case. Cheap (about 1 MiB of frames in total; the stream-depth cases dominate).
std::vector<EvasionCase> BuildEvasionCases();

// Writes `c`'s frames as a classic pcap file. False with a message naming the file on failure.
bool WriteEvasionCapture(const std::string& path, const EvasionCase& c, std::string* error);

// The "syn-flood" profile: `packets` SYNs from `sources` client addresses to distinct
// destination (address, port) pairs, so every SYN is the first packet of a new flow, `gap_us`
// apart. Streamed to the file: memory does not grow with `packets`.
struct SynFloodOptions {
  uint64_t packets = 1000000;
  uint32_t sources = 4;  // 10.66.0.1 .. 10.66.0.<sources>
  uint32_t gap_us = 1;
  uint64_t start_ts_us = 1789372800ULL * 1000000;  // Mon 2026-09-14 08:00:00 UTC
};
bool WriteSynFloodCapture(const std::string& path, const SynFloodOptions& options,
                          std::string* error);

}  // namespace fs::pcapgen
