#include "patterns/conditions.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "dataplane/common/ascii.h"
#include "patterns/text_util.h"

namespace fs::patterns {
namespace {

// Suricata's flowbits OR lists hold at most this many names (MAX_TOKENS).
constexpr size_t kMaxOrNames = 100;
// Flowbit ids are 16-bit; kNoFlowbitId is reserved.
constexpr size_t kMaxFlowbitIds = kNoFlowbitId;

constexpr auto EqualsNoCase = AsciiIEquals;

bool IsDigit(char ch) { return ch >= '0' && ch <= '9'; }

// Splits on ',' keeping empty pieces, each trimmed of blanks.
std::vector<std::string_view> SplitComma(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    const size_t end = comma == std::string_view::npos ? s.size() : comma;
    out.push_back(Trim(s.substr(start, end - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// flow

struct FlowName {
  std::string_view name;
  uint16_t flag;
};
constexpr FlowName kFlowNames[] = {
    {"to_server", flowopt::kToServer},      {"from_client", flowopt::kToServer},
    {"to_client", flowopt::kToClient},      {"from_server", flowopt::kToClient},
    {"established", flowopt::kEstablished}, {"not_established", flowopt::kNotEstablished},
    {"stateless", flowopt::kStateless},     {"only_stream", flowopt::kOnlyStream},
    {"no_stream", flowopt::kNoStream},      {"only_frag", flowopt::kOnlyFrag},
    {"no_frag", flowopt::kNoFrag},
};

const char* FlowFlagName(uint16_t flag) {
  switch (flag) {
    case flowopt::kToServer:
      return "to_server";
    case flowopt::kToClient:
      return "to_client";
    case flowopt::kEstablished:
      return "established";
    case flowopt::kNotEstablished:
      return "not_established";
    case flowopt::kStateless:
      return "stateless";
    case flowopt::kOnlyStream:
      return "only_stream";
    case flowopt::kNoStream:
      return "no_stream";
    case flowopt::kOnlyFrag:
      return "only_frag";
    case flowopt::kNoFrag:
      return "no_frag";
  }
  return "?";
}

// Options that exclude each other, as Suricata's DetectFlowParse checks them (note that
// not_established and stateless may be combined: Suricata accepts it, and such a rule can never
// match; so do we).
uint16_t FlowConflicts(uint16_t flag) {
  using namespace flowopt;
  switch (flag) {
    case kToServer:
      return kToClient;
    case kToClient:
      return kToServer;
    case kEstablished:
      return kNotEstablished | kStateless;
    case kNotEstablished:
      return kEstablished;
    case kStateless:
      return kEstablished;
    case kOnlyStream:
      return kNoStream;
    case kNoStream:
      return kOnlyStream;
    case kOnlyFrag:
      return kNoFrag;
    case kNoFrag:
      return kOnlyFrag;
  }
  return 0;
}

bool ParseFlow(std::string_view value, RuleConditions* c, std::string* error) {
  if (c->flow_locked) {
    *error =
        "flow: a rule may have only one flow option (besides direction-only ones such as "
        "flow:to_server)";
    return false;
  }
  if (value.empty()) {
    *error = "flow: needs a value, e.g. flow:to_server,established";
    return false;
  }
  const std::vector<std::string_view> parts = SplitComma(value);
  if (parts.size() > 3) {
    *error = fmt::format("flow: \"{}\": at most three options may be combined", value);
    return false;
  }
  FlowTest t;
  for (std::string_view part : parts) {
    const bool word = !part.empty() && std::all_of(part.begin(), part.end(), [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
    });
    if (!word) {
      *error = fmt::format(
          "flow: cannot parse \"{}\": expected one to three options separated by commas", value);
      return false;
    }
    uint16_t flag = 0;
    for (const FlowName& n : kFlowNames) {
      if (EqualsNoCase(part, n.name)) flag = n.flag;
    }
    if (flag == 0) {
      *error = fmt::format(
          "flow: invalid option \"{}\" (valid: to_server, from_client, to_client, from_server, "
          "established, not_established, stateless, only_stream, no_stream, only_frag, no_frag)",
          part);
      return false;
    }
    if (t.flags & flag) {
      *error = fmt::format("flow: option {} given twice", FlowFlagName(flag));
      return false;
    }
    if (const uint16_t clash = t.flags & FlowConflicts(flag); clash != 0) {
      const uint16_t other = clash & static_cast<uint16_t>(-clash);  // lowest bit
      *error = fmt::format("flow: {} cannot be combined with {}", FlowFlagName(flag),
                           FlowFlagName(other));
      return false;
    }
    t.flags |= flag;
    ++t.match_count;
  }

  c->has_flow = true;
  if (t.flags & flowopt::kToServer) c->flow_dirs |= static_cast<uint8_t>(DirMask::kToServer);
  if (t.flags & flowopt::kToClient) c->flow_dirs |= static_cast<uint8_t>(DirMask::kToClient);
  if (t.flags & flowopt::kOnlyStream) {
    c->unsupported = "flow:only_stream";
    *error =
        "flow:only_stream is not supported yet: the sensor inspects TCP packets and their "
        "reassembled stream together and cannot restrict a rule to the stream alone";
  } else if (t.flags & flowopt::kOnlyFrag) {
    c->unsupported = "flow:only_frag";
    *error =
        "flow:only_frag is not supported yet: the sensor cannot restrict a rule to "
        "reassembled IP fragments";
  }
  // As DetectFlowSetup: a direction-only flow option is no test (only the rule's direction);
  // one with no_stream is a test but does not lock out further flow options.
  if (t.flags & flowopt::kNoStream) {
    c->flow_tests.push_back(t);
  } else if (t.flags != flowopt::kToServer && t.flags != flowopt::kToClient) {
    c->flow_tests.push_back(t);
    c->flow_locked = true;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// dsize, itype, icode: Suricata 7's unsigned-integer grammar (rust/src/detect/uint.rs) for an
// integer type whose largest value is `max` (0xffff for dsize, 0xff for itype/icode).

struct UintCursor {
  std::string_view s;
  size_t i = 0;
  uint32_t max = 0xffff;

  bool AtEnd() const { return i >= s.size(); }
  char Peek() const { return AtEnd() ? '\0' : s[i]; }
  void SkipSpaces() {
    while (!AtEnd() && s[i] == ' ') ++i;
  }
  bool Consume(std::string_view t) {
    if (s.substr(i, t.size()) != t) return false;
    i += t.size();
    return true;
  }
  // digit1 parsed as the integer type: fails (and consumes nothing) without digits or on
  // overflow.
  std::optional<uint32_t> Number() {
    size_t j = i;
    uint32_t v = 0;
    while (j < s.size() && IsDigit(s[j])) {
      v = v * 10 + static_cast<uint32_t>(s[j] - '0');
      if (v > max) return std::nullopt;
      ++j;
    }
    if (j == i) return std::nullopt;
    i = j;
    return v;
  }
};

struct UintValue {
  UintMode mode = UintMode::kEq;
  uint32_t lo = 0, hi = 0;
};

// "N-M" / "N<>M", exclusive, M - N > 1.
std::optional<UintValue> UintInterval(UintCursor cur, size_t* end) {
  const auto lo = cur.Number();
  if (!lo) return std::nullopt;
  cur.SkipSpaces();
  if (!cur.Consume("-") && !cur.Consume("<>")) return std::nullopt;
  cur.SkipSpaces();
  const auto hi = cur.Number();
  if (!hi || !(*hi > *lo && *hi - *lo > 1)) return std::nullopt;
  *end = cur.i;
  return UintValue{UintMode::kRange, *lo, *hi};
}

// "[=][ ]N[kb|mb|gb]".
std::optional<UintValue> UintEqual(UintCursor cur, size_t* end) {
  cur.Consume("=");
  cur.SkipSpaces();
  auto v = cur.Number();
  if (!v) return std::nullopt;
  uint32_t unit = 0;
  const std::string_view rest = cur.s.substr(cur.i, 2);
  if (EqualsNoCase(rest, "kb")) unit = 1024;
  if (EqualsNoCase(rest, "mb")) unit = 1024 * 1024;
  if (EqualsNoCase(rest, "gb")) unit = 1024u * 1024u * 1024u;
  if (unit != 0) {
    cur.i += 2;
    if (*v >= 1) {
      if (cur.max / unit < *v) return std::nullopt;
      *v *= unit;
    }
  }
  *end = cur.i;
  return UintValue{UintMode::kEq, *v, 0};
}

// ">=N", "<=N", ">N", "<N", "!=N", "!N" (each bound that could never match is refused).
std::optional<UintValue> UintSymbol(UintCursor cur, size_t* end) {
  UintMode mode;
  if (cur.Consume(">=")) {
    mode = UintMode::kGte;
  } else if (cur.Consume("<=")) {
    mode = UintMode::kLte;
  } else if (cur.Consume(">")) {
    mode = UintMode::kGt;
  } else if (cur.Consume("<")) {
    mode = UintMode::kLt;
  } else if (cur.Consume("!=") || cur.Consume("!")) {
    mode = UintMode::kNe;
  } else {
    return std::nullopt;
  }
  cur.SkipSpaces();
  const auto v = cur.Number();
  if (!v) return std::nullopt;
  if ((mode == UintMode::kLt && *v == 0) || (mode == UintMode::kGte && *v == 0) ||
      (mode == UintMode::kLte && *v == cur.max) || (mode == UintMode::kGt && *v == cur.max)) {
    return std::nullopt;
  }
  *end = cur.i;
  return UintValue{mode, *v, 0};
}

// The whole value, or nullopt when Suricata's parser refuses it.
std::optional<UintValue> ParseUint(std::string_view value, uint32_t max) {
  UintCursor cur{value, 0, max};
  cur.SkipSpaces();
  // Like nom's alt(): the first alternative that parses wins, the rest must be blanks.
  size_t end = 0;
  std::optional<UintValue> d = UintInterval(cur, &end);
  if (!d) d = UintEqual(cur, &end);
  if (!d) d = UintSymbol(cur, &end);
  if (!d) return std::nullopt;
  cur.i = end;
  cur.SkipSpaces();
  if (!cur.AtEnd()) return std::nullopt;
  return d;
}

std::string UintUsage(std::string_view keyword, std::string_view value, uint32_t max) {
  return fmt::format(
      "{}: cannot parse \"{}\" (expected N, <N, <=N, >N, >=N, !N or N<>M with M > N + 1, each "
      "within 0-{}; a bound that can never match is refused)",
      keyword, value, max);
}

bool ParseDsize(std::string_view value, RuleConditions* c, std::string* error) {
  if (c->has_dsize) {
    *error = "dsize: a rule may have only one dsize option";
    return false;
  }
  const std::optional<UintValue> d = ParseUint(value, 0xffff);
  if (!d) {
    *error = UintUsage("dsize", value, 0xffff);
    return false;
  }
  c->has_dsize = true;
  c->dsize_mode = d->mode;
  c->dsize_lo = static_cast<uint16_t>(d->lo);
  c->dsize_hi = static_cast<uint16_t>(d->hi);
  return true;
}

// itype / icode (DetectU8Parse). Suricata accepts several of one kind (all must hold); the
// sensor holds one and skips a rule with more.
bool ParseU8Test(std::string_view keyword, std::string_view value, U8Test* t, RuleConditions* c,
                 std::string* error) {
  const std::optional<UintValue> d = ParseUint(value, 0xff);
  if (!d) {
    *error = UintUsage(keyword, value, 0xff);
    return false;
  }
  if (t->set) {
    if (c->unsupported.empty()) {
      c->unsupported = fmt::format("{}:repeated", keyword);
      *error = fmt::format("a second '{}' option in one rule is not supported yet", keyword);
    }
    return true;
  }
  t->set = true;
  t->mode = d->mode;
  t->lo = static_cast<uint8_t>(d->lo);
  t->hi = static_cast<uint8_t>(d->hi);
  return true;
}

// ---------------------------------------------------------------------------------------------
// flags (tcp.flags): detect-tcp-flags.c's grammar: an optional modifier (+ * !), the flags
// (S A F R P U C E, 1 = C, 2 = E, 0 = none; modifiers may also appear among them, once), then
// optionally ",MASK" of flags to ignore. Letters are upper case (Suricata's regex).

uint8_t TcpFlagBit(char ch) {
  switch (ch) {
    case 'S':
      return 0x02;
    case 'A':
      return 0x10;
    case 'F':
      return 0x01;
    case 'R':
      return 0x04;
    case 'P':
      return 0x08;
    case 'U':
      return 0x20;
    case '1':
    case 'C':
      return 0x80;
    case '2':
    case 'E':
      return 0x40;
  }
  return 0;
}

std::optional<TcpFlagsTest::Modifier> TcpFlagsModifier(char ch) {
  switch (ch) {
    case '!':
      return TcpFlagsTest::Modifier::kNot;
    case '+':
      return TcpFlagsTest::Modifier::kPlus;
    case '*':
      return TcpFlagsTest::Modifier::kAny;
  }
  return std::nullopt;
}

bool ParseTcpFlags(std::string_view keyword, std::string_view value, RuleConditions* c,
                   std::string* error) {
  auto bad = [&](std::string_view why) {
    *error = fmt::format(
        "{}: cannot parse \"{}\": {} (expected [+*!]FLAGS[,IGNORED] with the upper-case flags S A "
        "F R P U C E, 1, 2 or 0, e.g. flags:S,12 or flags:!R)",
        keyword, value, why);
    return false;
  };
  std::string_view v = value;
  TcpFlagsTest t;
  // The leading modifier: Suricata's first group, which the flags group may also take back when
  // nothing else follows ("flags:!" has no flags).
  bool modifier_seen = false;
  if (!v.empty() && TcpFlagsModifier(v.front()) && v.size() > 1) {
    t.modifier = *TcpFlagsModifier(v.front());
    modifier_seen = true;
    v = Trim(v.substr(1));
  }
  const size_t comma = v.find(',');
  const std::string_view main = Trim(v.substr(0, comma));
  if (main.empty()) return bad("no flags");
  int found = 0;
  for (char ch : main) {
    if (const auto m = TcpFlagsModifier(ch)) {
      if (modifier_seen) return bad("only one modifier (+, * or !) is allowed");
      t.modifier = *m;
      modifier_seen = true;
    } else if (ch == '0') {
      t.flags = 0;
      ++found;
    } else if (const uint8_t bit = TcpFlagBit(ch); bit != 0) {
      t.flags |= bit;
      ++found;
    } else {
      return bad(fmt::format("'{}' is not a flag", ch));
    }
  }
  if (found == 0) return bad("no flags");
  if (comma != std::string_view::npos) {
    const std::string_view mask = Trim(v.substr(comma + 1));
    if (mask.empty()) return bad("empty mask after ','");
    for (char ch : mask) {
      const uint8_t bit = TcpFlagBit(ch);
      if (bit == 0) return bad(fmt::format("'{}' is not a flag the mask can ignore", ch));
      t.keep &= static_cast<uint8_t>(~bit);
    }
  }
  if (c->tcp_flags.set) {
    if (c->unsupported.empty()) {
      c->unsupported = "flags:repeated";
      *error = "a second 'flags' option in one rule is not supported yet";
    }
    return true;
  }
  t.set = true;
  c->tcp_flags = t;
  return true;
}

// ---------------------------------------------------------------------------------------------
// flowbits

bool ParseFlowbits(std::string_view value, RuleConditions* c, std::string* error) {
  // As Suricata's "^([a-z]+)(?:,\s*(.*))?": the action is lower case.
  size_t n = 0;
  while (n < value.size() && value[n] >= 'a' && value[n] <= 'z') ++n;
  if (n == 0) {
    *error = fmt::format(
        "flowbits: \"{}\" is not a valid setting (expected ACTION,NAME with a lower-case action "
        "set, unset, toggle, isset or isnotset, or noalert)",
        value);
    return false;
  }
  const std::string_view action = value.substr(0, n);
  std::string_view rest = value.substr(n);
  const bool has_name_part = !rest.empty() && rest.front() == ',';
  if (!rest.empty() && !has_name_part) {
    *error = fmt::format("flowbits: \"{}\": expected a ',' after \"{}\"", value, action);
    return false;
  }
  std::string_view name = has_name_part ? Trim(rest.substr(1)) : std::string_view{};

  if (action == "noalert") {
    if (has_name_part) {
      *error = "flowbits: noalert takes no name";
      return false;
    }
    c->noalert = true;
    return true;
  }
  FlowbitCmd cmd;
  if (action == "isset") {
    cmd = FlowbitCmd::kIsset;
  } else if (action == "isnotset") {
    cmd = FlowbitCmd::kIsnotset;
  } else if (action == "set") {
    cmd = FlowbitCmd::kSet;
  } else if (action == "unset") {
    cmd = FlowbitCmd::kUnset;
  } else if (action == "toggle") {
    cmd = FlowbitCmd::kToggle;
  } else {
    *error = fmt::format(
        "flowbits: action \"{}\" is not supported (expected set, unset, toggle, isset, isnotset "
        "or noalert)",
        action);
    return false;
  }
  if (name.empty()) {
    *error = fmt::format("flowbits: {} needs a flowbit name (flowbits:{},NAME)", action, action);
    return false;
  }

  std::vector<std::string_view> names;
  if (name.find('|') == std::string_view::npos) {
    if (std::any_of(name.begin(), name.end(), IsBlank)) {
      *error = fmt::format("flowbits: spaces are not allowed in flowbit names (\"{}\")", name);
      return false;
    }
    names.push_back(name);
  } else {
    if (cmd != FlowbitCmd::kIsset && cmd != FlowbitCmd::kIsnotset) {
      // Suricata 7 accepts this but then acts on an unrelated flowbit (id 0).
      *error = fmt::format(
          "flowbits: \"{}\": a list of names (a|b) is only valid with isset and isnotset", value);
      return false;
    }
    size_t start = 0;
    while (start <= name.size()) {
      size_t bar = name.find('|', start);
      if (bar == std::string_view::npos) bar = name.size();
      const std::string_view token = Trim(name.substr(start, bar - start));
      start = bar + 1;
      if (token.empty()) continue;
      if (std::any_of(token.begin(), token.end(), IsBlank)) {
        *error = fmt::format("flowbits: spaces are not allowed in flowbit names (\"{}\")", token);
        return false;
      }
      if (names.size() == kMaxOrNames) {
        *error = fmt::format("flowbits: more than {} names in one list", kMaxOrNames);
        return false;
      }
      names.push_back(token);
    }
    if (names.empty()) {
      *error = fmt::format("flowbits: no valid flowbit name in \"{}\"", name);
      return false;
    }
  }
  for (std::string_view nm : names) {
    if (nm.find('&') != std::string_view::npos) {
      c->unsupported = "flowbits:&";
      *error = fmt::format(
          "flowbits: \"{}\": '&' (an AND of flowbits) is not supported: Suricata 7 reads \"{}\" "
          "as one flowbit name that no rule sets; write one flowbits:{} option per name",
          value, nm, action);
      break;
    }
  }

  if (c->flowbit_names.size() + names.size() > kMaxFlowbitIds) {
    *error = "flowbits: too many flowbit names in one rule";
    return false;
  }
  FlowbitOp op;
  op.cmd = cmd;
  op.first = static_cast<uint16_t>(c->flowbit_names.size());
  op.count = static_cast<uint16_t>(names.size());
  for (std::string_view nm : names) {
    c->flowbit_names.emplace_back(nm);
    c->flowbit_ids.push_back(kNoFlowbitId);
  }
  c->flowbit_ops.push_back(op);
  return true;
}

// ---------------------------------------------------------------------------------------------
// threshold / detection_filter

// Parses "key value, key value, ..." where every key in `keys` must appear exactly once (keys and
// values are case-sensitive, as Suricata's regex). values[i] receives the value of keys[i].
bool ParseKeyValues(std::string_view keyword, std::string_view value,
                    std::span<const std::string_view> keys, std::vector<std::string_view>* values,
                    std::string_view usage, std::string* error) {
  values->assign(keys.size(), std::string_view{});
  std::vector<bool> seen(keys.size(), false);
  if (value.empty()) {
    *error = fmt::format("{}: needs a value: {}", keyword, usage);
    return false;
  }
  for (std::string_view part : SplitComma(value)) {
    size_t sp = 0;
    while (sp < part.size() && !IsBlank(part[sp])) ++sp;
    const std::string_view key = part.substr(0, sp);
    const std::string_view val = Trim(part.substr(sp));
    size_t k = 0;
    while (k < keys.size() && keys[k] != key) ++k;
    if (part.empty() || k == keys.size()) {
      *error =
          fmt::format("{}: unexpected \"{}\" in \"{}\" (expected {})", keyword, part, value, usage);
      return false;
    }
    if (seen[k]) {
      *error = fmt::format("{}: \"{}\" given twice in \"{}\"", keyword, key, value);
      return false;
    }
    if (val.empty()) {
      *error = fmt::format("{}: \"{}\" needs a value in \"{}\"", keyword, key, value);
      return false;
    }
    seen[k] = true;
    (*values)[k] = val;
  }
  for (size_t k = 0; k < keys.size(); ++k) {
    if (!seen[k]) {
      *error = fmt::format("{}: \"{}\" is missing in \"{}\" (expected {})", keyword, keys[k], value,
                           usage);
      return false;
    }
  }
  return true;
}

bool ParseTrack(std::string_view keyword, std::string_view v, bool allow_rule_both,
                ThresholdTrack* out, std::string* error) {
  if (v == "by_src") {
    *out = ThresholdTrack::kBySrc;
  } else if (v == "by_dst") {
    *out = ThresholdTrack::kByDst;
  } else if (allow_rule_both && v == "by_rule") {
    *out = ThresholdTrack::kByRule;
  } else if (allow_rule_both && v == "by_both") {
    *out = ThresholdTrack::kByBoth;
  } else {
    *error =
        fmt::format("{}: invalid track \"{}\" (expected {})", keyword, v,
                    allow_rule_both ? "by_src, by_dst, by_rule or by_both" : "by_src or by_dst");
    return false;
  }
  return true;
}

bool ParseCount(std::string_view keyword, std::string_view key, std::string_view v, uint32_t* out,
                std::string* error) {
  if (!ParseDecimal(v, out)) {
    *error = fmt::format("{}: {} must be a whole number from 0 to 4294967295, got \"{}\"", keyword,
                         key, v);
    return false;
  }
  return true;
}

bool CheckThresholdSlot(std::string_view keyword, const RuleConditions& c, std::string* error) {
  if (c.threshold_type == ThresholdType::kNone) return true;
  const bool have_df = c.threshold_type == ThresholdType::kDetectionFilter;
  if (keyword == "threshold") {
    *error = have_df ? "threshold: \"detection_filter\" and \"threshold\" are not allowed in the "
                       "same rule"
                     : "threshold: multiple \"threshold\" options are not allowed in the same rule";
  } else {
    *error = have_df ? "detection_filter: at most one \"detection_filter\" is allowed per rule"
                     : "detection_filter: \"detection_filter\" and \"threshold\" are not allowed "
                       "in the same rule";
  }
  return false;
}

bool ParseThreshold(std::string_view value, RuleConditions* c, std::string* error) {
  if (!CheckThresholdSlot("threshold", *c, error)) return false;
  static constexpr std::string_view kKeys[] = {"type", "track", "count", "seconds"};
  constexpr std::string_view kUsage =
      "\"type limit|threshold|both, track by_src|by_dst|by_rule|by_both, count N, seconds N\"";
  std::vector<std::string_view> v;
  if (!ParseKeyValues("threshold", value, kKeys, &v, kUsage, error)) return false;
  ThresholdType type;
  if (v[0] == "limit") {
    type = ThresholdType::kLimit;
  } else if (v[0] == "threshold") {
    type = ThresholdType::kThreshold;
  } else if (v[0] == "both") {
    type = ThresholdType::kBoth;
  } else {
    *error = fmt::format(
        "threshold: invalid type \"{}\" (expected limit, threshold or both; rate_filter and "
        "suppress belong in threshold.config)",
        v[0]);
    return false;
  }
  ThresholdTrack track;
  uint32_t count = 0, seconds = 0;
  if (!ParseTrack("threshold", v[1], true, &track, error) ||
      !ParseCount("threshold", "count", v[2], &count, error) ||
      !ParseCount("threshold", "seconds", v[3], &seconds, error)) {
    return false;
  }
  c->threshold_type = type;
  c->threshold_track = track;
  c->threshold_count = count;
  c->threshold_seconds = seconds;
  return true;
}

bool ParseDetectionFilter(std::string_view value, RuleConditions* c, std::string* error) {
  if (!CheckThresholdSlot("detection_filter", *c, error)) return false;
  static constexpr std::string_view kKeys[] = {"track", "count", "seconds"};
  constexpr std::string_view kUsage = "\"track by_src|by_dst, count N, seconds N\"";
  std::vector<std::string_view> v;
  if (!ParseKeyValues("detection_filter", value, kKeys, &v, kUsage, error)) return false;
  ThresholdTrack track;
  uint32_t count = 0, seconds = 0;
  if (!ParseTrack("detection_filter", v[0], false, &track, error) ||
      !ParseCount("detection_filter", "count", v[1], &count, error) ||
      !ParseCount("detection_filter", "seconds", v[2], &seconds, error)) {
    return false;
  }
  if (count == 0 || seconds == 0) {
    *error = "detection_filter: count and seconds must be greater than 0";
    return false;
  }
  c->threshold_type = ThresholdType::kDetectionFilter;
  c->threshold_track = track;
  c->threshold_count = count;
  c->threshold_seconds = seconds;
  return true;
}

// Suricata's flowbits "user type" for ordering: 4 set-only, 3 set and read, 2 read-only, 1 none.
uint64_t FlowbitsOrderClass(const RuleConditions& c) {
  const bool reads = c.HasFlowbitReads();
  const bool writes = c.HasFlowbitWrites();
  if (writes && !reads) return 0;
  if (writes && reads) return 1;
  if (reads) return 2;
  return 3;
}

}  // namespace

bool RuleConditions::HasFlowbitReads() const {
  return std::any_of(flowbit_ops.begin(), flowbit_ops.end(), [](const FlowbitOp& op) {
    return op.cmd == FlowbitCmd::kIsset || op.cmd == FlowbitCmd::kIsnotset;
  });
}

bool RuleConditions::HasFlowbitWrites() const {
  return std::any_of(flowbit_ops.begin(), flowbit_ops.end(), [](const FlowbitOp& op) {
    return op.cmd == FlowbitCmd::kSet || op.cmd == FlowbitCmd::kUnset ||
           op.cmd == FlowbitCmd::kToggle;
  });
}

bool TcpFlagsTest::Holds(uint8_t packet_flags) const {
  // As Suricata's FlagsMatch: "no flags" is tested on the unmasked flags.
  if (flags == 0 && packet_flags != 0) return modifier == Modifier::kNot;
  const uint8_t f = packet_flags & keep;
  switch (modifier) {
    case Modifier::kAny:
      return (f & flags) != 0;
    case Modifier::kPlus:
      return (f & flags) == flags;
    case Modifier::kNot:
      return (f & flags) != flags;
    case Modifier::kExact:
      return f == flags;
  }
  return false;
}

bool RuleConditions::RequiresPacket() const {
  return has_dsize || HasPacketTests() ||
         std::any_of(flow_tests.begin(), flow_tests.end(),
                     [](const FlowTest& t) { return (t.flags & flowopt::kNoStream) != 0; });
}

bool IsConditionKeyword(std::string_view k) {
  return k == "flow" || k == "flowbits" || k == "dsize" || k == "threshold" ||
         k == "detection_filter" || k == "flags" || k == "tcp.flags" || k == "itype" ||
         k == "icode";
}

bool ParseConditionOption(std::string_view keyword, std::string_view value, RuleConditions* c,
                          std::string* error) {
  value = Trim(value);
  const std::string kw = ToLower(keyword);
  if (kw == "flow") return ParseFlow(value, c, error);
  if (kw == "dsize") return ParseDsize(value, c, error);
  if (kw == "flowbits") return ParseFlowbits(value, c, error);
  if (kw == "threshold") return ParseThreshold(value, c, error);
  if (kw == "detection_filter") return ParseDetectionFilter(value, c, error);
  if (kw == "flags" || kw == "tcp.flags") return ParseTcpFlags(kw, value, c, error);
  if (kw == "itype") return ParseU8Test(kw, value, &c->itype, c, error);
  if (kw == "icode") return ParseU8Test(kw, value, &c->icode, c, error);
  *error = fmt::format("\"{}\" is not a runtime condition keyword", keyword);
  return false;
}

DirMask DirectionsOf(const RuleConditions& c) {
  switch (c.flow_dirs) {
    case static_cast<uint8_t>(DirMask::kToServer):
      return DirMask::kToServer;
    case static_cast<uint8_t>(DirMask::kToClient):
      return DirMask::kToClient;
    default:
      return DirMask::kBoth;
  }
}

bool AllowsIpOnly(const RuleConditions& c) {
  if (c.has_flow || c.has_dsize || c.HasPacketTests()) return false;
  return std::all_of(c.flowbit_ops.begin(), c.flowbit_ops.end(),
                     [](const FlowbitOp& op) { return op.cmd == FlowbitCmd::kSet; });
}

int DsizeMaxRightEdge(const RuleConditions& c) {
  if (!c.has_dsize) return -1;
  switch (c.dsize_mode) {
    case DsizeMode::kEq:
    case DsizeMode::kNe:
    case DsizeMode::kLt:
      return c.dsize_lo;
    case DsizeMode::kRange:
    case DsizeMode::kRangeInclusive:  // not a dsize form
      return c.dsize_hi;
    case DsizeMode::kLte:
    case DsizeMode::kGt:
    case DsizeMode::kGte:
      return -1;
  }
  return -1;
}

uint16_t ConditionsCatalog::FindFlowbit(std::string_view name) const {
  if (name.empty()) return kNoFlowbitId;
  for (size_t i = 0; i < flowbit_names.size(); ++i) {
    if (flowbit_names[i] == name) return static_cast<uint16_t>(i);
  }
  return kNoFlowbitId;
}

size_t ConditionsCatalog::flowbit_count() const {
  return static_cast<size_t>(std::count_if(flowbit_names.begin(), flowbit_names.end(),
                                           [](const std::string& n) { return !n.empty(); }));
}

uint64_t EvaluationOrderKey(const RuleConditions& c, uint32_t priority, uint32_t sid) {
  constexpr uint32_t kMaxPriority = (uint32_t{1} << 30) - 1;
  return FlowbitsOrderClass(c) << 62 | uint64_t{std::min(priority, kMaxPriority)} << 32 | sid;
}

Expected<FinalizedConditions> FinalizeConditions(std::span<const ConditionsRef> rules,
                                                 const ConditionsCatalog* previous) {
  FinalizedConditions out;

  // How each name is used: references (to give the most used names the ids that fit the
  // flow's inline bitmap), and Suricata's "checked but not set" analysis.
  struct Use {
    uint32_t refs = 0;
    uint32_t sets = 0;    // set or toggle
    uint32_t checks = 0;  // isset
    size_t first_check = 0;
  };
  std::map<std::string, Use, std::less<>> uses;
  for (size_t r = 0; r < rules.size(); ++r) {
    const RuleConditions& c = *rules[r].conditions;
    for (const FlowbitOp& op : c.flowbit_ops) {
      for (uint16_t i = op.first; i < op.first + op.count; ++i) {
        Use& u = uses[c.flowbit_names[i]];
        ++u.refs;
        if (op.cmd == FlowbitCmd::kSet || op.cmd == FlowbitCmd::kToggle) ++u.sets;
        if (op.cmd == FlowbitCmd::kIsset) {
          if (u.checks++ == 0) u.first_check = r;
        }
      }
    }
  }
  if (uses.size() > kMaxFlowbitIds - 1) {
    return Error{fmt::format("the rules use {} distinct flowbit names; at most {} are supported",
                             uses.size(), kMaxFlowbitIds - 1)};
  }

  // Ids: names the running set has keep theirs. Ids of names it dropped are retired for one
  // reload (flows that were open at the swap may carry them). The rest are free.
  std::vector<std::string>& names = out.catalog.flowbit_names;
  std::vector<bool> blocked;
  if (previous != nullptr) {
    names.assign(previous->flowbit_names.size(), std::string{});
    blocked.assign(previous->flowbit_names.size(), false);
    for (size_t id = 0; id < previous->flowbit_names.size(); ++id) {
      const std::string& n = previous->flowbit_names[id];
      if (n.empty()) continue;
      if (uses.count(n) != 0) {
        names[id] = n;
      } else {
        blocked[id] = true;
        out.catalog.retired.push_back(static_cast<uint16_t>(id));
      }
    }
  }
  std::vector<std::pair<std::string_view, uint32_t>> fresh;
  for (const auto& [name, use] : uses) {
    if (previous == nullptr || previous->FindFlowbit(name) == kNoFlowbitId) {
      fresh.emplace_back(name, use.refs);
    }
  }
  std::stable_sort(fresh.begin(), fresh.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  size_t next = 0;
  for (const auto& [name, refs] : fresh) {
    (void)refs;
    while (next < names.size() && (!names[next].empty() || blocked[next])) ++next;
    if (next >= kMaxFlowbitIds) {
      return Error{
          "flowbit ids exhausted: too many flowbit names over recent reloads; restart "
          "the sensor to renumber them"};
    }
    if (next == names.size()) {
      names.emplace_back();
      blocked.push_back(false);
    }
    names[next] = std::string(name);
    ++next;
  }
  // Trailing unused ids need no slot: the catalog does not grow with churn. (A retired id past
  // the end is still listed in `retired`, and ids are only handed out above, before this.)
  while (!names.empty() && names.back().empty()) names.pop_back();

  std::unordered_map<std::string_view, uint16_t> ids;
  for (size_t id = 0; id < names.size(); ++id) {
    if (!names[id].empty()) ids.emplace(names[id], static_cast<uint16_t>(id));
  }
  out.order_keys.reserve(rules.size());
  for (const ConditionsRef& ref : rules) {
    RuleConditions& c = *ref.conditions;
    c.flowbit_ids.resize(c.flowbit_names.size());
    for (size_t i = 0; i < c.flowbit_names.size(); ++i)
      c.flowbit_ids[i] = ids.at(c.flowbit_names[i]);
    out.order_keys.push_back(EvaluationOrderKey(c, ref.rule->severity, ref.rule->sid));
  }

  for (const auto& [name, use] : uses) {
    if (use.checks == 0 || use.sets != 0) continue;
    const Rule& r = *rules[use.first_check].rule;
    Diagnostic d;
    d.file = r.file;
    d.line = r.pos.line;
    d.column = r.pos.column;
    d.message = fmt::format(
        "flowbit '{}' is checked (isset) but no rule sets or toggles it; checked by sid {}{}", name,
        r.sid,
        use.checks > 1 ? fmt::format(" and {} other rule(s)", use.checks - 1) : std::string());
    out.warnings.push_back(std::move(d));
  }
  return out;
}

}  // namespace fs::patterns
