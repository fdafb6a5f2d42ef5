// CaptureReader: records of a written capture come back in mbufs with their bytes and
// microsecond timestamps in the RX-timestamp field, in order; a pool that runs dry ends a burst
// without losing the record; records longer than the data room are cut and counted; a file that
// ends inside a record ends the input with the reason; missing and non-capture files are refused
// with the file named; the shared pcapng captures read as libpcap reads them. Each test runs in
// its own process (gtest_discover_tests), which initialises its own EAL (--no-huge). The replay
// reader serves the records in a loop, each pass with moved ephemeral ports and timestamps.
// Classic pcap files are read by the reader itself, each record handed over in place (its mbuf
// attached to the read buffer; held mbufs keep their bytes); read through libpcap's stream instead,
// every capture (crafted variants, damaged ones, the shared captures) gives the same records and
// the same end.
#include "dataplane/port/capture_reader.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tools/pcapgen/packet_builder.h"
#include "tools/pcapgen/pcap_writer.h"

namespace fs::port {
namespace {

int g_ts_offset = -1;
uint64_t g_ts_flag = 0;

class EalEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    std::vector<std::string> args = {"capture_reader_test", "--no-huge",   "-m",   "64", "--no-pci",
                                     "--no-shconf",         "--log-level", "error"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0);
    ASSERT_EQ(rte_mbuf_dyn_rx_timestamp_register(&g_ts_offset, &g_ts_flag), 0);
  }
};

std::string TempFile(const std::string& name) {
  static const std::string dir = fs::testing::MakeTempDir("capreader");
  return dir + "/" + name;
}

// n frames of increasing size (60 + i bytes, byte k = (i + k) & 0xff), 1 ms apart.
std::string WriteCapture(const std::string& name, int n, uint32_t first_size = 60) {
  const std::string path = TempFile(name);
  pcapgen::PcapWriter w;
  std::string err;
  EXPECT_TRUE(w.Open(path, &err)) << err;
  for (int i = 0; i < n; ++i) {
    pcapgen::Bytes frame(first_size + i);
    for (size_t k = 0; k < frame.size(); ++k) frame[k] = static_cast<uint8_t>(i + k);
    EXPECT_TRUE(w.Write(1700000000000000ull + 1000ull * i, frame));
  }
  EXPECT_TRUE(w.Close());
  return path;
}

rte_mempool* Pool(const char* name, unsigned n, uint16_t room = RTE_MBUF_DEFAULT_BUF_SIZE) {
  rte_mempool* p = rte_pktmbuf_pool_create(name, n, 0, 0, room, SOCKET_ID_ANY);
  EXPECT_NE(p, nullptr);
  return p;
}

TEST(CaptureReaderTest, RecordsComeBackInOrderWithTimestamps) {
  const std::string path = WriteCapture("a.pcap", 300);
  std::string err;
  auto r = CaptureReader::Open(path, g_ts_offset, g_ts_flag, &err, 1024);  // small buffer: refills
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(r->datalink(), DLT_EN10MB);
  rte_mempool* pool = Pool("a", 255);
  rte_mbuf* bufs[32];
  int seen = 0;
  while (!r->done()) {
    EXPECT_FALSE(r->finished());  // the control plane's view of done()
    const uint16_t n = r->Burst(pool, 7, bufs, 32);
    for (uint16_t i = 0; i < n; ++i, ++seen) {
      rte_mbuf* m = bufs[i];
      ASSERT_EQ(rte_pktmbuf_data_len(m), 60u + seen);
      EXPECT_EQ(m->port, 7);
      const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
      EXPECT_EQ(d[0], static_cast<uint8_t>(seen));
      EXPECT_EQ(d[59], static_cast<uint8_t>(seen + 59));
      ASSERT_TRUE(m->ol_flags & g_ts_flag);
      EXPECT_EQ(*RTE_MBUF_DYNFIELD(m, g_ts_offset, rte_mbuf_timestamp_t*),
                1700000000000000ull + 1000ull * seen);
      rte_pktmbuf_free(m);
    }
  }
  EXPECT_EQ(seen, 300);
  EXPECT_TRUE(r->finished());
  EXPECT_EQ(r->path(), path);
  EXPECT_EQ(r->stats().packets, 300u);
  EXPECT_FALSE(r->stats().truncated_file);
  EXPECT_EQ(r->Burst(pool, 7, bufs, 32), 0);
}

TEST(CaptureReaderTest, AnEmptyPoolHoldsTheRecordForTheNextBurst) {
  const std::string path = WriteCapture("b.pcap", 40);
  std::string err;
  auto r = CaptureReader::Open(path, g_ts_offset, g_ts_flag, &err);
  ASSERT_NE(r, nullptr) << err;
  rte_mempool* pool = Pool("b", 15);  // fewer mbufs than records
  rte_mbuf* bufs[64];
  std::vector<uint32_t> lens;
  int empty_bursts = 0;
  while (!r->done()) {
    const uint16_t n = r->Burst(pool, 0, bufs, 64);
    if (n == 0) ++empty_bursts;
    ASSERT_LT(empty_bursts, 100);
    for (uint16_t i = 0; i < n; ++i) {
      lens.push_back(rte_pktmbuf_data_len(bufs[i]));
      rte_pktmbuf_free(bufs[i]);
    }
  }
  ASSERT_EQ(lens.size(), 40u);
  for (uint32_t i = 0; i < lens.size(); ++i) EXPECT_EQ(lens[i], 60u + i);  // none lost or repeated
  EXPECT_GT(r->stats().pool_empty, 0u);
}

TEST(CaptureReaderTest, RecordsLongerThanTheDataRoomAreChained) {
  const std::string path = WriteCapture("c.pcap", 3, 5000);
  std::string err;
  auto r = CaptureReader::Open(path, g_ts_offset, g_ts_flag, &err);
  ASSERT_NE(r, nullptr) << err;
  rte_mempool* pool = Pool("c", 63, RTE_PKTMBUF_HEADROOM + 2048);
  rte_mbuf* bufs[8];
  ASSERT_EQ(r->Burst(pool, 0, bufs, 8), 3);
  for (int i = 0; i < 3; ++i) {
    rte_mbuf* m = bufs[i];
    ASSERT_EQ(rte_pktmbuf_pkt_len(m), 5000u + i);
    EXPECT_EQ(m->nb_segs, 3);
    std::vector<uint8_t> flat(rte_pktmbuf_pkt_len(m));
    ASSERT_NE(rte_pktmbuf_read(m, 0, flat.size(), flat.data()), nullptr);
    for (size_t k = 0; k < flat.size(); ++k) {
      ASSERT_EQ(flat[k], static_cast<uint8_t>(i + k)) << "record " << i << " byte " << k;
    }
    rte_pktmbuf_free(m);
  }
  EXPECT_EQ(r->stats().chained_records, 3u);
  // A pool that cannot hold a whole chain keeps the record for later: nothing is cut.
  const std::string big = WriteCapture("c2.pcap", 2, 7000);
  auto r2 = CaptureReader::Open(big, g_ts_offset, g_ts_flag, &err);
  ASSERT_NE(r2, nullptr) << err;
  rte_mempool* small = Pool("c2", 5, RTE_PKTMBUF_HEADROOM + 2048);  // 4 segments per record
  ASSERT_EQ(r2->Burst(small, 0, bufs, 8), 1);
  EXPECT_GT(r2->stats().pool_empty, 0u);
  rte_pktmbuf_free(bufs[0]);
  ASSERT_EQ(r2->Burst(small, 0, bufs, 8), 1);
  EXPECT_EQ(rte_pktmbuf_pkt_len(bufs[0]), 7001u);
  rte_pktmbuf_free(bufs[0]);
}

// Direct reading hands records over in place (each mbuf attached to its bytes in a read buffer;
// records shorter than kAttachMin are copied): mbufs kept across many refills keep their bytes (a
// buffer is refilled only once no mbuf refers to it), a reader whose every buffer is still
// referred to ends its bursts early without losing or repeating a record, and mbufs may outlive
// the reader.
TEST(CaptureReaderTest, RecordsHandedOverInPlaceStayIntactWhileHeld) {
  const std::string path = WriteCapture("held.pcap", 2000);  // 60..2059-byte records, ~2.1 MB
  std::string err;
  // 4 KiB buffers: one holds one to 50 records, so the 2000 need hundreds of refills.
  auto r = CaptureReader::Open(path, g_ts_offset, g_ts_flag, &err, 4096);
  ASSERT_NE(r, nullptr) << err;
  ASSERT_TRUE(r->stats().direct);
  rte_mempool* pool = Pool("held", 4095, RTE_PKTMBUF_HEADROOM + 2100);  // no record chained
  auto check = [](rte_mbuf* m, int i) {
    ASSERT_EQ(rte_pktmbuf_pkt_len(m), 60u + i);
    ASSERT_EQ(m->nb_segs, 1);
    ASSERT_EQ(RTE_MBUF_HAS_EXTBUF(m) != 0, 60u + i >= CaptureReader::kAttachMin) << "record " << i;
    const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
    for (uint32_t k = 0; k < 60u + i; ++k) {
      ASSERT_EQ(d[k], static_cast<uint8_t>(i + k)) << "record " << i << " byte " << k;
    }
  };
  std::vector<rte_mbuf*> kept;  // every mbuf; those before `oldest` were freed
  size_t oldest = 0;
  rte_mbuf* bufs[32];
  int busy_bursts = 0;
  while (!r->done()) {
    const uint16_t n = r->Burst(pool, 0, bufs, 32);
    if (n == 0 && !r->done()) {
      // Every buffer is referred to: free the oldest half of what is kept (checked first) and go
      // on; the reader refills the buffers that frees.
      ++busy_bursts;
      ASSERT_LT(busy_bursts, 1000);
      const size_t half = (kept.size() - oldest + 1) / 2;
      for (size_t k = oldest; k < oldest + half; ++k) {
        check(kept[k], static_cast<int>(k));
        rte_pktmbuf_free(kept[k]);
        kept[k] = nullptr;
      }
      oldest += half;
      continue;
    }
    for (uint16_t i = 0; i < n; ++i) kept.push_back(bufs[i]);
  }
  ASSERT_EQ(kept.size(), 2000u);
  EXPECT_GT(r->stats().buffers_busy, 0u);
  EXPECT_EQ(r->stats().buffers, CaptureReader::kMaxBuffers);
  EXPECT_EQ(r->stats().chained_records, 0u);
  // The reader ends first: what is still kept reads the same, and freeing it frees the buffers
  // (ASan, in the debug build, reports a use after free or a leak).
  r.reset();
  for (size_t k = 0; k < kept.size(); ++k) {
    if (kept[k] == nullptr) continue;
    check(kept[k], static_cast<int>(k));
    rte_pktmbuf_free(kept[k]);
  }
  EXPECT_EQ(rte_mempool_avail_count(pool), 4095u);
}

TEST(CaptureReaderTest, ATruncatedFileEndsTheInputWithTheReason) {
  const std::string path = WriteCapture("d.pcap", 10);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 20);  // cut the last record
  std::string err;
  auto r = CaptureReader::Open(path, g_ts_offset, g_ts_flag, &err);
  ASSERT_NE(r, nullptr) << err;
  rte_mempool* pool = Pool("d", 63);
  rte_mbuf* bufs[32];
  const uint16_t n = r->Burst(pool, 0, bufs, 32);
  EXPECT_EQ(n, 9);
  for (uint16_t i = 0; i < n; ++i) rte_pktmbuf_free(bufs[i]);
  EXPECT_TRUE(r->done());
  EXPECT_TRUE(r->finished());
  EXPECT_TRUE(r->stats().truncated_file);
  EXPECT_FALSE(r->error().empty());
}

TEST(CaptureReaderTest, MissingAndNonCaptureFilesAreRefusedNamingTheFile) {
  std::string err;
  EXPECT_EQ(CaptureReader::Open(TempFile("nope.pcap"), -1, 0, &err), nullptr);
  EXPECT_NE(err.find("nope.pcap"), std::string::npos) << err;
  const std::string junk = TempFile("junk.pcap");
  std::ofstream(junk) << "this is not a capture file at all, just text\n";
  err.clear();
  EXPECT_EQ(CaptureReader::Open(junk, -1, 0, &err), nullptr);
  EXPECT_NE(err.find("junk.pcap"), std::string::npos) << err;
}

TEST(CaptureReaderTest, PcapngCapturesReadLikeLibpcap) {
  const std::string shared = fs::testing::SharedDir();
  if (shared.empty()) GTEST_SKIP() << "../shared/data is absent";
  const std::string path = shared + "/data/captures/http_post.pcapng";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
  char errbuf[PCAP_ERRBUF_SIZE];
  pcap_t* ref = pcap_open_offline(path.c_str(), errbuf);
  ASSERT_NE(ref, nullptr) << errbuf;
  std::string err;
  auto r = CaptureReader::Open(path, g_ts_offset, g_ts_flag, &err);
  ASSERT_NE(r, nullptr) << err;
  rte_mempool* pool = Pool("e", 511);
  rte_mbuf* bufs[16];
  uint64_t records = 0;
  while (!r->done()) {
    const uint16_t n = r->Burst(pool, 0, bufs, 16);
    for (uint16_t i = 0; i < n; ++i, ++records) {
      pcap_pkthdr* h = nullptr;
      const u_char* data = nullptr;
      ASSERT_EQ(pcap_next_ex(ref, &h, &data), 1);
      ASSERT_EQ(rte_pktmbuf_data_len(bufs[i]), h->caplen);
      EXPECT_EQ(std::memcmp(rte_pktmbuf_mtod(bufs[i], const void*), data, h->caplen), 0);
      EXPECT_EQ(*RTE_MBUF_DYNFIELD(bufs[i], g_ts_offset, rte_mbuf_timestamp_t*),
                static_cast<uint64_t>(h->ts.tv_sec) * 1000000 + h->ts.tv_usec);
      rte_pktmbuf_free(bufs[i]);
    }
  }
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  EXPECT_EQ(pcap_next_ex(ref, &h, &data), PCAP_ERROR_BREAK);
  EXPECT_GT(records, 0u);
  pcap_close(ref);
}

// One record as a reader delivered it.
struct Got {
  std::vector<uint8_t> bytes;
  uint64_t ts_us;
  bool operator==(const Got& o) const { return bytes == o.bytes && ts_us == o.ts_us; }
};

struct ReadResult {
  std::vector<Got> records;
  bool direct = false;
  bool truncated = false;
  std::string error;
};

ReadResult ReadAll(const std::string& path, CaptureReader::Reading how, rte_mempool* pool,
                   size_t buffer = CaptureReader::kDefaultBuffer) {
  ReadResult out;
  std::string err;
  auto r = CaptureReader::Open(path, g_ts_offset, g_ts_flag, &err, buffer, how);
  EXPECT_NE(r, nullptr) << err;
  if (r == nullptr) return out;
  rte_mbuf* bufs[32];
  while (!r->done()) {
    const uint16_t n = r->Burst(pool, 0, bufs, 32);
    for (uint16_t i = 0; i < n; ++i) {
      Got g;
      std::vector<uint8_t> flat(rte_pktmbuf_pkt_len(bufs[i]));
      // Points into the mbuf when its data is contiguous; copies into flat when chained.
      const auto* d = static_cast<const uint8_t*>(
          rte_pktmbuf_read(bufs[i], 0, flat.size(), flat.data()));
      EXPECT_NE(d, nullptr);
      if (d != nullptr) g.bytes.assign(d, d + flat.size());
      g.ts_us = *RTE_MBUF_DYNFIELD(bufs[i], g_ts_offset, rte_mbuf_timestamp_t*);
      out.records.push_back(std::move(g));
      rte_pktmbuf_free(bufs[i]);
    }
  }
  out.direct = r->stats().direct;
  out.truncated = r->stats().truncated_file;
  out.error = r->error();
  return out;
}

// A classic capture written byte by byte: magic, version 2.4, snaplen, Ethernet; records of
// (seconds, fraction, captured length, original length) with caplen bytes (or `have`, fewer, for
// a file cut short).
class RawCapture {
 public:
  RawCapture(uint32_t magic, bool swap, uint32_t snaplen) : swap_(swap) {
    U32(magic);
    U16(2);
    U16(4);
    U32(0);
    U32(0);
    U32(snaplen);
    U32(DLT_EN10MB);
  }
  RawCapture& Record(uint32_t sec, uint32_t frac, uint32_t caplen, uint32_t have = UINT32_MAX) {
    U32(sec);
    U32(frac);
    U32(caplen);
    U32(caplen + 4);
    for (uint32_t k = 0; k < std::min(caplen, have); ++k) b_.push_back(static_cast<uint8_t>(k * 7 + sec));
    return *this;
  }
  RawCapture& Bytes(size_t n) {
    b_.insert(b_.end(), n, 0xab);
    return *this;
  }
  std::string Write(const std::string& name) const {
    const std::string path = TempFile(name);
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b_.data()), b_.size());
    return path;
  }

 private:
  void U32(uint32_t v) {
    if (swap_) v = __builtin_bswap32(v);
    b_.insert(b_.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4);
  }
  void U16(uint16_t v) {
    if (swap_) v = __builtin_bswap16(v);
    b_.insert(b_.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 2);
  }
  bool swap_;
  std::vector<uint8_t> b_;
};

TEST(CaptureReaderTest, DirectReadingGivesLibpcapsRecordsAndEnds) {
  rte_mempool* pool = Pool("m", 511);
  struct Case {
    std::string path;
    bool direct;        // read directly when allowed
    size_t records;     // records delivered
    std::string error;  // part of the reason the input ended early ("" = clean end)
  };
  const uint32_t kMicro = 0xa1b2c3d4, kNano = 0xa1b23c4d;
  std::vector<Case> cases = {
      {WriteCapture("m-plain.pcap", 500, 40), true, 500, ""},
      {WriteCapture("m-jumbo.pcap", 3, 9000), true, 3, ""},
      {WriteCapture("m-empty.pcap", 0), true, 0, ""},
      {RawCapture(kNano, false, 65535).Record(5, 999999999, 80).Record(6, 1500, 60).Write("m-nano.pcap"),
       true, 2, ""},
      {RawCapture(kMicro, true, 65535).Record(7, 250000, 70).Record(8, 1, 61).Write("m-swapped.pcap"),
       true, 2, ""},
      {RawCapture(kNano, true, 0).Record(9, 123456789, 90).Write("m-nano-swapped.pcap"), true, 1, ""},
      // Timestamps past 2038 as libpcap reads them (signed 32-bit seconds).
      {RawCapture(kMicro, false, 65535).Record(0x90000000u, 5, 64).Write("m-2038.pcap"), true, 1, ""},
      // Longer than the snapshot length: cut to it; beyond libpcap's maximum: the input ends.
      {RawCapture(kMicro, false, 100).Record(1, 0, 150).Record(2, 0, 60).Write("m-snap.pcap"), true, 2,
       ""},
      {RawCapture(kMicro, false, 65535).Record(1, 0, 60).Record(2, 0, 300000, 0).Write("m-huge.pcap"),
       true, 1, "invalid packet capture length 300000, bigger than snaplen of 65535"},
      {RawCapture(kMicro, false, 0).Record(1, 0, 60).Record(2, 0, 300000, 0).Write("m-huge0.pcap"),
       true, 1, "invalid packet capture length 300000, bigger than snaplen of 262144"},
      // Cut inside a record's header, inside its bytes, inside the part beyond the snapshot.
      {RawCapture(kMicro, false, 65535).Record(1, 0, 60).Bytes(9).Write("m-cut-header.pcap"), true, 1,
       "tried to read 16 header bytes, only got 9"},
      {RawCapture(kMicro, false, 65535).Record(1, 0, 60).Record(2, 0, 60, 20).Write("m-cut-data.pcap"),
       true, 1, "tried to read 60 captured bytes, only got 20"},
      {RawCapture(kMicro, false, 100).Record(1, 0, 150, 50).Write("m-cut-snap.pcap"), true, 0,
       "tried to read 100 captured bytes, only got 50"},
      {RawCapture(kMicro, false, 100).Record(1, 0, 150, 120).Write("m-cut-rest.pcap"), true, 0,
       "tried to read 150 captured bytes, only got 120"},
  };
  // Version 2.3 and pcapng are read through the stream.
  {
    std::string v23 = RawCapture(kMicro, false, 65535).Record(1, 0, 60).Write("m-v23.pcap");
    std::fstream f(v23, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(6);
    const uint16_t minor = 3;
    f.write(reinterpret_cast<const char*>(&minor), 2);
    cases.push_back({v23, false, 1, ""});
  }
  const std::string shared = fs::testing::SharedDir();
  if (!shared.empty()) {
    for (const char* name : {"http_post.pcapng", "eternalblue-success-unpatched-win7.pcap", "Tunnels.pcap"}) {
      const std::string path = shared + "/data/captures/" + name;
      if (std::filesystem::exists(path)) {
        cases.push_back({path, std::string(name).find(".pcapng") == std::string::npos, SIZE_MAX, ""});
      }
    }
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    const ReadResult stream = ReadAll(c.path, CaptureReader::Reading::kStream, pool);
    EXPECT_FALSE(stream.direct);
    EXPECT_EQ(stream.truncated, !c.error.empty());
    // The reader's buffer: the default, one that refills every few records, and one smaller
    // than a record (it grows).
    for (size_t buffer : {CaptureReader::kDefaultBuffer, size_t{4096}, size_t{100}}) {
      SCOPED_TRACE(buffer);
      const ReadResult direct = ReadAll(c.path, CaptureReader::Reading::kAny, pool, buffer);
      EXPECT_EQ(direct.direct, c.direct);
      if (c.records != SIZE_MAX) {
        EXPECT_EQ(direct.records.size(), c.records);
      }
      EXPECT_EQ(direct.records.size(), stream.records.size());
      EXPECT_TRUE(direct.records == stream.records);
      EXPECT_EQ(direct.truncated, !c.error.empty());
      EXPECT_EQ(direct.error, stream.error);  // libpcap's own message, word for word
      if (!c.error.empty()) {
        EXPECT_NE(direct.error.find(c.error), std::string::npos) << direct.error;
      }
    }
  }
  // Spot checks of what both agree on.
  const ReadResult nano = ReadAll(TempFile("m-nano.pcap"), CaptureReader::Reading::kAny, pool);
  ASSERT_EQ(nano.records.size(), 2u);
  EXPECT_EQ(nano.records[0].ts_us, 5999999u);
  EXPECT_EQ(nano.records[1].ts_us, 6000001u);
  const ReadResult snap = ReadAll(TempFile("m-snap.pcap"), CaptureReader::Reading::kAny, pool);
  ASSERT_EQ(snap.records.size(), 2u);
  EXPECT_EQ(snap.records[0].bytes.size(), 100u);
  EXPECT_EQ(snap.records[0].bytes[99], static_cast<uint8_t>(99 * 7 + 1));
  EXPECT_EQ(snap.records[1].bytes[0], 2);  // the cut record's rest was skipped
  EXPECT_EQ(snap.records[1].bytes[59], static_cast<uint8_t>(59 * 7 + 2));
}

// The frames of the replay test, with every port p replaced by port(p): the builder computes the
// checksums, so equal bytes also check the reader's checksum update.
std::vector<pcapgen::Bytes> ReplayFrames(const std::function<uint16_t(uint16_t)>& port) {
  using pcapgen::PacketBuilder;
  std::vector<pcapgen::Bytes> f;
  f.push_back(PacketBuilder()
                  .Ipv4("10.1.2.3", "10.9.9.9")
                  .Tcp(port(50000), port(443), 0x18, 1000, 2000)
                  .Payload("hello")
                  .Build());
  f.push_back(PacketBuilder()
                  .Ipv4("10.9.9.9", "10.1.2.3")
                  .Tcp(port(443), port(50000), 0x18, 2000, 1005)
                  .Payload("world!")
                  .Build());
  f.push_back(PacketBuilder()
                  .Vlan(20)
                  .Ipv6("fd00::1", "fd00::53")
                  .Udp(port(40000), port(53))
                  .Payload("dns?")
                  .Build());
  f.push_back(PacketBuilder()  // both ports ephemeral
                  .Ipv4("10.1.2.3", "10.9.9.9")
                  .Udp(port(65535), port(33000))
                  .Payload("x")
                  .Build());
  // No ports to move: a later fragment, ICMP.
  f.push_back(PacketBuilder()
                  .Ipv4("10.1.2.3", "10.9.9.9")
                  .Ipv4Fragment(64, false, 7)
                  .IpProto(17)
                  .Payload("fragment bytes, not a header")
                  .Build());
  f.push_back(PacketBuilder().Ipv4("10.1.2.3", "10.9.9.9").Icmpv4(8, 0, 1).Build());
  return f;
}

// The replay's loop for records that fit one mbuf hands a longer record, or an empty pool, to
// the general loop: short and chained records interleave across passes without one lost,
// repeated or out of order, each with its pass's timestamp.
TEST(CaptureReaderTest, ReplayInterleavesShortAndChainedRecords) {
  const std::vector<uint32_t> sizes = {60, 5000, 61, 62, 3000, 63};
  const std::string path = TempFile("replay-mixed.pcap");
  {
    pcapgen::PcapWriter w;
    std::string err;
    ASSERT_TRUE(w.Open(path, &err)) << err;
    for (size_t i = 0; i < sizes.size(); ++i) {
      pcapgen::Bytes frame(sizes[i]);
      for (size_t k = 0; k < frame.size(); ++k) frame[k] = static_cast<uint8_t>(i * 7 + k);
      ASSERT_TRUE(w.Write(1700000000000000ull + 1000ull * i, frame));
    }
    ASSERT_TRUE(w.Close());
  }
  const uint64_t shift = 1000ull * (sizes.size() - 1) + 1000000;
  std::string err;
  auto r = CaptureReader::OpenReplay(path, g_ts_offset, g_ts_flag, &err);
  ASSERT_NE(r, nullptr) << err;
  // Six mbufs of 2 KB: a 5000-byte record takes three, so bursts also end on an empty pool.
  rte_mempool* pool = Pool("replay-mixed", 6, RTE_PKTMBUF_HEADROOM + 2048);
  rte_mbuf* bufs[5];
  size_t seen = 0;
  const size_t total = 4 * sizes.size();
  while (seen < total) {
    const uint16_t n =
        r->Burst(pool, 0, bufs, static_cast<uint16_t>(std::min<size_t>(5, total - seen)));
    ASSERT_GT(n, 0) << "after " << seen;
    for (uint16_t i = 0; i < n; ++i, ++seen) {
      const uint64_t pass = seen / sizes.size();
      const size_t k = seen % sizes.size();
      rte_mbuf* m = bufs[i];
      ASSERT_EQ(rte_pktmbuf_pkt_len(m), sizes[k]) << "pass " << pass << " record " << k;
      EXPECT_EQ(m->nb_segs, sizes[k] > 2048 ? (sizes[k] + 2047) / 2048 : 1u);
      std::vector<uint8_t> buf(sizes[k]);
      // The record's bytes: in the mbuf itself when it is one segment, else copied into buf.
      const auto* flat =
          static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, buf.size(), buf.data()));
      ASSERT_NE(flat, nullptr);
      for (size_t b = 0; b < buf.size(); ++b) {
        ASSERT_EQ(flat[b], static_cast<uint8_t>(k * 7 + b))
            << "pass " << pass << " record " << k << " byte " << b;
      }
      EXPECT_EQ(*RTE_MBUF_DYNFIELD(m, g_ts_offset, rte_mbuf_timestamp_t*),
                1700000000000000ull + 1000ull * k + pass * shift);
      rte_pktmbuf_free(m);
    }
  }
  EXPECT_EQ(r->replay_passes(), 4u);
  EXPECT_EQ(r->stats().packets, total);
  EXPECT_GT(r->stats().pool_empty, 0u);
  EXPECT_EQ(r->stats().chained_records, 8u);
}

TEST(CaptureReaderTest, ReplayServesEachPassAsNewFlows) {
  EXPECT_EQ(ReplayPort(443, 5), 443);
  EXPECT_EQ(ReplayPort(32767, 5), 32767);
  EXPECT_EQ(ReplayPort(50000, 0), 50000);
  EXPECT_EQ(ReplayPort(50000, 1), 32768 + (50000 - 32768 + 7919) % 32768);
  EXPECT_EQ(ReplayPort(65535, 1), 32768 + (65535 - 32768 + 7919) % 32768);
  const auto same = [](uint16_t p) { return p; };
  const std::vector<pcapgen::Bytes> frames = ReplayFrames(same);
  const std::string path = TempFile("replay.pcap");
  {
    pcapgen::PcapWriter w;
    std::string err;
    ASSERT_TRUE(w.Open(path, &err)) << err;
    for (size_t i = 0; i < frames.size(); ++i)
      ASSERT_TRUE(w.Write(1700000000000000ull + 250000ull * i, frames[i]));
    ASSERT_TRUE(w.Close());
  }
  const uint64_t shift = 250000ull * (frames.size() - 1) + 1000000;  // span + 1 s
  std::string err;
  auto r = CaptureReader::OpenReplay(path, g_ts_offset, g_ts_flag, &err);
  ASSERT_NE(r, nullptr) << err;
  rte_mempool* pool = Pool("replay", 63);
  rte_mbuf* bufs[4];  // bursts that end inside a pass
  size_t seen = 0;
  const size_t passes = 3;
  while (seen < passes * frames.size()) {
    const uint16_t n = r->Burst(
        pool, 0, bufs, static_cast<uint16_t>(std::min<size_t>(4, passes * frames.size() - seen)));
    ASSERT_GT(n, 0);
    for (uint16_t i = 0; i < n; ++i, ++seen) {
      const uint64_t pass = seen / frames.size();
      const size_t k = seen % frames.size();
      const pcapgen::Bytes want =
          ReplayFrames([pass](uint16_t p) { return ReplayPort(p, pass); })[k];
      const auto* d = rte_pktmbuf_mtod(bufs[i], const uint8_t*);
      EXPECT_EQ(pcapgen::Bytes(d, d + rte_pktmbuf_data_len(bufs[i])), want)
          << "pass " << pass << " frame " << k;
      EXPECT_EQ(*RTE_MBUF_DYNFIELD(bufs[i], g_ts_offset, rte_mbuf_timestamp_t*),
                1700000000000000ull + 250000ull * k + pass * shift);
      rte_pktmbuf_free(bufs[i]);
    }
  }
  EXPECT_FALSE(r->done());
  EXPECT_EQ(r->replay_passes(), passes);
  // Unchanged frames stay byte for byte (the fragment and ICMP of pass 1 equal pass 0's).
  EXPECT_EQ(ReplayFrames([](uint16_t p) { return ReplayPort(p, 1); })[4], frames[4]);
  // A capture without records is refused.
  const std::string empty = WriteCapture("replay-empty.pcap", 0);
  EXPECT_EQ(CaptureReader::OpenReplay(empty, -1, 0, &err), nullptr);
  EXPECT_NE(err.find("no packet to replay"), std::string::npos) << err;
}

}  // namespace
}  // namespace fs::port

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new fs::port::EalEnv());
  return RUN_ALL_TESTS();
}
