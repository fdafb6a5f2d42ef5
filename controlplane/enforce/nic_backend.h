// NIC enforcement backend (docs/enforcement.md): for inline deployments, where the sensor's own
// DPDK port carries the traffic, each block becomes two hardware drop rules (rte_flow) on that
// port: one matching the target as IP source, one as IP destination. The NIC drops the packets
// before they reach a worker, so a block costs no CPU.
//
// Every rule is checked with rte_flow_validate before rte_flow_create, and a port whose driver
// refuses flow rules (every virtual device: net_null, net_pcap, net_af_packet, ...) is reported
// unavailable at Start with the driver's own reason.
//
// Caveats an operator should know (also in docs/enforcement.md):
// - The pattern is ETH / IPV4|IPV6: most NICs do not match VLAN-tagged frames with it.
// - With group > 0 the NIC only evaluates the rules if something jumps to that group.
// - Rules live in the NIC until destroyed or until the port is closed; the block manager's
//   expiry calls Remove (NIC rules have no timeout).
#pragma once

#include <rte_flow.h>

#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "controlplane/enforce/block.h"
#include "dataplane/port/flow_ops.h"

namespace fs::enforce {

struct NicConfig {
  uint16_t port_id = 0;
  uint32_t max_rules = 1024;  // hardware rules, two per block
  uint32_t priority = 0;      // rte_flow_attr.priority (0 = highest)
  uint32_t group = 0;         // rte_flow_attr.group
};

// One drop rule: attribute, pattern (ETH, IPV4 or IPV6, END) and actions (DROP, END), with the
// item spec/mask storage they point at. Copying re-points the items at the copy's own storage.
// Plain value type; any thread.
class FlowRuleSpec {
 public:
  FlowRuleSpec();
  FlowRuleSpec(const FlowRuleSpec& other);
  FlowRuleSpec& operator=(const FlowRuleSpec& other);

  const rte_flow_attr* attr() const { return &attr_; }
  const rte_flow_item* pattern() const { return items_.data(); }
  const rte_flow_action* actions() const { return actions_.data(); }
  bool ipv6() const { return ipv6_; }

 private:
  friend FlowRuleSpec BuildDropRule(const patterns::IpPrefix& target, bool match_source,
                                    const NicConfig& config);
  void Link();  // points items_[1].spec/mask at this object's storage

  bool ipv6_ = false;
  rte_flow_attr attr_{};
  rte_flow_item_ipv4 ipv4_spec_{}, ipv4_mask_{};
  rte_flow_item_ipv6 ipv6_spec_{}, ipv6_mask_{};
  std::array<rte_flow_item, 3> items_{};
  std::array<rte_flow_action, 2> actions_{};
};

// Pure (no device needed): the ingress drop rule for one side of a block. IPv4 targets are the
// IPv4-mapped prefixes of IpPrefix (IsV4()); the mask comes from the prefix length and the spec
// holds the masked address, in network byte order.
FlowRuleSpec BuildDropRule(const patterns::IpPrefix& target, bool match_source,
                           const NicConfig& config);

// The rte_flow calls the backend makes (tests substitute fakes); defined in dataplane/port, shared
// with the flow-bypass offload.
using NicFlowOps = port::FlowOps;

// Owned by the block manager; every call comes from the manager's dispatcher thread for this
// backend (calls serialised; the ethdev layer serialises rte_flow calls against other threads
// for drivers that are not flow-thread-safe). The EAL must be initialised and the port probed
// before Start, and this object destroyed before the port is closed: the destructor removes the
// rules it created.
class NicBackend : public Backend {
 public:
  explicit NicBackend(NicConfig config, NicFlowOps ops = port::RteFlowOps());
  ~NicBackend() override;
  NicBackend(const NicBackend&) = delete;
  NicBackend& operator=(const NicBackend&) = delete;

  const char* name() const override { return "nic"; }
  // The port must exist and accept a validated probe rule (validated only, never created).
  bool Start(std::string* error) override;
  bool Add(const Block& b, std::string* error) override;
  bool Remove(const Block& b, std::string* error) override;
  bool Sync(std::span<const Block> live, std::string* error) override;

  // Hardware rules currently held (two per block, fewer while a removal is half done).
  size_t rule_count() const;

 private:
  struct Rules {
    rte_flow* src = nullptr;  // matches the target as source
    rte_flow* dst = nullptr;  // matches the target as destination
  };

  bool CreateRule(const patterns::IpPrefix& target, bool match_source, rte_flow** out,
                  std::string* error);
  // Destroys what is left of r (destination first: reverse creation order); a handle whose
  // destruction failed stays in r for the next attempt.
  bool DestroyRules(const patterns::IpPrefix& target, Rules* r, std::string* error);
  std::string PortName() const;  // "port 0 (driver net_ixgbe)"

  NicConfig config_;
  NicFlowOps ops_;
  std::string driver_;
  bool started_ = false;
  std::map<patterns::IpPrefix, Rules> rules_;
};

}  // namespace fs::enforce
