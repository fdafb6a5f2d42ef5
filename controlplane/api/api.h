// The operator HTTP/JSON API (used by tools/flowsentryctl): read-only status, rules, recent
// alerts and enforcement blocks, and the mutating reload / EVE reopen / block add and remove
// calls behind a bearer token.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

namespace fs::api {

// What the API serves, supplied by the running sensor (controlplane/sensor/api_glue.h) or by a
// test. Every function is called from the API's own threads, possibly several at once, so each
// must be safe to call concurrently with the packet path and with itself. A function that
// throws turns into a 500 answer; an unset function into 503.
struct Backend {
  std::function<nlohmann::json()> status;
  // Rules whose sid equals `query` or whose msg contains it (case-insensitive); "" = all. A JSON
  // array of rule objects; the server keeps the first kMaxRuleResults.
  std::function<nlohmann::json(const std::string& query)> rules;
  // One rule in full, or nullopt when no rule has that sid.
  std::function<std::optional<nlohmann::json>(uint32_t sid)> rule;
  // The newest `limit` alert records, oldest first (a JSON array of EVE alert objects).
  std::function<nlohmann::json(size_t limit)> recent_alerts;
  // Mutating. An object with "ok": false (and "error") is a failed call: answered with 500.
  std::function<nlohmann::json()> reload;
  std::function<nlohmann::json()> reopen_eve;

  // Enforcement blocks (controlplane/enforce). Unset when enforcement is not enabled: the block
  // routes then answer 503 naming the setting.
  //
  // {"count", "dry_run", "blocks": [{"target", "source", "gid", "signature_id", "reason",
  //  "created", "expires", "ttl_remaining"}...], "backends": [{"name", "available", "pending",
  //  "applied", "failures", "last_error"}...]}; answered as given.
  std::function<nlohmann::json()> blocks;
  // Mutating. `request` is already checked by the server: an object with "target" (a string of
  // at most kMaxBlockTargetBytes of [0-9A-Fa-f.:/], not yet parsed as an address), optional
  // "ttl" (integer seconds in 1..kMaxBlockTtlSeconds) and optional "reason" (printable, at most
  // kMaxBlockReasonBytes). Answers {"ok", "outcome": "added" | "refreshed" | "duplicate" |
  // "dry_run" | "refused_allowlist" | "refused_home_net" | "refused_cap" | "refused_rate" |
  // "invalid", "error" when not ok, ...}. Not ok: outcome "invalid" -> 400, "refused_*" -> 409
  // (the error says which policy refused it), anything else -> 500.
  std::function<nlohmann::json(const nlohmann::json& request)> block_add;
  // Mutating; `target` checked as above. {"ok", "error" when not ok, ...}; {"ok": false,
  // "not_found": true, "error"} when nothing blocks that target -> 404.
  std::function<nlohmann::json(const std::string& target)> block_del;

  // Called after every answer with its HTTP status (metrics); optional.
  std::function<void(int status)> observe;
};

inline constexpr size_t kMaxRuleResults = 200;
inline constexpr size_t kMaxAlertLimit = 1000;
inline constexpr size_t kDefaultAlertLimit = 100;
inline constexpr size_t kMaxBodyBytes = 64 * 1024;
inline constexpr size_t kMaxQueryBytes = 256;
inline constexpr size_t kMaxBlockTargetBytes = 64;
inline constexpr uint64_t kMaxBlockTtlSeconds = 365 * 24 * 3600;
inline constexpr size_t kMaxBlockReasonBytes = 256;

// Routes (every answer is JSON; every error is {"error": "..."}):
//   GET  /api/v1/status              Backend::status
//   GET  /api/v1/rules?q=TEXT        {"query", "count", "truncated", "rules": [...]}
//   GET  /api/v1/rules/{sid}         the rule, 404 when unknown
//   GET  /api/v1/alerts?limit=N      {"count", "alerts": [...]}, N in 1..1000 (default 100)
//   POST /api/v1/reload              bearer token; Backend::reload
//   POST /api/v1/eve/reopen          bearer token; Backend::reopen_eve
//   GET  /api/v1/blocks              Backend::blocks (active blocks, backend health)
//   POST /api/v1/blocks              bearer token; body {"target", "ttl"?, "reason"?};
//                                    Backend::block_add; 409 when the policy refuses it
//   DELETE /api/v1/blocks?target=T   bearer token; Backend::block_del; 404 when T is not blocked
// Unknown path 404, known path with another method 405 (with Allow), bad query/body 400, body
// over 64 KiB 413, missing/wrong token 401 (logged, rate-limited), no token configured 403,
// backend function unset 503.
//
// Owned by the sensor's main thread, which calls Start and Stop; the server answers on a small
// thread pool of its own, never on a worker lcore.
class Server {
 public:
  Server();
  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // listen is "ADDRESS:PORT" (port 0: an ephemeral port, see port()). An empty token disables
  // the mutating routes (403). False with *error set when the address cannot be bound.
  bool Start(const std::string& listen, const std::string& token, Backend backend,
             std::string* error);
  // Stops accepting, finishes the requests under way and joins the threads. Safe to call twice.
  void Stop();

  int port() const { return port_; }  // the bound port, after a successful Start

  // Requests refused for a missing or wrong token, since Start (for metrics and tests).
  uint64_t unauthorized() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  int port_ = 0;
};

// "ADDRESS:PORT" -> host and port; false when malformed (the port may be 0). IPv6 in brackets.
bool ParseListen(const std::string& listen, std::string* host, int* port);

// Constant-time comparison of a presented token with the configured one: the time taken does
// not depend on where they first differ.
bool TokenEquals(const std::string& presented, const std::string& expected);

}  // namespace fs::api
