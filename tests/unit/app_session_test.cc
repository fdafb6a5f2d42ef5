// Protocol detection and per-flow HTTP transaction records (dataplane/app/session.h).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <zlib.h>

#include <cstdio>
#include <string>
#include <vector>

#include "dataplane/app/session.h"
#include "tools/pcapgen/rng.h"
#include "tools/pcapgen/smb2.h"
#include "tools/pcapgen/tls.h"

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

// HTTP parser pairs are pooled: reused after Reset, never carrying a flow's state into the next.

std::string Gzip(const std::string& text) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, text.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string Hex(size_t n) {
  char b[32];
  std::snprintf(b, sizeof b, "%zx", n);
  return b;
}

// Everything a flow reports, as text: requests (with their records), responses, unanswered, events.
struct Log {
  std::vector<std::string> lines;
};

AppHooks LogHooks(Log* log) {
  AppHooks h;
  h.ctx = log;
  h.http_request = [](void* c, AppSession&, HttpRequestRecord& r) {
    static_cast<Log*>(c)->lines.push_back(
        "REQ " + std::to_string(r.tx_id) + " " + std::string(r.line.view()) + "|" +
        std::string(r.host.view()) + "|" + std::string(r.header_raw.view()) + "|" +
        std::string(r.header_names.view()) + "|" + std::string(r.content_len.view()) + "|" +
        std::string(r.body.view()));
  };
  h.http_response = [](void* c, AppSession&, const HttpRequestRecord* r, HttpResponseRecord& p) {
    static_cast<Log*>(c)->lines.push_back(
        "RESP " + (r ? std::to_string(r->tx_id) : std::string("-")) + " " +
        std::string(p.line.view()) + "|" + std::string(p.header_raw.view()) + "|" +
        std::string(p.body.view()) + "|" + std::to_string(p.body_len));
  };
  h.http_unanswered = [](void* c, AppSession&, const HttpRequestRecord& r) {
    static_cast<Log*>(c)->lines.push_back("UNANSWERED " + std::to_string(r.tx_id) + " " +
                                          std::string(r.line.view()));
  };
  h.http_event = [](void* c, HttpEvent e) {
    static_cast<Log*>(c)->lines.push_back(std::string("EVENT ") + HttpEventName(e));
  };
  return h;
}

// The second flow of the reuse tests: a request with a chunked gzip body, a pipelined HEAD, their
// responses (gzip, chunked), and a request left without its response.
struct Flow {
  std::string to_server, to_client;
};

Flow CleanFlow() {
  const std::string text = "the quick brown fox jumps over the lazy dog, again and again. ";
  std::string big;
  for (int i = 0; i < 40; ++i) big += text;
  const std::string gz = Gzip(big);
  Flow f;
  f.to_server =
      "POST /up HTTP/1.1\r\nHost: Fresh.example:81\r\nContent-Encoding: gzip\r\n"
      "Transfer-Encoding: chunked\r\n\r\n" +
      Hex(gz.size() / 2) + "\r\n" + gz.substr(0, gz.size() / 2) + "\r\n" +
      Hex(gz.size() - gz.size() / 2) + "\r\n" + gz.substr(gz.size() / 2) +
      "\r\n0\r\n\r\n"
      "HEAD /h HTTP/1.1\r\nHost: fresh.example\r\n\r\n"
      "GET /last HTTP/1.1\r\nHost: fresh.example\r\n\r\n";
  f.to_client =
      "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + std::to_string(gz.size()) +
      "\r\n\r\n" + gz + "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";  // HEAD: no body
  return f;
}

// Feeds a flow in pieces of `step` bytes per direction, closes it, and releases the slot.
void RunFlow(AppSessionPool& pool, const Flow& f, size_t step) {
  const uint32_t slot = pool.Acquire();
  ASSERT_NE(slot, 0u);
  AppSession& s = pool.At(slot);
  ASSERT_TRUE(s.StartHttp());
  for (size_t i = 0; i < f.to_server.size(); i += step) Feed(s, 0, f.to_server.substr(i, step));
  for (size_t i = 0; i < f.to_client.size(); i += step) Feed(s, 1, f.to_client.substr(i, step));
  s.CloseHttp();
  pool.Release(slot);
}

// A flow left in the middle of everything that keeps state: a half-parsed request header block
// after a complete pipelined request, a gzip response body half inflated inside a chunk, events
// counted. Released without CloseHttp (as a bypassed flow is).
void DirtyFlow(AppSessionPool& pool, uint32_t* slot_out = nullptr) {
  const std::string gz = Gzip(std::string(5000, 'z') + "tail of the dirty body");
  const uint32_t slot = pool.Acquire();
  ASSERT_NE(slot, 0u);
  AppSession& s = pool.At(slot);
  ASSERT_TRUE(s.StartHttp());
  Feed(s, 0,
       "GET /dirty HTTP/1.1\r\nHost: dirty\r\n\r\n"
       "GET /dirty2 HTTP/1.1\r\nHost: dirty\r\nX-Half: ab");
  Feed(s, 1,
       "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" +
           Hex(gz.size()) + "\r\n" + gz.substr(0, gz.size() / 2));
  Feed(s, 0, "\r\nContent-Length: 100\r\n\r\npartial body");
  if (slot_out != nullptr) *slot_out = slot;
  pool.Release(slot);
}

TEST(AppSessionHttpPool, ReusedParsersGiveTheSameResultsAsNewOnes) {
  for (size_t step : {size_t{1}, size_t{7}, size_t{100000}}) {
    SCOPED_TRACE(step);
    const Flow clean = CleanFlow();
    Log fresh_log;
    const AppHooks fresh_hooks = LogHooks(&fresh_log);
    AppSessionPool fresh(4, HttpConfig{}, fresh_hooks);
    RunFlow(fresh, clean, step);
    EXPECT_EQ(fresh.counters().http_parsers_made, 1u);
    EXPECT_EQ(fresh.counters().http_parsers_reused, 0u);
    ASSERT_GE(fresh_log.lines.size(), 4u);

    Log log;
    const AppHooks hooks = LogHooks(&log);
    AppSessionPool pool(4, HttpConfig{}, hooks);
    DirtyFlow(pool);
    EXPECT_EQ(pool.http_parsers_idle(), 1u);
    log.lines.clear();
    RunFlow(pool, clean, step);
    EXPECT_EQ(pool.counters().http_parsers_made, 1u);
    EXPECT_EQ(pool.counters().http_parsers_reused, 1u);
    EXPECT_EQ(log.lines, fresh_log.lines);
    // And again, after a clean flow of its own.
    log.lines.clear();
    RunFlow(pool, clean, step);
    EXPECT_EQ(pool.counters().http_parsers_reused, 2u);
    EXPECT_EQ(log.lines, fresh_log.lines);
  }
}

TEST(AppSessionHttpPool, NothingOfTheDirtyFlowLeaks) {
  Log log;
  const AppHooks hooks = LogHooks(&log);
  AppSessionPool pool(2, HttpConfig{}, hooks);
  uint32_t dirty_slot = 0;
  DirtyFlow(pool, &dirty_slot);
  log.lines.clear();
  // The same slot, the same parsers: the bytes that would finish the dirty flow's header line,
  // its gzip body and its chunk are parsed as the start of a new flow.
  const uint32_t slot = pool.Acquire();
  ASSERT_EQ(slot, dirty_slot);
  AppSession& s = pool.At(slot);
  EXPECT_FALSE(s.http_started());
  ASSERT_TRUE(s.StartHttp());
  EXPECT_EQ(pool.counters().http_parsers_reused, 1u);
  Feed(s, 0, "GET /new HTTP/1.1\r\nHost: b\r\n\r\n");
  Feed(s, 1, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  s.CloseHttp();
  EXPECT_EQ(log.lines, (std::vector<std::string>{
                           "REQ 0 GET /new HTTP/1.1|b|Host: b\r\n|\r\nHost\r\n\r\n||",
                           "RESP 0 HTTP/1.1 200 OK|Content-Length: 2\r\n|ok|2",
                       }));
  pool.Release(slot);
}

// Pairs are made only when none is idle: never more than HTTP sessions open at once.
TEST(AppSessionHttpPool, SlotAfterHttpTakesAnyProtocolAndPairsAreBounded) {
  Log log;
  const AppHooks hooks = LogHooks(&log);
  const uint32_t n = 8;
  AppSessionPool pool(n, HttpConfig{}, hooks);
  std::vector<uint32_t> slots;
  for (int round = 0; round < 3; ++round) {
    slots.clear();
    for (uint32_t i = 0; i < n; ++i) {
      slots.push_back(pool.Acquire());
      ASSERT_TRUE(pool.At(slots.back()).StartHttp());
    }
    EXPECT_EQ(pool.http_parsers(), n);
    EXPECT_EQ(pool.http_parsers_idle(), 0u);
    for (uint32_t slot : slots) pool.Release(slot);
    EXPECT_EQ(pool.http_parsers_idle(), n);
  }
  EXPECT_EQ(pool.counters().http_parsers_made, n);
  EXPECT_EQ(pool.counters().http_parsers_reused, 2u * n);
  // A slot that held HTTP parsers takes TLS or SMB next; HTTP then reuses an idle pair.
  const uint32_t a = pool.Acquire();
  ASSERT_TRUE(pool.At(a).StartTls());
  EXPECT_FALSE(pool.At(a).StartHttp());
  const uint32_t b = pool.Acquire();
  ASSERT_TRUE(pool.At(b).StartSmb(SmbConfig{}));
  const uint32_t c = pool.Acquire();
  ASSERT_TRUE(pool.At(c).StartHttp());
  EXPECT_FALSE(pool.At(c).StartTls());
  EXPECT_EQ(pool.counters().http_parsers_made, n);
  EXPECT_EQ(pool.http_parsers_idle(), n - 1);
  pool.Release(a);
  pool.Release(b);
  pool.Release(c);
  EXPECT_EQ(pool.http_parsers_idle(), n);
  EXPECT_EQ(pool.http_parsers(), n);
  EXPECT_EQ(pool.in_use(), 0u);
}

// A pool of one session never has more than one pair.
TEST(AppSessionHttpPool, OnePairPerSessionAtMost) {
  Log log;
  const AppHooks hooks = LogHooks(&log);
  AppSessionPool pool(1, HttpConfig{}, hooks);
  for (int i = 0; i < 3; ++i) {
    const uint32_t slot = pool.Acquire();
    ASSERT_TRUE(pool.At(slot).StartHttp());
    pool.Release(slot);
    EXPECT_EQ(pool.http_parsers(), 1u);
    EXPECT_EQ(pool.http_parsers_idle(), 1u);
  }
  EXPECT_EQ(pool.counters().http_parsers_made, 1u);
  EXPECT_EQ(pool.counters().http_parsers_reused, 2u);
}

// The TLS and SMB parsers' buffers come from the pool's block caches: a flow's parser starts on
// a block a dirty earlier flow left half filled, and parses as a new one would; blocks are made
// only when none is idle (per protocol: their sizes differ).
TEST(AppSessionBlocks, TlsAndSmbBuffersAreReusedAndStartClean) {
  std::vector<std::string> shares;
  AppHooks hooks;
  hooks.ctx = &shares;
  hooks.smb_record = [](void* c, AppSession&, const SmbRecord& r) {
    if (!r.share.empty()) static_cast<std::vector<std::string>*>(c)->emplace_back(r.share);
  };
  AppSessionPool pool(3, HttpConfig{}, hooks);
  pcapgen::Rng rng(5);
  pcapgen::TlsConversation conv(&rng, "portal.example", "portal.example", false, false, 0);
  const pcapgen::Bytes hello = conv.ClientHello();
  pcapgen::Smb2Dialog dialog(&rng, "fs01", 0);
  const pcapgen::Bytes tree = dialog.TreeConnect("\\\\fs01\\students").request;
  const pcapgen::Bytes other = dialog.TreeConnect("\\\\fs01\\IPC$").request;
  ASSERT_GT(hello.size(), 40u);

  // Dirty flows: half a ClientHello, and a TREE_CONNECT cut short (its NetBIOS frame open).
  uint32_t t = pool.Acquire(), m = pool.Acquire();
  ASSERT_TRUE(pool.At(t).StartTls());
  ASSERT_TRUE(pool.At(m).StartSmb(SmbConfig{}));
  pool.At(t).tls()->Feed(TlsDir::kToServer, hello.data(), hello.size() / 2);
  pool.At(m).FeedSmb(0, other.data(), other.size() - 10);
  EXPECT_TRUE(shares.empty());
  pool.Release(t);
  pool.Release(m);
  EXPECT_EQ(pool.tls_blocks().total(), 1u);
  EXPECT_EQ(pool.tls_blocks().idle(), 1u);
  EXPECT_EQ(pool.smb_blocks().total(), 1u);
  EXPECT_EQ(pool.smb_blocks().idle(), 1u);

  // New flows on the same blocks: whole messages from their start.
  t = pool.Acquire();
  m = pool.Acquire();
  ASSERT_TRUE(pool.At(t).StartTls());
  ASSERT_TRUE(pool.At(m).StartSmb(SmbConfig{}));
  EXPECT_EQ(pool.tls_blocks().reused(), 1u);
  EXPECT_EQ(pool.smb_blocks().reused(), 1u);
  pool.At(t).tls()->Feed(TlsDir::kToServer, hello.data(), hello.size());
  EXPECT_EQ(pool.At(t).tls()->state().client.sni(), "portal.example");
  pool.At(m).FeedSmb(0, tree.data(), tree.size());
  EXPECT_EQ(shares, (std::vector<std::string>{"\\\\fs01\\students"}));

  // A third flow of each while those are open: new blocks; all come back.
  const uint32_t t2 = pool.Acquire();
  ASSERT_TRUE(pool.At(t2).StartTls());
  EXPECT_EQ(pool.tls_blocks().total(), 2u);
  pool.Release(t);
  pool.Release(m);
  pool.Release(t2);
  EXPECT_EQ(pool.tls_blocks().idle(), 2u);
  EXPECT_EQ(pool.smb_blocks().idle(), 1u);
  EXPECT_EQ(pool.smb_blocks().total(), 1u);
}

// A parser outside a pool allocates its own buffers; a block of another size is refused (the
// caller then allocates), never handed out short.
TEST(AppSessionBlocks, OwnBuffersAndSizeMismatch) {
  AppSession lone;
  lone.Reset(nullptr, nullptr);
  ASSERT_TRUE(lone.StartTls());
  ASSERT_NE(lone.tls(), nullptr);
  lone.StopParsers();
  BlockCache cache;
  uint8_t* a = cache.Take(4096);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(cache.Take(8192), nullptr);
  cache.Give(a);
  EXPECT_EQ(cache.Take(4096), a);
  cache.Give(a);
  EXPECT_EQ(cache.total(), 1u);
}

// Start-up readying (AppSessionPool::Prealloc): the pairs and blocks exist before any flow, flows
// take them rather than making their own, and the count is bounded by the capacity.
TEST(AppSessionPrealloc, FlowsTakeWhatStartUpMade) {
  Log log;
  const AppHooks hooks = LogHooks(&log);
  AppSessionPool pool(8, HttpConfig{}, hooks);
  const SmbConfig smb;
  const size_t bytes = pool.Prealloc(3, smb);
  EXPECT_EQ(pool.http_parsers(), 3u);
  EXPECT_EQ(pool.http_parsers_idle(), 3u);
  EXPECT_EQ(pool.tls_blocks().total(), 3u);
  EXPECT_EQ(pool.tls_blocks().idle(), 3u);
  EXPECT_EQ(pool.smb_blocks().total(), 3u);
  EXPECT_EQ(pool.counters().http_parsers_made, 0u);  // made at start-up, not by a flow
  EXPECT_GE(bytes, 3 * (AppSessionPool::slot_bytes() + TlsParser::kStorageBytes +
                        SmbParser::StorageBytes(smb)));
  // What the sensor checks against the machine's memory before starting is what was taken.
  EXPECT_EQ(bytes, AppSessionPool::ReadyBytes(3, HttpConfig{}, smb));
  HttpConfig plain;
  plain.decompress = false;  // no zlib arenas
  EXPECT_EQ(
      AppSessionPool::ReadyBytes(3, HttpConfig{}, smb) - AppSessionPool::ReadyBytes(3, plain, smb),
      3u * 2 * 48 * 1024);

  // Three HTTP, three TLS and three SMB flows at once (in 8 sessions: the last two SMB ones
  // after the HTTP ones end) make nothing.
  std::vector<uint32_t> http, tls;
  for (int i = 0; i < 3; ++i) {
    http.push_back(pool.Acquire());
    ASSERT_TRUE(pool.At(http.back()).StartHttp());
    tls.push_back(pool.Acquire());
    ASSERT_TRUE(pool.At(tls.back()).StartTls());
  }
  EXPECT_EQ(pool.counters().http_parsers_made, 0u);
  EXPECT_EQ(pool.counters().http_parsers_reused, 3u);
  EXPECT_EQ(pool.tls_blocks().reused(), 3u);
  for (uint32_t slot : http) pool.Release(slot);
  std::vector<uint32_t> smb_slots;
  for (int i = 0; i < 3; ++i) {
    smb_slots.push_back(pool.Acquire());
    ASSERT_TRUE(pool.At(smb_slots.back()).StartSmb(smb));
  }
  EXPECT_EQ(pool.smb_blocks().total(), 3u);
  EXPECT_EQ(pool.smb_blocks().reused(), 3u);
  EXPECT_EQ(pool.tls_blocks().total(), 3u);
  for (uint32_t slot : tls) pool.Release(slot);
  for (uint32_t slot : smb_slots) pool.Release(slot);

  // A flow on a pair made at start-up gives what a pair made by a flow gives.
  const Flow clean = CleanFlow();
  Log fresh_log;
  const AppHooks fresh_hooks = LogHooks(&fresh_log);
  AppSessionPool fresh(2, HttpConfig{}, fresh_hooks);
  RunFlow(fresh, clean, 7);
  log.lines.clear();
  RunFlow(pool, clean, 7);
  ASSERT_GE(fresh_log.lines.size(), 4u);
  EXPECT_EQ(log.lines, fresh_log.lines);

  // More than the capacity: as many as there are sessions; again: nothing more.
  pool.Prealloc(100, smb);
  EXPECT_EQ(pool.http_parsers(), 8u);
  EXPECT_EQ(pool.tls_blocks().total(), 8u);
  EXPECT_EQ(pool.smb_blocks().total(), 8u);
  pool.Prealloc(100, smb);
  EXPECT_EQ(pool.http_parsers(), 8u);
  EXPECT_EQ(pool.counters().http_parsers_made, 0u);
}

long MinorFaults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Page faults taken by n flows of each protocol starting on a pool of n sessions: what the
// packet path paid before readying existed, and what it pays after.
long FaultsOfFlows(bool prealloc) {
  constexpr uint32_t kN = 24;
  Seen seen;
  const AppHooks hooks = HooksFor(&seen);
  AppSessionPool pool(3 * kN, HttpConfig{}, hooks);
  if (prealloc) pool.Prealloc(3 * kN, SmbConfig{});
  pcapgen::Rng rng(9);
  pcapgen::TlsConversation conv(&rng, "portal.example", "portal.example", false, false, 0);
  const pcapgen::Bytes hello = conv.ClientHello();
  const std::string gz = Gzip(std::string(20000, 'q'));
  const std::string resp =
      "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + std::to_string(gz.size()) +
      "\r\n\r\n" + gz;
  const long before = MinorFaults();
  for (uint32_t i = 0; i < kN; ++i) {
    AppSession& h = pool.At(pool.Acquire());
    EXPECT_TRUE(h.StartHttp());
    Feed(h, 0, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    Feed(h, 1, resp);
    AppSession& t = pool.At(pool.Acquire());
    EXPECT_TRUE(t.StartTls());
    t.tls()->Feed(TlsDir::kToServer, hello.data(), hello.size());
    AppSession& m = pool.At(pool.Acquire());
    EXPECT_TRUE(m.StartSmb(SmbConfig{}));
  }
  return MinorFaults() - before;
}

// The point of readying: flows on readied sessions take (almost) no page faults. Without it,
// each flow took several (its session's pages, its parser's, zlib's arena); with it, what is
// left is this test's own memory (the gzip output and the like).
TEST(AppSessionPrealloc, FlowsOnReadiedSessionsTakeNoPageFaults) {
  const long without = FaultsOfFlows(false);
  if (without < 24 * 3) {
    GTEST_SKIP() << "only " << without << " page faults for 72 flows without readying (huge "
                 << "pages?): nothing to compare";
  }
  const long with = FaultsOfFlows(true);
  EXPECT_LE(with * 10, without) << "with readying " << with << " faults, without " << without;
}

}  // namespace
}  // namespace fs::app
