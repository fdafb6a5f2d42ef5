// The district capture: determinism, that libpcap and our decoder read every frame cleanly, that
// TCP conversations are internally consistent, that the story's signature contents occur in
// exactly the truth flows (and nowhere else), and that packet/flow totals equal the truth.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "dataplane/common/ip_addr.h"
#include "dataplane/decode/packet.h"
#include "tools/pcapgen/district.h"

namespace fs::pcapgen {
namespace {

using decode::Layer;

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "district_" + std::to_string(::getpid()) + "_" + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string Utf16(std::string_view ascii) {
  std::string out;
  for (char c : ascii) {
    out.push_back(c);
    out.push_back('\0');
  }
  return out;
}

// One endpoint of a conversation, and the conversation key with its endpoints in a fixed order.
using Endpoint = std::pair<IpAddr, uint16_t>;
struct ConvKey {
  uint8_t proto;
  Endpoint a, b;  // a < b
  auto operator<=>(const ConvKey&) const = default;
};
ConvKey MakeKey(uint8_t proto, Endpoint x, Endpoint y) {
  return x < y ? ConvKey{proto, x, y} : ConvKey{proto, y, x};
}

// What the test reconstructs per conversation from the capture alone.
struct Conversation {
  Endpoint client;      // sender of the first packet
  std::string data[2];  // payload bytes in order: [0] client->server, [1] server->client
  std::set<uint16_t> vlans;
  uint64_t packets = 0;
  // TCP consistency.
  bool syn_seen[2] = {false, false};
  uint32_t next_seq[2] = {0, 0};
  int seq_errors = 0, ack_errors = 0;
};

bool InHomeNet(const IpAddr& a) {
  // Suricata's default HOME_NET: 10/8, 172.16/12, 192.168/16 (IPv4 only).
  if (!a.IsV4()) return false;
  const uint8_t* b = a.bytes.data() + 12;
  return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168);
}

bool Contains(const std::string& hay, const std::string& needle, bool nocase) {
  if (!nocase) return hay.find(needle) != std::string::npos;
  auto eq = [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  };
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), eq) != hay.end();
}

// The district pack's story signatures, as the rule headers and contents of docs' story.
enum class Net { kAny, kHome, kExternal };
struct StoryRule {
  uint32_t sid;
  uint8_t proto;
  Net src, dst;
  uint16_t dst_port;  // 0: any
  std::string content;
  bool nocase;
};

const std::vector<StoryRule>& StoryRules() {
  static const std::vector<StoryRule> kRules = {
      {9000001, 6, Net::kExternal, Net::kHome, 3389, "Cookie: mstshash=", false},
      {9000010, 6, Net::kAny, Net::kAny, 445, Utf16("\\ADMIN$"), false},
      {9000011, 6, Net::kAny, Net::kAny, 445, Utf16("PSEXESVC"), true},
      {9000012, 6, Net::kAny, Net::kAny, 445, Utf16("svcctl"), false},
      {9000020, 6, Net::kAny, Net::kAny, 445, Utf16("RESTORE-MY-FILES"), true},
      {9000021, 6, Net::kAny, Net::kAny, 0, "YOUR FILES HAVE BEEN ENCRYPTED", true},
      {9000022, 6, Net::kAny, Net::kAny, 445, Utf16(".locked"), false},
      {9000030, 17, Net::kAny, Net::kAny, 53,
       std::string("\x06"
                   "badcdn\x07"
                   "example\0",
                   16),
       true},
      {9000031, 6, Net::kHome, Net::kExternal, 0, "GET /gate.php?id=", false},
  };
  return kRules;
}

bool NetMatches(Net n, const IpAddr& a) {
  return n == Net::kAny || (n == Net::kHome) == InHomeNet(a);
}

// Reads a capture with libpcap and rebuilds its conversations with the dataplane decoder.
struct Readback {
  int link_type = -1;
  uint64_t packets = 0, bytes = 0, non_ip = 0;
  uint64_t first_ts = 0, last_ts = 0;
  int out_of_order = 0;
  std::vector<std::string> decode_failures;
  std::map<ConvKey, Conversation> convs;
};

Readback ReadCapture(const std::string& path) {
  Readback r;
  char errbuf[PCAP_ERRBUF_SIZE];
  pcap_t* pc = pcap_open_offline(path.c_str(), errbuf);
  if (pc == nullptr) {
    ADD_FAILURE() << "pcap_open_offline: " << errbuf;
    return r;
  }
  r.link_type = pcap_datalink(pc);
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(pc, &hdr, &data) == 1) {
    const uint64_t ts = uint64_t(hdr->ts.tv_sec) * 1000000 + uint64_t(hdr->ts.tv_usec);
    if (r.packets == 0) r.first_ts = ts;
    if (ts < r.last_ts) ++r.out_of_order;
    r.last_ts = ts;
    ++r.packets;
    r.bytes += hdr->caplen;

    decode::Packet p;
    const decode::DecodeEvent ev = decode::Decode(data, hdr->caplen, hdr->len, ts, &p);
    const bool ip = p.ether_type == 0x0800 || p.ether_type == 0x86dd;
    if (ev != decode::DecodeEvent::kNone || (ip && p.layer != Layer::kL4) ||
        (!ip && p.layer != Layer::kNone)) {
      if (r.decode_failures.size() < 10) {
        r.decode_failures.push_back("packet " + std::to_string(r.packets) + ": event " +
                                    decode::DecodeEventName(ev) + ", layer " +
                                    std::to_string(int(p.layer)));
      }
      continue;
    }
    if (!ip) {
      ++r.non_ip;
      continue;
    }
    const Endpoint src{p.src, p.sport}, dst{p.dst, p.dport};
    const ConvKey key = MakeKey(p.proto, src, dst);
    auto [it, fresh] = r.convs.try_emplace(key);
    Conversation& c = it->second;
    if (fresh) c.client = src;
    const int d = src == c.client ? 0 : 1;
    ++c.packets;
    c.vlans.insert(p.vlan_count > 0 ? p.vlan_id[0] : 0);
    c.data[d].append(reinterpret_cast<const char*>(p.payload()), p.payload_len);
    if (p.proto == 6) {
      // Each side's sequence numbers continue exactly where they left off (no gaps, overlaps or
      // retransmissions), and no ACK covers bytes the other side has not sent yet.
      const uint32_t consumed = p.payload_len + ((p.tcp_flags & decode::tcpflag::kSyn) ? 1u : 0u) +
                                ((p.tcp_flags & decode::tcpflag::kFin) ? 1u : 0u);
      if (p.tcp_flags & decode::tcpflag::kSyn) {
        c.syn_seen[d] = true;
        c.next_seq[d] = p.tcp_seq;
      }
      if (!c.syn_seen[d] || p.tcp_seq != c.next_seq[d]) ++c.seq_errors;
      c.next_seq[d] = p.tcp_seq + consumed;
      if ((p.tcp_flags & decode::tcpflag::kAck) &&
          (!c.syn_seen[1 - d] || static_cast<int32_t>(p.tcp_ack - c.next_seq[1 - d]) > 0)) {
        ++c.ack_errors;
      }
    }
  }
  pcap_close(pc);
  return r;
}

ConvKey TruthKey(const TruthFlow& f) {
  const auto client = IpAddr::Parse(f.client_ip);
  const auto server = IpAddr::Parse(f.server_ip);
  EXPECT_TRUE(client && server) << f.name;
  return MakeKey(f.proto == "udp" ? 17 : 6, {client.value_or(IpAddr{}), f.client_port},
                 {server.value_or(IpAddr{}), f.server_port});
}

// One capture at seed 1, scale 1, shared by the tests (generation takes a few seconds).
class DistrictCaptureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = new std::string(TempPath("seed1.pcap"));
    truth_ = new DistrictTruth();
    std::string error;
    ok_ = WriteDistrictCapture(*path_, DistrictOptions{}, truth_, &error);
    error_ = new std::string(error);
    if (ok_) readback_ = new Readback(ReadCapture(*path_));
  }
  static void TearDownTestSuite() {
    std::remove(path_->c_str());
    delete path_;
    delete truth_;
    delete error_;
    delete readback_;
  }
  void SetUp() override {
    ASSERT_TRUE(ok_) << *error_;
    ASSERT_NE(readback_, nullptr);
  }

  static std::string* path_;
  static DistrictTruth* truth_;
  static std::string* error_;
  static bool ok_;
  static Readback* readback_;
};

std::string* DistrictCaptureTest::path_ = nullptr;
DistrictTruth* DistrictCaptureTest::truth_ = nullptr;
std::string* DistrictCaptureTest::error_ = nullptr;
bool DistrictCaptureTest::ok_ = false;
Readback* DistrictCaptureTest::readback_ = nullptr;

TEST_F(DistrictCaptureTest, SameSeedIsByteIdenticalOtherSeedDiffers) {
  const std::string again = TempPath("seed1-again.pcap");
  const std::string other = TempPath("seed2.pcap");
  std::string error;
  ASSERT_TRUE(WriteDistrictCapture(again, DistrictOptions{}, nullptr, &error)) << error;
  DistrictOptions seed2;
  seed2.seed = 2;
  ASSERT_TRUE(WriteDistrictCapture(other, seed2, nullptr, &error)) << error;
  const std::string a = ReadFile(*path_), b = ReadFile(again), c = ReadFile(other);
  std::remove(again.c_str());
  std::remove(other.c_str());
  ASSERT_GT(a.size(), 24u);
  EXPECT_TRUE(a == b) << "same seed produced a different file";
  EXPECT_FALSE(a == c) << "seed 2 produced the same file as seed 1";
}

TEST_F(DistrictCaptureTest, LibpcapReadsEveryFrameInTimeOrder) {
  const Readback& r = *readback_;
  EXPECT_EQ(r.link_type, DLT_EN10MB);
  EXPECT_EQ(r.packets, truth_->packets);
  EXPECT_EQ(r.bytes, truth_->bytes);
  EXPECT_EQ(r.out_of_order, 0);
  EXPECT_EQ(r.first_ts, truth_->first_ts_us);
  EXPECT_EQ(r.last_ts, truth_->last_ts_us);
  EXPECT_GE(r.first_ts, DistrictOptions{}.start_ts_us);
  // About five minutes of traffic.
  EXPECT_GT(r.last_ts - r.first_ts, 240u * 1000000);
  EXPECT_LE(r.last_ts - r.first_ts, 300u * 1000000);
}

TEST_F(DistrictCaptureTest, EveryFrameDecodesWithoutEvents) {
  const Readback& r = *readback_;
  EXPECT_TRUE(r.decode_failures.empty()) << r.decode_failures.front();
  EXPECT_EQ(r.non_ip, truth_->arp_packets);
}

TEST_F(DistrictCaptureTest, FlowTotalsMatchTruth) {
  const Readback& r = *readback_;
  uint64_t tcp = 0, udp = 0, icmp = 0, tagged = 0, v6 = 0;
  for (const auto& [key, conv] : r.convs) {
    if (key.proto == 6) ++tcp;
    if (key.proto == 17) ++udp;
    if (key.proto == 1 || key.proto == 58) ++icmp;
    if (!key.a.first.IsV4()) ++v6;
    EXPECT_EQ(conv.vlans.size(), 1u) << "a conversation must keep one VLAN tag in both directions";
    if (!conv.vlans.empty() && *conv.vlans.begin() != 0) ++tagged;
  }
  EXPECT_EQ(r.convs.size(), truth_->flows_total);
  EXPECT_EQ(tcp, truth_->tcp_flows);
  EXPECT_EQ(udp, truth_->udp_flows);
  EXPECT_EQ(icmp, truth_->icmp_flows);
  // The benign mix at scale 1: a few hundred flows, some on VLAN 20, some over IPv6.
  EXPECT_GE(truth_->flows_total, 300u);
  EXPECT_LE(truth_->flows_total, 800u);
  EXPECT_GT(tagged, 20u);
  EXPECT_GT(v6, 10u);
}

TEST_F(DistrictCaptureTest, TcpSequenceAndAckNumbersAreConsistent) {
  int bad = 0;
  for (const auto& [key, conv] : readback_->convs) {
    if (key.proto != 6) continue;
    EXPECT_TRUE(conv.syn_seen[0] && conv.syn_seen[1]) << "handshake missing";
    if (conv.seq_errors != 0 || conv.ack_errors != 0) {
      if (++bad <= 5) {
        ADD_FAILURE() << key.a.first.ToString() << ":" << key.a.second << " <-> "
                      << key.b.first.ToString() << ":" << key.b.second << " seq errors "
                      << conv.seq_errors << ", ack errors " << conv.ack_errors;
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST_F(DistrictCaptureTest, TruthListsTheStory) {
  std::map<uint32_t, int> flows_per_sid;
  for (const TruthFlow& f : truth_->flows) {
    for (uint32_t sid : f.sids) ++flows_per_sid[sid];
    EXPECT_TRUE(readback_->convs.count(TruthKey(f))) << f.name << " is not in the capture";
  }
  EXPECT_EQ(truth_->flows.size(), 44u);
  EXPECT_EQ(flows_per_sid[9000001], 40);
  for (uint32_t sid : {9000010, 9000011, 9000012, 9000020, 9000021, 9000022, 9000030, 9000031}) {
    EXPECT_EQ(flows_per_sid[sid], 1) << sid;
  }
  for (const TruthFlow& f : truth_->controls) {
    EXPECT_TRUE(f.sids.empty()) << f.name;
    EXPECT_TRUE(readback_->convs.count(TruthKey(f))) << f.name << " is not in the capture";
  }
  EXPECT_GE(truth_->controls.size(), 4u);
}

// Each story rule, evaluated over every reassembled conversation with its header conditions,
// matches exactly the flows the truth lists for its sid.
TEST_F(DistrictCaptureTest, StorySignaturesMatchExactlyTheTruthFlows) {
  for (const StoryRule& rule : StoryRules()) {
    std::set<ConvKey> expected, matched;
    for (const TruthFlow& f : truth_->flows) {
      if (std::find(f.sids.begin(), f.sids.end(), rule.sid) != f.sids.end()) {
        expected.insert(TruthKey(f));
      }
    }
    for (const auto& [key, conv] : readback_->convs) {
      if (key.proto != rule.proto) continue;
      // Both directions are candidates: the rule names which side sends the content.
      for (int d = 0; d < 2; ++d) {
        const Endpoint& from = d == 0 ? conv.client : (conv.client == key.a ? key.b : key.a);
        const Endpoint& to = d == 0 ? (conv.client == key.a ? key.b : key.a) : conv.client;
        if (!NetMatches(rule.src, from.first) || !NetMatches(rule.dst, to.first)) continue;
        if (rule.dst_port != 0 && to.second != rule.dst_port) continue;
        if (Contains(conv.data[d], rule.content, rule.nocase)) matched.insert(key);
      }
    }
    EXPECT_EQ(matched, expected) << "sid " << rule.sid;
    EXPECT_FALSE(expected.empty()) << "sid " << rule.sid;
  }
}

// Apart from the RDP cookie (which every RDP client sends; the rule's source network is what
// singles out the attacker), the story's strings occur nowhere but in its flows, in either
// direction: benign traffic must not contain them at all.
TEST_F(DistrictCaptureTest, StoryStringsOccurOnlyInStoryFlows) {
  std::set<ConvKey> story;
  for (const TruthFlow& f : truth_->flows) story.insert(TruthKey(f));
  std::set<ConvKey> controls;
  for (const TruthFlow& f : truth_->controls) controls.insert(TruthKey(f));
  int cookie_flows_inside = 0;
  for (const auto& [key, conv] : readback_->convs) {
    const bool is_story = story.count(key) > 0;
    for (const StoryRule& rule : StoryRules()) {
      for (int d = 0; d < 2; ++d) {
        if (!Contains(conv.data[d], rule.content, rule.nocase)) continue;
        if (rule.sid == 9000001 && InHomeNet(conv.client.first)) {
          ++cookie_flows_inside;
          continue;
        }
        EXPECT_TRUE(is_story) << "sid " << rule.sid << " content in benign flow "
                              << conv.client.first.ToString() << ":" << conv.client.second;
        EXPECT_FALSE(controls.count(key)) << "sid " << rule.sid << " content in a control";
      }
    }
  }
  // The teacher's internal RDP (a control) carries the same cookie.
  EXPECT_GE(cookie_flows_inside, 1);
}

TEST(DistrictCaptureScaleTest, ScaleGrowsTheBackgroundNotTheStory) {
  const std::string p1 = TempPath("scale1.pcap"), p2 = TempPath("scale2.pcap");
  DistrictTruth t1, t2;
  std::string error;
  DistrictOptions o;
  ASSERT_TRUE(WriteDistrictCapture(p1, o, &t1, &error)) << error;
  o.scale = 2;
  ASSERT_TRUE(WriteDistrictCapture(p2, o, &t2, &error)) << error;
  std::remove(p1.c_str());
  std::remove(p2.c_str());
  EXPECT_GT(t2.flows_total, t1.flows_total * 3 / 2);
  EXPECT_GT(t2.packets, t1.packets * 3 / 2);
  ASSERT_EQ(t1.flows.size(), t2.flows.size());
  for (size_t i = 0; i < t1.flows.size(); ++i) {
    EXPECT_EQ(t1.flows[i].name, t2.flows[i].name);
    EXPECT_EQ(t1.flows[i].client_ip, t2.flows[i].client_ip);
    EXPECT_EQ(t1.flows[i].client_port, t2.flows[i].client_port);
    EXPECT_EQ(t1.flows[i].server_port, t2.flows[i].server_port);
    EXPECT_EQ(t1.flows[i].first_ts_us, t2.flows[i].first_ts_us);
  }
}

TEST(DistrictCaptureErrorTest, UnwritablePathIsReportedWithTheFileName) {
  DistrictTruth truth;
  std::string error;
  const std::string path = "/nonexistent-dir-for-test/district.pcap";
  EXPECT_FALSE(WriteDistrictCapture(path, DistrictOptions{}, &truth, &error));
  EXPECT_NE(error.find(path), std::string::npos) << error;
}

}  // namespace
}  // namespace fs::pcapgen
