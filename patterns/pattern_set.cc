#include "patterns/pattern_set.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <iterator>
#include <map>
#include <numeric>
#include <thread>
#include <utility>

#include "patterns/hs_memory.h"

namespace fs::patterns {
namespace {

std::string SerializeExpr(const ExprNode& n) {
  std::string out = n.negated ? "!" : "";
  switch (n.kind) {
    case ExprNode::Kind::kAny:
      out += "any";
      break;
    case ExprNode::Kind::kValue:
      out += n.text;
      break;
    case ExprNode::Kind::kVariable:
      out += "$" + n.text;
      break;
    case ExprNode::Kind::kGroup:
      out += '[';
      for (size_t i = 0; i < n.children.size(); ++i) {
        if (i != 0) out += ',';
        out += SerializeExpr(n.children[i]);
      }
      out += ']';
      break;
  }
  return out;
}

// Suricata's "contains negation" of an address field (variables expanded): such a rule is never
// IP-only (SIG_TYPE_LIKE_IPONLY: evaluated per packet).
bool HasNegation(const ExprNode& n) {
  if (n.negated) return true;
  return std::any_of(n.children.begin(), n.children.end(), HasNegation);
}

class Fnv1a64 {
 public:
  void Add(std::string_view s) {
    for (unsigned char c : s) {
      h_ ^= c;
      h_ *= 0x100000001b3ull;
    }
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

RuleHeader MakeHeader(const Rule& r) {
  RuleHeader h;
  h.protocol = r.protocol;
  h.bidirectional = r.direction == Direction::kBoth;
  h.src_any = r.src_addr.set.IsAll();
  h.dst_any = r.dst_addr.set.IsAll();
  h.sport_any = r.src_port.set.IsAll();
  h.dport_any = r.dst_port.set.IsAll();
  h.src = r.src_addr.set;
  h.dst = r.dst_addr.set;
  h.sport = r.src_port.set;
  h.dport = r.dst_port.set;
  return h;
}

// A confirm plan whose requirements are the plain literals of its positive contents: the
// fallback when one of the rule's Hyperscan expressions does not compile.
PayloadPlan LiteralOnlyPlan(const Rule& rule, int dsize_ne_edge) {
  PayloadPlan plan = BuildSteps(rule, dsize_ne_edge);
  plan.confirm_reason = "Hyperscan could not compile its expression";
  for (const Content& c : rule.contents) {
    if (c.negated) continue;
    ExprSpec e;
    for (unsigned char b : c.bytes) {
      if (c.nocase && b >= 'A' && b <= 'Z') b = static_cast<unsigned char>(b - 'A' + 'a');
      e.regex += fmt::format("\\x{:02x}", b);
    }
    e.flags = HS_FLAG_SINGLEMATCH;
    if (c.nocase) e.flags |= HS_FLAG_CASELESS;
    const std::string key = e.Key();
    if (std::none_of(plan.require.begin(), plan.require.end(),
                     [&](const ExprSpec& x) { return x.Key() == key; })) {
      plan.require.push_back(std::move(e));
    }
  }
  return plan;
}

// Suricata's plan for a rule with several contents or pcres: one literal, the fast pattern (the
// content marked fast_pattern, else the longest positive one, as Suricata picks it), pre-filters
// in Hyperscan and the confirmation program (Suricata's content inspection) decides. Hyperscan
// could decide most such rules alone, as chains and logical combinations, but a database of
// thousands of chains costs far more per scan than one of literals (accepted ET Open: see
// docs/PERFORMANCE.md), while the fast patterns of benign traffic rarely match, so
// confirmations are rare. Returns false (plan untouched) for a rule without a positive content.
bool FastPatternPlan(const Rule& rule, int dsize_ne_edge, PayloadPlan* out) {
  const Content* fp = nullptr;
  for (const Content& c : rule.contents) {
    if (c.negated || c.bytes.empty()) continue;
    if (c.fast_pattern) {
      fp = &c;
      break;
    }
    if (fp == nullptr || c.bytes.size() > fp->bytes.size()) fp = &c;
  }
  if (fp == nullptr) return false;
  PayloadPlan plan = BuildSteps(rule, dsize_ne_edge);
  plan.confirm_reason = "fast pattern, then content inspection";
  ExprSpec e;
  for (unsigned char b : fp->bytes) {
    if (fp->nocase && b >= 'A' && b <= 'Z') b = static_cast<unsigned char>(b - 'A' + 'a');
    e.regex += fmt::format("\\x{:02x}", b);
  }
  e.flags = HS_FLAG_SINGLEMATCH;
  if (fp->nocase) e.flags |= HS_FLAG_CASELESS;
  plan.require.push_back(std::move(e));
  plan.pcre_software = static_cast<uint32_t>(rule.pcres.size());
  *out = std::move(plan);
  return true;
}

// One direction's database under construction.
struct DbBuild {
  PatternSet::Database db;
  std::vector<std::vector<uint32_t>> rules_of;  // expression id -> rules that use it
  int failed_expression = -1;                   // on compile failure, when Hyperscan names one
  std::string error;
};

// stream: the stream-mode database of the direction, over the rules stream_rules admits (exact
// rules with requirements and no vetoes); without HS_FLAG_SINGLEMATCH, which would inflate every
// flow's stream state (the scanner de-duplicates reports instead).
// only: when given, the rules it does not admit are left out (the stream databases' eligible
// rules; a port group's members; the shared packet database without the grouped rules).
// compile: false leaves the Hyperscan database out (the lists and expression ids are built).
DbBuild BuildDatabase(const std::vector<RulePlan>& plans, const std::vector<PayloadPlan>& payload,
                      int dir, bool stream = false, const std::vector<bool>* only = nullptr,
                      bool compile = true) {
  DbBuild out;
  std::map<std::string, uint32_t> ids;
  std::vector<ExprSpec> specs;
  std::vector<std::vector<PatternSet::Target>> targets;
  std::vector<bool> reported;
  auto intern = [&](const ExprSpec& e, uint32_t rule) {
    auto [it, inserted] = ids.try_emplace(e.Key(), static_cast<uint32_t>(specs.size()));
    if (inserted) {
      specs.push_back(e);
      targets.emplace_back();
      reported.push_back(false);
      out.rules_of.emplace_back();
    }
    std::vector<uint32_t>& users = out.rules_of[it->second];
    if (users.empty() || users.back() != rule) users.push_back(rule);
    return it->second;
  };
  for (uint32_t r = 0; r < plans.size(); ++r) {
    const RulePlan& plan = plans[r];
    if (!plan.dirs[dir] || plan.mode == PayloadMode::kNever) continue;
    if (only != nullptr && !(*only)[r]) continue;
    if (plan.mode == PayloadMode::kNone) {
      (plan.ip_only ? out.db.ip_only : out.db.always).push_back(r);
      continue;
    }
    const PayloadPlan& pp = payload[r];
    if (pp.require.empty()) {
      out.db.always.push_back(r);
    } else {
      // The rule's distinct expressions (a requirement may repeat another).
      std::vector<uint32_t> mine;
      for (const ExprSpec& e : pp.require) {
        const uint32_t id = intern(e, r);
        if (std::find(mine.begin(), mine.end(), id) == mine.end()) mine.push_back(id);
      }
      const auto need = static_cast<uint16_t>(mine.size());
      if (!stream || need == 1) {
        // Every requirement is reported; the scanner counts the rule's distinct expressions that
        // matched and the rule is satisfied when it has them all (`need`). Block mode (or one
        // expression): each expression is single-match there, so a scan reports it at most
        // once. (A Hyperscan logical combination would decide the same, but Hyperscan evaluates
        // every combination at the end of every scan: with the ~1,700 of the accepted ET Open
        // rules that cost 8 us a packet, whatever the packet.)
        for (uint32_t id : mine) {
          targets[id].push_back(PatternSet::Target{r, false, 0, need});
          reported[id] = true;
        }
      } else {
        // Stream mode: the rule's expressions may match in different segments, so the state of
        // "which have matched" must live with the flow. Hyperscan keeps it for a logical
        // combination, but raises a combination in stream mode lazily: at its next report in
        // the stream (any expression's), or when the stream closes (Hyperscan 5.4;
        // docs/streams.md). So each sub-expression is reported too, with its
        // index among the rule's, and the scanner notes per flow which have matched and raises
        // the rule at the segment that completes it (Scanner::OnHsStreamMatch); the combination
        // stays as the fallback for a rule with more than 32 expressions or a flow whose few
        // slots for partly matched rules were full.
        std::string expr;
        for (size_t i = 0; i < mine.size(); ++i) {
          if (!expr.empty()) expr += " & ";
          expr += std::to_string(mine[i]);
          if (need <= 32) {
            targets[mine[i]].push_back(PatternSet::Target{r, false, static_cast<uint8_t>(i), need});
            reported[mine[i]] = true;
          }
        }
        ExprSpec comb;
        comb.regex = std::move(expr);
        comb.flags = HS_FLAG_COMBINATION;
        const uint32_t id = intern(comb, r);
        targets[id].push_back(PatternSet::Target{r, false, 0, 1});
        reported[id] = true;
      }
    }
    if (plan.mode == PayloadMode::kExact) {
      for (const ExprSpec& e : pp.veto) {
        const uint32_t id = intern(e, r);
        targets[id].push_back(PatternSet::Target{r, true, 0, 0});
        reported[id] = true;
      }
    }
  }
  for (const std::vector<PatternSet::Target>& t : targets) {
    out.db.targets.insert(out.db.targets.end(), t.begin(), t.end());
    out.db.expr_begin.push_back(static_cast<uint32_t>(out.db.targets.size()));
  }
  out.db.expressions = static_cast<uint32_t>(specs.size());
  if (specs.empty() || !compile) return out;

  std::vector<const char*> exprs;
  std::vector<unsigned> flags, hs_ids;
  std::vector<hs_expr_ext_t> ext(specs.size());
  std::vector<const hs_expr_ext_t*> ext_ptrs;
  for (size_t i = 0; i < specs.size(); ++i) {
    const ExprSpec& e = specs[i];
    exprs.push_back(e.regex.c_str());
    // Sub-expressions only combinations use are not reported themselves. Block mode only needs
    // to know whether an expression matched: once is enough (and the scanner's counting of a
    // rule's expressions relies on it).
    unsigned f = e.flags | (reported[i] ? 0u : static_cast<unsigned>(HS_FLAG_QUIET));
    if (stream) {
      f &= ~static_cast<unsigned>(HS_FLAG_SINGLEMATCH);
    } else if ((f & HS_FLAG_COMBINATION) == 0) {
      f |= HS_FLAG_SINGLEMATCH;
    }
    flags.push_back(f);
    hs_ids.push_back(static_cast<unsigned>(i));
    ext[i] = e.Ext();
    ext_ptrs.push_back(ext[i].flags != 0 ? &ext[i] : nullptr);
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  const hs_error_t rc =
      hs_compile_ext_multi(exprs.data(), flags.data(), hs_ids.data(), ext_ptrs.data(),
                           static_cast<unsigned>(exprs.size()),
                           stream ? HS_MODE_STREAM : HS_MODE_BLOCK, nullptr, &db, &err);
  if (rc != HS_SUCCESS) {
    out.error =
        err != nullptr && err->message != nullptr ? err->message : fmt::format("error {}", rc);
    if (err != nullptr && err->expression >= 0 &&
        static_cast<size_t>(err->expression) < specs.size()) {
      out.failed_expression = err->expression;
    }
    hs_free_compile_error(err);
    return out;
  }
  out.db.db.reset(db);
  hs_database_size(db, &out.db.bytes);
  if (stream) hs_stream_size(db, &out.db.stream_state_bytes);
  return out;
}

// Port groups of one direction's packet database (PatternSet::Database::groups). A rule is
// grouped when it is not IP-only and its header confines the packet's server-side
// port (to-server: destination port, to-client: source port; both sides for a bidirectional
// rule) to at most kMaxGroupPorts ports of TCP/UDP. Ports whose grouped rules are the same
// share a group. Beyond kMaxPortGroups groups, the ports with the fewest rules share one group
// (the union of their rules: a superset, the header check decides).
constexpr uint64_t kMaxGroupPorts = 64;
constexpr size_t kMaxPortGroups = 48;

struct PortGrouping {
  std::vector<bool> ungrouped;             // rule -> stays in the shared database
  std::vector<std::vector<bool>> members;  // group -> its rules
  std::vector<uint16_t> group_of;          // PortKey -> group + 1 (0: none)
  size_t grouped_rules = 0;
};

uint64_t PortCount(const PortSet& s) {
  uint64_t n = 0;
  for (const PortSet::Range& r : s.ranges()) n += static_cast<uint64_t>(r.hi) - r.lo + 1;
  return n;
}

// eligible: when given, only those rules are considered (the stream databases' rules).
PortGrouping PlanPortGroups(const std::vector<RulePlan>& plans,
                            const std::vector<RuleHeader>& headers, int dir,
                            const std::vector<bool>* eligible = nullptr) {
  using Db = PatternSet::Database;
  PortGrouping g;
  g.ungrouped.assign(plans.size(), true);
  std::vector<std::vector<uint32_t>> rules_of(Db::kPortKeys);  // key -> grouped rules, ascending
  for (uint32_t r = 0; r < plans.size(); ++r) {
    if (eligible != nullptr && !(*eligible)[r]) continue;
    const RulePlan& plan = plans[r];
    // Every rule a packet of this direction evaluates, except the IP-only ones (they have no
    // port conditions and their own index): those with expressions, and those on the `always`
    // list (header-only, veto-only), which a packet then checks only when its port's group has
    // them.
    if (!plan.dirs[dir] || plan.mode == PayloadMode::kNever) continue;
    if (plan.mode == PayloadMode::kNone && plan.ip_only) continue;
    const RuleHeader& h = headers[r];
    if (h.protocol != Protocol::kTcp && h.protocol != Protocol::kUdp &&
        h.protocol != Protocol::kIp) {
      continue;
    }
    // Server side of the packet: the rule's destination port to-server, source to-client.
    const bool key_any = dir == 0 ? h.dport_any : h.sport_any;
    const bool other_any = dir == 0 ? h.sport_any : h.dport_any;
    if (key_any || (h.bidirectional && other_any)) continue;
    const PortSet& key = dir == 0 ? h.dport : h.sport;
    const PortSet& other = dir == 0 ? h.sport : h.dport;
    const uint64_t n = PortCount(key) + (h.bidirectional ? PortCount(other) : 0);
    if (n == 0 || n > kMaxGroupPorts) continue;
    g.ungrouped[r] = false;
    ++g.grouped_rules;
    for (int side = 0; side < (h.bidirectional ? 2 : 1); ++side) {
      for (const PortSet::Range& range : (side == 0 ? key : other).ranges()) {
        for (uint32_t port = range.lo; port <= range.hi; ++port) {
          for (uint8_t proto : {kIpProtoTcp, kIpProtoUdp}) {
            if (h.protocol != Protocol::kIp &&
                proto != (h.protocol == Protocol::kTcp ? kIpProtoTcp : kIpProtoUdp)) {
              continue;
            }
            std::vector<uint32_t>& list = rules_of[Db::PortKey(proto, static_cast<uint16_t>(port))];
            if (list.empty() || list.back() != r) list.push_back(r);
          }
        }
      }
    }
  }
  if (g.grouped_rules == 0) return g;
  // Distinct rule lists, biggest first; the tail beyond kMaxPortGroups - 1 shares the last group.
  std::map<std::vector<uint32_t>, std::vector<uint32_t>> keys_of;  // rules -> keys
  for (uint32_t k = 0; k < Db::kPortKeys; ++k) {
    if (!rules_of[k].empty()) keys_of[rules_of[k]].push_back(k);
  }
  std::vector<const std::pair<const std::vector<uint32_t>, std::vector<uint32_t>>*> lists;
  for (const auto& e : keys_of) lists.push_back(&e);
  std::stable_sort(lists.begin(), lists.end(), [](const auto* a, const auto* b) {
    return a->first.size() > b->first.size();
  });
  g.group_of.assign(Db::kPortKeys, 0);
  for (size_t i = 0; i < lists.size(); ++i) {
    const size_t group = std::min(i, kMaxPortGroups - 1);
    if (group == g.members.size()) g.members.emplace_back(plans.size(), false);
    for (uint32_t r : lists[i]->first) g.members[group][r] = true;
    for (uint32_t k : lists[i]->second) g.group_of[k] = static_cast<uint16_t>(group + 1);
  }
  return g;
}

// One direction's packet database with its port groups.
struct DirBuild {
  DbBuild base;
  std::vector<bool> base_rules;  // the rules offered to the base database (no group took them)
  std::vector<DbBuild> groups;
  std::vector<uint16_t> group_of;
  size_t grouped_rules = 0;

  // A build that failed (its error and culprits), or nullptr.
  DbBuild* Failed() {
    if (!base.error.empty()) return &base;
    for (DbBuild& g : groups) {
      if (!g.error.empty()) return &g;
    }
    return nullptr;
  }
  PatternSet::Database Take() {
    PatternSet::Database db = std::move(base.db);
    for (DbBuild& g : groups) {
      db.bytes += g.db.bytes;
      // A packet with a group evaluates the group's list only: the direction's too, merged.
      std::vector<uint32_t> always;
      always.reserve(db.always.size() + g.db.always.size());
      std::merge(db.always.begin(), db.always.end(), g.db.always.begin(), g.db.always.end(),
                 std::back_inserter(always));
      g.db.always = std::move(always);
      db.groups.push_back(std::move(g.db));
    }
    db.group_of = std::move(group_of);
    if (!db.group_of.empty()) db.bytes += db.group_of.size() * sizeof(uint16_t);
    return db;
  }
};

// stream: the stream-mode databases, over the rules `eligible` admits (StreamEligible).
// compile_base: false leaves the base's Hyperscan database out (its groups are compiled).
DirBuild BuildDirDatabase(const std::vector<RulePlan>& plans,
                          const std::vector<PayloadPlan>& payload,
                          const std::vector<RuleHeader>& headers, int dir, bool port_groups,
                          bool stream = false, const std::vector<bool>* eligible = nullptr,
                          bool compile_base = true) {
  DirBuild out;
  PortGrouping g;
  if (port_groups) g = PlanPortGroups(plans, headers, dir, eligible);
  if (g.grouped_rules == 0) {
    out.base = BuildDatabase(plans, payload, dir, stream, eligible, compile_base);
    out.base_rules = eligible != nullptr ? *eligible : std::vector<bool>(plans.size(), true);
    return out;
  }
  // Grouped rules are eligible ones: the base keeps the eligible rules no group took.
  std::vector<bool> base = g.ungrouped;
  if (eligible != nullptr) {
    for (size_t r = 0; r < base.size(); ++r) base[r] = base[r] && (*eligible)[r];
  }
  out.base = BuildDatabase(plans, payload, dir, stream, &base, compile_base);
  out.base_rules = std::move(base);
  for (const std::vector<bool>& m : g.members) {
    out.groups.push_back(BuildDatabase(plans, payload, dir, stream, &m));
  }
  out.group_of = std::move(g.group_of);
  out.grouped_rules = g.grouped_rules;
  return out;
}

// Whether a rule of protocol p can match a payload of protocol class cls (ProtoClassOf).
bool InClass(Protocol p, int cls) {
  return p == Protocol::kIp || (p == Protocol::kTcp) == (cls == ProtoClassOf(kIpProtoTcp));
}

// The home set of the address classes (kAddrClasses): the address set the rules with a payload
// name most, each counted with its complement ($HOME_NET and $EXTERNAL_NET = !$HOME_NET are one
// partition), kept as the side without address 0; empty when no such rule names one.
IpSet HomeSet(const std::vector<RulePlan>& plans, const std::vector<RuleHeader>& headers) {
  std::vector<std::pair<IpSet, size_t>> seen;
  for (size_t r = 0; r < plans.size(); ++r) {
    if (plans[r].app || plans[r].mode == PayloadMode::kNone) continue;
    const RuleHeader& h = headers[r];
    for (const auto& [any, set] : {std::pair{h.src_any, &h.src}, std::pair{h.dst_any, &h.dst}}) {
      if (any) continue;
      IpSet key = set->Contains(0) ? set->Complement() : *set;
      if (key.empty()) continue;
      auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& e) { return e.first == key; });
      if (it == seen.end()) {
        seen.emplace_back(std::move(key), 1);
      } else {
        ++it->second;
      }
    }
  }
  IpSet home;
  size_t best = 0;
  for (auto& [set, n] : seen) {
    if (n > best) {
      best = n;
      home = set;
    }
  }
  return home;
}

// The address classes a rule's header can match (bit c for class c): class 1 when its source
// and destination sets both meet the home set, class 0 when one of them meets the rest (a
// bidirectional rule's sides are swapped, which changes neither). Both without a home set.
uint8_t AddrClassesOf(const RuleHeader& h, const IpSet& home, const IpSet& away) {
  if (home.empty()) return 0x3;
  auto meets = [](bool any, const IpSet& s, const IpSet& part) {
    return any || s.Intersects(part);
  };
  const bool home_to_home = meets(h.src_any, h.src, home) && meets(h.dst_any, h.dst, home);
  const bool other = (meets(h.src_any, h.src, away) && meets(h.dst_any, h.dst, home)) ||
                     (meets(h.src_any, h.src, home) && meets(h.dst_any, h.dst, away)) ||
                     (meets(h.src_any, h.src, away) && meets(h.dst_any, h.dst, away));
  return static_cast<uint8_t>((other ? 1 : 0) | (home_to_home ? 2 : 0));
}

// One database per address class over the rules of a mask whose header can match the class
// (addr_ok: AddrClassesOf per rule). Classes with the same rules in direction dir share the
// first one's build (same[c]); each database Hyperscan compiles costs tens of milliseconds.
struct AddrBuild {
  DbBuild builds[kAddrClasses];
  int same[kAddrClasses] = {0, 1};

  template <class Build>
  void Run(const std::vector<bool>& rules, const std::vector<uint8_t>& addr_ok,
           const std::vector<RulePlan>& plans, int dir, Build&& build) {
    std::vector<bool> masks[kAddrClasses];
    for (int c = 0; c < kAddrClasses; ++c) {
      masks[c].assign(rules.size(), false);
      for (size_t r = 0; r < rules.size(); ++r) {
        masks[c][r] = rules[r] && plans[r].dirs[dir] && ((addr_ok[r] >> c) & 1) != 0;
      }
      same[c] = c;
      for (int e = 0; e < c; ++e) {
        if (same[e] == e && masks[e] == masks[c]) {
          same[c] = e;
          break;
        }
      }
      if (same[c] == c) builds[c] = build(masks[c]);
    }
  }
  DbBuild* Failed() {
    for (int c = 0; c < kAddrClasses; ++c) {
      if (same[c] == c && !builds[c].error.empty()) return &builds[c];
    }
    return nullptr;
  }
  // The databases compiled (not shared, not empty).
  size_t Compiled() const {
    size_t n = 0;
    for (int c = 0; c < kAddrClasses; ++c) n += same[c] == c && builds[c].db.db != nullptr;
    return n;
  }
  // expressions: each class's count, when given.
  void Take(std::array<std::shared_ptr<const PatternSet::Database>, kAddrClasses>* out,
            uint32_t* expressions = nullptr) {
    for (int c = 0; c < kAddrClasses && expressions != nullptr; ++c) {
      expressions[c] = builds[same[c]].db.expressions;
    }
    for (int c = 0; c < kAddrClasses; ++c) {
      (*out)[c] = same[c] == c
                      ? std::make_shared<const PatternSet::Database>(std::move(builds[c].db))
                      : (*out)[same[c]];
    }
  }
};

// Runs build(d) for both scan directions, direction 1 on a second thread (a Hyperscan compile
// uses one core); an exception from either side is rethrown here once both are done. (Also
// any other work split in two halves, d = 0 and 1.)
template <class Build>
void BothDirections(Build&& build) {
  std::exception_ptr failure;
  std::thread other([&] {
    try {
      build(1);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  try {
    build(0);
  } catch (...) {
    other.join();
    throw;
  }
  other.join();
  if (failure) std::rethrow_exception(failure);
}

// Which rules the stream databases carry: exact rules with Hyperscan requirements and no vetoes
// (a negation cannot be decided before the stream ends), that are not pass rules and not
// packet-only (tcp-pkt, dsize, flags, itype, icode, flow:no_stream), and whose expressions
// compile in stream mode.
std::vector<bool> StreamEligible(const std::vector<Rule>& rules, const std::vector<RulePlan>& plans,
                                 const std::vector<PayloadPlan>& payload) {
  std::vector<bool> ok(plans.size(), false);
  for (size_t r = 0; r < plans.size(); ++r) {
    const RulePlan& p = plans[r];
    if (p.mode != PayloadMode::kExact || p.pass || payload[r].require.empty() ||
        !payload[r].veto.empty()) {
      continue;
    }
    if (rules[r].protocol != Protocol::kTcp && rules[r].protocol != Protocol::kIp) continue;
    if (rules[r].packet_only) continue;
#if FS_HAVE_CONDITIONS
    if (rules[r].conditions->RequiresPacket()) continue;
#endif
    ok[r] = true;
  }
  return ok;
}

// Whether Suricata inspects stream rule r through the stream alone on TCP (detect-parse.c
// SigValidate: SIG_FLAG_REQUIRE_STREAM, and no content offset or depth to add REQUIRE_PACKET;
// startswith counts as a depth). Rules that count or order per packet (flowbits, threshold,
// detection_filter, noalert) stay in the packet databases: a flow's stream reports a rule once.
bool StreamOnly(const Rule& r) {
  if (r.protocol != Protocol::kTcp) return false;
  for (const Content& c : r.contents) {
    if (c.has_offset || c.has_depth || c.startswith) return false;
  }
#if FS_HAVE_CONDITIONS
  const RuleConditions& c = *r.conditions;
  if (!c.flowbit_ops.empty() || c.noalert || c.threshold_type != ThresholdType::kNone) {
    return false;
  }
#endif
  return true;
}

int DsizeNeEdge([[maybe_unused]] const Rule& r) {
#if FS_HAVE_CONDITIONS
  const RuleConditions& c = *r.conditions;
  if (c.has_dsize && c.dsize_mode == DsizeMode::kNe) return c.dsize_lo;
#endif
  return -1;
}

}  // namespace

IpOnlyIndex::Side IpOnlyIndex::BuildSide(const std::vector<uint32_t>& rules,
                                         const std::vector<RuleHeader>& headers, bool source,
                                         uint32_t words, std::vector<uint64_t>* sets) {
  // Sweep over the range ends: at each boundary the rules covering the address change.
  struct Edge {
    U128 at;
    uint32_t pos;
    bool add;
  };
  std::vector<Edge> edges;
  for (uint32_t pos = 0; pos < rules.size(); ++pos) {
    const RuleHeader& h = headers[rules[pos]];
    const bool any = source ? h.src_any : h.dst_any;
    const IpSet all = IpSet::All(kU128Max);
    const IpSet& set = any ? all : (source ? h.src : h.dst);
    for (const auto& r : set.ranges()) {
      edges.push_back({r.lo, pos, true});
      if (r.hi != kU128Max) edges.push_back({static_cast<U128>(r.hi + 1), pos, false});
    }
  }
  std::sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) { return a.at < b.at; });
  Side side;
  std::vector<uint64_t> cur(words, 0);
  std::map<std::vector<uint64_t>, uint32_t> dedupe;
  auto intern = [&]() {
    auto [it, inserted] = dedupe.try_emplace(cur, static_cast<uint32_t>(dedupe.size()));
    if (inserted) sets->insert(sets->end(), cur.begin(), cur.end());
    return it->second;
  };
  // Bitsets are appended to the shared pool: remember where this side's start.
  const auto base = static_cast<uint32_t>(sets->size() / std::max<uint32_t>(words, 1));
  size_t i = 0;
  U128 at = 0;
  for (;;) {
    while (i < edges.size() && edges[i].at == at) {
      const Edge& e = edges[i++];
      uint64_t& w = cur[e.pos / 64];
      const uint64_t bit = uint64_t{1} << (e.pos % 64);
      w = e.add ? (w | bit) : (w & ~bit);
    }
    side.starts.push_back(at);
    side.set_of.push_back(base + intern());
    if (i == edges.size()) break;
    at = edges[i].at;
  }
  return side;
}

IpOnlyIndex IpOnlyIndex::Build(const std::vector<uint32_t>& rules,
                               const std::vector<RuleHeader>& headers) {
  IpOnlyIndex x;
  if (rules.empty()) return x;
  x.rules_ = rules;
  x.words_ = static_cast<uint32_t>((rules.size() + 63) / 64);
  x.src_ = BuildSide(rules, headers, true, x.words_, &x.sets_);
  x.dst_ = BuildSide(rules, headers, false, x.words_, &x.sets_);
  x.bidir_.assign(x.words_, 0);
  for (uint32_t pos = 0; pos < rules.size(); ++pos) {
    if (headers[rules[pos]].bidirectional) x.bidir_[pos / 64] |= uint64_t{1} << (pos % 64);
  }
  return x;
}

const uint64_t* IpOnlyIndex::Side::SetFor(U128 a, const std::vector<uint64_t>& sets,
                                          uint32_t words) const {
  // The last interval starting at or before a (starts[0] == 0, so there is one).
  const auto it = std::upper_bound(starts.begin(), starts.end(), a);
  const size_t i = static_cast<size_t>(it - starts.begin()) - 1;
  return sets.data() + size_t{set_of[i]} * words;
}

uint32_t IpOnlyIndex::Candidates(U128 src, U128 dst, uint32_t* out) const {
  if (rules_.empty()) return 0;
  const uint64_t* s = src_.SetFor(src, sets_, words_);
  const uint64_t* d = dst_.SetFor(dst, sets_, words_);
  const uint64_t* s_rev = src_.SetFor(dst, sets_, words_);
  const uint64_t* d_rev = dst_.SetFor(src, sets_, words_);
  uint32_t n = 0;
  for (uint32_t w = 0; w < words_; ++w) {
    uint64_t bits = (s[w] & d[w]) | (bidir_[w] & s_rev[w] & d_rev[w]);
    while (bits != 0) {
      const uint32_t pos = w * 64 + static_cast<uint32_t>(__builtin_ctzll(bits));
      bits &= bits - 1;
      out[n++] = rules_[pos];
    }
  }
  return n;
}

std::string CanonicalRuleText(const Rule& r) {
  std::string out = fmt::format("{} {} {} {} {} {} {} (", ActionName(r.action),
                                r.packet_only ? "tcp-pkt" : ProtocolName(r.protocol),
                                SerializeExpr(r.src_addr.expr), SerializeExpr(r.src_port.expr),
                                r.direction == Direction::kBoth ? "<>" : "->",
                                SerializeExpr(r.dst_addr.expr), SerializeExpr(r.dst_port.expr));
  for (const Option& o : r.options) {
    out += o.name;
    if (o.has_value) {
      out += ':';
      out += o.value;
    }
    out += "; ";
  }
  if (!r.options.empty()) out.pop_back();
  out += ')';
  return out;
}

uint32_t PatternSet::expression_count() const {
  uint32_t n = stats_.expressions[0];
  if (dbs_[1] != dbs_[0]) n += stats_.expressions[1];
  return n;
}

size_t PatternSet::database_bytes() const {
  // Each database once (directions and address classes share some).
  std::vector<const Database*> seen;
  size_t n = 0;
  auto add = [&](const std::shared_ptr<const Database>& db) {
    if (db == nullptr || std::find(seen.begin(), seen.end(), db.get()) != seen.end()) return;
    seen.push_back(db.get());
    n += db->bytes;
  };
  for (int d = 0; d < kScanDirs; ++d) {
    add(dbs_[d]);
    add(stream_dbs_[d]);
    for (const auto& db : stream_class_dbs_[d]) add(db);
    for (const auto& db : outside_dbs_[d]) add(db);
    for (const auto& cls : class_dbs_[d]) {
      for (const auto& db : cls) add(db);
    }
  }
  for (const auto& db : app_dbs_) add(db);
  return n;
}

// The app-layer rules (docs/rules.md "App-layer buffers"): per rule, one confirmation program per
// buffer it inspects (its contents and pcres on that buffer, in rule order, as Suricata inspects
// each buffer's list), and its fast pattern (the content marked fast_pattern, else the longest
// positive one) as a literal in the pre-filter database of that content's buffer. A rule without
// a positive content is evaluated on every transaction of its protocol. Returns "" or the error.
std::string PatternSet::CompileApp() {
  const auto n_rules = static_cast<uint32_t>(rules_.size());
  std::array<std::vector<uint32_t>, kBufferCount> by_buffer;  // rules pre-filtered there
  std::array<std::vector<PayloadPlan>, kBufferCount> literal_of;
  for (uint32_t ri = 0; ri < n_rules; ++ri) {
    RulePlan& plan = plans_[ri];
    if (!plan.app) continue;
    const Rule& r = rules_[ri];
    plan.app_proto = r.app_proto;
    plan.tls_version = r.tls_version;
    ++stats_.app_rules;
    ++stats_.app_by_proto[static_cast<int>(r.app_proto)];
    ++app_rule_count_[static_cast<int>(r.app_proto)];

    // The buffers in order of first use, and the side of the transaction they need.
    std::vector<Buffer> buffers;
    auto use = [&](Buffer b) {
      if (std::find(buffers.begin(), buffers.end(), b) == buffers.end()) buffers.push_back(b);
    };
    for (const PayloadItem& item : r.payload) use(r.BufferOf(item));
    for (const SizeCheck& sc : r.size_checks) use(sc.buffer);
    bool server = false, client = false;
    for (Buffer b : buffers) {
      plan.app_buffers |= uint64_t{1} << static_cast<int>(b);
      server = server || InfoOf(b).side == BufferSide::kToServer;
      client = client || InfoOf(b).side == BufferSide::kToClient;
    }
    // A response buffer: inspected with the response (the request's buffers come along); else a
    // request buffer: with the request; else the flow direction of the rule decided it above.
    if (client) {
      plan.app_side = BufferSide::kToClient;
    } else if (server) {
      plan.app_side = BufferSide::kToServer;
    }

    plan.app_begin = static_cast<uint32_t>(app_programs_.size());
    for (Buffer b : buffers) {
      AppProgram prog;
      prog.buffer = b;
      prog.dotprefix = (r.dotprefix >> static_cast<int>(b)) & 1;
      Rule sub;
      sub.contents = r.contents;
      sub.pcres = r.pcres;
      sub.byte_ops = r.byte_ops;
      for (const PayloadItem& item : r.payload) {
        if (r.BufferOf(item) == b) sub.payload.push_back(item);
      }
      const PayloadPlan pp = BuildSteps(sub, -1);
      prog.step_begin = static_cast<uint32_t>(steps_.size());
      prog.step_count = static_cast<uint32_t>(pp.steps.size());
      const auto byte_base = static_cast<uint32_t>(bytes_.size());
      bytes_ += pp.bytes;
      const auto pcre_base = static_cast<uint32_t>(pcres_.size());
      for (const Pcre* p : pp.pcres) {
        std::string error;
        Pcre2CodePtr code = CompilePcre2(*p, /*jit=*/true, &error);
        if (code == nullptr) {
          return fmt::format("{}: sid {}: pcre2 compile of \"{}\" failed {}", r.Location(), r.sid,
                             PcreText(*p), error);
        }
        pcres_.push_back(std::move(code));
      }
      stats_.pcres += pp.pcres.size();
      stats_.pcre_software += pp.pcres.size();
      for (MatchStep st : pp.steps) {
        st.bytes_begin += byte_base;
        st.pcre += pcre_base;
        steps_.push_back(st);
      }
      prog.size_begin = static_cast<uint32_t>(size_checks_.size());
      for (const SizeCheck& sc : r.size_checks) {
        if (sc.buffer == b) size_checks_.push_back(sc);
      }
      prog.size_count = static_cast<uint32_t>(size_checks_.size()) - prog.size_begin;
      app_programs_.push_back(prog);
    }
    plan.app_count = static_cast<uint32_t>(app_programs_.size()) - plan.app_begin;
    if ((plan.app_buffers & 1) != 0) {
      ++stats_.app_raw_payload;
      app_raw_protos_ |= 1u << static_cast<int>(r.app_proto);
    }

    // The fast pattern: on an app buffer if the rule has one there (buffers are short, the raw
    // bytes long), else on the raw payload, whose database ScanApp runs like a buffer's.
    const Content* fp = nullptr;
    for (const bool raw : {false, true}) {
      for (const Content& c : r.contents) {
        if (c.negated || c.bytes.empty() || (c.buffer == Buffer::kPayload) != raw) continue;
        if (c.fast_pattern) {
          fp = &c;
          break;
        }
        if (fp == nullptr || c.bytes.size() > fp->bytes.size()) fp = &c;
      }
      if (fp != nullptr) break;
    }
    if (fp == nullptr) {
      app_always_[static_cast<int>(r.app_proto)].push_back(ri);
      ++stats_.app_unfiltered;
      continue;
    }
    const int b = static_cast<int>(fp->buffer);
    std::string bytes = fp->bytes;
    if (fp->fast_pattern_chop) bytes = bytes.substr(fp->fast_pattern_offset, fp->fast_pattern_length);
    PayloadPlan lit;
    lit.mode = PayloadMode::kConfirm;
    ExprSpec e;
    for (unsigned char ch : bytes) {
      if (fp->nocase && ch >= 'A' && ch <= 'Z') ch = static_cast<unsigned char>(ch - 'A' + 'a');
      e.regex += fmt::format("\\x{:02x}", ch);
    }
    e.flags = HS_FLAG_SINGLEMATCH | (fp->nocase ? HS_FLAG_CASELESS : 0u);
    lit.require.push_back(std::move(e));
    by_buffer[b].push_back(ri);
    literal_of[b].push_back(std::move(lit));
    if ((r.dotprefix >> b) & 1) app_dot_scan_ |= uint64_t{1} << b;
  }

  for (int b = 0; b < kBufferCount; ++b) {
    if (by_buffer[b].empty()) {
      app_dbs_[b] = std::make_shared<const Database>();
      continue;
    }
    // BuildDatabase over this buffer's rules (local indices), then back to rule indices.
    std::vector<RulePlan> local(by_buffer[b].size());
    for (RulePlan& lp : local) {
      lp.mode = PayloadMode::kConfirm;
      lp.dirs[1] = false;
    }
    DbBuild built = BuildDatabase(local, literal_of[b], 0);
    if (!built.error.empty()) {
      const Rule& r = built.failed_expression >= 0
                          ? rules_[by_buffer[b][built.rules_of[built.failed_expression].front()]]
                          : rules_[by_buffer[b].front()];
      return fmt::format("{}: sid {}: hyperscan ({} pre-filter): {}", r.Location(), r.sid,
                         InfoOf(static_cast<Buffer>(b)).keyword, built.error);
    }
    for (Target& t : built.db.targets) t.rule = by_buffer[b][t.rule];
    stats_.app_expressions += built.db.expressions;
    app_dbs_[b] = std::make_shared<const Database>(std::move(built.db));
    app_scan_mask_ |= uint64_t{1} << b;
  }
  return {};
}

Expected<std::shared_ptr<const PatternSet>> PatternSet::Compile(
    std::vector<Rule> rules, uint64_t generation, const PatternSet* previous,
    std::vector<IndicatorList> indicators, const CompileOptions& options) {
  try {
    const auto start = std::chrono::steady_clock::now();
    UseDatabaseMemory();  // before the compile threads start
    std::shared_ptr<PatternSet> set(new PatternSet());
    set->generation_ = generation;
    const auto n_rules = static_cast<uint32_t>(rules.size());

    // Evaluation order: Suricata's action order (pass first), then flowbits (setters before
    // testers), priority and sid (SCSigOrderSignatures).
    std::vector<uint64_t> keys(n_rules);
#if FS_HAVE_CONDITIONS
    {
      std::vector<ConditionsRef> refs;
      refs.reserve(n_rules);
      for (Rule& r : rules) refs.push_back(ConditionsRef{&r, r.conditions.get()});
      auto fin = FinalizeConditions(refs, previous != nullptr ? &previous->catalog_ : nullptr);
      if (!fin) return fin.error();
      keys = fin->order_keys;
      set->catalog_ = std::move(fin->catalog);
      set->warnings_ = std::move(fin->warnings);
    }
#else
    (void)previous;
    for (uint32_t i = 0; i < n_rules; ++i) {
      keys[i] = (static_cast<uint64_t>(rules[i].severity) << 32) | rules[i].sid;
    }
#endif
    std::vector<uint32_t> order(n_rules);
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      const bool pa = rules[a].action == Action::kPass, pb = rules[b].action == Action::kPass;
      if (pa != pb) return pa;
      return keys[a] < keys[b];
    });
    set->rules_.reserve(n_rules);
    for (uint32_t i : order) set->rules_.push_back(std::move(rules[i]));

    CompileStats& stats = set->stats_;
    stats.rules = n_rules;
    set->plans_.resize(n_rules);
    set->headers_.reserve(n_rules);
    std::vector<PayloadPlan> payload(n_rules);
    std::vector<int> dsize_edge(n_rules, -1);
    std::vector<uint32_t> to_plan;             // packet rules: their payloads are planned below
    std::vector<uint8_t> ip_only_allowed(n_rules, 0);  // without contents, IP-only (plan.ip_only)
    Fnv1a64 hash;
    for (uint32_t ri = 0; ri < n_rules; ++ri) {
      const Rule& r = set->rules_[ri];
      set->headers_.push_back(MakeHeader(r));
      hash.Add(CanonicalRuleText(r));
      hash.Add(fmt::format("\n{}|{}|{}|{}\n", IpSetToString(r.src_addr.set),
                           PortSetToString(r.src_port.set), IpSetToString(r.dst_addr.set),
                           PortSetToString(r.dst_port.set)));
      RulePlan& plan = set->plans_[ri];
      plan.pass = r.action == Action::kPass;
      bool allows_ip_only = true;
#if FS_HAVE_CONDITIONS
      const RuleConditions& c = *r.conditions;
      const DirMask dirs = DirectionsOf(c);
      plan.dirs[0] = (static_cast<uint8_t>(dirs) & static_cast<uint8_t>(DirMask::kToServer)) != 0;
      plan.dirs[1] = (static_cast<uint8_t>(dirs) & static_cast<uint8_t>(DirMask::kToClient)) != 0;
      plan.has_conditions = !c.empty();
      allows_ip_only = AllowsIpOnly(c);
#endif
      if (r.IsAppRule()) {
        // Evaluated by Scanner::ScanApp on transactions only: in no packet or stream database.
        plan.app = true;
        plan.app_side = plan.dirs[0] && !plan.dirs[1]   ? BufferSide::kToServer
                        : plan.dirs[1] && !plan.dirs[0] ? BufferSide::kToClient
                                                        : BufferSide::kEither;
        plan.dirs[0] = plan.dirs[1] = false;
        continue;
      }
      if (r.PayloadOnAppProto()) {
        plan.app_proto = r.app_proto;
        ++stats.proto_payload;
      }
      dsize_edge[ri] = DsizeNeEdge(r);
      to_plan.push_back(ri);
      ip_only_allowed[ri] =
          allows_ip_only && !HasNegation(r.src_addr.expr) && !HasNegation(r.dst_addr.expr);
    }
    // Planning a rule's payload tries its expressions in Hyperscan (the parser for each chain and
    // pcre, a whole compile for a pcre combined with contents): a quarter of an ET Open compile's
    // time. Rules are planned independently: two threads take batches of them in turn (the
    // calling thread's malloc arena, fragmented by parsing, makes it the slower one).
    std::atomic<size_t> next_plan{0};
    BothDirections([&](int) {
      constexpr size_t kBatch = 16;
      for (size_t b; (b = next_plan.fetch_add(kBatch)) < to_plan.size();) {
        for (size_t k = b; k < std::min(b + kBatch, to_plan.size()); ++k) {
          const uint32_t ri = to_plan[k];
          payload[ri] = PlanPayload(set->rules_[ri], dsize_edge[ri]);
        }
      }
    });
    for (uint32_t ri : to_plan) {
      RulePlan& plan = set->plans_[ri];
      plan.mode = payload[ri].mode;
      if (plan.mode == PayloadMode::kNone) {
        ++stats.header_only;
        plan.ip_only = ip_only_allowed[ri] != 0;
        if (plan.ip_only) ++stats.ip_only;
      }
    }
    if (!indicators.empty()) {
      Fnv1a64 lists;
      for (const IndicatorList& l : indicators) {
        const IndicatorListConfig& c = l.config;
        lists.Add(fmt::format("{}|{}|{}|{}|{}|{}\n", c.name, static_cast<int>(c.type), c.msg, c.gid,
                              c.sid, c.severity));
        for (const IpPrefix& p : l.prefixes) {
          lists.Add({reinterpret_cast<const char*>(p.addr.bytes.data()), p.addr.bytes.size()});
          lists.Add({reinterpret_cast<const char*>(&p.len), 1});
        }
        for (const DomainEntry& d : l.domains) lists.Add(d.ToString() + "\n");
      }
      set->indicators_digest_ = lists.value();
      hash.Add(fmt::format("indicators {:016x}", set->indicators_digest_));
      set->indicators_ = std::move(indicators);
    }
    set->content_hash_ = fmt::format("{:016x}", hash.value());

    // The stream databases keep the exact plans (a match may straddle segments there, and the
    // confirmation program sees one packet); the packet databases pre-filter rules with several
    // contents or pcres by their fast pattern.
    const std::vector<PayloadPlan> stream_payload = payload;
    const std::vector<RulePlan> stream_plans = set->plans_;
    // The app-layer rules compile on a thread of their own beside the packet and stream
    // databases (the cores are idle at times there: one direction's databases finish first).
    // CompileApp writes the app rules' plans, their stats and the app databases, which nothing
    // below reads until it is joined; the confirmation programs come after.
    std::string app_error;
    std::exception_ptr app_failure;
    std::jthread app_compile([&] {
      try {
        app_error = set->CompileApp();
      } catch (...) {
        app_failure = std::current_exception();
      }
    });
    for (uint32_t ri = 0; options.fast_pattern_prefilter && ri < n_rules; ++ri) {
      const Rule& r = set->rules_[ri];
      const PayloadMode m = set->plans_[ri].mode;
      if (m != PayloadMode::kExact && m != PayloadMode::kConfirm) continue;
      if (r.contents.size() + r.pcres.size() < 2) continue;
      if (FastPatternPlan(r, dsize_edge[ri], &payload[ri])) {
        set->plans_[ri].mode = PayloadMode::kConfirm;
      }
    }

    // Port groups key on the server-side port, which is a different header field in each
    // direction: a set with port groups has two databases even when its directions agree.
    bool shared = true;
    for (const RulePlan& p : set->plans_) shared = shared && p.dirs[0] == p.dirs[1];
    if (shared && options.port_groups) {
      for (int d = 0; d < kScanDirs && shared; ++d) {
        shared = PlanPortGroups(set->plans_, set->headers_, d).grouped_rules == 0;
      }
    }
    stats.shared_database = shared;

    // Stream-mode databases (TCP reassembled streams), port-grouped as the packet databases (a
    // flow's server port is fixed: its streams scan the direction's database and its port's
    // group). A rule whose expressions Hyperscan refuses in stream mode stays packet-only; the
    // others are compiled again without it. Compiled first: the packet databases leave out the
    // rules these decide alone.
    std::vector<bool> stream_ok = StreamEligible(set->rules_, stream_plans, stream_payload);
    const bool stream_groups = options.port_groups && !shared;
    // Address classes: the rules each class's databases hold (AddrClassesOf).
    set->home_ = options.addr_classes ? HomeSet(set->plans_, set->headers_) : IpSet();
    stats.home_ranges = set->home_.ranges().size();
    std::vector<uint8_t> addr_ok(n_rules);
    const std::vector<uint8_t> every_class(n_rules, (1u << kAddrClasses) - 1);
    {
      const IpSet away = set->home_.Complement();
      for (uint32_t r = 0; r < n_rules; ++r) {
        addr_ok[r] = AddrClassesOf(set->headers_[r], set->home_, away);
      }
    }
    for (int attempt = 0;; ++attempt) {
      DirBuild built[kScanDirs];
      AddrBuild stream_classes[kScanDirs];
      // The rules no port group took are compiled by address class (stream_class_database).
      auto build_stream = [&](int d, bool groups) {
        built[d] = BuildDirDatabase(stream_plans, stream_payload, set->headers_, d, groups, true,
                                    &stream_ok, /*compile_base=*/false);
        stream_classes[d].Run(built[d].base_rules, addr_ok, stream_plans, d,
                              [&](const std::vector<bool>& m) {
                                return BuildDatabase(stream_plans, stream_payload, d, true, &m);
                              });
      };
      if (shared) {
        build_stream(0, false);
      } else {
        BothDirections([&](int d) { build_stream(d, stream_groups); });
      }
      bool again = false;
      for (int d = 0; d < (shared ? 1 : kScanDirs); ++d) {
        // The first failed build of the direction (a rule is in several address classes).
        const DbBuild* failed = built[d].Failed();
        if (failed == nullptr) failed = stream_classes[d].Failed();
        if (failed == nullptr) continue;
        std::vector<uint32_t> culprits;
        if (failed->failed_expression >= 0) culprits = failed->rules_of[failed->failed_expression];
        if (culprits.empty() || attempt >= 64) {
          // Hyperscan did not say which: no stream database; every rule stays packet-only.
          std::fill(stream_ok.begin(), stream_ok.end(), false);
          Diagnostic w;
          w.message = fmt::format("stream-mode compile failed ({}); rules match per packet only",
                                  failed->error);
          set->warnings_.push_back(std::move(w));
        }
        for (uint32_t r : culprits) {
          stream_ok[r] = false;
          ++stats.stream_refused;
        }
        again = true;
      }
      if (again) continue;
      for (int d = 0; d < (shared ? 1 : kScanDirs); ++d) {
        stats.stream_port_groups[d] = built[d].groups.size();
        stats.stream_port_grouped_rules[d] = built[d].grouped_rules;
        set->stream_dbs_[d] = std::make_shared<const Database>(built[d].Take());
        stats.addr_class_databases += stream_classes[d].Compiled();
        stream_classes[d].Take(&set->stream_class_dbs_[d], stats.stream_addr_class_expressions[d]);
      }
      if (shared) {
        set->stream_dbs_[1] = set->stream_dbs_[0];
        set->stream_class_dbs_[1] = set->stream_class_dbs_[0];
        std::copy_n(stats.stream_addr_class_expressions[0], kAddrClasses,
                    stats.stream_addr_class_expressions[1]);
      }
      break;
    }
    for (int d = 0; d < kScanDirs; ++d) {
      const Database& db = *set->stream_dbs_[d];
      for (const auto& c : set->stream_class_dbs_[d]) {
        stats.stream_state_bytes = std::max(stats.stream_state_bytes, c->stream_state_bytes);
      }
      for (const Database& g : db.groups) {
        stats.stream_state_bytes = std::max(stats.stream_state_bytes, g.stream_state_bytes);
      }
    }
    // The packet databases leave out the rules the stream decides alone on TCP (stream_only).
    std::vector<bool> packet_ok(n_rules, true);
    for (uint32_t r = 0; r < n_rules; ++r) {
      RulePlan& plan = set->plans_[r];
      plan.stream = stream_ok[r];
      if (!plan.stream) continue;
      ++stats.stream_rules;
      plan.stream_only = options.stream_only && StreamOnly(set->rules_[r]);
      if (!plan.stream_only) continue;
      packet_ok[r] = false;
      ++stats.stream_only;
    }

    // Compile the two direction databases; a rule whose expression Hyperscan refuses falls back
    // to confirmation behind its plain literals, and the databases are compiled again.
    // With them, the "outside" databases for TCP payloads that went into no stream: the rules of
    // the direction's database (no port group took them) and, with the same plans, the
    // stream-only rules (packet_ok's complement; all of them, without port groups). One scan
    // where there were two (the database, then the stream-only rules alone): Hyperscan's cost
    // per byte grows little with the literals, and a merged database compiles in about the time
    // of the larger one (measured in docs/PERFORMANCE.md, "Pattern compile on two cores").
    bool pcre_combinations_dropped = false;
    for (int attempt = 0;; ++attempt) {
      DirBuild built[kScanDirs];
      AddrBuild outside[kScanDirs];
      AddrBuild classes[kScanDirs][kProtoClasses];
      uint32_t class_expressions[kScanDirs][kProtoClasses] = {};
      auto build_db = [&](int d) {
        return [&, d](const std::vector<bool>& m) {
          return BuildDatabase(set->plans_, payload, d, false, &m);
        };
      };
      auto build = [&](int d, bool groups) {
        // The base's rules are compiled by protocol class (packet_database) and address class,
        // not as one.
        built[d] = BuildDirDatabase(set->plans_, payload, set->headers_, d, groups, false,
                                    &packet_ok, /*compile_base=*/false);
        std::vector<bool> in_class[kProtoClasses];
        for (int c = 0; c < kProtoClasses; ++c) {
          in_class[c] = built[d].base_rules;
          for (uint32_t r = 0; r < n_rules; ++r) {
            if (!InClass(set->rules_[r].protocol, c)) in_class[c][r] = false;
          }
          // The protocol class's expressions before the address split (not compiled).
          class_expressions[d][c] =
              BuildDatabase(set->plans_, payload, d, false, &in_class[c], false).db.expressions;
          // Only TCP payloads are split by address class: each database costs compile time
          // (tenths of a second with ET Open), and a UDP or ICMP payload (DNS, NTP) is short,
          // where a scan's fixed cost outweighs its literals.
          classes[d][c].Run(in_class[c], c == ProtoClassOf(kIpProtoTcp) ? addr_ok : every_class,
                            set->plans_, d, build_db(d));
        }
        // Only TCP payloads scan the outside database: the TCP class's rules and the stream-only
        // ones. Only a direction with stream-only rules has one (else its database is the same).
        std::vector<bool>& outside_ok = in_class[ProtoClassOf(kIpProtoTcp)];
        bool any = false;
        for (uint32_t r = 0; r < n_rules; ++r) {
          const RulePlan& plan = set->plans_[r];
          if (!plan.stream_only) continue;
          outside_ok[r] = true;
          any = any || plan.dirs[d];
        }
        if (any) outside[d].Run(outside_ok, addr_ok, set->plans_, d, build_db(d));
      };
      if (shared) {
        build(0, false);
      } else {
        BothDirections([&](int d) { build(d, options.port_groups); });
      }
      // The first build that failed (per direction: its groups, its outside database, its
      // protocol classes): its culprits are demoted and everything is compiled again. A rule is
      // in several of these databases (an ip rule in both classes and the outside one), so the
      // other failures of this attempt are left to the next one, not demoted twice.
      const DbBuild* failed = nullptr;
      for (int d = 0; d < (shared ? 1 : kScanDirs) && failed == nullptr; ++d) {
        failed = built[d].Failed();
        if (failed == nullptr) failed = outside[d].Failed();
        for (int c = 0; c < kProtoClasses && failed == nullptr; ++c) {
          failed = classes[d][c].Failed();
        }
      }
      if (failed != nullptr) {
        if (attempt >= 64) return Error{fmt::format("hyperscan: {}", failed->error)};
        std::vector<uint32_t> culprits;
        if (failed->failed_expression >= 0) {
          culprits = failed->rules_of[failed->failed_expression];
        } else if (!pcre_combinations_dropped) {
          // Hyperscan did not say which expression: logical combinations with a pcre inside are
          // the ones it may refuse as a whole (each was tried alone when planned).
          pcre_combinations_dropped = true;
          for (uint32_t r = 0; r < n_rules; ++r) {
            const std::vector<ExprSpec>& req = payload[r].require;
            if (req.size() > 1 && std::any_of(req.begin(), req.end(),
                                              [](const ExprSpec& e) { return e.from_pcre; })) {
              culprits.push_back(r);
            }
          }
        }
        if (culprits.empty()) return Error{fmt::format("hyperscan: {}", failed->error)};
        for (uint32_t r : culprits) {
          const Rule& rule = set->rules_[r];
          const PayloadPlan fallback = LiteralOnlyPlan(rule, dsize_edge[r]);
          if (payload[r].mode == PayloadMode::kConfirm &&
              payload[r].require.size() == fallback.require.size() &&
              payload[r].confirm_reason == fallback.confirm_reason) {
            return Error{fmt::format("{}: sid {}: hyperscan: {}", rule.Location(), rule.sid,
                                     failed->error)};
          }
          payload[r] = fallback;
          set->plans_[r].mode = PayloadMode::kConfirm;
          ++stats.demoted;
        }
        continue;
      }
      for (int d = 0; d < (shared ? 1 : kScanDirs); ++d) {
        stats.port_grouped_rules[d] = built[d].grouped_rules;
        stats.port_groups[d] = built[d].groups.size();
        Database db = built[d].Take();
        db.ip_only_index = IpOnlyIndex::Build(db.ip_only, set->headers_);
        set->dbs_[d] = std::make_shared<const Database>(std::move(db));
        stats.addr_class_databases += outside[d].Compiled();
        outside[d].Take(&set->outside_dbs_[d]);
        for (int c = 0; c < kProtoClasses; ++c) {
          stats.class_expressions[d][c] = class_expressions[d][c];
          stats.addr_class_databases += classes[d][c].Compiled();
          classes[d][c].Take(&set->class_dbs_[d][c], stats.addr_class_expressions[d][c]);
        }
      }
      if (shared) {
        set->dbs_[1] = set->dbs_[0];
        set->outside_dbs_[1] = set->outside_dbs_[0];
        set->class_dbs_[1] = set->class_dbs_[0];
        for (int c = 0; c < kProtoClasses; ++c) {
          stats.class_expressions[1][c] = stats.class_expressions[0][c];
          std::copy_n(stats.addr_class_expressions[0][c], kAddrClasses,
                      stats.addr_class_expressions[1][c]);
        }
      }
      break;
    }
    for (int d = 0; d < kScanDirs; ++d) {
      const Database& db = *set->dbs_[d];
      stats.expressions[d] = db.expressions;
      bool without_payload = !db.always.empty() || !db.ip_only.empty();
      for (const Database& g : db.groups) {
        stats.expressions[d] += g.expressions;
        without_payload = without_payload || !g.always.empty();
      }
      set->without_payload_[d] = without_payload;
    }


    app_compile.join();
    if (app_failure) std::rethrow_exception(app_failure);
    if (!app_error.empty()) return Error{std::move(app_error)};

    // Confirmation programs and their PCRE2 codes (JIT, as Suricata).
    for (uint32_t ri = 0; ri < n_rules; ++ri) {
      RulePlan& plan = set->plans_[ri];
      if (plan.app) continue;
      const PayloadPlan& pp = payload[ri];
      stats.pcres += set->rules_[ri].pcres.size();
      switch (plan.mode) {
        case PayloadMode::kNone:
          continue;
        case PayloadMode::kNever:
          ++stats.never;
          stats.pcre_software += set->rules_[ri].pcres.size();
          continue;
        case PayloadMode::kExact:
          ++stats.exact;
          stats.pcre_exact += pp.pcre_exact;
          continue;
        case PayloadMode::kConfirm:
          break;
      }
      ++stats.confirm;
      if (pp.require.empty()) ++stats.confirm_unfiltered;
      stats.pcre_exact += pp.pcre_exact;
      stats.pcre_prefilter += pp.pcre_prefilter;
      stats.pcre_software += pp.pcre_software;
      plan.step_begin = static_cast<uint32_t>(set->steps_.size());
      plan.step_count = static_cast<uint32_t>(pp.steps.size());
      const auto byte_base = static_cast<uint32_t>(set->bytes_.size());
      set->bytes_ += pp.bytes;
      const auto pcre_base = static_cast<uint32_t>(set->pcres_.size());
      for (const Pcre* p : pp.pcres) {
        std::string error;
        Pcre2CodePtr code = CompilePcre2(*p, /*jit=*/true, &error);
        if (code == nullptr) {
          const Rule& r = set->rules_[ri];
          return Error{fmt::format("{}: sid {}: pcre2 compile of \"{}\" failed {}", r.Location(),
                                   r.sid, PcreText(*p), error)};
        }
        set->pcres_.push_back(std::move(code));
      }
      for (MatchStep s : pp.steps) {
        s.bytes_begin += byte_base;
        s.pcre += pcre_base;
        set->steps_.push_back(s);
      }
    }
    set->match_context_.reset(pcre2_match_context_create(nullptr));
    if (set->match_context_ == nullptr) return Error{"pcre2_match_context_create failed"};
    pcre2_set_match_limit(set->match_context_.get(), kPcreMatchLimit);
    pcre2_set_depth_limit(set->match_context_.get(), kPcreDepthLimit);

    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return std::shared_ptr<const PatternSet>(std::move(set));
  } catch (const std::exception& e) {
    return Error{std::string("pattern set compile failed: ") + e.what()};
  }
}

}  // namespace fs::patterns
