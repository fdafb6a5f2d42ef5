#include "patterns/rule_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <tuple>

#include "patterns/header_parser.h"
#include "patterns/keywords.h"
#include "patterns/pcre.h"
#include "patterns/rule_lexer.h"
#include "patterns/text_util.h"

#if FS_HAVE_CONDITIONS
#include "patterns/conditions.h"
#endif

namespace fs::patterns {
namespace {

namespace stdfs = std::filesystem;

// Why a rule cannot be used, at a byte offset of its logical text.
struct Problem {
  size_t offset = 0;
  std::string message;
  std::string keyword;  // set for "not supported yet"
};

bool ReadFile(const std::string& path, std::string* out, std::string* why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *why = std::strerror(errno);
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    *why = "read error";
    return false;
  }
  *out = std::move(ss).str();
  return true;
}

// Everything about one rule's options; the rule is rejected at the first error and skipped at
// the first unsupported thing (errors found later still win: a skipped rule must be one Suricata
// would load).
class RuleBuilder {
 public:
  RuleBuilder(const SourceText& src, const ParseOptions& options) : src_(src), options_(options) {}

  // Returns the first error, if any; *skip gets the first unsupported thing.
  std::optional<Problem> Build(Rule* rule, std::optional<Problem>* skip);

 private:
  std::optional<Problem> Header(const RawRule& raw, Rule* rule);
  std::optional<Problem> Options(const RawRule& raw, Rule* rule);
  std::optional<Problem> Quoted(const RawOption& o, std::string_view what, std::string_view* inner,
                                size_t* inner_offset, bool* negated);
  std::optional<Problem> ContentOption(const RawOption& o, Content* c);
  // offset, depth, distance, within, nocase, rawbytes, fast_pattern: the preceding content.
  std::optional<Problem> ModifierOption(const RawOption& o, const std::string& name, Rule* rule);
  std::optional<Problem> PcreOption(const RawOption& o, Rule* rule);
  std::optional<Problem> ConditionOption(const RawOption& o, const std::string& name, Rule* rule);
  // App layer: sticky buffers (http.uri; ...), legacy modifiers (http_uri), startswith, endswith,
  // bsize, urilen, dotprefix, isdataat:!1,relative.
  std::optional<Problem> UseAppProto(const RawOption& o, Buffer b, Rule* rule);
  std::optional<Problem> UseAppProto(const RawOption& o, AppProto proto, std::string_view keyword,
                                     std::string_view what, Rule* rule);
  std::optional<Problem> TlsVersionOption(const RawOption& o, Rule* rule);
  std::optional<Problem> StickyOption(const RawOption& o, Buffer b, Rule* rule);
  std::optional<Problem> LegacyBufferOption(const RawOption& o, const std::string& name, Buffer b,
                                            Rule* rule);
  std::optional<Problem> EdgeOption(const RawOption& o, const std::string& name, Rule* rule);
  // byte_test, byte_jump, byte_extract, isdataat (docs/rules.md "Byte keywords").
  std::optional<Problem> ByteOption(const RawOption& o, const std::string& name, Rule* rule);
  std::optional<Problem> IsdataatOption(const RawOption& o, Rule* rule);
  // Where a byte keyword goes, as Suricata picks its list: the sticky buffer in force, else
  // (relative) the buffer of the keyword before it, else the packet payload. Marks the content
  // or pcre a relative one refers to (RELATIVE_NEXT). Returns the item it is relative to.
  std::optional<size_t> PrevForRelative(const Rule& rule) const;
  void PlaceByteOp(ByteOp op, std::optional<size_t> prev, Rule* rule);
  // A value naming a byte_extract variable: *index gets it. Returns an error for an unknown
  // name, unless a skipped byte_math may define it (then *index stays -1).
  std::optional<Problem> ResolveVar(size_t offset, std::string_view keyword, std::string_view name,
                                    const Rule& rule, int16_t* index);
  std::optional<Problem> SizeOption(const RawOption& o, const std::string& name, Rule* rule);
  // After all options: checks that need the whole rule.
  std::optional<Problem> Validate(const RawRule& raw, Rule* rule);

  void Skip(size_t offset, std::string message, std::string keyword) {
    if (!skip_) skip_ = Problem{offset, std::move(message), std::move(keyword)};
  }
  // Once a rule is skipped it may use buffers the sensor does not model (sticky buffers, HTTP
  // content modifiers), so checks that depend on which contents share a buffer are left out:
  // a skipped rule must never be reported as an error that Suricata would load.
  bool lenient() const { return skip_.has_value(); }

  const SourceText& src_;
  const ParseOptions& options_;
  std::optional<Problem> skip_;
  bool byte_vars_ = false;  // byte_extract/byte_math seen: modifiers may name their variables
  Buffer cur_buffer_ = Buffer::kPayload;  // the sticky buffer in force
};

std::optional<Problem> Fail(size_t offset, std::string message) {
  return Problem{offset, std::move(message), {}};
}

std::optional<Problem> RuleBuilder::Build(Rule* rule, std::optional<Problem>* skip) {
  const std::string& t = src_.text();
  for (size_t k = 0; k < t.size(); ++k) {
    const auto c = static_cast<unsigned char>(t[k]);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return Fail(k, fmt::format("control character 0x{:02x} in rule", c));
    }
  }
  RawRule raw;
  LexError lex;
  if (!LexRule(t, &raw, &lex)) return Fail(lex.offset, lex.message);
  if (auto e = Header(raw, rule)) return e;
  if (auto e = Options(raw, rule)) return e;
  if (auto e = Validate(raw, rule)) return e;
  *skip = skip_;
  return std::nullopt;
}

std::optional<Problem> RuleBuilder::Header(const RawRule& raw, Rule* rule) {
  const std::string action = ToLower(raw.action.text);
  if (action == "alert") {
    rule->action = Action::kAlert;
  } else if (action == "pass") {
    rule->action = Action::kPass;
  } else if (IsSuricataOnlyAction(action)) {
    Skip(raw.action.offset, fmt::format("action '{}' is not supported yet", action),
         "action:" + action);
  } else {
    return Fail(raw.action.offset,
                fmt::format("unknown action '{}' (expected alert, pass, drop, reject, rejectsrc, "
                            "rejectdst or rejectboth)",
                            raw.action.text));
  }

  static constexpr std::pair<std::string_view, Protocol> kProtocols[] = {
      {"ip", Protocol::kIp},     {"tcp", Protocol::kTcp},       {"udp", Protocol::kUdp},
      {"icmp", Protocol::kIcmp}, {"icmpv4", Protocol::kIcmpv4}, {"icmpv6", Protocol::kIcmpv6},
  };
  // App-layer protocols: the rule inspects that protocol's transactions (HTTP, TLS and SMB over
  // TCP; DNS over UDP and TCP).
  static constexpr std::tuple<std::string_view, Protocol, AppProto> kAppProtocols[] = {
      {"http", Protocol::kTcp, AppProto::kHttp},
      {"dns", Protocol::kIp, AppProto::kDns},
      {"tls", Protocol::kTcp, AppProto::kTls},
      {"smb", Protocol::kTcp, AppProto::kSmb},
  };
  const std::string proto = ToLower(raw.protocol.text);
  bool known = false;
  if (proto == "tcp-pkt") {
    rule->protocol = Protocol::kTcp;
    rule->packet_only = true;
    known = true;
  }
  for (const auto& [name, p] : kProtocols) {
    if (proto == name) {
      rule->protocol = p;
      known = true;
    }
  }
  for (const auto& [name, p, app] : kAppProtocols) {
    if (proto == name) {
      rule->protocol = p;
      rule->app_proto = app;
      known = true;
    }
  }
  if (!known) {
    if (!IsSuricataOnlyProtocol(proto)) {
      return Fail(raw.protocol.offset, fmt::format("unknown protocol '{}'", raw.protocol.text));
    }
    Skip(raw.protocol.offset, fmt::format("protocol '{}' is not supported yet", proto),
         "proto:" + proto);
  }

  ExprError ee;
  if (!ParseAddressField(raw.src_addr.text, raw.src_addr.offset, src_, options_.vars,
                         &rule->src_addr, &ee) ||
      !ParsePortField(raw.src_port.text, raw.src_port.offset, src_, options_.vars, &rule->src_port,
                      &ee)) {
    return Fail(ee.offset, ee.message);
  }
  if (raw.direction.text == "->") {
    rule->direction = Direction::kToDst;
  } else if (raw.direction.text == "<>") {
    rule->direction = Direction::kBoth;
  } else {
    return Fail(raw.direction.offset,
                fmt::format("bad direction '{}' (expected -> or <>)", raw.direction.text));
  }
  if (!ParseAddressField(raw.dst_addr.text, raw.dst_addr.offset, src_, options_.vars,
                         &rule->dst_addr, &ee) ||
      !ParsePortField(raw.dst_port.text, raw.dst_port.offset, src_, options_.vars, &rule->dst_port,
                      &ee)) {
    return Fail(ee.offset, ee.message);
  }
  return std::nullopt;
}

// A double-quoted value (msg, content). *inner is the text between the quotes (escapes not yet
// applied); the lexer has already made sure the closing quote exists.
std::optional<Problem> RuleBuilder::Quoted(const RawOption& o, std::string_view what,
                                           std::string_view* inner, size_t* inner_offset,
                                           bool* negated) {
  const std::string_view v = o.value;
  size_t open = std::string_view::npos;
  const size_t close = FindClosingQuote(v, &open);
  *negated =
      open != std::string_view::npos && v.substr(0, open).find('!') != std::string_view::npos;
  if (open == std::string_view::npos) {
    return Fail(o.value_offset, fmt::format("{} value must be in double quotes", what));
  }
  if (close == std::string_view::npos) {  // the lexer reports this first; kept for safety
    return Fail(o.value_offset + open, fmt::format("unterminated quote in the {} value", what));
  }
  if (close + 1 != v.size()) {
    const std::string_view rest = TrimLeft(v.substr(close + 1));
    return Fail(o.value_offset + (v.size() - rest.size()),
                fmt::format("unexpected '{}' after the closing quote of the {} value (missing "
                            "';'?)",
                            rest, what));
  }
  *inner = v.substr(open + 1, close - open - 1);
  *inner_offset = o.value_offset + open + 1;
  return std::nullopt;
}

// content:"..." with |hex| sections and the escapes Suricata allows (\" \; \\ \:).
std::optional<Problem> RuleBuilder::ContentOption(const RawOption& o, Content* c) {
  std::string_view inner;
  size_t base = 0;
  if (auto e = Quoted(o, "content", &inner, &base, &c->negated)) return e;
  auto hexval = [](char ch) -> int {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
  };
  bool hex = false;
  size_t hex_start = 0;
  int pending = 0;  // hex digits of the byte being assembled
  int acc = 0;
  for (size_t k = 0; k < inner.size(); ++k) {
    const char ch = inner[k];
    if (hex) {
      if (ch == '|') {
        if (pending != 0) {
          return Fail(base + k, "incomplete hex byte in content (odd number of hex digits)");
        }
        hex = false;
      } else if (const int d = hexval(ch); d >= 0) {
        acc = acc * 16 + d;
        if (++pending == 2) {
          c->bytes.push_back(static_cast<char>(acc));
          pending = 0;
          acc = 0;
        }
      } else if (ch != ' ' && ch != ',') {  // Suricata allows blanks and commas between bytes
        return Fail(base + k, fmt::format("bad hex character '{}' in content", ch));
      }
      continue;
    }
    if (ch == '|') {
      hex = true;
      hex_start = k;
    } else if (ch == '\\') {
      const char e = k + 1 < inner.size() ? inner[k + 1] : '\0';
      if (e != '"' && e != ';' && e != '\\' && e != ':') {
        return Fail(base + k, fmt::format("bad escape '\\{}' in content (only \\\" \\; \\\\ \\: "
                                          "are allowed; write other bytes as |hex|)",
                                          e == '\0' ? std::string() : std::string(1, e)));
      }
      c->bytes.push_back(e);
      ++k;
    } else if (ch == '"') {
      return Fail(base + k, "unescaped '\"' in content (write \\\")");
    } else {
      c->bytes.push_back(ch);
    }
  }
  if (hex) return Fail(base + hex_start, "unterminated hex section in content (missing '|')");
  if (c->bytes.empty()) return Fail(o.value_offset, "empty content");
  return std::nullopt;
}

std::optional<Problem> RuleBuilder::Options(const RawRule& raw, Rule* rule) {
  bool seen_msg = false, seen_sid = false, seen_rev = false, seen_gid = false,
       seen_classtype = false, seen_priority = false;
  for (const RawOption& o : raw.options) {
    Option opt;
    opt.name = ToLower(o.name);
    opt.value = std::string(o.value);
    opt.has_value = o.has_value;
    opt.pos = src_.PositionOf(o.name_offset);
    opt.value_pos = src_.PositionOf(o.value_offset);
    rule->options.push_back(opt);
    const std::string& name = rule->options.back().name;
    const uint32_t option_index = static_cast<uint32_t>(rule->options.size() - 1);

    auto need_value = [&]() -> std::optional<Problem> {
      if (o.value.empty()) return Fail(o.name_offset, fmt::format("'{}' needs a value", name));
      return std::nullopt;
    };
    auto once = [&](bool* seen) -> std::optional<Problem> {
      if (*seen) return Fail(o.name_offset, fmt::format("duplicate '{}' option", name));
      *seen = true;
      return need_value();
    };
    auto number = [&](uint32_t min, uint32_t max, uint32_t* out) -> std::optional<Problem> {
      std::string_view v = o.value;
      // priority accepts "5" in quotes, as Suricata does
      if (name == "priority" && v.size() >= 2 && v.front() == '"' && v.back() == '"') {
        v = v.substr(1, v.size() - 2);
      }
      if (!ParseDecimal(v, out) || *out < min || *out > max) {
        return Fail(o.value_offset, fmt::format("bad {} '{}' (expected a number from {} to {})",
                                                name, o.value, min, max));
      }
      return std::nullopt;
    };

    if (name == "msg") {
      if (auto e = once(&seen_msg)) return e;
      std::string_view inner;
      size_t base = 0;
      bool negated = false;
      if (auto e = Quoted(o, "msg", &inner, &base, &negated)) return e;
      if (negated) return Fail(o.value_offset, "msg value must be in double quotes");
      // As Suricata (and Snort): a backslash escapes any character in msg.
      for (size_t k = 0; k < inner.size(); ++k) {
        if (inner[k] == '\\' && k + 1 < inner.size()) ++k;
        rule->msg.push_back(inner[k]);
      }
      if (rule->msg.empty()) return Fail(o.value_offset, "empty msg");
    } else if (name == "sid") {
      if (auto e = once(&seen_sid)) return e;
      if (auto e = number(1, UINT32_MAX - 1, &rule->sid)) return e;
    } else if (name == "rev") {
      if (auto e = once(&seen_rev)) return e;
      if (auto e = number(0, UINT32_MAX - 1, &rule->rev)) return e;
    } else if (name == "gid") {
      if (auto e = once(&seen_gid)) return e;
      if (auto e = number(0, UINT32_MAX - 1, &rule->gid)) return e;
    } else if (name == "priority") {
      if (auto e = once(&seen_priority)) return e;
      if (auto e = number(1, 255, &rule->priority)) return e;
    } else if (name == "classtype") {
      if (auto e = once(&seen_classtype)) return e;
      if (!IsClasstypeName(o.value)) {
        return Fail(o.value_offset,
                    fmt::format("bad classtype '{}' (letters, digits, '-' and '_', starting with "
                                "a letter)",
                                o.value));
      }
      rule->classtype = std::string(o.value);
    } else if (name == "reference") {
      if (auto e = need_value()) return e;
      const size_t comma = o.value.find(',');
      Reference ref;
      if (comma != std::string_view::npos) {
        ref.type = std::string(Trim(o.value.substr(0, comma)));
        ref.value = std::string(Trim(o.value.substr(comma + 1)));
      }
      if (ref.type.empty() || ref.value.empty()) {
        return Fail(o.value_offset,
                    fmt::format("bad reference '{}' (expected type,value)", o.value));
      }
      rule->references.push_back(std::move(ref));
    } else if (name == "metadata") {
      if (auto e = need_value()) return e;
      std::string_view rest = o.value;
      while (!rest.empty()) {
        const size_t comma = rest.find(',');
        const std::string_view item = Trim(rest.substr(0, comma));
        if (!item.empty()) rule->metadata.emplace_back(item);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        // flowsentry_block / flowsentry_block_ttl (docs/enforcement.md): a block request rides
        // in metadata so the file stays loadable by Suricata; checked here so that a typo is a
        // FILE:LINE error rather than a block that silently never happens.
        const size_t sp = item.find(' ');
        const std::string_view key = item.substr(0, sp);
        const std::string_view value =
            sp == std::string_view::npos ? std::string_view() : Trim(item.substr(sp + 1));
        if (key == "flowsentry_block") {
          if (value == "src") {
            rule->block_side = Rule::kBlockSrc;
          } else if (value == "dst") {
            rule->block_side = Rule::kBlockDst;
          } else if (value == "both") {
            rule->block_side = Rule::kBlockSrc | Rule::kBlockDst;
          } else {
            return Fail(
                o.value_offset,
                fmt::format("metadata flowsentry_block: expected src, dst or both, got '{}'",
                            value));
          }
        } else if (key == "flowsentry_block_ttl") {
          uint64_t ttl = 0;
          const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), ttl);
          if (ec != std::errc() || end != value.data() + value.size() || ttl < 1 ||
              ttl > 31536000) {
            return Fail(o.value_offset,
                        fmt::format("metadata flowsentry_block_ttl: expected seconds from 1 to "
                                    "31536000, got '{}'",
                                    value));
          }
          rule->block_ttl = static_cast<uint32_t>(ttl);
        }
      }
      if (rule->block_ttl != 0 && rule->block_side == 0) {
        return Fail(o.value_offset, "metadata flowsentry_block_ttl without flowsentry_block");
      }
    } else if (name == "target") {
      // Suricata's "^\s*(src_ip|dest_ip)\s*$"; the other side given before is a conflict.
      const std::string_view v = Trim(o.value);
      const Rule::Target t = v == "src_ip"    ? Rule::Target::kSrc
                             : v == "dest_ip" ? Rule::Target::kDst
                                              : Rule::Target::kNone;
      if (t == Rule::Target::kNone) {
        return Fail(o.has_value ? o.value_offset : o.name_offset,
                    fmt::format("target: expected src_ip or dest_ip, got '{}'", o.value));
      }
      if (rule->target != Rule::Target::kNone && rule->target != t) {
        return Fail(o.value_offset, "target: conflicts with the rule's other target option");
      }
      rule->target = t;
    } else if (name == "content") {
      if (auto e = need_value()) return e;
      Content c;
      c.pos = src_.PositionOf(o.name_offset);
      c.option_index = option_index;
      if (auto e = ContentOption(o, &c)) return e;
      c.buffer = cur_buffer_;
      rule->payload.push_back(
          PayloadItem{PayloadItem::Kind::kContent, static_cast<uint32_t>(rule->contents.size())});
      rule->contents.push_back(std::move(c));
    } else if (name == "nocase" || name == "rawbytes" || name == "fast_pattern" ||
               name == "offset" || name == "depth" || name == "distance" || name == "within") {
      if (auto e = ModifierOption(o, name, rule)) return e;
    } else if (name == "pcre") {
      if (auto e = need_value()) return e;
      if (auto e = PcreOption(o, rule)) return e;
    } else if (name == "flow" || name == "flowbits" || name == "dsize" || name == "threshold" ||
               name == "detection_filter" || name == "flags" || name == "tcp.flags" ||
               name == "itype" || name == "icode") {
      if (auto e = ConditionOption(o, name, rule)) return e;
    } else if (const std::optional<Buffer> sticky = StickyBuffer(name)) {
      if (auto e = StickyOption(o, *sticky, rule)) return e;
    } else if (const std::optional<Buffer> legacy = LegacyModifier(name)) {
      if (auto e = LegacyBufferOption(o, name, *legacy, rule)) return e;
    } else if (name == "startswith" || name == "endswith") {
      if (auto e = EdgeOption(o, name, rule)) return e;
    } else if (name == "isdataat") {
      if (auto e = IsdataatOption(o, rule)) return e;
    } else if (name == "byte_test" || name == "byte_jump" || name == "byte_extract") {
      if (auto e = ByteOption(o, name, rule)) return e;
    } else if (name == "tls.version") {
      if (auto e = TlsVersionOption(o, rule)) return e;
    } else if (name == "bsize" || name == "urilen" || name == "dotprefix") {
      if (auto e = SizeOption(o, name, rule)) return e;
    } else if (IsSuricataKeyword(name)) {
      if (name == "byte_extract" || name == "byte_math") byte_vars_ = true;
      Skip(o.name_offset, fmt::format("keyword '{}' is not supported yet", name), name);
    } else {
      return Fail(o.name_offset, fmt::format("unknown rule keyword '{}'", o.name));
    }
  }
  // Point at the closing ')': that is where the missing option would go.
  const size_t end = src_.text().empty() ? 0 : src_.text().size() - 1;
  if (!seen_sid) return Fail(end, "rule has no sid");
  if (!seen_msg) return Fail(end, "rule has no msg");
  return std::nullopt;
}

// Suricata's StringParseUint16(base 0, strict), used for offset and depth: strtoull syntax
// (decimal, 0x hex, 0 octal, optional sign), nothing after the number, at most 65535.
bool ParseU16Like(std::string_view s, uint32_t* out) {
  const std::string text(s);
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 0);
  if (errno == ERANGE || end == text.c_str() || *end != '\0' || v > 0xffff) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// Suricata's StringParseI32RangeCheck(base 0, len 0) for distance and within: strtoll syntax,
// and (as there) anything after the number is ignored: "within:5x" is within 5.
bool ParseI32Like(std::string_view s, int64_t* out) {
  const std::string text(s);
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 0);
  if (errno == ERANGE || end == text.c_str()) return false;
  if (v < INT32_MIN || v > INT32_MAX) return false;
  *out = v;
  return true;
}

// A value that starts with a letter names a byte_extract/byte_math variable (Suricata's test).
bool IsVariableName(std::string_view v) {
  return !v.empty() && v.front() != '-' && std::isalpha(static_cast<unsigned char>(v.front()));
}

// fast_pattern:offset,length as Suricata's regex \s*([0-9]+)\s*,\s*([0-9]+)\s*$ finds it (the
// match may start anywhere). Returns false when the value does not end that way.
bool SplitChop(std::string_view v, std::string_view* a, std::string_view* b) {
  v = TrimRight(v);
  size_t end = v.size(), k = end;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  while (k > 0 && digit(v[k - 1])) --k;
  if (k == end) return false;
  *b = v.substr(k, end - k);
  while (k > 0 && IsBlank(v[k - 1])) --k;
  if (k == 0 || v[k - 1] != ',') return false;
  --k;
  while (k > 0 && IsBlank(v[k - 1])) --k;
  end = k;
  while (k > 0 && digit(v[k - 1])) --k;
  if (k == end) return false;
  *a = v.substr(k, end - k);
  return true;
}

std::optional<Problem> RuleBuilder::ModifierOption(const RawOption& o, const std::string& name,
                                                   Rule* rule) {
  const bool no_value_keyword = name == "nocase" || name == "rawbytes";
  if (no_value_keyword && !o.value.empty()) {
    return Fail(o.value_offset, fmt::format("'{}' takes no value", name));
  }
  if (!no_value_keyword && name != "fast_pattern" && o.value.empty()) {
    return Fail(o.name_offset, fmt::format("'{}' needs a value", name));
  }
  if (rule->contents.empty()) {
    return Fail(o.name_offset, fmt::format("'{}' needs a preceding content", name));
  }
  Content& c = rule->contents.back();
  const auto content_len = static_cast<uint32_t>(c.bytes.size());

  if (name == "nocase") {
    if (c.nocase) return Fail(o.name_offset, "'nocase' is already set for this content");
    c.nocase = true;
    return std::nullopt;
  }
  if (name == "rawbytes") {
    if (c.rawbytes) return Fail(o.name_offset, "'rawbytes' is already set for this content");
    c.rawbytes = true;
    return std::nullopt;
  }
  if (name == "fast_pattern") {
    if (c.negated && (c.relative() || c.has_offset || c.has_depth)) {
      return Fail(o.name_offset,
                  "'fast_pattern' cannot be used on a negated content with offset, depth, "
                  "distance or within");
    }
    const std::string_view v = Trim(o.value);
    std::string_view a, b;
    if (v.empty()) {
      if (c.fast_pattern) {
        return Fail(o.name_offset, "'fast_pattern' is already set for this content");
      }
      if (!lenient()) {
        for (const Content& other : rule->contents) {
          if (other.fast_pattern) {
            return Fail(o.name_offset, "'fast_pattern' can be used on only one content in a rule");
          }
        }
      }
    } else if (v.substr(0, 4) == "only") {
      if (c.negated || c.relative() || c.has_offset || c.has_depth) {
        return Fail(o.value_offset,
                    "'fast_pattern:only' cannot be used on a negated content or with offset, "
                    "depth, distance or within");
      }
      c.fast_pattern_only = true;
    } else if (SplitChop(v, &a, &b)) {
      uint32_t off = 0, len = 0;
      if (!ParseDecimal(a, &off) || off > kPortMax) {
        return Fail(o.value_offset, fmt::format("bad fast_pattern offset '{}' (expected a number "
                                                "from 0 to 65535)",
                                                a));
      }
      if (!ParseDecimal(b, &len) || len > kPortMax) {
        return Fail(o.value_offset, fmt::format("bad fast_pattern length '{}' (expected a number "
                                                "from 0 to 65535)",
                                                b));
      }
      if (off > kPortMax - len) {
        return Fail(o.value_offset, "fast_pattern offset + length exceeds 65535");
      }
      if (off + len > content_len) {
        return Fail(o.value_offset,
                    fmt::format("fast_pattern offset + length ({}) exceeds the content length ({})",
                                off + len, content_len));
      }
      c.fast_pattern_chop = true;
      c.fast_pattern_offset = static_cast<uint16_t>(off);
      c.fast_pattern_length = static_cast<uint16_t>(len);
    } else {
      return Fail(o.value_offset,
                  fmt::format("bad fast_pattern value '{}' (expected only or offset,length)", v));
    }
    c.fast_pattern = true;
    return std::nullopt;
  }

  // offset, depth (absolute) and distance, within (relative to the previous match).
  const bool absolute = name == "offset" || name == "depth";
  const bool already = name == "offset"     ? c.has_offset
                       : name == "depth"    ? c.has_depth
                       : name == "distance" ? c.has_distance
                                            : c.has_within;
  if (already)
    return Fail(o.name_offset, fmt::format("'{}' is already set for this content", name));
  if (absolute && c.relative()) {
    return Fail(o.name_offset, fmt::format("'{}' cannot be combined with distance or within on the "
                                           "same content (absolute and relative)",
                                           name));
  }
  if (!absolute && (c.has_offset || c.has_depth)) {
    return Fail(o.name_offset, fmt::format("'{}' cannot be combined with offset or depth on the "
                                           "same content (relative and absolute)",
                                           name));
  }
  if (c.negated && c.fast_pattern) {
    return Fail(o.name_offset,
                fmt::format("'{}' cannot be used on a negated content with fast_pattern", name));
  }
  if (c.fast_pattern_only) {
    return Fail(o.name_offset,
                fmt::format("'{}' cannot be used on a content with fast_pattern:only", name));
  }
  if (IsVariableName(o.value)) {
    int16_t var = -1;
    if (auto e = ResolveVar(o.value_offset, name, Trim(o.value), *rule, &var)) return e;
    if (var < 0) return std::nullopt;  // byte_math's: the rule is skipped for that keyword
    if (name == "offset") {
      c.has_offset = true;
      c.offset_var = var;
    } else if (name == "depth") {
      c.has_depth = true;
      c.depth_var = var;
    } else if (name == "distance") {
      c.has_distance = true;
      c.distance_var = var;
    } else {
      c.has_within = true;
      c.within_var = var;
    }
    return std::nullopt;
  }
  if (absolute) {
    uint32_t v = 0;
    if (!ParseU16Like(o.value, &v)) {
      return Fail(o.value_offset,
                  fmt::format("bad {} '{}' (expected a number from 0 to 65535)", name, o.value));
    }
    if (name == "offset") {
      c.has_offset = true;
      c.offset = static_cast<uint16_t>(v);
    } else {
      if (v < content_len) {
        return Fail(o.value_offset,
                    fmt::format("depth {} is smaller than the content length {} (the content "
                                "could never match)",
                                v, content_len));
      }
      c.has_depth = true;
      c.depth = static_cast<uint16_t>(v);
    }
    return std::nullopt;
  }
  constexpr int64_t kMax = 1024 * 1024;  // Suricata's DETECT_CONTENT_VALUE_MAX
  int64_t v = 0;
  if (!ParseI32Like(o.value, &v) || v < -kMax || v > kMax) {
    return Fail(o.value_offset, fmt::format("bad {} '{}' (expected a number from -{} to {})", name,
                                            o.value, kMax, kMax));
  }
  if (name == "within" && v < static_cast<int64_t>(content_len)) {
    return Fail(o.value_offset,
                fmt::format("within {} is smaller than the content length {} (the content could "
                            "never match)",
                            v, content_len));
  }
  if (!lenient() && rule->payload.size() >= 2) {
    const PayloadItem& prev = rule->payload[rule->payload.size() - 2];
    if (prev.kind == PayloadItem::Kind::kContent && rule->contents[prev.index].fast_pattern_only) {
      return Fail(o.name_offset,
                  fmt::format("'{}' refers to the previous content, which has fast_pattern:only "
                              "(relative keywords cannot refer to it)",
                              name));
    }
  }
  if (name == "distance") {
    c.has_distance = true;
    c.distance = static_cast<int32_t>(v);
  } else {
    c.has_within = true;
    c.within = static_cast<int32_t>(v);
  }
  return std::nullopt;
}

std::optional<Problem> RuleBuilder::PcreOption(const RawOption& o, Rule* rule) {
  // Suricata: an optional '!', then the value with or without surrounding quotes.
  std::string_view v = o.value;
  size_t base = o.value_offset;
  bool negated = false;
  if (!v.empty() && v.front() == '!') {
    negated = true;
    const std::string_view rest = TrimLeft(v.substr(1));
    base += v.size() - rest.size();
    v = rest;
  }
  if (v.empty()) return Fail(o.value_offset, "'pcre' needs a value");
  std::string_view text = v;
  size_t text_offset = base;
  if (v.front() == '"') {
    // Suricata strips the first and the last quote; quotes in between belong to the regex.
    if (v.size() < 2 || v.back() != '"') {
      return Fail(base + v.size(), "the pcre value has no closing quote (missing ';'?)");
    }
    text = v.substr(1, v.size() - 2);
    text_offset = base + 1;
    if (text.empty()) return Fail(o.value_offset, "empty pcre");
  }
  PcreValue pv;
  std::string error;
  size_t error_offset = 0;
  if (!ParsePcreValue(text, negated, &pv, &error, &error_offset)) {
    return Fail(text_offset + error_offset, error);
  }
  if (pv.pcre.relative && pv.unsupported_keyword.empty() && !lenient() && rule->payload.empty()) {
    return Fail(o.name_offset,
                "pcre with R (relative) needs a preceding content or pcre to be relative to");
  }
  if (!pv.unsupported_keyword.empty()) {
    Skip(o.name_offset, pv.unsupported_message, pv.unsupported_keyword);
  }
  if (pv.pcre.buffer != Buffer::kPayload) {
    // A legacy buffer modifier (/U, /H ...): not inside a sticky buffer (Suricata refuses that).
    const bool same = cur_buffer_ == pv.pcre.buffer || (cur_buffer_ == Buffer::kHttpResponseBody &&
                                                        pv.pcre.buffer == Buffer::kFileData);
    if (same) {
      pv.pcre.buffer = cur_buffer_;  // the modifier repeats the sticky buffer (Suricata loads it)
    } else if (cur_buffer_ != Buffer::kPayload) {
      return Fail(o.value_offset,
                  fmt::format("pcre modifier for the buffer '{}' cannot be used inside the sticky "
                              "buffer '{}'",
                              InfoOf(pv.pcre.buffer).keyword, InfoOf(cur_buffer_).keyword));
    } else if (auto e = UseAppProto(o, pv.pcre.buffer, rule)) {
      return e;
    }
  } else {
    pv.pcre.buffer = cur_buffer_;
  }
  pv.pcre.pos = src_.PositionOf(o.name_offset);
  pv.pcre.option_index = static_cast<uint32_t>(rule->options.size() - 1);
  rule->payload.push_back(
      PayloadItem{PayloadItem::Kind::kPcre, static_cast<uint32_t>(rule->pcres.size())});
  rule->pcres.push_back(std::move(pv.pcre));
  return std::nullopt;
}

std::optional<Problem> RuleBuilder::UseAppProto(const RawOption& o, Buffer b, Rule* rule) {
  const BufferInfo& info = InfoOf(b);
  if (info.proto == AppProto::kNone)
    return std::nullopt;  // any protocol (file.name): the header says
  return UseAppProto(o, info.proto, info.keyword, "a buffer", rule);
}

std::optional<Problem> RuleBuilder::UseAppProto(const RawOption& o, AppProto proto,
                                                std::string_view keyword, std::string_view what,
                                                Rule* rule) {
  if (rule->app_proto == AppProto::kNone) {
    // "alert tcp ... http.uri; ...": the keyword names the protocol (as Suricata sets alproto).
    const bool transport_ok = rule->protocol == Protocol::kIp || rule->protocol == Protocol::kTcp ||
                              (rule->protocol == Protocol::kUdp && proto == AppProto::kDns);
    if (!transport_ok) {
      return Fail(o.name_offset,
                  fmt::format("'{}' is {} of {}, which does not run over {}", keyword, what,
                              AppProtoName(proto), ProtocolName(rule->protocol)));
    }
    rule->app_proto = proto;
    return std::nullopt;
  }
  if (rule->app_proto != proto) {
    return Fail(o.name_offset,
                fmt::format("'{}' is {} of {}, but the rule inspects {}", keyword, what,
                            AppProtoName(proto), AppProtoName(rule->app_proto)));
  }
  return std::nullopt;
}

// tls.version (detect-tls-version.c): "1.0" ... "1.3" (Suricata compares the first three
// characters only), optionally quoted, or a raw "0xNNNN" (exactly six characters as written).
std::optional<Problem> RuleBuilder::TlsVersionOption(const RawOption& o, Rule* rule) {
  if (auto e = UseAppProto(o, AppProto::kTls, "tls.version", "a keyword", rule)) return e;
  std::string_view v = Trim(o.value);
  const size_t where = o.has_value ? o.value_offset : o.name_offset;
  const bool quoted = v.size() >= 2 && v.front() == '"' && v.back() == '"';
  const std::string_view inner = quoted ? v.substr(1, v.size() - 2) : v;
  const bool chars_ok = !inner.empty() && std::all_of(inner.begin(), inner.end(), [](char ch) {
    return (ch >= 'A' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.';
  });
  TlsVersionTest t;
  t.set = true;
  static constexpr std::pair<std::string_view, uint16_t> kNames[] = {
      {"1.0", 0x0301}, {"1.1", 0x0302}, {"1.2", 0x0303}, {"1.3", 0x0304}};
  bool ok = false;
  for (const auto& [name, version] : kNames) {
    if (chars_ok && !ok && inner.substr(0, 3) == name) {
      t.version = version;
      ok = true;
    }
  }
  if (chars_ok && !ok && inner.substr(0, 2) == "0x" && v.size() == 6) {
    t.version = static_cast<uint16_t>(std::strtol(std::string(inner).c_str(), nullptr, 0));
    t.raw = true;
    ok = true;
  }
  if (!ok) {
    return Fail(where, fmt::format("tls.version: expected 1.0, 1.1, 1.2, 1.3 or a hex version "
                                   "such as 0x0300, got '{}'",
                                   o.value));
  }
  if (rule->tls_version.set &&
      (rule->tls_version.version != t.version || rule->tls_version.raw != t.raw)) {
    Skip(o.name_offset, "a second, different 'tls.version' option is not supported yet",
         "tls.version:repeated");
  }
  rule->tls_version = t;
  return std::nullopt;
}

std::optional<Problem> RuleBuilder::StickyOption(const RawOption& o, Buffer b, Rule* rule) {
  if (o.has_value) {
    return Fail(o.value_offset, fmt::format("'{}' takes no value", InfoOf(b).keyword));
  }
  if (auto e = UseAppProto(o, b, rule)) return e;
  cur_buffer_ = b;
  return std::nullopt;
}

// The last content or pcre of the rule so far (byte keywords in between do not count): what a
// modifier written after them applies to. nullptr when there is none.
const PayloadItem* LastMatch(const Rule& rule) {
  for (size_t k = rule.payload.size(); k-- > 0;) {
    if (rule.payload[k].kind != PayloadItem::Kind::kByte) return &rule.payload[k];
  }
  return nullptr;
}

std::optional<Problem> RuleBuilder::LegacyBufferOption(const RawOption& o, const std::string& name,
                                                       Buffer b, Rule* rule) {
  if (o.has_value) return Fail(o.value_offset, fmt::format("'{}' takes no value", name));
  const PayloadItem* last = LastMatch(*rule);
  if (last == nullptr || last->kind != PayloadItem::Kind::kContent) {
    return Fail(o.name_offset, fmt::format("'{}' needs a preceding content", name));
  }
  Content& c = rule->contents[last->index];
  if (c.buffer != Buffer::kPayload) {
    return Fail(o.name_offset,
                fmt::format("'{}' cannot be used on a content in the sticky buffer '{}'", name,
                            InfoOf(c.buffer).keyword));
  }
  if (auto e = UseAppProto(o, b, rule)) return e;
  c.buffer = b;
  return std::nullopt;
}

std::optional<Problem> RuleBuilder::EdgeOption(const RawOption& o, const std::string& name,
                                               Rule* rule) {
  const bool isdataat = name == "isdataat";
  if (!isdataat && o.has_value)
    return Fail(o.value_offset, fmt::format("'{}' takes no value", name));
  const PayloadItem* last = LastMatch(*rule);  // a pcre there: no content to modify
  if (last == nullptr || last->kind != PayloadItem::Kind::kContent) {
    return Fail(o.name_offset, fmt::format("'{}' needs a preceding content", name));
  }
  Content& c = rule->contents[last->index];
  if (name == "startswith") {
    if (c.has_depth) {
      return Fail(o.name_offset,
                  "can't use multiple depth/startswith settings for the same content");
    }
    if (c.relative()) {
      return Fail(o.name_offset, "'startswith' cannot be combined with distance or within");
    }
    if (c.has_offset) return Fail(o.name_offset, "'startswith' cannot be combined with offset");
    if (c.fast_pattern_only) {
      return Fail(o.name_offset, "'startswith' cannot be used on a content with fast_pattern:only");
    }
    c.has_depth = true;
    c.depth = static_cast<uint16_t>(std::min<size_t>(c.bytes.size(), 0xffff));
    c.startswith = true;
    return std::nullopt;
  }
  c.endswith = true;
  return std::nullopt;
}

// Suricata's ByteExtractString for rule values: strtoull/strtoll over the whole text in `base`
// (0: automatic), false when no digit was read or the value overflows; strict: nothing may follow.
bool StrToU64(std::string_view t, int base, bool strict, uint64_t* out) {
  const std::string text(t);
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, base);
  if (errno == ERANGE || end == text.c_str() || (strict && *end != '\0')) return false;
  *out = v;
  return true;
}

bool StrToI64(std::string_view t, int base, bool strict, int64_t* out) {
  const std::string text(t);
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, base);
  if (errno == ERANGE || end == text.c_str() || (strict && *end != '\0')) return false;
  *out = v;
  return true;
}

// One comma-separated field of a keyword value, blanks trimmed, with its offset in the value.
struct Field {
  std::string_view text;
  size_t offset = 0;
};

std::vector<Field> SplitFields(std::string_view v) {
  std::vector<Field> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = v.find(',', start);
    const std::string_view raw =
        v.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    const std::string_view t = Trim(raw);
    out.push_back(Field{t, start + (t.empty() ? 0 : static_cast<size_t>(t.data() - raw.data()))});
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

bool HasBlank(std::string_view t) {
  return std::any_of(t.begin(), t.end(), [](char c) { return IsBlank(c); });
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// The words of a field ("multiplier 2"), split at blanks.
std::vector<std::string_view> Words(std::string_view t) {
  std::vector<std::string_view> out;
  size_t k = 0;
  while (k < t.size()) {
    while (k < t.size() && IsBlank(t[k])) ++k;
    const size_t b = k;
    while (k < t.size() && !IsBlank(t[k])) ++k;
    if (k > b) out.push_back(t.substr(b, k - b));
  }
  return out;
}

// Largest byte count a conversion may read: 8 raw bytes, or (string) the longest text that
// still fits 64 bits.
constexpr uint32_t kMaxRawBytes = 8, kMaxStringBytes = 23;
// byte_extract variables per buffer that the inspection keeps (Suricata has no fixed bound).
constexpr size_t kMaxByteVars = 16;

std::optional<size_t> RuleBuilder::PrevForRelative(const Rule& rule) const {
  for (size_t k = rule.payload.size(); k-- > 0;) {
    // In a sticky buffer Suricata looks for the last content or pcre only.
    if (cur_buffer_ != Buffer::kPayload && rule.payload[k].kind == PayloadItem::Kind::kByte) {
      continue;
    }
    return k;
  }
  return std::nullopt;
}

void RuleBuilder::PlaceByteOp(ByteOp op, std::optional<size_t> prev, Rule* rule) {
  if (cur_buffer_ != Buffer::kPayload) {
    op.buffer = cur_buffer_;
  } else if (op.relative && prev) {
    op.buffer = rule->BufferOf(rule->payload[*prev]);
  } else {
    op.buffer = Buffer::kPayload;
  }
  if (op.relative && prev) {
    const PayloadItem& p = rule->payload[*prev];
    if (p.kind == PayloadItem::Kind::kContent) rule->contents[p.index].byte_relative_next = true;
    if (p.kind == PayloadItem::Kind::kPcre) rule->pcres[p.index].byte_relative_next = true;
  }
  op.option_index = static_cast<uint32_t>(rule->options.size() - 1);
  rule->payload.push_back(
      PayloadItem{PayloadItem::Kind::kByte, static_cast<uint32_t>(rule->byte_ops.size())});
  rule->byte_ops.push_back(std::move(op));
}

std::optional<Problem> RuleBuilder::ResolveVar(size_t offset, std::string_view keyword,
                                               std::string_view name, const Rule& rule,
                                               int16_t* index) {
  *index = -1;
  for (size_t k = 0; k < rule.byte_ops.size(); ++k) {
    const ByteOp& b = rule.byte_ops[k];
    if (b.kind == ByteOp::Kind::kExtract && b.name == name) {
      *index = static_cast<int16_t>(k);
      return std::nullopt;
    }
  }
  if (byte_vars_) return std::nullopt;  // a byte_math (skipped) may define it
  return Fail(offset, fmt::format("'{}' names the variable '{}' but no byte_extract or byte_math "
                                  "defines one",
                                  keyword, name));
}

std::optional<Problem> RuleBuilder::ByteOption(const RawOption& o, const std::string& name,
                                               Rule* rule) {
  if (o.value.empty()) return Fail(o.name_offset, fmt::format("'{}' needs a value", name));
  const std::vector<Field> f = SplitFields(o.value);
  const size_t base = o.value_offset;
  ByteOp op;
  op.pos = src_.PositionOf(o.name_offset);
  bool dce = false;
  bool bad_base = false;  // dec/hex/oct given (checked against string at the end)
  auto at = [&](const Field& x) { return base + x.offset; };
  auto var_or = [&](const Field& x) {
    return !x.text.empty() && x.text.front() != '-' &&
           std::isalpha(static_cast<unsigned char>(x.text.front()));
  };

  if (name == "byte_test" || name == "byte_jump") {
    const bool test = name == "byte_test";
    op.kind = test ? ByteOp::Kind::kTest : ByteOp::Kind::kJump;
    const size_t fixed = test ? 4 : 2, max_options = test ? 6 : 9;
    if (f.size() < fixed || f.size() > fixed + max_options) {
      return Fail(base, test ? fmt::format("bad byte_test value '{}' (expected bytes, operator, "
                                           "value, offset, then up to 6 options)",
                                           o.value)
                             : fmt::format("bad byte_jump value '{}' (expected bytes, offset, then "
                                           "up to 9 options)",
                                           o.value));
    }
    for (size_t k = 0; k < fixed; ++k) {
      const bool op_field = test && k == 1;
      std::string_view t = f[k].text;
      if (op_field && !t.empty() && t.front() == '!') t = TrimLeft(t.substr(1));
      if ((!op_field && t.empty()) || HasBlank(t)) {
        return Fail(at(f[k]), fmt::format("bad {} value '{}' (field {} is empty or has blanks)",
                                          name, o.value, k + 1));
      }
    }
    // bytes
    const Field& nb = f[0];
    int16_t var = -1;
    if (var_or(nb)) {
      if (auto e = ResolveVar(at(nb), name, nb.text, *rule, &var)) return e;
      op.nbytes_var = var;
    } else {
      uint64_t v = 0;
      if (!StrToU64(nb.text, 10, true, &v) || v > UINT32_MAX) {
        return Fail(at(nb),
                    fmt::format("bad {} byte count '{}' (expected a number)", name, nb.text));
      }
      op.nbytes = static_cast<uint32_t>(v);
    }
    size_t next = 1;
    if (test) {
      std::string_view t = f[1].text;
      if (!t.empty() && t.front() == '!') {
        op.negated = true;
        t = TrimLeft(t.substr(1));
      }
      static constexpr std::pair<std::string_view, ByteOp::Op> kOps[] = {
          {"=", ByteOp::Op::kEq},  {"<", ByteOp::Op::kLt},  {">", ByteOp::Op::kGt},
          {"&", ByteOp::Op::kAnd}, {"^", ByteOp::Op::kXor}, {">=", ByteOp::Op::kGe},
          {"<=", ByteOp::Op::kLe},
      };
      bool ok = op.negated && t.empty();  // "!" alone is "not equal"
      op.op = ByteOp::Op::kEq;
      for (const auto& [text, value] : kOps) {
        if (t == text) {
          op.op = value;
          ok = true;
        }
      }
      if (!ok) {
        return Fail(at(f[1]), fmt::format("bad byte_test operator '{}' (expected =, <, >, <=, >=, "
                                          "& or ^, optionally after !)",
                                          f[1].text));
      }
      const Field& val = f[2];
      if (var_or(val)) {
        if (auto e = ResolveVar(at(val), name, val.text, *rule, &var)) return e;
        op.value_var = var;
      } else if (!StrToU64(val.text, 0, false, &op.value)) {
        return Fail(at(val), fmt::format("bad byte_test value '{}' (expected a number)", val.text));
      }
      next = 3;
    }
    const Field& off = f[next];
    if (var_or(off)) {
      if (auto e = ResolveVar(at(off), name, off.text, *rule, &var)) return e;
      op.offset_var = var;
    } else {
      int64_t v = 0;
      const bool ok = test ? StrToI64(off.text, 0, true, &v) && v >= INT32_MIN && v <= INT32_MAX
                           : StrToI64(off.text, 10, true, &v) && v >= -65535 && v <= 65535;
      if (!ok) {
        return Fail(at(off), fmt::format("bad {} offset '{}' (expected a number{})", name, off.text,
                                         test ? "" : " from -65535 to 65535"));
      }
      op.offset = static_cast<int32_t>(v);
    }
    for (size_t k = fixed; k < f.size(); ++k) {
      const std::string_view t = f[k].text;
      const std::vector<std::string_view> w = Words(t);
      auto number_after = [&](size_t prefix, int64_t lo, int64_t hi, int64_t* v, int b,
                              bool strict) {
        return StrToI64(Trim(t.substr(prefix)), b, strict, v) && *v >= lo && *v <= hi;
      };
      if (t == "relative") {
        op.relative = true;
      } else if (EqualsNoCase(t, "string")) {
        op.string = true;
      } else if (EqualsNoCase(t, "dec") || EqualsNoCase(t, "hex") || EqualsNoCase(t, "oct")) {
        // Suricata ORs the base bits together; the last one given wins for the usual single one.
        op.base |= EqualsNoCase(t, "dec") ? 10 : EqualsNoCase(t, "hex") ? 16 : 8;
        bad_base = true;
      } else if (EqualsNoCase(t, "big")) {
        op.little = false;
      } else if (EqualsNoCase(t, "little")) {
        op.little = true;
      } else if (EqualsNoCase(t, "dce")) {
        dce = true;
      } else if (test && t.size() >= 7 && EqualsNoCase(t.substr(0, 7), "bitmask")) {
        uint64_t v = 0;
        if (!StrToU64(t.substr(7), 0, false, &v) || v > UINT32_MAX) {
          return Fail(at(f[k]), fmt::format("bad byte_test bitmask '{}' (expected bitmask and a "
                                            "32-bit number)",
                                            t));
        }
        op.bitmask = true;
        op.bitmask_value = static_cast<uint32_t>(v);
        op.bitmask_shift = 0;
        for (uint32_t m = op.bitmask_value; m != 0 && (m & 1) == 0; m >>= 1) ++op.bitmask_shift;
      } else if (!test && EqualsNoCase(t, "from_beginning")) {
        op.from_beginning = true;
      } else if (!test && EqualsNoCase(t, "from_end")) {
        op.from_end = true;
      } else if (!test && EqualsNoCase(t, "align")) {
        op.align = true;
      } else if (!test && w.size() == 2 && EqualsNoCase(w[0], "multiplier")) {
        int64_t v = 0;
        if (!number_after(10, 1, 65535, &v, 10, true)) {
          return Fail(at(f[k]), fmt::format("bad byte_jump multiplier '{}' (expected a number "
                                            "from 1 to 65535)",
                                            w[1]));
        }
        op.multiplier = static_cast<uint16_t>(v);
      } else if (!test && w.size() == 2 && EqualsNoCase(w[0], "post_offset")) {
        int64_t v = 0;
        if (!number_after(11, -65535, 65535, &v, 10, true)) {
          return Fail(at(f[k]), fmt::format("bad byte_jump post_offset '{}' (expected a number "
                                            "from -65535 to 65535)",
                                            w[1]));
        }
        op.post_offset = static_cast<int32_t>(v);
      } else {
        return Fail(at(f[k]), fmt::format("unknown {} option '{}'", name, t));
      }
    }
    if (op.from_beginning && op.from_end) {
      return Fail(base, "'from_end' and 'from_beginning' cannot be used in the same byte_jump");
    }
  } else {  // byte_extract:nbytes,offset,name[,options]
    op.kind = ByteOp::Kind::kExtract;
    if (f.size() < 3 || f.size() > 8) {
      return Fail(base, fmt::format("bad byte_extract value '{}' (expected bytes, offset, "
                                    "variable name, then up to 5 options)",
                                    o.value));
    }
    uint64_t nbytes = 0;
    if (!StrToU64(f[0].text, 10, true, &nbytes) || f[0].text.front() == '+' ||
        f[0].text.front() == '-' || nbytes > 255) {
      return Fail(at(f[0]),
                  fmt::format("bad byte_extract byte count '{}' (expected a number)", f[0].text));
    }
    op.nbytes = static_cast<uint32_t>(nbytes);
    int64_t offset = 0;
    if (f[1].text.empty() || f[1].text.front() == '+' || !StrToI64(f[1].text, 10, true, &offset) ||
        offset < -65535 || offset > 65535) {
      return Fail(at(f[1]), fmt::format("bad byte_extract offset '{}' (expected a number from "
                                        "-65535 to 65535)",
                                        f[1].text));
    }
    op.offset = static_cast<int32_t>(offset);
    if (f[2].text.empty() || HasBlank(f[2].text)) {
      return Fail(at(f[2]), fmt::format("bad byte_extract variable name '{}'", f[2].text));
    }
    op.name = std::string(f[2].text);
    bool multiplier = false, endian = false, string = false;
    for (size_t k = 3; k < f.size(); ++k) {
      const std::vector<std::string_view> w = Words(f[k].text);
      if (w.empty() || w.size() > 2) {
        return Fail(at(f[k]), fmt::format("bad byte_extract option '{}'", f[k].text));
      }
      for (size_t j = 0; j < w.size(); ++j) {
        const std::string_view t = w[j];
        auto once = [&](bool* seen) -> std::optional<Problem> {
          if (*seen) {
            return Fail(at(f[k]), fmt::format("byte_extract option '{}' given more than once", t));
          }
          *seen = true;
          return std::nullopt;
        };
        if (t == "relative") {
          if (auto e = once(&op.relative)) return e;
        } else if (t == "multiplier" || t == "align") {
          const bool mult = t == "multiplier";
          if (auto e = once(mult ? &multiplier : &op.align)) return e;
          uint64_t v = 0;
          const bool ok = j + 1 < w.size() && StrToU64(w[j + 1], 10, true, &v) &&
                          (mult ? v >= 1 && v <= 65535 : v == 2 || v == 4);
          if (!ok) {
            return Fail(at(f[k]), mult ? fmt::format("bad byte_extract multiplier '{}' (expected "
                                                     "multiplier and a number from 1 to 65535)",
                                                     f[k].text)
                                       : fmt::format("bad byte_extract align '{}' (expected align "
                                                     "2 or align 4)",
                                                     f[k].text));
          }
          if (mult) {
            op.multiplier = static_cast<uint16_t>(v);
          } else {
            op.align_value = static_cast<uint8_t>(v);
          }
          ++j;
        } else if (t == "big" || t == "little" || t == "dce") {
          if (auto e = once(&endian)) return e;
          op.little = t == "little";
          dce = t == "dce";
        } else if (t == "string") {
          if (auto e = once(&string)) return e;
          if (op.base != 0) {
            return Fail(at(f[k]), "byte_extract: write 'string' before its base (string, hex)");
          }
          op.string = true;
        } else if (t == "hex" || t == "oct" || t == "dec") {
          if (!string) {
            return Fail(at(f[k]),
                        fmt::format("byte_extract: base '{}' needs 'string' before it", t));
          }
          if (op.base != 0) return Fail(at(f[k]), "byte_extract: more than one base");
          op.base = t == "hex" ? 16 : t == "oct" ? 8 : 10;
        } else {
          return Fail(at(f[k]), fmt::format("unknown byte_extract option '{}'", t));
        }
      }
    }
    if (string) {
      if (op.base == 0) op.base = 10;
      if (endian) {
        return Fail(base,
                    "byte_extract cannot have an endianness (big, little, dce) with "
                    "'string'");
      }
      const uint32_t max = op.base == 8 ? 23 : op.base == 10 ? 20 : 14;
      if (op.nbytes > max) {
        return Fail(at(f[0]), fmt::format("byte_extract cannot convert more than {} bytes with "
                                          "'string' in this base",
                                          max));
      }
    } else if (op.nbytes > kMaxRawBytes) {
      return Fail(at(f[0]), fmt::format("byte_extract cannot convert more than {} bytes without "
                                        "'string'",
                                        kMaxRawBytes));
    }
  }

  if (op.kind != ByteOp::Kind::kExtract) {
    if (op.nbytes_var < 0) {
      const uint32_t max = op.string ? kMaxStringBytes : kMaxRawBytes;
      if (op.nbytes > max) {
        return Fail(at(f[0]), fmt::format("{} cannot convert more than {} bytes {} 'string'", name,
                                          max, op.string ? "with" : "without"));
      }
    }
    if (bad_base && !op.string) {
      return Fail(base, fmt::format("{}: a base (dec, hex, oct) needs 'string'", name));
    }
    if (dce && (op.string || op.little || bad_base || op.from_beginning || op.from_end ||
                std::any_of(f.begin(), f.end(),
                            [](const Field& x) { return EqualsNoCase(x.text, "big"); }))) {
      return Fail(base, fmt::format("{} with dce cannot use string, big, little, a base, "
                                    "from_beginning or from_end",
                                    name));
    }
  }
  if (dce) {
    Skip(o.name_offset,
         fmt::format("'{}' with dce (DCE/RPC byte order) is not supported yet", name),
         name + ":dce");
  }
  if (op.kind == ByteOp::Kind::kExtract) {
    size_t in_buffer = 0;
    const std::optional<size_t> prev = PrevForRelative(*rule);
    const Buffer b = cur_buffer_ != Buffer::kPayload ? cur_buffer_
                     : op.relative && prev           ? rule->BufferOf(rule->payload[*prev])
                                                     : Buffer::kPayload;
    for (const ByteOp& x : rule->byte_ops) {
      if (x.kind == ByteOp::Kind::kExtract && x.buffer == b) ++in_buffer;
    }
    if (in_buffer >= kMaxByteVars) {
      Skip(o.name_offset,
           fmt::format("more than {} byte_extract variables in one buffer are not supported",
                       kMaxByteVars),
           "byte_extract:variables");
    }
  }
  PlaceByteOp(std::move(op), PrevForRelative(*rule), rule);
  return std::nullopt;
}

// isdataat:[!]N|var[,relative[,rawbytes]] (Suricata's regex, case as written). isdataat:!1,relative
// right after a content is that content's endswith, as Suricata turns it.
std::optional<Problem> RuleBuilder::IsdataatOption(const RawOption& o, Rule* rule) {
  if (o.value.empty()) return Fail(o.name_offset, "'isdataat' needs a value");
  std::string_view v = Trim(o.value);
  size_t base = o.value_offset + static_cast<size_t>(v.data() - o.value.data());
  ByteOp op;
  op.kind = ByteOp::Kind::kIsdataat;
  op.pos = src_.PositionOf(o.name_offset);
  if (!v.empty() && v.front() == '!') {
    op.negated = true;
    v.remove_prefix(1);
    ++base;
  }
  const std::vector<Field> f = SplitFields(v);
  const bool shape_ok = f.size() <= 3 && !f[0].text.empty() && !HasBlank(f[0].text) &&
                        (op.negated || f[0].text.front() != '!') && f[0].offset == 0 &&
                        (f.size() < 2 || f[1].text == "relative") &&
                        (f.size() < 3 || f[2].text == "rawbytes");
  if (!shape_ok) {
    return Fail(o.value_offset, fmt::format("bad isdataat '{}' (expected [!]N or a byte_extract "
                                            "variable, then ,relative and ,rawbytes)",
                                            o.value));
  }
  op.relative = f.size() >= 2;
  op.rawbytes = f.size() == 3;
  const std::string_view n = f[0].text;
  if (n.front() != '-' && std::isalpha(static_cast<unsigned char>(n.front()))) {
    int16_t var = -1;
    if (auto e = ResolveVar(base, "isdataat", n, *rule, &var)) return e;
    op.offset_var = var;
  } else {
    uint64_t value = 0;
    if (!StrToU64(n, 10, true, &value) || value > 0xffff) {
      return Fail(base, fmt::format("bad isdataat '{}' (expected a number from 0 to 65535)", n));
    }
    op.offset = static_cast<int32_t>(value);
  }
  const std::optional<size_t> prev = op.relative ? PrevForRelative(*rule) : std::nullopt;
  if (prev && rule->payload[*prev].kind == PayloadItem::Kind::kContent && op.offset_var < 0 &&
      op.offset == 1 && op.negated) {
    rule->contents[rule->payload[*prev].index].endswith = true;
    return std::nullopt;
  }
  PlaceByteOp(std::move(op), prev, rule);
  return std::nullopt;
}

// bsize:N|<N|<=N|>N|>=N|N<>M|N-M|!N (DetectU64), urilen:N|<N|>N|N<>M[,norm|,raw] (DetectU16),
// dotprefix (a transform of the sticky buffer; Suricata wants it before the buffer's contents).
std::optional<Problem> RuleBuilder::SizeOption(const RawOption& o, const std::string& name,
                                               Rule* rule) {
  if (name == "dotprefix") {
    if (o.has_value) return Fail(o.value_offset, "'dotprefix' takes no value");
    if (cur_buffer_ == Buffer::kPayload) {
      return Fail(o.name_offset, "'dotprefix' is a transform: it needs a sticky buffer before it");
    }
    // As in Suricata, the transform applies to the whole buffer, also to contents written before
    // it (ET Open has such a rule).
    rule->dotprefix |= uint64_t{1} << static_cast<int>(cur_buffer_);
    return std::nullopt;
  }
  if (!o.has_value || o.value.empty()) {
    return Fail(o.name_offset, fmt::format("'{}' needs a value", name));
  }
  SizeCheck sc;
  sc.pos = src_.PositionOf(o.name_offset);
  std::string_view v = Trim(o.value);
  const uint64_t max = name == "urilen" ? 0xffff : UINT64_MAX;
  if (name == "urilen") {
    sc.buffer = Buffer::kHttpUri;
    const size_t comma = v.find(',');
    if (comma != std::string_view::npos) {
      const std::string_view kind = Trim(v.substr(comma + 1));
      if (kind == "raw") {
        sc.buffer = Buffer::kHttpUriRaw;
      } else if (kind != "norm") {
        return Fail(o.value_offset,
                    fmt::format("bad urilen '{}' (expected N, <N, >N or N<>M, then ,norm or ,raw)",
                                o.value));
      }
      v = Trim(v.substr(0, comma));
    }
    if (auto e = UseAppProto(o, sc.buffer, rule)) return e;
  } else {
    if (cur_buffer_ == Buffer::kPayload) {
      Skip(o.name_offset, "'bsize' outside a sticky buffer is not supported yet", "bsize");
      return std::nullopt;
    }
    sc.buffer = cur_buffer_;
  }
  auto num = [&](std::string_view t, uint64_t* out) {
    t = Trim(t);
    if (t.empty()) return false;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), *out);
    return ec == std::errc() && end == t.data() + t.size() && *out <= max;
  };
  bool ok = false;
  if (const size_t r = v.find("<>"); r != std::string_view::npos) {
    sc.op = UintMode::kRange;
    ok = num(v.substr(0, r), &sc.lo) && num(v.substr(r + 2), &sc.hi) && sc.lo < sc.hi;
  } else if (v.substr(0, 2) == "<=") {
    sc.op = UintMode::kLte;
    ok = num(v.substr(2), &sc.lo);
  } else if (v.substr(0, 2) == ">=") {
    sc.op = UintMode::kGte;
    ok = num(v.substr(2), &sc.lo);
  } else if (!v.empty() && v.front() == '<') {
    sc.op = UintMode::kLt;
    ok = num(v.substr(1), &sc.lo);
  } else if (!v.empty() && v.front() == '>') {
    sc.op = UintMode::kGt;
    ok = num(v.substr(1), &sc.lo);
  } else if (!v.empty() && v.front() == '!') {
    sc.op = UintMode::kNe;
    ok = num(v.substr(1), &sc.lo);
  } else if (const size_t dash = v.find('-'); dash != std::string_view::npos && dash > 0) {
    sc.op = UintMode::kRangeInclusive;
    ok = num(v.substr(0, dash), &sc.lo) && num(v.substr(dash + 1), &sc.hi) && sc.lo <= sc.hi;
  } else {
    sc.op = UintMode::kEq;
    ok = num(v, &sc.lo);
  }
  if (!ok) {
    return Fail(o.value_offset,
                fmt::format("bad {} '{}' (expected N, <N, <=N, >N, >=N, N<>M, N-M or !N{})", name,
                            o.value, name == "urilen" ? ", then ,norm or ,raw" : ""));
  }
  rule->size_checks.push_back(sc);
  return std::nullopt;
}

std::optional<Problem> RuleBuilder::ConditionOption(const RawOption& o, const std::string& name,
                                                    Rule* rule) {
#if FS_HAVE_CONDITIONS
  RuleConditions& c = *rule->conditions;
  const bool had_unsupported = !c.unsupported.empty();
  std::string message;
  if (!ParseConditionOption(name, o.value, &c, &message)) {
    return Fail(o.value.empty() ? o.name_offset : o.value_offset, message);
  }
  if (!had_unsupported && !c.unsupported.empty()) Skip(o.name_offset, message, c.unsupported);
#else
  // Runtime conditions are not compiled in (see patterns/CMakeLists.txt): skipped as before.
  (void)rule;
  Skip(o.name_offset, fmt::format("keyword '{}' is not supported yet", name), name);
#endif
  return std::nullopt;
}

std::optional<Problem> RuleBuilder::Validate(const RawRule& raw, Rule* rule) {
#if FS_HAVE_CONDITIONS
  // Suricata's DetectContentPMATCHValidateCallback: with a dsize that bounds the payload, the
  // bytes the contents need (first content, then the relative ones with their distance) must fit.
  const int max_edge = DsizeMaxRightEdge(*rule->conditions);
  if (max_edge >= 0 && !lenient()) {
    int64_t total = 0, max_offset = 0, required = -1;
    bool first = true;
    for (const PayloadItem& item : rule->payload) {
      if (item.kind != PayloadItem::Kind::kContent) continue;
      const Content& c = rule->contents[item.index];
      if (c.buffer != Buffer::kPayload) continue;  // dsize bounds the packet payload only
      if (!first) {
        if (!c.relative()) continue;
        if (c.negated) {
          const int64_t check = total + c.distance + c.within;
          if (check > max_edge) {
            required = check;
            break;
          }
          continue;
        }
      }
      total += static_cast<int64_t>(c.bytes.size()) + c.distance;
      max_offset = std::max<int64_t>(max_offset, c.offset);
      first = false;
    }
    if (required < 0) {
      if (total > max_edge) {
        required = total;
      } else if (total + max_offset > max_edge) {
        required = total + max_offset;
      }
    }
    if (required > max_edge) {
      size_t where = 0;
      for (const RawOption& o : raw.options) {
        if (ToLower(o.name) == "dsize") where = o.name_offset;
      }
      return Fail(where, fmt::format("the contents need {} bytes but dsize allows at most {} (the "
                                     "rule could never match)",
                                     required, max_edge));
    }
  }
#else
  (void)raw;
#endif
  if (rule->IsAppRule() && rule->app_proto == AppProto::kNone) {
    Skip(0,
         "a buffer several protocols share (file.name) needs the protocol in the rule header "
         "(alert smb ...)",
         "file.name");
  }
  auto option_of = [&](const PayloadItem& item) {
    const uint32_t option =
        item.kind == PayloadItem::Kind::kContent ? rule->contents[item.index].option_index
        : item.kind == PayloadItem::Kind::kPcre  ? rule->pcres[item.index].option_index
                                                 : rule->byte_ops[item.index].option_index;
    return option < raw.options.size() ? raw.options[option].name_offset : 0;
  };
  // A byte_extract variable is kept per buffer: one used in another buffer than the one it was
  // extracted from would read Suricata's slot of that other buffer.
  for (const PayloadItem& item : rule->payload) {
    const Buffer b = rule->BufferOf(item);
    int16_t refs[4] = {-1, -1, -1, -1};
    if (item.kind == PayloadItem::Kind::kContent) {
      const Content& c = rule->contents[item.index];
      refs[0] = c.offset_var, refs[1] = c.depth_var, refs[2] = c.distance_var,
      refs[3] = c.within_var;
    } else if (item.kind == PayloadItem::Kind::kByte) {
      const ByteOp& op = rule->byte_ops[item.index];
      refs[0] = op.nbytes_var, refs[1] = op.offset_var, refs[2] = op.value_var;
    }
    for (int16_t r : refs) {
      if (r >= 0 && rule->byte_ops[r].buffer != b) {
        Skip(option_of(item),
             fmt::format("the byte_extract variable '{}' is used in another buffer than the one "
                         "it is extracted from; not supported yet",
                         rule->byte_ops[r].name),
             "byte_extract:other-buffer");
      }
    }
  }
  return std::nullopt;
}

}  // namespace

RuleParser::RuleParser(ParseOptions options) : options_(std::move(options)) {
  if (options_.classification_file.empty()) return;
  std::string text, why;
  if (!ReadFile(options_.classification_file, &text, &why)) {
    result_.errors.push_back(Diagnostic{
        options_.classification_file, 0, 0, "cannot read classification file: " + why, {}});
    return;
  }
  classification_.Parse(text, options_.classification_file, &result_.errors);
  have_classification_ = true;
}

void RuleParser::AddPath(const std::string& path) {
  try {
    std::error_code ec;
    const stdfs::file_status st = stdfs::status(path, ec);
    if (ec || !stdfs::exists(st)) {
      result_.errors.push_back(
          Diagnostic{path, 0, 0, "cannot read: " + (ec ? ec.message() : "no such file"), {}});
      return;
    }
    if (!stdfs::is_directory(st)) {
      AddFile(path);
      return;
    }
    std::vector<std::string> files;
    stdfs::directory_iterator it(path, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      std::error_code ec2;
      if (it->path().extension() == ".rules" && it->is_regular_file(ec2)) {
        files.push_back(it->path().string());
      }
    }
    if (ec) {
      result_.errors.push_back(
          Diagnostic{path, 0, 0, "cannot list directory: " + ec.message(), {}});
      return;
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      result_.warnings.push_back(Diagnostic{path, 0, 0, "directory has no *.rules files", {}});
    }
    for (const std::string& f : files) AddFile(f);
  } catch (const std::exception& e) {  // std::filesystem / allocation: keep the boundary clean
    result_.errors.push_back(Diagnostic{path, 0, 0, std::string("cannot read: ") + e.what(), {}});
  }
}

void RuleParser::AddFile(const std::string& path) {
  std::string text, why;
  if (!ReadFile(path, &text, &why)) {
    result_.errors.push_back(Diagnostic{path, 0, 0, "cannot read: " + why, {}});
    return;
  }
  ++result_.stats.files;
  ParseText(text, path);
}

void RuleParser::AddText(std::string_view text, std::string_view file_name) {
  ParseText(text, std::string(file_name));
}

void RuleParser::ParseText(std::string_view text, const std::string& file) {
  uint32_t line_no = 0;
  std::optional<SourceText> pending;  // a rule continued with a trailing '\'
  uint32_t pending_line = 0;
  ForEachLine(text, [&](std::string_view line) {
    ++line_no;
    std::string_view piece = line;
    uint32_t column = 1;
    if (!pending) {
      const std::string_view body = TrimLeft(line);
      if (body.empty() || body.front() == '#') return;
      column += static_cast<uint32_t>(line.size() - body.size());
      piece = body;
    }
    piece = TrimRight(piece);
    const bool continued = !piece.empty() && piece.back() == '\\';
    if (continued) piece.remove_suffix(1);
    if (!pending) {
      pending.emplace();
      pending_line = line_no;
    }
    pending->Append(piece, line_no, column);
    if (continued) return;
    ParseRule(*pending, file);
    pending.reset();
  });
  if (pending) {
    result_.errors.push_back(Diagnostic{
        file, pending_line, 1, "file ends inside a rule continued with a trailing '\\'", {}});
    ++result_.stats.rules_seen;
    ++result_.stats.rejected;
  }
}

void RuleParser::ParseRule(const SourceText& src, const std::string& file) {
  ++result_.stats.rules_seen;
  auto diag = [&](const Problem& p) {
    const Position pos = src.PositionOf(p.offset);
    return Diagnostic{file, pos.line, pos.column, p.message, p.keyword};
  };
  Rule rule;
  rule.file = file;
  rule.pos = src.PositionOf(0);
  rule.text = src.text();
  RuleBuilder builder(src, options_);
  std::optional<Problem> skip;
  if (std::optional<Problem> error = builder.Build(&rule, &skip)) {
    result_.errors.push_back(diag(*error));
    ++result_.stats.rejected;
    return;
  }

  // classtype -> category and severity (priority keyword wins, as in Suricata).
  rule.severity = rule.priority != 0 ? rule.priority : 3;
  if (!rule.classtype.empty() && have_classification_) {
    if (const Classification* c = classification_.Find(rule.classtype)) {
      rule.category = c->description;
      if (rule.priority == 0) rule.severity = c->priority;
    } else if (!skip) {
      Position pos = rule.pos;
      for (const Option& o : rule.options) {
        if (o.name == "classtype") pos = o.value_pos;
      }
      Diagnostic d{file,
                   pos.line,
                   pos.column,
                   fmt::format("unknown classtype '{}' (not in {})", rule.classtype,
                               options_.classification_file),
                   {}};
      if (options_.strict) {
        d.message += " (rejected in strict mode)";
        result_.errors.push_back(std::move(d));
        ++result_.stats.rejected;
        return;
      }
      result_.warnings.push_back(std::move(d));
    }
  }

  // Duplicate sids are checked for skipped rules too: Suricata would load them.
  const auto key = std::make_pair(rule.gid, rule.sid);
  if (auto it = sids_.find(key); it != sids_.end()) {
    Position pos = rule.pos;
    for (const Option& o : rule.options) {
      if (o.name == "sid") pos = o.pos;
    }
    result_.errors.push_back(
        Diagnostic{file,
                   pos.line,
                   pos.column,
                   fmt::format("duplicate sid {} (gid {}): first defined at {}", rule.sid, rule.gid,
                               it->second),
                   {}});
    ++result_.stats.rejected;
    return;
  }
  sids_.emplace(key, rule.Location());

  if (skip) {
    Diagnostic d = diag(*skip);
    if (options_.strict) {
      d.message += " (rejected in strict mode)";
      result_.errors.push_back(std::move(d));
      ++result_.stats.rejected;
    } else {
      d.message += "; rule skipped";
      result_.warnings.push_back(std::move(d));
      ++result_.stats.skipped;
    }
    return;
  }
  result_.rules.push_back(std::move(rule));
}

ParseResult RuleParser::Finish() && { return std::move(result_); }

ParseResult LoadRules(const std::vector<std::string>& paths, const ParseOptions& options) {
  RuleParser parser(options);
  for (const std::string& p : paths) parser.AddPath(p);
  return std::move(parser).Finish();
}

ParseResult ParseRules(std::string_view text, std::string_view file_name,
                       const ParseOptions& options) {
  RuleParser parser(options);
  parser.AddText(text, file_name);
  return std::move(parser).Finish();
}

}  // namespace fs::patterns
