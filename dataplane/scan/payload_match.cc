#include "dataplane/scan/payload_match.h"

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
  for (;;) {
    uint32_t offset = 0;
    uint32_t depth = in.len;
    if (relative) {
      offset = prev_buffer_offset;
      const int32_t distance = s.distance;
      if (s.distance_flag) {
        if (distance < 0 && static_cast<uint32_t>(-distance) > offset) {
          offset = 0;
        } else {
          offset += static_cast<uint32_t>(distance);
        }
      }
      if (s.within_flag) {
        // Suricata compares as signed: a negative end (distance far below the previous match)
        // leaves the depth at the buffer length.
        const uint32_t end =
            prev_buffer_offset + static_cast<uint32_t>(s.within) + static_cast<uint32_t>(distance);
        if (static_cast<int32_t>(depth) > static_cast<int32_t>(end)) depth = end;
      }
      if (s.depth != 0 && s.depth + prev_buffer_offset < depth)
        depth = prev_buffer_offset + s.depth;
      if (s.offset > offset) offset = s.offset;
    } else {
      if (s.depth != 0) depth = s.depth;
      offset = s.offset;
      prev_buffer_offset = 0;
    }
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

int Inspect(Inspection& in, uint32_t i) {
  if (++in.counter == patterns::kInspectionRecursionLimit) {
    in.discontinue = true;
    return 0;
  }
  return in.steps[i].kind == MatchStep::Kind::kContent ? InspectContent(in, i) : InspectPcre(in, i);
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
  Inspection in{&set, steps.data(), data, len, match_data, 0, 0, 0, false};
  return Inspect(in, 0) == 1;
}

}  // namespace fs::scan
