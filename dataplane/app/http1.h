// Incremental HTTP/1.x parsing for the app layer (issue 8): one Http1Parser per flow direction
// (the request side for to-server bytes, the response side for to-client bytes), fed in-order
// stream bytes in chunks of any size. It reports transactions to a sink as they are parsed:
// start line, each header, a summary when the header block ends (host, user agent, cookie,
// content type and length, header names), the body in pieces (chunked transfer coding removed,
// gzip/deflate content coding decompressed), and the end of the transaction. Pipelined
// transactions come out one after the other.
//
// Memory is bounded and reserved at construction: one kHttpLineCap line buffer (a start line or
// a header line, folded continuations included, split across any number of chunks; a longer line
// is kept truncated and reported), fixed buffers for the fields the summary exposes (longer
// values are truncated), and, when decompression is on, one z_stream whose allocations come from
// an arena reserved here, so zlib never calls malloc on the packet path; inflate is initialised at
// the first compressed body the parser sees (most flows have none) and reset, not re-created, for
// every later one, also across Reset. The buffers are not zeroed: each is read only up to a length
// set when it is written (as after Reset), so a new parser touches only the memory it uses. The
// body delivered per transaction stops at HttpConfig::body_limit, which also bounds the work a
// decompression bomb can cause.
//
// No exceptions, no virtual calls: the sink is a struct of plain function pointers. Anomalies are
// counted per parser and passed to the sink; their names are Suricata's app-layer-event names
// (http.request_field_too_long ...) where Suricata has one.
//
// An Http1Parser is owned by the flow's app-layer state and called only by the worker that owns
// the flow. It is neither copyable nor movable (zlib keeps a pointer to its z_stream).
#pragma once

#include <zlib.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace fs::app {

inline constexpr size_t kHttpLineCap = 8192;    // start line or header line, folds included
inline constexpr size_t kHttpMaxHeaders = 256;  // per header block; more is an event
inline constexpr size_t kHttpMaxPending = 32;   // requests awaiting their response
inline constexpr size_t kHttpHostCap = 256;
inline constexpr size_t kHttpUserAgentCap = 512;
inline constexpr size_t kHttpCookieCap = 2048;
inline constexpr size_t kHttpContentTypeCap = 256;
inline constexpr size_t kHttpHeaderNamesCap = 1024;
inline constexpr size_t kHttpMethodCap = 32;
inline constexpr size_t kHttpProtocolCap = 16;
inline constexpr size_t kHttpStatusMsgCap = 256;

// X(id, name): anomaly events. Names are Suricata's app-layer-event names (rules say
// app-layer-event:http.<name>) where Suricata has the event; the others are flowsentry's own.
#define FS_HTTP_EVENTS(X)                                                                   \
  X(kRequestLineInvalid, "request_line_invalid")                                            \
  X(kRequestLineMissingProtocol, "request_line_missing_protocol")                           \
  X(kRequestLineIncomplete, "request_line_incomplete")                                      \
  X(kResponseInvalidProtocol, "response_invalid_protocol")                                  \
  X(kResponseInvalidStatus, "response_invalid_status")                                      \
  X(kRequestFieldTooLong, "request_field_too_long")                                         \
  X(kResponseFieldTooLong, "response_field_too_long")                                       \
  X(kRequestFieldMissingColon, "request_field_missing_colon")                               \
  X(kResponseFieldMissingColon, "response_field_missing_colon")                             \
  X(kRequestHeaderInvalid, "request_header_invalid")                                        \
  X(kResponseHeaderInvalid, "response_header_invalid")                                      \
  X(kInvalidRequestFieldFolding, "invalid_request_field_folding")                           \
  X(kInvalidResponseFieldFolding, "invalid_response_field_folding")                         \
  X(kRequestTooManyHeaders, "request_too_many_headers")                                     \
  X(kResponseTooManyHeaders, "response_too_many_headers")                                   \
  X(kInvalidRequestChunkLen, "invalid_request_chunk_len")                                   \
  X(kInvalidResponseChunkLen, "invalid_response_chunk_len")                                 \
  X(kInvalidContentLengthFieldInRequest, "invalid_content_length_field_in_request")         \
  X(kInvalidContentLengthFieldInResponse, "invalid_content_length_field_in_response")       \
  X(kDuplicateContentLengthFieldInRequest, "duplicate_content_length_field_in_request")     \
  X(kDuplicateContentLengthFieldInResponse, "duplicate_content_length_field_in_response")   \
  X(kInvalidTransferEncodingValueInRequest, "invalid_transfer_encoding_value_in_request")   \
  X(kInvalidTransferEncodingValueInResponse, "invalid_transfer_encoding_value_in_response") \
  X(kMissingHostHeader, "missing_host_header")                                              \
  X(kUnableToMatchResponseToRequest, "unable_to_match_response_to_request")                 \
  X(kGzipDecompressionFailed, "gzip_decompression_failed")                                  \
  X(kBodyLimitReached, "body_limit_reached")                                                \
  X(kTooManyPendingRequests, "too_many_pending_requests")                                   \
  X(kIncompleteAtClose, "incomplete_at_close")

enum class HttpEvent : uint8_t {
#define FS_X(id, name) id,
  FS_HTTP_EVENTS(FS_X)
#undef FS_X
      kCount
};
inline constexpr int kHttpEventCount = static_cast<int>(HttpEvent::kCount);

// "request_line_invalid" ... (without the "http." prefix).
const char* HttpEventName(HttpEvent e);

enum class HttpSide : uint8_t { kRequest, kResponse };
enum class HttpEncoding : uint8_t { kIdentity, kGzip, kDeflate };

struct HttpConfig {
  uint64_t body_limit = 1u << 20;  // body bytes (after decoding) delivered per transaction
  bool decompress = true;          // gzip/deflate Content-Encoding; off: bodies delivered as sent
};

// Views valid only during the callback that receives them.
struct HttpRequestLine {
  std::string_view method;
  std::string_view uri_raw;
  std::string_view uri_norm;  // unreserved %XX decoded, dot segments removed from the path
  std::string_view protocol;  // "HTTP/1.1"; empty when missing
};

struct HttpStatusLine {
  std::string_view protocol;
  uint16_t code = 0;  // 0 when not three digits
  std::string_view message;
};

// One transaction as seen in one direction. Valid during the callback that receives it: the
// views point into the parser's buffers, which the next transaction reuses.
struct HttpTx {
  uint32_t index = 0;         // transactions completed before this one in this direction
  std::string_view method;    // request side
  std::string_view uri_norm;  // request side
  std::string_view protocol;
  uint16_t status = 0;  // response side
  std::string_view status_message;
  std::string_view host;  // Host header, port removed, lowercased
  std::string_view user_agent;
  std::string_view cookie;  // Cookie (request) or Set-Cookie (response)
  std::string_view content_type;
  std::string_view header_names;  // "\r\nHost\r\nUser-Agent\r\n\r\n", as Suricata's buffer
  uint32_t header_count = 0;
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool chunked = false;
  HttpEncoding encoding = HttpEncoding::kIdentity;
  bool interim = false;         // a 1xx response before the final one
  uint64_t body_wire = 0;       // body bytes after transfer decoding, before content decoding
  uint64_t body_delivered = 0;  // body bytes handed to the sink (after decoding, up to the limit)
  bool body_truncated = false;  // body limit reached, or decompression failed
};

// Any pointer may be null. `ctx` is passed back unchanged.
struct HttpSink {
  void* ctx = nullptr;
  void (*request_line)(void* ctx, const HttpRequestLine& line) = nullptr;
  void (*status_line)(void* ctx, const HttpStatusLine& line) = nullptr;
  void (*header)(void* ctx, std::string_view name, std::string_view value) = nullptr;
  void (*headers_done)(void* ctx, const HttpTx& tx) = nullptr;
  void (*body)(void* ctx, const HttpTx& tx, const uint8_t* data, size_t len) = nullptr;
  void (*tx_done)(void* ctx, const HttpTx& tx) = nullptr;
  void (*event)(void* ctx, HttpEvent e) = nullptr;
};

// Writes the normalised form of a request URI into out (at most uri.size() bytes): %XX of an
// unreserved character (RFC 3986 2.3) decoded, then dot segments removed from the path (5.2.4).
// The query and an absolute-form authority are left as they are. Returns the length written.
size_t NormalizeUri(std::string_view uri, char* out);

class Http1Parser {
 public:
  Http1Parser(HttpSide side, const HttpConfig& cfg, const HttpSink& sink);
  ~Http1Parser();
  Http1Parser(const Http1Parser&) = delete;
  Http1Parser& operator=(const Http1Parser&) = delete;

  // Parses the next bytes of the stream. Never fails; anomalies are events.
  void Feed(const uint8_t* data, size_t len);
  // The direction ended (FIN/RST/flow end): a body read until close ends here; anything else
  // unfinished is reported as incomplete_at_close. Later Feed calls are ignored.
  void Close();

  // Response side: a request with this method was sent, so the response parser knows whether its
  // response has a body (HEAD) or opens a tunnel (CONNECT). Requests queue up, for pipelining.
  void ExpectResponseTo(std::string_view method);
  // Request side: tell `response` about every request line parsed here (the usual wiring).
  void PairWith(Http1Parser* response) { peer_ = response; }
  // Back to the state of a new parser of the same side, config and sink, for the next flow,
  // without allocating (pooled parsers: construction reserves ~48 KiB for zlib). The pairing
  // (PairWith) is undone too.
  void Reset();
  // Takes the zlib arena's pages now (fs::Prefault), at start-up rather than at the first
  // compressed body (AppSessionPool::Prealloc). Returns its bytes (0 without decompression).
  size_t PrefaultArena();
  // The zlib arena a parser with this config reserves (0 without decompression).
  static size_t ArenaBytes(const HttpConfig& cfg);

  uint32_t event_count(HttpEvent e) const { return events_[static_cast<int>(e)]; }
  uint32_t transactions() const { return tx_index_; }
  bool tunnel() const { return state_ == State::kTunnel; }

 private:
  enum class State : uint8_t {
    kStartLine,
    kHeaders,
    kBodyLength,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kBodyUntilClose,
    kTunnel,
    kClosed,
  };
  enum class ReqKind : uint8_t { kNormal, kHead, kConnect };

  bool TakeLine(const uint8_t** p, const uint8_t* end);
  void ResetLine();
  void ParseStartLine();
  void ParseRequestLine(std::string_view line);
  void ParseStatusLine(std::string_view line);
  void ParseHeader(std::string_view line);
  void EndHeaders();
  bool ParseChunkSize(std::string_view line, uint64_t* size);
  void BodyBytes(const uint8_t* data, size_t len);
  void Deliver(const uint8_t* data, size_t len);
  void Inflate(const uint8_t* data, size_t len);
  void FinishTx();
  void StartTx();
  void Event(HttpEvent e);
  void Event(HttpEvent req, HttpEvent resp) { Event(side_ == HttpSide::kRequest ? req : resp); }

  static void* ZAlloc(void* opaque, unsigned items, unsigned size);
  static void ZFree(void* opaque, void* p);

  const HttpSide side_;
  const HttpConfig cfg_;
  const HttpSink sink_;
  Http1Parser* peer_ = nullptr;
  State state_ = State::kStartLine;

  // Line assembly: line_[0, line_len_) is the logical line; the physical line being read began
  // at line_start_. A header line is held (hdr_pending_) until the next line's first byte shows
  // whether it is folded onto it.
  std::array<char, kHttpLineCap> line_;
  size_t line_len_ = 0;
  size_t line_start_ = 0;
  bool line_overflow_ = false;
  bool at_line_start_ = true;
  bool hdr_pending_ = false;

  // The transaction being parsed, and the buffers its views point into.
  HttpTx tx_;
  uint32_t tx_index_ = 0;
  std::array<char, kHttpMethodCap> method_;
  std::array<char, kHttpLineCap> uri_;
  std::array<char, kHttpProtocolCap> protocol_;
  std::array<char, kHttpStatusMsgCap> status_msg_;
  std::array<char, kHttpHostCap> host_;
  std::array<char, kHttpUserAgentCap> user_agent_;
  std::array<char, kHttpCookieCap> cookie_;
  std::array<char, kHttpContentTypeCap> content_type_;
  std::array<char, kHttpHeaderNamesCap> header_names_;
  size_t header_names_len_ = 0;
  bool saw_host_ = false;
  bool limit_reported_ = false;
  ReqKind req_kind_ = ReqKind::kNormal;  // response side: the request this response answers

  uint64_t remaining_ = 0;  // body bytes left (Content-Length) or chunk bytes left

  // Response side: kinds of the requests still waiting for a response, oldest first.
  std::array<ReqKind, kHttpMaxPending> pending_{};
  size_t pending_head_ = 0;
  size_t pending_count_ = 0;

  // Decompression: one z_stream for the parser's life, its memory from arena_, initialised by
  // ZlibReady() at the first compressed body.
  bool ZlibReady();
  z_stream zs_{};
  bool z_ready_ = false;   // inflateInit2 succeeded
  bool z_tried_ = false;   // inflateInit2 was called (it is not retried)
  bool z_active_ = false;  // the current body is being inflated
  bool z_raw_tried_ = false;
  uint8_t z_head_[2] = {0, 0};  // first body bytes, replayed if "deflate" turns out to be raw
  std::unique_ptr<uint8_t[]> arena_;
  size_t arena_used_ = 0;
  std::array<uint8_t, 4096> out_;

  std::array<uint32_t, kHttpEventCount> events_{};
};

}  // namespace fs::app
