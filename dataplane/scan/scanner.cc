#include "dataplane/scan/scanner.h"

#include <fmt/format.h>

namespace fs::scan {

bool Scanner::Prepare(const patterns::PatternSet& set) {
  if (const hs_database_t* db = set.database()) {
    // Grow a copy: hs_alloc_scratch frees the scratch it is given when it has to reallocate
    // and fails, and the worker must keep scanning with the old set if this one cannot be used.
    hs_scratch_t* next = nullptr;
    if (scratch_ != nullptr) {
      if (hs_error_t rc = hs_clone_scratch(scratch_.get(), &next); rc != HS_SUCCESS) {
        error_ = fmt::format("hs_clone_scratch failed (error {})", rc);
        return false;
      }
    }
    if (hs_error_t rc = hs_alloc_scratch(db, &next); rc != HS_SUCCESS) {
      hs_free_scratch(next);
      error_ = fmt::format("hs_alloc_scratch failed (error {})", rc);
      return false;
    }
    scratch_.reset(next);
  }
  if (set.size() > hits_.size()) {
    hits_.assign(set.size(), 0);
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
    if (self->hits_[t.rule_index]++ == 0) self->touched_[self->touched_count_++] = t.rule_index;
  }
  return 0;  // keep scanning: other rules may need later literals
}

void Scanner::ScanContents(const patterns::PatternSet& set, const uint8_t* data, uint32_t len) {
  ++counters_.packets;
  counters_.bytes += len;
  scanning_ = &set;
  const hs_error_t rc = hs_scan(set.database(), reinterpret_cast<const char*>(data), len, 0,
                                scratch_.get(), &Scanner::OnHsMatch, this);
  scanning_ = nullptr;
  // Keep the rules that saw all their distinct contents; reset every counter touched.
  uint32_t kept = 0;
  for (uint32_t i = 0; i < touched_count_; ++i) {
    const uint32_t rule = touched_[i];
    if (rc == HS_SUCCESS && hits_[rule] == set.required(rule)) touched_[kept++] = rule;
    hits_[rule] = 0;
  }
  touched_count_ = kept;
  if (rc != HS_SUCCESS) {
    ++counters_.scan_errors;
    return;
  }
  std::sort(touched_.begin(), touched_.begin() + kept);
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

}  // namespace fs::scan
