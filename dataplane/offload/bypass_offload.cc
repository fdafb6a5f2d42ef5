#include "dataplane/offload/bypass_offload.h"

#include <fmt/format.h>
#include <rte_byteorder.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <string_view>

namespace fs::offload {

namespace {

constexpr uint32_t kMaxAgeTimeout = (1u << 24) - 1;  // rte_flow_action_age.timeout is 24 bits
constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;

// The probes Start validates (never created): documentation addresses (RFC 5737, RFC 3849).
BypassFlow ProbeFlow(uint16_t port, bool ipv6) {
  BypassFlow f;
  f.port_id = port;
  f.ip_version = ipv6 ? 6 : 4;
  f.proto = kTcp;
  f.client = ipv6 ? *IpAddr::Parse("2001:db8::1") : IpAddr::FromV4(0xC0000201u);  // 192.0.2.1
  f.server = ipv6 ? *IpAddr::Parse("2001:db8::2") : IpAddr::FromV4(0xC0000202u);
  f.client_port = 49152;
  f.server_port = 443;
  return f;
}

std::string FlowText(const BypassFlow& f) {
  const char* proto = f.proto == kTcp ? "TCP" : f.proto == kUdp ? "UDP" : "proto?";
  if (f.ip_version == 6) {
    return fmt::format("{} [{}]:{} <-> [{}]:{}", proto, f.client.ToString(), f.client_port,
                       f.server.ToString(), f.server_port);
  }
  return fmt::format("{} {}:{} <-> {}:{}", proto, f.client.ToString(), f.client_port,
                     f.server.ToString(), f.server_port);
}

}  // namespace

BypassRuleSpec::BypassRuleSpec() { Link(); }

BypassRuleSpec::BypassRuleSpec(const BypassRuleSpec& other) { *this = other; }

BypassRuleSpec& BypassRuleSpec::operator=(const BypassRuleSpec& other) {
  ipv6_ = other.ipv6_;
  tcp_ = other.tcp_;
  with_age_ = other.with_age_;
  attr_ = other.attr_;
  ipv4_spec_ = other.ipv4_spec_;
  ipv4_mask_ = other.ipv4_mask_;
  ipv6_spec_ = other.ipv6_spec_;
  ipv6_mask_ = other.ipv6_mask_;
  tcp_spec_ = other.tcp_spec_;
  tcp_mask_ = other.tcp_mask_;
  udp_spec_ = other.udp_spec_;
  udp_mask_ = other.udp_mask_;
  age_ = other.age_;
  Link();
  return *this;
}

void BypassRuleSpec::Link() {
  items_.fill(rte_flow_item{});
  items_[0].type = RTE_FLOW_ITEM_TYPE_ETH;  // any Ethernet frame: spec and mask stay null
  if (ipv6_) {
    items_[1].type = RTE_FLOW_ITEM_TYPE_IPV6;
    items_[1].spec = &ipv6_spec_;
    items_[1].mask = &ipv6_mask_;
  } else {
    items_[1].type = RTE_FLOW_ITEM_TYPE_IPV4;
    items_[1].spec = &ipv4_spec_;
    items_[1].mask = &ipv4_mask_;
  }
  if (tcp_) {
    items_[2].type = RTE_FLOW_ITEM_TYPE_TCP;
    items_[2].spec = &tcp_spec_;
    items_[2].mask = &tcp_mask_;
  } else {
    items_[2].type = RTE_FLOW_ITEM_TYPE_UDP;
    items_[2].spec = &udp_spec_;
    items_[2].mask = &udp_mask_;
  }
  items_[3].type = RTE_FLOW_ITEM_TYPE_END;

  actions_.fill(rte_flow_action{});
  size_t n = 0;
  if (with_age_) {
    actions_[n].type = RTE_FLOW_ACTION_TYPE_AGE;
    actions_[n++].conf = &age_;
  }
  actions_[n++].type = RTE_FLOW_ACTION_TYPE_DROP;
  actions_[n].type = RTE_FLOW_ACTION_TYPE_END;  // without AGE the last entry stays END as well
}

BypassRuleSpec BuildBypassRule(const BypassFlow& f, bool to_server, const BypassConfig& config,
                               bool with_age, void* age_context) {
  BypassRuleSpec r;
  r.attr_.group = config.group;
  r.attr_.priority = config.priority;
  r.attr_.ingress = 1;
  r.ipv6_ = f.ip_version == 6;
  r.tcp_ = f.proto == kTcp;
  r.with_age_ = with_age;

  const IpAddr& src = to_server ? f.client : f.server;
  const IpAddr& dst = to_server ? f.server : f.client;
  const uint16_t src_port = to_server ? f.client_port : f.server_port;
  const uint16_t dst_port = to_server ? f.server_port : f.client_port;

  // IpAddr bytes are already in network order: copied, never converted.
  if (r.ipv6_) {
    std::memcpy(r.ipv6_spec_.hdr.src_addr, src.bytes.data(), 16);
    std::memcpy(r.ipv6_spec_.hdr.dst_addr, dst.bytes.data(), 16);
    std::memset(r.ipv6_mask_.hdr.src_addr, 0xff, 16);
    std::memset(r.ipv6_mask_.hdr.dst_addr, 0xff, 16);
    r.ipv6_spec_.hdr.proto = f.proto;
    r.ipv6_mask_.hdr.proto = 0xff;
  } else {
    std::memcpy(&r.ipv4_spec_.hdr.src_addr, src.bytes.data() + 12, 4);
    std::memcpy(&r.ipv4_spec_.hdr.dst_addr, dst.bytes.data() + 12, 4);
    r.ipv4_mask_.hdr.src_addr = r.ipv4_mask_.hdr.dst_addr = ~rte_be32_t{0};
    r.ipv4_spec_.hdr.next_proto_id = f.proto;
    r.ipv4_mask_.hdr.next_proto_id = 0xff;
  }
  if (r.tcp_) {
    r.tcp_spec_.hdr.src_port = rte_cpu_to_be_16(src_port);
    r.tcp_spec_.hdr.dst_port = rte_cpu_to_be_16(dst_port);
    r.tcp_mask_.hdr.src_port = r.tcp_mask_.hdr.dst_port = 0xffff;
  } else {
    r.udp_spec_.hdr.src_port = rte_cpu_to_be_16(src_port);
    r.udp_spec_.hdr.dst_port = rte_cpu_to_be_16(dst_port);
    r.udp_mask_.hdr.src_port = r.udp_mask_.hdr.dst_port = 0xffff;
  }
  if (with_age) {
    // A zero timeout would age a rule at once (or be refused); a flow is never idle for less
    // than a second anyway.
    r.age_.timeout = std::clamp<uint32_t>(config.idle_timeout_s, 1, kMaxAgeTimeout);
    r.age_.context = age_context;
  }
  r.Link();
  return r;
}

size_t BypassOffload::KeyHash::operator()(const Key& k) const {
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
}

BypassOffload::Key BypassOffload::MakeKey(const BypassFlow& f) {
  // Endpoint = address (16) + port (2, network order), ordered so client/server may be swapped.
  std::array<uint8_t, 18> a{}, b{};
  std::memcpy(a.data(), f.client.bytes.data(), 16);
  a[16] = static_cast<uint8_t>(f.client_port >> 8);
  a[17] = static_cast<uint8_t>(f.client_port);
  std::memcpy(b.data(), f.server.bytes.data(), 16);
  b[16] = static_cast<uint8_t>(f.server_port >> 8);
  b[17] = static_cast<uint8_t>(f.server_port);
  if (b < a) std::swap(a, b);
  Key k{};
  k[0] = static_cast<uint8_t>(f.port_id >> 8);
  k[1] = static_cast<uint8_t>(f.port_id);
  k[2] = f.ip_version;
  k[3] = f.proto;
  std::memcpy(k.data() + 4, a.data(), a.size());
  std::memcpy(k.data() + 22, b.data(), b.size());
  return k;
}

BypassOffload::BypassOffload(BypassConfig config, port::FlowOps ops)
    : config_(config), ops_(std::move(ops)) {
  const uint32_t n = config_.enabled ? config_.max_flows : 0;
  slots_ = std::make_unique<Slot[]>(n);
  free_.reserve(n);
  for (uint32_t i = n; i > 0; --i) free_.push_back(i - 1);  // slot 0 is used first
  index_.reserve(n);
  lifetime_ring_.assign(n, 0);
  aged_buf_.assign(kAgedBatch, nullptr);
}

BypassOffload::~BypassOffload() {
  // Rules outlive our handles otherwise: the NIC would keep dropping these 5-tuples with nothing
  // left to age or expire them.
  const uint32_t n = config_.enabled ? config_.max_flows : 0;
  for (uint32_t i = 0; i < n; ++i) {
    Slot& s = slots_[i];
    if (!s.used) continue;
    if (!ops_.port_valid(s.flow.port_id)) continue;  // port gone: its rules went with it
    for (Rule& r : s.rules) {
      if (r.handle == nullptr) continue;
      rte_flow_error fe{};
      const int rc = ops_.destroy(s.flow.port_id, r.handle, &fe);
      if (rc != 0) {
        spdlog::warn("bypass offload: could not destroy a drop rule of {} on port {}: {}",
                     FlowText(s.flow), s.flow.port_id, port::FlowErrorText(rc, fe));
      }
      r.handle = nullptr;
    }
  }
}

BypassOffload::PortState* BypassOffload::FindPort(uint16_t port) {
  for (PortState& p : ports_) {
    if (p.port_id == port) return &p;
  }
  return nullptr;
}

const BypassOffload::PortState* BypassOffload::FindPort(uint16_t port) const {
  return const_cast<BypassOffload*>(this)->FindPort(port);
}

std::string BypassOffload::PortName(const PortState& p) const {
  return fmt::format("port {} (driver {})", p.port_id, p.driver);
}

bool BypassOffload::Probe(PortState* p, bool ipv6, bool with_age, std::string* reason) {
  const BypassRuleSpec r =
      BuildBypassRule(ProbeFlow(p->port_id, ipv6), true, config_, with_age, this);
  rte_flow_error fe{};
  const int rc = ops_.validate(p->port_id, r.attr(), r.pattern(), r.actions(), &fe);
  if (rc == 0) return true;
  *reason = port::FlowErrorText(rc, fe);
  return false;
}

bool BypassOffload::Start(std::span<const uint16_t> ports, std::string* error) {
  ports_.clear();
  for (uint16_t id : ports) {
    if (FindPort(id) != nullptr) continue;
    if (!ops_.port_valid(id)) {
      *error = fmt::format(
          "bypass offload: DPDK port {} does not exist (ports are numbered from 0 in the order "
          "the inputs are configured)",
          id);
      ports_.clear();
      return false;
    }
    PortState p;
    p.port_id = id;
    p.driver = ops_.driver_name(id);
    ports_.push_back(std::move(p));
  }
  if (!config_.enabled || config_.max_flows == 0) {
    for (PortState& p : ports_) p.reason = "bypass offload is disabled (or max-flows is 0)";
    return true;
  }
  for (PortState& p : ports_) {
    std::string age_reason, drop_reason;
    if (Probe(&p, false, true, &age_reason)) {
      p.mode = Mode::kAge;
    } else if (Probe(&p, false, false, &drop_reason)) {
      p.mode = Mode::kNoAge;
      p.reason = "refuses AGE: " + age_reason;
      spdlog::info(
          "bypass offload: {} takes drop rules but refuses the AGE action ({}); offloaded flows "
          "are removed from the NIC after max-lifetime {} s instead of when idle",
          PortName(p), age_reason, config_.max_lifetime_s);
    } else {
      p.mode = Mode::kUnavailable;
      p.reason = drop_reason;
      spdlog::info(
          "bypass offload: unavailable on {}: the driver refuses flow drop rules ({}); bypassed "
          "flows on this port are skipped in software",
          PortName(p), drop_reason);
      continue;
    }
    // Some NICs take IPv4 rules only: IPv6 flows are then refused up front, not failed one by one.
    std::string v6_reason;
    p.ipv6 = Probe(&p, true, p.mode == Mode::kAge, &v6_reason);
    if (!p.ipv6) {
      p.reason += (p.reason.empty() ? "" : "; ") + ("refuses IPv6: " + v6_reason);
      spdlog::info(
          "bypass offload: {} refuses IPv6 drop rules ({}); IPv6 flows on this port are skipped "
          "in software only",
          PortName(p), v6_reason);
    }
  }
  return true;
}

bool BypassOffload::available(uint16_t port) const {
  const PortState* p = FindPort(port);
  return p != nullptr && p->mode != Mode::kUnavailable;
}

bool BypassOffload::any_available() const {
  return std::any_of(ports_.begin(), ports_.end(),
                     [](const PortState& p) { return p.mode != Mode::kUnavailable; });
}

std::string BypassOffload::status(uint16_t port) const {
  const PortState* p = FindPort(port);
  if (p == nullptr) return fmt::format("port {}: not an input port", port);
  switch (p->mode) {
    case Mode::kUnavailable:
      return fmt::format("{}: unavailable: {}", PortName(*p), p->reason);
    case Mode::kAge:
      return fmt::format("{}: drop rules with AGE (idle {} s){}", PortName(*p),
                         config_.idle_timeout_s, p->ipv6 ? "" : ", IPv4 only");
    case Mode::kNoAge:
      return fmt::format("{}: drop rules without AGE (max lifetime {} s){}", PortName(*p),
                         config_.max_lifetime_s, p->ipv6 ? "" : ", IPv4 only");
  }
  return "";
}

bool BypassOffload::CreateRule(const PortState& p, Slot* s, int dir, std::string* reason) {
  Rule& rule = s->rules[dir];
  const BypassRuleSpec spec =
      BuildBypassRule(s->flow, dir == 0, config_, p.mode == Mode::kAge, &rule);
  // No rte_flow_validate first: Start validated this rule shape, and create runs the same driver
  // checks and reports the same reason; validating each of thousands of flows would double the
  // driver calls for nothing.
  rte_flow_error fe{};
  rule.handle = ops_.create(p.port_id, spec.attr(), spec.pattern(), spec.actions(), &fe);
  rule.aged = false;
  if (rule.handle != nullptr) return true;
  *reason = port::FlowErrorText(0, fe);
  return false;
}

bool BypassOffload::Offload(const BypassFlow& f, uint64_t now_ms) {
  ++counters_.requested;
  if ((f.ip_version != 4 && f.ip_version != 6) || (f.proto != kTcp && f.proto != kUdp) ||
      (f.ip_version == 4 && !(f.client.IsV4() && f.server.IsV4()))) {
    ++counters_.failed;  // a worker bug, not an operator problem: counted, logged at debug
    spdlog::debug("bypass offload: malformed flow (IP version {}, protocol {})", f.ip_version,
                  f.proto);
    return false;
  }
  PortState* p = FindPort(f.port_id);
  if (p == nullptr || p->mode == Mode::kUnavailable || (f.ip_version == 6 && !p->ipv6)) {
    ++counters_.refused_unavailable;
    return false;
  }
  const Key key = MakeKey(f);
  if (index_.count(key) != 0) {
    ++counters_.duplicates;
    return true;
  }
  if (free_.empty()) {
    ++counters_.refused_capacity;
    return false;
  }
  const uint32_t idx = free_.back();
  free_.pop_back();
  Slot& s = slots_[idx];
  s = Slot{};
  s.used = true;
  s.flow = f;
  s.key = key;
  s.created_ms = now_ms;

  std::string reason;
  int failed_dir = -1;
  if (!CreateRule(*p, &s, 0, &reason)) {
    failed_dir = 0;
  } else if (!CreateRule(*p, &s, 1, &reason)) {
    failed_dir = 1;
  }
  if (failed_dir >= 0) {
    ++counters_.failed;
    // The first failure per port is worth an operator's attention (with the driver's reason);
    // after that the failed counter tells the rate without flooding the log.
    const std::string msg =
        fmt::format("bypass offload: {} could not create the {} drop rule for {}: {}", PortName(*p),
                    failed_dir == 0 ? "to-server" : "to-client", FlowText(f), reason);
    if (!p->create_failure_logged) {
      p->create_failure_logged = true;
      spdlog::warn("{} (further failures on this port are only counted)", msg);
    } else {
      spdlog::debug("{}", msg);
    }
    // Half a pair would drop one direction while the other still reaches a worker that believes
    // the flow is offloaded: take the first rule down again.
    ReleaseSlot(idx, Release::kRollback);
    return false;
  }
  s.indexed = true;
  index_.emplace(key, idx);
  if (p->mode == Mode::kNoAge) {
    lifetime_ring_[(lifetime_head_ + lifetime_size_) % lifetime_ring_.size()] = idx;
    ++lifetime_size_;
  }
  ++counters_.installed;
  return true;
}

bool BypassOffload::ReleaseSlot(uint32_t idx, Release why) {
  Slot& s = slots_[idx];
  s.release = why;
  bool ok = true;
  // Reverse creation order.
  for (int dir = 1; dir >= 0; --dir) {
    Rule& r = s.rules[dir];
    if (r.handle == nullptr) continue;
    rte_flow_error fe{};
    const int rc = ops_.destroy(s.flow.port_id, r.handle, &fe);
    if (rc != 0) {
      if (ok) {
        const PortState* p = FindPort(s.flow.port_id);
        spdlog::warn(
            "bypass offload: {} could not destroy the {} drop rule for {}: {}; retried "
            "at the next poll",
            p ? PortName(*p) : fmt::format("port {}", s.flow.port_id),
            dir == 0 ? "to-server" : "to-client", FlowText(s.flow), port::FlowErrorText(rc, fe));
      }
      ok = false;
      continue;
    }
    r.handle = nullptr;
  }
  if (!ok) {
    if (std::find(pending_.begin(), pending_.end(), idx) == pending_.end()) pending_.push_back(idx);
    return false;
  }
  if (why == Release::kAged) ++counters_.aged;
  if (why == Release::kExpired) ++counters_.expired;
  // Kept in the index until the rules are gone: a re-request meanwhile is a duplicate, not a
  // second pair of rules for the same 5-tuple.
  if (s.indexed) index_.erase(s.key);
  s = Slot{};
  free_.push_back(idx);
  return true;
}

uint32_t BypassOffload::SlotIndex(const void* context, int* dir) const {
  const uint32_t n = config_.enabled ? config_.max_flows : 0;
  // Compared as integers: the context may be any pointer a driver hands back.
  const uintptr_t base = reinterpret_cast<uintptr_t>(slots_.get());
  const uintptr_t c = reinterpret_cast<uintptr_t>(context);
  if (n == 0 || c < base || c >= base + sizeof(Slot) * n) return kNoSlot;
  const uint32_t idx = static_cast<uint32_t>((c - base) / sizeof(Slot));
  const Slot& s = slots_[idx];
  for (int d = 0; d < 2; ++d) {
    if (context == &s.rules[d]) {
      *dir = d;
      return idx;
    }
  }
  return kNoSlot;
}

void BypassOffload::CollectAged(PortState* p) {
  // Bounded: at most every rule we hold (two per slot) plus one short batch, even if a driver
  // kept reporting.
  const uint64_t limit = 2ull * (config_.enabled ? config_.max_flows : 0) + kAgedBatch;
  uint64_t seen = 0;
  while (seen < limit) {
    rte_flow_error fe{};
    const int n = ops_.get_aged_flows(p->port_id, aged_buf_.data(), kAgedBatch, &fe);
    if (n < 0) {
      if (!p->aged_failure_logged) {
        p->aged_failure_logged = true;
        spdlog::warn("bypass offload: {} could not report aged drop rules: {}", PortName(*p),
                     port::FlowErrorText(n, fe));
      }
      return;
    }
    for (int i = 0; i < n; ++i) {
      int dir = 0;
      const uint32_t idx = SlotIndex(aged_buf_[i], &dir);
      if (idx == kNoSlot) continue;  // not one of ours (another user of the port)
      Slot& s = slots_[idx];
      // A report for a rule already destroyed, or for a slot being released, changes nothing.
      if (!s.used || s.release != Release::kNone || s.flow.port_id != p->port_id ||
          s.rules[dir].handle == nullptr) {
        continue;
      }
      s.rules[dir].aged = true;
      if (s.rules[0].aged && s.rules[1].aged) ReleaseSlot(idx, Release::kAged);
    }
    seen += static_cast<uint64_t>(n);
    if (static_cast<uint32_t>(n) < kAgedBatch) return;
  }
}

void BypassOffload::Poll(uint64_t now_ms) {
  // Retries first: they hold slots that new flows could use.
  std::vector<uint32_t> retry;
  retry.swap(pending_);
  for (uint32_t idx : retry) {
    if (slots_[idx].used) ReleaseSlot(idx, slots_[idx].release);
  }
  for (PortState& p : ports_) {
    if (p.mode == Mode::kAge) CollectAged(&p);
  }
  const uint64_t lifetime_ms = uint64_t{config_.max_lifetime_s} * 1000;
  while (lifetime_size_ > 0) {
    const uint32_t idx = lifetime_ring_[lifetime_head_];
    if (now_ms < slots_[idx].created_ms + lifetime_ms) break;
    lifetime_head_ = (lifetime_head_ + 1) % lifetime_ring_.size();
    --lifetime_size_;
    ReleaseSlot(idx, Release::kExpired);  // a failure goes to pending_, retried next Poll
  }
}

}  // namespace fs::offload
