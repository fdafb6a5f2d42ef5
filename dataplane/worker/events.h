// Events a worker hands to the control plane (alerts, flow ends) through its event ring.
// Plain fixed-size data, copied by value: the control plane never touches worker memory.
#pragma once

#include <cstdint>

#include "dataplane/common/ip_addr.h"
#include "dataplane/flow/flow_table.h"

namespace fs::worker {

// Snapshot of a flow as EVE prints it (in alert.flow and in flow records).
struct FlowSnapshot {
  uint64_t flow_id = 0;
  IpAddr client_addr, server_addr;
  uint16_t client_port = 0, server_port = 0;
  uint16_t vlan[decode::kMaxVlans] = {};
  uint8_t proto = 0;
  uint8_t ip_version = 0;
  flow::State state = flow::State::kNew;
  flow::EndReason reason = flow::EndReason::kShutdown;  // flow records only
  bool alerted = false;
  uint8_t tcp_flags[2] = {0, 0};
  uint64_t first_ts_us = 0, last_ts_us = 0;
  uint64_t pkts[2] = {0, 0};
  uint64_t bytes[2] = {0, 0};

  static FlowSnapshot Of(const flow::Flow& f);
};

struct AlertEvent {
  uint64_t ts_us = 0;       // the packet's timestamp
  uint32_t rule_index = 0;  // index into the PatternSet that produced it
  uint32_t sid = 0, gid = 1, rev = 0;
  // Indicator-list alerts: the list's index (kNoIndicator for rule alerts) and which of the
  // packet's addresses is listed (bit 0 source, bit 1 destination).
  static constexpr uint8_t kNoIndicator = 0xff;
  uint8_t indicator = kNoIndicator;
  uint8_t indicator_side = 0;
  uint64_t pattern_generation = 0;
  IpAddr src, dst;  // the packet's addresses
  uint16_t sport = 0, dport = 0;
  flow::Dir dir = flow::Dir::kToServer;
  uint16_t payload_len = 0;
  FlowSnapshot flow;
};

// Why a worker stopped inspecting a flow (Flow::bypassed).
enum class BypassReason : uint8_t { kDepth, kPass };

// A flow the worker bypassed, for the NIC offload (dataplane/offload): only flows seen on the
// outer frame (not tunnelled) and untagged, whose 5-tuple a NIC rule can match.
struct BypassEvent {
  FlowSnapshot flow;
  uint16_t port = 0;  // the DPDK port its packet arrived on
  BypassReason reason = BypassReason::kDepth;
};

struct Event {
  enum class Kind : uint8_t { kAlert, kFlowEnd, kBypass } kind = Kind::kAlert;
  uint16_t worker = 0;
  union {
    AlertEvent alert;
    FlowSnapshot flow_end;
    BypassEvent bypass;
  };
  Event() : alert() {}
};

}  // namespace fs::worker
