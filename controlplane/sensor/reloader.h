// Live pattern-set reload (ARCHITECTURE.md §3, docs/operator-guide.md "Reloading rules"). The
// reloader re-reads the configured rule files and indicator lists, compiles a new immutable
// PatternSet (which carries the lists) and builds its IP matcher off the packet path, prepares
// each worker's Hyperscan scratch for it, publishes both through worker::Shared and keeps the old
// generation alive until no worker and no queued alert refers to it any more.
//
// Owned by RunSensor (main thread), created after the workers were launched and destroyed after
// they stopped. Reload() may be called from any control thread (signal handling in the main loop,
// the operator API); calls are serialised. SetOf() and Reclaim() belong to the output thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "patterns/indicators.h"
#include "patterns/pattern_set.h"
#include "patterns/rule_parser.h"

namespace fs::scan {
class IpMatcher;
class DomainMatcher;
}  // namespace fs::scan
namespace fs::worker {
struct Shared;
class Worker;
}  // namespace fs::worker
namespace fs::metrics {
class Metrics;
}

namespace fs::sensor {

struct ReloadResult {
  bool ok = false;           // the running set is the one the files describe (swapped or unchanged)
  bool changed = false;      // a new set was swapped in
  uint64_t generation = 0;   // of the set running after the call
  std::string content_hash;  // of the set running after the call
  size_t rules = 0;          // of the set running after the call
  double compile_seconds = 0;
  std::vector<std::string> errors;  // "FILE:LINE:COL: reason" lines; empty when ok
};

// What a reload re-reads: the same rule paths, variables and indicator lists the sensor
// started with.
struct ReloadSources {
  std::vector<std::string> rule_paths;
  patterns::ParseOptions options;
  std::vector<patterns::IndicatorListConfig> indicators;
};

// One generation of what the workers detect with.
struct Detection {
  std::shared_ptr<const patterns::PatternSet> set;    // rules + indicator lists
  std::shared_ptr<const scan::IpMatcher> ip_matcher;  // of set->indicators(); nullptr: no lists
  // Of set->indicators() too (bit i = list i, lists of type ip contribute nothing).
  std::shared_ptr<const scan::DomainMatcher> domain_matcher;
};

// Reads and compiles everything `sources` names (start-up and reload share it). running: the
// generation in use (flowbit ids stay stable; an unchanged list digest reuses its IP and domain
// matchers), or nullptr. False with "FILE:LINE:COL: reason" lines in *errors when anything is
// wrong: a rule error, a missing indicator file, a list sid that a rule also uses, a failed
// compile. Warnings are logged with log_prefix. *skipped: rules skipped as unsupported.
bool LoadDetection(const ReloadSources& sources, uint64_t generation, const Detection* running,
                   const char* log_prefix, Detection* out, std::vector<std::string>* errors,
                   size_t* skipped = nullptr);

class Reloader {
 public:
  // initial: the generation the workers were started with (already in shared->patterns and
  // shared->ip_matcher). metrics may be nullptr (tests).
  Reloader(ReloadSources sources, Detection initial, worker::Shared* shared,
           std::vector<worker::Worker*> workers, metrics::Metrics* metrics);
  ~Reloader();
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;

  // Parses and compiles the rule files, and on success with a different content hash swaps the
  // new set in; returns after the swap (not after the old set was freed). A failure leaves the
  // running set untouched and returns the errors (also logged and counted). Thread-safe.
  ReloadResult Reload();

  std::shared_ptr<const patterns::PatternSet> current() const;
  // The set an alert of this generation was raised with; nullptr if unknown (never for a
  // generation a worker used: those stay until Reclaim() saw their alerts drained).
  std::shared_ptr<const patterns::PatternSet> SetOf(uint64_t generation) const;

  // Output thread, after each drain of the event rings: frees the retired sets that no worker
  // uses any more and whose alerts have left the rings (each ring seen empty since then).
  void Reclaim();

 private:
  // Waits (bounded) until every worker uses the running set, then frees the scanners the
  // workers retired. False when a worker did not report in time.
  bool WaitQuiescent(std::string* error);

  const ReloadSources sources_;
  worker::Shared* const shared_;
  const std::vector<worker::Worker*> workers_;
  metrics::Metrics* const metrics_;

  std::mutex reload_mu_;  // serialises Reload()
  mutable std::mutex sets_mu_;
  Detection current_;  // sets_mu_
  struct Retired {
    Detection detection;
    bool quiescent = false;             // no worker uses it any more
    std::vector<bool> ring_seen_empty;  // per worker, since it became quiescent
  };
  std::map<uint64_t, Retired> retired_;  // by generation; sets_mu_
};

}  // namespace fs::sensor
