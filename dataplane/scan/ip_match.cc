#include "dataplane/scan/ip_match.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

namespace fs::scan {

namespace {

using U128 = IpMatcher::U128;

constexpr U128 kV4MappedStart = U128{0xffff} << 32;  // ::ffff:0.0.0.0

// The stack sweep. `entries` are (start, len) prefixes of a W-bit space with the lists that name
// them; the result is the partition of [0, 2^W) into ranges, as (start, lists covering it) with
// consecutive ranges labelled differently. Prefixes are laminar (two are nested or disjoint), so
// after sorting by start and then by length the open prefixes form a stack of nested blocks.
template <class T, unsigned W>
std::vector<std::pair<T, ListMask>> Sweep(
    std::vector<std::pair<std::pair<T, uint8_t>, ListMask>>* entries) {
  std::sort(entries->begin(), entries->end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const T max = W == 128 ? ~T{0} : (T{1} << W) - 1;
  std::vector<std::pair<T, ListMask>> out;
  out.reserve(entries->size() * 2 + 1);
  out.emplace_back(T{0}, ListMask{0});
  auto emit = [&](T at, ListMask lists) {
    if (out.back().first == at) {
      out.back().second = lists;
      if (out.size() >= 2 && out[out.size() - 2].second == lists) out.pop_back();
    } else if (out.back().second != lists) {
      out.emplace_back(at, lists);
    }
  };
  struct Open {
    T end;
    ListMask lists;
  };
  std::vector<Open> stack;
  for (size_t i = 0; i < entries->size();) {
    const T start = (*entries)[i].first.first;
    const uint8_t len = (*entries)[i].first.second;
    ListMask own = 0;
    for (; i < entries->size() && (*entries)[i].first == std::make_pair(start, len); ++i) {
      own |= (*entries)[i].second;
    }
    const T end = len == 0 ? max : start | ((T{1} << (W - len)) - 1);
    while (!stack.empty() && stack.back().end < start) {
      const T closed = stack.back().end;
      stack.pop_back();
      emit(closed + 1, stack.empty() ? 0 : stack.back().lists);
    }
    const ListMask lists = (stack.empty() ? 0 : stack.back().lists) | own;
    emit(start, lists);
    stack.push_back(Open{end, lists});
  }
  while (!stack.empty()) {
    const T closed = stack.back().end;
    stack.pop_back();
    if (closed != max) emit(closed + 1, stack.empty() ? 0 : stack.back().lists);
  }
  return out;
}

size_t DistinctPrefixes(const std::vector<std::pair<std::pair<uint64_t, uint8_t>, ListMask>>& v4,
                        const std::vector<std::pair<std::pair<U128, uint8_t>, ListMask>>& v6,
                        size_t* v6_count) {
  auto count = [](const auto& sorted) {
    size_t n = 0;
    for (size_t i = 0; i < sorted.size(); ++i) {
      if (i == 0 || sorted[i].first != sorted[i - 1].first) ++n;
    }
    return n;
  };
  *v6_count = count(v6);
  return count(v4);
}

}  // namespace

bool IpMatcher::Builder::Add(const patterns::IpPrefix& prefix, uint32_t list) {
  if (list >= patterns::kMaxIndicatorLists || prefix.len > 128) return false;
  // Host bits are cleared here too: the sweep relies on start being the block's first address.
  const U128 host = prefix.len == 0 ? ~U128{0} : (U128{1} << (128 - prefix.len)) - 1;
  entries_.push_back(Entry{ToU128(prefix.addr) & ~host, prefix.len, ListMask{1} << list});
  return true;
}

IpMatcher IpMatcher::Builder::Build() && {
  std::vector<std::pair<std::pair<uint64_t, uint8_t>, ListMask>> v4;
  std::vector<std::pair<std::pair<U128, uint8_t>, ListMask>> v6;
  IpMatcher m;
  for (const Entry& e : entries_) {
    m.lists_ |= e.lists;
    const bool in_mapped = e.len >= 96 && (e.start >> 32) == (kV4MappedStart >> 32);
    if (in_mapped) {
      v4.push_back({{static_cast<uint64_t>(e.start & 0xffffffffu), uint8_t(e.len - 96)}, e.lists});
      continue;
    }
    v6.push_back({{e.start, e.len}, e.lists});
    // A block shorter than /96 that covers ::ffff:0:0/96 covers every IPv4 address (one address
    // space, as in rule headers): the IPv4 table must say so too.
    const U128 host = e.len == 0 ? ~U128{0} : (U128{1} << (128 - e.len)) - 1;
    if (e.len < 96 && (kV4MappedStart & ~host) == e.start) {
      v4.push_back({{uint64_t{0}, uint8_t{0}}, e.lists});
    }
  }
  entries_.clear();
  entries_.shrink_to_fit();

  const auto v4_ranges = Sweep<uint64_t, 32>(&v4);
  const auto v6_ranges = Sweep<U128, 128>(&v6);
  m.stats_.v4_entries = DistinctPrefixes(v4, v6, &m.stats_.v6_entries);
  v4.clear();
  v4.shrink_to_fit();
  v6.clear();
  v6.shrink_to_fit();

  // Label sets are few (combinations of lists that overlap), so ranges store a 4-byte id and the
  // id -> mask table stays in L1.
  std::unordered_map<ListMask, uint32_t> ids;
  m.labels_.clear();
  auto id_of = [&](ListMask lists) {
    auto [it, added] = ids.emplace(lists, static_cast<uint32_t>(m.labels_.size()));
    if (added) m.labels_.push_back(lists);
    return it->second;
  };
  id_of(0);

  // Cuts the sorted ranges of a W-bit space into 2^16 buckets on the top bits. Keys keep the
  // low W-16 bits. A bucket with more than `index_above` starts gets a second-level index sized
  // for about `per_sub` starts per sub-bucket (one cache line of keys).
  auto fill = [&](const auto& ranges, unsigned width, size_t index_above, size_t per_sub,
                  std::vector<Bucket>* buckets, auto* keys, std::vector<uint32_t>* labels) {
    using T = typename std::decay_t<decltype(ranges)>::value_type::first_type;
    using K = typename std::decay_t<decltype(*keys)>::value_type;
    const unsigned low_bits = width - kBucketBits;
    const T low_mask = (T{1} << low_bits) - 1;
    buckets->assign(size_t{1} << kBucketBits, Bucket{});
    size_t j = 0;  // the range holding the bucket's first address
    for (size_t b = 0; b < buckets->size(); ++b) {
      const T first = T(b) << low_bits;
      const bool last_bucket = b + 1 == buckets->size();
      const T next = last_bucket ? T{0} : T(b + 1) << low_bits;
      while (j + 1 < ranges.size() && ranges[j + 1].first <= first) ++j;
      size_t k = j + 1;
      while (k < ranges.size() && (last_bucket || ranges[k].first < next)) ++k;
      if (k == j + 1) {
        (*buckets)[b] = Bucket{id_of(ranges[j].second), 0};
        continue;
      }
      const size_t n = k - j;
      const auto at = static_cast<uint32_t>(keys->size());
      keys->push_back(K{0});
      labels->push_back(id_of(ranges[j].second));
      for (size_t r = j + 1; r < k; ++r) {
        keys->push_back(static_cast<K>(ranges[r].first & low_mask));
        labels->push_back(id_of(ranges[r].second));
      }
      j = k - 1;
      (*buckets)[b] = Bucket{at, static_cast<uint32_t>(n)};
      if (n <= index_above || m.index_.size() + (size_t{1} << 17) > kPosMask) continue;
      unsigned sub_bits = 1;
      while (sub_bits < 16 && (n >> sub_bits) > per_sub) ++sub_bits;
      const unsigned shift = low_bits - sub_bits;
      const auto pos = static_cast<uint32_t>(m.index_.size());
      const K* bk = keys->data() + at;
      uint32_t last = 0;  // last start <= the sub-bucket's first address
      for (size_t sub = 0; sub < (size_t{1} << sub_bits); ++sub) {
        const K sub_first = static_cast<K>(static_cast<K>(sub) << shift);
        while (last + 1 < n && bk[last + 1] <= sub_first) ++last;
        m.index_.push_back(last);
      }
      m.index_.push_back(static_cast<uint32_t>(n - 1));
      (*buckets)[b] = Bucket{at, kIndexed | (sub_bits << kSubBitsPos) | pos};
      ++m.stats_.indexed_buckets;
    }
    keys->shrink_to_fit();
    labels->shrink_to_fit();
  };
  fill(v4_ranges, 32, 64, 16, &m.v4_buckets_, &m.v4_keys_, &m.v4_labels_);
  fill(v6_ranges, 128, 8, 4, &m.v6_buckets_, &m.v6_keys_, &m.v6_labels_);
  m.index_.shrink_to_fit();
  m.labels_.shrink_to_fit();

  m.stats_.v4_ranges = m.v4_keys_.size();
  m.stats_.v6_ranges = m.v6_keys_.size();
  m.stats_.label_sets = m.labels_.size();
  m.stats_.memory_bytes =
      sizeof(IpMatcher) + m.labels_.capacity() * sizeof(ListMask) +
      (m.v4_buckets_.capacity() + m.v6_buckets_.capacity()) * sizeof(Bucket) +
      m.v4_keys_.capacity() * sizeof(uint16_t) + m.v6_keys_.capacity() * sizeof(U128) +
      (m.v4_labels_.capacity() + m.v6_labels_.capacity() + m.index_.capacity()) * sizeof(uint32_t);
  return m;
}

IpMatcher::IpMatcher() {
  labels_.assign(1, 0);
  v4_buckets_.assign(size_t{1} << kBucketBits, Bucket{});
  v6_buckets_.assign(size_t{1} << kBucketBits, Bucket{});
}

patterns::Expected<IpMatcher> IpMatcher::Build(std::span<const patterns::IndicatorList> lists) {
  if (lists.size() > patterns::kMaxIndicatorLists) {
    return patterns::Error{fmt::format("indicators: at most {} lists, got {}",
                                       patterns::kMaxIndicatorLists, lists.size())};
  }
  Builder b;
  for (size_t i = 0; i < lists.size(); ++i) {
    if (lists[i].config.type != patterns::IndicatorType::kIp) continue;
    for (const patterns::IpPrefix& p : lists[i].prefixes) b.Add(p, static_cast<uint32_t>(i));
  }
  return std::move(b).Build();
}

void IpMatcher::LookupBulk(const IpAddr* addrs, size_t n, ListMask* out) const {
  // Software pipelining: start loading the bucket of the address kAhead places on while searching
  // this one. The searches themselves overlap in the out-of-order core.
  constexpr size_t kAhead = 4;
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) {
      const IpAddr& a = addrs[i + kAhead];
      __builtin_prefetch(a.IsV4() ? &v4_buckets_[(uint32_t{a.bytes[12]} << 8) | a.bytes[13]]
                                  : &v6_buckets_[(uint32_t{a.bytes[0]} << 8) | a.bytes[1]]);
    }
    out[i] = Lookup(addrs[i]);
  }
}

}  // namespace fs::scan
