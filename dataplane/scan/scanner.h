// Block-mode rule matching for one worker: runs the Hyperscan database of the packet's direction
// over its payload, works out which rules' contents and pcres matched (exact Hyperscan reports,
// vetoes of negated contents, software confirmation where Hyperscan only pre-filters), checks
// their headers and runtime conditions, and reports each matching rule once, in the set's
// evaluation order.
//
// Owned by exactly one worker lcore; not thread-safe. Prepare() is control-path work (start-up
// and pattern reload: it allocates); ScanPacket() is the hot path: no allocation, no locks, no
// exceptions, no virtual calls (the Hyperscan callback is a plain function pointer; PCRE2 runs
// with JIT code and the scanner's own match data).
#pragma once

#include <hs/hs.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/decode/packet.h"
#include "dataplane/flow/flow_table.h"
#include "dataplane/scan/payload_match.h"
#include "dataplane/scan/stream_pool.h"
#include "patterns/pattern_set.h"

#if FS_HAVE_CONDITIONS
#include "dataplane/scan/rule_state.h"
#else
namespace fs::scan {
// Stand-in while the runtime conditions are not compiled in (FS_CONDITIONS=OFF).
class RuleState {};
}  // namespace fs::scan
#endif

namespace fs::scan {

struct HsScratchDeleter {
  void operator()(hs_scratch_t* s) const { hs_free_scratch(s); }
};
using HsScratchPtr = std::unique_ptr<hs_scratch_t, HsScratchDeleter>;

struct Pcre2MatchDataDeleter {
  void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};

// Single writer (the owning worker); the metrics collectable reads them at scrape time.
struct ScanCounters {
  uint64_t packets = 0;        // packets whose payload was scanned by Hyperscan
  uint64_t bytes = 0;          // payload bytes scanned
  uint64_t rule_matches = 0;   // on_match calls
  uint64_t confirmations = 0;  // software confirmations run (rules Hyperscan only pre-filters)
  uint64_t confirmed = 0;      // ... that matched
  uint64_t passed = 0;         // packets whose alerts a pass rule suppressed
  uint64_t scan_errors = 0;    // hs_scan failures (should stay 0)
  uint64_t unprepared = 0;     // ScanPacket with a set Prepare() did not size for (a bug)
  // App layer (ScanApp).
  uint64_t app_inspections = 0;  // transaction sides inspected with app-layer rules
  uint64_t app_matches = 0;      // app-layer rules that alerted
  uint64_t app_too_long = 0;     // dotprefix buffers longer than the scanner's copy (no match)
  // Stream scanning (reassembled TCP bytes, Hyperscan stream mode).
  uint64_t stream_bytes = 0;          // bytes scanned in stream mode
  uint64_t stream_opens = 0;          // Hyperscan streams opened
  uint64_t stream_open_failures = 0;  // ... that could not be (stream memory full): per packet only
  uint64_t stream_resets = 0;         // streams restarted after a gap or a pattern-set swap
  uint64_t stream_matches = 0;        // rules reported from stream matches (after de-duplication)
  // Flow directions that gave up a partly matched rule of several expressions to a newer one
  // (StreamCtx::NotePart): that rule is raised later by Hyperscan's combination.
  uint64_t stream_untracked = 0;
  // TCP packets with payload that went into no stream scan (retransmissions, flows without
  // reassembly, past the stream depth) matched against the stream-only rules on their own.
  uint64_t stream_alone = 0;
};

class Scanner {
 public:
  Scanner() = default;
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // Sizes the scratch (for both direction databases) and the per-packet match state for `set`,
  // keeping them large enough for sets prepared earlier, so the previous set stays usable until
  // the swap. On failure the previous state is kept and error() says why. Control path only.
  bool Prepare(const patterns::PatternSet& set);
  const std::string& error() const { return error_; }

  // Calls on_match(uint32_t rule_index) for each rule of `set` that matches packet p of `flow`
  // in direction dir: its contents/pcres (Suricata semantics; a rule with any needs a non-empty
  // payload), its header, then its runtime conditions (scan::CheckConditions, which may set
  // flowbits on the flow and count thresholds). Rules are evaluated and reported in ascending
  // rule index, the set's evaluation order, so a flowbit set by one rule is seen by a later one
  // on the same packet. After a pass rule matches, no further rule of this packet is reported
  // (rules with conditions are still evaluated, so their flowbits are set as in Suricata).
  // Rules without contents that Suricata treats as IP-only are evaluated on the first packet of
  // each direction of the flow only (flow.pkts[dir] == 1). The worker calls
  // scan::ObservePacket(p, flow) before this (rule_state.h). Hot path.
  // in_stream: the packet's payload went into its flow's stream scan (StreamData, now or once
  // the stream's hole before it fills), which then decides the set's stream-only rules
  // (RulePlan::stream_only) for those bytes; otherwise a TCP payload is matched against them
  // here, on its own.
  template <class OnMatch>
  void ScanPacket(const patterns::PatternSet& set, const decode::Packet& p, flow::Flow& flow,
                  flow::Dir dir, RuleState& state, OnMatch&& on_match, bool in_stream = false);

  // After ScanPacket with a flow: whether the pass rule that matched applies to the rest of the
  // flow, so the worker stops inspecting it (bypass). As Suricata 7 (PacketAlertFinalize), a pass
  // applies to the flow when the rule is IP-only, or when it matched on the stream, which is how
  // Suricata inspects the payload of a TCP flow: here, a pass rule with contents on a TCP packet.
  // Otherwise (UDP payload, header-only rules that are not IP-only) it passes the packet only.
  bool pass_flow() const { return pass_flow_; }

  // A packet without a flow (fragments, protocols without flows): it counts as to-server and as
  // the first packet of its direction, and flowbits tests never hold (as in Suricata).
  template <class OnMatch>
  void ScanPacket(const patterns::PatternSet& set, const decode::Packet& p, RuleState& state,
                  OnMatch&& on_match) {
    Evaluate(set, p, nullptr, flow::Dir::kToServer, &state, on_match, false);
  }

  // Transitional form for callers that have not adopted the one above yet: no flow and no rule
  // state, so every packet counts as the first of its direction and rules with runtime
  // conditions never match. To be removed once dataplane/worker uses the full form.
  template <class OnMatch>
  void ScanPacket(const patterns::PatternSet& set, const decode::Packet& p, flow::Dir dir,
                  OnMatch&& on_match);

  // --- Stream scanning: the bytes TCP reassembly delivers, per flow direction, in stream mode.
  // Rules with plan().stream match across segment boundaries; offsets and depths count from the
  // start of the stream (or from the last reset). Reports are collected, then ReportStream()
  // evaluates them against a packet of the flow (header, conditions) and calls on_match once per
  // rule and flow (ctx.alerted). Streams belong to the pattern set they were opened with: when
  // ctx.generation differs from the set's, the flow's streams are discarded and reopened on the
  // new set from the next byte (docs/reassembly.md, "pattern-set reload").

  // Scans data as the continuation of direction dir's stream of ctx (opens it if needed).
  // addr_class: the set's AddrClassOf(the direction's source, destination); the direction's
  // stream keeps the class it was opened with.
  void StreamData(const patterns::PatternSet& set, StreamCtx& ctx, int dir, int addr_class,
                  const uint8_t* data, uint32_t len);
  // A hole the stream will never fill: the direction restarts (no match may span the hole).
  void StreamGap(StreamCtx& ctx, int dir);
  // Closes direction dir's stream. flush: report end-of-data matches (set must be the one the
  // stream was opened with, i.e. ctx.generation == set.generation()).
  void StreamClose(const patterns::PatternSet* set, StreamCtx& ctx, int dir, bool flush);
  // Evaluates the rules stream scans reported since the last call against packet p of flow in
  // direction dir, reporting each rule at most once per flow. Clears the pending reports.
  template <class OnMatch>
  void ReportStream(const patterns::PatternSet& set, const decode::Packet& p, flow::Flow& flow,
                    flow::Dir dir, RuleState& state, StreamCtx& ctx, OnMatch&& on_match);
  bool stream_pending() const { return pending_count_ != 0; }
  void DropPending();

  // App layer (issue 8): evaluates the set's app-layer rules (those using sticky buffers or an
  // app protocol in their header) against the buffers of one side of one transaction. p is the
  // packet of direction dir that completed that side (header and runtime conditions are checked
  // on it; in.to_server must be dir == kToServer). A rule alerts at most once between two
  // AppTxBegin() calls, so a transaction inspected in several calls (one per DNS query name,
  // request then response) alerts each rule once. Rules run in the set's evaluation order; a
  // matching pass rule ends the call and sets pass_flow() (TCP).
  void AppTxBegin();
  template <class OnMatch>
  void ScanApp(const patterns::PatternSet& set, const decode::Packet& p, flow::Flow& flow,
               flow::Dir dir, RuleState& state, const patterns::AppInspect& in,
               OnMatch&& on_match);

  const ScanCounters& counters() const { return counters_; }
  // A scanner that replaces `from` on its worker (pattern reload) continues its counters. Call
  // before this one scans.
  void InheritCounters(const Scanner& from) { counters_ = from.counters_; }

 private:
  static constexpr uint8_t kSatisfied = 1;  // the rule's required expressions all matched
  static constexpr uint8_t kVeto = 2;       // an expression the rule must not contain matched
  static constexpr uint8_t kCounting = 4;   // some of its required expressions matched (hits_)

  template <class OnMatch>
  void Evaluate(const patterns::PatternSet& set, const decode::Packet& p, flow::Flow* flow,
                flow::Dir dir, RuleState* state, OnMatch& on_match, bool in_stream);
  // Runs Hyperscan over [data, data + len) and leaves in touched_[0, touched_count_) the rules
  // with a report (ascending), their flags in flags_; none after a scan error (counted).
  // Adds to what an earlier scan of the same payload left there (a port group after the shared
  // database: count false, the payload is counted once).
  void ScanPayload(const patterns::PatternSet::Database& db, const uint8_t* data, uint32_t len,
                   bool count = true);
  static int OnHsMatch(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                       void* ctx);
  static int OnHsStreamMatch(unsigned id, unsigned long long from, unsigned long long to,
                             unsigned flags, void* ctx);
  // Continues (opens, the first time) one stream of ctx on db: *hs is ctx.hs[d] or ctx.grp[d];
  // fail_bit marks in ctx.failed that it could not be opened.
  void ScanStream(const patterns::PatternSet::Database& db, StreamCtx& ctx, hs_stream_t** hs,
                  uint8_t fail_bit, const uint8_t* data, uint32_t len);
  static patterns::PacketHeader HeaderOf(const decode::Packet& p);
  // A packet rule of an app protocol ("alert dns ... content:...;" without buffers) needs the flow
  // to speak it, as Suricata's alproto check: a packet without a flow never does.
  static bool AppProtoHolds(const patterns::RulePlan& plan, const flow::Flow* flow) {
    return plan.app_proto == patterns::AppProto::kNone ||
           (flow != nullptr && flow->app_proto == static_cast<uint8_t>(plan.app_proto));
  }
  // Whether rule r's runtime conditions let it alert (always true without conditions).
  static bool Conditions(const patterns::PatternSet& set, uint32_t r, const decode::Packet& p,
                         flow::Flow* flow, flow::Dir dir, RuleState* state);

  HsScratchPtr scratch_;
  std::unique_ptr<pcre2_match_data, Pcre2MatchDataDeleter> match_data_;
  // Per-packet state, sized by Prepare(): flags_[rule] holds kSatisfied/kVeto for this payload;
  // touched_ lists the rules with flags_ != 0 so only those are cleared.
  // hits_[rule]: how many of its required expressions this payload matched (rules with more than
  // one; see PatternSet::Target).
  std::vector<uint8_t> flags_;
  std::vector<uint16_t> hits_;
  std::vector<uint32_t> ip_only_candidates_;  // IpOnlyIndex::Candidates output, one per rule
  std::vector<uint32_t> touched_;
  uint32_t touched_count_ = 0;
  const patterns::PatternSet::Database* scanning_ = nullptr;  // valid during hs_scan only
  // Stream reports waiting for ReportStream: rule indices (unique: pending_flag_), and the
  // context being scanned (valid during hs_scan_stream only).
  std::vector<uint32_t> pending_;
  std::vector<uint8_t> pending_flag_;
  uint32_t pending_count_ = 0;
  // Stream rules whose payload the last ScanPacket matched (header and confirmation included):
  // ReportStream does not evaluate them again for the same packet, so a match inside one segment
  // is evaluated (and counted by thresholds) once, by the packet scan.
  std::vector<uint8_t> packet_matched_;
  std::vector<uint32_t> packet_matched_list_;
  uint32_t packet_matched_count_ = 0;
  void ClearTouched() {
    for (uint32_t i = 0; i < touched_count_; ++i) {
      flags_[touched_[i]] = 0;
      hits_[touched_[i]] = 0;
    }
    touched_count_ = 0;
  }
  void ClearPacketMatched() {
    for (uint32_t i = 0; i < packet_matched_count_; ++i)
      packet_matched_[packet_matched_list_[i]] = 0;
    packet_matched_count_ = 0;
  }
  // App layer: rules alerted since AppTxBegin (one alert per rule and transaction), and the
  // copy of a buffer with a '.' in front (dotprefix).
  bool AppPrograms(const patterns::PatternSet& set, uint32_t r, const patterns::AppInspect& in);
  bool DotPrefixed(const uint8_t** data, uint32_t* len);
  static constexpr uint32_t kDotCap = 4096;
  std::vector<uint8_t> app_alerted_;
  std::vector<uint32_t> app_alerted_list_;
  uint32_t app_alerted_count_ = 0;
  std::vector<uint8_t> dot_buf_;
  StreamCtx* stream_ctx_ = nullptr;
  int stream_dir_ = 0;  // the direction stream_ctx_ is scanned in (during hs_scan_stream)
  bool pass_flow_ = false;  // the last ScanPacket's pass rule applies to its flow
  ScanCounters counters_;
  std::string error_;
};

template <class OnMatch>
void Scanner::ScanPacket(const patterns::PatternSet& set, const decode::Packet& p, flow::Flow& flow,
                         flow::Dir dir, RuleState& state, OnMatch&& on_match, bool in_stream) {
  // A packet without payload (most of them are bare ACKs) when every rule of its direction needs
  // one: nothing to evaluate. Inline, so that it costs no call (64-byte frames: 10%).
  if (p.payload_len == 0 &&
      !set.evaluates_without_payload(dir == flow::Dir::kToClient ? patterns::ScanDir::kToClient
                                                                 : patterns::ScanDir::kToServer)) {
    pass_flow_ = false;
    ClearPacketMatched();
    return;
  }
  Evaluate(set, p, &flow, dir, &state, on_match, in_stream);
}

template <class OnMatch>
void Scanner::ScanPacket(const patterns::PatternSet& set, const decode::Packet& p, flow::Dir dir,
                         OnMatch&& on_match) {
  Evaluate(set, p, nullptr, dir, nullptr, on_match, false);
}

template <class OnMatch>
void Scanner::Evaluate(const patterns::PatternSet& set, const decode::Packet& p, flow::Flow* flow,
                       flow::Dir dir, RuleState* state, OnMatch& on_match, bool in_stream) {
  pass_flow_ = false;
  if (set.size() > flags_.size() || match_data_ == nullptr) {
    ++counters_.unprepared;
    return;
  }
  ClearPacketMatched();
  const int d = dir == flow::Dir::kToClient ? 1 : 0;
  const patterns::PatternSet::Database& db = set.database(static_cast<patterns::ScanDir>(d));
  const bool has_payload = p.payload_len > 0;
  // The port group of the packet's server-side port (a transport header is needed: a non-first
  // fragment has no ports, and no grouped rule can match it).
  const patterns::PatternSet::Database* g =
      p.layer == decode::Layer::kL4
          ? db.GroupFor(p.proto, patterns::PatternSet::Database::ServerPort(d, p.sport, p.dport))
          : nullptr;
  touched_count_ = 0;
  if (has_payload) {
    // A TCP payload that went into no stream scan: the stream-only rules on it too, with the
    // direction's own rules in its outside database (block mode, their packet plans).
    // The databases of the packet's address class: the rules its addresses can match.
    const int addr_class = set.AddrClassOf(patterns::ToU128(p.src), patterns::ToU128(p.dst));
    const patterns::PatternSet::Database& outside =
        set.outside_database(static_cast<patterns::ScanDir>(d), addr_class);
    const bool use_outside = !in_stream && outside.db != nullptr &&
                             p.proto == patterns::kIpProtoTcp && p.layer == decode::Layer::kL4;
    const patterns::PatternSet::Database& first =
        use_outside ? outside
                    : set.packet_database(static_cast<patterns::ScanDir>(d), p.proto, addr_class);
    if (use_outside) ++counters_.stream_alone;
    if (first.db != nullptr) ScanPayload(first, p.payload(), p.payload_len);
    if (g != nullptr && g->db != nullptr) {
      ScanPayload(*g, p.payload(), p.payload_len, first.db == nullptr);
    }
  }
  const bool first_in_direction = flow == nullptr || flow->pkts[d] <= 1;
  // A group's list holds the direction's rules without a report and its own.
  const std::vector<uint32_t>& always = g != nullptr ? g->always : db.always;
  // IP-only rules: only those whose address sets hold this packet's addresses (the index), and
  // only on the first packet of a flow direction.
  const uint32_t* ip_only = ip_only_candidates_.data();
  size_t n_ip_only = 0;
  if (first_in_direction && !db.ip_only.empty() && p.layer != decode::Layer::kNone &&
      ip_only_candidates_.size() >= db.ip_only.size()) {
    n_ip_only = db.ip_only_index.Candidates(patterns::ToU128(p.src), patterns::ToU128(p.dst),
                                            ip_only_candidates_.data());
  }
  if (touched_count_ == 0 && always.empty() && n_ip_only == 0) return;

  const patterns::PacketHeader h = HeaderOf(p);
  bool passed = false;
  // Merge the three ascending lists: rules are evaluated in index order.
  constexpr uint32_t kEnd = UINT32_MAX;
  size_t a = 0, b = 0, c = 0;
  for (;;) {
    const uint32_t ra = a < touched_count_ ? touched_[a] : kEnd;
    const uint32_t rb = b < always.size() ? always[b] : kEnd;
    const uint32_t rc = c < n_ip_only ? ip_only[c] : kEnd;
    const uint32_t r = std::min({ra, rb, rc});
    if (r == kEnd) break;
    uint8_t f = 0;
    if (ra == r) {
      f = flags_[r] & (kSatisfied | kVeto);
      ++a;
    }
    if (rb == r) {
      f |= kSatisfied;  // no requirement to wait for
      ++b;
    }
    if (rc == r) ++c;
    const patterns::RulePlan& plan = set.plan(r);
    if (passed && !plan.has_conditions) continue;
    switch (plan.mode) {
      case patterns::PayloadMode::kNone:
        break;
      case patterns::PayloadMode::kExact:
        if (!has_payload || f != kSatisfied) continue;
        break;
      case patterns::PayloadMode::kConfirm:
        if (!has_payload || (f & kSatisfied) == 0) continue;
        break;
      case patterns::PayloadMode::kNever:
        continue;
    }
    if (!set.header(r).Matches(h) || !AppProtoHolds(plan, flow)) continue;
    if (plan.mode == patterns::PayloadMode::kConfirm) {
      ++counters_.confirmations;
      if (!InspectPayload(set, r, p.payload(), p.payload_len, match_data_.get())) continue;
      ++counters_.confirmed;
    }
    if (plan.stream && packet_matched_[r] == 0) {
      // Its payload matched here: a stream match on this packet's bytes is the same evidence.
      packet_matched_[r] = 1;
      packet_matched_list_[packet_matched_count_++] = r;
    }
    if (plan.has_conditions && !Conditions(set, r, p, flow, dir, state)) continue;
    if (passed) continue;
    if (plan.pass) {
      passed = true;
      ++counters_.passed;
      pass_flow_ = flow != nullptr && (plan.ip_only || (plan.mode != patterns::PayloadMode::kNone &&
                                                        p.proto == patterns::kIpProtoTcp));
      continue;
    }
    ++counters_.rule_matches;
    on_match(r);
  }
  ClearTouched();
}

template <class OnMatch>
void Scanner::ReportStream(const patterns::PatternSet& set, const decode::Packet& p,
                           flow::Flow& flow, flow::Dir dir, RuleState& state, StreamCtx& ctx,
                           OnMatch&& on_match) {
  if (pending_count_ == 0) return;
  std::sort(pending_.begin(), pending_.begin() + pending_count_);
  const patterns::PacketHeader h = HeaderOf(p);
  for (uint32_t i = 0; i < pending_count_; ++i) {
    const uint32_t r = pending_[i];
    pending_flag_[r] = 0;
    if (r >= set.size() || ctx.HasAlerted(r) || packet_matched_[r] != 0) continue;
    if (!set.header(r).Matches(h) || !AppProtoHolds(set.plan(r), &flow)) continue;
    if (set.plan(r).has_conditions && !Conditions(set, r, p, &flow, dir, &state)) continue;
    ctx.NoteAlerted(r);
    ++counters_.stream_matches;
    ++counters_.rule_matches;
    on_match(r);
  }
  pending_count_ = 0;
  ClearPacketMatched();
}

template <class OnMatch>
void Scanner::ScanApp(const patterns::PatternSet& set, const decode::Packet& p, flow::Flow& flow,
                      flow::Dir dir, RuleState& state, const patterns::AppInspect& in,
                      OnMatch&& on_match) {
  pass_flow_ = false;
  if (set.app_rule_count(in.proto) == 0) return;
  if (set.size() > flags_.size() || set.size() > app_alerted_.size() || match_data_ == nullptr) {
    ++counters_.unprepared;
    return;
  }
  ++counters_.app_inspections;
  touched_count_ = 0;
  // Pre-filter: each present buffer that has fast patterns, in its database.
  for (uint64_t m = in.present & set.app_scan_mask(); m != 0; m &= m - 1) {
    const int b = __builtin_ctzll(m);
    const uint8_t* data = in.data[b];
    uint32_t len = in.len[b];
    if (((set.app_dot_scan() >> b) & 1) != 0 && !DotPrefixed(&data, &len)) continue;
    if (len == 0 || data == nullptr) continue;
    ScanPayload(set.app_database(static_cast<patterns::Buffer>(b)), data, len);
  }
  const std::vector<uint32_t>& always = set.app_always(in.proto);
  const patterns::PacketHeader h = HeaderOf(p);
  bool passed = false;
  constexpr uint32_t kEnd = UINT32_MAX;
  size_t a = 0, c = 0;
  for (;;) {
    const uint32_t ra = a < touched_count_ ? touched_[a] : kEnd;
    const uint32_t rc = c < always.size() ? always[c] : kEnd;
    const uint32_t r = std::min(ra, rc);
    if (r == kEnd) break;
    bool satisfied = false;
    if (ra == r) {
      satisfied = (flags_[r] & kSatisfied) != 0;
      ++a;
    }
    if (rc == r) {
      satisfied = true;
      ++c;
    }
    if (!satisfied) continue;
    const patterns::RulePlan& plan = set.plan(r);
    if (!plan.app || plan.app_proto != in.proto || app_alerted_[r] != 0) continue;
    if (passed && !plan.has_conditions) continue;
    if (plan.app_side == patterns::BufferSide::kToServer && !in.to_server) continue;
    if (plan.app_side == patterns::BufferSide::kToClient && in.to_server) continue;
    if ((plan.app_buffers & ~in.present) != 0) continue;
    if (!set.header(r).Matches(h)) continue;
    if (plan.tls_version.set && !plan.tls_version.Holds(in.tls_version)) continue;
    if (!AppPrograms(set, r, in)) continue;
    if (plan.has_conditions && !Conditions(set, r, p, &flow, dir, &state)) continue;
    if (passed) continue;
    app_alerted_[r] = 1;
    app_alerted_list_[app_alerted_count_++] = r;
    if (plan.pass) {
      passed = true;
      ++counters_.passed;
      pass_flow_ = p.proto == patterns::kIpProtoTcp;
      continue;
    }
    ++counters_.rule_matches;
    ++counters_.app_matches;
    on_match(r);
  }
  ClearTouched();
}

}  // namespace fs::scan
