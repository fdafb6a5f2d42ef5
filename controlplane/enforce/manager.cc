#include "controlplane/enforce/manager.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <list>
#include <optional>
#include <set>
#include <utility>

#include "controlplane/enforce/state_file.h"

namespace fs::enforce {

using patterns::IpPrefix;

namespace {

IpPrefix Normalized(IpPrefix p) {
  p.len = std::min<uint8_t>(p.len, 128);
  p.addr = patterns::MaskedAddr(p.addr, p.len);
  return p;
}

// Two prefixes overlap exactly when the shorter one contains the longer one: blocking either
// would cut off some address of the other.
bool Overlaps(const IpPrefix& a, const IpPrefix& b) {
  return a.len <= b.len ? a.Contains(b.addr) : b.Contains(a.addr);
}

// What a block may cover. A rule or an indicator names a host; letting it black-hole a /8
// because of one alert on a spoofable address would take half the Internet away from every
// school, so automatic sources are held to /16 (IPv4) and /48 (IPv6). Nobody, operator
// included, may block everything (/0), and an IPv6 prefix that covers the whole IPv4-mapped
// space is /0 for IPv4.
bool ValidTarget(const IpPrefix& p, BlockSource source) {
  if (p.len > 128 || patterns::MaskedAddr(p.addr, p.len) != p.addr) return false;  // host bits set
  const bool automatic = source != BlockSource::kOperator;
  if (p.IsV4()) {
    const unsigned len = p.len - 96u;
    return len > 0 && !(automatic && len < 16);
  }
  static const IpAddr kV4Mapped = IpAddr::FromV4(0u);
  if (p.len <= 96 && p.Contains(kV4Mapped)) return false;
  return !(automatic && p.len < 48);
}

ManagerConfig NormalizedConfig(ManagerConfig cfg) {
  for (IpPrefix& p : cfg.allowlist) p = Normalized(p);
  for (IpPrefix& p : cfg.home_net) p = Normalized(p);
  if (cfg.retry_initial_ms == 0) cfg.retry_initial_ms = 1;
  cfg.retry_max_ms = std::max(cfg.retry_max_ms, cfg.retry_initial_ms);
  // Expiry arithmetic is in epoch milliseconds: a century is plenty and cannot overflow.
  constexpr uint64_t kTtlLimitS = 100ull * 365 * 86400;
  cfg.max_ttl_s = std::min(cfg.max_ttl_s, kTtlLimitS);
  cfg.default_ttl_s = std::clamp<uint64_t>(cfg.default_ttl_s, 1, kTtlLimitS);
  cfg.max_ttl_s = std::max(cfg.max_ttl_s, cfg.default_ttl_s);
  return cfg;
}

// Elapsed at least `interval_ms` since `last_ms`; a wall clock stepped backwards counts as
// elapsed so that a clock correction cannot freeze refreshes or silence refusals.
bool Elapsed(uint64_t now, uint64_t last_ms, uint64_t interval_ms) {
  return now < last_ms || now - last_ms >= interval_ms;
}

}  // namespace

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kAdded:
      return "added";
    case Outcome::kRefreshed:
      return "refreshed";
    case Outcome::kDuplicate:
      return "duplicate";
    case Outcome::kDryRun:
      return "dry_run";
    case Outcome::kRefusedAllowlist:
      return "refused_allowlist";
    case Outcome::kRefusedHomeNet:
      return "refused_home_net";
    case Outcome::kRefusedCap:
      return "refused_cap";
    case Outcome::kRefusedRate:
      return "refused_rate";
    case Outcome::kInvalid:
      return "invalid";
  }
  return "unknown";
}

// One backend: its pending ops and its thread. The queue holds at most one op per target (the
// latest wins), in the order of the latest requests; the thread applies them one at a time.
// Lock order: the manager's mu_ before mu; nothing holds mu across a Backend call.
struct BlockManager::Dispatcher {
  struct Op {
    bool add = true;
    Block block;
  };

  std::unique_ptr<Backend> backend;
  std::string name;
  std::thread thread;

  std::mutex mu;  // everything below
  std::condition_variable cv;
  std::list<Op> queue;
  std::map<IpPrefix, std::list<Op>::iterator> index;
  // Targets this backend may hold: the last Sync's list plus every Add attempted since, minus
  // every Remove that succeeded. A Remove for a target outside it whose Add is still queued
  // cancels that Add instead of being sent.
  std::set<IpPrefix> maybe_present;
  std::optional<IpPrefix> in_flight;
  bool stop = false;
  bool available = false;
  uint64_t applied = 0, failures = 0;
  std::string last_error;

  void Enqueue(bool add, const Block& b) {
    std::lock_guard lk(mu);
    bool superseded_add = false;
    if (auto it = index.find(b.target); it != index.end()) {
      superseded_add = it->second->add;
      queue.erase(it->second);
      index.erase(it);
    }
    if (!add && superseded_add && !maybe_present.contains(b.target) && in_flight != b.target) {
      return;  // never reached the backend: nothing to remove
    }
    queue.push_back(Op{add, b});
    index[b.target] = std::prev(queue.end());
    cv.notify_one();
  }
};

BlockManager::BlockManager(ManagerConfig cfg, std::vector<std::unique_ptr<Backend>> backends)
    : cfg_(NormalizedConfig(std::move(cfg))), clock_(NowMs), tokens_(cfg_.burst) {
  for (auto& b : backends) {
    if (!b) continue;
    auto d = std::make_unique<Dispatcher>();
    d->name = b->name();
    d->backend = std::move(b);
    dispatchers_.push_back(std::move(d));
  }
}

BlockManager::~BlockManager() { Stop(); }

bool BlockManager::Start(std::string* error) {
  std::lock_guard lk(mu_);
  if (started_ || stopped_) {
    *error = "block manager: Start called twice";
    return false;
  }
  const uint64_t now = clock_();
  if (!cfg_.state_file.empty()) {
    StateFileContents state;
    if (!ReadStateFile(cfg_.state_file, &state, error)) return false;
    for (const std::string& w : state.warnings) {
      spdlog::warn("state file {}: {}", cfg_.state_file, w);
    }
    // Built aside and committed only once the file has been written back: a failed Start
    // leaves the manager as it was.
    std::map<IpPrefix, Entry> merged = active_;
    std::vector<std::pair<const char*, Block>> dropped;  // (event detail, block)
    for (Block& b : state.blocks) {
      if (b.expires_ms <= now) {
        dropped.emplace_back(nullptr, std::move(b));
        continue;
      }
      // The configuration may have changed while the sensor was down: an operator who adds a
      // host to the allowlist and restarts expects it unblocked.
      const char* refused = nullptr;
      if (!ValidTarget(b.target, b.source)) {
        refused = "invalid";
      } else if (std::any_of(cfg_.allowlist.begin(), cfg_.allowlist.end(),
                             [&](const IpPrefix& a) { return Overlaps(a, b.target); })) {
        refused = "allowlist";
      } else if (!cfg_.allow_internal &&
                 std::any_of(cfg_.home_net.begin(), cfg_.home_net.end(),
                             [&](const IpPrefix& h) { return Overlaps(h, b.target); })) {
        refused = "home_net";
      }
      if (refused) {
        spdlog::warn("state file {}: block of {} dropped: the configuration refuses it ({})",
                     cfg_.state_file, b.target.ToString(), refused);
        dropped.emplace_back(refused, std::move(b));
        continue;
      }
      const uint64_t max_expiry = now + cfg_.max_ttl_s * 1000;
      if (b.expires_ms > max_expiry) {
        b.expires_ms = max_expiry;
      }
      auto [it, inserted] = merged.try_emplace(b.target, Entry{b, now});
      if (!inserted) {
        it->second.block.expires_ms = std::max(it->second.block.expires_ms, b.expires_ms);
      }
    }
    // Written once now, on the caller's thread: a state file that cannot be written (missing
    // directory, read-only file system) is a start-up error, not a surprise after a restart.
    std::vector<Block> blocks;
    for (const auto& [target, e] : merged) blocks.push_back(e.block);
    if (!WriteStateFile(cfg_.state_file, blocks, error)) return false;
    active_ = std::move(merged);
    for (const auto& [detail, b] : dropped) {
      if (detail) {
        Emit("remove", b, "", detail, now);
      } else {
        Emit("expire", b, "", "", now);
      }
    }
    dirty_ = false;
  }
  started_ = true;
  if (!cfg_.dry_run) {
    for (auto& d : dispatchers_) {
      Dispatcher* p = d.get();
      d->thread = std::thread([this, p] { DispatchLoop(p); });
    }
  }
  timer_ = std::thread([this] { TimerLoop(); });
  return true;
}

void BlockManager::Stop() {
  {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& d : dispatchers_) {
    {
      std::lock_guard lk(d->mu);
      d->stop = true;
    }
    d->cv.notify_all();
  }
  if (timer_.joinable()) timer_.join();
  for (auto& d : dispatchers_) {
    if (d->thread.joinable()) d->thread.join();
  }
  // Only a manager that loaded the file may write it: after a failed Start (corrupt file) an
  // empty save would silently forget every block the operator has to recover by hand.
  if (started_ && !cfg_.state_file.empty()) {
    std::vector<Block> blocks;
    {
      std::lock_guard lk(mu_);
      blocks = ListLocked();
      dirty_ = false;
    }
    std::string error;
    if (!WriteStateFile(cfg_.state_file, blocks, &error)) {
      spdlog::error("{} ({} active blocks not saved)", error, blocks.size());
    }
  }
}

Block BlockManager::ToBlock(const BlockRequest& r, uint64_t now) const {
  uint64_t ttl = r.ttl_s == 0 ? cfg_.default_ttl_s : std::min(r.ttl_s, cfg_.max_ttl_s);
  Block b;
  b.target = r.target;
  b.source = r.source;
  b.gid = r.gid;
  b.sid = r.sid;
  b.reason = r.reason;
  b.created_ms = now;
  b.expires_ms = now + ttl * 1000;
  return b;
}

Outcome BlockManager::Refuse(const BlockRequest& r, uint64_t now, Outcome o, const char* detail) {
  // An attacker spraying alerts from one address must not turn into an event flood.
  auto [it, inserted] = last_refused_event_ms_.try_emplace(r.target, now);
  if (inserted || Elapsed(now, it->second, cfg_.refresh_interval_s * 1000)) {
    it->second = now;
    Emit("refused", ToBlock(r, now), "", detail, now);
  }
  return o;
}

bool BlockManager::TakeToken(uint64_t now) {
  if (now > tokens_ms_) {
    tokens_ = std::min<double>(cfg_.burst, tokens_ + static_cast<double>(now - tokens_ms_) *
                                                         cfg_.rate_per_minute / 60000.0);
  }
  tokens_ms_ = now;
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

Outcome BlockManager::Request(const BlockRequest& r) {
  std::lock_guard lk(mu_);
  const uint64_t now = clock_();
  const IpPrefix& t = r.target;
  const uint64_t interval_ms = cfg_.refresh_interval_s * 1000;
  // The hot case first (every further alert of an attacker already blocked): an active block
  // passed the checks below when it was added or restored, and the configuration is fixed.
  if (auto it = active_.find(t); it != active_.end()) {
    Entry& e = it->second;
    const uint64_t ttl_s = r.ttl_s == 0 ? cfg_.default_ttl_s : std::min(r.ttl_s, cfg_.max_ttl_s);
    const uint64_t expires_ms = now + ttl_s * 1000;
    if (!Elapsed(now, e.last_refresh_ms, interval_ms) || expires_ms <= e.block.expires_ms) {
      return Outcome::kDuplicate;
    }
    e.block.expires_ms = expires_ms;
    e.last_refresh_ms = now;
    Emit("refresh", e.block, "", "", now);
    EnqueueAll(true, e.block);
    MarkDirty();
    return Outcome::kRefreshed;
  }
  if (!ValidTarget(t, r.source)) return Refuse(r, now, Outcome::kInvalid, "invalid");
  for (const IpPrefix& a : cfg_.allowlist) {
    if (Overlaps(a, t)) return Refuse(r, now, Outcome::kRefusedAllowlist, "allowlist");
  }
  if (!cfg_.allow_internal) {
    for (const IpPrefix& h : cfg_.home_net) {
      if (Overlaps(h, t)) return Refuse(r, now, Outcome::kRefusedHomeNet, "home_net");
    }
  }
  Block b = ToBlock(r, now);

  if (cfg_.dry_run) {
    // Mirrors the real run (dedupe, refresh interval, cap, rate) so that a dry run predicts
    // what enforcement would do, without an event per alert.
    if (auto it = dry_run_.find(t); it != dry_run_.end() && it->second.first > now) {
      if (Elapsed(now, it->second.second, interval_ms) && b.expires_ms > it->second.first) {
        it->second = {b.expires_ms, now};
        Emit("dry_run", b, "", "refresh", now);
      }
      return Outcome::kDryRun;
    }
    if (active_.size() + dry_run_.size() >= cfg_.max_active) {
      return Refuse(r, now, Outcome::kRefusedCap, "cap");
    }
    if (r.source != BlockSource::kOperator && !TakeToken(now)) {
      return Refuse(r, now, Outcome::kRefusedRate, "rate");
    }
    dry_run_[t] = {b.expires_ms, now};
    Emit("dry_run", b, "", "", now);
    return Outcome::kDryRun;
  }

  if (active_.size() >= cfg_.max_active) return Refuse(r, now, Outcome::kRefusedCap, "cap");
  if (r.source != BlockSource::kOperator && !TakeToken(now)) {
    return Refuse(r, now, Outcome::kRefusedRate, "rate");
  }
  Emit("add", b, "", "", now);
  EnqueueAll(true, b);
  active_.emplace(t, Entry{std::move(b), now});
  MarkDirty();
  return Outcome::kAdded;
}

bool BlockManager::Remove(const IpPrefix& target, const std::string& who, std::string* error) {
  std::lock_guard lk(mu_);
  const uint64_t now = clock_();
  if (auto it = active_.find(target); it != active_.end()) {
    Emit("remove", it->second.block, "", who, now);
    EnqueueAll(false, it->second.block);
    active_.erase(it);
    MarkDirty();
    return true;
  }
  if (auto it = dry_run_.find(target); it != dry_run_.end()) {
    Block b;
    b.target = target;
    b.expires_ms = it->second.first;
    Emit("remove", b, "", who, now);
    dry_run_.erase(it);
    return true;
  }
  *error = fmt::format("{} is not blocked", target.ToString());
  return false;
}

std::vector<Block> BlockManager::List() const {
  std::lock_guard lk(mu_);
  return ListLocked();
}

size_t BlockManager::ActiveCount() const {
  std::lock_guard lk(mu_);
  return active_.size();
}

std::vector<Block> BlockManager::ListLocked() const {
  std::vector<Block> out;
  out.reserve(active_.size());
  for (const auto& [target, e] : active_) out.push_back(e.block);
  return out;
}

std::vector<BackendStatus> BlockManager::Backends() const {
  std::vector<BackendStatus> out;
  for (const auto& d : dispatchers_) {
    std::lock_guard lk(d->mu);
    BackendStatus s;
    s.name = d->name;
    s.available = d->available;
    s.pending = d->queue.size() + (d->in_flight ? 1 : 0);
    s.applied = d->applied;
    s.failures = d->failures;
    s.last_error = cfg_.dry_run ? "dry run: backend not started" : d->last_error;
    out.push_back(std::move(s));
  }
  return out;
}

size_t BlockManager::TakeEvents(std::vector<BlockEvent>* out) {
  std::lock_guard lk(mu_);
  const size_t n = events_.size();
  out->insert(out->end(), std::make_move_iterator(events_.begin()),
              std::make_move_iterator(events_.end()));
  events_.clear();
  return n;
}

uint64_t BlockManager::dropped_events() const {
  std::lock_guard lk(mu_);
  return dropped_events_;
}

void BlockManager::SetClockForTest(std::function<uint64_t()> now) {
  std::lock_guard lk(mu_);
  clock_ = std::move(now);
}

void BlockManager::ExpireNowForTest() {
  std::lock_guard lk(mu_);
  ExpireLocked(clock_());
}

void BlockManager::Emit(std::string action, const Block& b, std::string backend, std::string detail,
                        uint64_t now) {
  if (events_.size() >= kMaxPendingEvents) {
    ++dropped_events_;
    return;
  }
  events_.push_back(BlockEvent{std::move(action), b, std::move(backend), std::move(detail), now});
}

void BlockManager::EmitFromDispatcher(std::string action, const Block& b,
                                      const std::string& backend, std::string detail) {
  std::lock_guard lk(mu_);
  Emit(std::move(action), b, backend, std::move(detail), clock_());
}

void BlockManager::EnqueueAll(bool add, const Block& b) {
  if (cfg_.dry_run) return;
  for (auto& d : dispatchers_) d->Enqueue(add, b);
}

void BlockManager::MarkDirty() {
  if (cfg_.state_file.empty()) return;
  dirty_ = true;
  cv_.notify_all();
}

void BlockManager::ExpireLocked(uint64_t now) {
  for (auto it = active_.begin(); it != active_.end();) {
    if (it->second.block.expires_ms <= now) {
      Emit("expire", it->second.block, "", "", now);
      EnqueueAll(false, it->second.block);
      it = active_.erase(it);
      MarkDirty();
    } else {
      ++it;
    }
  }
  std::erase_if(dry_run_, [&](const auto& kv) { return kv.second.first <= now; });
  const uint64_t interval_ms = cfg_.refresh_interval_s * 1000;
  std::erase_if(last_refused_event_ms_,
                [&](const auto& kv) { return Elapsed(now, kv.second, interval_ms); });
}

// The timer thread: expiry, and the state file written here rather than on the caller's thread
// (an fsync can take tens of milliseconds). Changes that arrive while a write is in progress
// are coalesced into the next write.
void BlockManager::TimerLoop() {
  using Clock = std::chrono::steady_clock;
  // At most one write a second: refreshes of a thousand blocks must not become a thousand
  // fsyncs. A crash loses at most the last second of changes.
  constexpr auto kWriteInterval = std::chrono::seconds(1);
  std::unique_lock lk(mu_);
  std::string last_write_error;
  Clock::time_point next_write{};
  while (!stopping_) {
    uint64_t now = clock_();
    ExpireLocked(now);
    if (dirty_ && Clock::now() >= next_write) {
      std::vector<Block> blocks = ListLocked();
      dirty_ = false;
      lk.unlock();
      std::string error;
      const bool ok = WriteStateFile(cfg_.state_file, blocks, &error);
      lk.lock();
      next_write = Clock::now() + kWriteInterval;
      if (!ok) {
        if (error != last_write_error) spdlog::error("{} (retrying every second)", error);
        last_write_error = error;
        dirty_ = true;
      } else if (!last_write_error.empty()) {
        spdlog::info("state file {}: written again", cfg_.state_file);
        last_write_error.clear();
      }
      now = clock_();
    }
    uint64_t next = now + 1000;
    for (const auto& [t, e] : active_) next = std::min(next, e.block.expires_ms);
    for (const auto& [t, v] : dry_run_) next = std::min(next, v.first);
    auto deadline = Clock::now() + std::chrono::milliseconds(next > now ? next - now : 1);
    if (dirty_) deadline = std::min(deadline, std::max(next_write, Clock::now()));
    cv_.wait_until(lk, deadline,
                   [&] { return stopping_ || (dirty_ && Clock::now() >= next_write); });
  }
}

void BlockManager::DispatchLoop(Dispatcher* d) {
  uint64_t backoff = cfg_.retry_initial_ms;
  // Waits out the back-off (or until Stop); false when stopping.
  auto wait_backoff = [&] {
    std::unique_lock lk(d->mu);
    d->cv.wait_for(lk, std::chrono::milliseconds(backoff), [&] { return d->stop; });
    backoff = std::min(backoff * 2, cfg_.retry_max_ms);
    return !d->stop;
  };
  auto record_failure = [&](const std::string& error) {
    std::lock_guard lk(d->mu);
    ++d->failures;
    d->last_error = error;
    d->available = false;
  };

  // Start, until it succeeds. backend_down once per distinct error, not per attempt: a firewall
  // down for a night would otherwise log thousands of identical events.
  std::string down_error;
  for (;;) {
    {
      std::lock_guard lk(d->mu);
      if (d->stop) return;
    }
    std::string error;
    if (d->backend->Start(&error)) break;
    if (error.empty()) error = "Start failed without a reason";
    record_failure(error);
    if (error != down_error) {
      spdlog::warn("enforcement backend {} unavailable: {} (retrying)", d->name, error);
      EmitFromDispatcher("backend_down", Block{}, d->name, error);
      down_error = error;
    }
    if (!wait_backoff()) return;
  }
  backoff = cfg_.retry_initial_ms;
  spdlog::info("enforcement backend {} started", d->name);
  EmitFromDispatcher("backend_up", Block{}, d->name, "");

  bool need_sync = true;
  bool failing = false;  // log the first failure of a streak, not each retry
  for (;;) {
    if (need_sync) {
      // The snapshot supersedes every queued op: taken and cleared under both locks, so an op
      // queued afterwards describes a change after the snapshot and is applied after the Sync.
      std::vector<Block> live;
      {
        std::lock_guard mlk(mu_);
        live = ListLocked();
        std::lock_guard lk(d->mu);
        if (d->stop) return;
        d->queue.clear();
        d->index.clear();
      }
      std::string error;
      if (!d->backend->Sync(live, &error)) {
        if (error.empty()) error = "Sync failed without a reason";
        record_failure(error);
        if (!failing) spdlog::warn("enforcement backend {}: sync: {}", d->name, error);
        failing = true;
        EmitFromDispatcher("failed", Block{}, d->name, "sync: " + error);
        if (!wait_backoff()) return;
        continue;
      }
      {
        std::lock_guard lk(d->mu);
        d->maybe_present.clear();
        for (const Block& b : live) d->maybe_present.insert(b.target);
        d->available = true;
        ++d->applied;
      }
      EmitFromDispatcher("applied", Block{}, d->name, fmt::format("sync ({} blocks)", live.size()));
      need_sync = false;
      failing = false;
      backoff = cfg_.retry_initial_ms;
    }

    Dispatcher::Op op;
    {
      std::unique_lock lk(d->mu);
      d->cv.wait(lk, [&] { return d->stop || !d->queue.empty(); });
      if (d->stop) return;
      op = std::move(d->queue.front());
      d->queue.pop_front();
      d->index.erase(op.block.target);
      d->in_flight = op.block.target;
      if (op.add) d->maybe_present.insert(op.block.target);
    }
    std::string error;
    const bool ok =
        op.add ? d->backend->Add(op.block, &error) : d->backend->Remove(op.block, &error);
    const char* kind = op.add ? "add" : "remove";
    if (!ok && error.empty()) error = fmt::format("{} failed without a reason", kind);
    {
      std::lock_guard lk(d->mu);
      d->in_flight.reset();
      if (ok) {
        ++d->applied;
        d->available = true;
        if (!op.add) d->maybe_present.erase(op.block.target);
      } else {
        ++d->failures;
        d->last_error = error;
        d->available = false;
        // Retried after the ops queued behind it, so that one op the enforcement point keeps
        // refusing (a conflicting nft interval, say) does not hold up every other block. The
        // queue holds one op per target, so the order per target is kept; a newer op for this
        // target queued meanwhile wins over the failed one.
        if (!d->index.contains(op.block.target)) {
          d->queue.push_back(op);
          d->index[op.block.target] = std::prev(d->queue.end());
        }
      }
    }
    if (ok) {
      if (failing) spdlog::info("enforcement backend {}: applying again", d->name);
      failing = false;
      backoff = cfg_.retry_initial_ms;
      EmitFromDispatcher("applied", op.block, d->name, kind);
    } else {
      if (!failing) {
        spdlog::warn("enforcement backend {}: {} {}: {} (retrying)", d->name, kind,
                     op.block.target.ToString(), error);
      }
      failing = true;
      EmitFromDispatcher("failed", op.block, d->name, fmt::format("{}: {}", kind, error));
      if (!wait_backoff()) return;
    }
  }
}

}  // namespace fs::enforce
