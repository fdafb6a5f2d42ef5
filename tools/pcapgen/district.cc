#include "tools/pcapgen/district.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include "tools/pcapgen/byte_writer.h"
#include "tools/pcapgen/dns.h"
#include "tools/pcapgen/http.h"
#include "tools/pcapgen/pcap_writer.h"
#include "tools/pcapgen/rdp.h"
#include "tools/pcapgen/rng.h"
#include "tools/pcapgen/session.h"
#include "tools/pcapgen/smb2.h"
#include "tools/pcapgen/tls.h"

namespace fs::pcapgen {

namespace {

constexpr uint64_t kMs = 1000;
constexpr uint64_t kSecond = 1000000;
// Benign sessions start in [kBenignFrom, kBenignUntil) and finish well before five minutes.
constexpr uint64_t kBenignFrom = 1 * kSecond;
constexpr uint64_t kBenignUntil = 270 * kSecond;

// The district pack's story signatures (see docs and the district rules).
constexpr uint32_t kSidRdpExternal = 9000001;
constexpr uint32_t kSidSmbAdminShare = 9000010;
constexpr uint32_t kSidPsexecName = 9000011;
constexpr uint32_t kSidSvcctlPipe = 9000012;
constexpr uint32_t kSidRansomNoteName = 9000020;
constexpr uint32_t kSidRansomNoteText = 9000021;
constexpr uint32_t kSidLockedRename = 9000022;
// The same steps read through the SMB app layer (pack section 5).
constexpr uint32_t kSidSmbSvcctlPipe = 9000013;
constexpr uint32_t kSidSmbRansomNote = 9000023;
constexpr uint32_t kSidSmbMassRename = 9000024;
constexpr uint32_t kSidC2Dns = 9000030;
constexpr uint32_t kSidC2Http = 9000031;

constexpr const char* kDomain = "DISTRICT";
constexpr const char* kEdgeUserAgent =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/128.0.0.0 Safari/537.36 Edg/128.0.0.0";
constexpr const char* kChromebookUserAgent =
    "Mozilla/5.0 (X11; CrOS x86_64 15917.71.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/128.0.0.0 Safari/537.36";

// A workstation or Chromebook: its IPv4 identity, and an IPv6 one when it is dual-stacked.
struct Client {
  Host v4;
  Host v6;  // ip empty: IPv4 only
  bool windows = true;
  std::string name;  // NetBIOS computer name
  std::string user;  // sAMAccountName of who is logged on
};

// An external web service.
struct Site {
  std::string name;
  std::string cname;  // CDN alias the resolver answers with, or empty
  Host v4;
  Host v6;  // ip empty: no AAAA record
  bool https = true;
  std::string server;  // Server header (HTTP sites)
  uint32_t rtt_us = 20000;
  uint32_t max_object = 200000;
};

Mac MacFor(uint32_t a, uint32_t b) {
  // Locally administered unicast addresses, stable per host.
  return Mac{0x02,
             0x20,
             static_cast<uint8_t>(a >> 8),
             static_cast<uint8_t>(a),
             static_cast<uint8_t>(b >> 8),
             static_cast<uint8_t>(b)};
}

Host Internal(std::string ip, Mac mac, uint16_t vlan, uint8_t ttl) {
  Host h;
  h.ip = std::move(ip);
  h.mac = mac;
  h.vlan = vlan;
  h.ttl = ttl;
  h.internal = true;
  return h;
}

Host External(std::string ip, uint8_t ttl) {
  Host h;
  h.ip = std::move(ip);
  h.mac = kRouterMac;
  h.ttl = ttl;
  h.internal = false;
  return h;
}

std::string Dotted(int a, int b, int c, int d) {
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%d.%d.%d.%d", a, b, c, d);
  return buf;
}

// Words for generated page text. Nothing here may spell a story string.
const std::vector<std::string>& Words() {
  static const std::vector<std::string> kWords = {
      "the",     "lesson",  "students", "reading",  "class",   "homework", "science",
      "math",    "history", "project",  "schedule", "library", "teacher",  "notes",
      "review",  "unit",    "chapter",  "practice", "quiz",    "week",     "board",
      "parent",  "meeting", "lunch",    "menu",     "bus",     "route",    "calendar",
      "club",    "sports",  "art",      "music",    "field",   "trip",     "and",
      "for",     "with",    "our",      "new",      "spring",  "fall",     "semester",
      "welcome", "to",      "today",    "writing",  "lab",     "band",     "concert"};
  return kWords;
}

Bytes TextBody(Rng& rng, size_t size) {
  ByteWriter w;
  while (w.size() < size) {
    w.Text(rng.Pick(Words()));
    w.Text(rng.Percent(8) ? ".\n" : " ");
  }
  Bytes b = w.Take();
  b.resize(size);
  return b;
}

Bytes HtmlBody(Rng& rng, std::string_view title, size_t size) {
  ByteWriter w;
  w.Text("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
  w.Text(title).Text("</title><link rel=\"stylesheet\" href=\"/static/site.css\">");
  w.Text("<script src=\"/static/app.js\" defer></script></head>\n<body><main>\n");
  while (w.size() + 30 < size) {
    w.Text("<p>");
    const Bytes para = TextBody(rng, rng.Range(80, 600));
    w.Append(para).Text("</p>\n");
  }
  w.Text("</main></body></html>\n");
  return w.Take();
}

// A binary object with the right magic for its type, random otherwise.
Bytes BinaryBody(Rng& rng, std::string_view magic, size_t size) {
  Bytes b(magic.begin(), magic.end());
  rng.Fill(&b, size > b.size() ? size - b.size() : 0);
  return b;
}

Bytes FileContent(Rng& rng, std::string_view name, size_t size) {
  if (name.ends_with(".pdf")) return BinaryBody(rng, "%PDF-1.7\n", size);
  if (name.ends_with(".txt") || name.ends_with(".csv")) return TextBody(rng, size);
  return BinaryBody(rng, std::string_view("PK\x03\x04\x14\x00\x06\x00", 8), size);  // OOXML zip
}

}  // namespace

// Builds the whole capture in memory, then sorts and writes it. One instance per capture.
class DistrictGenerator {
 public:
  explicit DistrictGenerator(const DistrictOptions& options);
  void Generate(DistrictTruth* truth);
  const Capture& capture() const { return capture_; }

 private:
  // Ports: Windows hands out ephemeral TCP ports in sequence, UDP ports at random; a port is
  // never reused by a host for the same protocol, so every conversation is its own flow.
  uint16_t TcpPort(Rng& rng, const Host& h);
  uint16_t UdpPort(Rng& rng, const Host& h);
  bool Claim(const Host& h, uint8_t proto, uint16_t port);

  TcpTiming Timing(Rng& rng, const Client& c, uint32_t server_rtt_us) const;
  TruthFlow Record(std::string name, std::string proto, const Host& client, uint16_t cport,
                   const Host& server, uint16_t sport, uint64_t ts, std::vector<uint32_t> sids);

  // Benign building blocks. Each returns the time its conversation ended.
  uint64_t DnsLookup(Rng& rng, const Host& client, const Host& resolver, const std::string& name,
                     uint16_t qtype, const std::vector<dns::Answer>& answers, uint8_t rcode,
                     uint64_t t, TruthFlow* record = nullptr);
  uint64_t ResolveSite(Rng& rng, const Client& c, const Site& site, bool want_v6, uint64_t t);
  uint64_t TlsVisit(Rng& rng, const Client& c, const Site& site, bool v6, uint64_t t);
  uint64_t HttpVisit(Rng& rng, const Client& c, const Site& site, bool v6, uint64_t t,
                     TruthFlow* record = nullptr);
  void Browse(Rng& rng, const Client& c, uint64_t t);
  uint64_t FileShareSession(Rng& rng, const Client& c, uint64_t t, TruthFlow* record = nullptr,
                            bool lesson_plan = false);
  uint64_t RemoteDesktop(Rng& rng, const Client& c, uint64_t t, uint64_t duration,
                         TruthFlow* record = nullptr);
  void Exchange(TcpSession& s, Smb2Dialog& smb, const Smb2Exchange& ex, uint64_t think_us,
                uint64_t server_us);

  void AddBenign(Rng& rng);
  void AddControls(Rng& rng, DistrictTruth* truth);
  void AddStory(Rng& rng, DistrictTruth* truth);
  void StoryBruteForce(Rng& rng, uint64_t t, DistrictTruth* truth);
  void StoryPsexec(Rng& rng, uint64_t t, DistrictTruth* truth);
  void StoryC2(Rng& rng, uint64_t t, DistrictTruth* truth);
  void StoryRansomware(Rng& rng, uint64_t t, DistrictTruth* truth);

  DistrictOptions options_;
  Rng rng_;
  uint64_t start_;
  Capture capture_;
  uint64_t tcp_flows_ = 0, udp_flows_ = 0, icmp_flows_ = 0, arp_packets_ = 0;

  Host router_, router_v20_, resolver_, resolver_v6_, fs01_, jump_;
  std::vector<Client> staff_, students_;
  std::vector<Site> sites_;
  std::vector<std::string> users_;

  std::set<std::tuple<std::string, uint8_t, uint16_t>> used_ports_;
  std::set<std::pair<std::string, std::string>> ping_pairs_;
  std::vector<std::pair<std::string, uint16_t>> next_tcp_port_;
};

DistrictGenerator::DistrictGenerator(const DistrictOptions& options)
    : options_(options), rng_(options.seed), start_(options.start_ts_us) {
  router_ = Internal("10.20.0.1", kRouterMac, 0, 255);
  router_v20_ = Internal("10.20.20.1", kRouterMac, 20, 255);
  resolver_ = Internal("10.20.0.2", MacFor(0, 2), 0, 128);
  resolver_v6_ = Internal("fd00:20::2", MacFor(0, 2), 0, 128);
  fs01_ = Internal("10.20.0.10", MacFor(0, 10), 0, 128);
  jump_ = Internal("10.20.0.15", MacFor(0, 15), 0, 128);

  users_ = {"jsmith",  "mgarcia", "kjohnson",  "lnguyen",   "abrown",  "rdavis",   "tmiller",
            "swilson", "emoore",  "ctaylor",   "janderson", "dthomas", "pjackson", "mwhite",
            "hharris", "bmartin", "sthompson", "rlopez",    "klee",    "agonzalez"};
  // Staff workstations 10.20.1.10-129 on the native VLAN; every fourth is dual-stacked.
  for (int i = 10; i < 130; ++i) {
    Client c;
    c.v4 = Internal(Dotted(10, 20, 1, i), MacFor(1, static_cast<uint32_t>(i)), 0, 128);
    if (i % 4 == 0) {
      char v6[40];
      std::snprintf(v6, sizeof(v6), "fd00:20::1:%x", i);
      c.v6 = Internal(v6, c.v4.mac, 0, 128);
    }
    char name[24];
    std::snprintf(name, sizeof(name), "STAFF-PC-%03d", i);
    c.name = name;
    c.user = users_[static_cast<size_t>(i) % users_.size()];
    staff_.push_back(c);
  }
  // Student Chromebooks on VLAN 20 (10.20.20.0/24): Linux stacks, TTL 64.
  for (int i = 20; i < 100; ++i) {
    Client c;
    c.v4 = Internal(Dotted(10, 20, 20, i), MacFor(20, static_cast<uint32_t>(i)), 20, 64);
    c.windows = false;
    char name[24];
    std::snprintf(name, sizeof(name), "CB-%03d", i);
    c.name = name;
    students_.push_back(c);
  }

  struct SiteSpec {
    const char* name;
    const char* cname;
    bool https;
    bool v6;
    uint32_t rtt_ms;
    uint32_t max_object;
  };
  static constexpr SiteSpec kSites[] = {
      {"classroom.learnhub.example", "", true, true, 18, 150000},
      {"lms.coursework.example", "lms.cdn-edge.example", true, false, 32, 100000},
      {"docs.officesuite.example", "", true, true, 15, 120000},
      {"mail.officesuite.example", "", true, true, 15, 60000},
      {"video.edustream.example", "edge7.edustream-cdn.example", true, false, 24, 300000},
      {"www.encyclopedia.example", "", true, true, 41, 80000},
      {"search.findit.example", "", true, true, 12, 60000},
      {"assets.staticfiles.example", "", true, false, 9, 100000},
      {"quiz.studytools.example", "", true, false, 38, 80000},
      {"math.practicezone.example", "", true, false, 52, 60000},
      {"api.gradebook.example", "", true, false, 27, 30000},
      {"www.district.example", "", true, false, 6, 90000},
      {"telemetry.osvendor.example", "", true, true, 21, 8000},
      {"news.localpaper.example", "", false, false, 35, 60000},
      {"weather.forecast.example", "", false, false, 44, 40000},
      {"library.catalog.example", "", false, false, 29, 60000},
      {"ocsp.trustservices.example", "", false, false, 19, 3000},
      {"ctldl.osvendor.example", "", false, true, 21, 80000},
  };
  int n = 0;
  for (const SiteSpec& spec : kSites) {
    Site s;
    s.name = spec.name;
    s.cname = spec.cname;
    s.https = spec.https;
    s.rtt_us = spec.rtt_ms * 1000;
    s.max_object = spec.max_object;
    // Alternate between the two documentation ranges; .77 is the C2 server, never benign.
    const int last = 20 + n * 3;
    const uint8_t ttl = static_cast<uint8_t>((n % 3 == 0) ? 52 : (n % 3 == 1) ? 116 : 57);
    s.v4 = External(n % 2 == 0 ? Dotted(198, 51, 100, last) : Dotted(192, 0, 2, last), ttl);
    if (spec.v6) {
      char v6[40];
      std::snprintf(v6, sizeof(v6), "2001:db8:%x::%x", 0x100 + n, 0x10 + n);
      s.v6 = External(v6, ttl);
    }
    s.server = (n % 2 == 0) ? "nginx" : "Apache";
    sites_.push_back(s);
    ++n;
  }
}

bool DistrictGenerator::Claim(const Host& h, uint8_t proto, uint16_t port) {
  return used_ports_.emplace(h.ip, proto, port).second;
}

uint16_t DistrictGenerator::TcpPort(Rng& rng, const Host& h) {
  auto it = std::find_if(next_tcp_port_.begin(), next_tcp_port_.end(),
                         [&h](const auto& e) { return e.first == h.ip; });
  if (it == next_tcp_port_.end()) {
    next_tcp_port_.emplace_back(h.ip, static_cast<uint16_t>(rng.Range(49700, 58000)));
    it = std::prev(next_tcp_port_.end());
  }
  for (;;) {
    uint16_t p = it->second;
    it->second = p >= 65535 ? 49152 : static_cast<uint16_t>(p + 1);
    if (Claim(h, 6, p)) return p;
  }
}

uint16_t DistrictGenerator::UdpPort(Rng& rng, const Host& h) {
  for (;;) {
    const auto p = static_cast<uint16_t>(rng.Range(49152, 65535));
    if (Claim(h, 17, p)) return p;
  }
}

TcpTiming DistrictGenerator::Timing(Rng& rng, const Client& c, uint32_t server_rtt_us) const {
  TcpTiming t;
  // Wired staff PCs are a switch hop from the core; Chromebooks are on Wi-Fi.
  t.client_rtt_us = c.windows ? static_cast<uint32_t>(rng.Range(150, 600))
                              : static_cast<uint32_t>(rng.Range(1500, 6000));
  t.server_rtt_us = server_rtt_us + static_cast<uint32_t>(rng.Range(0, server_rtt_us / 8 + 1));
  t.client_gap_us = 12;
  // A remote server's back-to-back segments arrive spread out by the WAN bottleneck.
  t.server_gap_us = server_rtt_us > 2000 ? 110 : 12;
  return t;
}

TruthFlow DistrictGenerator::Record(std::string name, std::string proto, const Host& client,
                                    uint16_t cport, const Host& server, uint16_t sport, uint64_t ts,
                                    std::vector<uint32_t> sids) {
  TruthFlow f;
  f.name = std::move(name);
  f.proto = std::move(proto);
  f.client_ip = client.ip;
  f.client_port = cport;
  f.server_ip = server.ip;
  f.server_port = sport;
  std::sort(sids.begin(), sids.end());
  f.sids = std::move(sids);
  f.first_ts_us = ts;
  return f;
}

uint64_t DistrictGenerator::DnsLookup(Rng& rng, const Host& client, const Host& resolver,
                                      const std::string& name, uint16_t qtype,
                                      const std::vector<dns::Answer>& answers, uint8_t rcode,
                                      uint64_t t, TruthFlow* record) {
  const uint16_t port = UdpPort(rng, client);
  UdpFlow flow(&capture_, &rng, client, port, resolver, 53);
  ++udp_flows_;
  const auto id = static_cast<uint16_t>(rng.Next());
  flow.Send(Dir::kToServer, t, dns::Query(id, name, qtype));
  // A cache hit answers in well under a millisecond; a miss waits for the upstream servers.
  const uint64_t answer_at =
      t + (rng.Percent(60) ? rng.Range(150, 900) : rng.Range(4 * kMs, 45 * kMs));
  flow.Send(Dir::kToClient, answer_at, dns::Response(id, name, qtype, answers, rcode));
  if (record != nullptr) *record = Record("", "udp", client, port, resolver, 53, t, {});
  return answer_at;
}

uint64_t DistrictGenerator::ResolveSite(Rng& rng, const Client& c, const Site& site, bool want_v6,
                                        uint64_t t) {
  std::vector<dns::Answer> a_answers, aaaa_answers;
  if (!site.cname.empty()) {
    a_answers.push_back({dns::kTypeCname, site.cname, 3600});
    aaaa_answers.push_back({dns::kTypeCname, site.cname, 3600});
  }
  const auto ttl = static_cast<uint32_t>(rng.Pick(std::vector<uint32_t>{60, 300, 300, 3600}));
  a_answers.push_back({dns::kTypeA, site.v4.ip, ttl});
  if (!site.v6.ip.empty()) aaaa_answers.push_back({dns::kTypeAaaa, site.v6.ip, ttl});

  // Dual-stacked PCs ask for A and AAAA in parallel, half of the time over IPv6 transport.
  const bool v6_transport = !c.v6.ip.empty() && rng.Percent(50);
  const Host& from = v6_transport ? c.v6 : c.v4;
  const Host& resolver = v6_transport ? resolver_v6_ : resolver_;
  uint64_t done = DnsLookup(rng, from, resolver, site.name, dns::kTypeA, a_answers, 0, t);
  if (want_v6 || !c.v6.ip.empty()) {
    done = std::max(done, DnsLookup(rng, from, resolver, site.name, dns::kTypeAaaa, aaaa_answers, 0,
                                    t + rng.Range(20, 400)));
  }
  return done;
}

uint64_t DistrictGenerator::TlsVisit(Rng& rng, const Client& c, const Site& site, bool v6,
                                     uint64_t t) {
  const Host& client = v6 ? c.v6 : c.v4;
  const Host& server = v6 ? site.v6 : site.v4;
  TcpSession s(&capture_, &rng, client, TcpPort(rng, client), server, 443, t,
               Timing(rng, c, site.rtt_us));
  ++tcp_flows_;
  s.Open();
  TlsConversation tls(&rng, site.name, site.name, rng.Percent(70), true, t);
  s.Send(Dir::kToServer, tls.ClientHello());
  s.Send(Dir::kToClient, tls.ServerFlight(), rng.Range(300, 3000));
  s.Send(Dir::kToServer, tls.ClientFinish(), rng.Range(200, 800));
  s.Send(Dir::kToClient, tls.ServerFinish(), rng.Range(100, 1500));
  const uint64_t rounds = rng.Range(1, 4);
  for (uint64_t i = 0; i < rounds; ++i) {
    const uint64_t think = i == 0 ? rng.Range(50, 500) : rng.Range(20 * kMs, 2500 * kMs);
    s.Send(Dir::kToServer, tls.AppData(rng.Range(350, 1400)), think);
    s.Send(Dir::kToClient, tls.AppData(rng.HeavyTail(600, site.max_object)),
           rng.Range(2 * kMs, 60 * kMs));
  }
  const uint64_t close = rng.Below(10);
  if (close < 6) {
    s.Send(Dir::kToServer, tls.CloseNotify(), rng.Range(100 * kMs, 4000 * kMs));
    s.Close(Dir::kToServer);
  } else if (close < 9) {
    s.Send(Dir::kToClient, tls.CloseNotify(), rng.Range(1000 * kMs, 5000 * kMs));
    s.Close(Dir::kToClient);
  } else {
    s.Reset(Dir::kToServer, rng.Range(100 * kMs, 3000 * kMs));
  }
  return s.last_ts_us();
}

uint64_t DistrictGenerator::HttpVisit(Rng& rng, const Client& c, const Site& site, bool v6,
                                      uint64_t t, TruthFlow* record) {
  const Host& client = v6 ? c.v6 : c.v4;
  const Host& server = v6 ? site.v6 : site.v4;
  const uint16_t port = TcpPort(rng, client);
  TcpSession s(&capture_, &rng, client, port, server, 80, t, Timing(rng, c, site.rtt_us));
  ++tcp_flows_;
  if (record != nullptr) *record = Record("", "tcp", client, port, server, 80, t, {});
  s.Open();
  const std::string ua = c.windows ? kEdgeUserAgent : kChromebookUserAgent;
  const http::Headers browser = {
      {"User-Agent", ua},
      {"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
      {"Accept-Encoding", "gzip, deflate"},
      {"Accept-Language", "en-US,en;q=0.9"},
      {"Connection", "keep-alive"}};
  const uint64_t now = s.ReadyAt(Dir::kToServer);
  if (site.name.starts_with("ocsp.")) {
    // Windows' certificate revocation check: a small DER request, a small DER response.
    Bytes req_body = BinaryBody(rng, std::string_view("\x30\x44\x30\x42", 4), 70);
    s.Send(Dir::kToServer,
           http::Request("POST", "/", site.name,
                         {{"Cache-Control", "no-cache"},
                          {"Connection", "Keep-Alive"},
                          {"Accept", "*/*"},
                          {"Content-Type", "application/ocsp-request"},
                          {"User-Agent", "Microsoft-CryptoAPI/10.0"}},
                         req_body),
           rng.Range(50, 400));
    s.Send(Dir::kToClient,
           http::Response(
               200, "OK", now, site.server,
               {{"Content-Type", "application/ocsp-response"},
                {"Cache-Control", "max-age=86400, public"}},
               BinaryBody(rng, std::string_view("\x30\x82\x01\xd3", 4), rng.Range(400, 1500))),
           rng.Range(2 * kMs, 20 * kMs));
  } else if (site.name.starts_with("ctldl.")) {
    // The Windows certificate trust list refresh.
    s.Send(
        Dir::kToServer,
        http::Request("GET", "/msdownload/update/v3/static/trustedr/en/authrootstl.cab", site.name,
                      {{"Connection", "Keep-Alive"},
                       {"Accept", "*/*"},
                       {"User-Agent", "Microsoft-CryptoAPI/10.0"}}),
        rng.Range(50, 400));
    s.Send(Dir::kToClient,
           http::Response(200, "OK", now, site.server,
                          {{"Content-Type", "application/vnd.ms-cab-compressed"},
                           {"Last-Modified", "Tue, 08 Sep 2026 19:45:12 GMT"},
                           {"Accept-Ranges", "bytes"}},
                          BinaryBody(rng, "MSCF", rng.Range(20000, site.max_object))),
           rng.Range(2 * kMs, 20 * kMs));
  } else {
    static const std::vector<std::string> kPages = {
        "/", "/index.html", "/today", "/schedule", "/events", "/search?q=science+fair"};
    const uint64_t requests = rng.Range(1, 4);
    for (uint64_t i = 0; i < requests; ++i) {
      std::string target, type;
      Bytes body;
      const uint64_t size = rng.HeavyTail(300, site.max_object);
      if (i == 0) {
        target = rng.Pick(kPages);
        type = "text/html; charset=utf-8";
        body = HtmlBody(rng, site.name, size);
      } else if (i == 1) {
        target = "/static/app.js";
        type = "application/javascript";
        body = TextBody(rng, size);
      } else {
        char img[48];
        std::snprintf(img, sizeof(img), "/images/photo-%u.png",
                      static_cast<unsigned>(rng.Range(100, 999)));
        target = img;
        type = "image/png";
        body = BinaryBody(rng, std::string_view("\x89PNG\r\n\x1a\n", 8), size);
      }
      s.Send(Dir::kToServer, http::Request("GET", target, site.name, browser),
             i == 0 ? rng.Range(50, 400) : rng.Range(1 * kMs, 30 * kMs));
      s.Send(Dir::kToClient,
             http::Response(200, "OK", s.ReadyAt(Dir::kToClient), site.server,
                            {{"Content-Type", type}, {"Cache-Control", "max-age=600"}}, body),
             rng.Range(3 * kMs, 80 * kMs));
    }
  }
  if (rng.Percent(70)) {
    s.Close(Dir::kToServer, rng.Range(200 * kMs, 5000 * kMs));
  } else {
    s.Close(Dir::kToClient, rng.Range(1000 * kMs, 6000 * kMs));  // server keep-alive timeout
  }
  return s.last_ts_us();
}

void DistrictGenerator::Browse(Rng& rng, const Client& c, uint64_t t) {
  const Site& site = sites_[rng.Below(sites_.size())];
  const bool v6 = !c.v6.ip.empty() && !site.v6.ip.empty();
  const uint64_t resolved = ResolveSite(rng, c, site, v6, t);
  // Browsers open a few connections in parallel to the same server.
  const uint64_t conns = site.https ? rng.Range(1, 3) : rng.Range(1, 2);
  for (uint64_t i = 0; i < conns; ++i) {
    const uint64_t at = resolved + rng.Range(200, 2000) + i * rng.Range(0, 40 * kMs);
    if (site.https) {
      TlsVisit(rng, c, site, v6, at);
    } else {
      HttpVisit(rng, c, site, v6, at);
    }
  }
}

void DistrictGenerator::Exchange(TcpSession& s, Smb2Dialog& smb, const Smb2Exchange& ex,
                                 uint64_t think_us, uint64_t server_us) {
  smb.set_now_us(s.ReadyAt(Dir::kToServer) + think_us);
  s.Send(Dir::kToServer, ex.request, think_us);
  s.Send(Dir::kToClient, ex.response, server_us);
}

uint64_t DistrictGenerator::FileShareSession(Rng& rng, const Client& c, uint64_t t,
                                             TruthFlow* record, bool lesson_plan) {
  const uint16_t port = TcpPort(rng, c.v4);
  TcpSession s(&capture_, &rng, c.v4, port, fs01_, 445, t, Timing(rng, c, 200));
  ++tcp_flows_;
  if (record != nullptr) *record = Record("", "tcp", c.v4, port, fs01_, 445, t, {});
  s.Open();
  Smb2Dialog smb(&rng, "FS01", t);
  // SMB2 builds a fresh message for every exchange; `fast` is a server's turnaround.
  auto fast = [&rng] { return rng.Range(80, 900); };
  Exchange(s, smb, smb.Negotiate(), rng.Range(100, 400), fast());
  Exchange(s, smb, smb.SessionSetupNegotiate(), rng.Range(100, 400), fast());
  Exchange(s, smb, smb.SessionSetupAuth(kDomain, c.user, c.name), rng.Range(100, 400),
           rng.Range(1 * kMs, 6 * kMs));  // the server asks the domain controller
  static const std::vector<std::string> kShares = {"students", "staff", "curriculum"};
  const std::string share = lesson_plan ? "students" : rng.Pick(kShares);
  Exchange(s, smb, smb.TreeConnect("\\\\fs01\\" + share), rng.Range(100, 500), fast());
  if (rng.Percent(40)) {
    Exchange(s, smb,
             smb.Create("desktop.ini", Smb2Dialog::Open::kRead, 0, smb2::kStatusObjectNameNotFound),
             rng.Range(100, 900), fast());
  }
  static const std::vector<std::string> kFiles = {
      "lesson-plan.docx",     "week3-lesson-plan.docx",   "syllabus-2026.pdf",
      "reading-list.docx",    "field-trip-form.pdf",      "seating-chart.xlsx",
      "math-worksheet-4.pdf", "science-fair-rubric.docx", "parent-letter.docx",
      "bus-schedule.pdf",     "club-roster.xlsx",         "notes.txt"};
  const uint64_t files = lesson_plan ? 1 : rng.Range(1, 4);
  for (uint64_t f = 0; f < files; ++f) {
    const std::string name = lesson_plan ? "lesson-plan.docx" : rng.Pick(kFiles);
    const uint64_t size = rng.HeavyTail(2000, 400000);
    const Bytes content = FileContent(rng, name, size);
    const bool save = !lesson_plan && rng.Percent(25);
    const uint64_t user_think =
        f == 0 ? rng.Range(1 * kMs, 50 * kMs) : rng.Range(500 * kMs, 8000 * kMs);
    Exchange(s, smb,
             smb.Create(name, save ? Smb2Dialog::Open::kOverwrite : Smb2Dialog::Open::kRead, size),
             user_think, fast());
    for (uint64_t off = 0; off < content.size(); off += 65536) {
      const size_t n = std::min<size_t>(65536, content.size() - off);
      const Bytes chunk(content.begin() + static_cast<std::ptrdiff_t>(off),
                        content.begin() + static_cast<std::ptrdiff_t>(off + n));
      Exchange(s, smb, save ? smb.Write(off, chunk) : smb.Read(off, chunk), rng.Range(30, 200),
               fast());
    }
    Exchange(s, smb, smb.Close(), rng.Range(100, 2000), fast());
  }
  Exchange(s, smb, smb.TreeDisconnect(), rng.Range(1000 * kMs, 10000 * kMs), fast());
  Exchange(s, smb, smb.Logoff(), rng.Range(100, 500), fast());
  s.Close(Dir::kToServer, rng.Range(100, 2000));
  return s.last_ts_us();
}

uint64_t DistrictGenerator::RemoteDesktop(Rng& rng, const Client& c, uint64_t t, uint64_t duration,
                                          TruthFlow* record) {
  const uint16_t port = TcpPort(rng, c.v4);
  TcpSession s(&capture_, &rng, c.v4, port, jump_, 3389, t, Timing(rng, c, 250));
  ++tcp_flows_;
  if (record != nullptr) *record = Record("", "tcp", c.v4, port, jump_, 3389, t, {});
  s.Open();
  s.Send(Dir::kToServer, rdp::ConnectionRequest(c.user, rdp::kProtocolSsl | rdp::kProtocolHybrid |
                                                            rdp::kProtocolHybridEx));
  s.Send(Dir::kToClient, rdp::ConnectionConfirm(rdp::kProtocolHybrid), rng.Range(300, 1500));
  TlsConversation tls(&rng, "", "RDS01.district.example", false, false, t);
  s.Send(Dir::kToServer, tls.ClientHello(), rng.Range(200, 800));
  s.Send(Dir::kToClient, tls.ServerFlight(), rng.Range(500, 3000));
  s.Send(Dir::kToServer, tls.ClientFinish(), rng.Range(1 * kMs, 5 * kMs));
  s.Send(Dir::kToClient, tls.ServerFinish(), rng.Range(200, 1000));
  // CredSSP (NTLM inside TLS), then the MCS connect and licensing exchanges: opaque here.
  for (int i = 0; i < 4; ++i) {
    s.Send(Dir::kToServer, tls.AppData(rng.Range(60, 700)), rng.Range(300, 3000));
    s.Send(Dir::kToClient, tls.AppData(rng.Range(60, 1200)), rng.Range(300, 8000));
  }
  // The interactive part: screen updates down, keyboard and mouse up, interleaved in time.
  uint64_t down = s.ReadyAt(Dir::kToClient), up = s.ReadyAt(Dir::kToServer);
  const uint64_t end = t + duration;
  while (down < end || up < end) {
    if (down <= up) {
      s.SendAt(Dir::kToClient, tls.AppData(rng.HeavyTail(80, 12000)), down);
      down += rng.Range(30 * kMs, 400 * kMs);
    } else {
      s.SendAt(Dir::kToServer, tls.AppData(rng.Range(20, 160)), up);
      up += rng.Range(80 * kMs, 900 * kMs);
    }
  }
  s.Close(Dir::kToServer, rng.Range(10 * kMs, 300 * kMs));
  return s.last_ts_us();
}

void DistrictGenerator::AddControls(Rng& rng, DistrictTruth* truth) {
  // A teacher RDPs to the jump host with the same cookie form the attacker uses; the source is
  // inside HOME_NET, so the external-RDP signature must stay silent.
  Client teacher = staff_[50 - 10];
  TruthFlow f;
  RemoteDesktop(rng, teacher, start_ + 20 * kSecond, 95 * kSecond, &f);
  f.name = "rdp-teacher-internal";
  truth->controls.push_back(f);
  // A staff member opens lesson-plan.docx on \\fs01\students.
  FileShareSession(rng, staff_[31 - 10], start_ + 75 * kSecond, &f, true);
  f.name = "smb-lesson-plan";
  truth->controls.push_back(f);
  // The victim's ordinary traffic before the compromise: a lookup and a web page.
  const Client& victim = staff_[23 - 10];
  const Site& news = sites_[13];
  DnsLookup(rng, victim.v4, resolver_, news.name, dns::kTypeA, {{dns::kTypeA, news.v4.ip, 300}}, 0,
            start_ + 31 * kSecond, &f);
  f.name = "dns-victim-benign";
  truth->controls.push_back(f);
  HttpVisit(rng, victim, news, false, start_ + 31 * kSecond + 60 * kMs, &f);
  f.name = "http-victim-benign";
  truth->controls.push_back(f);
}

void DistrictGenerator::StoryBruteForce(Rng& rng, uint64_t t, DistrictTruth* truth) {
  Host attacker = External("203.0.113.66", 49);
  static const std::vector<std::string> kUsers = {
      "administrator", "admin", "scanner", "Administrator", "user", "test",   "backup",
      "guest",         "rdp",   "support", "helpdesk",      "it",   "admin1", "sysadmin"};
  for (int i = 0; i < 40; ++i) {
    uint16_t port;
    do {
      port = static_cast<uint16_t>(rng.Range(32768, 60999));  // Linux: random ephemeral ports
    } while (!Claim(attacker, 6, port));
    TcpTiming timing;
    timing.client_rtt_us = static_cast<uint32_t>(rng.Range(58000, 66000));
    timing.server_rtt_us = static_cast<uint32_t>(rng.Range(200, 500));
    timing.client_gap_us = 110;
    TcpSession s(&capture_, &rng, attacker, port, jump_, 3389, t, timing);
    ++tcp_flows_;
    s.Open();
    s.Send(Dir::kToServer, rdp::ConnectionRequest(kUsers[static_cast<size_t>(i) % kUsers.size()],
                                                  rdp::kProtocolSsl | rdp::kProtocolHybrid));
    s.Send(Dir::kToClient, rdp::ConnectionConfirm(rdp::kProtocolHybrid), rng.Range(400, 2000));
    if (i % 3 == 2) {
      s.Reset(Dir::kToServer, rng.Range(100, 3000));
    } else {
      s.Close(Dir::kToServer, rng.Range(100, 3000));
    }
    char name[32];
    std::snprintf(name, sizeof(name), "rdp-bruteforce-%02d", i + 1);
    truth->flows.push_back(Record(name, "tcp", attacker, port, jump_, 3389, t, {kSidRdpExternal}));
    t += rng.Range(700 * kMs, 1600 * kMs);
  }
}

void DistrictGenerator::StoryPsexec(Rng& rng, uint64_t t, DistrictTruth* truth) {
  Client jump;
  jump.v4 = jump_;
  jump.name = "RDS01";
  const Host victim = staff_[23 - 10].v4;
  const uint16_t port = TcpPort(rng, jump_);
  TcpTiming timing;
  timing.client_rtt_us = 250;
  timing.server_rtt_us = 300;
  TcpSession s(&capture_, &rng, jump_, port, victim, 445, t, timing);
  ++tcp_flows_;
  s.Open();
  Smb2Dialog smb(&rng, "STAFF-PC-023", t);
  auto fast = [&rng] { return rng.Range(80, 700); };
  auto quick = [&rng] { return rng.Range(50, 400); };
  Exchange(s, smb, smb.Negotiate(), quick(), fast());
  Exchange(s, smb, smb.SessionSetupNegotiate(), quick(), fast());
  Exchange(s, smb, smb.SessionSetupAuth(kDomain, "administrator", "RDS01"), quick(),
           rng.Range(1 * kMs, 5 * kMs));
  Exchange(s, smb, smb.TreeConnect("\\\\10.20.1.23\\ADMIN$"), quick(), fast());
  // The service binary: a PE image, written in 64 KiB chunks.
  ByteWriter pe;
  pe.Text(std::string_view("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00", 16));
  pe.Zeros(44).Le32(0xe8);
  pe.Text("\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21");
  pe.Text("This program cannot be run in DOS mode.\r\r\n$");
  pe.Align(8);
  Bytes image = pe.Take();
  image.resize(0xe8, 0);
  image.insert(image.end(), {'P', 'E', 0, 0, 0x64, 0x86});
  rng.Fill(&image, 124000 - image.size());
  Exchange(s, smb, smb.Create("PSEXESVC.exe", Smb2Dialog::Open::kCreate, image.size()), quick(),
           fast());
  for (size_t off = 0; off < image.size(); off += 65536) {
    const size_t n = std::min<size_t>(65536, image.size() - off);
    Exchange(s, smb,
             smb.Write(off, Bytes(image.begin() + static_cast<std::ptrdiff_t>(off),
                                  image.begin() + static_cast<std::ptrdiff_t>(off + n))),
             quick(), fast());
  }
  Exchange(s, smb, smb.Close(), quick(), fast());
  Exchange(s, smb, smb.TreeConnect("\\\\10.20.1.23\\IPC$"), quick(), fast());
  Exchange(s, smb, smb.Create("svcctl", Smb2Dialog::Open::kPipe, 0), quick(), fast());
  Exchange(s, smb, smb.Write(0, dcerpc::BindSvcctl(2)), quick(), fast());
  Exchange(s, smb, smb.Read(0, dcerpc::BindAckSvcctl(2, static_cast<uint32_t>(rng.Next()))),
           quick(), fast());
  Exchange(s, smb, smb.Close(), rng.Range(2 * kMs, 20 * kMs), fast());
  Exchange(s, smb, smb.TreeDisconnect(), quick(), fast());
  Exchange(s, smb, smb.Logoff(), quick(), fast());
  s.Close(Dir::kToServer, quick());
  truth->flows.push_back(Record("smb-psexec", "tcp", jump_, port, victim, 445, t,
                                {kSidSmbAdminShare, kSidPsexecName, kSidSvcctlPipe,
                                 kSidSmbSvcctlPipe}));
}

void DistrictGenerator::StoryC2(Rng& rng, uint64_t t, DistrictTruth* truth) {
  const Client& victim = staff_[23 - 10];
  const std::string domain = "update-check.badcdn.example";
  TruthFlow dns_flow;
  const uint64_t answered = DnsLookup(rng, victim.v4, resolver_, domain, dns::kTypeA,
                                      {{dns::kTypeA, "198.51.100.77", 60}}, 0, t, &dns_flow);
  dns_flow.name = "dns-c2-lookup";
  dns_flow.sids = {kSidC2Dns};
  truth->flows.push_back(dns_flow);

  const Host c2 = External("198.51.100.77", 51);
  const uint64_t start = answered + rng.Range(300, 2000);
  const uint16_t port = TcpPort(rng, victim.v4);
  TcpSession s(&capture_, &rng, victim.v4, port, c2, 80, start, Timing(rng, victim, 48000));
  ++tcp_flows_;
  s.Open();
  s.Send(Dir::kToServer,
         http::Request("GET", "/gate.php?id=4f2a", domain,
                       {{"User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"},
                        {"Accept", "*/*"},
                        {"Connection", "close"}}),
         rng.Range(100, 500));
  s.Send(Dir::kToClient,
         http::Response(200, "OK", s.ReadyAt(Dir::kToClient), "nginx",
                        {{"Content-Type", "text/plain"}, {"Connection", "close"}},
                        ByteWriter().Text("task=wait;interval=300;k=9c1e77d04b").Take()),
         rng.Range(5 * kMs, 30 * kMs));
  s.Close(Dir::kToClient);
  truth->flows.push_back(
      Record("http-c2-checkin", "tcp", victim.v4, port, c2, 80, start, {kSidC2Http}));
}

void DistrictGenerator::StoryRansomware(Rng& rng, uint64_t t, DistrictTruth* truth) {
  const Client& victim = staff_[23 - 10];
  const uint16_t port = TcpPort(rng, victim.v4);
  TcpTiming timing;
  timing.client_rtt_us = 300;
  timing.server_rtt_us = 200;
  TcpSession s(&capture_, &rng, victim.v4, port, fs01_, 445, t, timing);
  ++tcp_flows_;
  s.Open();
  Smb2Dialog smb(&rng, "FS01", t);
  auto fast = [&rng] { return rng.Range(80, 700); };
  auto quick = [&rng] { return rng.Range(30, 300); };
  Exchange(s, smb, smb.Negotiate(), quick(), fast());
  Exchange(s, smb, smb.SessionSetupNegotiate(), quick(), fast());
  Exchange(s, smb, smb.SessionSetupAuth(kDomain, victim.user, victim.name), quick(),
           rng.Range(1 * kMs, 5 * kMs));
  Exchange(s, smb, smb.TreeConnect("\\\\fs01\\students"), quick(), fast());
  const std::string note =
      "YOUR FILES HAVE BEEN ENCRYPTED\r\n\r\n"
      "All documents, spreadsheets and backups on this network were locked with a strong key.\r\n"
      "Do not rename or modify them. To get them back, open the portal with your personal ID\r\n"
      "and follow the instructions. ID: 4f2a-91c3-d07e\r\n";
  Exchange(s, smb, smb.Create("RESTORE-MY-FILES.txt", Smb2Dialog::Open::kCreate, note.size()),
           quick(), fast());
  Exchange(s, smb, smb.Write(0, Bytes(note.begin(), note.end())), quick(), fast());
  Exchange(s, smb, smb.Close(), quick(), fast());
  // Read each file, overwrite it with ciphertext, rename it to *.locked.
  static const std::vector<std::string> kVictims = {"grades.xlsx", "attendance-2026.csv",
                                                    "iep-meeting-notes.docx", "report-cards.pdf"};
  for (const std::string& name : kVictims) {
    const uint64_t size = rng.Range(20000, 90000);
    Exchange(s, smb, smb.Create(name, Smb2Dialog::Open::kModify, size), quick(), fast());
    const Bytes plain = FileContent(rng, name, size);
    for (size_t off = 0; off < plain.size(); off += 65536) {
      const size_t n = std::min<size_t>(65536, plain.size() - off);
      Exchange(s, smb,
               smb.Read(off, Bytes(plain.begin() + static_cast<std::ptrdiff_t>(off),
                                   plain.begin() + static_cast<std::ptrdiff_t>(off + n))),
               quick(), fast());
    }
    for (size_t off = 0; off < plain.size(); off += 65536) {
      const size_t n = std::min<size_t>(65536, plain.size() - off);
      Exchange(s, smb, smb.Write(off, rng.Bytes(n)), quick(), fast());
    }
    Exchange(s, smb, smb.Close(), quick(), fast());
    Exchange(s, smb, smb.Create(name, Smb2Dialog::Open::kRename, size), quick(), fast());
    Exchange(s, smb, smb.Rename(name + ".locked"), quick(), fast());
    Exchange(s, smb, smb.Close(), quick(), fast());
  }
  Exchange(s, smb, smb.TreeDisconnect(), quick(), fast());
  Exchange(s, smb, smb.Logoff(), quick(), fast());
  s.Close(Dir::kToServer, quick());
  truth->flows.push_back(Record("smb-ransomware", "tcp", victim.v4, port, fs01_, 445, t,
                                {kSidRansomNoteName, kSidRansomNoteText, kSidLockedRename,
                                 kSidSmbRansomNote, kSidSmbMassRename}));
}

void DistrictGenerator::AddStory(Rng& rng, DistrictTruth* truth) {
  StoryBruteForce(rng, start_ + 45 * kSecond, truth);
  StoryPsexec(rng, start_ + 112 * kSecond, truth);
  StoryC2(rng, start_ + 141 * kSecond, truth);
  StoryRansomware(rng, start_ + 192 * kSecond, truth);
}

void DistrictGenerator::AddBenign(Rng& rng) {
  const uint64_t scale = std::max<uint32_t>(options_.scale, 1);
  auto when = [&rng, this] { return start_ + rng.Range(kBenignFrom, kBenignUntil); };
  auto any_client = [&rng, this]() -> const Client& {
    return rng.Percent(65) ? staff_[rng.Below(staff_.size())]
                           : students_[rng.Below(students_.size())];
  };
  for (uint64_t i = 0; i < 150 * scale; ++i) Browse(rng, any_client(), when());
  // Windows proxy auto-discovery: a name that never resolves.
  for (uint64_t i = 0; i < 12 * scale; ++i) {
    const Client& c = staff_[rng.Below(staff_.size())];
    DnsLookup(rng, c.v4, resolver_, "wpad.district.example", dns::kTypeA, {}, dns::kRcodeNxDomain,
              when());
  }
  for (uint64_t i = 0; i < 20 * scale; ++i) {
    FileShareSession(rng, staff_[rng.Below(staff_.size())], when());
  }
  for (uint64_t i = 0; i < 2 * scale; ++i) {
    const Client& c = staff_[rng.Below(staff_.size())];
    const uint64_t t = start_ + rng.Range(kBenignFrom, 150 * kSecond);
    RemoteDesktop(rng, c, t, rng.Range(20 * kSecond, 100 * kSecond));
  }
  // Pings: a help-desk check of the file server, or of an outside host (over IPv6 from a
  // dual-stacked PC when the host has an address). One series per address pair.
  std::vector<const Site*> v6_sites;
  for (const Site& s : sites_) {
    if (!s.v6.ip.empty()) v6_sites.push_back(&s);
  }
  std::vector<const Client*> dual_stack;
  for (const Client& c : staff_) {
    if (!c.v6.ip.empty()) dual_stack.push_back(&c);
  }
  for (uint64_t i = 0; i < 6 * scale; ++i) {
    // The first series is always ICMPv6, so every capture has some.
    const Client& c =
        i == 0 ? *dual_stack[rng.Below(dual_stack.size())] : staff_[rng.Below(staff_.size())];
    const uint64_t kind = i == 0 ? 2 : rng.Below(3);
    Host from = c.v4, to = fs01_;
    uint32_t rtt = static_cast<uint32_t>(rng.Range(200, 600));
    if (kind == 1) {
      const Site& site = sites_[rng.Below(sites_.size())];
      to = site.v4;
      rtt = site.rtt_us;
    } else if (kind == 2 && !c.v6.ip.empty()) {
      const Site& site = *v6_sites[rng.Below(v6_sites.size())];
      from = c.v6;
      to = site.v6;
      rtt = site.rtt_us;
    }
    if (!ping_pairs_.emplace(from.ip, to.ip).second) continue;
    AddPing(&capture_, from, to, when(), 1, static_cast<uint16_t>(rng.Range(1, 400)), 4, rtt);
    ++icmp_flows_;
  }
  // ARP for the gateway and the servers; students' VLAN has its own gateway address.
  for (uint64_t i = 0; i < 30 * scale; ++i) {
    if (rng.Percent(30)) {
      const Client& c = students_[rng.Below(students_.size())];
      AddArp(&capture_, c.v4, router_v20_, when(), static_cast<uint32_t>(rng.Range(100, 900)));
    } else {
      const Client& c = staff_[rng.Below(staff_.size())];
      const Host& target = rng.Percent(60) ? router_ : rng.Percent(50) ? fs01_ : resolver_;
      AddArp(&capture_, c.v4, target, when(), static_cast<uint32_t>(rng.Range(100, 900)));
    }
    arp_packets_ += 2;
  }
}

void DistrictGenerator::Generate(DistrictTruth* truth) {
  // Separate streams: the story and the controls come out the same at every scale, and claim
  // their ports first.
  Rng story_rng = rng_.Fork(1);
  Rng control_rng = rng_.Fork(2);
  Rng benign_rng = rng_.Fork(3);
  AddStory(story_rng, truth);
  AddControls(control_rng, truth);
  AddBenign(benign_rng);
  capture_.SortByTime();

  std::stable_sort(
      truth->flows.begin(), truth->flows.end(),
      [](const TruthFlow& a, const TruthFlow& b) { return a.first_ts_us < b.first_ts_us; });
  truth->packets = capture_.size();
  truth->bytes = capture_.bytes();
  truth->tcp_flows = tcp_flows_;
  truth->udp_flows = udp_flows_;
  truth->icmp_flows = icmp_flows_;
  truth->flows_total = tcp_flows_ + udp_flows_ + icmp_flows_;
  truth->arp_packets = arp_packets_;
  if (capture_.size() > 0) {
    truth->first_ts_us = capture_.ts_us(0);
    truth->last_ts_us = capture_.ts_us(capture_.size() - 1);
  }
}

bool WriteDistrictCapture(const std::string& path, const DistrictOptions& options,
                          DistrictTruth* truth, std::string* error) {
  // Open first: a bad path should fail before seconds of generation.
  PcapWriter writer;
  std::string open_error;
  if (!writer.Open(path, &open_error)) {
    if (error != nullptr) *error = open_error;
    return false;
  }
  DistrictTruth local;
  DistrictTruth* t = truth != nullptr ? truth : &local;
  *t = DistrictTruth{};
  DistrictGenerator gen(options);
  try {
    gen.Generate(t);
  } catch (const std::exception& e) {
    // PacketBuilder reports a malformed address literal by exception: a generator bug.
    if (error != nullptr) *error = std::string("district capture generation failed: ") + e.what();
    return false;
  }
  const Capture& cap = gen.capture();
  Bytes frame;
  for (size_t i = 0; i < cap.size(); ++i) {
    frame.assign(cap.data(i), cap.data(i) + cap.len(i));
    if (!writer.Write(cap.ts_us(i), frame)) {
      if (error != nullptr) *error = writer.last_error();
      return false;
    }
  }
  if (!writer.Close()) {
    if (error != nullptr) *error = writer.last_error();
    return false;
  }
  return true;
}

}  // namespace fs::pcapgen
