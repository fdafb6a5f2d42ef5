// A reference matcher for tests: Suricata 7.0.10's payload inspection of one rule, written
// directly from its source over the rule AST, independently of the compiled PatternSet (no
// Hyperscan, no precomputed steps). The keyword setup functions' flags (detect-distance.c,
// detect-within.c, detect-pcre.c), PropagateLimits' conversion of a leading relative content,
// SigParseApplyDsizeToContent, then DetectEngineContentInspection line by line.
//
// Tests only: allocates and compiles PCRE2 on every call. Any thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "dataplane/decode/packet.h"
#include "patterns/payload_plan.h"
#include "patterns/rule.h"

namespace fs::scan {

struct ReferenceOptions {
  // Suricata's detect.inspection-recursion-limit; 0: unlimited (for comparisons with Hyperscan,
  // which has no such limit).
  uint32_t recursion_limit = patterns::kInspectionRecursionLimit;
  // The largest payload a dsize condition allows (Suricata applies it as every content's depth);
  // -1: none.
  int dsize_max = -1;
};

// Whether the contents and pcres of `rule` match `payload` (true for a rule without any).
bool ReferencePayloadMatch(const patterns::Rule& rule, std::string_view payload,
                           const ReferenceOptions& options = {});

// Header (protocol, addresses, ports, direction) and payload of p, as Suricata decides them for
// one packet; runtime conditions are not evaluated. A rule with contents/pcres needs a
// non-empty payload.
bool ReferenceRuleMatch(const patterns::Rule& rule, const decode::Packet& p,
                        const ReferenceOptions& options = {});

}  // namespace fs::scan
