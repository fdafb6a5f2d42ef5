#include "dataplane/scan/domain_match.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <map>

namespace fs::scan {

namespace {

// Slot index from a hash: FNV's low bits are weak, so mix before taking the top bits.
inline uint64_t SlotOf(uint64_t h, uint64_t mask) {
  return ((h ^ (h >> 31)) * 0x9e3779b97f4a7c15ull >> 20) & mask;
}

}  // namespace

bool DomainMatcher::Builder::Add(const patterns::DomainEntry& entry, uint32_t list) {
  if (entry.name.empty() || entry.name.size() > kMaxName || list >= patterns::kMaxIndicatorLists) {
    return false;
  }
  std::string name = entry.name;
  for (char& c : name) c = Lower(c);
  Lists lists;
  (entry.suffix ? lists.suffix : lists.exact) = ListMask{1} << list;
  entries_.emplace_back(std::move(name), lists);
  return true;
}

DomainMatcher DomainMatcher::Builder::Build() && {
  std::sort(entries_.begin(), entries_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  DomainMatcher m;
  size_t distinct = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    distinct += i == 0 || entries_[i].first != entries_[i - 1].first;
  }
  // Load factor at most 1/2: probes for absent parents (most of them) end at an empty slot fast.
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, distinct * 2));
  m.slots_.assign(capacity, Slot{});
  m.slot_mask_ = capacity - 1;
  std::map<std::pair<ListMask, ListMask>, uint32_t> label_ids;
  for (size_t i = 0; i < entries_.size();) {
    const std::string& name = entries_[i].first;
    Label label;
    for (; i < entries_.size() && entries_[i].first == name; ++i) {
      label.exact |= entries_[i].second.exact;
      label.suffix |= entries_[i].second.suffix;
    }
    m.lists_ |= label.exact | label.suffix;
    const auto [it, added] = label_ids.emplace(std::make_pair(label.exact, label.suffix),
                                               static_cast<uint32_t>(m.labels_.size()));
    if (added) m.labels_.push_back(label);
    const uint32_t id = it->second;
    uint64_t h = kFnvBasis;
    for (size_t k = name.size(); k-- > 0;) h = Step(h, name[k]);
    uint64_t s = SlotOf(h, m.slot_mask_);
    while (m.slots_[s].length != 0) s = (s + 1) & m.slot_mask_;
    m.slots_[s] = Slot{static_cast<uint32_t>(h >> 32), static_cast<uint32_t>(m.names_.size()),
                       static_cast<uint16_t>(name.size()), 0, id};
    m.names_ += name;
    ++m.entries_;
  }
  entries_.clear();
  entries_.shrink_to_fit();
  m.names_.shrink_to_fit();
  return m;
}

patterns::Expected<DomainMatcher> DomainMatcher::Build(
    std::span<const patterns::IndicatorList> lists) {
  if (lists.size() > patterns::kMaxIndicatorLists) {
    return patterns::Error{fmt::format("indicators: at most {} lists, got {}",
                                       patterns::kMaxIndicatorLists, lists.size())};
  }
  Builder b;
  for (size_t i = 0; i < lists.size(); ++i) {
    if (lists[i].config.type != patterns::IndicatorType::kDomain) continue;
    for (const patterns::DomainEntry& d : lists[i].domains) b.Add(d, static_cast<uint32_t>(i));
  }
  return std::move(b).Build();
}

const DomainMatcher::Slot* DomainMatcher::Find(uint64_t h, std::string_view name) const {
  const auto tag = static_cast<uint32_t>(h >> 32);
  for (uint64_t s = SlotOf(h, slot_mask_);; s = (s + 1) & slot_mask_) {
    const Slot& slot = slots_[s];
    if (slot.length == 0) return nullptr;
    if (slot.tag != tag || slot.length != name.size()) continue;
    const char* stored = names_.data() + slot.offset;
    size_t k = 0;
    while (k < name.size() && stored[k] == Lower(name[k])) ++k;
    if (k == name.size()) return &slot;
  }
}

ListMask DomainMatcher::Match(std::string_view name) const {
  if (entries_ == 0) return 0;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  ListMask out = 0;
  uint64_t h = kFnvBasis;
  for (size_t i = name.size(); i-- > 0;) {
    h = Step(h, name[i]);
    if (i != 0 && name[i - 1] != '.') continue;
    // name[i..] is the whole name or a parent of it.
    if (const Slot* slot = Find(h, name.substr(i))) {
      const Label& label = labels_[slot->label];
      out |= label.suffix;
      if (i == 0) out |= label.exact;
    }
  }
  return out;
}

size_t DomainMatcher::memory_bytes() const {
  return sizeof(DomainMatcher) + slots_.capacity() * sizeof(Slot) +
         labels_.capacity() * sizeof(Label) + names_.capacity();
}

}  // namespace fs::scan
