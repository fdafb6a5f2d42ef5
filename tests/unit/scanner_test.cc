// Scanner: compiles small rule sets and scans payload buffers through decode::Packet fields
// filled by hand (no decoder involved): content semantics (nocase, hex, all contents required,
// shared literals), header conditions, header-only rules, empty sets, reload sizing, and a
// differential check against a naive std::search matcher.
#include "dataplane/scan/scanner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <string>
#include <vector>

#include "patterns/pattern_set.h"
#include "patterns/rule_parser.h"

namespace fs::scan {
namespace {

using patterns::PatternSet;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using namespace std::string_literals;

std::shared_ptr<const PatternSet> Build(const std::string& rules_text,
                                        const patterns::ParseOptions& options = {}) {
  patterns::ParseResult r = patterns::ParseRules(rules_text, "test.rules", options);
  for (const auto& e : r.errors) ADD_FAILURE() << e.ToString();
  for (const auto& w : r.warnings) ADD_FAILURE() << w.ToString();
  auto set = PatternSet::Compile(std::move(r.rules), 7);
  if (!set) {
    ADD_FAILURE() << set.error().message;
    return nullptr;
  }
  return std::move(set).value();
}

// A decoded packet over its own payload buffer, filled field by field.
class TestPacket {
 public:
  TestPacket(std::string payload, const char* src, uint16_t sport, const char* dst, uint16_t dport,
             uint8_t proto = patterns::kIpProtoTcp)
      : bytes_(std::move(payload)) {
    p_.data = reinterpret_cast<const uint8_t*>(bytes_.data());
    p_.caplen = p_.wirelen = static_cast<uint32_t>(bytes_.size());
    p_.layer = decode::Layer::kL4;
    p_.src = *IpAddr::Parse(src);
    p_.dst = *IpAddr::Parse(dst);
    p_.ip_version = p_.src.IsV4() ? 4 : 6;
    p_.proto = proto;
    const bool ports = proto == patterns::kIpProtoTcp || proto == patterns::kIpProtoUdp;
    p_.sport = ports ? sport : 0;
    p_.dport = ports ? dport : 0;
    p_.payload_offset = 0;
    p_.payload_len = static_cast<uint16_t>(bytes_.size());
  }
  TestPacket(const TestPacket&) = delete;
  TestPacket& operator=(const TestPacket&) = delete;

  decode::Packet& packet() { return p_; }
  const decode::Packet& packet() const { return p_; }

 private:
  std::string bytes_;
  decode::Packet p_;
};

std::vector<uint32_t> ScanSids(Scanner& scanner, const PatternSet& set, const TestPacket& tp) {
  std::vector<uint32_t> sids;
  scanner.ScanPacket(set, tp.packet(), flow::Dir::kToServer,
                     [&](uint32_t rule) { sids.push_back(set.rules()[rule].sid); });
  return sids;
}

// One prepared scanner per set, for terse tests.
std::vector<uint32_t> Scan(const PatternSet& set, const TestPacket& tp) {
  Scanner scanner;
  EXPECT_TRUE(scanner.Prepare(set)) << scanner.error();
  return ScanSids(scanner, set, tp);
}

constexpr const char* kExt = "203.0.113.66";
constexpr const char* kIn1 = "10.20.0.15";
constexpr const char* kIn2 = "10.20.1.50";

TEST(ScannerTest, NocaseAndCaseSensitiveContents) {
  auto set = Build(R"(alert tcp any any -> any any (msg:"cs"; content:"Evil"; sid:1;)
alert tcp any any -> any any (msg:"ci"; content:"Evil"; nocase; sid:2;))");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->expression_count(), 2u);  // same bytes, different case handling
  EXPECT_THAT(Scan(*set, TestPacket("..Evil..", kExt, 1, kIn1, 2)), ElementsAre(1, 2));
  EXPECT_THAT(Scan(*set, TestPacket("..eVIL..", kExt, 1, kIn1, 2)), ElementsAre(2));
  EXPECT_THAT(Scan(*set, TestPacket("..Evi..l", kExt, 1, kIn1, 2)), IsEmpty());
}

TEST(ScannerTest, HexContentsMatchRawBytes) {
  auto set = Build(
      R"(alert tcp any any -> any 445 (msg:"admin$"; content:"|5c 00|A|00|D|00|M|00|I|00|N|00 24 00|"; sid:9000010;)
alert udp any any -> any 53 (msg:"dns"; content:"|06|badcdn|07|example|00|"; nocase; sid:9000030;))");
  ASSERT_TRUE(set);
  const std::string tree(
      "\x00\x00\\\x00"
      "A\x00"
      "D\x00"
      "M\x00"
      "I\x00"
      "N\x00$\x00",
      16);
  EXPECT_THAT(Scan(*set, TestPacket(tree, kIn1, 49000, "10.20.1.23", 445)), ElementsAre(9000010));
  const std::string query(
      "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x0cupdate-check"
      "\x06"
      "BadCDN\x07"
      "example\x00\x00\x01\x00\x01",
      45);
  EXPECT_THAT(
      Scan(*set, TestPacket(query, "10.20.1.23", 5353, "10.20.0.2", 53, patterns::kIpProtoUdp)),
      ElementsAre(9000030));
  // The same bytes over TCP do not match a udp rule.
  EXPECT_THAT(Scan(*set, TestPacket(query, "10.20.1.23", 5353, "10.20.0.2", 53)), IsEmpty());
}

TEST(ScannerTest, AllContentsOfARuleAreRequiredInAnyOrder) {
  auto set = Build(
      R"(alert tcp any any -> any any (msg:"both"; content:"abc"; content:"xyz"; sid:1;)
alert tcp any any -> any any (msg:"twice"; content:"abc"; content:"abc"; sid:2;))");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->required(0), 2u);
  EXPECT_EQ(set->required(1), 1u);  // a repeated literal is one requirement
  EXPECT_THAT(Scan(*set, TestPacket("abc-xyz", kExt, 1, kIn1, 2)), ElementsAre(1, 2));
  EXPECT_THAT(Scan(*set, TestPacket("xyz-abc", kExt, 1, kIn1, 2)), ElementsAre(1, 2));
  EXPECT_THAT(Scan(*set, TestPacket("abc-abc", kExt, 1, kIn1, 2)), ElementsAre(2));
  EXPECT_THAT(Scan(*set, TestPacket("xyz", kExt, 1, kIn1, 2)), IsEmpty());
}

TEST(ScannerTest, IdenticalContentsShareOneExpression) {
  auto set = Build(R"(alert tcp any any -> any any (msg:"a"; content:"shared"; sid:1;)
alert tcp any any -> any any (msg:"b"; content:"shared"; content:"extra"; sid:2;)
alert udp any any -> any any (msg:"c"; content:"SHARED"; nocase; sid:3;)
alert tcp any any -> any any (msg:"d"; content:"shared"; nocase; sid:4;)
alert tcp any any -> any any (msg:"e"; content:"|01 02|"; sid:5;)
alert tcp any any -> any any (msg:"f"; content:"|01 02|"; nocase; sid:6;))");
  ASSERT_TRUE(set);
  // "shared", "extra", caseless "shared" (sid 3 and 4), and |01 02| (nocase means nothing
  // without letters).
  EXPECT_EQ(set->expression_count(), 4u);
  size_t shared_targets = 0;
  for (uint32_t id = 0; id < set->expression_count(); ++id) {
    shared_targets = std::max(shared_targets, set->TargetsOf(id).size());
  }
  EXPECT_EQ(shared_targets, 2u);
  EXPECT_THAT(Scan(*set, TestPacket("xx shared xx", kExt, 1, kIn1, 2)), ElementsAre(1, 4));
  EXPECT_THAT(Scan(*set, TestPacket("SHARED extra", kExt, 1, kIn1, 2)), ElementsAre(4));
  EXPECT_THAT(Scan(*set, TestPacket("shared extra \x01\x02", kExt, 1, kIn1, 2)),
              ElementsAre(1, 2, 4, 5, 6));
}

TEST(ScannerTest, HomeNetAndExternalNet) {
  auto set = Build(
      R"(alert tcp $EXTERNAL_NET any -> $HOME_NET 3389 (msg:"rdp"; content:"Cookie|3a| mstshash="; sid:9000001;)
alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"c2"; content:"GET /gate.php?id="; sid:9000031;))");
  ASSERT_TRUE(set);
  const std::string cookie = "\x03\x00\x00\x2a Cookie: mstshash=administrator\r\n"s;
  EXPECT_THAT(Scan(*set, TestPacket(cookie, kExt, 50123, kIn1, 3389)), ElementsAre(9000001));
  // A teacher inside the district: same bytes, source in HOME_NET.
  EXPECT_THAT(Scan(*set, TestPacket(cookie, kIn2, 50123, kIn1, 3389)), IsEmpty());
  // Other port, or the reply direction.
  EXPECT_THAT(Scan(*set, TestPacket(cookie, kExt, 50123, kIn1, 3390)), IsEmpty());
  EXPECT_THAT(Scan(*set, TestPacket(cookie, kIn1, 3389, kExt, 50123)), IsEmpty());

  const std::string get = "GET /gate.php?id=4f2a HTTP/1.1\r\nHost: update-check.badcdn.example\r\n";
  EXPECT_THAT(Scan(*set, TestPacket(get, "10.20.1.23", 50000, "198.51.100.77", 80)),
              ElementsAre(9000031));
  EXPECT_THAT(Scan(*set, TestPacket(get, "10.20.1.23", 50000, "10.20.0.10", 80)), IsEmpty());
  // EXTERNAL_NET (= !HOME_NET) covers IPv6 destinations too.
  EXPECT_THAT(Scan(*set, TestPacket(get, "fd00::23", 50000, "2001:db8::77", 8080)), IsEmpty());
  EXPECT_THAT(Scan(*set, TestPacket(get, "2001:db8::23", 50000, "2001:db8::77", 8080)), IsEmpty());
}

TEST(ScannerTest, OverriddenHomeNetChangesTheHeaderCheck) {
  patterns::ParseOptions options;
  options.vars.SetAddress("HOME_NET", "[10.20.0.0/16,fd00::/8]");
  auto set =
      Build(R"(alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"c2"; content:"gate"; sid:1;))",
            options);
  ASSERT_TRUE(set);
  EXPECT_THAT(Scan(*set, TestPacket("gate", "fd00::23", 1, "2001:db8::77", 2)), ElementsAre(1));
  EXPECT_THAT(Scan(*set, TestPacket("gate", "10.20.1.1", 1, "10.30.0.1", 2)), ElementsAre(1));
  EXPECT_THAT(Scan(*set, TestPacket("gate", "10.30.0.1", 1, "10.20.1.1", 2)), IsEmpty());
}

TEST(ScannerTest, PortRangesAndNegation) {
  auto set = Build(
      R"(alert tcp any [1000:2000,!1500] -> any !80 (msg:"ports"; content:"p"; sid:1;)
alert tcp any any -> any [:1023] (msg:"low"; content:"p"; sid:2;)
alert tcp any any -> any $HTTP_PORTS (msg:"http"; content:"p"; sid:3;))");
  ASSERT_TRUE(set);
  EXPECT_THAT(Scan(*set, TestPacket("p", kExt, 1000, kIn1, 443)), ElementsAre(1, 2));
  EXPECT_THAT(Scan(*set, TestPacket("p", kExt, 1500, kIn1, 443)), ElementsAre(2));
  EXPECT_THAT(Scan(*set, TestPacket("p", kExt, 2000, kIn1, 80)), ElementsAre(2, 3));
  EXPECT_THAT(Scan(*set, TestPacket("p", kExt, 2001, kIn1, 8080)), IsEmpty());
}

TEST(ScannerTest, BidirectionalRules) {
  auto set = Build(R"(alert tcp 10.0.0.1 any <> 10.0.0.2 80 (msg:"both"; content:"x"; sid:1;)
alert tcp 10.0.0.1 any -> 10.0.0.2 80 (msg:"one"; content:"x"; sid:2;))");
  ASSERT_TRUE(set);
  EXPECT_THAT(Scan(*set, TestPacket("x", "10.0.0.1", 40000, "10.0.0.2", 80)), ElementsAre(1, 2));
  EXPECT_THAT(Scan(*set, TestPacket("x", "10.0.0.2", 80, "10.0.0.1", 40000)), ElementsAre(1));
  EXPECT_THAT(Scan(*set, TestPacket("x", "10.0.0.2", 40000, "10.0.0.1", 80)), IsEmpty());
  EXPECT_THAT(Scan(*set, TestPacket("x", "10.0.0.3", 40000, "10.0.0.2", 80)), IsEmpty());
}

TEST(ScannerTest, ProtocolsAndPortConditionsOnPortlessPackets) {
  auto set = Build(R"(alert ip any any -> any any (msg:"ip"; content:"z"; sid:1;)
alert tcp any any -> any any (msg:"tcp"; content:"z"; sid:2;)
alert udp any any -> any any (msg:"udp"; content:"z"; sid:3;)
alert icmp any any -> any any (msg:"icmp"; content:"z"; sid:4;)
alert ip any any -> any 7 (msg:"ip port 7"; content:"z"; sid:5;)
alert icmpv6 any any -> any any (msg:"icmpv6"; content:"z"; sid:6;))");
  ASSERT_TRUE(set);
  EXPECT_THAT(Scan(*set, TestPacket("z", kExt, 1, kIn1, 7)), ElementsAre(1, 2, 5));
  EXPECT_THAT(Scan(*set, TestPacket("z", kExt, 1, kIn1, 7, patterns::kIpProtoUdp)),
              ElementsAre(1, 3, 5));
  EXPECT_THAT(Scan(*set, TestPacket("z", kExt, 0, kIn1, 0, patterns::kIpProtoIcmp)),
              ElementsAre(1, 4));
  EXPECT_THAT(
      Scan(*set, TestPacket("z", "2001:db8::1", 0, "2001:db8::2", 0, patterns::kIpProtoIcmpv6)),
      ElementsAre(1, 4, 6));
  // GRE (47): only "ip" rules without port conditions apply.
  EXPECT_THAT(Scan(*set, TestPacket("z", kExt, 0, kIn1, 0, 47)), ElementsAre(1));
  // A malformed packet (decoder gave up) matches nothing.
  TestPacket bad("z", kExt, 1, kIn1, 7);
  bad.packet().layer = decode::Layer::kNone;
  EXPECT_THAT(Scan(*set, bad), IsEmpty());
}

TEST(ScannerTest, HeaderOnlyRulesRunOnEveryPacketInRuleOrder) {
  auto set = Build(R"(alert tcp any any -> any any (msg:"content"; content:"q"; sid:1;)
alert icmp any any -> any any (msg:"any icmp"; sid:2;)
alert tcp $EXTERNAL_NET any -> $HOME_NET 3389 (msg:"external rdp"; sid:3;)
alert tcp any any -> any any (msg:"content 2"; content:"q"; sid:4;))");
  ASSERT_TRUE(set);
  EXPECT_THAT(set->header_only_rules(), ElementsAre(1, 2));
  EXPECT_THAT(Scan(*set, TestPacket("", kExt, 0, kIn1, 0, patterns::kIpProtoIcmp)), ElementsAre(2));
  EXPECT_THAT(Scan(*set, TestPacket("", kExt, 5000, kIn1, 3389)), ElementsAre(3));
  EXPECT_THAT(Scan(*set, TestPacket("q", kExt, 5000, kIn1, 3389)), ElementsAre(1, 3, 4));
  EXPECT_THAT(Scan(*set, TestPacket("q", kIn2, 5000, kIn1, 3389)), ElementsAre(1, 4));
}

TEST(ScannerTest, EmptySetAndHeaderOnlySetHaveNoDatabase) {
  auto empty = PatternSet::Compile({}, 3);
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_EQ((*empty)->database(), nullptr);
  EXPECT_EQ((*empty)->generation(), 3u);
  EXPECT_EQ((*empty)->expression_count(), 0u);
  EXPECT_THAT(Scan(**empty, TestPacket("anything", kExt, 1, kIn1, 2)), IsEmpty());

  auto header_only = Build(R"(alert tcp any any -> any 22 (msg:"ssh"; sid:1;))");
  ASSERT_TRUE(header_only);
  EXPECT_EQ(header_only->database(), nullptr);
  EXPECT_THAT(Scan(*header_only, TestPacket("SSH-2.0", kExt, 1, kIn1, 22)), ElementsAre(1));
}

TEST(ScannerTest, PrepareForAReloadKeepsTheOldSetUsable) {
  auto small = Build(R"(alert tcp any any -> any any (msg:"a"; content:"alpha"; sid:1;))");
  std::string big_text;
  for (int i = 0; i < 200; ++i) {
    big_text += "alert tcp any any -> any any (msg:\"r\"; content:\"lit" + std::to_string(i) +
                "x\"; content:\"common\"; sid:" + std::to_string(100 + i) + ";)\n";
  }
  auto big = Build(big_text);
  ASSERT_TRUE(small && big);
  Scanner scanner;
  ASSERT_TRUE(scanner.Prepare(*small));
  TestPacket p("alpha lit7x common lit199x", kExt, 1, kIn1, 2);
  EXPECT_THAT(ScanSids(scanner, *small, p), ElementsAre(1));
  // Before Prepare, the bigger set is refused (counted), never scanned out of bounds.
  EXPECT_THAT(ScanSids(scanner, *big, p), IsEmpty());
  EXPECT_EQ(scanner.counters().unprepared, 1u);
  ASSERT_TRUE(scanner.Prepare(*big));
  EXPECT_THAT(ScanSids(scanner, *big, p), ElementsAre(107, 299));
  EXPECT_THAT(ScanSids(scanner, *small, p), ElementsAre(1));  // old set still fine mid-swap
  EXPECT_EQ(scanner.counters().scan_errors, 0u);
  EXPECT_EQ(scanner.counters().packets, 3u);
}

TEST(ScannerTest, ContentHashFollowsRulesAndVariables) {
  const std::string text = R"(alert tcp $HOME_NET any -> any any (msg:"a"; content:"x"; sid:1;))";
  auto a = Build(text);
  auto b = Build("  " + text + "\n# comment\n");
  patterns::ParseOptions other;
  other.vars.SetAddress("HOME_NET", "10.20.0.0/16");
  auto c = Build(text, other);
  auto d = Build(R"(alert tcp $HOME_NET any -> any any (msg:"a"; content:"y"; sid:1;))");
  ASSERT_TRUE(a && b && c && d);
  EXPECT_EQ(a->content_hash().size(), 16u);
  EXPECT_EQ(a->content_hash(), b->content_hash());
  EXPECT_NE(a->content_hash(), c->content_hash());
  EXPECT_NE(a->content_hash(), d->content_hash());
  EXPECT_EQ(a->generation(), 7u);
}

TEST(ScannerTest, CompileRefusesRulesTheParserWouldSkip) {
  patterns::ParseResult r = patterns::ParseRules(
      R"(alert tcp any any -> any any (msg:"a"; content:"x"; sid:42;))", "hand.rules", {});
  ASSERT_EQ(r.rules.size(), 1u);
  r.rules[0].contents[0].negated = true;
  auto set = PatternSet::Compile(std::move(r.rules), 1);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().message,
            "hand.rules:1: sid 42: content 1 is negated; the parser skips such rules");
}

// ---- differential check against a naive matcher ----------------------------------------------

bool NaiveFind(const std::string& hay, const std::string& needle, bool nocase) {
  auto eq = [nocase](char a, char b) {
    if (!nocase) return a == b;
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  };
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), eq) != hay.end();
}

std::string Hex(const std::string& bytes) {
  std::string out = "|";
  for (unsigned char c : bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    out += kDigits[c >> 4];
    out += kDigits[c & 0xf];
    out += ' ';
  }
  out.back() = '|';
  return out;
}

TEST(ScannerTest, MatchesANaiveSearchOnRandomInput) {
  std::mt19937 rng(20240421);  // fixed seed: the same cases every run
  // A small alphabet (with case variants and non-letters) so that literals actually occur.
  const std::string alphabet = "abAB\x00\xff-";
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  auto random_string = [&](size_t min_len, size_t max_len) {
    std::string s(min_len + pick(max_len - min_len + 1), '\0');
    for (char& c : s) c = alphabet[pick(alphabet.size())];
    return s;
  };

  size_t matched_pairs = 0, unmatched_pairs = 0;  // (rule, packet) outcomes
  for (int round = 0; round < 20; ++round) {
    struct Lit {
      std::string bytes;
      bool nocase;
    };
    std::vector<std::vector<Lit>> rule_lits;
    std::string text;
    const size_t n_rules = 1 + pick(40);
    for (size_t r = 0; r < n_rules; ++r) {
      std::vector<Lit> lits;
      text += "alert tcp any any -> any any (msg:\"r" + std::to_string(r) + "\"; ";
      const size_t n_contents = 1 + pick(3);
      for (size_t k = 0; k < n_contents; ++k) {
        Lit lit{random_string(1, 4), pick(2) == 1};
        text += "content:\"" + Hex(lit.bytes) + "\"; " + (lit.nocase ? "nocase; " : "");
        lits.push_back(lit);
      }
      text += "sid:" + std::to_string(r + 1) + ";)\n";
      rule_lits.push_back(lits);
    }
    auto set = Build(text);
    ASSERT_TRUE(set);
    Scanner scanner;
    ASSERT_TRUE(scanner.Prepare(*set));
    for (int i = 0; i < 100; ++i) {
      TestPacket p(random_string(1, 64), kExt, 1, kIn1, 2);
      std::vector<uint32_t> expected;
      const std::string payload(reinterpret_cast<const char*>(p.packet().payload()),
                                p.packet().payload_len);
      for (size_t r = 0; r < n_rules; ++r) {
        bool all = true;
        for (const Lit& lit : rule_lits[r]) all = all && NaiveFind(payload, lit.bytes, lit.nocase);
        if (all) expected.push_back(static_cast<uint32_t>(r + 1));
      }
      matched_pairs += expected.size();
      unmatched_pairs += n_rules - expected.size();
      ASSERT_EQ(ScanSids(scanner, *set, p), expected)
          << "round " << round << " payload " << Hex(payload) << "\nrules:\n"
          << text;
    }
  }
  // The generator must exercise both outcomes, or the comparison proves little.
  EXPECT_GT(matched_pairs, 2000u);
  EXPECT_GT(unmatched_pairs, 2000u);
}

}  // namespace
}  // namespace fs::scan
