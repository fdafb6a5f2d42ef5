// The operator API server against a fake Backend on an ephemeral loopback port: routing, auth,
// input validation and robustness. The sensor wiring is tested in tests/integration/.
#include "controlplane/api/api.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/api/alert_log.h"

namespace fs::api {
namespace {

using Json = nlohmann::json;

constexpr char kToken[] = "t0ken-for-tests";

// The answer must be JSON; errors must be {"error": "..."}.
Json CheckedBody(const httplib::Result& r) {
  Json j = Json::parse(r->body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r->body;
  if (r->status >= 400) {
    EXPECT_TRUE(j.is_object() && j.contains("error") && j["error"].is_string()) << r->body;
  }
  return j;
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Backend b;
    b.status = [] { return Json{{"version", "test"}, {"workers", Json::array()}}; };
    b.rules = [](const std::string& q) {
      Json out = Json::array();
      // 300 rules: more than the server returns at once.
      for (uint32_t sid = 1; sid <= 300; ++sid) {
        const std::string msg = "rule " + std::to_string(sid);
        if (q.empty() || msg.find(q) != std::string::npos) {
          out.push_back({{"sid", sid}, {"msg", msg}});
        }
      }
      return out;
    };
    b.rule = [](uint32_t sid) -> std::optional<Json> {
      if (sid != 2000001) return std::nullopt;
      return Json{{"sid", sid}, {"msg", "the rule"}};
    };
    b.recent_alerts = [this](size_t limit) {
      last_limit_ = limit;
      Json out = Json::array();
      for (const auto& line : log_.Recent(limit)) out.push_back(Json::parse(line));
      return out;
    };
    b.reload = [this] {
      ++reloads_;
      return Json{{"ok", true}, {"generation", 2}};
    };
    b.reopen_eve = [] { return Json{{"ok", false}, {"error", "disk full"}}; };
    for (int i = 0; i < 1500; ++i) log_.Add(Json{{"n", i}}.dump());
    std::string error;
    ASSERT_TRUE(server_.Start("127.0.0.1:0", kToken, b, &error)) << error;
    ASSERT_GT(server_.port(), 0);
  }

  httplib::Client Client() {
    httplib::Client c("127.0.0.1", server_.port());
    c.set_connection_timeout(5);
    c.set_read_timeout(5);
    return c;
  }

  // The answer must be JSON; errors must be {"error": "..."}.
  static Json Body(const httplib::Result& r) { return CheckedBody(r); }

  AlertLog log_{1000};
  std::atomic<size_t> last_limit_{0};
  std::atomic<int> reloads_{0};
  Server server_;
};

TEST_F(ApiTest, StatusPassesTheBackendThrough) {
  auto c = Client();
  auto r = c.Get("/api/v1/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Body(r)["version"], "test");
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
}

TEST_F(ApiTest, MutatingCallsNeedTheBearerToken) {
  struct Case {
    const char* what;
    httplib::Headers headers;
    int status;
  };
  const Case cases[] = {
      {"no header", {}, 401},
      {"wrong token", {{"Authorization", "Bearer wrong"}}, 401},
      {"token prefix", {{"Authorization", std::string("Bearer ") + "t0ken"}}, 401},
      {"token plus suffix", {{"Authorization", std::string("Bearer ") + kToken + "x"}}, 401},
      {"not bearer", {{"Authorization", std::string("Basic ") + kToken}}, 401},
      {"empty bearer", {{"Authorization", "Bearer "}}, 401},
      {"right token", {{"Authorization", std::string("Bearer ") + kToken}}, 200},
  };
  auto c = Client();
  for (const Case& t : cases) {
    const int before = reloads_;
    auto r = c.Post("/api/v1/reload", t.headers, "", "application/json");
    ASSERT_TRUE(r) << t.what;
    EXPECT_EQ(r->status, t.status) << t.what;
    Json j = Body(r);
    EXPECT_EQ(reloads_ - before, t.status == 200 ? 1 : 0) << t.what;
    if (t.status == 200) {
      EXPECT_EQ(j["generation"], 2);
    }
  }
  EXPECT_EQ(server_.unauthorized(), 6u);
}

TEST_F(ApiTest, FailedMutationIsAnErrorWithTheBackendsMessage) {
  auto c = Client();
  auto r = c.Post("/api/v1/eve/reopen", {{"Authorization", std::string("Bearer ") + kToken}}, "",
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(Body(r)["error"], "disk full");
}

TEST(ApiNoTokenTest, MutatingCallsAreDisabledWithoutAToken) {
  Server s;
  Backend b;
  bool called = false;
  b.reload = [&] {
    called = true;
    return Json{{"ok", true}};
  };
  std::string error;
  ASSERT_TRUE(s.Start("127.0.0.1:0", "", b, &error)) << error;
  httplib::Client c("127.0.0.1", s.port());
  for (const char* auth : {"", "Bearer ", "Bearer x"}) {
    httplib::Headers h;
    if (*auth) h.insert({"Authorization", auth});
    auto r = c.Post("/api/v1/reload", h, "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << auth;
  }
  EXPECT_FALSE(called);
  // Unset backend functions answer 503, not a crash.
  auto r = c.Get("/api/v1/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
}

TEST_F(ApiTest, RequestErrors) {
  struct Case {
    const char* method;
    const char* path;
    std::string body;
    bool auth;
    int status;
  };
  const std::string big(kMaxBodyBytes + 1, '{');
  const Case cases[] = {
      {"GET", "/nope", "", false, 404},
      {"GET", "/api/v1", "", false, 404},
      {"GET", "/api/v1/status/extra", "", false, 404},
      {"GET", "/api/v1/rules/1/2", "", false, 404},
      {"POST", "/api/v1/status", "", true, 405},
      {"DELETE", "/api/v1/rules", "", true, 405},
      {"PUT", "/api/v1/rules/5", "", true, 405},
      {"GET", "/api/v1/reload", "", true, 405},
      {"DELETE", "/api/v1/reload", "", true, 405},
      {"GET", "/api/v1/rules/abc", "", false, 400},
      {"GET", "/api/v1/rules/0", "", false, 400},
      {"GET", "/api/v1/rules/4294967296", "", false, 400},
      {"GET", "/api/v1/rules/-1", "", false, 400},
      {"GET", "/api/v1/rules/12", "", false, 404},
      {"GET", "/api/v1/alerts?limit=0", "", false, 400},
      {"GET", "/api/v1/alerts?limit=1001", "", false, 400},
      {"GET", "/api/v1/alerts?limit=abc", "", false, 400},
      {"GET", "/api/v1/alerts?limit=", "", false, 400},
      {"GET", "/api/v1/alerts?limit=5&limit=6", "", false, 400},
      {"GET", "/api/v1/alerts?limt=5", "", false, 400},
      {"GET", "/api/v1/status?x=1", "", false, 400},
      {"GET", "/api/v1/rules?q=%01", "", false, 400},
      {"POST", "/api/v1/reload", "{not json", true, 400},
      {"POST", "/api/v1/reload", "[1,2]", true, 400},
      {"POST", "/api/v1/reload", big, true, 413},
      {"POST", "/api/v1/reload", "{}", true, 200},
  };
  auto c = Client();
  for (const Case& t : cases) {
    httplib::Request req;
    req.method = t.method;
    req.path = t.path;
    req.body = t.body;
    if (!t.body.empty()) req.set_header("Content-Type", "application/json");
    if (t.auth) req.set_header("Authorization", std::string("Bearer ") + kToken);
    auto r = c.send(req);
    ASSERT_TRUE(r) << t.method << " " << t.path;
    EXPECT_EQ(r->status, t.status) << t.method << " " << t.path;
    Body(r);
  }
  // Too long a query string.
  auto r = c.Get(("/api/v1/rules?q=" + std::string(kMaxQueryBytes + 1, 'a')).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  Body(r);
}

TEST_F(ApiTest, RulesSearchIsBoundedAndShowFindsOne) {
  auto c = Client();
  auto r = c.Get("/api/v1/rules");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  Json j = Body(r);
  EXPECT_EQ(j["count"], kMaxRuleResults);
  EXPECT_EQ(j["rules"].size(), kMaxRuleResults);
  EXPECT_EQ(j["truncated"], true);

  r = c.Get("/api/v1/rules?q=rule%2029");  // "rule 29", "rule 290".."rule 299"
  ASSERT_TRUE(r);
  j = Body(r);
  EXPECT_EQ(j["query"], "rule 29");
  EXPECT_EQ(j["count"], 11);
  EXPECT_EQ(j["truncated"], false);

  r = c.Get("/api/v1/rules?q=nothing-like-this");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Body(r)["count"], 0);

  r = c.Get("/api/v1/rules/2000001");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Body(r)["msg"], "the rule");
}

TEST_F(ApiTest, AlertsLimitBounds) {
  struct Case {
    const char* query;
    size_t count;
  };
  const Case cases[] = {
      {"", kDefaultAlertLimit}, {"?limit=1", 1}, {"?limit=1000", 1000}, {"?limit=37", 37}};
  auto c = Client();
  for (const Case& t : cases) {
    auto r = c.Get((std::string("/api/v1/alerts") + t.query).c_str());
    ASSERT_TRUE(r) << t.query;
    ASSERT_EQ(r->status, 200) << t.query;
    Json j = Body(r);
    EXPECT_EQ(j["count"], t.count) << t.query;
    ASSERT_EQ(j["alerts"].size(), t.count) << t.query;
    EXPECT_EQ(last_limit_, t.count);
    // The newest records, oldest first: the ring holds 500..1499.
    EXPECT_EQ(j["alerts"].back()["n"], 1499) << t.query;
    EXPECT_EQ(j["alerts"].front()["n"], 1500 - int(t.count)) << t.query;
  }
}

TEST_F(ApiTest, BurstOf200Requests) {
  auto c = Client();
  c.set_keep_alive(true);
  int ok = 0;
  for (int i = 0; i < 200; ++i) {
    auto r = (i % 4 == 3) ? c.Post("/api/v1/reload", "", "application/json")
                          : c.Get(i % 2 ? "/api/v1/status" : "/api/v1/alerts?limit=3");
    ASSERT_TRUE(r) << i;
    ok += (r->status == 200 || r->status == 401) ? 1 : 0;
  }
  EXPECT_EQ(ok, 200);
  EXPECT_EQ(server_.unauthorized(), 50u);
  // Still serving afterwards, with fresh connections too.
  auto r = Client().Get("/api/v1/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// Bytes that are not HTTP at all must be refused without taking the server down. A bogus
// Content-Length on a GET is ignored (GET has no body), so that one may be answered normally.
TEST_F(ApiTest, GarbageOnTheSocket) {
  struct Case {
    std::string bytes;
    bool refused;
  };
  const Case cases[] = {
      {std::string("\x00\x01\x02\r\n\r\n", 7), true},
      {"GET\r\n\r\n", true},
      {std::string(20000, 'A') + "\r\n\r\n", true},
      {"GET /api/v1/status HTTP/1.1\r\nContent-Length: -5\r\n\r\n", false},
      {"POST /api/v1/reload HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", true},
  };
  for (const Case& t : cases) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(write(fd, t.bytes.data(), t.bytes.size()), ssize_t(t.bytes.size()));
    shutdown(fd, SHUT_WR);
    char buf[4096];
    std::string reply;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) reply.append(buf, size_t(n));
    close(fd);
    // Either the connection is dropped or a well-formed HTTP answer comes back.
    if (!reply.empty()) {
      EXPECT_TRUE(reply.starts_with(t.refused ? "HTTP/1.1 4" : "HTTP/1.1 ")) << reply;
    }
  }
  auto r = Client().Get("/api/v1/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// ---- enforcement blocks ----------------------------------------------------------------------

const std::string kBearer = std::string("Bearer ") + kToken;

// A fake block manager: answers by target so that each row of a table picks its outcome.
class ApiBlocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Backend b;
    b.blocks = [] {
      return Json{{"count", 1},
                  {"dry_run", false},
                  {"blocks",
                   {{{"target", "203.0.113.5/32"},
                     {"source", "rule"},
                     {"gid", 1},
                     {"signature_id", 9000001},
                     {"reason", "RDP brute force"},
                     {"created", "2026-11-29T12:00:00Z"},
                     {"expires", "2026-11-29T13:00:00Z"},
                     {"ttl_remaining", 3600}}}},
                  {"backends",
                   {{{"name", "nftables"},
                     {"available", true},
                     {"pending", 0},
                     {"applied", 1},
                     {"failures", 0},
                     {"last_error", ""}}}}};
    };
    b.block_add = [this](const Json& request) -> Json {
      {
        std::lock_guard<std::mutex> lock(mu_);
        adds_.push_back(request);
      }
      const std::string t = request["target"];
      if (t == "10.0.0.5") {
        return {{"ok", false},
                {"outcome", "refused_home_net"},
                {"error", "10.0.0.5 is in HOME_NET (enforcement.allow-internal is false)"}};
      }
      if (t == "192.0.2.1") return {{"ok", false}, {"outcome", "refused_allowlist"}};
      if (t == "1.2.3") return {{"ok", false}, {"outcome", "invalid"}, {"error", "bad address"}};
      if (t == "203.0.113.7") return {{"ok", false}, {"outcome", "error"}, {"error", "state"}};
      if (t == "203.0.113.8") return Json::array();
      if (t == "203.0.113.9") throw std::runtime_error("boom");
      if (t == "203.0.113.10") return {{"ok", "yes"}};  // wrong type: not ok, no crash
      return {{"ok", true}, {"outcome", t == "198.51.100.0/24" ? "refreshed" : "added"}};
    };
    b.block_del = [this](const std::string& target) -> Json {
      {
        std::lock_guard<std::mutex> lock(mu_);
        dels_.push_back(target);
      }
      if (target == "203.0.113.5") return {{"ok", true}};
      if (target == "203.0.113.7") return {{"ok", false}};
      return {{"ok", false}, {"not_found", true}, {"error", target + " is not blocked"}};
    };
    b.observe = [this](int status) {
      std::lock_guard<std::mutex> lock(mu_);
      observed_.push_back(status);
    };
    std::string error;
    ASSERT_TRUE(server_.Start("127.0.0.1:0", kToken, b, &error)) << error;
  }

  httplib::Client Client() {
    httplib::Client c("127.0.0.1", server_.port());
    c.set_connection_timeout(5);
    c.set_read_timeout(5);
    return c;
  }

  httplib::Result Send(const std::string& method, const std::string& path, const std::string& body,
                       bool auth) {
    httplib::Request req;
    req.method = method;
    req.path = path;
    req.body = body;
    if (!body.empty()) req.set_header("Content-Type", "application/json");
    if (auth) req.set_header("Authorization", kBearer);
    auto c = Client();
    return c.send(req);
  }

  size_t Calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return adds_.size() + dels_.size();
  }

  std::mutex mu_;
  std::vector<Json> adds_;
  std::vector<std::string> dels_;
  std::vector<int> observed_;
  Server server_;
};

TEST_F(ApiBlocksTest, ListPassesTheBackendThroughWithoutAToken) {
  auto r = Send("GET", "/api/v1/blocks", "", false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  Json j = CheckedBody(r);
  EXPECT_EQ(j["count"], 1);
  EXPECT_EQ(j["blocks"][0]["signature_id"], 9000001);
  EXPECT_EQ(j["backends"][0]["name"], "nftables");
  r = Send("GET", "/api/v1/blocks?target=1.2.3.4", "", false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(CheckedBody(r)["error"].get<std::string>().find("target"), std::string::npos);
}

TEST_F(ApiBlocksTest, AddAndDeleteNeedTheToken) {
  struct Case {
    const char* method;
    const char* path;
    const char* body;
  };
  const Case cases[] = {
      {"POST", "/api/v1/blocks", R"({"target":"203.0.113.5"})"},
      {"DELETE", "/api/v1/blocks?target=203.0.113.5", ""},
      // Authorization comes before validation: a malformed call without a token is a 401.
      {"POST", "/api/v1/blocks", "{not json"},
      {"DELETE", "/api/v1/blocks", ""},
  };
  for (const Case& t : cases) {
    for (const char* auth : {"", "Bearer wrong"}) {
      httplib::Headers h;
      if (*auth) h.insert({"Authorization", auth});
      httplib::Request req;
      req.method = t.method;
      req.path = t.path;
      req.body = t.body;
      req.headers = h;
      auto c = Client();
      auto r = c.send(req);
      ASSERT_TRUE(r) << t.method << " " << t.path;
      EXPECT_EQ(r->status, 401) << t.method << " " << t.path << " " << auth;
      CheckedBody(r);
    }
  }
  EXPECT_EQ(Calls(), 0u);
  EXPECT_EQ(server_.unauthorized(), 8u);
}

TEST_F(ApiBlocksTest, MalformedAddBodiesAre400NamingTheField) {
  struct Case {
    std::string body;
    const char* mentions;  // in the error message
  };
  const Case cases[] = {
      {"", "JSON object"},
      {"{not json", "not valid JSON"},
      {R"(["203.0.113.5"])", "JSON object"},
      {R"("203.0.113.5")", "JSON object"},
      {"{}", "target"},
      {R"({"ttl":60})", "target"},
      {R"({"target":null})", "target"},
      {R"({"target":12345})", "target"},
      {R"({"target":""})", "target"},
      {R"({"target":"evil.example.com"})", "target"},
      {R"({"target":"203.0.113.5 "})", "target"},
      {R"({"target":"203.0.113.5\n"})", "target"},
      {R"({"target":"203.0.113.5;rm"})", "target"},
      {R"({"target":")" + std::string(65, '1') + R"("})", "target"},
      {R"({"target":"203.0.113.5","ttl":0})", "ttl"},
      {R"({"target":"203.0.113.5","ttl":-1})", "ttl"},
      {R"({"target":"203.0.113.5","ttl":1.5})", "ttl"},
      {R"({"target":"203.0.113.5","ttl":60.0})", "ttl"},
      {R"({"target":"203.0.113.5","ttl":"60"})", "ttl"},
      {R"({"target":"203.0.113.5","ttl":true})", "ttl"},
      {R"({"target":"203.0.113.5","ttl":31536001})", "ttl"},
      {R"({"target":"203.0.113.5","ttl":18446744073709551616})", "ttl"},
      {R"({"target":"203.0.113.5","reason":7})", "reason"},
      {R"({"target":"203.0.113.5","reason":"a\u0001b"})", "reason"},
      {R"({"target":"203.0.113.5","reason":"line\nbreak"})", "reason"},
      {R"({"target":"203.0.113.5","reason":")" + std::string(257, 'r') + R"("})", "reason"},
      {R"({"target":"203.0.113.5","comment":"x"})", "comment"},
      {R"({"target":"203.0.113.5","TTL":60})", "TTL"},
  };
  for (const Case& t : cases) {
    auto r = Send("POST", "/api/v1/blocks", t.body, true);
    ASSERT_TRUE(r) << t.body;
    EXPECT_EQ(r->status, 400) << t.body;
    Json j = CheckedBody(r);
    EXPECT_NE(j.value("error", "").find(t.mentions), std::string::npos) << t.body << " -> " << j;
  }
  // Query parameters are not taken on POST either.
  auto r = Send("POST", "/api/v1/blocks?ttl=60", R"({"target":"203.0.113.5"})", true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Calls(), 0u);
}

TEST_F(ApiBlocksTest, MalformedDeleteParamsAre400) {
  struct Case {
    std::string path;
    std::string body;
  };
  const Case cases[] = {
      {"/api/v1/blocks", ""},
      {"/api/v1/blocks?target=", ""},
      {"/api/v1/blocks?target=a.example", ""},
      {"/api/v1/blocks?target=203.0.113.5%00", ""},
      {"/api/v1/blocks?target=203.0.113.5&target=203.0.113.6", ""},
      {"/api/v1/blocks?target=203.0.113.5&ttl=5", ""},
      {"/api/v1/blocks?addr=203.0.113.5", ""},
      {"/api/v1/blocks?target=" + std::string(65, '1'), ""},
      {"/api/v1/blocks?target=203.0.113.5", R"({"target":"203.0.113.5"})"},
  };
  for (const Case& t : cases) {
    auto r = Send("DELETE", t.path, t.body, true);
    ASSERT_TRUE(r) << t.path;
    EXPECT_EQ(r->status, 400) << t.path;
    CheckedBody(r);
  }
  EXPECT_EQ(Calls(), 0u);
}

TEST_F(ApiBlocksTest, AddOutcomesMapToStatuses) {
  struct Case {
    const char* target;
    int status;
    const char* outcome;  // "" when the answer is the server's own error
    const char* error;    // a substring of "error" ("" when ok)
  };
  const Case cases[] = {
      {"203.0.113.5", 200, "added", ""},
      {"198.51.100.0/24", 200, "refreshed", ""},
      {"2001:db8::1", 200, "added", ""},
      {"10.0.0.5", 409, "refused_home_net", "10.0.0.5 is in HOME_NET"},
      {"192.0.2.1", 409, "refused_allowlist", "refused_allowlist"},  // no error: one is made
      {"1.2.3", 400, "invalid", "bad address"},
      {"203.0.113.7", 500, "error", "state"},
      {"203.0.113.8", 500, "", "not an object"},
      {"203.0.113.9", 500, "", "boom"},
      {"203.0.113.10", 500, "", "failed"},
  };
  for (const Case& t : cases) {
    const Json request = {{"target", t.target}};
    auto r = Send("POST", "/api/v1/blocks", request.dump(), true);
    ASSERT_TRUE(r) << t.target;
    EXPECT_EQ(r->status, t.status) << t.target;
    Json j = CheckedBody(r);
    if (*t.outcome) {
      EXPECT_EQ(j.value("outcome", ""), t.outcome) << t.target;
    }
    if (*t.error) {
      EXPECT_NE(j.value("error", "").find(t.error), std::string::npos) << t.target << " " << j;
    }
  }
  // The backend sees only the checked fields, ttl as an integer.
  auto r =
      Send("POST", "/api/v1/blocks",
           R"({"reason":"seen in \"ransom\" note","ttl":600,"target":"203.0.113.0/24"})", true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_FALSE(adds_.empty());
  EXPECT_EQ(
      adds_.back(),
      (Json{{"target", "203.0.113.0/24"}, {"ttl", 600}, {"reason", "seen in \"ransom\" note"}}));
  EXPECT_TRUE(adds_.back()["ttl"].is_number_unsigned());
}

TEST_F(ApiBlocksTest, DeleteOutcomesMapToStatuses) {
  struct Case {
    const char* query;
    const char* target;  // as the backend receives it
    int status;
  };
  const Case cases[] = {
      {"203.0.113.5", "203.0.113.5", 200},
      {"203.0.113.0%2F24", "203.0.113.0/24", 404},  // not blocked
      {"203.0.113.0/24", "203.0.113.0/24", 404},
      {"2001%3Adb8%3A%3A1", "2001:db8::1", 404},
      {"203.0.113.7", "203.0.113.7", 500},  // failed without a message: one is made
  };
  for (const Case& t : cases) {
    auto r = Send("DELETE", std::string("/api/v1/blocks?target=") + t.query, "", true);
    ASSERT_TRUE(r) << t.query;
    EXPECT_EQ(r->status, t.status) << t.query;
    Json j = CheckedBody(r);
    if (t.status == 404) {
      EXPECT_EQ(j["error"], std::string(t.target) + " is not blocked");
    }
    std::lock_guard<std::mutex> lock(mu_);
    ASSERT_FALSE(dels_.empty());
    EXPECT_EQ(dels_.back(), t.target);
  }
}

TEST_F(ApiBlocksTest, WrongMethodsAre405WithAllow) {
  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  const Case cases[] = {
      {"PUT", "/api/v1/blocks", "GET, POST, DELETE"},
      {"PATCH", "/api/v1/blocks", "GET, POST, DELETE"},
      {"DELETE", "/api/v1/reload", "POST"},
      {"DELETE", "/api/v1/status", "GET"},
      {"DELETE", "/api/v1/rules/5", "GET"},
      {"POST", "/api/v1/alerts", "GET"},
  };
  for (const Case& t : cases) {
    auto r = Send(t.method, t.path, "", true);
    ASSERT_TRUE(r) << t.method << " " << t.path;
    EXPECT_EQ(r->status, 405) << t.method << " " << t.path;
    EXPECT_EQ(r->get_header_value("Allow"), t.allow) << t.method << " " << t.path;
    CheckedBody(r);
  }
  // Only the exact path: sub-paths are unknown.
  for (const char* method : {"GET", "POST", "DELETE"}) {
    auto r = Send(method, "/api/v1/blocks/203.0.113.5", "", true);
    ASSERT_TRUE(r) << method;
    EXPECT_EQ(r->status, 404) << method;
    CheckedBody(r);
  }
  EXPECT_EQ(Calls(), 0u);
}

TEST_F(ApiBlocksTest, ObserveSeesEveryAnswer) {
  const std::vector<int> expected = {200, 200, 409, 404, 401, 400, 405};
  Send("GET", "/api/v1/blocks", "", false);
  Send("POST", "/api/v1/blocks", R"({"target":"203.0.113.5"})", true);
  Send("POST", "/api/v1/blocks", R"({"target":"10.0.0.5"})", true);
  Send("DELETE", "/api/v1/blocks?target=203.0.113.99", "", true);
  Send("DELETE", "/api/v1/blocks?target=203.0.113.5", "", false);
  Send("POST", "/api/v1/blocks", "{}", true);
  Send("PUT", "/api/v1/blocks", "", true);
  // The server reports after the answer is written: wait (bounded) for the last one.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::vector<int> seen;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen = observed_;
    }
    if (seen.size() >= expected.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::sort(seen.begin(), seen.end());
  std::vector<int> want = expected;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(seen, want);
}

TEST(ApiBlocksUnsetTest, EnforcementNotEnabledIs503AndNoTokenIs403) {
  struct Case {
    const char* token;  // configured on the server
    const char* method;
    const char* path;
    const char* body;
    int status;
  };
  const Case cases[] = {
      {kToken, "GET", "/api/v1/blocks", "", 503},
      {kToken, "POST", "/api/v1/blocks", R"({"target":"203.0.113.5"})", 503},
      {kToken, "DELETE", "/api/v1/blocks?target=203.0.113.5", "", 503},
      // Validation still answers first: the operator learns about the typo either way.
      {kToken, "POST", "/api/v1/blocks", R"({"target":"x"})", 400},
      {"", "GET", "/api/v1/blocks", "", 503},
      {"", "POST", "/api/v1/blocks", R"({"target":"203.0.113.5"})", 403},
      {"", "DELETE", "/api/v1/blocks?target=203.0.113.5", "", 403},
  };
  for (const Case& t : cases) {
    Server s;
    std::string error;
    ASSERT_TRUE(s.Start("127.0.0.1:0", t.token, Backend{}, &error)) << error;
    httplib::Client c("127.0.0.1", s.port());
    c.set_connection_timeout(5);
    c.set_read_timeout(5);
    httplib::Request req;
    req.method = t.method;
    req.path = t.path;
    req.body = t.body;
    req.set_header("Authorization", kBearer);
    auto r = c.send(req);
    ASSERT_TRUE(r) << t.method << " " << t.path;
    EXPECT_EQ(r->status, t.status) << t.method << " " << t.path;
    Json j = CheckedBody(r);
    if (t.status == 503) {
      EXPECT_EQ(j["error"], "enforcement is not enabled (enforcement.enabled in the config)");
    }
  }
}

TEST(ApiStartTest, RefusesBadAddressesAndStopsTwice) {
  Server s;
  std::string error;
  EXPECT_FALSE(s.Start("nonsense", "", {}, &error));
  EXPECT_NE(error.find("api.listen"), std::string::npos);
  Server a;
  ASSERT_TRUE(a.Start("127.0.0.1:0", "", {}, &error)) << error;
  Server b;
  EXPECT_FALSE(b.Start("127.0.0.1:" + std::to_string(a.port()), "", {}, &error));
  EXPECT_NE(error.find("cannot listen"), std::string::npos);
  a.Stop();
  a.Stop();
}

TEST(ApiHelpersTest, TokenEqualsAndParseListen) {
  EXPECT_TRUE(TokenEquals("abc", "abc"));
  EXPECT_FALSE(TokenEquals("abd", "abc"));
  EXPECT_FALSE(TokenEquals("ab", "abc"));
  EXPECT_FALSE(TokenEquals("abcd", "abc"));
  EXPECT_FALSE(TokenEquals("", ""));  // no token configured never matches
  std::string host;
  int port = -1;
  EXPECT_TRUE(ParseListen("127.0.0.1:9581", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 9581);
  EXPECT_TRUE(ParseListen("[::1]:80", &host, &port));
  EXPECT_EQ(host, "::1");
  for (const char* bad : {"", ":80", "host", "host:", "host:65536", "host:-1", "host:8o"}) {
    EXPECT_FALSE(ParseListen(bad, &host, &port)) << bad;
  }
}

TEST(AlertLogTest, KeepsTheNewestInOrder) {
  AlertLog log(3);
  EXPECT_TRUE(log.Recent(10).empty());
  log.Add("a");
  log.Add("b");
  EXPECT_EQ(log.Recent(10), (std::vector<std::string>{"a", "b"}));
  log.Add("c");
  log.Add("d");
  EXPECT_EQ(log.Recent(10), (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_EQ(log.Recent(2), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(log.Recent(0), std::vector<std::string>{});
  EXPECT_EQ(log.total(), 4u);
}

}  // namespace
}  // namespace fs::api
