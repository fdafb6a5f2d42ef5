#include "patterns/pcre.h"

#include <fmt/format.h>

#include <cctype>
#include <vector>

namespace fs::patterns {
namespace {

// Suricata's DetectPcreHasUpperCase: an upper-case letter outside an escape (\xHH counts as an
// escape of two hex digits).
bool HasUpperCase(std::string_view re) {
  bool meta = false, meta_hex = false;
  int hex_count = 0;
  for (char c : re) {
    if (meta_hex) {
      if (++hex_count == 2) {
        meta_hex = false;
        hex_count = 0;
      }
    } else if (meta) {
      if (c == 'x') {
        meta_hex = true;
      } else {
        meta = false;
      }
    } else if (c == '\\') {
      meta = true;
    } else if (std::isupper(static_cast<unsigned char>(c))) {
      return true;
    }
  }
  return false;
}

// Splits off Suricata's trailing capture list (`/re/,flow:name` or `/re/ pkt:name`): the regex text
// ends before the separators that precede the first "flow:"/"pkt:". Returns the length of the
// regex part and sets *names to the capture list ("" when there is none).
size_t CutCaptureNames(std::string_view text, std::string_view* names) {
  *names = {};
  const size_t f = text.find("flow:");
  const size_t p = text.find("pkt:");
  if (f == std::string_view::npos && p == std::string_view::npos) return text.size();
  const size_t cut = std::min(f, p);
  if (cut <= 1) return text.size();
  size_t off = cut - 1;
  while (off != 0 && (text[off] == ',' || text[off] == ' ')) --off;
  if (cut == off + 1) return text.size();  // no separator: part of the regex
  *names = text.substr(cut);
  if (!names->empty() && names->back() == '"') names->remove_suffix(1);
  return off + 1;
}

}  // namespace

std::string PcreText(const Pcre& p) { return "/" + p.regex + "/" + p.modifiers; }

bool ParsePcreValue(std::string_view text, bool negated, PcreValue* out, std::string* error,
                    size_t* error_offset) {
  *error_offset = 0;
  Pcre& pc = out->pcre;
  pc.negated = negated;
  std::string_view names;
  const std::string_view s = text.substr(0, CutCaptureNames(text, &names));

  // Suricata's PARSE_REGEX, (?<!\\)/(.*(?<!(?<!\\)\\))/([^"]*): the first '/' not preceded by a
  // backslash, then the last '/' not preceded by a lone backslash, then the modifiers up to a
  // quote.
  size_t open = std::string_view::npos;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '/' && (i == 0 || s[i - 1] != '\\')) {
      open = i;
      break;
    }
  }
  size_t close = std::string_view::npos;
  if (open != std::string_view::npos) {
    for (size_t j = s.size(); j-- > open + 1;) {
      if (s[j] != '/') continue;
      const bool lone_backslash = s[j - 1] == '\\' && !(j >= 2 && s[j - 2] == '\\');
      if (!lone_backslash) {
        close = j;
        break;
      }
    }
  }
  if (close == std::string_view::npos) {
    *error = fmt::format("bad pcre value '{}' (expected \"/regex/modifiers\")", text);
    return false;
  }
  pc.regex = std::string(s.substr(open + 1, close - open - 1));
  std::string_view mods = s.substr(close + 1);
  if (const size_t q = mods.find('"'); q != std::string_view::npos) mods = mods.substr(0, q);
  if (mods.size() >= 64) {  // Suricata copies them into a 64-byte buffer
    *error = fmt::format("pcre modifiers '{}' are too long", mods);
    *error_offset = close + 1;
    return false;
  }
  pc.modifiers = std::string(mods);

  bool rawbytes = false, host = false;
  char buffer = 0;  // the modifier that selected an HTTP buffer
  for (size_t k = 0; k < mods.size(); ++k) {
    const char m = mods[k];
    auto fail = [&](std::string message) {
      *error = std::move(message);
      *error_offset = close + 1 + k;
      return false;
    };
    auto select_buffer = [&](bool checks_rawbytes) {
      if (checks_rawbytes && rawbytes) {
        return fail(fmt::format("pcre modifier '{}' is inconsistent with 'B'", m));
      }
      if (buffer != 0) {
        return fail(
            fmt::format("pcre modifiers '{}' and '{}' both select a buffer (only one is "
                        "allowed)",
                        buffer, m));
      }
      buffer = m;
      return true;
    };
    switch (m) {
      case 'A':
        pc.anchored = true;
        break;
      case 'E':
        pc.dollar_endonly = true;
        break;
      case 'G':
        pc.ungreedy = true;
        break;
      case 'i':
        pc.caseless = true;
        break;
      case 'm':
        pc.multiline = true;
        break;
      case 's':
        pc.dotall = true;
        break;
      case 'x':
        pc.extended = true;
        break;
      case 'O':  // use the configured match limits: the sensor has only the defaults
        break;
      case 'B':
        if (buffer != 0) {
          return fail(fmt::format("pcre modifier 'B' is inconsistent with '{}'", buffer));
        }
        rawbytes = true;
        break;
      case 'R':
        pc.relative = true;
        break;
      case 'W':
        host = true;
        [[fallthrough]];
      case 'U':
      case 'V':
      case 'Z':
      case 'H':
      case 'I':
      case 'M':
      case 'C':
        if (!select_buffer(true)) return false;
        break;
      case 'D':
      case 'P':
      case 'Q':
      case 'Y':
      case 'S':
        if (!select_buffer(false)) return false;
        break;
      default:
        return fail(fmt::format("unknown pcre modifier '{}'", m));
    }
  }
  if (host && !pc.caseless && HasUpperCase(pc.regex)) {
    *error = "pcre with modifier 'W' (the HTTP host, which is lower case) has an upper-case letter";
    *error_offset = open;
    return false;
  }

  // Captures into pkt/flow variables: "/(a)/,flow:name" or named groups (?P<pkt_name>...).
  const bool named_captures =
      s.find("(?P<pkt_") != std::string_view::npos || s.find("(?P<flow_") != std::string_view::npos;
  std::string compile_error;
  Pcre2CodePtr code = CompilePcre2(pc, /*jit=*/false, &compile_error, !names.empty());
  if (code == nullptr) {
    *error = fmt::format("pcre2 compile of \"{}\" failed {}", text, compile_error);
    *error_offset = open;
    return false;
  }
  if (!names.empty()) {
    uint32_t groups = 0;
    pcre2_pattern_info(code.get(), PCRE2_INFO_CAPTURECOUNT, &groups);
    size_t count = 0;
    std::string_view rest = names;
    while (!rest.empty()) {
      const size_t sep = rest.find_first_of(" ,");
      const std::string_view name = rest.substr(0, sep);
      rest = sep == std::string_view::npos ? std::string_view() : rest.substr(sep + 1);
      if (name.empty()) continue;
      if (name.substr(0, 4) != "pkt:" && name.substr(0, 5) != "flow:") {
        *error = fmt::format("pcre capture name '{}' must start with 'pkt:' or 'flow:'", name);
        *error_offset = static_cast<size_t>(name.data() - text.data());
        return false;
      }
      ++count;
    }
    if (count > groups) {
      *error = "pcre has more pkt/flow capture names than capturing groups";
      *error_offset = static_cast<size_t>(names.data() - text.data());
      return false;
    }
  }
  if (buffer != 0) {
    // Suricata's legacy buffer modifiers: the pcre inspects that HTTP buffer.
    static constexpr std::pair<char, Buffer> kLetters[] = {
        {'U', Buffer::kHttpUri},         {'I', Buffer::kHttpUriRaw},
        {'H', Buffer::kHttpHeader},      {'D', Buffer::kHttpHeaderRaw},
        {'M', Buffer::kHttpMethod},      {'C', Buffer::kHttpCookie},
        {'P', Buffer::kHttpRequestBody}, {'Q', Buffer::kFileData},
        {'S', Buffer::kHttpStatCode},    {'Y', Buffer::kHttpStatMsg},
        {'V', Buffer::kHttpUserAgent},   {'W', Buffer::kHttpHost},
        {'Z', Buffer::kHttpHostRaw},
    };
    for (const auto& [letter, b] : kLetters) {
      if (letter == buffer) out->pcre.buffer = b;
    }
  }
  if (!names.empty() || named_captures) {
    out->unsupported_keyword = "pcre/capture";
    out->unsupported_message = "pcre capture into a pkt/flow variable is not supported yet";
  }
  return true;
}

Pcre2CodePtr CompilePcre2(const Pcre& p, bool jit, std::string* error, bool capturing) {
  uint32_t options = capturing ? 0u : static_cast<uint32_t>(PCRE2_NO_AUTO_CAPTURE);
  if (p.anchored) options |= PCRE2_ANCHORED;
  if (p.dollar_endonly) options |= PCRE2_DOLLAR_ENDONLY;
  if (p.ungreedy) options |= PCRE2_UNGREEDY;
  if (p.caseless) options |= PCRE2_CASELESS;
  if (p.multiline) options |= PCRE2_MULTILINE;
  if (p.dotall) options |= PCRE2_DOTALL;
  if (p.extended) options |= PCRE2_EXTENDED;
  int code = 0;
  PCRE2_SIZE offset = 0;
  auto compile = [&] {
    return Pcre2CodePtr(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.regex.data()), p.regex.size(),
                                      options, &code, &offset, nullptr));
  };
  Pcre2CodePtr re = compile();
  // As Suricata: groups are non-capturing unless the regex refers to one by number.
  if (re == nullptr && code == PCRE2_ERROR_BAD_SUBPATTERN_REFERENCE) {
    options &= ~static_cast<uint32_t>(PCRE2_NO_AUTO_CAPTURE);
    re = compile();
  }
  if (re == nullptr) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(code, buf, sizeof(buf));
    *error = fmt::format("at offset {}: {}", offset, reinterpret_cast<const char*>(buf));
    return nullptr;
  }
  if (jit) pcre2_jit_compile(re.get(), PCRE2_JIT_COMPLETE);  // falls back to the interpreter
  return re;
}

}  // namespace fs::patterns
