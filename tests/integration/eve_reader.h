// Test support: reads EVE JSON files (ours and Suricata's) into comparable records.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace fs::testing {

// A direction-aware 5-tuple as printed in EVE (src = client for flow records).
struct Tuple {
  std::string proto, src_ip, dest_ip;
  int src_port = 0, dest_port = 0;
  auto operator<=>(const Tuple&) const = default;
  std::string ToString() const;
};

struct FlowRecord {
  Tuple tuple;
  uint64_t flow_id = 0;
  uint64_t pkts_toserver = 0, pkts_toclient = 0, bytes_toserver = 0, bytes_toclient = 0;
  std::string start, end, state, reason;
  bool alerted = false;
  auto operator<=>(const FlowRecord&) const = default;
};

struct AlertRecord {
  Tuple tuple;  // the packet's
  uint64_t flow_id = 0;
  uint32_t sid = 0;
  std::string timestamp, signature;
  auto operator<=>(const AlertRecord&) const = default;
};

struct Eve {
  std::vector<FlowRecord> flows;
  std::vector<AlertRecord> alerts;
  std::vector<nlohmann::json> all;
  size_t bad_lines = 0;
};

Eve ReadEve(const std::string& path);

// A record's 5-tuple as it wrote it (proto, src_ip, src_port, dest_ip, dest_port).
Tuple TupleOf(const nlohmann::json& j);

// The flow a record belongs to, independent of which side is "src": sorted endpoints.
Tuple Unordered(const Tuple& t);

}  // namespace fs::testing
