// Per-worker flow table: fixed capacity set at start-up, bidirectional keys, per-protocol
// timeouts driven by packet time, eviction of the least recently used flow when full.
// Owned by exactly one worker lcore; not thread-safe; never allocates after construction (but
// ExpireAll, at the end of input).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "dataplane/common/ip_addr.h"
#include "dataplane/common/large_array.h"
#include "dataplane/common/prefetch.h"
#include "dataplane/decode/packet.h"
#include "dataplane/reassembly/stream_state.h"

namespace fs::flow {

// Direction of a packet relative to its flow: the first packet's sender is the client.
enum class Dir : uint8_t { kToServer = 0, kToClient = 1 };

// As Suricata's EVE "flow.state". Flow::state is one of the first three (the TCP session);
// kBypassed is reported for a flow whose inspection stopped (Flow::bypassed).
enum class State : uint8_t { kNew, kEstablished, kClosed, kBypassed };
const char* StateName(State s);  // "new", "established", "closed", "bypassed"

// As Suricata's EVE "flow.reason": timeout, forced (evicted under pressure), shutdown (end of
// input or sensor stop).
enum class EndReason : uint8_t { kTimeout, kForced, kShutdown };
const char* EndReasonName(EndReason r);

// Normalised bidirectional key: (lo, hi) ordering of (address, port) makes both directions equal.
// As Suricata's flow hash/compare: VLAN ids (vlan.use-for-tracking, its default) and the tunnel
// depth (recursion_level) are part of it, so an inner flow never mixes with an outer one.
struct FlowKey {
  IpAddr addr_lo, addr_hi;
  uint16_t port_lo = 0, port_hi = 0;  // ICMPv4: types; ESP: SPI halves (see MakeKey)
  uint16_t vlan[decode::kMaxVlans] = {0, 0, 0};
  uint8_t proto = 0;
  uint8_t depth = 0;  // keys are hashed and compared as bytes: no padding anywhere

  // Inline with a constant size: the compiler compares the 44 bytes as words, no libc call.
  bool operator==(const FlowKey& o) const { return std::memcmp(this, &o, sizeof(FlowKey)) == 0; }
};
// Hashing and comparing as bytes is only sound without compiler-inserted padding.
static_assert(std::has_unique_object_representations_v<FlowKey>);
static_assert(sizeof(FlowKey) == 44);

// How a packet relates to flows, after Suricata 7 (FlowSetupPacket callers, FlowGetHash,
// FlowCompareICMPv4, FlowCreateCheck).
enum class FlowUse : uint8_t {
  kNone,      // no flow: fragments, GRE/IP-in-IP/other protocols Suricata keeps no flow for, and
              // ICMPv4 error messages that cannot be tied to the flow they report on
  kOwn,       // finds or creates its own flow: TCP, UDP, ICMP, ICMPv6 (errors too), SCTP, ESP,
              // and IPv6-in-IPv4 (protocol 41) outer packets
  kEmbedded,  // ICMPv4 destination unreachable quoting a whole TCP/UDP header: counted on the
              // flow of the quoted packet if that flow exists; never creates one
};
FlowUse UseOf(const decode::Packet& p);

// Builds the key for a decoded packet; *sender_is_lo tells which side sent it. VLAN ids are part
// of the key (as Suricata's default vlan.use-for-tracking), only as many as the packet carries.
// For kEmbedded packets it is the quoted packet's key. For ICMPv4 the ports are the ICMP type
// and its request/reply counterpart (0 if none): Suricata keeps an echo and a timestamp exchange
// between the same hosts in different flows. ICMPv6 flows are keyed by the addresses alone, as
// Suricata's IPv6 flow hash does (so ICMPv6 errors land on the ICMPv6 flow of their addresses).
// ESP: the SPI in the port fields (Suricata keys ESP by SPI); SCTP: its ports.
FlowKey MakeKey(const decode::Packet& p, bool* sender_is_lo);
// The same with UseOf(p) already known.
FlowKey MakeKey(const decode::Packet& p, FlowUse use, bool* sender_is_lo);

// Symmetric hash of the key (equal for both directions); also used to pick the worker.
uint32_t HashKey(const FlowKey& k);

// The worker (0 .. nworkers-1) that owns this decoded packet (one layer of a frame): by flow key
// for packets with a flow, by addresses alone for fragments and flowless IP (so every fragment
// of a datagram meets), 0 for what is not IP. Symmetric in the two directions. The software
// distributor uses it, and so does the benchmark that splits a capture as RSS would.
uint32_t OwnerOf(const decode::Packet& p, uint32_t nworkers);

// The EVE flow_id of a flow with this key that started at first_ts_us: a 64-bit mix of both,
// masked to 51 bits (JSON consumers read numbers as doubles), never 0. Independent of the table
// (capacity, insertion order, worker count), so a replay gives the same ids.
uint64_t MakeFlowId(const FlowKey& k, uint64_t first_ts_us);

struct Timeouts {  // seconds, Suricata's defaults (suricata.yaml flow-timeouts)
  uint32_t tcp_new = 60, tcp_established = 600, tcp_closed = 60;
  uint32_t udp_new = 30, udp_established = 300;
  uint32_t icmp_new = 30, icmp_established = 300;  // ICMPv4 only (ICMPv6 is "other", as Suricata)
  uint32_t other_new = 30, other_established = 300;
};

struct Flow {
  FlowKey key;
  IpAddr client_addr, server_addr;            // client = first packet's sender
  uint16_t client_port = 0, server_port = 0;  // ICMPv4: first packet's type, its counterpart;
                                              // ESP: SPI high and low 16 bits
  uint8_t proto = 0;
  uint8_t ip_version = 0;
  State state = State::kNew;
  bool alerted = false;           // set by the caller (scan stage); printed in the flow record
  uint8_t tcp_flags[2] = {0, 0};  // OR of flags seen, per Dir
  uint8_t tcp_seen = 0;           // internal: handshake/teardown/direction-seen bits
  uint64_t flow_id = 0;           // stable, derived from key and first timestamp; < 2^51
  uint64_t first_ts_us = 0, last_ts_us = 0;
  uint64_t pkts[2] = {0, 0};   // per Dir
  uint64_t bytes[2] = {0, 0};  // per Dir, Packet::caplen: frame bytes; tunneled packets: see
                               // decode::DecodeInner (as Suricata counts)
  // Rule state carried by the flow, read and written only by scan/rule_state.cc: flowbits and
  // the "established" history of the flow keyword. Zero for a new flow (Create assigns Flow{}).
  uint64_t rule_state[2] = {0, 0};
  // Indicator lists already alerted on for this flow (bit = list), and the indicator set
  // generation that was looked up: a flow alerts once per list.
  uint64_t indicator_alerted = 0;
  uint32_t indicator_generation = 0;
  // Internal: last_ts_us >> FlowTable::kLruStampShift when the flow was last put at the tail of
  // its timeout list; a packet within FlowTable::kLruSlack of it leaves the flow there (Touch).
  // Beside indicator_generation, in what was its upper half: a flow stays 248 bytes.
  uint32_t lru_stamp = 0;
  // TCP reassembly bookkeeping per direction (dataplane/reassembly), and the flow's stream-scan
  // context in the worker's pool (scan::StreamPool index, 0 = none).
  reassembly::FlowStreams streams{};
  uint32_t stream_slot = 0;
  bool bypassed = false;  // no more reassembly or scanning for this flow (counted by the worker)
  // App layer (dataplane/app/session.h): the detected protocol (patterns::AppProto; 0 = none
  // yet), where detection stands (the worker's AppState), and the flow's session in the worker's
  // app::AppSessionPool (1-based, 0 = none). In the padding after `bypassed`.
  uint8_t app_proto = 0;
  uint8_t app_state = 0;
  // The flow's payload is no longer inspected by payload rules (its TLS handshake is over and
  // app-layer.tls.encryption-handling is "default", as Suricata's): header rules still run.
  bool no_payload_inspection = false;
  uint32_t app_slot = 0;

  // Internal: LRU/timeout list links and hash chain (indices into the table's pool; 0 = none;
  // hash_prev after dns_requests).
  uint32_t lru_prev = 0, lru_next = 0, hash_next = 0;
  uint32_t hash = 0;        // HashKey(key), kept to unlink without rehashing
  uint32_t client_isn = 0;  // sequence number of the client's SYN (retransmission vs reuse)
  uint8_t list = 0;         // which timeout-class list the flow is on
  // App layer: DNS requests seen so far (the EVE tx_id of the next one). In the padding after
  // `list`: a flow stays the same size.
  uint16_t dns_requests = 0;
  // Internal: the previous flow of the hash chain (0: the bucket's first). Ending a flow unlinks
  // it without walking its chain; the walk read every newer flow of the chain, each a cache miss
  // in a full table (82% of FlowTable::Release, 12% of a short-flows replay). In the padding at
  // the end: a flow stays 248 bytes.
  uint32_t hash_prev = 0;
};
static_assert(sizeof(Flow) == 248);

struct Counters {  // single writer: the owning worker
  uint64_t created = 0;
  uint64_t active = 0;
  uint64_t evicted = 0;    // ended early because the table was full (reason forced)
  uint64_t timed_out = 0;  // ended with reason timeout (includes tcp_reuse)
  uint64_t tcp_reuse = 0;  // ended because a new TCP session reused a closed flow's tuple
  uint64_t ended = 0;      // all ends, any reason
};

class FlowTable {
 public:
  // capacity: maximum concurrent flows (memory is reserved now). At least 1, below 2^31.
  FlowTable(uint32_t capacity, const Timeouts& timeouts);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  struct Result {
    Flow* flow = nullptr;
    Dir dir = Dir::kToServer;
    bool created = false;
  };

  // What Update computes first for a packet: its use, key and hash. Prepare and the prefetches
  // let a worker compute it for a whole burst and start loading each packet's bucket and flow
  // before it handles the first (Worker::ProcessBurst); Update then takes it as it is.
  struct Prepared {
    FlowKey key;
    uint32_t hash = 0;
    FlowUse use = FlowUse::kNone;
    bool sender_is_lo = false;
  };
  // Into *k, in place: MakeKey stores the key straight into k->key, in the word widths HashKey
  // reads back (building it elsewhere and copying it in had the copy's 16-byte loads wait on
  // MakeKey's narrower stores: 16% of a 64-byte frame).
  static void Prepare(const decode::Packet& p, Prepared* k) {
    k->use = UseOf(p);
    if (k->use == FlowUse::kNone) return;
    new (&k->key) FlowKey(MakeKey(p, k->use, &k->sender_is_lo));
    k->hash = HashKey(k->key);
  }
  void PrefetchBucket(const Prepared& k) const {
    if (k.use != FlowUse::kNone) Prefetch(&buckets_[k.hash & bucket_mask_]);
  }
  // The first flow of k's bucket chain (its bucket should be in cache by now: PrefetchBucket a
  // while before), every cache line of it.
  void PrefetchFlow(const Prepared& k) const {
    if (k.use == FlowUse::kNone) return;
    const uint32_t idx = buckets_[k.hash & bucket_mask_];
    if (idx == 0) return;
    const char* f = reinterpret_cast<const char*>(&pool_[idx]);
    for (size_t at = 0; at < sizeof(Flow); at += 64) Prefetch(f + at);
    Prefetch(f + sizeof(Flow) - 1);
  }

  // Finds or creates the flow of p (UseOf(p) == kOwn), updates its counters, TCP state and
  // timestamps, and returns it. kEmbedded packets (ICMPv4 errors) only find the flow they report
  // on; packets with no flow use return a null flow. When the table is full the least recently
  // used flow is ended (reason kForced, passed to on_end before its slot is reused). A flow found
  // already past its timeout is ended (kTimeout) and a new one started, as Suricata does at
  // lookup; so is a closed TCP flow whose tuple a new SYN reuses. Inner (tunneled) packets are
  // updated like frames: call Update once per packet, outer first.
  // The returned pointer is valid until the next call that may end flows.
  template <class OnEnd>
  Result Update(const decode::Packet& p, OnEnd&& on_end) {
    Prepared k;
    Prepare(p, &k);
    return Update(p, k, on_end);
  }
  // The same with Prepare(p) already computed (k must be exactly that).
  template <class OnEnd>
  Result Update(const decode::Packet& p, const Prepared& k, OnEnd&& on_end);

  // A flow's packets less than kLruSlack stamps (2^kLruStampShift us each: about 100 ms of packet
  // time) after the one that last put it at the tail of its timeout list leave it in place:
  // moving it cost three flows' links on every packet (a 64-byte frame: 2-3% of its cycles).
  // A list is then in the order its flows were put there, and a flow may sit up to kLruSlack
  // before where its last packet would have put it. So the least recently used flow a full table
  // evicts is so to within about 100 ms, and a flow may be found past its timeout (Expire) as
  // much later in packet time; ExpireAll, at the end of input, is exact. A flow's stamp cannot
  // come round again (2^32 stamps are 51 days) before its timeout (at most a day) ends it.
  static constexpr uint32_t kLruStampShift = 10;
  static constexpr uint32_t kLruSlack = 100000 >> kLruStampShift;
  static uint32_t LruStamp(uint64_t ts_us) {
    return static_cast<uint32_t>(ts_us >> kLruStampShift);
  }

  // Ends every flow idle past its timeout at packet time now_us; at most budget flows per call,
  // the longest overdue first. Returns the number ended. Cost: O(ended + timeout classes).
  template <class OnEnd>
  uint32_t Expire(uint64_t now_us, uint32_t budget, OnEnd&& on_end);

  // Ends every flow past its timeout at now_us, exactly, the longest overdue first (ties: the
  // order Expire would take). For the end of input; walks the whole table and allocates.
  template <class OnEnd>
  uint32_t ExpireAll(uint64_t now_us, OnEnd&& on_end);

  // Ends every flow (reason kShutdown), least recently active first (to within kLruSlack).
  template <class OnEnd>
  void Flush(OnEnd&& on_end);

  const Counters& counters() const { return counters_; }
  uint32_t capacity() const { return capacity_; }
  uint32_t size() const { return static_cast<uint32_t>(counters_.active); }

  // Timeout that applies to f in its current protocol and state, in seconds.
  uint32_t TimeoutOf(const Flow& f) const;

  // Walks every internal structure (O(capacity)) and returns false on any inconsistency.
  // For tests and debug checks; never on the packet path.
  bool Validate() const;

 private:
  // One LRU list per timeout class: every flow on a list has the same timeout, so the list head
  // is the next to expire in that class and Expire never scans flows that are not due.
  enum ListId : uint8_t {
    kTcpNew,
    kTcpEstablished,
    kTcpClosed,
    kUdpNew,
    kUdpEstablished,
    kIcmpNew,
    kIcmpEstablished,
    kOtherNew,
    kOtherEstablished,
    kListCount,
    kFreeList = 0xff,
  };
  struct List {
    uint32_t head = 0, tail = 0;
  };
  enum class Lookup : uint8_t { kMissing, kFound, kTimedOut, kReused };

  // Finds the flow of key; classifies it (live, past its timeout, tuple reused). *idx = 0 when
  // missing.
  Lookup Find(const decode::Packet& p, const FlowKey& key, uint32_t hash, uint32_t* idx);
  // Takes a free slot (one must exist), initialises it from p and links it in.
  uint32_t Create(const decode::Packet& p, const FlowKey& key, uint32_t hash, bool sender_is_lo);
  // Counts p on flow idx, advances its state and moves it to the tail of its (new) list.
  Dir Touch(uint32_t idx, const decode::Packet& p, FlowUse use);
  // Unlinks flow idx from its bucket and list, returns the slot to the free list, counts reason.
  void Release(uint32_t idx, EndReason reason);
  // Least recently active flow over all lists' heads; 0 when empty.
  uint32_t Oldest() const;
  // Expired flow with the earliest deadline at now_us among the lists' heads; 0 when none.
  uint32_t NextExpired(uint64_t now_us) const;

  ListId ListFor(const Flow& f) const;
  bool TimedOut(const Flow& f, uint64_t now_us) const;
  // When flow f (on a list) times out, in microseconds of packet time: the order of expiry.
  uint64_t Deadline(const Flow& f) const;
  void ListAppend(ListId list, uint32_t idx);
  void ListRemove(uint32_t idx);

  // on_end may update the flow it is given (e.g. mark it alerted for a final stream match) before
  // its slot is released; it must not call back into the table.
  template <class OnEnd>
  void End(uint32_t idx, EndReason reason, OnEnd& on_end) {
    on_end(pool_[idx], reason);
    Release(idx, reason);
  }

  uint32_t capacity_;
  uint32_t bucket_mask_;
  uint32_t free_head_ = 0;
  LargeArray<Flow> pool_;         // capacity_ + 1 entries; [0] unused so 0 means none
  LargeArray<uint32_t> buckets_;  // bucket_mask_ + 1 chain heads
  List lists_[kListCount];
  uint32_t timeout_s_[kListCount];
  Counters counters_;
};

template <class OnEnd>
FlowTable::Result FlowTable::Update(const decode::Packet& p, const Prepared& k, OnEnd&& on_end) {
  Result r;
  const FlowUse use = k.use;
  if (use == FlowUse::kNone) return r;
  const bool sender_is_lo = k.sender_is_lo;
  const FlowKey& key = k.key;
  const uint32_t hash = k.hash;
  uint32_t idx = 0;
  switch (Find(p, key, hash, &idx)) {
    case Lookup::kFound:
      break;
    case Lookup::kTimedOut:
    case Lookup::kReused:  // Suricata ends the old flow with reason timeout too
      End(idx, EndReason::kTimeout, on_end);
      idx = 0;
      break;
    case Lookup::kMissing:
      break;
  }
  if (idx == 0) {
    // An ICMP error never starts a flow (Suricata's FlowCreateCheck).
    if (use == FlowUse::kEmbedded) return r;
    if (free_head_ == 0) End(Oldest(), EndReason::kForced, on_end);
    idx = Create(p, key, hash, sender_is_lo);
    r.created = true;
  }
  r.dir = Touch(idx, p, use);
  r.flow = &pool_[idx];
  return r;
}

template <class OnEnd>
uint32_t FlowTable::Expire(uint64_t now_us, uint32_t budget, OnEnd&& on_end) {
  uint32_t n = 0;
  while (n < budget) {
    const uint32_t idx = NextExpired(now_us);
    if (idx == 0) break;
    End(idx, EndReason::kTimeout, on_end);
    ++n;
  }
  return n;
}

template <class OnEnd>
uint32_t FlowTable::ExpireAll(uint64_t now_us, OnEnd&& on_end) {
  struct Due {
    uint64_t deadline;
    uint32_t idx;
  };
  std::vector<Due> due;
  for (uint32_t l = 0; l < kListCount; ++l) {
    for (uint32_t i = lists_[l].head; i != 0; i = pool_[i].lru_next) {
      if (TimedOut(pool_[i], now_us)) due.push_back({Deadline(pool_[i]), i});
    }
  }
  // Listed by list, then by place in it: a stable sort keeps that order among equal deadlines.
  std::stable_sort(due.begin(), due.end(),
                   [](const Due& a, const Due& b) { return a.deadline < b.deadline; });
  for (const Due& d : due) End(d.idx, EndReason::kTimeout, on_end);
  return static_cast<uint32_t>(due.size());
}

template <class OnEnd>
void FlowTable::Flush(OnEnd&& on_end) {
  for (uint32_t idx = Oldest(); idx != 0; idx = Oldest()) End(idx, EndReason::kShutdown, on_end);
}

}  // namespace fs::flow
