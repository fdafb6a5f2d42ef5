#include "tools/pcapgen/bench_profiles.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <string_view>
#include <unordered_map>

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

const std::vector<BenchProfileInfo>& BenchProfiles() {
  static const std::vector<BenchProfileInfo> kProfiles = {
      {BenchProfile::kImix, "imix",
       "district traffic mix (TLS/HTTP web, DNS, SMB, RDP, NTP, ICMP, ARP) for benchmarks", 300000},
      {BenchProfile::kSmall, "small",
       "64-byte frames: TCP without payload, round-robin over --flows concurrent flows", 1000000},
      {BenchProfile::kElephant, "elephant", "a few long TLS downloads and SMB file copies", 150000},
      {BenchProfile::kShortFlows, "short-flows",
       "many short conversations, mostly DNS, some one-request HTTP/TLS", 300000},
      {BenchProfile::kAttack, "attack",
       "the district intrusion story repeated (RDP brute force, PsExec, ransomware, C2): many "
       "alerts",
       300000},
  };
  return kProfiles;
}

namespace {

constexpr uint64_t kMs = 1000;
constexpr uint64_t kSecond = 1000000;
constexpr uint32_t kDefaultSmallFlows = 4096;

constexpr const char* kDomain = "DISTRICT";
constexpr const char* kEdgeUserAgent =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/128.0.0.0 Safari/537.36 Edg/128.0.0.0";
constexpr const char* kChromebookUserAgent =
    "Mozilla/5.0 (X11; CrOS x86_64 15917.71.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/128.0.0.0 Safari/537.36";

Mac MacFor(uint32_t a, uint32_t b) {
  // Locally administered unicast, stable per host.
  return Mac{0x02,
             0x30,
             static_cast<uint8_t>(a >> 8),
             static_cast<uint8_t>(a),
             static_cast<uint8_t>(b >> 8),
             static_cast<uint8_t>(b)};
}

std::string Dotted(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%u.%u.%u.%u", a, b, c, d);
  return buf;
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

// Page text. Nothing here may spell a district-pack content: benign traffic must stay silent.
const std::vector<std::string>& Words() {
  static const std::vector<std::string> kWords = {
      "the",   "lesson",   "students", "reading", "class",    "homework", "science", "math",
      "notes", "schedule", "library",  "teacher", "review",   "unit",     "chapter", "quiz",
      "week",  "board",    "parent",   "meeting", "calendar", "club",     "sports",  "art",
      "music", "field",    "trip",     "and",     "for",      "with",     "our",     "new"};
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

Bytes BinaryBody(Rng& rng, std::string_view magic, size_t size) {
  Bytes b(magic.begin(), magic.end());
  rng.Fill(&b, size > b.size() ? size - b.size() : 0);
  return b;
}

// An NTP client request or server reply (RFC 5905 header, 48 bytes).
Bytes Ntp(Rng& rng, bool reply) {
  ByteWriter w;
  w.U8(reply ? 0x24 : 0x23).U8(reply ? 2 : 0).U8(6).U8(reply ? 0xe9 : 0x20);
  w.Zeros(4);                                       // root delay
  if (reply) w.Be32(0x00000a14).Text("GPS").U8(0);  // root dispersion, reference id
  while (w.size() < 48) w.U8(static_cast<uint8_t>(rng.Next()));
  Bytes b = w.Take();
  b.resize(48);
  return b;
}

// A workstation or Chromebook.
struct Client {
  Host v4;
  Host v6;  // ip empty: IPv4 only
  bool windows = true;
  std::string name;
  std::string user;
};

// An external service.
struct Site {
  std::string name;
  Host v4;
  Host v6;  // ip empty: no AAAA
  bool https = true;
  std::string server;
  uint32_t rtt_us = 20000;
  uint32_t max_object = 200000;
};

}  // namespace

// Builds one capture in memory. One instance per capture; single-threaded.
class BenchGenerator {
 public:
  explicit BenchGenerator(const BenchOptions& options);
  void Generate(BenchProfile profile, uint64_t target, uint32_t flows);
  const Capture& capture() const { return capture_; }
  void Fill(BenchStats* stats) const;

 private:
  const Client& AnyClient(Rng& rng);
  const Client& Staff(Rng& rng) { return staff_[rng.Below(staff_.size())]; }
  uint16_t NextPort(Rng& rng, const Host& h);
  TcpTiming Timing(Rng& rng, const Client& c, uint32_t server_rtt_us) const;
  void Count(const char* kind, const Host& client, uint8_t proto);

  // Benign building blocks; each returns the time its conversation ended.
  uint64_t Dns(Rng& rng, const Host& client, const std::string& name, uint16_t qtype,
               const std::vector<dns::Answer>& answers, uint8_t rcode, uint64_t t,
               const char* kind = "dns");
  uint64_t Resolve(Rng& rng, const Client& c, const Site& site, bool v6, uint64_t t);
  uint64_t TlsVisit(Rng& rng, const Client& c, const Site& site, bool v6, uint64_t t,
                    uint64_t rounds, uint64_t max_object, const char* kind = "tls");
  uint64_t HttpVisit(Rng& rng, const Client& c, const Site& site, uint64_t t, uint64_t requests);
  void Browse(Rng& rng, const Client& c, uint64_t t);
  uint64_t FileShare(Rng& rng, const Client& c, uint64_t t, uint64_t files, uint64_t max_size);
  uint64_t RemoteDesktop(Rng& rng, const Client& c, uint64_t t, uint64_t duration);
  uint64_t NtpSync(Rng& rng, const Client& c, uint64_t t);
  void Exchange(TcpSession& s, Smb2Dialog& smb, const Smb2Exchange& ex, uint64_t think_us,
                uint64_t server_us);

  // The story's steps, as the district capture tells them.
  uint64_t RdpBruteForce(Rng& rng, uint64_t t);
  uint64_t Psexec(Rng& rng, uint64_t t);
  uint64_t Ransomware(Rng& rng, uint64_t t);
  uint64_t C2Dns(Rng& rng, uint64_t t);
  uint64_t C2Http(Rng& rng, uint64_t t);

  void Imix(Rng& rng, uint64_t target);
  void Small(uint64_t target, uint32_t flows);
  void Elephant(Rng& rng, uint64_t target);
  void ShortFlows(Rng& rng, uint64_t target);
  void Attack(Rng& rng, uint64_t target);

  BenchOptions options_;
  uint64_t start_;
  Capture capture_;
  uint64_t tcp_flows_ = 0, udp_flows_ = 0, icmp_flows_ = 0, ipv6_flows_ = 0, arp_packets_ = 0;
  std::map<std::string, uint64_t> sessions_;

  Host router_, router_v20_, resolver_, resolver_v6_, fs01_, jump_;
  std::vector<Client> staff_, students_;
  std::vector<Site> sites_;
  std::vector<Host> attackers_;
  std::unordered_map<std::string, uint16_t> next_port_;
  TlsConversation::CertStore certs_;  // each server keeps its certificate
  uint16_t ping_ident_ = 1;
};

BenchGenerator::BenchGenerator(const BenchOptions& options)
    : options_(options), start_(options.start_ts_us) {
  router_ = Internal("10.20.0.1", kRouterMac, 0, 255);
  router_v20_ = Internal("10.20.20.1", kRouterMac, 20, 255);
  resolver_ = Internal("10.20.0.2", MacFor(0, 2), 0, 128);
  resolver_v6_ = Internal("fd00:20::2", MacFor(0, 2), 0, 128);
  fs01_ = Internal("10.20.0.10", MacFor(0, 10), 0, 128);
  jump_ = Internal("10.20.0.15", MacFor(0, 15), 0, 128);

  static const char* const kUsers[] = {"jsmith",  "mgarcia",   "kjohnson", "lnguyen", "abrown",
                                       "rdavis",  "tmiller",   "swilson",  "emoore",  "ctaylor",
                                       "janders", "dthomas",   "pjackson", "mwhite",  "hharris",
                                       "bmartin", "sthompson", "rlopez",   "klee",    "agonzalez"};
  // 2000 staff PCs on the native VLAN (10.20.1.0-10.20.8.255), every eighth dual-stacked; 3000
  // student Chromebooks on VLAN 20 (10.20.20.0-10.20.31.255, Linux TTL 64). Enough hosts that
  // per-host ephemeral ports never wrap within a benchmark capture.
  for (uint32_t i = 0; i < 2000; ++i) {
    Client c;
    c.v4 = Internal(Dotted(10, 20, 1 + i / 250, 5 + i % 250), MacFor(1, i), 0, 128);
    if (i % 8 == 0) {
      char v6[40];
      std::snprintf(v6, sizeof(v6), "fd00:20::1:%x", i);
      c.v6 = Internal(v6, c.v4.mac, 0, 128);
    }
    char name[24];
    std::snprintf(name, sizeof(name), "STAFF-PC-%04u", i);
    c.name = name;
    c.user = kUsers[i % (sizeof(kUsers) / sizeof(kUsers[0]))];
    staff_.push_back(c);
  }
  for (uint32_t i = 0; i < 3000; ++i) {
    Client c;
    c.v4 = Internal(Dotted(10, 20, 20 + i / 250, 5 + i % 250), MacFor(20, i), 20, 64);
    c.windows = false;
    char name[24];
    std::snprintf(name, sizeof(name), "CB-%04u", i);
    c.name = name;
    students_.push_back(c);
  }
  struct SiteSpec {
    const char* name;
    bool https;
    bool v6;
    uint32_t rtt_ms;
    uint32_t max_object;
  };
  static constexpr SiteSpec kSites[] = {
      {"classroom.learnhub.example", true, true, 18, 150000},
      {"lms.coursework.example", true, false, 32, 100000},
      {"docs.officesuite.example", true, true, 15, 120000},
      {"mail.officesuite.example", true, true, 15, 60000},
      {"video.edustream.example", true, false, 24, 300000},
      {"www.encyclopedia.example", true, true, 41, 80000},
      {"search.findit.example", true, true, 12, 60000},
      {"assets.staticfiles.example", true, false, 9, 100000},
      {"quiz.studytools.example", true, false, 38, 80000},
      {"math.practicezone.example", true, false, 52, 60000},
      {"api.gradebook.example", true, false, 27, 30000},
      {"www.district.example", true, false, 6, 90000},
      {"telemetry.osvendor.example", true, true, 21, 8000},
      {"update.osvendor.example", true, true, 21, 400000},
      {"news.localpaper.example", false, false, 35, 60000},
      {"weather.forecast.example", false, false, 44, 40000},
      {"library.catalog.example", false, false, 29, 60000},
      {"ocsp.trustservices.example", false, false, 19, 3000},
  };
  uint32_t n = 0;
  for (const SiteSpec& spec : kSites) {
    Site s;
    s.name = spec.name;
    s.https = spec.https;
    s.rtt_us = spec.rtt_ms * 1000;
    s.max_object = spec.max_object;
    const uint8_t ttl = static_cast<uint8_t>(n % 3 == 0 ? 52 : n % 3 == 1 ? 116 : 57);
    // Documentation ranges; 198.51.100.77 is the C2 server and never a benign site.
    s.v4 = External(n % 2 == 0 ? Dotted(198, 51, 100, 120 + n) : Dotted(192, 0, 2, 120 + n), ttl);
    if (spec.v6) {
      char v6[40];
      std::snprintf(v6, sizeof(v6), "2001:db8:%x::%x", 0x200 + n, 0x10 + n);
      s.v6 = External(v6, ttl);
    }
    s.server = n % 2 == 0 ? "nginx" : "Apache";
    sites_.push_back(s);
    ++n;
  }
  // Brute-force sources: outside HOME_NET (TEST-NET-3), Linux stacks a few hops away.
  for (uint32_t i = 0; i < 64; ++i) attackers_.push_back(External(Dotted(203, 0, 113, 10 + i), 49));
}

const Client& BenchGenerator::AnyClient(Rng& rng) {
  return rng.Percent(60) ? staff_[rng.Below(staff_.size())]
                         : students_[rng.Below(students_.size())];
}

uint16_t BenchGenerator::NextPort(Rng& rng, const Host& h) {
  // Sequential ephemeral ports per host, as Windows hands them out; a host would need 16k
  // conversations before a tuple repeats.
  auto [it, fresh] = next_port_.try_emplace(h.ip, 0);
  if (fresh) it->second = static_cast<uint16_t>(rng.Range(49152, 65535));
  const uint16_t p = it->second;
  it->second = p >= 65535 ? 49152 : static_cast<uint16_t>(p + 1);
  return p;
}

TcpTiming BenchGenerator::Timing(Rng& rng, const Client& c, uint32_t server_rtt_us) const {
  TcpTiming t;
  t.client_rtt_us = c.windows ? static_cast<uint32_t>(rng.Range(150, 600))
                              : static_cast<uint32_t>(rng.Range(1500, 6000));
  t.server_rtt_us = server_rtt_us + static_cast<uint32_t>(rng.Range(0, server_rtt_us / 8 + 1));
  t.client_gap_us = 12;
  t.server_gap_us = server_rtt_us > 2000 ? 110 : 12;
  return t;
}

void BenchGenerator::Count(const char* kind, const Host& client, uint8_t proto) {
  ++sessions_[kind];
  if (client.IsIpv6()) ++ipv6_flows_;
  if (proto == 6) ++tcp_flows_;
  if (proto == 17) ++udp_flows_;
  if (proto == 1) ++icmp_flows_;
}

uint64_t BenchGenerator::Dns(Rng& rng, const Host& client, const std::string& name, uint16_t qtype,
                             const std::vector<dns::Answer>& answers, uint8_t rcode, uint64_t t,
                             const char* kind) {
  const Host& resolver = client.IsIpv6() ? resolver_v6_ : resolver_;
  UdpFlow flow(&capture_, &rng, client, NextPort(rng, client), resolver, 53);
  Count(kind, client, 17);
  const auto id = static_cast<uint16_t>(rng.Next());
  flow.Send(Dir::kToServer, t, dns::Query(id, name, qtype));
  const uint64_t answer_at =
      t + (rng.Percent(60) ? rng.Range(150, 900) : rng.Range(4 * kMs, 45 * kMs));
  flow.Send(Dir::kToClient, answer_at, dns::Response(id, name, qtype, answers, rcode));
  return answer_at;
}

uint64_t BenchGenerator::Resolve(Rng& rng, const Client& c, const Site& site, bool v6, uint64_t t) {
  const uint32_t ttl = rng.Percent(50) ? 300 : 60;
  const bool v6_transport = !c.v6.ip.empty() && rng.Percent(50);
  const Host& from = v6_transport ? c.v6 : c.v4;
  uint64_t done = Dns(rng, from, site.name, dns::kTypeA, {{dns::kTypeA, site.v4.ip, ttl}}, 0, t);
  if (v6 || !c.v6.ip.empty()) {
    std::vector<dns::Answer> aaaa;
    if (!site.v6.ip.empty()) aaaa.push_back({dns::kTypeAaaa, site.v6.ip, ttl});
    done =
        std::max(done, Dns(rng, from, site.name, dns::kTypeAaaa, aaaa, 0, t + rng.Range(20, 400)));
  }
  return done;
}

uint64_t BenchGenerator::TlsVisit(Rng& rng, const Client& c, const Site& site, bool v6, uint64_t t,
                                  uint64_t rounds, uint64_t max_object, const char* kind) {
  const Host& client = v6 ? c.v6 : c.v4;
  const Host& server = v6 ? site.v6 : site.v4;
  TcpSession s(&capture_, &rng, client, NextPort(rng, client), server, 443, t,
               Timing(rng, c, site.rtt_us));
  Count(kind, client, 6);
  s.Open();
  TlsConversation tls(&rng, site.name, site.name, rng.Percent(70), true, t);
  tls.set_cert_store(&certs_);
  s.Send(Dir::kToServer, tls.ClientHello());
  s.Send(Dir::kToClient, tls.ServerFlight(), rng.Range(300, 3000));
  s.Send(Dir::kToServer, tls.ClientFinish(), rng.Range(200, 800));
  s.Send(Dir::kToClient, tls.ServerFinish(), rng.Range(100, 1500));
  for (uint64_t i = 0; i < rounds; ++i) {
    const uint64_t think = i == 0 ? rng.Range(50, 500) : rng.Range(20 * kMs, 900 * kMs);
    s.Send(Dir::kToServer, tls.AppData(rng.Range(350, 1400)), think);
    s.Send(Dir::kToClient, tls.AppData(rng.HeavyTail(600, std::max<uint64_t>(max_object, 600))),
           rng.Range(2 * kMs, 60 * kMs));
  }
  if (rng.Percent(60)) {
    s.Send(Dir::kToServer, tls.CloseNotify(), rng.Range(100 * kMs, 2000 * kMs));
    s.Close(Dir::kToServer);
  } else if (rng.Percent(75)) {
    s.Send(Dir::kToClient, tls.CloseNotify(), rng.Range(500 * kMs, 3000 * kMs));
    s.Close(Dir::kToClient);
  } else {
    s.Reset(Dir::kToServer, rng.Range(100 * kMs, 2000 * kMs));
  }
  return s.last_ts_us();
}

uint64_t BenchGenerator::HttpVisit(Rng& rng, const Client& c, const Site& site, uint64_t t,
                                   uint64_t requests) {
  const Host& client = c.v4;
  TcpSession s(&capture_, &rng, client, NextPort(rng, client), site.v4, 80, t,
               Timing(rng, c, site.rtt_us));
  Count("http", client, 6);
  s.Open();
  if (site.name.starts_with("ocsp.")) {
    // A certificate revocation check: small DER request, small DER response.
    s.Send(Dir::kToServer,
           http::Request("POST", "/", site.name,
                         {{"Cache-Control", "no-cache"},
                          {"Connection", "Keep-Alive"},
                          {"Accept", "*/*"},
                          {"Content-Type", "application/ocsp-request"},
                          {"User-Agent", "Microsoft-CryptoAPI/10.0"}},
                         BinaryBody(rng, std::string_view("\x30\x44\x30\x42", 4), 70)),
           rng.Range(50, 400));
    s.Send(Dir::kToClient,
           http::Response(
               200, "OK", s.ReadyAt(Dir::kToClient), site.server,
               {{"Content-Type", "application/ocsp-response"},
                {"Cache-Control", "max-age=86400, public"}},
               BinaryBody(rng, std::string_view("\x30\x82\x01\xd3", 4), rng.Range(400, 1500))),
           rng.Range(2 * kMs, 20 * kMs));
  } else {
    const std::string ua = c.windows ? kEdgeUserAgent : kChromebookUserAgent;
    static const std::vector<std::string> kPages = {"/",       "/index.html", "/today",
                                                    "/events", "/schedule",   "/search?q=science"};
    for (uint64_t i = 0; i < requests; ++i) {
      const uint64_t size = rng.HeavyTail(300, site.max_object);
      std::string target = i == 0 ? rng.Pick(kPages) : "/static/app.js";
      std::string type = i == 0 ? "text/html; charset=utf-8" : "application/javascript";
      Bytes body = TextBody(rng, size);
      if (i >= 2) {
        char img[48];
        std::snprintf(img, sizeof(img), "/images/photo-%u.png",
                      static_cast<unsigned>(rng.Range(100, 999)));
        target = img;
        type = "image/png";
        body = BinaryBody(rng, std::string_view("\x89PNG\r\n\x1a\n", 8), size);
      }
      s.Send(Dir::kToServer,
             http::Request("GET", target, site.name,
                           {{"User-Agent", ua},
                            {"Accept", "text/html,application/xhtml+xml,*/*;q=0.8"},
                            {"Accept-Encoding", "gzip, deflate"},
                            {"Connection", "keep-alive"}}),
             i == 0 ? rng.Range(50, 400) : rng.Range(1 * kMs, 30 * kMs));
      s.Send(Dir::kToClient,
             http::Response(200, "OK", s.ReadyAt(Dir::kToClient), site.server,
                            {{"Content-Type", type}, {"Cache-Control", "max-age=600"}}, body),
             rng.Range(3 * kMs, 80 * kMs));
    }
  }
  s.Close(rng.Percent(70) ? Dir::kToServer : Dir::kToClient, rng.Range(100 * kMs, 3000 * kMs));
  return s.last_ts_us();
}

void BenchGenerator::Browse(Rng& rng, const Client& c, uint64_t t) {
  const Site& site = sites_[rng.Below(sites_.size())];
  const bool v6 = !c.v6.ip.empty() && !site.v6.ip.empty();
  const uint64_t resolved = Resolve(rng, c, site, v6, t);
  const uint64_t conns = site.https ? rng.Range(1, 3) : 1;
  for (uint64_t i = 0; i < conns; ++i) {
    const uint64_t at = resolved + rng.Range(200, 2000) + i * rng.Range(0, 40 * kMs);
    if (site.https) {
      TlsVisit(rng, c, site, v6, at, rng.Range(1, 3), site.max_object);
    } else {
      HttpVisit(rng, c, site, at, rng.Range(1, 3));
    }
  }
}

void BenchGenerator::Exchange(TcpSession& s, Smb2Dialog& smb, const Smb2Exchange& ex,
                              uint64_t think_us, uint64_t server_us) {
  smb.set_now_us(s.ReadyAt(Dir::kToServer) + think_us);
  s.Send(Dir::kToServer, ex.request, think_us);
  s.Send(Dir::kToClient, ex.response, server_us);
}

uint64_t BenchGenerator::FileShare(Rng& rng, const Client& c, uint64_t t, uint64_t files,
                                   uint64_t max_size) {
  TcpSession s(&capture_, &rng, c.v4, NextPort(rng, c.v4), fs01_, 445, t, Timing(rng, c, 200));
  Count("smb", c.v4, 6);
  s.Open();
  Smb2Dialog smb(&rng, "FS01", t);
  auto fast = [&rng] { return rng.Range(80, 900); };
  Exchange(s, smb, smb.Negotiate(), rng.Range(100, 400), fast());
  Exchange(s, smb, smb.SessionSetupNegotiate(), rng.Range(100, 400), fast());
  Exchange(s, smb, smb.SessionSetupAuth(kDomain, c.user, c.name), rng.Range(100, 400),
           rng.Range(1 * kMs, 6 * kMs));
  static const std::vector<std::string> kShares = {"students", "staff", "curriculum"};
  Exchange(s, smb, smb.TreeConnect("\\\\fs01\\" + rng.Pick(kShares)), rng.Range(100, 500), fast());
  static const std::vector<std::string> kFiles = {
      "week3-lesson-plan.docx", "syllabus-2026.pdf", "reading-list.docx", "field-trip-form.pdf",
      "seating-chart.xlsx",     "math-sheet-4.pdf",  "rubric.docx",       "parent-letter.docx",
      "bus-schedule.pdf",       "club-roster.xlsx",  "notes.txt",         "budget-2026.xlsx"};
  for (uint64_t f = 0; f < files; ++f) {
    const std::string name = rng.Pick(kFiles);
    const uint64_t size = rng.HeavyTail(2000, std::max<uint64_t>(max_size, 2000));
    const bool save = rng.Percent(25);
    Exchange(s, smb,
             smb.Create(name, save ? Smb2Dialog::Open::kOverwrite : Smb2Dialog::Open::kRead, size),
             f == 0 ? rng.Range(1 * kMs, 50 * kMs) : rng.Range(300 * kMs, 3000 * kMs), fast());
    for (uint64_t off = 0; off < size; off += 65536) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(65536, size - off));
      const Bytes chunk = name.ends_with(".txt") ? TextBody(rng, n)
                                                 : BinaryBody(rng, off == 0 ? "PK\x03\x04" : "", n);
      Exchange(s, smb, save ? smb.Write(off, chunk) : smb.Read(off, chunk), rng.Range(30, 200),
               fast());
    }
    Exchange(s, smb, smb.Close(), rng.Range(100, 2000), fast());
  }
  Exchange(s, smb, smb.TreeDisconnect(), rng.Range(500 * kMs, 5000 * kMs), fast());
  Exchange(s, smb, smb.Logoff(), rng.Range(100, 500), fast());
  s.Close(Dir::kToServer, rng.Range(100, 2000));
  return s.last_ts_us();
}

uint64_t BenchGenerator::RemoteDesktop(Rng& rng, const Client& c, uint64_t t, uint64_t duration) {
  TcpSession s(&capture_, &rng, c.v4, NextPort(rng, c.v4), jump_, 3389, t, Timing(rng, c, 250));
  Count("rdp", c.v4, 6);
  s.Open();
  s.Send(Dir::kToServer, rdp::ConnectionRequest(c.user, rdp::kProtocolSsl | rdp::kProtocolHybrid |
                                                            rdp::kProtocolHybridEx));
  s.Send(Dir::kToClient, rdp::ConnectionConfirm(rdp::kProtocolHybrid), rng.Range(300, 1500));
  TlsConversation tls(&rng, "", "RDS01.district.example", false, false, t);
  tls.set_cert_store(&certs_);
  s.Send(Dir::kToServer, tls.ClientHello(), rng.Range(200, 800));
  s.Send(Dir::kToClient, tls.ServerFlight(), rng.Range(500, 3000));
  s.Send(Dir::kToServer, tls.ClientFinish(), rng.Range(1 * kMs, 5 * kMs));
  s.Send(Dir::kToClient, tls.ServerFinish(), rng.Range(200, 1000));
  // Screen updates down, keyboard and mouse up, interleaved.
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

uint64_t BenchGenerator::NtpSync(Rng& rng, const Client& c, uint64_t t) {
  UdpFlow flow(&capture_, &rng, c.v4, c.windows ? 123 : NextPort(rng, c.v4), router_, 123);
  Count("ntp", c.v4, 17);
  flow.Send(Dir::kToServer, t, Ntp(rng, false));
  const uint64_t reply = t + rng.Range(150, 800);
  flow.Send(Dir::kToClient, reply, Ntp(rng, true));
  return reply;
}

uint64_t BenchGenerator::RdpBruteForce(Rng& rng, uint64_t t) {
  static const std::vector<std::string> kUsers = {
      "administrator", "admin", "scanner", "Administrator", "user", "test",   "backup",
      "guest",         "rdp",   "support", "helpdesk",      "it",   "admin1", "sysadmin"};
  const Host& attacker = attackers_[rng.Below(attackers_.size())];
  TcpTiming timing;
  timing.client_rtt_us = static_cast<uint32_t>(rng.Range(58000, 66000));
  timing.server_rtt_us = static_cast<uint32_t>(rng.Range(200, 500));
  timing.client_gap_us = 110;
  TcpSession s(&capture_, &rng, attacker, NextPort(rng, attacker), jump_, 3389, t, timing);
  Count("rdp-bruteforce", attacker, 6);
  s.Open();
  s.Send(Dir::kToServer,
         rdp::ConnectionRequest(rng.Pick(kUsers), rdp::kProtocolSsl | rdp::kProtocolHybrid));
  s.Send(Dir::kToClient, rdp::ConnectionConfirm(rdp::kProtocolHybrid), rng.Range(400, 2000));
  if (rng.Percent(33)) {
    s.Reset(Dir::kToServer, rng.Range(100, 3000));
  } else {
    s.Close(Dir::kToServer, rng.Range(100, 3000));
  }
  return s.last_ts_us();
}

uint64_t BenchGenerator::Psexec(Rng& rng, uint64_t t) {
  const Host& victim = staff_[rng.Below(staff_.size())].v4;
  TcpTiming timing;
  timing.client_rtt_us = 250;
  timing.server_rtt_us = 300;
  TcpSession s(&capture_, &rng, jump_, NextPort(rng, jump_), victim, 445, t, timing);
  Count("smb-psexec", jump_, 6);
  s.Open();
  Smb2Dialog smb(&rng, "VICTIM", t);
  auto fast = [&rng] { return rng.Range(80, 700); };
  auto quick = [&rng] { return rng.Range(50, 400); };
  Exchange(s, smb, smb.Negotiate(), quick(), fast());
  Exchange(s, smb, smb.SessionSetupNegotiate(), quick(), fast());
  Exchange(s, smb, smb.SessionSetupAuth(kDomain, "administrator", "RDS01"), quick(),
           rng.Range(1 * kMs, 5 * kMs));
  Exchange(s, smb, smb.TreeConnect("\\\\" + victim.ip + "\\ADMIN$"), quick(), fast());
  // The service binary: a PE header, then random bytes (smaller than the real one, so the
  // capture holds many sessions).
  ByteWriter pe;
  pe.Text(std::string_view("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00", 16));
  pe.Zeros(44).Le32(0x80);
  pe.Text("This program cannot be run in DOS mode.\r\r\n$");
  Bytes image = pe.Take();
  image.resize(0x80, 0);
  image.insert(image.end(), {'P', 'E', 0, 0, 0x64, 0x86});
  rng.Fill(&image, rng.Range(12000, 40000));
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
  Exchange(s, smb, smb.TreeConnect("\\\\" + victim.ip + "\\IPC$"), quick(), fast());
  Exchange(s, smb, smb.Create("svcctl", Smb2Dialog::Open::kPipe, 0), quick(), fast());
  Exchange(s, smb, smb.Write(0, dcerpc::BindSvcctl(2)), quick(), fast());
  Exchange(s, smb, smb.Read(0, dcerpc::BindAckSvcctl(2, static_cast<uint32_t>(rng.Next()))),
           quick(), fast());
  Exchange(s, smb, smb.Close(), rng.Range(2 * kMs, 20 * kMs), fast());
  Exchange(s, smb, smb.TreeDisconnect(), quick(), fast());
  Exchange(s, smb, smb.Logoff(), quick(), fast());
  s.Close(Dir::kToServer, quick());
  return s.last_ts_us();
}

uint64_t BenchGenerator::Ransomware(Rng& rng, uint64_t t) {
  const Client& victim = staff_[rng.Below(staff_.size())];
  TcpTiming timing;
  timing.client_rtt_us = 300;
  timing.server_rtt_us = 200;
  TcpSession s(&capture_, &rng, victim.v4, NextPort(rng, victim.v4), fs01_, 445, t, timing);
  Count("smb-ransomware", victim.v4, 6);
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
      "and follow the instructions.\r\n";
  Exchange(s, smb, smb.Create("RESTORE-MY-FILES.txt", Smb2Dialog::Open::kCreate, note.size()),
           quick(), fast());
  Exchange(s, smb, smb.Write(0, Bytes(note.begin(), note.end())), quick(), fast());
  Exchange(s, smb, smb.Close(), quick(), fast());
  static const std::vector<std::string> kVictims = {"grades.xlsx", "attendance-2026.csv",
                                                    "iep-meeting-notes.docx", "report-cards.pdf"};
  const uint64_t files = rng.Range(2, 4);
  for (uint64_t f = 0; f < files; ++f) {
    const std::string& name = kVictims[f];
    const uint64_t size = rng.Range(8000, 40000);
    Exchange(s, smb, smb.Create(name, Smb2Dialog::Open::kModify, size), quick(), fast());
    Exchange(s, smb, smb.Read(0, BinaryBody(rng, "PK\x03\x04", size)), quick(), fast());
    Exchange(s, smb, smb.Write(0, rng.Bytes(size)), quick(), fast());
    Exchange(s, smb, smb.Close(), quick(), fast());
    Exchange(s, smb, smb.Create(name, Smb2Dialog::Open::kRename, size), quick(), fast());
    Exchange(s, smb, smb.Rename(name + ".locked"), quick(), fast());
    Exchange(s, smb, smb.Close(), quick(), fast());
  }
  Exchange(s, smb, smb.TreeDisconnect(), quick(), fast());
  Exchange(s, smb, smb.Logoff(), quick(), fast());
  s.Close(Dir::kToServer, quick());
  return s.last_ts_us();
}

uint64_t BenchGenerator::C2Dns(Rng& rng, uint64_t t) {
  char label[24];
  std::snprintf(label, sizeof(label), "u%06x", static_cast<unsigned>(rng.Below(1u << 24)));
  const std::string name = std::string(label) + ".badcdn.example";
  return Dns(rng, staff_[rng.Below(staff_.size())].v4, name, dns::kTypeA,
             {{dns::kTypeA, "198.51.100.77", 60}}, 0, t, "dns-c2");
}

uint64_t BenchGenerator::C2Http(Rng& rng, uint64_t t) {
  const Client& victim = staff_[rng.Below(staff_.size())];
  const Host c2 = External("198.51.100.77", 51);
  const uint16_t port = rng.Percent(70) ? 80 : 8080;
  TcpSession s(&capture_, &rng, victim.v4, NextPort(rng, victim.v4), c2, port, t,
               Timing(rng, victim, 48000));
  Count("http-c2", victim.v4, 6);
  s.Open();
  char target[48];
  std::snprintf(target, sizeof(target), "/gate.php?id=%04x",
                static_cast<unsigned>(rng.Below(1u << 16)));
  s.Send(Dir::kToServer,
         http::Request("GET", target, "update-check.badcdn.example",
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
  return s.last_ts_us();
}

void BenchGenerator::Imix(Rng& rng, uint64_t target) {
  // Weights per conversation start, chosen so that the frame-size and protocol mix resembles a
  // district core (most bytes in TLS web and video, most packets small ACKs and DNS).
  enum Kind { kWebTls, kWebHttp, kVideo, kSmb, kDns, kNxDomain, kRdp, kNtp, kPing, kArp };
  const std::vector<uint32_t> weights = {38, 8, 2, 7, 22, 5, 1, 8, 3, 6};
  uint64_t t = start_;
  while (capture_.size() < target) {
    t += rng.Range(0, 2 * kMs);
    const Client& c = AnyClient(rng);
    switch (static_cast<Kind>(rng.Weighted(weights))) {
      case kWebTls:
      case kWebHttp:
        Browse(rng, c, t);
        break;
      case kVideo: {
        const Site& site = sites_[4];  // the streaming service
        const uint64_t at = Resolve(rng, c, site, false, t);
        TlsVisit(rng, c, site, false, at + rng.Range(200, 2000), rng.Range(3, 8), 2000000,
                 "tls-video");
        break;
      }
      case kSmb:
        FileShare(rng, c.windows ? c : Staff(rng), t, rng.Range(1, 3), 400000);
        break;
      case kDns:
        Resolve(rng, c, sites_[rng.Below(sites_.size())], false, t);
        break;
      case kNxDomain:
        Dns(rng, Staff(rng).v4, "wpad.district.example", dns::kTypeA, {}, dns::kRcodeNxDomain, t);
        break;
      case kRdp:
        RemoteDesktop(rng, Staff(rng), t, rng.Range(5 * kSecond, 30 * kSecond));
        break;
      case kNtp:
        NtpSync(rng, c, t);
        break;
      case kPing: {
        const Client& from = Staff(rng);
        const bool outside = rng.Percent(50);
        const Host& to = outside ? sites_[rng.Below(sites_.size())].v4 : fs01_;
        AddPing(&capture_, from.v4, to, t, ping_ident_++, static_cast<uint16_t>(rng.Range(1, 400)),
                static_cast<int>(rng.Range(1, 4)), outside ? 20000 : 400);
        Count("icmp-echo", from.v4, 1);
        break;
      }
      case kArp:
        if (rng.Percent(30)) {
          AddArp(&capture_, students_[rng.Below(students_.size())].v4, router_v20_, t,
                 static_cast<uint32_t>(rng.Range(100, 900)));
        } else {
          AddArp(&capture_, Staff(rng).v4, rng.Percent(60) ? router_ : fs01_, t,
                 static_cast<uint32_t>(rng.Range(100, 900)));
        }
        arp_packets_ += 2;
        break;
    }
  }
}

void BenchGenerator::Small(uint64_t target, uint32_t flows) {
  // Every flow is opened, then all of them stay open: each pass over the flows sends one
  // segment per flow, so consecutive packets belong to different flows (the flow table's worst
  // case for locality). Pass 0 SYN, 1 SYN-ACK, 2 ACK, then bare ACKs alternating direction.
  // No TCP options, so every frame is 54 bytes padded to the 60-byte Ethernet minimum.
  const uint64_t passes = std::max<uint64_t>(4, (target + flows - 1) / flows);
  static constexpr uint32_t kServers = 16;
  std::vector<Host> servers;
  for (uint32_t i = 0; i < kServers; ++i)
    servers.push_back(External(Dotted(198, 51, 100, 160 + i), 56));
  std::vector<uint32_t> isn_c(flows), isn_s(flows);
  Rng rng(options_.seed ^ 0x5ea11ULL);
  for (uint32_t f = 0; f < flows; ++f) {
    isn_c[f] = static_cast<uint32_t>(rng.Next());
    isn_s[f] = static_cast<uint32_t>(rng.Next());
  }
  uint64_t t = start_;
  for (uint64_t pass = 0; pass < passes; ++pass) {
    for (uint32_t f = 0; f < flows; ++f) {
      // Clients 10.64.0.0 upwards (inside HOME_NET): one address per flow.
      Host client = Internal(Dotted(10, 64 + (f >> 16), (f >> 8) & 0xff, f & 0xff),
                             MacFor(64 + (f >> 16), f & 0xffff), 0, 128);
      const Host& server = servers[f % kServers];
      const uint16_t cport = static_cast<uint16_t>(49152 + (f * 7919u) % 16384);
      const uint16_t sport = 443;
      Path path(client, server, static_cast<uint16_t>(f + pass),
                static_cast<uint16_t>(f * 3 + pass));
      const bool from_client = pass == 0 || pass == 2 || (pass > 2 && pass % 2 == 0);
      PacketBuilder b = path.Start(from_client);
      if (pass == 0) {
        b.Tcp(cport, sport, tcp::kSyn, isn_c[f], 0);
      } else if (pass == 1) {
        b.Tcp(sport, cport, tcp::kSyn | tcp::kAck, isn_s[f], isn_c[f] + 1);
      } else if (from_client) {
        b.Tcp(cport, sport, tcp::kAck, isn_c[f] + 1, isn_s[f] + 1, 1026);
      } else {
        b.Tcp(sport, cport, tcp::kAck, isn_s[f] + 1, isn_c[f] + 1, 1026);
      }
      capture_.Add(t, b.Build());
      ++t;  // one packet per microsecond of capture time
      if (pass == 0) Count("tcp-idle", client, 6);
    }
  }
}

void BenchGenerator::Elephant(Rng& rng, uint64_t target) {
  // Three TLS downloads from outside and three SMB copies (two reads, one write) with fs01,
  // started within the first second and running side by side. Sized so the capture reaches the
  // target: a bulk transfer puts about 1.5 frames on the wire per full segment (one ACK per two).
  constexpr uint64_t kTransfers = 6;
  const uint64_t per_transfer = std::max<uint64_t>(target * 1460 * 2 / 3 / kTransfers, 65536);
  uint64_t t = start_;
  for (uint64_t i = 0; i < 3; ++i) {
    const Client& c = staff_[rng.Below(staff_.size())];
    const Site& site = i == 0 ? sites_[4] : i == 1 ? sites_[13] : sites_[2];
    const uint64_t at = Resolve(rng, c, site, false, t);
    TcpSession s(&capture_, &rng, c.v4, NextPort(rng, c.v4), site.v4, 443, at + 500,
                 Timing(rng, c, site.rtt_us));
    Count("tls-bulk", c.v4, 6);
    s.Open();
    TlsConversation tls(&rng, site.name, site.name, i != 1, true, at);
    tls.set_cert_store(&certs_);
    s.Send(Dir::kToServer, tls.ClientHello());
    s.Send(Dir::kToClient, tls.ServerFlight(), rng.Range(300, 3000));
    s.Send(Dir::kToServer, tls.ClientFinish(), rng.Range(200, 800));
    s.Send(Dir::kToClient, tls.ServerFinish(), rng.Range(100, 1500));
    s.Send(Dir::kToServer, tls.AppData(rng.Range(350, 900)), rng.Range(50, 500));
    s.Send(Dir::kToClient, tls.AppData(per_transfer), rng.Range(2 * kMs, 20 * kMs));
    s.Send(Dir::kToServer, tls.CloseNotify(), rng.Range(10 * kMs, 100 * kMs));
    s.Close(Dir::kToServer);
    t += rng.Range(50 * kMs, 300 * kMs);
  }
  for (uint64_t i = 0; i < 3; ++i) {
    const Client& c = staff_[rng.Below(staff_.size())];
    TcpSession s(&capture_, &rng, c.v4, NextPort(rng, c.v4), fs01_, 445, t, Timing(rng, c, 200));
    Count("smb-bulk", c.v4, 6);
    s.Open();
    Smb2Dialog smb(&rng, "FS01", t);
    auto fast = [&rng] { return rng.Range(80, 400); };
    Exchange(s, smb, smb.Negotiate(), rng.Range(100, 400), fast());
    Exchange(s, smb, smb.SessionSetupNegotiate(), rng.Range(100, 400), fast());
    Exchange(s, smb, smb.SessionSetupAuth(kDomain, c.user, c.name), rng.Range(100, 400),
             rng.Range(1 * kMs, 6 * kMs));
    Exchange(s, smb, smb.TreeConnect("\\\\fs01\\staff"), rng.Range(100, 500), fast());
    const bool write = i == 2;
    static const char* const kNames[] = {"district-backup-2026.zip", "video-lesson-week3.mp4",
                                         "scans-archive.zip"};
    Exchange(s, smb,
             smb.Create(kNames[i], write ? Smb2Dialog::Open::kOverwrite : Smb2Dialog::Open::kRead,
                        per_transfer),
             rng.Range(1 * kMs, 20 * kMs), fast());
    // Windows keeps several 64 KiB requests in flight; one at a time is close enough here.
    for (uint64_t off = 0; off < per_transfer; off += 65536) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(65536, per_transfer - off));
      const Bytes chunk = rng.Bytes(n);
      Exchange(s, smb, write ? smb.Write(off, chunk) : smb.Read(off, chunk), rng.Range(20, 80),
               fast());
    }
    Exchange(s, smb, smb.Close(), rng.Range(100, 2000), fast());
    Exchange(s, smb, smb.Logoff(), rng.Range(100, 500), fast());
    s.Close(Dir::kToServer, rng.Range(100, 2000));
    t += rng.Range(50 * kMs, 300 * kMs);
  }
}

void BenchGenerator::ShortFlows(Rng& rng, uint64_t target) {
  enum Kind { kDnsA, kDnsAaaa, kNx, kHttp, kTls, kNtp, kPing };
  const std::vector<uint32_t> weights = {48, 14, 8, 12, 12, 4, 2};
  static const std::vector<std::string> kZones = {
      "cdn.staticfiles.example", "learnhub.example",     "officesuite.example", "edustream.example",
      "osvendor.example",        "adnet.example",        "analytics.example",   "findit.example",
      "gradebook.example",       "trustservices.example"};
  uint64_t t = start_;
  while (capture_.size() < target) {
    t += rng.Range(0, 200);
    const Client& c = AnyClient(rng);
    switch (static_cast<Kind>(rng.Weighted(weights))) {
      case kDnsA:
      case kDnsAaaa: {
        const bool aaaa = rng.Percent(25);
        char host[24];
        std::snprintf(host, sizeof(host), "h%u.", static_cast<unsigned>(rng.Below(5000)));
        const std::string name = host + rng.Pick(kZones);
        std::vector<dns::Answer> answers;
        if (rng.Percent(40)) answers.push_back({dns::kTypeCname, "edge.cdn.example", 3600});
        const uint32_t a = static_cast<uint32_t>(rng.Below(250));
        if (aaaa) {
          char v6[40];
          std::snprintf(v6, sizeof(v6), "2001:db8:%x::%x", 0x300 + a, a + 1);
          answers.push_back({dns::kTypeAaaa, v6, 300});
        } else {
          answers.push_back({dns::kTypeA, Dotted(192, 0, 2, a + 1), 300});
          if (rng.Percent(30)) answers.push_back({dns::kTypeA, Dotted(198, 51, 100, a + 1), 300});
        }
        Dns(rng, c.v4, name, aaaa ? dns::kTypeAaaa : dns::kTypeA, answers, 0, t);
        break;
      }
      case kNx:
        Dns(rng, c.v4, rng.Percent(50) ? "wpad.district.example" : "printer7.district.example",
            dns::kTypeA, {}, dns::kRcodeNxDomain, t);
        break;
      case kHttp:
        HttpVisit(rng, c, sites_[17], t, 1);  // OCSP: one small request and response
        break;
      case kTls:
        // A telemetry beacon or API call: handshake, one small exchange, close.
        TlsVisit(rng, c, sites_[rng.Percent(50) ? 12 : 10], false, t, 1, 2000, "tls-short");
        break;
      case kNtp:
        NtpSync(rng, c, t);
        break;
      case kPing: {
        const Host& from = Staff(rng).v4;
        AddPing(&capture_, from, fs01_, t, ping_ident_++, 1, 1, 400);
        Count("icmp-echo", from, 1);
        break;
      }
    }
  }
}

void BenchGenerator::Attack(Rng& rng, uint64_t target) {
  enum Kind { kBrute, kC2Dns, kC2Http, kPsexec, kRansom, kWeb, kDns };
  const std::vector<uint32_t> weights = {36, 14, 12, 4, 4, 15, 15};
  uint64_t t = start_;
  while (capture_.size() < target) {
    t += rng.Range(0, 4 * kMs);
    switch (static_cast<Kind>(rng.Weighted(weights))) {
      case kBrute:
        RdpBruteForce(rng, t);
        break;
      case kC2Dns:
        C2Dns(rng, t);
        break;
      case kC2Http:
        C2Http(rng, t);
        break;
      case kPsexec:
        Psexec(rng, t);
        break;
      case kRansom:
        Ransomware(rng, t);
        break;
      case kWeb: {
        const Client& c = AnyClient(rng);
        const Site& site = sites_[rng.Below(sites_.size())];
        if (site.https) {
          TlsVisit(rng, c, site, false, t, rng.Range(1, 2), 60000);
        } else {
          HttpVisit(rng, c, site, t, 1);
        }
        break;
      }
      case kDns:
        Resolve(rng, AnyClient(rng), sites_[rng.Below(sites_.size())], false, t);
        break;
    }
  }
}

void BenchGenerator::Generate(BenchProfile profile, uint64_t target, uint32_t flows) {
  Rng rng = Rng(options_.seed).Fork(static_cast<uint64_t>(profile) + 10);
  switch (profile) {
    case BenchProfile::kImix:
      Imix(rng, target);
      break;
    case BenchProfile::kSmall:
      Small(target, flows);
      break;
    case BenchProfile::kElephant:
      Elephant(rng, target);
      break;
    case BenchProfile::kShortFlows:
      ShortFlows(rng, target);
      break;
    case BenchProfile::kAttack:
      Attack(rng, target);
      break;
  }
  capture_.SortByTime();
}

void BenchGenerator::Fill(BenchStats* stats) const {
  stats->packets = capture_.size();
  stats->bytes = capture_.bytes();
  stats->tcp_flows = tcp_flows_;
  stats->udp_flows = udp_flows_;
  stats->icmp_flows = icmp_flows_;
  stats->flows = tcp_flows_ + udp_flows_ + icmp_flows_;
  stats->ipv6_flows = ipv6_flows_;
  stats->arp_packets = arp_packets_;
  for (size_t i = 0; i < capture_.size(); ++i) {
    const uint32_t wire = capture_.len(i) + 4;
    const int bucket = wire <= 64     ? 0
                       : wire <= 127  ? 1
                       : wire <= 255  ? 2
                       : wire <= 511  ? 3
                       : wire <= 1023 ? 4
                                      : 5;
    ++stats->sizes[bucket];
  }
  if (capture_.size() > 0) {
    stats->first_ts_us = capture_.ts_us(0);
    stats->last_ts_us = capture_.ts_us(capture_.size() - 1);
  }
  stats->sessions.assign(sessions_.begin(), sessions_.end());
}

bool WriteBenchCapture(const std::string& path, BenchProfile profile, const BenchOptions& options,
                       BenchStats* stats, std::string* error) {
  uint64_t target = options.packets;
  if (target == 0) {
    for (const BenchProfileInfo& p : BenchProfiles()) {
      if (p.profile == profile) target = p.default_packets * std::max<uint32_t>(options.scale, 1);
    }
  }
  const uint32_t flows = options.flows != 0 ? options.flows : kDefaultSmallFlows;
  PcapWriter writer;
  std::string open_error;
  if (!writer.Open(path, &open_error)) {
    if (error != nullptr) *error = open_error;
    return false;
  }
  BenchGenerator gen(options);
  try {
    gen.Generate(profile, target, flows);
  } catch (const std::exception& e) {
    // PacketBuilder reports a malformed address literal by exception: a generator bug.
    if (error != nullptr) *error = std::string("capture generation failed: ") + e.what();
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
  if (stats != nullptr) {
    *stats = BenchStats{};
    gen.Fill(stats);
  }
  return true;
}

}  // namespace fs::pcapgen
