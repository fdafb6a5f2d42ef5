// Enforcement end to end (ARCHITECTURE.md §5, §8): a routed district in network namespaces
// (tests/support/netns_lab.h), the real sensor capturing the router's mirror copy, real TCP from a
// WAN attacker to a LAN RDP server, and the sensor's blocks landing in the router's nftables (and,
// in one case, as an RTBH route in a real BIRD over BGP). Each case checks what an operator would:
// the attacker's next connection dies at the router while other hosts still get through, the
// block expires on time, policy refusals leave the firewall alone, a restart restores the block.
//
// Needs root, iproute2, nftables and tc (and exabgp + bird2 for the BGP case); skips otherwise.
// Every wait is bounded; nothing asserts on a duration.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/bgp_lab.h"
#include "tests/support/netns_lab.h"
#include "tests/support/process.h"

namespace fs::testing {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kTrigger = "Cookie: mstshash=evil\r\n";
constexpr int kConnectMs = 2000;  // generous: the lab is local, a block shows as a timeout
constexpr int kBlockedConnectMs = 1500;
constexpr uint32_t kTtl = 8;  // the rule's flowsentry_block_ttl

std::string RdpRule(const std::string& side, uint32_t ttl) {
  return fmt::format(
      "alert tcp $EXTERNAL_NET any -> $HOME_NET 3389 (msg:\"e2e rdp from outside\"; "
      "flow:to_server; content:\"Cookie|3a| mstshash=\"; metadata: flowsentry_block {}, "
      "flowsentry_block_ttl {}; sid:9000001; rev:1;)\n",
      side, ttl);
}

// "198.51.100.66/32" and "198.51.100.66" name the same host block.
std::string Host(std::string target) {
  const size_t slash = target.find("/32");
  if (slash != std::string::npos && slash + 3 == target.size()) target.resize(slash);
  return target;
}

// The EVE file's records of one event type (a line still being written is skipped).
std::vector<Json> EveRecords(const std::string& path, const std::string& event_type) {
  std::vector<Json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    Json j = Json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("event_type", "") == event_type) out.push_back(std::move(j));
  }
  return out;
}

// One block event as "action target backend detail", for failure messages.
std::string Describe(const std::vector<Json>& records) {
  std::string s;
  for (const Json& r : records) {
    const Json& b = r.at("block");
    s += fmt::format("  {} {} {} {}\n", b.value("action", "?"), b.value("target", "-"),
                     b.value("backend", "-"), b.value("detail", "-"));
  }
  return s.empty() ? "  (no block records)\n" : s;
}

struct BlockMatch {
  std::string action;
  std::string target;   // "" = any
  std::string detail;   // prefix; "" = any
  std::string backend;  // "" = any
};

bool Matches(const Json& record, const BlockMatch& m) {
  const Json& b = record.at("block");
  if (b.value("action", "") != m.action) return false;
  if (!m.target.empty() && Host(b.value("target", "")) != m.target) return false;
  if (!m.backend.empty() && b.value("backend", "") != m.backend) return false;
  return b.value("detail", "").rfind(m.detail, 0) == 0;
}

struct SensorOptions {
  std::string rules = {};
  std::string enforcement = {};  // extra YAML lines of the enforcement: mapping (2-space indented)
  bool nftables = true;
  std::string bgp_socket = {};  // "" = no BGP backend
  bool api = false;             // operator API on 127.0.0.1:kApiPort in the sensor's namespace
  // Runs before the router's nft (a shell condition, e.g. "test -e FILE"): the firewall is
  // unreachable while it fails. Then StartSensor does not wait for the backends.
  std::string firewall_reachable_if = {};
};

constexpr int kApiPort = 9581;

class EnforceE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = NetnsLab::Unavailable();
    if (!why.empty()) GTEST_SKIP() << why;
    if (access((BinDir() + "/flowsentry").c_str(), X_OK) != 0) {
      GTEST_SKIP() << BinDir() << "/flowsentry is not built";
    }
    dir_ = MakeTempDir("enforce-e2e");
    ASSERT_FALSE(dir_.empty());
    lab_ = std::make_unique<NetnsLab>();
    std::string error;
    ASSERT_TRUE(lab_->Start(&error)) << error;
  }

  void TearDown() override {
    StopSensor();
    lab_.reset();
    if (!dir_.empty() && !HasFailure()) std::filesystem::remove_all(dir_);
  }

  std::string WriteConfig(const SensorOptions& o) {
    const std::string rules = dir_ + "/e2e.rules";
    std::ofstream(rules) << o.rules;
    std::ofstream(dir_ + "/token") << "e2e-token\n";
    std::string yaml = fmt::format(
        "vars:\n  address-groups:\n    HOME_NET: \"[10.80.2.0/24]\"\n"
        "rules: [\"{}\"]\n"
        "outputs:\n  summary: false\n"
        "api:\n  listen: \"{}\"\n  token-file: \"{}/token\"\n"
        "enforcement:\n  enabled: true\n  state-file: \"{}/blocks.json\"\n",
        rules, o.api ? fmt::format("127.0.0.1:{}", kApiPort) : "", dir_, dir_);
    yaml += o.enforcement;
    if (o.nftables && o.firewall_reachable_if.empty()) {
      yaml += fmt::format("  nftables:\n    command: \"{} nft -f -\"\n",
                          lab_->ExecPrefix(lab_->rtr_ns()));
    } else if (o.nftables) {
      yaml += fmt::format(
          "  nftables:\n    command: \"if {}; then {} nft -f -; else echo firewall unreachable "
          ">&2; exit 1; fi\"\n",
          o.firewall_reachable_if, lab_->ExecPrefix(lab_->rtr_ns()));
    }
    if (!o.bgp_socket.empty()) yaml += fmt::format("  bgp:\n    socket: \"{}\"\n", o.bgp_socket);
    const std::string path = dir_ + "/flowsentry.yaml";
    std::ofstream(path) << yaml;
    return path;
  }

  // Starts the sensor in the lab's sensor namespace on the mirror port; returns once its workers
  // run and its backends are up. Call through ASSERT_NO_FATAL_FAILURE.
  void StartSensor(const SensorOptions& o, const std::string& eve) {
    eve_ = eve;
    const std::string config = WriteConfig(o);
    sensor_ = std::make_unique<BackgroundProcess>(
        lab_->Exec(lab_->sensor_ns(),
                   {BinDir() + "/flowsentry", "--config", config, "--iface", NetnsLab::kMirrorIface,
                    "--workers", "1", "--eve", eve, "--metrics-listen", ""}));
    const bool ready = WaitFor(
        [&] {
          return !sensor_->Running() ||
                 sensor_->ErrSoFar().find("worker(s) running") != std::string::npos;
        },
        60);
    if (!sensor_->Running()) {
      const ProcessResult r = sensor_->Wait(1);
      FAIL() << "the sensor exited (" << r.exit_code << "):\n"
             << r.err << "\nconfig:\n"
             << ReadFile(config);
    }
    ASSERT_TRUE(ready) << sensor_->ErrSoFar();
    // Traffic only once every backend is up: the first block is then applied as an "add" (before
    // that it would be applied by the backend's initial sync), which is what the cases check.
    std::vector<std::string> backends;
    if (o.nftables && o.firewall_reachable_if.empty()) backends.push_back("nftables");
    if (!o.bgp_socket.empty()) backends.push_back("bgp");
    for (const std::string& b : backends) {
      ASSERT_TRUE(WaitForBlockEvent({"backend_up", "", "", b}, 30)) << Why();
    }
  }

  // SIGINT, as an operator's systemctl stop; the sensor must exit cleanly.
  void StopSensor() {
    if (!sensor_) return;
    if (sensor_->Running()) {
      sensor_->Signal(SIGINT);
      const ProcessResult r = sensor_->Wait(30);
      EXPECT_FALSE(r.timed_out) << r.err;
      EXPECT_EQ(r.exit_code, 0) << r.err;
    }
    sensor_.reset();
  }

  std::vector<Json> Blocks() const { return EveRecords(eve_, "block"); }

  bool WaitForBlockEvent(const BlockMatch& m, int timeout_s) {
    return WaitFor(
        [&] {
          for (const Json& r : Blocks()) {
            if (Matches(r, m)) return true;
          }
          return false;
        },
        timeout_s);
  }

  // The first alert of sid 9000001 from `src` is in the EVE file (the sensor saw the attack).
  bool WaitForAlert(const std::string& src, int timeout_s) {
    return WaitFor(
        [&] {
          for (const Json& a : EveRecords(eve_, "alert")) {
            if (a.value("src_ip", "") == src &&
                a.at("alert").value("signature_id", 0u) == 9000001u) {
              return true;
            }
          }
          return false;
        },
        timeout_s);
  }

  std::string Why() {
    return "\nEVE block records:\n" + Describe(Blocks()) + "sensor stderr:\n" +
           (sensor_ ? sensor_->ErrSoFar() : std::string("(not running)")) + lab_->Diagnostics();
  }

  // Every element of the router's blocked4 set equal to `value`.
  std::vector<NftElement> Elements(const std::string& value) {
    bool ok = false;
    std::vector<NftElement> out;
    for (auto& e : lab_->NftSetElements("flowsentry", "blocked4", &ok)) {
      if (e.value == value) out.push_back(e);
    }
    return out;
  }

  std::string dir_, eve_;
  std::unique_ptr<NetnsLab> lab_;  // declared before sensor_: the sensor dies first
  std::unique_ptr<BackgroundProcess> sensor_;
};

// The lab itself, without enforcement: routing, the server and the mirror port, so that a failure
// of the cases below is not a broken topology. Runs before enforcement is wired into the sensor.
TEST_F(EnforceE2eTest, MirrorPortShowsTheAttackToTheSensor) {
  for (const char* src : {NetnsLab::kAttacker, NetnsLab::kInternetHost}) {
    const ConnectResult c = lab_->Connect(src, "", kConnectMs);
    EXPECT_TRUE(c.connected) << src << ": " << c.error << lab_->Diagnostics();
  }
  const std::string rules = dir_ + "/plain.rules";
  std::ofstream(rules) << "alert tcp $EXTERNAL_NET any -> $HOME_NET 3389 (msg:\"e2e rdp\"; "
                          "content:\"Cookie|3a| mstshash=\"; sid:9000001; rev:1;)\n";
  eve_ = dir_ + "/eve.json";
  sensor_ = std::make_unique<BackgroundProcess>(
      lab_->Exec(lab_->sensor_ns(),
                 {BinDir() + "/flowsentry", "--rules", rules, "--iface", NetnsLab::kMirrorIface,
                  "--workers", "1", "--eve", eve_, "--metrics-listen", "", "--api-listen", ""}));
  ASSERT_TRUE(WaitFor(
      [&] {
        return !sensor_->Running() ||
               sensor_->ErrSoFar().find("worker(s) running") != std::string::npos;
      },
      60));
  ASSERT_TRUE(sensor_->Running()) << sensor_->Wait(1).err;
  const ConnectResult c = lab_->Connect(NetnsLab::kAttacker, kTrigger, kConnectMs);
  ASSERT_TRUE(c.connected) << c.error;
  EXPECT_TRUE(WaitForAlert(NetnsLab::kAttacker, 10)) << ReadFile(eve_) << Why();
  EXPECT_GE(lab_->accepted(), 3u);
}

// Scenario 1: detect, block at the router, others unaffected, expire on time, connect again.
TEST_F(EnforceE2eTest, RuleBlocksTheAttackerAtTheRouterUntilTheTtl) {
  ASSERT_NO_FATAL_FAILURE(StartSensor({.rules = RdpRule("src", kTtl)}, dir_ + "/eve.json"));
  const ConnectResult before = lab_->Connect(NetnsLab::kInternetHost, "", kConnectMs);
  ASSERT_TRUE(before.connected) << before.error << Why();

  const ConnectResult attack = lab_->Connect(NetnsLab::kAttacker, kTrigger, kConnectMs);
  ASSERT_TRUE(attack.connected) << attack.error << Why();
  ASSERT_TRUE(lab_->WaitForSetElement(NetnsLab::kAttacker, true, 10)) << Why();
  EXPECT_TRUE(WaitForBlockEvent({"add", NetnsLab::kAttacker, "", ""}, 10)) << Why();
  EXPECT_TRUE(WaitForBlockEvent({"applied", NetnsLab::kAttacker, "add", "nftables"}, 10)) << Why();
  {  // decided, then applied
    const std::vector<Json> records = Blocks();
    size_t add = records.size(), applied = records.size();
    for (size_t i = records.size(); i-- > 0;) {
      if (Matches(records[i], {"add", NetnsLab::kAttacker, "", ""})) add = i;
      if (Matches(records[i], {"applied", NetnsLab::kAttacker, "add", "nftables"})) applied = i;
    }
    EXPECT_LT(add, applied) << Why();
  }
  // The element carries the rule's TTL, so the firewall expires it even without the sensor.
  const auto elements = Elements(NetnsLab::kAttacker);
  ASSERT_EQ(elements.size(), 1u) << Why();
  EXPECT_GT(elements[0].timeout_s, 0);
  EXPECT_LE(elements[0].timeout_s, static_cast<int64_t>(kTtl)) << Why();

  const ConnectResult blocked = lab_->Connect(NetnsLab::kAttacker, "", kBlockedConnectMs);
  EXPECT_FALSE(blocked.connected) << "the attacker still reaches the server" << Why();
  const ConnectResult other = lab_->Connect(NetnsLab::kInternetHost, "", kConnectMs);
  EXPECT_TRUE(other.connected) << "an innocent host is cut off: " << other.error << Why();

  // kTtl seconds after the block: gone from the firewall, recorded as expired by the sensor.
  EXPECT_TRUE(lab_->WaitForSetElement(NetnsLab::kAttacker, false, kTtl + 10)) << Why();
  EXPECT_TRUE(WaitForBlockEvent({"expire", NetnsLab::kAttacker, "", ""}, 10)) << Why();
  const ConnectResult after = lab_->Connect(NetnsLab::kAttacker, "", kConnectMs);
  EXPECT_TRUE(after.connected) << after.error << Why();
}

// Scenarios 2-4: the policy refuses, records why, and leaves the firewall alone.
struct PolicyCase {
  const char* name;
  const char* side;         // flowsentry_block src|dst
  const char* enforcement;  // extra settings
  // Attackers in order; the first `added` of them are blocked, the rest refused with `detail`.
  std::vector<std::string> attackers;
  size_t added;
  const char* refused_target;  // the refused block's target
  const char* detail;
};

// ctest shows the case's name, not its bytes.
void PrintTo(const PolicyCase& c, std::ostream* os) { *os << c.name; }

class EnforcePolicyTest : public EnforceE2eTest,
                          public ::testing::WithParamInterface<PolicyCase> {};

TEST_P(EnforcePolicyTest, RefusedBlocksAreRecordedAndNotApplied) {
  const PolicyCase& c = GetParam();
  std::string error;
  ASSERT_TRUE(lab_->AddWanAddresses({"198.51.100.67"}, &error)) << error;
  ASSERT_NO_FATAL_FAILURE(StartSensor({.rules = RdpRule(c.side, 60), .enforcement = c.enforcement},
                                      dir_ + "/eve.json"));
  for (size_t i = 0; i < c.attackers.size(); ++i) {
    const std::string& a = c.attackers[i];
    const ConnectResult r = lab_->Connect(a, kTrigger, kConnectMs);
    ASSERT_TRUE(r.connected) << a << ": " << r.error << Why();
    if (i < c.added) {
      ASSERT_TRUE(lab_->WaitForSetElement(a, true, 10)) << Why();
      continue;
    }
    ASSERT_TRUE(WaitForBlockEvent({"refused", c.refused_target, c.detail, ""}, 10)) << Why();
    EXPECT_TRUE(Elements(c.refused_target).empty()) << Why();
    const ConnectResult again = lab_->Connect(a, "", kConnectMs);
    EXPECT_TRUE(again.connected) << a << " was blocked anyway: " << again.error << Why();
  }
  for (const Json& r : Blocks()) {
    if (r.at("block").value("action", "") != "add") continue;
    const std::string target = Host(r.at("block").value("target", ""));
    EXPECT_NE(target, c.refused_target) << "a refused target was added" << Why();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Policy, EnforcePolicyTest,
    ::testing::Values(
        PolicyCase{"allowlist",
                   "src",
                   "  allowlist: [\"198.51.100.66\"]\n",
                   {NetnsLab::kAttacker},
                   0,
                   NetnsLab::kAttacker,
                   "allowlist"},
        PolicyCase{"home_net", "dst", "", {NetnsLab::kAttacker}, 0, NetnsLab::kServer, "home_net"},
        PolicyCase{"cap",
                   "src",
                   "  max-active: 1\n  burst: 1\n",
                   {NetnsLab::kAttacker, "198.51.100.67"},
                   1,
                   "198.51.100.67",
                   "cap"},
        PolicyCase{"rate",
                   "src",
                   "  rate-per-minute: 1\n  burst: 1\n",
                   {NetnsLab::kAttacker, "198.51.100.67"},
                   1,
                   "198.51.100.67",
                   "rate"}),
    [](const ::testing::TestParamInfo<PolicyCase>& info) { return std::string(info.param.name); });

// Scenario 5: blocks survive a sensor restart, even when the firewall lost them meanwhile.
TEST_F(EnforceE2eTest, RestartRestoresTheBlockFromTheStateFile) {
  constexpr uint32_t kLongTtl = 60;
  const SensorOptions o{.rules = RdpRule("src", kLongTtl)};
  ASSERT_NO_FATAL_FAILURE(StartSensor(o, dir_ + "/eve1.json"));
  ASSERT_TRUE(lab_->Connect(NetnsLab::kAttacker, kTrigger, kConnectMs).connected) << Why();
  ASSERT_TRUE(lab_->WaitForSetElement(NetnsLab::kAttacker, true, 10)) << Why();
  StopSensor();
  ASSERT_FALSE(HasFatalFailure());
  const std::string state = ReadFile(dir_ + "/blocks.json");
  EXPECT_NE(state.find(NetnsLab::kAttacker), std::string::npos) << state;

  // A rebooted firewall: the set is empty (the table and chains stay, as after a config restore).
  std::string out;
  ASSERT_TRUE(lab_->Nft({"flush", "set", "inet", "flowsentry", "blocked4"}, &out)) << out;
  ASSERT_TRUE(Elements(NetnsLab::kAttacker).empty());
  ASSERT_TRUE(lab_->Connect(NetnsLab::kAttacker, "", kConnectMs).connected) << Why();

  ASSERT_NO_FATAL_FAILURE(StartSensor(o, dir_ + "/eve2.json"));
  ASSERT_TRUE(lab_->WaitForSetElement(NetnsLab::kAttacker, true, 10)) << Why();
  EXPECT_TRUE(WaitForBlockEvent({"applied", "", "sync", "nftables"}, 10)) << Why();
  const auto elements = Elements(NetnsLab::kAttacker);
  ASSERT_EQ(elements.size(), 1u) << Why();
  // The remaining lifetime, not a fresh one (a second or two passed since the block).
  EXPECT_GT(elements[0].timeout_s, 0);
  EXPECT_LE(elements[0].timeout_s, static_cast<int64_t>(kLongTtl)) << Why();
  EXPECT_LT(elements[0].expires_s, static_cast<int64_t>(kLongTtl)) << Why();
  // The restored block is not re-announced as a new one.
  for (const Json& r : Blocks()) EXPECT_NE(r.at("block").value("action", ""), "add") << Why();
  EXPECT_FALSE(lab_->Connect(NetnsLab::kAttacker, "", kBlockedConnectMs).connected) << Why();
}

// A firewall that is down when the sensor starts and when the attack comes: the alert and the
// decision are not held up, the backend is reported down and retried, and once the firewall is
// back its initial sync applies the block.
TEST_F(EnforceE2eTest, BlockIsAppliedWhenTheFirewallComesBack) {
  const std::string flag = dir_ + "/firewall-up";
  ASSERT_NO_FATAL_FAILURE(
      StartSensor({.rules = RdpRule("src", 60), .firewall_reachable_if = "test -e " + flag},
                  dir_ + "/eve.json"));
  ASSERT_TRUE(WaitForBlockEvent({"backend_down", "", "", "nftables"}, 10)) << Why();
  ASSERT_TRUE(lab_->Connect(NetnsLab::kAttacker, kTrigger, kConnectMs).connected) << Why();
  EXPECT_TRUE(WaitForAlert(NetnsLab::kAttacker, 10)) << Why();
  EXPECT_TRUE(WaitForBlockEvent({"add", NetnsLab::kAttacker, "", ""}, 10)) << Why();
  bool listed = false;
  lab_->NftSetElements("flowsentry", "blocked4", &listed);
  EXPECT_FALSE(listed) << "the unreachable firewall was changed" << Why();

  std::ofstream(flag) << "up\n";
  EXPECT_TRUE(WaitForBlockEvent({"backend_up", "", "", "nftables"}, 40)) << Why();
  EXPECT_TRUE(lab_->WaitForSetElement(NetnsLab::kAttacker, true, 40)) << Why();
  EXPECT_TRUE(WaitForBlockEvent({"applied", "", "sync", "nftables"}, 10)) << Why();
  EXPECT_FALSE(lab_->Connect(NetnsLab::kAttacker, "", kBlockedConnectMs).connected) << Why();
}

// Scenario 6: the same attack as an RTBH route in BIRD (65535:666), withdrawn after the TTL.
TEST_F(EnforceE2eTest, RuleBlockBecomesABlackholeRouteAndIsWithdrawn) {
  const std::string why = BgpLab::Unavailable();
  if (!why.empty()) GTEST_SKIP() << why;
  const std::string socket = dir_ + "/bgp.sock";
  BgpLab bgp(socket);
  std::string error;
  ASSERT_TRUE(bgp.Start(&error)) << error;
  ASSERT_NO_FATAL_FAILURE(
      StartSensor({.rules = RdpRule("src", kTtl), .nftables = false, .bgp_socket = socket},
                  dir_ + "/eve.json"));
  ASSERT_TRUE(lab_->Connect(NetnsLab::kAttacker, kTrigger, kConnectMs).connected) << Why();
  const std::string prefix = std::string(NetnsLab::kAttacker) + "/32";
  ASSERT_TRUE(bgp.WaitForRoute(prefix, true, 20)) << Why() << bgp.Diagnostics();
  bool tagged = false, blackhole = false;
  for (const BirdRoute& r : bgp.BirdRouteTable()) {
    if (r.prefix != prefix) continue;
    blackhole = r.blackhole;
    for (const std::string& c : r.communities) tagged = tagged || c == "65535:666";
  }
  EXPECT_TRUE(tagged) << bgp.Diagnostics();
  EXPECT_TRUE(blackhole) << bgp.Diagnostics();
  EXPECT_TRUE(WaitForBlockEvent({"applied", NetnsLab::kAttacker, "add", "bgp"}, 10)) << Why();
  EXPECT_TRUE(bgp.WaitForRoute(prefix, false, kTtl + 15)) << Why() << bgp.Diagnostics();
  EXPECT_TRUE(WaitForBlockEvent({"expire", NetnsLab::kAttacker, "", ""}, 10)) << Why();
}

// Operator blocks through flowsentryctl and the sensor's API, applied at the router.
TEST_F(EnforceE2eTest, OperatorBlocksThroughFlowsentryctl) {
  const std::string ctl = BinDir() + "/flowsentryctl";
  if (RunProcess({ctl, "blocks", "--help"}, 20).exit_code != 0) {
    GTEST_SKIP() << "flowsentryctl has no `blocks` command yet";
  }
  ASSERT_NO_FATAL_FAILURE(
      StartSensor({.rules = RdpRule("src", kTtl), .api = true}, dir_ + "/eve.json"));
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {ctl, "--url", fmt::format("http://127.0.0.1:{}", kApiPort),
                                     "--token-file", dir_ + "/token"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(lab_->Exec(lab_->sensor_ns(), argv), 30);
  };
  const std::string target = NetnsLab::kInternetHost;
  ProcessResult r = run({"blocks", "add", target, "--ttl", "60", "--reason", "e2e operator"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(lab_->WaitForSetElement(target, true, 10)) << Why();
  EXPECT_FALSE(lab_->Connect(target, "", kBlockedConnectMs).connected) << Why();
  EXPECT_TRUE(lab_->Connect(NetnsLab::kAttacker, "", kConnectMs).connected) << Why();
  r = run({"blocks", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(target), std::string::npos) << r.out;
  EXPECT_TRUE(WaitForBlockEvent({"add", target, "", ""}, 10)) << Why();

  r = run({"blocks", "del", target});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(lab_->WaitForSetElement(target, false, 10)) << Why();
  EXPECT_TRUE(WaitForBlockEvent({"remove", target, "", ""}, 10)) << Why();
  EXPECT_TRUE(lab_->Connect(target, "", kConnectMs).connected) << Why();
  r = run({"blocks", "del", target});
  EXPECT_NE(r.exit_code, 0) << "deleting an absent block must fail: " << r.out;
}

}  // namespace
}  // namespace fs::testing
