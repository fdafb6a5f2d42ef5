#include "dataplane/scan/scanner.h"

#include <cstring>
#include <utility>

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
  std::vector<const hs_database_t*> dbs;
  for (int d = 0; d < patterns::kScanDirs; ++d) {
    const auto sd = static_cast<patterns::ScanDir>(d);
    dbs.push_back(set.database(sd).db.get());
    for (const patterns::PatternSet::Database& g : set.database(sd).groups) {
      dbs.push_back(g.db.get());
    }
    for (int a = 0; a < patterns::kAddrClasses; ++a) {
      dbs.push_back(set.stream_class_database(sd, a).db.get());
      dbs.push_back(set.outside_database(sd, a).db.get());
      for (int c = 0; c < patterns::kProtoClasses; ++c) {
        dbs.push_back(set.class_database(sd, c, a).db.get());
      }
    }
  }
  for (int b = 0; b < patterns::kBufferCount; ++b) {
    dbs.push_back(set.app_database(static_cast<patterns::Buffer>(b)).db.get());
  }
  for (const hs_database_t* db : dbs) {
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
    hits_.assign(set.size(), 0);
    ip_only_candidates_.assign(set.size(), 0);
    touched_.assign(set.size(), 0);
  }
  if (set.size() > pending_flag_.size()) {
    DropPending();
    ClearPacketMatched();
    pending_.assign(set.size(), 0);
    pending_flag_.assign(set.size(), 0);
    packet_matched_.assign(set.size(), 0);
    packet_matched_list_.assign(set.size(), 0);
  }
  if (set.size() > app_alerted_.size()) {
    AppTxBegin();
    app_alerted_.assign(set.size(), 0);
    app_alerted_list_.assign(set.size(), 0);
  }
  if (dot_buf_.size() < kDotCap) dot_buf_.assign(kDotCap, 0);
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
    if (t.veto) {
      f |= kVeto;
    } else if (t.need <= 1) {
      f |= kSatisfied;
    } else {
      f |= kCounting;
      if (++self->hits_[t.rule] == t.need) f |= kSatisfied;
    }
  }
  return 0;  // keep scanning: other rules may need later matches
}

void Scanner::ScanPayload(const patterns::PatternSet::Database& db, const uint8_t* data,
                          uint32_t len, bool count) {
  if (count) {
    ++counters_.packets;
    counters_.bytes += len;
  }
  scanning_ = &db;
  const hs_error_t rc = hs_scan(db.db.get(), reinterpret_cast<const char*>(data), len, 0,
                                scratch_.get(), &Scanner::OnHsMatch, this);
  scanning_ = nullptr;
  // The callback never asks to stop: HS_SCAN_TERMINATED means Hyperscan stopped by itself once
  // every reportable expression was exhausted (all are single-match), so the scan is complete.
  if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) {
    ++counters_.scan_errors;
    ClearTouched();
    return;
  }
  std::sort(touched_.begin(), touched_.begin() + touched_count_);
}

int Scanner::OnHsStreamMatch(unsigned id, unsigned long long /*from*/, unsigned long long /*to*/,
                             unsigned /*flags*/, void* ctx) {
  auto* self = static_cast<Scanner*>(ctx);
  for (const patterns::PatternSet::Target& t : self->scanning_->TargetsOf(id)) {
    // pending_ holds each rule at most once (pending_flag_) and has a slot per rule.
    if (self->pending_flag_[t.rule] != 0 || self->stream_ctx_->HasAlerted(t.rule)) continue;
    // A sub-expression of a rule with several: the rule matches once all have, in this stream.
    if (t.need > 1) {
      StreamCtx& c = *self->stream_ctx_;
      const StreamCtx::Part part = c.NotePart(self->stream_dir_, t.rule, t.bit, t.need);
      if (part == StreamCtx::Part::kDropped && !(c.untracked & (1u << self->stream_dir_))) {
        c.untracked |= static_cast<uint8_t>(1u << self->stream_dir_);
        ++self->counters_.stream_untracked;
      }
      if (part != StreamCtx::Part::kComplete) continue;
    }
    self->pending_flag_[t.rule] = 1;
    self->pending_[self->pending_count_++] = t.rule;
  }
  return 0;
}

void Scanner::DropPending() {
  for (uint32_t i = 0; i < pending_count_; ++i) pending_flag_[pending_[i]] = 0;
  pending_count_ = 0;
  ClearPacketMatched();
}

void Scanner::StreamData(const patterns::PatternSet& set, StreamCtx& ctx, int dir,
                         int addr_class, const uint8_t* data, uint32_t len) {
  if (len == 0 || set.size() > pending_flag_.size()) return;
  if (ctx.generation != 0 && ctx.generation != set.generation()) {
    // Streams opened with another set (before a reload): discard them, start over on this one.
    for (int d = 0; d < 2; ++d) {
      for (hs_stream_t** hs : {&ctx.hs[d], &ctx.grp[d]}) {
        if (*hs == nullptr) continue;
        hs_close_stream(*hs, nullptr, nullptr, nullptr);
        *hs = nullptr;
        ++counters_.stream_resets;
      }
    }
    ctx.n_alerted = 0;
    ctx.alerted_overflow = false;
    ctx.failed = 0;
    ctx.ClearParts(0);
    ctx.ClearParts(1);
  }
  ctx.generation = set.generation();
  // A stream not open yet takes the class given; an open one stays on its database.
  if (ctx.hs[dir] == nullptr) ctx.addr_class[dir] = static_cast<uint8_t>(addr_class);
  const patterns::PatternSet::Database& grouped =
      set.stream_database(static_cast<patterns::ScanDir>(dir));
  const patterns::PatternSet::Database& db =
      set.stream_class_database(static_cast<patterns::ScanDir>(dir), ctx.addr_class[dir]);
  const patterns::PatternSet::Database* g = grouped.GroupFor(ctx.proto, ctx.server_port);
  const bool scan_db = db.db != nullptr;
  const bool scan_group = g != nullptr && g->db != nullptr;
  if (!scan_db && !scan_group) return;
  counters_.stream_bytes += len;
  stream_dir_ = dir;
  if (scan_db) ScanStream(db, ctx, &ctx.hs[dir], StreamCtx::FailedBit(dir), data, len);
  if (scan_group) ScanStream(*g, ctx, &ctx.grp[dir], StreamCtx::GroupFailedBit(dir), data, len);
}

void Scanner::ScanStream(const patterns::PatternSet::Database& db, StreamCtx& ctx,
                         hs_stream_t** hs, uint8_t fail_bit, const uint8_t* data, uint32_t len) {
  if (*hs == nullptr) {
    if (ctx.failed & fail_bit) return;
    if (hs_open_stream(db.db.get(), 0, hs) != HS_SUCCESS) {
      *hs = nullptr;
      ctx.failed |= fail_bit;
      ++counters_.stream_open_failures;
      return;
    }
    ++counters_.stream_opens;
  }
  scanning_ = &db;
  stream_ctx_ = &ctx;
  const hs_error_t rc = hs_scan_stream(*hs, reinterpret_cast<const char*>(data), len, 0,
                                       scratch_.get(), &Scanner::OnHsStreamMatch, this);
  scanning_ = nullptr;
  stream_ctx_ = nullptr;
  if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) ++counters_.scan_errors;
}

void Scanner::StreamGap(StreamCtx& ctx, int dir) {
  // No callback: matches that end exactly at the hole are not reported (they were not seen).
  // The streams start over, and so does what their rules' expressions had matched.
  ctx.ClearParts(dir);
  for (hs_stream_t* hs : {ctx.hs[dir], ctx.grp[dir]}) {
    if (hs == nullptr) continue;
    hs_reset_stream(hs, 0, nullptr, nullptr, nullptr);
    ++counters_.stream_resets;
  }
}

void Scanner::StreamClose(const patterns::PatternSet* set, StreamCtx& ctx, int dir, bool flush) {
  const bool report = flush && set != nullptr && ctx.generation == set->generation() &&
                      set->size() <= pending_flag_.size();
  const patterns::PatternSet::Database* db =
      report ? &set->stream_class_database(static_cast<patterns::ScanDir>(dir),
                                           ctx.addr_class[dir])
             : nullptr;
  const patterns::PatternSet::Database* g =
      report ? set->stream_database(static_cast<patterns::ScanDir>(dir))
                   .GroupFor(ctx.proto, ctx.server_port)
             : nullptr;
  stream_dir_ = dir;
  for (auto [hs, from] : {std::pair{&ctx.hs[dir], db}, std::pair{&ctx.grp[dir], g}}) {
    if (*hs == nullptr) continue;
    if (from != nullptr) {
      scanning_ = from;
      stream_ctx_ = &ctx;
      hs_close_stream(*hs, scratch_.get(), &Scanner::OnHsStreamMatch, this);
      scanning_ = nullptr;
      stream_ctx_ = nullptr;
    } else {
      hs_close_stream(*hs, nullptr, nullptr, nullptr);
    }
    *hs = nullptr;
  }
  ctx.ClearParts(dir);
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

void Scanner::AppTxBegin() {
  for (uint32_t i = 0; i < app_alerted_count_; ++i) app_alerted_[app_alerted_list_[i]] = 0;
  app_alerted_count_ = 0;
}

bool Scanner::DotPrefixed(const uint8_t** data, uint32_t* len) {
  if (*len + 1 > dot_buf_.size()) {
    ++counters_.app_too_long;
    return false;
  }
  dot_buf_[0] = '.';
  if (*len != 0) std::memcpy(dot_buf_.data() + 1, *data, *len);
  *data = dot_buf_.data();
  *len += 1;
  return true;
}

bool Scanner::AppPrograms(const patterns::PatternSet& set, uint32_t r,
                          const patterns::AppInspect& in) {
  for (const patterns::AppProgram& prog : set.app_programs(r)) {
    const int b = static_cast<int>(prog.buffer);
    const uint8_t* data = in.data[b];
    uint32_t len = in.len[b];
    if (prog.dotprefix && !DotPrefixed(&data, &len)) return false;
    for (const patterns::SizeCheck& sc : set.size_checks(prog)) {
      if (!sc.Holds(len)) return false;
    }
    if (prog.step_count == 0) continue;
    ++counters_.confirmations;
    if (!InspectSteps(set, set.steps(prog), data, len, match_data_.get())) return false;
    ++counters_.confirmed;
  }
  return true;
}

}  // namespace fs::scan
