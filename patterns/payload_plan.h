// How one rule's contents and pcres are matched: which Hyperscan expressions stand for them and
// whether those expressions decide the rule exactly or only pre-filter it for the confirmation
// program (Suricata's content inspection, run in software by the scanner). Built by the control
// plane per rule when a PatternSet is compiled; the result is plain data, read-only afterwards.
//
// Suricata's semantics (detect-engine-content-inspection.c, 7.0.10) are the reference: contents
// and pcres are inspected in rule order; a relative one (distance/within, pcre R) searches from
// where the previous match ended, and an earlier content is retried at its later occurrences when
// the next keyword depends on it. For chains of contents with non-negative distances this is
// exactly "there exist positions satisfying every constraint", which one Hyperscan regex decides;
// everything else (negative distance, relative pcre, a negated content relative to another,
// pcres Hyperscan cannot compile exactly) keeps Hyperscan as a necessary condition and is
// decided by the confirmation program.
#pragma once

#include <hs/hs.h>

#include <cstdint>
#include <string>
#include <vector>

#include "patterns/rule.h"

namespace fs::patterns {

// One Hyperscan expression before it is given an id in a database.
struct ExprSpec {
  std::string regex;
  unsigned flags = 0;                 // HS_FLAG_*
  unsigned long long min_offset = 0;  // hs_expr_ext: 0 = not set (both bound the match END)
  unsigned long long max_offset = 0;
  bool from_pcre = false;  // a rule's pcre (the others are generated from contents)

  bool prefilter() const;
  // Hyperscan's extended parameters for the offsets; flags == 0 when there are none (pass
  // nullptr to Hyperscan then).
  hs_expr_ext_t Ext() const;
  // Identity for de-duplication across rules.
  std::string Key() const;
};

enum class PayloadMode : uint8_t {
  kNone,     // no content or pcre: header (and conditions) only
  kExact,    // the Hyperscan reports decide the payload part: all `require`, no `veto`
  kConfirm,  // `require` (possibly empty) is necessary; the step program decides
  kNever,    // can never match (a content whose offset/depth window is shorter than it)
};
const char* PayloadModeName(PayloadMode m);

// One step of the confirmation program: Suricata's state for one content or pcre, with every
// flag its inspection consults precomputed (after PropagateLimits' conversion of a leading
// relative content and the dsize depth, as Suricata applies them before matching).
struct MatchStep {
  enum class Kind : uint8_t { kContent, kPcre, kByteTest, kByteJump, kByteExtract, kIsdataat };
  Kind kind = Kind::kContent;
  bool negated = false;  // content/pcre "!"; byte_test "!op"; isdataat "!N"
  bool nocase = false;
  bool is_last = false;
  // Content: DETECT_CONTENT_DISTANCE/WITHIN/OFFSET/DEPTH.
  bool distance_flag = false, within_flag = false, offset_flag = false, depth_flag = false;
  // Content: DETECT_CONTENT_WITHIN_NEXT (retry later occurrences when the next step fails) and
  // "the next step is relative to this one" (Suricata's RELATIVE_NEXT bits, used by IS_SINGLE).
  // Pcre: DETECT_PCRE_RELATIVE_NEXT in relative_next.
  bool within_next = false, relative_next = false;
  bool ends_with = false;          // content: DETECT_CONTENT_ENDS_WITH (endswith; app buffers)
  bool relative = false;           // pcre: R
  uint16_t offset = 0, depth = 0;  // content: Suricata's cd->offset, cd->depth (0: none)
  int32_t distance = 0, within = 0;
  uint32_t bytes_begin = 0, bytes_len = 0;  // content: bytes in the owner's pool (lower-cased
                                            // when nocase)
  uint32_t pcre = 0;                        // pcre: index of the compiled regex in the owner
  // Content: offset/depth/distance/within read byte_extract slots (the fields above hold the
  // slot, as Suricata's DETECT_CONTENT_*_VAR).
  bool offset_var = false, depth_var = false, distance_var = false, within_var = false;

  // Byte keywords (relative: "relative"; see patterns::ByteOp for the meaning of each field).
  bool string = false, little = false, bitmask = false, align = false;
  bool from_beginning = false, from_end = false;
  ByteOp::Op op = ByteOp::Op::kEq;
  uint8_t base = 0, bitmask_shift = 0, align_value = 0;
  uint8_t slot = 0;  // byte_extract: the slot it stores its value in
  int8_t nbytes_slot = -1, offset_slot = -1, value_slot = -1;  // slots read instead of the numbers
  uint16_t multiplier = 1;
  uint32_t nbytes = 0, bitmask_value = 0;
  int32_t byte_offset = 0, post_offset = 0;  // isdataat: its N in byte_offset
  uint64_t value = 0;
};

// byte_extract slots a program may use (the parser skips rules with more per buffer).
inline constexpr uint32_t kMaxByteSlots = 16;

// Suricata's inspection_recursion_limit default: a rule's inspection gives up (no match) after
// this many steps of its backtracking search.
inline constexpr uint32_t kInspectionRecursionLimit = 3000;

struct PayloadPlan {
  PayloadMode mode = PayloadMode::kNone;
  std::vector<ExprSpec> require;
  std::vector<ExprSpec> veto;      // kExact only
  std::vector<MatchStep> steps;    // kConfirm only; bytes_begin is into `bytes`
  std::string bytes;               // content bytes of the steps
  std::vector<const Pcre*> pcres;  // pcre steps' regexes (pointers into the rule)
  std::string confirm_reason;      // kConfirm: why Hyperscan alone is not exact (for reports)
  uint32_t pcre_exact = 0, pcre_prefilter = 0, pcre_software = 0;  // how each pcre went
};

// dsize_ne_edge: for a rule with dsize:!N, N (Suricata then uses N as the depth of every content:
// SigParseApplyDsizeToContent); -1 otherwise. For other dsize forms that depth can never change
// the outcome once dsize itself holds, so it is left out.
PayloadPlan PlanPayload(const Rule& rule, int dsize_ne_edge);

// Builds the confirmation steps only (every rule with contents can be confirmed; tests use this
// to check the Hyperscan plan against it).
PayloadPlan BuildSteps(const Rule& rule, int dsize_ne_edge);

}  // namespace fs::patterns
