// Mode (c) of the bench harness: the matcher's limit. Extracts the bytes the sensor scans from a
// capture (libpcap, the sensor's decoder, its flow table for the packet's direction) and runs
// Hyperscan over them with the same compiled databases in a tight loop: each payload through
// its direction's packet databases (block mode) and, for TCP, through its flow's streams of the
// stream databases (stream mode, in capture order), as the sensor scans them; no decode, no
// flow lookup, no reassembly, no rule evaluation, a callback that only counts. What the pipeline achieves over the
// same bytes is compared with this. Harness main thread only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/common/large_array.h"
#include "patterns/range_set.h"
#include "tools/bench/rules_adapter.h"

namespace fs::bench {

// The TCP/UDP/ICMP payloads of a capture that the worker would scan, copied into one buffer
// (not the payloads of TLS flows once both directions are encrypted).
struct Payloads {
  struct Item {
    uint64_t offset;
    uint32_t len;
    uint8_t dir;  // 0 to-server, 1 to-client (the flow's first packet came from the client)
    uint8_t proto;  // TCP/UDP with a transport header, else 0
    uint16_t sport, dport;
    uint32_t flow;  // dense flow index (< Payloads::flows)
    patterns::U128 src, dst;  // addresses (the databases' address class)
  };
  // On 2 MB pages where transparent huge pages allow, as the sensor's replay keeps its capture:
  // both are read front to back, and on 4 KB pages every page was a TLB miss.
  LargeArray<uint8_t> bytes;
  std::vector<Item> items;
  uint32_t flows = 0;
  uint64_t packets = 0;        // frames in the capture
  uint64_t frame_bytes = 0;    // their captured bytes
  uint64_t payload_bytes = 0;  // bytes in items
  // Payload bytes left out: TLS ciphertext, which the sensor does not scan by default
  // (app-layer.tls.encryption-handling).
  uint64_t tls_skipped_bytes = 0;
};

bool ExtractPayloads(const std::string& pcap_path, Payloads* out, std::string* error);

struct ScanLimit {
  double seconds = 0;
  uint64_t passes = 0;      // times the whole payload set was scanned
  uint64_t scans = 0;         // hs_scan calls
  uint64_t stream_scans = 0;  // hs_scan_stream calls
  uint64_t bytes = 0;       // bytes scanned
  uint64_t matches = 0;     // Hyperscan reports (all passes)
  double mbytes_per_s = 0;  // payload MB/s (10^6)
  double capture_mpps = 0;  // capture packets per second if only this matching were done
  double capture_gbps = 0;  // the same, as frame Gbit/s
};

// Scans every item with the databases of its direction and server port, repeating whole passes until min_seconds
// have passed (at least one pass).
bool MeasureScanLimit(const CompiledRules& rules, const Payloads& payloads, double min_seconds,
                      ScanLimit* out, std::string* error);

}  // namespace fs::bench
