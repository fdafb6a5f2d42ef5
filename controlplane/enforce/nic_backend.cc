#include "controlplane/enforce/nic_backend.h"

#include <fmt/format.h>
#include <rte_byteorder.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <set>

namespace fs::enforce {

namespace {

// The probe Start validates: a documentation address (TEST-NET-1, RFC 5737), never created.
patterns::IpPrefix ProbeTarget(bool v6) {
  patterns::IpPrefix p;
  if (v6) {
    p.addr = *IpAddr::Parse("2001:db8::1");  // RFC 3849
    p.len = 128;
  } else {
    p.addr = IpAddr::FromV4(0xC0000201u);  // 192.0.2.1
    p.len = 128;
  }
  return p;
}

const char* Side(bool match_source) { return match_source ? "source" : "destination"; }

}  // namespace

FlowRuleSpec::FlowRuleSpec() { Link(); }

FlowRuleSpec::FlowRuleSpec(const FlowRuleSpec& other) { *this = other; }

FlowRuleSpec& FlowRuleSpec::operator=(const FlowRuleSpec& other) {
  ipv6_ = other.ipv6_;
  attr_ = other.attr_;
  ipv4_spec_ = other.ipv4_spec_;
  ipv4_mask_ = other.ipv4_mask_;
  ipv6_spec_ = other.ipv6_spec_;
  ipv6_mask_ = other.ipv6_mask_;
  items_ = other.items_;
  actions_ = other.actions_;
  Link();
  return *this;
}

void FlowRuleSpec::Link() {
  items_[0].type = RTE_FLOW_ITEM_TYPE_ETH;  // any Ethernet frame: spec and mask stay null
  items_[0].spec = items_[0].last = items_[0].mask = nullptr;
  if (ipv6_) {
    items_[1].type = RTE_FLOW_ITEM_TYPE_IPV6;
    items_[1].spec = &ipv6_spec_;
    items_[1].mask = &ipv6_mask_;
  } else {
    items_[1].type = RTE_FLOW_ITEM_TYPE_IPV4;
    items_[1].spec = &ipv4_spec_;
    items_[1].mask = &ipv4_mask_;
  }
  items_[1].last = nullptr;
  items_[2] = rte_flow_item{};
  items_[2].type = RTE_FLOW_ITEM_TYPE_END;
  actions_[0] = rte_flow_action{};
  actions_[0].type = RTE_FLOW_ACTION_TYPE_DROP;
  actions_[1] = rte_flow_action{};
  actions_[1].type = RTE_FLOW_ACTION_TYPE_END;
}

FlowRuleSpec BuildDropRule(const patterns::IpPrefix& target, bool match_source,
                           const NicConfig& config) {
  FlowRuleSpec r;
  r.attr_ = rte_flow_attr{};
  r.attr_.group = config.group;
  r.attr_.priority = config.priority;
  r.attr_.ingress = 1;
  r.ipv6_ = !target.IsV4();
  if (r.ipv6_) {
    uint8_t addr[16], mask[16];
    for (int i = 0; i < 16; ++i) {
      const int bits = std::clamp(static_cast<int>(target.len) - 8 * i, 0, 8);
      mask[i] = static_cast<uint8_t>(0xff00 >> bits);
      addr[i] = target.addr.bytes[i] & mask[i];
    }
    std::memcpy(match_source ? r.ipv6_spec_.hdr.src_addr : r.ipv6_spec_.hdr.dst_addr, addr, 16);
    std::memcpy(match_source ? r.ipv6_mask_.hdr.src_addr : r.ipv6_mask_.hdr.dst_addr, mask, 16);
  } else {
    const int len = target.len - 96;
    const uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
    const uint8_t* b = target.addr.bytes.data() + 12;
    const uint32_t addr =
        (uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | uint32_t{b[3]}) & mask;
    (match_source ? r.ipv4_spec_.hdr.src_addr : r.ipv4_spec_.hdr.dst_addr) = rte_cpu_to_be_32(addr);
    (match_source ? r.ipv4_mask_.hdr.src_addr : r.ipv4_mask_.hdr.dst_addr) = rte_cpu_to_be_32(mask);
  }
  r.Link();
  return r;
}

NicBackend::NicBackend(NicConfig config, NicFlowOps ops) : config_(config), ops_(std::move(ops)) {}

NicBackend::~NicBackend() {
  // Rules outlive the process's handles otherwise: a recreated backend would duplicate them.
  if (rules_.empty() || !ops_.port_valid(config_.port_id)) return;
  for (auto& [target, r] : rules_) {
    std::string error;
    if (!DestroyRules(target, &r, &error)) spdlog::warn("nic: {}", error);
  }
}

std::string NicBackend::PortName() const {
  return fmt::format("port {} (driver {})", config_.port_id, driver_);
}

size_t NicBackend::rule_count() const {
  size_t n = 0;
  for (const auto& [target, r] : rules_) n += (r.src != nullptr) + (r.dst != nullptr);
  return n;
}

bool NicBackend::Start(std::string* error) {
  started_ = false;
  if (!ops_.port_valid(config_.port_id)) {
    *error = fmt::format(
        "nic: DPDK port {} does not exist (ports are numbered from 0 in the order the inputs are "
        "configured); check the nic enforcement port-id",
        config_.port_id);
    return false;
  }
  driver_ = ops_.driver_name(config_.port_id);
  if (config_.max_rules < 2) {
    *error =
        fmt::format("nic: max-rules {} cannot hold one block (two rules each)", config_.max_rules);
    return false;
  }
  const FlowRuleSpec v4 = BuildDropRule(ProbeTarget(false), true, config_);
  rte_flow_error fe{};
  int rc = ops_.validate(config_.port_id, v4.attr(), v4.pattern(), v4.actions(), &fe);
  if (rc != 0) {
    *error = fmt::format("{} refuses flow rules: {}", PortName(), port::FlowErrorText(rc, fe));
    return false;
  }
  // Some NICs take IPv4 rules only; IPv6 blocks then fail one by one at Add, with this reason.
  const FlowRuleSpec v6 = BuildDropRule(ProbeTarget(true), true, config_);
  fe = rte_flow_error{};
  rc = ops_.validate(config_.port_id, v6.attr(), v6.pattern(), v6.actions(), &fe);
  if (rc != 0) {
    spdlog::warn("nic: {} refuses IPv6 drop rules ({}); IPv6 blocks will not be enforced here",
                 PortName(), port::FlowErrorText(rc, fe));
  }
  started_ = true;
  return true;
}

bool NicBackend::CreateRule(const patterns::IpPrefix& target, bool match_source, rte_flow** out,
                            std::string* error) {
  const FlowRuleSpec spec = BuildDropRule(target, match_source, config_);
  rte_flow_error fe{};
  int rc = ops_.validate(config_.port_id, spec.attr(), spec.pattern(), spec.actions(), &fe);
  if (rc != 0) {
    *error = fmt::format("{} refuses the drop rule for {} {}: {}", PortName(), Side(match_source),
                         target.ToString(), port::FlowErrorText(rc, fe));
    return false;
  }
  fe = rte_flow_error{};
  *out = ops_.create(config_.port_id, spec.attr(), spec.pattern(), spec.actions(), &fe);
  if (*out == nullptr) {
    *error = fmt::format("{} could not create the drop rule for {} {}: {}", PortName(),
                         Side(match_source), target.ToString(), port::FlowErrorText(0, fe));
    return false;
  }
  return true;
}

bool NicBackend::DestroyRules(const patterns::IpPrefix& target, Rules* r, std::string* error) {
  bool ok = true;
  for (rte_flow** h : {&r->dst, &r->src}) {
    if (*h == nullptr) continue;
    rte_flow_error fe{};
    const int rc = ops_.destroy(config_.port_id, *h, &fe);
    if (rc != 0) {
      if (ok) {
        *error = fmt::format("{} could not destroy the drop rule for {} {}: {}", PortName(),
                             Side(h == &r->src), target.ToString(), port::FlowErrorText(rc, fe));
      }
      ok = false;
      continue;
    }
    *h = nullptr;
  }
  return ok;
}

bool NicBackend::Add(const Block& b, std::string* error) {
  if (!started_) {
    *error = "nic: not started";
    return false;
  }
  const patterns::IpPrefix& t = b.target;
  auto it = rules_.find(t);
  if (it != rules_.end() && it->second.src && it->second.dst) return true;  // no expiry in HW
  if (t.len == 0 || (t.IsV4() && t.len == 96)) {
    *error = fmt::format("nic: refusing to drop all {} traffic (block {})",
                         t.IsV4() ? "IPv4" : "IPv6", t.ToString());
    return false;
  }
  Rules r = it == rules_.end() ? Rules{} : it->second;
  const size_t needed = (r.src == nullptr) + (r.dst == nullptr);
  if (rule_count() + needed > config_.max_rules) {
    *error = fmt::format(
        "nic: {} holds {} drop rules, the configured max-rules is {} (two per block); {} not "
        "blocked in hardware",
        PortName(), rule_count(), config_.max_rules, t.ToString());
    return false;
  }
  if (r.src == nullptr && !CreateRule(t, true, &r.src, error)) return false;
  if (r.dst == nullptr && !CreateRule(t, false, &r.dst, error)) {
    // Half a block is worse than none (the operator would see "failed" while traffic in one
    // direction is dropped): take the source rule down again and let the dispatcher retry.
    std::string destroy_error;
    if (!DestroyRules(t, &r, &destroy_error)) {
      *error += "; and " + destroy_error;
      rules_[t] = r;  // keep the handle so Remove/Sync can retry its destruction
    } else if (it != rules_.end()) {
      rules_.erase(it);
    }
    return false;
  }
  rules_[t] = r;
  return true;
}

bool NicBackend::Remove(const Block& b, std::string* error) {
  auto it = rules_.find(b.target);
  if (it == rules_.end()) return true;
  if (!DestroyRules(it->first, &it->second, error)) return false;
  rules_.erase(it);
  return true;
}

bool NicBackend::Sync(std::span<const Block> live, std::string* error) {
  if (!started_) {
    *error = "nic: not started";
    return false;
  }
  std::set<patterns::IpPrefix> want;
  for (const Block& b : live) want.insert(b.target);
  bool ok = true;
  std::string e;
  // Removals first, so stale rules do not hold places under the cap.
  for (auto it = rules_.begin(); it != rules_.end();) {
    if (want.count(it->first)) {
      ++it;
      continue;
    }
    if (DestroyRules(it->first, &it->second, &e)) {
      it = rules_.erase(it);
    } else {
      if (ok) *error = e;
      ok = false;
      ++it;
    }
  }
  size_t failed = 0;
  for (const Block& b : live) {
    if (!Add(b, &e)) {
      if (ok) *error = e;
      ok = false;
      ++failed;
    }
  }
  if (failed > 0) {
    *error += fmt::format(" ({} of {} blocks not installed)", failed, live.size());
  }
  return ok;
}

}  // namespace fs::enforce
