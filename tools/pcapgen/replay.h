// Replays a capture file onto a network interface (libpcap pcap_inject), once, optionally paced.
// For tests that feed a live sensor input through a veth pair in a network namespace they
// created. Not a traffic generator for foreign networks: it sends exactly the file's frames.
#pragma once

#include <cstdint>
#include <string>

namespace fs::pcapgen {

struct ReplayResult {
  uint64_t sent = 0, failed = 0;
};

// pps 0 = as fast as possible. Returns false with *error on open failures.
bool ReplayCapture(const std::string& pcap_path, const std::string& iface, uint32_t pps,
                   ReplayResult* result, std::string* error);

}  // namespace fs::pcapgen
