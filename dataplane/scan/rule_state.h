// Per-packet evaluation of a rule's runtime conditions (flow, flowbits, dsize, threshold,
// detection_filter; patterns/conditions.h) once its contents and header have matched, and the
// per-worker state it needs: threshold/detection_filter tracking in a fixed-capacity table,
// flowbits in each flow (flow::Flow::rule_state).
//
// RuleState is owned by exactly one worker lcore and is not thread-safe. It is independent of
// the pattern set (entries are keyed by gid:sid, as Suricata's), so it is kept across reloads.
// Construction allocates; nothing else here allocates, locks, throws or calls virtually.
//
// Worker contract, per packet (see docs/rules-conditions.md):
//   1. flow::FlowTable::Update(p) -> {flow, dir}
//   2. if flow: ObservePacket(p, *flow)             (every packet, even when no rule is checked)
//   3. for each rule whose contents and header matched, in ascending rule index (the set's
//      rules sorted by patterns::FinalizedConditions::order_keys):
//        if (CheckConditions(cond, index, sid, gid, p, flow, dir, rule_state, p.ts_us)) alert
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>

#include "dataplane/common/ip_addr.h"
#include "dataplane/common/large_array.h"
#include "dataplane/decode/packet.h"
#include "dataplane/flow/flow_table.h"
#include "patterns/conditions.h"

namespace fs::scan {

// Single writer (the owning worker); the metrics collectable reads them at scrape time.
struct RuleStateCounters {
  uint64_t threshold_checks = 0;      // matches of threshold/detection_filter rules
  uint64_t threshold_suppressed = 0;  // ... whose alert the threshold/detection_filter withheld
  uint64_t threshold_inserts = 0;     // tracking entries started
  // A tracking entry whose time window was still open was dropped to make room (its probe window
  // was full): that rule/address starts counting again, so its alerts may differ from Suricata's.
  // Non-zero: raise the threshold table capacity.
  uint64_t threshold_evicted = 0;
  uint64_t noalert_matches = 0;  // matches of flowbits:noalert rules (bits set, no alert)
  // A flowbit with id >= 64 could not be set because the flow already holds
  // kFlowbitHighSlots such bits: the set is lost (a later isset fails, isnotset holds).
  uint64_t flowbit_overflow = 0;
};

// Flowbit ids below this live in the flow's inline bitmap (any number of them per flow).
inline constexpr uint16_t kFlowbitBitmapIds = 64;
// Flowbits with higher ids a flow can hold at once.
inline constexpr int kFlowbitHighSlots = 3;

class RuleState {
 public:
  // Probe window of the open-addressing table: a key lives within this many slots of its hash.
  static constexpr uint32_t kProbeWindow = 8;

  // threshold_capacity: tracking entries (rounded up to a power of two, at least kProbeWindow).
  // One entry is one (gid:sid, tracked address or address pair) with an open window: size it
  // for the number of distinct hosts that trigger threshold/detection_filter rules within their
  // `seconds`. Memory: capacity x sizeof(Entry) (72 bytes).
  explicit RuleState(uint32_t threshold_capacity);
  ~RuleState();
  RuleState(const RuleState&) = delete;
  RuleState& operator=(const RuleState&) = delete;

  // The threshold/detection_filter decision for one match of a rule with c.threshold_type !=
  // kNone at packet time now_us (Suricata 7's ThresholdHandlePacket): true when it alerts.
  // Rules without one, and non-IP packets, always alert.
  bool ApplyThreshold(const patterns::RuleConditions& c, uint32_t sid, uint32_t gid,
                      const decode::Packet& p, uint64_t now_us);

  uint32_t threshold_capacity() const { return mask_ + 1; }
  uint32_t threshold_used() const { return used_; }  // slots ever filled (never shrinks)
  const RuleStateCounters& counters() const { return counters_; }
  RuleStateCounters& mutable_counters() { return counters_; }

  // Walks the table (O(capacity)) and returns false on any inconsistency: every entry is
  // reachable from its hash within the probe window, no key is stored twice. Tests only.
  bool Validate() const;

 private:
  struct Entry {
    IpAddr a, b;  // by_src/by_dst: a; by_both: the pair, lower first; by_rule: none (zero)
    uint32_t sid = 0, gid = 0;
    uint64_t window_start_us = 0;  // Suricata's tv1
    uint64_t last_use_us = 0;      // for eviction
    uint32_t count = 0;            // Suricata's current_count
    uint32_t seconds = 0;          // window length when the entry was made (expiry)
    patterns::ThresholdTrack track = patterns::ThresholdTrack::kBySrc;
    bool used = false;
  };

  struct Key {
    IpAddr a, b;
    uint32_t sid, gid;
    patterns::ThresholdTrack track;
  };
  static uint32_t HashOf(const Key& k);
  static bool Same(const Entry& e, const Key& k);
  // The entry of k, or nullptr.
  Entry* Find(const Key& k, uint32_t hash);
  // A slot for k (not present): unused, else one whose window is over, else the least recently
  // used in the probe window (counted). Initialised as Suricata's new entry: count 1, window now.
  Entry* Insert(const Key& k, uint32_t hash, uint32_t seconds, uint64_t now_us);

  LargeArray<Entry> table_;
  uint32_t mask_ = 0;
  uint32_t used_ = 0;
  RuleStateCounters counters_;
};

// flow::Flow::rule_state word 1, bits 48 and 49 (its layout: rule_state.cc).
inline constexpr uint64_t kEstBefore = uint64_t{1} << 48;  // past "new" after an earlier packet
inline constexpr uint64_t kEstPacket = uint64_t{1} << 49;  // the current packet is established

// Records what the flow keyword needs to know about packet p of flow f (whether p is
// "established" as Suricata decides it, which for TCP depends on the flow's state before p).
// Call once for every packet that has a flow, after FlowTable::Update and before any
// CheckConditions for it. Hot path; O(1), inline (a call was 1.6% of a 64-byte frame).
//
// Suricata sets FLOW_PKT_ESTABLISHED in FlowHandlePacketUpdate, before the TCP stream engine has
// seen the packet: for TCP a packet is established when the session was established (or later,
// closing or closed) before it; the ACK completing the handshake is not, unless it carries data
// (stream-tcp.c's special case). The flow table has already applied p, so the "before" comes
// from kEstBefore. Other protocols: established once both directions were seen, this packet
// included, which is exactly the table's kEstablished.
inline void ObservePacket(const decode::Packet& p, flow::Flow& f) {
  uint64_t& w = f.rule_state[1];
  bool established;
  if (f.proto == IPPROTO_TCP) {
    established = (w & kEstBefore) != 0 || (f.state == flow::State::kEstablished &&
                                            p.proto == IPPROTO_TCP && p.payload_len > 0);
  } else {
    established = f.state == flow::State::kEstablished;
  }
  w = (w & ~kEstPacket) | (established ? kEstPacket : 0);
  if (f.state != flow::State::kNew) w |= kEstBefore;
}

// Whether every runtime condition of rule c holds for packet p of flow f in direction dir, and
// whether it then alerts. In Suricata's order: direction, flow tests, dsize, flowbits tests; if
// all hold the rule has matched, so its flowbits set/unset/toggle run (in the order written);
// then threshold/detection_filter and flowbits:noalert decide whether it alerts. Returns true
// when it alerts. Call only after the rule's contents and header matched, and for the rules of
// one packet in ascending rule index. rule_index is the rule's index in its set (reserved for
// per-rule counters). now_us: packet time (p.ts_us). Hot path: no allocation.
bool CheckConditions(const patterns::RuleConditions& c, uint32_t rule_index, uint32_t sid,
                     uint32_t gid, const decode::Packet& p, flow::Flow& f, flow::Dir dir,
                     RuleState& state, uint64_t now_us);
// The same for a packet without a flow (f == nullptr: fragments, protocols without flows):
// it counts as to-server, is not established, and flowbits tests never hold (as Suricata).
bool CheckConditions(const patterns::RuleConditions& c, uint32_t rule_index, uint32_t sid,
                     uint32_t gid, const decode::Packet& p, flow::Flow* f, flow::Dir dir,
                     RuleState& state, uint64_t now_us);

// Flowbits of a flow by id (tests, debugging, flow records). SetFlowbit returns false when the
// bit could not be stored (id >= kFlowbitBitmapIds with every high slot taken, or kNoFlowbitId).
bool FlowbitIsSet(const flow::Flow& f, uint16_t id);
bool SetFlowbit(flow::Flow& f, uint16_t id);
void UnsetFlowbit(flow::Flow& f, uint16_t id);
// Whether ObservePacket found the flow's current packet established.
bool PacketEstablished(const flow::Flow& f);

}  // namespace fs::scan
