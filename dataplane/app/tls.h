// Incremental TLS handshake parsing for the app layer: one TlsParser per flow holds both
// directions (to-server and to-client record framing and handshake-message reassembly), fed
// in-order stream bytes per direction in chunks of any size. Records may be split across chunks,
// a chunk may hold several records, and a handshake message may span several records.
//
// What comes out, into the TlsState the parser owns (fixed-capacity buffers, string_view
// accessors): the first ClientHello (legacy version, supported_versions, cipher suites, extension
// types in order, SNI, supported groups, EC point formats, ALPN, the JA3 string and its MD5), the
// ServerHello (legacy and selected version, cipher, extensions, ALPN, JA3S and its MD5) and, for
// TLS <= 1.2, the server's Certificate chain: raw DER of each certificate (spans into the
// parser's buffer) and, for the first one, subject, issuer, serial, SHA-1 fingerprint and
// validity in Suricata's EVE formats. Feed returns a TlsReady bitmask saying what became ready
// during the call; the worker then reads state(). JA3/JA3S follow Salesforce's definition as
// Suricata implements it: the legacy version field, decimal values joined by '-', GREASE values
// removed from every list.
//
// Memory is bounded and reserved at construction: one buffer per direction for the handshake
// message being reassembled (kTlsClientHelloCap to-server, kTlsServerFlightCap to-client). Only
// the messages whose content is reported are copied (the first ClientHello; ServerHello and the
// first Certificate); later handshake messages are framed and skipped without copying, so the
// Certificate message stays in the to-client buffer and the DER spans stay valid for the
// parser's life. A reported message longer than its buffer is an event and ends handshake parsing
// of that direction. After that, or ChangeCipherSpec or application data, a direction only counts
// records. A record
// header that cannot be TLS (type, version, length) ends parsing of that direction: there is no
// way to find the next record boundary.
//
// OpenSSL is used for MD5/SHA-1 (EVP) and to decode the first certificate (d2i_X509). OpenSSL
// allocates inside those calls; they run at most a few times per flow (once per hello, once per
// chain), never per packet.
//
// No exceptions, no virtual calls. Anomalies are counted per parser; their names are Suricata's
// app-layer-event names (tls.invalid_record_type ...) where Suricata has one.
//
// A TlsParser is owned by the flow's app-layer state and called only by the worker that owns the
// flow. It is neither copyable nor movable (state() spans point into its buffers).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace fs::app {

inline constexpr size_t kTlsRecordHeaderLen = 5;
inline constexpr size_t kTlsMaxRecordLen = 16384 + 2048;  // TLSCiphertext (RFC 5246 6.2.3)
inline constexpr size_t kTlsClientHelloCap = 16 * 1024;   // to-server handshake message buffer
inline constexpr size_t kTlsServerFlightCap = 64 * 1024;  // to-client (ServerHello, Certificate)
inline constexpr size_t kTlsMaxCiphers = 256;
inline constexpr size_t kTlsMaxExtensions = 64;
inline constexpr size_t kTlsMaxGroups = 64;
inline constexpr size_t kTlsMaxPointFormats = 16;
inline constexpr size_t kTlsMaxVersions = 16;
inline constexpr size_t kTlsSniCap = 255;
inline constexpr size_t kTlsMaxAlpn = 8;
inline constexpr size_t kTlsAlpnCap = 256;  // all ALPN names of one hello, back to back
inline constexpr size_t kTlsJa3Cap = 2048;
inline constexpr size_t kTlsMaxCerts = 8;  // certificates of the chain kept as DER spans
inline constexpr size_t kTlsNameCap = 512;
inline constexpr size_t kTlsSerialCap = 3 * 32;  // "AB:" per byte, 32 bytes (RFC 5280: <= 20)

// X(id, name): anomaly events. Names are Suricata's app-layer-event names (rules say
// app-layer-event:tls.<name>) where Suricata has the event; the others are flowsentry's own.
#define FS_TLS_EVENTS(X)                                                                          \
  X(kInvalidRecordType, "invalid_record_type")             /* not 20..24: direction stops */      \
  X(kInvalidRecordVersion, "invalid_record_version")       /* not 3.0..3.4: direction stops */    \
  X(kInvalidRecordLength, "invalid_record_length")         /* 0, or > 2^14+2048 (stops) */        \
  X(kInvalidHandshakeMessage, "invalid_handshake_message") /* unknown type, wrong direction, */   \
                                                           /* cut by another record type */       \
  X(kHandshakeInvalidLength, "handshake_invalid_length")   /* a length inside a hello overruns */ \
  X(kHeartbeatMessage, "heartbeat_message")                                                       \
  X(kMultipleSniExtensions, "multiple_sni_extensions")                                            \
  X(kInvalidSniType, "invalid_sni_type")                                                          \
  X(kInvalidSniLength, "invalid_sni_length")    /* 0, overruns, or > kTlsSniCap */                \
  X(kInvalidCertificate, "invalid_certificate") /* first certificate does not decode */           \
  X(kCertificateInvalidLength, "certificate_invalid_length") /* chain or entry length overruns */ \
  X(kHandshakeTooLong, "handshake_too_long")       /* reported message > buffer: count only */    \
  X(kTooManyCertificates, "too_many_certificates") /* chain longer than kTlsMaxCerts */           \
  X(kListTruncated, "list_truncated")              /* ciphers/extensions/... beyond the caps */   \
  X(kJa3Truncated, "ja3_truncated")                /* JA3/JA3S string > kTlsJa3Cap: no hash */

enum class TlsEvent : uint8_t {
#define FS_X(id, name) id,
  FS_TLS_EVENTS(FS_X)
#undef FS_X
      kCount
};
inline constexpr int kTlsEventCount = static_cast<int>(TlsEvent::kCount);

// "invalid_record_type" ... (without the "tls." prefix).
const char* TlsEventName(TlsEvent e);

// Suricata's version strings: "SSLv3", "TLSv1", "TLS 1.1", "TLS 1.2", "TLS 1.3", else
// "UNDETERMINED".
const char* TlsVersionName(uint16_t version);

// A hello's version field as Suricata 7 keeps it: 0x0304 and the early TLS 1.3 drafts
// 0x7f01-0x7f0f read as 0x7f01 (its TLS_VERSION_13_PRE_DRAFT16).
uint16_t TlsHelloVersion(uint16_t legacy_version);
// Suricata's TLSVersionValid: SSL 3.0, TLS 1.0-1.3 and the TLS 1.3 drafts it knows.
bool TlsVersionValid(uint16_t version);

// GREASE (RFC 8701): 0x0a0a, 0x1a1a, ... 0xfafa.
inline bool IsTlsGrease(uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

// Content detection: a TLS handshake record header (type 22, version 3.0..3.4, length 1..2^14+2048)
// followed, when those bytes are present, by a ClientHello or ServerHello type and a message
// length below 64 KiB. Needs at least 6 bytes.
bool LooksLikeTls(const uint8_t* data, size_t len);

enum class TlsDir : uint8_t { kToServer = 0, kToClient = 1 };

// Bits of Feed's result.
enum TlsReady : uint32_t {
  kTlsClientHelloReady = 1u << 0,  // state().client filled
  kTlsServerHelloReady = 1u << 1,  // state().server filled
  kTlsCertificateReady = 1u << 2,  // state().cert and state().chain filled
  kTlsEncrypted = 1u << 3,         // this direction saw ChangeCipherSpec / application data
  kTlsAnomaly = 1u << 4,           // at least one event was counted during the call
};

// ALPN names, stored back to back.
struct TlsAlpnList {
  std::array<char, kTlsAlpnCap> buf{};
  std::array<uint16_t, kTlsMaxAlpn> off{};
  std::array<uint8_t, kTlsMaxAlpn> len{};
  uint8_t count = 0;
  std::string_view get(size_t i) const { return {buf.data() + off[i], len[i]}; }
};

struct TlsClientHello {
  uint16_t legacy_version = 0;
  std::array<uint16_t, kTlsMaxVersions> versions{};  // supported_versions, as sent (GREASE kept)
  uint8_t version_count = 0;
  std::array<uint16_t, kTlsMaxCiphers> ciphers{};  // as sent (GREASE kept)
  uint16_t cipher_count = 0;
  std::array<uint16_t, kTlsMaxExtensions> extensions{};  // types in order (GREASE kept)
  uint16_t extension_count = 0;
  std::array<uint16_t, kTlsMaxGroups> groups{};
  uint16_t group_count = 0;
  std::array<uint8_t, kTlsMaxPointFormats> point_formats{};
  uint16_t point_format_count = 0;
  bool has_sni = false;
  std::array<char, kTlsSniCap> sni_buf{};
  uint16_t sni_len = 0;
  TlsAlpnList alpn;
  std::array<char, kTlsJa3Cap> ja3_buf{};
  uint16_t ja3_len = 0;
  std::array<char, 33> ja3_hash_buf{};  // 32 lower-case hex digits; empty when truncated

  std::string_view sni() const { return {sni_buf.data(), sni_len}; }
  std::string_view ja3() const { return {ja3_buf.data(), ja3_len}; }
  std::string_view ja3_hash() const { return {ja3_hash_buf.data(), ja3_len ? 32u : 0u}; }
  // Highest non-GREASE supported_versions value, else legacy_version.
  uint16_t max_version() const;
  // The version Suricata 7 keeps for the client side (its client_connp.version, which rules'
  // tls.version compares): the first valid supported_versions entry, else legacy_version as
  // Suricata reads it (TlsHelloVersion).
  uint16_t connp_version() const;
};

struct TlsServerHello {
  uint16_t legacy_version = 0;
  uint16_t selected_version = 0;  // supported_versions extension; 0 when absent
  // Suricata 7's server_connp.version: selected_version when present, else legacy_version as
  // Suricata reads it (TlsHelloVersion).
  uint16_t connp_version() const;
  uint16_t cipher = 0;
  uint8_t compression = 0;
  std::array<uint16_t, kTlsMaxExtensions> extensions{};
  uint16_t extension_count = 0;
  TlsAlpnList alpn;
  std::array<char, kTlsJa3Cap> ja3s_buf{};
  uint16_t ja3s_len = 0;
  std::array<char, 33> ja3s_hash_buf{};

  // The negotiated version, for EVE's tls.version: the selected version when present.
  uint16_t version() const { return selected_version ? selected_version : legacy_version; }
  std::string_view ja3s() const { return {ja3s_buf.data(), ja3s_len}; }
  std::string_view ja3s_hash() const { return {ja3s_hash_buf.data(), ja3s_len ? 32u : 0u}; }
};

// The first (server) certificate, decoded, in Suricata's EVE formats.
struct TlsCertInfo {
  std::array<char, kTlsNameCap> subject_buf{};  // "C=US, O=Let's Encrypt, CN=R3"
  uint16_t subject_len = 0;
  std::array<char, kTlsNameCap> issuer_buf{};
  uint16_t issuer_len = 0;
  std::array<char, kTlsSerialCap> serial_buf{};  // "00:AB:12" (DER content bytes, upper case)
  uint16_t serial_len = 0;
  std::array<char, 60> fingerprint_buf{};  // SHA-1 of the DER, "ab:12:..." (59 chars)
  std::array<char, 20> not_before_buf{};   // "YYYY-MM-DDTHH:MM:SS" (19 chars)
  std::array<char, 20> not_after_buf{};

  std::string_view subject() const { return {subject_buf.data(), subject_len}; }
  std::string_view issuer() const { return {issuer_buf.data(), issuer_len}; }
  std::string_view serial() const { return {serial_buf.data(), serial_len}; }
  std::string_view fingerprint() const { return {fingerprint_buf.data(), 59}; }
  std::string_view not_before() const { return {not_before_buf.data(), 19}; }
  std::string_view not_after() const { return {not_after_buf.data(), 19}; }
};

// The server's chain (tls.certs): DER of each certificate, in order, pointing into the parser.
struct TlsChain {
  std::array<std::span<const uint8_t>, kTlsMaxCerts> der{};
  uint8_t count = 0;   // spans filled
  uint32_t total = 0;  // certificates in the message (may exceed count)
};

struct TlsState {
  bool has_client_hello = false;
  bool has_server_hello = false;
  bool has_cert = false;   // cert decoded (the chain may be present without it)
  bool has_chain = false;  // a Certificate message was parsed
  TlsClientHello client;
  TlsServerHello server;
  TlsCertInfo cert;
  TlsChain chain;
};

class TlsParser {
 public:
  // Bytes of the two handshake buffers (to-server and to-client message reassembly).
  static constexpr size_t kStorageBytes = kTlsClientHelloCap + kTlsServerFlightCap;
  // storage: kStorageBytes the caller keeps until the parser is destroyed (a pooled block); or
  // nullptr: the parser allocates its own.
  explicit TlsParser(uint8_t* storage = nullptr);
  ~TlsParser();
  TlsParser(const TlsParser&) = delete;
  TlsParser& operator=(const TlsParser&) = delete;

  // Parses the next in-order bytes of one direction. Never fails; anomalies are counted events.
  // Returns TlsReady bits for what became ready during this call.
  uint32_t Feed(TlsDir dir, const uint8_t* data, size_t len);

  const TlsState& state() const { return state_; }
  uint32_t event_count(TlsEvent e) const { return events_[static_cast<int>(e)]; }
  uint64_t records(TlsDir dir) const { return dirs_[Index(dir)].records; }
  // ChangeCipherSpec / application data seen in this direction.
  bool encrypted(TlsDir dir) const { return dirs_[Index(dir)].encrypted; }
  // Handshake messages of this direction are still being parsed (not encrypted, no overflow).
  bool parsing(TlsDir dir) const { return dirs_[Index(dir)].mode == Mode::kHandshake; }
  // A record header could not be TLS: the direction is no longer even framed.
  bool stopped(TlsDir dir) const { return dirs_[Index(dir)].mode == Mode::kStopped; }

 private:
  enum class Mode : uint8_t { kHandshake, kCountOnly, kStopped };

  struct Direction {
    Mode mode = Mode::kHandshake;
    bool encrypted = false;
    uint64_t records = 0;
    // Record framing.
    std::array<uint8_t, kTlsRecordHeaderLen> hdr{};
    uint8_t hdr_have = 0;
    uint8_t rec_type = 0;
    uint32_t rec_left = 0;  // body bytes of the current record still to come
    // Handshake message assembly.
    std::array<uint8_t, 4> hs_hdr{};
    uint8_t hs_hdr_have = 0;
    uint8_t hs_type = 0;
    uint32_t hs_len = 0;
    uint32_t hs_have = 0;
    bool hs_copy = false;  // this message's body is being copied into buf
    uint8_t* buf = nullptr;
    uint32_t cap = 0;
  };

  static size_t Index(TlsDir d) { return static_cast<size_t>(d); }
  bool RecordHeader(Direction& d);
  void HandshakeBytes(TlsDir dir, Direction& d, const uint8_t* p, size_t n);
  void StartMessage(TlsDir dir, Direction& d);
  void Message(TlsDir dir, uint8_t type, const uint8_t* body, size_t len);
  void ParseClientHello(const uint8_t* body, size_t len);
  void ParseServerHello(const uint8_t* body, size_t len);
  void ParseCertificate(const uint8_t* body, size_t len);
  void Event(TlsEvent e);

  TlsState state_;
  std::array<Direction, 2> dirs_{};
  std::unique_ptr<uint8_t[]> owned_;  // storage when the caller gave none
  uint32_t ready_ = 0;  // bits collected during the current Feed
  bool wanted_client_hello_ = true;
  bool wanted_certificate_ = true;
  std::array<uint32_t, kTlsEventCount> events_{};
};

}  // namespace fs::app
