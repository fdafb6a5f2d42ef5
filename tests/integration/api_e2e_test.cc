// The operator API end to end: the real sensor replaying the district capture with the API on,
// driven by the real flowsentryctl (exit codes and --json output), including a refused mutating
// call and an EVE reopen after a logrotate-style rename.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/process.h"

namespace fs::testing {
namespace {

std::string Sensor() { return BinDir() + "/flowsentry"; }
std::string Ctl() { return BinDir() + "/flowsentryctl"; }
std::string Gen() { return BinDir() + "/flowsentry-pcapgen"; }

class ApiE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("api-e2e");
    ASSERT_FALSE(dir_.empty());
    capture_ = dir_ + "/district.pcap";
    auto r = RunProcess({Gen(), "district", "--out", capture_, "--truth", dir_ + "/truth.json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    port_ = FreeLoopbackPort();
    url_ = fmt::format("http://127.0.0.1:{}", port_);
    std::ofstream(dir_ + "/token") << "e2e-secret-token\n";
    std::ofstream(dir_ + "/wrong-token") << "not-the-token\n";
    // The token file is given relative to the config file.
    std::ofstream(dir_ + "/flowsentry.yaml")
        << fmt::format("api:\n  listen: 127.0.0.1:{}\n  token-file: token\n", port_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ProcessResult Ctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {fs::testing::Ctl(), "--url", url_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, 90);
  }

  static nlohmann::json Json(const ProcessResult& r) {
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out << r.err;
    return j;
  }

  std::string dir_, capture_, url_;
  int port_ = 0;
};

TEST_F(ApiE2eTest, FlowsentryctlAgainstARunningSensor) {
  const std::string eve = dir_ + "/eve.json";
  BackgroundProcess sensor({Sensor(), "--config", dir_ + "/flowsentry.yaml", "--pcap", capture_,
                            "--replay-forever", "--workers", "1", "--eve", eve, "--metrics-listen",
                            ""});

  // status --json: wait until the API answers and packets were counted.
  nlohmann::json status;
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(sensor.Running()) << sensor.ErrSoFar();
    auto r = Ctl({"status", "--json"});
    if (r.exit_code == 0) {
      status = Json(r);
      if (status["totals"]["packets"].get<uint64_t>() > 0) break;
    } else {
      EXPECT_EQ(r.exit_code, 3) << r.err;  // not listening yet
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(status.is_object()) << sensor.ErrSoFar();
  EXPECT_GT(status["totals"]["packets"].get<uint64_t>(), 0u);
  EXPECT_EQ(status["workers"].size(), 1u);
  EXPECT_EQ(status["pattern_set"]["generation"], 1);
  EXPECT_EQ(status["pattern_set"]["content_hash"].get<std::string>().size(), 16u);
  EXPECT_GT(status["pattern_set"]["rules"].get<int>(), 0);

  // The human table too.
  auto r = Ctl({"status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pattern set  generation 1"), std::string::npos) << r.out;

  // rules show / list (the district pack's RDP rule).
  r = Ctl({"rules", "show", "9000001", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json(r)["sid"], 9000001);
  EXPECT_NE(Json(r)["text"].get<std::string>().find("sid:9000001"), std::string::npos);
  r = Ctl({"rules", "show", "4000000000"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  r = Ctl({"rules", "list", "rdp", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GE(Json(r)["count"].get<int>(), 1);

  // alerts tail: the replay raises alerts continuously.
  nlohmann::json alerts;
  for (int i = 0; i < 100; ++i) {
    r = Ctl({"alerts", "tail", "-n", "5", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    alerts = Json(r);
    if (alerts["count"].get<int>() == 5) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(alerts["alerts"].size(), 5u) << alerts.dump();
  for (const auto& a : alerts["alerts"]) {
    EXPECT_EQ(a["event_type"], "alert");
    EXPECT_TRUE(a["alert"].contains("signature_id"));
  }

  // Mutating calls: refused without the token or with a wrong one (exit 1, HTTP 401).
  r = Ctl({"reload"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;
  r = Ctl({"eve", "reopen", "--token-file", dir_ + "/wrong-token"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;

  // EVE reopen after a logrotate-style rename: the new file receives records.
  std::filesystem::rename(eve, eve + ".1");
  r = Ctl({"eve", "reopen", "--token-file", dir_ + "/token", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Json(r)["ok"], true);
  bool written = false;
  for (int i = 0; i < 100 && !written; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    written = std::filesystem::exists(eve) && std::filesystem::file_size(eve) > 0;
  }
  EXPECT_TRUE(written) << "nothing written to the reopened EVE file";

  // Reload of unchanged rule files, with the token: succeeds and keeps the running set.
  r = Ctl({"reload", "--token-file", dir_ + "/token", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Json(r)["ok"], true) << r.out;

  sensor.Signal(SIGINT);
  auto done = sensor.Wait(60);
  EXPECT_FALSE(done.timed_out);
  EXPECT_EQ(done.exit_code, 0) << done.err;
  // With the sensor gone, the tool says it cannot connect.
  r = Ctl({"status"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST_F(ApiE2eTest, UsageErrorsExit2) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"rules", "show", "abc"},
        std::vector<std::string>{"alerts", "tail", "-n", "0"},
        std::vector<std::string>{"alerts", "tail", "-n", "1001"},
        std::vector<std::string>{"no-such-command"}}) {
    auto r = Ctl(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << r.err;
  }
}

TEST_F(ApiE2eTest, BadTokenFileStopsTheSensorNamingTheKey) {
  std::ofstream(dir_ + "/empty-token").flush();
  std::ofstream(dir_ + "/bad.yaml") << "api: {token-file: empty-token}\n";
  auto r = RunProcess({Sensor(), "--config", dir_ + "/bad.yaml", "--pcap", capture_, "--eve", "",
                       "--metrics-listen", ""});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("api.token-file"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace fs::testing
