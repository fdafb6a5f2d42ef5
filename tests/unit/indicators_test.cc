// Indicator lists: the line parsers (exact FILE:LINE messages), file loading, the YAML config
// entries, the IP matcher against a brute-force reference (random overlapping prefixes of every
// length, both families, several lists), a 1M-entry build, the real ET Open compromised-ips list,
// the domain matcher (exact, suffix, case) and that lookups never allocate.
//
#include "patterns/indicators.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "dataplane/scan/domain_match.h"
#include "dataplane/scan/ip_match.h"
#include "patterns/range_set.h"
#include "tests/support/alloc_counter.h"

namespace fs::patterns {
namespace {

using scan::DomainMatcher;
using scan::IpMatch;
using scan::IpMatcher;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

IndicatorListConfig Config(IndicatorType type, std::string name = "list") {
  IndicatorListConfig c;
  c.name = std::move(name);
  c.type = type;
  c.file = "lists/x.txt";
  c.msg = "test";
  c.sid = 1;
  c.severity = 2;
  return c;
}

std::vector<std::string> Strings(const std::vector<Diagnostic>& ds) {
  std::vector<std::string> out;
  for (const Diagnostic& d : ds) out.push_back(d.ToString());
  return out;
}

IpAddr Addr(const char* text) {
  auto a = IpAddr::Parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddr{});
}

// A directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (std::string("fs_indicators_") + info->name() + "_" + std::to_string(getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) const {
    const std::filesystem::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// ---- line parsers ----

struct IpCase {
  const char* text;
  const char* want;  // the prefix as ToString() prints it, or the error reason
  bool ok;
  bool host_bits = false;
};

TEST(ParseIpEntry, Table) {
  const IpCase kCases[] = {
      {"192.0.2.1", "192.0.2.1", true},
      {"192.0.2.0/24", "192.0.2.0/24", true},
      {"192.0.2.1/24", "192.0.2.0/24", true, true},
      {"192.0.2.1/32", "192.0.2.1", true},
      {"0.0.0.0/0", "0.0.0.0/0", true},
      {"255.255.255.255/1", "128.0.0.0/1", true, true},
      {"2001:db8::1", "2001:db8::1", true},
      {"2001:DB8::/32", "2001:db8::/32", true},
      {"2001:db8::1/64", "2001:db8::/64", true, true},
      {"::/0", "::/0", true},
      {"::ffff:192.0.2.0/120", "192.0.2.0/24", true},  // IPv4-mapped: one address space
      {"192.0.2.1/33", "bad prefix length '33' (0..32 for IPv4)", false},
      {"2001:db8::/129", "bad prefix length '129' (0..128 for IPv6)", false},
      {"192.0.2.0/", "bad prefix length '' (0..32 for IPv4)", false},
      {"192.0.2.0/-1", "bad prefix length '-1' (0..32 for IPv4)", false},
      {"192.0.2.0/24/8", "bad prefix length '24/8' (0..32 for IPv4)", false},
      {"192.0.2.0/255.255.255.0", "bad prefix length '255.255.255.0' (0..32 for IPv4)", false},
      {"192.0.2.256", "not an IP address or CIDR block: '192.0.2.256'", false},
      {"192.0.2", "not an IP address or CIDR block: '192.0.2'", false},
      {"01.2.3.4", "not an IP address or CIDR block: '01.2.3.4'", false},
      {"192.0.2.1,100", "not an IP address or CIDR block: '192.0.2.1,100'", false},
      {"fe80::1%eth0", "not an IP address or CIDR block: 'fe80::1%eth0'", false},
      {"evil.example",
       "not an IP address or CIDR block: 'evil.example' (domain names go in a list of type "
       "domain)",
       false},
      {"192.0.2.1-192.0.2.9",
       "address ranges are not supported, write CIDR blocks: '192.0.2.1-192.0.2.9'", false},
      {"192.0.2.1 192.0.2.2", "unexpected text after the address: '192.0.2.2'", false},
      {"192.0.2.1\t; note", "unexpected text after the address: '; note'", false},
  };
  for (const IpCase& c : kCases) {
    SCOPED_TRACE(c.text);
    IpPrefix p;
    bool host_bits = false;
    std::string reason;
    ASSERT_EQ(ParseIpEntry(c.text, &p, &host_bits, &reason), c.ok) << reason;
    if (c.ok) {
      EXPECT_EQ(p.ToString(), c.want);
      EXPECT_EQ(host_bits, c.host_bits);
    } else {
      EXPECT_EQ(reason, c.want);
    }
  }
}

struct DomainCase {
  const char* text;
  const char* want;  // DomainEntry::ToString() or the error reason
  bool ok;
};

TEST(ParseDomainEntry, Table) {
  const std::string label63(63, 'a');
  const std::string label64(64, 'a');
  const std::string long_name = label63 + "." + label63 + "." + label63 + "." + label63;  // 255
  const DomainCase kCases[] = {
      {"evil.example", "evil.example", true},
      {"Evil.EXAMPLE", "evil.example", true},
      {"evil.example.", "evil.example", true},
      {"*.evil.example", "*.evil.example", true},
      {".evil.example", "*.evil.example", true},
      {"*.Evil.Example.", "*.evil.example", true},
      {"xn--bcher-kva.example", "xn--bcher-kva.example", true},
      {"_dmarc.school.example", "_dmarc.school.example", true},
      {"a-b.c9.example", "a-b.c9.example", true},
      {"localhost", "localhost", true},
      {"*.zip", "*.zip", true},
      {"evil..example", "empty label in 'evil..example'", false},
      {"a*.example", "a wildcard is only allowed as a leading '*.': 'a*.example'", false},
      {"*.*.example", "a wildcard is only allowed as a leading '*.': '*.*.example'", false},
      {"*", "a wildcard is only allowed as a leading '*.': '*'", false},
      {"*.", "no name: '*.'", false},
      {".", "no name: '.'", false},
      {"-evil.example", "label starts or ends with '-' in '-evil.example'", false},
      {"evil-.example", "label starts or ends with '-' in 'evil-.example'", false},
      {"ev!l.example", "invalid character '!' in 'ev!l.example'", false},
      {"evil.example:443", "invalid character ':' in 'evil.example:443'", false},
      {"http://evil.example/x",
       "looks like a URL, write the host name alone: 'http://evil.example/x'", false},
      {"b\xc3\xbc"
       "cher.example",
       "non-ASCII name, write internationalized names in punycode (xn--...): "
       "'b\\xc3\\xbccher.example'",
       false},
      {"192.0.2.1", "an IP address, put it in a list of type ip: '192.0.2.1'", false},
      {"2001:db8::1", "an IP address, put it in a list of type ip: '2001:db8::1'", false},
      {"1.2.3", "not a domain name (the last label is all digits): '1.2.3'", false},
      {"0.0.0.0 evil.example",
       "hosts-file lines ('0.0.0.0 name') are not supported, write the name alone: '0.0.0.0 "
       "evil.example'",
       false},
      {"evil.example extra", "unexpected text after the name: 'extra'", false},
  };
  for (const DomainCase& c : kCases) {
    SCOPED_TRACE(c.text);
    DomainEntry d;
    std::string reason;
    ASSERT_EQ(ParseDomainEntry(c.text, &d, &reason), c.ok) << reason;
    EXPECT_EQ(c.ok ? d.ToString() : reason, c.want);
  }
  // Length limits: 63 per label, 253 in all (without the trailing dot).
  DomainEntry d;
  std::string reason;
  EXPECT_TRUE(ParseDomainEntry(label63 + ".example", &d, &reason)) << reason;
  EXPECT_FALSE(ParseDomainEntry(label64 + ".example", &d, &reason));
  EXPECT_THAT(reason, HasSubstr("label longer than 63 characters in 'aaaa"));
  EXPECT_TRUE(ParseDomainEntry(long_name.substr(0, 253), &d, &reason)) << reason;
  EXPECT_TRUE(ParseDomainEntry(long_name.substr(0, 253) + ".", &d, &reason)) << reason;
  EXPECT_FALSE(ParseDomainEntry(long_name.substr(0, 254), &d, &reason));
  EXPECT_THAT(reason, HasSubstr("name longer than 253 characters (254): 'aaaa"));
  EXPECT_THAT(reason, HasSubstr("...'"));  // quoted text is cut short
}

// ---- list files ----

TEST(ParseIndicatorList, IpListDiagnosticsAndStats) {
  const std::string text =
      "# district blocklist\n"         // 1
      "192.0.2.1\n"                    // 2
      "192.0.2.0/24   # a subnet\n"    // 3
      "bad-entry\n"                    // 4
      "\n"                             // 5
      "10.0.0.1/8\n"                   // 6
      "10.0.0.0/8\n"                   // 7 duplicate after masking
      "192.0.2.1\n"                    // 8 duplicate
      "2001:db8::/32\r\n"              // 9 CRLF
      "  2001:DB8::/33 # trailing \n"  // 10
      "1.2.3.4/40\n"                   // 11
      "   # indented comment\n"        // 12
      "evil.example\n";                // 13
  const IndicatorList list = ParseIndicatorList(text, "lists/ips.txt", Config(IndicatorType::kIp));
  EXPECT_THAT(Strings(list.errors),
              ElementsAre("lists/ips.txt:4: not an IP address or CIDR block: 'bad-entry'",
                          "lists/ips.txt:11: bad prefix length '40' (0..32 for IPv4)",
                          "lists/ips.txt:13: not an IP address or CIDR block: 'evil.example' "
                          "(domain names go in a list of type domain)"));
  EXPECT_THAT(Strings(list.warnings),
              ElementsAre("lists/ips.txt:6: host bits set in '10.0.0.1/8', using 10.0.0.0/8"));
  std::vector<std::string> prefixes;
  for (const IpPrefix& p : list.prefixes) prefixes.push_back(p.ToString());
  EXPECT_THAT(prefixes, ElementsAre("10.0.0.0/8", "192.0.2.0/24", "192.0.2.1", "2001:db8::/32",
                                    "2001:db8::/33"));
  EXPECT_EQ(list.stats.lines, 13u);
  EXPECT_EQ(list.stats.entries, 5u);
  EXPECT_EQ(list.stats.duplicates, 2u);
  EXPECT_EQ(list.stats.host_bits, 1u);
  EXPECT_EQ(list.stats.bad_lines, 3u);
  EXPECT_THAT(list.domains, IsEmpty());
}

TEST(ParseIndicatorList, DomainListDiagnosticsAndStats) {
  const std::string text =
      "\xEF\xBB\xBF"
      "evil.example\n"        // 1 (after a UTF-8 BOM)
      "*.Bad.Example # c2\n"  // 2
      "EVIL.example.\n"       // 3 duplicate
      "http://x.example/\n"   // 4
      ".bad.example\n"        // 5 duplicate of 2
      "bad.example\n"         // 6 exact and suffix are different entries
      "\t\n"                  // 7
      "a..b\n";               // 8
  const IndicatorList list =
      ParseIndicatorList(text, "lists/domains.txt", Config(IndicatorType::kDomain));
  EXPECT_THAT(Strings(list.errors),
              ElementsAre("lists/domains.txt:4: looks like a URL, write the host name alone: "
                          "'http://x.example/'",
                          "lists/domains.txt:8: empty label in 'a..b'"));
  EXPECT_THAT(list.warnings, IsEmpty());
  std::vector<std::string> names;
  for (const DomainEntry& d : list.domains) names.push_back(d.ToString());
  EXPECT_THAT(names, ElementsAre("bad.example", "*.bad.example", "evil.example"));
  EXPECT_EQ(list.stats.lines, 8u);
  EXPECT_EQ(list.stats.entries, 3u);
  EXPECT_EQ(list.stats.duplicates, 2u);
  EXPECT_EQ(list.stats.bad_lines, 2u);
}

TEST(ParseIndicatorList, StoredDiagnosticsAreCappedButCounted) {
  std::string text;
  for (int i = 0; i < 250; ++i) text += "garbage\n";
  for (int i = 0; i < 120; ++i) text += "10.0." + std::to_string(i) + ".1/16\n";
  const IndicatorList list = ParseIndicatorList(text, "big.txt", Config(IndicatorType::kIp));
  EXPECT_EQ(list.stats.bad_lines, 250u);
  EXPECT_EQ(list.stats.host_bits, 120u);
  ASSERT_EQ(list.errors.size(), kMaxStoredDiagnostics + 1);
  EXPECT_EQ(list.errors.back().ToString(), "big.txt: 150 more bad lines not shown");
  ASSERT_EQ(list.warnings.size(), kMaxStoredDiagnostics + 1);
  EXPECT_EQ(list.warnings.back().ToString(),
            "big.txt: 20 more entries with host bits set not shown");
  EXPECT_EQ(list.stats.entries, 1u);  // all of them mask to 10.0.0.0/16
  EXPECT_EQ(list.stats.duplicates, 119u);
}

TEST(LoadIndicatorList, ReadsTheFileAndReportsUnreadableOnes) {
  TempDir dir;
  IndicatorListConfig c = Config(IndicatorType::kIp, "district-blocklist");
  c.file = dir.Write("bad-ips.txt", "192.0.2.1\r\nnot-an-ip\r\n198.51.100.0/24");
  auto list = LoadIndicatorList(c);
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_EQ(list->config, c);
  EXPECT_EQ(list->prefixes.size(), 2u);
  EXPECT_THAT(Strings(list->errors),
              ElementsAre(c.file + ":2: not an IP address or CIDR block: 'not-an-ip'"));

  c.file = dir.path() + "/missing.txt";
  auto missing = LoadIndicatorList(c);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "indicator list 'district-blocklist': cannot read " + c.file +
                                         ": No such file or directory");

  c.file = dir.path();
  auto directory = LoadIndicatorList(c);
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.error().message,
            "indicator list 'district-blocklist': cannot read " + c.file + ": Is a directory");

  c.file = dir.Write("empty.txt", "");
  auto empty = LoadIndicatorList(c);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->stats.entries, 0u);
  EXPECT_THAT(empty->errors, IsEmpty());
}

// The real-world list: Emerging Threats Open's compromised hosts, as shipped with the rule set.
TEST(LoadIndicatorList, EtOpenCompromisedIpsLoadsCleanly) {
  const std::string path = FS_SOURCE_DIR "/../shared/data/rules/et-open/compromised-ips.txt";
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << path << " is not present (the shared data folder is not checked out here)";
  }
  IndicatorListConfig c = Config(IndicatorType::kIp, "et-compromised");
  c.file = path;
  auto list = LoadIndicatorList(c);
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_THAT(Strings(list->errors), IsEmpty());
  EXPECT_EQ(list->stats.bad_lines, 0u);
  EXPECT_GT(list->stats.entries, 100u);

  // Every line of the file is an address the matcher must report, and its neighbours are not.
  std::ifstream in(path);
  std::vector<IndicatorList> lists = {*list};
  auto m = IpMatcher::Build(lists);
  ASSERT_TRUE(m.ok());
  size_t checked = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const IpAddr a = Addr(line.c_str());
    EXPECT_EQ(m->Lookup(a), 1u) << line;
    const IpAddr next = FromU128(ToU128(a) + 1);
    EXPECT_EQ(m->Lookup(next) != 0, list->LongestMatch(next).has_value()) << line;
    ++checked;
  }
  EXPECT_EQ(checked, list->stats.entries + list->stats.duplicates);
}

// ---- config ----

std::string Item(const std::string& name, const std::string& sid, const std::string& extra = "") {
  return "  - name: " + name + "\n    type: ip\n    file: lists/" + name +
         ".txt\n    msg: \"FLOWSENTRY " + name + "\"\n    sid: " + sid + "\n    severity: 2\n" +
         extra;
}

struct ConfigCase {
  const char* description;
  std::string yaml;
  std::string error;  // "" = valid
};

TEST(ParseIndicatorsConfig, Table) {
  std::string many = "indicators:\n";
  for (int i = 0; i < 65; ++i) many += Item("l" + std::to_string(i), std::to_string(100 + i));
  const ConfigCase kCases[] = {
      {"two lists", "indicators:\n" + Item("a", "9100001") + Item("b", "9100002"), ""},
      {"absent", "other: 1\n", ""},
      {"null", "indicators:\n", ""},
      {"empty sequence", "indicators: []\n", ""},
      {"same sid, other gid",
       "indicators:\n" + Item("a", "9100001") + Item("b", "9100001", "    gid: 2\n"), ""},
      {"a mapping", "indicators: {name: a}\n",
       "indicators: must be a list of mappings (name, type, file, msg, sid, severity)"},
      {"a scalar item", "indicators: [foo]\n",
       "indicators[0]: must be a mapping (name, type, file, msg, sid, severity)"},
      {"missing sid",
       "indicators:\n" + Item("a", "1") +
           "  - {name: b, type: ip, file: b.txt, msg: m, severity: 1}\n",
       "indicators[1].sid: missing"},
      {"missing name", "indicators:\n  - {type: ip, file: b.txt, msg: m, sid: 1, severity: 1}\n",
       "indicators[0].name: missing"},
      {"missing severity", "indicators:\n  - {name: a, type: ip, file: b.txt, msg: m, sid: 1}\n",
       "indicators[0].severity: missing"},
      {"missing type", "indicators:\n  - {name: a, file: b.txt, msg: m, sid: 1, severity: 1}\n",
       "indicators[0].type: missing"},
      {"missing file", "indicators:\n  - {name: a, type: ip, msg: m, sid: 1, severity: 1}\n",
       "indicators[0].file: missing"},
      {"missing msg", "indicators:\n  - {name: a, type: ip, file: f, sid: 1, severity: 1}\n",
       "indicators[0].msg: missing"},
      {"unknown key", "indicators:\n" + Item("a", "1", "    acton: block\n"),
       "indicators[0].acton: unknown key (known here: action, block-ttl, file, gid, msg, name, "
       "severity, sid, type)"},
      {"bad action", "indicators:\n" + Item("a", "1", "    action: drop\n"),
       "indicators[0].action: must be alert or block, got 'drop'"},
      {"block on a domain list",
       "indicators:\n  - {name: a, type: domain, file: f, msg: m, sid: 1, severity: 1, action: "
       "block}\n",
       "indicators[0].action: block applies to IP lists only; a domain list (type: domain) can "
       "only alert"},
      {"ttl without block", "indicators:\n" + Item("a", "1", "    block-ttl: 60\n"),
       "indicators[0].block-ttl: only meaningful with action: block"},
      {"ttl zero", "indicators:\n" + Item("a", "1", "    action: block\n    block-ttl: 0\n"),
       "indicators[0].block-ttl: must be a whole number from 1 to 31536000, got '0'"},
      {"bad type", "indicators:\n  - {name: a, type: url, file: f, msg: m, sid: 1, severity: 1}\n",
       "indicators[0].type: must be ip or domain, got 'url'"},
      {"severity 5", "indicators:\n  - {name: a, type: ip, file: f, msg: m, sid: 1, severity: 5}\n",
       "indicators[0].severity: must be a whole number from 1 to 4, got '5'"},
      {"severity 0", "indicators:\n  - {name: a, type: ip, file: f, msg: m, sid: 1, severity: 0}\n",
       "indicators[0].severity: must be a whole number from 1 to 4, got '0'"},
      {"sid 0", "indicators:\n" + Item("a", "0"),
       "indicators[0].sid: must be a whole number from 1 to 4294967295, got '0'"},
      {"sid text", "indicators:\n" + Item("a", "abc"),
       "indicators[0].sid: must be a whole number from 1 to 4294967295, got 'abc'"},
      {"sid negative", "indicators:\n" + Item("a", "-1"),
       "indicators[0].sid: must be a whole number from 1 to 4294967295, got '-1'"},
      {"sid too big", "indicators:\n" + Item("a", "4294967296"),
       "indicators[0].sid: must be a whole number from 1 to 4294967295, got '4294967296'"},
      {"sid a list", "indicators:\n" + Item("a", "[1, 2]"),
       "indicators[0].sid: must be a whole number from 1 to 4294967295, got a collection"},
      {"gid 0", "indicators:\n" + Item("a", "1", "    gid: 0\n"),
       "indicators[0].gid: must be a whole number from 1 to 4294967295, got '0'"},
      {"empty msg", "indicators:\n  - {name: a, type: ip, file: f, msg: '', sid: 1, severity: 1}\n",
       "indicators[0].msg: must be a non-empty string"},
      {"msg a list",
       "indicators:\n  - {name: a, type: ip, file: f, msg: [x], sid: 1, severity: 1}\n",
       "indicators[0].msg: must be a non-empty string"},
      {"bad name",
       "indicators:\n  - {name: 'bad name', type: ip, file: f, msg: m, sid: 1, "
       "severity: 1}\n",
       "indicators[0].name: use letters, digits, '.', '_' and '-' only, got 'bad name'"},
      {"duplicate name", "indicators:\n" + Item("a", "1") + Item("a", "2"),
       "indicators[1].name: 'a' is already the name of indicators[0]"},
      {"duplicate sid",
       "indicators:\n" + Item("a", "9100001") + Item("b", "7") +
           Item("c", "9100001", "    gid: 1\n"),
       "indicators[2].sid: gid 1 sid 9100001 is already used by indicators[0] (a)"},
      {"too many lists", many, "indicators: at most 64 lists, got 65"},
  };
  for (const ConfigCase& c : kCases) {
    SCOPED_TRACE(c.description);
    const YAML::Node root = YAML::Load(c.yaml);
    auto got = ParseIndicatorsConfig(root["indicators"]);
    if (c.error.empty()) {
      EXPECT_TRUE(got.ok()) << got.error().message;
    } else {
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.error().message, c.error);
    }
  }
}

TEST(ParseIndicatorsConfig, ValuesDefaultsAndRelativeFiles) {
  const YAML::Node root = YAML::Load(R"(
indicators:
  - name: district-blocklist
    type: ip          # or domain
    file: /etc/flowsentry/lists/bad-ips.txt
    msg: "FLOWSENTRY known-bad address"
    sid: 9100001
    gid: 1            # optional
    severity: 2       # 1..4
  - name: c2-domains
    type: domain
    file: lists/../lists/c2.txt
    msg: FLOWSENTRY C2 domain
    sid: 9100002
    severity: 1
)");
  auto got = ParseIndicatorsConfig(root["indicators"], "/etc/flowsentry");
  ASSERT_TRUE(got.ok()) << got.error().message;
  ASSERT_EQ(got->size(), 2u);
  const IndicatorListConfig& a = (*got)[0];
  EXPECT_EQ(a.name, "district-blocklist");
  EXPECT_EQ(a.type, IndicatorType::kIp);
  EXPECT_EQ(a.file, "/etc/flowsentry/lists/bad-ips.txt");
  EXPECT_EQ(a.msg, "FLOWSENTRY known-bad address");
  EXPECT_EQ(a.sid, 9100001u);
  EXPECT_EQ(a.gid, 1u);
  EXPECT_EQ(a.severity, 2u);
  const IndicatorListConfig& b = (*got)[1];
  EXPECT_EQ(b.type, IndicatorType::kDomain);
  EXPECT_EQ(b.file, "/etc/flowsentry/lists/c2.txt");
  EXPECT_EQ(b.gid, 1u);  // default
  EXPECT_EQ(b.severity, 1u);

  // Without a base directory the path stays as written; the key prefix is the caller's.
  auto kept = ParseIndicatorsConfig(root["indicators"], "", "sensor.indicators");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ((*kept)[1].file, "lists/../lists/c2.txt");
  auto bad = ParseIndicatorsConfig(YAML::Load("x: 3")["x"], "", "sensor.indicators");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("sensor.indicators: must be a list"));
}

// ---- IP matcher ----

IpPrefix MakePrefix(U128 addr, unsigned len) {
  const U128 host = len == 0 ? ~U128{0} : len == 128 ? U128{0} : (U128{1} << (128 - len)) - 1;
  return IpPrefix{FromU128(addr & ~host), static_cast<uint8_t>(len)};
}
U128 LastOf(const IpPrefix& p) {
  const U128 host = p.len == 0 ? ~U128{0} : p.len == 128 ? U128{0} : (U128{1} << (128 - p.len)) - 1;
  return ToU128(p.addr) | host;
}

constexpr U128 kMapped = U128{0xffff} << 32;

// IPv4 blocks as real lists have them: mostly /20../31, 1% /16../19, a handful of /8../15 (a
// uniform /8../31 mix would cover the whole IPv4 space and make every lookup a hit).
unsigned V4BlockLength(std::mt19937_64& rng, size_t i) {
  if (i % 100'000 == 7) return 8 + static_cast<unsigned>(rng() % 8);
  if (rng() % 100 == 0) return 16 + static_cast<unsigned>(rng() % 4);
  return 20 + static_cast<unsigned>(rng() % 12);
}

// Prefixes that overlap a lot: half of them are drawn inside an earlier one.
// narrow: IPv4 blocks all in 10.0.0.0/16, so that one top-level bucket gets a second-level index.
std::vector<IpPrefix> RandomPrefixes(std::mt19937_64& rng, size_t n, bool v6, bool narrow = false) {
  std::vector<IpPrefix> out;
  auto rand128 = [&] { return (U128{rng()} << 64) | rng(); };
  for (size_t i = 0; i < n; ++i) {
    const unsigned max_len = v6 ? 128 : 32;
    unsigned len = static_cast<unsigned>(rng() % (max_len + 1));
    if (len < max_len / 4 && rng() % 4 != 0) len += max_len / 4;  // few very short blocks
    U128 addr;
    if (!out.empty() && rng() % 2 == 0) {
      const IpPrefix& parent = out[rng() % out.size()];
      const unsigned plen = v6 ? parent.len : parent.len - 96u;
      len = plen + static_cast<unsigned>(rng() % (max_len - plen + 1));
      addr = ToU128(parent.addr) | (rand128() & (LastOf(parent) - ToU128(parent.addr)));
    } else if (v6) {
      // Mostly a small corner so that blocks nest; sometimes anywhere, sometimes IPv4-mapped.
      const unsigned pick = rng() % 8;
      addr = pick == 0   ? rand128()
             : pick == 1 ? kMapped | (rng() & 0xffffffffu)
                         : (U128{0x20010db8} << 96) | (rand128() >> 40);
    } else {
      addr = kMapped | (rng() % 4 == 0 ? (rng() & 0xffffffffu)
                                       : (0x0a000000u | (rng() & (narrow ? 0xffff : 0xfffff))));
    }
    out.push_back(v6 ? MakePrefix(addr, len) : MakePrefix(addr, len + 96));
  }
  return out;
}

ListMask Reference(const std::vector<IndicatorList>& lists, const IpAddr& a) {
  ListMask m = 0;
  for (size_t i = 0; i < lists.size(); ++i) {
    for (const IpPrefix& p : lists[i].prefixes) {
      if (p.Contains(a)) {
        m |= ListMask{1} << i;
        break;
      }
    }
  }
  return m;
}

std::vector<IpAddr> QueriesAround(std::mt19937_64& rng, const std::vector<IpPrefix>& prefixes,
                                  size_t n) {
  std::vector<IpAddr> q;
  for (size_t i = 0; i < n; ++i) {
    const IpPrefix& p = prefixes[rng() % prefixes.size()];
    const U128 first = ToU128(p.addr), last = LastOf(p);
    switch (rng() % 6) {
      case 0:
        q.push_back(FromU128(first));
        break;
      case 1:
        q.push_back(FromU128(last));
        break;
      case 2:
        q.push_back(FromU128(first - 1));
        break;
      case 3:
        q.push_back(FromU128(last + 1));
        break;
      case 4:
        q.push_back(FromU128(first + (((U128{rng()} << 64) | rng()) & (last - first))));
        break;
      default:
        q.push_back(
            FromU128(rng() % 2 ? (U128{rng()} << 64) | rng() : kMapped | (rng() & 0xffffffffu)));
    }
  }
  return q;
}

TEST(IpMatcher, MatchesBruteForceOnRandomOverlappingPrefixes) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    std::vector<IpPrefix> all = RandomPrefixes(rng, 400, false, seed % 2 == 0);
    const std::vector<IpPrefix> v6 = RandomPrefixes(rng, 400, true);
    all.insert(all.end(), v6.begin(), v6.end());
    if (seed % 3 == 0) all.push_back(MakePrefix(0, 0));         // ::/0 covers IPv4 too
    if (seed % 3 == 1) all.push_back(MakePrefix(kMapped, 96));  // 0.0.0.0/0
    if (seed % 3 == 2) all.push_back(MakePrefix(kMapped, 95));  // an IPv6 block around it
    // Five lists; one in four prefixes goes to two of them. List 2 is a domain list and must
    // never be reported.
    std::vector<IndicatorList> lists(5);
    for (size_t i = 0; i < lists.size(); ++i) {
      lists[i].config = Config(i == 2 ? IndicatorType::kDomain : IndicatorType::kIp);
    }
    for (const IpPrefix& p : all) {
      size_t l = rng() % 4;
      if (l == 2) l = 4;
      lists[l].prefixes.push_back(p);
      if (rng() % 4 == 0) lists[(l + 1) % 2].prefixes.push_back(p);
    }
    lists[2].domains.push_back(DomainEntry{"evil.example", false});
    for (IndicatorList& l : lists) {
      std::sort(l.prefixes.begin(), l.prefixes.end());
      l.prefixes.erase(std::unique(l.prefixes.begin(), l.prefixes.end()), l.prefixes.end());
    }
    auto m = IpMatcher::Build(lists);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->lists(), 0b11011u);

    const std::vector<IpAddr> queries = QueriesAround(rng, all, 3000);
    std::vector<ListMask> bulk(queries.size());
    m->LookupBulk(queries.data(), queries.size(), bulk.data());
    size_t none = 0, several = 0, v4 = 0;
    for (size_t i = 0; i < queries.size(); ++i) {
      const IpAddr& a = queries[i];
      const ListMask want = Reference(lists, a);
      none += want == 0;
      several += std::popcount(want) >= 2;
      v4 += a.IsV4();
      ASSERT_EQ(m->Lookup(a), want) << a.ToString();
      ASSERT_EQ(bulk[i], want) << a.ToString();
      // The entry an alert names: the longest containing one, per list.
      for (const IndicatorList& l : lists) {
        std::optional<IpPrefix> longest;
        for (const IpPrefix& p : l.prefixes) {
          if (p.Contains(a) && (!longest || p.len > longest->len)) longest = p;
        }
        ASSERT_EQ(l.LongestMatch(a), longest) << a.ToString();
      }
    }
    // The data is what this test is about: misses, overlaps and both families.
    if (seed % 3 != 0) {
      EXPECT_GT(none, 100u);  // with ::/0 every address is in a list
    }
    EXPECT_GT(several, 300u);
    EXPECT_GT(v4, 800u);
    EXPECT_LT(v4, 2200u);
    const IpMatch both = m->Lookup(queries[0], queries[1]);
    EXPECT_EQ(both.src, Reference(lists, queries[0]));
    EXPECT_EQ(both.dst, Reference(lists, queries[1]));
    EXPECT_EQ(both.any(), both.src | both.dst);
  }
}

TEST(IpMatcher, SidesBoundariesAndFamilies) {
  IpMatcher::Builder b;
  IpPrefix p;
  bool host_bits;
  std::string reason;
  auto add = [&](const char* text, uint32_t list) {
    ASSERT_TRUE(ParseIpEntry(text, &p, &host_bits, &reason)) << reason;
    b.Add(p, list);
  };
  add("10.0.0.0/8", 0);
  add("10.1.0.0/16", 1);
  add("10.1.2.3", 2);
  add("255.255.255.255", 3);
  add("0.0.0.0", 3);
  add("2001:db8::/32", 0);
  add("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 3);
  add("::", 3);
  const IpMatcher m = std::move(b).Build();
  struct {
    const char* addr;
    ListMask want;
  } const kCases[] = {
      {"10.1.2.3", 0b111},
      {"10.1.2.4", 0b011},
      {"10.2.0.0", 0b001},
      {"9.255.255.255", 0},
      {"11.0.0.0", 0},
      {"255.255.255.255", 0b1000},
      {"0.0.0.0", 0b1000},
      {"0.0.0.1", 0},
      {"255.255.255.254", 0},
      {"2001:db8::", 0b001},
      {"2001:db8:ffff::1", 0b001},
      {"2001:db9::", 0},
      {"::", 0b1000},
      {"::1", 0},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0b1000},
      {"::ffff:10.1.2.3", 0b111},
  };
  for (const auto& c : kCases) EXPECT_EQ(m.Lookup(Addr(c.addr)), c.want) << c.addr;
  const IpMatch hit = m.Lookup(Addr("192.0.2.1"), Addr("10.1.2.3"));
  EXPECT_EQ(hit.src, 0u);
  EXPECT_EQ(hit.dst, 0b111u);
  EXPECT_EQ(m.stats().v4_entries, 5u);
  EXPECT_EQ(m.stats().v6_entries, 3u);

  // Out-of-range input is refused, not undefined behaviour; host bits are cleared.
  IpMatcher::Builder odd;
  EXPECT_FALSE(odd.Add(IpPrefix{Addr("192.0.2.1"), 128}, 64));
  EXPECT_FALSE(odd.Add(IpPrefix{Addr("192.0.2.1"), 129}, 0));
  EXPECT_TRUE(odd.Add(IpPrefix{Addr("192.0.2.77"), 120}, 5));
  const IpMatcher odd_m = std::move(odd).Build();
  EXPECT_EQ(odd_m.Lookup(Addr("192.0.2.1")), ListMask{1} << 5);
  EXPECT_EQ(odd_m.Lookup(Addr("192.0.3.1")), 0u);

  const IpMatcher none;
  EXPECT_EQ(none.lists(), 0u);
  EXPECT_EQ(none.Lookup(Addr("10.1.2.3")), 0u);
  EXPECT_EQ(none.Lookup(Addr("2001:db8::1")), 0u);

  std::vector<IndicatorList> too_many(kMaxIndicatorLists + 1);
  auto refused = IpMatcher::Build(too_many);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "indicators: at most 64 lists, got 65");
}

// Buckets with many range starts get a second-level index; its sub-bucket edges are checked here
// with dense hosts and blocks in one IPv4 /16 and one IPv6 /16, every entry's first and last
// address and their neighbours.
TEST(IpMatcher, IndexedBuckets) {
  for (unsigned per_bucket : {65u, 300u, 2000u}) {
    SCOPED_TRACE(per_bucket);
    std::mt19937_64 rng(per_bucket);
    std::vector<IndicatorList> lists(3);
    for (IndicatorList& l : lists) l.config = Config(IndicatorType::kIp);
    std::vector<IpPrefix> all;
    for (unsigned i = 0; i < per_bucket; ++i) {
      all.push_back(MakePrefix(kMapped | 0x0a010000u | (rng() & 0xffff), 96 + 24 + rng() % 9));
      all.push_back(
          MakePrefix((U128{0x20010db8} << 96) | (U128{rng() & 0xffff} << 96) | (U128{rng()} << 32),
                     32 + static_cast<unsigned>(rng() % 97)));
    }
    for (size_t i = 0; i < all.size(); ++i) lists[i % 3].prefixes.push_back(all[i]);
    for (IndicatorList& l : lists) {
      std::sort(l.prefixes.begin(), l.prefixes.end());
      l.prefixes.erase(std::unique(l.prefixes.begin(), l.prefixes.end()), l.prefixes.end());
    }
    auto m = IpMatcher::Build(lists);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->stats().indexed_buckets, 2u);
    std::vector<IpAddr> queries;
    for (const IpPrefix& p : all) {
      for (U128 v : {ToU128(p.addr) - 1, ToU128(p.addr), LastOf(p), LastOf(p) + 1}) {
        queries.push_back(FromU128(v));
      }
    }
    std::shuffle(queries.begin(), queries.end(), rng);
    queries.resize(std::min<size_t>(queries.size(), 4000));  // the brute force is quadratic
    for (int i = 0; i < 1000; ++i) {
      queries.push_back(FromU128(kMapped | 0x0a010000u | (rng() & 0xffff)));
      queries.push_back(FromU128((U128{0x2001} << 112) | ((U128{rng()} << 64 | rng()) >> 16)));
    }
    std::vector<ListMask> bulk(queries.size());
    m->LookupBulk(queries.data(), queries.size(), bulk.data());
    for (size_t i = 0; i < queries.size(); ++i) {
      const ListMask want = Reference(lists, queries[i]);
      ASSERT_EQ(m->Lookup(queries[i]), want) << queries[i].ToString();
      ASSERT_EQ(bulk[i], want) << queries[i].ToString();
    }
  }
}

// A million entries: a realistic mix (mostly IPv4 hosts, some blocks, some IPv6) in three lists.
// Checked on a sample against a per-length binary-search reference; no timing.
TEST(IpMatcher, MillionEntries) {
  std::mt19937_64 rng(42);
  struct Ref {
    U128 start;
    uint8_t len;
    ListMask lists;
    bool operator<(const Ref& o) const {
      return start < o.start || (start == o.start && len < o.len);
    }
  };
  std::vector<Ref> ref;
  ref.reserve(1'000'000);
  IpMatcher::Builder b;
  for (size_t i = 0; i < 1'000'000; ++i) {
    IpPrefix p;
    const unsigned kind = i % 10;
    if (kind < 7) {
      p = MakePrefix(kMapped | (rng() & 0xffffffffu), 128);
    } else if (kind == 7) {
      p = MakePrefix(kMapped | (rng() & 0xffffffffu), 96 + V4BlockLength(rng, i));
    } else {
      const U128 a =
          (U128{0x2000u | (rng() & 0x1fffu)} << 112) | ((U128{rng()} << 64 | rng()) >> 16);
      const unsigned lens[] = {32, 48, 56, 64, 128};
      p = MakePrefix(a, lens[rng() % 5]);
    }
    const uint32_t list = static_cast<uint32_t>(rng() % 3);
    b.Add(p, list);
    ref.push_back(Ref{ToU128(p.addr), p.len, ListMask{1} << list});
  }
  const IpMatcher m = std::move(b).Build();
  std::sort(ref.begin(), ref.end());
  EXPECT_GT(m.stats().v4_entries, 700'000u);
  EXPECT_GT(m.stats().v6_entries, 150'000u);
  // Linear memory: a few bytes per range plus the fixed buckets, far from a DIR-24-8's worst case.
  EXPECT_LT(m.stats().memory_bytes, size_t{48} << 20);

  auto reference = [&](const IpAddr& a) {
    ListMask out = 0;
    const U128 v = ToU128(a);
    for (unsigned len = 0; len <= 128; ++len) {
      const IpPrefix p = MakePrefix(v, len);
      auto it = std::lower_bound(ref.begin(), ref.end(), Ref{ToU128(p.addr), p.len, 0});
      for (; it != ref.end() && it->start == ToU128(p.addr) && it->len == p.len; ++it) {
        out |= it->lists;
      }
    }
    return out;
  };
  // A quarter each: inside an entry, just outside one, random IPv4, random IPv6.
  size_t hits = 0, misses = 0;
  for (size_t i = 0; i < 4000; ++i) {
    const Ref& r = ref[rng() % ref.size()];
    const IpPrefix p{FromU128(r.start), r.len};
    IpAddr a;
    switch (i % 4) {
      case 0:
        a = FromU128(r.start + ((U128{rng()} << 64 | rng()) & (LastOf(p) - r.start)));
        break;
      case 1:
        a = FromU128(rng() % 2 ? r.start - 1 : LastOf(p) + 1);
        break;
      case 2:
        a = FromU128(kMapped | (rng() & 0xffffffffu));
        break;
      default:
        a = FromU128((U128{0x2000u | (rng() & 0x1fffu)} << 112) | (U128{rng()} << 48));
    }
    const ListMask want = reference(a);
    ASSERT_EQ(m.Lookup(a), want) << a.ToString();
    hits += want != 0;
    misses += want == 0;
  }
  EXPECT_GT(hits, 1000u);
  EXPECT_GT(misses, 1000u);
}

// ---- domain matcher ----

TEST(DomainMatcher, ExactSuffixAndCase) {
  std::vector<IndicatorList> lists = {
      ParseIndicatorList("192.0.2.1\n", "ips.txt", Config(IndicatorType::kIp)),
      ParseIndicatorList("evil.example\n*.bad.example\nxn--bcher-kva.example\n", "a.txt",
                         Config(IndicatorType::kDomain)),
      ParseIndicatorList("bad.example\n.zip\nsub.evil.example\n", "b.txt",
                         Config(IndicatorType::kDomain)),
  };
  auto built = DomainMatcher::Build(lists);
  ASSERT_TRUE(built.ok());
  const DomainMatcher& m = *built;
  EXPECT_EQ(m.lists(), 0b110u);
  EXPECT_EQ(m.entries(), 5u);  // bad.example is one entry: exact in b, suffix in a
  struct {
    const char* name;
    ListMask want;
  } const kCases[] = {
      {"evil.example", 0b010},
      {"EVIL.Example", 0b010},
      {"evil.example.", 0b010},
      {"www.evil.example", 0},  // exact entries do not cover subdomains
      {"sub.evil.example", 0b100},
      {"bad.example", 0b110},  // suffix entries cover the name itself
      {"a.b.BAD.example", 0b010},
      {"notbad.example", 0},  // label boundary
      {"bad.example.com", 0},
      {"example", 0},
      {"report.zip", 0b100},
      {"zip", 0b100},
      {"zipper", 0},
      {"XN--BCHER-KVA.example", 0b010},
      {"", 0},
      {".", 0},
      {"..bad.example", 0b010},
      {"bad.example..", 0},
      {"192.0.2.1", 0},
  };
  for (const auto& c : kCases) EXPECT_EQ(m.Match(c.name), c.want) << c.name;
  const DomainMatcher empty;
  EXPECT_EQ(empty.Match("evil.example"), 0u);

  DomainMatcher::Builder odd;
  EXPECT_FALSE(odd.Add(DomainEntry{"", false}, 0));
  EXPECT_FALSE(odd.Add(DomainEntry{std::string(254, 'a'), false}, 0));
  EXPECT_FALSE(odd.Add(DomainEntry{"evil.example", false}, 64));
  EXPECT_TRUE(odd.Add(DomainEntry{"Evil.Example", true}, 63));
  const DomainMatcher odd_m = std::move(odd).Build();
  EXPECT_EQ(odd_m.entries(), 1u);
  EXPECT_EQ(odd_m.Match("a.evil.example"), ListMask{1} << 63);
}

TEST(DomainMatcher, MatchesReferenceOnRandomNames) {
  std::mt19937_64 rng(7);
  const char* kLabels[] = {"a", "b", "c", "xn--d", "e-f", "g_h", "com"};
  auto random_name = [&] {
    std::string n;
    const size_t labels = 1 + rng() % 4;
    for (size_t i = 0; i < labels; ++i) n += std::string(i ? "." : "") + kLabels[rng() % 7];
    return n;
  };
  std::vector<IndicatorList> lists(3);
  for (IndicatorList& l : lists) l.config = Config(IndicatorType::kDomain);
  for (int i = 0; i < 300; ++i) {
    lists[rng() % 3].domains.push_back(DomainEntry{random_name(), rng() % 2 == 0});
  }
  auto m = DomainMatcher::Build(lists);
  ASSERT_TRUE(m.ok());
  for (int i = 0; i < 3000; ++i) {
    std::string q = random_name();
    ListMask want = 0;
    for (size_t l = 0; l < lists.size(); ++l) {
      for (const DomainEntry& d : lists[l].domains) {
        if (q == d.name || (d.suffix && q.ends_with("." + d.name))) want |= ListMask{1} << l;
      }
    }
    for (char& c : q) {
      if (rng() % 3 == 0 && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    }
    ASSERT_EQ(m->Match(q), want) << q;
  }
}

// ---- the packet path does not allocate ----

TEST(Indicators, LookupsDoNotAllocate) {
  {
    const uint64_t probe = fs::test_support::Allocations();
    // A direct call: the compiler may elide a new-expression's allocation, never this.
    void* p = ::operator new(16);
    ::operator delete(p);
    ASSERT_GT(fs::test_support::Allocations(), probe);  // the counter works
  }
  std::vector<IndicatorList> lists = {
      ParseIndicatorList("10.0.0.0/8\n192.0.2.1\n2001:db8::/32\n", "ips.txt",
                         Config(IndicatorType::kIp)),
      ParseIndicatorList("*.evil.example\n", "d.txt", Config(IndicatorType::kDomain)),
  };
  auto ips = IpMatcher::Build(lists);
  auto domains = DomainMatcher::Build(lists);
  ASSERT_TRUE(ips.ok() && domains.ok());
  const IpAddr addrs[4] = {Addr("10.1.2.3"), Addr("192.0.2.1"), Addr("2001:db8::1"),
                           Addr("198.51.100.1")};
  ListMask out[4];
  const uint64_t before = fs::test_support::Allocations();
  ListMask sum = 0;
  for (int i = 0; i < 100; ++i) {
    sum += ips->Lookup(addrs[i % 4]);
    sum += ips->Lookup(addrs[0], addrs[3]).any();
    ips->LookupBulk(addrs, 4, out);
    sum += out[3];
    sum += domains->Match("WWW.Evil.Example.");
  }
  EXPECT_EQ(fs::test_support::Allocations(), before);
  EXPECT_GT(sum, 0u);
}

}  // namespace
}  // namespace fs::patterns
