// TCP stream reassembly, per worker: turns the TCP packets of a flow, in arrival order, into the
// byte stream each endpoint actually receives, so that a pattern split across segments, sent out
// of order or hidden under overlapping decoy bytes is seen by stream-mode scanning.
//
// Policy (the operator's view is docs/reassembly.md; Suricata 7's stream engine in IDS mode with
// its default "bsd" OS policy is the reference):
// - Tracking. A direction is tracked from its SYN (client SYN, server SYN+ACK): next_seq = ISN+1.
//   Without a SYN it is not tracked (kNotTracked: the caller inspects such packets on their own)
//   unless cfg.midstream, in which case its first data packet starts the stream. Data carried by
//   a SYN (TCP Fast Open) is ignored and counted, as Suricata does by default.
// - Sequence numbers are compared modulo 2^32.
// - In-order data is delivered straight from the packet (zero copy). Out-of-order data is copied
//   into a pool reserved at construction and delivered once the hole before it is filled.
// - Overlaps ("bsd"): among buffered bytes, the segment with the lower start sequence number wins
//   the bytes it overlaps; at equal start the one that arrived first wins. Bytes already
//   delivered are final. Overlapping bytes are compared with buffered ones and differences
//   counted (delivered bytes are not kept, so they cannot be compared).
// - A segment wholly delivered or buffered already is kDuplicate: the caller inspects its
//   payload on its own. A keep-alive (seq == next_seq-1, 0 or 1 byte) is kIgnored.
// - Gaps. A hole stays until it is filled, or until the direction's slot cap or the pool runs out:
//   then the first hole is skipped (Gap), what became contiguous is delivered and its slots freed,
//   and the new segment placed. Memory never grows. Release(flush) skips the remaining holes.
// - Depth: at most cfg.depth stream bytes (delivered + skipped) per direction; the segment that
//   crosses it is delivered in part, then DepthReached once, kDepth afterwards, slots freed.
// - FIN: data up to the FIN is delivered, the FIN takes one sequence number, data past it is
//   ignored (a FIN beyond a hole is remembered in a marker slot). RST: accepted, as bsd, only at
//   the sender's next_seq (or from an untracked sender); it flushes and closes both directions,
//   its own data is not delivered, later data is ignored.
// - Out of window: a segment starting more than cfg.max_ooo_distance past next_seq is ignored.
//   With 32-bit arithmetic this includes segments ending more than 2^31 before next_seq.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

#include "dataplane/common/large_array.h"
#include "dataplane/decode/packet.h"
#include "dataplane/reassembly/stream_state.h"

namespace fs::reassembly {

struct Config {
  uint32_t depth = 1 << 20;  // bytes per direction inspected (Suricata stream.reassembly.depth
                             // 1mb); 0 = unlimited (stream offsets then wrap at 2^32)
  bool midstream = false;    // pick up sessions whose SYN was not seen (Suricata default: off)
  uint32_t max_ooo_slots_per_dir = 256;  // out-of-order slots buffered per flow direction
                                         // (at most 65535)
  uint64_t pool_bytes = 64ull << 20;     // per-worker memory for buffered segments, reserved at
                                         // construction (kSlotBytes per slot)
  uint32_t max_ooo_distance = 1u << 20;  // segments starting further than this past next_seq are
                                         // ignored (counted); at most 2^30
};

// Out-of-order data is buffered in fixed slots of this many bytes; a longer segment takes
// several. 2 KiB holds a full-size Ethernet segment in one slot.
inline constexpr uint32_t kSlotDataBytes = 2048;

// Single writer: the owning worker. Readers sum them at scrape time.
struct Counters {
  uint64_t segments = 0;            // payload packets on tracked directions, except keep-alives
                                    // and packets after a RST or the depth
  uint64_t bytes_delivered = 0;     // bytes handed to Sink::Data
  uint64_t duplicates = 0;          // segments wholly delivered or buffered already (kDuplicate)
  uint64_t overlaps = 0;            // segments overlapping delivered or buffered bytes (with
                                    // duplicates)
  uint64_t overlaps_different = 0;  // ... whose bytes differ from the buffered ones
  uint64_t ooo_buffered = 0;        // segments copied into the pool
  uint64_t gaps = 0;                // holes skipped (Sink::Gap calls)
  uint64_t gap_bytes = 0;           // bytes skipped
  uint64_t depth_reached = 0;       // directions that reached cfg.depth
  uint64_t pool_exhausted = 0;      // segments that found the pool short: a hole was skipped
  uint64_t dir_cap_reached = 0;     // segments that found the direction cap reached: ditto
  uint64_t out_of_window = 0;       // segments too far ahead of next_seq (ignored)
  uint64_t keepalives = 0;          // keep-alives (ignored)
  uint64_t not_tracked = 0;         // packets with payload on untracked directions
  uint64_t midstream_pickups = 0;   // directions tracked without a SYN
  uint64_t syn_data_ignored = 0;    // SYN packets with payload (TCP Fast Open): not delivered
  uint64_t after_fin = 0;           // segments with data past the FIN (ignored)
  uint64_t after_rst = 0;           // segments with payload after a RST (ignored)
  uint64_t after_depth = 0;         // segments with payload after the depth (kDepth)
  uint64_t rst_with_data = 0;       // accepted RSTs carrying payload (not delivered)
  uint64_t rst_invalid = 0;         // RSTs not at the sender's next_seq (ignored, as bsd)
  uint64_t fin_not_recorded = 0;    // FINs beyond a hole not remembered: no pool slot
};

enum class Verdict : uint8_t {
  kNotTracked,  // direction not tracked: inspect the packet on its own
  kNoData,      // no payload (handshake, pure ACK, FIN or RST without data)
  kAdded,       // some of the payload was new: delivered or buffered
  kDuplicate,   // all of the payload was delivered or buffered already
  kDepth,       // the direction is past cfg.depth
  kIgnored,     // keep-alive, out of window, after FIN/RST, SYN or RST payload
};

// 8 bytes, no padding: returned in one register.
struct SegmentResult {
  Verdict verdict = Verdict::kNoData;
  bool overlap_different = false;  // overlapping bytes differed from buffered ones
  bool overlap = false;            // the payload overlapped delivered or buffered bytes
  uint8_t reserved = 0;
  uint32_t new_bytes = 0;  // payload bytes of this packet delivered or buffered now
};

// One per worker; owned and called only by that worker's lcore (not thread-safe). Holds the slot
// pool for every flow of the worker; the per-flow state lives in the flow (FlowStreams).
// Allocation happens only in the constructor; no exceptions, no locks.
//
// Sink (duck-typed, called synchronously, in stream order per direction):
//   void Data(int dir, const uint8_t* data, uint32_t len, uint32_t stream_offset);
//   void Gap(int dir, uint32_t len);     // bytes that will never be delivered
//   void DepthReached(int dir);          // once, when the direction reaches cfg.depth
// data points into the packet or into the pool: valid only during the call.
class Reassembler {
 public:
  explicit Reassembler(const Config& cfg);  // reserves the pool; nothing else allocates
  ~Reassembler();
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // Called for every TCP packet of a flow, in arrival order, with dir = its direction in the flow
  // (0 to-server, 1 to-client). Delivers newly in-order bytes of direction dir through the sink.
  template <class Sink>
  SegmentResult OnPacket(FlowStreams& s, int dir, const decode::Packet& p, Sink& sink);

  // Flow end (any reason): if flush, skip remaining holes (Gap) and deliver what is buffered;
  // then return every pool slot of s. Must be called for every flow that may hold slots.
  template <class Sink>
  void Release(FlowStreams& s, bool flush, Sink& sink);

  const Counters& counters() const { return counters_; }
  const Config& config() const { return cfg_; }
  uint64_t pool_slots_in_use() const { return pool_slots_ - free_count_; }
  uint64_t pool_slots() const { return pool_slots_; }

 private:
  // A buffered run of bytes [seq, seq+len), sorted and non-overlapping within a direction.
  // orig is the start of the segment the bytes came from: the overlap policy compares it.
  struct Slot {
    uint32_t seq;
    uint32_t orig;
    uint32_t next;  // next slot of the direction, or (free) of the free list; 0 = none
    uint16_t len;
    uint8_t fin_marker;  // zero-length slot standing for a FIN at seq
    uint8_t spare;
  };

  // The result being built for the current packet.
  struct Work {
    SegmentResult res;
    bool pool_short_counted = false;
    bool cap_short_counted = false;
  };

  static bool SeqLt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
  static bool SeqLeq(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) <= 0; }
  static bool SeqGt(uint32_t a, uint32_t b) { return SeqLt(b, a); }
  static bool SeqGeq(uint32_t a, uint32_t b) { return SeqLeq(b, a); }
  static uint32_t SeqMin(uint32_t a, uint32_t b) { return SeqLt(a, b) ? a : b; }
  static uint32_t SeqMax(uint32_t a, uint32_t b) { return SeqLt(a, b) ? b : a; }

  uint8_t* SlotData(uint32_t i) { return data_.get() + size_t{i - 1} * kSlotDataBytes; }
  uint32_t SlotEnd(uint32_t i) const { return slots_[i].seq + slots_[i].len; }

  // Pool (reassembly.cc).
  uint32_t AllocSlot(DirStream& d);  // 0 when the pool is empty; the caller checks the cap
  void PopHead(DirStream& d);        // frees the first slot of d
  void FreeAll(DirStream& d);
  void TrimFront(uint32_t slot, uint32_t n);
  bool Differs(const uint8_t* packet_bytes, uint32_t slot, uint32_t seq, uint32_t len);
  uint32_t FinMarkerSeq(const DirStream& d) const;  // requires kFinBuffered
  void PlaceFinMarker(DirStream& d, uint32_t fin_seq);
  void SetFin(DirStream& d);
  // Slots needed to buffer [s, e) minus the bytes already buffered.
  uint32_t SlotsNeeded(const DirStream& d, uint32_t s, uint32_t e, uint32_t* owned) const;

  template <class Sink>
  void ReachDepth(DirStream& d, int dir, Sink& sink);
  template <class Sink>
  uint32_t Deliver(DirStream& d, int dir, const uint8_t* data, uint32_t len, Sink& sink);
  template <class Sink>
  void Skip(DirStream& d, int dir, uint32_t len, Sink& sink);
  template <class Sink>
  void Drain(DirStream& d, int dir, Sink& sink);
  template <class Sink>
  void Flush(DirStream& d, int dir, Sink& sink);
  template <class Sink>
  void InOrder(DirStream& d, int dir, uint32_t s0, const uint8_t* data, uint32_t len, Sink& sink,
               Work& w);
  template <class Sink>
  void OutOfOrder(DirStream& d, int dir, uint32_t s, const uint8_t* data, uint32_t len, Sink& sink,
                  Work& w);
  template <class Sink>
  void OnData(DirStream& d, int dir, uint32_t seq, const uint8_t* data, uint32_t len, Sink& sink,
              Work& w);

  Config cfg_;
  Counters counters_;
  LargeArray<Slot> slots_;    // index 0 unused: 0 means "none"
  LargeArray<uint8_t> data_;  // kSlotDataBytes per slot, slot i at (i-1)
  uint32_t pool_slots_ = 0;
  uint32_t free_head_ = 0;
  uint32_t free_count_ = 0;
};

// ---- implementation (templates: the sink is inlined, no virtual call per packet) ----

template <class Sink>
void Reassembler::ReachDepth(DirStream& d, int dir, Sink& sink) {
  d.flags |= kDepth;
  ++counters_.depth_reached;
  sink.DepthReached(dir);
  FreeAll(d);
}

// Delivers up to len bytes at next_seq, stopping at the depth. Returns the bytes delivered; the
// caller stops when kDepth is set.
template <class Sink>
uint32_t Reassembler::Deliver(DirStream& d, int dir, const uint8_t* data, uint32_t len,
                              Sink& sink) {
  uint32_t n = len;
  bool reached = false;
  if (cfg_.depth != 0 && n >= cfg_.depth - d.offset) {
    n = cfg_.depth - d.offset;
    reached = true;
  }
  if (n > 0) {
    sink.Data(dir, data, n, d.offset);
    counters_.bytes_delivered += n;
  }
  d.offset += n;
  d.next_seq += n;
  if (reached) ReachDepth(d, dir, sink);
  return n;
}

template <class Sink>
void Reassembler::Skip(DirStream& d, int dir, uint32_t len, Sink& sink) {
  uint32_t n = len;
  bool reached = false;
  if (cfg_.depth != 0 && n >= cfg_.depth - d.offset) {
    n = cfg_.depth - d.offset;
    reached = true;
  }
  if (n > 0) {
    sink.Gap(dir, n);
    ++counters_.gaps;
    counters_.gap_bytes += n;
    d.flags |= kGapSeen;
  }
  d.offset += n;
  d.next_seq += n;
  if (reached) ReachDepth(d, dir, sink);
}

// Delivers the buffered slots that are contiguous with next_seq.
template <class Sink>
void Reassembler::Drain(DirStream& d, int dir, Sink& sink) {
  while (d.ooo_head != 0 && slots_[d.ooo_head].seq == d.next_seq) {
    const uint32_t i = d.ooo_head;
    if (slots_[i].fin_marker) {
      SetFin(d);
      return;
    }
    Deliver(d, dir, SlotData(i), slots_[i].len, sink);
    if (d.flags & kDepth) return;  // every slot was freed
    PopHead(d);
  }
}

// Skips every hole and delivers everything buffered; the direction holds no slot afterwards.
template <class Sink>
void Reassembler::Flush(DirStream& d, int dir, Sink& sink) {
  if ((d.flags & kTracking) && !(d.flags & (kDepth | kFin))) {
    while (d.ooo_head != 0) {
      const uint32_t first = slots_[d.ooo_head].seq;
      if (SeqGt(first, d.next_seq)) Skip(d, dir, first - d.next_seq, sink);
      if (d.flags & kDepth) break;
      Drain(d, dir, sink);
      if (d.flags & (kDepth | kFin)) break;
    }
  }
  FreeAll(d);
}

// Data starting at or before next_seq and ending after it: delivered from the packet, except
// bytes an earlier-starting buffered segment owns.
template <class Sink>
void Reassembler::InOrder(DirStream& d, int dir, uint32_t s0, const uint8_t* data, uint32_t len,
                          Sink& sink, Work& w) {
  uint32_t e = s0 + len;
  if (d.next_seq != s0) w.res.overlap = true;  // the prefix was delivered already
  uint32_t pos = d.next_seq;
  while (d.ooo_head != 0 && SeqLt(pos, e)) {
    const uint32_t i = d.ooo_head;
    const Slot& slot = slots_[i];
    if (slot.fin_marker) {
      e = SeqMin(e, slot.seq);
      break;
    }
    if (SeqGeq(slot.seq, e)) break;
    if (SeqGt(slot.seq, pos)) {
      w.res.new_bytes += Deliver(d, dir, data + (pos - s0), slot.seq - pos, sink);
      if (d.flags & kDepth) return;
      pos = slot.seq;
    }
    const uint32_t ov_end = SeqMin(e, SlotEnd(i));
    w.res.overlap = true;
    if (Differs(data + (slot.seq - s0), i, slot.seq, ov_end - slot.seq)) {
      w.res.overlap_different = true;
    }
    if (SeqLeq(slot.orig, s0)) {
      // The buffered segment started first: its bytes win, the whole slot goes out.
      pos = SlotEnd(i);
      Deliver(d, dir, SlotData(i), slot.len, sink);
      if (d.flags & kDepth) return;
      PopHead(d);
    } else {
      w.res.new_bytes += Deliver(d, dir, data + (slot.seq - s0), ov_end - slot.seq, sink);
      if (d.flags & kDepth) return;
      if (SeqLeq(SlotEnd(i), e)) {
        PopHead(d);
      } else {
        TrimFront(i, ov_end - slots_[i].seq);
      }
      pos = ov_end;
    }
  }
  if (SeqLt(pos, e)) {
    w.res.new_bytes += Deliver(d, dir, data + (pos - s0), e - pos, sink);
    if (d.flags & kDepth) return;
  }
  Drain(d, dir, sink);
}

// Data starting after next_seq: copied into the pool, around bytes that buffered segments win.
template <class Sink>
void Reassembler::OutOfOrder(DirStream& d, int dir, uint32_t s, const uint8_t* data, uint32_t len,
                             Sink& sink, Work& w) {
  uint32_t e = s + len;
  if (cfg_.depth != 0) {
    const uint32_t limit = d.next_seq + (cfg_.depth - d.offset);
    if (SeqGeq(s, limit)) {
      ++counters_.after_depth;
      w.res.verdict = Verdict::kDepth;
      return;
    }
    e = SeqMin(e, limit);
  }
  if (d.flags & kFinBuffered) {
    const uint32_t fin = FinMarkerSeq(d);
    if (SeqGeq(s, fin)) {
      ++counters_.after_fin;
      w.res.verdict = Verdict::kIgnored;
      return;
    }
    e = SeqMin(e, fin);
  }

  // Buffered bytes this segment overlaps: compare; drop those it wins (it starts earlier).
  uint32_t prev = 0;
  uint32_t i = d.ooo_head;
  while (i != 0 && SeqLt(slots_[i].seq, e)) {
    Slot& slot = slots_[i];
    const uint32_t next = slot.next;
    if (SeqLeq(SlotEnd(i), s)) {
      prev = i;
      i = next;
      continue;
    }
    const uint32_t ov_start = SeqMax(s, slot.seq);
    const uint32_t ov_end = SeqMin(e, SlotEnd(i));
    w.res.overlap = true;
    if (Differs(data + (ov_start - s), i, ov_start, ov_end - ov_start)) {
      w.res.overlap_different = true;
    }
    if (SeqLeq(slot.orig, s)) {  // the buffered segment started first (or at s): it keeps them
      prev = i;
      i = next;
      continue;
    }
    if (SeqLeq(SlotEnd(i), e)) {
      (prev == 0 ? d.ooo_head : slots_[prev].next) = next;
      slot.next = free_head_;
      free_head_ = i;
      ++free_count_;
      --d.ooo_slots;
      i = next;
    } else {
      TrimFront(i, e - slot.seq);
      break;
    }
  }

  // Room for the bytes it owns; when short, force progress (skip the first hole) until there is.
  uint32_t owned = 0;
  uint32_t need = SlotsNeeded(d, s, e, &owned);
  if (owned == 0) {
    w.res.verdict = Verdict::kDuplicate;
    return;
  }
  for (;;) {
    const bool pool_short = need > free_count_;
    const bool cap_short = uint32_t{d.ooo_slots} + need > cfg_.max_ooo_slots_per_dir;
    if (!pool_short && !cap_short) break;
    if (pool_short && !w.pool_short_counted) {
      ++counters_.pool_exhausted;
      w.pool_short_counted = true;
    }
    if (cap_short && !w.cap_short_counted) {
      ++counters_.dir_cap_reached;
      w.cap_short_counted = true;
    }
    uint32_t first = s;
    if (d.ooo_head != 0 && SeqLt(slots_[d.ooo_head].seq, s)) first = slots_[d.ooo_head].seq;
    if (SeqGt(first, d.next_seq)) Skip(d, dir, first - d.next_seq, sink);
    if (d.flags & kDepth) {
      w.res.verdict = Verdict::kDepth;
      return;
    }
    if (first != s) Drain(d, dir, sink);
    if (d.flags & kDepth) {
      w.res.verdict = Verdict::kDepth;
      return;
    }
    if (SeqLeq(s, d.next_seq)) {
      // The segment is now at (or behind) next_seq: no buffering needed.
      if (SeqGt(e, d.next_seq) && !(d.flags & kFin)) {
        InOrder(d, dir, s, data, e - s, sink, w);
      }
      w.res.verdict = w.res.new_bytes > 0  ? Verdict::kAdded
                      : (d.flags & kDepth) ? Verdict::kDepth
                                           : Verdict::kDuplicate;
      return;
    }
    need = SlotsNeeded(d, s, e, &owned);
  }

  // Copy the owned ranges, in order, between the buffered slots that keep their bytes.
  prev = 0;
  i = d.ooo_head;
  uint32_t pos = s;
  while (SeqLt(pos, e)) {
    while (i != 0 && !slots_[i].fin_marker && SeqLeq(SlotEnd(i), pos)) {
      prev = i;
      i = slots_[i].next;
    }
    const bool slot_inside = i != 0 && SeqLt(slots_[i].seq, e);
    const uint32_t limit = slot_inside ? SeqMax(pos, slots_[i].seq) : e;
    while (SeqLt(pos, limit)) {
      const uint32_t n = limit - pos < kSlotDataBytes ? limit - pos : kSlotDataBytes;
      const uint32_t a = AllocSlot(d);  // cannot fail: room was checked above
      Slot& slot = slots_[a];
      slot.seq = pos;
      slot.orig = s;
      slot.len = static_cast<uint16_t>(n);
      slot.fin_marker = 0;
      std::memcpy(SlotData(a), data + (pos - s), n);
      slot.next = i;
      (prev == 0 ? d.ooo_head : slots_[prev].next) = a;
      prev = a;
      pos += n;
    }
    if (slot_inside) {
      pos = SeqMax(pos, SlotEnd(i));
      prev = i;
      i = slots_[i].next;
    }
  }
  ++counters_.ooo_buffered;
  w.res.new_bytes += owned;
  w.res.verdict = Verdict::kAdded;
}

template <class Sink>
void Reassembler::OnData(DirStream& d, int dir, uint32_t seq, const uint8_t* data, uint32_t len,
                         Sink& sink, Work& w) {
  const uint32_t end = seq + len;
  if (SeqGt(seq, d.next_seq) && seq - d.next_seq > cfg_.max_ooo_distance) {
    ++counters_.out_of_window;
    w.res.verdict = Verdict::kIgnored;
    return;
  }
  if (SeqLeq(end, d.next_seq)) {  // all delivered already
    w.res.overlap = true;
    w.res.verdict = Verdict::kDuplicate;
    return;
  }
  if (SeqLeq(seq, d.next_seq)) {
    InOrder(d, dir, seq, data, len, sink, w);
    w.res.verdict = w.res.new_bytes > 0  ? Verdict::kAdded
                    : (d.flags & kDepth) ? Verdict::kDepth
                                         : Verdict::kDuplicate;
    return;
  }
  OutOfOrder(d, dir, seq, data, len, sink, w);
}

template <class Sink>
SegmentResult Reassembler::OnPacket(FlowStreams& s, int dir, const decode::Packet& p, Sink& sink) {
  namespace tf = decode::tcpflag;
  DirStream& d = s.dir[dir & 1];
  const uint8_t flags = p.tcp_flags;
  const uint32_t len = p.payload_len;
  // The paths without payload return a verdict built in a register: a result stored on the
  // stack field by field and read back whole waited for its stores (a failed store forward).
  const auto only = [](Verdict v) {
    SegmentResult r;
    r.verdict = v;
    return r;
  };

  if (flags & tf::kSyn) {
    // A repeated SYN with another ISN restarts the direction only while nothing was delivered.
    const bool fresh = d.offset == 0 && d.ooo_head == 0 && !(d.flags & (kFin | kRst | kDepth));
    if (!(d.flags & kTracking) || (fresh && d.next_seq != p.tcp_seq + 1)) {
      d.next_seq = p.tcp_seq + 1;
      d.offset = 0;
      d.flags = kTracking;
    }
    if (len > 0) ++counters_.syn_data_ignored;
    return only(len > 0 ? Verdict::kIgnored : Verdict::kNoData);
  }
  if (d.flags & kRst) {
    if (len > 0) ++counters_.after_rst;
    return only(len > 0 ? Verdict::kIgnored : Verdict::kNoData);
  }
  if (flags & tf::kRst) {
    const SegmentResult res = only(len > 0 ? Verdict::kIgnored : Verdict::kNoData);
    if ((d.flags & kTracking) && p.tcp_seq != d.next_seq) {
      ++counters_.rst_invalid;
      return res;
    }
    if (len > 0) ++counters_.rst_with_data;
    for (DirStream& each : s.dir) {
      Flush(each, static_cast<int>(&each - s.dir), sink);
      each.flags |= kRst;
    }
    return res;
  }
  if (!(d.flags & kTracking)) {
    if (!cfg_.midstream || len == 0) {
      if (len > 0) ++counters_.not_tracked;
      return only(Verdict::kNotTracked);
    }
    d.next_seq = p.tcp_seq;
    d.offset = 0;
    d.flags = kTracking | kMidstream;
    ++counters_.midstream_pickups;
  }
  if (d.flags & kDepth) {
    if (len > 0) ++counters_.after_depth;
    return only(len > 0 ? Verdict::kDepth : Verdict::kNoData);
  }
  if (len <= 1 && !(flags & tf::kFin) && p.tcp_seq == d.next_seq - 1) {
    ++counters_.keepalives;
    return only(Verdict::kIgnored);
  }
  if (len > 0) ++counters_.segments;
  if (d.flags & kFin) {
    // next_seq - 1 is the FIN's sequence number.
    if (len == 0) return only(Verdict::kNoData);
    if (SeqLeq(p.tcp_seq + len, d.next_seq - 1)) {
      ++counters_.duplicates;
      ++counters_.overlaps;
      SegmentResult res = only(Verdict::kDuplicate);
      res.overlap = true;
      return res;
    }
    ++counters_.after_fin;
    return only(Verdict::kIgnored);
  }
  if (len == 0 && !(flags & tf::kFin)) return only(Verdict::kNoData);  // a bare ACK
  Work w;
  if (len > 0) {
    OnData(d, dir & 1, p.tcp_seq, p.payload(), len, sink, w);
    if (w.res.overlap) ++counters_.overlaps;
    if (w.res.overlap_different) ++counters_.overlaps_different;
    if (w.res.verdict == Verdict::kDuplicate) ++counters_.duplicates;
    if (w.res.verdict == Verdict::kIgnored) return w.res;  // out of window: FIN too
  }
  if ((flags & tf::kFin) && (d.flags & kTracking) && !(d.flags & (kDepth | kFin))) {
    const uint32_t fin = p.tcp_seq + len;
    if (fin == d.next_seq) {
      SetFin(d);
    } else if (SeqGt(fin, d.next_seq) && fin - d.next_seq <= cfg_.max_ooo_distance &&
               !(d.flags & kFinBuffered)) {
      PlaceFinMarker(d, fin);
    }
  }
  return w.res;
}

template <class Sink>
void Reassembler::Release(FlowStreams& s, bool flush, Sink& sink) {
  for (int dir = 0; dir < 2; ++dir) {
    DirStream& d = s.dir[dir];
    if (flush) {
      Flush(d, dir, sink);
    } else {
      FreeAll(d);
    }
  }
}

}  // namespace fs::reassembly
