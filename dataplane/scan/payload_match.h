// The confirmation program: Suricata 7's content inspection (DetectEngineContentInspection in
// detect-engine-content-inspection.c) over a rule's compiled steps, for the rules whose
// contents/pcres Hyperscan cannot decide exactly. Relative contents search from the end of the
// previous match; an earlier content is retried at its later occurrences when the next keyword
// depends on it; a failed independent keyword stops the search; the search gives up after
// Suricata's recursion limit; pcres run with PCRE2 and Suricata's match limits.
//
// Called by the owning worker's Scanner on the packet path: no allocation, no locks, no
// exceptions. The recursion depth is bounded by the rule's number of contents and pcres.
#pragma once

#include <cstdint>
#include <span>

#include "patterns/pattern_set.h"

namespace fs::scan {

// Whether the payload part of rule `rule_index` (a PayloadMode::kConfirm rule of `set`) matches
// [data, data + len). match_data: PCRE2 match data owned by the caller (any ovector size).
bool InspectPayload(const patterns::PatternSet& set, uint32_t rule_index, const uint8_t* data,
                    uint32_t len, pcre2_match_data* match_data);

// The same over an explicit program (an app-layer rule's program for one buffer). An empty
// buffer (len 0, data may be nullptr) is inspected too: negated keywords can hold on it.
bool InspectSteps(const patterns::PatternSet& set, std::span<const patterns::MatchStep> steps,
                  const uint8_t* data, uint32_t len, pcre2_match_data* match_data);

}  // namespace fs::scan
