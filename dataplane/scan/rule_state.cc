#include "dataplane/scan/rule_state.h"

#include <netinet/in.h>

#include <cassert>
#include <cstring>

namespace fs::scan {
namespace {

using patterns::FlowbitCmd;
using patterns::FlowbitOp;
using patterns::FlowTest;
using patterns::RuleConditions;
using patterns::ThresholdTrack;
using patterns::ThresholdType;

constexpr uint64_t kUsPerSec = 1000000;

// flow::Flow::rule_state layout. Word 0: flowbit ids 0-63 as a bitmap. Word 1: three 16-bit
// slots (bits 0-47) holding set flowbit ids >= 64 (0 = empty; such ids are never 0), then flags.
constexpr uint64_t kSlotMask = 0xffff;
// kEstBefore and kEstPacket (bits 48, 49): rule_state.h, where ObservePacket is inline.
static_assert(kFlowbitHighSlots * 16 <= 48, "high slots overlap the flags");

inline uint16_t HighSlot(const flow::Flow& f, int i) {
  return static_cast<uint16_t>((f.rule_state[1] >> (16 * i)) & kSlotMask);
}
inline void SetHighSlot(flow::Flow& f, int i, uint16_t id) {
  f.rule_state[1] = (f.rule_state[1] & ~(kSlotMask << (16 * i))) | (uint64_t{id} << (16 * i));
}

// murmur3's 64-bit finaliser.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Suricata compares SCTime_t (seconds and microseconds): the window [start, start + seconds]
// includes its end.
inline bool InWindow(uint64_t start_us, uint32_t seconds, uint64_t now_us) {
  return now_us <= start_us + uint64_t{seconds} * kUsPerSec;
}

// Suricata's FlowMatch: each option group (fragments, direction, state, stream) that the test
// names counts once when it holds; the test holds when all counted.
inline bool FlowTestHolds(const FlowTest& t, uint16_t packet_flags) {
  using namespace patterns::flowopt;
  // Until IP defragmentation and TCP reassembly exist, every packet is a raw packet: never a
  // rebuilt fragment, never a stream match.
  constexpr bool kRebuiltFragment = false;
  constexpr bool kStreamMatch = false;
  uint8_t count = 0;
  if ((t.flags & kNoFrag) && !kRebuiltFragment) {
    ++count;
  } else if ((t.flags & kOnlyFrag) && kRebuiltFragment) {
    ++count;
  }
  if ((t.flags & kToServer) && (packet_flags & kToServer)) {
    ++count;
  } else if ((t.flags & kToClient) && (packet_flags & kToClient)) {
    ++count;
  }
  if ((t.flags & kEstablished) && (packet_flags & kEstablished)) {
    ++count;
  } else if ((t.flags & kNotEstablished) && !(packet_flags & kEstablished)) {
    ++count;
  } else if (t.flags & kStateless) {
    ++count;
  }
  if (kStreamMatch) {
    if (t.flags & kOnlyStream) ++count;
  } else {
    if (t.flags & kNoStream) ++count;
  }
  return count == t.match_count;
}

// flags, itype, icode (Suricata's DetectFlagsMatch, DetectITypeMatch, DetectICodeMatch): each
// fails on a packet of another protocol.
bool PacketTestsHold(const RuleConditions& c, const decode::Packet& p) {
  const bool l4 = p.layer == decode::Layer::kL4;
  if (c.tcp_flags.set && !(l4 && p.proto == 6 && c.tcp_flags.Holds(p.tcp_flags))) return false;
  if (c.itype.set || c.icode.set) {
    if (!l4 || (p.proto != 1 && p.proto != 58)) return false;
    if (c.itype.set && !c.itype.Holds(p.icmp_type)) return false;
    if (c.icode.set && !c.icode.Holds(p.icmp_code)) return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Flow-carried state

bool FlowbitIsSet(const flow::Flow& f, uint16_t id) {
  if (id < kFlowbitBitmapIds) return ((f.rule_state[0] >> id) & 1) != 0;
  if (id == patterns::kNoFlowbitId) return false;
  for (int i = 0; i < kFlowbitHighSlots; ++i) {
    if (HighSlot(f, i) == id) return true;
  }
  return false;
}

bool SetFlowbit(flow::Flow& f, uint16_t id) {
  if (id < kFlowbitBitmapIds) {
    f.rule_state[0] |= uint64_t{1} << id;
    return true;
  }
  if (id == patterns::kNoFlowbitId) return false;
  int empty = -1;
  for (int i = 0; i < kFlowbitHighSlots; ++i) {
    const uint16_t slot = HighSlot(f, i);
    if (slot == id) return true;
    if (slot == 0 && empty < 0) empty = i;
  }
  if (empty < 0) return false;
  SetHighSlot(f, empty, id);
  return true;
}

void UnsetFlowbit(flow::Flow& f, uint16_t id) {
  if (id < kFlowbitBitmapIds) {
    f.rule_state[0] &= ~(uint64_t{1} << id);
    return;
  }
  for (int i = 0; i < kFlowbitHighSlots; ++i) {
    if (HighSlot(f, i) == id) SetHighSlot(f, i, 0);
  }
}

bool PacketEstablished(const flow::Flow& f) { return (f.rule_state[1] & kEstPacket) != 0; }

// ---------------------------------------------------------------------------------------------
// Threshold table

RuleState::RuleState(uint32_t threshold_capacity) {
  uint32_t n = kProbeWindow;
  while (n < threshold_capacity && n < (uint32_t{1} << 31)) n <<= 1;
  mask_ = n - 1;
  // LargeArray(n) value-initialises: the memory is touched now, not per packet.
  table_ = LargeArray<Entry>(n);
}

RuleState::~RuleState() = default;

uint32_t RuleState::HashOf(const Key& k) {
  uint64_t w[4];
  std::memcpy(&w[0], k.a.bytes.data(), 16);
  std::memcpy(&w[2], k.b.bytes.data(), 16);
  uint64_t h = Mix64((uint64_t{k.gid} << 32 | k.sid) ^ 0x9e3779b97f4a7c15ULL);
  h = Mix64(h ^ static_cast<uint64_t>(k.track));
  for (uint64_t x : w) h = Mix64(h ^ x);
  return static_cast<uint32_t>(h ^ (h >> 32));
}

bool RuleState::Same(const Entry& e, const Key& k) {
  return e.sid == k.sid && e.gid == k.gid && e.track == k.track && e.a == k.a && e.b == k.b;
}

RuleState::Entry* RuleState::Find(const Key& k, uint32_t hash) {
  // Slots never become unused again, so an unused slot ends the search: k was never placed
  // beyond it.
  for (uint32_t i = 0; i < kProbeWindow; ++i) {
    Entry& e = table_[(hash + i) & mask_];
    if (!e.used) return nullptr;
    if (Same(e, k)) return &e;
  }
  return nullptr;
}

RuleState::Entry* RuleState::Insert(const Key& k, uint32_t hash, uint32_t seconds,
                                    uint64_t now_us) {
  Entry* victim = nullptr;
  bool victim_over = false;  // victim's window has ended: replacing it changes nothing
  for (uint32_t i = 0; i < kProbeWindow; ++i) {
    Entry& e = table_[(hash + i) & mask_];
    if (!e.used) {
      victim = &e;
      ++used_;
      break;
    }
    // An entry whose window is over behaves exactly like a missing one in every threshold type
    // (the next match restarts it), so it is the preferred victim.
    const bool over = !InWindow(e.window_start_us, e.seconds, now_us);
    if (over) {
      if (!victim_over || e.last_use_us < victim->last_use_us) victim = &e;
      victim_over = true;
    } else if (!victim_over && (victim == nullptr || e.last_use_us < victim->last_use_us)) {
      victim = &e;
    }
  }
  if (victim->used && !victim_over) ++counters_.threshold_evicted;
  ++counters_.threshold_inserts;
  Entry& e = *victim;
  e.a = k.a;
  e.b = k.b;
  e.sid = k.sid;
  e.gid = k.gid;
  e.track = k.track;
  e.window_start_us = now_us;
  e.last_use_us = now_us;
  e.count = 1;
  e.seconds = seconds;
  e.used = true;
  return &e;
}

// Suricata 7.0.10 detect-engine-threshold.c ThresholdHandlePacket, type by type. A new entry
// starts with count 1 and its window at this match.
bool RuleState::ApplyThreshold(const RuleConditions& c, uint32_t sid, uint32_t gid,
                               const decode::Packet& p, uint64_t now_us) {
  if (c.threshold_type == ThresholdType::kNone) return true;
  // PacketAlertHandle: thresholds apply to IPv4/IPv6 packets only.
  if (p.ip_version != 4 && p.ip_version != 6) return true;
  ++counters_.threshold_checks;

  Key k{};
  k.sid = sid;
  k.gid = gid;
  k.track = c.threshold_track;
  switch (c.threshold_track) {
    case ThresholdTrack::kBySrc:
      k.a = p.src;
      break;
    case ThresholdTrack::kByDst:
      k.a = p.dst;
      break;
    case ThresholdTrack::kByBoth:  // Suricata's IP pair: the same for both orders
      k.a = p.src < p.dst ? p.src : p.dst;
      k.b = p.src < p.dst ? p.dst : p.src;
      break;
    case ThresholdTrack::kByRule:
      break;
  }
  const uint32_t hash = HashOf(k);
  Entry* e = Find(k, hash);
  const uint32_t limit = c.threshold_count;
  const uint32_t seconds = c.threshold_seconds;
  bool alert = false;
  switch (c.threshold_type) {
    case ThresholdType::kLimit:
      // The first `count` matches of each window alert.
      if (e == nullptr) {
        e = Insert(k, hash, seconds, now_us);
        alert = true;
      } else if (InWindow(e->window_start_us, seconds, now_us)) {
        ++e->count;
        alert = e->count <= limit;
      } else {
        e->window_start_us = now_us;
        e->count = 1;
        alert = true;
      }
      break;
    case ThresholdType::kThreshold:
      // Every `count`-th match within the window alerts; the count restarts, the window not.
      if (e == nullptr) {
        if (limit == 1) {
          alert = true;  // Suricata keeps no entry: every match alerts
        } else {
          e = Insert(k, hash, seconds, now_us);
        }
      } else if (InWindow(e->window_start_us, seconds, now_us)) {
        ++e->count;
        if (e->count >= limit) {
          alert = true;
          e->count = 0;
        }
      } else {
        e->window_start_us = now_us;
        e->count = 1;
      }
      break;
    case ThresholdType::kBoth:
      // Only the `count`-th match of each window alerts.
      if (e == nullptr) {
        e = Insert(k, hash, seconds, now_us);
        alert = limit == 1;
      } else if (InWindow(e->window_start_us, seconds, now_us)) {
        ++e->count;
        alert = e->count == limit;
      } else {
        e->window_start_us = now_us;
        e->count = 1;
        alert = limit == 1;
      }
      break;
    case ThresholdType::kDetectionFilter:
      // Every match after the first `count` of the window alerts.
      if (e == nullptr) {
        e = Insert(k, hash, seconds, now_us);
      } else if (InWindow(e->window_start_us, seconds, now_us)) {
        ++e->count;
        alert = e->count > limit;
      } else {
        e->window_start_us = now_us;
        e->count = 1;
      }
      break;
    case ThresholdType::kNone:
      break;
  }
  if (e != nullptr) e->last_use_us = now_us;
  if (!alert) ++counters_.threshold_suppressed;
  return alert;
}

bool RuleState::Validate() const {
  uint32_t used = 0;
  for (uint32_t i = 0; i <= mask_; ++i) {
    const Entry& e = table_[i];
    if (!e.used) continue;
    ++used;
    const Key k{e.a, e.b, e.sid, e.gid, e.track};
    const uint32_t home = HashOf(k) & mask_;
    const uint32_t distance = (i - home) & mask_;
    if (distance >= kProbeWindow) return false;
    for (uint32_t j = 0; j < distance; ++j) {
      const Entry& before = table_[(home + j) & mask_];
      if (!before.used || Same(before, k)) return false;  // unreachable, or stored twice
    }
    for (uint32_t j = distance + 1; j < kProbeWindow; ++j) {
      const Entry& after = table_[(home + j) & mask_];
      if (after.used && Same(after, k)) return false;
    }
  }
  return used == used_;
}

// ---------------------------------------------------------------------------------------------
// Per-rule evaluation

bool CheckConditions(const RuleConditions& c, uint32_t rule_index, uint32_t sid, uint32_t gid,
                     const decode::Packet& p, flow::Flow& f, flow::Dir dir, RuleState& state,
                     uint64_t now_us) {
  return CheckConditions(c, rule_index, sid, gid, p, &f, dir, state, now_us);
}

bool CheckConditions(const RuleConditions& c, uint32_t rule_index, uint32_t sid, uint32_t gid,
                     const decode::Packet& p, flow::Flow* f, flow::Dir dir, RuleState& state,
                     uint64_t now_us) {
  (void)rule_index;
  using namespace patterns::flowopt;
  // Suricata keeps separate rule groups per direction; a packet without a flow is to-server.
  const bool to_client = f != nullptr && dir == flow::Dir::kToClient;
  if (c.flow_dirs != 0) {
    const uint8_t want = static_cast<uint8_t>(to_client ? patterns::DirMask::kToClient
                                                        : patterns::DirMask::kToServer);
    if ((c.flow_dirs & want) == 0) return false;
  }
  if (!c.flow_tests.empty()) {
    uint16_t packet_flags = 0;  // Suricata's p->flowflags: none without a flow
    if (f != nullptr) {
      packet_flags = to_client ? kToClient : kToServer;
      if (PacketEstablished(*f)) packet_flags |= kEstablished;
    }
    for (const FlowTest& t : c.flow_tests) {
      if (!FlowTestHolds(t, packet_flags)) return false;
    }
  }
  if (c.has_dsize &&
      !patterns::UintHolds<uint32_t>(c.dsize_mode, c.dsize_lo, c.dsize_hi, p.payload_len)) {
    return false;
  }
  if (c.HasPacketTests() && !PacketTestsHold(c, p)) return false;

  // flowbits tests: every option must hold; an OR list holds when one of its names does.
  for (const FlowbitOp& op : c.flowbit_ops) {
    if (op.cmd != FlowbitCmd::kIsset && op.cmd != FlowbitCmd::kIsnotset) continue;
    if (f == nullptr) return false;
    const bool want_set = op.cmd == FlowbitCmd::kIsset;
    bool holds = false;
    for (uint16_t i = op.first; i < op.first + op.count && !holds; ++i) {
      holds = FlowbitIsSet(*f, c.flowbit_ids[i]) == want_set;
    }
    if (!holds) return false;
  }

  // The rule has matched: its flowbits modifiers run now, so that rules later in the order see
  // them on this packet, whatever threshold or noalert then decide (Suricata's post-match list).
  if (f != nullptr) {
    for (const FlowbitOp& op : c.flowbit_ops) {
      const uint16_t id = c.flowbit_ids[op.first];
      if (id == patterns::kNoFlowbitId) continue;  // set not finalized (a bug upstream)
      switch (op.cmd) {
        case FlowbitCmd::kSet:
          if (!SetFlowbit(*f, id)) ++state.mutable_counters().flowbit_overflow;
          break;
        case FlowbitCmd::kUnset:
          UnsetFlowbit(*f, id);
          break;
        case FlowbitCmd::kToggle:
          if (FlowbitIsSet(*f, id)) {
            UnsetFlowbit(*f, id);
          } else if (!SetFlowbit(*f, id)) {
            ++state.mutable_counters().flowbit_overflow;
          }
          break;
        case FlowbitCmd::kIsset:
        case FlowbitCmd::kIsnotset:
          break;
      }
    }
  }

  // Suricata runs the threshold of a noalert rule too (PacketAlertFinalize), then drops it.
  const bool alert = c.threshold_type == ThresholdType::kNone
                         ? true
                         : state.ApplyThreshold(c, sid, gid, p, now_us);
  if (c.noalert) {
    ++state.mutable_counters().noalert_matches;
    return false;
  }
  return alert;
}

}  // namespace fs::scan
