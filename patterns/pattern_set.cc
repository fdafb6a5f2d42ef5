#include "patterns/pattern_set.h"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <map>
#include <utility>

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

bool HasLetter(const std::string& bytes) {
  return std::any_of(bytes.begin(), bytes.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); });
}

std::string AsciiLower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

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

}  // namespace

std::string CanonicalRuleText(const Rule& r) {
  std::string out = fmt::format("alert {} {} {} {} {} {} (", ProtocolName(r.protocol),
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

Expected<std::shared_ptr<const PatternSet>> PatternSet::Compile(std::vector<Rule> rules,
                                                                uint64_t generation) {
  try {
    std::shared_ptr<PatternSet> set(new PatternSet());
    set->rules_ = std::move(rules);
    set->generation_ = generation;
    const auto n_rules = static_cast<uint32_t>(set->rules_.size());

    // Distinct (bytes, caseless) literals. A literal without letters is the same expression
    // with or without nocase.
    std::map<std::pair<std::string, bool>, uint32_t> ids;
    std::vector<const std::string*> expr_bytes;
    std::vector<unsigned> expr_flags;
    std::vector<std::vector<Target>> expr_targets;
    set->required_.assign(n_rules, 0);
    set->headers_.reserve(n_rules);
    Fnv1a64 hash;
    for (uint32_t ri = 0; ri < n_rules; ++ri) {
      const Rule& r = set->rules_[ri];
      set->headers_.push_back(MakeHeader(r));
      hash.Add(CanonicalRuleText(r));
      hash.Add(fmt::format("\n{}|{}|{}|{}\n", IpSetToString(r.src_addr.set),
                           PortSetToString(r.src_port.set), IpSetToString(r.dst_addr.set),
                           PortSetToString(r.dst_port.set)));
      if (r.contents.empty()) {
        set->header_only_.push_back(ri);
        continue;
      }
      std::vector<uint32_t> rule_ids;
      for (uint32_t ci = 0; ci < r.contents.size(); ++ci) {
        const Content& c = r.contents[ci];
        if (c.negated || c.bytes.empty()) {
          return Error{fmt::format("{}: sid {}: content {} is {}; the parser skips such rules",
                                   r.Location(), r.sid, ci + 1, c.negated ? "negated" : "empty")};
        }
        // Caseless literals are keyed (and compiled) in lower case, so "ABC" and "abc" with
        // nocase are one expression.
        const bool caseless = c.nocase && HasLetter(c.bytes);
        auto [it, inserted] = ids.try_emplace({caseless ? AsciiLower(c.bytes) : c.bytes, caseless},
                                              static_cast<uint32_t>(expr_bytes.size()));
        if (inserted) {
          expr_bytes.push_back(&it->first.first);
          expr_flags.push_back(HS_FLAG_SINGLEMATCH | (caseless ? HS_FLAG_CASELESS : 0u));
          expr_targets.emplace_back();
        }
        const uint32_t id = it->second;
        // The same literal twice in one rule is one requirement, not two: with
        // HS_FLAG_SINGLEMATCH it is reported once per scan.
        if (std::find(rule_ids.begin(), rule_ids.end(), id) == rule_ids.end()) {
          rule_ids.push_back(id);
          expr_targets[id].push_back(Target{ri, ci});
        }
      }
      if (rule_ids.size() > UINT16_MAX) {
        return Error{fmt::format("{}: sid {}: too many contents ({})", r.Location(), r.sid,
                                 rule_ids.size())};
      }
      set->required_[ri] = static_cast<uint32_t>(rule_ids.size());
    }
    set->content_hash_ = fmt::format("{:016x}", hash.value());

    for (const std::vector<Target>& t : expr_targets) {
      set->targets_.insert(set->targets_.end(), t.begin(), t.end());
      set->expr_begin_.push_back(static_cast<uint32_t>(set->targets_.size()));
    }

    if (!expr_bytes.empty()) {
      std::vector<const char*> ptrs;
      std::vector<size_t> lens;
      std::vector<unsigned> hs_ids;
      for (size_t i = 0; i < expr_bytes.size(); ++i) {
        ptrs.push_back(expr_bytes[i]->data());
        lens.push_back(expr_bytes[i]->size());
        hs_ids.push_back(static_cast<unsigned>(i));
      }
      hs_database_t* db = nullptr;
      hs_compile_error_t* err = nullptr;
      const hs_error_t rc = hs_compile_lit_multi(ptrs.data(), expr_flags.data(), hs_ids.data(),
                                                 lens.data(), static_cast<unsigned>(ptrs.size()),
                                                 HS_MODE_BLOCK, nullptr, &db, &err);
      if (rc != HS_SUCCESS) {
        std::string message =
            err != nullptr && err->message != nullptr ? err->message : fmt::format("error {}", rc);
        std::string where;
        if (err != nullptr && err->expression >= 0 &&
            static_cast<size_t>(err->expression) < expr_targets.size()) {
          const Target& t = expr_targets[err->expression].front();
          const Rule& r = set->rules_[t.rule_index];
          where = fmt::format("{}: sid {}: content {}: ", r.Location(), r.sid, t.content_index + 1);
        }
        hs_free_compile_error(err);
        return Error{where + "hyperscan: " + message};
      }
      set->db_.reset(db);
      hs_database_size(db, &set->database_bytes_);
    }
    return std::shared_ptr<const PatternSet>(std::move(set));
  } catch (const std::exception& e) {
    return Error{std::string("pattern set compile failed: ") + e.what()};
  }
}

}  // namespace fs::patterns
