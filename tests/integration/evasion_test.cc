// Evasion captures (flowsentry-pcapgen evasion) through the real sensor and through Suricata 7:
// a marker split, reordered, retransmitted, overlapped with decoy bytes, wrapped around the
// sequence space, or fragmented must give the same (sid, flow) alerts as Suricata, and, whether or
// not Suricata is installed, every case whose marker reaches the endpoint must alert.
//
// The table below is the acceptance record: for each case, the sids Suricata 7.0.10 raised with
// its shipped configuration when the case was written, and the sids any engine inspecting what
// the endpoint receives must raise. Where the two differ, Suricata misses a delivered marker
// (explained in evasion.json's suricata_note); the sensor is then held to the stricter verdict.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/eve_reader.h"
#include "tests/support/process.h"

namespace fs::testing {
namespace {

constexpr uint32_t kTcp = 4000001, kTcpDecoy = 4000002, kUdp = 4000003, kUdpDecoy = 4000004;

struct Case {
  std::string name;
  std::vector<uint32_t> suricata;    // Suricata 7.0.10's observed verdict
  std::vector<uint32_t> must_alert;  // what the endpoint receives demands
};

const std::vector<Case> kCases = {
    {"tcp-baseline", {kTcp}, {kTcp}},
    {"tcp-split-2", {kTcp}, {kTcp}},
    {"tcp-split-1byte", {kTcp}, {kTcp}},
    {"tcp-reorder", {kTcp}, {kTcp}},
    {"tcp-retransmit", {kTcp}, {kTcp}},
    {"tcp-overlap-same", {kTcp}, {kTcp}},
    {"tcp-overlap-before-real-wins", {kTcp}, {kTcp}},
    {"tcp-overlap-before-decoy-wins", {kTcpDecoy}, {kTcpDecoy}},
    {"tcp-overlap-same-start-real-wins", {kTcp}, {kTcp}},
    {"tcp-overlap-same-start-decoy-wins", {kTcpDecoy}, {kTcpDecoy}},
    {"tcp-overlap-after-real-wins", {kTcp}, {kTcp}},
    {"tcp-overlap-after-decoy-wins", {kTcpDecoy}, {kTcpDecoy}},
    {"tcp-seq-wrap", {kTcp}, {kTcp}},
    // Suricata misses a marker whose tail rides in the FIN segment (see evasion.json).
    {"tcp-fin-data", {}, {kTcp}},
    // Policies, not misses: data after RST, no handshake (midstream off), beyond the 1 MiB
    // depth. Beyond the depth Suricata still inspects single packets.
    {"tcp-rst-mid", {}, {}},
    {"tcp-midstream", {}, {}},
    {"tcp-beyond-depth", {}, {}},
    {"tcp-beyond-depth-whole-packet", {kTcp}, {}},
    {"ipv4-frag-tcp", {kTcp}, {kTcp}},
    {"ipv4-frag-tcp-reverse", {kTcp}, {kTcp}},
    {"udp-baseline", {kUdp}, {kUdp}},
    {"ipv4-frag-udp", {kUdp}, {kUdp}},
    {"ipv4-frag-udp-reverse", {kUdp}, {kUdp}},
    {"ipv4-frag-udp-tiny", {kUdp}, {kUdp}},
    {"ipv4-frag-udp-overlap-real-wins", {kUdp}, {kUdp}},
    // IPv4 destinations get Suricata's "windows" defrag policy (suricata.yaml host-os-policy).
    {"ipv4-frag-udp-overlap-same-end", {kUdpDecoy}, {kUdpDecoy}},
    {"ipv4-frag-udp-overlap-decoy-wins", {kUdpDecoy}, {kUdpDecoy}},
    {"ipv6-frag-udp", {kUdp}, {kUdp}},
    {"ipv6-frag-udp-reverse", {kUdp}, {kUdp}},
    {"ipv6-frag-udp-overlap-same-end", {kUdp}, {kUdp}},
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::string Suricata() {
  for (const char* p : {"/usr/bin/suricata", "/usr/local/bin/suricata"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

// One textual form per address, whichever way an engine prints it (IPv6 zero compression).
std::string CanonicalIp(const std::string& ip) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  const int af = ip.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  if (inet_pton(af, ip.c_str(), buf) != 1 || !inet_ntop(af, buf, out, sizeof(out))) return ip;
  return out;
}

using AlertPair = std::pair<uint32_t, Tuple>;

std::set<AlertPair> AlertPairs(const Eve& eve) {
  std::set<AlertPair> out;
  for (const auto& a : eve.alerts) {
    Tuple t = a.tuple;
    t.src_ip = CanonicalIp(t.src_ip);
    t.dest_ip = CanonicalIp(t.dest_ip);
    out.insert({a.sid, Unordered(t)});
  }
  return out;
}

std::string Show(const std::set<AlertPair>& pairs) {
  std::string out;
  for (const auto& [sid, t] : pairs) out += fmt::format("  {} on {}\n", sid, t.ToString());
  return out.empty() ? "  (none)\n" : out;
}

class EvasionTest : public ::testing::TestWithParam<Case> {
 protected:
  // The captures are generated once per test process (ctest runs each case in its own).
  static void SetUpTestSuite() {
    dir_ = MakeTempDir("evasion");
    auto r = RunProcess({BinDir() + "/flowsentry-pcapgen", "evasion", "--out", dir_ + "/cap"}, 120);
    generated_ = r.exit_code == 0;
    generate_error_ = r.err + r.out;
    if (!generated_) return;
    manifest_ = nlohmann::json::parse(ReadFile(dir_ + "/cap/evasion.json"), nullptr, false);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  const nlohmann::json* Manifest(const std::string& name) const {
    if (!manifest_.is_object()) return nullptr;
    for (const auto& c : manifest_["cases"]) {
      if (c.value("name", "") == name) return &c;
    }
    return nullptr;
  }

  // Runs the sensor on the case; returns its alert pairs (fails the test on a bad exit).
  std::set<AlertPair> RunSensor(const Case& c, const std::string& out_dir) {
    std::filesystem::create_directories(out_dir);
    auto f = RunProcess({BinDir() + "/flowsentry", "--pcap", dir_ + "/cap/" + c.name + ".pcap",
                         "--rules", dir_ + "/cap/evasion.rules", "--eve", out_dir + "/eve.json",
                         "--metrics-listen", "", "--workers", "2", "--no-summary"},
                        120);
    EXPECT_EQ(f.exit_code, 0) << f.err;
    return AlertPairs(ReadEve(out_dir + "/eve.json"));
  }

  // (sid, flow) pairs for the case's one conversation.
  std::set<AlertPair> PairsOf(const Case& c, const std::vector<uint32_t>& sids) const {
    const nlohmann::json* m = Manifest(c.name);
    std::set<AlertPair> out;
    if (m == nullptr) return out;
    Tuple t;
    t.proto = m->value("proto", "") == "tcp" ? "TCP" : "UDP";
    t.src_ip = CanonicalIp(m->value("client_ip", ""));
    t.src_port = m->value("client_port", 0);
    t.dest_ip = CanonicalIp(m->value("server_ip", ""));
    t.dest_port = m->value("server_port", 0);
    for (uint32_t sid : sids) out.insert({sid, Unordered(t)});
    return out;
  }

  static inline std::string dir_;
  static inline bool generated_ = false;
  static inline std::string generate_error_;
  static inline nlohmann::json manifest_;
};

// The generator's evasion.json and this table describe the same cases with the same verdicts.
TEST(EvasionManifestTest, GeneratorAndTableAgree) {
  const std::string dir = MakeTempDir("evasion-manifest");
  auto r = RunProcess({BinDir() + "/flowsentry-pcapgen", "evasion", "--out", dir}, 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(ReadFile(dir + "/evasion.json"), nullptr, false);
  ASSERT_TRUE(j.is_object());
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& c : j["cases"]) by_name[c.value("name", "")] = c;
  EXPECT_EQ(by_name.size(), kCases.size());
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(by_name.count(c.name));
    const auto& m = by_name[c.name];
    EXPECT_EQ(m["suricata_sids"].get<std::vector<uint32_t>>(), c.suricata);
    EXPECT_EQ(m["must_alert_sids"].get<std::vector<uint32_t>>(), c.must_alert);
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + m.value("file", "")));
  }
  std::filesystem::remove_all(dir);
}

TEST_P(EvasionTest, SameAlertsAsSuricata) {
  const Case& c = GetParam();
  ASSERT_TRUE(generated_) << generate_error_;
  ASSERT_NE(Manifest(c.name), nullptr) << "evasion.json lacks " << c.name;
  const std::string suricata = Suricata();
  if (suricata.empty()) {
    GTEST_SKIP() << "suricata is not installed: parity not checked (the delivered-marker test "
                    "still runs)";
  }
  const std::string cap = dir_ + "/cap/" + c.name + ".pcap";
  const std::string sdir = dir_ + "/" + c.name + "-suricata";
  std::filesystem::create_directories(sdir);
  auto s = RunProcess({suricata, "-r", cap, "-l", sdir, "-k", "none", "--runmode", "single", "-S",
                       dir_ + "/cap/evasion.rules"},
                      120);
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  const std::set<AlertPair> theirs = AlertPairs(ReadEve(sdir + "/eve.json"));
  const std::set<AlertPair> ours = RunSensor(c, dir_ + "/" + c.name + "-flowsentry");

  // Suricata still behaves as recorded (a new Suricata version would show up here first).
  EXPECT_EQ(theirs, PairsOf(c, c.suricata)) << c.name << ": Suricata's verdict changed:\n"
                                            << Show(theirs);
  // Ours: Suricata's, plus what Suricata misses although the endpoint receives it.
  std::set<AlertPair> expected = theirs;
  for (const auto& p : PairsOf(c, c.must_alert)) expected.insert(p);
  EXPECT_EQ(ours, expected) << c.name << "\nSuricata alerted on:\n"
                            << Show(theirs) << "flowsentry alerted on:\n"
                            << Show(ours);
}

// Without Suricata: a marker that reaches the endpoint (split, reordered, retransmitted,
// overlapped with the marker winning, fragmented) alerts, on the case's flow.
TEST_P(EvasionTest, DeliveredMarkerAlerts) {
  const Case& c = GetParam();
  ASSERT_TRUE(generated_) << generate_error_;
  if (c.must_alert.empty()) GTEST_SKIP() << c.name << ": nothing must alert (policy case)";
  const std::set<AlertPair> ours = RunSensor(c, dir_ + "/" + c.name + "-delivered");
  for (const auto& p : PairsOf(c, c.must_alert)) {
    EXPECT_TRUE(ours.count(p)) << c.name << ": no alert " << p.first << " on "
                               << p.second.ToString() << "; flowsentry alerted on:\n"
                               << Show(ours);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, EvasionTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string n = info.param.name;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace fs::testing
