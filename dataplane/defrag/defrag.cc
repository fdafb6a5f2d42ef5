// IP fragment reassembly: see defrag.h for the contract. Layout of the reserved memory:
//   trackers_  one per datagram being reassembled, chained in hash buckets and on one LRU list
//              (least recently fed first: the eviction and timeout order);
//   frags_     one record per stored fragment, a singly linked list per tracker sorted by
//              offset (equal offsets in arrival order, as Suricata's tree keeps them);
//   pool_      fragment bytes in fixed chunks chained per fragment, so any mix of fragment sizes
//              fits without fragmentation of the pool itself;
//   out_       the one datagram being handed out.
// Fragment lists are short (at most max_fragments), so the overlap walk is a plain list walk.
#include "dataplane/defrag/defrag.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "dataplane/common/net_bytes.h"

namespace fs::defrag {

const char* PolicyName(Policy p) { return p == Policy::kWindows ? "windows" : "bsd"; }
namespace {

constexpr uint32_t kChunk = 128;  // small enough that 8-byte fragments waste little
// Bytes before the fragmentable part that a datagram may carry: link layer or tunnel bytes before
// the IP header, the IP header and (IPv6) the extension headers before the fragment header.
constexpr uint32_t kMaxPrefix = 128;
constexpr uint32_t kMaxHead = 512;
constexpr uint32_t kMaxIpLen = 65535;
constexpr uint32_t kOutBytes = kMaxHead + kMaxIpLen + 1;
constexpr uint32_t kIpv4HeaderLen = 20;
constexpr uint32_t kIpv6HeaderLen = 40;
constexpr uint32_t kFragHeaderLen = 8;
constexpr uint8_t kProtoFragment = 44, kProtoAh = 51;

using net::Rd16;
using net::Rd32;
using net::Wr16;

inline uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 29);
}

inline void Count(decode::DecodeCounters* ev, decode::DecodeEvent e) {
  if (ev != nullptr) ++ev->events[static_cast<int>(e)];
}

}  // namespace

struct Defragmenter::Frag {
  uint32_t next = 0;    // next fragment of the tracker (sorted), or the free list
  uint32_t chunk = 0;   // first chunk of head + data
  uint32_t offset = 0;  // of the stored data in the fragmentable part (after trimming the front)
  uint32_t data_len = 0;
  uint32_t ltrim = 0;     // leading data bytes a later fragment took over (Suricata's ltrim)
  uint16_t head_len = 0;  // offset-0 fragment only: bytes before the fragmentable part
  bool more = false;      // more-fragments flag
};

struct Defragmenter::Tracker {
  Key key;
  uint64_t last_us = 0;  // time of the newest fragment: the timeout runs from here
  uint32_t hash = 0;
  uint32_t hash_next = 0, lru_prev = 0, lru_next = 0;  // hash_next doubles as free list link
  uint32_t frags = 0;
  uint16_t nfrags = 0;
  uint16_t l3_offset = 0;  // of the first fragment
  bool in_use = false;
  bool seen_last = false;
  bool dropped = false;  // gave up (too many fragments): swallow the rest until it times out
};

// One fragment as read from its decoded packet.
struct Defragmenter::Parsed {
  Key key;
  const uint8_t* head = nullptr;  // packet start (prefix + IP header + unfragmentable headers)
  uint32_t head_len = 0;
  const uint8_t* data = nullptr;
  uint32_t data_len = 0;
  uint32_t offset = 0;
  bool more = false;
  uint16_t l3_offset = 0;
  uint32_t nh_pos = 0;  // IPv6: position in head of the next-header byte naming the fragment hdr
  uint8_t nh_value = 0;
};

Defragmenter::Defragmenter(const Config& cfg) : cfg_(cfg) {
  if (cfg_.max_datagrams < 1) cfg_.max_datagrams = 1;
  if (cfg_.max_datagrams > (1u << 24)) cfg_.max_datagrams = 1u << 24;
  if (cfg_.max_fragments < 1) cfg_.max_fragments = 1;
  if (cfg_.timeout_s < 1) cfg_.timeout_s = 1;
  nchunks_ = std::max<uint32_t>(1, (cfg_.pool_bytes + kChunk - 1) / kChunk);
  uint32_t buckets = 1;
  while (buckets < cfg_.max_datagrams) buckets <<= 1;
  hash_mask_ = buckets - 1;
  // make_unique<T[]> value-initialises: every page is touched now, never on the packet path.
  trackers_ = std::make_unique<Tracker[]>(size_t(cfg_.max_datagrams) + 1);
  buckets_ = std::make_unique<uint32_t[]>(buckets);
  frags_ = std::make_unique<Frag[]>(size_t(nchunks_) + 1);
  chunk_next_ = std::make_unique<uint32_t[]>(size_t(nchunks_) + 1);
  pool_ = std::make_unique<uint8_t[]>(size_t(nchunks_) * kChunk);
  out_ = std::make_unique<uint8_t[]>(kOutBytes);
  for (uint32_t i = 1; i <= cfg_.max_datagrams; ++i) {
    trackers_[i].hash_next = i < cfg_.max_datagrams ? i + 1 : 0;
  }
  free_tracker_ = 1;
  for (uint32_t i = 1; i <= nchunks_; ++i) {
    chunk_next_[i] = i < nchunks_ ? i + 1 : 0;
    frags_[i].next = i < nchunks_ ? i + 1 : 0;
  }
  free_chunk_ = free_frag_ = 1;
  free_chunks_ = nchunks_;
}

Defragmenter::~Defragmenter() = default;

uint32_t Defragmenter::Hash(const Key& k) const {
  uint64_t h = 0x51ed27ull;
  uint64_t w[4];
  std::memcpy(w, k.src.bytes.data(), 16);
  std::memcpy(w + 2, k.dst.bytes.data(), 16);
  for (uint64_t v : w) h = Mix(h, v);
  h = Mix(h, uint64_t(k.id) << 32 | uint64_t(k.proto) << 16 | uint64_t(k.depth) << 8 | k.version);
  h = Mix(h, uint64_t(k.vlan[0]) << 32 | uint64_t(k.vlan[1]) << 16 | k.vlan[2]);
  return uint32_t(h ^ (h >> 32));
}

uint32_t Defragmenter::Find(const Key& k, uint32_t h) const {
  for (uint32_t t = buckets_[h & hash_mask_]; t != 0; t = trackers_[t].hash_next) {
    if (trackers_[t].hash == h && trackers_[t].key == k) return t;
  }
  return 0;
}

void Defragmenter::LruUnlink(uint32_t t) {
  Tracker& tr = trackers_[t];
  if (tr.lru_prev != 0) {
    trackers_[tr.lru_prev].lru_next = tr.lru_next;
  } else {
    lru_head_ = tr.lru_next;
  }
  if (tr.lru_next != 0) {
    trackers_[tr.lru_next].lru_prev = tr.lru_prev;
  } else {
    lru_tail_ = tr.lru_prev;
  }
  tr.lru_prev = tr.lru_next = 0;
}

void Defragmenter::LruAppend(uint32_t t) {
  Tracker& tr = trackers_[t];
  tr.lru_prev = lru_tail_;
  tr.lru_next = 0;
  if (lru_tail_ != 0) {
    trackers_[lru_tail_].lru_next = t;
  } else {
    lru_head_ = t;
  }
  lru_tail_ = t;
}

uint32_t Defragmenter::NewTracker(const Key& k, uint32_t h) {
  if (free_tracker_ == 0) {
    // Table full: the least recently fed datagram is the least likely to still complete.
    ++counters_.evicted;
    Release(lru_head_);
  }
  const uint32_t t = free_tracker_;
  Tracker& tr = trackers_[t];
  free_tracker_ = tr.hash_next;
  tr = Tracker{};
  tr.key = k;
  tr.hash = h;
  tr.in_use = true;
  uint32_t& bucket = buckets_[h & hash_mask_];
  tr.hash_next = bucket;
  bucket = t;
  LruAppend(t);
  ++counters_.active;
  return t;
}

void Defragmenter::FreeFrag(uint32_t f) {
  Frag& fr = frags_[f];
  uint32_t c = fr.chunk;
  while (c != 0) {
    const uint32_t n = chunk_next_[c];
    chunk_next_[c] = free_chunk_;
    free_chunk_ = c;
    ++free_chunks_;
    counters_.pool_bytes_used -= kChunk;
    c = n;
  }
  fr = Frag{};
  fr.next = free_frag_;
  free_frag_ = f;
}

void Defragmenter::FreeFrags(uint32_t t) {
  Tracker& tr = trackers_[t];
  uint32_t f = tr.frags;
  while (f != 0) {
    const uint32_t n = frags_[f].next;
    FreeFrag(f);
    f = n;
  }
  tr.frags = 0;
  tr.nfrags = 0;
}

void Defragmenter::Release(uint32_t t) {
  assert(t != 0 && trackers_[t].in_use);
  FreeFrags(t);
  Tracker& tr = trackers_[t];
  uint32_t* link = &buckets_[tr.hash & hash_mask_];
  while (*link != t) link = &trackers_[*link].hash_next;
  *link = tr.hash_next;
  LruUnlink(t);
  tr = Tracker{};
  tr.hash_next = free_tracker_;
  free_tracker_ = t;
  --counters_.active;
  if (ready_ == t) ready_ = 0;
}

bool Defragmenter::ReserveChunks(uint32_t chunks, uint32_t keep) {
  if (chunks > nchunks_) return false;
  while (free_chunks_ < chunks) {
    uint32_t victim = lru_head_;
    if (victim == keep) victim = trackers_[victim].lru_next;
    if (victim == 0) return false;
    ++counters_.evicted;
    Release(victim);
  }
  return true;
}

uint32_t Defragmenter::StoreFrag(const uint8_t* head, uint32_t head_len, const uint8_t* data,
                                 uint32_t data_len) {
  const uint32_t total = head_len + data_len;
  const uint32_t need = (total + kChunk - 1) / kChunk;
  if (need == 0 || free_chunks_ < need || free_frag_ == 0) return 0;
  const uint32_t f = free_frag_;
  free_frag_ = frags_[f].next;
  frags_[f] = Frag{};
  uint32_t* link = &frags_[f].chunk;
  uint32_t done = 0;
  for (uint32_t i = 0; i < need; ++i) {
    const uint32_t c = free_chunk_;
    free_chunk_ = chunk_next_[c];
    chunk_next_[c] = 0;
    --free_chunks_;
    counters_.pool_bytes_used += kChunk;
    *link = c;
    link = &chunk_next_[c];
    uint8_t* dst = pool_.get() + size_t(c - 1) * kChunk;
    uint32_t room = kChunk, pos = 0;
    while (room > 0 && done < total) {
      const uint8_t* src = done < head_len ? head + done : data + (done - head_len);
      const uint32_t left = done < head_len ? head_len - done : total - done;
      const uint32_t n = std::min(room, left);
      std::memcpy(dst + pos, src, n);
      pos += n;
      room -= n;
      done += n;
    }
  }
  return f;
}

void Defragmenter::CopyOut(uint32_t chunk, uint32_t skip, uint32_t len, uint8_t* dst) const {
  while (chunk != 0 && skip >= kChunk) {
    skip -= kChunk;
    chunk = chunk_next_[chunk];
  }
  while (chunk != 0 && len > 0) {
    const uint32_t n = std::min(kChunk - skip, len);
    std::memcpy(dst, pool_.get() + size_t(chunk - 1) * kChunk + skip, n);
    dst += n;
    len -= n;
    skip = 0;
    chunk = chunk_next_[chunk];
  }
}

bool Defragmenter::Complete(const Tracker& t) const {
  if (!t.seen_last || t.frags == 0 || frags_[t.frags].offset != 0) return false;
  // As Suricata: every stored fragment, even one past the last, must join without a hole.
  uint32_t end = 0;
  for (uint32_t f = t.frags; f != 0; f = frags_[f].next) {
    if (frags_[f].offset > end) return false;
    end = std::max(end, frags_[f].offset + frags_[f].data_len);
  }
  return true;
}

void Defragmenter::Insert(uint32_t t, const Parsed& in, decode::DecodeCounters* events) {
  Tracker& tr = trackers_[t];
  const bool v6 = in.key.version == 6;
  const uint32_t off = in.offset, end = in.offset + in.data_len;

  // Suricata's BSD walk: start at the last fragment before `off` (or the first one), compare
  // against it and move right until one overlaps; trim the new fragment's front where held data
  // starts at or before it, and trim held fragments whose front the new one covers by starting
  // earlier. Later fragments win where trims leave overlaps, because assembly copies in order.
  uint32_t before = 0, at = tr.frags;
  while (at != 0 && frags_[at].offset < off) {
    before = at;
    at = frags_[at].next;
  }
  uint32_t prev, next;
  if (at != 0 && before != 0) {
    prev = before;
    next = at;
  } else if (at != 0) {
    prev = at;
    next = frags_[at].next;
  } else {
    prev = tr.frags;
    next = prev != 0 ? frags_[prev].next : 0;
  }
  uint32_t ltrim = 0;
  bool overlap = false, covered = false;
  const bool windows = (v6 ? cfg_.ipv6_policy : cfg_.ipv4_policy) == Policy::kWindows;
  auto unlink = [&](uint32_t victim) {
    uint32_t* link = &tr.frags;
    while (*link != victim) link = &frags_[*link].next;
    *link = frags_[victim].next;
    FreeFrag(victim);
    --tr.nfrags;
  };
  while (prev != 0) {
    Frag& pf = frags_[prev];
    const uint32_t pend = pf.offset + pf.data_len;
    if (off < pend && pf.offset < end) overlap = true;
    if (windows) {
      // Suricata's "windows" walk: a fragment inside held data is dropped; one that starts
      // before and ends after a held one replaces it; one that starts inside a held one, or at
      // its start and ends after it, loses its front. Otherwise the walk goes on, and where
      // overlaps remain the held fragment with the higher offset wins (assembly copies in order).
      if (off >= pf.offset && end <= pend) {
        covered = true;
        break;
      }
      if (off < pf.offset && end > pend) {
        unlink(prev);
        break;
      }
      if ((off > pf.offset + pf.ltrim && off < pend) || (off == pf.offset && end > pend)) {
        ltrim = pend - off;
        break;
      }
      prev = next;
      next = next != 0 ? frags_[next].next : 0;
      continue;
    }
    if (off < pend) {
      if (pf.offset <= off) {
        if (pend > end) {
          covered = true;  // wholly inside held data: held data wins
          break;
        }
        ltrim = pend - off;
      } else if (end > pf.offset + pf.ltrim) {
        pf.ltrim = std::max(pf.ltrim, end - pf.offset);
      }
      if (next != 0 && end > frags_[next].offset) frags_[next].ltrim = end - frags_[next].offset;
      if (pf.ltrim >= pf.data_len) unlink(prev);  // entirely taken over: free it now
      break;
    }
    prev = next;
    next = next != 0 ? frags_[next].next : 0;
  }
  if (overlap) {
    ++counters_.overlaps;
    Count(events,
          v6 ? decode::DecodeEvent::kIpv6FragOverlap : decode::DecodeEvent::kIpv4FragOverlap);
  }
  if (covered || ltrim >= in.data_len) return;

  if (tr.nfrags >= cfg_.max_fragments) {
    // A datagram in hundreds of pieces is an evasion or resource attack, not traffic: give it
    // up and keep swallowing its fragments (holding no memory) until it times out.
    ++counters_.too_many;
    Count(events,
          v6 ? decode::DecodeEvent::kIpv6FragTooMany : decode::DecodeEvent::kIpv4FragTooMany);
    FreeFrags(t);
    tr.dropped = true;
    return;
  }
  // Only a fragment that still starts at 0 brings the headers the datagram is rebuilt with.
  const bool first = off == 0 && ltrim == 0;
  const uint32_t head_len = first ? in.head_len : 0;
  const uint32_t stored = in.data_len - ltrim;
  const uint32_t need = (head_len + stored + kChunk - 1) / kChunk;
  uint32_t f = 0;
  if (ReserveChunks(need, t)) f = StoreFrag(in.head, head_len, in.data + ltrim, stored);
  if (f == 0) {
    ++counters_.ignored;
    Count(events,
          v6 ? decode::DecodeEvent::kIpv6FragIgnored : decode::DecodeEvent::kIpv4FragIgnored);
    return;
  }
  Frag& nf = frags_[f];
  nf.offset = off + ltrim;
  nf.data_len = stored;
  nf.head_len = uint16_t(head_len);
  nf.more = in.more;
  if (first) {
    tr.l3_offset = in.l3_offset;
    if (v6) {
      // The header before the fragment header must name what followed the fragment header.
      uint32_t c = nf.chunk, pos = in.nh_pos;
      while (pos >= kChunk) {
        pos -= kChunk;
        c = chunk_next_[c];
      }
      pool_[size_t(c - 1) * kChunk + pos] = in.nh_value;
    }
  }
  // After every held fragment with the same or a lower offset.
  uint32_t* link = &tr.frags;
  while (*link != 0 && frags_[*link].offset <= nf.offset) link = &frags_[*link].next;
  nf.next = *link;
  *link = f;
  ++tr.nfrags;
  if (!in.more) tr.seen_last = true;
}

bool Defragmenter::Add(const decode::Packet& p, decode::DecodeCounters* events) {
  if (p.layer != decode::Layer::kL3Fragment) return false;
  if (ready_ != 0) Release(ready_);  // a completed datagram nobody took
  ++counters_.fragments;
  if (p.ts_us > newest_us_) newest_us_ = p.ts_us;

  Parsed in;
  const bool v6 = p.ip_version == 6;
  const uint8_t* ip = p.data + p.l3_offset;
  in.key.src = p.src;
  in.key.dst = p.dst;
  in.key.depth = p.depth;
  in.key.version = p.ip_version;
  for (int i = 0; i < decode::kMaxVlans; ++i) in.key.vlan[i] = p.vlan_id[i];
  in.head = p.data;
  in.l3_offset = p.l3_offset;
  if (!v6) {
    // The decoder checked the header, its length and the total length against the capture.
    const uint32_t hlen = uint32_t(ip[0] & 0x0f) * 4;
    const uint32_t total = Rd16(ip + 2);
    const uint16_t frag = Rd16(ip + 6);
    in.key.id = Rd16(ip + 4);
    in.key.proto = p.proto;
    in.more = (frag & 0x2000) != 0;
    in.offset = uint32_t(frag & 0x1fff) * 8;
    in.head_len = p.l3_offset + hlen;
    in.data = p.data + p.l3_offset + hlen;
    in.data_len = total - hlen;
    if (kIpv4HeaderLen + in.offset + in.data_len > kMaxIpLen) {
      ++counters_.too_large;
      Count(events, decode::DecodeEvent::kIpv4FragPktTooLarge);
      return false;
    }
  } else {
    // The decoder stopped right after the fragment header: l4_offset is where its data starts.
    const uint32_t fh = p.l4_offset - kFragHeaderLen;
    const uint8_t* h = p.data + fh;
    const uint16_t off_m = Rd16(h + 2);
    in.key.id = Rd32(h + 4);
    in.more = (off_m & 1) != 0;
    in.offset = off_m & 0xfff8;
    in.head_len = fh;  // up to the fragment header, which the rebuilt datagram drops
    in.data = p.data + p.l4_offset;
    in.data_len = p.l3_offset + kIpv6HeaderLen + Rd16(ip + 4) - p.l4_offset;
    in.nh_value = h[0];
    // Find the next-header byte that names the fragment header (the first one: a second
    // fragment header, as Suricata, is data of the first).
    uint32_t nh_pos = p.l3_offset + 6, cur = p.l3_offset + kIpv6HeaderLen;
    uint8_t nh = ip[6];
    while (nh != kProtoFragment && cur < fh) {
      const uint8_t* e = p.data + cur;
      nh_pos = cur;
      nh = e[0];
      cur += nh == kProtoAh ? (uint32_t(e[1]) + 2) * 4 : (uint32_t(e[1]) + 1) * 8;
    }
    in.nh_pos = nh_pos;
    if (in.offset + in.data_len > kMaxIpLen) {
      ++counters_.too_large;
      Count(events, decode::DecodeEvent::kIpv6FragPktTooLarge);
      return false;
    }
  }
  if (p.l3_offset > kMaxPrefix || in.head_len > kMaxHead) {
    // Headers this long before the data are not something a real sender fragments.
    ++counters_.ignored;
    Count(events,
          v6 ? decode::DecodeEvent::kIpv6FragIgnored : decode::DecodeEvent::kIpv4FragIgnored);
    return false;
  }

  const uint32_t h = Hash(in.key);
  uint32_t t = Find(in.key, h);
  const uint64_t timeout_us = uint64_t(cfg_.timeout_s) * 1000000;
  if (t != 0 && p.ts_us > trackers_[t].last_us + timeout_us) {
    ++counters_.timeouts;
    Release(t);
    t = 0;
  }
  if (t == 0) t = NewTracker(in.key, h);
  Tracker& tr = trackers_[t];
  if (p.ts_us > tr.last_us) tr.last_us = p.ts_us;
  LruUnlink(t);
  LruAppend(t);
  if (tr.dropped) return false;
  Insert(t, in, events);
  if (!Complete(tr)) return false;
  ready_ = t;
  return true;
}

Datagram Defragmenter::TakeDatagram(decode::DecodeCounters* events) {
  Datagram d;
  const uint32_t t = ready_;
  if (t == 0) return d;
  ready_ = 0;
  const Tracker& tr = trackers_[t];
  const bool v6 = tr.key.version == 6;
  const Frag& first = frags_[tr.frags];
  const uint32_t head_len = first.head_len, l3 = tr.l3_offset;
  uint32_t max_end = 0;
  for (uint32_t f = tr.frags; f != 0; f = frags_[f].next) {
    max_end = std::max(max_end, frags_[f].offset + frags_[f].data_len);
  }
  const uint32_t below = head_len - l3 - (v6 ? kIpv6HeaderLen : 0);  // headers counted in length
  if (head_len < l3 + (v6 ? kIpv6HeaderLen : kIpv4HeaderLen) || below + max_end > kMaxIpLen) {
    ++counters_.too_large;
    Count(events, v6 ? decode::DecodeEvent::kIpv6FragPktTooLarge
                     : decode::DecodeEvent::kIpv4FragPktTooLarge);
    Release(t);
    return d;
  }
  uint8_t* out = out_.get();
  std::memset(out + head_len, 0, max_end);
  // Copy in offset order: where trims left an overlap, the later fragment's bytes win. Stop after
  // the last fragment unless another starts at the same offset (Suricata's copy loop).
  bool more = true;
  uint32_t prev_off = 0, frag_len = 0;
  for (uint32_t f = tr.frags; f != 0; f = frags_[f].next) {
    const Frag& fr = frags_[f];
    if (!more && fr.offset > prev_off) break;
    if (fr.ltrim >= fr.data_len) continue;
    if (fr.offset == 0) {
      CopyOut(fr.chunk, 0, fr.head_len + fr.data_len, out);
      frag_len = std::max(frag_len, fr.data_len);
    } else {
      CopyOut(fr.chunk, fr.head_len + fr.ltrim, fr.data_len - fr.ltrim,
              out + head_len + fr.offset + fr.ltrim);
      frag_len = std::max(frag_len, fr.offset + fr.data_len);
    }
    more = fr.more;
    prev_off = fr.offset;
  }
  uint8_t* ip = out + l3;
  if (!v6) {
    const uint32_t hlen = head_len - l3;
    Wr16(ip + 2, hlen + frag_len);
    ip[6] = ip[7] = 0;
    ip[10] = ip[11] = 0;
    uint32_t sum = 0;
    for (uint32_t i = 0; i < hlen; i += 2) sum += Rd16(ip + i);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    Wr16(ip + 10, ~sum & 0xffff);
    ++counters_.reassembled_ipv4;
  } else {
    Wr16(ip + 4, below + frag_len);
    ++counters_.reassembled_ipv6;
  }
  d.data = out;
  d.len = head_len + frag_len;
  d.l3_offset = uint16_t(l3);
  Release(t);
  return d;
}

uint32_t Defragmenter::Expire(uint64_t now_us, uint32_t budget) {
  const uint64_t now = std::max(now_us, newest_us_);
  const uint64_t timeout_us = uint64_t(cfg_.timeout_s) * 1000000;
  uint32_t n = 0;
  while (n < budget && lru_head_ != 0 && trackers_[lru_head_].last_us + timeout_us < now) {
    ++counters_.timeouts;
    Release(lru_head_);
    ++n;
  }
  return n;
}

void Defragmenter::Flush() {
  while (lru_head_ != 0) {
    ++counters_.discarded;
    Release(lru_head_);
  }
}

bool Defragmenter::Validate() const {
  uint32_t free_t = 0, used_t = 0, chunks_held = 0, frags_held = 0;
  for (uint32_t t = free_tracker_; t != 0; t = trackers_[t].hash_next) {
    if (trackers_[t].in_use || ++free_t > cfg_.max_datagrams) return false;
  }
  for (uint32_t t = lru_head_; t != 0; t = trackers_[t].lru_next) {
    const Tracker& tr = trackers_[t];
    if (!tr.in_use || ++used_t > cfg_.max_datagrams) return false;
    if (Find(tr.key, tr.hash) != t) return false;
    uint32_t n = 0, last = 0;
    for (uint32_t f = tr.frags; f != 0; f = frags_[f].next) {
      if (frags_[f].offset < last || ++n > cfg_.max_fragments) return false;
      last = frags_[f].offset;
      for (uint32_t c = frags_[f].chunk; c != 0; c = chunk_next_[c]) {
        if (++chunks_held > nchunks_) return false;
      }
    }
    if (n != tr.nfrags) return false;
    frags_held += n;
  }
  if (free_t + used_t != cfg_.max_datagrams || used_t != counters_.active) return false;
  uint32_t free_c = 0;
  for (uint32_t c = free_chunk_; c != 0; c = chunk_next_[c]) {
    if (++free_c > nchunks_) return false;
  }
  uint32_t free_f = 0;
  for (uint32_t f = free_frag_; f != 0; f = frags_[f].next) {
    if (++free_f > nchunks_) return false;
  }
  return free_c == free_chunks_ && free_c + chunks_held == nchunks_ &&
         free_f + frags_held == nchunks_ &&
         counters_.pool_bytes_used == uint64_t(chunks_held) * kChunk;
}

}  // namespace fs::defrag
