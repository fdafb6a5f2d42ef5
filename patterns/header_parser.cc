#include "patterns/header_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "patterns/text_util.h"

namespace fs::patterns {
namespace {

enum class FieldKind { kAddress, kPort };

struct Ctx {
  FieldKind kind;
  const Vars& vars;
  const SourceText& src;
  size_t base;                     // offset of the parsed text in src.text()
  std::optional<Position> fixed;   // inside a variable's value: the $VARIABLE's position
  size_t fixed_offset = 0;         // and its offset, for errors
  std::string context;             // "in $HOME_NET = ...: " for errors inside a variable's value
  std::vector<std::string> chain;  // variables being expanded, outermost first (cycle check)

  const char* what() const { return kind == FieldKind::kAddress ? "address" : "port"; }
  Position PosOf(size_t i) const { return fixed ? *fixed : src.PositionOf(base + i); }
  bool Fail(ExprError* error, size_t i, std::string message) const {
    error->offset = fixed ? fixed_offset : base + i;
    error->message = context + message;
    return false;
  }
};

bool ParseAddressLiteral(std::string_view s, U128* lo, U128* hi, std::string* why) {
  auto parse_ip = [&](std::string_view t, IpAddr* out) {
    std::optional<IpAddr> a = IpAddr::Parse(t);
    if (!a) return false;
    *out = *a;
    return true;
  };
  IpAddr a, b;
  if (size_t dash = s.find('-'); dash != std::string_view::npos) {
    if (!parse_ip(s.substr(0, dash), &a) || !parse_ip(s.substr(dash + 1), &b)) {
      *why = fmt::format("bad address range '{}'", s);
      return false;
    }
    if (a.IsV4() != b.IsV4()) {
      *why = fmt::format("address range '{}' mixes IPv4 and IPv6", s);
      return false;
    }
    *lo = ToU128(a);
    *hi = ToU128(b);
    if (*lo > *hi) {
      *why = fmt::format("address range '{}' is reversed", s);
      return false;
    }
    return true;
  }
  std::string_view addr = s;
  std::optional<std::string_view> mask;
  if (size_t slash = s.find('/'); slash != std::string_view::npos) {
    addr = s.substr(0, slash);
    mask = s.substr(slash + 1);
  }
  if (!parse_ip(addr, &a)) {
    *why = fmt::format("bad address '{}'", s);
    return false;
  }
  uint32_t prefix = a.IsV4() ? 32 : 128;
  if (mask) {
    uint32_t bits = 0;
    IpAddr m;
    if (ParseDecimal(*mask, &bits)) {
      if (bits > prefix) {
        *why = fmt::format("bad prefix length in '{}' (at most {})", s, prefix);
        return false;
      }
      prefix = bits;
    } else if (a.IsV4() && parse_ip(*mask, &m) && m.IsV4()) {
      // a.b.c.d/255.255.255.0 form: the mask must be contiguous ones.
      uint32_t mv = (uint32_t{m.bytes[12]} << 24) | (uint32_t{m.bytes[13]} << 16) |
                    (uint32_t{m.bytes[14]} << 8) | m.bytes[15];
      uint32_t ones = 0;
      while (ones < 32 && (mv & (0x80000000u >> ones))) ++ones;
      if (ones < 32 && (mv << ones) != 0) {
        *why = fmt::format("netmask in '{}' is not contiguous", s);
        return false;
      }
      prefix = ones;
    } else {
      *why = fmt::format("bad netmask in '{}'", s);
      return false;
    }
  }
  // IPv4 lives in ::ffff:0:0/96, so its prefix counts from bit 96.
  const uint32_t bits = a.IsV4() ? 96 + prefix : prefix;
  const U128 host = bits == 0 ? kU128Max : ((U128{1} << (128 - bits)) - 1);
  const U128 v = ToU128(a);
  *lo = v & ~host;
  *hi = v | host;
  return true;
}

bool ParsePortNumber(std::string_view s, uint32_t* out) {
  return ParseDecimal(s, out) && *out <= kPortMax;
}

bool ParsePortLiteral(std::string_view s, U128* lo, U128* hi, std::string* why) {
  uint32_t a = 0, b = kPortMax;
  if (size_t colon = s.find(':'); colon != std::string_view::npos) {
    std::string_view l = s.substr(0, colon), r = s.substr(colon + 1);
    if ((l.empty() && r.empty()) || (!l.empty() && !ParsePortNumber(l, &a)) ||
        (!r.empty() && !ParsePortNumber(r, &b))) {
      *why = fmt::format("bad port range '{}' (expected N:M, N: or :M with ports 0-65535)", s);
      return false;
    }
    if (a > b) {
      *why = fmt::format("port range '{}' is reversed", s);
      return false;
    }
  } else {
    if (!ParsePortNumber(s, &a)) {
      *why = fmt::format("bad port '{}' (expected 0-65535, N:M, any, $VAR or a [group])", s);
      return false;
    }
    b = a;
  }
  *lo = a;
  *hi = b;
  return true;
}

bool IsVarNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

void SkipBlanks(std::string_view s, size_t* i) {
  while (*i < s.size() && IsBlank(s[*i])) ++*i;
}

bool ParseList(const Ctx& ctx, std::string_view s, size_t* i, char close, ExprNode* group,
               ExprError* error);

bool ParseVariable(const Ctx& ctx, std::string_view name, size_t at, ExprNode* node,
                   ExprError* error) {
  if (name.empty()) return ctx.Fail(error, at, "'$' without a variable name");
  for (char c : name) {
    if (!IsVarNameChar(c)) return ctx.Fail(error, at, fmt::format("bad variable name '${}'", name));
  }
  const std::string* value =
      ctx.kind == FieldKind::kAddress ? ctx.vars.FindAddress(name) : ctx.vars.FindPort(name);
  if (value == nullptr) {
    return ctx.Fail(error, at, fmt::format("undefined {} variable ${}", ctx.what(), name));
  }
  if (std::find(ctx.chain.begin(), ctx.chain.end(), name) != ctx.chain.end()) {
    std::string path;
    for (const std::string& v : ctx.chain) path += "$" + v + " -> ";
    // Reported without the "in $X = ...:" prefixes: the path says it all.
    Ctx plain = ctx;
    plain.context.clear();
    return plain.Fail(error, at,
                      fmt::format("variable ${} refers to itself ({}${})", name, path, name));
  }
  Ctx inner{ctx.kind,
            ctx.vars,
            ctx.src,
            0,
            ctx.PosOf(at),
            ctx.fixed ? ctx.fixed_offset : ctx.base + at,
            ctx.context + fmt::format("in ${} = \"{}\": ", name, *value),
            ctx.chain};
  inner.chain.emplace_back(name);
  ExprNode value_node;
  value_node.kind = ExprNode::Kind::kGroup;
  size_t j = 0;
  if (!ParseList(inner, *value, &j, '\0', &value_node, error)) return false;
  node->kind = ExprNode::Kind::kVariable;
  node->text = std::string(name);
  node->children.push_back(std::move(value_node));
  return true;
}

// One element: ['!'] ( '[' list ']' | any | $VAR | literal ).
bool ParseElement(const Ctx& ctx, std::string_view s, size_t* i, ExprNode* node, ExprError* error) {
  SkipBlanks(s, i);
  const size_t start = *i;
  node->pos = ctx.PosOf(start);
  if (*i < s.size() && s[*i] == '!') {
    node->negated = true;
    ++*i;
    SkipBlanks(s, i);
  }
  const size_t text_start = *i;
  if (*i < s.size() && s[*i] == '[') {
    ++*i;
    node->kind = ExprNode::Kind::kGroup;
    if (!ParseList(ctx, s, i, ']', node, error)) return false;
    node->text = std::string(s.substr(text_start, *i - text_start));
    return true;
  }
  size_t end = *i;
  while (end < s.size() && s[end] != ',' && s[end] != ']' && s[end] != '[' && !IsBlank(s[end])) {
    ++end;
  }
  const std::string_view atom = s.substr(*i, end - *i);
  *i = end;
  if (atom.empty()) {
    if (end < s.size() && s[end] == '[') {
      return ctx.Fail(error, end, fmt::format("unexpected '[' in the {}", ctx.what()));
    }
    return ctx.Fail(error, text_start, fmt::format("missing {} (empty list element?)", ctx.what()));
  }
  node->text = std::string(atom);
  if (ToLower(atom) == "any") {
    node->kind = ExprNode::Kind::kAny;
    return true;
  }
  if (atom.front() == '$') return ParseVariable(ctx, atom.substr(1), text_start, node, error);
  std::string why;
  const bool ok = ctx.kind == FieldKind::kAddress
                      ? ParseAddressLiteral(atom, &node->lo, &node->hi, &why)
                      : ParsePortLiteral(atom, &node->lo, &node->hi, &why);
  if (!ok) return ctx.Fail(error, text_start, why);
  node->kind = ExprNode::Kind::kValue;
  return true;
}

// Comma-separated elements up to `close` (']' for a group, '\0' for the end of the text).
bool ParseList(const Ctx& ctx, std::string_view s, size_t* i, char close, ExprNode* group,
               ExprError* error) {
  for (;;) {
    SkipBlanks(s, i);
    if (close == ']' && *i < s.size() && s[*i] == ']' && group->children.empty()) {
      return ctx.Fail(error, *i, fmt::format("empty {} group '[]'", ctx.what()));
    }
    ExprNode child;
    if (!ParseElement(ctx, s, i, &child, error)) return false;
    group->children.push_back(std::move(child));
    SkipBlanks(s, i);
    if (*i < s.size() && s[*i] == ',') {
      ++*i;
      continue;
    }
    if (close == ']') {
      if (*i < s.size() && s[*i] == ']') {
        ++*i;
        return true;
      }
      return ctx.Fail(error, *i,
                      *i < s.size() ? fmt::format("expected ',' or ']' in the {} group, found '{}'",
                                                  ctx.what(), s[*i])
                                    : fmt::format("missing ']' in the {} group", ctx.what()));
    }
    if (*i < s.size()) {
      return ctx.Fail(error, *i,
                      fmt::format("unexpected '{}' in the {}", s.substr(*i), ctx.what()));
    }
    return true;
  }
}

template <class Set, class T>
Set Evaluate(const ExprNode& node, T max);

// The node's set ignoring its own '!'.
template <class Set, class T>
Set EvaluatePlain(const ExprNode& node, T max) {
  using Range = typename Set::Range;
  switch (node.kind) {
    case ExprNode::Kind::kAny:
      return Set::All(max);
    case ExprNode::Kind::kValue:
      return Set::Of(max, {Range{static_cast<T>(node.lo), static_cast<T>(node.hi)}});
    case ExprNode::Kind::kVariable:
      return Evaluate<Set>(node.children.front(), max);
    case ExprNode::Kind::kGroup:
      break;
  }
  // Gather the members' ranges and normalise once: reputation groups have hundreds of members.
  std::vector<Range> positive, negative;
  bool any_positive = false;
  for (const ExprNode& c : node.children) {
    Set s = EvaluatePlain<Set>(c, max);
    std::vector<Range>& into = c.negated ? negative : positive;
    into.insert(into.end(), s.ranges().begin(), s.ranges().end());
    any_positive |= !c.negated;
  }
  Set base = any_positive ? Set::Of(max, std::move(positive)) : Set::All(max);
  return negative.empty() ? base : base.Minus(Set::Of(max, std::move(negative)));
}

template <class Set, class T>
Set Evaluate(const ExprNode& node, T max) {
  Set plain = EvaluatePlain<Set>(node, max);
  return node.negated ? plain.Complement() : plain;
}

// The whole field. A top-level comma list ("80,443") is an implicit group, as Suricata reads it.
bool ParseField(const Ctx& ctx, std::string_view text, ExprNode* root, ExprError* error) {
  ExprNode list;
  list.kind = ExprNode::Kind::kGroup;
  size_t i = 0;
  if (!ParseList(ctx, text, &i, '\0', &list, error)) return false;
  if (list.children.size() == 1) {
    *root = std::move(list.children.front());
  } else {
    list.text = std::string(text);
    list.pos = ctx.PosOf(0);
    *root = std::move(list);
  }
  return true;
}

}  // namespace

bool ParseAddressField(std::string_view text, size_t offset, const SourceText& src,
                       const Vars& vars, AddressSpec* out, ExprError* error) {
  Ctx ctx{FieldKind::kAddress, vars, src, offset, std::nullopt, 0, {}, {}};
  if (!ParseField(ctx, text, &out->expr, error)) return false;
  out->set = Evaluate<IpSet>(out->expr, kU128Max);
  if (out->set.empty()) {
    return ctx.Fail(error, 0, fmt::format("address '{}' matches no address", text));
  }
  return true;
}

bool ParsePortField(std::string_view text, size_t offset, const SourceText& src, const Vars& vars,
                    PortSpec* out, ExprError* error) {
  Ctx ctx{FieldKind::kPort, vars, src, offset, std::nullopt, 0, {}, {}};
  if (!ParseField(ctx, text, &out->expr, error)) return false;
  out->set = Evaluate<PortSet>(out->expr, kPortMax);
  if (out->set.empty()) return ctx.Fail(error, 0, fmt::format("port '{}' matches no port", text));
  return true;
}

}  // namespace fs::patterns
