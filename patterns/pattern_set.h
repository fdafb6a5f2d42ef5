// A compiled, immutable pattern set: the accepted rules, one Hyperscan block-mode database over
// all their contents, and the per-rule data the scanner needs at match time (how many distinct
// expressions a rule requires, its header conditions). Built by the control plane with Compile()
// off the packet path, then shared read-only by every worker (std::shared_ptr<const PatternSet>);
// workers never copy the shared_ptr on the packet path, they hold a plain pointer to the set
// they adopted.
#pragma once

#include <hs/hs.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "patterns/expected.h"
#include "patterns/range_set.h"
#include "patterns/rule.h"

namespace fs::patterns {

struct HsDatabaseDeleter {
  void operator()(hs_database_t* db) const { hs_free_database(db); }
};
using HsDatabasePtr = std::unique_ptr<hs_database_t, HsDatabaseDeleter>;

// IP protocol numbers the header check needs.
inline constexpr uint8_t kIpProtoIcmp = 1, kIpProtoTcp = 6, kIpProtoUdp = 17, kIpProtoIcmpv6 = 58;

// What the header check sees of a packet: computed once per packet by the scanner.
struct PacketHeader {
  uint8_t ip_version = 0;  // 0: not IP
  uint8_t proto = 0;
  bool has_ports = false;  // TCP/UDP with a decoded transport header
  U128 src = 0, dst = 0;
  uint16_t sport = 0, dport = 0;
};

// A rule's header conditions, precompiled. Sets flagged *_any_ are not consulted.
struct RuleHeader {
  Protocol protocol = Protocol::kIp;
  bool bidirectional = false;
  bool src_any = true, dst_any = true, sport_any = true, dport_any = true;
  IpSet src, dst;
  PortSet sport, dport;

  bool Matches(const PacketHeader& p) const {
    if (!ProtocolMatches(p)) return false;
    if (Side(p.src, p.sport, p.dst, p.dport, p.has_ports)) return true;
    return bidirectional && Side(p.dst, p.dport, p.src, p.sport, p.has_ports);
  }

 private:
  bool ProtocolMatches(const PacketHeader& p) const {
    if (p.ip_version == 0) return false;
    switch (protocol) {
      case Protocol::kIp:
        return true;
      case Protocol::kTcp:
        return p.proto == kIpProtoTcp;
      case Protocol::kUdp:
        return p.proto == kIpProtoUdp;
      case Protocol::kIcmp:
        return p.proto == kIpProtoIcmp || p.proto == kIpProtoIcmpv6;
      case Protocol::kIcmpv4:
        return p.proto == kIpProtoIcmp;
      case Protocol::kIcmpv6:
        return p.proto == kIpProtoIcmpv6;
    }
    return false;
  }
  // Rule source side = (a, ap), destination side = (b, bp). A port condition other than "any"
  // never matches a packet without ports (ICMP, fragments, other protocols).
  bool Side(U128 a, uint16_t ap, U128 b, uint16_t bp, bool has_ports) const {
    if (!src_any && !src.Contains(a)) return false;
    if (!dst_any && !dst.Contains(b)) return false;
    if (!sport_any && (!has_ports || !sport.Contains(ap))) return false;
    if (!dport_any && (!has_ports || !dport.Contains(bp))) return false;
    return true;
  }
};

class PatternSet {
 public:
  // Which rule (and which of its contents) a Hyperscan expression belongs to. Identical
  // contents (same bytes, same case handling) share one expression across rules.
  struct Target {
    uint32_t rule_index;
    uint32_t content_index;
  };

  // Compiles the rules (normally a ParseResult's accepted rules). Rules with no content are
  // header-only rules (checked on every packet). Zero rules is a valid, empty set. Errors name
  // the rule's FILE:LINE and sid. generation is the caller's reload counter (EVE/metrics).
  static Expected<std::shared_ptr<const PatternSet>> Compile(std::vector<Rule> rules,
                                                             uint64_t generation);

  PatternSet(const PatternSet&) = delete;
  PatternSet& operator=(const PatternSet&) = delete;

  const std::vector<Rule>& rules() const { return rules_; }
  size_t size() const { return rules_.size(); }
  // nullptr when no rule has a content.
  const hs_database_t* database() const { return db_.get(); }
  uint32_t expression_count() const { return static_cast<uint32_t>(expr_begin_.size()) - 1; }
  std::span<const Target> TargetsOf(uint32_t expression_id) const {
    return {targets_.data() + expr_begin_[expression_id],
            targets_.data() + expr_begin_[expression_id + 1]};
  }
  // Number of distinct expressions rule i needs to have matched in one buffer (0: header-only).
  uint32_t required(uint32_t rule_index) const { return required_[rule_index]; }
  const RuleHeader& header(uint32_t rule_index) const { return headers_[rule_index]; }
  // Rules without content, ascending.
  const std::vector<uint32_t>& header_only_rules() const { return header_only_; }

  uint64_t generation() const { return generation_; }
  // 16 hex digits: FNV-1a 64 over the canonical rule texts and their resolved headers, so the
  // same rules with the same variables give the same hash (reload "no change" detection).
  const std::string& content_hash() const { return content_hash_; }
  size_t database_bytes() const { return database_bytes_; }

 private:
  PatternSet() = default;

  std::vector<Rule> rules_;
  HsDatabasePtr db_;
  std::vector<uint32_t> expr_begin_{0};  // expression id -> first index in targets_ (CSR)
  std::vector<Target> targets_;
  std::vector<uint32_t> required_;
  std::vector<RuleHeader> headers_;
  std::vector<uint32_t> header_only_;
  uint64_t generation_ = 0;
  std::string content_hash_;
  size_t database_bytes_ = 0;
};

// Canonical one-line form of a rule (normalised blanks, options as name:value;), the input of
// the content hash. Also useful to show a rule back to an operator.
std::string CanonicalRuleText(const Rule& rule);

}  // namespace fs::patterns
