#include "dataplane/app/session.h"

#include <new>

#include "dataplane/common/ascii.h"
#include "dataplane/common/prefault.h"

namespace fs::app {
namespace {

constexpr auto IEquals = AsciiIEquals;

// 1: data starts with `word`; 0: cannot; -1: data is a proper prefix of it (need more).
int StartsWith(const uint8_t* data, size_t len, std::string_view word) {
  const size_t n = len < word.size() ? len : word.size();
  if (std::memcmp(data, word.data(), n) != 0) return 0;
  return len >= word.size() ? 1 : -1;
}

constexpr std::string_view kMethods[] = {"GET ",       "POST ",    "HEAD ",  "PUT ",   "DELETE ",
                                         "OPTIONS ",   "CONNECT ", "PATCH ", "TRACE ", "PROPFIND ",
                                         "MKCOL ",     "COPY ",    "MOVE ",  "LOCK ",  "UNLOCK ",
                                         "PROPPATCH ", "SEARCH ",  "REPORT "};

void HeaderLine(std::string_view name, std::string_view value, Field<2048>* out) {
  out->Append(name);
  out->Append(": ");
  out->Append(value);
  out->Append("\r\n");
}

}  // namespace

// The two parsers of an HTTP flow. Their sinks' ctx is this pair, whose owner is the session that
// took it, so a pair moves between sessions without rebuilding its parsers.
struct HttpParsers {
  HttpParsers(const HttpConfig& cfg, const HttpSink& req_sink, const HttpSink& resp_sink)
      : req(HttpSide::kRequest, cfg, WithCtx(req_sink, this)),
        resp(HttpSide::kResponse, cfg, WithCtx(resp_sink, this)) {}
  static HttpSink WithCtx(HttpSink s, void* ctx) {
    s.ctx = ctx;
    return s;
  }
  AppSession* owner = nullptr;
  HttpParsers* next = nullptr;  // pool free list
  Http1Parser req;
  Http1Parser resp;
};

AppSession* AppSession::Of(void* http_ctx) { return static_cast<HttpParsers*>(http_ctx)->owner; }

DetectResult DetectTcp(const uint8_t* data, size_t len, bool to_server, uint16_t server_port) {
  if (len == 0) return DetectResult::kNeedMore;
  bool more = false;
  if (to_server) {
    for (std::string_view m : kMethods) {
      const int r = StartsWith(data, len, m);
      if (r == 1) return DetectResult::kHttp;
      if (r == -1) more = true;
    }
  } else {
    const int r = StartsWith(data, len, "HTTP/1.");
    if (r == 1) return DetectResult::kHttp;
    if (r == -1) more = true;
  }
  // TLS: a handshake record (content type 22, version 3.x). Hook: the TLS parser's own check.
  if (data[0] == 0x16) {
#if FS_HAVE_APP_TLS
    if (len >= 6) return LooksLikeTls(data, len) ? DetectResult::kTls : DetectResult::kNo;
#else
    if (len >= 6) {
      return data[1] == 3 && data[2] <= 4 && data[5] <= 2 ? DetectResult::kTls : DetectResult::kNo;
    }
#endif
    more = true;
  }
  // SMB over NetBIOS session service: 0x00, 3-byte length, then \xFESMB (2/3) or \xFFSMB (1).
  if (data[0] == 0x00 && server_port != 53) {
#if FS_HAVE_APP_SMB
    if (len >= 8) {
      if (LooksLikeSmb(data, len)) return DetectResult::kSmb;
    } else {
      more = true;
    }
#else
    if (len >= 8) {
      if ((data[4] == 0xfe || data[4] == 0xff) && data[5] == 'S' && data[6] == 'M' &&
          data[7] == 'B') {
        return DetectResult::kSmb;
      }
    } else {
      more = true;
    }
#endif
  }
  // DNS over TCP: by port, with a length prefix that can hold a header.
  if (server_port == 53) {
    if (len < 2) return DetectResult::kNeedMore;
    const uint16_t n = static_cast<uint16_t>((data[0] << 8) | data[1]);
    if (n >= kDnsHeaderLen) return DetectResult::kDns;
  }
  return more && len < kDetectBytes ? DetectResult::kNeedMore : DetectResult::kNo;
}

void HttpRequestRecord::Reset() {
  complete = false;
  for (auto* f : {&uri_raw, &uri_norm}) f->Clear();
  line.Clear();
  method.Clear();
  protocol.Clear();
  host.Clear();
  host_raw.Clear();
  host_port = 0;
  user_agent.Clear();
  cookie.Clear();
  referer.Clear();
  for (auto* f : {&accept, &accept_lang, &accept_enc, &connection, &content_type}) f->Clear();
  content_len.Clear();
  header.Clear();
  header_raw.Clear();
  header_names.Clear();
  body.Clear();
}

void HttpResponseRecord::Reset() {
  line.Clear();
  protocol.Clear();
  status = 0;
  stat_code.Clear();
  stat_msg.Clear();
  server.Clear();
  location.Clear();
  content_type.Clear();
  content_len.Clear();
  connection.Clear();
  header.Clear();
  header_raw.Clear();
  header_names.Clear();
  body.Clear();
  body_len = 0;
}

void AppSession::Reset(const HttpConfig* http, const AppHooks* hooks) {
  // The framers hold state only after a DNS-over-TCP flow (8 KB each: not rewritten otherwise).
  const bool dns_used = proto == patterns::AppProto::kDns;
  StopParsers();
  http_cfg_ = http;
  hooks_ = hooks;
  proto = patterns::AppProto::kNone;
  for (int d = 0; d < 2; ++d) {
    probe_len[d] = 0;
    probe_no[d] = false;
    stopped[d] = false;
    raw[d].Clear();
    if (dns_used) dns[d] = DnsTcpFramer{};
  }
  req_head_ = req_count_ = 0;
  req_building_ = resp_building_ = false;
  next_tx_id_ = 0;
  unpaired = 0;
  tls_server_inspected = tls_logged = false;
  smb_next_id = 0;
}

bool AppSession::StartHttp() {
  if (http_ != nullptr) return true;
  if (tls_ != nullptr || smb_ != nullptr) return false;
  if (pool_ != nullptr) {
    http_ = pool_->TakeHttp(this);
  } else {
    // A session outside a pool (not used by the worker): its own pair, freed in StopParsers.
    HttpSink rs, ps;
    HttpSinks(&rs, &ps);
    http_ = new (std::nothrow) HttpParsers(*http_cfg_, rs, ps);
    if (http_ != nullptr) {
      http_->owner = this;
      http_->req.PairWith(&http_->resp);
    }
  }
  if (http_ == nullptr) return false;
  req_ = &http_->req;
  resp_ = &http_->resp;
  return true;
}

void AppSession::HttpSinks(HttpSink* rs, HttpSink* ps) {
  rs->request_line = &ReqLine;
  rs->header = &ReqHeader;
  rs->headers_done = &ReqHeadersDone;
  rs->body = &ReqBody;
  rs->tx_done = &ReqDone;
  rs->event = &OnEvent;
  ps->status_line = &StatusLine;
  ps->header = &RespHeader;
  ps->headers_done = &RespHeadersDone;
  ps->body = &RespBody;
  ps->tx_done = &RespDone;
  ps->event = &OnEvent;
}

void AppSession::StopParsers() {
  if (http_ != nullptr) {
    if (pool_ != nullptr) {
      pool_->GiveHttp(http_);
    } else {
      delete http_;
    }
    http_ = nullptr;
    req_ = resp_ = nullptr;
  }
  if (tls_ != nullptr) {
    tls_->~TlsParser();
    tls_ = nullptr;
    if (parser_block_ != nullptr) pool_->tls_blocks_.Give(parser_block_);
  }
  if (smb_ != nullptr) {
    smb_->~SmbParser();
    smb_ = nullptr;
    if (parser_block_ != nullptr) pool_->smb_blocks_.Give(parser_block_);
  }
  parser_block_ = nullptr;
}

bool AppSession::StartTls() {
  if (tls_ != nullptr) return true;
  if (http_ != nullptr || smb_ != nullptr) return false;
  parser_block_ =
      pool_ != nullptr ? pool_->tls_blocks_.Take(TlsParser::kStorageBytes) : nullptr;
  tls_ = new (parser_mem_) TlsParser(parser_block_);
  std::memset(tls_events_seen, 0, sizeof(tls_events_seen));
  return true;
}

bool AppSession::StartSmb(const SmbConfig& cfg) {
  if (smb_ != nullptr) return true;
  if (http_ != nullptr || tls_ != nullptr) return false;
  SmbSink sink;
  sink.ctx = this;
  sink.record = &SmbRec;
  sink.event = &SmbEv;
  parser_block_ =
      pool_ != nullptr ? pool_->smb_blocks_.Take(SmbParser::StorageBytes(cfg)) : nullptr;
  smb_ = new (parser_mem_) SmbParser(cfg, sink, parser_block_);
  return true;
}

BlockCache::~BlockCache() {
  while (free_ != nullptr) {
    Idle* b = free_;
    free_ = b->next;
    delete[] reinterpret_cast<uint8_t*>(b);
  }
}

uint8_t* BlockCache::Take(size_t bytes) {
  if (bytes < sizeof(Idle) || (bytes_ != 0 && bytes != bytes_)) return nullptr;
  if (free_ != nullptr) {
    Idle* b = free_;
    free_ = b->next;
    --idle_;
    ++reused_;
    return reinterpret_cast<uint8_t*>(b);
  }
  auto* block = new (std::nothrow) uint8_t[bytes];
  if (block == nullptr) return nullptr;
  bytes_ = bytes;
  ++total_;
  return block;
}

uint32_t BlockCache::Reserve(size_t bytes, uint32_t n) {
  if (bytes < sizeof(Idle) || (bytes_ != 0 && bytes != bytes_)) return total_;
  while (total_ < n) {
    auto* block = new (std::nothrow) uint8_t[bytes];
    if (block == nullptr) break;
    bytes_ = bytes;
    ++total_;
    Prefault(block, bytes);
    Give(block);
  }
  return total_;
}

void BlockCache::Give(uint8_t* block) {
  // new[] of uint8_t is aligned for any fundamental type: the block can hold the link.
  Idle* b = new (block) Idle{free_};
  free_ = b;
  ++idle_;
}

void AppSession::FeedSmb(int dir, const uint8_t* data, size_t len) {
  if (smb_ == nullptr) return;
  smb_->Feed(dir == 0 ? SmbDirection::kToServer : SmbDirection::kToClient, data, len);
}

void AppSession::SmbRec(void* c, const SmbRecord& r) {
  auto* s = static_cast<AppSession*>(c);
  if (s->hooks_->smb_record) s->hooks_->smb_record(s->hooks_->ctx, *s, r);
}

void AppSession::SmbEv(void* c, SmbEvent e) {
  auto* s = static_cast<AppSession*>(c);
  if (s->hooks_->smb_event) s->hooks_->smb_event(s->hooks_->ctx, e);
}

void AppSession::FeedHttp(int dir, const uint8_t* data, size_t len) {
  if (req_ == nullptr) return;
  (dir == 0 ? req_ : resp_)->Feed(data, len);
}

void AppSession::CloseHttp() {
  if (req_ == nullptr) return;
  req_->Close();
  resp_->Close();
  // Requests still waiting (or left unfinished by the parser): reported without a response.
  while (req_count_ > 0) {
    HttpRequestRecord& r = reqs_[req_head_];
    const bool last = req_count_ == 1;
    if (r.complete || (last && req_building_ && r.line.len > 0)) {
      if (hooks_->http_unanswered) hooks_->http_unanswered(hooks_->ctx, *this, r);
    }
    req_head_ = static_cast<uint8_t>((req_head_ + 1) % kHttpPendingTx);
    --req_count_;
  }
  req_building_ = false;
}

HttpRequestRecord* AppSession::Building() {
  if (!req_building_ || req_count_ == 0) return nullptr;
  return &reqs_[(req_head_ + req_count_ - 1) % kHttpPendingTx];
}

void AppSession::ReqLine(void* c, const HttpRequestLine& l) {
  AppSession* s = Of(c);
  if (s->req_building_) {
    // The previous request never completed (the parser reports completion before the next
    // line): reuse its slot.
    --s->req_count_;
    s->req_building_ = false;
  }
  if (s->req_count_ == kHttpPendingTx) {
    // Pipelined past the ring: the oldest request's response will be inspected without it.
    s->req_head_ = static_cast<uint8_t>((s->req_head_ + 1) % kHttpPendingTx);
    --s->req_count_;
    ++s->unpaired;
  }
  HttpRequestRecord& r = s->reqs_[(s->req_head_ + s->req_count_) % kHttpPendingTx];
  ++s->req_count_;
  s->req_building_ = true;
  r.Reset();
  r.tx_id = s->next_tx_id_++;
  r.method.Assign(l.method);
  r.uri_raw.Assign(l.uri_raw);
  r.uri_norm.Assign(l.uri_norm);
  r.protocol.Assign(l.protocol);
  r.line.Append(l.method);
  r.line.Append(" ");
  r.line.Append(l.uri_raw);
  if (!l.protocol.empty()) {
    r.line.Append(" ");
    r.line.Append(l.protocol);
  }
}

void AppSession::ReqHeader(void* c, std::string_view n, std::string_view v) {
  AppSession* s = Of(c);
  HttpRequestRecord* r = s->Building();
  if (r == nullptr) return;
  HeaderLine(n, v, &r->header_raw);
  if (!IEquals(n, "Cookie")) HeaderLine(n, v, &r->header);
  if (IEquals(n, "Host")) {
    if (r->host_raw.len == 0) {
      r->host_raw.Assign(v);
      // The port, if the value has one after the host (or after "[v6]").
      const size_t close = v.find(']');
      const size_t colon = v.find(':', close == std::string_view::npos ? 0 : close);
      if (colon != std::string_view::npos) {
        uint32_t port = 0;
        size_t i = colon + 1;
        for (; i < v.size() && v[i] >= '0' && v[i] <= '9' && port <= 65535; ++i)
          port = port * 10 + static_cast<uint32_t>(v[i] - '0');
        if (i == v.size() && i > colon + 1 && port <= 65535)
          r->host_port = static_cast<uint16_t>(port);
      }
    }
  } else if (IEquals(n, "Referer")) {
    r->referer.Assign(v);
  } else if (IEquals(n, "Accept")) {
    r->accept.Assign(v);
  } else if (IEquals(n, "Accept-Language")) {
    r->accept_lang.Assign(v);
  } else if (IEquals(n, "Accept-Encoding")) {
    r->accept_enc.Assign(v);
  } else if (IEquals(n, "Connection")) {
    r->connection.Assign(v);
  } else if (IEquals(n, "Content-Length")) {
    r->content_len.Assign(v);
  }
}

void AppSession::ReqHeadersDone(void* c, const HttpTx& tx) {
  AppSession* s = Of(c);
  HttpRequestRecord* r = s->Building();
  if (r == nullptr) return;
  r->host.Assign(tx.host);
  r->user_agent.Assign(tx.user_agent);
  r->cookie.Assign(tx.cookie);
  r->content_type.Assign(tx.content_type);
  r->header_names.Assign(tx.header_names);
}

void AppSession::ReqBody(void* c, const HttpTx&, const uint8_t* d, size_t n) {
  AppSession* s = Of(c);
  if (HttpRequestRecord* r = s->Building()) {
    r->body.Append({reinterpret_cast<const char*>(d), n});
  }
}

void AppSession::ReqDone(void* c, const HttpTx&) {
  AppSession* s = Of(c);
  HttpRequestRecord* r = s->Building();
  if (r == nullptr) return;
  r->complete = true;
  s->req_building_ = false;
  if (s->hooks_->http_request) s->hooks_->http_request(s->hooks_->ctx, *s, *r);
}

void AppSession::StatusLine(void* c, const HttpStatusLine& l) {
  AppSession* s = Of(c);
  HttpResponseRecord& r = s->resp_rec_;
  r.Reset();
  s->resp_building_ = true;
  r.protocol.Assign(l.protocol);
  r.status = l.code;
  char code[8];
  int n = 0;
  if (l.code > 0) {
    code[0] = static_cast<char>('0' + l.code / 100 % 10);
    code[1] = static_cast<char>('0' + l.code / 10 % 10);
    code[2] = static_cast<char>('0' + l.code % 10);
    n = 3;
  }
  r.stat_code.Assign({code, static_cast<size_t>(n)});
  r.stat_msg.Assign(l.message);
  r.line.Append(l.protocol);
  r.line.Append(" ");
  r.line.Append(r.stat_code.view());
  if (!l.message.empty()) {
    r.line.Append(" ");
    r.line.Append(l.message);
  }
}

void AppSession::RespHeader(void* c, std::string_view n, std::string_view v) {
  AppSession* s = Of(c);
  if (!s->resp_building_) return;
  HttpResponseRecord& r = s->resp_rec_;
  HeaderLine(n, v, &r.header_raw);
  if (!IEquals(n, "Set-Cookie")) HeaderLine(n, v, &r.header);
  if (IEquals(n, "Server")) {
    r.server.Assign(v);
  } else if (IEquals(n, "Location")) {
    r.location.Assign(v);
  } else if (IEquals(n, "Content-Length")) {
    r.content_len.Assign(v);
  } else if (IEquals(n, "Connection")) {
    r.connection.Assign(v);
  }
}

void AppSession::RespHeadersDone(void* c, const HttpTx& tx) {
  AppSession* s = Of(c);
  if (!s->resp_building_) return;
  s->resp_rec_.content_type.Assign(tx.content_type);
  s->resp_rec_.header_names.Assign(tx.header_names);
}

void AppSession::RespBody(void* c, const HttpTx&, const uint8_t* d, size_t n) {
  AppSession* s = Of(c);
  if (s->resp_building_) s->resp_rec_.body.Append({reinterpret_cast<const char*>(d), n});
}

void AppSession::RespDone(void* c, const HttpTx& tx) {
  AppSession* s = Of(c);
  if (!s->resp_building_) return;
  s->resp_building_ = false;
  if (tx.interim) return;  // 1xx: the final response to the same request follows
  s->resp_rec_.body_len = tx.body_wire;
  const HttpRequestRecord* req = nullptr;
  const bool head_done = s->req_count_ > 0 && s->reqs_[s->req_head_].complete &&
                         !(s->req_building_ && s->req_count_ == 1);
  if (head_done) req = &s->reqs_[s->req_head_];
  if (s->hooks_->http_response) s->hooks_->http_response(s->hooks_->ctx, *s, req, s->resp_rec_);
  if (head_done) {
    s->req_head_ = static_cast<uint8_t>((s->req_head_ + 1) % kHttpPendingTx);
    --s->req_count_;
  }
}

void AppSession::OnEvent(void* c, HttpEvent e) {
  AppSession* s = Of(c);
  if (s->hooks_->http_event) s->hooks_->http_event(s->hooks_->ctx, e);
}

AppSessionPool::AppSessionPool(uint32_t capacity, const HttpConfig& http, const AppHooks& hooks)
    : capacity_(capacity), http_(http), hooks_(hooks) {
  sessions_ = LargeArray<AppSession>(capacity_);
  for (uint32_t i = 0; i < capacity_; ++i) sessions_[i].pool_ = this;
  free_ = LargeArray<uint32_t>(capacity_);
  // Lowest slots first: a lightly loaded worker keeps touching the same few sessions.
  for (uint32_t i = 0; i < capacity_; ++i) free_[i] = capacity_ - i;
  free_count_ = capacity_;
}

size_t AppSessionPool::Prealloc(uint32_t n, const SmbConfig& smb) {
  n = std::min(n, capacity_);
  size_t bytes = size_t{n} * sizeof(AppSession);
  Prefault(sessions_.get(), bytes);
  HttpSink rs, ps;
  AppSession::HttpSinks(&rs, &ps);
  while (http_total_ < n) {
    auto* h = new (std::nothrow) HttpParsers(http_, rs, ps);
    if (h == nullptr) break;
    ++http_total_;
    Prefault(h, sizeof(HttpParsers));
    bytes += sizeof(HttpParsers) + h->req.PrefaultArena() + h->resp.PrefaultArena();
    GiveHttp(h);
  }
  // Only the blocks made here count (flows may have made some before).
  const uint32_t tls_before = tls_blocks_.total(), smb_before = smb_blocks_.total();
  bytes += size_t{tls_blocks_.Reserve(TlsParser::kStorageBytes, n) - tls_before} *
           TlsParser::kStorageBytes;
  const size_t smb_bytes = SmbParser::StorageBytes(smb);
  bytes += size_t{smb_blocks_.Reserve(smb_bytes, n) - smb_before} * smb_bytes;
  return bytes;
}

size_t AppSessionPool::ReadyBytes(uint32_t n, const HttpConfig& http, const SmbConfig& smb) {
  return size_t{n} * (sizeof(AppSession) + sizeof(HttpParsers) + 2 * Http1Parser::ArenaBytes(http) +
                      TlsParser::kStorageBytes + SmbParser::StorageBytes(smb));
}

AppSessionPool::~AppSessionPool() {
  sessions_.reset();  // sessions in use give their HTTP pairs back first
  while (http_free_ != nullptr) {
    HttpParsers* h = http_free_;
    http_free_ = h->next;
    delete h;
  }
}

HttpParsers* AppSessionPool::TakeHttp(AppSession* owner) {
  HttpParsers* h = http_free_;
  if (h != nullptr) {
    http_free_ = h->next;
    --http_idle_;
    ++counters_.http_parsers_reused;
    // Back to a new parser's state without allocating; zlib stays initialised (inflateReset2
    // when the next compressed body starts). Reset also undoes the pairing.
    h->req.Reset();
    h->resp.Reset();
  } else {
    HttpSink rs, ps;
    AppSession::HttpSinks(&rs, &ps);
    h = new (std::nothrow) HttpParsers(http_, rs, ps);
    if (h == nullptr) return nullptr;
    ++http_total_;
    ++counters_.http_parsers_made;
  }
  h->next = nullptr;
  h->owner = owner;
  h->req.PairWith(&h->resp);
  return h;
}

void AppSessionPool::GiveHttp(HttpParsers* h) {
  h->owner = nullptr;
  h->next = http_free_;
  http_free_ = h;
  ++http_idle_;
}

uint32_t AppSessionPool::Acquire() {
  if (free_count_ == 0) {
    ++counters_.exhausted;
    return 0;
  }
  const uint32_t slot = free_[--free_count_];
  ++in_use_;
  ++counters_.acquired;
  At(slot).Reset(&http_, &hooks_);
  return slot;
}

void AppSessionPool::Release(uint32_t slot) {
  if (slot == 0 || slot > capacity_) return;
  At(slot).Reset(&http_, &hooks_);  // gives the parsers back now, not at the next acquire
  free_[free_count_++] = slot;
  --in_use_;
}

}  // namespace fs::app
