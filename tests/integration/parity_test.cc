// Parity with Suricata 7 on the public captures in ../shared/data/captures: the same TCP and UDP
// flows with the same packet and byte counts per direction, and a one-rule file alerting on the
// same (signature, flow) pairs. Skips with a message when ../shared or suricata is absent.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "tests/integration/eve_reader.h"
#include "tests/support/process.h"

namespace fs::testing {
namespace {

struct Case {
  std::string file;
  std::string content;  // a content that occurs in the capture (Suricata rule syntax)
  std::string proto = "tcp";
};

// One content per capture, chosen from bytes the capture really carries.
const std::vector<Case> kCases = {
    {"DNS.pcap", "|03|www", "udp"},
    {"Tunnels.pcap", "HTTP/1.1", "tcp"},
    {"cryptowall4_c2.pcapng", "POST", "tcp"},
    {"dns_tcp.pcapng", "|00 01 00 00 00 00 00 00|", "tcp"},
    {"eternalblue-success-unpatched-win7.pcap", "|ff|SMB", "tcp"},
    {"http_espn.pcapng", "GET /", "tcp"},
    {"http_ip4and6.pcapng", "GET /", "tcp"},
    {"http_post.pcapng", "POST", "tcp"},
    {"ip_frag_source.pcapng", "|00 00|", "udp"},
    {"ipv6_fragments.pcapng", "|00 00|", "udp"},
    {"psexec_cmd.pcap.gz", "P|00|S|00|E|00|X|00|E|00|S|00|V|00|C|00|", "tcp"},
    {"rdp-then-wmiexec.pcap", "Cookie|3a| mstshash=", "tcp"},
    {"remcom.pcap", "|fe|SMB", "tcp"},
    {"smb_mimikatz_copy_to_host.pcap", "|fe|SMB", "tcp"},
    {"synscan.pcapng", "|00|", "tcp"},
    {"tcp_retransmissions.pcapng", "HTTP", "tcp"},
};

std::string Suricata() {
  for (const char* p : {"/usr/bin/suricata", "/usr/local/bin/suricata"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

struct FlowCounts {
  Tuple tuple;
  uint64_t pts, ptc, bts, btc;
  auto operator<=>(const FlowCounts&) const = default;
};

std::multiset<FlowCounts> TcpUdpFlows(const Eve& eve) {
  std::multiset<FlowCounts> out;
  for (const auto& f : eve.flows) {
    if (f.tuple.proto != "TCP" && f.tuple.proto != "UDP") continue;
    out.insert({f.tuple, f.pkts_toserver, f.pkts_toclient, f.bytes_toserver, f.bytes_toclient});
  }
  return out;
}

std::set<std::pair<uint32_t, Tuple>> AlertPairs(const Eve& eve) {
  std::set<std::pair<uint32_t, Tuple>> out;
  for (const auto& a : eve.alerts) out.insert({a.sid, Unordered(a.tuple)});
  return out;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.file; }

class ParityTest : public ::testing::TestWithParam<Case> {};

TEST_P(ParityTest, FlowsAndAlertsMatchSuricata) {
  const Case& c = GetParam();
  const std::string shared = SharedDir();
  if (shared.empty()) GTEST_SKIP() << "../shared/data is absent: parity with Suricata not checked";
  const std::string suricata = Suricata();
  if (suricata.empty()) GTEST_SKIP() << "suricata is not installed (tools/install-deps.sh --with-suricata)";
  std::string capture = shared + "/data/captures/" + c.file;
  ASSERT_TRUE(std::filesystem::exists(capture)) << capture;

  const std::string dir = MakeTempDir("parity");
  if (c.file.ends_with(".gz")) {
    const std::string plain = dir + "/capture.pcap";
    ASSERT_EQ(RunProcess({"/bin/sh", "-c", fmt::format("gzip -dc '{}' > '{}'", capture, plain)}).exit_code, 0);
    capture = plain;
  }
  const std::string rules = dir + "/one.rules";
  std::ofstream(rules) << fmt::format(
      "alert {} any any -> any any (msg:\"parity {}\"; content:\"{}\"; sid:1000001; rev:1;)\n",
      c.proto, c.file, c.content);

  const std::string sdir = dir + "/suricata";
  std::filesystem::create_directories(sdir);
  auto s = RunProcess({suricata, "-r", capture, "-l", sdir, "-k", "none", "--runmode", "single", "-S",
                       rules},
                      300);
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  auto f = RunProcess({BinDir() + "/flowsentry", "--pcap", capture, "--rules", rules, "--eve",
                       dir + "/eve.json", "--metrics-listen", "", "--workers", "2"},
                      300);
  ASSERT_EQ(f.exit_code, 0) << f.err;

  const Eve theirs = ReadEve(sdir + "/eve.json");
  const Eve ours = ReadEve(dir + "/eve.json");
  const auto tf = TcpUdpFlows(theirs), of = TcpUdpFlows(ours);
  std::vector<FlowCounts> only_theirs, only_ours;
  std::set_difference(tf.begin(), tf.end(), of.begin(), of.end(), std::back_inserter(only_theirs));
  std::set_difference(of.begin(), of.end(), tf.begin(), tf.end(), std::back_inserter(only_ours));
  auto show = [](const std::vector<FlowCounts>& v) {
    std::string out;
    for (size_t i = 0; i < v.size() && i < 15; ++i) {
      out += fmt::format("  {} pkts {}/{} bytes {}/{}\n", v[i].tuple.ToString(), v[i].pts, v[i].ptc,
                         v[i].bts, v[i].btc);
    }
    if (v.size() > 15) out += fmt::format("  ... {} more\n", v.size() - 15);
    return out;
  };
  RecordProperty("suricata_flows", static_cast<int>(tf.size()));
  RecordProperty("flowsentry_flows", static_cast<int>(of.size()));
  EXPECT_TRUE(only_theirs.empty() && only_ours.empty())
      << c.file << ": " << tf.size() << " Suricata TCP/UDP flows, " << of.size() << " ours\n"
      << "only in Suricata's:\n" << show(only_theirs) << "only in ours:\n" << show(only_ours);

  const auto ta = AlertPairs(theirs), oa = AlertPairs(ours);
  EXPECT_EQ(ta, oa) << c.file << ": Suricata alerted on " << ta.size() << " (sid, flow) pairs, we on "
                    << oa.size();
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(SharedCaptures, ParityTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           std::string n;
                           for (char ch : i.param.file) n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return n;
                         });

}  // namespace
}  // namespace fs::testing
