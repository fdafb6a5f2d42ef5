// Live input end to end: the sensor reads a veth (DPDK net_af_packet) inside a network namespace
// this test creates; the project's replay tool sends the district capture on the peer; SIGINT
// stops the sensor, which must flush every flow and report exactly the story's alerts.
// Needs root and iproute2; skips with a message otherwise. Cleans up its namespace.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/eve_reader.h"
#include "tests/support/process.h"

namespace fs::testing {
namespace {

std::string IpTool() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

class Netns {
 public:
  explicit Netns(std::string ip) : ip_(std::move(ip)), name_(fmt::format("fs-live-{}", getpid())) {}
  ~Netns() { RunProcess({ip_, "netns", "del", name_}, 30); }
  bool Create(std::string* err) {
    for (const auto& args :
         std::vector<std::vector<std::string>>{{ip_, "netns", "add", name_},
                                               {ip_, "-n", name_, "link", "add", "fsmirror", "type",
                                                "veth", "peer", "name", "fsspan"},
                                               {ip_, "-n", name_, "link", "set", "lo", "up"},
                                               {ip_, "-n", name_, "link", "set", "fsmirror", "up"},
                                               {ip_, "-n", name_, "link", "set", "fsspan", "up"}}) {
      auto r = RunProcess(args, 30);
      if (r.exit_code != 0) {
        *err = r.err;
        return false;
      }
    }
    // No IPv6 on the test links: the kernel would otherwise send its own router solicitations.
    RunProcess({ip_, "netns", "exec", name_, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"},
               30);
    RunProcess(
        {ip_, "netns", "exec", name_, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"}, 30);
    return true;
  }
  std::vector<std::string> Exec(std::vector<std::string> argv) const {
    std::vector<std::string> out = {ip_, "netns", "exec", name_};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
  }

 private:
  std::string ip_, name_;
};

TEST(LiveTest, AfPacketInputSeesTheStoryAndFlushesOnSigint) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to create a network namespace";
  const std::string ip = IpTool();
  if (ip.empty()) GTEST_SKIP() << "iproute2 (ip) is not installed";
  const std::string dir = MakeTempDir("live");
  const std::string capture = dir + "/district.pcap", truth_path = dir + "/truth.json";
  ASSERT_EQ(RunProcess({BinDir() + "/flowsentry-pcapgen", "district", "--out", capture, "--truth",
                        truth_path})
                .exit_code,
            0);
  const auto truth = nlohmann::json::parse(ReadFile(truth_path));

  Netns ns(ip);
  std::string err;
  ASSERT_TRUE(ns.Create(&err)) << err;
  const std::string eve_path = dir + "/eve.json";
  BackgroundProcess sensor(ns.Exec({BinDir() + "/flowsentry", "--iface", "fsmirror", "--workers",
                                    "2", "--eve", eve_path, "--metrics-listen", ""}));
  bool ready = false;
  for (int i = 0; i < 300 && !ready; ++i) {
    ASSERT_TRUE(sensor.Running()) << sensor.ErrSoFar();
    ready = sensor.ErrSoFar().find("worker(s) running") != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ready) << sensor.ErrSoFar();
  auto replay = RunProcess(ns.Exec({BinDir() + "/flowsentry-pcapgen", "replay", "--pcap", capture,
                                    "--iface", "fsspan", "--pps", "8000"}),
                           120);
  ASSERT_EQ(replay.exit_code, 0) << replay.err << replay.out;
  std::this_thread::sleep_for(std::chrono::seconds(1));
  sensor.Signal(SIGINT);
  auto r = sensor.Wait(60);
  ASSERT_FALSE(r.timed_out);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const Eve eve = ReadEve(eve_path);
  std::set<std::pair<uint32_t, Tuple>> got, want;
  for (const auto& a : eve.alerts) got.insert({a.sid, Unordered(a.tuple)});
  for (const auto& f : truth.at("flows")) {
    Tuple t{"TCP", f.at("client_ip"), f.at("server_ip"), f.at("client_port"), f.at("server_port")};
    if (f.at("proto") == "udp") t.proto = "UDP";
    for (const auto& sid : f.at("sids")) want.insert({sid.get<uint32_t>(), Unordered(t)});
  }
  EXPECT_EQ(got, want);
  // Every flow of the capture was flushed as a record at SIGINT (ARP has none).
  EXPECT_EQ(eve.flows.size(), truth.at("totals").at("flows").get<size_t>()) << r.out;
  EXPECT_NE(r.out.find("dropped   0"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fs::testing
