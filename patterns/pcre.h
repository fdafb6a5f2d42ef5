// The pcre keyword: parsing its value the way Suricata 7 does (detect-pcre.c), and compiling the
// regex with PCRE2 using Suricata's options, so that what matches here matches there. Control
// plane only; the compiled code is then read-only and shared by every worker.
#pragma once

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <memory>
#include <string>
#include <string_view>

#include "patterns/rule.h"

namespace fs::patterns {

// Suricata's default PCRE2 limits per match (SC_MATCH_LIMIT_DEFAULT, ..._RECURSION_DEFAULT):
// a match that needs more steps is an error, and Suricata counts an error as "no match".
inline constexpr uint32_t kPcreMatchLimit = 3500;
inline constexpr uint32_t kPcreDepthLimit = 1500;

struct PcreValue {
  Pcre pcre;  // regex, modifiers, negated, relative and the option flags
  // Set when the value is valid Suricata syntax the sensor does not evaluate: a capture into a
  // pkt/flow variable ("pcre/capture"). message is the operator text. (A modifier that selects an
  // HTTP buffer, /U /H ..., sets pcre.buffer.)
  std::string unsupported_keyword;
  std::string unsupported_message;
};

// Parses the text of a pcre option as Suricata's parser hands it to the keyword: negation and
// surrounding quotes already removed. Returns false with *error on a value Suricata refuses
// ("unknown regex modifier 'z'", a regex PCRE2 cannot compile, ...). *error_offset is the byte
// offset in `text` the error is about.
bool ParsePcreValue(std::string_view text, bool negated, PcreValue* out, std::string* error,
                    size_t* error_offset);

struct Pcre2CodeDeleter {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
using Pcre2CodePtr = std::unique_ptr<pcre2_code, Pcre2CodeDeleter>;

// Compiles p.regex with Suricata's options: the modifier flags, PCRE2_NO_AUTO_CAPTURE unless the
// regex refers to a numbered group, and JIT when jit is true (as Suricata does when PCRE2 has a
// JIT). nullptr with *error (PCRE2's message and offset) on failure.
// capturing: compile groups as capturing (Suricata does when the value names pkt/flow variables
// to capture into).
Pcre2CodePtr CompilePcre2(const Pcre& p, bool jit, std::string* error, bool capturing = false);

// "/regex/modifiers" as written (for messages and the canonical text).
std::string PcreText(const Pcre& p);

}  // namespace fs::patterns
