#include "patterns/buffers.h"

namespace fs::patterns {

const char* AppProtoName(AppProto p) {
  switch (p) {
    case AppProto::kHttp:
      return "http";
    case AppProto::kDns:
      return "dns";
    case AppProto::kTls:
      return "tls";
    case AppProto::kSmb:
      return "smb";
    case AppProto::kNone:
    case AppProto::kCount:
      break;
  }
  return "";
}

namespace {

constexpr BufferSide S = BufferSide::kToServer;
constexpr BufferSide C = BufferSide::kToClient;
constexpr BufferSide E = BufferSide::kEither;

constexpr std::array<BufferInfo, kBufferCount> kInfo = {{
    {"payload", AppProto::kNone, E},
#define FS_BUFFER_INFO(id, kw, proto, side) {kw, AppProto::proto, side},
    FS_BUFFERS(FS_BUFFER_INFO)
#undef FS_BUFFER_INFO
}};

struct Alias {
  std::string_view name;
  Buffer buffer;
};

// Suricata 7's other names for the sticky buffers (detect-*.c DetectBufferTypeRegister aliases).
constexpr Alias kStickyAliases[] = {
    {"file_data", Buffer::kFileData},
    {"http_request_line", Buffer::kHttpRequestLine},
    {"http_response_line", Buffer::kHttpResponseLine},
    {"dns_query", Buffer::kDnsQuery},
    {"tls_sni", Buffer::kTlsSni},
    {"tls_cert_subject", Buffer::kTlsCertSubject},
    {"tls_cert_issuer", Buffer::kTlsCertIssuer},
    {"tls_cert_serial", Buffer::kTlsCertSerial},
    {"tls_cert_fingerprint", Buffer::kTlsCertFingerprint},
    {"ja3_hash", Buffer::kJa3Hash},
    {"ja3_string", Buffer::kJa3String},
    {"ja3s_hash", Buffer::kJa3sHash},
    {"ja3s_string", Buffer::kJa3sString},
    {"http.request_header", Buffer::kHttpHeader},
    {"http.response_header", Buffer::kHttpHeader},
};

constexpr Alias kLegacy[] = {
    {"http_uri", Buffer::kHttpUri},
    {"http_raw_uri", Buffer::kHttpUriRaw},
    {"http_method", Buffer::kHttpMethod},
    {"http_header", Buffer::kHttpHeader},
    {"http_raw_header", Buffer::kHttpHeaderRaw},
    {"http_cookie", Buffer::kHttpCookie},
    {"http_user_agent", Buffer::kHttpUserAgent},
    {"http_host", Buffer::kHttpHost},
    {"http_raw_host", Buffer::kHttpHostRaw},
    {"http_client_body", Buffer::kHttpRequestBody},
    {"http_server_body", Buffer::kFileData},
    {"http_stat_code", Buffer::kHttpStatCode},
    {"http_stat_msg", Buffer::kHttpStatMsg},
};

}  // namespace

const BufferInfo& InfoOf(Buffer b) { return kInfo[static_cast<int>(b)]; }

std::optional<Buffer> StickyBuffer(std::string_view keyword) {
  for (int i = 1; i < kBufferCount; ++i) {
    if (kInfo[i].keyword == keyword) return static_cast<Buffer>(i);
  }
  for (const Alias& a : kStickyAliases) {
    if (a.name == keyword) return a.buffer;
  }
  return std::nullopt;
}

std::optional<Buffer> LegacyModifier(std::string_view keyword) {
  for (const Alias& a : kLegacy) {
    if (a.name == keyword) return a.buffer;
  }
  return std::nullopt;
}

}  // namespace fs::patterns
