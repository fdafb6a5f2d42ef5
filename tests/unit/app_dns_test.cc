// DNS message parsing (dataplane/app/dns): crafted queries and responses (compression, A/AAAA/
// CNAME/PTR/NS/MX answers, TXT/NULL rdata, names' wire case, caps), hostile names (pointer
// loops, forward pointers, long pointer chains, reserved label types, over-long names),
// truncation at every byte, DNS-over-TCP framing
// at every split point, and a fixed-seed mutation run that checks the output bounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "dataplane/app/dns.h"

namespace fs::app {
namespace {

using Bytes = std::vector<uint8_t>;

// Writes DNS wire format; names are given as dotted text, pointers explicitly.
struct Msg {
  Bytes b;
  Msg& U8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Msg& U16(uint16_t v) { return U8(uint8_t(v >> 8)).U8(uint8_t(v)); }
  Msg& U32(uint32_t v) { return U16(uint16_t(v >> 16)).U16(uint16_t(v)); }
  Msg& Header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns = 0,
              uint16_t ar = 0) {
    return U16(id).U16(flags).U16(qd).U16(an).U16(ns).U16(ar);
  }
  // Labels of `dotted`, then the root (terminate) or nothing (a pointer follows).
  Msg& Labels(const std::string& dotted, bool terminate = true) {
    size_t start = 0;
    while (start < dotted.size()) {
      size_t dot = dotted.find('.', start);
      if (dot == std::string::npos) dot = dotted.size();
      U8(uint8_t(dot - start));
      for (size_t i = start; i < dot; ++i) U8(uint8_t(dotted[i]));
      start = dot + 1;
    }
    if (terminate) U8(0);
    return *this;
  }
  Msg& Ptr(uint16_t offset) { return U16(uint16_t(0xC000 | offset)); }
  Msg& Question(uint16_t type = 1, uint16_t rclass = 1) { return U16(type).U16(rclass); }
  Msg& RrFixed(uint16_t type, uint32_t ttl, uint16_t rdlen) {
    return U16(type).U16(1).U32(ttl).U16(rdlen);
  }
  Msg& Raw(const Bytes& r) {
    b.insert(b.end(), r.begin(), r.end());
    return *this;
  }
  size_t size() const { return b.size(); }
};

std::vector<std::string> EventNames(const DnsMessage& m) {
  std::vector<std::string> out;
  for (int i = 0; i < kDnsEventCount; ++i)
    if (m.Has(static_cast<DnsEvent>(i))) out.push_back(DnsEventName(static_cast<DnsEvent>(i)));
  return out;
}

// A response for www.Example.com: CNAME to cdn.example.net, then A and AAAA for the CDN name,
// all compressed. Offsets noted as the message is built.
Bytes ExampleResponse() {
  Msg m;
  m.Header(0xBEEF, 0x8180, 1, 3);
  m.Labels("www.Example.com").Question(1);  // name at 12
  // CNAME: owner -> 12, target "cdn.example.net"
  m.Ptr(12).RrFixed(kDnsTypeCname, 300, 17).Labels("cdn.example.net");
  const uint16_t cdn = uint16_t(m.size() - 17);
  m.Ptr(cdn).RrFixed(kDnsTypeA, 60, 4).Raw({93, 184, 216, 34});
  m.Ptr(cdn)
      .RrFixed(kDnsTypeAaaa, 60, 16)
      .Raw({0x26, 0x06, 0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  return m.b;
}

struct Case {
  const char* desc;
  Bytes msg;
  DnsDirection dir;
  std::vector<std::string> events;   // exactly these, by Suricata name
  std::vector<std::string> queries;  // stored query names
  size_t answers;                    // stored answers
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  cases.push_back({"plain query, name lowercased",
                   Msg().Header(1, 0x0100, 1, 0).Labels("WWW.Example.COM").Question().b,
                   DnsDirection::kToServer,
                   {},
                   {"www.example.com"},
                   0});
  cases.push_back({"root name",
                   Msg().Header(2, 0x0100, 1, 0).U8(0).Question(2).b,
                   DnsDirection::kToServer,
                   {},
                   {""},
                   0});
  cases.push_back({"compressed response",
                   ExampleResponse(),
                   DnsDirection::kToClient,
                   {},
                   {"www.example.com"},
                   3});
  cases.push_back({"truncated header",
                   Bytes{0, 1, 2, 3, 4},
                   DnsDirection::kUnknown,
                   {"malformed_data"},
                   {},
                   0});
  cases.push_back({"pointer to itself",
                   Msg().Header(3, 0x0100, 1, 0).Ptr(12).Question().b,
                   DnsDirection::kToServer,
                   {"infinite_loop"},
                   {""},
                   0});
  {
    // Two names pointing at each other: 12 -> 20 is forward, refused before any loop can form.
    Msg m;
    m.Header(4, 0x0100, 2, 0).Labels("a", false).Ptr(20).Question();  // 12: 01 'a' C0 14
    m.Labels("b", false).Ptr(12).Question();                          // 19: 01 'b' C0 0C
    cases.push_back({"pointer loop between two names",
                     m.b,
                     DnsDirection::kToServer,
                     {"infinite_loop"},
                     {"a", "b.a"},
                     0});
  }
  cases.push_back({"pointer outside the message",
                   Msg().Header(5, 0x0100, 1, 0).Ptr(0x3FFF).Question().b,
                   DnsDirection::kToServer,
                   {"bad_pointer"},
                   {""},
                   0});
  cases.push_back({"reserved label type 01",
                   Msg().Header(6, 0x0100, 1, 0).U8(0x41).U8('x').U8(0).Question().b,
                   DnsDirection::kToServer,
                   {"bad_label"},
                   {},
                   0});
  {
    Msg m;
    m.Header(7, 0x0100, 1, 0);
    for (int i = 0; i < 5; ++i) m.U8(63).Raw(Bytes(63, 'a'));
    m.U8(0).Question();
    cases.push_back(
        {"name of 321 wire octets",
         m.b,
         DnsDirection::kToServer,
         {"name_too_long"},
         {std::string(63, 'a') + "." + std::string(63, 'a') + "." + std::string(63, 'a')},
         0});
  }
  cases.push_back({"question count larger than the message",
                   Msg().Header(8, 0x0100, 2, 0).Labels("a.b").Question().b,
                   DnsDirection::kToServer,
                   {"malformed_data"},
                   {"a.b"},
                   0});
  {
    Msg m;
    m.Header(9, 0x8180, 1, 1).Labels("a.b").Question().Ptr(12).RrFixed(kDnsTypeA, 5, 200);
    m.Raw({1, 2, 3, 4});
    cases.push_back(
        {"rdlength past the end", m.b, DnsDirection::kToClient, {"malformed_data"}, {"a.b"}, 0});
  }
  {
    Msg m;
    m.Header(10, 0x0100, 10, 0);
    for (int i = 0; i < 10; ++i) m.Labels("q" + std::to_string(i) + ".example").Question();
    std::vector<std::string> names;
    for (int i = 0; i < 8; ++i) names.push_back("q" + std::to_string(i) + ".example");
    cases.push_back(
        {"more queries than stored", m.b, DnsDirection::kToServer, {"too_many_records"}, names, 0});
  }
  cases.push_back({"response flag towards the server",
                   Msg().Header(11, 0x8180, 1, 0).Labels("x.y").Question().b,
                   DnsDirection::kToServer,
                   {"not_request"},
                   {"x.y"},
                   0});
  cases.push_back({"query flag towards the client",
                   Msg().Header(12, 0x0100, 1, 0).Labels("x.y").Question().b,
                   DnsDirection::kToClient,
                   {"not_response"},
                   {"x.y"},
                   0});
  cases.push_back(
      {"z flag and opcode 7",
       Msg().Header(13, uint16_t(0x0100 | 0x0040 | (7 << 11)), 1, 0).Labels("x.y").Question().b,
       DnsDirection::kUnknown,
       {"z_flag_set", "invalid_opcode"},
       {"x.y"},
       0});
  cases.push_back({"counts of 65535 in a short message",
                   Msg().Header(19, 0x0100, 0xFFFF, 0xFFFF).Labels("a").Question().b,
                   DnsDirection::kToServer,
                   {"malformed_data", "too_many_records"},
                   {"a"},
                   0});
  cases.push_back({"bytes after the last record",
                   Msg().Header(14, 0x0100, 1, 0).Labels("x.y").Question().Raw({1, 2, 3}).b,
                   DnsDirection::kToServer,
                   {"trailing_data"},
                   {"x.y"},
                   0});
  cases.push_back({"authority section cut short",
                   Msg().Header(15, 0x8180, 1, 0, 1).Labels("x.y").Question().Ptr(12).U16(6).b,
                   DnsDirection::kToClient,
                   {"invalid_authorities"},
                   {"x.y"},
                   0});
  cases.push_back({"additional section cut short",
                   Msg().Header(16, 0x8180, 1, 0, 0, 1).Labels("x.y").Question().U8(0).U16(41).b,
                   DnsDirection::kToClient,
                   {"invalid_additionals"},
                   {"x.y"},
                   0});
  {
    Msg m;
    m.Header(17, 0x8180, 1, 1).Labels("x.y").Question().Ptr(12).RrFixed(kDnsTypeA, 1, 5);
    m.Raw({1, 2, 3, 4, 5});
    cases.push_back(
        {"A record of 5 bytes", m.b, DnsDirection::kToClient, {"malformed_data"}, {"x.y"}, 1});
  }
  {
    // 40 pointers, each to the one before it (all backwards): more jumps than allowed.
    Msg m;
    m.Header(18, 0x8180, 0, 2);
    const size_t rdlen = 3 + 2 * 40;
    m.U8(0).RrFixed(16, 1, uint16_t(rdlen));  // TXT carrying the chain
    const uint16_t base = uint16_t(m.size());
    m.Labels("a");
    uint16_t prev = base;
    for (int i = 0; i < 40; ++i) {
      const uint16_t here = uint16_t(m.size());
      m.Ptr(prev);
      prev = here;
    }
    m.Ptr(prev).RrFixed(kDnsTypeA, 1, 4).Raw({10, 0, 0, 1});
    cases.push_back({"pointer chain longer than the jump limit",
                     m.b,
                     DnsDirection::kToClient,
                     {"infinite_loop"},
                     {},
                     2});
  }
  return cases;
}

TEST(DnsParse, Table) {
  DnsMessage m;
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.desc);
    const bool ok = ParseDns(c.msg.data(), c.msg.size(), c.dir, &m);
    EXPECT_EQ(ok, c.msg.size() >= kDnsHeaderLen);
    EXPECT_EQ(EventNames(m), c.events);
    std::vector<std::string> names;
    for (size_t i = 0; i < m.query_count; ++i) names.emplace_back(m.queries[i].name.view());
    EXPECT_EQ(names, c.queries);
    EXPECT_EQ(m.answer_count, c.answers);
  }
}

TEST(DnsParse, ResponseFieldsAndDecompression) {
  const Bytes msg = ExampleResponse();
  DnsMessage m;
  ASSERT_TRUE(ParseDns(msg.data(), msg.size(), DnsDirection::kToClient, &m));
  EXPECT_EQ(m.events, 0u);
  EXPECT_EQ(m.id, 0xBEEF);
  EXPECT_TRUE(m.flags.qr);
  EXPECT_TRUE(m.flags.rd);
  EXPECT_TRUE(m.flags.ra);
  EXPECT_FALSE(m.flags.aa);
  EXPECT_FALSE(m.flags.tc);
  EXPECT_EQ(m.flags.opcode, 0);
  EXPECT_EQ(m.flags.rcode, 0);
  ASSERT_EQ(m.answer_count, 3);
  EXPECT_EQ(m.answers[0].name.view(), "www.example.com");
  EXPECT_EQ(m.answers[0].type, kDnsTypeCname);
  EXPECT_EQ(m.answers[0].ttl, 300u);
  ASSERT_TRUE(m.answers[0].has_target);
  EXPECT_EQ(m.answers[0].target.view(), "cdn.example.net");
  EXPECT_EQ(m.answers[1].name.view(), "cdn.example.net");
  ASSERT_TRUE(m.answers[1].has_addr);
  EXPECT_EQ(m.answers[1].addr.ToString(), "93.184.216.34");
  EXPECT_EQ(m.answers[2].type, kDnsTypeAaaa);
  ASSERT_TRUE(m.answers[2].has_addr);
  EXPECT_EQ(m.answers[2].addr.ToString(), "2606:2800::1");
  EXPECT_FALSE(m.answers[1].has_target);
}

TEST(DnsParse, PtrAndNsTargetsAndRcode) {
  Msg m;
  m.Header(7, 0x8183, 1, 2).Labels("4.3.2.1.in-addr.arpa").Question(kDnsTypePtr);
  // The question name's labels start at 12 ("4"), 14, 16, 18 ("1"), 20 ("in-addr"), 28 ("arpa").
  m.Ptr(12).RrFixed(kDnsTypePtr, 10, 2).Ptr(18);
  m.Ptr(12).RrFixed(kDnsTypeNs, 10, 5).Labels("ns", false).Ptr(28);
  DnsMessage out;
  ASSERT_TRUE(ParseDns(m.b.data(), m.b.size(), DnsDirection::kToClient, &out));
  EXPECT_EQ(out.events, 0u) << testing::PrintToString(EventNames(out));
  EXPECT_EQ(out.flags.rcode, 3);  // NXDOMAIN
  ASSERT_EQ(out.answer_count, 2);
  EXPECT_EQ(out.answers[0].name.view(), "4.3.2.1.in-addr.arpa");
  EXPECT_EQ(out.answers[0].target.view(), "1.in-addr.arpa");
  EXPECT_EQ(out.answers[1].target.view(), "ns.arpa");
}

// Names match lowercased but keep the case they were sent in for EVE; MX gives the exchange as
// target; TXT and NULL rdata are reachable as bytes.
TEST(DnsParse, WireCaseMxAndByteRdata) {
  Msg m;
  m.Header(9, 0x8180, 1, 3).Labels("Mail.Example.ORG").Question(kDnsTypeMx);
  m.Ptr(12).RrFixed(kDnsTypeMx, 60, 2 + 4 + 2).U16(10).Labels("mx1", false).Ptr(17);
  m.Ptr(12).RrFixed(kDnsTypeTxt, 60, 6).U8(2).U8('h').U8('i').U8(2).U8('O').U8('K');
  m.Ptr(12).RrFixed(kDnsTypeNull, 60, 2).U8(0xCA).U8(0x01);
  DnsMessage out;
  ASSERT_TRUE(ParseDns(m.b.data(), m.b.size(), DnsDirection::kToClient, &out));
  EXPECT_EQ(out.events, 0u) << testing::PrintToString(EventNames(out));
  char sent[kDnsMaxNameText];
  EXPECT_EQ(out.queries[0].name.view(), "mail.example.org");
  EXPECT_EQ(out.queries[0].name.AsSent(sent), "Mail.Example.ORG");
  ASSERT_EQ(out.answer_count, 3);
  ASSERT_TRUE(out.answers[0].has_target);
  EXPECT_EQ(out.answers[0].target.AsSent(sent), "mx1.Example.ORG");
  ASSERT_NE(out.answers[1].rdata, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(out.answers[1].rdata), 6),
            std::string("\x02hi\x02OK"));
  EXPECT_EQ(out.answers[2].rdata[0], 0xCA);
  EXPECT_EQ(out.answers[2].rdlength, 2);
}

// Every prefix of a valid response is reported (header cut: false; later: an event), never
// read past (ASan build checks that).
TEST(DnsParse, TruncatedAtEveryByte) {
  const Bytes full = ExampleResponse();
  DnsMessage m;
  for (size_t cut = 0; cut < full.size(); ++cut) {
    SCOPED_TRACE(cut);
    const Bytes part(full.begin(), full.begin() + cut);
    const bool ok = ParseDns(part.data(), part.size(), DnsDirection::kToClient, &m);
    EXPECT_EQ(ok, cut >= kDnsHeaderLen);
    EXPECT_NE(m.events, 0u);
  }
}

// A message delivered by the framer, as text, so that runs can be compared.
struct Framed {
  std::vector<Bytes> messages;
  std::vector<DnsEvent> events;
  bool operator==(const Framed&) const = default;
};

Framed FeedSplit(const Bytes& stream, const std::vector<size_t>& cuts) {
  DnsTcpFramer f;
  Framed out;
  size_t at = 0;
  auto feed = [&](size_t end) {
    f.Feed(
        stream.data() + at, end - at,
        [&](const uint8_t* msg, size_t len) { out.messages.emplace_back(msg, msg + len); },
        [&](DnsEvent e) { out.events.push_back(e); });
    at = end;
  };
  for (size_t c : cuts) feed(c);
  feed(stream.size());
  return out;
}

Bytes TcpStream() {
  Bytes s;
  auto add = [&](const Bytes& m) {
    s.push_back(uint8_t(m.size() >> 8));
    s.push_back(uint8_t(m.size()));
    s.insert(s.end(), m.begin(), m.end());
  };
  add(Msg().Header(1, 0x0100, 1, 0).Labels("a.example").Question().b);
  s.push_back(0);  // an empty message
  s.push_back(0);
  add(ExampleResponse());
  add(Bytes(kDnsTcpBufferCap + 1, 0xAB));  // too long to buffer: skipped
  add(Msg().Header(2, 0x0100, 1, 0).Labels("b.example").Question().b);
  return s;
}

TEST(DnsTcpFramer, SameMessagesAtEverySplit) {
  const Bytes stream = TcpStream();
  const Framed whole = FeedSplit(stream, {});
  ASSERT_EQ(whole.messages.size(), 3u);
  EXPECT_EQ(whole.messages[1], ExampleResponse());
  EXPECT_EQ(whole.events,
            (std::vector<DnsEvent>{DnsEvent::kTcpMessageEmpty, DnsEvent::kTcpMessageTooLong}));
  DnsMessage m;
  ASSERT_TRUE(
      ParseDns(whole.messages[2].data(), whole.messages[2].size(), DnsDirection::kToServer, &m));
  EXPECT_EQ(m.queries[0].name.view(), "b.example");

  for (size_t cut = 1; cut < stream.size();
       cut += (cut < 200 || cut > stream.size() - 200) ? 1 : 97)
    ASSERT_EQ(FeedSplit(stream, {cut}), whole) << "split at " << cut;
  std::vector<size_t> every;
  for (size_t i = 1; i < stream.size(); ++i) every.push_back(i);
  EXPECT_EQ(FeedSplit(stream, every), whole);
}

TEST(DnsTcpFramer, HoldsPartialMessages) {
  const Bytes stream = TcpStream();
  DnsTcpFramer f;
  size_t n = 0;
  f.Feed(
      stream.data(), 5, [&](const uint8_t*, size_t) { ++n; }, [](DnsEvent) {});
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(f.pending(), 3u);
}

// Mutated valid messages: whatever the bytes, output stays within its bounds.
TEST(DnsParse, RandomMutationsStayInBounds) {
  std::mt19937 rng(20261129);
  const std::vector<Bytes> seeds = {
      ExampleResponse(), Msg().Header(1, 0x0100, 1, 0).Labels("www.example.com").Question().b,
      Cases().back().msg};
  DnsMessage m;
  size_t with_events = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    Bytes b = seeds[rng() % seeds.size()];
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % b.size();
      switch (rng() % 4) {
        case 0:
          b[at] = uint8_t(rng());
          break;
        case 1:
          b[at] = uint8_t(0xC0 | (rng() & 0x3F));  // plant a pointer
          break;
        case 2:
          b.resize(at);
          break;
        default:
          b[at] ^= uint8_t(1u << (rng() % 8));
      }
      if (b.empty()) break;
    }
    ParseDns(b.data(), b.size(), DnsDirection::kUnknown, &m);
    with_events += m.events != 0;
    ASSERT_LE(m.query_count, kDnsMaxQueries);
    ASSERT_LE(m.answer_count, kDnsMaxAnswers);
    ASSERT_LE(m.query_count, m.qdcount);
    ASSERT_LE(m.answer_count, m.ancount);
    for (size_t i = 0; i < m.query_count; ++i) {
      const std::string_view n = m.queries[i].name.view();
      ASSERT_LE(n.size(), 253u);  // 255 wire octets hold at most 253 characters of text
      for (char c : n) ASSERT_FALSE(c >= 'A' && c <= 'Z');
    }
    for (size_t i = 0; i < m.answer_count; ++i) {
      ASSERT_LE(m.answers[i].name.len, 253u);
      ASSERT_LE(m.answers[i].target.len, 253u);
    }
  }
  EXPECT_GT(with_events, 1000u);  // the mutations do hit the error paths
}

TEST(DnsEvents, NamesAreUniqueAndSuricataStyle) {
  std::vector<std::string> seen;
  for (int i = 0; i < kDnsEventCount; ++i) {
    const std::string n = DnsEventName(static_cast<DnsEvent>(i));
    EXPECT_EQ(std::count(seen.begin(), seen.end(), n), 0) << n;
    EXPECT_EQ(n.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string::npos) << n;
    seen.push_back(n);
  }
  EXPECT_STREQ(DnsEventName(DnsEvent::kMalformedData), "malformed_data");
  EXPECT_STREQ(DnsEventName(DnsEvent::kInfiniteLoop), "infinite_loop");
}

}  // namespace
}  // namespace fs::app
