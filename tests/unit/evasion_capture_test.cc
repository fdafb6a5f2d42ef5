// The evasion captures and the SYN flood capture: libpcap reads them back byte for byte, our
// decoder finds nothing malformed, a case declared "split" really has no frame holding the whole
// marker (so only reassembly can find it), and a simple model of the receiving TCP stack (BSD
// overlap policy) assembles the marker the case says is delivered.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/decode/packet.h"
#include "tools/pcapgen/evasion.h"

namespace fs::pcapgen {
namespace {

using decode::Layer;

const std::vector<EvasionCase>& Cases() {
  static const std::vector<EvasionCase> cases = BuildEvasionCases();
  return cases;
}

std::vector<std::string> CaseNames(bool unfragmented_tcp_only = false) {
  std::vector<std::string> names;
  for (const EvasionCase& c : Cases()) {
    const bool fragmented = c.name.find("frag") != std::string::npos;
    if (unfragmented_tcp_only && (c.proto != "tcp" || fragmented)) continue;
    names.push_back(c.name);
  }
  return names;
}

const EvasionCase& Find(const std::string& name) {
  for (const EvasionCase& c : Cases()) {
    if (c.name == name) return c;
  }
  ADD_FAILURE() << "no case " << name;
  return Cases().front();
}

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "evasion_" + std::to_string(::getpid()) + "_" + name;
}

std::string_view Frame(const Capture& cap, size_t i) {
  return {reinterpret_cast<const char*>(cap.data(i)), cap.len(i)};
}

std::string_view Marker(const EvasionCase& c) {
  return c.proto == "tcp" ? kEvasionTcpPattern : kEvasionUdpPattern;
}
std::string_view Decoy(const EvasionCase& c) {
  return c.proto == "tcp" ? kEvasionTcpDecoy : kEvasionUdpDecoy;
}

// What a receiving stack assembles from the client's TCP segments: bytes a segment brings are
// taken where nothing is queued yet, and replace queued bytes when the segment starts before the
// segment that brought them (BSD); bytes already delivered in order are final. Nothing after a
// RST counts. Returns the client-to-server byte stream (holes as '\0').
std::string ReceiverStream(const Capture& cap) {
  struct Byte {
    char value = 0;
    bool have = false;
    int64_t owner_start = 0;
  };
  std::vector<Byte> bytes;
  bool have_isn = false, reset = false;
  uint32_t isn = 0;
  uint16_t client_port = 0;
  size_t delivered = 0;  // bytes [0, delivered) are contiguous and final
  for (size_t i = 0; i < cap.size() && !reset; ++i) {
    decode::Packet p;
    decode::Decode(cap.data(i), cap.len(i), cap.len(i), cap.ts_us(i), &p);
    if (p.layer != Layer::kL4 || p.proto != 6) continue;
    if (client_port == 0) client_port = p.sport;  // the client speaks first in every case
    if (p.sport != client_port) continue;
    if (p.tcp_flags & decode::tcpflag::kSyn) {
      isn = p.tcp_seq + 1;
      have_isn = true;
      continue;
    }
    if (!have_isn) {  // midstream: the first segment defines the start
      isn = p.tcp_seq;
      have_isn = true;
    }
    if (p.tcp_flags & decode::tcpflag::kRst) {
      reset = true;
      continue;
    }
    const int64_t start = int64_t(uint32_t(p.tcp_seq - isn));
    for (uint16_t k = 0; k < p.payload_len; ++k) {
      const size_t at = size_t(start) + k;
      if (at >= bytes.size()) bytes.resize(at + 1);
      Byte& b = bytes[at];
      if (at < delivered) continue;
      if (!b.have || start < b.owner_start) {
        b.value = char(p.payload()[k]);
        b.have = true;
        b.owner_start = start;
      }
    }
    while (delivered < bytes.size() && bytes[delivered].have) ++delivered;
  }
  std::string out;
  for (size_t i = 0; i < delivered; ++i) out.push_back(bytes[i].value);
  return out;
}

TEST(EvasionCapturesTest, NamesAreUniqueAndExpectationsConsistent) {
  std::set<std::string> names;
  for (const EvasionCase& c : Cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(names.insert(c.name).second);
    EXPECT_FALSE(c.description.empty());
    EXPECT_TRUE(c.proto == "tcp" || c.proto == "udp");
    EXPECT_TRUE(c.delivered == "real" || c.delivered == "decoy" || c.delivered == "none");
    EXPECT_GT(c.capture.size(), 0u);
    // A case that must alert names the sid of what is delivered.
    for (uint32_t sid : c.must_alert) {
      const bool decoy = sid == kEvasionTcpDecoySid || sid == kEvasionUdpDecoySid;
      EXPECT_EQ(decoy ? "decoy" : "real", c.delivered);
    }
    // A Suricata verdict differing from must_alert needs its explanation.
    if (c.suricata_sids != c.must_alert && c.delivered != "none" && !c.must_alert.empty()) {
      EXPECT_FALSE(c.suricata_note.empty());
    }
  }
  EXPECT_GE(names.size(), 25u);
}

TEST(EvasionCapturesTest, RulesNameEverySid) {
  const std::string rules = EvasionRules();
  for (uint32_t sid : {kEvasionTcpSid, kEvasionTcpDecoySid, kEvasionUdpSid, kEvasionUdpDecoySid}) {
    EXPECT_NE(rules.find("sid:" + std::to_string(sid) + ";"), std::string::npos) << sid;
  }
  EXPECT_NE(rules.find(std::string(kEvasionTcpPattern)), std::string::npos);
  EXPECT_NE(rules.find(std::string(kEvasionUdpDecoy)), std::string::npos);
}

TEST(EvasionCapturesTest, Deterministic) {
  const std::vector<EvasionCase> again = BuildEvasionCases();
  ASSERT_EQ(again.size(), Cases().size());
  for (size_t c = 0; c < again.size(); ++c) {
    ASSERT_EQ(again[c].capture.size(), Cases()[c].capture.size()) << again[c].name;
    for (size_t i = 0; i < again[c].capture.size(); ++i) {
      ASSERT_EQ(Frame(again[c].capture, i), Frame(Cases()[c].capture, i)) << again[c].name;
      ASSERT_EQ(again[c].capture.ts_us(i), Cases()[c].capture.ts_us(i));
    }
  }
}

class EvasionCaseTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EvasionCaseTest, LibpcapReadsEveryFrameBack) {
  const EvasionCase& c = Find(GetParam());
  const std::string path = TempPath(c.name + ".pcap");
  std::string error;
  ASSERT_TRUE(WriteEvasionCapture(path, c, &error)) << error;
  char errbuf[PCAP_ERRBUF_SIZE];
  pcap_t* pc = pcap_open_offline(path.c_str(), errbuf);
  ASSERT_NE(pc, nullptr) << errbuf;
  EXPECT_EQ(pcap_datalink(pc), DLT_EN10MB);
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  size_t n = 0;
  uint64_t last_ts = 0;
  while (pcap_next_ex(pc, &h, &data) == 1) {
    ASSERT_LT(n, c.capture.size());
    EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(data), h->caplen),
              Frame(c.capture, n));
    const uint64_t ts = uint64_t(h->ts.tv_sec) * 1000000 + uint64_t(h->ts.tv_usec);
    EXPECT_GT(ts, last_ts) << "frame " << n;
    last_ts = ts;
    ++n;
  }
  pcap_close(pc);
  std::remove(path.c_str());
  EXPECT_EQ(n, c.capture.size());
}

TEST_P(EvasionCaseTest, DecodesCleanly) {
  const EvasionCase& c = Find(GetParam());
  const bool fragmented = c.name.find("frag") != std::string::npos;
  size_t fragments = 0;
  for (size_t i = 0; i < c.capture.size(); ++i) {
    decode::Packet p;
    EXPECT_EQ(decode::Decode(c.capture.data(i), c.capture.len(i), c.capture.len(i),
                             c.capture.ts_us(i), &p),
              decode::DecodeEvent::kNone)
        << "frame " << i;
    EXPECT_EQ(p.ip_version, c.ip_version) << "frame " << i;
    if (p.fragment) {
      ++fragments;
      EXPECT_EQ(p.layer, Layer::kL3Fragment) << "frame " << i;
    } else {
      EXPECT_EQ(p.layer, Layer::kL4) << "frame " << i;
      EXPECT_EQ(p.proto, c.proto == "tcp" ? 6 : 17) << "frame " << i;
    }
  }
  EXPECT_EQ(fragments > 0, fragmented);
}

// The property each case states: a split case has no frame holding the whole marker (nor the
// whole decoy), so a per-packet engine cannot alert.
TEST_P(EvasionCaseTest, MarkerWholeInAFrameOnlyWhereDeclared) {
  const EvasionCase& c = Find(GetParam());
  bool marker_whole = false, decoy_whole = false;
  for (size_t i = 0; i < c.capture.size(); ++i) {
    marker_whole |= Frame(c.capture, i).find(Marker(c)) != std::string_view::npos;
    decoy_whole |= Frame(c.capture, i).find(Decoy(c)) != std::string_view::npos;
  }
  EXPECT_EQ(marker_whole, c.pattern_whole_in_packet);
  EXPECT_FALSE(decoy_whole);
}

std::string ParamName(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

INSTANTIATE_TEST_SUITE_P(Cases, EvasionCaseTest, ::testing::ValuesIn(CaseNames()), ParamName);

// The unfragmented TCP cases: what the receiver assembles holds the declared marker.
class EvasionTcpCaseTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EvasionTcpCaseTest, ReceiverAssemblesTheDeclaredMarker) {
  const EvasionCase& c = Find(GetParam());
  const std::string stream = ReceiverStream(c.capture);
  const bool real = stream.find(Marker(c)) != std::string::npos;
  const bool decoy = stream.find(Decoy(c)) != std::string::npos;
  EXPECT_EQ(real, c.delivered == "real") << stream.size() << " bytes delivered";
  EXPECT_EQ(decoy, c.delivered == "decoy");
}

INSTANTIATE_TEST_SUITE_P(Cases, EvasionTcpCaseTest, ::testing::ValuesIn(CaseNames(true)),
                         ParamName);

TEST(SynFloodCaptureTest, EverySynOpensANewFlow) {
  const std::string path = TempPath("synflood.pcap");
  SynFloodOptions o;
  o.packets = 70000;  // more than one destination address's worth of ports
  o.sources = 3;
  std::string error;
  ASSERT_TRUE(WriteSynFloodCapture(path, o, &error)) << error;
  char errbuf[PCAP_ERRBUF_SIZE];
  pcap_t* pc = pcap_open_offline(path.c_str(), errbuf);
  ASSERT_NE(pc, nullptr) << errbuf;
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  std::set<std::pair<IpAddr, uint16_t>> destinations;
  std::set<IpAddr> sources;
  uint64_t n = 0, bad = 0;
  while (pcap_next_ex(pc, &h, &data) == 1) {
    decode::Packet p;
    if (decode::Decode(data, h->caplen, h->len, 0, &p) != decode::DecodeEvent::kNone ||
        p.layer != Layer::kL4 || p.proto != 6 || p.tcp_flags != decode::tcpflag::kSyn) {
      ++bad;
    }
    const uint64_t ts = uint64_t(h->ts.tv_sec) * 1000000 + uint64_t(h->ts.tv_usec);
    if (ts != o.start_ts_us + n * o.gap_us) ++bad;
    destinations.insert({p.dst, p.dport});
    sources.insert(p.src);
    ++n;
  }
  pcap_close(pc);
  std::remove(path.c_str());
  EXPECT_EQ(n, o.packets);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(destinations.size(), o.packets);
  EXPECT_EQ(sources.size(), 3u);
}

}  // namespace
}  // namespace fs::pcapgen
