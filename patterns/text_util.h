// Small string helpers shared by the pattern-language parsers (internal to patterns/).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fs::patterns {

// Blanks as rule files use them: space and tab (and CR left over from CRLF files).
inline bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

inline std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  return s;
}
inline std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}
inline std::string_view Trim(std::string_view s) { return TrimRight(TrimLeft(s)); }

inline std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Calls fn(line) for each '\n'-separated line, without the '\n' and without a trailing '\r'.
template <class Fn>
void ForEachLine(std::string_view text, Fn&& fn) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(line);
    start = end + 1;
  }
}

// Consumes leading blanks and then `word` (case-insensitive) when it is followed by a blank, ':'
// or the end.
inline bool ConsumeWord(std::string_view* s, std::string_view word) {
  std::string_view t = TrimLeft(*s);
  if (t.size() < word.size() || ToLower(t.substr(0, word.size())) != word) return false;
  std::string_view after = t.substr(word.size());
  if (!after.empty() && !IsBlank(after.front()) && after.front() != ':') return false;
  *s = after;
  return true;
}

// Decimal digits only (no sign, no blanks), fitting in uint32_t.
inline bool ParseDecimal(std::string_view s, uint32_t* out) {
  if (s.empty() || s.size() > 10) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  uint64_t v = 0;
  for (char c : s) v = v * 10 + static_cast<uint64_t>(c - '0');
  if (v > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// As Suricata's classtype syntax: a letter, then letters, digits, '-' or '_'.
inline bool IsClasstypeName(std::string_view s) {
  if (s.empty()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(s.front())) return false;
  for (char c : s) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '-' && c != '_') return false;
  }
  return true;
}

}  // namespace fs::patterns
