// IP fragment reassembly (IPv4 and IPv6) for one worker: fragments go in as decoded packets, a
// whole datagram comes out once every byte of it has arrived, ready for the decoder to take from
// the transport header on (decode::DecodeReassembled).
//
// Each Defragmenter is owned by one worker lcore and called only from it: no locks. Every byte it
// will ever use is reserved at construction (a tracker table, a chunked byte pool, one output
// buffer); the packet path never allocates. When the tracker table or the byte pool is full the
// least recently fed datagram is given up (counted as evicted), so the newest traffic keeps being
// reassembled and memory never grows. A fragment that cannot be stored even then is ignored and
// counted (ipv4/ipv6.frag_ignored, as Suricata's pool-exhausted case).
//
// Overlaps are resolved as Suricata 7's default "bsd" policy (src/defrag.c): data already held
// wins over new data that starts at or after it; a new fragment that starts before held data
// wins over it. Suricata's exact choice of which held fragments a new one trims is reproduced, so
// an overlap evasion reassembles to the same bytes here as in Suricata.
#pragma once

#include <cstdint>
#include <memory>

#include "dataplane/common/ip_addr.h"
#include "dataplane/decode/packet.h"

namespace fs::defrag {

// How overlapping fragments are resolved: as the target host's IP stack would (Suricata's
// host-os-policy). Suricata's shipped suricata.yaml maps every IPv4 host to "windows" and leaves
// IPv6 on its built-in default, "bsd"; the defaults here are the same, so a fragment-overlap
// evasion rebuilds to the bytes Suricata inspects.
enum class Policy : uint8_t { kBsd, kWindows };
const char* PolicyName(Policy p);  // "bsd", "windows"

struct Config {
  Policy ipv4_policy = Policy::kWindows;
  Policy ipv6_policy = Policy::kBsd;
  uint32_t max_datagrams = 4096;   // datagrams being reassembled at once (trackers)
  uint32_t pool_bytes = 4u << 20;  // fragment bytes held at once (rounded up to whole chunks)
  uint32_t timeout_s = 60;         // packet time since a datagram's last fragment (Suricata's)
  uint16_t max_fragments = 256;    // fragments kept per datagram; more drops the datagram
};

// Single writer (the owning worker); readers copy the whole struct (WorkerStats).
struct Counters {
  uint64_t fragments = 0;         // fragments offered (IPv4 and IPv6)
  uint64_t reassembled_ipv4 = 0;  // datagrams completed
  uint64_t reassembled_ipv6 = 0;
  uint64_t timeouts = 0;   // datagrams given up: no new fragment within the timeout
  uint64_t evicted = 0;    // datagrams given up early to make room (tracker table or pool full)
  uint64_t too_large = 0;  // fragments/datagrams past 65535 bytes (dropped)
  uint64_t too_many = 0;   // datagrams dropped for having more than max_fragments fragments
  uint64_t overlaps = 0;   // fragments that overlapped held data
  uint64_t ignored = 0;    // fragments not stored: no pool room even after eviction
  uint64_t discarded = 0;  // datagrams still incomplete when the worker stopped
  uint64_t active = 0;     // gauge: datagrams being reassembled
  uint64_t pool_bytes_used = 0;  // gauge: pool bytes held (whole chunks)
};

// A completed datagram in the Defragmenter's output buffer: data[0, l3_offset) are the bytes that
// preceded the IP header in the first fragment's packet (its link layer, or the tunnel bytes of
// an inner packet), then the IP datagram with lengths and fragment fields rewritten (IPv4: total
// length, flags/offset zero, checksum recomputed; IPv6: payload length, fragment header removed).
struct Datagram {
  const uint8_t* data = nullptr;  // nullptr: nothing was completed
  uint32_t len = 0;               // l3_offset + IP datagram length
  uint16_t l3_offset = 0;
};

class Defragmenter {
 public:
  explicit Defragmenter(const Config& cfg);
  ~Defragmenter();
  Defragmenter(const Defragmenter&) = delete;
  Defragmenter& operator=(const Defragmenter&) = delete;

  // Takes one fragment (p.layer == kL3Fragment, its bytes valid for the call). Anomalies are
  // counted in events->events[] under Suricata's decoder event names. Returns true when this
  // fragment completed a datagram; TakeDatagram() then builds it. The fragment's bytes are copied:
  // the caller may free them on return.
  bool Add(const decode::Packet& p, decode::DecodeCounters* events);

  // After Add() returned true: assembles the datagram into the output buffer (valid until the
  // next Add/TakeDatagram) and frees its memory. A datagram that would exceed 65535 bytes is
  // dropped and counted (frag_pkt_too_large): the result is then empty.
  Datagram TakeDatagram(decode::DecodeCounters* events);

  // Gives up datagrams whose last fragment is older than the timeout at packet time now_us, at
  // most budget of them, oldest first. Returns the number given up.
  uint32_t Expire(uint64_t now_us, uint32_t budget);

  // Gives up every datagram (end of input); counted as discarded.
  void Flush();

  const Counters& counters() const { return counters_; }
  const Config& config() const { return cfg_; }

  // Walks every structure (O(capacity)); false on any inconsistency. Tests only.
  bool Validate() const;

 private:
  struct Key {
    IpAddr src, dst;
    uint32_t id = 0;
    uint16_t vlan[decode::kMaxVlans] = {0, 0, 0};
    uint8_t proto = 0;  // IPv4: protocol; IPv6: 0 (the id is per address pair)
    uint8_t depth = 0;
    uint8_t version = 0;
    bool operator==(const Key& o) const = default;
  };
  struct Frag;
  struct Tracker;
  struct Parsed;

  uint32_t Hash(const Key& k) const;
  uint32_t Find(const Key& k, uint32_t h) const;
  uint32_t NewTracker(const Key& k, uint32_t h);
  void Release(uint32_t t);  // frees a tracker and its fragments
  void LruUnlink(uint32_t t);
  void LruAppend(uint32_t t);
  void FreeFrags(uint32_t t);
  void FreeFrag(uint32_t f);
  // Makes room for `chunks` chunks by giving up the least recently fed trackers other than
  // `keep`; false when impossible.
  bool ReserveChunks(uint32_t chunks, uint32_t keep);
  // Stores head + data in a new fragment record; 0 when out of memory.
  uint32_t StoreFrag(const uint8_t* head, uint32_t head_len, const uint8_t* data,
                     uint32_t data_len);
  void CopyOut(uint32_t chunk, uint32_t skip, uint32_t len, uint8_t* dst) const;
  bool Complete(const Tracker& t) const;
  void Insert(uint32_t t, const Parsed& f, decode::DecodeCounters* events);

  Config cfg_;
  uint32_t hash_mask_ = 0;
  uint32_t nchunks_ = 0;
  std::unique_ptr<Tracker[]> trackers_;  // [0] unused: index 0 means none
  std::unique_ptr<uint32_t[]> buckets_;
  std::unique_ptr<Frag[]> frags_;           // one record per chunk at most; [0] unused
  std::unique_ptr<uint32_t[]> chunk_next_;  // chunk chains and the free list; [0] unused
  std::unique_ptr<uint8_t[]> pool_;         // nchunks_ * kChunk bytes
  std::unique_ptr<uint8_t[]> out_;          // output buffer
  uint32_t free_tracker_ = 0, free_frag_ = 0, free_chunk_ = 0;
  uint32_t free_chunks_ = 0;
  uint32_t lru_head_ = 0, lru_tail_ = 0;  // least recently fed first
  uint32_t ready_ = 0;                    // tracker completed by the last Add
  uint64_t newest_us_ = 0;                // newest fragment time seen
  Counters counters_;
};

}  // namespace fs::defrag
