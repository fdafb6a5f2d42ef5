// Port groups of the packet databases (PatternSet::Database::groups): which rules leave the
// shared database for the group of their server-side port, how a packet finds its group, the cap
// on groups, and a differential check that a set with port groups reports exactly what the same
// set without them reports, over random headers, directions and payloads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "dataplane/scan/scanner.h"
#include "dataplane/scan/stream_pool.h"
#include "patterns/pattern_set.h"
#include "tests/unit/scanner_test_util.h"

namespace fs::scan {
namespace {

using patterns::PatternSet;
using patterns::ScanDir;
using testing::Build;
using ::testing::ElementsAre;
using testing::Harness;
using ::testing::IsEmpty;
using testing::TestPacket;

constexpr patterns::CompileOptions kNoGroups{.port_groups = false};
constexpr const char* kClient = "10.20.0.15";
constexpr const char* kServer = "203.0.113.66";

TEST(PortGroupsTest, RulesConfinedToAFewServerPortsLeaveTheSharedDatabase) {
  auto set = Build(R"(alert tcp any any -> any 445 (msg:"smb"; content:"smb"; sid:1;)
alert udp any any -> any [53,5353] (msg:"dns"; content:"dns"; sid:2;)
alert ip any any -> any 7 (msg:"echo"; content:"echo"; sid:3;)
alert tcp any any -> any any (msg:"any port"; content:"any"; sid:4;)
alert tcp any any -> any 1024: (msg:"high ports"; content:"high"; sid:5;)
alert tcp any any -> any !80 (msg:"not 80"; content:"not80"; sid:6;)
alert tcp any 445 -> any any (msg:"from 445"; content:"from"; sid:7;))",
                   {}, testing::kPacketDatabases);
  ASSERT_TRUE(set);
  // Both directions have every rule (no flow keyword), but the groups differ: to-server keys on
  // the destination port (1, 2, 3), to-client on the source port (7).
  EXPECT_FALSE(set->stats().shared_database);
  EXPECT_EQ(set->stats().port_grouped_rules[0], 3u);
  EXPECT_EQ(set->stats().port_grouped_rules[1], 1u);
  const PatternSet::Database& ts = set->database(ScanDir::kToServer);
  EXPECT_EQ(ts.expressions, 4u);  // any, high, not80, from
  ASSERT_NE(ts.GroupFor(patterns::kIpProtoTcp, 445), nullptr);
  EXPECT_EQ(ts.GroupFor(patterns::kIpProtoTcp, 445)->expressions, 1u);
  EXPECT_EQ(ts.GroupFor(patterns::kIpProtoUdp, 445), nullptr);  // a tcp rule: no udp group
  EXPECT_EQ(ts.GroupFor(patterns::kIpProtoTcp, 53), nullptr);
  ASSERT_NE(ts.GroupFor(patterns::kIpProtoUdp, 5353), nullptr);
  // An ip rule with a port is in the tcp and the udp group of that port.
  ASSERT_NE(ts.GroupFor(patterns::kIpProtoTcp, 7), nullptr);
  ASSERT_NE(ts.GroupFor(patterns::kIpProtoUdp, 7), nullptr);
  EXPECT_EQ(ts.GroupFor(patterns::kIpProtoIcmp, 7), nullptr);
  EXPECT_EQ(ts.GroupFor(patterns::kIpProtoTcp, 80), nullptr);
  const PatternSet::Database& tc = set->database(ScanDir::kToClient);
  ASSERT_NE(tc.GroupFor(patterns::kIpProtoTcp, 445), nullptr);
  EXPECT_EQ(tc.GroupFor(patterns::kIpProtoTcp, 445)->expressions, 1u);

  Harness h(*set);
  const std::string all = "smb dns echo any high not80 from";
  // To-server, destination port 445: the group (1) plus the shared database (4, 5 not: 445 <
  // 1024; 6).
  EXPECT_THAT(h.Sids(TestPacket(all, kClient, 40000, kServer, 445)), ElementsAre(1, 4, 6));
  EXPECT_THAT(h.Sids(TestPacket(all, kClient, 40000, kServer, 5353, patterns::kIpProtoUdp)),
              ElementsAre(2));
  EXPECT_THAT(h.Sids(TestPacket(all, kClient, 40000, kServer, 7, patterns::kIpProtoUdp)),
              ElementsAre(3));
  // To-client from 445: the source-port group (7) and the shared database; the destination
  // port 40000 makes 5 and 6 hold.
  EXPECT_THAT(h.Sids(TestPacket(all, kServer, 445, kClient, 40000), flow::Dir::kToClient),
              ElementsAre(4, 5, 6, 7));
  // A to-client packet towards port 445 is not in 445's to-client group, but rule 1 is in the
  // to-client shared database (its source port is "any"), so it still matches.
  EXPECT_THAT(h.Sids(TestPacket(all, kServer, 40000, kClient, 445), flow::Dir::kToClient),
              ElementsAre(1, 4, 6));
  // A port without a group scans the shared database only.
  EXPECT_THAT(h.Sids(TestPacket(all, kClient, 40000, kServer, 80)), ElementsAre(4));
  // A non-first fragment (no transport header) has no ports: only rules without port
  // conditions can match it, and it scans no group.
  TestPacket frag(all, kClient, 40000, kServer, 445);
  frag.packet().layer = decode::Layer::kL3Fragment;
  EXPECT_THAT(h.Sids(frag), ElementsAre(4));
}

// Rules no report announces (header-only, negated contents only) are grouped too: a packet checks
// them only when its server-side port's group has them (ET Open has ~26 such to-server rules,
// SYN scans of one port, that every packet checked before).
TEST(PortGroupsTest, RulesWithoutAReportAreGroupedToo) {
  // (A negated address keeps rule 1 off the IP-only list.)
  auto set = Build(R"(alert tcp !10.9.9.9 any -> any 22 (msg:"ssh"; sid:1;)
alert tcp any any -> any any (msg:"no zzz"; content:!"zzz"; sid:2;)
alert udp any any -> any 53 (msg:"dns without x"; content:!"x"; sid:3;)
alert tcp any any -> any [22,2222] (msg:"ssh data"; content:"SSH-"; sid:4;))",
                   {}, testing::kPacketDatabases);
  ASSERT_TRUE(set);
  auto sids = [&](const std::vector<uint32_t>& rules) {
    std::vector<uint32_t> out;
    for (uint32_t r : rules) out.push_back(set->rules()[r].sid);
    return out;
  };
  const PatternSet::Database& ts = set->database(ScanDir::kToServer);
  EXPECT_THAT(sids(ts.always), ElementsAre(2));
  ASSERT_NE(ts.GroupFor(patterns::kIpProtoTcp, 22), nullptr);
  // The group's list holds the direction's list too.
  EXPECT_THAT(sids(ts.GroupFor(patterns::kIpProtoTcp, 22)->always), ElementsAre(1, 2));
  ASSERT_NE(ts.GroupFor(patterns::kIpProtoTcp, 2222), nullptr);
  EXPECT_THAT(sids(ts.GroupFor(patterns::kIpProtoTcp, 2222)->always), ElementsAre(2));
  ASSERT_NE(ts.GroupFor(patterns::kIpProtoUdp, 53), nullptr);
  EXPECT_THAT(sids(ts.GroupFor(patterns::kIpProtoUdp, 53)->always), ElementsAre(2, 3));
  EXPECT_EQ(set->stats().port_grouped_rules[0], 3u);

  Harness h(*set);
  EXPECT_THAT(h.Sids(TestPacket("SSH-2.0", kClient, 40000, kServer, 22)), ElementsAre(1, 2, 4));
  EXPECT_THAT(h.Sids(TestPacket("", kClient, 40000, kServer, 22)), ElementsAre(1));
  EXPECT_THAT(h.Sids(TestPacket("SSH-2.0", kClient, 40000, kServer, 2222)), ElementsAre(2, 4));
  EXPECT_THAT(h.Sids(TestPacket("hello", kClient, 40000, kServer, 80)), ElementsAre(2));
  EXPECT_THAT(h.Sids(TestPacket("abc", kClient, 40000, kServer, 53, patterns::kIpProtoUdp)),
              ElementsAre(3));
  EXPECT_THAT(h.Sids(TestPacket("xyz", kClient, 40000, kServer, 53, patterns::kIpProtoUdp)),
              IsEmpty());
  // A non-first fragment has no group: only the direction's list.
  TestPacket frag("hello", kClient, 40000, kServer, 22);
  frag.packet().layer = decode::Layer::kL3Fragment;
  EXPECT_THAT(h.Sids(frag), ElementsAre(2));
}

TEST(PortGroupsTest, BidirectionalRulesAndWideSetsStayShared) {
  std::string ports;  // 65 ports: one more than a group takes
  for (int p = 2000; p < 2065; ++p) ports += (ports.empty() ? "" : ",") + std::to_string(p);
  auto set = Build(R"(alert tcp any [1000,1001] <> any 2000 (msg:"bidir"; content:"b"; sid:1;)
alert tcp any any <> any 2000 (msg:"bidir any"; content:"b"; sid:2;)
alert tcp any any -> any [)" + ports +
                   R"(] (msg:"wide"; content:"w"; sid:3;))",
                   {}, testing::kPacketDatabases);
  ASSERT_TRUE(set);
  // Rule 1 is grouped on 1000, 1001 and 2000 in both directions; rule 2 (a side is "any") and
  // rule 3 (65 ports) are not.
  EXPECT_EQ(set->stats().port_grouped_rules[0], 1u);
  EXPECT_EQ(set->stats().port_grouped_rules[1], 1u);
  const PatternSet::Database& ts = set->database(ScanDir::kToServer);
  for (uint16_t port : {1000, 1001, 2000}) {
    EXPECT_NE(ts.GroupFor(patterns::kIpProtoTcp, port), nullptr) << port;
  }
  Harness h(*set);
  EXPECT_THAT(h.Sids(TestPacket("b w", kClient, 1000, kServer, 2000)), ElementsAre(1, 2, 3));
  EXPECT_THAT(h.Sids(TestPacket("b w", kClient, 2000, kServer, 1001)), ElementsAre(1, 2));
  EXPECT_THAT(h.Sids(TestPacket("b w", kServer, 2000, kClient, 1001), flow::Dir::kToClient),
              ElementsAre(1, 2));
  EXPECT_THAT(h.Sids(TestPacket("b w", kClient, 1002, kServer, 2064)), ElementsAre(3));
}

TEST(PortGroupsTest, PortsBeyondTheGroupCapShareOneGroup) {
  // 100 ports with one rule each: 100 different rule lists. Groups are capped; the ports with
  // the fewest rules share the last group, whose rules are filtered by the header check.
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text += "alert tcp any any -> any " + std::to_string(3000 + i) +
            " (msg:\"p\"; content:\"tok\"; sid:" + std::to_string(i + 1) + ";)\n";
  }
  text += "alert tcp any any -> any [3000,3001] (msg:\"two\"; content:\"tok\"; sid:500;)\n";
  auto set = Build(text, {}, testing::kPacketDatabases);
  ASSERT_TRUE(set);
  const PatternSet::Database& ts = set->database(ScanDir::kToServer);
  EXPECT_LT(ts.groups.size(), 100u);
  EXPECT_GT(ts.groups.size(), 1u);
  EXPECT_EQ(set->stats().port_grouped_rules[0], 101u);
  Harness h(*set);
  for (int i = 0; i < 100; ++i) {
    std::vector<uint32_t> want{static_cast<uint32_t>(i + 1)};
    if (i < 2) want.push_back(500);
    EXPECT_EQ(h.Sids(TestPacket("tok", kClient, 40000, kServer, 3000 + i)), want) << i;
  }
  EXPECT_THAT(h.Sids(TestPacket("tok", kClient, 40000, kServer, 3100)), IsEmpty());
}

// Random rules over a small pool of ports and literals, random packets: the set with port
// groups must report what the set without them reports, packet for packet.
TEST(PortGroupsTest, GroupedAndUngroupedSetsReportTheSame) {
  std::mt19937 rng(20261130);  // fixed seed: the same cases every run
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  const std::vector<std::string> port_specs = {
      "any", "80", "445", "[80,443]", "[53,5353]", "1024:", "!80", "[1000:1010]", "443", "25"};
  const std::vector<uint16_t> port_pool = {80, 443, 445, 53, 5353, 25, 1005, 1010, 40000, 7};
  const std::vector<std::string> lits = {"alpha", "beta", "gamma", "delta"};
  const std::vector<std::string> protos = {"tcp", "udp", "ip"};
#if FS_HAVE_CONDITIONS
  const std::vector<std::string> flows = {"", "flow:to_server; ", "flow:to_client; "};
#else
  const std::vector<std::string> flows = {""};
#endif
  size_t alerts = 0, grouped = 0, grouped_always = 0;
  for (int round = 0; round < 10; ++round) {
    std::string text;
    for (int r = 0; r < 60; ++r) {
      // Most rules have contents; some are header-only or have only a negated content (the
      // rules no report announces: the `always` lists, grouped too).
      const size_t kind = pick(8);
      std::string body;
      if (kind == 0) {
        body = "";
      } else if (kind == 1) {
        body = "content:!\"" + lits[pick(lits.size())] + "\"; ";
      } else {
        body = "content:\"" + lits[pick(lits.size())] + "\"; " +
               (pick(3) == 0 ? "content:\"" + lits[pick(lits.size())] + "\"; " : "");
      }
      text += "alert " + protos[pick(protos.size())] + " any " +
              port_specs[pick(port_specs.size())] + (pick(5) == 0 ? " <> " : " -> ") + "any " +
              port_specs[pick(port_specs.size())] + " (msg:\"r\"; " + flows[pick(flows.size())] +
              body + "sid:" + std::to_string(r + 1) + ";)\n";
    }
    auto with = Build(text);
    auto without = Build(text, {}, kNoGroups);
    ASSERT_TRUE(with && without);
    grouped += with->stats().port_grouped_rules[0] + with->stats().port_grouped_rules[1];
    EXPECT_EQ(without->stats().port_grouped_rules[0] + without->stats().port_grouped_rules[1], 0u);
    for (ScanDir d : {ScanDir::kToServer, ScanDir::kToClient}) {
      for (const PatternSet::Database& g : with->database(d).groups) grouped_always += g.always.size();
    }
    Harness hw(*with), ho(*without);
    for (int i = 0; i < 200; ++i) {
      std::string payload;
      for (const std::string& l : lits) {
        if (pick(2) == 0) payload += l + " ";
      }
      const uint8_t proto = pick(2) == 0 ? patterns::kIpProtoTcp : patterns::kIpProtoUdp;
      const flow::Dir dir = pick(2) == 0 ? flow::Dir::kToServer : flow::Dir::kToClient;
      const uint16_t sport = port_pool[pick(port_pool.size())];
      const uint16_t dport = port_pool[pick(port_pool.size())];
      TestPacket p(payload, kClient, sport, kServer, dport, proto);
      const std::vector<uint32_t> got = hw.Sids(p, dir);
      ASSERT_EQ(got, ho.Sids(p, dir)) << "round " << round << " packet " << int(proto) << " "
                                      << sport << " -> " << dport << " '" << payload << "' dir "
                                      << static_cast<int>(dir) << "\nrules:\n"
                                      << text;
      alerts += got.size();
    }
  }
  // Both paths must be exercised: grouped rules exist and packets do alert.
  EXPECT_GT(grouped, 200u);
  EXPECT_GT(grouped_always, 100u);
  EXPECT_GT(alerts, 500u);
}

// The stream databases are port-grouped too: a flow's streams scan the direction's database and
// the group of the flow's server port. Random stream rules, random flows cut into random
// segments: with groups, each flow's streams report the rules they report without them. (The
// set, not the segment: Hyperscan raises a logical combination in stream mode when it evaluates
// it, at the latest when the stream closes, and when that is depends on the database.)
TEST(PortGroupsTest, StreamsWithAndWithoutGroupsReportTheSame) {
  std::mt19937 rng(20261201);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  const std::vector<std::string> port_specs = {"any", "80", "445", "[80,443]", "1024:",
                                               "!80", "[1000:1010]", "443", "25"};
  const std::vector<uint16_t> port_pool = {80, 443, 445, 25, 1005, 40000};
  const std::vector<std::string> lits = {"alpha", "bravo", "charlie", "delta"};
  size_t reports = 0, stream_grouped = 0;
  for (int round = 0; round < 6; ++round) {
    std::string text;
    for (int r = 0; r < 50; ++r) {
      text += std::string("alert ") + (pick(4) == 0 ? "ip" : "tcp") + " any " +
              port_specs[pick(port_specs.size())] + (pick(5) == 0 ? " <> " : " -> ") + "any " +
              port_specs[pick(port_specs.size())] + " (msg:\"s\"; " +
              (pick(3) == 0 ? "flow:to_server; " : pick(2) == 0 ? "flow:to_client; " : "") +
              "content:\"" + lits[pick(lits.size())] + "\"; " +
              (pick(3) == 0 ? "content:\"" + lits[pick(lits.size())] + "\"; " : "") +
              "sid:" + std::to_string(r + 1) + ";)\n";
    }
    auto with = Build(text);
    auto without = Build(text, {}, kNoGroups);
    ASSERT_TRUE(with && without);
    stream_grouped +=
        with->stats().stream_port_grouped_rules[0] + with->stats().stream_port_grouped_rules[1];
    EXPECT_EQ(without->stats().stream_port_groups[0] + without->stats().stream_port_groups[1],
              0u);
    Scanner sw, so;
    ASSERT_TRUE(sw.Prepare(*with) && so.Prepare(*without));
    StreamPool pool(4, std::max(with->stats().stream_state_bytes,
                                without->stats().stream_state_bytes), 4);
    pool.Bind();
    auto state = testing::MakeRuleState();
    for (int f = 0; f < 40; ++f) {
      const uint16_t cport = port_pool[pick(port_pool.size())];
      const uint16_t sport = port_pool[pick(port_pool.size())];
      const uint32_t cw = pool.Acquire(patterns::kIpProtoTcp, sport);
      const uint32_t co = pool.Acquire(patterns::kIpProtoTcp, sport);
      ASSERT_TRUE(cw != 0 && co != 0);
      flow::Flow fw, fo;
      fw.proto = fo.proto = patterns::kIpProtoTcp;
      fw.state = fo.state = flow::State::kEstablished;
      // One stream of words per direction, delivered in random pieces, directions interleaved.
      std::string data[2];
      for (int d = 0; d < 2; ++d) {
        for (int w = 0; w < 6; ++w) data[d] += lits[pick(lits.size())] + (pick(2) ? " " : "");
      }
      size_t at[2] = {0, 0};
      std::set<uint32_t> got_w, got_o;
      while (at[0] < data[0].size() || at[1] < data[1].size()) {
        const int d = at[0] >= data[0].size() ? 1 : at[1] >= data[1].size() ? 0 : int(pick(2));
        const size_t n = std::min<size_t>(1 + pick(9), data[d].size() - at[d]);
        const auto* bytes = reinterpret_cast<const uint8_t*>(data[d].data() + at[d]);
        at[d] += n;
        TestPacket tp("", d == 0 ? kClient : kServer, d == 0 ? cport : sport,
                      d == 0 ? kServer : kClient, d == 0 ? sport : cport);
        const flow::Dir dir = d == 0 ? flow::Dir::kToServer : flow::Dir::kToClient;
        const patterns::U128 src = patterns::ToU128(tp.packet().src);
        const patterns::U128 dst = patterns::ToU128(tp.packet().dst);
        sw.StreamData(*with, pool.At(cw), d, with->AddrClassOf(src, dst), bytes,
                      static_cast<uint32_t>(n));
        sw.ReportStream(*with, tp.packet(), fw, dir, *state, pool.At(cw),
                        [&](uint32_t r) { got_w.insert(with->rules()[r].sid); });
        so.StreamData(*without, pool.At(co), d, without->AddrClassOf(src, dst), bytes,
                      static_cast<uint32_t>(n));
        so.ReportStream(*without, tp.packet(), fo, dir, *state, pool.At(co),
                        [&](uint32_t r) { got_o.insert(without->rules()[r].sid); });
      }
      // End of the flow: what the streams still hold, against a packet of each direction.
      for (int d = 0; d < 2; ++d) {
        TestPacket tp("", d == 0 ? kClient : kServer, d == 0 ? cport : sport,
                      d == 0 ? kServer : kClient, d == 0 ? sport : cport);
        const flow::Dir dir = d == 0 ? flow::Dir::kToServer : flow::Dir::kToClient;
        sw.StreamClose(with.get(), pool.At(cw), d, true);
        sw.ReportStream(*with, tp.packet(), fw, dir, *state, pool.At(cw),
                        [&](uint32_t r) { got_w.insert(with->rules()[r].sid); });
        so.StreamClose(without.get(), pool.At(co), d, true);
        so.ReportStream(*without, tp.packet(), fo, dir, *state, pool.At(co),
                        [&](uint32_t r) { got_o.insert(without->rules()[r].sid); });
      }
      pool.Release(cw);
      pool.Release(co);
      ASSERT_EQ(got_w, got_o) << "round " << round << " flow " << cport << " -> " << sport
                              << "\nrules:\n"
                              << text << "\nto-server: " << data[0]
                              << "\nto-client: " << data[1];
      reports += got_w.size();
    }
    EXPECT_EQ(pool.counters().streams_open, 0u);
    pool.Unbind();
  }
  // Grouped stream rules exist and streams do report.
  EXPECT_GT(stream_grouped, 60u);
  EXPECT_GT(reports, 100u);
}

}  // namespace
}  // namespace fs::scan
