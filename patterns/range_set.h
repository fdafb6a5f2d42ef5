// Address and port sets as the header matcher uses them: sorted, disjoint, non-adjacent
// inclusive ranges. Built once by the rule compiler (control plane), then read-only: workers call
// Contains() per candidate rule, so it is allocation-free and branch-light.
//
// Addresses are 128-bit numbers in the same space as fs::IpAddr: IPv4 lives in the IPv4-mapped
// block ::ffff:0:0/96. A negated IPv4 set (e.g. EXTERNAL_NET = !HOME_NET) therefore also contains
// every IPv6 address, which is what Suricata does with its per-family negation.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/common/ip_addr.h"

namespace fs::patterns {

// GCC/Clang extension type; std::numeric_limits is not specialised for it in strict C++20 mode,
// so the maxima below are spelled out.
__extension__ using U128 = unsigned __int128;

inline constexpr U128 kU128Max = ~U128{0};
inline constexpr uint32_t kPortMax = 65535;

// Big-endian bytes to number: two 64-bit loads (per-packet path: the header of every packet
// that evaluates a rule).
inline U128 ToU128(const IpAddr& a) {
  uint64_t hi, lo;
  std::memcpy(&hi, a.bytes.data(), 8);
  std::memcpy(&lo, a.bytes.data() + 8, 8);
  if constexpr (std::endian::native == std::endian::little) {
    hi = __builtin_bswap64(hi);
    lo = __builtin_bswap64(lo);
  }
  return (U128{hi} << 64) | lo;
}

inline IpAddr FromU128(U128 v) {
  IpAddr a;
  for (int i = 15; i >= 0; --i) {
    a.bytes[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return a;
}

// T is an unsigned integer type wide enough for max + 1 not to be needed (arithmetic below
// never computes max + 1).
template <class T>
class RangeSet {
 public:
  struct Range {
    T lo;
    T hi;  // inclusive
    bool operator==(const Range&) const = default;
  };

  RangeSet() = default;
  static RangeSet All(T max) { return RangeSet(max, {Range{0, max}}); }
  static RangeSet None(T max) { return RangeSet(max, {}); }
  // Sorts and merges overlapping or adjacent ranges; ranges must have lo <= hi <= max.
  static RangeSet Of(T max, std::vector<Range> ranges) {
    std::sort(ranges.begin(), ranges.end(),
              [](const Range& a, const Range& b) { return a.lo < b.lo; });
    std::vector<Range> out;
    for (const Range& r : ranges) {
      if (!out.empty() && (out.back().hi == max || r.lo <= out.back().hi + 1)) {
        out.back().hi = std::max(out.back().hi, r.hi);
      } else {
        out.push_back(r);
      }
    }
    return RangeSet(max, std::move(out));
  }

  RangeSet Union(const RangeSet& o) const {
    std::vector<Range> all = ranges_;
    all.insert(all.end(), o.ranges_.begin(), o.ranges_.end());
    return Of(max_, std::move(all));
  }
  RangeSet Complement() const {
    std::vector<Range> out;
    T next = 0;
    bool open = true;  // false once a range reached max
    for (const Range& r : ranges_) {
      if (r.lo > next) out.push_back(Range{next, static_cast<T>(r.lo - 1)});
      if (r.hi == max_) {
        open = false;
        break;
      }
      next = r.hi + 1;
    }
    if (open) out.push_back(Range{next, max_});
    return RangeSet(max_, std::move(out));
  }
  // A \ B = not(not A or B): only Union and Complement need to be right.
  RangeSet Minus(const RangeSet& o) const { return Complement().Union(o).Complement(); }

  bool Contains(T v) const {
    // Rule headers hold a handful of ranges (HOME_NET has 3): a short linear scan beats a
    // binary search there; long lists (reputation groups) use the binary search.
    if (ranges_.size() <= 8) {
      for (const Range& r : ranges_) {
        if (v < r.lo) return false;
        if (v <= r.hi) return true;
      }
      return false;
    }
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), v,
                               [](T x, const Range& r) { return x < r.lo; });
    if (it == ranges_.begin()) return false;
    --it;
    return v <= it->hi;
  }

  // Whether the two sets share a value (a walk over both sorted lists).
  bool Intersects(const RangeSet& o) const {
    size_t i = 0, j = 0;
    while (i < ranges_.size() && j < o.ranges_.size()) {
      const Range& a = ranges_[i];
      const Range& b = o.ranges_[j];
      if (a.hi < b.lo) {
        ++i;
      } else if (b.hi < a.lo) {
        ++j;
      } else {
        return true;
      }
    }
    return false;
  }

  bool IsAll() const { return ranges_.size() == 1 && ranges_[0].lo == 0 && ranges_[0].hi == max_; }
  bool empty() const { return ranges_.empty(); }
  const std::vector<Range>& ranges() const { return ranges_; }
  T max() const { return max_; }

  bool operator==(const RangeSet&) const = default;

 private:
  RangeSet(T max, std::vector<Range> ranges) : max_(max), ranges_(std::move(ranges)) {}

  T max_ = 0;
  std::vector<Range> ranges_;
};

using IpSet = RangeSet<U128>;
using PortSet = RangeSet<uint32_t>;

// Canonical text of a set: "any", or a comma list of CIDR blocks / "lo-hi" ranges (addresses)
// and "N" / "N:M" (ports). Used in the pattern set's content hash and in messages.
std::string IpSetToString(const IpSet& set);
std::string PortSetToString(const PortSet& set);

}  // namespace fs::patterns
