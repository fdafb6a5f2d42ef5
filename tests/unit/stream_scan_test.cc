// Stream scanning: Hyperscan stream mode over reassembled bytes, per flow direction, with the
// worker's stream pool (dataplane/scan/stream_pool.h). A pattern split over several deliveries
// matches; a gap restarts the stream; a rule is reported once per flow; a pattern-set swap resets
// the flow's streams (the reload rule of docs/reassembly.md); the pool bounds memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dataplane/scan/scanner.h"
#include "dataplane/scan/stream_pool.h"
#include "scanner_test_util.h"
#include "tests/support/alloc_counter.h"

namespace fs::scan {
namespace {

using testing::Build;
using testing::MakeRuleState;
using testing::TestPacket;

class StreamScan : public ::testing::Test {
 protected:
  void SetUp() override {
    set_ = Build(
        "alert tcp any any -> any any (msg:\"marker\"; content:\"EternalBlue\"; sid:1;)\n"
        "alert tcp any any -> any any (msg:\"chain\"; content:\"AAA\"; content:\"ZZZ\"; "
        "distance:0; within:20; sid:2;)\n"
        "alert tcp any any -> any 445 (msg:\"port\"; content:\"PORTONLY\"; sid:3;)\n"
        "alert tcp any any -> any any (msg:\"neg\"; content:\"NEG1\"; content:!\"NEG2\"; sid:4;)\n"
        "alert tcp any any -> any any (msg:\"dsize\"; content:\"DSZ\"; dsize:>1; sid:5;)\n"
        "alert tcp any any -> any any (msg:\"start\"; content:\"HEAD\"; depth:4; sid:6;)\n"
        "alert tcp-pkt any any -> any any (msg:\"pkt\"; content:\"PKTONLY\"; sid:7;)\n"
        "alert tcp any any -> any any (msg:\"flags\"; content:\"FLAGGED\"; flags:+A; sid:8;)\n"
        "alert tcp any any -> any any (msg:\"two\"; content:\"ALPHA1\"; content:\"OMEGA2\"; "
        "sid:9;)\n"
        "alert tcp any any -> any any (msg:\"p10\"; content:\"P10a\"; content:\"P10b\"; sid:10;)\n"
        "alert tcp any any -> any any (msg:\"p11\"; content:\"P11a\"; content:\"P11b\"; sid:11;)\n"
        "alert tcp any any -> any any (msg:\"p12\"; content:\"P12a\"; content:\"P12b\"; "
        "sid:12;)\n"
        "alert tcp any any -> any any (msg:\"twice\"; content:\"DUPE\"; content:\"DUPE\"; "
        "sid:13;)\n"
        "alert tcp any any -> any any (msg:\"p14\"; content:\"P14a\"; content:\"P14b\"; sid:14;)\n"
        "alert tcp any any -> any any (msg:\"p15\"; content:\"P15a\"; content:\"P15b\"; sid:15;)\n"
        "alert tcp any any -> any any (msg:\"p16\"; content:\"P16a\"; content:\"P16b\"; "
        "sid:16;)\n");
    ASSERT_NE(set_, nullptr);
    ASSERT_TRUE(scanner_.Prepare(*set_)) << scanner_.error();
    // As the worker: the largest state of the stream databases and their port groups (rule 3's
    // port 445 has one), two streams per direction.
    pool_ = std::make_unique<StreamPool>(4, set_->stats().stream_state_bytes, 4);
    pool_->Bind();
    slot_ = pool_->Acquire();
    ASSERT_NE(slot_, 0u);
    flow_.proto = patterns::kIpProtoTcp;
    flow_.state = flow::State::kEstablished;
  }
  void TearDown() override {
    if (slot_ != 0) {
      for (int d = 0; d < 2; ++d) scanner_.StreamClose(nullptr, pool_->At(slot_), d, false);
      pool_->Release(slot_);
    }
    EXPECT_EQ(pool_->counters().streams_open, 0u);
    pool_->Unbind();
  }

  // Feeds the pieces as consecutive deliveries of direction 0 and returns the sids reported.
  std::vector<uint32_t> Feed(const std::vector<std::string>& pieces, uint16_t dport = 80) {
    std::vector<uint32_t> sids;
    TestPacket tp("", "10.0.0.1", 40000, "10.0.0.2", dport);
    // The flow's server port picks the stream port group, as the worker sets it.
    pool_->At(slot_).proto = patterns::kIpProtoTcp;
    pool_->At(slot_).server_port = dport;
    for (const std::string& piece : pieces) {
      scanner_.StreamData(*set_, pool_->At(slot_), 0, 0,
                          reinterpret_cast<const uint8_t*>(piece.data()),
                          static_cast<uint32_t>(piece.size()));
      scanner_.ReportStream(*set_, tp.packet(), flow_, flow::Dir::kToServer, *state_,
                            pool_->At(slot_),
                            [&](uint32_t r) { sids.push_back(set_->rules()[r].sid); });
    }
    return sids;
  }

  // Closes direction 0's streams with a flush (as at the flow's end) and returns the sids
  // reported.
  std::vector<uint32_t> CloseAndReport() {
    std::vector<uint32_t> sids;
    scanner_.StreamClose(set_.get(), pool_->At(slot_), 0, true);
    TestPacket tp("", "10.0.0.1", 40000, "10.0.0.2", 80);
    scanner_.ReportStream(*set_, tp.packet(), flow_, flow::Dir::kToServer, *state_,
                          pool_->At(slot_),
                          [&](uint32_t r) { sids.push_back(set_->rules()[r].sid); });
    return sids;
  }

  std::shared_ptr<const patterns::PatternSet> set_;
  Scanner scanner_;
  std::unique_ptr<RuleState> state_ = MakeRuleState();
  std::unique_ptr<StreamPool> pool_;
  uint32_t slot_ = 0;
  flow::Flow flow_;
};

TEST_F(StreamScan, OnlyExactStreamableRulesAreInTheStreamDatabase) {
  std::vector<uint32_t> stream_sids;
  for (uint32_t r = 0; r < set_->size(); ++r) {
    if (set_->plan(r).stream) stream_sids.push_back(set_->rules()[r].sid);
  }
  std::sort(stream_sids.begin(), stream_sids.end());
  // sid 4 has a negated content, sid 5 a dsize, sid 7 is tcp-pkt, sid 8 has flags: packet-only.
  EXPECT_EQ(stream_sids, (std::vector<uint32_t>{1, 2, 3, 6, 9, 10, 11, 12, 13, 14, 15, 16}));
  EXPECT_EQ(set_->stats().stream_rules, 12u);
  EXPECT_GT(set_->stream_class_database(patterns::ScanDir::kToServer, 0).stream_state_bytes, 0u);
}

TEST_F(StreamScan, TcpPktAndFlagsRulesDoNotMatchAcrossSegments) {
  EXPECT_TRUE(Feed({"xxPKT", "ONLYxx"}).empty());
  EXPECT_TRUE(Feed({"FLAG", "GED"}).empty());
  // In one packet they match (the packet scan), tcp-pkt like tcp; flags on the packet's flags.
  TestPacket tp("..PKTONLY..FLAGGED..", "10.0.0.1", 40000, "10.0.0.2", 80);
  tp.packet().tcp_flags = decode::tcpflag::kAck | decode::tcpflag::kPsh;
  EXPECT_EQ(testing::Scan(*set_, tp), (std::vector<uint32_t>{7, 8}));
  tp.packet().tcp_flags = decode::tcpflag::kPsh;
  EXPECT_EQ(testing::Scan(*set_, tp), (std::vector<uint32_t>{7}));
}

TEST_F(StreamScan, PatternSplitAcrossDeliveriesMatches) {
  EXPECT_EQ(Feed({"xxEter", "nal", "Bluexx"}), (std::vector<uint32_t>{1}));
}

TEST_F(StreamScan, OneByteDeliveries) {
  std::vector<std::string> bytes;
  for (char c : std::string("..EternalBlue..")) bytes.emplace_back(1, c);
  EXPECT_EQ(Feed(bytes), (std::vector<uint32_t>{1}));
}

TEST_F(StreamScan, RelativeChainAcrossDeliveries) {
  EXPECT_EQ(Feed({"AA", "A-----", "ZZ", "Z"}), (std::vector<uint32_t>{2}));
}

// Hyperscan 5.4 raises a logical combination in stream mode lazily (at its next report in the
// stream, or when the stream closes); the scanner notes per flow which of a rule's expressions
// have matched and raises the rule at the delivery that completes it.
TEST_F(StreamScan, ContentsInDifferentSegmentsAlertAtTheSegmentThatCompletesThem) {
  EXPECT_TRUE(Feed({"..OMEGA2..", "........", "ALP"}).empty());
  EXPECT_EQ(Feed({"HA1"}), (std::vector<uint32_t>{9}));
  EXPECT_TRUE(Feed({"ALPHA1 OMEGA2"}).empty());  // once per flow
  // Closing the stream does not raise it again (Hyperscan's combination reports it there).
  EXPECT_TRUE(CloseAndReport().empty());
}

TEST_F(StreamScan, ARepeatedContentIsOneExpression) {
  EXPECT_TRUE(Feed({"..DU"}).empty());
  EXPECT_EQ(Feed({"PE.."}), (std::vector<uint32_t>{13}));
}

TEST_F(StreamScan, ContentsOfOneRuleInTwoDirectionsDoNotCombine) {
  EXPECT_TRUE(Feed({"ALPHA1"}).empty());
  const std::string b = "OMEGA2";
  scanner_.StreamData(*set_, pool_->At(slot_), 1, 0, reinterpret_cast<const uint8_t*>(b.data()), 6);
  EXPECT_FALSE(scanner_.stream_pending());
}

TEST_F(StreamScan, AGapForgetsWhichContentsMatched) {
  EXPECT_TRUE(Feed({"ALPHA1"}).empty());
  scanner_.StreamGap(pool_->At(slot_), 0);
  EXPECT_TRUE(Feed({"OMEGA2"}).empty());
}

TEST_F(StreamScan, BeyondThePartialSlotsTheNewestRulesAreTracked) {
  // Six rules partly matched take the direction's slots (kStreamPartialCap); a seventh takes the
  // oldest one's slot (counted once per flow direction), and completes on time.
  static_assert(kStreamPartialCap == 6);
  EXPECT_TRUE(Feed({"P10a", "P11a", "P12a", "P14a", "P15a", "P16a", "ALPHA1"}).empty());
  EXPECT_EQ(scanner_.counters().stream_untracked, 1u);
  EXPECT_EQ(Feed({"OMEGA2"}), (std::vector<uint32_t>{9}));
  // Rule 10's first content was given up: its second does not complete it in the slots, and
  // Hyperscan's combination raises it lazily, at the stream's next report (rule 12's second
  // content, which completes rule 12 in its slot).
  EXPECT_TRUE(Feed({"P10b"}).empty());
  EXPECT_EQ(Feed({"P12b"}), (std::vector<uint32_t>{10, 12}));
  EXPECT_EQ(scanner_.counters().stream_untracked, 1u);
}

TEST_F(StreamScan, AGivenUpRuleIsRaisedAtCloseWithoutALaterReport) {
  EXPECT_TRUE(Feed({"P10a", "P11a", "P12a", "P14a", "P15a", "P16a", "ALPHA1", "P10b"}).empty());
  EXPECT_EQ(CloseAndReport(), (std::vector<uint32_t>{10}));
}

TEST_F(StreamScan, ReportedOncePerFlow) {
  EXPECT_EQ(Feed({"EternalBlue", "EternalBlue", "Eternal", "Blue"}), (std::vector<uint32_t>{1}));
  EXPECT_EQ(scanner_.counters().stream_matches, 1u);
}

TEST_F(StreamScan, AlertNotedByThePacketScanIsNotRepeated) {
  pool_->At(slot_).NoteAlerted(0);  // rule index of sid 1 in evaluation order
  ASSERT_EQ(set_->rules()[0].sid, 1u);
  EXPECT_TRUE(Feed({"Eternal", "Blue"}).empty());
}

TEST_F(StreamScan, HeaderIsCheckedAgainstThePacket) {
  EXPECT_TRUE(Feed({"PORT", "ONLY"}, 80).empty());
}

TEST_F(StreamScan, HeaderMatchOnTheRightPort) {
  EXPECT_EQ(Feed({"PORT", "ONLY"}, 445), (std::vector<uint32_t>{3}));
}

TEST_F(StreamScan, DepthCountsFromTheStreamStart) {
  EXPECT_EQ(Feed({"HE", "AD"}), (std::vector<uint32_t>{6}));
}

TEST_F(StreamScan, DepthDoesNotMatchLaterInTheStream) {
  EXPECT_TRUE(Feed({"xxxx", "HEAD"}).empty());
}

TEST_F(StreamScan, GapRestartsTheStream) {
  TestPacket tp("", "10.0.0.1", 40000, "10.0.0.2", 80);
  std::vector<uint32_t> sids;
  auto report = [&] {
    scanner_.ReportStream(*set_, tp.packet(), flow_, flow::Dir::kToServer, *state_,
                          pool_->At(slot_),
                          [&](uint32_t r) { sids.push_back(set_->rules()[r].sid); });
  };
  const std::string a = "Eternal", b = "Blue";
  scanner_.StreamData(*set_, pool_->At(slot_), 0, 0, reinterpret_cast<const uint8_t*>(a.data()), 7);
  scanner_.StreamGap(pool_->At(slot_), 0);
  scanner_.StreamData(*set_, pool_->At(slot_), 0, 0, reinterpret_cast<const uint8_t*>(b.data()), 4);
  report();
  EXPECT_TRUE(sids.empty());
  EXPECT_EQ(scanner_.counters().stream_resets, 1u);
}

TEST_F(StreamScan, DirectionsAreSeparateStreams) {
  const std::string a = "Eternal", b = "Blue";
  scanner_.StreamData(*set_, pool_->At(slot_), 0, 0, reinterpret_cast<const uint8_t*>(a.data()), 7);
  scanner_.StreamData(*set_, pool_->At(slot_), 1, 0, reinterpret_cast<const uint8_t*>(b.data()), 4);
  EXPECT_FALSE(scanner_.stream_pending());
}

TEST_F(StreamScan, PatternSetSwapResetsTheFlowsStreams) {
  // Build() gives every set generation 7; a reload gives the next one.
  auto r = patterns::ParseRules(
      "alert tcp any any -> any any (msg:\"new\"; content:\"Wanna\"; sid:9;)\n"
      "alert tcp any any -> any any (msg:\"m\"; content:\"EternalBlue\"; sid:1;)\n",
      "next.rules", patterns::ParseOptions{});
  auto compiled = patterns::PatternSet::Compile(std::move(r.rules), 8);
  ASSERT_TRUE(compiled.ok()) << compiled.error().message;
  std::shared_ptr<const patterns::PatternSet> set2 = std::move(compiled).value();
  ASSERT_TRUE(scanner_.Prepare(*set2)) << scanner_.error();

  const std::string a = "Eternal", b = "Blue";
  StreamCtx& ctx = pool_->At(slot_);
  scanner_.StreamData(*set_, ctx, 0, 0, reinterpret_cast<const uint8_t*>(a.data()), 7);
  // The worker adopts set2 here: the flow's old stream is discarded, the new one starts fresh,
  // so the half-pattern seen under the old set does not complete under the new one.
  scanner_.StreamData(*set2, ctx, 0, 0, reinterpret_cast<const uint8_t*>(b.data()), 4);
  EXPECT_EQ(ctx.generation, 8u);
  EXPECT_FALSE(scanner_.stream_pending());
  EXPECT_EQ(scanner_.counters().stream_resets, 1u);
  const std::string w = "xWannax";
  scanner_.StreamData(*set2, ctx, 0, 0, reinterpret_cast<const uint8_t*>(w.data()), 7);
  std::vector<uint32_t> sids;
  TestPacket tp("", "10.0.0.1", 40000, "10.0.0.2", 80);
  scanner_.ReportStream(*set2, tp.packet(), flow_, flow::Dir::kToServer, *state_, ctx,
                        [&](uint32_t i) { sids.push_back(set2->rules()[i].sid); });
  EXPECT_EQ(sids, (std::vector<uint32_t>{9}));
  for (int d = 0; d < 2; ++d) scanner_.StreamClose(set2.get(), ctx, d, false);
}

TEST_F(StreamScan, MatchInsideOnePacketIsEvaluatedOnceByThePacketScan) {
  // The worker streams a segment's bytes, then scans the packet, then reports stream matches.
  // A detection_filter that lets the second match through shows whether the stream counted the
  // same occurrence again: it must not.
  auto set = Build(
      "alert tcp any any -> any any (msg:\"df\"; content:\"EternalBlue\"; "
      "detection_filter:track by_src, count 1, seconds 60; sid:7;)\n");
  ASSERT_NE(set, nullptr);
  ASSERT_TRUE(scanner_.Prepare(*set)) << scanner_.error();
  StreamCtx& ctx = pool_->At(slot_);
  TestPacket tp("..EternalBlue..", "10.0.0.1", 40000, "10.0.0.2", 80);
  flow_.pkts[0] = 2;
  int alerts = 0;
  auto once = [&](const decode::Packet& p) {
    scanner_.StreamData(*set, ctx, 0, 0, p.payload(), p.payload_len);
    scanner_.ScanPacket(*set, p, flow_, flow::Dir::kToServer, *state_, [&](uint32_t) { ++alerts; });
    scanner_.ReportStream(*set, p, flow_, flow::Dir::kToServer, *state_, ctx,
                          [&](uint32_t) { ++alerts; });
  };
  once(tp.packet());
  EXPECT_EQ(alerts, 0);  // first match: the filter holds it back, and nothing counts it twice
  once(tp.packet());
  EXPECT_EQ(alerts, 1);  // second match, from the packet scan
  // A pattern split over two segments is seen by the stream only, and counts there.
  TestPacket a("..Eternal", "10.0.0.1", 40000, "10.0.0.2", 80);
  TestPacket b("Blue..", "10.0.0.1", 40000, "10.0.0.2", 80);
  once(a.packet());
  once(b.packet());
  EXPECT_EQ(alerts, 2);
  EXPECT_EQ(scanner_.counters().stream_matches, 1u);
}

TEST_F(StreamScan, StreamOnlyRulesAreLeftOutOfThePacketDatabases) {
  // As Suricata (SIG_FLAG_REQUIRE_STREAM alone): tcp stream rules whose contents have no offset
  // or depth; sid 6 has a depth (Suricata inspects it on packets too).
  std::vector<uint32_t> only;
  for (uint32_t r = 0; r < set_->size(); ++r) {
    if (set_->plan(r).stream_only) only.push_back(set_->rules()[r].sid);
  }
  std::sort(only.begin(), only.end());
  EXPECT_EQ(only, (std::vector<uint32_t>{1, 2, 3, 9, 10, 11, 12, 13, 14, 15, 16}));
  EXPECT_EQ(set_->stats().stream_only, 11u);
  // Rules that count or order per packet, an ip rule (UDP too), offsets: in the packet databases.
  auto kept = Build(
      "alert tcp any any -> any any (msg:\"set\"; content:\"A1\"; flowbits:set,x; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"test\"; content:\"B1\"; flowbits:isset,x; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"th\"; content:\"C1\"; threshold:type limit, track "
      "by_src, count 1, seconds 60; sid:3;)\n"
      "alert ip any any -> any any (msg:\"ip\"; content:\"D1\"; sid:4;)\n"
      "alert tcp any any -> any any (msg:\"off\"; content:\"E1\"; offset:2; sid:5;)\n"
      "alert tcp any any -> any any (msg:\"sw\"; content:\"F1\"; startswith; sid:6;)\n"
      "alert tcp any any -> any any (msg:\"alone\"; content:\"G1\"; sid:7;)\n");
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->stats().stream_rules, 7u);
  EXPECT_EQ(kept->stats().stream_only, 1u);
  EXPECT_EQ(kept->database(patterns::ScanDir::kToServer).expressions, 6u);
  auto off = Build("alert tcp any any -> any any (msg:\"alone\"; content:\"G1\"; sid:7;)\n", {},
                   {.stream_only = false});
  ASSERT_NE(off, nullptr);
  EXPECT_EQ(off->stats().stream_only, 0u);
  EXPECT_EQ(off->database(patterns::ScanDir::kToServer).expressions, 1u);
}

TEST_F(StreamScan, APayloadInTheStreamLeavesStreamOnlyRulesToIt) {
  // The worker streams a segment's bytes, scans the packet, then reports the stream's matches.
  StreamCtx& ctx = pool_->At(slot_);
  flow_.pkts[0] = 2;
  TestPacket tp("..EternalBlue..HEAD..", "10.0.0.1", 40000, "10.0.0.2", 80);
  std::vector<uint32_t> packet, stream;
  scanner_.StreamData(*set_, ctx, 0, 0, tp.packet().payload(), tp.packet().payload_len);
  scanner_.ScanPacket(*set_, tp.packet(), flow_, flow::Dir::kToServer, *state_,
                      [&](uint32_t r) { packet.push_back(set_->rules()[r].sid); },
                      /*in_stream=*/true);
  scanner_.ReportStream(*set_, tp.packet(), flow_, flow::Dir::kToServer, *state_, ctx,
                        [&](uint32_t r) { stream.push_back(set_->rules()[r].sid); });
  EXPECT_TRUE(packet.empty());  // sid 6 (depth 4) is not at the packet's start
  EXPECT_EQ(stream, (std::vector<uint32_t>{1}));
  EXPECT_EQ(scanner_.counters().stream_alone, 0u);
  TestPacket head("HEAD", "10.0.0.1", 40000, "10.0.0.2", 80);
  packet.clear();
  scanner_.ScanPacket(*set_, head.packet(), flow_, flow::Dir::kToServer, *state_,
                      [&](uint32_t r) { packet.push_back(set_->rules()[r].sid); },
                      /*in_stream=*/true);
  EXPECT_EQ(packet, (std::vector<uint32_t>{6}));  // depth: still inspected per packet
}

TEST_F(StreamScan, APayloadOutsideTheStreamIsMatchedAgainstStreamOnlyRulesAlone) {
  // A retransmission, a flow without reassembly: the packet on its own (the outside databases), as
  // Suricata inspects a packet its stream did not take. One content, a chain, two contents, a
  // rule of port 445; not on another port.
  flow_.pkts[0] = 2;
  TestPacket tp("EternalBlue AAA..ZZZ OMEGA2 ALPHA1 PORTONLY", "10.0.0.1", 40000, "10.0.0.2",
                445);
  std::vector<uint32_t> sids;
  scanner_.ScanPacket(*set_, tp.packet(), flow_, flow::Dir::kToServer, *state_,
                      [&](uint32_t r) { sids.push_back(set_->rules()[r].sid); });
  std::sort(sids.begin(), sids.end());
  EXPECT_EQ(sids, (std::vector<uint32_t>{1, 2, 3, 9}));
  EXPECT_EQ(scanner_.counters().stream_alone, 1u);
  TestPacket other("EternalBlue PORTONLY", "10.0.0.1", 40000, "10.0.0.2", 80);
  sids.clear();
  scanner_.ScanPacket(*set_, other.packet(), flow_, flow::Dir::kToServer, *state_,
                      [&](uint32_t r) { sids.push_back(set_->rules()[r].sid); });
  EXPECT_EQ(sids, (std::vector<uint32_t>{1}));
  // Each packet on its own: contents of one rule in two packets do not combine.
  TestPacket a("ALPHA1", "10.0.0.1", 40000, "10.0.0.2", 80);
  TestPacket b("OMEGA2", "10.0.0.1", 40000, "10.0.0.2", 80);
  sids.clear();
  for (TestPacket* t : {&a, &b}) {
    scanner_.ScanPacket(*set_, t->packet(), flow_, flow::Dir::kToServer, *state_,
                        [&](uint32_t r) { sids.push_back(set_->rules()[r].sid); });
  }
  EXPECT_TRUE(sids.empty());
  EXPECT_EQ(scanner_.counters().stream_alone, 4u);
  EXPECT_EQ(scanner_.counters().scan_errors, 0u);
  EXPECT_EQ(pool_->counters().streams_open, 0u);  // no stream: block mode
}

TEST_F(StreamScan, APayloadOutsideTheStreamScansOneDatabaseWithThePacketRulesAndStreamOnlyOnes) {
  // The outside database holds the direction's own rules (not its port groups') and the
  // stream-only ones: such a payload scans it instead of the direction's database, then its
  // port's group. Each kind of rule must still match there, once: a depth rule, a port rule with
  // an offset (in the port 445 group), a stream-only rule, a rule whose negated content vetoes it,
  // an `ip` rule. Only TCP payloads scan it: a UDP rule is not in it.
  auto set = Build(
      "alert tcp any any -> any any (msg:\"head\"; content:\"HEAD\"; depth:4; sid:21;)\n"
      "alert tcp any any -> any 445 (msg:\"grp\"; content:\"SMBX\"; offset:4; depth:4; "
      "sid:22;)\n"
      "alert tcp any any -> any any (msg:\"only\"; content:\"STREAMONLY\"; sid:23;)\n"
      "alert udp any any -> any any (msg:\"udp\"; content:\"UDPX\"; sid:24;)\n"
      "alert tcp any any -> any any (msg:\"veto\"; content:\"NEG1\"; content:!\"NEG2\"; "
      "depth:40; sid:25;)\n"
      "alert ip any any -> any any (msg:\"ip\"; content:\"IPXX\"; sid:26;)\n");
  ASSERT_NE(set, nullptr);
  ASSERT_TRUE(scanner_.Prepare(*set)) << scanner_.error();
  const auto& db = set->database(patterns::ScanDir::kToServer);
  const auto& outside = set->outside_database(patterns::ScanDir::kToServer, 0);
  ASSERT_NE(outside.db, nullptr);
  EXPECT_EQ(set->stats().stream_only, 1u);
  // + STREAMONLY - UDPX; SMBX stays in its group.
  EXPECT_EQ(outside.expressions, db.expressions);
  EXPECT_EQ(db.expressions, 4u);  // HEAD, UDPX, NEG1 (the fast pattern), IPXX
  ASSERT_EQ(db.groups.size(), 1u);
  flow_.pkts[0] = 2;
  auto scan = [&](const std::string& payload, bool in_stream) {
    TestPacket tp(payload, "10.0.0.1", 40000, "10.0.0.2", 445);
    std::vector<uint32_t> sids;
    scanner_.ScanPacket(*set, tp.packet(), flow_, flow::Dir::kToServer, *state_,
                        [&](uint32_t r) { sids.push_back(set->rules()[r].sid); }, in_stream);
    std::sort(sids.begin(), sids.end());
    return sids;
  };
  EXPECT_EQ(scan("HEADSMBX STREAMONLY NEG1", false), (std::vector<uint32_t>{21, 22, 23, 25}));
  EXPECT_EQ(scanner_.counters().stream_alone, 1u);
  EXPECT_EQ(scan("HEADSMBX STREAMONLY NEG1 NEG2", false), (std::vector<uint32_t>{21, 22, 23}));
  EXPECT_EQ(scan("HEADSMBX STREAMONLY NEG1", true), (std::vector<uint32_t>{21, 22, 25}));
  EXPECT_EQ(scanner_.counters().stream_alone, 2u);
  EXPECT_EQ(scan("UDPX IPXX", false), (std::vector<uint32_t>{26}));
  EXPECT_EQ(scanner_.counters().stream_alone, 3u);
  EXPECT_EQ(scanner_.counters().packets, 4u);  // each payload counted once
  EXPECT_EQ(scanner_.counters().scan_errors, 0u);
  // Without stream-only rules there is no outside database: the direction's database.
  auto none = Build("alert tcp any any -> any any (msg:\"head\"; content:\"HEAD\"; depth:4; "
                    "sid:21;)\n");
  ASSERT_NE(none, nullptr);
  EXPECT_EQ(none->outside_database(patterns::ScanDir::kToServer, 0).db, nullptr);
  ASSERT_TRUE(scanner_.Prepare(*none)) << scanner_.error();
  TestPacket tp("HEAD", "10.0.0.1", 40000, "10.0.0.2", 445);
  int alerts = 0;
  scanner_.ScanPacket(*none, tp.packet(), flow_, flow::Dir::kToServer, *state_,
                      [&](uint32_t) { ++alerts; });
  EXPECT_EQ(alerts, 1);
  EXPECT_EQ(scanner_.counters().stream_alone, 3u);
  // Nor in a direction none of the stream-only rules inspects.
  auto to_server = Build("alert tcp any any -> any any (msg:\"only\"; flow:to_server; "
                         "content:\"STREAMONLY\"; sid:23;)\n");
  ASSERT_NE(to_server, nullptr);
  EXPECT_EQ(to_server->stats().stream_only, 1u);
  EXPECT_NE(to_server->outside_database(patterns::ScanDir::kToServer, 0).db, nullptr);
  EXPECT_EQ(to_server->outside_database(patterns::ScanDir::kToClient, 0).db, nullptr);
}

TEST_F(StreamScan, StreamScanningDoesNotAllocate) {
  // Opening, scanning, reporting and closing streams take memory from the pool only.
  Feed({"warm", "up"});
  const std::string a = "EternalBlue and more";
  uint32_t slot = pool_->Acquire();
  const uint64_t before = fs::test_support::Allocations();
  TestPacket tp("", "10.0.0.1", 40000, "10.0.0.2", 80);
  const uint64_t after_packet = fs::test_support::Allocations();
  uint32_t alerts = 0;
  for (int d = 0; d < 2; ++d) {
    scanner_.StreamData(*set_, pool_->At(slot), d, 0, reinterpret_cast<const uint8_t*>(a.data()),
                        static_cast<uint32_t>(a.size()));
    scanner_.ReportStream(*set_, tp.packet(), flow_, static_cast<flow::Dir>(d), *state_,
                          pool_->At(slot), [&](uint32_t) { ++alerts; });
    scanner_.StreamGap(pool_->At(slot), d);
    scanner_.StreamClose(set_.get(), pool_->At(slot), d, true);
  }
  scanner_.DropPending();
  pool_->Release(slot);
  // A packet outside any stream is matched against the stream-only rules on its own.
  TestPacket alone("EternalBlue", "10.0.0.1", 40000, "10.0.0.2", 80);
  const uint64_t before_alone = fs::test_support::Allocations();
  flow_.pkts[0] = 2;
  uint32_t alone_alerts = 0;
  scanner_.ScanPacket(*set_, alone.packet(), flow_, flow::Dir::kToServer, *state_,
                      [&](uint32_t) { ++alone_alerts; });
  EXPECT_EQ(fs::test_support::Allocations() - before_alone, 0u);
  EXPECT_EQ(alone_alerts, 1u);
  EXPECT_EQ(fs::test_support::Allocations() - after_packet, 0u)
      << (after_packet - before) << " allocations making the packet";
  EXPECT_EQ(alerts, 1u);  // to-server only: the rule's header is any -> any, once per flow
  EXPECT_EQ(pool_->counters().streams_open, 1u);  // the fixture's own (to-server) stream
}

TEST_F(StreamScan, PoolBoundsStreamsAndCountsExhaustion) {
  std::vector<uint32_t> slots;
  for (int i = 0; i < 3; ++i) slots.push_back(pool_->Acquire());
  for (uint32_t s : slots) EXPECT_NE(s, 0u);
  EXPECT_EQ(pool_->Acquire(), 0u);
  EXPECT_EQ(pool_->counters().exhausted, 1u);
  const std::string a = "abc";
  for (uint32_t s : slots) {
    for (int d = 0; d < 2; ++d) {
      scanner_.StreamData(*set_, pool_->At(s), d, 0, reinterpret_cast<const uint8_t*>(a.data()), 3);
    }
  }
  EXPECT_EQ(pool_->counters().streams_open, 6u);
  EXPECT_EQ(scanner_.counters().stream_open_failures, 0u);
  for (uint32_t s : slots) {
    for (int d = 0; d < 2; ++d) scanner_.StreamClose(set_.get(), pool_->At(s), d, true);
    pool_->Release(s);
  }
  scanner_.DropPending();
  EXPECT_EQ(pool_->counters().streams_open, 0u);
}

}  // namespace
}  // namespace fs::scan
