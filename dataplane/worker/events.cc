#include "dataplane/worker/events.h"

#include <cstring>

namespace fs::worker {

namespace {

// Appends s to a record's string pool (pool[*used, cap)): whole, or when `cut`, as much as fits.
// *out names what was stored. Returns whether all of s was stored.
bool StoreInPool(char* pool, size_t cap, uint16_t* used, std::string_view s, bool cut,
                 DnsRecordEvent::NameRef* out) {
  size_t n = s.size();
  const bool fits = n <= cap - *used;
  if (!fits) {
    if (!cut) return false;
    n = cap - *used;
  }
  if (n > 0) std::memcpy(pool + *used, s.data(), n);
  out->offset = *used;
  out->len = static_cast<uint16_t>(n);
  *used = static_cast<uint16_t>(*used + n);
  return fits;
}

}  // namespace

bool DnsRecordEvent::AddName(std::string_view s, NameRef* out) {
  // Answers usually repeat the query name or a CNAME target: look for it before copying.
  auto same = [&](const NameRef& r) { return r.len == s.size() && Name(r) == s; };
  const NameRef* found = nullptr;
  for (uint8_t i = 0; i < query_count && found == nullptr; ++i) {
    if (same(queries[i].name)) found = &queries[i].name;
  }
  for (uint8_t i = 0; i < answer_count && found == nullptr; ++i) {
    if (same(answers[i].name)) found = &answers[i].name;
    if (found == nullptr && answers[i].rdata_kind == 2 && same(answers[i].target))
      found = &answers[i].target;
  }
  if (found != nullptr) {
    *out = *found;
    return true;
  }
  return StoreInPool(pool, kNamePool, &pool_used, s, /*cut=*/false, out);
}

void HttpRecordEvent::Add(std::string_view s, Ref* out) {
  if (!StoreInPool(pool, kPool, &pool_used, s, /*cut=*/true, out)) ++truncated;
}

bool TlsRecordEvent::Add(std::string_view s, Ref* out) {
  *out = Ref{};
  if (s.empty()) return true;
  if (StoreInPool(pool, kPool, &pool_used, s, /*cut=*/false, out)) return true;
  ++truncated;
  return false;
}

void SmbRecordEvent::Add(std::string_view s, Ref* out) {
  if (!StoreInPool(pool, kPool, &pool_used, s, /*cut=*/true, out)) ++truncated;
}

FlowSnapshot FlowSnapshot::Of(const flow::Flow& f) {
  FlowSnapshot s;
  s.flow_id = f.flow_id;
  s.client_addr = f.client_addr;
  s.server_addr = f.server_addr;
  s.client_port = f.client_port;
  s.server_port = f.server_port;
  for (int i = 0; i < decode::kMaxVlans; ++i) s.vlan[i] = f.key.vlan[i];
  s.proto = f.proto;
  s.ip_version = f.ip_version;
  s.state = f.bypassed ? flow::State::kBypassed : f.state;
  s.alerted = f.alerted;
  s.app_proto = f.app_proto;
  s.tcp_flags[0] = f.tcp_flags[0];
  s.tcp_flags[1] = f.tcp_flags[1];
  s.first_ts_us = f.first_ts_us;
  s.last_ts_us = f.last_ts_us;
  for (int d = 0; d < 2; ++d) {
    s.pkts[d] = f.pkts[d];
    s.bytes[d] = f.bytes[d];
  }
  return s;
}

}  // namespace fs::worker
