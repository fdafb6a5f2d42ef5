// Protocol detection and per-flow HTTP transaction records (dataplane/app/session.h).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dataplane/app/session.h"

namespace fs::app {
namespace {

DetectResult Detect(const std::string& s, bool to_server, uint16_t port = 8080) {
  return DetectTcp(reinterpret_cast<const uint8_t*>(s.data()), s.size(), to_server, port);
}

TEST(AppDetect, ByContentNotByPort) {
  EXPECT_EQ(Detect("GET / HTTP/1.1\r\n", true), DetectResult::kHttp);
  EXPECT_EQ(Detect("POST /x HTTP/1.0\r\n", true, 443), DetectResult::kHttp);
  EXPECT_EQ(Detect("HTTP/1.1 200 OK\r\n", false), DetectResult::kHttp);
  EXPECT_EQ(Detect("GE", true), DetectResult::kNeedMore);
  EXPECT_EQ(Detect("GET", true), DetectResult::kNeedMore);
  EXPECT_EQ(Detect("GETX / HTTP/1.1\r\n", true), DetectResult::kNo);
  EXPECT_EQ(Detect("SSH-2.0-OpenSSH_9.0\r\n.................", true), DetectResult::kNo);
  EXPECT_EQ(Detect("HTTP/1.1 200 OK", true), DetectResult::kNo);  // a response sent to a server
  const std::string tls = std::string("\x16\x03\x01\x00\xc8\x01", 6);
  EXPECT_EQ(Detect(tls, true, 8443), DetectResult::kTls);
  EXPECT_EQ(Detect(std::string("\x16\x03", 2), true, 8443), DetectResult::kNeedMore);
  const std::string smb = std::string("\x00\x00\x00\x40\xfeSMB", 8);
  EXPECT_EQ(Detect(smb, true, 445), DetectResult::kSmb);
  // DNS over TCP: port 53 and a length prefix that holds a header.
  EXPECT_EQ(Detect(std::string("\x00\x1c", 2), true, 53), DetectResult::kDns);
  EXPECT_EQ(Detect(std::string("\x00\x05", 2), true, 53), DetectResult::kNo);
  EXPECT_EQ(Detect(std::string("\x00\x1c", 2), true, 5353), DetectResult::kNeedMore);
  // A full window never asks for more.
  EXPECT_NE(Detect(std::string(kDetectBytes, '\x16'), true), DetectResult::kNeedMore);
}

struct Seen {
  std::vector<std::string> requests;  // uri_norm
  std::vector<std::string> headers, raw, names, hosts;
  std::vector<std::pair<std::string, std::string>> responses;  // (request uri, status)
  std::vector<std::string> unanswered;
  std::vector<uint16_t> ports;
};

AppHooks HooksFor(Seen* seen) {
  AppHooks h;
  h.ctx = seen;
  h.http_request = [](void* c, AppSession&, HttpRequestRecord& r) {
    auto* s = static_cast<Seen*>(c);
    s->requests.emplace_back(r.uri_norm.view());
    s->headers.emplace_back(r.header.view());
    s->raw.emplace_back(r.header_raw.view());
    s->names.emplace_back(r.header_names.view());
    s->hosts.emplace_back(r.host.view());
    s->ports.push_back(r.host_port);
  };
  h.http_response = [](void* c, AppSession&, const HttpRequestRecord* r, HttpResponseRecord& p) {
    static_cast<Seen*>(c)->responses.emplace_back(r ? std::string(r->uri_norm.view()) : "-",
                                                  std::string(p.stat_code.view()));
  };
  h.http_unanswered = [](void* c, AppSession&, const HttpRequestRecord& r) {
    static_cast<Seen*>(c)->unanswered.emplace_back(r.uri_norm.view());
  };
  return h;
}

void Feed(AppSession& s, int dir, const std::string& text) {
  s.FeedHttp(dir, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

TEST(AppSessionHttp, BuffersAsSuricataAndPipelinedPairing) {
  Seen seen;
  const AppHooks hooks = HooksFor(&seen);
  AppSessionPool pool(2, HttpConfig{}, hooks);
  const uint32_t slot = pool.Acquire();
  ASSERT_NE(slot, 0u);
  AppSession& s = pool.At(slot);
  ASSERT_TRUE(s.StartHttp());
  // Three pipelined requests, then their responses.
  Feed(s, 0,
       "GET /a/../b HTTP/1.1\r\nHost: WWW.Example.org:8080\r\nCookie: x=1\r\nUser-Agent: t\r\n\r\n"
       "GET /c HTTP/1.1\r\nHost: h\r\n\r\n"
       "GET /d HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(seen.requests.size(), 3u);
  EXPECT_EQ(seen.requests[0], "/b");
  EXPECT_EQ(seen.hosts[0], "www.example.org");
  EXPECT_EQ(seen.ports[0], 8080);
  // http.header leaves the Cookie out (Suricata 7); the raw block has it.
  EXPECT_EQ(seen.headers[0], "Host: WWW.Example.org:8080\r\nUser-Agent: t\r\n");
  EXPECT_EQ(seen.raw[0], "Host: WWW.Example.org:8080\r\nCookie: x=1\r\nUser-Agent: t\r\n");
  EXPECT_EQ(seen.names[0], "\r\nHost\r\nCookie\r\nUser-Agent\r\n\r\n");
  Feed(s, 1, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  Feed(s, 1, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(seen.responses.size(), 2u);  // the 100 is interim
  EXPECT_EQ(seen.responses[0], std::make_pair(std::string("/b"), std::string("200")));
  EXPECT_EQ(seen.responses[1], std::make_pair(std::string("/c"), std::string("404")));
  s.CloseHttp();
  EXPECT_EQ(seen.unanswered, std::vector<std::string>{"/d"});
  pool.Release(slot);
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST(AppSessionPool, ExhaustionIsCounted) {
  Seen seen;
  const AppHooks hooks = HooksFor(&seen);
  AppSessionPool pool(1, HttpConfig{}, hooks);
  const uint32_t a = pool.Acquire();
  EXPECT_NE(a, 0u);
  EXPECT_EQ(pool.Acquire(), 0u);
  EXPECT_EQ(pool.counters().exhausted, 1u);
  pool.Release(a);
  EXPECT_NE(pool.Acquire(), 0u);
}

// One parser area per session: the protocol detected first owns it until the slot is released.
TEST(AppSessionParsers, OneProtocolPerSessionAndSmbRecordsThroughHooks) {
  struct SmbSeen {
    std::vector<uint16_t> commands;
    int events = 0;
  } smb_seen;
  AppHooks hooks;
  hooks.ctx = &smb_seen;
  hooks.smb_record = [](void* c, AppSession&, const SmbRecord& r) {
    static_cast<SmbSeen*>(c)->commands.push_back(r.command);
  };
  hooks.smb_event = [](void* c, SmbEvent) { ++static_cast<SmbSeen*>(c)->events; };
  AppSessionPool pool(1, HttpConfig{}, hooks);
  EXPECT_GE(AppSessionPool::slot_bytes(), kSessionParserBytes);
  uint32_t slot = pool.Acquire();
  AppSession& s = pool.At(slot);
  ASSERT_TRUE(s.StartTls());
  ASSERT_NE(s.tls(), nullptr);
  EXPECT_FALSE(s.StartHttp());
  EXPECT_FALSE(s.StartSmb(SmbConfig{}));
  pool.Release(slot);
  EXPECT_EQ(s.tls(), nullptr);

  slot = pool.Acquire();
  AppSession& t = pool.At(slot);
  ASSERT_TRUE(t.StartSmb(SmbConfig{}));
  EXPECT_FALSE(t.StartTls());
  // An SMB2 ECHO request: NetBIOS header, 64-byte SMB2 header, 4-byte body.
  std::vector<uint8_t> m(4 + 64 + 4, 0);
  m[3] = 68;
  m[4] = 0xfe;
  m[5] = 'S';
  m[6] = 'M';
  m[7] = 'B';
  m[8] = 64;         // StructureSize
  m[4 + 12] = 0x0d;  // Command: ECHO
  m[4 + 64] = 4;     // body StructureSize
  t.FeedSmb(0, m.data(), m.size());
  EXPECT_EQ(smb_seen.commands, std::vector<uint16_t>{0x0d});
  pool.Release(slot);
}

}  // namespace
}  // namespace fs::app
