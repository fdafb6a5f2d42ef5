#include "dataplane/worker/events.h"

namespace fs::worker {

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
