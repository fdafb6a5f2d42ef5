// The rte_flow / ethdev calls that code installing NIC flow rules makes (the enforcement NIC
// backend, the flow-bypass offload). RteFlowOps() is the real API; tests substitute fakes so the
// bookkeeping around the calls (caps, half-created rule pairs, aging) runs without a NIC.
//
// A FlowOps is a plain value; its user owns it and calls it from that user's own thread. The
// ethdev layer serialises rte_flow calls for drivers that are not flow-thread-safe, except
// rte_flow_get_aged_flows, which must not run concurrently with other flow calls on its port.
#pragma once

#include <rte_flow.h>

#include <cstdint>
#include <functional>
#include <string>

namespace fs::port {

struct FlowOps {
  std::function<bool(uint16_t port)> port_valid;
  std::function<std::string(uint16_t port)> driver_name;
  std::function<int(uint16_t, const rte_flow_attr*, const rte_flow_item*, const rte_flow_action*,
                    rte_flow_error*)>
      validate;
  std::function<rte_flow*(uint16_t, const rte_flow_attr*, const rte_flow_item*,
                          const rte_flow_action*, rte_flow_error*)>
      create;
  std::function<int(uint16_t, rte_flow*, rte_flow_error*)> destroy;
  // As rte_flow_get_aged_flows: fills up to nb_contexts AGE contexts of rules that aged out since
  // they were last reported; returns how many, or a negative errno.
  std::function<int(uint16_t port, void** contexts, uint32_t nb_contexts, rte_flow_error*)>
      get_aged_flows;
};

FlowOps RteFlowOps();

// The reason to show an operator for a failed rte_flow call: the driver's message when it gave
// one, else the errno text (from rc when negative, else rte_errno, which rte_flow_create sets).
std::string FlowErrorText(int rc, const rte_flow_error& e);

}  // namespace fs::port
