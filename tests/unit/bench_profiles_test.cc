// The benchmark capture profiles (tools/pcapgen/bench_profiles.h): each one is deterministic,
// reaches its packet target, decodes cleanly, has the shape it promises (64-byte frames without
// payload, a few long flows, DNS-heavy short flows), and only the attack profile carries the
// district pack's contents.
#include "tools/pcapgen/bench_profiles.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <ostream>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "dataplane/common/ip_addr.h"
#include "dataplane/decode/packet.h"

namespace fs::pcapgen {
namespace {

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "bench_profiles_" + std::to_string(::getpid()) + "_" + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Frame {
  std::string bytes;
  decode::Packet p;
};

std::vector<Frame> ReadFrames(const std::string& path) {
  std::vector<Frame> out;
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* pcap = pcap_open_offline(path.c_str(), errbuf);
  EXPECT_NE(pcap, nullptr) << errbuf;
  if (pcap == nullptr) return out;
  pcap_pkthdr* h;
  const u_char* data;
  while (pcap_next_ex(pcap, &h, &data) == 1) {
    Frame f;
    f.bytes.assign(reinterpret_cast<const char*>(data), h->caplen);
    out.push_back(std::move(f));
  }
  pcap_close(pcap);
  for (Frame& f : out) {
    const auto* d = reinterpret_cast<const uint8_t*>(f.bytes.data());
    const auto n = static_cast<uint32_t>(f.bytes.size());
    decode::Decode(d, n, n, 0, &f.p);
  }
  return out;
}

// Contents only the story puts on the wire (district pack sids 9000011 as UTF-16LE, 9000021,
// 9000030, 9000031). Not the RDP cookie: benign internal RDP sends one too (the rule's
// $EXTERNAL_NET source is what makes it an alert).
bool HasStoryContent(const std::string& bytes) {
  static const std::string kContents[] = {std::string("P\0S\0E\0X\0E\0S\0V\0C\0", 16),
                                          "YOUR FILES HAVE BEEN ENCRYPTED",
                                          std::string("\x06"
                                                      "badcdn"
                                                      "\x07"
                                                      "example",
                                                      15),
                                          "GET /gate.php?id="};
  for (const std::string& c : kContents) {
    if (bytes.find(c) != std::string::npos) return true;
  }
  return false;
}

struct Case {
  const char* name;
  BenchProfile profile;
  uint64_t packets;
  uint32_t flows;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class BenchProfileTest : public ::testing::TestWithParam<Case> {};

TEST_P(BenchProfileTest, DeterministicReachesTargetAndDecodes) {
  const Case& c = GetParam();
  BenchOptions o;
  o.packets = c.packets;
  o.flows = c.flows;
  const std::string a = TempPath(std::string(c.name) + "_a.pcap");
  const std::string b = TempPath(std::string(c.name) + "_b.pcap");
  BenchStats stats;
  std::string error;
  ASSERT_TRUE(WriteBenchCapture(a, c.profile, o, &stats, &error)) << error;
  ASSERT_TRUE(WriteBenchCapture(b, c.profile, o, nullptr, &error)) << error;
  EXPECT_EQ(ReadFile(a), ReadFile(b)) << "same options must give the same bytes";
  o.seed = 2;
  ASSERT_TRUE(WriteBenchCapture(b, c.profile, o, nullptr, &error)) << error;
  EXPECT_NE(ReadFile(a), ReadFile(b)) << "another seed must give another capture";

  const std::vector<Frame> frames = ReadFrames(a);
  EXPECT_EQ(frames.size(), stats.packets);
  EXPECT_GE(stats.packets, c.packets);
  uint64_t sized = 0, bytes = 0;
  for (uint64_t n : stats.sizes) sized += n;
  EXPECT_EQ(sized, stats.packets);
  std::set<std::tuple<IpAddr, IpAddr, uint16_t, uint16_t>> tuples;
  bool story = false;
  for (const Frame& f : frames) {
    bytes += f.bytes.size();
    EXPECT_EQ(f.p.event, decode::DecodeEvent::kNone) << decode::DecodeEventName(f.p.event);
    story = story || HasStoryContent(f.bytes);
    if (f.p.layer == decode::Layer::kL4 && f.p.proto == 6) {
      tuples.insert({f.p.src, f.p.dst, f.p.sport, f.p.dport});
    }
  }
  EXPECT_EQ(bytes, stats.bytes);
  EXPECT_EQ(story, c.profile == BenchProfile::kAttack) << "only the attack profile is malicious";

  switch (c.profile) {
    case BenchProfile::kSmall:
      EXPECT_EQ(stats.tcp_flows, c.flows);
      EXPECT_EQ(tuples.size(), 2 * c.flows);  // both directions of every flow
      for (const Frame& f : frames) {
        EXPECT_EQ(f.bytes.size(), 60u);
        EXPECT_EQ(f.p.layer, decode::Layer::kL4);
        EXPECT_EQ(f.p.payload_len, 0u);
      }
      break;
    case BenchProfile::kElephant:
      EXPECT_EQ(stats.tcp_flows, 6u);
      EXPECT_GT(stats.sizes[5], stats.packets / 2) << "mostly full-size frames";
      break;
    case BenchProfile::kShortFlows:
      EXPECT_GT(stats.udp_flows, stats.flows / 2) << "DNS-heavy";
      EXPECT_GT(stats.flows, stats.packets / 10) << "short conversations";
      break;
    case BenchProfile::kImix:
      EXPECT_GT(stats.sizes[0], stats.packets / 10);
      EXPECT_GT(stats.sizes[5], stats.packets / 10);
      EXPECT_GT(stats.ipv6_flows, 0u);
      break;
    case BenchProfile::kAttack:
      EXPECT_GT(stats.tcp_flows, 0u);
      break;
  }
  unlink(a.c_str());
  unlink(b.c_str());
}

INSTANTIATE_TEST_SUITE_P(Profiles, BenchProfileTest,
                         ::testing::Values(Case{"imix", BenchProfile::kImix, 5000, 0},
                                           Case{"small", BenchProfile::kSmall, 4000, 500},
                                           Case{"elephant", BenchProfile::kElephant, 3000, 0},
                                           Case{"short_flows", BenchProfile::kShortFlows, 5000, 0},
                                           Case{"attack", BenchProfile::kAttack, 5000, 0}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace fs::pcapgen
