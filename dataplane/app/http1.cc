#include "dataplane/app/http1.h"

#include <cstring>
#include <new>

#include "dataplane/common/ascii.h"
#include "dataplane/common/prefault.h"

namespace fs::app {

const char* HttpEventName(HttpEvent e) {
  switch (e) {
#define FS_X(id, name) \
  case HttpEvent::id:  \
    return name;
    FS_HTTP_EVENTS(FS_X)
#undef FS_X
    case HttpEvent::kCount:
      break;
  }
  return "unknown";
}

namespace {

// inflate_state (about 7 KB) plus its 32 KB window, with room for alignment; zlib makes no other
// allocation for inflate.
constexpr size_t kZArenaBytes = 48 * 1024;
// 15 window bits + 32: zlib detects a gzip or a zlib header by itself.
constexpr int kZWindowAuto = 15 + 32;
constexpr int kZWindowRaw = -15;

constexpr auto Lower = AsciiLower;
constexpr auto IEquals = AsciiIEquals;

bool IStartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && IEquals(s.substr(0, prefix.size()), prefix);
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (IsSpace(s.front()) || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (IsSpace(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// RFC 9110 5.6.2 tchar.
bool IsToken(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool IsTokenString(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!IsToken(c)) return false;
  return true;
}

// Copies up to cap bytes of s into buf; returns the view of what was kept.
template <size_t N>
std::string_view Keep(std::array<char, N>& buf, std::string_view s, bool lower = false) {
  const size_t n = s.size() < N ? s.size() : N;
  for (size_t i = 0; i < n; ++i) buf[i] = lower ? Lower(s[i]) : s[i];
  return {buf.data(), n};
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUnreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Decimal Content-Length; false on anything but digits (OWS around them allowed) or overflow.
bool ParseDecimal(std::string_view s, uint64_t* v) {
  s = Trim(s);
  if (s.empty() || s.size() > 19) return false;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *v = n;
  return true;
}

// Removes "." and ".." segments from the path in buf[0, n), in place; returns the new length.
// Output never runs ahead of input, so memmove within one buffer is safe.
size_t RemoveDotSegments(char* buf, size_t n) {
  if (n == 0 || buf[0] != '/') return n;
  size_t o = 0;
  size_t i = 1;  // past the leading '/'
  for (;;) {
    size_t j = i;
    while (j < n && buf[j] != '/') ++j;
    const size_t seg_len = j - i;
    const bool last = j >= n;
    const bool dot = seg_len == 1 && buf[i] == '.';
    const bool dotdot = seg_len == 2 && buf[i] == '.' && buf[i + 1] == '.';
    if (dot) {
      if (last) buf[o++] = '/';
    } else if (dotdot) {
      while (o > 0 && buf[o - 1] != '/') --o;  // back to the '/' that began the segment
      if (o > 0) --o;                          // and drop that '/' too
      if (last) buf[o++] = '/';
    } else {
      buf[o++] = '/';
      std::memmove(buf + o, buf + i, seg_len);
      o += seg_len;
    }
    if (last) break;
    i = j + 1;
  }
  return o;
}

}  // namespace

size_t NormalizeUri(std::string_view uri, char* out) {
  size_t n = 0;
  for (size_t i = 0; i < uri.size(); ++i) {
    const char c = uri[i];
    if (c == '%' && i + 2 < uri.size() && HexValue(uri[i + 1]) >= 0 && HexValue(uri[i + 2]) >= 0) {
      const char d = static_cast<char>(HexValue(uri[i + 1]) * 16 + HexValue(uri[i + 2]));
      if (IsUnreserved(d)) {
        out[n++] = d;
        i += 2;
        continue;
      }
    }
    out[n++] = c;
  }
  // The path: after an absolute-form "scheme://authority", up to '?' or '#'.
  size_t path_begin = 0;
  const std::string_view s(out, n);
  const size_t scheme_end = s.find("://");
  if (scheme_end != std::string_view::npos && s.find_first_of("/?#") > scheme_end) {
    const size_t slash = s.find('/', scheme_end + 3);
    path_begin = slash == std::string_view::npos ? n : slash;
  }
  size_t path_end = s.find_first_of("?#", path_begin);
  if (path_end == std::string_view::npos) path_end = n;
  const size_t tail = n - path_end;
  const size_t new_len = RemoveDotSegments(out + path_begin, path_end - path_begin);
  std::memmove(out + path_begin + new_len, out + path_end, tail);
  return path_begin + new_len + tail;
}

Http1Parser::Http1Parser(HttpSide side, const HttpConfig& cfg, const HttpSink& sink)
    : side_(side), cfg_(cfg), sink_(sink) {
  // The arena is reserved now (no allocation later); zlib is initialised in it by ZlibReady().
  if (cfg_.decompress) arena_.reset(new (std::nothrow) uint8_t[kZArenaBytes]);
  if (arena_) {
    zs_.zalloc = &Http1Parser::ZAlloc;
    zs_.zfree = &Http1Parser::ZFree;
    zs_.opaque = this;
  }
  StartTx();
}

// zlib for the first compressed body (the caller resets it per body with inflateReset2). One
// attempt per parser, as when it was made at construction.
bool Http1Parser::ZlibReady() {
  if (!z_tried_ && arena_) {
    z_tried_ = true;
    z_ready_ = inflateInit2(&zs_, kZWindowAuto) == Z_OK;
  }
  return z_ready_;
}

Http1Parser::~Http1Parser() {
  if (z_ready_) inflateEnd(&zs_);
}

// Bump allocation from the arena reserved at construction; zlib frees only at inflateEnd.
void* Http1Parser::ZAlloc(void* opaque, unsigned items, unsigned size) {
  auto* self = static_cast<Http1Parser*>(opaque);
  const size_t want = (static_cast<size_t>(items) * size + 15) & ~size_t{15};
  if (want > kZArenaBytes - self->arena_used_) return Z_NULL;
  void* p = self->arena_.get() + self->arena_used_;
  self->arena_used_ += want;
  return p;
}

void Http1Parser::ZFree(void*, void*) {}

void Http1Parser::Event(HttpEvent e) {
  ++events_[static_cast<int>(e)];
  if (sink_.event) sink_.event(sink_.ctx, e);
}

void Http1Parser::ExpectResponseTo(std::string_view method) {
  if (pending_count_ == kHttpMaxPending) {
    Event(HttpEvent::kTooManyPendingRequests);
    return;
  }
  ReqKind kind = ReqKind::kNormal;
  if (IEquals(method, "HEAD")) kind = ReqKind::kHead;
  if (IEquals(method, "CONNECT")) kind = ReqKind::kConnect;
  pending_[(pending_head_ + pending_count_) % kHttpMaxPending] = kind;
  ++pending_count_;
}

void Http1Parser::StartTx() {
  tx_ = HttpTx{};
  tx_.index = tx_index_;
  header_names_len_ = 0;
  saw_host_ = false;
  limit_reported_ = false;
  z_active_ = false;
  remaining_ = 0;
}

void Http1Parser::Reset() {
  // Every field a transaction or the stream position left behind; the buffers keep their bytes
  // (each is read only up to a length set afresh), zlib keeps its window (inflateReset2 at the
  // next compressed body), the arena and the sink stay.
  state_ = State::kStartLine;
  ResetLine();
  at_line_start_ = true;
  hdr_pending_ = false;
  tx_index_ = 0;
  req_kind_ = ReqKind::kNormal;
  pending_head_ = 0;
  pending_count_ = 0;
  z_raw_tried_ = false;
  events_.fill(0);
  peer_ = nullptr;
  StartTx();
}

size_t Http1Parser::ArenaBytes(const HttpConfig& cfg) { return cfg.decompress ? kZArenaBytes : 0; }

size_t Http1Parser::PrefaultArena() {
  if (!arena_) return 0;
  fs::Prefault(arena_.get(), kZArenaBytes);
  return kZArenaBytes;
}

void Http1Parser::ResetLine() {
  line_len_ = 0;
  line_start_ = 0;
  line_overflow_ = false;
}

// Gathers bytes up to LF into line_ (kept truncated past kHttpLineCap). True when a physical line
// is complete; its CR LF (or bare LF) is not kept.
bool Http1Parser::TakeLine(const uint8_t** p, const uint8_t* end) {
  const size_t avail = static_cast<size_t>(end - *p);
  const auto* lf = static_cast<const uint8_t*>(std::memchr(*p, '\n', avail));
  const size_t n = lf ? static_cast<size_t>(lf - *p) : avail;
  const size_t room = kHttpLineCap - line_len_;
  const size_t copy = n < room ? n : room;
  std::memcpy(line_.data() + line_len_, *p, copy);
  line_len_ += copy;
  if (copy < n) line_overflow_ = true;
  *p = lf ? lf + 1 : end;
  if (!lf) return false;
  if (!line_overflow_ && line_len_ > line_start_ && line_[line_len_ - 1] == '\r') --line_len_;
  if (line_overflow_) Event(HttpEvent::kRequestFieldTooLong, HttpEvent::kResponseFieldTooLong);
  return true;
}

void Http1Parser::Feed(const uint8_t* data, size_t len) {
  const uint8_t* p = data;
  const uint8_t* const end = data + len;
  while (p < end) {
    switch (state_) {
      case State::kStartLine: {
        if (!TakeLine(&p, end)) break;
        ParseStartLine();
        break;
      }
      case State::kHeaders: {
        if (hdr_pending_ && at_line_start_) {
          if (IsSpace(static_cast<char>(*p))) {
            // Obsolete line folding (RFC 9112 5.2): the line continues the held header.
            if (line_len_ < kHttpLineCap) line_[line_len_++] = ' ';
            line_start_ = line_len_;
          } else {
            ParseHeader(std::string_view(line_.data(), line_len_));
            hdr_pending_ = false;
            ResetLine();
          }
        }
        at_line_start_ = false;
        if (!TakeLine(&p, end)) break;
        at_line_start_ = true;
        if (line_len_ == line_start_ && !hdr_pending_) {
          ResetLine();
          EndHeaders();
          break;
        }
        if (!hdr_pending_ && IsSpace(line_[0]) && tx_.header_count == 0) {
          Event(HttpEvent::kInvalidRequestFieldFolding, HttpEvent::kInvalidResponseFieldFolding);
        }
        hdr_pending_ = true;
        line_overflow_ = false;  // reported; a fold may still add to the held line
        break;
      }
      case State::kBodyLength: {
        const size_t avail = static_cast<size_t>(end - p);
        const size_t n = remaining_ < avail ? static_cast<size_t>(remaining_) : avail;
        BodyBytes(p, n);
        p += n;
        remaining_ -= n;
        if (remaining_ == 0) FinishTx();
        break;
      }
      case State::kChunkSize: {
        if (!TakeLine(&p, end)) break;
        uint64_t size = 0;
        const bool ok = ParseChunkSize(std::string_view(line_.data(), line_len_), &size);
        ResetLine();
        if (!ok) {
          // Resynchronising is guesswork; the rest of the stream is treated as this body, which
          // is what a lenient server would also be reading.
          Event(HttpEvent::kInvalidRequestChunkLen, HttpEvent::kInvalidResponseChunkLen);
          state_ = State::kBodyUntilClose;
        } else if (size == 0) {
          state_ = State::kTrailers;
        } else {
          remaining_ = size;
          state_ = State::kChunkData;
        }
        break;
      }
      case State::kChunkData: {
        const size_t avail = static_cast<size_t>(end - p);
        const size_t n = remaining_ < avail ? static_cast<size_t>(remaining_) : avail;
        BodyBytes(p, n);
        p += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::kChunkDataEnd;
        break;
      }
      case State::kChunkDataEnd: {
        if (!TakeLine(&p, end)) break;
        if (line_len_ != 0)
          Event(HttpEvent::kInvalidRequestChunkLen, HttpEvent::kInvalidResponseChunkLen);
        ResetLine();
        state_ = State::kChunkSize;
        break;
      }
      case State::kTrailers: {
        if (!TakeLine(&p, end)) break;
        const bool empty = line_len_ == 0;
        ResetLine();
        if (empty) FinishTx();
        break;
      }
      case State::kBodyUntilClose: {
        BodyBytes(p, static_cast<size_t>(end - p));
        p = end;
        break;
      }
      case State::kTunnel:
      case State::kClosed:
        p = end;
        break;
    }
  }
}

void Http1Parser::ParseStartLine() {
  std::string_view line(line_.data(), line_len_);
  const bool overflow = line_overflow_;
  ResetLine();
  at_line_start_ = true;
  hdr_pending_ = false;
  if (Trim(line).empty() && !overflow) return;  // blank lines between messages are tolerated
  StartTx();
  // The views into line_ stay valid: nothing writes line_ until this function returns.
  if (side_ == HttpSide::kRequest) {
    ParseRequestLine(line);
  } else {
    ParseStatusLine(line);
  }
}

void Http1Parser::ParseRequestLine(std::string_view line) {
  std::string_view rest = Trim(line);
  const size_t sp1 = rest.find_first_of(" \t");
  if (sp1 == std::string_view::npos) {
    Event(HttpEvent::kRequestLineInvalid);
    return;  // not a request: stay in the start-line state
  }
  const std::string_view method = rest.substr(0, sp1);
  rest = Trim(rest.substr(sp1));
  const size_t sp2 = rest.find_last_of(" \t");
  std::string_view uri = rest;
  std::string_view protocol;
  if (sp2 != std::string_view::npos && IStartsWith(Trim(rest.substr(sp2)), "HTTP/")) {
    uri = Trim(rest.substr(0, sp2));
    protocol = Trim(rest.substr(sp2));
  }
  if (!IsTokenString(method) || uri.empty()) {
    Event(HttpEvent::kRequestLineInvalid);
    return;
  }
  if (protocol.empty()) Event(HttpEvent::kRequestLineMissingProtocol);

  tx_.method = Keep(method_, method);
  tx_.protocol = Keep(protocol_, protocol);
  tx_.uri_norm = std::string_view(uri_.data(), NormalizeUri(uri, uri_.data()));
  if (sink_.request_line) {
    sink_.request_line(sink_.ctx, HttpRequestLine{method, uri, tx_.uri_norm, protocol});
  }
  if (peer_ != nullptr) peer_->ExpectResponseTo(method);
  state_ = State::kHeaders;
}

void Http1Parser::ParseStatusLine(std::string_view line) {
  std::string_view rest = Trim(line);
  if (!IStartsWith(rest, "HTTP/")) {
    Event(HttpEvent::kResponseInvalidProtocol);
    return;
  }
  const size_t sp1 = rest.find_first_of(" \t");
  const std::string_view protocol = rest.substr(0, sp1);
  rest = sp1 == std::string_view::npos ? std::string_view() : Trim(rest.substr(sp1));
  const size_t sp2 = rest.find_first_of(" \t");
  const std::string_view code = rest.substr(0, sp2);
  const std::string_view message =
      sp2 == std::string_view::npos ? std::string_view() : Trim(rest.substr(sp2));
  uint16_t status = 0;
  if (code.size() == 3 && code[0] >= '1' && code[0] <= '9' && code[1] >= '0' && code[1] <= '9' &&
      code[2] >= '0' && code[2] <= '9') {
    status = static_cast<uint16_t>((code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0'));
  } else {
    Event(HttpEvent::kResponseInvalidStatus);
  }
  tx_.protocol = Keep(protocol_, protocol);
  tx_.status = status;
  tx_.status_message = Keep(status_msg_, message);
  tx_.interim = status >= 100 && status < 200 && status != 101;
  if (sink_.status_line) sink_.status_line(sink_.ctx, HttpStatusLine{protocol, status, message});
  state_ = State::kHeaders;
}

void Http1Parser::ParseHeader(std::string_view line) {
  ++tx_.header_count;
  if (tx_.header_count == kHttpMaxHeaders + 1)
    Event(HttpEvent::kRequestTooManyHeaders, HttpEvent::kResponseTooManyHeaders);
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    Event(HttpEvent::kRequestFieldMissingColon, HttpEvent::kResponseFieldMissingColon);
    return;
  }
  std::string_view name = line.substr(0, colon);
  const std::string_view value = Trim(line.substr(colon + 1));
  if (!IsTokenString(name)) {
    // "Name : value" and other junk before the colon: kept (servers differ), but an anomaly.
    Event(HttpEvent::kRequestHeaderInvalid, HttpEvent::kResponseHeaderInvalid);
    name = Trim(name);
  }
  if (sink_.header) sink_.header(sink_.ctx, name, value);

  // "\r\nName1\r\nName2\r\n" grows here; the closing "\r\n" is added at the end of the block.
  if (header_names_len_ == 0 && kHttpHeaderNamesCap >= 2) {
    header_names_[0] = '\r';
    header_names_[1] = '\n';
    header_names_len_ = 2;
  }
  if (header_names_len_ + name.size() + 4 <= kHttpHeaderNamesCap) {
    std::memcpy(header_names_.data() + header_names_len_, name.data(), name.size());
    header_names_len_ += name.size();
    header_names_[header_names_len_++] = '\r';
    header_names_[header_names_len_++] = '\n';
  }

  if (IEquals(name, "Host")) {
    if (side_ == HttpSide::kRequest && !saw_host_) {
      std::string_view host = value;
      if (!host.empty() && host.front() == '[') {
        const size_t close = host.find(']');
        if (close != std::string_view::npos) host = host.substr(0, close + 1);
      } else {
        const size_t port = host.find(':');
        if (port != std::string_view::npos) host = host.substr(0, port);
      }
      tx_.host = Keep(host_, host, /*lower=*/true);
    }
    saw_host_ = true;
  } else if (IEquals(name, "User-Agent")) {
    tx_.user_agent = Keep(user_agent_, value);
  } else if (IEquals(name, side_ == HttpSide::kRequest ? "Cookie" : "Set-Cookie")) {
    if (tx_.cookie.empty()) tx_.cookie = Keep(cookie_, value);
  } else if (IEquals(name, "Content-Type")) {
    tx_.content_type = Keep(content_type_, value);
  } else if (IEquals(name, "Content-Length")) {
    uint64_t n = 0;
    if (tx_.has_content_length) {
      Event(HttpEvent::kDuplicateContentLengthFieldInRequest,
            HttpEvent::kDuplicateContentLengthFieldInResponse);
    } else if (ParseDecimal(value, &n)) {
      tx_.has_content_length = true;
      tx_.content_length = n;
    } else {
      Event(HttpEvent::kInvalidContentLengthFieldInRequest,
            HttpEvent::kInvalidContentLengthFieldInResponse);
    }
  } else if (IEquals(name, "Transfer-Encoding")) {
    // Chunked must be the last coding (RFC 9112 6.1); anything else is not a framing we can
    // trust, and is reported.
    const size_t comma = value.find_last_of(',');
    const std::string_view last =
        Trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
    if (IEquals(last, "chunked")) tx_.chunked = true;
    if (!IEquals(value, "chunked")) {
      Event(HttpEvent::kInvalidTransferEncodingValueInRequest,
            HttpEvent::kInvalidTransferEncodingValueInResponse);
    }
  } else if (IEquals(name, "Content-Encoding")) {
    if (IEquals(value, "gzip") || IEquals(value, "x-gzip")) {
      tx_.encoding = HttpEncoding::kGzip;
    } else if (IEquals(value, "deflate")) {
      tx_.encoding = HttpEncoding::kDeflate;
    }
  }
}

void Http1Parser::EndHeaders() {
  if (header_names_len_ > 0) {
    header_names_[header_names_len_++] = '\r';
    header_names_[header_names_len_++] = '\n';
  }
  tx_.header_names = std::string_view(header_names_.data(), header_names_len_);

  bool body = false;
  bool until_close = false;
  if (side_ == HttpSide::kRequest) {
    if (!saw_host_ && IEquals(tx_.protocol, "HTTP/1.1")) Event(HttpEvent::kMissingHostHeader);
    body = tx_.chunked || (tx_.has_content_length && tx_.content_length > 0);
  } else {
    if (!tx_.interim) {
      if (pending_count_ > 0) {
        req_kind_ = pending_[pending_head_];
        pending_head_ = (pending_head_ + 1) % kHttpMaxPending;
        --pending_count_;
      } else {
        Event(HttpEvent::kUnableToMatchResponseToRequest);
        req_kind_ = ReqKind::kNormal;
      }
    }
    const uint16_t s = tx_.status;
    const bool switching = s == 101 || (req_kind_ == ReqKind::kConnect && s >= 200 && s < 300);
    if (switching) {
      // The stream is no longer HTTP (WebSocket, TLS through a proxy ...).
      if (sink_.headers_done) sink_.headers_done(sink_.ctx, tx_);
      FinishTx();
      state_ = State::kTunnel;
      return;
    }
    const bool no_body = tx_.interim || req_kind_ == ReqKind::kHead || s == 204 || s == 304;
    if (!no_body) {
      body = tx_.chunked || !tx_.has_content_length || tx_.content_length > 0;
      until_close = !tx_.chunked && !tx_.has_content_length;
    }
  }
  if (sink_.headers_done) sink_.headers_done(sink_.ctx, tx_);
  if (!body) {
    FinishTx();
    return;
  }
  if (tx_.encoding != HttpEncoding::kIdentity && ZlibReady()) {
    z_active_ = inflateReset2(&zs_, kZWindowAuto) == Z_OK;
    z_raw_tried_ = false;
  }
  if (tx_.chunked) {
    state_ = State::kChunkSize;
  } else if (until_close) {
    state_ = State::kBodyUntilClose;
  } else {
    remaining_ = tx_.content_length;
    state_ = State::kBodyLength;
  }
}

bool Http1Parser::ParseChunkSize(std::string_view line, uint64_t* size) {
  std::string_view s = Trim(line);
  const size_t ext = s.find(';');
  if (ext != std::string_view::npos) s = Trim(s.substr(0, ext));
  if (s.empty() || s.size() > 16) return false;
  uint64_t n = 0;
  for (char c : s) {
    const int h = HexValue(c);
    if (h < 0) return false;
    n = (n << 4) | static_cast<uint64_t>(h);
  }
  *size = n;
  return true;
}

void Http1Parser::BodyBytes(const uint8_t* data, size_t len) {
  if (len == 0) return;
  tx_.body_wire += len;
  if (tx_.encoding != HttpEncoding::kIdentity && z_ready_) {
    Inflate(data, len);
  } else {
    Deliver(data, len);
  }
}

void Http1Parser::Deliver(const uint8_t* data, size_t len) {
  if (tx_.body_truncated) return;
  const uint64_t room = cfg_.body_limit - tx_.body_delivered;
  if (len > room) {
    len = static_cast<size_t>(room);
    tx_.body_truncated = true;
    if (!limit_reported_) {
      limit_reported_ = true;
      Event(HttpEvent::kBodyLimitReached);
    }
  }
  if (len == 0) return;
  tx_.body_delivered += len;
  if (sink_.body) sink_.body(sink_.ctx, tx_, data, len);
}

void Http1Parser::Inflate(const uint8_t* data, size_t len) {
  if (!z_active_ || tx_.body_truncated) return;
  // Keep the first two bytes: if "deflate" turns out to be raw deflate (no zlib header, as many
  // servers send it), inflate is restarted in raw mode and they are replayed.
  const uLong seen = zs_.total_in;
  for (size_t i = 0; seen + i < 2 && i < len; ++i) z_head_[seen + i] = data[i];

  zs_.next_in = const_cast<Bytef*>(data);
  zs_.avail_in = static_cast<uInt>(len);
  for (;;) {
    zs_.next_out = out_.data();
    zs_.avail_out = static_cast<uInt>(out_.size());
    const uInt in_before = zs_.avail_in;
    int rc = inflate(&zs_, Z_NO_FLUSH);
    const size_t produced = out_.size() - zs_.avail_out;
    if (rc == Z_DATA_ERROR && tx_.encoding == HttpEncoding::kDeflate && !z_raw_tried_ &&
        zs_.total_out == 0 && zs_.total_in <= 2) {
      z_raw_tried_ = true;
      // Header check failed with both bytes read: all of them are in z_head_, and the first
      // consumed_here bytes of this chunk are among them.
      const size_t consumed_here = len - zs_.avail_in;
      const size_t head = zs_.total_in;
      if (inflateReset2(&zs_, kZWindowRaw) != Z_OK) {
        z_active_ = false;
        return;
      }
      zs_.next_in = z_head_;
      zs_.avail_in = static_cast<uInt>(head);
      zs_.next_out = out_.data();
      zs_.avail_out = static_cast<uInt>(out_.size());
      rc = inflate(&zs_, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) {
        Event(HttpEvent::kGzipDecompressionFailed);
        tx_.body_truncated = true;
        z_active_ = false;
        return;
      }
      const size_t out_head = out_.size() - zs_.avail_out;
      if (out_head) Deliver(out_.data(), out_head);
      if (rc == Z_STREAM_END) {
        z_active_ = false;
        return;
      }
      const size_t skip = consumed_here;
      zs_.next_in = const_cast<Bytef*>(data + skip);
      zs_.avail_in = static_cast<uInt>(len - skip);
      continue;
    }
    if (produced) Deliver(out_.data(), produced);
    // Limit reached: stop here, before looking at rc, so that an error further on in the input
    // is reported (or not) the same way whatever the chunking.
    if (tx_.body_truncated) {
      z_active_ = false;
      return;
    }
    if (rc == Z_STREAM_END) {
      z_active_ = false;  // bytes after the end of the stream are not body
      return;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      Event(HttpEvent::kGzipDecompressionFailed);
      tx_.body_truncated = true;
      z_active_ = false;
      return;
    }
    if (zs_.avail_in == 0 && zs_.avail_out != 0) return;
    if (rc == Z_BUF_ERROR && zs_.avail_in == in_before && produced == 0) return;
  }
}

void Http1Parser::FinishTx() {
  if (z_active_ && tx_.body_wire > 0 && !tx_.body_truncated) {
    // The body ended before the compressed stream did.
    Event(HttpEvent::kGzipDecompressionFailed);
  }
  z_active_ = false;
  if (sink_.tx_done) sink_.tx_done(sink_.ctx, tx_);
  if (!tx_.interim) ++tx_index_;
  ResetLine();
  at_line_start_ = true;
  hdr_pending_ = false;
  state_ = State::kStartLine;
  StartTx();
}

void Http1Parser::Close() {
  switch (state_) {
    case State::kStartLine:
      if (line_len_ > 0 || line_overflow_) {
        Event(side_ == HttpSide::kRequest ? HttpEvent::kRequestLineIncomplete
                                          : HttpEvent::kIncompleteAtClose);
      }
      break;
    case State::kBodyUntilClose:
      FinishTx();
      break;
    case State::kHeaders:
      Event(HttpEvent::kIncompleteAtClose);
      break;
    case State::kBodyLength:
    case State::kChunkSize:
    case State::kChunkData:
    case State::kChunkDataEnd:
    case State::kTrailers:
      Event(HttpEvent::kIncompleteAtClose);
      FinishTx();
      break;
    case State::kTunnel:
    case State::kClosed:
      break;
  }
  state_ = State::kClosed;
}

}  // namespace fs::app
