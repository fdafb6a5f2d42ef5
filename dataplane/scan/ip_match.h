// Per-packet lookup of IP indicator lists: which lists contain a packet's source and destination.
//
// Built by the control plane from the loaded lists (patterns/indicators.h) at start-up and on
// reload, then immutable: published with the rest of the pattern generation and read by every
// worker at once, without locks. Lookups are const, allocation-free and branch-light.
//
// Semantics: bit i of a result is set when some entry of list i contains the address, in the
// 128-bit address space of fs::IpAddr (IPv4 a.b.c.d is ::ffff:a.b.c.d, as in rule headers). So
// each list answers independently: 10.1.2.3 is in list A by 10.0.0.0/8 and in list B by
// 10.1.0.0/16 at the same time. Which entry of a list matched (the longest, as an LPM would say) is
// asked off the packet path with patterns::IndicatorList::LongestMatch when an alert is written.
//
// Structure: the entries of all lists are flattened into disjoint address ranges, each labelled
// with the set of lists that cover it (a stack sweep over the prefixes sorted by start; prefixes
// nest or are disjoint, so the open ones form a stack). A range table then answers a lookup:
//  - 65536 buckets per family indexed by the top 16 bits (of the IPv4 address, or of the IPv6
//    address). A bucket covered whole by one label holds it directly: one load.
//  - Otherwise the bucket's range starts (low 16 bits for IPv4, low 112 for IPv6) are searched by
//    a branchless binary search. 1M random IPv4 /32s leave ~31 starts (62 bytes) per bucket.
//  - A bucket with many starts (> 64 IPv4, > 8 IPv6: real IPv6 lists crowd into a few /16s such
//    as 2a00::/12) gets a second-level index on the next 1..16 bits, sized for about one cache
//    line of starts per sub-bucket. An IPv4 lookup then costs at most four dependent loads
//    whatever the data (a full index resolves a single address); an IPv6 lookup too, unless
//    thousands of entries share one /32, where it degrades to a binary search (log2 n steps).
// Memory is linear in the entries (at most two ranges per prefix: 6 bytes per IPv4 range, 20 per
// IPv6 range, plus up to ~2 bytes per range of second-level index) and 1 MiB of buckets. 1M mixed
// entries take ~19 MiB. A DIR-24-8 table would need a 256-entry block for every /24 that holds a
// longer prefix: 1M scattered /32s would make that gigabytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "dataplane/common/ip_addr.h"
#include "patterns/expected.h"
#include "patterns/indicators.h"

namespace fs::scan {

using patterns::ListMask;

// The lists a packet matched, per side. Bit i = configured list i.
struct IpMatch {
  ListMask src = 0;  // lists containing the packet's source address
  ListMask dst = 0;  // lists containing the packet's destination address
  ListMask any() const { return src | dst; }
};

class IpMatcher {
 public:
  __extension__ using U128 = unsigned __int128;

  struct Stats {
    size_t v4_entries = 0;  // distinct prefixes (all lists) by family of the table they went to
    size_t v6_entries = 0;
    size_t v4_ranges = 0;  // range starts stored in buckets (direct buckets not counted)
    size_t v6_ranges = 0;
    size_t label_sets = 0;       // distinct sets of lists, including the empty set
    size_t indexed_buckets = 0;  // buckets big enough for a second-level index
    size_t memory_bytes = 0;
  };

  // Accumulates prefixes for one build. Control plane only.
  class Builder {
   public:
    // The same prefix may be added for several lists. False (and ignored) when list >=
    // patterns::kMaxIndicatorLists or prefix.len > 128.
    bool Add(const patterns::IpPrefix& prefix, uint32_t list);
    IpMatcher Build() &&;

   private:
    struct Entry {
      U128 start;
      uint8_t len;
      ListMask lists;
    };
    std::vector<Entry> entries_;
  };

  // Bit i of every result refers to lists[i]; lists of type domain contribute nothing. An error
  // when there are more than kMaxIndicatorLists lists.
  static patterns::Expected<IpMatcher> Build(std::span<const patterns::IndicatorList> lists);

  IpMatcher();  // matches nothing

  // One address. Any thread, concurrently.
  ListMask Lookup(const IpAddr& a) const {
    if (a.IsV4()) {
      uint32_t v;
      std::memcpy(&v, a.bytes.data() + 12, 4);
      return LookupV4(__builtin_bswap32(v));
    }
    return LookupV6(ToU128(a));
  }
  // Both sides of a packet.
  IpMatch Lookup(const IpAddr& src, const IpAddr& dst) const {
    return IpMatch{Lookup(src), Lookup(dst)};
  }
  // A burst: out[i] = Lookup(addrs[i]), prefetching the bucket a few addresses ahead. Measured no
  // faster than a loop of Lookup() on cold random addresses (the core already overlaps independent
  // lookups); kept so that a burst-shaped caller has one call and the strategy can change here.
  void LookupBulk(const IpAddr* addrs, size_t n, ListMask* out) const;

  // Union of the lists that have at least one entry: 0 means every lookup returns 0, and the
  // worker can skip the stage.
  ListMask lists() const { return lists_; }
  const Stats& stats() const { return stats_; }

 private:
  // A bucket of the top-level index (one per value of the top 16 address bits).
  //  - info == 0: one range covers the whole bucket and `at` is its label id.
  //  - otherwise `at` is the bucket's first range start in the keys array (the bucket's own first
  //    address), and either info = the number of starts (a small bucket, binary-searched whole), or
  //    info has kIndexed set: a big bucket with a second-level index of 2^s sub-buckets on the
  //    next s address bits. Then bits 26..30 of info hold s (1..16), and bits 0..25 the position in
  //    index_ of 2^s + 1 offsets: sub-bucket j's answer lies between starts off[j] and off[j+1]
  //    (inclusive), typically a handful of starts in one cache line.
  struct Bucket {
    uint32_t at = 0;
    uint32_t info = 0;
  };
  static constexpr unsigned kBucketBits = 16;
  static constexpr uint32_t kIndexed = 1u << 31;
  static constexpr unsigned kSubBitsPos = 26;
  static constexpr uint32_t kPosMask = (1u << kSubBitsPos) - 1;

  static U128 ToU128(const IpAddr& a) {
    uint64_t hi, lo;
    std::memcpy(&hi, a.bytes.data(), 8);
    std::memcpy(&lo, a.bytes.data() + 8, 8);
    return (U128{__builtin_bswap64(hi)} << 64) | __builtin_bswap64(lo);
  }

  // Index of the last of keys[0..n) that is <= x; keys[0] <= x.
  template <class K>
  static uint32_t LastNotAbove(const K* keys, uint32_t n, K x) {
    const K* base = keys;
    for (uint32_t len = n; len > 1;) {
      const uint32_t half = len / 2;
      base = base[half] <= x ? base + half : base;
      len -= half;
    }
    return static_cast<uint32_t>(base - keys);
  }

  // `x` is the address within the bucket (its low kLowBits bits); keys hold the same part.
  template <class K, unsigned kLowBits>
  uint32_t Search(const Bucket b, const K* keys, K x) const {
    if (!(b.info & kIndexed)) return b.at + LastNotAbove(keys + b.at, b.info, x);
    const uint32_t* off = index_.data() + (b.info & kPosMask);
    const unsigned sub_bits = (b.info & ~kIndexed) >> kSubBitsPos;
    const auto j = static_cast<uint32_t>(x >> (kLowBits - sub_bits));
    const uint32_t lo = off[j];
    return b.at + lo + LastNotAbove(keys + b.at + lo, off[j + 1] - lo + 1, x);
  }

  ListMask LookupV4(uint32_t a) const {
    const Bucket b = v4_buckets_[a >> 16];
    if (b.info == 0) return labels_[b.at];
    return labels_[v4_labels_[Search<uint16_t, 16>(b, v4_keys_.data(), static_cast<uint16_t>(a))]];
  }

  ListMask LookupV6(U128 a) const {
    const Bucket b = v6_buckets_[static_cast<uint32_t>(a >> (128 - kBucketBits))];
    if (b.info == 0) return labels_[b.at];
    const U128 low = a & kV6LowMask;
    return labels_[v6_labels_[Search<U128, 128 - kBucketBits>(b, v6_keys_.data(), low)]];
  }
  static constexpr U128 kV6LowMask = (U128{1} << (128 - kBucketBits)) - 1;

  std::vector<ListMask> labels_;  // label id -> lists; id 0 = no list
  std::vector<Bucket> v4_buckets_;
  std::vector<uint16_t> v4_keys_;    // low 16 bits of range starts
  std::vector<uint32_t> v4_labels_;  // parallel to v4_keys_
  std::vector<Bucket> v6_buckets_;
  std::vector<U128> v6_keys_;  // low 112 bits of range starts
  std::vector<uint32_t> v6_labels_;
  std::vector<uint32_t> index_;  // second-level offsets of big buckets, both families
  ListMask lists_ = 0;
  Stats stats_;
};

}  // namespace fs::scan
