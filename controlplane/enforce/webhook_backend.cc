#include "controlplane/enforce/webhook_backend.h"

#include <fmt/format.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

namespace fs::enforce {

namespace {

using Json = nlohmann::ordered_json;  // keeps the documented field order on the wire

// Fields shared by block/unblock events and sync entries.
void AddBlockFields(const Block& b, uint64_t now_ms, Json* j) {
  (*j)["target"] = b.target.ToString();
  (*j)["source"] = BlockSourceName(b.source);
  (*j)["gid"] = b.gid;
  (*j)["signature_id"] = b.sid;
  (*j)["reason"] = b.reason;
  (*j)["created"] = IsoTimeUtc(b.created_ms);
  (*j)["expires"] = IsoTimeUtc(b.expires_ms);
  (*j)["ttl"] = b.RemainingSeconds(now_ms);
}

// A reason (signature msg, operator comment) is attacker-influenced text: replace invalid UTF-8
// instead of letting nlohmann throw.
std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "unknown";
  return buf;
}

// What an operator can do about each client-side failure.
std::string DescribeError(httplib::Error e, int timeout_ms) {
  const std::string name = httplib::to_string(e);
  switch (e) {
    case httplib::Error::Connection:
      return fmt::format("cannot connect: refused, unreachable or name not resolved ({})", name);
    case httplib::Error::ConnectionTimeout:
      return fmt::format("no connection within {} ms ({})", timeout_ms, name);
    case httplib::Error::Read:
      return fmt::format("no complete answer within {} ms ({})", timeout_ms, name);
    case httplib::Error::Write:
      return fmt::format("sending the request failed or took over {} ms ({})", timeout_ms, name);
    case httplib::Error::SSLConnection:
      return fmt::format("TLS handshake failed ({})", name);
    case httplib::Error::SSLServerVerification:
      // Set by the caller, which can ask the TLS client why.
      return name;
    case httplib::Error::SSLLoadingCerts:
      return fmt::format("cannot load the CA certificates ({})", name);
    default:
      return name;
  }
}

// The first bytes of a receiver's answer for a log line: printable ASCII only, so a receiver
// cannot inject lines or terminal escapes into the sensor's log.
std::string Excerpt(const std::string& body) {
  constexpr size_t kMax = 200;
  std::string out = body.substr(0, kMax);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  }
  return out;
}

bool IsHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

}  // namespace

std::string IsoTimeUtc(uint64_t epoch_ms) {
  const time_t secs = static_cast<time_t>(epoch_ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, epoch_ms % 1000);
}

std::string WebhookBody(const char* event, const Block& b, const std::string& sensor,
                        uint64_t now_ms) {
  Json j;
  j["event"] = event;
  AddBlockFields(b, now_ms, &j);
  j["sensor"] = sensor;
  return Dump(j);
}

std::string WebhookSyncBody(std::span<const Block> live, const std::string& sensor,
                            uint64_t now_ms) {
  Json j;
  j["event"] = "sync";
  j["sensor"] = sensor;
  j["time"] = IsoTimeUtc(now_ms);
  Json blocks = Json::array();
  for (const Block& b : live) {
    Json e;
    AddBlockFields(b, now_ms, &e);
    blocks.push_back(std::move(e));
  }
  j["blocks"] = std::move(blocks);
  return Dump(j);
}

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  // A zero-length key is legal for HMAC, but OpenSSL wants a non-null pointer.
  static const unsigned char kEmpty = 0;
  const void* k = key.empty() ? &kEmpty : static_cast<const void*>(key.data());
  if (HMAC(EVP_sha256(), k, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), md,
           &md_len) == nullptr) {
    return "";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(md_len * 2);
  for (unsigned int i = 0; i < md_len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

bool ParseWebhookUrl(std::string_view url, WebhookUrl* out, std::string* error) {
  *out = WebhookUrl{};
  auto fail = [&](std::string_view why) {
    *error = fmt::format("webhook url '{}': {}", url, why);
    return false;
  };
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return fail("contains a space or control character");
    }
  }
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) return fail("expected http://host[:port]/path or https://...");
  std::string scheme(url.substr(0, sep));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme == "https") {
    out->https = true;
  } else if (scheme != "http") {
    return fail(fmt::format("scheme '{}' is not supported (use http or https)", scheme));
  }
  std::string_view rest = url.substr(sep + 3);
  const size_t auth_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, auth_end);
  std::string_view tail = auth_end == std::string_view::npos ? "" : rest.substr(auth_end);
  if (authority.find('@') != std::string_view::npos) {
    return fail("credentials in the URL are not supported; the secret signs every request");
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("unterminated [IPv6] host");
    out->host = std::string(authority.substr(1, close - 1));
    if (out->host.empty() ||
        out->host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) {
      return fail("bad [IPv6] host");
    }
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("unexpected text after [IPv6] host");
      port_text = after.substr(1);
      if (port_text.empty()) return fail("empty port");
    }
  } else {
    const size_t colon = authority.find(':');
    out->host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return fail("empty port");
    }
    for (char c : out->host) {
      if (!IsHostChar(c)) return fail(fmt::format("bad character '{}' in host", c));
    }
  }
  if (out->host.empty()) return fail("no host");
  if (port_text.empty()) {
    out->port = out->https ? 443 : 80;
  } else {
    int port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || port < 1 || port > 65535) {
      return fail(fmt::format("bad port '{}'", port_text));
    }
    out->port = port;
  }
  // The fragment never goes on the wire.
  tail = tail.substr(0, tail.find('#'));
  out->path = tail.empty() ? "/" : std::string(tail);
  if (out->path.front() == '?') out->path.insert(0, "/");
  return true;
}

WebhookBackend::WebhookBackend(WebhookConfig config) : config_(std::move(config)) {
  if (config_.sensor_name.empty()) config_.sensor_name = HostName();
}

WebhookBackend::~WebhookBackend() = default;

bool WebhookBackend::Start(std::string* error) {
  client_.reset();
  ssl_ = nullptr;
  if (!ParseWebhookUrl(config_.url, &url_, error)) return false;
  if (config_.timeout_ms <= 0) {
    *error = fmt::format("webhook timeout-ms must be positive (got {})", config_.timeout_ms);
    return false;
  }
  const bool v6 = url_.host.find(':') != std::string::npos;
  display_url_ =
      fmt::format("{}://{}{}{}:{}{}", url_.https ? "https" : "http", v6 ? "[" : "", url_.host,
                  v6 ? "]" : "", url_.port, url_.path.substr(0, url_.path.find('?')));
  if (!config_.ca_file.empty()) {
    if (!url_.https) {
      *error = fmt::format("webhook {}: ca-file is set but the URL is not https", display_url_);
      return false;
    }
    std::ifstream in(config_.ca_file);
    if (!in) {
      *error = fmt::format("webhook {}: cannot read ca-file {}: {}", display_url_, config_.ca_file,
                           std::strerror(errno));
      return false;
    }
  }
  try {
    if (url_.https) {
      auto ssl = std::make_unique<httplib::SSLClient>(url_.host, url_.port);
      ssl_ = ssl.get();
      client_ = std::move(ssl);
    } else {
      client_ = std::make_unique<httplib::ClientImpl>(url_.host, url_.port);
    }
  } catch (const std::exception& e) {
    *error = fmt::format("webhook {}: cannot create the HTTP client: {}", display_url_, e.what());
    return false;
  }
  if (!client_->is_valid()) {
    *error = fmt::format("webhook {}: cannot create the {} client (OpenSSL initialisation failed)",
                         display_url_, url_.https ? "HTTPS" : "HTTP");
    client_.reset();
    ssl_ = nullptr;
    return false;
  }
  const time_t sec = config_.timeout_ms / 1000;
  const time_t usec = static_cast<time_t>(config_.timeout_ms % 1000) * 1000;
  if (!config_.ca_file.empty()) client_->set_ca_cert_path(config_.ca_file);
  client_->set_connection_timeout(sec, usec);
  client_->set_read_timeout(sec, usec);
  client_->set_write_timeout(sec, usec);
  if (config_.secret.empty()) {
    spdlog::warn(
        "webhook {}: no secret configured: events are sent unsigned and a receiver cannot tell "
        "them from forged ones",
        display_url_);
  }
  return true;
}

bool WebhookBackend::Post(const char* event, const std::string& body, std::string* error) {
  if (!client_) {
    *error = "webhook: not started";
    return false;
  }
  const std::string ts = std::to_string(NowMs() / 1000);
  httplib::Headers headers = {{"X-Flowsentry-Event", event}, {"X-Flowsentry-Timestamp", ts}};
  if (!config_.secret.empty()) {
    headers.emplace("X-Flowsentry-Signature",
                    "sha256=" + HmacSha256Hex(config_.secret, ts + "." + body));
  }
  // httplib 0.11 writes "Host: <v6>:<port>" without brackets for an IPv6 literal.
  if (url_.host.find(':') != std::string::npos) {
    headers.emplace("Host", fmt::format("[{}]:{}", url_.host, url_.port));
  }
  try {
    httplib::Result r = client_->Post(url_.path, headers, body, "application/json");
    if (!r) {
      std::string why = DescribeError(r.error(), config_.timeout_ms);
      if (r.error() == httplib::Error::SSLServerVerification) {
        // OpenSSL's verdict on the chain; httplib checks the host name itself afterwards, so a
        // good chain means the certificate does not name the URL's host.
        const long v = ssl_ != nullptr ? ssl_->get_openssl_verify_result() : X509_V_OK;
        why = fmt::format("the server's TLS certificate is not trusted: {} (trusting {}) ({})",
                          v == X509_V_OK ? fmt::format("it is not issued for {}", url_.host)
                                         : X509_verify_cert_error_string(v),
                          config_.ca_file.empty() ? "the system CAs" : config_.ca_file, why);
      }
      *error = fmt::format("webhook {}: {}", display_url_, why);
      return false;
    }
    if (r->status < 200 || r->status > 299) {
      *error = fmt::format("webhook {}: HTTP {}: {}", display_url_, r->status, Excerpt(r->body));
      return false;
    }
  } catch (const std::exception& e) {
    *error = fmt::format("webhook {}: {}", display_url_, e.what());
    return false;
  }
  return true;
}

bool WebhookBackend::Add(const Block& b, std::string* error) {
  return Post("block", WebhookBody("block", b, config_.sensor_name, NowMs()), error);
}

bool WebhookBackend::Remove(const Block& b, std::string* error) {
  return Post("unblock", WebhookBody("unblock", b, config_.sensor_name, NowMs()), error);
}

bool WebhookBackend::Sync(std::span<const Block> live, std::string* error) {
  return Post("sync", WebhookSyncBody(live, config_.sensor_name, NowMs()), error);
}

}  // namespace fs::enforce
