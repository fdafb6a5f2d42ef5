// Scanner: compiles small rule sets and scans packets filled by hand: content basics (nocase,
// hex, all contents required, shared expressions), header conditions, IP-only and header-only
// rules, pass rules, evaluation order and flowbits, direction databases, empty sets, reload
// sizing, allocation-free scanning, and a differential check of plain contents against a naive
// std::search matcher. The content/pcre semantics themselves are in payload_semantics_test.cc.
#include "dataplane/scan/scanner.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "patterns/pattern_set.h"
#include "patterns/rule_parser.h"
#include "tests/support/alloc_counter.h"
#include "tests/unit/scanner_test_util.h"

namespace fs::scan {
namespace {

using patterns::PatternSet;
using patterns::PayloadMode;
using patterns::ScanDir;
using testing::Build;
using ::testing::ElementsAre;
using testing::Harness;
using testing::kExactPlans;
using ::testing::IsEmpty;
using testing::Scan;
using testing::TestPacket;
using namespace std::string_literals;

constexpr const char* kExt = "203.0.113.66";
constexpr const char* kIn1 = "10.20.0.15";
constexpr const char* kIn2 = "10.20.1.50";

TEST(ScannerTest, NocaseAndCaseSensitiveContents) {
  auto set = Build(R"(alert tcp any any -> any any (msg:"cs"; content:"Evil"; sid:1;)
alert tcp any any -> any any (msg:"ci"; content:"Evil"; nocase; sid:2;))",
                   {}, testing::kPacketDatabases);
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
alert tcp any any -> any any (msg:"twice"; content:"abc"; content:"abc"; sid:2;))",
      {}, kExactPlans);
  ASSERT_TRUE(set);
  EXPECT_EQ(set->plan(0).mode, PayloadMode::kExact);
  EXPECT_THAT(Scan(*set, TestPacket("abc-xyz", kExt, 1, kIn1, 2)), ElementsAre(1, 2));
  EXPECT_THAT(Scan(*set, TestPacket("xyz-abc", kExt, 1, kIn1, 2)), ElementsAre(1, 2));
  // Two independent contents may be the same occurrence, as in Suricata.
  EXPECT_THAT(Scan(*set, TestPacket("abc", kExt, 1, kIn1, 2)), ElementsAre(2));
  EXPECT_THAT(Scan(*set, TestPacket("xyz", kExt, 1, kIn1, 2)), IsEmpty());
}

TEST(ScannerTest, IdenticalExpressionsAreSharedAcrossRules) {
  auto set = Build(R"(alert tcp any any -> any any (msg:"a"; content:"shared"; sid:1;)
alert tcp any any -> any any (msg:"b"; content:"shared"; content:"extra"; sid:2;)
alert udp any any -> any any (msg:"c"; content:"SHARED"; nocase; sid:3;)
alert tcp any any -> any any (msg:"d"; content:"shared"; nocase; sid:4;)
alert tcp any any -> any any (msg:"e"; content:"|01 02|"; sid:5;)
alert tcp any any -> any any (msg:"f"; content:"|01 02|"; nocase; sid:6;))",
                   {}, {.fast_pattern_prefilter = false, .stream_only = false});
  ASSERT_TRUE(set);
  // "shared", "extra" (sid 2 needs both: the scanner counts them, no combination), caseless
  // "shared" (sid 3 and 4), and |01 02| (nocase means nothing without letters): one database
  // serves both directions.
  EXPECT_TRUE(set->stats().shared_database);
  EXPECT_EQ(set->expression_count(), 4u);
  const PatternSet::Database& db = set->database(ScanDir::kToServer);
  size_t most_targets = 0;
  for (uint32_t id = 0; id < db.expressions; ++id) {
    most_targets = std::max(most_targets, db.TargetsOf(id).size());
  }
  EXPECT_EQ(most_targets, 2u);  // "shared": sid 1, and one of sid 2's two
  EXPECT_THAT(Scan(*set, TestPacket("xx shared xx", kExt, 1, kIn1, 2)), ElementsAre(1, 4));
  EXPECT_THAT(Scan(*set, TestPacket("SHARED extra", kExt, 1, kIn1, 2)), ElementsAre(4));
  EXPECT_THAT(Scan(*set, TestPacket("shared extra \x01\x02", kExt, 1, kIn1, 2)),
              ElementsAre(1, 2, 4, 5, 6));
}

TEST(ScannerTest, RulesNeedingSeveralExpressionsCountDistinctMatches) {
  // The scanner decides "all of a rule's expressions matched" by counting reports: repeated
  // occurrences of one expression, or an expression two rules share, must not count twice.
  auto set = Build(
      R"(alert tcp any any -> any any (msg:"three"; content:"alpha"; content:"beta"; content:"gamma"; sid:1;)
alert tcp any any -> any any (msg:"two"; content:"alpha"; content:"delta"; sid:2;)
alert tcp any any -> any any (msg:"same twice"; content:"alpha"; content:"alpha"; content:"omega"; sid:3;))",
      {}, kExactPlans);
  ASSERT_TRUE(set);
  EXPECT_THAT(Scan(*set, TestPacket("alpha alpha alpha beta", kExt, 1, kIn1, 2)), IsEmpty());
  EXPECT_THAT(Scan(*set, TestPacket("alpha alpha alpha omega", kExt, 1, kIn1, 2)), ElementsAre(3));
  EXPECT_THAT(Scan(*set, TestPacket("gamma beta alpha", kExt, 1, kIn1, 2)), ElementsAre(1));
  EXPECT_THAT(Scan(*set, TestPacket("delta alpha gamma", kExt, 1, kIn1, 2)), ElementsAre(2));
  EXPECT_THAT(Scan(*set, TestPacket("beta delta gamma alpha", kExt, 1, kIn1, 2)),
              ElementsAre(1, 2));
  // Counts do not leak from one packet to the next.
  EXPECT_THAT(Scan(*set, TestPacket("alpha beta", kExt, 1, kIn1, 2)), IsEmpty());
  EXPECT_THAT(Scan(*set, TestPacket("gamma", kExt, 1, kIn1, 2)), IsEmpty());
}

TEST(ScannerTest, SeveralContentsArePrefilteredByTheirFastPattern) {
  // Default plans: one literal per rule in Hyperscan (the fast_pattern content, else the longest
  // positive one), the confirmation program decides; single-content rules stay exact.
  auto set =
      Build(R"(alert tcp any any -> any any (msg:"longest"; content:"ab"; content:"wxyz"; sid:1;)
alert tcp any any -> any any (msg:"marked"; content:"ab"; fast_pattern; content:"wxyz"; sid:2;)
alert tcp any any -> any any (msg:"one"; content:"wxyz"; sid:3;)
alert tcp any any -> any any (msg:"negated"; content:"wxyz"; content:!"ab"; sid:4;))",
            {}, testing::kPacketDatabases);
  ASSERT_TRUE(set);
  for (uint32_t sid : {1u, 2u, 4u}) {
    const auto& rules = set->rules();
    const auto it =
        std::find_if(rules.begin(), rules.end(), [&](const auto& r) { return r.sid == sid; });
    EXPECT_EQ(set->plan(static_cast<uint32_t>(it - rules.begin())).mode, PayloadMode::kConfirm)
        << sid;
  }
  EXPECT_EQ(set->expression_count(), 2u);  // "wxyz" and "ab"
  Harness h(*set);
  EXPECT_THAT(h.Sids(TestPacket("ab-wxyz", kExt, 1, kIn1, 2)), ElementsAre(1, 2, 3));
  EXPECT_THAT(h.Sids(TestPacket("wxyz", kExt, 1, kIn1, 2)), ElementsAre(3, 4));
  EXPECT_THAT(h.Sids(TestPacket("ab", kExt, 1, kIn1, 2)), IsEmpty());
  // Confirmations run only where a fast pattern matched: "wxyz" for sids 1 and 4, "ab" for 2.
  const uint64_t before = h.scanner().counters().confirmations;
  EXPECT_THAT(h.Sids(TestPacket("nothing here", kExt, 1, kIn1, 2)), IsEmpty());
  EXPECT_EQ(h.scanner().counters().confirmations, before);
}

// Packets without payload skip evaluation only when no rule of their direction can match one:
// header-only rules (shared or in a port's group) and IP-only rules keep it.
TEST(ScannerTest, PacketsWithoutPayloadAreEvaluatedWhenARuleCanMatchThem) {
  using patterns::ScanDir;
  auto payload_only = Build(R"(alert tcp any any -> any 443 (msg:"c"; content:"abc"; sid:1;)
alert tcp any any -> any any (msg:"d"; content:"xyz"; sid:2;)
)");
  ASSERT_TRUE(payload_only);
  EXPECT_FALSE(payload_only->evaluates_without_payload(ScanDir::kToServer));
  EXPECT_FALSE(payload_only->evaluates_without_payload(ScanDir::kToClient));
  TestPacket empty("", "10.0.0.1", 40000, "10.0.0.2", 443);
  TestPacket abc("abc", "10.0.0.1", 40000, "10.0.0.2", 443);
  EXPECT_TRUE(Scan(*payload_only, empty).empty());
  EXPECT_EQ(Scan(*payload_only, abc), std::vector<uint32_t>{1});

  struct Case {
    const char* rule;
    ScanDir dir;
    uint64_t nth;  // the packet's place in its direction (IP-only rules: the first only)
  };
  const Case cases[] = {
      // Header-only, shared (any port) and in the 443 group.
      {"alert tcp any any -> any any (msg:\"h\"; flags:A; sid:3;)", ScanDir::kToServer, 5},
      {"alert tcp any any -> any 443 (msg:\"g\"; flags:A; sid:3;)", ScanDir::kToServer, 5},
      // To-client only.
      {"alert tcp any 443 -> any any (msg:\"c\"; flags:A; sid:3;)", ScanDir::kToClient, 5},
      // IP-only.
      {"alert ip 10.0.0.0/8 any -> any any (msg:\"i\"; sid:3;)", ScanDir::kToServer, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.rule);
    auto set = Build(std::string(c.rule) + "\nalert tcp any any -> any any (msg:\"d\"; "
                                           "content:\"xyz\"; sid:2;)\n");
    ASSERT_TRUE(set);
    EXPECT_TRUE(set->evaluates_without_payload(c.dir));
    const bool to_client = c.dir == ScanDir::kToClient;
    TestPacket ack("", to_client ? "10.0.0.2" : "10.0.0.1", to_client ? 443 : 40000,
                   to_client ? "10.0.0.1" : "10.0.0.2", to_client ? 40000 : 443);
    ack.packet().tcp_flags = decode::tcpflag::kAck;
    Harness h(*set);
    EXPECT_EQ(h.Sids(ack, to_client ? flow::Dir::kToClient : flow::Dir::kToServer, c.nth),
              std::vector<uint32_t>{3});
  }
}

TEST(ScannerTest, IpOnlyIndexGivesExactlyTheRulesWhoseAddressesMatch) {
  // Random IP-only rules over overlapping prefixes (both families, "any", lists, <>), random
  // packets: the alerts are exactly the rules whose header matches, checked rule by rule.
  const std::vector<std::string> nets = {"any",
                                         "10.0.0.0/8",
                                         "10.1.0.0/16",
                                         "10.1.2.3",
                                         "[10.1.2.3,192.168.7.0/24]",
                                         "192.168.0.0/16",
                                         "[172.16.0.0/12,10.200.0.0/16]",
                                         "2001:db8::/32",
                                         "[2001:db8:1::/48,10.9.9.9]",
                                         "0.0.0.0/0"};
  const std::vector<std::string> hosts = {"10.1.2.3", "10.1.9.9",   "10.200.3.4",  "192.168.7.8",
                                          "192.168.1.1", "172.20.0.1", "8.8.8.8", "2001:db8:1::5",
                                          "2001:db8:2::5", "2001:dead::1", "10.9.9.9"};
  std::mt19937 rng(11);
  for (int round = 0; round < 20; ++round) {
    std::string text;
    for (uint32_t sid = 1; sid <= 150; ++sid) {
      text += fmt::format("alert ip {} any {} {} any (msg:\"r\"; sid:{};)\n",
                          nets[rng() % nets.size()], rng() % 3 == 0 ? "<>" : "->",
                          nets[rng() % nets.size()], sid);
    }
    auto set = Build(text);
    ASSERT_TRUE(set);
    ASSERT_EQ(set->stats().ip_only, 150u);
    for (int i = 0; i < 40; ++i) {
      const std::string& src = hosts[rng() % hosts.size()];
      const std::string& dst = hosts[rng() % hosts.size()];
      TestPacket tp("", src.c_str(), 1000, dst.c_str(), 80);
      patterns::PacketHeader h;
      h.ip_version = tp.packet().ip_version;
      h.proto = patterns::kIpProtoTcp;
      h.has_ports = true;
      h.src = patterns::ToU128(tp.packet().src);
      h.dst = patterns::ToU128(tp.packet().dst);
      h.sport = 1000;
      h.dport = 80;
      std::vector<uint32_t> want;
      for (uint32_t r = 0; r < set->size(); ++r) {
        if (set->header(r).Matches(h)) want.push_back(set->rules()[r].sid);
      }
      EXPECT_EQ(Scan(*set, tp), want) << src << " -> " << dst;
    }
  }
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

TEST(ScannerTest, ATcpPayloadScansTheTcpAndIpRulesAndAnyOtherPayloadTheRest) {
  // The packet databases are compiled by protocol class (PatternSet::packet_database): a UDP
  // rule's literal costs a TCP payload nothing (and never reports there), and the other way round.
  // (A depth keeps the tcp rule in the packet databases, not only in the stream's.)
  auto set = Build(R"(alert tcp any any -> any any (msg:"tcp"; content:"tcplit"; depth:30; sid:1;)
alert udp any any -> any any (msg:"udp"; content:"udplit"; sid:2;)
alert ip any any -> any any (msg:"ip"; content:"iplit"; sid:3;)
alert icmp any any -> any any (msg:"icmp"; content:"icmplit"; sid:4;))");
  ASSERT_TRUE(set);
  const PatternSet::Database& tcp = set->packet_database(ScanDir::kToServer, patterns::kIpProtoTcp, 0);
  const PatternSet::Database& other =
      set->packet_database(ScanDir::kToServer, patterns::kIpProtoUdp, 0);
  EXPECT_EQ(tcp.expressions, 2u);    // tcplit, iplit
  EXPECT_EQ(other.expressions, 3u);  // udplit, iplit, icmplit
  EXPECT_NE(tcp.db, nullptr);
  EXPECT_NE(other.db, nullptr);
  EXPECT_EQ(&set->packet_database(ScanDir::kToServer, patterns::kIpProtoIcmp, 0), &other);
  EXPECT_EQ(&set->packet_database(ScanDir::kToServer, 47, 0), &other);
  EXPECT_EQ(set->stats().class_expressions[0][0], 2u);
  EXPECT_EQ(set->stats().class_expressions[0][1], 3u);
  // The direction's database keeps the lists and the count; its rules are compiled by class only.
  EXPECT_EQ(set->database(ScanDir::kToServer).expressions, 4u);
  EXPECT_EQ(set->database(ScanDir::kToServer).db, nullptr);
  const std::string all = "tcplit udplit iplit icmplit";
  EXPECT_THAT(Scan(*set, TestPacket(all, kExt, 1, kIn1, 7)), ElementsAre(1, 3));
  EXPECT_THAT(Scan(*set, TestPacket(all, kExt, 1, kIn1, 7, patterns::kIpProtoUdp)),
              ElementsAre(2, 3));
  EXPECT_THAT(Scan(*set, TestPacket(all, kExt, 0, kIn1, 0, patterns::kIpProtoIcmp)),
              ElementsAre(3, 4));
  EXPECT_THAT(Scan(*set, TestPacket(all, kExt, 0, kIn1, 0, 47)), ElementsAre(3));
}

TEST(ScannerTest, APacketBetweenTwoHomeHostsScansOnlyTheRulesItsAddressesCanMatch) {
  // The packet and stream databases are compiled by address class (PatternSet::AddrClassOf): a
  // rule that needs an external side costs the traffic between two home hosts nothing there.
  // (Depths keep the rules in the packet databases as well as the stream's.)
  auto set = Build(
      R"(alert tcp $EXTERNAL_NET any -> $HOME_NET any (msg:"in"; content:"inlit"; depth:60; sid:1;)
alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"out"; content:"outlit"; depth:60; sid:2;)
alert tcp $HOME_NET any -> $HOME_NET any (msg:"lateral"; content:"latlit"; depth:60; sid:3;)
alert tcp any any -> any any (msg:"any"; content:"anylit"; depth:60; sid:4;)
alert tcp $EXTERNAL_NET any <> $HOME_NET any (msg:"bidir"; content:"bilit"; depth:60; sid:5;)
alert tcp ![10.20.0.0/16,203.0.113.0/24] any -> any any (msg:"list"; content:"neglit"; depth:60; sid:6;))");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->stats().home_ranges, 3u);  // the default HOME_NET: 10/8, 172.16/12, 192.168/16
  const patterns::U128 in1 = patterns::ToU128(*IpAddr::Parse(kIn1));
  const patterns::U128 in2 = patterns::ToU128(*IpAddr::Parse(kIn2));
  const patterns::U128 ext = patterns::ToU128(*IpAddr::Parse(kExt));
  EXPECT_EQ(set->AddrClassOf(in1, in2), 1);
  EXPECT_EQ(set->AddrClassOf(ext, in1), 0);
  EXPECT_EQ(set->AddrClassOf(in1, ext), 0);
  const auto tcp = patterns::kIpProtoTcp;
  // Home to home: latlit, anylit and neglit (its source list leaves out 10.20/16 only).
  EXPECT_EQ(set->packet_database(ScanDir::kToServer, tcp, 1).expressions, 3u);
  // Any other: inlit, outlit, anylit, bilit, neglit.
  EXPECT_EQ(set->packet_database(ScanDir::kToServer, tcp, 0).expressions, 5u);
  EXPECT_EQ(set->stream_class_database(ScanDir::kToServer, 1).expressions, 3u);
  EXPECT_EQ(set->stream_class_database(ScanDir::kToServer, 0).expressions, 5u);
  EXPECT_EQ(set->stats().class_expressions[0][0], 6u);  // before the split
  // UDP and other payloads are not split: one database serves both classes.
  EXPECT_EQ(&set->packet_database(ScanDir::kToServer, patterns::kIpProtoUdp, 0),
            &set->packet_database(ScanDir::kToServer, patterns::kIpProtoUdp, 1));
  const std::string all = "inlit outlit latlit anylit bilit neglit";
  EXPECT_THAT(Scan(*set, TestPacket(all, kIn1, 1, kIn2, 7)), ElementsAre(3, 4));
  EXPECT_THAT(Scan(*set, TestPacket(all, "172.16.9.9", 1, kIn2, 7)), ElementsAre(3, 4, 6));
  EXPECT_THAT(Scan(*set, TestPacket(all, kExt, 1, kIn1, 7)), ElementsAre(1, 4, 5));
  EXPECT_THAT(Scan(*set, TestPacket(all, kIn1, 1, kExt, 7)), ElementsAre(2, 4, 5));
  EXPECT_THAT(Scan(*set, TestPacket(all, "198.51.100.1", 1, kExt, 7)), ElementsAre(4, 6));

  // Without an address set in the rules there is no home set: one database serves both classes.
  auto plain = Build(R"(alert tcp any any -> any any (msg:"a"; content:"alit"; depth:9; sid:1;))");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->stats().home_ranges, 0u);
  EXPECT_EQ(plain->AddrClassOf(in1, in2), 0);
  EXPECT_EQ(&plain->packet_database(ScanDir::kToServer, tcp, 0),
            &plain->packet_database(ScanDir::kToServer, tcp, 1));
  // Nor when the option is off (every rule in both classes' database).
  patterns::CompileOptions off;
  off.addr_classes = false;
  auto unsplit = Build(R"(alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"out"; content:"o"; depth:9; sid:1;))",
                       {}, off);
  ASSERT_TRUE(unsplit);
  EXPECT_EQ(unsplit->stats().home_ranges, 0u);
  EXPECT_EQ(unsplit->packet_database(ScanDir::kToServer, tcp, 0).expressions, 1u);
}

TEST(ScannerTest, IpOnlyRulesRunOnTheFirstPacketOfEachDirection) {
  // Suricata evaluates rules without contents and without negated addresses ("IP-only") once
  // per flow direction; one with a negated address (here $EXTERNAL_NET) on every packet.
  auto set = Build(R"(alert tcp any any -> any any (msg:"content"; content:"q"; sid:1;)
alert icmp any any -> any any (msg:"any icmp"; sid:2;)
alert tcp $EXTERNAL_NET any -> $HOME_NET 3389 (msg:"external rdp"; sid:3;)
alert tcp 203.0.113.0/24 any -> any any (msg:"bad net"; sid:4;))");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->stats().header_only, 3u);
  EXPECT_EQ(set->stats().ip_only, 2u);
  Harness h(*set);
  TestPacket icmp("", kExt, 0, kIn1, 0, patterns::kIpProtoIcmp);
  EXPECT_THAT(h.Sids(icmp, flow::Dir::kToServer, 1), ElementsAre(2));
  EXPECT_THAT(h.Sids(icmp, flow::Dir::kToServer, 2), IsEmpty());
  EXPECT_THAT(h.Sids(icmp, flow::Dir::kToClient, 1), ElementsAre(2));
  TestPacket rdp("q", kExt, 5000, kIn1, 3389);
  EXPECT_THAT(h.Sids(rdp, flow::Dir::kToServer, 1), ElementsAre(1, 3, 4));
  EXPECT_THAT(h.Sids(rdp, flow::Dir::kToServer, 7), ElementsAre(1, 3));
  TestPacket empty("", kExt, 5000, kIn1, 3389);  // header-only rules need no payload
  EXPECT_THAT(h.Sids(empty, flow::Dir::kToServer, 8), ElementsAre(3));
  EXPECT_THAT(h.Sids(TestPacket("q", kIn2, 5000, kIn1, 3389)), ElementsAre(1));
}

#if FS_HAVE_CONDITIONS
TEST(ScannerTest, FlagsItypeIcodeRulesAreCheckedOnEveryPacket) {
  auto set = Build(R"(alert tcp any any -> any any (msg:"syn"; flags:S,12; sid:1;)
alert icmp any any -> any any (msg:"echo"; itype:8; icode:0; sid:2;)
alert tcp any any -> any any (msg:"not rst"; content:"x"; flags:!R; sid:3;))");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->stats().ip_only, 0u);  // header-only, but not IP-only: every packet
  Harness h(*set);
  TestPacket syn("", kExt, 1, kIn1, 2);
  syn.packet().tcp_flags = decode::tcpflag::kSyn | decode::tcpflag::kEce | decode::tcpflag::kCwr;
  EXPECT_THAT(h.Sids(syn), ElementsAre(1));
  EXPECT_THAT(h.Sids(syn), ElementsAre(1));  // again on the next packet of the flow
  TestPacket synack("x", kIn1, 2, kExt, 1);
  synack.packet().tcp_flags = decode::tcpflag::kSyn | decode::tcpflag::kAck;
  EXPECT_THAT(h.Sids(synack), ElementsAre(3));
  TestPacket rst("x", kExt, 1, kIn1, 2);
  rst.packet().tcp_flags = decode::tcpflag::kRst | decode::tcpflag::kAck;
  EXPECT_THAT(h.Sids(rst), IsEmpty());

  TestPacket echo("", kExt, 0, kIn1, 0, 1);
  echo.packet().icmp_type = 8;
  EXPECT_THAT(Scan(*set, echo), ElementsAre(2));
  echo.packet().icmp_code = 1;
  EXPECT_THAT(Scan(*set, echo), IsEmpty());
  TestPacket reply("", kExt, 0, kIn1, 0, 1);
  EXPECT_THAT(Scan(*set, reply), IsEmpty());  // type 0
}
#endif

TEST(ScannerTest, PassRulesComeFirstAndSuppressThePacketsAlerts) {
  auto set = Build(R"(alert tcp any any -> any any (msg:"alert"; content:"update"; sid:1;)
pass tcp 10.20.0.5 any -> any any (msg:"patch server"; content:"update"; sid:2;)
alert tcp any any -> any any (msg:"other"; content:"zz"; sid:3;))");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->rules()[0].sid, 2u);  // pass before alert: Suricata's action order
  Harness h(*set);
  EXPECT_THAT(h.Sids(TestPacket("update zz", "10.20.0.5", 1, kExt, 80)), IsEmpty());
  EXPECT_THAT(h.Sids(TestPacket("update zz", "10.20.0.6", 1, kExt, 80)), ElementsAre(1, 3));
  EXPECT_THAT(h.Sids(TestPacket("zz", "10.20.0.5", 1, kExt, 80)), ElementsAre(3));
  EXPECT_EQ(h.scanner().counters().passed, 1u);
}

TEST(ScannerTest, PassAppliesToTheFlowForIpOnlyRulesAndTcpPayloadMatches) {
  // Suricata 7 passes the whole flow when the pass rule is IP-only or matched on the stream
  // (TCP payload); a UDP payload match or a header rule that is not IP-only passes the packet.
  auto set = Build(R"(pass tcp any any -> any 445 (msg:"tcp payload"; content:"trusted"; sid:1;)
pass udp any any -> any 53 (msg:"udp payload"; content:"trusted"; sid:2;)
pass ip 10.20.0.99 any -> any any (msg:"ip-only"; sid:3;)
pass tcp any any -> any 8080 (msg:"header, not ip-only"; flow:to_server; sid:4;)
alert tcp any any -> any any (msg:"any"; content:"x"; sid:5;))");
  ASSERT_TRUE(set);
  struct Case {
    const char* what;
    const char* payload;
    const char* src;
    uint16_t dport;
    uint8_t proto;
    bool passed, flow;
  };
  const Case cases[] = {
      {"tcp payload pass", "trusted x", kExt, 445, patterns::kIpProtoTcp, true, true},
      {"udp payload pass", "trusted x", kExt, 53, patterns::kIpProtoUdp, true, false},
      {"ip-only pass", "x", "10.20.0.99", 1234, patterns::kIpProtoTcp, true, true},
      {"header pass, not ip-only", "x", kExt, 8080, patterns::kIpProtoTcp, true, false},
      {"no pass", "x", kExt, 446, patterns::kIpProtoTcp, false, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Harness h(*set);
    h.flow().proto = c.proto;
    const auto sids = h.Sids(TestPacket(c.payload, c.src, 1000, kIn1, c.dport, c.proto));
    EXPECT_EQ(sids.empty(), c.passed);
    EXPECT_EQ(h.scanner().pass_flow(), c.flow);
    // The next packet without a pass match resets the decision.
    h.Sids(TestPacket("y", kExt, 1000, kIn1, 446), flow::Dir::kToServer, 2);
    EXPECT_FALSE(h.scanner().pass_flow());
  }
  // Without a flow nothing can be passed beyond the packet.
  Scanner scanner;
  ASSERT_TRUE(scanner.Prepare(*set));
  auto state = testing::MakeRuleState();
  TestPacket tp("trusted", kExt, 1000, kIn1, 445);
  scanner.ScanPacket(*set, tp.packet(), *state, [](uint32_t) {});
  EXPECT_FALSE(scanner.pass_flow());
}

TEST(ScannerTest, EvaluationOrderIsPrioritySidAndReportsFollowIt) {
  auto set = Build(R"(alert tcp any any -> any any (msg:"c"; content:"x"; sid:30;)
alert tcp any any -> any any (msg:"a"; content:"x"; priority:1; sid:50;)
alert tcp any any -> any any (msg:"b"; content:"x"; sid:10;))");
  ASSERT_TRUE(set);
  EXPECT_THAT(Scan(*set, TestPacket("x", kExt, 1, kIn1, 2)), ElementsAre(50, 10, 30));
}

#if FS_HAVE_CONDITIONS
TEST(ScannerTest, FlowbitSettersRunBeforeTestersOnTheSamePacket) {
  // sid 1 tests the bit that sid 2 sets; Suricata orders setters first, so the packet that sets
  // it also alerts the tester.
  auto set = Build(
      R"(alert tcp any any -> any any (msg:"test"; content:"login"; flowbits:isset,seen; sid:1;)
alert tcp any any -> any any (msg:"set"; content:"login"; flowbits:set,seen; sid:2;)
alert tcp any any -> any any (msg:"quiet"; content:"hello"; flowbits:set,seen; flowbits:noalert; sid:3;))");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->rules()[0].sid, 2u);
  Harness h(*set);
  EXPECT_THAT(h.Sids(TestPacket("login", kExt, 1, kIn1, 2)), ElementsAre(2, 1));
  Harness h2(*set);
  EXPECT_THAT(h2.Sids(TestPacket("hello", kExt, 1, kIn1, 2)), IsEmpty());  // noalert, bit set
  EXPECT_THAT(h2.Sids(TestPacket("xlogin", kExt, 1, kIn1, 2), flow::Dir::kToServer, 2),
              ElementsAre(2, 1));
}

TEST(ScannerTest, PacketsWithoutAFlowCountAsToServer) {
  auto set = Build(
      R"(alert udp any any -> any any (msg:"plain"; content:"frag"; sid:1;)
alert udp any any -> any any (msg:"bit"; content:"frag"; flowbits:isset,x; sid:2;)
alert udp any any -> any any (msg:"reply"; flow:to_client; content:"frag"; sid:3;))");
  ASSERT_TRUE(set);
  Scanner scanner;
  ASSERT_TRUE(scanner.Prepare(*set));
  auto state = testing::MakeRuleState();
  TestPacket p("frag", kExt, 1, kIn1, 2, patterns::kIpProtoUdp);
  std::vector<uint32_t> sids;
  scanner.ScanPacket(*set, p.packet(), *state,
                     [&](uint32_t r) { sids.push_back(set->rules()[r].sid); });
  EXPECT_THAT(sids, ElementsAre(1));
}

TEST(ScannerTest, DirectionDatabasesHoldTheRulesOfTheirDirection) {
  auto set = Build(
      R"(alert tcp any any -> any any (msg:"req"; flow:to_server; content:"GET"; sid:1;)
alert tcp any any -> any any (msg:"resp"; flow:to_client; content:"HTTP/1."; sid:2;)
alert tcp any any -> any any (msg:"any"; content:"GET"; sid:3;))",
      {}, testing::kPacketDatabases);
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->stats().shared_database);
  const auto& plan = [&](uint32_t sid) -> const patterns::RulePlan& {
    for (uint32_t i = 0; i < set->size(); ++i) {
      if (set->rules()[i].sid == sid) return set->plan(i);
    }
    return set->plan(0);
  };
  EXPECT_TRUE(plan(1).dirs[0] && !plan(1).dirs[1]);
  EXPECT_TRUE(!plan(2).dirs[0] && plan(2).dirs[1]);
  EXPECT_TRUE(plan(3).dirs[0] && plan(3).dirs[1]);
  EXPECT_EQ(set->database(ScanDir::kToServer).expressions, 1u);  // "GET", shared by 1 and 3
  EXPECT_EQ(set->database(ScanDir::kToClient).expressions, 2u);
  Harness h(*set);
  TestPacket p("GET / HTTP/1.1", kIn1, 40000, kExt, 80);
  EXPECT_THAT(h.Sids(p, flow::Dir::kToServer), ElementsAre(1, 3));
  EXPECT_THAT(h.Sids(p, flow::Dir::kToClient), ElementsAre(2, 3));
}
#endif

TEST(ScannerTest, EmptySetAndHeaderOnlySetHaveNoDatabase) {
  auto empty = PatternSet::Compile({}, 3);
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_EQ((*empty)->database(ScanDir::kToServer).db, nullptr);
  EXPECT_EQ((*empty)->generation(), 3u);
  EXPECT_EQ((*empty)->expression_count(), 0u);
  EXPECT_THAT(Scan(**empty, TestPacket("anything", kExt, 1, kIn1, 2)), IsEmpty());

  auto header_only = Build(R"(alert tcp any any -> any 22 (msg:"ssh"; sid:1;))");
  ASSERT_TRUE(header_only);
  EXPECT_EQ(header_only->database(ScanDir::kToServer).db, nullptr);
  EXPECT_THAT(Scan(*header_only, TestPacket("SSH-2.0", kExt, 1, kIn1, 22)), ElementsAre(1));
}

TEST(ScannerTest, PrepareForAReloadKeepsTheOldSetUsable) {
  auto small = Build(R"(alert tcp any any -> any any (msg:"a"; content:"alpha"; sid:1;))", {},
                     testing::kPacketDatabases);
  std::string big_text;
  for (int i = 0; i < 200; ++i) {
    big_text += "alert tcp any any -> any any (msg:\"r\"; content:\"lit" + std::to_string(i) +
                "x\"; content:\"common\"; pcre:\"/lit" + std::to_string(i) +
                "x\\s/\"; sid:" + std::to_string(100 + i) + ";)\n";
  }
  auto big = Build(big_text, {}, testing::kPacketDatabases);
  ASSERT_TRUE(small && big);
  Scanner scanner;
  auto state = testing::MakeRuleState();
  flow::Flow flow;
  auto sids = [&](const PatternSet& set, const TestPacket& p) {
    std::vector<uint32_t> out;
    scanner.ScanPacket(set, p.packet(), flow, flow::Dir::kToServer, *state,
                       [&](uint32_t r) { out.push_back(set.rules()[r].sid); });
    return out;
  };
  ASSERT_TRUE(scanner.Prepare(*small));
  TestPacket p("alpha lit7x common lit199x ", kExt, 1, kIn1, 2);
  EXPECT_THAT(sids(*small, p), ElementsAre(1));
  // Before Prepare, the bigger set is refused (counted), never scanned out of bounds.
  EXPECT_THAT(sids(*big, p), IsEmpty());
  EXPECT_EQ(scanner.counters().unprepared, 1u);
  ASSERT_TRUE(scanner.Prepare(*big));
  EXPECT_THAT(sids(*big, p), ElementsAre(107, 299));
  EXPECT_THAT(sids(*small, p), ElementsAre(1));  // old set still fine mid-swap
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

TEST(ScannerTest, CompileNamesTheRuleOfABadPcre) {
  patterns::ParseResult r = patterns::ParseRules(
      R"(alert tcp any any -> any any (msg:"a"; content:"x"; pcre:"/a/"; sid:42;))", "hand.rules",
      {});
  ASSERT_EQ(r.rules.size(), 1u);
  r.rules[0].pcres[0].regex = "a(";  // what the parser would have refused
  auto set = PatternSet::Compile(std::move(r.rules), 1);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().message,
            "hand.rules:1: sid 42: pcre2 compile of \"/a(/\" failed at offset 2: missing closing "
            "parenthesis");
}

TEST(ScannerTest, ScanningAllocatesNothing) {
  auto set = Build(
      R"(alert tcp any any -> any any (msg:"chain"; content:"GET "; depth:4; content:"/adm"; distance:0; within:20; sid:1;)
alert tcp any any -> any any (msg:"neg"; content:"GET"; content:!"Host|3a|"; sid:2;)
alert tcp any any -> any any (msg:"rel pcre"; content:"user="; pcre:"/^[a-z]{3,8}&/R"; sid:3;)
alert tcp any any -> any any (msg:"backref"; pcre:"/(ab)\1/"; sid:4;)
alert tcp any any -> any any (msg:"neg dist"; content:"min"; content:"adm"; distance:-5; within:3; sid:5;)
alert tcp any any -> any any (msg:"header"; sid:6;))",
      {}, kExactPlans);
  ASSERT_TRUE(set);
  EXPECT_GT(set->stats().exact, 0u);
  EXPECT_GT(set->stats().confirm, 0u);
  Harness h(*set);
  TestPacket p("GET /admin?user=bob&x=abab", kExt, 1, kIn1, 80);
  h.Sids(p);  // first use: nothing lazily allocated afterwards either
  Scanner& scanner = h.scanner();
  auto state = testing::MakeRuleState();
  uint32_t matches = 0;
  const uint64_t before = fs::test_support::Allocations();
  for (int i = 0; i < 100; ++i) {
    scanner.ScanPacket(*set, p.packet(), h.flow(), flow::Dir::kToServer, *state,
                       [&](uint32_t) { ++matches; });
  }
  EXPECT_EQ(fs::test_support::Allocations(), before);
  EXPECT_EQ(matches, 100u * 6u);
  EXPECT_GE(scanner.counters().confirmations, 300u);
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

TEST(ScannerTest, PlainContentsMatchANaiveSearchOnRandomInput) {
  std::mt19937 rng(20240421);  // fixed seed: the same cases every run
  // A small alphabet (with case variants and non-letters) so that literals actually occur.
  const std::string alphabet = "abAB\x00\xff-"s;
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
        text += "content:\"" + testing::Hex(lit.bytes) + "\"; " + (lit.nocase ? "nocase; " : "");
        lits.push_back(lit);
      }
      text += "sid:" + std::to_string(r + 1) + ";)\n";
      rule_lits.push_back(lits);
    }
    auto set = Build(text);
    ASSERT_TRUE(set);
    Harness h(*set);
    for (int i = 0; i < 100; ++i) {
      TestPacket p(random_string(1, 64), kExt, 1, kIn1, 2);
      std::vector<uint32_t> expected;
      const std::string payload(p.payload());
      for (size_t r = 0; r < n_rules; ++r) {
        bool all = true;
        for (const Lit& lit : rule_lits[r]) all = all && NaiveFind(payload, lit.bytes, lit.nocase);
        if (all) expected.push_back(static_cast<uint32_t>(r + 1));
      }
      matched_pairs += expected.size();
      unmatched_pairs += n_rules - expected.size();
      ASSERT_EQ(h.Sids(p), expected)
          << "round " << round << " payload " << testing::Hex(payload) << "\nrules:\n"
          << text;
    }
  }
  // The generator must exercise both outcomes, or the comparison proves little.
  EXPECT_GT(matched_pairs, 2000u);
  EXPECT_GT(unmatched_pairs, 2000u);
}

}  // namespace
}  // namespace fs::scan
