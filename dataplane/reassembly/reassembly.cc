// The slot pool and the non-template parts of TCP stream reassembly (see reassembly.h).
#include "dataplane/reassembly/reassembly.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace fs::reassembly {

namespace {

// ooo_slots is 16 bits; the sequence-distance checks need headroom below 2^31.
constexpr uint32_t kMaxDirSlots = 0xffff;
constexpr uint32_t kMaxOooDistance = 1u << 30;

}  // namespace

Reassembler::Reassembler(const Config& cfg) : cfg_(cfg) {
  cfg_.max_ooo_slots_per_dir = std::min(cfg_.max_ooo_slots_per_dir, kMaxDirSlots);
  cfg_.max_ooo_distance = std::min(cfg_.max_ooo_distance, kMaxOooDistance);
  // Index 0 means "none", so slots are 1..pool_slots_; one index below 2^32 stays free.
  const uint64_t per_slot = kSlotDataBytes + sizeof(Slot);
  pool_slots_ = static_cast<uint32_t>(std::min<uint64_t>(cfg_.pool_bytes / per_slot, 0xfffffffeu));
  slots_ = LargeArray<Slot>(size_t{pool_slots_} + 1);
  data_ = LargeArray<uint8_t>::Reserve(size_t{pool_slots_} * kSlotDataBytes);
  slots_[0] = Slot{};
  for (uint32_t i = 1; i <= pool_slots_; ++i) {
    slots_[i] = Slot{};
    slots_[i].next = i < pool_slots_ ? i + 1 : 0;
  }
  free_head_ = pool_slots_ > 0 ? 1 : 0;
  free_count_ = pool_slots_;
}

Reassembler::~Reassembler() = default;

uint32_t Reassembler::AllocSlot(DirStream& d) {
  const uint32_t i = free_head_;
  if (i == 0) return 0;
  free_head_ = slots_[i].next;
  --free_count_;
  slots_[i].next = 0;
  ++d.ooo_slots;
  return i;
}

void Reassembler::PopHead(DirStream& d) {
  const uint32_t i = d.ooo_head;
  assert(i != 0);
  d.ooo_head = slots_[i].next;
  slots_[i].next = free_head_;
  free_head_ = i;
  ++free_count_;
  --d.ooo_slots;
}

void Reassembler::FreeAll(DirStream& d) {
  while (d.ooo_head != 0) PopHead(d);
  d.flags &= static_cast<uint8_t>(~kFinBuffered);
  assert(d.ooo_slots == 0);
}

void Reassembler::TrimFront(uint32_t slot, uint32_t n) {
  Slot& s = slots_[slot];
  assert(n < s.len);
  std::memmove(SlotData(slot), SlotData(slot) + n, s.len - n);
  s.seq += n;
  s.len = static_cast<uint16_t>(s.len - n);
}

bool Reassembler::Differs(const uint8_t* packet_bytes, uint32_t slot, uint32_t seq, uint32_t len) {
  return std::memcmp(packet_bytes, SlotData(slot) + (seq - slots_[slot].seq), len) != 0;
}

uint32_t Reassembler::FinMarkerSeq(const DirStream& d) const {
  // PlaceFinMarker keeps the marker last: nothing is buffered past a known FIN.
  uint32_t i = d.ooo_head;
  while (i != 0 && slots_[i].next != 0) i = slots_[i].next;
  assert(i != 0 && slots_[i].fin_marker);
  return slots_[i].seq;
}

void Reassembler::PlaceFinMarker(DirStream& d, uint32_t fin_seq) {
  // Bytes buffered past the FIN never reach the receiver: drop them.
  uint32_t prev = 0;
  uint32_t i = d.ooo_head;
  while (i != 0 && SeqLt(slots_[i].seq, fin_seq)) {
    if (SeqGt(SlotEnd(i), fin_seq)) slots_[i].len = static_cast<uint16_t>(fin_seq - slots_[i].seq);
    prev = i;
    i = slots_[i].next;
  }
  while (i != 0) {
    const uint32_t next = slots_[i].next;
    slots_[i].next = free_head_;
    free_head_ = i;
    ++free_count_;
    --d.ooo_slots;
    i = next;
  }
  (prev == 0 ? d.ooo_head : slots_[prev].next) = 0;

  if (d.ooo_slots >= cfg_.max_ooo_slots_per_dir || free_count_ == 0) {
    ++counters_.fin_not_recorded;
    return;
  }
  const uint32_t m = AllocSlot(d);
  slots_[m] = Slot{fin_seq, fin_seq, 0, 0, 1, 0};
  (prev == 0 ? d.ooo_head : slots_[prev].next) = m;
  d.flags |= kFinBuffered;
}

void Reassembler::SetFin(DirStream& d) {
  FreeAll(d);  // anything buffered is past the FIN
  d.flags |= kFin;
  d.next_seq += 1;
}

uint32_t Reassembler::SlotsNeeded(const DirStream& d, uint32_t s, uint32_t e,
                                  uint32_t* owned) const {
  // Mirrors the copy loop of OutOfOrder: one run per hole between buffered slots, each run cut
  // into kSlotDataBytes pieces.
  uint32_t need = 0;
  *owned = 0;
  uint32_t pos = s;
  uint32_t i = d.ooo_head;
  auto add_run = [&](uint32_t n) {
    need += (n + kSlotDataBytes - 1) / kSlotDataBytes;
    *owned += n;
  };
  while (SeqLt(pos, e)) {
    while (i != 0 && !slots_[i].fin_marker && SeqLeq(SlotEnd(i), pos)) i = slots_[i].next;
    const bool slot_inside = i != 0 && SeqLt(slots_[i].seq, e);
    const uint32_t limit = slot_inside ? SeqMax(pos, slots_[i].seq) : e;
    if (SeqLt(pos, limit)) add_run(limit - pos);
    pos = limit;
    if (slot_inside) {
      pos = SeqMax(pos, SlotEnd(i));
      i = slots_[i].next;
    }
  }
  return need;
}

}  // namespace fs::reassembly
