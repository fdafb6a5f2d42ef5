// Integration test of the TCP app layer (issue 8): the real sensor on a capture synthesized here
// with the generator's session layer: HTTP on port 8080 (detected by content, not by port), DNS
// over TCP, and a TCP flow of no known protocol. Checks EVE http records, dns records from TCP,
// app_proto on flow and alert records, a domain list matching http.host, and the metrics.
// A second capture holds TLS (1.2 with a certificate, 1.3) and SMB2 sessions: EVE tls and smb
// records, tls.sni / ja3.hash / smb.share / smb.named_pipe / file.name rules, a domain list on
// the SNI.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/eve_reader.h"
#include "tests/support/process.h"
#include "tools/pcapgen/dns.h"
#include "tools/pcapgen/pcap_writer.h"
#include "tools/pcapgen/rng.h"
#include "tools/pcapgen/session.h"
#include "tools/pcapgen/smb2.h"
#include "tools/pcapgen/tls.h"

namespace fs::testing {
namespace {

using pcapgen::Bytes;
using pcapgen::Dir;

Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// DNS over TCP: the 2-byte length prefix, then the message.
Bytes Framed(const Bytes& msg) {
  Bytes out(msg.size() + 2);
  out[0] = static_cast<uint8_t>(msg.size() >> 8);
  out[1] = static_cast<uint8_t>(msg.size());
  std::copy(msg.begin(), msg.end(), out.begin() + 2);
  return out;
}

constexpr char kRequest[] =
    "GET /dl/../index.html?a=1 HTTP/1.1\r\n"
    "Host: Evil.Example.COM:8080\r\n"
    "User-Agent: test-agent/1.0\r\n"
    "Referer: http://ref.example/start\r\n"
    "Accept: */*\r\n"
    "Cookie: session=abc\r\n"
    "\r\n";
constexpr char kResponse[] =
    "HTTP/1.1 302 Found\r\n"
    "Server: nginx\r\n"
    "Location: http://next.example/landing\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Length: 5\r\n"
    "\r\n"
    "hello";

bool WriteFile(pcapgen::Capture& cap, const std::string& path, std::string* error) {
  cap.SortByTime();
  pcapgen::PcapWriter w;
  if (!w.Open(path, error)) return false;
  for (size_t i = 0; i < cap.size(); ++i) {
    if (!w.Write(cap.ts_us(i), Bytes(cap.data(i), cap.data(i) + cap.len(i)))) {
      *error = w.last_error();
      return false;
    }
  }
  if (!w.Close()) {
    *error = w.last_error();
    return false;
  }
  return true;
}

// TLS 1.2 (SNI portal.badcdn.example, certificate) on 443, TLS 1.3 on 8443, and an SMB2 session
// on 445: log on, a document created and renamed on \\fs01\students, then the svcctl pipe on
// IPC$ with a DCERPC bind (what PsExec does).
bool WriteTlsSmbCapture(const std::string& path, std::string* error) {
  pcapgen::Capture cap;
  pcapgen::Rng rng(11);
  pcapgen::Host client{"10.20.1.60", {0x02, 0, 0, 0, 0x01, 0x60}, 0, 128, true};
  pcapgen::Host web{"198.51.100.7", pcapgen::kRouterMac, 0, 50, false};
  pcapgen::Host fs01{"10.20.0.10", {0x02, 0, 0, 0, 0, 0x10}, 0, 128, true};
  const uint64_t t0 = 1700000000ull * 1000000;
  pcapgen::TcpTiming timing;

  for (int v = 0; v < 2; ++v) {
    const bool tls13 = v == 1;
    pcapgen::TlsConversation tls(&rng, tls13 ? "www.tls13.example" : "portal.badcdn.example",
                                 tls13 ? "www.tls13.example" : "portal.badcdn.example", tls13, true,
                                 t0);
    pcapgen::TcpSession s(&cap, &rng, client, static_cast<uint16_t>(51000 + v), web,
                          tls13 ? 8443 : 443, t0 + v * 100000, timing);
    s.Open();
    s.Send(Dir::kToServer, tls.ClientHello());
    s.Send(Dir::kToClient, tls.ServerFlight(), 2000);
    s.Send(Dir::kToServer, tls.ClientFinish(), 500);
    s.Send(Dir::kToClient, tls.ServerFinish(), 500);
    s.Send(Dir::kToServer, tls.AppData(300), 500);
    s.Send(Dir::kToClient, tls.AppData(5000), 500);
    s.Send(Dir::kToServer, tls.CloseNotify(), 500);
    s.Close(Dir::kToServer, 500);
  }

  pcapgen::Smb2Dialog smb(&rng, "fs01", t0 + 300000);
  pcapgen::TcpSession s(&cap, &rng, client, 51010, fs01, 445, t0 + 300000, timing);
  s.Open();
  auto ex = [&](const pcapgen::Smb2Exchange& e) {
    s.Send(Dir::kToServer, e.request, 300);
    s.Send(Dir::kToClient, e.response, 300);
  };
  ex(smb.Negotiate());
  ex(smb.SessionSetupNegotiate());
  ex(smb.SessionSetupAuth("DMPS", "jdoe", "LAB-PC07"));
  ex(smb.TreeConnect("\\\\fs01\\students"));
  ex(smb.Create("homework\\essay.docx", pcapgen::Smb2Dialog::Open::kCreate, 0));
  ex(smb.Write(0, Bytes(3000, 0x41)));
  ex(smb.Close());
  ex(smb.Create("homework\\essay.docx", pcapgen::Smb2Dialog::Open::kRename, 3000));
  ex(smb.Rename("homework\\essay.docx.locked"));
  ex(smb.Close());
  ex(smb.TreeConnect("\\\\fs01\\IPC$"));
  ex(smb.Create("svcctl", pcapgen::Smb2Dialog::Open::kPipe, 0));
  ex(smb.Write(0, pcapgen::dcerpc::BindSvcctl(1)));
  ex(smb.Close());
  ex(smb.TreeDisconnect());
  ex(smb.Logoff());
  s.Close(Dir::kToServer, 1000);
  return WriteFile(cap, path, error);
}

bool WriteCapture(const std::string& path, std::string* error) {
  pcapgen::Capture cap;
  pcapgen::Rng rng(7);
  pcapgen::Host client{"10.20.1.50", {0x02, 0, 0, 0, 0x01, 0x50}, 0, 128, true};
  pcapgen::Host web{"203.0.113.10", pcapgen::kRouterMac, 0, 50, false};
  pcapgen::Host resolver{"10.20.0.53", {0x02, 0, 0, 0, 0, 0x53}, 0, 64, true};
  pcapgen::Host other{"203.0.113.20", pcapgen::kRouterMac, 0, 50, false};
  const uint64_t t0 = 1700000000ull * 1000000;
  pcapgen::TcpTiming timing;

  pcapgen::TcpSession http(&cap, &rng, client, 50000, web, 8080, t0, timing);
  http.Open();
  http.Send(Dir::kToServer, ToBytes(kRequest));
  http.Send(Dir::kToClient, ToBytes(kResponse), 2000);
  http.Close(Dir::kToClient, 1000);

  pcapgen::TcpSession dns(&cap, &rng, client, 50001, resolver, 53, t0 + 100000, timing);
  dns.Open();
  dns.Send(Dir::kToServer,
           Framed(pcapgen::dns::Query(0x4242, "tcp-lookup.example", pcapgen::dns::kTypeA)));
  dns.Send(Dir::kToClient,
           Framed(pcapgen::dns::Response(0x4242, "tcp-lookup.example", pcapgen::dns::kTypeA,
                                         {{pcapgen::dns::kTypeA, "192.0.2.44", 120}})),
           500);
  dns.Close(Dir::kToServer, 1000);

  // Neither side speaks a protocol the sensor parses: no app_proto.
  pcapgen::TcpSession misc(&cap, &rng, client, 50002, other, 7000, t0 + 200000, timing);
  misc.Open();
  misc.Send(Dir::kToServer, ToBytes("HELLO there, this is no known protocol at all\r\n"));
  misc.Send(Dir::kToClient, ToBytes("WELCOME, and neither is this reply to it\r\n"), 500);
  misc.Close(Dir::kToServer, 1000);
  return WriteFile(cap, path, error);
}

Bytes HttpGet(const std::string& path) {
  return ToBytes("GET " + path + " HTTP/1.1\r\nHost: www.school.example\r\n\r\n");
}
Bytes HttpReply(int status, const std::string& body) {
  return ToBytes(fmt::format("HTTP/1.1 {} X\r\nContent-Length: {}\r\n\r\n{}", status,
                             body.size(), body));
}

// Connections one after another to the same web server, each over before the next starts:
// four closed with FIN/FIN (/page0../page3), one half-closed by the client before the server
// answers 404 and closes its side (/half), and one the server resets without answering (/reset).
bool WriteCloseCapture(const std::string& path, std::string* error) {
  pcapgen::Capture cap;
  pcapgen::Rng rng(13);
  pcapgen::Host client{"10.20.1.70", {0x02, 0, 0, 0, 0x01, 0x70}, 0, 128, true};
  pcapgen::Host web{"203.0.113.30", pcapgen::kRouterMac, 0, 50, false};
  const uint64_t t0 = 1700000000ull * 1000000;
  const uint64_t spacing = 1000000;  // 1 s: each connection is over long before the next
  pcapgen::TcpTiming timing;
  uint16_t port = 52000;
  for (int i = 0; i < 4; ++i, ++port) {
    pcapgen::TcpSession s(&cap, &rng, client, port, web, 80, t0 + i * spacing, timing);
    s.Open();
    s.Send(Dir::kToServer, HttpGet(fmt::format("/page{}", i)));
    s.Send(Dir::kToClient, HttpReply(200, "fine"), 1000);
    s.Close(Dir::kToServer, 1000);
  }
  pcapgen::TcpSession half(&cap, &rng, client, port++, web, 80, t0 + 4 * spacing, timing);
  half.Open();
  half.Send(Dir::kToServer, HttpGet("/half"));
  half.Shutdown(Dir::kToServer, 100);
  half.Send(Dir::kToClient, HttpReply(404, "gone"), 1000);
  half.Shutdown(Dir::kToClient, 1000);
  pcapgen::TcpSession reset(&cap, &rng, client, port++, web, 80, t0 + 5 * spacing, timing);
  reset.Open();
  reset.Send(Dir::kToServer, HttpGet("/reset"));
  reset.Reset(Dir::kToClient, 1000);
  return WriteFile(cap, path, error);
}

class AppLayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("applayer");
    ASSERT_FALSE(dir_.empty());
    capture_ = dir_ + "/app.pcap";
    std::string error;
    ASSERT_TRUE(WriteCapture(capture_, &error)) << error;
    tls_smb_capture_ = dir_ + "/tls_smb.pcap";
    ASSERT_TRUE(WriteTlsSmbCapture(tls_smb_capture_, &error)) << error;
    std::ofstream(dir_ + "/bad.txt") << "evil.example.com\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ProcessResult Run(const std::string& yaml, const std::string& tag, Eve* eve,
                    std::string* metrics = nullptr, const std::string& capture = "") {
    std::ofstream(dir_ + "/" + tag + ".yaml") << yaml;
    const std::string eve_path = dir_ + "/eve-" + tag + ".json";
    const std::string metrics_path = dir_ + "/metrics-" + tag + ".prom";
    ProcessResult r =
        RunProcess({BinDir() + "/flowsentry", "--pcap", capture.empty() ? capture_ : capture,
                    "--eve", eve_path, "--metrics-listen", "", "--metrics-out", metrics_path,
                    "--config", dir_ + "/" + tag + ".yaml"},
                   180);
    *eve = ReadEve(eve_path);
    if (metrics != nullptr) *metrics = ReadFile(metrics_path);
    return r;
  }

  std::string dir_, capture_, tls_smb_capture_;
};

const char kLists[] =
    "indicators:\n  - {name: bad-hosts, type: domain, file: bad.txt, msg: \"known bad host\","
    " sid: 9100050, severity: 1}\n";

TEST_F(AppLayerTest, HttpOn8080AndDnsOverTcpYieldRecordsAppProtoAndHostAlert) {
  Eve eve;
  std::string metrics;
  auto r = Run(kLists, "on", &eve, &metrics);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(eve.bad_lines, 0u);

  size_t http = 0, dns_query = 0, dns_answer = 0, host_alerts = 0;
  std::map<int, std::string> app_proto_by_port;  // flow records: dest_port -> app_proto
  for (const auto& j : eve.all) {
    const std::string type = j.value("event_type", "");
    if (type == "flow") {
      app_proto_by_port[j.value("dest_port", 0)] = j.value("app_proto", "");
    } else if (type == "http") {
      ++http;
      EXPECT_EQ(j["src_ip"], "10.20.1.50");
      EXPECT_EQ(j["dest_port"], 8080);
      EXPECT_EQ(j["tx_id"], 0);
      const auto& h = j["http"];
      EXPECT_EQ(h.value("hostname", ""), "evil.example.com") << j.dump();
      EXPECT_EQ(h.value("http_port", 0), 8080) << j.dump();
      EXPECT_EQ(h.value("url", ""), "/dl/../index.html?a=1") << j.dump();
      EXPECT_EQ(h.value("http_user_agent", ""), "test-agent/1.0");
      EXPECT_EQ(h.value("http_refer", ""), "http://ref.example/start");
      EXPECT_EQ(h.value("http_method", ""), "GET");
      EXPECT_EQ(h.value("protocol", ""), "HTTP/1.1");
      EXPECT_EQ(h.value("status", 0), 302);
      EXPECT_EQ(h.value("redirect", ""), "http://next.example/landing");
      EXPECT_EQ(h.value("http_content_type", ""), "text/html");
      EXPECT_EQ(h.value("length", 0), 5);
    } else if (type == "dns" && j.value("proto", "") == "TCP") {
      EXPECT_EQ(j["dest_port"], 53);
      EXPECT_EQ(j["dns"].value("rrname", ""), "tcp-lookup.example") << j.dump();
      if (j["dns"].value("type", "") == "query") {
        ++dns_query;
        EXPECT_EQ(j["dns"]["id"], 0x4242);
      } else {
        ++dns_answer;
        ASSERT_EQ(j["dns"]["answers"].size(), 1u) << j.dump();
        EXPECT_EQ(j["dns"]["answers"][0]["rdata"], "192.0.2.44");
      }
    } else if (type == "alert" && j["alert"]["signature_id"] == 9100050) {
      ++host_alerts;
      EXPECT_EQ(j["dest_port"], 8080);
      EXPECT_EQ(j.value("app_proto", ""), "http") << j.dump();
      EXPECT_EQ(j["alert"]["metadata"]["http_host"][0], "evil.example.com") << j.dump();
      EXPECT_EQ(j["alert"]["metadata"]["indicator_entry"][0], "evil.example.com") << j.dump();
    }
  }
  EXPECT_EQ(http, 1u);
  EXPECT_EQ(dns_query, 1u);
  EXPECT_EQ(dns_answer, 1u);
  EXPECT_EQ(host_alerts, 1u);
  EXPECT_EQ(app_proto_by_port[8080], "http");
  EXPECT_EQ(app_proto_by_port[53], "dns");
  EXPECT_EQ(app_proto_by_port[7000], "");
  EXPECT_TRUE(app_proto_by_port.count(7000));

  EXPECT_NE(metrics.find("flowsentry_app_detected_flows_total{worker=\"0\",proto=\"http\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("flowsentry_app_detect_failed_total{worker=\"0\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("flowsentry_app_http_transactions_total{worker=\"0\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("flowsentry_app_dns_tcp_messages_total{worker=\"0\"} 2"),
            std::string::npos);
}

TEST_F(AppLayerTest, OutputsHttpOffAndAppLayerOff) {
  // outputs.http: false — no http records; parsing (the host alert, app_proto) goes on.
  Eve eve;
  auto r = Run(std::string(kLists) + "outputs: {http: false}\n", "nohttp", &eve);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t http = 0, alerts = 0;
  for (const auto& j : eve.all) {
    if (j.value("event_type", "") == "http") ++http;
    if (j.value("event_type", "") == "alert") ++alerts;
  }
  EXPECT_EQ(http, 0u);
  EXPECT_EQ(alerts, 1u);

  // app-layer.enabled: false — no TCP app layer at all.
  Eve off;
  r = Run(std::string(kLists) + "app-layer: {enabled: false}\n", "off", &off);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& j : off.all) {
    const std::string type = j.value("event_type", "");
    EXPECT_NE(type, "http");
    EXPECT_NE(type, "alert");
    if (type == "dns") {
      EXPECT_NE(j.value("proto", ""), "TCP");
    }
    if (type == "flow") {
      EXPECT_FALSE(j.contains("app_proto")) << j.dump();
    }
  }
}

const char kTlsSmbRules[] = R"(
alert tls any any -> any any (msg:"sni rule"; tls.sni; content:"portal.badcdn.example"; sid:9200001; rev:1;)
alert smb any any -> any any (msg:"svcctl pipe"; smb.named_pipe; content:"svcctl"; nocase; sid:9200003; rev:1;)
alert smb any any -> any any (msg:"locked file"; file.name; content:".locked"; sid:9200004; rev:1;)
alert smb any any -> any any (msg:"students share"; smb.share; content:"students"; nocase; sid:9200005; rev:1;)
)";

bool IsHex32(const std::string& s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(),
                                       [](char c) { return std::isxdigit(c) && !std::isupper(c); });
}

TEST_F(AppLayerTest, TlsAndSmbRecordsRulesAndSniList) {
  std::ofstream(dir_ + "/sni.txt") << "*.badcdn.example\n";
  std::ofstream(dir_ + "/app.rules") << kTlsSmbRules;
  const std::string yaml =
      "indicators:\n  - {name: c2-sni, type: domain, file: sni.txt, msg: \"known C2 SNI\","
      " sid: 9100051, severity: 1}\nrules: [app.rules]\n";
  Eve eve;
  std::string metrics;
  auto r = Run(yaml, "tlssmb", &eve, &metrics, tls_smb_capture_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(eve.bad_lines, 0u);

  std::map<int, nlohmann::json> tls_by_port;
  std::map<uint32_t, size_t> alerts_by_sid;
  std::map<int, std::string> app_proto_by_port;
  std::vector<nlohmann::json> smb;
  for (const auto& j : eve.all) {
    const std::string type = j.value("event_type", "");
    if (type == "tls") {
      EXPECT_FALSE(tls_by_port.count(j.value("dest_port", 0))) << "one tls record per flow";
      tls_by_port[j.value("dest_port", 0)] = j;
      EXPECT_EQ(j["src_ip"], "10.20.1.60");
    } else if (type == "smb") {
      smb.push_back(j);
      EXPECT_EQ(j["dest_port"], 445);
    } else if (type == "flow") {
      app_proto_by_port[j.value("dest_port", 0)] = j.value("app_proto", "");
    } else if (type == "alert") {
      const uint32_t sid = j["alert"]["signature_id"];
      ++alerts_by_sid[sid];
      if (sid == 9100051) {
        EXPECT_EQ(j["alert"]["metadata"]["tls_sni"][0], "portal.badcdn.example") << j.dump();
        EXPECT_EQ(j.value("app_proto", ""), "tls");
      }
    }
  }
  EXPECT_EQ(app_proto_by_port[443], "tls");
  EXPECT_EQ(app_proto_by_port[8443], "tls");
  EXPECT_EQ(app_proto_by_port[445], "smb");

  ASSERT_EQ(tls_by_port.size(), 2u);
  const auto& t12 = tls_by_port[443]["tls"];
  EXPECT_EQ(t12.value("sni", ""), "portal.badcdn.example") << t12.dump();
  EXPECT_EQ(t12.value("version", ""), "TLS 1.2");
  EXPECT_NE(t12.value("subject", "").find("CN=portal.badcdn.example"), std::string::npos)
      << t12.dump();
  EXPECT_FALSE(t12.value("issuerdn", "").empty());
  EXPECT_FALSE(t12.value("serial", "").empty());
  EXPECT_EQ(t12.value("fingerprint", "").size(), 59u);
  EXPECT_EQ(t12.value("notbefore", "").size(), 19u);
  ASSERT_TRUE(t12.contains("ja3")) << t12.dump();
  const std::string ja3 = t12["ja3"].value("hash", "");
  EXPECT_TRUE(IsHex32(ja3)) << ja3;
  EXPECT_FALSE(t12["ja3"].value("string", "").empty());
  EXPECT_TRUE(IsHex32(t12["ja3s"].value("hash", ""))) << t12.dump();
  const auto& t13 = tls_by_port[8443]["tls"];
  EXPECT_EQ(t13.value("sni", ""), "www.tls13.example");
  EXPECT_EQ(t13.value("version", ""), "TLS 1.3");
  EXPECT_FALSE(t13.contains("subject")) << t13.dump();
  EXPECT_TRUE(IsHex32(t13["ja3"].value("hash", ""))) << t13.dump();

  bool tree = false, create = false, rename = false, ntlm = false, pipe = false, bind = false;
  for (const auto& j : smb) {
    const auto& s = j["smb"];
    const std::string cmd = s.value("command", "");
    if (cmd == "SMB2_COMMAND_TREE_CONNECT" && s.value("share", "") == "\\\\fs01\\students") {
      tree = true;
      EXPECT_EQ(s.value("status", ""), "STATUS_SUCCESS") << s.dump();
      EXPECT_EQ(s.value("share_type", ""), "FILE") << s.dump();
    }
    if (cmd == "SMB2_COMMAND_CREATE" && s.value("filename", "") == "homework\\essay.docx" &&
        s.value("disposition", "") == "FILE_CREATE") {
      create = true;
    }
    if (cmd == "SMB2_COMMAND_CREATE" && s.value("filename", "") == "svcctl") pipe = true;
    if (s.contains("rename")) {
      rename = true;
      EXPECT_EQ(cmd, "SMB2_COMMAND_SET_INFO");
      EXPECT_EQ(s["rename"].value("from", ""), "homework\\essay.docx") << s.dump();
      EXPECT_EQ(s["rename"].value("to", ""), "homework\\essay.docx.locked") << s.dump();
    }
    if (s.contains("ntlmssp")) {
      ntlm = true;
      EXPECT_EQ(s["ntlmssp"].value("user", ""), "jdoe") << s.dump();
      EXPECT_EQ(s["ntlmssp"].value("domain", ""), "DMPS") << s.dump();
      EXPECT_EQ(s["ntlmssp"].value("host", ""), "LAB-PC07") << s.dump();
    }
    if (s.contains("dcerpc")) {
      // The DCERPC bind on the svcctl pipe (a WRITE, logged because it carries DCERPC).
      bind =
          s["dcerpc"].value("request", "") == "BIND" &&
          s["dcerpc"]["interfaces"][0].value("uuid", "") == "367abb81-9844-35f1-ad32-98f038001003";
    } else {
      EXPECT_NE(cmd, "SMB2_COMMAND_WRITE") << "bulk commands are not logged: " << s.dump();
    }
  }
  EXPECT_TRUE(tree);
  EXPECT_TRUE(create);
  EXPECT_TRUE(rename);
  EXPECT_TRUE(ntlm);
  EXPECT_TRUE(pipe);
  EXPECT_TRUE(bind);

  EXPECT_EQ(alerts_by_sid[9100051], 1u);  // SNI on the domain list
  EXPECT_EQ(alerts_by_sid[9200001], 1u);  // tls.sni
  EXPECT_EQ(alerts_by_sid[9200003], 1u);  // smb.named_pipe
  EXPECT_EQ(alerts_by_sid[9200004], 1u);  // file.name (rename target)
  EXPECT_EQ(alerts_by_sid[9200005], 1u);  // smb.share
  EXPECT_NE(metrics.find("flowsentry_app_tls_handshakes_total{worker=\"0\"} 2"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("flowsentry_app_smb_records_total{worker=\"0\"}"), std::string::npos);
  EXPECT_EQ(metrics.find("flowsentry_app_smb_records_total{worker=\"0\"} 0\n"), std::string::npos);

  // ja3.hash: a rule with the hash the EVE record gave for the 443 flow.
  std::ofstream(dir_ + "/ja3.rules")
      << "alert tls any any -> any any (msg:\"ja3\"; ja3.hash; content:\"" << ja3
      << "\"; sid:9200002; rev:1;)\n";
  size_t expected = 0;
  for (const auto& [port, j] : tls_by_port) {
    if (j["tls"]["ja3"].value("hash", "") == ja3) ++expected;
  }
  Eve again;
  r = Run("rules: [ja3.rules]\noutputs: {tls: false, smb: false}\n", "ja3", &again, nullptr,
          tls_smb_capture_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t ja3_alerts = 0, ja3_on_443 = 0;
  for (const auto& j : again.all) {
    const std::string type = j.value("event_type", "");
    EXPECT_NE(type, "tls");  // outputs.tls: false
    EXPECT_NE(type, "smb");  // outputs.smb: false
    if (type == "alert" && j["alert"]["signature_id"] == 9200002) {
      ++ja3_alerts;
      if (j["dest_port"] == 443) ++ja3_on_443;
    }
  }
  EXPECT_EQ(ja3_alerts, expected);
  EXPECT_EQ(ja3_on_443, 1u);
}

// Encrypted TLS (Suricata's app-layer.protocols.tls.encryption-handling): by default, once both
// sides are encrypted, payload rules no longer see the flow; "full" inspects every byte. The rule
// matches the header of a TLS 1.2 application data record, which appears only after the
// handshake on the 443 flow; the SNI rule (app layer) fires either way.
// Sessions and streams readied at start-up (the default) or made as flows come: the same EVE
// records, line for line (sorted: the output thread interleaves workers' rings).
TEST_F(AppLayerTest, ReadiedOrNotTheRecordsAreTheSame) {
  std::ofstream(dir_ + "/app.rules") << kTlsSmbRules;
  auto lines = [](const Eve& eve) {
    std::vector<std::string> out;
    for (const auto& j : eve.all) {
      if (j.value("event_type", "") != "stats") out.push_back(j.dump());
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  for (const std::string& capture : {capture_, tls_smb_capture_}) {
    SCOPED_TRACE(capture);
    Eve readied, lazy;
    auto r =
        Run(std::string(kLists) + "rules: [app.rules]\n", "readied", &readied, nullptr, capture);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("MB a worker taken in memory at start-up"), std::string::npos) << r.err;
    r = Run(std::string(kLists) +
                "rules: [app.rules]\napp-layer: {prealloc: 0}\nstream: {prealloc: 0}\n",
            "lazy", &lazy, nullptr, capture);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.find("taken in memory at start-up"), std::string::npos) << r.err;
    EXPECT_EQ(readied.bad_lines, 0u);
    ASSERT_GT(readied.all.size(), 5u);
    EXPECT_EQ(lines(readied), lines(lazy));
  }
}

// Without rules the worker skips rule evaluation, and nothing else: flows are reassembled and
// parsed as with rules, so the app-layer records are the same; no payload goes to Hyperscan.
TEST_F(AppLayerTest, WithoutRulesTheAppRecordsAreThoseWithRules) {
  std::ofstream(dir_ + "/app.rules")
      << kTlsSmbRules
      << "alert tcp any any -> any any (msg:\"any GET\"; content:\"GET \"; sid:9200020;)\n";
  std::ofstream(dir_ + "/empty.rules") << "# no rules\n";
  auto app_records = [](const Eve& eve) {
    std::vector<std::string> out;
    for (const auto& j : eve.all) {
      const std::string type = j.value("event_type", "");
      if (type == "http" || type == "tls" || type == "dns" || type == "smb" || type == "fileinfo") {
        out.push_back(j.dump());
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  auto scanned = [](const std::string& metrics) {
    const std::regex re(R"(^flowsentry_payload_scanned_bytes_total\{worker="\d+"\} ([0-9.e+]+)$)");
    std::istringstream in(metrics);
    std::string line;
    double total = -1;
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_match(line, m, re)) total = std::max(total, 0.0) + std::stod(m[1]);
    }
    return total;
  };
  for (const std::string& capture : {capture_, tls_smb_capture_}) {
    SCOPED_TRACE(capture);
    Eve with, without;
    std::string with_metrics, without_metrics;
    auto r =
        Run(std::string(kLists) + "rules: [app.rules]\n", "rules", &with, &with_metrics, capture);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = Run(std::string(kLists) + "rules: [empty.rules]\n", "norules", &without, &without_metrics,
            capture);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto records = app_records(without);
    EXPECT_GE(records.size(), 3u);
    EXPECT_EQ(records, app_records(with));
    EXPECT_GT(scanned(with_metrics), 0.0) << with_metrics;
    EXPECT_EQ(scanned(without_metrics), 0.0) << without_metrics;
  }
}

// More readied memory than the machine has is refused before any is taken, naming the keys.
TEST_F(AppLayerTest, PreallocBeyondTheMachinesMemoryIsRefused) {
  Eve eve;
  const auto r = Run("app-layer: {max-sessions: 1000000, prealloc: 1000000}\n", "huge", &eve);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("app-layer.prealloc 1000000 sessions"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("more than the"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("MB this machine has available"), std::string::npos) << r.err;
}

TEST_F(AppLayerTest, EncryptedTlsPayloadIsNotInspectedUnlessFull) {
  std::ofstream(dir_ + "/enc.rules")
      << "alert tcp any any <> any 443 (msg:\"tls 1.2 app data\"; content:\"|17 03 03|\"; "
         "sid:9200010; rev:1;)\n"
      << "alert tls any any -> any any (msg:\"sni\"; tls.sni; content:\"portal.badcdn.example\"; "
         "sid:9200001; rev:1;)\n";
  for (const std::string mode : {"", "default", "full"}) {
    SCOPED_TRACE("encryption-handling: " + (mode.empty() ? "(not set)" : mode));
    std::string yaml = "rules: [enc.rules]\noutputs: {tls: false, smb: false}\n";
    if (!mode.empty()) yaml += "app-layer: {tls: {encryption-handling: " + mode + "}}\n";
    Eve eve;
    std::string metrics;
    auto r = Run(yaml, "enc" + mode, &eve, &metrics, tls_smb_capture_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::map<int, size_t> alerts_by_sid;
    for (const auto& j : eve.all) {
      if (j.value("event_type", "") == "alert") ++alerts_by_sid[j["alert"]["signature_id"]];
    }
    EXPECT_EQ(alerts_by_sid[9200001], 1u);
    if (mode == "full") {
      EXPECT_GE(alerts_by_sid[9200010], 1u);
      EXPECT_NE(metrics.find("flowsentry_app_tls_encrypted_flows_total{worker=\"0\"} 0\n"),
                std::string::npos)
          << metrics;
    } else {
      EXPECT_EQ(alerts_by_sid[9200010], 0u);
      // Both TLS flows (1.2 on 443, 1.3 on 8443) reached the encrypted state.
      EXPECT_NE(metrics.find("flowsentry_app_tls_encrypted_flows_total{worker=\"0\"} 2\n"),
                std::string::npos)
          << metrics;
    }
  }
  // Anything else is refused with the key named.
  Eve eve;
  auto r = Run("app-layer: {tls: {encryption-handling: bypass}}\n", "encbad", &eve, nullptr,
               tls_smb_capture_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("encryption-handling"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("must be default or full"), std::string::npos) << r.err;
}

// A connection's app session ends when both sides have closed (FIN or RST), not at the flow's
// end (closed timeout): with one session per worker, six connections in a row are all parsed.
// A half-closed connection keeps its session until the other side closes too (the response
// after the client's FIN is parsed and inspected), and a reset one reports its unanswered
// request at the RST.
TEST_F(AppLayerTest, SessionEndsWhenBothSidesClose) {
  const std::string capture = dir_ + "/close.pcap";
  std::string error;
  ASSERT_TRUE(WriteCloseCapture(capture, &error)) << error;
  std::ofstream(dir_ + "/close.rules")
      << "alert http any any -> any any (msg:\"404\"; http.stat_code; content:\"404\"; "
         "sid:9300001; rev:1;)\n";
  Eve eve;
  std::string metrics;
  auto r = Run("rules: [close.rules]\napp-layer: {max-sessions: 1}\n", "close", &eve, &metrics,
               capture);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(eve.bad_lines, 0u);
  std::map<std::string, nlohmann::json> http_by_url;
  size_t alerts_404 = 0;
  for (const auto& j : eve.all) {
    const std::string type = j.value("event_type", "");
    if (type == "http") {
      const std::string url = j["http"].value("url", "");
      EXPECT_FALSE(http_by_url.count(url)) << j.dump();
      http_by_url[url] = j;
    } else if (type == "alert" && j["alert"]["signature_id"] == 9300001) {
      ++alerts_404;
      EXPECT_EQ(j["dest_port"], 52004) << j.dump();  // to the client of /half
    }
  }
  ASSERT_EQ(http_by_url.size(), 6u) << metrics;
  for (int i = 0; i < 4; ++i) {
    const auto& j = http_by_url[fmt::format("/page{}", i)];
    EXPECT_EQ(j["http"].value("status", 0), 200) << j.dump();
  }
  EXPECT_EQ(http_by_url["/half"]["http"].value("status", 0), 404);
  EXPECT_FALSE(http_by_url["/reset"]["http"].contains("status")) << http_by_url["/reset"].dump();
  EXPECT_EQ(alerts_404, 1u);
  EXPECT_NE(metrics.find("flowsentry_app_sessions_exhausted_total{worker=\"0\"} 0\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("flowsentry_app_sessions_closed_total{worker=\"0\"} 6\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("flowsentry_app_sessions_in_use{worker=\"0\"} 0\n"), std::string::npos);
  EXPECT_NE(metrics.find("flowsentry_app_http_transactions_total{worker=\"0\"} 6\n"),
            std::string::npos);
}

// Raw payload in app-layer rules: on a keep-alive HTTP connection, each transaction's raw bytes
// are its own (the stream bytes of its direction since the previous transaction of that
// direction), so a raw content of one request never combines with the buffers of another, and
// offsets count from the transaction's first byte. A packet rule of an app protocol ("alert http"
// with raw contents only) needs the flow to speak it.
bool WriteKeepAliveCapture(const std::string& path, std::string* error) {
  pcapgen::Capture cap;
  pcapgen::Rng rng(23);
  pcapgen::Host client{"10.20.1.70", {0x02, 0, 0, 0, 0x01, 0x70}, 0, 128, true};
  pcapgen::Host web{"203.0.113.30", pcapgen::kRouterMac, 0, 50, false};
  const uint64_t t0 = 1700000000ull * 1000000;
  pcapgen::TcpTiming timing;
  pcapgen::TcpSession http(&cap, &rng, client, 50100, web, 80, t0, timing);
  http.Open();
  http.Send(Dir::kToServer, ToBytes("GET /gate.php HTTP/1.1\r\nHost: a.example\r\n\r\n"));
  http.Send(Dir::kToClient, ToBytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst-body"),
            2000);
  http.Send(Dir::kToServer,
            ToBytes("POST /other HTTP/1.1\r\nHost: a.example\r\nX-Marker: 1\r\n"
                    "Content-Length: 0\r\n\r\n"),
            2000);
  http.Send(Dir::kToClient, ToBytes("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nsecond-body"),
            2000);
  http.Close(Dir::kToClient, 1000);
  // A request whose headers span two segments: the raw part and the buffers of one transaction
  // come from different segments.
  pcapgen::TcpSession split(&cap, &rng, client, 50103, web, 80, t0 + 50000, timing);
  split.Open();
  split.Send(Dir::kToServer, ToBytes("POST /up HTTP/1.1\r\nHost: a.example\r\n"));
  split.Send(Dir::kToServer, ToBytes("X-Marker: 1\r\nContent-Length: 4\r\n\r\n0123"), 500);
  split.Send(Dir::kToClient, ToBytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), 2000);
  split.Close(Dir::kToClient, 1000);
  // The same marker on a connection of no known protocol.
  pcapgen::TcpSession misc(&cap, &rng, client, 50101, web, 7001, t0 + 100000, timing);
  misc.Open();
  misc.Send(Dir::kToServer, ToBytes("HELLO X-Marker: 1 second-body\r\n"));
  misc.Send(Dir::kToClient, ToBytes("WELCOME\r\n"), 500);
  misc.Close(Dir::kToServer, 1000);
  return WriteFile(cap, path, error);
}

constexpr char kRawRules[] =
    // The marker is in the second request, /gate.php the first's URI: never one transaction.
    "alert http any any -> any any (msg:\"raw+uri other tx\"; flow:to_server; "
    "content:\"X-Marker\"; http.uri; content:\"/gate.php\"; sid:9300001;)\n"
    // The second request's window starts at its own first byte.
    "alert http any any -> any any (msg:\"raw depth\"; flow:to_server; content:\"POST /\"; "
    "depth:6; http.uri; content:\"/other\"; sid:9300002;)\n"
    "alert http any any -> any any (msg:\"raw+method\"; content:\"X-Marker|3a| 1\"; http.method; "
    "content:\"POST\"; sid:9300003;)\n"
    // The response side: its own raw bytes.
    "alert http any any -> any any (msg:\"resp raw\"; flow:to_client; content:\"second-body\"; "
    "http.stat_code; content:\"200\"; sid:9300004;)\n"
    "alert http any any -> any any (msg:\"resp raw first\"; flow:to_client; "
    "content:\"first-body\"; http.stat_code; content:\"404\"; sid:9300005;)\n"
    // Packet rules of an app protocol.
    "alert http any any -> any any (msg:\"http packet\"; flow:to_server; "
    "content:\"X-Marker|3a| 1\"; sid:9300006;)\n"
    "alert dns any any -> any any (msg:\"dns packet\"; content:\"X-Marker\"; sid:9300007;)\n"
    // The split request: raw marker in the second segment, URI in the first; the raw request
    // line in the first segment, the body in the second.
    "alert http any any -> any any (msg:\"split\"; flow:to_server; content:\"X-Marker\"; "
    "http.uri; content:\"/up\"; sid:9300008;)\n"
    "alert http any any -> any any (msg:\"split depth\"; flow:to_server; content:\"POST /up\"; "
    "depth:8; http.request_body; content:\"0123\"; sid:9300009;)\n";

TEST_F(AppLayerTest, RawPayloadOfHttpTransactions) {
  const std::string capture = dir_ + "/keepalive.pcap";
  std::string error;
  ASSERT_TRUE(WriteKeepAliveCapture(capture, &error)) << error;
  std::ofstream(dir_ + "/raw.rules") << kRawRules;
  Eve eve;
  auto r = Run("rules: [raw.rules]\n", "raw", &eve, nullptr, capture);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // (sid, client port) of every alert. Suricata 7.0.10 raises the same on an equivalent capture
  // (the same payloads, one segment per Send, checked by hand).
  std::set<std::pair<uint32_t, int>> alerts;
  for (const auto& j : eve.all) {
    if (j.value("event_type", "") != "alert") continue;
    const int client_port =
        j.value("dest_port", 0) == 80 ? j.value("src_port", 0) : j.value("dest_port", 0);
    EXPECT_TRUE(alerts.emplace(j["alert"]["signature_id"].get<uint32_t>(), client_port).second)
        << "one alert per rule and transaction: " << j.dump();
  }
  const std::set<std::pair<uint32_t, int>> expected = {
      // Keep-alive: 9300001 never (its raw marker and URI are in different transactions).
      {9300002, 50100},
      {9300003, 50100},
      {9300004, 50100},
      {9300006, 50100},
      // Split request.
      {9300003, 50103},
      {9300006, 50103},
      {9300008, 50103},
      {9300009, 50103}};
  EXPECT_EQ(alerts, expected);
}

}  // namespace
}  // namespace fs::testing
