// App-layer inspection buffers (issue 8): what a rule's sticky buffers (http.uri; dns.query;
// tls.sni; ...) and legacy content modifiers (http_uri, dns_query, tls_sni ...) name, which
// application protocol provides each, and in which direction of a transaction it exists.
//
// The rule parser files every content/pcre/isdataat under one Buffer; PatternSet compiles the
// app-layer rules into one pre-filter database per buffer and a confirmation program per (rule,
// buffer); the worker's app layer fills an AppInspect with the buffers of one transaction side
// and the scanner evaluates the rules that use them (Scanner::ScanApp). Plain data, no
// dependencies: shared by the control plane (parser, compiler) and the dataplane.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace fs::patterns {

// Application protocols the sensor parses. kNone: not (yet) known / no app layer.
enum class AppProto : uint8_t { kNone = 0, kHttp, kDns, kTls, kSmb, kCount };
inline constexpr int kAppProtoCount = static_cast<int>(AppProto::kCount);
// "http", "dns", "tls", "smb" (Suricata's app_proto names); "" for kNone.
const char* AppProtoName(AppProto p);

// X(id, keyword, proto, side): every buffer. side: which transaction side carries it —
// S: to-server (request), C: to-client (response), E: either (the inspected side's own).
// proto kNone: a buffer several protocols fill (file.name: SMB file names); the rule header
// names the protocol.
#define FS_BUFFERS(X)                                  \
  X(kHttpUri, "http.uri", kHttp, S)                    \
  X(kHttpUriRaw, "http.uri.raw", kHttp, S)             \
  X(kHttpMethod, "http.method", kHttp, S)              \
  X(kHttpRequestLine, "http.request_line", kHttp, S)   \
  X(kHttpHost, "http.host", kHttp, S)                  \
  X(kHttpHostRaw, "http.host.raw", kHttp, S)           \
  X(kHttpUserAgent, "http.user_agent", kHttp, S)       \
  X(kHttpCookie, "http.cookie", kHttp, S)              \
  X(kHttpReferer, "http.referer", kHttp, S)            \
  X(kHttpAccept, "http.accept", kHttp, S)              \
  X(kHttpAcceptLang, "http.accept_lang", kHttp, S)     \
  X(kHttpAcceptEnc, "http.accept_enc", kHttp, S)       \
  X(kHttpRequestBody, "http.request_body", kHttp, S)   \
  X(kHttpStatCode, "http.stat_code", kHttp, C)         \
  X(kHttpStatMsg, "http.stat_msg", kHttp, C)           \
  X(kHttpResponseLine, "http.response_line", kHttp, C) \
  X(kHttpServer, "http.server", kHttp, C)              \
  X(kHttpLocation, "http.location", kHttp, C)          \
  X(kHttpResponseBody, "http.response_body", kHttp, C) \
  X(kHttpHeader, "http.header", kHttp, E)              \
  X(kHttpHeaderRaw, "http.header.raw", kHttp, E)       \
  X(kHttpHeaderNames, "http.header_names", kHttp, E)   \
  X(kHttpContentType, "http.content_type", kHttp, E)   \
  X(kHttpContentLen, "http.content_len", kHttp, E)     \
  X(kHttpConnection, "http.connection", kHttp, E)      \
  X(kHttpProtocol, "http.protocol", kHttp, E)          \
  X(kHttpStart, "http.start", kHttp, E)                \
  X(kFileData, "file.data", kHttp, E)                  \
  X(kDnsQuery, "dns.query", kDns, S)                   \
  X(kTlsSni, "tls.sni", kTls, S)                       \
  X(kJa3Hash, "ja3.hash", kTls, S)                     \
  X(kJa3String, "ja3.string", kTls, S)                 \
  X(kTlsCertSubject, "tls.cert_subject", kTls, C)      \
  X(kTlsCertIssuer, "tls.cert_issuer", kTls, C)        \
  X(kTlsCertSerial, "tls.cert_serial", kTls, C)        \
  X(kTlsCertFingerprint, "tls.cert_fingerprint", kTls, C) \
  X(kTlsCerts, "tls.certs", kTls, C)                   \
  X(kJa3sHash, "ja3s.hash", kTls, C)                   \
  X(kJa3sString, "ja3s.string", kTls, C)               \
  X(kSmbNamedPipe, "smb.named_pipe", kSmb, E)          \
  X(kSmbShare, "smb.share", kSmb, E)                   \
  X(kFileName, "file.name", kNone, E)

// kPayload: no sticky buffer — the packet payload / reassembled stream (the packet rules).
enum class Buffer : uint8_t {
  kPayload = 0,
#define FS_BUFFER_ENUM(id, kw, proto, side) id,
  FS_BUFFERS(FS_BUFFER_ENUM)
#undef FS_BUFFER_ENUM
      kCount
};
inline constexpr int kBufferCount = static_cast<int>(Buffer::kCount);
static_assert(kBufferCount <= 64, "AppInspect::present is a 64-bit mask");

enum class BufferSide : uint8_t { kEither, kToServer, kToClient };

struct BufferInfo {
  std::string_view keyword;  // the sticky-buffer keyword ("http.uri"); "payload" for kPayload
  AppProto proto;
  BufferSide side;
};
const BufferInfo& InfoOf(Buffer b);

// The buffer a sticky-buffer keyword selects, Suricata 7's names and their aliases
// (file_data, dns_query, tls_sni, ja3_hash, tls_cert_subject, ...).
std::optional<Buffer> StickyBuffer(std::string_view keyword);
// The buffer a legacy content modifier moves the preceding content to (http_uri, http_header,
// http_client_body, http_server_body, http_method, http_cookie, http_user_agent, http_host,
// http_raw_uri, http_raw_header, http_raw_host, http_stat_code, http_stat_msg).
std::optional<Buffer> LegacyModifier(std::string_view keyword);

// The buffers of one side of one transaction, as the worker's app layer offers them to
// Scanner::ScanApp. Spans point into parser-owned memory valid for the call only.
struct AppInspect {
  AppProto proto = AppProto::kNone;
  bool to_server = true;  // the side being inspected (the packet's direction)
  uint64_t present = 0;   // bit b: buffer b is set (an empty buffer may be present)
  std::array<const uint8_t*, kBufferCount> data{};
  std::array<uint32_t, kBufferCount> len{};
  // TLS: the version Suricata keeps for the inspected side (app::TlsClientHello/TlsServerHello
  // connp_version), which tls.version compares; 0 when unknown.
  uint16_t tls_version = 0;

  void Set(Buffer b, const void* p, size_t n) {
    const int i = static_cast<int>(b);
    data[i] = static_cast<const uint8_t*>(p);
    len[i] = static_cast<uint32_t>(n);
    present |= uint64_t{1} << i;
  }
  void Set(Buffer b, std::string_view s) { Set(b, s.data(), s.size()); }
  bool Has(Buffer b) const { return (present >> static_cast<int>(b)) & 1; }
  void Clear() { present = 0; }
};

}  // namespace fs::patterns
