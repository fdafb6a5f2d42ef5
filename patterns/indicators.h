// Indicator lists: plain files of IP addresses/CIDR blocks (IPv4 and IPv6) or of domain names,
// one entry per line, each list referenced from the config with its own msg, sid and severity.
// This file is the control-plane half: the config entries (and their YAML loader) and the list
// file parser. The per-packet structures built from the loaded lists live in
// dataplane/scan/ip_match.h and dataplane/scan/domain_match.h.
//
// Typical use (control plane, at start-up and on reload; never on a worker):
//   auto configs = ParseIndicatorsConfig(yaml["indicators"], config_dir);   // Expected<...>
//   for (const IndicatorListConfig& c : *configs) {
//     auto list = LoadIndicatorList(c);          // error: file missing/unreadable
//     for (const Diagnostic& d : list->errors) log(d.ToString());  // bad lines, skipped
//     lists.push_back(std::move(*list));
//   }
//   auto ips = scan::IpMatcher::Build(lists);     // bit i of a match = lists[i]
//
// Nothing here throws: yaml-cpp exceptions are caught at the boundary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/common/ip_addr.h"
#include "patterns/expected.h"
#include "patterns/rule.h"

namespace YAML {
class Node;
}

namespace fs::patterns {

// A match is reported as a 64-bit mask (bit i = list i), so the dataplane never allocates to say
// which lists matched. The config loader refuses more lists than this.
inline constexpr size_t kMaxIndicatorLists = 64;
using ListMask = uint64_t;

// Bounds memory when a list is garbage (a binary file, a URL list given as ip): every bad line is
// still counted, only the first kMaxStoredDiagnostics of each kind are kept per file.
inline constexpr size_t kMaxStoredDiagnostics = 100;

enum class IndicatorType : uint8_t { kIp, kDomain };
const char* IndicatorTypeName(IndicatorType t);  // "ip", "domain"

// One entry of the `indicators:` config sequence. Plain value type.
struct IndicatorListConfig {
  std::string name;  // unique; [A-Za-z0-9._-]+; appears in logs and alert metadata
  IndicatorType type = IndicatorType::kIp;
  std::string file;  // as configured, made absolute against base_dir if relative
  std::string msg;   // alert signature text
  uint32_t sid = 0;  // required, >= 1; (gid, sid) unique among the lists
  uint32_t gid = 1;
  uint32_t severity = 0;  // required, 1 (highest) .. 4
  // action: block (docs/enforcement.md): a match also asks the block manager to block the listed
  // side(s), for block_ttl seconds (0 = enforcement.default-ttl). Alerts either way.
  bool block = false;
  uint32_t block_ttl = 0;

  bool operator==(const IndicatorListConfig&) const = default;
};

// Reads the value of the `indicators:` key: a sequence of mappings (see docs/indicators.md). A null
// or absent node is an empty list. Unknown keys, missing keys, wrong types, out-of-range values,
// duplicate names, duplicate (gid, sid) and more than kMaxIndicatorLists lists are errors naming
// the key: "indicators[1].sid: missing" (indices count from 0). `key` is the prefix used in those
// messages. A relative `file` is resolved against `base_dir` (normally the config file's folder;
// "" keeps it as written).
Expected<std::vector<IndicatorListConfig>> ParseIndicatorsConfig(
    const YAML::Node& node, std::string_view base_dir = "", std::string_view key = "indicators");

// An address block in the dataplane's 128-bit address space (fs::IpAddr): IPv4 a.b.c.d/n is
// ::ffff:a.b.c.d/(96+n). Host bits are always zero.
// a with every bit past the first len (of 128, IPv4 mapped) cleared.
IpAddr MaskedAddr(const IpAddr& a, unsigned len);

struct IpPrefix {
  IpAddr addr;
  uint8_t len = 0;  // 0..128

  bool Contains(const IpAddr& a) const;
  bool IsV4() const { return len >= 96 && addr.IsV4(); }
  // "10.0.0.0/8", "2001:db8::/32"; a single address is printed without "/32" or "/128".
  std::string ToString() const;

  auto operator<=>(const IpPrefix&) const = default;
  bool operator==(const IpPrefix&) const = default;
};

// A domain entry: the name lowercased, without a trailing dot and without the "*." / "." that
// marked a suffix entry. A suffix entry matches the name itself and every name under it
// ("*.evil.example" matches "evil.example" and "a.b.evil.example", never "notevil.example").
struct DomainEntry {
  std::string name;
  bool suffix = false;

  // "evil.example" or "*.evil.example".
  std::string ToString() const { return suffix ? "*." + name : name; }

  auto operator<=>(const DomainEntry&) const = default;
  bool operator==(const DomainEntry&) const = default;
};

struct IndicatorListStats {
  size_t lines = 0;       // lines read, blank and comment lines included
  size_t entries = 0;     // unique entries kept
  size_t duplicates = 0;  // entries dropped because the same entry came earlier in the file
  size_t host_bits = 0;   // CIDR blocks with host bits set, accepted masked (a warning each)
  size_t bad_lines = 0;   // lines rejected (an error each)
};

// A loaded list. Entries are sorted and unique. Plain value type, immutable once loaded.
struct IndicatorList {
  IndicatorListConfig config;
  std::vector<IpPrefix> prefixes;    // type ip
  std::vector<DomainEntry> domains;  // type domain
  // "FILE:LINE: reason". Errors are lines that were skipped; warnings were accepted as noted.
  // At most kMaxStoredDiagnostics of each (stats has the full counts).
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
  IndicatorListStats stats;

  // The longest entry containing `a` (IP lists): what an alert names as the matching entry. A
  // binary search per prefix length: for alert formatting, not for the packet path.
  std::optional<IpPrefix> LongestMatch(const IpAddr& a) const;
  // Type domain: the entry that matches `name` (any case, one optional trailing dot): the exact
  // entry if there is one, else the longest suffix entry. complete = false: name is only the end
  // of a longer name, cut anywhere: its first (partial) label is skipped and only suffix entries
  // are tried. For alert formatting, in the control plane (the workers use scan::DomainMatcher).
  std::optional<DomainEntry> MatchingDomain(std::string_view name, bool complete = true) const;
};

// Parses list text as read from `file_name` (used in the diagnostics). Never fails: bad lines are
// reported in errors and skipped. config.file is not read.
IndicatorList ParseIndicatorList(std::string_view text, std::string_view file_name,
                                 const IndicatorListConfig& config);

// Reads config.file and parses it. A missing or unreadable file is an error naming the list and
// the file; bad lines are not (they are in the result's errors).
Expected<IndicatorList> LoadIndicatorList(const IndicatorListConfig& config);

// One line of an IP list, comment already removed and trimmed. Exposed for tests and for
// `flowsentryctl`-style checks. On success *out is masked and *host_bits tells whether masking
// changed it; on failure *reason says why.
bool ParseIpEntry(std::string_view text, IpPrefix* out, bool* host_bits, std::string* reason);
// An address or CIDR block an operator wrote (allowlist, flowsentryctl blocks add): like
// ParseIpEntry, but host bits set are an error, since the operator may have meant either.
bool ParseExactPrefix(std::string_view text, IpPrefix* out, std::string* reason);
// One line of a domain list, comment already removed and trimmed.
bool ParseDomainEntry(std::string_view text, DomainEntry* out, std::string* reason);

}  // namespace fs::patterns
