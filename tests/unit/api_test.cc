// The operator API server against a fake Backend on an ephemeral loopback port: routing, auth,
// input validation and robustness. The sensor wiring is tested in tests/integration/.
#include "controlplane/api/api.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "controlplane/api/alert_log.h"

namespace fs::api {
namespace {

using Json = nlohmann::json;

constexpr char kToken[] = "t0ken-for-tests";

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
  static Json Body(const httplib::Result& r) {
    Json j = Json::parse(r->body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r->body;
    if (r->status >= 400) {
      EXPECT_TRUE(j.is_object() && j.contains("error") && j["error"].is_string()) << r->body;
    }
    return j;
  }

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
