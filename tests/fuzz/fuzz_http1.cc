// Fuzz target for the HTTP/1.x parser (dataplane/app/http1.h): a request-side and a response-side
// Http1Parser, paired as the worker pairs them, fed the to-server and to-client streams in
// fuzzer-chosen chunks and interleaving. Input layout: tests/fuzz/fuzz_schedule.h.
// Options byte: bit 0 decompression off, bit 1 small body limit (100 bytes), bit 2 do not pair
// the parsers (the response side then learns nothing of the requests), bit 3 no Close() at the
// end, bits 4-5 ExpectResponseTo("HEAD"/"CONNECT"/"GET"/none) before any byte is fed.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "dataplane/app/http1.h"
#include "tests/fuzz/fuzz_schedule.h"

namespace {

using fs::fuzz::Touch;
using fs::fuzz::TouchValue;
using fs::fuzz::TouchView;
using namespace fs::app;

struct Track {
  uint64_t limit = 0;
  uint64_t body_in_tx = 0;  // body bytes delivered in the current transaction
};

void CheckTx(const HttpTx& tx) {
  TouchValue(tx.index);
  TouchView(tx.method);
  TouchView(tx.uri_norm);
  TouchView(tx.protocol);
  TouchValue(tx.status);
  TouchView(tx.status_message);
  TouchView(tx.host);
  TouchView(tx.user_agent);
  TouchView(tx.cookie);
  TouchView(tx.content_type);
  TouchView(tx.header_names);
  FS_FUZZ_CHECK(tx.method.size() <= kHttpMethodCap);
  FS_FUZZ_CHECK(tx.uri_norm.size() <= kHttpLineCap);
  FS_FUZZ_CHECK(tx.protocol.size() <= kHttpProtocolCap);
  FS_FUZZ_CHECK(tx.status_message.size() <= kHttpStatusMsgCap);
  FS_FUZZ_CHECK(tx.host.size() <= kHttpHostCap);
  FS_FUZZ_CHECK(tx.user_agent.size() <= kHttpUserAgentCap);
  FS_FUZZ_CHECK(tx.cookie.size() <= kHttpCookieCap);
  FS_FUZZ_CHECK(tx.content_type.size() <= kHttpContentTypeCap);
  FS_FUZZ_CHECK(tx.header_names.size() <= kHttpHeaderNamesCap);
  TouchValue(tx.header_count);
  TouchValue(uint64_t(tx.has_content_length) << 1 | tx.chunked);
  TouchValue(tx.content_length);
  TouchValue(static_cast<uint64_t>(tx.encoding) << 1 | tx.interim);
  TouchValue(tx.body_wire);
  TouchValue(tx.body_delivered);
  TouchValue(tx.body_truncated);
}

Track* Self(void* ctx) { return static_cast<Track*>(ctx); }

HttpSink MakeSink(Track* t) {
  HttpSink s;
  s.ctx = t;
  s.request_line = [](void*, const HttpRequestLine& l) {
    TouchView(l.method);
    TouchView(l.uri_raw);
    TouchView(l.uri_norm);
    TouchView(l.protocol);
    // NormalizeUri writes at most uri.size() bytes.
    FS_FUZZ_CHECK(l.uri_norm.size() <= l.uri_raw.size());
  };
  s.status_line = [](void*, const HttpStatusLine& l) {
    TouchView(l.protocol);
    TouchValue(l.code);
    TouchView(l.message);
    FS_FUZZ_CHECK(l.code <= 999);
  };
  s.header = [](void*, std::string_view n, std::string_view v) {
    TouchView(n);
    TouchView(v);
    FS_FUZZ_CHECK(n.size() + v.size() <= kHttpLineCap);
  };
  s.headers_done = [](void* c, const HttpTx& tx) {
    CheckTx(tx);
    Self(c)->body_in_tx = 0;
  };
  s.body = [](void* c, const HttpTx& tx, const uint8_t* data, size_t len) {
    Touch(data, len);
    Track* t = Self(c);
    t->body_in_tx += len;
    FS_FUZZ_CHECK(t->body_in_tx <= t->limit);
    TouchValue(tx.body_delivered);
  };
  s.tx_done = [](void* c, const HttpTx& tx) {
    CheckTx(tx);
    FS_FUZZ_CHECK(tx.body_delivered <= Self(c)->limit);
    Self(c)->body_in_tx = 0;
  };
  s.event = [](void*, HttpEvent e) {
    FS_FUZZ_CHECK(static_cast<int>(e) < kHttpEventCount);
    const char* name = HttpEventName(e);
    FS_FUZZ_CHECK(name != nullptr);
    Touch(name, std::strlen(name));
  };
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::fuzz::Input in = fs::fuzz::Split(data, size);
  HttpConfig cfg;
  cfg.decompress = !(in.options & 1u);
  if (in.options & 2u) cfg.body_limit = 100;
  Track req_track, resp_track;
  req_track.limit = resp_track.limit = cfg.body_limit;
  auto req = std::make_unique<Http1Parser>(HttpSide::kRequest, cfg, MakeSink(&req_track));
  auto resp = std::make_unique<Http1Parser>(HttpSide::kResponse, cfg, MakeSink(&resp_track));
  if (!(in.options & 4u)) req->PairWith(resp.get());
  switch ((in.options >> 4) & 3u) {
    case 0: break;
    case 1: resp->ExpectResponseTo("HEAD"); break;
    case 2: resp->ExpectResponseTo("CONNECT"); break;
    default: resp->ExpectResponseTo("GET"); break;
  }

  fs::fuzz::Schedule(in, 2, [&](int d, const uint8_t* chunk, size_t n) {
    (d == 0 ? req : resp)->Feed(chunk, n);
  });
  if (!(in.options & 8u)) {
    req->Close();
    resp->Close();
    // Bytes after Close are ignored.
    static const uint8_t kMore[] = "GET / HTTP/1.1\r\n\r\n";
    req->Feed(kMore, sizeof(kMore) - 1);
  }
  for (Http1Parser* p : {req.get(), resp.get()}) {
    TouchValue(p->transactions());
    TouchValue(p->tunnel());
    for (int e = 0; e < kHttpEventCount; ++e) TouchValue(p->event_count(static_cast<HttpEvent>(e)));
  }
  return 0;
}
