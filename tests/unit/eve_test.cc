// EVE formatting against real Suricata 7.0.10 output, and the EVE file sink.
//
// The expected lines below were produced by `suricata -r CAPTURE -S RULES --runmode single -k none`
// on captures from /work/shared/data/captures (http_post.pcapng, http_ip4and6.pcapng,
// Tunnels.pcap). Fields the sensor does not produce (pcap_cnt, tx_id, app_proto, http, files,
// tunnel, icmp_type/icmp_code, tcp.state, *_max_regions) are removed before comparing; flow records
// are stamped with their end time (Suricata stamps the time it logged them).
#include "controlplane/output/eve.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace fs::output {
namespace {

using Json = nlohmann::ordered_json;
using flow::Dir;
using flow::EndReason;
using flow::State;
using worker::AlertEvent;
using worker::FlowSnapshot;

IpAddr Ip(const char* text) {
  auto a = IpAddr::Parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddr{});
}

// "2010-02-09T02:32:54.485274" (UTC) -> microseconds since the epoch.
uint64_t Us(const char* iso) {
  struct tm tm = {};
  unsigned usec = 0;
  EXPECT_EQ(std::sscanf(iso, "%d-%d-%dT%d:%d:%d.%u", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &usec),
            7)
      << iso;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<uint64_t>(timegm(&tm)) * 1000000 + usec;
}

FlowSnapshot Snap(uint64_t id, const char* client, uint16_t cport, const char* server,
                  uint16_t sport, uint8_t proto, uint64_t pkts_ts, uint64_t pkts_tc,
                  uint64_t bytes_ts, uint64_t bytes_tc, const char* start, const char* end) {
  FlowSnapshot s;
  s.flow_id = id;
  s.client_addr = Ip(client);
  s.server_addr = Ip(server);
  s.client_port = cport;
  s.server_port = sport;
  s.proto = proto;
  s.ip_version = s.client_addr.IsV4() ? 4 : 6;
  s.pkts[0] = pkts_ts;
  s.pkts[1] = pkts_tc;
  s.bytes[0] = bytes_ts;
  s.bytes[1] = bytes_tc;
  s.first_ts_us = Us(start);
  s.last_ts_us = Us(end);
  return s;
}

Json Strip(const std::string& line, const std::vector<std::string>& top,
           const std::vector<std::string>& tcp) {
  Json j = Json::parse(line);
  for (const auto& k : top) j.erase(k);
  if (j.contains("tcp")) {
    for (const auto& k : tcp) j["tcp"].erase(k);
  }
  return j;
}

// A rule with the target keyword (no classtype, default severity).
RuleInfo Targeted(uint32_t sid, const char* msg, RuleInfo::Target target) {
  RuleInfo r{sid, 1, 0, msg, "", 3, "allowed", {}};
  r.target = target;
  return r;
}

struct AlertCase {
  const char* name;
  const char* suricata;
  std::function<AlertEvent()> event;
  RuleInfo rule;
};

TEST(EveAlert, MatchesSuricata) {
  const std::vector<AlertCase> cases = {
      {"tcp to_server (http_post.pcapng)",
       R"({"timestamp":"2010-02-09T02:32:54.485274+0000","flow_id":1603500097162940,"pcap_cnt":7,"event_type":"alert","src_ip":"172.16.16.128","src_port":1989,"dest_ip":"69.163.176.56","dest_port":80,"proto":"TCP","pkt_src":"wire/pcap","tx_id":0,"tx_guessed":true,"alert":{"action":"allowed","gid":1,"signature_id":1,"rev":0,"signature":"t","category":"","severity":3},"app_proto":"http","direction":"to_server","flow":{"pkts_toserver":4,"pkts_toclient":3,"bytes_toserver":2444,"bytes_toclient":1090,"start":"2010-02-09T02:32:53.045663+0000","src_ip":"172.16.16.128","dest_ip":"69.163.176.56","src_port":1989,"dest_port":80}})",
       [] {
         AlertEvent e;
         e.ts_us = Us("2010-02-09T02:32:54.485274");
         e.src = Ip("172.16.16.128");
         e.dst = Ip("69.163.176.56");
         e.sport = 1989;
         e.dport = 80;
         e.dir = Dir::kToServer;
         e.flow = Snap(1603500097162940, "172.16.16.128", 1989, "69.163.176.56", 80, IPPROTO_TCP, 4,
                       3, 2444, 1090, "2010-02-09T02:32:53.045663", "2010-02-09T02:32:54.485274");
         return e;
       },
       RuleInfo{1, 1, 0, "t", "", 3, "allowed", {}}},
      {"tcp to_client with classtype (http_post.pcapng)",
       R"({"timestamp":"2010-02-09T02:32:54.569529+0000","flow_id":1603500097162940,"pcap_cnt":8,"event_type":"alert","src_ip":"69.163.176.56","src_port":80,"dest_ip":"172.16.16.128","dest_port":1989,"proto":"TCP","pkt_src":"wire/pcap","tx_id":0,"tx_guessed":true,"alert":{"action":"allowed","gid":1,"signature_id":2,"rev":3,"signature":"resp","category":"A Network Trojan was detected","severity":1},"app_proto":"http","direction":"to_client","flow":{"pkts_toserver":4,"pkts_toclient":4,"bytes_toserver":2444,"bytes_toclient":1150,"start":"2010-02-09T02:32:53.045663+0000","src_ip":"172.16.16.128","dest_ip":"69.163.176.56","src_port":1989,"dest_port":80}})",
       [] {
         AlertEvent e;
         e.ts_us = Us("2010-02-09T02:32:54.569529");
         e.src = Ip("69.163.176.56");
         e.dst = Ip("172.16.16.128");
         e.sport = 80;
         e.dport = 1989;
         e.dir = Dir::kToClient;
         e.flow = Snap(1603500097162940, "172.16.16.128", 1989, "69.163.176.56", 80, IPPROTO_TCP, 4,
                       4, 2444, 1150, "2010-02-09T02:32:53.045663", "2010-02-09T02:32:54.569529");
         return e;
       },
       RuleInfo{2, 1, 3, "resp", "A Network Trojan was detected", 1, "allowed", {}}},
      {"udp on vlan, quotes in msg (Tunnels.pcap)",
       R"({"timestamp":"2021-03-01T06:00:00.219794+0000","flow_id":99586527584177,"pcap_cnt":64,"event_type":"alert","vlan":[454],"src_ip":"10.131.24.6","src_port":2152,"dest_ip":"195.178.38.3","dest_port":53,"proto":"UDP","pkt_src":"wire/pcap","alert":{"action":"allowed","gid":1,"signature_id":3,"rev":2,"signature":"dns \"q\"","category":"","severity":3},"app_proto":"dns","direction":"to_server","flow":{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":82,"bytes_toclient":0,"start":"2021-03-01T06:00:00.219794+0000","src_ip":"10.131.24.6","dest_ip":"195.178.38.3","src_port":2152,"dest_port":53}})",
       [] {
         AlertEvent e;
         e.ts_us = Us("2021-03-01T06:00:00.219794");
         e.src = Ip("10.131.24.6");
         e.dst = Ip("195.178.38.3");
         e.sport = 2152;
         e.dport = 53;
         e.flow = Snap(99586527584177, "10.131.24.6", 2152, "195.178.38.3", 53, IPPROTO_UDP, 1, 0,
                       82, 0, "2021-03-01T06:00:00.219794", "2021-03-01T06:00:00.219794");
         e.flow.vlan[0] = 454;
         return e;
       },
       RuleInfo{3, 1, 2, "dns \"q\"", "", 3, "allowed", {}}},
      {"icmp to_client: no ports (Tunnels.pcap)",
       R"({"timestamp":"2021-03-01T05:59:59.676385+0000","flow_id":2059178443446286,"event_type":"alert","src_ip":"10.0.0.2","dest_ip":"10.0.0.1","proto":"ICMP","icmp_type":0,"icmp_code":0,"pkt_src":"wire/pcap","alert":{"action":"allowed","gid":1,"signature_id":4,"rev":0,"signature":"icmp","category":"","severity":3},"tunnel":{"src_ip":"192.168.56.12","src_port":38071,"dest_ip":"192.168.56.11","dest_port":4789,"proto":"UDP","depth":1,"pcap_cnt":7,"pkt_src":"wire/pcap"},"direction":"to_client","flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":84,"bytes_toclient":84,"start":"2021-03-01T05:59:59.676047+0000","src_ip":"10.0.0.1","dest_ip":"10.0.0.2"}})",
       [] {
         AlertEvent e;
         e.ts_us = Us("2021-03-01T05:59:59.676385");
         e.src = Ip("10.0.0.2");
         e.dst = Ip("10.0.0.1");
         e.dir = Dir::kToClient;
         e.flow = Snap(2059178443446286, "10.0.0.1", 0, "10.0.0.2", 0, IPPROTO_ICMP, 1, 1, 84, 84,
                       "2021-03-01T05:59:59.676047", "2021-03-01T05:59:59.676385");
         return e;
       },
       RuleInfo{4, 1, 0, "icmp", "", 3, "allowed", {}}},
      {"ipv6 tcp (http_ip4and6.pcapng)",
       R"({"timestamp":"2015-11-22T17:58:16.400968+0000","flow_id":26778677883919,"pcap_cnt":17,"event_type":"alert","src_ip":"2001:0db8:0001:0002:0000:0000:0000:1002","src_port":35023,"dest_ip":"2001:0db8:0001:0002:0000:0000:0000:1000","dest_port":80,"proto":"TCP","pkt_src":"wire/pcap","tx_id":0,"tx_guessed":true,"alert":{"action":"allowed","gid":1,"signature_id":1,"rev":0,"signature":"t","category":"","severity":3},"app_proto":"http","direction":"to_server","flow":{"pkts_toserver":4,"pkts_toclient":3,"bytes_toserver":436,"bytes_toclient":757,"start":"2015-11-22T17:58:16.399450+0000","src_ip":"2001:0db8:0001:0002:0000:0000:0000:1002","dest_ip":"2001:0db8:0001:0002:0000:0000:0000:1000","src_port":35023,"dest_port":80}})",
       [] {
         AlertEvent e;
         e.ts_us = Us("2015-11-22T17:58:16.400968");
         e.src = Ip("2001:db8:1:2::1002");
         e.dst = Ip("2001:db8:1:2::1000");
         e.sport = 35023;
         e.dport = 80;
         e.flow = Snap(26778677883919, "2001:db8:1:2::1002", 35023, "2001:db8:1:2::1000", 80,
                       IPPROTO_TCP, 4, 3, 436, 757, "2015-11-22T17:58:16.399450",
                       "2015-11-22T17:58:16.400968");
         return e;
       },
       RuleInfo{1, 1, 0, "t", "", 3, "allowed", {}}},
      // target (Suricata 7.0.10 on the same captures with target:dest_ip / target:src_ip):
      // "source" and "target" from the packet's addresses, ports only for TCP/UDP.
      {"target:dest_ip, tcp to_client (http_post.pcapng)",
       R"({"timestamp":"2010-02-09T02:32:54.569529+0000","flow_id":1603496019024923,"pcap_cnt":8,"event_type":"alert","src_ip":"69.163.176.56","src_port":80,"dest_ip":"172.16.16.128","dest_port":1989,"proto":"TCP","pkt_src":"wire/pcap","tx_id":0,"tx_guessed":true,"alert":{"action":"allowed","gid":1,"signature_id":1,"rev":0,"signature":"tgt dst","category":"","severity":3,"source":{"ip":"69.163.176.56","port":80},"target":{"ip":"172.16.16.128","port":1989}},"app_proto":"http","direction":"to_client","flow":{"pkts_toserver":4,"pkts_toclient":4,"bytes_toserver":2444,"bytes_toclient":1150,"start":"2010-02-09T02:32:53.045663+0000","src_ip":"172.16.16.128","dest_ip":"69.163.176.56","src_port":1989,"dest_port":80}})",
       [] {
         AlertEvent e;
         e.ts_us = Us("2010-02-09T02:32:54.569529");
         e.src = Ip("69.163.176.56");
         e.dst = Ip("172.16.16.128");
         e.sport = 80;
         e.dport = 1989;
         e.dir = Dir::kToClient;
         e.flow = Snap(1603496019024923, "172.16.16.128", 1989, "69.163.176.56", 80, IPPROTO_TCP, 4,
                       4, 2444, 1150, "2010-02-09T02:32:53.045663", "2010-02-09T02:32:54.569529");
         return e;
       },
       Targeted(1, "tgt dst", RuleInfo::Target::kDst)},
      {"target:src_ip, udp to_server (Tunnels.pcap)",
       R"({"timestamp":"2021-03-01T05:59:59.591933+0000","flow_id":1979383927427113,"pcap_cnt":2,"event_type":"alert","src_ip":"192.168.2.16","src_port":138,"dest_ip":"192.168.2.255","dest_port":138,"proto":"UDP","pkt_src":"wire/pcap","alert":{"action":"allowed","gid":1,"signature_id":3,"rev":0,"signature":"tgt src udp","category":"","severity":3,"source":{"ip":"192.168.2.255","port":138},"target":{"ip":"192.168.2.16","port":138}},"app_proto":"failed","direction":"to_server","flow":{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":243,"bytes_toclient":0,"start":"2021-03-01T05:59:59.591933+0000","src_ip":"192.168.2.16","dest_ip":"192.168.2.255","src_port":138,"dest_port":138}})",
       [] {
         AlertEvent e;
         e.ts_us = Us("2021-03-01T05:59:59.591933");
         e.src = Ip("192.168.2.16");
         e.dst = Ip("192.168.2.255");
         e.sport = 138;
         e.dport = 138;
         e.flow = Snap(1979383927427113, "192.168.2.16", 138, "192.168.2.255", 138, IPPROTO_UDP, 1,
                       0, 243, 0, "2021-03-01T05:59:59.591933", "2021-03-01T05:59:59.591933");
         return e;
       },
       Targeted(3, "tgt src udp", RuleInfo::Target::kSrc)},
      {"target:src_ip, icmp to_client: no ports (Tunnels.pcap)",
       R"({"timestamp":"2021-03-01T05:59:59.754061+0000","flow_id":2112321255389046,"pcap_cnt":9,"event_type":"alert","src_ip":"192.168.5.217","dest_ip":"192.168.5.208","proto":"ICMP","icmp_type":0,"icmp_code":0,"pkt_src":"wire/pcap","alert":{"action":"allowed","gid":1,"signature_id":2,"rev":0,"signature":"tgt src icmp","category":"","severity":3,"source":{"ip":"192.168.5.208"},"target":{"ip":"192.168.5.217"}},"direction":"to_client","flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":98,"bytes_toclient":98,"start":"2021-03-01T05:59:59.753957+0000","src_ip":"192.168.5.208","dest_ip":"192.168.5.217"}})",
       [] {
         AlertEvent e;
         e.ts_us = Us("2021-03-01T05:59:59.754061");
         e.src = Ip("192.168.5.217");
         e.dst = Ip("192.168.5.208");
         e.dir = Dir::kToClient;
         e.flow = Snap(2112321255389046, "192.168.5.208", 0, "192.168.5.217", 0, IPPROTO_ICMP, 1, 1,
                       98, 98, "2021-03-01T05:59:59.753957", "2021-03-01T05:59:59.754061");
         return e;
       },
       Targeted(2, "tgt src icmp", RuleInfo::Target::kSrc)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Json want = Strip(c.suricata,
                      {"pcap_cnt", "tx_id", "tx_guessed", "app_proto", "tunnel", "icmp_type",
                       "icmp_code", "http", "files"},
                      {});
    const std::string got = FormatAlert(c.event(), c.rule);
    EXPECT_EQ(got, want.dump());
    EXPECT_EQ(got.find('\n'), std::string::npos);
  }
}

// A TCP alert to port 445 on flow 123.
AlertEvent SmbProbe() {
  AlertEvent e;
  e.ts_us = Us("2024-01-02T03:04:05.000006");
  e.src = Ip("192.0.2.1");
  e.dst = Ip("198.51.100.2");
  e.sport = 40000;
  e.dport = 445;
  e.flow = Snap(123, "192.0.2.1", 40000, "198.51.100.2", 445, IPPROTO_TCP, 2, 1, 200, 100,
                "2024-01-02T03:04:05.000001", "2024-01-02T03:04:05.000006");
  return e;
}

TEST(EveAlert, FieldTypes) {
  const AlertEvent e = SmbProbe();
  const RuleInfo rule{2100001, 1, 7, "SMB probe", "Attempted Information Leak", 2, "blocked", {}};
  const auto j = nlohmann::json::parse(FormatAlert(e, rule));
  EXPECT_EQ(j.at("timestamp"), "2024-01-02T03:04:05.000006+0000");
  EXPECT_TRUE(j.at("flow_id").is_number_unsigned());
  EXPECT_EQ(j.at("flow_id"), 123);
  EXPECT_EQ(j.at("event_type"), "alert");
  EXPECT_FALSE(j.contains("vlan"));
  EXPECT_TRUE(j.at("src_port").is_number_integer());
  EXPECT_EQ(j.at("dest_port"), 445);
  EXPECT_EQ(j.at("proto"), "TCP");
  EXPECT_EQ(j.at("pkt_src"), "wire/pcap");
  const auto& a = j.at("alert");
  EXPECT_EQ(a.at("action"), "blocked");
  EXPECT_EQ(a.at("gid"), 1);
  EXPECT_EQ(a.at("signature_id"), 2100001);
  EXPECT_EQ(a.at("rev"), 7);
  EXPECT_EQ(a.at("signature"), "SMB probe");
  EXPECT_EQ(a.at("category"), "Attempted Information Leak");
  EXPECT_TRUE(a.at("severity").is_number_integer());
  EXPECT_EQ(a.at("severity"), 2);
  EXPECT_EQ(j.at("direction"), "to_server");
  EXPECT_EQ(j.at("flow").at("bytes_toserver"), 200);
  EXPECT_EQ(j.at("flow").at("start"), "2024-01-02T03:04:05.000001+0000");
}

TEST(EveAlert, MetadataGroupsValuesUnderTheirKeyInFirstSeenOrder) {
  const AlertEvent e = SmbProbe();
  RuleInfo rule{7, 1, 2, "m", "", 3, "allowed", {}};
  rule.metadata = {{"indicator_entry", "10.0.0.0/8"},
                   {"indicator_side", "both"},
                   {"indicator_entry", "192.0.2.1/32"},
                   {"odd \"key\"", "\xff value \n"},
                   {"indicator_side", "again"}};
  const std::string line = FormatAlert(e, rule);
  // As Suricata prints rule metadata, and as the DOM the writer replaced grouped them.
  Json want_md;
  for (const auto& [key, value] : rule.metadata) want_md[key].push_back(value);
  const std::string want =
      "\"metadata\":" + want_md.dump(-1, ' ', false, Json::error_handler_t::replace) + "}";
  EXPECT_NE(line.find(want), std::string::npos) << line;
  EXPECT_NE(line.find(R"("metadata":{"indicator_entry":["10.0.0.0/8","192.0.2.1/32"],)"
                      R"("indicator_side":["both","again"],"odd \"key\"":[)"),
            std::string::npos)
      << line;
}

TEST(EveAlert, QinQIpv6AndEdgeCases) {
  AlertEvent e;
  e.ts_us = Us("2024-01-02T03:04:05.500000");
  e.src = Ip("fe80::1");
  e.dst = Ip("ff02::fb");
  e.sport = 0;  // a UDP source port 0: Suricata drops the ports inside "flow" only
  e.dport = 5353;
  e.flow = Snap(77, "fe80::1", 0, "ff02::fb", 5353, IPPROTO_UDP, 1, 0, 90, 0,
                "2024-01-02T03:04:05.500000", "2024-01-02T03:04:05.500000");
  e.flow.vlan[0] = 100;
  e.flow.vlan[1] = 200;
  // Invalid UTF-8 and control characters in a message never break the line.
  RuleInfo rule{9, 1, 1, std::string("bad \xff\xfe utf8\n\"x\""), "", 3, "allowed", {}};
  const std::string line = FormatAlert(e, rule);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j.at("vlan"), nlohmann::json::array({100, 200}));
  EXPECT_EQ(j.at("src_ip"), "fe80:0000:0000:0000:0000:0000:0000:0001");
  EXPECT_EQ(j.at("dest_ip"), "ff02:0000:0000:0000:0000:0000:0000:00fb");
  EXPECT_EQ(j.at("src_port"), 0);
  EXPECT_EQ(j.at("dest_port"), 5353);
  EXPECT_FALSE(j.at("flow").contains("src_port"));
  EXPECT_FALSE(j.at("flow").contains("dest_port"));
  EXPECT_NE(j.at("alert").at("signature").get<std::string>().find("\"x\""), std::string::npos);

  // No flow (flow_id 0): no flow_id, direction or flow object, as Suricata for flowless packets.
  e.flow.flow_id = 0;
  const auto k = nlohmann::json::parse(FormatAlert(e, rule));
  EXPECT_FALSE(k.contains("flow_id"));
  EXPECT_FALSE(k.contains("direction"));
  EXPECT_FALSE(k.contains("flow"));
}

struct FlowCase {
  const char* name;
  const char* suricata;
  std::function<FlowSnapshot()> snapshot;
};

TEST(EveFlow, MatchesSuricata) {
  const std::vector<FlowCase> cases = {
      {"tcp established (http_post.pcapng)",
       R"({"timestamp":"2010-02-09T02:32:57.558474+0000","flow_id":1603500097162940,"event_type":"flow","src_ip":"172.16.16.128","src_port":1989,"dest_ip":"69.163.176.56","dest_port":80,"proto":"TCP","app_proto":"http","flow":{"pkts_toserver":9,"pkts_toclient":12,"bytes_toserver":2714,"bytes_toclient":10289,"start":"2010-02-09T02:32:53.045663+0000","end":"2010-02-09T02:32:57.558474+0000","age":4,"state":"established","reason":"shutdown","alerted":true},"tcp":{"tcp_flags":"1b","tcp_flags_ts":"1a","tcp_flags_tc":"1b","syn":true,"fin":true,"psh":true,"ack":true,"state":"fin_wait2","ts_max_regions":1,"tc_max_regions":1}})",
       [] {
         auto s = Snap(1603500097162940, "172.16.16.128", 1989, "69.163.176.56", 80, IPPROTO_TCP, 9,
                       12, 2714, 10289, "2010-02-09T02:32:53.045663", "2010-02-09T02:32:57.558474");
         s.state = State::kEstablished;
         s.reason = EndReason::kShutdown;
         s.alerted = true;
         s.tcp_flags[0] = 0x1a;
         s.tcp_flags[1] = 0x1b;
         return s;
       }},
      {"ipv6 tcp closed (http_ip4and6.pcapng)",
       R"({"timestamp":"2015-11-22T17:58:16.404047+0000","flow_id":26776327355063,"event_type":"flow","src_ip":"2001:0db8:0001:0002:0000:0000:0000:1002","src_port":35023,"dest_ip":"2001:0db8:0001:0002:0000:0000:0000:1000","dest_port":80,"proto":"TCP","app_proto":"http","flow":{"pkts_toserver":6,"pkts_toclient":4,"bytes_toserver":608,"bytes_toclient":843,"start":"2015-11-22T17:58:16.399450+0000","end":"2015-11-22T17:58:16.404047+0000","age":0,"state":"closed","reason":"shutdown","alerted":true},"tcp":{"tcp_flags":"1b","tcp_flags_ts":"1b","tcp_flags_tc":"1b","syn":true,"fin":true,"psh":true,"ack":true,"state":"closed","ts_max_regions":1,"tc_max_regions":1}})",
       [] {
         auto s = Snap(26776327355063, "2001:db8:1:2::1002", 35023, "2001:db8:1:2::1000", 80,
                       IPPROTO_TCP, 6, 4, 608, 843, "2015-11-22T17:58:16.399450",
                       "2015-11-22T17:58:16.404047");
         s.state = State::kClosed;
         s.alerted = true;
         s.tcp_flags[0] = s.tcp_flags[1] = 0x1b;
         return s;
       }},
      {"tcp closed by timeout, age across a second mark (Tunnels.pcap)",
       R"({"timestamp":"2021-05-20T17:26:38.694961+0000","flow_id":1042643714990571,"event_type":"flow","src_ip":"192.168.2.16","src_port":1580,"dest_ip":"67.228.110.120","dest_port":80,"proto":"TCP","app_proto":"http","flow":{"pkts_toserver":7,"pkts_toclient":6,"bytes_toserver":855,"bytes_toclient":4248,"start":"2021-03-01T06:00:27.570439+0000","end":"2021-03-01T06:00:28.037158+0000","age":1,"state":"closed","reason":"timeout","alerted":true},"tcp":{"tcp_flags":"1b","tcp_flags_ts":"1b","tcp_flags_tc":"1b","syn":true,"fin":true,"psh":true,"ack":true,"state":"closed","ts_max_regions":1,"tc_max_regions":1}})",
       [] {
         auto s = Snap(1042643714990571, "192.168.2.16", 1580, "67.228.110.120", 80, IPPROTO_TCP, 7,
                       6, 855, 4248, "2021-03-01T06:00:27.570439", "2021-03-01T06:00:28.037158");
         s.state = State::kClosed;
         s.reason = EndReason::kTimeout;
         s.alerted = true;
         s.tcp_flags[0] = s.tcp_flags[1] = 0x1b;
         return s;
       }},
      {"udp established timeout (Tunnels.pcap)",
       R"({"timestamp":"2021-03-01T06:21:13.593667+0000","flow_id":380219101459036,"event_type":"flow","src_ip":"127.0.0.2","src_port":3386,"dest_ip":"127.0.0.1","dest_port":3386,"proto":"UDP","app_proto":"failed","flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":141,"bytes_toclient":129,"start":"2021-03-01T06:09:13.547278+0000","end":"2021-03-01T06:09:13.547325+0000","age":0,"state":"established","reason":"timeout","alerted":false}})",
       [] {
         auto s = Snap(380219101459036, "127.0.0.2", 3386, "127.0.0.1", 3386, IPPROTO_UDP, 1, 1,
                       141, 129, "2021-03-01T06:09:13.547278", "2021-03-01T06:09:13.547325");
         s.state = State::kEstablished;
         s.reason = EndReason::kTimeout;
         return s;
       }},
      {"udp on vlan (Tunnels.pcap)", R"({"timestamp":"2021-05-20T17:26:38.694961+0000","flow_id":99585868458341,"event_type":"flow","vlan":[454],"src_ip":"10.131.24.6","src_port":2152,"dest_ip":"195.178.38.3","dest_port":53,"proto":"UDP","app_proto":"dns","flow":{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":82,"bytes_toclient":0,"start":"2021-03-01T06:00:00.219794+0000","end":"2021-03-01T06:00:00.219794+0000","age":0,"state":"new","reason":"shutdown","alerted":false}})",
       [] {
         auto s = Snap(99585868458341, "10.131.24.6", 2152, "195.178.38.3", 53, IPPROTO_UDP, 1, 0,
                       82, 0, "2021-03-01T06:00:00.219794", "2021-03-01T06:00:00.219794");
         s.vlan[0] = 454;
         return s;
       }},
      {"ipv6-icmp: no ports (Tunnels.pcap)",
       R"({"timestamp":"2021-05-20T17:26:38.694961+0000","flow_id":233624256054232,"event_type":"flow","src_ip":"2a03:2880:1010:6f03:face:b00c:0000:0002","dest_ip":"2001:0470:1f17:013f:3e97:0eff:fe73:4dec","proto":"IPv6-ICMP","icmp_type":2,"icmp_code":0,"flow":{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":1280,"bytes_toclient":0,"start":"2021-03-01T06:00:08.251002+0000","end":"2021-03-01T06:00:08.251002+0000","age":0,"state":"new","reason":"shutdown","alerted":false}})",
       [] {
         return Snap(233624256054232, "2a03:2880:1010:6f03:face:b00c::2", 0,
                     "2001:470:1f17:13f:3e97:eff:fe73:4dec", 0, IPPROTO_ICMPV6, 1, 0, 1280, 0,
                     "2021-03-01T06:00:08.251002", "2021-03-01T06:00:08.251002");
       }},
      {"ip-in-ip proto named IPv6 (Tunnels.pcap)",
       R"({"timestamp":"2021-05-20T17:26:38.694961+0000","flow_id":123029892117477,"event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","proto":"IPv6","flow":{"pkts_toserver":10,"pkts_toclient":0,"bytes_toserver":1340,"bytes_toclient":0,"start":"2021-03-01T06:00:00.487397+0000","end":"2021-03-01T06:00:00.559411+0000","age":0,"state":"new","reason":"shutdown","alerted":false}})",
       [] {
         return Snap(123029892117477, "10.0.0.1", 0, "10.0.0.2", 0, 41, 10, 0, 1340, 0,
                     "2021-03-01T06:00:00.487397", "2021-03-01T06:00:00.559411");
       }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Json want = Strip(c.suricata, {"app_proto", "icmp_type", "icmp_code"},
                      {"state", "ts_max_regions", "tc_max_regions"});
    want["timestamp"] = want["flow"]["end"];
    const std::string got = FormatFlow(c.snapshot());
    EXPECT_EQ(got, want.dump());
  }
}

TEST(EveFlow, TcpFlagsAndReasons) {
  struct Case {
    uint8_t ts, tc;
    const char* hex;
    std::vector<std::string> bools;  // in Suricata's order
  };
  const std::vector<Case> cases = {
      {0x00, 0x00, "00", {}},
      {0x02, 0x00, "02", {"syn"}},
      {0x02, 0x14, "16", {"syn", "rst", "ack"}},
      {0xc1, 0x28, "e9", {"fin", "psh", "urg", "ecn", "cwr"}},
      {0xff, 0xff, "ff", {"syn", "fin", "rst", "psh", "ack", "urg", "ecn", "cwr"}},
  };
  for (const auto& c : cases) {
    auto s = Snap(5, "10.0.0.1", 1, "10.0.0.2", 2, IPPROTO_TCP, 1, 1, 60, 60,
                  "2024-01-01T00:00:00.000000", "2024-01-01T00:00:00.000000");
    s.tcp_flags[0] = c.ts;
    s.tcp_flags[1] = c.tc;
    const Json j = Json::parse(FormatFlow(s));
    const Json& t = j.at("tcp");
    EXPECT_EQ(t.at("tcp_flags"), c.hex);
    EXPECT_EQ(t.at("tcp_flags_ts").get<std::string>().size(), 2u);
    std::vector<std::string> got;
    for (auto it = t.begin(); it != t.end(); ++it) {
      if (it.value().is_boolean()) {
        EXPECT_TRUE(it.value().get<bool>());
        got.push_back(it.key());
      }
    }
    EXPECT_EQ(got, c.bools) << c.hex;
  }

  auto s = Snap(5, "10.0.0.1", 1, "10.0.0.2", 2, IPPROTO_UDP, 1, 1, 60, 60,
                "2024-01-01T00:00:10.900000", "2024-01-01T00:00:11.100000");
  for (auto [reason, name] :
       {std::pair{EndReason::kTimeout, "timeout"}, std::pair{EndReason::kForced, "forced"},
        std::pair{EndReason::kShutdown, "shutdown"}}) {
    s.reason = reason;
    const auto j = nlohmann::json::parse(FormatFlow(s));
    EXPECT_EQ(j.at("flow").at("reason"), name);
    EXPECT_FALSE(j.contains("tcp"));
    EXPECT_EQ(j.at("flow").at("age"), 1);  // 10.9 s to 11.1 s crosses one second mark
    EXPECT_TRUE(j.at("flow").at("alerted").is_boolean());
  }
}

TEST(EveFormat, Ipv4AddressesPrintAsInetNtopPrintsThem) {
  // IpAddr::ToString writes IPv4 itself (no sprintf): every octet value in every position.
  for (unsigned v = 0; v < 256; ++v) {
    const uint8_t raw[4] = {static_cast<uint8_t>(v), static_cast<uint8_t>(255 - v),
                            static_cast<uint8_t>(v / 10), static_cast<uint8_t>(v % 100)};
    char want[INET_ADDRSTRLEN];
    ASSERT_NE(inet_ntop(AF_INET, raw, want, sizeof(want)), nullptr);
    EXPECT_EQ(IpAddr::FromV4(raw).ToString(), want);
    EXPECT_EQ(IpAddr::FromV4(raw).ToEveString(), want);
  }
}

TEST(EveFormat, TimestampsAndProtoNames) {
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00.000000+0000");
  EXPECT_EQ(FormatTimestamp(1265682774485274), "2010-02-09T02:32:54.485274+0000");
  EXPECT_EQ(FormatTimestamp(951782400000001), "2000-02-29T00:00:00.000001+0000");
  // The same second again, the next one, and back (the date part is kept between calls).
  EXPECT_EQ(FormatTimestamp(951782400999999), "2000-02-29T00:00:00.999999+0000");
  EXPECT_EQ(FormatTimestamp(951782401000000), "2000-02-29T00:00:01.000000+0000");
  EXPECT_EQ(FormatTimestamp(951782400000010), "2000-02-29T00:00:00.000010+0000");
  EXPECT_EQ(FormatTimestamp(1265682774485274), "2010-02-09T02:32:54.485274+0000");
  const std::vector<std::pair<int, const char*>> names = {
      {0, "HOPOPT"},     {1, "ICMP"},  {6, "TCP"},        {17, "UDP"},  {41, "IPv6"},
      {47, "GRE"},       {50, "ESP"},  {58, "IPv6-ICMP"}, {89, "OSPF"}, {132, "SCTP"},
      {143, "Ethernet"}, {144, "144"}, {200, "200"},      {255, "255"}};
  for (const auto& [num, name] : names) EXPECT_EQ(ProtoName(static_cast<uint8_t>(num)), name);
  // SCTP carries ports; GRE does not.
  auto s = Snap(5, "10.0.0.1", 7, "10.0.0.2", 9, IPPROTO_SCTP, 1, 0, 60, 0,
                "2024-01-01T00:00:00.000000", "2024-01-01T00:00:00.000000");
  EXPECT_EQ(nlohmann::json::parse(FormatFlow(s)).at("src_port"), 7);
  s.proto = IPPROTO_GRE;
  EXPECT_FALSE(nlohmann::json::parse(FormatFlow(s)).contains("src_port"));
}

// DNS records in Suricata 7's "dns" v2 layout. The expected objects follow the 7.0 examples of
// Suricata's "DNS logging changes for 8.0" upgrade notes (www.suricata.io, a CNAME then an A).
worker::DnsRecordEvent DnsEvent(bool response) {
  worker::DnsRecordEvent ev;
  ev.ts_us = 1700000000000000;
  ev.flow.flow_id = 77;
  ev.flow.client_addr = Ip("10.20.1.23");
  ev.flow.server_addr = Ip("10.20.0.53");
  ev.flow.client_port = 51000;
  ev.flow.server_port = 53;
  ev.flow.proto = IPPROTO_UDP;
  ev.response = response;
  ev.id = 0;
  ev.raw_flags = response ? 0x8180 : 0x0100;
  worker::DnsRecordEvent::Query q;
  EXPECT_TRUE(ev.AddName("www.suricata.io", &q.name));
  q.type = 1;
  ev.queries[ev.query_count++] = q;
  if (response) {
    worker::DnsRecordEvent::Answer cname;
    EXPECT_TRUE(ev.AddName("www.suricata.io", &cname.name));
    cname.type = 5;
    cname.ttl = 3597;
    cname.rdata_kind = 2;
    EXPECT_TRUE(ev.AddName("suricata.io", &cname.target));
    ev.answers[ev.answer_count++] = cname;
    worker::DnsRecordEvent::Answer a;
    EXPECT_TRUE(ev.AddName("suricata.io", &a.name));
    a.type = 1;
    a.ttl = 597;
    a.rdata_kind = 1;
    a.addr = Ip("35.212.0.44");
    ev.answers[ev.answer_count++] = a;
  }
  return ev;
}

TEST(EveDns, QueryAndAnswerInSuricata7Layout) {
  const std::string tuple =
      R"("timestamp":"2023-11-14T22:13:20.000000+0000","flow_id":77,"event_type":"dns",)"
      R"("src_ip":"10.20.1.23","src_port":51000,"dest_ip":"10.20.0.53","dest_port":53,)"
      R"("proto":"UDP","pkt_src":"wire/pcap",)";
  const auto query = FormatDns(DnsEvent(false));
  ASSERT_EQ(query.size(), 1u);
  EXPECT_EQ(query[0], "{" + tuple +
                          R"("dns":{"version":2,"type":"query","id":0,"rrname":"www.suricata.io",)"
                          R"("rrtype":"A","tx_id":0,"opcode":0}})");
  const auto answer = FormatDns(DnsEvent(true));
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(answer[0],
            "{" + tuple +
                R"("dns":{"version":2,"type":"answer","id":0,"flags":"8180","qr":true,"rd":true,)"
                R"("ra":true,"opcode":0,"rrname":"www.suricata.io","rrtype":"A",)"
                R"("rcode":"NOERROR","answers":[{"rrname":"www.suricata.io","rrtype":"CNAME",)"
                R"("ttl":3597,"rdata":"suricata.io"},{"rrname":"suricata.io","rrtype":"A",)"
                R"("ttl":597,"rdata":"35.212.0.44"}]}})");
}

TEST(EveDns, BytesPrintAsSuricataPrintsThem) {
  // TXT and NULL rdata are bytes; as Suricata's JSON builder, a byte from 0x80 prints as \xNN,
  // the case of names is kept.
  worker::DnsRecordEvent ev = DnsEvent(true);
  ev.answer_count = 0;
  worker::DnsRecordEvent::Answer t;
  ASSERT_TRUE(ev.AddName("Tunnel.Example", &t.name));
  t.type = 16;
  t.rdata_kind = 3;
  ASSERT_TRUE(ev.AddName(std::string("v=1 \xca\x01", 6), &t.target));
  ev.answers[ev.answer_count++] = t;
  const auto j = nlohmann::json::parse(FormatDns(ev)[0]);
  EXPECT_EQ(j["dns"]["answers"][0]["rrname"], "Tunnel.Example");
  EXPECT_EQ(j["dns"]["answers"][0]["rrtype"], "TXT");
  EXPECT_EQ(j["dns"]["answers"][0]["rdata"], "v=1 \\xca\x01");
}

TEST(EveDns, NamesAreStoredOnceAndPoolOverflowIsRefused) {
  worker::DnsRecordEvent ev = DnsEvent(true);
  // "www.suricata.io" and "suricata.io" were each copied once.
  EXPECT_EQ(ev.pool_used,
            std::string("www.suricata.io").size() + std::string("suricata.io").size());
  const std::string big(200, 'a');
  worker::DnsRecordEvent::NameRef r;
  size_t stored = 0;
  while (ev.AddName(big + std::to_string(stored), &r)) ++stored;
  EXPECT_EQ(stored, (worker::DnsRecordEvent::kNamePool - 26) / 201);
  EXPECT_LE(ev.pool_used, worker::DnsRecordEvent::kNamePool);
}

TEST(EveDns, RequestWithSeveralQueriesGivesOneLineEachAndCodesHaveNames) {
  worker::DnsRecordEvent ev = DnsEvent(false);
  worker::DnsRecordEvent::Query q;
  ASSERT_TRUE(ev.AddName("example.org", &q.name));
  q.type = 28;
  ev.queries[ev.query_count++] = q;
  ev.raw_flags |= 0x0040;  // z
  const auto lines = FormatDns(ev);
  ASSERT_EQ(lines.size(), 2u);
  const auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second["dns"]["rrname"], "example.org");
  EXPECT_EQ(second["dns"]["rrtype"], "AAAA");
  EXPECT_EQ(second["dns"]["z"], true);
  EXPECT_EQ(DnsRcodeName(3), "NXDOMAIN");
  EXPECT_EQ(DnsRcodeName(15), "15");
  EXPECT_EQ(DnsTypeName(65), "HTTPS");
  EXPECT_EQ(DnsTypeName(4242), "4242");
  // Suricata 7's own table: names it knows (spelling included), digits for the others.
  EXPECT_EQ(DnsTypeName(44), "SSHFP");
  EXPECT_EQ(DnsTypeName(10), "NULL");
  EXPECT_EQ(DnsTypeName(256), "URI");
  EXPECT_EQ(DnsTypeName(60), "CDSNKEY");
  EXPECT_EQ(DnsTypeName(252), "252");  // AXFR
  EXPECT_EQ(DnsTypeName(257), "257");  // CAA
  // A response with NXDOMAIN and no answers prints no "answers" key.
  worker::DnsRecordEvent nx = DnsEvent(true);
  nx.raw_flags = 0x8183;
  nx.answer_count = 0;
  const auto j = nlohmann::json::parse(FormatDns(nx)[0]);
  EXPECT_EQ(j["dns"]["rcode"], "NXDOMAIN");
  EXPECT_EQ(j["dns"]["flags"], "8183");
  EXPECT_FALSE(j["dns"].contains("answers"));
}

// ---------------------------------------------------------------------------------------------

class EveFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/eve_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::vector<std::string> Lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }

  std::string dir_;
};

TEST_F(EveFileTest, AppendsAndCreates) {
  const std::string path = dir_ + "/eve.json";
  { std::ofstream(path) << "{\"old\":1}\n"; }
  EveFile f;
  std::string err;
  ASSERT_TRUE(f.Open(path, &err)) << err;
  EXPECT_TRUE(f.Write(R"({"a":1})"));
  EXPECT_TRUE(f.Write(R"({"b":2})"));
  EXPECT_EQ(f.lines_written(), 0u);  // buffered
  EXPECT_TRUE(f.Flush());
  EXPECT_EQ(f.lines_written(), 2u);
  EXPECT_EQ(Lines(path), (std::vector<std::string>{"{\"old\":1}", "{\"a\":1}", "{\"b\":2}"}));
  // A new file is created.
  EveFile g;
  ASSERT_TRUE(g.Open(dir_ + "/new.json", &err)) << err;
  g.Write("x");
  g.Close();
  EXPECT_EQ(Lines(dir_ + "/new.json"), std::vector<std::string>{"x"});
  EXPECT_EQ(g.write_errors(), 0u);
}

TEST_F(EveFileTest, LargeVolumeIsWrittenWithoutExplicitFlush) {
  const std::string path = dir_ + "/eve.json";
  EveFile f;
  std::string err;
  ASSERT_TRUE(f.Open(path, &err)) << err;
  const std::string line(200, 'x');
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(f.Write(line));
  EXPECT_GT(f.lines_written(), 0u);  // the buffer filled and was written
  EXPECT_GT(std::filesystem::file_size(path), 0u);
  f.Close();
  EXPECT_EQ(f.lines_written(), 2000u);
  EXPECT_EQ(Lines(path).size(), 2000u);
}

TEST_F(EveFileTest, ReopenAfterRenameLosesNothing) {
  const std::string path = dir_ + "/eve.json";
  const std::string rotated = dir_ + "/eve.json.1";
  EveFile f;
  std::string err;
  ASSERT_TRUE(f.Open(path, &err)) << err;
  ASSERT_TRUE(f.Write("1"));
  ASSERT_TRUE(f.Flush());
  ASSERT_TRUE(f.Write("2"));  // still buffered when logrotate renames the file
  ASSERT_TRUE(f.Write("3"));
  std::filesystem::rename(path, rotated);
  ASSERT_TRUE(f.Reopen(&err)) << err;
  ASSERT_TRUE(f.Write("4"));
  ASSERT_TRUE(f.Write("5"));
  f.Close();
  EXPECT_EQ(Lines(rotated), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(Lines(path), (std::vector<std::string>{"4", "5"}));
  EXPECT_EQ(f.lines_written(), 5u);
  EXPECT_EQ(f.write_errors(), 0u);
  EXPECT_EQ(f.failed_writes(), 0u);
}

TEST_F(EveFileTest, FailedReopenKeepsWritingToOldFile) {
  const std::string sub = dir_ + "/logs";
  std::filesystem::create_directory(sub);
  const std::string path = sub + "/eve.json";
  const std::string moved = dir_ + "/moved.json";
  EveFile f;
  std::string err;
  ASSERT_TRUE(f.Open(path, &err)) << err;
  f.Write("a");
  std::filesystem::rename(path, moved);
  std::filesystem::remove(sub);  // the path can no longer be created
  EXPECT_FALSE(f.Reopen(&err));
  EXPECT_NE(err.find(path), std::string::npos) << err;
  f.Write("b");
  EXPECT_TRUE(f.Flush());
  EXPECT_EQ(Lines(moved), (std::vector<std::string>{"a", "b"}));
}

TEST_F(EveFileTest, OpenFailureAndWritesWhenClosed) {
  EveFile f;
  std::string err;
  EXPECT_FALSE(f.Open(dir_ + "/missing/dir/eve.json", &err));
  EXPECT_NE(err.find("missing/dir/eve.json"), std::string::npos) << err;
  EXPECT_FALSE(f.is_open());
  EXPECT_FALSE(f.Write("lost"));
  EXPECT_EQ(f.write_errors(), 1u);
  EXPECT_FALSE(f.Reopen(&err));
}

TEST_F(EveFileTest, WriteErrorsAreCountedNotThrown) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  EveFile f;
  std::string err;
  ASSERT_TRUE(f.Open("/dev/full", &err)) << err;
  EXPECT_TRUE(f.Write("x"));  // accepted into the buffer
  EXPECT_FALSE(f.Flush());    // ENOSPC: counted, the line kept for a retry
  EXPECT_GE(f.failed_writes(), 1u);
  EXPECT_EQ(f.write_errors(), 0u);
  EXPECT_EQ(f.lines_written(), 0u);
  // The backlog is capped: past it, records are given up and counted.
  const std::string line(4096, 'y');
  uint64_t refused = 0;
  for (int i = 0; i < 5000; ++i) refused += f.Write(line) ? 0 : 1;
  EXPECT_GT(refused, 0u);
  EXPECT_LT(refused, 5000u);
  EXPECT_EQ(f.write_errors(), refused);
  // Closing gives up what is still buffered: every record is either written or counted.
  f.Close();
  EXPECT_EQ(f.lines_written() + f.write_errors(), 5001u);
}

TEST_F(EveFileTest, APartWrittenLineCountsOnlyOnceWhole) {
  // The file size limit makes write(2) take part of the buffer and then refuse (EFBIG): lines
  // written count only the whole ones, and the rest follows once the file takes it.
  struct rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  const std::string path = dir_ + "/eve.json";
  EveFile f;
  std::string err;
  ASSERT_TRUE(f.Open(path, &err)) << err;
  const std::string line(29, 'z');  // 30 bytes with its newline
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(f.Write(line));
  struct rlimit limit = old_limit;
  limit.rlim_cur = 100;  // three lines and a third of the fourth
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  EXPECT_FALSE(f.Flush());
  EXPECT_EQ(f.lines_written(), 3u);
  EXPECT_EQ(std::filesystem::file_size(path), 100u);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(f.Flush());
  EXPECT_EQ(f.lines_written(), 10u);
  EXPECT_TRUE(f.Write(line));
  f.Close();
  EXPECT_EQ(f.lines_written(), 11u);
  EXPECT_EQ(f.write_errors(), 0u);
  EXPECT_EQ(Lines(path), std::vector<std::string>(11, line));
}

TEST_F(EveFileTest, DashMeansStdout) {
  EveFile f;
  std::string err;
  ASSERT_TRUE(f.Open("-", &err)) << err;
  EXPECT_TRUE(f.Write(R"({"event_type":"test"})"));
  EXPECT_TRUE(f.Flush());
  EXPECT_TRUE(f.Reopen(&err));
  EXPECT_EQ(f.lines_written(), 1u);
  f.Close();
  EXPECT_GE(::fcntl(STDOUT_FILENO, F_GETFD), 0);  // stdout was not closed
}

}  // namespace
}  // namespace fs::output
