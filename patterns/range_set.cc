#include "patterns/range_set.h"

#include <fmt/format.h>

namespace fs::patterns {

std::string IpSetToString(const IpSet& set) {
  if (set.IsAll()) return "any";
  std::string out;
  for (const IpSet::Range& r : set.ranges()) {
    if (!out.empty()) out += ',';
    out += FromU128(r.lo).ToString();
    if (r.hi != r.lo) {
      out += '-';
      out += FromU128(r.hi).ToString();
    }
  }
  return out;
}

std::string PortSetToString(const PortSet& set) {
  if (set.IsAll()) return "any";
  std::string out;
  for (const PortSet::Range& r : set.ranges()) {
    if (!out.empty()) out += ',';
    out += r.lo == r.hi ? fmt::format("{}", r.lo) : fmt::format("{}:{}", r.lo, r.hi);
  }
  return out;
}

}  // namespace fs::patterns
