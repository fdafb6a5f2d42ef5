#include "controlplane/output/json_line.h"

#include <charconv>
#include <nlohmann/json.hpp>

namespace fs::output {
namespace {

// Bytes that JSON strings carry as they are: printable ASCII but '"' and '\\'. (0x7f too:
// nlohmann leaves DEL unescaped.)
constexpr bool Plain(unsigned char c) { return c >= 0x20 && c != '"' && c != '\\' && c < 0x80; }

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF) starting at s[i], or 0 when there is none.
size_t Utf8Sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  const size_t left = s.size() - i;
  auto cont = [&](size_t k, unsigned char lo = 0x80, unsigned char hi = 0xbf) {
    return b(i + k) >= lo && b(i + k) <= hi;
  };
  if (c >= 0xc2 && c <= 0xdf) return left >= 2 && cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (left < 3) return 0;
    const unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (left < 4) return 0;
    const unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view s) {
  const size_t start = out->size();
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    // Runs of plain bytes go in one append.
    size_t j = i;
    while (j < s.size() && Plain(static_cast<unsigned char>(s[j]))) ++j;
    out->append(s.data() + i, j - i);
    if (j == s.size()) break;
    const auto c = static_cast<unsigned char>(s[j]);
    if (c >= 0x80) {
      const size_t n = Utf8Sequence(s, j);
      if (n == 0) {
        // Invalid UTF-8: nlohmann's own replacement (where a sequence breaks off, which bytes
        // it reads again) decides, so the whole string is left to it; rare.
        out->resize(start);
        out->append(nlohmann::json(std::string(s)).dump(
            -1, ' ', false, nlohmann::json::error_handler_t::replace));
        return;
      }
      out->append(s.data() + j, n);
      i = j + n;
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out->append(esc, 6);
      }
    }
    i = j + 1;
  }
  out->push_back('"');
}

void JsonLine::AppendUInt(uint64_t v) {
  char buf[20];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out_->append(buf, r.ptr);
}

void JsonLine::AppendInt(int64_t v) {
  char buf[20];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out_->append(buf, r.ptr);
}

}  // namespace fs::output
