// Per-flow TCP reassembly bookkeeping: plain data embedded in flow::Flow (32 bytes per flow), so
// the flow table owns it and it lives exactly as long as the flow. Only the worker that owns the
// flow reads or writes it, through reassembly::Reassembler. A zeroed value means "nothing seen".
// Deliberately includes no project header: flow_table.h includes this one.
#pragma once

#include <cstdint>

namespace fs::reassembly {

// DirStream::flags bits.
enum DirFlag : uint8_t {
  kTracking = 1,      // next_seq is valid: SYN seen (or midstream pickup)
  kFin = 2,           // FIN reached in order: the direction is complete, later data is ignored
  kRst = 4,           // a valid RST closed the connection: later data is ignored
  kDepth = 8,         // cfg.depth bytes reached: nothing more is delivered
  kMidstream = 16,    // tracking started without a SYN (cfg.midstream)
  kGapSeen = 32,      // at least one hole was skipped (Gap delivered)
  kFinBuffered = 64,  // a FIN past a hole is remembered: the last buffered slot is its marker
};

// One direction of one TCP flow; zero = nothing seen yet.
struct DirStream {
  uint32_t next_seq;   // next expected sequence number (valid when flags & kTracking)
  uint32_t offset;     // stream offset of next_seq: bytes delivered + bytes skipped (gaps)
  uint32_t ooo_head;   // first buffered out-of-order segment (pool index, 0 = none)
  uint16_t ooo_slots;  // pool slots this direction holds
  uint8_t flags;       // DirFlag bits
  uint8_t spare;
};
static_assert(sizeof(DirStream) == 16);

// Index 0 = to-server (client->server), 1 = to-client, as flow::Dir.
struct FlowStreams {
  DirStream dir[2];
};
static_assert(sizeof(FlowStreams) == 32);

// No more bytes will be delivered in either direction: each is closed (FIN reached in order,
// RST) or past the depth. A direction never tracked is not finished (it may still start).
inline bool StreamsClosed(const FlowStreams& s) {
  constexpr uint8_t kOver = kFin | kRst | kDepth;
  return (s.dir[0].flags & kOver) && (s.dir[1].flags & kOver);
}

}  // namespace fs::reassembly
