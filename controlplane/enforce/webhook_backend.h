// Webhook enforcement backend (docs/enforcement.md): every block change is POSTed as a signed
// JSON event to an operator's URL, for enforcement points the sensor has no native backend for
// (a cloud firewall API, a SOAR playbook, a ticket queue).
//
// Wire format. POST <url>, Content-Type: application/json, headers:
//   X-Flowsentry-Event:     block | unblock | sync
//   X-Flowsentry-Timestamp: <Unix seconds when the request was made>
//   X-Flowsentry-Signature: sha256=<lowercase hex HMAC-SHA256(secret, timestamp + "." + body)>
//                           (absent when no secret is configured)
// block/unblock body:
//   {"event":"block","target":"203.0.113.5","source":"rule","gid":1,"signature_id":2024001,
//    "reason":"...","created":"2026-11-29T11:40:18.123Z","expires":"...","ttl":3600,
//    "sensor":"sensor-1"}
// sync body (the complete set of blocks that should be in force; entries as above, without
// "event" and "sensor"):
//   {"event":"sync","sensor":"sensor-1","time":"...","blocks":[{...},...]}
//
// How a receiver verifies a request:
//   1. Read the raw body bytes exactly as received (before any JSON parsing/re-serialising).
//   2. Compute hex(HMAC-SHA256(secret, X-Flowsentry-Timestamp + "." + body)) and compare it with
//      the part of X-Flowsentry-Signature after "sha256=" in constant time (hmac.compare_digest
//      in Python, crypto.timingSafeEqual in Node); mismatch -> reject (401).
//   3. Reject a timestamp more than 5 minutes from the receiver's clock: the timestamp is inside
//      the signed string, so a captured request cannot be replayed later with a fresh one.
//   4. Answer 2xx only once the change is applied; anything else makes the sensor retry with
//      back-off (every event is idempotent: a repeated block refreshes, a repeated unblock is a
//      no-op, sync is the whole truth).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "controlplane/enforce/backend_config.h"
#include "controlplane/enforce/block.h"

namespace httplib {
class ClientImpl;
class SSLClient;
}  // namespace httplib

namespace fs::enforce {

// Pure helpers (any thread).
// The JSON body of a "block" or "unblock" event. Never throws: invalid UTF-8 in the reason is
// replaced (U+FFFD), so a hostile signature message cannot break the receiver's parser.
std::string WebhookBody(const char* event, const Block& b, const std::string& sensor,
                        uint64_t now_ms);
// The JSON body of a "sync" event holding `live`.
std::string WebhookSyncBody(std::span<const Block> live, const std::string& sensor,
                            uint64_t now_ms);
// Lowercase hex HMAC-SHA256 (OpenSSL HMAC()).
std::string HmacSha256Hex(std::string_view key, std::string_view data);
// "2026-11-29T11:40:18.123Z" (UTC, RFC 3339 / ISO 8601).
std::string IsoTimeUtc(uint64_t epoch_ms);

// The parts of a webhook URL the client needs. ParseWebhookUrl accepts http/https, a host name,
// IPv4 or [IPv6] literal, an optional port, path and query; it refuses user:password@ (put
// credentials in the secret, not the URL), a missing host, a bad port, spaces and control bytes.
struct WebhookUrl {
  bool https = false;
  std::string host;  // without brackets for IPv6
  int port = 0;      // 80/443 when not given
  std::string path;  // "/" when not given; includes the query
};
bool ParseWebhookUrl(std::string_view url, WebhookUrl* out, std::string* error);

// Owned by the block manager; every call comes from the manager's dispatcher thread for this
// backend (calls serialised), so no locking. Each call is one blocking HTTP request bounded by
// timeout_ms per phase.
class WebhookBackend : public Backend {
 public:
  explicit WebhookBackend(WebhookConfig config);
  ~WebhookBackend() override;

  const char* name() const override { return "webhook"; }
  // Validates the URL only: the receiver need not be up (failures surface on Add and are
  // retried by the dispatcher).
  bool Start(std::string* error) override;
  bool Add(const Block& b, std::string* error) override;
  bool Remove(const Block& b, std::string* error) override;
  bool Sync(std::span<const Block> live, std::string* error) override;

 private:
  bool Post(const char* event, const std::string& body, std::string* error);

  WebhookConfig config_;
  WebhookUrl url_;
  std::string display_url_;  // for error messages: without the query (it may carry a token)
  std::unique_ptr<httplib::ClientImpl> client_;
  httplib::SSLClient* ssl_ = nullptr;  // client_ when https, for the certificate verdict
};

}  // namespace fs::enforce
