// Block-mode rule matching for one worker: runs the pattern set's Hyperscan database over a
// packet's payload, confirms which rules had all their contents in that payload, checks their
// headers against the packet, and reports each matching rule once.
//
// Owned by exactly one worker lcore; not thread-safe. Prepare() is control-path work (start-up
// and pattern reload: it allocates); ScanPacket() is the hot path: no allocation, no locks, no
// exceptions, no virtual calls (the Hyperscan callback is a plain function pointer).
#pragma once

#include <hs/hs.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/decode/packet.h"
#include "dataplane/flow/flow_table.h"
#include "patterns/pattern_set.h"

namespace fs::scan {

struct HsScratchDeleter {
  void operator()(hs_scratch_t* s) const { hs_free_scratch(s); }
};
using HsScratchPtr = std::unique_ptr<hs_scratch_t, HsScratchDeleter>;

// Single writer (the owning worker); the metrics collectable reads them at scrape time.
struct ScanCounters {
  uint64_t packets = 0;       // packets whose payload was scanned
  uint64_t bytes = 0;         // payload bytes scanned
  uint64_t rule_matches = 0;  // on_match calls
  uint64_t scan_errors = 0;   // hs_scan failures (should stay 0)
  uint64_t unprepared = 0;    // ScanPacket with a set Prepare() did not size for (a bug)
};

class Scanner {
 public:
  Scanner() = default;
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // Sizes the scratch and the per-packet match state for `set` (and keeps them large enough
  // for sets prepared earlier, so the previous set stays usable until the swap). On failure the
  // previous state is kept and error() says why. Control path only.
  bool Prepare(const patterns::PatternSet& set);
  const std::string& error() const { return error_; }

  // Calls on_match(uint32_t rule_index) once for each rule of `set` that matches packet p:
  // all of its contents found in p.payload() (same buffer, any order) and its header conditions
  // met; rules without contents are checked on every packet. Calls come in ascending
  // rule_index order. `dir` is the packet's direction in its flow (for the flow keyword, a later
  // slice). Hot path.
  template <class OnMatch>
  void ScanPacket(const patterns::PatternSet& set, const decode::Packet& p, flow::Dir dir,
                  OnMatch&& on_match);

  const ScanCounters& counters() const { return counters_; }

 private:
  // Runs Hyperscan over [data, data + len) and leaves in touched_[0, touched_count_) the rules
  // whose every content matched (ascending); none after a scan error (counted).
  void ScanContents(const patterns::PatternSet& set, const uint8_t* data, uint32_t len);
  static int OnHsMatch(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                       void* ctx);
  static patterns::PacketHeader HeaderOf(const decode::Packet& p);

  HsScratchPtr scratch_;
  // Per-packet state, sized by Prepare(): hits_[rule] counts the rule's distinct contents seen
  // in this payload; touched_ lists the rules with hits_ != 0 so only those are cleared.
  std::vector<uint16_t> hits_;
  std::vector<uint32_t> touched_;
  uint32_t touched_count_ = 0;
  const patterns::PatternSet* scanning_ = nullptr;  // valid during hs_scan only
  ScanCounters counters_;
  std::string error_;
};

template <class OnMatch>
void Scanner::ScanPacket(const patterns::PatternSet& set, const decode::Packet& p, flow::Dir dir,
                         OnMatch&& on_match) {
  (void)dir;
  if (set.size() > hits_.size()) {
    ++counters_.unprepared;
    return;
  }
  touched_count_ = 0;
  if (set.database() != nullptr && p.payload_len > 0) ScanContents(set, p.payload(), p.payload_len);
  const std::vector<uint32_t>& header_only = set.header_only_rules();
  if (touched_count_ == 0 && header_only.empty()) return;

  const patterns::PacketHeader h = HeaderOf(p);
  // Merge the two ascending lists so rules are reported in index order.
  size_t a = 0, b = 0;
  while (a < touched_count_ || b < header_only.size()) {
    uint32_t rule;
    if (b == header_only.size() || (a < touched_count_ && touched_[a] < header_only[b])) {
      rule = touched_[a++];
    } else {
      rule = header_only[b++];
    }
    if (set.header(rule).Matches(h)) {
      ++counters_.rule_matches;
      on_match(rule);
    }
  }
}

}  // namespace fs::scan
