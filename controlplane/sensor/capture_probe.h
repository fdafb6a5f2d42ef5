// Checks a capture file before DPDK reads it: readable, a format libpcap knows (pcap/pcapng),
// Ethernet link type, and (count) how many packets libpcap can read from it: the end-of-input
// signal for DPDK's net_pcap, which never reports the end of a file. A CaptureReader reports it
// itself, so a file run through readers skips the count (a second pass over the whole capture
// before the first packet). gzip-compressed captures are decompressed to a private temporary
// file first. Main thread only, at start-up.
#pragma once

#include <cstdint>
#include <string>

namespace fs::sensor {

struct CaptureInfo {
  std::string path;        // as given
  std::string read_path;   // what DPDK reads (the decompressed copy for .gz)
  bool temporary = false;  // read_path is ours to delete
  // Measured only when counting (ProbeCapture's count):
  uint64_t packets = 0;    // records libpcap reads before end of file or the first bad record
  uint64_t bytes = 0;
  bool truncated = false;  // the file ended inside a record or had a corrupt record
  std::string truncation;  // libpcap's message when truncated
  uint64_t first_ts_us = 0, last_ts_us = 0;
};

bool ProbeCapture(const std::string& path, const std::string& temp_dir, CaptureInfo* info,
                  std::string* error, bool count = true);

}  // namespace fs::sensor
