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

TEST(EveTls, HandshakeInSuricata7Layout) {
  worker::TlsRecordEvent ev;
  ev.ts_us = 1700000000ull * 1000000;
  ev.flow = Snap();
  ev.flow.server_port = 443;
  ev.version = 0x0303;
  ASSERT_TRUE(ev.Add("C=US, O=District Partner, CN=portal.example", &ev.subject));
  ASSERT_TRUE(ev.Add("C=US, O=Test CA, CN=Test CA R1", &ev.issuer));
  ASSERT_TRUE(ev.Add("00:AB:12", &ev.serial));
  ASSERT_TRUE(ev.Add("ab:cd", &ev.fingerprint));
  ASSERT_TRUE(ev.Add("portal.example", &ev.sni));
  ASSERT_TRUE(ev.Add("2023-01-01T00:00:00", &ev.not_before));
  ASSERT_TRUE(ev.Add("2024-01-01T00:00:00", &ev.not_after));
  ASSERT_TRUE(ev.Add("e7d705a3286e19ea42f587b344ee6865", &ev.ja3_hash));
  ASSERT_TRUE(ev.Add("771,4865-4866,0-23,29-23,0", &ev.ja3));
  ASSERT_TRUE(ev.Add("f4febc55ea12b31ae17cfb7e614afda8", &ev.ja3s_hash));
  ASSERT_TRUE(ev.Add("771,49199,65281-0", &ev.ja3s));
  EXPECT_EQ(
      FormatTls(ev),
      R"({"timestamp":"2023-11-14T22:13:20.000000+0000","flow_id":77,"event_type":"tls",)"
      R"("src_ip":"10.20.1.50","src_port":50000,"dest_ip":"203.0.113.10","dest_port":443,)"
      R"("proto":"TCP","pkt_src":"wire/pcap","tls":{"subject":"C=US, O=District Partner, )"
      R"(CN=portal.example","issuerdn":"C=US, O=Test CA, CN=Test CA R1","serial":"00:AB:12",)"
      R"("fingerprint":"ab:cd","sni":"portal.example","version":"TLS 1.2",)"
      R"("notbefore":"2023-01-01T00:00:00","notafter":"2024-01-01T00:00:00",)"
      R"("ja3":{"hash":"e7d705a3286e19ea42f587b344ee6865","string":"771,4865-4866,0-23,29-23,0"},)"
      R"("ja3s":{"hash":"f4febc55ea12b31ae17cfb7e614afda8","string":"771,49199,65281-0"}}})");
}

TEST(EveTls, ClientHelloOnlyAndPoolOverflow) {
  worker::TlsRecordEvent ev;
  ev.flow = Snap();
  ASSERT_TRUE(ev.Add("only.example", &ev.sni));
  const std::string big(worker::TlsRecordEvent::kPool, 'x');
  EXPECT_FALSE(ev.Add(big, &ev.ja3));  // left out whole, never cut
  EXPECT_EQ(ev.truncated, 1);
  EXPECT_EQ(ev.ja3.len, 0);
  const Json j = Json::parse(FormatTls(ev));
  EXPECT_EQ(j["tls"]["sni"], "only.example");
  EXPECT_EQ(j["tls"]["version"], "UNDETERMINED");
  EXPECT_FALSE(j["tls"].contains("ja3"));
  EXPECT_FALSE(j["tls"].contains("subject"));
  EXPECT_EQ(TlsVersionString(0x0304), "TLS 1.3");
  EXPECT_EQ(TlsVersionString(0x0301), "TLSv1");
}

worker::SmbRecordEvent SmbBase(uint16_t command, bool response) {
  worker::SmbRecordEvent ev;
  ev.ts_us = 1700000000ull * 1000000;
  ev.flow = Snap();
  ev.flow.server_port = 445;
  ev.id = 4;
  ev.command = command;
  ev.response = response;
  ev.dialect = 0x0311;
  ev.session_id = 0x1122;
  ev.tree_id = 5;
  return ev;
}

TEST(EveSmb, TreeConnectCreateInSuricata7Layout) {
  worker::SmbRecordEvent tc = SmbBase(0x03, true);
  tc.share_type = 1;
  tc.Add("\\\\fs01\\students", &tc.share);
  EXPECT_EQ(
      FormatSmb(tc),
      R"({"timestamp":"2023-11-14T22:13:20.000000+0000","flow_id":77,"event_type":"smb",)"
      R"("src_ip":"10.20.1.50","src_port":50000,"dest_ip":"203.0.113.10","dest_port":445,)"
      R"("proto":"TCP","pkt_src":"wire/pcap","smb":{"id":4,"dialect":"3.11",)"
      R"("command":"SMB2_COMMAND_TREE_CONNECT","status":"STATUS_SUCCESS","status_code":"0x0",)"
      R"("session_id":4386,"tree_id":5,"share":"\\\\fs01\\students","share_type":"FILE"}})");

  worker::SmbRecordEvent cr = SmbBase(0x05, true);
  cr.is_create = true;
  cr.status = 0xc0000034;
  cr.disposition = 2;
  cr.is_delete = true;
  cr.Add("homework\\essay.docx", &cr.filename);
  Json j = Json::parse(FormatSmb(cr));
  EXPECT_EQ(j["smb"]["command"], "SMB2_COMMAND_CREATE");
  EXPECT_EQ(j["smb"]["status"], "STATUS_OBJECT_NAME_NOT_FOUND");
  EXPECT_EQ(j["smb"]["status_code"], "0xc0000034");
  EXPECT_EQ(j["smb"]["filename"], "homework\\essay.docx");
  EXPECT_EQ(j["smb"]["disposition"], "FILE_CREATE");
  EXPECT_EQ(j["smb"]["access"], "delete on close");

  // IPC$: the tree connect names a pipe share.
  worker::SmbRecordEvent ipc = SmbBase(0x03, true);
  ipc.share_type = 2;
  ipc.Add("\\\\fs01\\IPC$", &ipc.share);
  j = Json::parse(FormatSmb(ipc));
  EXPECT_EQ(j["smb"]["named_pipe"], "\\\\fs01\\IPC$");
  EXPECT_EQ(j["smb"]["share_type"], "PIPE");
  EXPECT_FALSE(j["smb"].contains("share"));
}

TEST(EveSmb, RenameNtlmsspDcerpcRequests) {
  worker::SmbRecordEvent rn = SmbBase(0x11, false);
  rn.is_rename = true;
  rn.Add("a.docx", &rn.rename_from);
  rn.Add("a.docx.locked", &rn.rename_to);
  Json j = Json::parse(FormatSmb(rn));
  EXPECT_FALSE(j["smb"].contains("status"));  // a request
  EXPECT_EQ(j["smb"]["command"], "SMB2_COMMAND_SET_INFO");
  EXPECT_EQ(j["smb"]["set_info"]["info_level"], "SMB2_FILE_RENAME_INFO");
  EXPECT_EQ(j["smb"]["rename"]["from"], "a.docx");
  EXPECT_EQ(j["smb"]["rename"]["to"], "a.docx.locked");

  worker::SmbRecordEvent ss = SmbBase(0x01, false);
  ss.dialect = 0;
  ss.Add("jdoe", &ss.user);
  ss.Add("DMPS", &ss.domain);
  ss.Add("LAB-PC07", &ss.host);
  j = Json::parse(FormatSmb(ss));
  EXPECT_EQ(j["smb"]["dialect"], "unknown");
  EXPECT_EQ(j["smb"]["ntlmssp"],
            Json::parse(R"({"domain":"DMPS","user":"jdoe","host":"LAB-PC07"})"));

  worker::SmbRecordEvent rpc = SmbBase(0x09, false);
  rpc.is_dcerpc = true;
  rpc.dcerpc_ptype = 11;
  rpc.dcerpc_call_id = 1;
  rpc.interface_count = 1;
  rpc.Add("367abb81-9844-35f1-ad32-98f038001003", &rpc.interfaces[0]);
  rpc.interface_versions[0] = 2;
  j = Json::parse(FormatSmb(rpc));
  EXPECT_EQ(j["smb"]["command"], "SMB2_COMMAND_WRITE");
  EXPECT_EQ(
      j["smb"]["dcerpc"],
      Json::parse(R"({"request":"BIND","interfaces":[{"uuid":)"
                  R"("367abb81-9844-35f1-ad32-98f038001003","version":"2.0"}],"call_id":1})"));
}

}  // namespace
}  // namespace fs::output
