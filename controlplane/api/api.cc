#include "controlplane/api/api.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <exception>
#include <mutex>
#include <string_view>
#include <utility>

namespace fs::api {

namespace {

using Json = nlohmann::json;

constexpr size_t kThreads = 4;              // concurrent requests; the API is for operators
constexpr time_t kTimeoutSeconds = 5;       // a stalled client cannot hold a thread longer
constexpr size_t kKeepAliveRequests = 100;  // then the connection is closed
constexpr auto kAuthLogInterval = std::chrono::seconds(10);  // refused-token log rate limit

// The paths the API knows, by method, for telling 405 (wrong method) from 404 (unknown path).
bool KnownGetPath(const std::string& path) {
  return path == "/api/v1/status" || path == "/api/v1/rules" || path == "/api/v1/alerts" ||
         path == "/api/v1/blocks" ||
         (path.starts_with("/api/v1/rules/") && path.size() > 14 && path.size() <= 14 + 32 &&
          path.find('/', 14) == std::string::npos);
}
bool KnownPostPath(const std::string& path) {
  return path == "/api/v1/reload" || path == "/api/v1/eve/reopen" || path == "/api/v1/blocks";
}
bool KnownDeletePath(const std::string& path) { return path == "/api/v1/blocks"; }

constexpr char kEnforcementDisabled[] =
    "enforcement is not enabled (enforcement.enabled in the config)";

// Dumps without throwing on invalid UTF-8 (rule text and EVE payloads need not be UTF-8).
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

void Reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(Dump(body) + "\n", "application/json");
}

void Error(httplib::Response& res, int status, const std::string& message) {
  Reply(res, status, Json{{"error", message}});
}

// Parses a whole decimal number in [lo, hi]; false for anything else ("", "+1", "1x", overflow).
bool ParseNumber(std::string_view s, uint64_t lo, uint64_t hi, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool Printable(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

// Refuses query parameters the route does not take, so that a typo ("?limt=5") is an error
// rather than silently ignored.
bool OnlyParams(const httplib::Request& req, std::initializer_list<std::string_view> allowed,
                httplib::Response& res) {
  for (const auto& [key, value] : req.params) {
    bool ok = false;
    for (auto a : allowed) ok = ok || key == a;
    if (!ok) {
      Error(res, 400, "unknown query parameter '" + key + "'");
      return false;
    }
    if (req.get_param_value_count(key) > 1) {
      Error(res, 400, "query parameter '" + key + "' given more than once");
      return false;
    }
  }
  return true;
}

// Syntax only: the block manager parses the address and applies the policy. Refusing every
// other byte here keeps host names, spaces and control characters out of its logs and events.
bool CheckTarget(const std::string& target, std::string* error) {
  if (target.empty()) {
    *error = "target: must not be empty";
    return false;
  }
  if (target.size() > kMaxBlockTargetBytes) {
    *error = "target: at most " + std::to_string(kMaxBlockTargetBytes) + " bytes";
    return false;
  }
  for (unsigned char c : target) {
    if (!std::isxdigit(c) && c != '.' && c != ':' && c != '/') {
      *error =
          "target: expected an IPv4 or IPv6 address or CIDR (e.g. 203.0.113.5, 203.0.113.0/24, "
          "2001:db8::1)";
      return false;
    }
  }
  return true;
}

// The POST /api/v1/blocks body -> the request handed to Backend::block_add, holding only the
// checked fields. False with *error naming the field.
bool ParseBlockRequest(const std::string& text, Json* request, std::string* error) {
  if (text.empty()) {
    *error = "the request body must be a JSON object such as {\"target\": \"203.0.113.5\"}";
    return false;
  }
  const Json body = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    *error = "the request body is not valid JSON";
    return false;
  }
  if (!body.is_object()) {
    *error = "the request body must be a JSON object";
    return false;
  }
  for (const auto& [key, value] : body.items()) {
    if (key != "target" && key != "ttl" && key != "reason") {
      // The key is JSON-escaped in the answer; bound it so the message stays readable.
      *error = "unknown field '" + key.substr(0, 64) + "' (expected target, ttl, reason)";
      return false;
    }
  }
  const auto target = body.find("target");
  if (target == body.end()) {
    *error = "target: required";
    return false;
  }
  if (!target->is_string()) {
    *error = "target: expected a string";
    return false;
  }
  if (!CheckTarget(target->get<std::string>(), error)) return false;
  Json out = {{"target", *target}};
  if (const auto ttl = body.find("ttl"); ttl != body.end()) {
    // Unsigned only: -5 is a signed integer, 5.0 a float, "5" a string, true a boolean.
    if (!ttl->is_number_unsigned() || ttl->get<uint64_t>() < 1 ||
        ttl->get<uint64_t>() > kMaxBlockTtlSeconds) {
      *error = "ttl: expected an integer number of seconds between 1 and " +
               std::to_string(kMaxBlockTtlSeconds);
      return false;
    }
    out["ttl"] = ttl->get<uint64_t>();
  }
  if (const auto reason = body.find("reason"); reason != body.end()) {
    if (!reason->is_string()) {
      *error = "reason: expected a string";
      return false;
    }
    const std::string& r = reason->get_ref<const std::string&>();
    if (r.size() > kMaxBlockReasonBytes) {
      *error = "reason: at most " + std::to_string(kMaxBlockReasonBytes) + " bytes";
      return false;
    }
    if (!Printable(r)) {
      *error = "reason: control characters are not allowed";
      return false;
    }
    out["reason"] = r;
  }
  *request = std::move(out);
  return true;
}

// A field of a backend answer, without throwing when the backend put the wrong type there.
bool BoolField(const Json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
std::string StringField(const Json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// HTTP status for a block_add / block_del answer: a refusal by policy is the client's to act
// on (409, the body says which policy), not a server failure.
int BlockAnswerStatus(const Json& result) {
  if (BoolField(result, "ok")) return 200;
  if (BoolField(result, "not_found")) return 404;
  const std::string outcome = StringField(result, "outcome");
  if (outcome == "invalid") return 400;
  if (outcome.starts_with("refused_")) return 409;
  return 500;
}

}  // namespace

bool ParseListen(const std::string& listen, std::string* host, int* port) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string h = listen.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) return false;
  uint64_t p = 0;
  if (!ParseNumber(std::string_view(listen).substr(colon + 1), 0, 65535, &p)) return false;
  *host = h;
  *port = static_cast<int>(p);
  return true;
}

bool TokenEquals(const std::string& presented, const std::string& expected) {
  // Every byte of the longer string is visited whatever the contents; the length difference
  // is folded in rather than returned early.
  const size_t n = std::max(presented.size(), expected.size());
  unsigned diff = presented.size() == expected.size() ? 0u : 1u;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char a = i < presented.size() ? presented[i] : 0;
    const unsigned char b = i < expected.size() ? expected[i] : 0;
    diff |= static_cast<unsigned>(a ^ b);
  }
  return diff == 0 && !expected.empty();
}

struct Server::Impl {
  httplib::Server http;
  Backend backend;
  std::string token;
  std::atomic<uint64_t> unauthorized{0};
  std::atomic<bool> listen_returned{false};
  std::mutex log_mu;  // guards the two fields below (refused-token log rate limit)
  std::chrono::steady_clock::time_point last_auth_log{};
  uint64_t auth_log_suppressed = 0;

  // True when the request may mutate; otherwise the answer is already in res.
  bool Authorize(const httplib::Request& req, httplib::Response& res) {
    if (token.empty()) {
      Error(res, 403, "mutating calls are disabled: no api.token-file is configured");
      return false;
    }
    const std::string header = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    const bool has_bearer = header.size() > kBearer.size() && header.starts_with(kBearer);
    if (has_bearer && TokenEquals(header.substr(kBearer.size()), token)) return true;
    unauthorized.fetch_add(1, std::memory_order_relaxed);
    LogRefused(req, header.empty() ? "no token" : "wrong token");
    res.set_header("WWW-Authenticate", "Bearer");
    Error(res, 401,
          header.empty() ? "this call needs 'Authorization: Bearer <token>' (api.token-file)"
                         : "invalid bearer token");
    return false;
  }

  // A client guessing tokens must not be able to flood the log: one line per interval, with
  // the number of refusals folded in.
  void LogRefused(const httplib::Request& req, const char* why) {
    std::lock_guard<std::mutex> lock(log_mu);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_auth_log < kAuthLogInterval) {
      ++auth_log_suppressed;
      return;
    }
    spdlog::warn("api: refused {} {} from {}: {}{}", req.method, req.path, req.remote_addr, why,
                 auth_log_suppressed > 0
                     ? fmt::format(" ({} more refused since the last report)", auth_log_suppressed)
                     : std::string());
    last_auth_log = now;
    auth_log_suppressed = 0;
  }

  // Runs a backend call; any exception becomes a 500 with its message, never a crash.
  template <class F>
  void Guard(httplib::Response& res, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::error("api: internal error: {}", e.what());
      Error(res, 500, std::string("internal error: ") + e.what());
    } catch (...) {
      Error(res, 500, "internal error");
    }
  }

  void Status(const httplib::Request& req, httplib::Response& res) {
    if (!OnlyParams(req, {}, res)) return;
    if (!backend.status) return Error(res, 503, "status not available");
    Reply(res, 200, backend.status());
  }

  void Rules(const httplib::Request& req, httplib::Response& res) {
    if (!OnlyParams(req, {"q"}, res)) return;
    const std::string q = req.get_param_value("q");
    if (q.size() > kMaxQueryBytes) {
      return Error(res, 400, "q: at most " + std::to_string(kMaxQueryBytes) + " bytes");
    }
    if (!Printable(q)) return Error(res, 400, "q: control characters are not allowed");
    if (!backend.rules) return Error(res, 503, "rules not available");
    Json found = backend.rules(q);
    if (!found.is_array()) return Error(res, 500, "internal error: rules is not a list");
    const bool truncated = found.size() > kMaxRuleResults;
    if (truncated) found.erase(found.begin() + kMaxRuleResults, found.end());
    Json body = {{"query", q}, {"count", found.size()}, {"truncated", truncated}};
    body["rules"] = std::move(found);
    Reply(res, 200, body);
  }

  void Rule(const httplib::Request& req, httplib::Response& res) {
    if (!OnlyParams(req, {}, res)) return;
    const std::string text = req.matches.size() > 1 ? req.matches[1].str() : std::string();
    uint64_t sid = 0;
    if (!ParseNumber(text, 1, UINT32_MAX, &sid)) {
      return Error(res, 400, "sid: expected a number between 1 and 4294967295");
    }
    if (!backend.rule) return Error(res, 503, "rules not available");
    auto rule = backend.rule(static_cast<uint32_t>(sid));
    if (!rule) return Error(res, 404, "no rule with sid " + std::to_string(sid));
    Reply(res, 200, *rule);
  }

  void Alerts(const httplib::Request& req, httplib::Response& res) {
    if (!OnlyParams(req, {"limit"}, res)) return;
    uint64_t limit = kDefaultAlertLimit;
    if (req.has_param("limit") &&
        !ParseNumber(req.get_param_value("limit"), 1, kMaxAlertLimit, &limit)) {
      return Error(res, 400,
                   "limit: expected a number between 1 and " + std::to_string(kMaxAlertLimit));
    }
    if (!backend.recent_alerts) return Error(res, 503, "alerts not available");
    Json alerts = backend.recent_alerts(limit);
    if (!alerts.is_array()) return Error(res, 500, "internal error: alerts is not a list");
    if (alerts.size() > limit) alerts.erase(alerts.begin(), alerts.end() - limit);
    Json body = {{"count", alerts.size()}};
    body["alerts"] = std::move(alerts);
    Reply(res, 200, body);
  }

  // POST routes: token first, then the body (empty, or a JSON object, reserved for options).
  void Mutate(const httplib::Request& req, httplib::Response& res,
              const std::function<Json()>& call, const char* what) {
    if (!Authorize(req, res)) return;
    if (!OnlyParams(req, {}, res)) return;
    if (!req.body.empty()) {
      Json body = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
      if (body.is_discarded()) return Error(res, 400, "the request body is not valid JSON");
      if (!body.is_object()) return Error(res, 400, "the request body must be a JSON object");
    }
    if (!call) return Error(res, 503, std::string(what) + " not available");
    spdlog::info("api: {} requested from {}", what, req.remote_addr);
    Json result = call();
    if (!result.is_object()) return Error(res, 500, "internal error: result is not an object");
    const bool ok = result.value("ok", false);
    if (!ok && !result.contains("error")) result["error"] = std::string(what) + " failed";
    Reply(res, ok ? 200 : 500, result);
  }

  void Blocks(const httplib::Request& req, httplib::Response& res) {
    if (!OnlyParams(req, {}, res)) return;
    if (!backend.blocks) return Error(res, 503, kEnforcementDisabled);
    Json body = backend.blocks();
    if (!body.is_object()) return Error(res, 500, "internal error: blocks is not an object");
    Reply(res, 200, body);
  }

  // The backend's answer with the status it maps to; a failure always carries an "error".
  static void ReplyBlockAnswer(httplib::Response& res, Json result, const char* what) {
    if (!result.is_object()) return Error(res, 500, "internal error: result is not an object");
    const int status = BlockAnswerStatus(result);
    if (status != 200 && StringField(result, "error").empty()) {
      const std::string outcome = StringField(result, "outcome");
      result["error"] = std::string(what) + " failed" + (outcome.empty() ? "" : ": " + outcome);
    }
    Reply(res, status, result);
  }

  void BlockAdd(const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res)) return;
    if (!OnlyParams(req, {}, res)) return;
    Json request;
    std::string error;
    if (!ParseBlockRequest(req.body, &request, &error)) return Error(res, 400, error);
    if (!backend.block_add) return Error(res, 503, kEnforcementDisabled);
    spdlog::info("api: block {} requested from {}", request["target"].get<std::string>(),
                 req.remote_addr);
    ReplyBlockAnswer(res, backend.block_add(request), "block");
  }

  void BlockDel(const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res)) return;
    if (!OnlyParams(req, {"target"}, res)) return;
    if (!req.has_param("target")) {
      return Error(res, 400, "target: required (DELETE /api/v1/blocks?target=ADDRESS[/LEN])");
    }
    if (!req.body.empty()) {
      return Error(res, 400, "DELETE takes no body; name the block with ?target=ADDRESS[/LEN]");
    }
    const std::string target = req.get_param_value("target");
    std::string error;
    if (!CheckTarget(target, &error)) return Error(res, 400, error);
    if (!backend.block_del) return Error(res, 503, kEnforcementDisabled);
    spdlog::info("api: unblock {} requested from {}", target, req.remote_addr);
    ReplyBlockAnswer(res, backend.block_del(target), "unblock");
  }
};

Server::Server() : impl_(std::make_unique<Impl>()) {}

Server::~Server() { Stop(); }

uint64_t Server::unauthorized() const { return impl_->unauthorized.load(); }

bool Server::Start(const std::string& listen, const std::string& token, Backend backend,
                   std::string* error) {
  if (thread_.joinable()) {
    *error = "api: already started";
    return false;
  }
  std::string host;
  int port = 0;
  if (!ParseListen(listen, &host, &port)) {
    *error = "api.listen: expected ADDRESS:PORT (e.g. 127.0.0.1:9581), got '" + listen + "'";
    return false;
  }
  Impl& im = *impl_;
  im.backend = std::move(backend);
  im.token = token;
  httplib::Server& h = im.http;
  h.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  h.set_payload_max_length(kMaxBodyBytes);
  h.set_read_timeout(kTimeoutSeconds);
  h.set_write_timeout(kTimeoutSeconds);
  h.set_keep_alive_timeout(kTimeoutSeconds);
  h.set_keep_alive_max_count(kKeepAliveRequests);

  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  // Patterns are short and bounded: std::regex recursion stays shallow whatever the path.
  h.Get("/api/v1/status", [&im](Req q, Res r) { im.Guard(r, [&] { im.Status(q, r); }); });
  h.Get("/api/v1/rules", [&im](Req q, Res r) { im.Guard(r, [&] { im.Rules(q, r); }); });
  h.Get("/api/v1/rules/([^/]{1,32})", [&im](Req q, Res r) { im.Guard(r, [&] { im.Rule(q, r); }); });
  h.Get("/api/v1/alerts", [&im](Req q, Res r) { im.Guard(r, [&] { im.Alerts(q, r); }); });
  h.Post("/api/v1/reload", [&im](Req q, Res r) {
    im.Guard(r, [&] { im.Mutate(q, r, im.backend.reload, "reload"); });
  });
  h.Post("/api/v1/eve/reopen", [&im](Req q, Res r) {
    im.Guard(r, [&] { im.Mutate(q, r, im.backend.reopen_eve, "EVE reopen"); });
  });
  h.Get("/api/v1/blocks", [&im](Req q, Res r) { im.Guard(r, [&] { im.Blocks(q, r); }); });
  h.Post("/api/v1/blocks", [&im](Req q, Res r) { im.Guard(r, [&] { im.BlockAdd(q, r); }); });
  h.Delete("/api/v1/blocks", [&im](Req q, Res r) { im.Guard(r, [&] { im.BlockDel(q, r); }); });
  h.set_exception_handler([](Req, Res r, std::exception_ptr) { Error(r, 500, "internal error"); });
  h.set_logger([&im](Req, const httplib::Response& r) {
    if (im.backend.observe) im.backend.observe(r.status);
  });
  // httplib's own refusals (no route, body too large, unparsable request) come with an empty
  // body: give them the API's JSON error form, and 405 where only the method was wrong.
  h.set_error_handler(httplib::Server::HandlerWithResponse([](Req q, Res r) {
    if (!r.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    if (r.status == 404) {
      const bool get = KnownGetPath(q.path), post = KnownPostPath(q.path),
                 del = KnownDeletePath(q.path);
      const bool method_ok = (get && (q.method == "GET" || q.method == "HEAD")) ||
                             (post && q.method == "POST") || (del && q.method == "DELETE");
      if ((get || post || del) && !method_ok) {
        std::string allow;
        for (auto [known, name] : {std::pair{get, "GET"}, {post, "POST"}, {del, "DELETE"}}) {
          if (known) allow += (allow.empty() ? "" : ", ") + std::string(name);
        }
        r.status = 405;
        r.set_header("Allow", allow);
        message = "method " + q.method + " not allowed here; use " + allow;
      } else {
        message = "unknown path; see /api/v1/status, /api/v1/rules, /api/v1/alerts, /api/v1/blocks";
      }
    } else if (r.status == 413) {
      message = "request body larger than " + std::to_string(kMaxBodyBytes) + " bytes";
    } else if (r.status == 414) {
      message = "request URI too long";
    } else if (r.status == 400) {
      message = "malformed request";
    } else {
      message = "request refused (HTTP " + std::to_string(r.status) + ")";
    }
    Error(r, r.status, message);
    return httplib::Server::HandlerResponse::Handled;
  }));

  // httplib's default also sets SO_REUSEPORT, which would let a second sensor bind the same
  // port and silently share the requests: only SO_REUSEADDR (fast restart).
  h.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  if (port == 0) {
    port = h.bind_to_any_port(host);
    if (port < 0) port = 0;
  } else if (!h.bind_to_port(host, port)) {
    port = 0;
  }
  if (port == 0) {
    *error = "api.listen: cannot listen on '" + listen + "' (address in use or not local?)";
    return false;
  }
  port_ = port;
  im.listen_returned = false;
  thread_ = std::thread([&im] {
    im.http.listen_after_bind();
    im.listen_returned = true;
  });
  // stop() only works once the accept loop runs: wait for it so that an early Stop cannot hang.
  while (!im.http.is_running() && !im.listen_returned) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  spdlog::info("api on http://{}:{}/api/v1/ (mutating calls {})", host, port,
               token.empty() ? "disabled: no token file" : "need the bearer token");
  return true;
}

void Server::Stop() {
  if (!thread_.joinable()) return;
  impl_->http.stop();
  thread_.join();
}

}  // namespace fs::api
