// HTTP/1.x parsing (dataplane/app/http1): request and response tables from crafted streams
// (fields, URI normalisation, pipelining, chunked bodies, gzip/zlib/raw-deflate bodies built here
// with zlib, HEAD/204/304/1xx/101, read-until-close), anomalies, the same transcript whatever the
// chunking (1-byte chunks and every 2-way split), truncation at every byte, hostile lengths and
// garbage, a fixed-seed mutation run, and no allocation after construction.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "dataplane/app/http1.h"
#include "tests/support/alloc_counter.h"

namespace fs::app {
namespace {

// Compresses with zlib: wbits 15+16 gzip, 15 zlib wrapper, -15 raw deflate.
std::string Compress(const std::string& in, int wbits) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string Chunked(const std::string& body, size_t piece) {
  std::string out;
  char hex[32];
  for (size_t at = 0; at < body.size(); at += piece) {
    const size_t n = std::min(piece, body.size() - at);
    snprintf(hex, sizeof(hex), "%zx", n);
    out += std::string(hex) + (at == 0 ? ";ext=1" : "") + "\r\n" + body.substr(at, n) + "\r\n";
  }
  return out + "0\r\nTrailer: x\r\n\r\n";
}

// Records what the parser reports as one transcript; body pieces are joined per transaction so
// that different chunkings of the same stream give the same text.
struct Recorder {
  std::vector<std::string> log;
  std::string body;
  std::vector<std::string> bodies;

  static Recorder* Self(void* ctx) { return static_cast<Recorder*>(ctx); }
  HttpSink Sink() {
    HttpSink s;
    s.ctx = this;
    s.request_line = [](void* c, const HttpRequestLine& l) {
      Self(c)->log.push_back("REQ " + std::string(l.method) + "|" + std::string(l.uri_raw) + "|" +
                             std::string(l.uri_norm) + "|" + std::string(l.protocol));
    };
    s.status_line = [](void* c, const HttpStatusLine& l) {
      Self(c)->log.push_back("RESP " + std::string(l.protocol) + "|" + std::to_string(l.code) +
                             "|" + std::string(l.message));
    };
    s.header = [](void* c, std::string_view n, std::string_view v) {
      Self(c)->log.push_back("HDR " + std::string(n) + "=" + std::string(v));
    };
    s.headers_done = [](void* c, const HttpTx& tx) {
      std::string names(tx.header_names);
      for (auto& ch : names)
        if (ch == '\r' || ch == '\n') ch = '/';
      Self(c)->log.push_back(
          "DONE host=" + std::string(tx.host) + " ua=" + std::string(tx.user_agent) +
          " cookie=" + std::string(tx.cookie) + " ct=" + std::string(tx.content_type) +
          " cl=" + (tx.has_content_length ? std::to_string(tx.content_length) : "-") +
          " chunked=" + std::to_string(tx.chunked) + " names=" + names);
    };
    s.body = [](void* c, const HttpTx&, const uint8_t* d, size_t n) {
      Self(c)->body.append(reinterpret_cast<const char*>(d), n);
    };
    s.tx_done = [](void* c, const HttpTx& tx) {
      Recorder* r = Self(c);
      r->log.push_back("TX " + std::to_string(tx.index) + " " + std::string(tx.method) + " " +
                       std::string(tx.uri_norm) + " status=" + std::to_string(tx.status) +
                       " body=" + std::to_string(tx.body_delivered) +
                       (tx.body_truncated ? " truncated" : ""));
      r->bodies.push_back(r->body);
      r->log.push_back("BODY " + r->body);
      r->body.clear();
    };
    s.event = [](void* c, HttpEvent e) {
      Self(c)->log.push_back(std::string("EVENT ") + HttpEventName(e));
    };
    return s;
  }
  std::string Text() const {
    std::string t;
    for (const auto& l : log) t += l + "\n";
    return t;
  }
  bool HasEvent(HttpEvent e) const {
    const std::string want = std::string("EVENT ") + HttpEventName(e);
    for (const auto& l : log)
      if (l == want) return true;
    return false;
  }
};

struct ParseRun {
  Recorder rec;
  uint32_t events = 0;
  uint32_t txs = 0;
};

// Feeds `stream` cut at `cuts` to one parser (response side: after announcing `methods`), then
// closes it.
ParseRun Parse(HttpSide side, const std::string& stream, const std::vector<size_t>& cuts = {},
               const std::vector<std::string>& methods = {}, HttpConfig cfg = {}) {
  ParseRun run;
  Http1Parser p(side, cfg, run.rec.Sink());
  for (const auto& m : methods) p.ExpectResponseTo(m);
  size_t at = 0;
  for (size_t c : cuts) {
    p.Feed(reinterpret_cast<const uint8_t*>(stream.data()) + at, c - at);
    at = c;
  }
  p.Feed(reinterpret_cast<const uint8_t*>(stream.data()) + at, stream.size() - at);
  p.Close();
  for (int i = 0; i < kHttpEventCount; ++i) run.events += p.event_count(static_cast<HttpEvent>(i));
  run.txs = p.transactions();
  return run;
}

const std::string kGet =
    "GET /a/./b/../c/%7Euser/%2e%2E/x%2Fy?q=%41/../ HTTP/1.1\r\n"
    "Host: WWW.Example.COM:8080\r\n"
    "User-Agent: curl/8.0\r\n"
    "Cookie: sid=1\r\n"
    "\r\n";

struct ReqCase {
  const char* desc;
  std::string stream;
  std::vector<std::string> expect_lines;  // each must appear in the transcript, in this order
  std::vector<HttpEvent> events;          // exactly these, in this order
  uint32_t txs;
};

std::vector<ReqCase> RequestCases() {
  const std::string post_body = "name=value&x=1";
  return {
      {"GET with fields and URI normalisation",
       kGet,
       {"REQ GET|/a/./b/../c/%7Euser/%2e%2E/x%2Fy?q=%41/../|/a/c/x%2Fy?q=A/../|HTTP/1.1",
        "HDR Host=WWW.Example.COM:8080",
        "DONE host=www.example.com ua=curl/8.0 cookie=sid=1 ct= cl=- chunked=0 "
        "names=//Host//User-Agent//Cookie////",
        "TX 0 GET /a/c/x%2Fy?q=A/../ status=0 body=0"},
       {},
       1},
      {"POST with Content-Length body",
       "POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
       "Content-Length: 14\r\n\r\n" +
           post_body,
       {"DONE host=h ua= cookie= ct=application/x-www-form-urlencoded cl=14 chunked=0",
        "TX 0 POST /form status=0 body=14", "BODY " + post_body},
       {},
       1},
      {"POST chunked with extension and trailer",
       "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + Chunked(post_body, 5),
       {"TX 0 POST /up status=0 body=14", "BODY " + post_body},
       {},
       1},
      {"three pipelined requests",
       kGet + "HEAD /h HTTP/1.1\r\nHost: b\r\n\r\n" +
           "PUT /p HTTP/1.1\r\nHost: c\r\nContent-Length: 3\r\n\r\nabc",
       {"TX 0 GET", "TX 1 HEAD /h", "TX 2 PUT /p status=0 body=3", "BODY abc"},
       {},
       3},
      {"garbage line, then a request",
       "\x01\x02 garbage\r\nnot-a-request\r\nGET / HTTP/1.0\r\n\r\n",
       {"REQ GET|/|/|HTTP/1.0", "TX 0 GET / status=0 body=0"},
       {HttpEvent::kRequestLineInvalid, HttpEvent::kRequestLineInvalid},
       1},
      {"missing protocol and Host",
       "GET /x\r\n\r\nGET /y HTTP/1.1\r\n\r\n",
       {"REQ GET|/x|/x|", "REQ GET|/y|/y|HTTP/1.1"},
       {HttpEvent::kRequestLineMissingProtocol, HttpEvent::kMissingHostHeader},
       2},
      {"header longer than the line buffer",
       "GET / HTTP/1.1\r\nX-Long: " + std::string(10000, 'a') + "\r\nHost: h\r\n\r\n",
       {"HDR X-Long=" + std::string(kHttpLineCap - 8, 'a'), "HDR Host=h", "DONE host=h"},
       {HttpEvent::kRequestFieldTooLong},
       1},
      {"folded header",
       "GET / HTTP/1.1\r\nHost: h\r\nX-Folded: one\r\n two\r\n\tthree\r\n\r\n",
       {"HDR X-Folded=one  two \tthree", "DONE host=h"},
       {},
       1},
      {"missing colon, header with space before colon",
       "GET / HTTP/1.1\r\nHost: h\r\nNoColonHere\r\nBad Name : v\r\n\r\n",
       {"HDR Bad Name=v"},
       {HttpEvent::kRequestFieldMissingColon, HttpEvent::kRequestHeaderInvalid},
       1},
      {"invalid and duplicate Content-Length",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n"
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
       {"TX 0 POST / status=0 body=0", "TX 1 POST / status=0 body=2", "BODY ok"},
       {HttpEvent::kInvalidContentLengthFieldInRequest,
        HttpEvent::kDuplicateContentLengthFieldInRequest},
       2},
      {"invalid chunk size: rest is body",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nrest",
       {"TX 0 POST / status=0 body=4", "BODY rest"},
       {HttpEvent::kInvalidRequestChunkLen},
       1},
      {"Transfer-Encoding not plain chunked",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, "
       "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
       {"TX 0 POST / status=0 body=3", "BODY abc"},
       {HttpEvent::kInvalidTransferEncodingValueInRequest},
       1},
      {"Content-Length too large to be a number",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n",
       {"TX 0 POST / status=0 body=0"},
       {HttpEvent::kInvalidContentLengthFieldInRequest},
       1},
      {"huge Content-Length: body runs to the close",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9999999999999999999\r\n\r\nabc",
       {"TX 0 POST / status=0 body=3"},
       {HttpEvent::kIncompleteAtClose},
       1},
      {"huge and over-long chunk sizes",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab",
       {"TX 0 POST / status=0 body=2"},
       {HttpEvent::kIncompleteAtClose},
       1},
      {"17 hex digits",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nab",
       {"TX 0 POST / status=0 body=2"},
       {HttpEvent::kInvalidRequestChunkLen},
       1},
      {"request line cut by the close",
       kGet + "GET /half",
       {"TX 0 GET"},
       {HttpEvent::kRequestLineIncomplete},
       1},
  };
}

std::vector<HttpEvent> EventsOf(const Recorder& r) {
  std::vector<HttpEvent> out;
  for (const auto& l : r.log) {
    if (l.rfind("EVENT ", 0) != 0) continue;
    for (int i = 0; i < kHttpEventCount; ++i)
      if (l.substr(6) == HttpEventName(static_cast<HttpEvent>(i)))
        out.push_back(static_cast<HttpEvent>(i));
  }
  return out;
}

void ExpectInOrder(const Recorder& r, const std::vector<std::string>& lines) {
  size_t at = 0;
  for (const auto& want : lines) {
    bool found = false;
    for (; at < r.log.size() && !found; ++at) found = r.log[at].rfind(want, 0) == 0;
    EXPECT_TRUE(found) << "missing (in order): " << want << "\ntranscript:\n" << r.Text();
  }
}

TEST(Http1Request, Table) {
  for (const ReqCase& c : RequestCases()) {
    SCOPED_TRACE(c.desc);
    const ParseRun run = Parse(HttpSide::kRequest, c.stream);
    ExpectInOrder(run.rec, c.expect_lines);
    EXPECT_EQ(EventsOf(run.rec), c.events) << run.rec.Text();
    EXPECT_EQ(run.txs, c.txs);
  }
}

const std::string kText =
    "<html>" + std::string(3000, 'x') + "The quick brown fox jumps over the lazy dog</html>";

struct RespCase {
  const char* desc;
  std::string stream;
  std::vector<std::string> methods;  // requests announced before the responses
  std::vector<std::string> bodies;   // per transaction, as delivered
  std::vector<HttpEvent> events;
  HttpConfig cfg;
};

std::vector<RespCase> ResponseCases() {
  const std::string gz = Compress(kText, 15 + 16);
  const std::string zl = Compress(kText, 15);
  const std::string raw = Compress(kText, -15);
  std::string bad_gz = gz;
  bad_gz[3] = static_cast<char>(0xE0);  // reserved gzip header flags: refused before any output
  const std::string bomb = Compress(std::string(1 << 20, '\0'), 15 + 16);
  HttpConfig small;
  small.body_limit = 1000;
  HttpConfig no_inflate;
  no_inflate.decompress = false;
  return {
      {"Content-Length body",
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
       {"GET"},
       {"hello"},
       {},
       {}},
      {"chunked gzip",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n" +
           Chunked(gz, 100),
       {"GET"},
       {kText},
       {},
       {}},
      {"zlib-wrapped deflate, Content-Length",
       "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: " +
           std::to_string(zl.size()) + "\r\n\r\n" + zl,
       {"GET"},
       {kText},
       {},
       {}},
      {"raw deflate",
       "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: " +
           std::to_string(raw.size()) + "\r\n\r\n" + raw,
       {"GET"},
       {kText},
       {},
       {}},
      {"decompression off: bytes as sent",
       "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + std::to_string(gz.size()) +
           "\r\n\r\n" + gz,
       {"GET"},
       {gz},
       {},
       no_inflate},
      {"HEAD, 204, 304 have no body; the next response is parsed",
       "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
       "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"
       "HTTP/1.1 304 Not Modified\r\n\r\n"
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
       {"HEAD", "GET", "GET", "GET"},
       {"", "", "", "ok"},
       {},
       {}},
      {"100 Continue before the final response",
       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
       {"POST"},
       {"", "ok"},
       {},
       {}},
      {"no length: read until close",
       "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil the end",
       {"GET"},
       {"until the end"},
       {},
       {}},
      {"gzip bomb stops at the body limit",
       "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " +
           std::to_string(bomb.size()) + "\r\n\r\n" + bomb,
       {"GET"},
       {std::string(1000, '\0')},
       {HttpEvent::kBodyLimitReached},
       small},
      {"corrupt gzip",
       "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " +
           std::to_string(bad_gz.size()) + "\r\n\r\n" + bad_gz,
       {"GET"},
       {""},
       {HttpEvent::kGzipDecompressionFailed},
       {}},
      {"gzip body cut short by its length (header only)",
       "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n" + gz.substr(0, 10),
       {"GET"},
       {""},
       {HttpEvent::kGzipDecompressionFailed},
       {}},
      {"101 switches to a tunnel",
       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
       {"GET"},
       {""},
       {},
       {}},
      {"CONNECT 200 is a tunnel too",
       "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01",
       {"CONNECT"},
       {""},
       {},
       {}},
      {"response without a request",
       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
       {},
       {"x"},
       {HttpEvent::kUnableToMatchResponseToRequest},
       {}},
      {"bad status line and bad status code",
       "ICY 200 OK\r\nHTTP/1.1 2x0 Odd\r\nContent-Length: 1\r\n\r\nx",
       {"GET"},
       {"x"},
       {HttpEvent::kResponseInvalidProtocol, HttpEvent::kResponseInvalidStatus},
       {}},
      {"body limit on a plain body",
       "HTTP/1.1 200 OK\r\nContent-Length: 1500\r\n\r\n" + std::string(1500, 'b'),
       {"GET"},
       {std::string(1000, 'b')},
       {HttpEvent::kBodyLimitReached},
       small},
  };
}

TEST(Http1Response, Table) {
  for (const RespCase& c : ResponseCases()) {
    SCOPED_TRACE(c.desc);
    const ParseRun run = Parse(HttpSide::kResponse, c.stream, {}, c.methods, c.cfg);
    EXPECT_EQ(run.rec.bodies, c.bodies) << run.rec.Text().substr(0, 2000);
    EXPECT_EQ(EventsOf(run.rec), c.events) << run.rec.Text().substr(0, 2000);
  }
}

// A pooled parser, left in the middle of another flow (half a stream, a compressed body half
// inflated, events counted), then Reset, parses every table case exactly as a new parser does.
TEST(Http1Reset, ResetParserEqualsANewOne) {
  struct Side {
    HttpSide side;
    std::vector<std::pair<std::string, std::vector<std::string>>> cases;  // stream, methods
  };
  std::vector<Side> sides(2);
  sides[0].side = HttpSide::kRequest;
  for (const ReqCase& c : RequestCases()) sides[0].cases.push_back({c.stream, {}});
  sides[1].side = HttpSide::kResponse;
  for (const RespCase& c : ResponseCases()) sides[1].cases.push_back({c.stream, c.methods});
  for (const Side& sd : sides) {
    for (size_t i = 0; i < sd.cases.size(); ++i) {
      const auto& [stream, methods] = sd.cases[i];
      const auto& [dirty, dirty_methods] = sd.cases[(i + 1) % sd.cases.size()];
      SCOPED_TRACE(::testing::Message() << (sd.side == HttpSide::kRequest ? "request" : "response")
                                        << " case " << i);
      const ParseRun fresh = Parse(sd.side, stream, {}, methods);
      Recorder rec;
      Http1Parser p(sd.side, {}, rec.Sink());
      for (const auto& m : dirty_methods) p.ExpectResponseTo(m);
      p.Feed(reinterpret_cast<const uint8_t*>(dirty.data()), dirty.size() / 2);
      p.Reset();
      rec = Recorder();
      for (const auto& m : methods) p.ExpectResponseTo(m);
      p.Feed(reinterpret_cast<const uint8_t*>(stream.data()), stream.size());
      p.Close();
      EXPECT_EQ(rec.Text(), fresh.rec.Text());
      uint32_t events = 0;
      for (int e = 0; e < kHttpEventCount; ++e) events += p.event_count(static_cast<HttpEvent>(e));
      EXPECT_EQ(events, fresh.events);
      EXPECT_EQ(p.transactions(), fresh.txs);
    }
  }
}

TEST(Http1Response, StatusAndTunnelState) {
  Recorder rec;
  Http1Parser p(HttpSide::kResponse, {}, rec.Sink());
  p.ExpectResponseTo("GET");
  const std::string s = "HTTP/1.1 101 Switching Protocols\r\n\r\nGET / HTTP/1.1\r\n\r\n";
  p.Feed(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  EXPECT_TRUE(p.tunnel());
  EXPECT_EQ(p.transactions(), 1u);
  ExpectInOrder(rec, {"RESP HTTP/1.1|101|Switching Protocols", "TX 0   status=101"});
}

TEST(Http1Flow, PairedParsersMatchHeadResponses) {
  Recorder req_rec, resp_rec;
  Http1Parser resp(HttpSide::kResponse, {}, resp_rec.Sink());
  Http1Parser req(HttpSide::kRequest, {}, req_rec.Sink());
  req.PairWith(&resp);
  const std::string r = "HEAD /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string s =
      "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: "
      "4\r\n\r\nbody";
  req.Feed(reinterpret_cast<const uint8_t*>(r.data()), r.size());
  resp.Feed(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  EXPECT_EQ(resp_rec.bodies, (std::vector<std::string>{"", "body"}));
  EXPECT_EQ(resp.event_count(HttpEvent::kUnableToMatchResponseToRequest), 0u);
}

// Streams used for the split tests: every feature that keeps state across chunks.
std::string SplitRequestStream() {
  return kGet +
         "POST /up HTTP/1.1\r\nHost: h\r\nX-F: a\r\n b\r\nTransfer-Encoding: chunked\r\n\r\n" +
         Chunked("0123456789abcdef", 7) +
         "POST /z HTTP/1.1\r\nHost: h\r\nContent-Encoding: gzip\r\nContent-Length: " +
         std::to_string(Compress("zipped request body", 31).size()) + "\r\n\r\n" +
         Compress("zipped request body", 31) + "\r\n";
}

std::string SplitResponseStream() {
  const std::string gz = Compress(kText.substr(0, 400), 31);
  const std::string raw = Compress("raw deflate body", -15);
  return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n" +
         Chunked(gz, 33) + "HTTP/1.1 100 Continue\r\n\r\n" +
         "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: " +
         std::to_string(raw.size()) + "\r\n\r\n" + raw + "HTTP/1.0 200 OK\r\n\r\ntail until close";
}

void ExpectSplitInvariant(HttpSide side, const std::string& stream,
                          const std::vector<std::string>& methods) {
  const std::string whole = Parse(side, stream, {}, methods).rec.Text();
  std::vector<size_t> every;
  for (size_t i = 1; i < stream.size(); ++i) every.push_back(i);
  EXPECT_EQ(Parse(side, stream, every, methods).rec.Text(), whole) << "1-byte chunks";
  for (size_t cut = 1; cut < stream.size(); ++cut)
    ASSERT_EQ(Parse(side, stream, {cut}, methods).rec.Text(), whole) << "split at " << cut;
}

TEST(Http1Split, RequestsSameAtEverySplit) {
  const std::string stream = SplitRequestStream();
  const ParseRun run = Parse(HttpSide::kRequest, stream);
  EXPECT_EQ(run.txs, 3u);
  EXPECT_EQ(run.events, 0u) << run.rec.Text();
  EXPECT_EQ(run.rec.bodies,
            (std::vector<std::string>{"", "0123456789abcdef", "zipped request body"}));
  ExpectSplitInvariant(HttpSide::kRequest, stream, {});
}

TEST(Http1Split, ResponsesSameAtEverySplit) {
  const std::string stream = SplitResponseStream();
  const std::vector<std::string> methods = {"GET", "POST", "GET"};
  const ParseRun run = Parse(HttpSide::kResponse, stream, {}, methods);
  EXPECT_EQ(run.events, 0u) << run.rec.Text();
  EXPECT_EQ(run.rec.bodies, (std::vector<std::string>{kText.substr(0, 400), "", "raw deflate body",
                                                      "tail until close"}));
  ExpectSplitInvariant(HttpSide::kResponse, stream, methods);
}

// Cut anywhere and closed: never a crash; a cut inside a transaction is always reported.
TEST(Http1Hostile, TruncatedAtEveryByte) {
  const std::string stream = SplitRequestStream();
  std::vector<size_t> boundaries = {0};
  {
    // Transaction ends, from the parser itself on the whole stream.
    Recorder rec;
    Http1Parser p(HttpSide::kRequest, {}, rec.Sink());
    for (size_t i = 0; i < stream.size(); ++i) {
      const uint32_t before = p.transactions();
      p.Feed(reinterpret_cast<const uint8_t*>(stream.data()) + i, 1);
      if (p.transactions() != before) boundaries.push_back(i + 1);
    }
  }
  ASSERT_EQ(boundaries.size(), 4u);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SCOPED_TRACE(cut);
    const ParseRun run = Parse(HttpSide::kRequest, stream.substr(0, cut));
    const bool at_boundary =
        std::find(boundaries.begin(), boundaries.end(), cut) != boundaries.end() ||
        cut == stream.size();  // the trailing CRLF is a blank line, tolerated
    if (at_boundary) {
      EXPECT_EQ(run.events, 0u) << run.rec.Text();
    } else {
      EXPECT_GE(run.events, 1u) << run.rec.Text();
    }
  }
}

TEST(Http1Hostile, GarbageNeverCrashesAndStaysBounded) {
  std::mt19937 rng(8);
  for (int iter = 0; iter < 200; ++iter) {
    std::string junk(1 + rng() % 20000, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    if (iter % 2) {
      for (size_t i = 0; i < junk.size(); i += 1 + rng() % 50) junk[i] = '\n';
    }
    for (HttpSide side : {HttpSide::kRequest, HttpSide::kResponse}) {
      HttpConfig cfg;
      cfg.body_limit = 4096;
      const ParseRun run = Parse(side, junk, {}, {"GET"}, cfg);
      for (const auto& b : run.rec.bodies) ASSERT_LE(b.size(), 4096u);
    }
  }
}

// Mutated valid streams: whatever the bytes, chunking must not change what comes out, and bodies
// stay under the limit.
TEST(Http1Hostile, RandomMutationsSplitInvariant) {
  std::mt19937 rng(20261129);
  const std::string seeds[2] = {SplitRequestStream(), SplitResponseStream()};
  const std::string alphabet = "\r\n :;0fF\t%./";
  HttpConfig cfg;
  cfg.body_limit = 300;
  const int kIterations =
      std::getenv("FS_APP_ITERATIONS") ? std::atoi(std::getenv("FS_APP_ITERATIONS")) : 600;
  size_t with_events = 0;
  for (int iter = 0; iter < kIterations; ++iter) {
    const int which = iter % 2;
    const HttpSide side = which == 0 ? HttpSide::kRequest : HttpSide::kResponse;
    std::string s = seeds[which];
    const int edits = 1 + int(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % s.size();
      switch (rng() % 4) {
        case 0:
          s[at] = static_cast<char>(rng());
          break;
        case 1:
          s[at] = alphabet[rng() % alphabet.size()];
          break;
        case 2:
          s.erase(at, 1 + rng() % 8);
          break;
        default:
          s.insert(at, 1, alphabet[rng() % alphabet.size()]);
      }
      if (s.empty()) s = "x";
    }
    const std::vector<std::string> methods = {"GET", "POST", "GET"};
    const ParseRun whole = Parse(side, s, {}, methods, cfg);
    with_events += whole.events > 0;
    for (const auto& b : whole.rec.bodies) ASSERT_LE(b.size(), cfg.body_limit);
    std::vector<size_t> cuts;
    for (size_t at = rng() % 64 + 1; at < s.size(); at += 1 + rng() % 64) cuts.push_back(at);
    ASSERT_EQ(Parse(side, s, cuts, methods, cfg).rec.Text(), whole.rec.Text())
        << "iteration " << iter;
  }
  EXPECT_GT(with_events, 100u);
}

// After construction the parser allocates nothing, decompression included.
struct Counts {
  size_t body = 0;
  size_t txs = 0;
};

TEST(Http1Memory, NoAllocationAfterConstruction) {
  Counts counts;
  HttpSink sink;
  sink.ctx = &counts;
  sink.body = [](void* c, const HttpTx&, const uint8_t*, size_t n) {
    static_cast<Counts*>(c)->body += n;
  };
  sink.tx_done = [](void* c, const HttpTx&) { ++static_cast<Counts*>(c)->txs; };
  const std::string stream = SplitResponseStream();
  const std::string twice = stream.substr(0, stream.find("HTTP/1.0"));
  Http1Parser p(HttpSide::kResponse, {}, sink);
  for (int i = 0; i < 6; ++i) p.ExpectResponseTo("GET");
  const uint64_t before = test_support::Allocations();
  for (int round = 0; round < 2; ++round)
    for (size_t i = 0; i < twice.size(); i += 17)
      p.Feed(reinterpret_cast<const uint8_t*>(twice.data()) + i,
             std::min<size_t>(17, twice.size() - i));
  EXPECT_EQ(test_support::Allocations(), before);
  EXPECT_EQ(counts.txs, 6u);  // 2 x (gzip, 100 Continue, raw deflate)
  EXPECT_EQ(counts.body, 2 * (400 + std::string("raw deflate body").size()));
  EXPECT_EQ(p.event_count(HttpEvent::kGzipDecompressionFailed), 0u);
}

TEST(Http1Uri, Normalize) {
  const struct {
    const char* in;
    const char* out;
  } cases[] = {
      {"/", "/"},
      {"/a/b/c", "/a/b/c"},
      {"/a/./b/../c", "/a/c"},
      {"/../../etc/passwd", "/etc/passwd"},
      {"/a/..", "/"},
      {"/a/.", "/a/"},
      {"/%2e%2E/x", "/x"},
      {"/%7e%41%2f%20", "/~A%2f%20"},
      {"/a/b/..?x=/../y", "/a/?x=/../y"},
      {"http://Host:80/a/../b", "http://Host:80/b"},
      {"*", "*"},
      {"%", "%"},
      {"/%4", "/%4"},
      {"//x/../y", "//y"},
  };
  for (const auto& c : cases) {
    std::string buf(std::strlen(c.in), '\0');
    buf.resize(NormalizeUri(c.in, buf.data()));
    EXPECT_EQ(buf, c.out) << c.in;
  }
}

TEST(Http1Events, NamesAreUnique) {
  std::vector<std::string> seen;
  for (int i = 0; i < kHttpEventCount; ++i) {
    const std::string n = HttpEventName(static_cast<HttpEvent>(i));
    EXPECT_EQ(std::count(seen.begin(), seen.end(), n), 0) << n;
    seen.push_back(n);
  }
}

}  // namespace
}  // namespace fs::app
