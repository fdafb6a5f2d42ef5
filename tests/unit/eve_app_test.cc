// EVE "http" records and "app_proto" on flow and alert records (issue 8), against the layout of
// Suricata 7 (output-json-http.c, output-json-flow.c, output-json-alert.c).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "controlplane/output/eve.h"
#include "patterns/buffers.h"

namespace fs::output {
namespace {

using Json = nlohmann::ordered_json;

worker::FlowSnapshot Snap() {
  worker::FlowSnapshot s;
  s.flow_id = 77;
  s.client_addr = *IpAddr::Parse("10.20.1.50");
  s.server_addr = *IpAddr::Parse("203.0.113.10");
  s.client_port = 50000;
  s.server_port = 8080;
  s.proto = 6;
  s.ip_version = 4;
  s.first_ts_us = s.last_ts_us = 1700000000ull * 1000000;
  s.app_proto = static_cast<uint8_t>(patterns::AppProto::kHttp);
  return s;
}

TEST(EveHttp, TransactionInSuricata7Layout) {
  worker::HttpRecordEvent ev;
  ev.ts_us = 1700000000ull * 1000000;
  ev.tx_id = 3;
  ev.flow = Snap();
  ev.has_response = true;
  ev.status = 302;
  ev.length = 5;
  ev.http_port = 8080;
  ev.Add("evil.example.com", &ev.hostname);
  ev.Add("/index.html?a=1", &ev.url);
  ev.Add("test-agent/1.0", &ev.user_agent);
  ev.Add("text/html", &ev.content_type);
  ev.Add("GET", &ev.method);
  ev.Add("HTTP/1.1", &ev.protocol);
  ev.Add("http://next.example/", &ev.redirect);
  EXPECT_EQ(
      FormatHttp(ev),
      R"({"timestamp":"2023-11-14T22:13:20.000000+0000","flow_id":77,"event_type":"http",)"
      R"("src_ip":"10.20.1.50","src_port":50000,"dest_ip":"203.0.113.10","dest_port":8080,)"
      R"("proto":"TCP","pkt_src":"wire/pcap","tx_id":3,"http":{"hostname":"evil.example.com",)"
      R"("http_port":8080,"url":"/index.html?a=1","http_user_agent":"test-agent/1.0",)"
      R"("http_content_type":"text/html","http_method":"GET","protocol":"HTTP/1.1",)"
      R"("status":302,"redirect":"http://next.example/","length":5}})");
}

TEST(EveHttp, RequestWithoutResponseAndPoolOverflow) {
  worker::HttpRecordEvent ev;
  ev.flow = Snap();
  ev.Add("GET", &ev.method);
  const std::string big(worker::HttpRecordEvent::kPool, 'a');
  ev.Add(big, &ev.url);  // cut to what is left
  EXPECT_EQ(ev.truncated, 1);
  EXPECT_EQ(ev.url.len, worker::HttpRecordEvent::kPool - 3);
  const Json j = Json::parse(FormatHttp(ev));
  EXPECT_FALSE(j["http"].contains("status"));
  EXPECT_FALSE(j["http"].contains("hostname"));
  EXPECT_EQ(j["http"]["http_method"], "GET");
  EXPECT_EQ(j["http"]["length"], 0);
}

TEST(EveAppProto, OnFlowAndAlertRecordsWhenDetected) {
  worker::FlowSnapshot s = Snap();
  Json flow = Json::parse(FormatFlow(s));
  EXPECT_EQ(flow["app_proto"], "http");
  // Right after "proto", as Suricata 7 prints it.
  auto it = flow.find("proto");
  ASSERT_NE(it, flow.end());
  EXPECT_EQ((++it).key(), "app_proto");

  worker::AlertEvent a;
  a.flow = s;
  a.src = s.client_addr;
  a.dst = s.server_addr;
  a.sport = s.client_port;
  a.dport = s.server_port;
  Json alert = Json::parse(FormatAlert(a, RuleInfo{}));
  EXPECT_EQ(alert["app_proto"], "http");
  it = alert.find("app_proto");
  EXPECT_EQ((++it).key(), "direction");

  s.app_proto = 0;
  EXPECT_FALSE(Json::parse(FormatFlow(s)).contains("app_proto"));
  a.flow = s;
  EXPECT_FALSE(Json::parse(FormatAlert(a, RuleInfo{})).contains("app_proto"));
}

}  // namespace
}  // namespace fs::output
