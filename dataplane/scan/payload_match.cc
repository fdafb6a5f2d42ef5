#include "dataplane/scan/payload_match.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace fs::scan {
namespace {

using patterns::MatchStep;

// Suricata's det_ctx fields for one rule's inspection.
struct Inspection {
  const patterns::PatternSet* set;
  const MatchStep* steps;
  const uint8_t* buf;
  uint32_t len;
  pcre2_match_data* match_data;
  uint32_t buffer_offset = 0;  // end of the last match: relative keywords start here
  uint32_t pcre_start = 0;     // where the next search of the current pcre starts (+1)
  uint32_t counter = 0;        // inspection_recursion_counter
  bool discontinue = false;    // discontinue_matching
  uint64_t values[patterns::kMaxByteSlots] = {};  // byte_values: byte_extract results by slot
};

inline uint8_t AsciiLower(uint8_t b) { return b >= 'A' && b <= 'Z' ? b + ('a' - 'A') : b; }

// First occurrence of needle (lower case when nocase) in hay, as Suricata's single pattern
// matcher returns it.
const uint8_t* Find(const uint8_t* hay, uint32_t n, const uint8_t* needle, uint32_t m,
                    bool nocase) {
  if (m == 0 || m > n) return nullptr;
  if (!nocase) return static_cast<const uint8_t*>(memmem(hay, n, needle, m));
  const uint8_t first = needle[0];
  const uint8_t first_upper = first >= 'a' && first <= 'z' ? first - ('a' - 'A') : first;
  const uint8_t* last = hay + (n - m);
  for (const uint8_t* p = hay; p <= last; ++p) {
    if (*p != first && *p != first_upper) continue;
    uint32_t k = 1;
    while (k < m && AsciiLower(p[k]) == needle[k]) ++k;
    if (k == m) return p;
  }
  return nullptr;
}

int Inspect(Inspection& in, uint32_t i);

// Suricata's "match:" label: this keyword holds, go on with the next one.
int Next(Inspection& in, uint32_t i) {
  if (in.steps[i].is_last) return 1;
  return Inspect(in, i + 1);
}

int InspectContent(Inspection& in, uint32_t i) {
  const MatchStep& s = in.steps[i];
  const uint8_t* needle = in.set->step_bytes() + s.bytes_begin;
  const bool relative = s.distance_flag || s.within_flag;
  uint32_t prev_offset = 0;  // start of the last occurrence + 1, when retrying
  uint32_t prev_buffer_offset = in.buffer_offset;
  const uint64_t* values = in.values;
  for (;;) {
    uint32_t offset = 0;
    uint32_t depth = in.len;
    if (relative) {
      offset = prev_buffer_offset;
      int32_t distance = s.distance;
      if (s.distance_flag) {
        if (s.distance_var) distance = static_cast<int32_t>(values[s.distance]);
        if (distance < 0 && static_cast<uint32_t>(-static_cast<int64_t>(distance)) > offset) {
          offset = 0;
        } else {
          offset += static_cast<uint32_t>(distance);
        }
      }
      if (s.within_flag) {
        // Suricata compares as signed: a negative end (distance far below the previous match)
        // leaves the depth at the buffer length.
        const uint32_t within = s.within_var ? static_cast<uint32_t>(values[s.within])
                                             : static_cast<uint32_t>(s.within);
        const uint32_t end = prev_buffer_offset + within + static_cast<uint32_t>(distance);
        if (static_cast<int32_t>(depth) > static_cast<int32_t>(end)) depth = end;
      }
      if (s.depth_var) {
        if (values[s.depth] + prev_buffer_offset < depth) {
          depth = prev_buffer_offset + static_cast<uint32_t>(values[s.depth]);
        }
      } else if (s.depth != 0 && s.depth + prev_buffer_offset < depth) {
        depth = prev_buffer_offset + s.depth;
      }
      if (s.offset_var) {
        if (values[s.offset] > offset) offset = static_cast<uint32_t>(values[s.offset]);
      } else if (s.offset > offset) {
        offset = s.offset;
      }
    } else {
      if (s.depth_var) {
        depth = static_cast<uint32_t>(values[s.depth]);
      } else if (s.depth != 0) {
        depth = s.depth;
      }
      offset = s.offset_var ? static_cast<uint32_t>(values[s.offset]) : s.offset;
      prev_buffer_offset = 0;
    }
    // A window read from a variable: Suricata makes the depth relative to the offset.
    if (s.distance_var || s.offset_var || s.depth_var) depth += offset;
    if (prev_offset != 0) offset = prev_offset;
    if (depth > in.len) depth = in.len;
    if (offset > depth || depth == 0) return s.negated ? Next(in, i) : 0;

    const uint32_t window = depth - offset;
    // endswith: a window that stops short of the buffer end cannot hold the match.
    const uint8_t* found = s.bytes_len > window || (s.ends_with && depth < in.len)
                               ? nullptr
                               : Find(in.buf + offset, window, needle, s.bytes_len, s.nocase);
    if (found == nullptr) {
      if (s.negated) return Next(in, i);
      if (!relative) in.discontinue = true;  // an independent keyword failed: nothing can match
      return 0;
    }
    const auto match_offset = static_cast<uint32_t>(found - in.buf) + s.bytes_len;
    if (s.negated) {
      // Suricata compares the window length with the absolute match end here (7.0.10).
      if (s.ends_with && window != match_offset) return Next(in, i);
      const bool single = !(relative || s.relative_next || s.depth_flag || s.offset_flag);
      if (single) in.discontinue = true;
      return 0;
    }
    in.buffer_offset = match_offset;
    if (!s.ends_with || match_offset == in.len) {
      if (s.is_last) return 1;
      if (Inspect(in, i + 1) == 1) return 1;
      if (in.discontinue) return 0;
      if (!s.within_next) {  // the next keyword does not depend on where this one matched
        in.discontinue = true;
        return 0;
      }
    }
    // endswith not at the end, or the next keyword failed: try the next occurrence.
    prev_offset = match_offset - (s.bytes_len - 1);
  }
}

// DetectPcrePayloadMatch: 1 match (buffer_offset and pcre_start updated), 0 no match. A PCRE2
// error (match limit) is no match, negated or not, as in Suricata.
int PcreMatch(Inspection& in, const MatchStep& s) {
  const uint8_t* ptr = in.buf;
  uint32_t len = in.len;
  if (s.relative) {
    ptr += in.buffer_offset;
    len -= in.buffer_offset;
  }
  PCRE2_SIZE start = 0;
  if (in.pcre_start != 0) {
    start = static_cast<PCRE2_SIZE>(static_cast<int64_t>(in.pcre_start) - (ptr - in.buf));
  }
  const int rc =
      pcre2_match(in.set->pcre(s.pcre), ptr, len, start, 0, in.match_data, in.set->match_context());
  if (rc == PCRE2_ERROR_NOMATCH) return s.negated ? 1 : 0;
  if (rc < 0 || s.negated) return 0;
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(in.match_data);
  in.buffer_offset = static_cast<uint32_t>((ptr - in.buf) + ov[1]);
  in.pcre_start = static_cast<uint32_t>((ptr - in.buf) + ov[0] + 1);
  return 1;
}

int InspectPcre(Inspection& in, uint32_t i) {
  const MatchStep& s = in.steps[i];
  const uint32_t prev_buffer_offset = in.buffer_offset;
  in.pcre_start = 0;
  for (;;) {
    if (PcreMatch(in, s) == 0) return 0;
    if (!s.relative_next) return Next(in, i);
    // The next keyword is relative to this match: on failure, try the next match of the regex
    // (starting one byte after this one started).
    const uint32_t prev_offset = in.pcre_start;
    if (Inspect(in, i + 1) == 1) return 1;
    if (in.discontinue) return 0;
    if (prev_offset == 0) return 0;  // negated pcre: no other occurrence to try
    in.buffer_offset = prev_buffer_offset;
    in.pcre_start = prev_offset;
  }
}

// util-byte.c's ByteExtractString over n bytes of the buffer: strtoull of that text (n <= 23)
// in `base` (0: automatic). Returns the characters converted, or 0 when there is no number or
// it overflows.
uint32_t ExtractString(const uint8_t* p, uint32_t n, int base, uint64_t* out) {
  if (n == 0 || n > 23) return 0;
  char text[24];
  std::memcpy(text, p, n);
  text[n] = '\0';
  errno = 0;
  char* end = nullptr;
  *out = std::strtoull(text, &end, base);
  if (errno == ERANGE || end == text) return 0;
  return static_cast<uint32_t>(end - text);
}

// n (<= 8) bytes as an unsigned number, big or little endian.
uint64_t ExtractRaw(const uint8_t* p, uint32_t n, bool little) {
  uint64_t v = 0;
  for (uint32_t k = 0; k < n; ++k) {
    const uint64_t b = little ? p[k] : p[n - k - 1];
    v |= b << ((k & 7) * 8);
  }
  return v;
}

// Where a byte keyword reads: the start (may be negative or past the end: then nothing can be
// read) and the bytes left from there, as Suricata's pointer and int32 length.
struct Window {
  int64_t start = 0;
  int64_t left = 0;
};

Window WindowAt(const Inspection& in, bool relative, int32_t offset) {
  Window w;
  w.start = (relative ? int64_t{in.buffer_offset} : 0) + offset;
  w.left = int64_t{in.len} - w.start;
  return w;
}

// Reads nbytes at w (text in `base`, or raw). Returns the bytes consumed (0: no value).
bool ReadValue(const Inspection& in, const MatchStep& s, const Window& w, int32_t nbytes,
               uint64_t* val, uint32_t* consumed) {
  if (w.start < 0 || nbytes < 0 || nbytes > w.left) return false;
  const uint8_t* p = in.buf + w.start;
  const auto n = static_cast<uint32_t>(nbytes);
  if (s.string) {
    *consumed = ExtractString(p, n, s.base, val);
    return *consumed > 0;
  }
  if (n > 8) return false;
  *val = ExtractRaw(p, n, s.little);
  *consumed = n;
  return true;
}

// The byte count a variable gives must still be one the keyword could have been written with.
bool NbytesValid(const MatchStep& s, int32_t nbytes) {
  return (s.string && nbytes <= 23) || nbytes <= 8;
}

// DetectBytetestDoMatch.
bool ByteTest(Inspection& in, const MatchStep& s) {
  if (in.len == 0) return false;
  const auto offset =
      s.offset_slot >= 0 ? static_cast<int32_t>(in.values[s.offset_slot]) : s.byte_offset;
  const uint64_t value = s.value_slot >= 0 ? in.values[s.value_slot] : s.value;
  int32_t nbytes = static_cast<int32_t>(s.nbytes);
  if (s.nbytes_slot >= 0) {
    nbytes = static_cast<int32_t>(in.values[s.nbytes_slot]);
    if (!NbytesValid(s, nbytes)) return false;
  }
  const Window w = WindowAt(in, s.relative, offset);
  if (s.relative && w.left <= 0) return false;
  uint64_t val = 0;
  uint32_t consumed = 0;
  if (!ReadValue(in, s, w, nbytes, &val, &consumed)) return false;
  if (s.bitmask) {
    val &= s.bitmask_value;
    if (val != 0 && s.bitmask_shift != 0) val >>= s.bitmask_shift;
  }
  bool match = false;
  switch (s.op) {
    case patterns::ByteOp::Op::kEq:
      match = val == value;
      break;
    case patterns::ByteOp::Op::kLt:
      match = val < value;
      break;
    case patterns::ByteOp::Op::kGt:
      match = val > value;
      break;
    case patterns::ByteOp::Op::kAnd:
      match = (val & value) != 0;
      break;
    case patterns::ByteOp::Op::kXor:  // Suricata's "^" (named OR there) tests val ^ value
      match = (val ^ value) != 0;
      break;
    case patterns::ByteOp::Op::kGe:
      match = val >= value;
      break;
    case patterns::ByteOp::Op::kLe:
      match = val <= value;
      break;
  }
  return match != s.negated;
}

// DetectBytejumpDoMatch: moves buffer_offset.
bool ByteJump(Inspection& in, const MatchStep& s) {
  if (in.len == 0) return false;
  const auto offset =
      s.offset_slot >= 0 ? static_cast<int32_t>(in.values[s.offset_slot]) : s.byte_offset;
  int32_t nbytes = static_cast<int32_t>(s.nbytes);
  if (s.nbytes_slot >= 0) {
    nbytes = static_cast<int32_t>(in.values[s.nbytes_slot]);
    if (!NbytesValid(s, nbytes)) return false;
  }
  const Window w = WindowAt(in, s.relative, offset);
  if (s.relative && nbytes != 0 && w.left <= 0) return false;
  uint64_t val = 0;
  uint32_t consumed = 0;
  if (!ReadValue(in, s, w, nbytes, &val, &consumed)) return false;
  val *= s.multiplier;
  if (s.align && val % 4 != 0) val += 4 - val % 4;
  val += static_cast<uint64_t>(static_cast<int64_t>(s.post_offset));
  const auto jump = static_cast<int64_t>(val);  // Suricata adds it to a pointer as int64
  uint64_t target = 0;
  if (s.from_beginning) {
    target = static_cast<uint64_t>(jump);
  } else if (s.from_end) {
    target = in.len + static_cast<uint64_t>(jump);
  } else {
    target = static_cast<uint64_t>(w.start) + static_cast<uint64_t>(jump) + consumed;
  }
  const auto t = static_cast<int64_t>(target);
  if (t < 0) {
    in.buffer_offset = 0;  // before the buffer: Suricata resets to its start
  } else if (t > int64_t{in.len}) {
    return false;
  } else {
    in.buffer_offset = static_cast<uint32_t>(t);
  }
  return true;
}

// DetectByteExtractDoMatch: stores the value in its slot and moves buffer_offset.
bool ByteExtract(Inspection& in, const MatchStep& s) {
  if (in.len == 0) return false;
  const Window w = WindowAt(in, s.relative, s.byte_offset);
  if (s.relative && w.left <= 0) return false;
  uint64_t val = 0;
  uint32_t consumed = 0;
  if (!ReadValue(in, s, w, static_cast<int32_t>(s.nbytes), &val, &consumed)) return false;
  val *= s.multiplier;
  if (s.align && s.align_value != 0 && val % s.align_value != 0) {
    val += s.align_value - val % s.align_value;
  }
  in.buffer_offset = static_cast<uint32_t>(w.start + consumed);
  in.values[s.slot] = val;
  return true;
}

// The isdataat branch of DetectEngineContentInspection.
bool Isdataat(const Inspection& in, const MatchStep& s) {
  auto dataat = static_cast<uint32_t>(s.byte_offset);
  if (s.offset_slot >= 0) {
    const uint64_t v = in.values[s.offset_slot];
    if (v >= 100000000) return s.negated;  // "very big": no data there
    dataat = static_cast<uint32_t>(v);
  }
  const bool there = s.relative ? in.buffer_offset + dataat <= in.len : dataat < in.len;
  return there != s.negated;
}

int Inspect(Inspection& in, uint32_t i) {
  if (++in.counter == patterns::kInspectionRecursionLimit) {
    in.discontinue = true;
    return 0;
  }
  const MatchStep& s = in.steps[i];
  bool ok = false;
  switch (s.kind) {
    case MatchStep::Kind::kContent:
      return InspectContent(in, i);
    case MatchStep::Kind::kPcre:
      return InspectPcre(in, i);
    case MatchStep::Kind::kByteTest:
      ok = ByteTest(in, s);
      break;
    case MatchStep::Kind::kByteJump:
      ok = ByteJump(in, s);
      break;
    case MatchStep::Kind::kByteExtract:
      ok = ByteExtract(in, s);
      break;
    case MatchStep::Kind::kIsdataat:
      ok = Isdataat(in, s);
      break;
  }
  return ok ? Next(in, i) : 0;
}

}  // namespace

bool InspectPayload(const patterns::PatternSet& set, uint32_t rule_index, const uint8_t* data,
                    uint32_t len, pcre2_match_data* match_data) {
  return InspectSteps(set, set.steps(rule_index), data, len, match_data);
}

bool InspectSteps(const patterns::PatternSet& set, std::span<const MatchStep> steps,
                  const uint8_t* data, uint32_t len, pcre2_match_data* match_data) {
  if (steps.empty()) return false;
  static constexpr uint8_t kEmpty[1] = {0};
  if (data == nullptr) {
    if (len != 0) return false;
    data = kEmpty;  // an empty buffer: negated contents and pcres can still hold
  }
  Inspection in{&set, steps.data(), data, len, match_data, 0, 0, 0, false, {}};
  return Inspect(in, 0) == 1;
}

}  // namespace fs::scan
