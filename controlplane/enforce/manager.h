// The block manager (ARCHITECTURE.md §5, docs/enforcement.md): the policy that decides whether a
// block request becomes a block (allowlist, home networks, prefix sanity, dedupe, cap, rate, TTL),
// the record of every active block (persisted across restarts) and the dispatcher that drives the
// enforcement backends, each on its own thread with its own queue, so that a slow or failing
// firewall never delays an alert, another backend, or the packet path.
//
// Typical use (RunSensor, main thread):
//   BlockManager mgr(cfg, std::move(backends));
//   if (!mgr.Start(&error)) { ...refuse to start: the state file is unreadable... }
//   mgr.Request({.target = host, .source = BlockSource::kRule, .sid = 2000001, ...});  // output
//   thr mgr.TakeEvents(&events);  // output thread: EVE event_type "block", metrics mgr.Stop();
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/enforce/block.h"
#include "patterns/indicators.h"

namespace fs::enforce {

struct ManagerConfig {
  bool dry_run = false;                       // decide and record, never call a backend
  std::vector<patterns::IpPrefix> allowlist;  // never blocked (refused "allowlist")
  std::vector<patterns::IpPrefix> home_net;   // the district's own nets: refused "home_net" ...
  bool allow_internal = false;                // ... unless quarantine of internal hosts is allowed
  size_t max_active = 1000;                   // cap on active blocks (refused "cap")
  double rate_per_minute = 60;  // token bucket for NEW non-operator blocks (refused "rate") ...
  uint32_t burst = 20;          // ... bucket size
  uint64_t default_ttl_s = 3600, max_ttl_s = 7 * 86400;  // requested ttl 0 -> default; clamped
  uint64_t refresh_interval_s = 60;  // a repeated request extends expiry at most this often
  std::string state_file;            // "" = no persistence
  uint64_t retry_initial_ms = 200, retry_max_ms = 30000;  // backend retry back-off
};

struct BlockRequest {
  patterns::IpPrefix target;
  BlockSource source = BlockSource::kOperator;
  uint32_t gid = 0, sid = 0;
  std::string reason;
  uint64_t ttl_s = 0;  // 0 = default_ttl_s
};

enum class Outcome {
  kAdded,      // a new active block, queued to every backend
  kRefreshed,  // already active; expiry extended
  kDuplicate,  // already active; refreshed less than refresh_interval_s ago, or not extended
  kDryRun,     // would have been added (dry_run)
  kRefusedAllowlist,
  kRefusedHomeNet,
  kRefusedCap,
  kRefusedRate,
  kInvalid,  // /0, wider than /16 (IPv4) or /48 (IPv6) from a rule or indicator, host bits set
};
// "added", "refreshed", "duplicate", "dry_run", "refused_allowlist", "refused_home_net",
// "refused_cap", "refused_rate", "invalid": the metric label.
const char* OutcomeName(Outcome o);

// One change, for EVE (event_type "block") and metrics. The sensor's output thread drains them.
struct BlockEvent {
  // "add", "refresh", "expire", "remove", "refused", "dry_run", "applied", "failed",
  // "backend_up", "backend_down"
  std::string action;
  Block block;  // refused, dry_run: the request as a Block; backend_*, sync: a default Block
  std::string backend;  // for applied/failed/backend_*: the backend's name; else ""
  // refused: "allowlist" | "home_net" | "cap" | "rate" | "invalid"
  // remove: who (the operator), or "allowlist" | "home_net" | "invalid" for a restored block
  //         that the current configuration refuses
  // dry_run: "" for a new block, "refresh" when the real run would have refreshed it
  // applied: "add" | "remove" | "sync (N blocks)"
  // failed: "add: ERROR" | "remove: ERROR" | "sync: ERROR"
  // backend_down: the error Start returned
  std::string detail;
  uint64_t ts_ms = 0;
};

struct BackendStatus {
  std::string name;
  bool available = false;  // started and synced, and the last call succeeded
  size_t pending = 0;      // ops not applied yet: queued (coalesced per target) and in flight
  uint64_t applied = 0, failures = 0;
  std::string last_error;  // of the most recent failure ("" if none yet)
};

// Owned by the sensor (RunSensor); constructed and started on the main thread. Request, Remove,
// List, Backends and TakeEvents may be called from any thread. Internally: one dispatcher thread
// per backend (the only threads that call a Backend, never while holding the manager's mutex)
// and one timer thread (expiry, and state-file writes coalesced off the callers' threads).
class BlockManager {
 public:
  BlockManager(ManagerConfig cfg, std::vector<std::unique_ptr<Backend>> backends);
  ~BlockManager();  // Stop()
  BlockManager(const BlockManager&) = delete;
  BlockManager& operator=(const BlockManager&) = delete;

  // Loads the state file (missing = empty; unreadable or corrupt: false with "state file PATH:
  // reason", and nothing is started: the caller decides), drops entries that expired while the
  // sensor was down (event "expire") or that the configuration no longer permits (event
  // "remove"), starts one dispatcher thread per backend (Start, retried with back-off until it
  // succeeds, then Sync(List())) and the timer thread. In dry_run no backend is ever called.
  // Call once.
  bool Start(std::string* error);
  // Joins the threads and writes the state file. Ops still queued for a backend are dropped:
  // the next Start's Sync makes the backend match the saved state. A backend call in progress is
  // waited for (backends bound their own calls with timeouts). Idempotent.
  void Stop();

  // Cheap (a map lookup and a queue append under one mutex): called by the output thread for
  // every alert of a blocking rule.
  Outcome Request(const BlockRequest& r);
  // Operator removal of an active block (exact target). False with *error if it is not active.
  bool Remove(const patterns::IpPrefix& target, const std::string& who, std::string* error);
  std::vector<Block> List() const;  // active blocks, sorted by target
  size_t ActiveCount() const;       // List().size() without the copy (metrics scrapes, status)
  std::vector<BackendStatus> Backends() const;
  // Appends the pending events to *out and clears them; returns how many were appended. Events
  // are kept up to kMaxPendingEvents if nobody drains them (then dropped and counted).
  size_t TakeEvents(std::vector<BlockEvent>* out);
  uint64_t dropped_events() const;

  static constexpr size_t kMaxPendingEvents = 100000;

  // Test hooks. The clock (ms since the epoch; default NowMs) must be callable from any thread.
  void SetClockForTest(std::function<uint64_t()> now);
  void ExpireNowForTest();  // runs the expiry pass synchronously

 private:
  struct Dispatcher;  // one backend, its queue and its thread (manager.cc)
  struct Entry {
    Block block;
    uint64_t last_refresh_ms = 0;
  };

  Outcome Refuse(const BlockRequest& r, uint64_t now, Outcome o, const char* detail);
  Block ToBlock(const BlockRequest& r, uint64_t now) const;
  bool TakeToken(uint64_t now);
  void Emit(std::string action, const Block& b, std::string backend, std::string detail,
            uint64_t now);
  void EnqueueAll(bool add, const Block& b);  // to every dispatcher (not in dry_run)
  void MarkDirty();
  void ExpireLocked(uint64_t now);
  std::vector<Block> ListLocked() const;
  void TimerLoop();
  void DispatchLoop(Dispatcher* d);
  // Emits an event from a dispatcher thread (takes mu_).
  void EmitFromDispatcher(std::string action, const Block& b, const std::string& backend,
                          std::string detail);

  const ManagerConfig cfg_;
  std::vector<std::unique_ptr<Dispatcher>> dispatchers_;

  mutable std::mutex mu_;       // everything below
  std::condition_variable cv_;  // timer thread: stop, state dirty
  std::function<uint64_t()> clock_;
  std::map<patterns::IpPrefix, Entry> active_;
  // dry_run: what would be active (target -> expires_ms, last event ms), to report each target
  // once per refresh interval and to count toward the cap as the real run would.
  std::map<patterns::IpPrefix, std::pair<uint64_t, uint64_t>> dry_run_;
  std::map<patterns::IpPrefix, uint64_t> last_refused_event_ms_;  // event flood control
  std::vector<BlockEvent> events_;
  uint64_t dropped_events_ = 0;
  double tokens_ = 0;
  uint64_t tokens_ms_ = 0;  // when tokens_ was last refilled
  bool dirty_ = false;      // state file behind active_
  bool started_ = false, stopping_ = false, stopped_ = false;
  std::thread timer_;
};

}  // namespace fs::enforce
