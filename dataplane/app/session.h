// Per-flow app-layer state (issue 8): protocol detection on the first bytes of each TCP direction,
// and the parsers of the detected protocol, fed in-order stream bytes by the worker's reassembly
// sink. Sessions live in a per-worker AppSessionPool (like scan::StreamPool): a flow holds a slot
// index (Flow::app_slot) from its first TCP payload until it ends or is bypassed.
//
// HTTP: the session uses one Http1Parser per direction (request side paired with the response
// side; the pair comes from the pool) and copies what rules and EVE need of each transaction into
// fixed records: up to kHttpPendingTx requests (the one being parsed and the ones awaiting their
// response, for pipelining), and the response being parsed. Fields longer than their record slot
// are kept truncated (caps below, documented in docs/app-layer.md). Completed sides are handed to
// the worker through AppHooks. DNS over TCP: one DnsTcpFramer per direction; the worker parses the
// messages it cuts.
//
// TLS: one TlsParser (both directions), SMB: one SmbParser (both directions), constructed in the
// slot when the flow is detected; the worker reads what they report (TlsParser::state(), and
// SmbRecords through AppHooks).
//
// Memory: the records and framers are part of the slot (see AppSessionPool::slot_bytes()). The
// TLS or SMB parser of the detected protocol lives in the slot's parser area: constructed there
// when a flow is detected and destroyed when the slot is released. Their buffers come from the
// pool's BlockCaches (kept between flows, not freed): TlsParser's two handshake buffers
// (kTlsClientHelloCap + kTlsServerFlightCap = 80 KB), SmbParser's 2 x SmbConfig::retain (128 KB
// by default). HTTP's two Http1Parsers (request and response side, about 50 KB together plus a 48 KB
// zlib arena each) are not rebuilt per flow: the pool keeps them constructed between flows
// (HttpParsers, a free list) and an HTTP flow takes a pair and Resets it (Http1Parser::Reset: no
// allocation, zlib kept and inflateReset at the next compressed body). Pairs are made only when
// the free list is empty, so at most as many exist as HTTP flows were open at once (at most the
// pool's capacity); idle ones are kept, not freed (freeing and re-making them costs page faults
// again). docs/app-layer.md has the totals.
//
// Owned by one worker; every call comes from that worker's lcore.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "dataplane/app/dns.h"
#include "dataplane/app/http1.h"
#include "dataplane/app/raw_window.h"
#include "dataplane/app/smb.h"
#include "dataplane/app/tls.h"
#include "dataplane/common/large_array.h"
#include "patterns/buffers.h"

namespace fs::app {

// Bytes of one direction looked at before detection gives up on it.
inline constexpr uint32_t kDetectBytes = 32;

enum class DetectResult : uint8_t { kNeedMore, kNo, kHttp, kDns, kTls, kSmb };
// Protocol detection by content on the first bytes of one direction of a TCP flow: HTTP request
// methods (to server) or "HTTP/1." (to client), a TLS handshake record, an SMB (NetBIOS session)
// header, DNS's 2-byte length prefix on server port 53. kNeedMore only while len < kDetectBytes.
DetectResult DetectTcp(const uint8_t* data, size_t len, bool to_server, uint16_t server_port);

// A text value of at most N bytes, truncated when longer. The bytes are not initialised before
// use, so an idle slot costs no touched memory.
template <size_t N>
struct Field {
  char buf[N];
  uint16_t len = 0;
  bool truncated = false;
  static_assert(N < 65536);

  void Clear() {
    len = 0;
    truncated = false;
  }
  void Assign(std::string_view s) {
    Clear();
    Append(s);
  }
  void Append(std::string_view s) {
    size_t n = s.size();
    if (n > N - len) {
      n = N - len;
      truncated = true;
    }
    if (n > 0) std::memcpy(buf + len, s.data(), n);
    len = static_cast<uint16_t>(len + n);
  }
  std::string_view view() const { return {buf, len}; }
};

// What the rules and EVE see of one request. Caps in bytes.
struct HttpRequestRecord {
  uint64_t tx_id = 0;
  bool complete = false;
  Field<2048> line;  // request line, without CRLF
  Field<1024> uri_raw, uri_norm;
  Field<32> method;
  Field<16> protocol;
  Field<256> host;      // lowercased, port removed
  Field<256> host_raw;  // the Host header value as sent
  uint16_t host_port = 0;
  Field<256> user_agent;
  Field<512> cookie;
  Field<256> referer;
  Field<128> accept, accept_lang, accept_enc, connection, content_type;
  Field<24> content_len;
  Field<2048> header;      // "Name: value\r\n" per header except Cookie (Suricata's http.header)
  Field<2048> header_raw;  // every header, same form (headers as the parser reads them)
  Field<512> header_names;
  Field<2048> body;  // after transfer/content decoding
  void Reset();
};

struct HttpResponseRecord {
  Field<512> line;  // status line, without CRLF
  Field<16> protocol;
  uint16_t status = 0;
  Field<8> stat_code;
  Field<128> stat_msg;
  Field<128> server;
  Field<256> location;
  Field<128> content_type;
  Field<24> content_len;
  Field<64> connection;
  Field<2048> header;  // without Set-Cookie, as Suricata's http.header
  Field<2048> header_raw;
  Field<512> header_names;
  Field<2048> body;
  uint64_t body_len = 0;  // body bytes after transfer decoding (EVE "length")
  void Reset();
};

inline constexpr size_t kHttpPendingTx = 3;

class AppSession;

// The parser area of a session: the larger of the TLS and SMB parsers (HTTP's come from the pool).
inline constexpr size_t kSessionAlign = alignof(std::max_align_t);
inline constexpr size_t kSessionParserBytes = std::max(sizeof(TlsParser), sizeof(SmbParser));

// Equal-sized byte blocks kept between flows: the TLS and SMB parsers' buffers. A flow takes one
// when its parser starts and gives it back when the parser stops; idle blocks are kept (a free
// list threaded through them, so giving back never allocates) and freed with the cache. Saves
// an allocation per flow and, for SMB's 128 KiB (at glibc's mmap threshold), the mmap, munmap
// and TLB shootdown each time. At most as many blocks exist as flows held one at once.
class BlockCache {
 public:
  BlockCache() = default;
  ~BlockCache();
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  // A block of `bytes`: idle or new. nullptr when allocation fails, or when `bytes` differs from
  // the size of the blocks this cache already made (the caller then allocates its own).
  uint8_t* Take(size_t bytes);
  void Give(uint8_t* block);  // one that Take returned
  // Makes idle blocks of `bytes` until n exist, their pages taken now (fs::Prefault) rather than
  // by the flows that first use them. Returns how many exist (fewer when allocation fails, none
  // made when `bytes` differs from the blocks' size).
  uint32_t Reserve(size_t bytes, uint32_t n);

  uint32_t total() const { return total_; }
  uint32_t idle() const { return idle_; }
  uint64_t reused() const { return reused_; }

 private:
  struct Idle {
    Idle* next;
  };
  size_t bytes_ = 0;
  Idle* free_ = nullptr;
  uint32_t total_ = 0, idle_ = 0;
  uint64_t reused_ = 0;
};

// One flow's two Http1Parsers (session.cc); pooled by AppSessionPool.
struct HttpParsers;
class AppSessionPool;

// The worker's side of a session: called while the worker feeds a session, from inside Feed.
struct AppHooks {
  void* ctx = nullptr;
  void (*http_request)(void* ctx, AppSession& s, HttpRequestRecord& req) = nullptr;
  // req: the request this response answers, or nullptr when it is not known any more.
  void (*http_response)(void* ctx, AppSession& s, const HttpRequestRecord* req,
                        HttpResponseRecord& resp) = nullptr;
  // A request that never got its response (flow end).
  void (*http_unanswered)(void* ctx, AppSession& s, const HttpRequestRecord& req) = nullptr;
  void (*http_event)(void* ctx, HttpEvent e) = nullptr;
  // SMB: each message the flow's SmbParser reports, and its anomalies.
  void (*smb_record)(void* ctx, AppSession& s, const SmbRecord& rec) = nullptr;
  void (*smb_event)(void* ctx, SmbEvent e) = nullptr;
};

class AppSession {
 public:
  AppSession() = default;
  ~AppSession() { StopParsers(); }
  AppSession(const AppSession&) = delete;
  AppSession& operator=(const AppSession&) = delete;

  // A fresh flow (pool Acquire).
  void Reset(const HttpConfig* http, const AppHooks* hooks);

  patterns::AppProto proto = patterns::AppProto::kNone;
  // Detection: bytes of each direction held until a decision, and directions that said "no".
  uint8_t probe[2][kDetectBytes];
  uint8_t probe_len[2] = {0, 0};
  bool probe_no[2] = {false, false};
  // A direction whose stream had a gap (or said "no"): not parsed any more.
  bool stopped[2] = {false, false};

  // HTTP: constructs the parsers (once detected).
  bool StartHttp();
  void FeedHttp(int dir, const uint8_t* data, size_t len);
  // Flow end: closes both parsers (what they finish is reported), then reports every request
  // still waiting for its response.
  void CloseHttp();
  bool http_started() const { return http_ != nullptr; }

  // DNS over TCP: the framer of each direction.
  DnsTcpFramer dns[2];

  // The raw bytes of each direction's current transaction, for app-layer rules with contents on
  // the raw payload (raw_window.h); filled by the worker.
  RawWindow raw[2];

  // TLS: constructs the parser (once detected); nullptr before and after (StopParsers).
  bool StartTls();
  TlsParser* tls() { return tls_; }
  // The worker's progress through the handshake: the to-client side was inspected, the EVE
  // record written, and the parser's event counts already added to the worker's counters.
  bool tls_server_inspected = false;
  bool tls_logged = false;
  uint32_t tls_events_seen[kTlsEventCount];

  // SMB: constructs the parser (once detected); its records go to AppHooks::smb_record.
  bool StartSmb(const SmbConfig& cfg);
  void FeedSmb(int dir, const uint8_t* data, size_t len);
  uint64_t smb_next_id = 0;  // EVE smb.id of the flow's next record

  // Destroys whichever parser is constructed, or gives the HTTP pair back to the pool (the
  // session keeps its detection state).
  void StopParsers();

 private:
  friend class AppSessionPool;
  static AppSession* Of(void* http_ctx);
  static void HttpSinks(HttpSink* req, HttpSink* resp);  // the callbacks, ctx left unset
  static void SmbRec(void* c, const SmbRecord& r);
  static void SmbEv(void* c, SmbEvent e);
  HttpRequestRecord* Building();
  static void ReqLine(void* c, const HttpRequestLine& l);
  static void StatusLine(void* c, const HttpStatusLine& l);
  static void ReqHeader(void* c, std::string_view n, std::string_view v);
  static void RespHeader(void* c, std::string_view n, std::string_view v);
  static void ReqHeadersDone(void* c, const HttpTx& tx);
  static void RespHeadersDone(void* c, const HttpTx& tx);
  static void ReqBody(void* c, const HttpTx& tx, const uint8_t* d, size_t n);
  static void RespBody(void* c, const HttpTx& tx, const uint8_t* d, size_t n);
  static void ReqDone(void* c, const HttpTx& tx);
  static void RespDone(void* c, const HttpTx& tx);
  static void OnEvent(void* c, HttpEvent e);

  const HttpConfig* http_cfg_ = nullptr;
  const AppHooks* hooks_ = nullptr;
  AppSessionPool* pool_ = nullptr;  // where the HTTP pair comes from and goes back to
  HttpParsers* http_ = nullptr;     // this flow's HTTP parsers (from pool_)
  Http1Parser* req_ = nullptr;
  Http1Parser* resp_ = nullptr;
  TlsParser* tls_ = nullptr;
  SmbParser* smb_ = nullptr;
  uint8_t* parser_block_ = nullptr;  // the TLS or SMB parser's buffers, from pool_ (or nullptr)
  static_assert(alignof(TlsParser) <= kSessionAlign && alignof(SmbParser) <= kSessionAlign);
  // The detected protocol's parser: one TlsParser or one SmbParser. Not initialised until then
  // (idle slots touch no pages of it).
  alignas(std::max_align_t) unsigned char parser_mem_[kSessionParserBytes];
  // Requests: ring of kHttpPendingTx, oldest first; the last one may still be being parsed.
  HttpRequestRecord reqs_[kHttpPendingTx];
  uint8_t req_head_ = 0, req_count_ = 0;
  bool req_building_ = false;
  uint64_t next_tx_id_ = 0;
  HttpResponseRecord resp_rec_;
  bool resp_building_ = false;

 public:
  uint64_t unpaired = 0;  // requests dropped from the ring before their response (pipelining)
};

struct AppPoolCounters {
  uint64_t acquired = 0;
  uint64_t exhausted = 0;          // flows that found every session in use (no app layer for them)
  uint64_t http_parsers_made = 0;  // HTTP parser pairs constructed (free list empty)
  uint64_t http_parsers_reused = 0;  // HTTP flows that took a pair from the free list
};

// Per-worker pool of sessions, reserved at start-up. Slot indices are 1-based (0 = none).
class AppSessionPool {
 public:
  AppSessionPool(uint32_t capacity, const HttpConfig& http, const AppHooks& hooks);
  ~AppSessionPool();
  AppSessionPool(const AppSessionPool&) = delete;
  AppSessionPool& operator=(const AppSessionPool&) = delete;

  uint32_t Acquire();  // 0 when exhausted (counted)
  AppSession& At(uint32_t slot) { return sessions_[slot - 1]; }
  void Release(uint32_t slot);

  // Start-up (before the first Acquire): readies the first n sessions (at most the capacity) with
  // what their flows would otherwise make or fault in on the packet path: the sessions' own pages
  // (Acquire hands out the lowest slots first), n HTTP parser pairs (their zlib arenas too), n
  // TLS and n SMB buffer blocks (SMB's of 2 x smb.retain). Each first write to a page of fresh
  // memory is a page fault: without this, a worker's first flows of each kind paid one per 4 KiB
  // of parser they used (docs/PERFORMANCE.md, "Pools taken at start-up"). Returns the bytes
  // readied.
  size_t Prealloc(uint32_t n, const SmbConfig& smb);
  // What Prealloc(n) takes on a pool of at least n sessions with these configs, computed (for a
  // check before any is made).
  static size_t ReadyBytes(uint32_t n, const HttpConfig& http, const SmbConfig& smb);

  uint32_t in_use() const { return in_use_; }
  uint32_t capacity() const { return capacity_; }
  const AppPoolCounters& counters() const { return counters_; }
  // Bytes reserved per slot (the HTTP parser pairs and the parsers' own buffers come on top).
  static constexpr size_t slot_bytes() { return sizeof(AppSession); }
  // HTTP parser pairs that exist (in use or idle) and those idle in the free list.
  uint32_t http_parsers() const { return http_total_; }
  uint32_t http_parsers_idle() const { return http_idle_; }
  // The TLS and SMB parsers' buffers (BlockCache).
  const BlockCache& tls_blocks() const { return tls_blocks_; }
  const BlockCache& smb_blocks() const { return smb_blocks_; }

 private:
  friend class AppSession;
  // An HTTP pair for `owner`: from the free list (Reset) or new; nullptr only if new fails.
  HttpParsers* TakeHttp(AppSession* owner);
  // Back to the free list (kept: at most as many pairs as sessions ever exist).
  void GiveHttp(HttpParsers* h);

  uint32_t capacity_;
  HttpConfig http_;
  AppHooks hooks_;
  LargeArray<AppSession> sessions_;
  LargeArray<uint32_t> free_;  // stack of free slot indices
  uint32_t free_count_ = 0;
  uint32_t in_use_ = 0;
  BlockCache tls_blocks_, smb_blocks_;
  HttpParsers* http_free_ = nullptr;  // idle pairs, most recently used first
  uint32_t http_idle_ = 0;
  uint32_t http_total_ = 0;
  AppPoolCounters counters_;
};

}  // namespace fs::app
