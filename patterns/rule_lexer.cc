#include "patterns/rule_lexer.h"

#include <fmt/format.h>

#include <algorithm>

#include "patterns/text_util.h"

namespace fs::patterns {

void SourceText::Append(std::string_view piece, uint32_t line, uint32_t column) {
  segments_.push_back(Segment{text_.size(), line, column});
  text_.append(piece);
}

Position SourceText::PositionOf(size_t offset) const {
  if (segments_.empty()) return {};
  auto it = std::upper_bound(segments_.begin(), segments_.end(), offset,
                             [](size_t off, const Segment& s) { return off < s.offset; });
  if (it != segments_.begin()) --it;
  return Position{it->line, it->column + static_cast<uint32_t>(offset - it->offset)};
}

size_t FindClosingQuote(std::string_view value, size_t* open) {
  size_t i = 0;
  while (i < value.size() && IsBlank(value[i])) ++i;
  if (i < value.size() && value[i] == '!') {
    ++i;
    while (i < value.size() && IsBlank(value[i])) ++i;
  }
  if (i >= value.size() || value[i] != '"') {
    *open = std::string_view::npos;
    return std::string_view::npos;
  }
  *open = i;
  for (size_t j = i + 1; j < value.size(); ++j) {
    if (value[j] == '\\') {
      ++j;
      continue;
    }
    if (value[j] == '"') return j;
  }
  return std::string_view::npos;
}

namespace {

constexpr const char* kFieldNames[7] = {"action",          "protocol",  "source address",
                                        "source port",     "direction", "destination address",
                                        "destination port"};

bool IsOptionNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool Fail(LexError* error, size_t offset, std::string message) {
  error->offset = offset;
  error->message = std::move(message);
  return false;
}

}  // namespace

bool LexRule(std::string_view text, RawRule* out, LexError* error) {
  *out = RawRule{};
  Token* fields[7] = {&out->action,    &out->protocol, &out->src_addr, &out->src_port,
                      &out->direction, &out->dst_addr, &out->dst_port};
  const size_t n = text.size();
  size_t i = 0;
  for (int f = 0; f < 7; ++f) {
    while (i < n && IsBlank(text[i])) ++i;
    if (i == n || text[i] == '(') {
      return Fail(error, i, fmt::format("incomplete rule header: missing the {}", kFieldNames[f]));
    }
    const size_t start = i;
    int depth = 0;
    for (; i < n; ++i) {
      const char c = text[i];
      if (c == '[') {
        ++depth;
      } else if (c == ']') {
        if (depth == 0) {
          return Fail(error, i, fmt::format("unbalanced ']' in the {}", kFieldNames[f]));
        }
        --depth;
      } else if (depth == 0 && (IsBlank(c) || c == '(')) {
        break;
      }
    }
    if (depth > 0) {
      return Fail(error, start,
                  fmt::format("unbalanced '[' in the {}: missing ']'", kFieldNames[f]));
    }
    *fields[f] = Token{text.substr(start, i - start), start};
  }

  while (i < n && IsBlank(text[i])) ++i;
  if (i == n)
    return Fail(error, i, "missing rule options: expected '(' after the destination port");
  if (text[i] != '(') {
    size_t end = i;
    while (end < n && !IsBlank(text[end])) ++end;
    return Fail(error, i,
                fmt::format("unexpected '{}' after the destination port (expected '(' to start "
                            "the rule options)",
                            text.substr(i, end - i)));
  }
  const size_t open = i;
  size_t close = n;
  while (close > open + 1 && IsBlank(text[close - 1])) --close;
  if (close == open + 1 || text[close - 1] != ')') {
    return Fail(error, close, "rule options must end with ')'");
  }
  --close;  // index of the final ')'

  size_t p = open + 1;
  for (;;) {
    while (p < close && IsBlank(text[p])) ++p;
    if (p >= close) break;
    const size_t name_start = p;
    while (p < close && text[p] != ':' && text[p] != ';') ++p;
    const std::string_view name = TrimRight(text.substr(name_start, p - name_start));
    if (name.empty()) {
      return Fail(error, name_start,
                  text[p] == ';' ? "empty option (stray ';')" : "missing option name before ':'");
    }
    for (size_t k = 0; k < name.size(); ++k) {
      if (!IsOptionNameChar(name[k])) {
        return Fail(error, name_start + k,
                    fmt::format("bad option name '{}' (missing ':' or ';'?)", name));
      }
    }
    if (p == close) return Fail(error, p, fmt::format("missing ';' after option '{}'", name));

    RawOption opt;
    opt.name = name;
    opt.name_offset = name_start;
    if (text[p] == ':') {
      const size_t vstart = p + 1;
      size_t q = vstart;
      while (q < close && !(text[q] == ';' && text[q - 1] != '\\')) ++q;
      std::string_view raw = text.substr(vstart, q - vstart);
      const std::string_view left = TrimLeft(raw);
      opt.value = TrimRight(left);
      opt.value_offset = vstart + (raw.size() - left.size());
      opt.has_value = true;
      size_t open_quote;
      if (FindClosingQuote(opt.value, &open_quote) == std::string_view::npos &&
          open_quote != std::string_view::npos) {
        return Fail(error, opt.value_offset + open_quote,
                    fmt::format("unterminated quote in the value of '{}' (a ';' inside quotes "
                                "must be written \\;)",
                                name));
      }
      if (q == close) return Fail(error, q, fmt::format("missing ';' after option '{}'", name));
      p = q + 1;
    } else {  // ';'
      opt.value_offset = p;
      ++p;
    }
    out->options.push_back(opt);
  }
  return true;
}

}  // namespace fs::patterns
