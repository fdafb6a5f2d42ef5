// Integration test of the TCP app layer (issue 8): the real sensor on a capture synthesized here
// with the generator's session layer: HTTP on port 8080 (detected by content, not by port), DNS
// over TCP, and a TCP flow of no known protocol. Checks EVE http records, dns records from TCP,
// app_proto on flow and alert records, a domain list matching http.host, and the metrics.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/eve_reader.h"
#include "tests/support/process.h"
#include "tools/pcapgen/dns.h"
#include "tools/pcapgen/pcap_writer.h"
#include "tools/pcapgen/rng.h"
#include "tools/pcapgen/session.h"

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

class AppLayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("applayer");
    ASSERT_FALSE(dir_.empty());
    capture_ = dir_ + "/app.pcap";
    std::string error;
    ASSERT_TRUE(WriteCapture(capture_, &error)) << error;
    std::ofstream(dir_ + "/bad.txt") << "evil.example.com\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ProcessResult Run(const std::string& yaml, const std::string& tag, Eve* eve,
                    std::string* metrics = nullptr) {
    std::ofstream(dir_ + "/" + tag + ".yaml") << yaml;
    const std::string eve_path = dir_ + "/eve-" + tag + ".json";
    const std::string metrics_path = dir_ + "/metrics-" + tag + ".prom";
    ProcessResult r = RunProcess(
        {BinDir() + "/flowsentry", "--pcap", capture_, "--eve", eve_path, "--metrics-listen", "",
         "--metrics-out", metrics_path, "--config", dir_ + "/" + tag + ".yaml"},
        180);
    *eve = ReadEve(eve_path);
    if (metrics != nullptr) *metrics = ReadFile(metrics_path);
    return r;
  }

  std::string dir_, capture_;
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

}  // namespace
}  // namespace fs::testing
