#include "tests/integration/eve_reader.h"

#include <fmt/format.h>

#include <fstream>

namespace fs::testing {

std::string Tuple::ToString() const {
  return fmt::format("{} {}:{} -> {}:{}", proto, src_ip, src_port, dest_ip, dest_port);
}

Tuple Unordered(const Tuple& t) {
  Tuple u = t;
  if (std::tie(u.dest_ip, u.dest_port) < std::tie(u.src_ip, u.src_port)) {
    std::swap(u.src_ip, u.dest_ip);
    std::swap(u.src_port, u.dest_port);
  }
  return u;
}

Tuple TupleOf(const nlohmann::json& j) {
  Tuple t;
  t.proto = j.value("proto", "");
  t.src_ip = j.value("src_ip", "");
  t.dest_ip = j.value("dest_ip", "");
  t.src_port = j.value("src_port", 0);
  t.dest_port = j.value("dest_port", 0);
  return t;
}

namespace {

}  // namespace

Eve ReadEve(const std::string& path) {
  Eve eve;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      ++eve.bad_lines;
      continue;
    }
    eve.all.push_back(j);
    const std::string type = j.value("event_type", "");
    if (type == "flow") {
      FlowRecord f;
      f.tuple = TupleOf(j);
      f.flow_id = j.value("flow_id", uint64_t{0});
      const auto& fl = j["flow"];
      f.pkts_toserver = fl.value("pkts_toserver", uint64_t{0});
      f.pkts_toclient = fl.value("pkts_toclient", uint64_t{0});
      f.bytes_toserver = fl.value("bytes_toserver", uint64_t{0});
      f.bytes_toclient = fl.value("bytes_toclient", uint64_t{0});
      f.start = fl.value("start", "");
      f.end = fl.value("end", "");
      f.state = fl.value("state", "");
      f.reason = fl.value("reason", "");
      f.alerted = fl.value("alerted", false);
      eve.flows.push_back(f);
    } else if (type == "alert") {
      AlertRecord a;
      a.tuple = TupleOf(j);
      a.flow_id = j.value("flow_id", uint64_t{0});
      a.sid = j["alert"].value("signature_id", 0u);
      a.signature = j["alert"].value("signature", "");
      a.timestamp = j.value("timestamp", "");
      eve.alerts.push_back(a);
    }
  }
  return eve;
}

}  // namespace fs::testing
