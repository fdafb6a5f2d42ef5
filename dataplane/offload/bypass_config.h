// Settings of the flow-bypass offload (bypass_offload.h), apart from it so that the sensor's
// config can hold them without DPDK headers. Config key: `bypass-offload` (docs/streams.md).
#pragma once

#include <cstdint>

namespace fs::offload {

struct BypassConfig {
  bool enabled = false;
  uint32_t max_flows = 16384;     // flows offloaded at once (two NIC rules each)
  uint32_t idle_timeout_s = 30;   // AGE timeout of each rule (24 bits; larger values are capped)
  uint32_t max_lifetime_s = 600;  // hard lifetime on ports without AGE
  uint32_t priority = 1;          // rte_flow_attr.priority
  uint32_t group = 0;             // rte_flow_attr.group
};

}  // namespace fs::offload
