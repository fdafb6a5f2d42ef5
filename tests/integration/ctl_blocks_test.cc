// flowsentryctl blocks list/add/del against the real operator API server, started in this test
// process with a fake enforcement backend (no sensor needed): exit codes, the human tables,
// --json output and what reaches the backend.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controlplane/api/api.h"
#include "tests/support/process.h"

namespace fs::testing {
namespace {

using Json = nlohmann::json;

constexpr char kToken[] = "ctl-blocks-token";

Json FakeBlocks() {
  return Json{{"count", 2},
              {"dry_run", false},
              {"blocks",
               {{{"target", "203.0.113.5/32"},
                 {"source", "rule"},
                 {"gid", 1},
                 {"signature_id", 9000001},
                 {"reason", "RDP brute force from outside"},
                 {"created", "2026-11-29T12:00:00Z"},
                 {"expires", "2026-11-29T13:00:00Z"},
                 {"ttl_remaining", 3599}},
                {{"target", "2001:db8::/48"},
                 {"source", "operator"},
                 {"gid", 0},
                 {"signature_id", 0},
                 {"reason", "ticket 4711"},
                 {"created", "2026-11-29T12:00:00Z"},
                 {"expires", "2026-12-01T12:00:00Z"},
                 {"ttl_remaining", 172800}}}},
              {"backends",
               {{{"name", "nftables"},
                 {"available", true},
                 {"pending", 0},
                 {"applied", 2},
                 {"failures", 0},
                 {"last_error", ""}},
                {{"name", "webhook"},
                 {"available", false},
                 {"pending", 2},
                 {"applied", 0},
                 {"failures", 7},
                 {"last_error", "connect to 192.0.2.80:443: connection refused"}}}}};
}

class CtlBlocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("ctl-blocks");
    ASSERT_FALSE(dir_.empty());
    token_file_ = dir_ + "/token";
    std::ofstream(token_file_) << kToken << "\n";

    api::Backend b;
    b.blocks = [] { return FakeBlocks(); };
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
      return {{"ok", true},
              {"outcome", "added"},
              {"target", t.find('/') == std::string::npos ? t + "/32" : t},
              {"ttl_remaining", request.value("ttl", 3600)}};
    };
    b.block_del = [this](const std::string& target) -> Json {
      {
        std::lock_guard<std::mutex> lock(mu_);
        dels_.push_back(target);
      }
      if (target == "203.0.113.0/24") return {{"ok", true}};
      return {{"ok", false}, {"not_found", true}, {"error", target + " is not blocked"}};
    };
    std::string error;
    ASSERT_TRUE(server_.Start("127.0.0.1:0", kToken, b, &error)) << error;
    url_ = fmt::format("http://127.0.0.1:{}", server_.port());
  }
  void TearDown() override {
    server_.Stop();
    std::filesystem::remove_all(dir_);
  }

  ProcessResult Ctl(const std::string& url, std::vector<std::string> args) {
    std::vector<std::string> argv = {BinDir() + "/flowsentryctl", "--url", url};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, 60);
  }
  ProcessResult Ctl(std::vector<std::string> args) { return Ctl(url_, std::move(args)); }

  std::vector<Json> Adds() {
    std::lock_guard<std::mutex> lock(mu_);
    return adds_;
  }
  std::vector<std::string> Dels() {
    std::lock_guard<std::mutex> lock(mu_);
    return dels_;
  }

  std::string dir_, token_file_, url_;
  std::mutex mu_;
  std::vector<Json> adds_;
  std::vector<std::string> dels_;
  api::Server server_;
};

TEST_F(CtlBlocksTest, ListPrintsBlocksAndBackends) {
  auto r = Ctl({"blocks", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* expected :
       {"TARGET", "203.0.113.5/32", "rule", "9000001", "59m59s", "RDP brute force from outside",
        "2001:db8::/48", "operator", "2d00h", "ticket 4711", "2 blocks", "BACKEND", "nftables",
        "webhook", "NO", "connection refused"}) {
    EXPECT_NE(r.out.find(expected), std::string::npos) << expected << " in\n" << r.out;
  }
  EXPECT_EQ(r.out.find("dry run"), std::string::npos) << r.out;

  r = Ctl({"blocks", "list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out, nullptr, false), FakeBlocks()) << r.out;
}

TEST_F(CtlBlocksTest, AddSendsTheRequestAndReportsTheOutcome) {
  auto r = Ctl({"blocks", "add", "203.0.113.5", "--ttl", "600", "--reason", "phishing kit host",
                "--token-file", token_file_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("blocked 203.0.113.5/32 (expires in 10m00s)"), std::string::npos) << r.out;
  auto adds = Adds();
  ASSERT_EQ(adds.size(), 1u);
  EXPECT_EQ(adds[0],
            (Json{{"target", "203.0.113.5"}, {"ttl", 600}, {"reason", "phishing kit host"}}));

  // No ttl or reason: the sensor's defaults apply, nothing is sent for them. --json: the answer.
  r = Ctl({"--token-file", token_file_, "blocks", "add", "2001:db8::1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out, nullptr, false);
  EXPECT_EQ(j.value("outcome", ""), "added") << r.out;
  adds = Adds();
  ASSERT_EQ(adds.size(), 2u);
  EXPECT_EQ(adds[1], (Json{{"target", "2001:db8::1"}}));
}

TEST_F(CtlBlocksTest, RefusalIsExit1WithTheReason) {
  auto r = Ctl({"blocks", "add", "10.0.0.5", "--token-file", token_file_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("refused: 10.0.0.5 is in HOME_NET (enforcement.allow-internal is false)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "");
  // --json prints the refusal for scripts too, still exit 1.
  r = Ctl({"blocks", "add", "10.0.0.5", "--token-file", token_file_, "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Json::parse(r.out, nullptr, false).value("outcome", ""), "refused_home_net") << r.out;
}

TEST_F(CtlBlocksTest, DelLiftsABlockAndReportsUnknownTargets) {
  auto r = Ctl({"blocks", "del", "203.0.113.0/24", "--token-file", token_file_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("unblocked 203.0.113.0/24"), std::string::npos) << r.out;
  r = Ctl({"blocks", "del", "198.51.100.7", "--token-file", token_file_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("198.51.100.7 is not blocked"), std::string::npos) << r.err;
  // The CIDR's '/' survives the query string.
  EXPECT_EQ(Dels(), (std::vector<std::string>{"203.0.113.0/24", "198.51.100.7"}));
}

TEST_F(CtlBlocksTest, ExitCodes) {
  const std::string no_server = fmt::format("http://127.0.0.1:{}", FreeLoopbackPort());
  struct Case {
    const char* what;
    std::string url;
    std::vector<std::string> args;
    int exit_code;
    const char* err;  // a substring of stderr
  };
  const std::string tf = token_file_;
  const Case cases[] = {
      {"no token", url_, {"blocks", "add", "203.0.113.5"}, 1, "--token-file"},
      {"wrong token file",
       url_,
       {"blocks", "del", "203.0.113.5", "--token-file", "/nonexistent"},
       2,
       "cannot read a token"},
      {"host name", url_, {"blocks", "add", "evil.example", "--token-file", tf}, 1, "target"},
      {"reason too long",
       url_,
       {"blocks", "add", "203.0.113.5", "--reason", std::string(300, 'x'), "--token-file", tf},
       1,
       "reason"},
      {"ttl 0", url_, {"blocks", "add", "203.0.113.5", "--ttl", "0", "--token-file", tf}, 2, "ttl"},
      {"ttl not a number", url_, {"blocks", "add", "203.0.113.5", "--ttl", "1h"}, 2, "ttl"},
      {"no target", url_, {"blocks", "add", "--token-file", tf}, 2, "target"},
      {"no subcommand", url_, {"blocks"}, 2, "subcommand"},
      {"cannot connect", no_server, {"blocks", "list"}, 3, "cannot connect"},
      {"cannot connect (add)",
       no_server,
       {"blocks", "add", "203.0.113.5", "--token-file", tf},
       3,
       "cannot connect"},
  };
  for (const Case& t : cases) {
    auto r = Ctl(t.url, t.args);
    EXPECT_EQ(r.exit_code, t.exit_code) << t.what << ": " << r.err;
    EXPECT_NE(r.err.find(t.err), std::string::npos) << t.what << ": " << r.err;
  }
  EXPECT_TRUE(Adds().empty());
  EXPECT_TRUE(Dels().empty());
}

TEST(CtlBlocksDryRunTest, DryRunIsSaid) {
  const std::string dir = MakeTempDir("ctl-blocks-dry");
  ASSERT_FALSE(dir.empty());
  const std::string token_file = dir + "/token";
  std::ofstream(token_file) << kToken << "\n";
  api::Server dry;
  api::Backend b;
  b.blocks = [] { return Json{{"count", 0}, {"dry_run", true}, {"blocks", Json::array()}}; };
  b.block_add = [](const Json& request) -> Json {
    return {{"ok", true}, {"outcome", "dry_run"}, {"target", request["target"]}};
  };
  std::string error;
  ASSERT_TRUE(dry.Start("127.0.0.1:0", kToken, b, &error)) << error;
  const std::string url = fmt::format("http://127.0.0.1:{}", dry.port());
  const std::string ctl = BinDir() + "/flowsentryctl";
  auto r = RunProcess({ctl, "--url", url, "blocks", "list"}, 60);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("0 blocks (dry run"), std::string::npos) << r.out;
  r = RunProcess({ctl, "--url", url, "blocks", "add", "203.0.113.5", "--token-file", token_file},
                 60);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("dry run: 203.0.113.5 would be blocked"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

TEST(CtlBlocksDisabledTest, EnforcementNotEnabledIsExit1WithTheSetting) {
  api::Server s;
  std::string error;
  ASSERT_TRUE(s.Start("127.0.0.1:0", kToken, api::Backend{}, &error)) << error;
  auto r = RunProcess({BinDir() + "/flowsentryctl", "--url",
                       fmt::format("http://127.0.0.1:{}", s.port()), "blocks", "list"},
                      60);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("enforcement is not enabled (enforcement.enabled in the config)"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace fs::testing
