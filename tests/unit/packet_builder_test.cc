// PacketBuilder and PcapWriter tests. Checksums are verified by recomputing them here, with the
// receiver's rule (the one's-complement sum over header + pseudo-header is 0xffff), not by
// calling the builder's own code. Capture files are read back with libpcap.
#include "tools/pcapgen/packet_builder.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tools/pcapgen/pcap_writer.h"

namespace fs::pcapgen {
namespace {

uint16_t Be16(const Bytes& b, size_t off) { return uint16_t(b[off] << 8 | b[off + 1]); }
uint32_t Be32(const Bytes& b, size_t off) {
  return uint32_t(b[off]) << 24 | uint32_t(b[off + 1]) << 16 | uint32_t(b[off + 2]) << 8 |
         b[off + 3];
}

// RFC 1071 sum, folded; a correct checksum makes the sum over the covered bytes 0xffff.
uint16_t FoldedSum(const uint8_t* p, size_t n, uint64_t acc = 0) {
  for (size_t i = 0; i < n; ++i) acc += (i % 2 == 0) ? uint64_t(p[i]) << 8 : p[i];
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >> 16);
  return uint16_t(acc);
}

// Pseudo-header sum for the transport starting at `l4` (length `len`) of IP header at `l3`.
uint64_t Pseudo(const Bytes& f, size_t l3, bool v6, uint8_t proto, uint32_t len) {
  const size_t addr = v6 ? l3 + 8 : l3 + 12;
  const size_t addr_len = v6 ? 32 : 8;
  uint64_t acc = 0;
  for (size_t i = 0; i < addr_len; i += 2) acc += Be16(f, addr + i);
  return acc + proto + (len >> 16) + (len & 0xffff);
}

constexpr size_t kEth = 14;

TEST(PacketBuilder, Ipv4TcpLengthsAndChecksums) {
  const Bytes f = PacketBuilder()
                      .Ipv4("10.1.2.3", "10.4.5.6", 33)
                      .Tcp(40000, 443, 0x18, 0x01020304, 0x0a0b0c0d, 1000)
                      .TcpOptions({1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2})
                      .Payload("hello")
                      .Build();
  ASSERT_EQ(f.size(), kEth + 20 + 32 + 5);
  EXPECT_EQ(Be16(f, 12), 0x0800);
  EXPECT_EQ(f[kEth], 0x45);
  EXPECT_EQ(Be16(f, kEth + 2), 20 + 32 + 5);  // total length
  EXPECT_EQ(f[kEth + 8], 33);                 // ttl
  EXPECT_EQ(f[kEth + 9], 6);
  EXPECT_EQ(Be32(f, kEth + 12), 0x0a010203u);
  EXPECT_EQ(Be32(f, kEth + 16), 0x0a040506u);
  EXPECT_EQ(FoldedSum(&f[kEth], 20), 0xffff) << "IPv4 header checksum";
  const size_t l4 = kEth + 20;
  EXPECT_EQ(Be16(f, l4), 40000);
  EXPECT_EQ(Be16(f, l4 + 2), 443);
  EXPECT_EQ(Be32(f, l4 + 4), 0x01020304u);
  EXPECT_EQ(Be32(f, l4 + 8), 0x0a0b0c0du);
  EXPECT_EQ(f[l4 + 12] >> 4, 8);  // 20 + 12 option bytes
  EXPECT_EQ(f[l4 + 13], 0x18);
  EXPECT_EQ(Be16(f, l4 + 14), 1000);
  EXPECT_EQ(FoldedSum(&f[l4], f.size() - l4, Pseudo(f, kEth, false, 6, uint32_t(f.size() - l4))),
            0xffff)
      << "TCP checksum with IPv4 pseudo-header";
  EXPECT_EQ(std::string(f.end() - 5, f.end()), "hello");
}

TEST(PacketBuilder, Ipv4UdpAndIcmpChecksums) {
  const Bytes u =
      PacketBuilder().Ipv4("192.0.2.1", "192.0.2.2").Udp(53, 5353).Payload("abc").Build();
  const size_t l4 = kEth + 20;
  EXPECT_EQ(Be16(u, l4 + 4), 8 + 3);  // UDP length
  EXPECT_EQ(FoldedSum(&u[kEth], 20), 0xffff);
  EXPECT_EQ(FoldedSum(&u[l4], 11, Pseudo(u, kEth, false, 17, 11)), 0xffff);

  const Bytes i = PacketBuilder()
                      .Ipv4("192.0.2.1", "192.0.2.2")
                      .Icmpv4(8, 0, 0xbeef0001)
                      .Payload("ping")
                      .Build();
  EXPECT_EQ(i[kEth + 9], 1);
  EXPECT_EQ(i[l4], 8);
  EXPECT_EQ(i[l4 + 1], 0);
  EXPECT_EQ(Be32(i, l4 + 4), 0xbeef0001u);
  EXPECT_EQ(FoldedSum(&i[l4], i.size() - l4), 0xffff) << "ICMPv4 has no pseudo-header";
}

TEST(PacketBuilder, UdpChecksumIsNeverZeroOnTheWire) {
  // A computed 0 must be sent as 0xffff (0 means "no checksum"); one of these payloads hits it.
  for (uint32_t v = 0; v < 0x10000; v += 1) {
    const Bytes f = PacketBuilder()
                        .Ipv4("10.0.0.1", "10.0.0.2")
                        .Udp(1, 2)
                        .Payload(Bytes{uint8_t(v >> 8), uint8_t(v)})
                        .Build();
    const size_t l4 = kEth + 20;
    ASSERT_NE(Be16(f, l4 + 6), 0) << v;
    ASSERT_EQ(FoldedSum(&f[l4], 10, Pseudo(f, kEth, false, 17, 10)), 0xffff) << v;
  }
}

TEST(PacketBuilder, Ipv6ExtensionChainAndPseudoHeader) {
  const Bytes f = PacketBuilder()
                      .Ipv6("2001:db8::1", "2001:db8::2", 7)
                      .Ipv6ExtHeader(0, {})             // hop-by-hop, 8 bytes
                      .Ipv6ExtHeader(60, Bytes(10, 0))  // dest opts, 2+10 -> 16 bytes
                      .Ipv6ExtHeader(51, Bytes(14, 0))  // AH, 16 bytes
                      .Tcp(1, 2, 0x02, 5, 0)
                      .Payload("xyz")
                      .Build();
  const size_t l3 = kEth;
  EXPECT_EQ(Be16(f, 12), 0x86dd);
  EXPECT_EQ(f[l3] >> 4, 6);
  EXPECT_EQ(f[l3 + 7], 7);                           // hop limit
  EXPECT_EQ(Be16(f, l3 + 4), 8 + 16 + 16 + 20 + 3);  // payload length counts the ext headers
  EXPECT_EQ(f[l3 + 6], 0);                           // -> hop-by-hop
  const size_t hbh = l3 + 40, dst = hbh + 8, ah = dst + 16, l4 = ah + 16;
  EXPECT_EQ(f[hbh], 60);
  EXPECT_EQ(f[hbh + 1], 0);  // (8 / 8) - 1
  EXPECT_EQ(f[dst], 51);
  EXPECT_EQ(f[dst + 1], 1);  // (16 / 8) - 1
  EXPECT_EQ(f[ah], 6);
  EXPECT_EQ(f[ah + 1], 2);  // AH: (16 / 4) - 2
  ASSERT_EQ(f.size(), l4 + 23);
  // The pseudo-header length is the upper-layer length, without the extension headers.
  EXPECT_EQ(FoldedSum(&f[l4], 23, Pseudo(f, l3, true, 6, 23)), 0xffff);
}

TEST(PacketBuilder, Ipv6UdpAndIcmpv6UsePseudoHeader) {
  const Bytes u = PacketBuilder().Ipv6("fe80::1", "ff02::fb").Udp(5353, 5353).Payload("q").Build();
  const size_t l4 = kEth + 40;
  EXPECT_EQ(u[kEth + 6], 17);
  EXPECT_EQ(Be16(u, l4 + 4), 9);
  EXPECT_EQ(FoldedSum(&u[l4], 9, Pseudo(u, kEth, true, 17, 9)), 0xffff);

  const Bytes i = PacketBuilder()
                      .Ipv6("2001:db8::1", "2001:db8::2")
                      .Icmpv6(128, 0, 0x00010002)
                      .Payload("ping")
                      .Build();
  EXPECT_EQ(i[kEth + 6], 58);
  EXPECT_EQ(i[l4], 128);
  EXPECT_EQ(FoldedSum(&i[l4], 12, Pseudo(i, kEth, true, 58, 12)), 0xffff);
  EXPECT_NE(FoldedSum(&i[l4], 12), 0xffff) << "the checksum must depend on the pseudo-header";
}

TEST(PacketBuilder, VlanAndQinQTags) {
  const Bytes one = PacketBuilder().Vlan(100, 3).Ipv4("10.0.0.1", "10.0.0.2").Udp(1, 2).Build();
  EXPECT_EQ(Be16(one, 12), 0x8100);
  EXPECT_EQ(Be16(one, 14), 3 << 13 | 100);
  EXPECT_EQ(Be16(one, 16), 0x0800);

  const Bytes qinq = PacketBuilder().Vlan(300, 5).Vlan(42).Ipv6("::1", "::2").Udp(1, 2).Build();
  EXPECT_EQ(Be16(qinq, 12), 0x88a8);  // service tag outside
  EXPECT_EQ(Be16(qinq, 14), 5 << 13 | 300);
  EXPECT_EQ(Be16(qinq, 16), 0x8100);  // customer tag inside
  EXPECT_EQ(Be16(qinq, 18), 42);
  EXPECT_EQ(Be16(qinq, 20), 0x86dd);
  EXPECT_EQ(qinq[22] >> 4, 6);

  const Bytes old = PacketBuilder().VlanWithTpid(0x9100, 7).Vlan(8).RawL3(0x0806, {}).Build();
  EXPECT_EQ(Be16(old, 12), 0x9100);
  EXPECT_EQ(Be16(old, 16), 0x8100);
  EXPECT_EQ(Be16(old, 20), 0x0806);
}

TEST(PacketBuilder, Ipv4FragmentFields) {
  const Bytes first =
      PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Ipv4Fragment(0, true, 0x4242).Udp(1, 2).Build();
  EXPECT_EQ(Be16(first, kEth + 4), 0x4242);
  EXPECT_EQ(Be16(first, kEth + 6), 0x2000);  // MF, offset 0
  EXPECT_EQ(FoldedSum(&first[kEth], 20), 0xffff);

  const Bytes last = PacketBuilder()
                         .Ipv4("10.0.0.1", "10.0.0.2")
                         .Ipv4Fragment(1480, false, 7)
                         .IpProto(17)
                         .Payload(Bytes(16, 1))
                         .Build();
  EXPECT_EQ(Be16(last, kEth + 6), 1480 / 8);
  EXPECT_EQ(last[kEth + 9], 17);
  EXPECT_EQ(Be16(last, kEth + 2), 20 + 16);
}

TEST(PacketBuilder, Ipv6FragmentHeaderInCallOrder) {
  const Bytes f = PacketBuilder()
                      .Ipv6("2001:db8::1", "2001:db8::2")
                      .Ipv6ExtHeader(0, {})
                      .Ipv6Fragment(2048, true, 0xdeadbeef)
                      .IpProto(17)
                      .Payload(Bytes(24, 0))
                      .Build();
  const size_t hbh = kEth + 40, frag = hbh + 8;
  EXPECT_EQ(f[kEth + 6], 0);
  EXPECT_EQ(f[hbh], 44);
  EXPECT_EQ(f[frag], 17);
  EXPECT_EQ(f[frag + 1], 0);
  EXPECT_EQ(Be16(f, frag + 2), (2048 / 8) << 3 | 1);
  EXPECT_EQ(Be32(f, frag + 4), 0xdeadbeefu);
  EXPECT_EQ(Be16(f, kEth + 4), 8 + 8 + 24);
}

TEST(PacketBuilder, OptionsArePaddedToFourBytes) {
  const Bytes f = PacketBuilder()
                      .Ipv4("10.0.0.1", "10.0.0.2")
                      .Ipv4Options({148, 4, 0})
                      .Tcp(1, 2, 2, 0, 0)
                      .TcpOptions({2, 4, 5, 0xb4, 1})
                      .Build();
  EXPECT_EQ(f[kEth] & 0x0f, 6);  // 20 + 3 option bytes padded to 4
  EXPECT_EQ(f[kEth + 23], 0);    // EOL padding
  EXPECT_EQ(FoldedSum(&f[kEth], 24), 0xffff);
  const size_t l4 = kEth + 24;
  EXPECT_EQ(f[l4 + 12] >> 4, 7);  // 20 + 5 padded to 8
  EXPECT_EQ(Be16(f, kEth + 2), 24 + 28);
}

TEST(PacketBuilder, OverridesWriteTheRawValueAndKeepChecksumsOverIt) {
  const PacketBuilder base = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(1, 2).Payload("abcd");
  const Bytes ihl = PacketBuilder(base).OverrideIpv4Ihl(4).Build();
  EXPECT_EQ(ihl[kEth], 0x44);
  EXPECT_EQ(FoldedSum(&ihl[kEth], 20), 0xffff);
  const Bytes tot = PacketBuilder(base).OverrideIpv4TotalLength(1500).Build();
  EXPECT_EQ(Be16(tot, kEth + 2), 1500);
  EXPECT_EQ(tot.size(), kEth + 20 + 12u);  // the frame itself is unchanged
  EXPECT_EQ(FoldedSum(&tot[kEth], 20), 0xffff);
  const Bytes ver = PacketBuilder(base).OverrideIpVersion(6).Build();
  EXPECT_EQ(ver[kEth], 0x65);
  const Bytes ulen = PacketBuilder(base).OverrideUdpLength(4).Build();
  EXPECT_EQ(Be16(ulen, kEth + 20 + 4), 4);

  const Bytes v6 = PacketBuilder()
                       .Ipv6("::1", "::2")
                       .OverrideIpv6PayloadLength(999)
                       .OverrideIpVersion(4)
                       .Udp(1, 2)
                       .Build();
  EXPECT_EQ(Be16(v6, kEth + 4), 999);
  EXPECT_EQ(v6[kEth] >> 4, 4);
  const Bytes doff = PacketBuilder()
                         .Ipv4("10.0.0.1", "10.0.0.2")
                         .Tcp(1, 2, 0x10, 1, 1)
                         .OverrideTcpDataOffset(15)
                         .Build();
  EXPECT_EQ(doff[kEth + 20 + 12] >> 4, 15);
  EXPECT_EQ(FoldedSum(&doff[kEth + 20], 20, Pseudo(doff, kEth, false, 6, 20)), 0xffff);
}

TEST(PacketBuilder, PaddingRawL3AndOffsets) {
  const PacketBuilder b =
      PacketBuilder().Vlan(5).Ipv4("10.0.0.1", "10.0.0.2").Tcp(1, 2, 0x10, 1, 1).PadTo(64);
  const Bytes f = b.Build();
  ASSERT_EQ(f.size(), 64u);
  EXPECT_EQ(Be16(f, 18 + 2), 40);  // IP total length excludes the padding
  EXPECT_EQ(b.L3Offset(), 18u);
  EXPECT_EQ(b.L4Offset(), 38u);
  EXPECT_EQ(b.PayloadOffset(), 58u);
  EXPECT_EQ(FoldedSum(&f[38], 20, Pseudo(f, 18, false, 6, 20)), 0xffff);

  const Bytes big = PacketBuilder()
                        .Ipv4("10.0.0.1", "10.0.0.2")
                        .Udp(1, 2)
                        .Payload(Bytes(100, 1))
                        .PadTo(60)
                        .Build();
  EXPECT_EQ(big.size(), kEth + 20 + 8 + 100u);  // already longer: untouched

  const uint8_t src[6] = {1, 2, 3, 4, 5, 6}, dst[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  const Bytes arp = PacketBuilder().Eth(src, dst).RawL3(0x0806, Bytes(28, 7)).Build();
  ASSERT_EQ(arp.size(), 14u + 28);
  EXPECT_EQ(arp[0], 0xff);
  EXPECT_EQ(arp[6], 1);
  EXPECT_EQ(arp[11], 6);
  EXPECT_EQ(Be16(arp, 12), 0x0806);
  EXPECT_EQ(arp[14], 7);
}

TEST(PacketBuilder, RejectsMalformedAddressText) {
  EXPECT_THROW(PacketBuilder().Ipv4("10.0.0.256", "10.0.0.1"), std::invalid_argument);
  EXPECT_THROW(PacketBuilder().Ipv4("2001:db8::1", "10.0.0.1"), std::invalid_argument);
  EXPECT_THROW(PacketBuilder().Ipv6("10.0.0.1", "::1"), std::invalid_argument);
  EXPECT_THROW(PacketBuilder().Ipv4Options(Bytes(41, 1)), std::invalid_argument);
  EXPECT_THROW(PacketBuilder().TcpOptions(Bytes(41, 1)), std::invalid_argument);
  EXPECT_THROW(PacketBuilder().Ipv6ExtHeader(60, Bytes(2047, 0)), std::invalid_argument);
  EXPECT_THROW(PacketBuilder().Ipv6ExtHeader(51, Bytes(1023, 0)), std::invalid_argument);
  // The largest encodable sizes are accepted and encoded.
  const Bytes big = PacketBuilder()
                        .Ipv6("::1", "::2")
                        .Ipv6ExtHeader(60, Bytes(2046, 0))
                        .Ipv6ExtHeader(51, Bytes(1022, 0))
                        .Build();
  EXPECT_EQ(big[kEth + 40 + 1], 255);
  EXPECT_EQ(big[kEth + 40 + 2048 + 1], 254);
  EXPECT_EQ(Be16(big, kEth + 4), 2048 + 1024);
}

// ---- PcapWriter ----

class PcapWriterTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(testing::TempDir()) /
           ("pcap_writer_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(PcapWriterTest, WritesAFileLibpcapReadsBack) {
  const std::string path = (dir_ / "out.pcap").string();
  const Bytes syn = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Tcp(1, 2, 2, 0, 0).Build();
  Bytes jumbo(70000);
  for (size_t i = 0; i < jumbo.size(); ++i) jumbo[i] = uint8_t(i * 7);

  PcapWriter w;
  std::string error;
  ASSERT_TRUE(w.Open(path, &error)) << error;
  EXPECT_TRUE(w.is_open());
  ASSERT_TRUE(w.Write(1700000000123456ull, syn));
  ASSERT_TRUE(w.Write(1700000001000001ull, syn, 1514));  // captured short of the wire length
  ASSERT_TRUE(w.Write(1700000002000000ull, jumbo));      // longer than the snaplen
  EXPECT_EQ(w.packets(), 3u);
  ASSERT_TRUE(w.Close());
  EXPECT_FALSE(w.is_open());

  // Fixed header bytes: little-endian microsecond magic, 2.4, snaplen, Ethernet.
  std::ifstream raw(path, std::ios::binary);
  uint8_t hdr[24];
  raw.read(reinterpret_cast<char*>(hdr), sizeof(hdr));
  ASSERT_TRUE(raw);
  EXPECT_EQ(hdr[0], 0xd4);
  EXPECT_EQ(hdr[3], 0xa1);
  EXPECT_EQ(hdr[4], 2);
  EXPECT_EQ(hdr[6], 4);

  char errbuf[PCAP_ERRBUF_SIZE];
  pcap_t* pc = pcap_open_offline(path.c_str(), errbuf);
  ASSERT_NE(pc, nullptr) << errbuf;
  EXPECT_EQ(pcap_datalink(pc), DLT_EN10MB);
  EXPECT_EQ(pcap_snapshot(pc), 65535);
  EXPECT_EQ(pcap_major_version(pc), 2);
  EXPECT_EQ(pcap_minor_version(pc), 4);

  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  ASSERT_EQ(pcap_next_ex(pc, &h, &data), 1);
  EXPECT_EQ(h->ts.tv_sec, 1700000000);
  EXPECT_EQ(h->ts.tv_usec, 123456);
  EXPECT_EQ(h->caplen, syn.size());
  EXPECT_EQ(h->len, syn.size());
  EXPECT_EQ(Bytes(data, data + h->caplen), syn);

  ASSERT_EQ(pcap_next_ex(pc, &h, &data), 1);
  EXPECT_EQ(h->ts.tv_usec, 1);
  EXPECT_EQ(h->caplen, syn.size());
  EXPECT_EQ(h->len, 1514u);

  ASSERT_EQ(pcap_next_ex(pc, &h, &data), 1);
  EXPECT_EQ(h->caplen, 65535u);
  EXPECT_EQ(h->len, 70000u);
  EXPECT_EQ(Bytes(data, data + h->caplen), Bytes(jumbo.begin(), jumbo.begin() + 65535));

  EXPECT_EQ(pcap_next_ex(pc, &h, &data), PCAP_ERROR_BREAK);  // end of file
  pcap_close(pc);
}

TEST_F(PcapWriterTest, FailsCleanlyWithPathAndReason) {
  PcapWriter w;
  std::string error;
  const std::string path = (dir_ / "no" / "such" / "dir.pcap").string();
  EXPECT_FALSE(w.Open(path, &error));
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
  EXPECT_FALSE(w.is_open());
  EXPECT_FALSE(w.Write(0, Bytes(60, 0)));
  EXPECT_NE(w.last_error().find("not open"), std::string::npos) << w.last_error();
  EXPECT_EQ(w.packets(), 0u);

  // A device that accepts the open but not the data: the failure surfaces, naming the file.
  PcapWriter full;
  ASSERT_TRUE(full.Open("/dev/full", &error)) << error;
  bool ok = true;
  for (int i = 0; i < 1000 && ok; ++i) ok = full.Write(0, Bytes(1500, 0));
  ok = ok && full.Close();
  EXPECT_FALSE(ok);
  EXPECT_NE(full.last_error().find("'/dev/full'"), std::string::npos) << full.last_error();
  EXPECT_NE(full.last_error().find("No space left on device"), std::string::npos)
      << full.last_error();
}

TEST_F(PcapWriterTest, MoveTransfersTheOpenFile) {
  const std::string path = (dir_ / "moved.pcap").string();
  PcapWriter a;
  std::string error;
  ASSERT_TRUE(a.Open(path, &error)) << error;
  ASSERT_TRUE(a.Write(5, Bytes(60, 1)));
  PcapWriter b = std::move(a);
  EXPECT_TRUE(b.is_open());
  ASSERT_TRUE(b.Write(6, Bytes(60, 2)));
  EXPECT_EQ(b.packets(), 2u);
  ASSERT_TRUE(b.Close());
  EXPECT_EQ(std::filesystem::file_size(path), 24u + 2 * (16 + 60));
}

}  // namespace
}  // namespace fs::pcapgen
