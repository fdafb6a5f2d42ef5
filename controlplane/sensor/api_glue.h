// Connects the operator API (controlplane/api) to the running sensor: builds its Backend from the
// config, the workers' published statistics, the ports, the current pattern set and the recent
// alerts, and carries EVE reopen requests to the thread that owns the EVE file.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controlplane/api/alert_log.h"
#include "controlplane/api/api.h"
#include "controlplane/config/config.h"
#include "controlplane/metrics/metrics.h"
#include "controlplane/sensor/reloader.h"
#include "patterns/indicators.h"
#include "patterns/pattern_set.h"

namespace fs::output {
class EveFile;
}

namespace fs::enforce {
class BlockManager;
}

namespace fs::sensor {

// What the API reports; every pointer must outlive the ApiService (Stop() it first).
struct ApiSources {
  const config::Config* cfg = nullptr;
  std::chrono::steady_clock::time_point start;
  metrics::Sources stats;  // workers' published stats and the port counters (any thread)
  std::function<std::shared_ptr<const patterns::PatternSet>()> patterns;  // the running set
  metrics::Metrics* metrics = nullptr;  // counts the answers; optional
  // Enforcement (docs/enforcement.md): nullptr = off (the block routes answer 503).
  enforce::BlockManager* blocks = nullptr;
  bool dry_run = false;
};

// Owned by RunSensor on the main thread, which calls Start, ServeEveReopen (each loop turn) and
// Stop; the API threads call the rest through the Backend.
class ApiService {
 public:
  ApiService() = default;
  ~ApiService() { Stop(); }
  ApiService(const ApiService&) = delete;
  ApiService& operator=(const ApiService&) = delete;

  // Starts the API when cfg.api_listen is set (else does nothing and returns true). Reads the
  // token from cfg.api_token_file (no file: mutating calls answer 403).
  bool Start(ApiSources sources, std::string* error);
  void Stop();

  // Where the output thread records alerts (always available, also with the API off).
  api::AlertLog* alert_log() { return &alerts_; }

  // Connects POST /api/v1/reload, e.g. [&] { return ReloadResultJson(reloader.Reload()); }.
  // Until then a reload answers {"ok": false, "error": "reload not available"}. Any thread.
  void SetReload(std::function<nlohmann::json()> reload);
  // Replaces how the running pattern set is found (e.g. the Reloader's current()). Any thread.
  void SetPatternSource(std::function<std::shared_ptr<const patterns::PatternSet>()> patterns);

  // Main loop, owner of the EVE file: performs a pending reopen request and answers it. Cheap
  // when none is pending (one atomic load).
  void ServeEveReopen(output::EveFile* eve);

  int port() const { return server_.port(); }

 private:
  nlohmann::json Status();
  nlohmann::json RequestEveReopen();
  std::shared_ptr<const patterns::PatternSet> Patterns();

  ApiSources src_;
  api::AlertLog alerts_;
  api::Server server_;
  std::mutex mu_;  // guards reload_, patterns_, and the reopen hand-over below
  std::function<nlohmann::json()> reload_;
  std::condition_variable reopen_cv_;
  std::atomic<uint64_t> reopen_requested_{0};
  uint64_t reopen_served_ = 0;
  nlohmann::json reopen_result_;
};

nlohmann::json ReloadResultJson(const ReloadResult& r);
// A rule as the API lists it, and in full (adds text, references count, metadata).
nlohmann::json RuleSummaryJson(const patterns::Rule& r);
nlohmann::json RuleDetailJson(const patterns::Rule& r);
// Rules matching the query: "" = all; a number = that sid; else msg substring, ignoring case.
// At most `limit` results, in sid order.
nlohmann::json SearchRules(const patterns::PatternSet& set, const std::string& query, size_t limit);

// Reads an API token file: the first line, surrounding blanks removed. False with *error naming
// the key when unreadable or empty.
bool ReadTokenFile(const std::string& path, std::string* token, std::string* error);

}  // namespace fs::sensor
