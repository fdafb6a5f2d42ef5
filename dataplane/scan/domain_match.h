// Lookup of domain indicator lists for app-layer names (dns.query, tls.sni, http.host): which lists
// hold a name exactly, or hold a suffix entry ("*.evil.example") for the name or a parent of it.
//
// Built by the control plane from the loaded lists at start-up and on reload, then immutable and
// shared read-only by all workers. Match() is const, allocation-free and case-insensitive (ASCII);
// it costs one hash probe per label of the name.
//
// Structure: one open-addressing table keyed by a hash of the lowercased name read from its last
// character backwards. Hashing backwards makes the hash of every parent ("b.evil.example",
// "evil.example", "example") an intermediate value of the hash of the whole name, so all
// candidate entries are probed in a single right-to-left pass. Each probe is confirmed by comparing
// the stored name, so a hash collision never reports a list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "patterns/expected.h"
#include "patterns/indicators.h"

namespace fs::scan {

using patterns::ListMask;

class DomainMatcher {
 public:
  static constexpr size_t kMaxName = 253;

  // Accumulates entries for one build. Control plane only.
  class Builder {
   public:
    // list < patterns::kMaxIndicatorLists; entry.name as ParseDomainEntry makes it (lowercase,
    // no trailing dot); it is lowercased again here anyway. False (and ignored) for an empty name,
    // one longer than kMaxName (ParseDomainEntry never produces either) or list out of range.
    bool Add(const patterns::DomainEntry& entry, uint32_t list);
    DomainMatcher Build() &&;

   private:
    struct Lists {
      ListMask exact = 0;
      ListMask suffix = 0;
    };
    std::vector<std::pair<std::string, Lists>> entries_;
  };

  // Bit i of every result refers to lists[i]; lists of type ip contribute nothing. An error when
  // there are more than kMaxIndicatorLists lists.
  static patterns::Expected<DomainMatcher> Build(std::span<const patterns::IndicatorList> lists);

  DomainMatcher() = default;  // matches nothing

  // Lists matching `name` (as it appears in a packet: any case, an optional trailing dot). Any
  // thread, concurrently.
  ListMask Match(std::string_view name) const;

  ListMask lists() const { return lists_; }
  size_t entries() const { return entries_; }
  size_t memory_bytes() const;

 private:
  // One table slot: a whole entry, so that a probe costs one cache miss plus the name compare.
  struct Slot {
    uint32_t tag = 0;     // high half of the name's hash
    uint32_t offset = 0;  // of the name in names_
    uint16_t length = 0;  // 0 = empty slot (names are never empty)
    uint16_t unused = 0;
    uint32_t label = 0;  // index into labels_
  };
  struct Label {
    ListMask exact = 0;   // lists holding the name itself
    ListMask suffix = 0;  // lists holding it as a suffix entry
    bool operator==(const Label&) const = default;
  };

  static constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ull;
  static constexpr uint64_t kFnvPrime = 0x100000001b3ull;
  static char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
  static uint64_t Step(uint64_t h, char c) {
    return (h ^ static_cast<unsigned char>(Lower(c))) * kFnvPrime;
  }
  // Probes for the entry named `name` whose backward hash is h.
  const Slot* Find(uint64_t h, std::string_view name) const;

  std::vector<Slot> slots_;    // open addressing, linear probing, load factor <= 1/2
  std::vector<Label> labels_;  // few: one per distinct combination of lists
  uint64_t slot_mask_ = 0;
  std::string names_;  // all names, lowercase, back to back
  size_t entries_ = 0;
  ListMask lists_ = 0;
};

}  // namespace fs::scan
