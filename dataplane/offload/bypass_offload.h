// Flow-bypass offload (issue 7): when the sensor stops inspecting a flow (a `pass` rule matched, or
// both directions reached the stream depth) the worker skips it in software; on a NIC that takes
// flow rules this also asks the NIC to stop delivering it: two rte_flow DROP rules, one per
// direction, on the flow's exact 5-tuple. The sensor sits on a mirror port, so "drop" only means
// "not delivered to us"; the network never loses a packet.
//
// Rules must not stay in the NIC forever, and the NIC holds few of them:
// - At most max_flows flows are offloaded; beyond that, flows stay bypassed in software only.
// - Where the port accepts RTE_FLOW_ACTION_TYPE_AGE, each rule carries AGE(idle_timeout_s) and
//   Poll() collects the aged ones with rte_flow_get_aged_flows. A flow is destroyed once both of
//   its rules have aged, so a one-way flow (UDP streaming) is not put back on the CPU just because
//   its reverse direction never sends.
// - Where the port takes DROP but not AGE, the rules have no idle timeout: Poll() destroys them
//   max_lifetime_s after creation (counted as expired). A flow still alive then reaches the workers
//   again, which may bypass it again.
//
// Caveats (as for the enforcement NIC backend): the pattern is ETH / IP / L4, so most NICs do not
// match VLAN-tagged frames, IPv6 packets with extension headers or non-first fragments with it:
// those packets still reach the workers and are skipped in software. With group > 0 the NIC only
// evaluates the rules if something jumps to that group.
#pragma once

#include <rte_flow.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataplane/common/ip_addr.h"
#include "dataplane/offload/bypass_config.h"
#include "dataplane/port/flow_ops.h"

namespace fs::offload {

// One bypassed flow as the worker knows it. Addresses as IpAddr (IPv4-mapped for IPv4); ports in
// host byte order. Client and server may be given either way round: the rules are the same pair.
struct BypassFlow {
  uint16_t port_id = 0;
  uint8_t ip_version = 4;  // 4 or 6
  uint8_t proto = 6;       // 6 (TCP) or 17 (UDP)
  IpAddr client, server;
  uint16_t client_port = 0, server_port = 0;
};

// One bypass rule: attribute, pattern (ETH, IPV4|IPV6, TCP|UDP, END) and actions ([AGE], DROP,
// END), with the item and action storage they point at. Copying re-points them at the copy's own
// storage. Plain value type; any thread.
class BypassRuleSpec {
 public:
  BypassRuleSpec();
  BypassRuleSpec(const BypassRuleSpec& other);
  BypassRuleSpec& operator=(const BypassRuleSpec& other);

  const rte_flow_attr* attr() const { return &attr_; }
  const rte_flow_item* pattern() const { return items_.data(); }
  const rte_flow_action* actions() const { return actions_.data(); }
  bool ipv6() const { return ipv6_; }
  bool tcp() const { return tcp_; }
  bool with_age() const { return with_age_; }

 private:
  friend BypassRuleSpec BuildBypassRule(const BypassFlow& f, bool to_server,
                                        const BypassConfig& config, bool with_age,
                                        void* age_context);
  void Link();  // points items_/actions_ at this object's storage

  bool ipv6_ = false;
  bool tcp_ = true;
  bool with_age_ = false;
  rte_flow_attr attr_{};
  rte_flow_item_ipv4 ipv4_spec_{}, ipv4_mask_{};
  rte_flow_item_ipv6 ipv6_spec_{}, ipv6_mask_{};
  rte_flow_item_tcp tcp_spec_{}, tcp_mask_{};
  rte_flow_item_udp udp_spec_{}, udp_mask_{};
  rte_flow_action_age age_{};
  std::array<rte_flow_item, 4> items_{};
  std::array<rte_flow_action, 3> actions_{};
};

// Pure (no device needed): the ingress drop rule for one direction of f (to_server: client ->
// server). Addresses, protocol and ports are matched exactly (full masks), in network byte order.
// Precondition: f.ip_version is 4 or 6 and f.proto is 6 or 17 (BypassOffload::Offload checks).
BypassRuleSpec BuildBypassRule(const BypassFlow& f, bool to_server, const BypassConfig& config,
                               bool with_age, void* age_context);

// Monotonic; one writer (the owner's thread). Exported as metrics by the control plane.
struct BypassCounters {
  uint64_t requested = 0;            // Offload calls
  uint64_t installed = 0;            // flows whose two rules were created
  uint64_t refused_capacity = 0;     // max_flows flows already offloaded
  uint64_t refused_unavailable = 0;  // port (or its IPv6) does not take the rules, or disabled
  uint64_t failed = 0;               // the driver refused a rule at creation, or a malformed flow
  uint64_t aged = 0;                 // flows removed after both rules aged (AGE ports)
  uint64_t expired = 0;              // flows removed at max_lifetime_s (ports without AGE)
  uint64_t duplicates = 0;           // Offload of a flow already offloaded
};

// Owned by the control plane's output thread (which receives the workers' bypass events); every
// call comes from that thread, so rte_flow_get_aged_flows never races the other flow calls. The
// EAL must be initialised and the ports started before Start, and this object destroyed before the
// ports are closed: the destructor destroys every rule it created.
class BypassOffload {
 public:
  explicit BypassOffload(BypassConfig config, port::FlowOps ops = port::RteFlowOps());
  ~BypassOffload();
  BypassOffload(const BypassOffload&) = delete;
  BypassOffload& operator=(const BypassOffload&) = delete;

  // Per port: validates a probe rule with AGE, else without AGE (then rules get the hard lifetime);
  // a port that refuses both is unavailable, logged once with the driver's reason, and not an
  // error: its bypassed flows stay in software. Returns false only for a port id that does not
  // exist. ports: the sensor's input port ids. With enabled = false every port is unavailable.
  bool Start(std::span<const uint16_t> ports, std::string* error);
  bool available(uint16_t port) const;
  bool any_available() const;
  // What Start found for a port, for logs and the API: "port 0 (driver net_mlx5): drop rules with
  // AGE (idle 30 s)", "... : unavailable: <driver's reason>", "port 7: not an input port".
  std::string status(uint16_t port) const;

  // Creates both rules of f (taking the first down again if the second fails). True when the flow
  // is offloaded: newly, or already (counted as duplicate). False when refused or failed (counted);
  // the flow then stays bypassed in software only.
  bool Offload(const BypassFlow& f, uint64_t now_ms);
  // Collects aged rules (AGE ports), destroys flows past their hard lifetime (other ports), and
  // retries destructions that failed earlier. Call every second or so.
  void Poll(uint64_t now_ms);

  size_t active() const { return index_.size(); }
  const BypassCounters& counters() const { return counters_; }
  const BypassConfig& config() const { return config_; }

 private:
  enum class Mode : uint8_t { kUnavailable, kAge, kNoAge };
  struct PortState {
    uint16_t port_id = 0;
    std::string driver;
    Mode mode = Mode::kUnavailable;
    bool ipv6 = false;
    std::string reason;  // why unavailable, or why without AGE / IPv6
    bool create_failure_logged = false;
    bool aged_failure_logged = false;
  };
  // The hash-map key: port, family, protocol and the two endpoints in a fixed order, so both
  // orientations of a flow are one key. Packed bytes: no padding to hash.
  using Key = std::array<uint8_t, 40>;
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  enum class Release : uint8_t { kNone, kAged, kExpired, kRollback };
  // One offloaded flow. The AGE context of direction d's rule is &rules[d]: fixed storage, never
  // moved, so the pointer the NIC hands back in Poll stays valid.
  struct Rule {
    rte_flow* handle = nullptr;
    bool aged = false;
  };
  struct Slot {
    std::array<Rule, 2> rules;  // [0] to server, [1] to client
    BypassFlow flow;
    Key key{};
    uint64_t created_ms = 0;
    bool used = false;
    bool indexed = false;  // in index_ (false while a failed rollback waits to be destroyed)
    Release release = Release::kNone;  // set while a destruction is pending
  };

  static Key MakeKey(const BypassFlow& f);
  PortState* FindPort(uint16_t port);
  const PortState* FindPort(uint16_t port) const;
  std::string PortName(const PortState& p) const;  // "port 0 (driver net_mlx5)"
  bool Probe(PortState* p, bool ipv6, bool with_age, std::string* reason);
  bool CreateRule(const PortState& p, Slot* s, int dir, std::string* reason);
  // Destroys what is left of s's rules; on success frees the slot and counts why. A failure
  // leaves the slot pending (retried by Poll) and is logged.
  bool ReleaseSlot(uint32_t idx, Release why);
  void CollectAged(PortState* p);
  uint32_t SlotIndex(const void* context, int* dir) const;  // kNoSlot if not ours

  static constexpr uint32_t kNoSlot = ~uint32_t{0};
  static constexpr uint32_t kAgedBatch = 256;  // contexts fetched per rte_flow_get_aged_flows

  BypassConfig config_;
  port::FlowOps ops_;
  std::vector<PortState> ports_;
  // Fixed at construction (max_flows entries), never resized: AGE contexts point into it.
  std::unique_ptr<Slot[]> slots_;
  std::vector<uint32_t> free_;  // free slot indices (a stack)
  std::unordered_map<Key, uint32_t, KeyHash> index_;
  // Slots on ports without AGE in creation order: the lifetime is the same for all, so the
  // oldest is always at the front. A ring of max_flows entries.
  std::vector<uint32_t> lifetime_ring_;
  size_t lifetime_head_ = 0, lifetime_size_ = 0;
  std::vector<uint32_t> pending_;  // slots whose destruction failed, retried by Poll
  std::vector<void*> aged_buf_;    // kAgedBatch entries, reused
  BypassCounters counters_;
};

}  // namespace fs::offload
