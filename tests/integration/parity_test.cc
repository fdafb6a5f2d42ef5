// Parity with Suricata 7 on the public captures in ../shared/data/captures: the same TCP and UDP
// flows with the same packet and byte counts per direction, and a one-rule file alerting on the
// same (signature, flow) pairs; and the app-layer records (http, dns, tls, smb) per flow on a
// field set. Skips with a message when ../shared or suricata is absent.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "patterns/rule_parser.h"
#include "tests/integration/eve_reader.h"
#include "tests/support/process.h"

namespace fs::testing {
namespace {

struct Case {
  std::string file;
  std::string content;  // a content that occurs in the capture (Suricata rule syntax)
  std::string proto = "tcp";
  // Known, explained differences (docs/parity.md): flow lines exactly as FlowLine() prints them.
  std::vector<std::string> known_only_suricata = {};
  std::vector<std::string> known_only_ours = {};
  // ET Open alert pairs only one side has, explained (docs/rules.md "Detection parity"), as
  // ExpectSameAlertPairs prints them: "sid N TUPLE". Each must still occur (a fix shows up).
  std::vector<std::string> et_known_only_ours = {};
};

// One content per capture, chosen from bytes the capture really carries.
const std::vector<Case> kCases = {
    // Suricata's DNS parser reverses a flow whose first packet is a response (no app-layer
    // parsing yet here). (Its fragmented DNS responses are reassembled as Suricata does.)
    // ET: sid 2016877 (an http.user_agent rule with `threshold: type limit, count 2, by_src`)
    // alerts on three flows of one client here, two in Suricata: the test runs two workers and
    // thresholds count per worker (docs/rules-conditions.md); with one worker the pairs agree.
    {"DNS.pcap",
     "|03|www",
     "udp",
     {"UDP 10.20.1.31:53 -> 207.158.192.40:53 pkts 0/2 bytes 0/1428"},
     {"UDP 207.158.192.40:53 -> 10.20.1.31:53 pkts 2/0 bytes 1428/0"},
     {"sid 2016877 TCP 128.121.50.122:80 -> 192.168.0.114:3551"}},
    // GTP-U (UDP 2152) carried in IP fragments: reassembled, flows as Suricata's.
    {"Tunnels.pcap", "HTTP/1.1", "tcp"},
    {"cryptowall4_c2.pcapng", "POST", "tcp"},
    {"dns_tcp.pcapng", "|00 01 00 00 00 00 00 00|", "tcp"},
    // ET: sid 2024217 (`alert smb` with contents on the raw payload only, `threshold: type both,
    // track by_src, count 3, seconds 30`) alerts on a second flow here: thresholds count per worker
    // and the test runs two (docs/rules-conditions.md); with one worker the pairs agree.
    {"eternalblue-success-unpatched-win7.pcap",
     "|ff|SMB",
     "tcp",
     {},
     {},
     {"sid 2024217 TCP 192.168.198.203:445 -> 192.168.198.204:51133"}},
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

// Both engines' EVE for one case. The flow/alert test and the app-record test run in separate
// processes under ctest; they share one run of each engine, kept under the build tree
// (parity-runs/CASE) and redone when the binaries, the capture or the arguments change. A lock
// file serialises tests of the same case that ctest -j runs at once.
struct CaseRun {
  std::string suricata_eve, ours_eve;
};

// Suricata: Debian's default suricata.yaml, whose EVE types include http (extended), dns (v2),
// tls (extended) and smb; JA3/JA3S are turned on (the default computes them only for rules).
// flowsentry: a config with outputs.http/dns/tls/smb on.
constexpr const char* kRunVersion = "parity-run v2";
constexpr const char* kOurConfig =
    "outputs:\n  dns: true\n  http: true\n  tls: true\n  smb: true\n";

std::string FileStamp(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  const auto mtime = std::filesystem::last_write_time(path, ec).time_since_epoch().count();
  return fmt::format("{} {} {}\n", path, ec ? 0 : size, ec ? 0 : mtime);
}

::testing::AssertionResult RunCase(const Case& c, CaseRun* out) {
  std::string name;
  for (char ch : c.file) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  const std::string dir =
      (std::filesystem::path(BinDir()).parent_path() / "parity-runs" / name).string();
  std::filesystem::create_directories(dir);
  const int lock = ::open((dir + "/.lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (lock < 0) return ::testing::AssertionFailure() << "cannot open " << dir << "/.lock";
  ::flock(lock, LOCK_EX);
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }
  } unlock{lock};

  const std::string capture = SharedDir() + "/data/captures/" + c.file;
  const std::string rule = fmt::format(
      "alert {} any any -> any any (msg:\"parity {}\"; content:\"{}\"; sid:1000001; rev:1;)\n",
      c.proto, c.file, c.content);
  const std::string stamp = std::string(kRunVersion) + "\n" + rule + kOurConfig +
                            FileStamp(BinDir() + "/flowsentry") + FileStamp(Suricata()) +
                            FileStamp(capture);
  out->suricata_eve = dir + "/suricata/eve.json";
  out->ours_eve = dir + "/eve.json";
  if (ReadFile(dir + "/stamp") == stamp && std::filesystem::exists(out->suricata_eve) &&
      std::filesystem::exists(out->ours_eve)) {
    return ::testing::AssertionSuccess();
  }
  std::filesystem::remove(dir + "/stamp");
  std::filesystem::remove_all(dir + "/suricata");
  std::filesystem::remove(out->ours_eve);

  std::string input = capture;
  if (c.file.ends_with(".gz")) {
    input = dir + "/capture.pcap";
    auto z = RunProcess({"/bin/sh", "-c", fmt::format("gzip -dc '{}' > '{}'", capture, input)});
    if (z.exit_code != 0) return ::testing::AssertionFailure() << "gzip -dc " << capture;
  }
  std::ofstream(dir + "/one.rules") << rule;
  std::ofstream(dir + "/flowsentry.yaml") << kOurConfig;
  std::filesystem::create_directories(dir + "/suricata");
  auto s = RunProcess(
      {Suricata(), "-r", input, "-l", dir + "/suricata", "-k", "none", "--runmode", "single", "-S",
       dir + "/one.rules", "--set", "app-layer.protocols.tls.ja3-fingerprints=yes"},
      300);
  if (s.exit_code != 0) return ::testing::AssertionFailure() << "suricata: " << s.err << s.out;
  auto f = RunProcess(
      {BinDir() + "/flowsentry", "--config", dir + "/flowsentry.yaml", "--pcap", input, "--rules",
       dir + "/one.rules", "--eve", out->ours_eve, "--metrics-listen", "", "--workers", "2"},
      300);
  if (f.exit_code != 0) return ::testing::AssertionFailure() << "flowsentry: " << f.err;
  if (input != capture) std::filesystem::remove(input);
  std::ofstream(dir + "/stamp") << stamp;
  return ::testing::AssertionSuccess();
}

TEST_P(ParityTest, FlowsAndAlertsMatchSuricata) {
  const Case& c = GetParam();
  const std::string shared = SharedDir();
  if (shared.empty()) GTEST_SKIP() << "../shared/data is absent: parity with Suricata not checked";
  const std::string suricata = Suricata();
  if (suricata.empty())
    GTEST_SKIP() << "suricata is not installed (tools/install-deps.sh --with-suricata)";
  ASSERT_TRUE(std::filesystem::exists(shared + "/data/captures/" + c.file)) << c.file;
  CaseRun run;
  ASSERT_TRUE(RunCase(c, &run));

  const Eve theirs = ReadEve(run.suricata_eve);
  const Eve ours = ReadEve(run.ours_eve);
  const auto tf = TcpUdpFlows(theirs), of = TcpUdpFlows(ours);
  std::vector<FlowCounts> only_theirs, only_ours;
  std::set_difference(tf.begin(), tf.end(), of.begin(), of.end(), std::back_inserter(only_theirs));
  std::set_difference(of.begin(), of.end(), tf.begin(), tf.end(), std::back_inserter(only_ours));
  auto lines = [](const std::vector<FlowCounts>& v) {
    std::vector<std::string> out;
    for (const auto& f : v) {
      out.push_back(
          fmt::format("{} pkts {}/{} bytes {}/{}", f.tuple.ToString(), f.pts, f.ptc, f.bts, f.btc));
    }
    return out;
  };
  auto show = [](const std::vector<std::string>& v) {
    std::string out;
    for (size_t i = 0; i < v.size() && i < 20; ++i) out += "  \"" + v[i] + "\",\n";
    if (v.size() > 20) out += fmt::format("  ... {} more\n", v.size() - 20);
    return out;
  };
  RecordProperty("suricata_flows", static_cast<int>(tf.size()));
  RecordProperty("flowsentry_flows", static_cast<int>(of.size()));
  const auto lt = lines(only_theirs), lo = lines(only_ours);
  EXPECT_TRUE(lt == c.known_only_suricata && lo == c.known_only_ours)
      << c.file << ": " << tf.size() << " Suricata TCP/UDP flows, " << of.size() << " ours; "
      << c.known_only_suricata.size() + c.known_only_ours.size() << " known differences\n"
      << "only in Suricata's:\n"
      << show(lt) << "only in ours:\n"
      << show(lo);

  const auto ta = AlertPairs(theirs), oa = AlertPairs(ours);
  EXPECT_EQ(ta, oa) << c.file << ": Suricata alerted on " << ta.size()
                    << " (sid, flow) pairs, we on " << oa.size();
}

// ---------------------------------------------------------------------------------------------
// App-layer records (http, dns, tls, smb), compared per flow on a field set (docs/parity.md).

using Json = nlohmann::json;

// Copies the listed members of `from` that exist into a new object.
Json Pick(const Json& from, std::initializer_list<const char*> keys) {
  Json out = Json::object();
  for (const char* k : keys) {
    if (from.contains(k)) out[k] = from[k];
  }
  return out;
}

bool IsAny(const std::string& v, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (v == n) return true;
  }
  return false;
}

// SMB commands that flowsentry writes (docs/app-layer.md "SMB"); the others (READ, WRITE, FIND,
// QUERY_INFO, ECHO, TRANS2, ...) are not written unless they carry DCERPC, so they are left out
// on both sides. Of these, NEGOTIATE, TREE_CONNECT and CREATE are written at their response, as
// Suricata does; the rest at their request (no status), with a second record only when the
// response fails: their status is not compared, and our failure records are left out.
bool SmbCompared(const std::string& cmd) {
  return IsAny(
      cmd,
      {"SMB2_COMMAND_NEGOTIATE_PROTOCOL", "SMB2_COMMAND_SESSION_SETUP", "SMB2_COMMAND_TREE_CONNECT",
       "SMB2_COMMAND_CREATE", "SMB2_COMMAND_CLOSE", "SMB2_COMMAND_SESSION_LOGOFF",
       "SMB2_COMMAND_TREE_DISCONNECT", "SMB2_COMMAND_SET_INFO", "SMB2_COMMAND_IOCTL",
       "SMB1_COMMAND_NEGOTIATE_PROTOCOL", "SMB1_COMMAND_SESSION_SETUP_ANDX",
       "SMB1_COMMAND_TREE_CONNECT_ANDX", "SMB1_COMMAND_NT_CREATE_ANDX", "SMB1_COMMAND_CLOSE",
       "SMB1_COMMAND_LOGOFF_ANDX", "SMB1_COMMAND_TREE_DISCONNECT"});
}
bool SmbAtResponse(const std::string& cmd) {
  return IsAny(cmd, {"SMB2_COMMAND_NEGOTIATE_PROTOCOL", "SMB2_COMMAND_TREE_CONNECT",
                     "SMB2_COMMAND_CREATE", "SMB1_COMMAND_NEGOTIATE_PROTOCOL",
                     "SMB1_COMMAND_TREE_CONNECT_ANDX", "SMB1_COMMAND_NT_CREATE_ANDX"});
}

// The compared view of one app record, or null to leave the record out.
Json AppView(const std::string& type, const Json& rec, bool ours) {
  if (!rec.contains(type) || !rec[type].is_object()) return Json::object();
  const Json& r = rec[type];
  if (type == "http") {
    return Pick(r, {"hostname", "http_port", "url", "http_method", "protocol", "status",
                    "http_user_agent", "http_content_type", "length", "http_refer", "redirect"});
  }
  if (type == "dns") {
    Json v = Pick(r, {"type", "id", "rrname", "rrtype", "rcode"});
    if (r.contains("answers")) {
      for (const Json& a : r["answers"])
        v["answers"].push_back(Pick(a, {"rrname", "rrtype", "rdata"}));
    }
    return v;
  }
  if (type == "tls") {
    Json v = Pick(r, {"sni", "version", "subject", "issuerdn", "serial", "fingerprint", "notbefore",
                      "notafter"});
    for (const char* k : {"ja3", "ja3s"}) {
      if (r.contains(k) && r[k].contains("hash")) v[k] = r[k]["hash"];
    }
    return v;
  }
  if (type == "smb") {
    const std::string cmd = r.value("command", "");
    const bool dcerpc = r.contains("dcerpc");
    if (!dcerpc && !SmbCompared(cmd)) return nullptr;
    if (ours && !dcerpc && !SmbAtResponse(cmd) && r.contains("status")) return nullptr;
    Json v = Pick(r, {"command", "dialect", "filename", "directory", "share", "named_pipe"});
    if (SmbAtResponse(cmd)) {
      if (r.contains("status")) v["status"] = r["status"];
    }
    if (r.contains("ntlmssp")) v["ntlmssp"] = Pick(r["ntlmssp"], {"user", "domain", "host"});
    if (dcerpc) {
      Json d = Pick(r["dcerpc"], {"opnum"});
      if (r["dcerpc"].contains("interfaces")) {
        for (const Json& i : r["dcerpc"]["interfaces"]) {
          d["interfaces"].push_back(Pick(i, {"uuid", "version"}));
        }
      }
      v["dcerpc"] = d;
    }
    return v;
  }
  return nullptr;
}

// One line per compared record: "TYPE PROTO SRC:PORT -> DEST:PORT {view}" (view keys sorted).
std::multiset<std::string> AppLines(const std::string& eve_path, bool ours) {
  std::multiset<std::string> out;
  for (const Json& j : ReadEve(eve_path).all) {
    const std::string type = j.value("event_type", "");
    if (!IsAny(type, {"http", "dns", "tls", "smb"})) continue;
    const Json v = AppView(type, j, ours);
    if (v.is_null()) continue;
    out.insert(type + " " + TupleOf(j).ToString() + " " +
               v.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  return out;
}

// A known, explained difference in app records (docs/parity.md "App-layer records"): the
// compared lines of one side that only that side has and that match `pattern` (ECMAScript,
// searched). Exactly `count` lines must match, so that a fix (or a new case) shows up.
struct AppKnown {
  std::string file;
  bool ours;  // the lines are only in ours (else only in Suricata's)
  std::string pattern;
  size_t count;
};

const std::vector<AppKnown> kAppKnown = {
    // Flows whose only packets are DNS responses from port 53 to another port: Suricata's probe
    // looks for DNS on the destination port of the first packet, finds none (app_proto
    // "failed") and logs nothing; flowsentry logs the answers (a one-way mirror shows them).
    {"DNS.pcap", true, R"(^dns UDP \S+:53 -> \S+:(?!53 )\d+ )", 465},
    // The flow Suricata reverses (its first packet is a response; see the flow list above).
    {"DNS.pcap", false, R"(^dns UDP 10\.20\.1\.31:53 -> 207\.158\.192\.40:53 )", 2},
    {"DNS.pcap", true, R"(^dns UDP 207\.158\.192\.40:53 -> 10\.20\.1\.31:53 )", 2},
    // Answers past the 8th are not in our record (the app-record slot is bounded).
    {"DNS.pcap", false, R"(^dns TCP 172\.16\.16\.164:1108 )", 1},
    {"DNS.pcap", true, R"(^dns TCP 172\.16\.16\.164:1108 )", 1},
    {"http_espn.pcapng", false, R"(^dns UDP 172\.16\.0\.122:46890 )", 1},
    {"http_espn.pcapng", true, R"(^dns UDP 172\.16\.0\.122:46890 )", 1},
    // HTTP "length": Suricata's is libhtp's response_message_len; ours differs on these
    // responses (chunked or cut bodies), and values past the field caps (http_refer and
    // redirect 256 bytes) are cut in ours; in http_espn one pipelined response is not paired.
    {"DNS.pcap", false, R"(^http )", 2},
    {"DNS.pcap", true, R"(^http )", 2},
    {"cryptowall4_c2.pcapng", false, R"(^http )", 3},
    {"cryptowall4_c2.pcapng", true, R"(^http )", 3},
    {"http_espn.pcapng", false, R"(^http )", 10},
    {"http_espn.pcapng", true, R"(^http )", 10},
    // SMB1: Suricata's dialect is the negotiated dialect string ("NT LM 0.12"), ours "unknown";
    // its IPC$ path has one leading backslash.
    {"eternalblue-success-unpatched-win7.pcap", false, R"(^smb .*"dialect":"NT LM 0\.12")", 16},
    {"eternalblue-success-unpatched-win7.pcap", true, R"(^smb .*"dialect":"unknown")", 16},
    // An SMB1 NEGOTIATE answered in SMB2: Suricata names the request's command, we the
    // response's.
    {"psexec_cmd.pcap.gz", false, R"(^smb .*"SMB1_COMMAND_NEGOTIATE_PROTOCOL")", 1},
    {"psexec_cmd.pcap.gz", true, R"(^smb .*"SMB2_COMMAND_NEGOTIATE_PROTOCOL","dialect":"2\.\?\?")",
     1},
    {"rdp-then-wmiexec.pcap", false, R"(^smb .*"SMB1_COMMAND_NEGOTIATE_PROTOCOL")", 1},
    {"rdp-then-wmiexec.pcap", true,
     R"(^smb .*"SMB2_COMMAND_NEGOTIATE_PROTOCOL","dialect":"2\.\?\?")", 1},
    // DCERPC requests: Suricata lists the bound interfaces with versions, we the one interface
    // of the call's context without version.
    {"rdp-then-wmiexec.pcap", false, R"(^smb .*"dcerpc")", 69},
    {"rdp-then-wmiexec.pcap", true, R"(^smb .*"dcerpc")", 69},
    // SET_INFO of other classes than a rename or the delete disposition: Suricata writes no
    // record for them, we write one (without a file name).
    {"rdp-then-wmiexec.pcap", true,
     R"(^smb .*\{"command":"SMB2_COMMAND_SET_INFO","dialect":"2\.10"\}$)", 5},
    // A CREATE of a directory: Suricata says "directory", we "filename".
    {"smb_mimikatz_copy_to_host.pcap", false, R"(^smb .*"directory":"temp")", 1},
    {"smb_mimikatz_copy_to_host.pcap", true, R"(^smb .*"SMB2_COMMAND_CREATE".*"filename":"temp",)",
     1},
};

TEST_P(ParityTest, AppRecordsMatchSuricata) {
  const Case& c = GetParam();
  const std::string shared = SharedDir();
  if (shared.empty()) GTEST_SKIP() << "../shared/data is absent: parity with Suricata not checked";
  if (Suricata().empty())
    GTEST_SKIP() << "suricata is not installed (tools/install-deps.sh --with-suricata)";
  ASSERT_TRUE(std::filesystem::exists(shared + "/data/captures/" + c.file)) << c.file;
  CaseRun run;
  ASSERT_TRUE(RunCase(c, &run));

  const auto theirs = AppLines(run.suricata_eve, false), ours = AppLines(run.ours_eve, true);
  std::vector<std::string> only_theirs, only_ours;
  std::set_difference(theirs.begin(), theirs.end(), ours.begin(), ours.end(),
                      std::back_inserter(only_theirs));
  std::set_difference(ours.begin(), ours.end(), theirs.begin(), theirs.end(),
                      std::back_inserter(only_ours));
  for (const AppKnown& k : kAppKnown) {
    if (k.file != c.file) continue;
    std::vector<std::string>& side = k.ours ? only_ours : only_theirs;
    const std::regex re(k.pattern);
    const auto matched = std::count_if(
        side.begin(), side.end(), [&](const std::string& l) { return std::regex_search(l, re); });
    EXPECT_EQ(static_cast<size_t>(matched), k.count)
        << c.file << ": the known difference /" << k.pattern << "/ (only in "
        << (k.ours ? "ours" : "Suricata's") << ") now matches " << matched
        << " lines: update the list in kAppKnown and docs/parity.md";
    std::erase_if(side, [&](const std::string& l) { return std::regex_search(l, re); });
  }
  auto show = [](const std::vector<std::string>& v) {
    std::string out;
    for (size_t i = 0; i < v.size() && i < 30; ++i) out += "  " + v[i].substr(0, 600) + "\n";
    if (v.size() > 30) out += fmt::format("  ... {} more\n", v.size() - 30);
    return out;
  };
  RecordProperty("suricata_app_records", static_cast<int>(theirs.size()));
  RecordProperty("flowsentry_app_records", static_cast<int>(ours.size()));
  EXPECT_TRUE(only_theirs.empty() && only_ours.empty())
      << c.file << ": " << theirs.size() << " compared Suricata app records, " << ours.size()
      << " ours\nonly in Suricata's:\n"
      << show(only_theirs) << "only in ours:\n"
      << show(only_ours);
}

// The ET Open rules flowsentry accepts, run by both engines on every shared capture: the same
// (sid, flow) alert pairs. Differences that are understood are listed (docs/rules.md).
class EtOpenParityTest : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    const std::string shared = SharedDir();
    if (shared.empty()) return;
    auto parsed = patterns::LoadRules({shared + "/data/rules/et-open"}, patterns::ParseOptions{});
    rules_dir_ = MakeTempDir("et-accepted");
    std::ofstream out(rules_dir_ + "/accepted.rules");
    for (const auto& r : parsed.rules) out << r.text << "\n";
    accepted_ = parsed.rules.size();
  }
  static inline std::string rules_dir_;
  static inline size_t accepted_ = 0;
};

// Runs Suricata and flowsentry with `rules` on the capture of `c`; expects equal alert pairs.
// et_known: the rules are the accepted ET Open set, whose known differences the case lists.
void ExpectSameAlertPairs(const Case& c, const std::string& rules, bool et_known = false) {
  const std::string shared = SharedDir();
  std::string capture = shared + "/data/captures/" + c.file;
  const std::string dir = MakeTempDir("etparity");
  if (c.file.ends_with(".gz")) {
    const std::string plain = dir + "/capture.pcap";
    ASSERT_EQ(RunProcess({"/bin/sh", "-c", fmt::format("gzip -dc '{}' > '{}'", capture, plain)})
                  .exit_code,
              0);
    capture = plain;
  }
  const std::string sdir = dir + "/suricata";
  std::filesystem::create_directories(sdir);
  auto s = RunProcess(
      {Suricata(), "-r", capture, "-l", sdir, "-k", "none", "--runmode", "single", "-S", rules},
      600);
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  auto f = RunProcess(
      {BinDir() + "/flowsentry", "--pcap", capture, "--rules", rules, "--eve", dir + "/eve.json",
       "--metrics-listen", "", "--workers", "2", "--log-level", "error"},
      600);
  ASSERT_EQ(f.exit_code, 0) << f.err;
  const auto theirs = AlertPairs(ReadEve(sdir + "/eve.json"));
  const auto ours = AlertPairs(ReadEve(dir + "/eve.json"));
  std::vector<std::pair<uint32_t, Tuple>> only_theirs, only_ours;
  std::set_difference(theirs.begin(), theirs.end(), ours.begin(), ours.end(),
                      std::back_inserter(only_theirs));
  std::set_difference(ours.begin(), ours.end(), theirs.begin(), theirs.end(),
                      std::back_inserter(only_ours));
  auto show = [](const std::vector<std::pair<uint32_t, Tuple>>& v) {
    std::string out;
    for (const auto& [sid, t] : v) out += fmt::format("  sid {} {}\n", sid, t.ToString());
    return out;
  };
  if (et_known) {
    for (const std::string& known : c.et_known_only_ours) {
      auto it = std::find_if(only_ours.begin(), only_ours.end(), [&](const auto& e) {
        return fmt::format("sid {} {}", e.first, e.second.ToString()) == known;
      });
      EXPECT_NE(it, only_ours.end()) << c.file << ": the known difference '" << known
                                     << "' no longer occurs: remove it from the case";
      if (it != only_ours.end()) only_ours.erase(it);
    }
  }
  ::testing::Test::RecordProperty("suricata_pairs", static_cast<int>(theirs.size()));
  ::testing::Test::RecordProperty("flowsentry_pairs", static_cast<int>(ours.size()));
  EXPECT_TRUE(only_theirs.empty() && only_ours.empty())
      << c.file << ": Suricata " << theirs.size() << " (sid, flow) pairs, ours " << ours.size()
      << "\nonly Suricata:\n"
      << show(only_theirs) << "only ours:\n"
      << show(only_ours);
  std::filesystem::remove_all(dir);
}

TEST_P(EtOpenParityTest, AcceptedEtOpenRulesAlertLikeSuricata) {
  if (SharedDir().empty()) GTEST_SKIP() << "../shared/data is absent: ET Open parity not checked";
  if (Suricata().empty())
    GTEST_SKIP() << "suricata is not installed (tools/install-deps.sh --with-suricata)";
  ASSERT_GT(accepted_, 1000u);
  ExpectSameAlertPairs(GetParam(), rules_dir_ + "/accepted.rules", /*et_known=*/true);
}

TEST_P(EtOpenParityTest, DistrictPackAlertsLikeSuricata) {
  if (SharedDir().empty()) GTEST_SKIP() << "../shared/data is absent: parity not checked";
  if (Suricata().empty())
    GTEST_SKIP() << "suricata is not installed (tools/install-deps.sh --with-suricata)";
  ExpectSameAlertPairs(GetParam(), SourceDir() + "/patterns/packs/district.rules");
}

INSTANTIATE_TEST_SUITE_P(SharedCaptures, EtOpenParityTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           std::string n;
                           for (char ch : i.param.file)
                             n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return n;
                         });

INSTANTIATE_TEST_SUITE_P(SharedCaptures, ParityTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           std::string n;
                           for (char ch : i.param.file)
                             n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return n;
                         });

}  // namespace
}  // namespace fs::testing
