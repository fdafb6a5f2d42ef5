#include "dataplane/scan/scanner.h"

#include <fmt/format.h>

namespace fs::scan {

bool Scanner::Prepare(const patterns::PatternSet& set) {
  if (match_data_ == nullptr) {
    // One ovector pair: the scanner needs where a match starts and ends, nothing else.
    match_data_.reset(pcre2_match_data_create(1, nullptr));
    if (match_data_ == nullptr) {
      error_ = "pcre2_match_data_create failed";
      return false;
    }
  }
  // Grow a copy: hs_alloc_scratch frees the scratch it is given when it has to reallocate and
  // fails, and the worker must keep scanning with the old set if this one cannot be used.
  hs_scratch_t* next = nullptr;
  if (scratch_ != nullptr) {
    if (hs_error_t rc = hs_clone_scratch(scratch_.get(), &next); rc != HS_SUCCESS) {
      error_ = fmt::format("hs_clone_scratch failed (error {})", rc);
      return false;
    }
  }
  for (int d = 0; d < patterns::kScanDirs; ++d) {
    const hs_database_t* db = set.database(static_cast<patterns::ScanDir>(d)).db.get();
    if (db == nullptr) continue;
    if (hs_error_t rc = hs_alloc_scratch(db, &next); rc != HS_SUCCESS) {
      hs_free_scratch(next);
      error_ = fmt::format("hs_alloc_scratch failed (error {})", rc);
      return false;
    }
  }
  if (next != nullptr) scratch_.reset(next);
  if (set.size() > flags_.size()) {
    flags_.assign(set.size(), 0);
    touched_.assign(set.size(), 0);
  }
  touched_count_ = 0;
  error_.clear();
  return true;
}

int Scanner::OnHsMatch(unsigned id, unsigned long long /*from*/, unsigned long long /*to*/,
                       unsigned /*flags*/, void* ctx) {
  auto* self = static_cast<Scanner*>(ctx);
  for (const patterns::PatternSet::Target& t : self->scanning_->TargetsOf(id)) {
    uint8_t& f = self->flags_[t.rule];
    if (f == 0) self->touched_[self->touched_count_++] = t.rule;
    f |= t.veto ? kVeto : kSatisfied;
  }
  return 0;  // keep scanning: other rules may need later matches
}

void Scanner::ScanPayload(const patterns::PatternSet::Database& db, const uint8_t* data,
                          uint32_t len) {
  ++counters_.packets;
  counters_.bytes += len;
  scanning_ = &db;
  const hs_error_t rc = hs_scan(db.db.get(), reinterpret_cast<const char*>(data), len, 0,
                                scratch_.get(), &Scanner::OnHsMatch, this);
  scanning_ = nullptr;
  // The callback never asks to stop: HS_SCAN_TERMINATED means Hyperscan stopped by itself once
  // every reportable expression was exhausted (all are single-match), so the scan is complete.
  if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) {
    ++counters_.scan_errors;
    for (uint32_t i = 0; i < touched_count_; ++i) flags_[touched_[i]] = 0;
    touched_count_ = 0;
    return;
  }
  std::sort(touched_.begin(), touched_.begin() + touched_count_);
}

patterns::PacketHeader Scanner::HeaderOf(const decode::Packet& p) {
  patterns::PacketHeader h;
  if (p.layer == decode::Layer::kNone) return h;  // not IP, or malformed: no rule applies
  h.ip_version = p.ip_version;
  h.proto = p.proto;
  h.has_ports = p.layer == decode::Layer::kL4 &&
                (p.proto == patterns::kIpProtoTcp || p.proto == patterns::kIpProtoUdp);
  h.src = patterns::ToU128(p.src);
  h.dst = patterns::ToU128(p.dst);
  h.sport = p.sport;
  h.dport = p.dport;
  return h;
}

bool Scanner::Conditions([[maybe_unused]] const patterns::PatternSet& set,
                         [[maybe_unused]] uint32_t r, [[maybe_unused]] const decode::Packet& p,
                         [[maybe_unused]] flow::Flow* flow, [[maybe_unused]] flow::Dir dir,
                         [[maybe_unused]] RuleState* state) {
#if FS_HAVE_CONDITIONS
  if (state == nullptr) return false;  // transitional ScanPacket: conditions cannot be evaluated
  const patterns::Rule& rule = set.rules()[r];
  return CheckConditions(*rule.conditions, r, rule.sid, rule.gid, p, flow, dir, *state, p.ts_us);
#else
  return true;
#endif
}

}  // namespace fs::scan
