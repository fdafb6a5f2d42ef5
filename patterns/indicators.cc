#include "patterns/indicators.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "patterns/text_util.h"

namespace fs::patterns {

namespace {

// Text from a list file or a packet can hold anything: messages show it printable and short.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\') {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  return out + "'";
}

// Splits off the first blank-separated token; *rest gets what follows (trimmed).
std::string_view FirstToken(std::string_view s, std::string_view* rest) {
  size_t end = 0;
  while (end < s.size() && !IsBlank(s[end])) ++end;
  *rest = Trim(s.substr(end));
  return s.substr(0, end);
}

bool LooksLikeDomain(std::string_view s) {
  bool letter = false, dot = false;
  for (char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) letter = true;
    if (c == '.') dot = true;
    if (c == ':' || c == '/') return false;
  }
  return letter && dot;
}

bool IsLdhu(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

IpAddr MaskedAddr(const IpAddr& a, unsigned len) {
  IpAddr out = a;
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned bit = i * 8;
    if (bit >= len) {
      out.bytes[i] = 0;
    } else if (bit + 8 > len) {
      out.bytes[i] &= static_cast<uint8_t>(0xff << (8 - (len - bit)));
    }
  }
  return out;
}

const char* IndicatorTypeName(IndicatorType t) { return t == IndicatorType::kIp ? "ip" : "domain"; }

bool IpPrefix::Contains(const IpAddr& a) const { return MaskedAddr(a, len) == addr; }

std::string IpPrefix::ToString() const {
  if (IsV4()) {
    return len == 128 ? addr.ToString() : fmt::format("{}/{}", addr.ToString(), len - 96);
  }
  return len == 128 ? addr.ToString() : fmt::format("{}/{}", addr.ToString(), len);
}

bool ParseIpEntry(std::string_view text, IpPrefix* out, bool* host_bits, std::string* reason) {
  std::string_view rest;
  const std::string_view token = FirstToken(text, &rest);
  if (token.empty()) {
    *reason = "empty entry";
    return false;
  }
  const size_t slash = token.find('/');
  const std::string_view addr_text = token.substr(0, slash);
  const size_t dash = addr_text.find('-');
  if (slash == std::string_view::npos && dash != std::string_view::npos &&
      IpAddr::Parse(addr_text.substr(0, dash)) && IpAddr::Parse(addr_text.substr(dash + 1))) {
    *reason = fmt::format("address ranges are not supported, write CIDR blocks: {}", Quote(token));
    return false;
  }
  const std::optional<IpAddr> addr = IpAddr::Parse(addr_text);
  if (!addr) {
    *reason = fmt::format("not an IP address or CIDR block: {}", Quote(token));
    if (LooksLikeDomain(token)) *reason += " (domain names go in a list of type domain)";
    return false;
  }
  if (!rest.empty()) {
    *reason = fmt::format("unexpected text after the address: {}", Quote(rest));
    return false;
  }
  const bool v4_text = addr_text.find(':') == std::string_view::npos;
  const unsigned max_len = v4_text ? 32 : 128;
  unsigned len = max_len;
  if (slash != std::string_view::npos) {
    const std::string_view len_text = token.substr(slash + 1);
    uint32_t v = 0;
    if (!ParseDecimal(len_text, &v) || v > max_len) {
      *reason = fmt::format("bad prefix length {} (0..{} for {})", Quote(len_text), max_len,
                            v4_text ? "IPv4" : "IPv6");
      return false;
    }
    len = v;
  }
  if (v4_text) len += 96;
  out->len = static_cast<uint8_t>(len);
  out->addr = MaskedAddr(*addr, len);
  *host_bits = out->addr != *addr;
  return true;
}

bool ParseExactPrefix(std::string_view text, IpPrefix* out, std::string* reason) {
  bool host_bits = false;
  if (!ParseIpEntry(text, out, &host_bits, reason)) return false;
  if (host_bits) {
    *reason = fmt::format("host bits set in '{}' (did you mean {}?)", text, out->ToString());
    return false;
  }
  return true;
}

bool ParseDomainEntry(std::string_view text, DomainEntry* out, std::string* reason) {
  std::string_view rest;
  std::string_view token = FirstToken(text, &rest);
  if (token.empty()) {
    *reason = "empty entry";
    return false;
  }
  if (!rest.empty()) {
    if (IpAddr::Parse(token)) {
      *reason = fmt::format(
          "hosts-file lines ('0.0.0.0 name') are not supported, write the name alone: {}",
          Quote(text));
    } else {
      *reason = fmt::format("unexpected text after the name: {}", Quote(rest));
    }
    return false;
  }
  if (token.find('/') != std::string_view::npos) {
    *reason = fmt::format("looks like a URL, write the host name alone: {}", Quote(token));
    return false;
  }
  for (char c : token) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      *reason = fmt::format(
          "non-ASCII name, write internationalized names in punycode (xn--...): {}", Quote(token));
      return false;
    }
  }
  if (IpAddr::Parse(token)) {
    *reason = fmt::format("an IP address, put it in a list of type ip: {}", Quote(token));
    return false;
  }
  bool suffix = false;
  std::string_view name = token;
  if (name.starts_with("*.")) {
    suffix = true;
    name.remove_prefix(2);
  } else if (name.starts_with(".")) {
    suffix = true;
    name.remove_prefix(1);
  }
  if (name.ends_with(".")) name.remove_suffix(1);
  if (name.empty()) {
    *reason = fmt::format("no name: {}", Quote(token));
    return false;
  }
  if (name.find('*') != std::string_view::npos) {
    *reason = fmt::format("a wildcard is only allowed as a leading '*.': {}", Quote(token));
    return false;
  }
  if (name.size() > 253) {
    *reason = fmt::format("name longer than 253 characters ({}): {}", name.size(), Quote(token));
    return false;
  }
  std::string lower = ToLower(name);
  size_t start = 0;
  std::string_view last_label;
  while (true) {
    size_t dot = lower.find('.', start);
    if (dot == std::string::npos) dot = lower.size();
    const std::string_view label = std::string_view(lower).substr(start, dot - start);
    if (label.empty()) {
      *reason = fmt::format("empty label in {}", Quote(token));
      return false;
    }
    if (label.size() > 63) {
      *reason = fmt::format("label longer than 63 characters in {}", Quote(token));
      return false;
    }
    for (char c : label) {
      if (!IsLdhu(c)) {
        *reason =
            fmt::format("invalid character {} in {}", Quote(std::string_view(&c, 1)), Quote(token));
        return false;
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      *reason = fmt::format("label starts or ends with '-' in {}", Quote(token));
      return false;
    }
    last_label = label;
    if (dot == lower.size()) break;
    start = dot + 1;
  }
  if (std::all_of(last_label.begin(), last_label.end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    *reason = fmt::format("not a domain name (the last label is all digits): {}", Quote(token));
    return false;
  }
  out->name = std::move(lower);
  out->suffix = suffix;
  return true;
}

IndicatorList ParseIndicatorList(std::string_view text, std::string_view file_name,
                                 const IndicatorListConfig& config) {
  IndicatorList list;
  list.config = config;
  const std::string file(file_name);
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 BOM (Windows editors)
  uint32_t line_no = 0;
  size_t parsed = 0;
  auto report = [&](std::vector<Diagnostic>* to, std::string message) {
    if (to->size() < kMaxStoredDiagnostics) {
      Diagnostic d;
      d.file = file;
      d.line = line_no;
      d.message = std::move(message);
      to->push_back(std::move(d));
    }
  };
  std::string reason;
  ForEachLine(text, [&](std::string_view line) {
    ++line_no;
    ++list.stats.lines;
    const size_t hash = line.find('#');
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    line = Trim(line);
    if (line.empty()) return;
    if (config.type == IndicatorType::kIp) {
      IpPrefix p;
      bool host_bits = false;
      if (!ParseIpEntry(line, &p, &host_bits, &reason)) {
        ++list.stats.bad_lines;
        report(&list.errors, reason);
        return;
      }
      if (host_bits) {
        ++list.stats.host_bits;
        std::string_view rest;
        report(&list.warnings, fmt::format("host bits set in {}, using {}",
                                           Quote(FirstToken(line, &rest)), p.ToString()));
      }
      list.prefixes.push_back(p);
    } else {
      DomainEntry d;
      if (!ParseDomainEntry(line, &d, &reason)) {
        ++list.stats.bad_lines;
        report(&list.errors, reason);
        return;
      }
      list.domains.push_back(std::move(d));
    }
    ++parsed;
  });
  std::sort(list.prefixes.begin(), list.prefixes.end());
  list.prefixes.erase(std::unique(list.prefixes.begin(), list.prefixes.end()), list.prefixes.end());
  std::sort(list.domains.begin(), list.domains.end());
  list.domains.erase(std::unique(list.domains.begin(), list.domains.end()), list.domains.end());
  list.stats.entries = list.prefixes.size() + list.domains.size();
  list.stats.duplicates = parsed - list.stats.entries;
  list.prefixes.shrink_to_fit();
  list.domains.shrink_to_fit();
  if (list.stats.bad_lines > list.errors.size()) {
    Diagnostic d;
    d.file = file;
    d.message =
        fmt::format("{} more bad lines not shown", list.stats.bad_lines - list.errors.size());
    list.errors.push_back(std::move(d));
  }
  if (list.stats.host_bits > list.warnings.size()) {
    Diagnostic d;
    d.file = file;
    d.message = fmt::format("{} more entries with host bits set not shown",
                            list.stats.host_bits - list.warnings.size());
    list.warnings.push_back(std::move(d));
  }
  return list;
}

Expected<IndicatorList> LoadIndicatorList(const IndicatorListConfig& config) {
  auto fail = [&](const std::string& why) {
    return Error{
        fmt::format("indicator list '{}': cannot read {}: {}", config.name, config.file, why)};
  };
  const int fd = ::open(config.file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return fail(std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(S_ISDIR(st.st_mode) ? std::strerror(EISDIR) : "not a regular file");
  }
  std::string text;
  text.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (true) {
    if (got == text.size()) text.resize(text.size() + 65536);  // the file grew while reading
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return fail(std::strerror(err));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  return ParseIndicatorList(text, config.file, config);
}

std::optional<IpPrefix> IndicatorList::LongestMatch(const IpAddr& a) const {
  for (int len = 128; len >= 0; --len) {
    const IpPrefix want{MaskedAddr(a, static_cast<unsigned>(len)), static_cast<uint8_t>(len)};
    if (std::binary_search(prefixes.begin(), prefixes.end(), want)) return want;
  }
  return std::nullopt;
}

std::optional<DomainEntry> IndicatorList::MatchingDomain(std::string_view name,
                                                         bool complete) const {
  std::string n(name);
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!n.empty() && n.back() == '.') n.pop_back();
  std::string_view rest = n;
  if (!complete) {
    const size_t dot = rest.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(dot + 1);
  } else {
    DomainEntry exact{n, false};
    if (std::binary_search(domains.begin(), domains.end(), exact)) return exact;
  }
  while (!rest.empty()) {
    DomainEntry e{std::string(rest), true};
    if (std::binary_search(domains.begin(), domains.end(), e)) return e;
    const size_t dot = rest.find('.');
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return std::nullopt;
}

// ---- config ----

namespace {

bool IsListName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// One list's mapping. Returns an empty string or the first problem as "KEY: reason".
std::string ParseOne(const YAML::Node& item, const std::string& where, std::string_view base_dir,
                     IndicatorListConfig* out) {
  if (!item.IsMap()) return where + ": must be a mapping (name, type, file, msg, sid, severity)";
  static const std::set<std::string> kKnown = {"name", "type",     "file",   "msg",      "sid",
                                               "gid",  "severity", "action", "block-ttl"};
  std::map<std::string, YAML::Node> values;
  for (const auto& kv : item) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    if (!kKnown.contains(key)) {
      return fmt::format(
          "{}.{}: unknown key (known here: action, block-ttl, file, gid, msg, name, severity, "
          "sid, type)",
          where, key);
    }
    if (values.contains(key)) return fmt::format("{}.{}: given twice", where, key);
    values.emplace(key, kv.second);
  }
  auto text = [&](const char* key, std::string* dst) -> std::string {
    auto it = values.find(key);
    if (it == values.end()) return fmt::format("{}.{}: missing", where, key);
    if (!it->second.IsScalar() || it->second.Scalar().empty()) {
      return fmt::format("{}.{}: must be a non-empty string", where, key);
    }
    *dst = it->second.Scalar();
    return "";
  };
  auto number = [&](const char* key, uint32_t lo, uint32_t hi, bool required,
                    uint32_t* dst) -> std::string {
    auto it = values.find(key);
    if (it == values.end()) return required ? fmt::format("{}.{}: missing", where, key) : "";
    uint32_t v = 0;
    if (!it->second.IsScalar() || !ParseDecimal(it->second.Scalar(), &v) || v < lo || v > hi) {
      return fmt::format("{}.{}: must be a whole number from {} to {}, got {}", where, key, lo, hi,
                         it->second.IsScalar() ? Quote(it->second.Scalar()) : "a collection");
    }
    *dst = v;
    return "";
  };
  std::string err;
  if (!(err = text("name", &out->name)).empty()) return err;
  if (!IsListName(out->name)) {
    return fmt::format("{}.name: use letters, digits, '.', '_' and '-' only, got {}", where,
                       Quote(out->name));
  }
  std::string type;
  if (!(err = text("type", &type)).empty()) return err;
  if (type == "ip") {
    out->type = IndicatorType::kIp;
  } else if (type == "domain") {
    out->type = IndicatorType::kDomain;
  } else {
    return fmt::format("{}.type: must be ip or domain, got {}", where, Quote(type));
  }
  if (!(err = text("file", &out->file)).empty()) return err;
  if (!base_dir.empty() && std::filesystem::path(out->file).is_relative()) {
    out->file = (std::filesystem::path(base_dir) / out->file).lexically_normal().string();
  }
  if (!(err = text("msg", &out->msg)).empty()) return err;
  if (!(err = number("sid", 1, UINT32_MAX, true, &out->sid)).empty()) return err;
  if (!(err = number("gid", 1, UINT32_MAX, false, &out->gid)).empty()) return err;
  if (!(err = number("severity", 1, 4, true, &out->severity)).empty()) return err;
  if (values.contains("action")) {
    std::string action;
    if (!(err = text("action", &action)).empty()) return err;
    if (action == "block" && out->type == IndicatorType::kDomain) {
      // A name is not an address: blocking the resolver that answered, or whatever address the
      // name resolved to this time, would cut off the wrong host or nothing at all.
      return fmt::format(
          "{}.action: block applies to IP lists only; a domain list (type: domain) can only "
          "alert",
          where);
    } else if (action == "block") {
      out->block = true;
    } else if (action != "alert") {
      return fmt::format("{}.action: must be alert or block, got {}", where, Quote(action));
    }
  }
  if (!(err = number("block-ttl", 1, 31536000, false, &out->block_ttl)).empty()) return err;
  if (out->block_ttl != 0 && !out->block) {
    return fmt::format("{}.block-ttl: only meaningful with action: block", where);
  }
  return "";
}

}  // namespace

Expected<std::vector<IndicatorListConfig>> ParseIndicatorsConfig(const YAML::Node& node,
                                                                 std::string_view base_dir,
                                                                 std::string_view key) {
  std::vector<IndicatorListConfig> out;
  try {
    if (!node.IsDefined() || node.IsNull()) return out;
    if (!node.IsSequence()) {
      return Error{
          fmt::format("{}: must be a list of mappings (name, type, file, msg, sid, "
                      "severity)",
                      key)};
    }
    if (node.size() > kMaxIndicatorLists) {
      return Error{
          fmt::format("{}: at most {} lists, got {}", key, kMaxIndicatorLists, node.size())};
    }
    for (size_t i = 0; i < node.size(); ++i) {
      const std::string where = fmt::format("{}[{}]", key, i);
      IndicatorListConfig c;
      std::string err = ParseOne(node[i], where, base_dir, &c);
      if (!err.empty()) return Error{std::move(err)};
      for (size_t j = 0; j < out.size(); ++j) {
        if (out[j].name == c.name) {
          return Error{fmt::format("{}.name: {} is already the name of {}[{}]", where,
                                   Quote(c.name), key, j)};
        }
        if (out[j].gid == c.gid && out[j].sid == c.sid) {
          return Error{fmt::format("{}.sid: gid {} sid {} is already used by {}[{}] ({})", where,
                                   c.gid, c.sid, key, j, out[j].name)};
        }
      }
      out.push_back(std::move(c));
    }
  } catch (const YAML::Exception& e) {
    return Error{fmt::format("{}: {}", key, e.what())};
  }
  return out;
}

}  // namespace fs::patterns
