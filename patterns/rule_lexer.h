// First stage of rule parsing: splits one logical rule into its seven header fields and its
// options, without attaching meaning. Positions are byte offsets into the logical text; the
// SourceText maps them back to FILE line/column (a logical rule may span continuation lines).
// Control plane only; plain functions, no state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "patterns/rule.h"

namespace fs::patterns {

// A logical rule: physical line pieces joined (a trailing '\' continues a rule on the next line),
// with enough bookkeeping to turn an offset back into line:column.
class SourceText {
 public:
  // Appends `piece`, whose first byte is at (line, column) of the file.
  void Append(std::string_view piece, uint32_t line, uint32_t column);
  const std::string& text() const { return text_; }
  // Position of text()[offset]; offset == text().size() gives the position just past the end.
  Position PositionOf(size_t offset) const;

 private:
  struct Segment {
    size_t offset;
    uint32_t line;
    uint32_t column;
  };
  std::string text_;
  std::vector<Segment> segments_;
};

struct Token {
  std::string_view text;
  size_t offset = 0;
};

struct RawOption {
  std::string_view name;   // as written (not lower-cased), blanks trimmed
  std::string_view value;  // blanks trimmed; empty when there is no ':'
  bool has_value = false;
  size_t name_offset = 0;
  size_t value_offset = 0;  // first non-blank byte of the value (or where it would be)
};

struct RawRule {
  Token action, protocol, src_addr, src_port, direction, dst_addr, dst_port;
  std::vector<RawOption> options;
};

struct LexError {
  size_t offset = 0;
  std::string message;
};

// Splits `text` (one logical rule, leading blanks already removed). Header fields are separated
// by blanks outside [...] groups; options are `name;` or `name:value;` where the value ends at
// the first ';' not preceded by '\' (Suricata's rule), so a ';' inside quotes must be escaped.
// Returns false and fills *error on the first structural problem.
bool LexRule(std::string_view text, RawRule* out, LexError* error);

// Offset (within `value`) of the quote that closes a value starting with '"' (after an optional
// '!' and blanks), honouring backslash escapes; npos when the value is not quoted or the quote
// is never closed. *open gets the offset of the opening quote (npos when not quoted).
size_t FindClosingQuote(std::string_view value, size_t* open);

}  // namespace fs::patterns
