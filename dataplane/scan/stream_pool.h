// Per-worker memory for Hyperscan stream scanning: a fixed pool of per-flow stream contexts and a
// fixed slab for the Hyperscan stream states they open, both reserved at construction, so opening
// a stream at a flow's first payload byte never reaches the heap.
//
// Hyperscan allocates stream state through one process-wide allocator (hs_set_stream_allocator).
// StreamPool installs a pair of functions that serve the pool bound to the calling thread
// (Bind(), once on the worker lcore) from its slab and fall back to malloc/free on threads without
// a pool (control plane, tools). A slab that is full makes hs_open_stream fail (HS_NOMEM): the
// flow is then inspected per packet only, and the failure is counted.
//
// Owned by one worker; Acquire/Release/At and every stream operation run on that worker's thread.
#pragma once

#include <hs/hs.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "dataplane/common/large_array.h"

namespace fs::scan {

// Rules that alerted on one flow, remembered so that a stream match does not repeat an alert the
// flow already has (from the packet scan or an earlier stream match).
inline constexpr int kStreamAlertedCap = 6;
// Rules of several expressions partly matched in one direction of a flow's stream, remembered
// with the expressions that matched (the stream databases' sub-expression reports).
inline constexpr int kStreamPartialCap = 6;

// One flow's stream-scan state. Zeroed when acquired.
struct StreamCtx {
  hs_stream_t* hs[2] = {nullptr, nullptr};  // per flow direction (0 to-server); opened lazily
  // Per direction, the stream on the port group of the flow's server port (the stream database's
  // groups, PatternSet::Database::GroupFor(proto, server_port)); opened lazily, if there is one.
  hs_stream_t* grp[2] = {nullptr, nullptr};
  uint64_t generation = 0;  // pattern set the streams and `alerted` belong to
  // The flow's protocol and server port, given to Acquire (0: no port group).
  uint8_t proto = 0;
  uint16_t server_port = 0;
  // Per direction: the address class (PatternSet::AddrClassOf) whose stream database hs[d] was
  // opened on.
  uint8_t addr_class[2] = {0, 0};
  uint32_t alerted[kStreamAlertedCap] = {};
  uint8_t n_alerted = 0;
  bool alerted_overflow = false;  // more rules alerted than kStreamAlertedCap: later stream
                                  // matches of unremembered rules may alert again
  uint8_t failed = 0;  // bit d: direction d could not open its stream, bit 2 + d: its group
                       // stream (each counted once)
  uint8_t untracked = 0;  // bit d: direction d dropped a partly matched rule for lack of slots
                          // (counted once per flow direction)
  uint8_t partial_next[2] = {0, 0};  // per direction: the slot a full table gives up next
  uint32_t next_free = 0;         // free list link while unused
  // Per direction: rules of several expressions partly matched (bits: which of the rule's
  // expressions have; 0 = a free slot). When every slot is taken, the slots are given up in turn
  // to the newest partly matched rule (contents of one rule tend to arrive close together); a
  // rule whose state was given up is raised by Hyperscan's combination later (docs/streams.md).
  struct Partial {
    uint32_t rule;
    uint32_t bits;
  };
  Partial partial[2][kStreamPartialCap] = {};

  // The bits of `failed` for direction d: its stream on the direction's database, on its group.
  static constexpr uint8_t FailedBit(int d) { return static_cast<uint8_t>(1u << d); }
  static constexpr uint8_t GroupFailedBit(int d) { return static_cast<uint8_t>(4u << d); }
  // Whether direction d could not open one of its streams (its bytes are then not all matched
  // there).
  bool AnyFailed(int d) const { return (failed & (FailedBit(d) | GroupFailedBit(d))) != 0; }

  bool HasAlerted(uint32_t rule) const {
    for (uint8_t i = 0; i < n_alerted; ++i) {
      if (alerted[i] == rule) return true;
    }
    return false;
  }
  enum class Part : uint8_t {
    kIncomplete,  // noted; the rule needs more of its expressions
    kComplete,    // all of the rule's expressions have now matched in this direction
    kDropped,     // noted in a slot another partly matched rule gave up (its rule's state is
                  // lost; the combination raises that rule later)
  };
  // Notes that expression `bit` (of `need`, > 1) of rule `rule` matched in direction dir.
  Part NotePart(int dir, uint32_t rule, uint8_t bit, uint16_t need) {
    Partial* free_slot = nullptr;
    for (Partial& p : partial[dir]) {
      if (p.bits != 0 && p.rule == rule) {
        p.bits |= 1u << bit;
        return __builtin_popcount(p.bits) >= need ? Part::kComplete : Part::kIncomplete;
      }
      if (p.bits == 0 && free_slot == nullptr) free_slot = &p;
    }
    Part noted = Part::kIncomplete;  // need > 1: one expression is never all of them
    if (free_slot == nullptr) {
      free_slot = &partial[dir][partial_next[dir]];
      partial_next[dir] = static_cast<uint8_t>((partial_next[dir] + 1) % kStreamPartialCap);
      noted = Part::kDropped;
    }
    free_slot->rule = rule;
    free_slot->bits = 1u << bit;
    return noted;
  }
  void ClearParts(int dir) {
    for (Partial& p : partial[dir]) p.bits = 0;
  }
  void NoteAlerted(uint32_t rule) {
    for (auto& side : partial) {  // an alerted rule's partial state is no longer needed
      for (Partial& p : side) {
        if (p.bits != 0 && p.rule == rule) p.bits = 0;
      }
    }
    if (HasAlerted(rule)) return;
    if (n_alerted < kStreamAlertedCap) {
      alerted[n_alerted++] = rule;
    } else {
      alerted_overflow = true;
    }
  }
};

struct StreamPoolCounters {
  uint64_t acquired = 0;
  uint64_t exhausted = 0;     // no free context: a flow was inspected per packet only
  uint64_t slab_full = 0;     // Hyperscan asked for stream state the slab could not give
  uint64_t oversize = 0;      // ... larger than a slab block (a database with a bigger stream)
  uint64_t streams_open = 0;  // gauge: Hyperscan streams open now
};

// How a worker sizes its pool for a pattern set: the set's largest Hyperscan stream state (its
// stream databases and their port groups, CompileStats::stream_state_bytes) plus 25% for a set
// with a somewhat larger state after a reload, and 4 streams per context when the set has stream
// port groups (two per direction), else 2.
struct StreamPoolSize {
  size_t stream_bytes = 0;
  uint32_t streams = 2;
};
inline StreamPoolSize PoolSizeFor(size_t stream_state_bytes, bool stream_port_groups) {
  return {stream_state_bytes + stream_state_bytes / 4, stream_port_groups ? 4u : 2u};
}

class StreamPool {
 public:
  // contexts: flows that may be stream-scanned at once (>= 1); stream_bytes: the largest
  // Hyperscan stream state to serve (hs_stream_size of the databases, 0 = no stream scanning);
  // streams: per context (2: one per direction; 4 with port groups: two per direction).
  // Reserves contexts x (sizeof(StreamCtx) + streams x stream_bytes).
  StreamPool(uint32_t contexts, size_t stream_bytes, uint32_t streams = 2);
  ~StreamPool();
  StreamPool(const StreamPool&) = delete;
  StreamPool& operator=(const StreamPool&) = delete;

  // Makes this pool serve Hyperscan stream allocations of the calling thread.
  void Bind();
  // Back to malloc for the calling thread (a pool is unbound before it is destroyed).
  void Unbind();

  // A zeroed context for a flow of protocol proto and server port server_port (they pick the
  // stream port group; 0: none), or 0 when none is free (counted). Indices start at 1.
  uint32_t Acquire(uint8_t proto = 0, uint16_t server_port = 0);
  // Returns a context; its streams must be closed already.
  void Release(uint32_t idx);
  StreamCtx& At(uint32_t idx) { return ctx_[idx]; }

  // Start-up: takes the pages of the first n contexts (at most all) and of their streams' slab
  // blocks now (fs::Prefault) rather than on the packet path, where each first write to a page
  // is a page fault. Both are handed out from the front first. Returns the bytes.
  size_t Prealloc(uint32_t n);
  // What Prealloc(n) takes on a pool made with these arguments, computed (for a check before the
  // pool is made).
  static size_t ReadyBytes(uint32_t n, uint32_t contexts, size_t stream_bytes,
                           uint32_t streams = 2);

  uint32_t contexts() const { return contexts_; }
  uint32_t in_use() const { return in_use_; }
  size_t block_bytes() const { return block_; }
  size_t reserved_bytes() const;
  const StreamPoolCounters& counters() const { return counters_; }

 private:
  // The slab's block (stream_bytes rounded up to 64; 0: no stream scanning) and blocks a context.
  static size_t BlockBytes(size_t stream_bytes) { return (stream_bytes + 63) / 64 * 64; }
  static size_t StreamsPerContext(uint32_t streams) { return streams < 2 ? 2 : streams; }
  static void* HsAlloc(size_t size);
  static void HsFree(void* p);

  // Memory is reserved (allocated, not touched) at construction and handed out first by a bump
  // index, then from free lists, so resident memory grows with the flows actually scanned and
  // never beyond the reservation.
  uint32_t contexts_;
  uint32_t free_head_ = 0;
  uint32_t next_unused_ = 1;  // contexts [next_unused_, contexts_] were never handed out
  uint32_t in_use_ = 0;
  LargeArray<std::byte> ctx_bytes_;  // (contexts_ + 1) StreamCtx; [0] unused
  StreamCtx* ctx_ = nullptr;
  size_t block_;  // slab block size (stream_bytes rounded up to 64)
  size_t blocks_;
  size_t blocks_unused_from_ = 0;  // blocks [blocks_unused_from_, blocks_) never handed out
  LargeArray<std::byte> slab_;
  void* slab_free_ = nullptr;  // returned blocks, linked through their first word
  StreamPoolCounters counters_;
};

}  // namespace fs::scan
