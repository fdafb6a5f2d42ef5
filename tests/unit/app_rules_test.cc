// App-layer rules (issue 8): sticky buffers, legacy buffer modifiers, startswith, endswith,
// bsize, urilen and dotprefix as the parser reads them, and Scanner::ScanApp evaluating the
// compiled rules against the buffers of hand-filled transactions: pre-filter and confirmation,
// the transaction side, a rule mixing request and response buffers, rules without a fast
// pattern, one alert per transaction, headers, pass rules, and that packets never reach them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "dataplane/scan/scanner.h"
#include "patterns/pattern_set.h"
#include "patterns/rule_parser.h"
#include "tests/unit/scanner_test_util.h"

namespace fs::scan {
namespace {

using patterns::AppInspect;
using patterns::AppProto;
using patterns::Buffer;
using patterns::ParseRules;
using testing::Build;
using ::testing::ElementsAre;
using testing::Harness;
using ::testing::IsEmpty;
using testing::TestPacket;

constexpr const char* kClient = "10.20.1.50";
constexpr const char* kServer = "203.0.113.66";

patterns::ParseResult Parse(const std::string& text) { return ParseRules(text, "t.rules", {}); }

// ---- parser ----

TEST(AppRuleParseTest, StickyBuffersFileTheContentsThatFollow) {
  auto r = Parse(
      R"(alert http any any -> any any (msg:"m"; http.method; content:"POST"; http.uri; content:"/gate.php"; endswith; pcre:"/\/gate/"; sid:1;))");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  ASSERT_EQ(r.rules.size(), 1u);
  const patterns::Rule& rule = r.rules[0];
  EXPECT_EQ(rule.app_proto, AppProto::kHttp);
  EXPECT_EQ(rule.protocol, patterns::Protocol::kTcp);
  ASSERT_EQ(rule.contents.size(), 2u);
  EXPECT_EQ(rule.contents[0].buffer, Buffer::kHttpMethod);
  EXPECT_EQ(rule.contents[1].buffer, Buffer::kHttpUri);
  EXPECT_TRUE(rule.contents[1].endswith);
  EXPECT_EQ(rule.pcres[0].buffer, Buffer::kHttpUri);
}

TEST(AppRuleParseTest, LegacyModifiersAndPcreLettersSelectTheBuffer) {
  auto r = Parse(
      R"(alert tcp any any -> any any (msg:"m"; content:"/x"; http_uri; content:"Mozilla"; http_user_agent; pcre:"/evil/H"; sid:1;))");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  ASSERT_EQ(r.rules.size(), 1u);
  const patterns::Rule& rule = r.rules[0];
  EXPECT_EQ(rule.app_proto, AppProto::kHttp);  // from the buffers of an "alert tcp" rule
  EXPECT_EQ(rule.contents[0].buffer, Buffer::kHttpUri);
  EXPECT_EQ(rule.contents[1].buffer, Buffer::kHttpUserAgent);
  EXPECT_EQ(rule.pcres[0].buffer, Buffer::kHttpHeader);
}

TEST(AppRuleParseTest, StartswithBsizeUrilenDotprefix) {
  auto r = Parse(
      R"(alert dns any any -> any any (msg:"m"; dns.query; dotprefix; content:".evil.example"; endswith; bsize:<64; sid:1;)
alert http any any -> any any (msg:"m"; http.uri; content:"/a"; startswith; urilen:10<>20,raw; bsize:>=3; sid:2;))");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  ASSERT_EQ(r.rules.size(), 2u);
  EXPECT_EQ(r.rules[0].dotprefix, uint64_t{1} << static_cast<int>(Buffer::kDnsQuery));
  ASSERT_EQ(r.rules[0].size_checks.size(), 1u);
  EXPECT_EQ(r.rules[0].size_checks[0].op, patterns::UintMode::kLt);
  EXPECT_EQ(r.rules[0].size_checks[0].lo, 64u);
  const patterns::Content& c = r.rules[1].contents[0];
  EXPECT_TRUE(c.startswith);
  EXPECT_TRUE(c.has_depth);
  EXPECT_EQ(c.depth, 2);
  ASSERT_EQ(r.rules[1].size_checks.size(), 2u);
  EXPECT_EQ(r.rules[1].size_checks[0].buffer, Buffer::kHttpUriRaw);
  EXPECT_EQ(r.rules[1].size_checks[0].op, patterns::UintMode::kRange);
  EXPECT_TRUE(r.rules[1].size_checks[0].Holds(11));
  EXPECT_FALSE(r.rules[1].size_checks[0].Holds(10));
  EXPECT_EQ(r.rules[1].size_checks[1].buffer, Buffer::kHttpUri);
  EXPECT_EQ(r.rules[1].size_checks[1].op, patterns::UintMode::kGte);
}

TEST(AppRuleParseTest, ErrorsNameTheProblem) {
  struct Case {
    const char* rule;
    const char* message;
  };
  const Case cases[] = {
      {R"(alert dns any any -> any any (msg:"m"; http.uri; content:"/a"; sid:1;))",
       "'http.uri' is a buffer of http, but the rule inspects dns"},
      {R"(alert udp any any -> any any (msg:"m"; tls.sni; content:"a"; sid:1;))",
       "'tls.sni' is a buffer of tls, which does not run over udp"},
      {R"(alert http any any -> any any (msg:"m"; http.uri:1; content:"/a"; sid:1;))",
       "'http.uri' takes no value"},
      {R"(alert http any any -> any any (msg:"m"; http.uri; content:"/a"; http_uri; sid:1;))",
       "'http_uri' cannot be used on a content in the sticky buffer 'http.uri'"},
      {R"(alert http any any -> any any (msg:"m"; http.uri; content:"/a"; offset:1; startswith; sid:1;))",
       "'startswith' cannot be combined with offset"},
      {R"(alert http any any -> any any (msg:"m"; http.uri; content:"/a"; bsize:x; sid:1;))",
       "bad bsize 'x'"},
      {R"(alert http any any -> any any (msg:"m"; http.uri; content:"/a"; bsize:9<>3; sid:1;))",
       "bad bsize '9<>3'"},
      {R"(alert http any any -> any any (msg:"m"; dotprefix; http.uri; content:"/a"; sid:1;))",
       "'dotprefix' is a transform: it needs a sticky buffer before it"},
      {R"(alert http any any -> any any (msg:"m"; http.host; pcre:"/a/U"; sid:1;))",
       "pcre modifier for the buffer 'http.uri' cannot be used inside the sticky buffer "
       "'http.host'"},
  };
  for (const Case& c : cases) {
    auto r = Parse(c.rule);
    ASSERT_EQ(r.errors.size(), 1u) << c.rule;
    EXPECT_THAT(r.errors[0].message, ::testing::HasSubstr(c.message)) << c.rule;
    EXPECT_TRUE(r.rules.empty());
  }
}

TEST(AppRuleParseTest, RawPayloadBesideBuffersIsAnAppRule) {
  auto r = Parse(
      R"(alert http any any -> any any (msg:"m"; content:"raw"; http.uri; content:"/a"; sid:1;)
alert dns any any -> any any (msg:"m"; content:"|00 10 00 01|"; sid:2;)
alert dns any any -> any any (msg:"m"; flow:to_server; sid:3;)
alert tcp any any -> any any (msg:"m"; content:"raw"; pcre:"/a/U"; byte_test:1,>,2,0; sid:4;))");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0].ToString();
  ASSERT_EQ(r.rules.size(), 4u);
  // Contents before the first sticky buffer stay on the raw payload; the rule is an app rule.
  EXPECT_EQ(r.rules[0].contents[0].buffer, Buffer::kPayload);
  EXPECT_EQ(r.rules[0].contents[1].buffer, Buffer::kHttpUri);
  EXPECT_TRUE(r.rules[0].IsAppRule());
  EXPECT_FALSE(r.rules[0].PayloadOnAppProto());
  // An app protocol with contents on the raw payload only: a packet rule needing the protocol.
  EXPECT_EQ(r.rules[1].app_proto, AppProto::kDns);
  EXPECT_FALSE(r.rules[1].IsAppRule());
  EXPECT_TRUE(r.rules[1].PayloadOnAppProto());
  // An app protocol and nothing to inspect: evaluated per transaction, as before.
  EXPECT_TRUE(r.rules[2].IsAppRule());
  EXPECT_FALSE(r.rules[2].PayloadOnAppProto());
  // A /U pcre makes an "alert tcp" rule an http rule; its content and byte_test stay raw.
  EXPECT_EQ(r.rules[3].app_proto, AppProto::kHttp);
  EXPECT_TRUE(r.rules[3].IsAppRule());
  EXPECT_EQ(r.rules[3].byte_ops[0].buffer, Buffer::kPayload);
}

TEST(AppRuleParseTest, FileNameTakesTheProtocolFromTheHeader) {
  auto r = Parse(
      R"(alert smb any any -> any any (msg:"m"; file.name; content:".locked"; endswith; sid:1;)
alert tcp any any -> any any (msg:"m"; file.name; content:".locked"; sid:2;))");
  EXPECT_TRUE(r.errors.empty());
  ASSERT_EQ(r.rules.size(), 1u);
  EXPECT_EQ(r.rules[0].app_proto, AppProto::kSmb);
  EXPECT_EQ(r.rules[0].contents[0].buffer, Buffer::kFileName);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].keyword, "file.name");
}

// ---- compile and ScanApp ----

// The inspection points into its arguments: pass literals or strings that outlive it.
AppInspect Request(std::string_view method, std::string_view uri, std::string_view host) {
  AppInspect in;
  in.proto = AppProto::kHttp;
  in.to_server = true;
  in.Set(Buffer::kHttpMethod, method);
  in.Set(Buffer::kHttpUri, uri);
  in.Set(Buffer::kHttpUriRaw, uri);
  in.Set(Buffer::kHttpHost, host);
  return in;
}

TEST(ScanAppTest, HttpRequestBuffers) {
  auto set = Build(R"(
alert http any any -> any any (msg:"gate"; flow:to_server; http.method; content:"POST"; http.uri; content:"/gate.php"; endswith; fast_pattern; sid:1;)
alert http any any -> any any (msg:"admin"; http.uri; content:"/admin"; startswith; nocase; bsize:<20; sid:2;)
alert http any any -> any any (msg:"host"; http.host; content:"evil.example"; sid:3;)
alert http any any -> any any (msg:"legacy"; content:"/wp-"; http_uri; pcre:"/login\.php$/U"; sid:4;))");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->stats().app_rules, 4u);
  EXPECT_EQ(set->app_rule_count(AppProto::kHttp), 4u);
  Harness h(*set);
  TestPacket pkt("", kClient, 40000, kServer, 80);
  EXPECT_THAT(h.AppSids(pkt, Request("POST", "/x/gate.php", "a.b")), ElementsAre(1));
  EXPECT_THAT(h.AppSids(pkt, Request("GET", "/x/gate.php", "a.b")), IsEmpty());
  // endswith: the match must end at the end of the buffer.
  EXPECT_THAT(h.AppSids(pkt, Request("POST", "/x/gate.php?id=1", "a.b")), IsEmpty());
  EXPECT_THAT(h.AppSids(pkt, Request("GET", "/ADMIN/x", "a.b")), ElementsAre(2));
  EXPECT_THAT(h.AppSids(pkt, Request("GET", "/x/admin", "a.b")), IsEmpty());  // startswith
  EXPECT_THAT(h.AppSids(pkt, Request("GET", "/admin/aaaaaaaaaaaaaaaaaaaaaaa", "a.b")),
              IsEmpty());  // bsize
  EXPECT_THAT(h.AppSids(pkt, Request("GET", "/", "www.evil.example")), ElementsAre(3));
  EXPECT_THAT(h.AppSids(pkt, Request("GET", "/wp-login.php", "a.b")), ElementsAre(4));
  EXPECT_THAT(h.AppSids(pkt, Request("GET", "/wp-login.php?x", "a.b")), IsEmpty());
  // The same bytes in a packet payload never reach app-layer rules.
  TestPacket raw("POST /x/gate.php HTTP/1.1\r\nHost: www.evil.example\r\n\r\n", kClient, 40000,
                 kServer, 80);
  EXPECT_THAT(h.Sids(raw), IsEmpty());
}

TEST(ScanAppTest, SidesOfATransaction) {
  auto set = Build(R"(
alert http any any -> any any (msg:"req"; http.uri; content:"/dl"; sid:1;)
alert http any any -> any any (msg:"resp"; http.stat_code; content:"404"; http.uri; content:"/dl"; sid:2;)
alert http any any -> any any (msg:"either"; http.header; content:"X-Bad: 1"; sid:3;)
alert http any any -> any any (msg:"to client only"; flow:to_client; file.data; content:"MZ"; startswith; sid:4;))");
  ASSERT_TRUE(set);
  Harness h(*set);
  TestPacket req("", kClient, 40000, kServer, 80);
  TestPacket resp("", kServer, 80, kClient, 40000);
  AppInspect in = Request("GET", "/dl/x", "h");
  in.Set(Buffer::kHttpHeader, "X-Bad: 1\r\n");
  EXPECT_THAT(h.AppSids(req, in), ElementsAre(1, 3));
  // The response side carries the request's buffers: the mixed rule matches there; the request
  // rule does not run again on the response side.
  AppInspect out = Request("GET", "/dl/x", "h");
  out.to_server = false;
  out.Set(Buffer::kHttpStatCode, "404");
  out.Set(Buffer::kFileData, "MZ\x90");
  EXPECT_THAT(h.AppSids(resp, out), ElementsAre(2, 4));
  out.Set(Buffer::kHttpStatCode, "200");
  EXPECT_THAT(h.AppSids(resp, out), ElementsAre(4));
}

TEST(ScanAppTest, DnsDotprefixEndswithAndOneAlertPerTransaction) {
  auto set = Build(R"(
alert dns any any -> any any (msg:"dyn"; dns.query; dotprefix; content:".duckdns.org"; nocase; endswith; sid:1;)
alert dns any any -> any any (msg:"long"; dns.query; bsize:>40; sid:2;))");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->stats().app_unfiltered, 1u);  // sid 2 has no content: every DNS query
  Harness h(*set);
  TestPacket q("", kClient, 5353, "10.20.0.2", 53, patterns::kIpProtoUdp);
  auto query = [](std::string_view name) {
    AppInspect in;
    in.proto = AppProto::kDns;
    in.Set(Buffer::kDnsQuery, name);
    return in;
  };
  EXPECT_THAT(h.AppSids(q, query("a.DuckDNS.org")), ElementsAre(1));
  EXPECT_THAT(h.AppSids(q, query("duckdns.org")), ElementsAre(1));  // the dot in front
  EXPECT_THAT(h.AppSids(q, query("notduckdns.org")), IsEmpty());
  EXPECT_THAT(h.AppSids(q, query("duckdns.org.example")), IsEmpty());
  const std::string long_name(45, 'a');
  EXPECT_THAT(h.AppSids(q, query(long_name)), ElementsAre(2));
  // Two names of one message: each rule alerts once until the next transaction.
  EXPECT_THAT(h.AppSids(q, query("x.duckdns.org")), ElementsAre(1));
  EXPECT_THAT(h.AppSids(q, query("y.duckdns.org"), /*new_tx=*/false), IsEmpty());
  EXPECT_THAT(h.AppSids(q, query("y.duckdns.org"), /*new_tx=*/true), ElementsAre(1));
  // A DNS inspection never runs HTTP rules and vice versa.
  const std::string name = "x.duckdns.org";
  AppInspect wrong = query(name);
  wrong.proto = AppProto::kHttp;
  EXPECT_THAT(h.AppSids(q, wrong), IsEmpty());
}

TEST(ScanAppTest, HeadersMissingBuffersAndPass) {
  auto set = Build(R"(
pass tls any any -> any any (msg:"trusted"; tls.sni; content:"update.example.org"; endswith; sid:10;)
alert tls any any -> $EXTERNAL_NET 443 (msg:"sni"; tls.sni; content:"example.org"; sid:11;)
alert tls any any -> any any (msg:"ja3"; ja3.hash; content:"e7d705a3286e19ea42f587b344ee6865"; tls.sni; content:"."; sid:12;))",
                   [] {
                     patterns::ParseOptions o;
                     o.vars.SetAddress("EXTERNAL_NET", "!10.0.0.0/8");
                     return o;
                   }());
  ASSERT_TRUE(set);
  Harness h(*set);
  auto hello = [](std::string_view sni) {
    AppInspect in;
    in.proto = AppProto::kTls;
    in.Set(Buffer::kTlsSni, sni);
    return in;
  };
  TestPacket out("", kClient, 40000, kServer, 443);
  TestPacket inside("", kClient, 40000, "10.20.0.9", 443);
  EXPECT_THAT(h.AppSids(out, hello("cdn.example.org")), ElementsAre(11));
  EXPECT_THAT(h.AppSids(inside, hello("cdn.example.org")), IsEmpty());  // header
  // ja3.hash absent from the inspection: the rule needing it does not run.
  const std::string sni = "cdn.example.org";  // outlives the inspection that points into it
  AppInspect with_ja3 = hello(sni);
  EXPECT_THAT(h.AppSids(out, with_ja3), ElementsAre(11));
  with_ja3.Set(Buffer::kJa3Hash, "e7d705a3286e19ea42f587b344ee6865");
  EXPECT_THAT(h.AppSids(out, with_ja3), ElementsAre(11, 12));
  // The pass rule comes first and suppresses the alerts of this inspection; on TCP it passes the
  // flow.
  EXPECT_THAT(h.AppSids(out, hello("x.update.example.org")), IsEmpty());
  EXPECT_TRUE(h.scanner().pass_flow());
}

// ---- tls.version (detect-tls-version.c) ----

TEST(AppRuleParseTest, TlsVersionForms) {
  auto r = Parse(R"(alert tls any any -> any any (msg:"m"; tls.version:1.2; sid:1;)
alert tcp any any -> any any (msg:"m"; tls.version:"1.3"; sid:2;)
alert tls any any -> any any (msg:"m"; tls.version:0x0300; sid:3;)
alert tls any any -> any any (msg:"m"; tls.version:1.05; sid:4;))");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  ASSERT_TRUE(r.warnings.empty()) << r.warnings[0].ToString();
  ASSERT_EQ(r.rules.size(), 4u);
  EXPECT_EQ(r.rules[0].app_proto, AppProto::kTls);
  EXPECT_TRUE(r.rules[0].tls_version.set);
  EXPECT_EQ(r.rules[0].tls_version.version, 0x0303);
  EXPECT_FALSE(r.rules[0].tls_version.raw);
  EXPECT_EQ(r.rules[1].app_proto, AppProto::kTls);  // the keyword names the protocol
  EXPECT_EQ(r.rules[1].tls_version.version, 0x0304);
  EXPECT_EQ(r.rules[2].tls_version.version, 0x0300);  // SSL 3.0, hex form
  EXPECT_TRUE(r.rules[2].tls_version.raw);
  EXPECT_EQ(r.rules[3].tls_version.version, 0x0301);  // Suricata reads the first 3 characters

  struct Case {
    const char* rule;
    const char* message;
  };
  const Case bad[] = {
      {R"(alert tls any any -> any any (msg:"m"; tls.version:2.0; sid:1;))",
       "tls.version: expected 1.0, 1.1, 1.2, 1.3 or a hex version such as 0x0300, got '2.0'"},
      {R"(alert tls any any -> any any (msg:"m"; tls.version:"0x0303"; sid:1;))",
       "got '\"0x0303\"'"},  // Suricata counts the quotes in the six characters
      {R"(alert tls any any -> any any (msg:"m"; tls.version:0x303; sid:1;))", "got '0x303'"},
      {R"(alert tls any any -> any any (msg:"m"; tls.version:1-2; sid:1;))", "got '1-2'"},
      {R"(alert http any any -> any any (msg:"m"; tls.version:1.2; sid:1;))",
       "'tls.version' is a keyword of tls, but the rule inspects http"},
      {R"(alert udp any any -> any any (msg:"m"; tls.version:1.2; sid:1;))",
       "'tls.version' is a keyword of tls, which does not run over udp"},
  };
  for (const Case& c : bad) {
    auto e = Parse(c.rule);
    ASSERT_EQ(e.errors.size(), 1u) << c.rule;
    EXPECT_THAT(e.errors[0].message, ::testing::HasSubstr(c.message)) << c.rule;
  }
}

TEST(ScanAppTest, TlsVersionComparesTheSidesVersionDraftsAsTls13) {
  auto set = Build(R"(alert tls any any -> any any (msg:"1.3"; tls.version:1.3; sid:1;)
alert tls any any -> any any (msg:"raw 1.3"; tls.version:0x0304; sid:2;)
alert tls any any -> any any (msg:"1.2 sni"; tls.version:1.2; tls.sni; content:"example"; sid:3;)
alert tls any any -> any any (msg:"ssl3"; tls.version:0x0300; sid:4;))");
  ASSERT_TRUE(set);
  Harness h(*set);
  TestPacket pkt("", kClient, 40000, kServer, 443);
  auto side = [](uint16_t version) {
    AppInspect in;
    in.proto = AppProto::kTls;
    in.tls_version = version;
    return in;
  };
  EXPECT_THAT(h.AppSids(pkt, side(0x0304)), ElementsAre(1, 2));
  // A draft (0x7f1c: draft 28; 0x7f01: what Suricata keeps for a hello field of 0x0304) is
  // TLS 1.3 for the named form only.
  EXPECT_THAT(h.AppSids(pkt, side(0x7f1c)), ElementsAre(1));
  EXPECT_THAT(h.AppSids(pkt, side(0x7f01)), ElementsAre(1));
  EXPECT_THAT(h.AppSids(pkt, side(0x0300)), ElementsAre(4));
  EXPECT_THAT(h.AppSids(pkt, side(0)), IsEmpty());  // unknown
  AppInspect tls12 = side(0x0303);
  EXPECT_THAT(h.AppSids(pkt, tls12), IsEmpty());  // no tls.sni in this inspection
  tls12.Set(Buffer::kTlsSni, "www.example.org");
  EXPECT_THAT(h.AppSids(pkt, tls12), ElementsAre(3));
  AppInspect tls13 = side(0x0304);
  tls13.Set(Buffer::kTlsSni, "www.example.org");
  EXPECT_THAT(h.AppSids(pkt, tls13), ElementsAre(1, 2));
}

// ---- raw payload in app-layer rules (Buffer::kPayload of the inspection) ----

// A request side with a URI and, when raw is given, the transaction's raw bytes.
AppInspect RequestWithRaw(std::string_view method, std::string_view uri, const std::string* raw) {
  AppInspect in = Request(method, uri, "h");
  if (raw != nullptr) in.Set(Buffer::kPayload, *raw);
  return in;
}

TEST(ScanAppTest, RawPayloadAndBuffersMustMatchInTheSameTransaction) {
  auto set = Build(R"(
alert http any any -> any any (msg:"raw+uri"; flow:to_server; content:"X-Gate|3a| 1"; http.uri; content:"/gate.php"; sid:1;)
alert http any any -> any any (msg:"raw depth"; content:"POST /"; depth:6; http.uri; content:"/up"; sid:2;)
alert http any any -> any any (msg:"raw chain"; content:"cmd="; content:"&id="; distance:0; within:8; http.method; content:"PUT"; sid:3;)
alert http any any -> any any (msg:"raw fast pattern"; content:"magic-raw-token"; offset:4; http.uri; pcre:"/^\/[a-z]+$/"; sid:4;)
alert http any any -> any any (msg:"resp"; content:"ActiveXObject"; nocase; http.stat_code; content:"200"; sid:5;)
alert http any any -> any any (msg:"raw negated"; content:!"Cookie|3a|"; http.uri; content:"/neg"; sid:6;))");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->stats().app_rules, 6u);
  EXPECT_EQ(set->stats().app_raw_payload, 6u);
  EXPECT_EQ(set->stats().proto_payload, 0u);
  // sid 4 has no content on a buffer: its raw content is its fast pattern, not "every tx".
  EXPECT_EQ(set->stats().app_unfiltered, 0u);
  EXPECT_TRUE(set->app_raw_payload(AppProto::kHttp));
  EXPECT_FALSE(set->app_raw_payload(AppProto::kDns));
  Harness h(*set);
  TestPacket req("", kClient, 40000, kServer, 80);
  TestPacket resp("", kServer, 80, kClient, 40000);

  const std::string gate = "GET /gate.php HTTP/1.1\r\nX-Gate: 1\r\n\r\n";
  const std::string no_gate = "GET /gate.php HTTP/1.1\r\nX-Other: 1\r\n\r\n";
  // Both parts match: one alert; either part alone: none.
  EXPECT_THAT(h.AppSids(req, RequestWithRaw("GET", "/gate.php", &gate)), ElementsAre(1));
  EXPECT_THAT(h.AppSids(req, RequestWithRaw("GET", "/gate.php", &no_gate)), IsEmpty());
  EXPECT_THAT(h.AppSids(req, RequestWithRaw("GET", "/index.php", &gate)), IsEmpty());
  // The raw content is not looked for in the buffers: without the raw bytes, no alert.
  const std::string uri_with_marker = "/gate.php?X-Gate: 1";
  EXPECT_THAT(h.AppSids(req, RequestWithRaw("GET", uri_with_marker, nullptr)), IsEmpty());
  // The to-server rule never runs on the response side, whatever its raw bytes.
  AppInspect out = RequestWithRaw("GET", "/gate.php", &gate);
  out.to_server = false;
  EXPECT_THAT(h.AppSids(resp, out), IsEmpty());

  // depth counts from the start of the raw bytes.
  const std::string post = "POST /up HTTP/1.1\r\n\r\n";
  const std::string late_post = "GET /x HTTP/1.1\r\n\r\nPOST /up HTTP/1.1\r\n\r\n";
  EXPECT_THAT(h.AppSids(req, RequestWithRaw("POST", "/up", &post)), ElementsAre(2));
  EXPECT_THAT(h.AppSids(req, RequestWithRaw("POST", "/up", &late_post)), IsEmpty());

  // distance/within relative to the previous raw match (not to a buffer's).
  const std::string near = "PUT /a HTTP/1.1\r\n\r\ncmd=ls&id=7";
  const std::string far = "PUT /a HTTP/1.1\r\n\r\ncmd=ls -la /etc&id=7";
  EXPECT_THAT(h.AppSids(req, RequestWithRaw("PUT", "/a", &near)), ElementsAre(3));
  EXPECT_THAT(h.AppSids(req, RequestWithRaw("PUT", "/a", &far)), IsEmpty());
  EXPECT_THAT(h.AppSids(req, RequestWithRaw("GET", "/a", &near)), IsEmpty());

  // Pre-filtered by the raw literal; offset:4 on the raw bytes.
  const std::string token = "GET magic-raw-token";
  const std::string token_at_0 = "magic-raw-token GET";
  EXPECT_THAT(h.AppSids(req, RequestWithRaw("GET", "/abc", &token)), ElementsAre(4));
  EXPECT_THAT(h.AppSids(req, RequestWithRaw("GET", "/abc", &token_at_0)), IsEmpty());
  EXPECT_THAT(h.AppSids(req, RequestWithRaw("GET", "/abc1", &token)), IsEmpty());

  // A negated raw content vetoes only when the raw bytes hold it.
  const std::string plain = "GET /neg HTTP/1.1\r\n\r\n";
  const std::string cookie = "GET /neg HTTP/1.1\r\nCookie: a=b\r\n\r\n";
  EXPECT_THAT(h.AppSids(req, RequestWithRaw("GET", "/neg", &plain)), ElementsAre(6));
  EXPECT_THAT(h.AppSids(req, RequestWithRaw("GET", "/neg", &cookie)), IsEmpty());

  // The response side: its own raw bytes with its buffers; one alert per transaction.
  const std::string body = "HTTP/1.1 200 OK\r\n\r\nnew activexobject(x)";
  AppInspect r200;
  r200.proto = AppProto::kHttp;
  r200.to_server = false;
  r200.Set(Buffer::kHttpStatCode, "200");
  r200.Set(Buffer::kPayload, body);
  EXPECT_THAT(h.AppSids(resp, r200), ElementsAre(5));
  EXPECT_THAT(h.AppSids(resp, r200, /*new_tx=*/false), IsEmpty());
  r200.Set(Buffer::kHttpStatCode, "404");
  EXPECT_THAT(h.AppSids(resp, r200), IsEmpty());
}

TEST(ScanAppTest, PayloadRuleOfAnAppProtocolNeedsTheFlowsProtocol) {
  auto set = Build(R"(
alert dns any any -> any any (msg:"txt answer"; content:"|00 00 10 00 01 c0 0c|"; content:"payload"; distance:0; sid:1;)
alert http any any -> any any (msg:"http bytes"; flow:to_client; content:"ActiveXObject"; sid:2;)
alert udp any any -> any any (msg:"any udp"; content:"payload"; sid:3;))");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->stats().app_rules, 0u);
  EXPECT_EQ(set->stats().proto_payload, 2u);
  Harness h(*set);
  const std::string answer = std::string("\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00", 12) +
                             std::string("\x01x\x00\x00\x10\x00\x01\xc0\x0c", 9) + "payload";
  TestPacket dns(answer, "10.20.0.2", 53, kClient, 5353, patterns::kIpProtoUdp);
  // Not (yet) a DNS flow: only the plain udp rule.
  h.flow().app_proto = 0;
  EXPECT_THAT(h.Sids(dns, flow::Dir::kToClient), ElementsAre(3));
  h.flow().app_proto = static_cast<uint8_t>(AppProto::kHttp);
  EXPECT_THAT(h.Sids(dns, flow::Dir::kToClient), ElementsAre(3));
  h.flow().app_proto = static_cast<uint8_t>(AppProto::kDns);
  EXPECT_THAT(h.Sids(dns, flow::Dir::kToClient), ElementsAre(1, 3));
  // Packet rules: a transaction inspection never runs them.
  AppInspect q;
  q.proto = AppProto::kDns;
  q.Set(Buffer::kDnsQuery, "x");
  q.Set(Buffer::kPayload, answer);
  EXPECT_THAT(h.AppSids(dns, q), IsEmpty());
}

}  // namespace
}  // namespace fs::scan
