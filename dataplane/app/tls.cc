#include "dataplane/app/tls.h"

// MD5() and SHA1(): deprecated in OpenSSL 3.0, used on purpose (see Digest below).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <cstring>
#include <ctime>
#include <memory>
#include <span>

namespace fs::app {

const char* TlsEventName(TlsEvent e) {
  switch (e) {
#define FS_X(id, name) \
  case TlsEvent::id:   \
    return name;
    FS_TLS_EVENTS(FS_X)
#undef FS_X
    case TlsEvent::kCount:
      break;
  }
  return "unknown";
}

const char* TlsVersionName(uint16_t version) {
  switch (version) {
    case 0x0200:
      return "SSLv2";
    case 0x0300:
      return "SSLv3";
    case 0x0301:
      return "TLSv1";
    case 0x0302:
      return "TLS 1.1";
    case 0x0303:
      return "TLS 1.2";
    case 0x0304:
      return "TLS 1.3";
    default:
      return "UNDETERMINED";
  }
}

bool LooksLikeTls(const uint8_t* data, size_t len) {
  if (data == nullptr || len < 6) return false;
  if (data[0] != 22 || data[1] != 3 || data[2] > 4) return false;
  const size_t rec_len = (size_t{data[3]} << 8) | data[4];
  if (rec_len == 0 || rec_len > kTlsMaxRecordLen) return false;
  if (data[5] != 1 && data[5] != 2) return false;
  // A hello is far below 64 KiB: the top byte of its 24-bit length is zero.
  if (len >= 7 && data[6] != 0) return false;
  return true;
}

uint16_t TlsClientHello::max_version() const {
  uint16_t best = 0;
  for (size_t i = 0; i < version_count; ++i)
    if (!IsTlsGrease(versions[i]) && versions[i] > best) best = versions[i];
  return best ? best : legacy_version;
}

uint16_t TlsHelloVersion(uint16_t v) {
  return v == 0x0304 || (v >= 0x7f01 && v < 0x7f10) ? 0x7f01 : v;
}

bool TlsVersionValid(uint16_t v) {
  if (v >= 0x0300 && v <= 0x0304) return true;
  if (v == 0x7f01 || (v >= 0x7f10 && v <= 0x7f1c)) return true;  // drafts (pre-16, 16-28)
  return v == 0xfb14 || v == 0xfb15 || v == 0xfb16 || v == 0xfb17 || v == 0xfb1a;
}

uint16_t TlsClientHello::connp_version() const {
  for (size_t i = 0; i < version_count; ++i)
    if (TlsVersionValid(versions[i])) return versions[i];
  return TlsHelloVersion(legacy_version);
}

uint16_t TlsServerHello::connp_version() const {
  return selected_version != 0 ? selected_version : TlsHelloVersion(legacy_version);
}

namespace {

constexpr uint8_t kRecChangeCipherSpec = 20;
constexpr uint8_t kRecHandshake = 22;
constexpr uint8_t kRecApplicationData = 23;
constexpr uint8_t kRecHeartbeat = 24;

constexpr uint8_t kHsClientHello = 1;
constexpr uint8_t kHsServerHello = 2;
constexpr uint8_t kHsCertificate = 11;

constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtSupportedGroups = 10;
constexpr uint16_t kExtEcPointFormats = 11;
constexpr uint16_t kExtAlpn = 16;
constexpr uint16_t kExtSupportedVersions = 43;

// Handshake types of TLS 1.0-1.3 (IANA registry); anything else is an event.
bool KnownHandshakeType(uint8_t t) {
  switch (t) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 8:
    case 11:
    case 12:
    case 13:
    case 14:
    case 15:
    case 16:
    case 17:
    case 20:
    case 21:
    case 22:
    case 23:
    case 24:
    case 25:
    case 254:
      return true;
    default:
      return false;
  }
}

// Bounds-checked big-endian reader over one message body. A read past the end sets bad and
// returns 0; callers check ok() at the points where it matters.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  size_t left() const { return n_ - at_; }
  bool ok() const { return !bad_; }
  const uint8_t* cur() const { return p_ + at_; }
  bool Need(size_t k) {
    if (bad_ || left() < k) {
      bad_ = true;
      return false;
    }
    return true;
  }
  uint8_t U8() {
    if (!Need(1)) return 0;
    return p_[at_++];
  }
  uint16_t U16() {
    if (!Need(2)) return 0;
    const uint16_t v = static_cast<uint16_t>((p_[at_] << 8) | p_[at_ + 1]);
    at_ += 2;
    return v;
  }
  uint32_t U24() {
    if (!Need(3)) return 0;
    const uint32_t v = (uint32_t{p_[at_]} << 16) | (uint32_t{p_[at_ + 1]} << 8) | p_[at_ + 2];
    at_ += 3;
    return v;
  }
  bool Skip(size_t k) {
    if (!Need(k)) return false;
    at_ += k;
    return true;
  }
  // A sub-reader over the next k bytes (and skips them); empty and bad when they are missing.
  Reader Sub(size_t k) {
    if (!Need(k)) return Reader(p_, 0, true);
    Reader r(p_ + at_, k);
    at_ += k;
    return r;
  }

 private:
  Reader(const uint8_t* p, size_t n, bool bad) : p_(p), n_(n), bad_(bad) {}
  const uint8_t* p_;
  size_t n_;
  size_t at_ = 0;
  bool bad_ = false;
};

// Appends text to a fixed buffer; remembers an overflow instead of writing past the end.
class Text {
 public:
  Text(char* buf, size_t cap) : buf_(buf), cap_(cap) {}
  void Put(const char* s, size_t n) {
    if (n > cap_ - len_) {
      n = cap_ - len_;
      overflow_ = true;
    }
    std::memcpy(buf_ + len_, s, n);
    len_ += n;
  }
  void Put(std::string_view s) { Put(s.data(), s.size()); }
  void Char(char c) { Put(&c, 1); }
  void Dec(uint32_t v) {
    char tmp[10];
    size_t n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0) Char(tmp[--n]);
  }
  void Hex2(uint8_t v, bool upper) {
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    Char(digits[v >> 4]);
    Char(digits[v & 15]);
  }
  size_t len() const { return len_; }
  bool overflow() const { return overflow_; }

 private:
  char* buf_;
  size_t cap_;
  size_t len_ = 0;
  bool overflow_ = false;
};

// One JA3 list: decimal values joined by '-', GREASE left out.
class Ja3List {
 public:
  explicit Ja3List(Text* t) : t_(t) {}
  void Add(uint16_t v) {
    if (IsTlsGrease(v)) return;
    if (!first_) t_->Char('-');
    first_ = false;
    t_->Dec(v);
  }

 private:
  Text* t_;
  bool first_ = true;
};

// One-shot digests on the packet path (JA3/JA3S, the certificate fingerprint). Under OpenSSL 3.0
// (Debian 12) every EVP digest, even on a reused context with an algorithm fetched once, frees
// and allocates the provider's context and takes and drops references (~2.5% of a district
// worker, after EVP_Digest's per-call fetch, ~1.5% more, was removed); the one-shot MD5() and
// SHA1() run the same implementation without that. They are deprecated in 3.0 (kept through
// 3.x), hence OPENSSL_SUPPRESS_DEPRECATED above their header.
enum class DigestAlgo { kMd5, kSha1 };

bool Digest(DigestAlgo a, const void* data, size_t len, unsigned char* md, unsigned int* md_len) {
  const auto* in = static_cast<const unsigned char*>(data);
  if (a == DigestAlgo::kMd5) {
    if (MD5(in, len, md) == nullptr) return false;
    *md_len = MD5_DIGEST_LENGTH;
  } else {
    if (SHA1(in, len, md) == nullptr) return false;
    *md_len = SHA_DIGEST_LENGTH;
  }
  return true;
}

// MD5 of s as 32 lower-case hex digits into out[0..32] (NUL-terminated). False on failure.
bool Md5Hex(std::string_view s, std::array<char, 33>& out) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (!Digest(DigestAlgo::kMd5, s.data(), s.size(), md, &md_len) || md_len != 16) return false;
  Text t(out.data(), 32);
  for (unsigned i = 0; i < md_len; ++i) t.Hex2(md[i], false);
  out[32] = '\0';
  return true;
}

template <size_t N>
void StoreAlpn(Reader ext, TlsAlpnList& alpn, bool* bad) {
  Reader list = ext.Sub(ext.U16());
  if (!ext.ok()) {
    *bad = true;
    return;
  }
  size_t used = 0;
  while (list.left() > 0) {
    const uint8_t n = list.U8();
    const uint8_t* name = list.cur();
    if (!list.Skip(n)) {
      *bad = true;
      return;
    }
    if (alpn.count < kTlsMaxAlpn && used + n <= N) {
      std::memcpy(alpn.buf.data() + used, name, n);
      alpn.off[alpn.count] = static_cast<uint16_t>(used);
      alpn.len[alpn.count] = n;
      ++alpn.count;
      used += n;
    }
  }
}

// x509-parser's abbreviations (what Suricata 7's subject/issuer strings use), else OpenSSL's
// short name, else the dotted OID.
void PutAttrName(Text& t, const ASN1_OBJECT* obj) {
  const int nid = OBJ_obj2nid(obj);
  switch (nid) {
    case NID_commonName:
      return t.Put("CN");
    case NID_countryName:
      return t.Put("C");
    case NID_localityName:
      return t.Put("L");
    case NID_stateOrProvinceName:
      return t.Put("ST");
    case NID_organizationName:
      return t.Put("O");
    case NID_organizationalUnitName:
      return t.Put("OU");
    case NID_domainComponent:
      return t.Put("DC");
    case NID_pkcs9_emailAddress:
      return t.Put("Email");
    default:
      break;
  }
  if (nid != NID_undef) {
    const char* sn = OBJ_nid2sn(nid);
    if (sn != nullptr) return t.Put(sn, std::strlen(sn));
  }
  char oid[80];
  const int n = OBJ_obj2txt(oid, sizeof(oid), obj, 1);
  if (n > 0)
    t.Put(oid, static_cast<size_t>(n) < sizeof(oid) ? static_cast<size_t>(n) : sizeof(oid) - 1);
}

void PutAttrValue(Text& t, const ASN1_STRING* v) {
  const unsigned char* data = ASN1_STRING_get0_data(v);
  const int len = ASN1_STRING_length(v);
  if (data == nullptr || len <= 0) return;
  switch (ASN1_STRING_type(v)) {
    case V_ASN1_NUMERICSTRING:
    case V_ASN1_PRINTABLESTRING:
    case V_ASN1_T61STRING:
    case V_ASN1_VIDEOTEXSTRING:
    case V_ASN1_IA5STRING:
    case V_ASN1_GRAPHICSTRING:
    case V_ASN1_VISIBLESTRING:
    case V_ASN1_GENERALSTRING:
    case V_ASN1_UTF8STRING:
      return t.Put(reinterpret_cast<const char*>(data), static_cast<size_t>(len));
    case V_ASN1_BMPSTRING:
      // UTF-16BE, basic plane only, to UTF-8.
      for (int i = 0; i + 1 < len; i += 2) {
        const unsigned c = (unsigned{data[i]} << 8) | data[i + 1];
        if (c < 0x80) {
          t.Char(static_cast<char>(c));
        } else if (c < 0x800) {
          t.Char(static_cast<char>(0xc0 | (c >> 6)));
          t.Char(static_cast<char>(0x80 | (c & 0x3f)));
        } else {
          t.Char(static_cast<char>(0xe0 | (c >> 12)));
          t.Char(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
          t.Char(static_cast<char>(0x80 | (c & 0x3f)));
        }
      }
      return;
    default:
      for (int i = 0; i < len; ++i) t.Hex2(data[i], true);
      return;
  }
}

// "C=US, O=Let's Encrypt, CN=R3": RDNs joined by ", ", attributes of one RDN by " + ".
uint16_t FormatName(const X509_NAME* name, std::array<char, kTlsNameCap>& out) {
  Text t(out.data(), out.size());
  const int n = X509_NAME_entry_count(name);
  int prev_set = -1;
  for (int i = 0; i < n; ++i) {
    const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    if (e == nullptr) continue;
    const int set = X509_NAME_ENTRY_set(e);
    if (i > 0) t.Put(set == prev_set ? std::string_view(" + ") : std::string_view(", "));
    prev_set = set;
    PutAttrName(t, X509_NAME_ENTRY_get_object(e));
    t.Char('=');
    PutAttrValue(t, X509_NAME_ENTRY_get_data(e));
  }
  return static_cast<uint16_t>(t.len());
}

void FormatTime(const ASN1_TIME* at, std::array<char, 20>& out) {
  std::tm tm{};
  if (at == nullptr || ASN1_TIME_to_tm(at, &tm) != 1) {
    std::memcpy(out.data(), "0000-00-00T00:00:00", 20);
    return;
  }
  Text t(out.data(), 19);
  auto two = [&t](int v) {
    t.Char(static_cast<char>('0' + (v / 10) % 10));
    t.Char(static_cast<char>('0' + v % 10));
  };
  const int year = tm.tm_year + 1900;
  two(year / 100);
  two(year % 100);
  t.Char('-');
  two(tm.tm_mon + 1);
  t.Char('-');
  two(tm.tm_mday);
  t.Char('T');
  two(tm.tm_hour);
  t.Char(':');
  two(tm.tm_min);
  t.Char(':');
  two(tm.tm_sec);
  out[19] = '\0';
}

// The serial's DER content bytes (leading 00 kept, as the certificate carries them).
uint16_t FormatSerial(std::span<const uint8_t> content, std::array<char, kTlsSerialCap>& out) {
  Text t(out.data(), out.size());
  for (size_t i = 0; i < content.size(); ++i) {
    if (i > 0) t.Char(':');
    t.Hex2(content[i], true);
  }
  return static_cast<uint16_t>(t.len());
}

// One DER element: low-tag-number form, definite length (all a certificate's fields use).
struct Der {
  uint8_t tag = 0;
  const uint8_t* start = nullptr;  // the tag byte
  size_t total = 0;                // tag, length and content
  std::span<const uint8_t> content;
};

// Reads the element at p (advanced past it); false when it does not fit before end.
bool NextDer(const uint8_t*& p, const uint8_t* end, Der* out) {
  if (end - p < 2 || (p[0] & 0x1f) == 0x1f) return false;
  const uint8_t* start = p;
  const uint8_t tag = *p++;
  size_t len = *p++;
  if (len & 0x80) {
    size_t n = len & 0x7f;
    if (n == 0 || n > 3 || static_cast<size_t>(end - p) < n) return false;
    for (len = 0; n > 0; --n) len = (len << 8) | *p++;
  }
  if (static_cast<size_t>(end - p) < len) return false;
  out->tag = tag;
  out->start = start;
  out->content = {p, len};
  p += len;
  out->total = static_cast<size_t>(p - start);
  return true;
}

// What the EVE record and the tls.cert_* buffers show of a certificate, found by walking its
// DER (Certificate = SEQUENCE { tbsCertificate, signatureAlgorithm, signature }, RFC 5280
// 4.1) to the TBS fields, which OpenSSL then decodes one by one. d2i_X509 of the whole
// certificate would also decode the public key through OpenSSL 3's provider decoders (locks,
// allocations): a fifth of the worker's time on the imix capture, for a key never used.
struct CertFields {
  std::span<const uint8_t> serial;  // INTEGER content
  Der issuer, subject;              // Name
  Der not_before, not_after;        // Time
};

bool WalkCertificate(std::span<const uint8_t> der, CertFields* f) {
  const uint8_t* p = der.data();
  const uint8_t* const end = p + der.size();
  Der cert, tbs, alg, sig;
  if (!NextDer(p, end, &cert) || cert.tag != 0x30 || p != end) return false;
  p = cert.content.data();
  const uint8_t* const cert_end = p + cert.content.size();
  if (!NextDer(p, cert_end, &tbs) || tbs.tag != 0x30 || !NextDer(p, cert_end, &alg) ||
      alg.tag != 0x30 || !NextDer(p, cert_end, &sig) || sig.tag != 0x03 || p != cert_end) {
    return false;
  }
  p = tbs.content.data();
  const uint8_t* const tbs_end = p + tbs.content.size();
  Der e;
  if (!NextDer(p, tbs_end, &e)) return false;
  if (e.tag == 0xa0 && !NextDer(p, tbs_end, &e)) return false;  // [0] EXPLICIT version
  if (e.tag != 0x02 || e.content.empty()) return false;         // serialNumber
  f->serial = e.content;
  Der validity;
  if (!NextDer(p, tbs_end, &e) || e.tag != 0x30 ||             // signature AlgorithmIdentifier
      !NextDer(p, tbs_end, &f->issuer) || f->issuer.tag != 0x30 ||
      !NextDer(p, tbs_end, &validity) || validity.tag != 0x30 ||
      !NextDer(p, tbs_end, &f->subject) || f->subject.tag != 0x30 ||
      !NextDer(p, tbs_end, &e) || e.tag != 0x30) {  // subjectPublicKeyInfo
    return false;
  }
  const uint8_t* v = validity.content.data();
  const uint8_t* const v_end = v + validity.content.size();
  auto is_time = [](const Der& t) { return t.tag == 0x17 || t.tag == 0x18; };  // UTC, General
  return NextDer(v, v_end, &f->not_before) && is_time(f->not_before) &&
         NextDer(v, v_end, &f->not_after) && is_time(f->not_after) && v == v_end;
}

struct X509NameFree {
  void operator()(X509_NAME* n) const { X509_NAME_free(n); }
};
struct Asn1TimeFree {
  void operator()(ASN1_TIME* t) const { ASN1_TIME_free(t); }
};

// The leaf certificates a worker decoded last, with what ParseCertificate made of them. A
// server presents the same certificate to every client, so most handshakes repeat one of a few:
// decoding its names through OpenSSL (d2i_X509_NAME builds a canonical encoding too) and its
// fingerprint cost ~3% of a worker on district traffic. Keyed by length and the last bytes (the
// signature), confirmed by comparing the whole DER; one per thread (workers do not share), 32
// entries, certificates up to 4 KiB.
class CertCache {
 public:
  static constexpr size_t kEntries = 32;
  static constexpr size_t kMaxDer = 4096;

  static CertCache& ForThisThread() {
    thread_local std::unique_ptr<CertCache> cache(new CertCache());
    return *cache;
  }
  const TlsCertInfo* Find(std::span<const uint8_t> der) const {
    if (der.size() > kMaxDer) return nullptr;
    const Entry& e = entries_[Slot(der)];
    if (e.len != der.size() || std::memcmp(e.der.data(), der.data(), der.size()) != 0) {
      return nullptr;
    }
    return &e.info;
  }
  void Put(std::span<const uint8_t> der, const TlsCertInfo& info) {
    if (der.size() > kMaxDer || der.empty()) return;
    Entry& e = entries_[Slot(der)];
    e.len = static_cast<uint32_t>(der.size());
    std::memcpy(e.der.data(), der.data(), der.size());
    e.info = info;
  }

 private:
  struct Entry {
    uint32_t len = 0;  // 0: empty
    std::array<uint8_t, kMaxDer> der{};
    TlsCertInfo info;
  };
  static size_t Slot(std::span<const uint8_t> der) {
    uint64_t tail = 0;
    const size_t n = der.size() < 8 ? der.size() : 8;
    std::memcpy(&tail, der.data() + der.size() - n, n);
    return static_cast<size_t>(((tail ^ der.size()) * 0x9e3779b97f4a7c15ULL) >> 59) % kEntries;
  }
  std::array<Entry, kEntries> entries_{};
};

// OpenSSL's decoding of one element found by WalkCertificate (it must take all of it).
template <class T, class Free>
std::unique_ptr<T, Free> DecodeWhole(const Der& d, T* (*d2i)(T**, const unsigned char**, long)) {
  const unsigned char* q = d.start;
  std::unique_ptr<T, Free> out(d2i(nullptr, &q, static_cast<long>(d.total)));
  if (out && q != d.start + d.total) out.reset();
  return out;
}

}  // namespace

TlsParser::TlsParser(uint8_t* storage) {
  if (storage == nullptr) {
    owned_.reset(new uint8_t[kStorageBytes]);
    storage = owned_.get();
  }
  dirs_[Index(TlsDir::kToServer)].buf = storage;
  dirs_[Index(TlsDir::kToServer)].cap = kTlsClientHelloCap;
  dirs_[Index(TlsDir::kToClient)].buf = storage + kTlsClientHelloCap;
  dirs_[Index(TlsDir::kToClient)].cap = kTlsServerFlightCap;
}

TlsParser::~TlsParser() = default;

void TlsParser::Event(TlsEvent e) {
  ++events_[static_cast<int>(e)];
  ready_ |= kTlsAnomaly;
}

uint32_t TlsParser::Feed(TlsDir dir, const uint8_t* data, size_t len) {
  ready_ = 0;
  Direction& d = dirs_[Index(dir)];
  if (data == nullptr) return 0;
  while (len > 0 && d.mode != Mode::kStopped) {
    if (d.rec_left == 0 && d.hdr_have < kTlsRecordHeaderLen) {
      const size_t take =
          kTlsRecordHeaderLen - d.hdr_have < len ? kTlsRecordHeaderLen - d.hdr_have : len;
      std::memcpy(d.hdr.data() + d.hdr_have, data, take);
      d.hdr_have = static_cast<uint8_t>(d.hdr_have + take);
      data += take;
      len -= take;
      if (d.hdr_have < kTlsRecordHeaderLen) break;
      if (!RecordHeader(d)) break;
      continue;
    }
    const size_t take = d.rec_left < len ? d.rec_left : len;
    if (d.mode == Mode::kHandshake && d.rec_type == kRecHandshake)
      HandshakeBytes(dir, d, data, take);
    data += take;
    len -= take;
    d.rec_left -= static_cast<uint32_t>(take);
    if (d.rec_left == 0) d.hdr_have = 0;
  }
  return ready_;
}

// A whole record header is in d.hdr. Returns false when the direction stops.
bool TlsParser::RecordHeader(Direction& d) {
  const uint8_t type = d.hdr[0];
  const uint32_t rec_len = (uint32_t{d.hdr[3]} << 8) | d.hdr[4];
  if (type < kRecChangeCipherSpec || type > kRecHeartbeat) {
    Event(TlsEvent::kInvalidRecordType);
    d.mode = Mode::kStopped;
    return false;
  }
  if (d.hdr[1] != 3 || d.hdr[2] > 4) {
    Event(TlsEvent::kInvalidRecordVersion);
    d.mode = Mode::kStopped;
    return false;
  }
  if (rec_len > kTlsMaxRecordLen) {
    Event(TlsEvent::kInvalidRecordLength);
    d.mode = Mode::kStopped;
    return false;
  }
  ++d.records;
  d.rec_type = type;
  d.rec_left = rec_len;
  if (d.mode == Mode::kHandshake) {
    const bool mid_message = d.hs_hdr_have > 0;
    if (type != kRecHandshake && mid_message) {
      // RFC 8446 5.1: handshake messages must not be interleaved with other record types.
      Event(TlsEvent::kInvalidHandshakeMessage);
      d.hs_hdr_have = 0;
      d.hs_copy = false;
    }
    if (rec_len == 0 && type != kRecApplicationData) Event(TlsEvent::kInvalidRecordLength);
    if (type == kRecHeartbeat) Event(TlsEvent::kHeartbeatMessage);
  }
  if ((type == kRecChangeCipherSpec || type == kRecApplicationData) && !d.encrypted) {
    d.mode = Mode::kCountOnly;
    d.encrypted = true;
    ready_ |= kTlsEncrypted;
  }
  if (rec_len == 0) d.hdr_have = 0;
  return true;
}

void TlsParser::StartMessage(TlsDir dir, Direction& d) {
  d.hs_type = d.hs_hdr[0];
  d.hs_len = (uint32_t{d.hs_hdr[1]} << 16) | (uint32_t{d.hs_hdr[2]} << 8) | d.hs_hdr[3];
  d.hs_have = 0;
  const bool to_server = dir == TlsDir::kToServer;
  bool wanted = false;
  if (!KnownHandshakeType(d.hs_type)) {
    Event(TlsEvent::kInvalidHandshakeMessage);
  } else if (d.hs_type == kHsClientHello) {
    if (!to_server) Event(TlsEvent::kInvalidHandshakeMessage);
    wanted = to_server && wanted_client_hello_;
  } else if (d.hs_type == kHsServerHello) {
    if (to_server) Event(TlsEvent::kInvalidHandshakeMessage);
    wanted = !to_server && !state_.has_server_hello;
  } else if (d.hs_type == kHsCertificate) {
    // A TLS 1.3 Certificate is encrypted; one in the clear there would be a different format.
    wanted = !to_server && wanted_certificate_ && state_.server.version() != 0x0304;
  }
  d.hs_copy = wanted;
  if (wanted && d.hs_len > d.cap) {
    Event(TlsEvent::kHandshakeTooLong);
    d.mode = Mode::kCountOnly;
    d.hs_copy = false;
  }
}

void TlsParser::HandshakeBytes(TlsDir dir, Direction& d, const uint8_t* p, size_t n) {
  while (n > 0 && d.mode == Mode::kHandshake) {
    if (d.hs_hdr_have < 4) {
      d.hs_hdr[d.hs_hdr_have++] = *p++;
      --n;
      if (d.hs_hdr_have < 4) continue;
      StartMessage(dir, d);
      if (d.mode != Mode::kHandshake) return;
      if (d.hs_len > 0) continue;
    } else {
      const size_t want = d.hs_len - d.hs_have;
      const size_t take = want < n ? want : n;
      if (d.hs_copy) std::memcpy(d.buf + d.hs_have, p, take);
      d.hs_have += static_cast<uint32_t>(take);
      p += take;
      n -= take;
      if (d.hs_have < d.hs_len) continue;
    }
    // The message is complete.
    d.hs_hdr_have = 0;
    if (d.hs_copy) {
      d.hs_copy = false;
      Message(dir, d.hs_type, d.buf, d.hs_len);
    }
  }
}

void TlsParser::Message(TlsDir dir, uint8_t type, const uint8_t* body, size_t len) {
  if (type == kHsClientHello && dir == TlsDir::kToServer) {
    wanted_client_hello_ = false;
    ParseClientHello(body, len);
  } else if (type == kHsServerHello && dir == TlsDir::kToClient) {
    ParseServerHello(body, len);
  } else if (type == kHsCertificate && dir == TlsDir::kToClient) {
    wanted_certificate_ = false;
    ParseCertificate(body, len);
  }
}

void TlsParser::ParseClientHello(const uint8_t* body, size_t len) {
  TlsClientHello& c = state_.client;
  c = TlsClientHello{};
  Reader r(body, len);
  bool bad = false;
  bool truncated_list = false;
  // The four JA3 lists, built during the one walk and joined at the end.
  std::array<char, kTlsJa3Cap> j_ciphers, j_exts, j_groups, j_formats;
  Text jc(j_ciphers.data(), j_ciphers.size()), je(j_exts.data(), j_exts.size());
  Text jg(j_groups.data(), j_groups.size()), jf(j_formats.data(), j_formats.size());
  Ja3List l_ciphers(&jc), l_exts(&je), l_groups(&jg), l_formats(&jf);
  c.legacy_version = r.U16();
  r.Skip(32);  // random
  const uint8_t sid_len = r.U8();
  if (sid_len > 32) bad = true;
  r.Skip(sid_len);
  const uint16_t cs_len = r.U16();
  if (cs_len % 2 != 0) bad = true;
  Reader cs = r.Sub(cs_len);
  const uint8_t comp_len = r.U8();
  if (comp_len == 0) bad = true;
  r.Skip(comp_len);
  if (!r.ok()) bad = true;

  while (cs.left() >= 2) {
    const uint16_t v = cs.U16();
    l_ciphers.Add(v);
    if (c.cipher_count < kTlsMaxCiphers)
      c.ciphers[c.cipher_count++] = v;
    else
      truncated_list = true;
  }

  // Extensions are optional (pre-TLS 1.2 clients may send none).
  Reader exts(nullptr, 0);
  if (r.ok() && r.left() > 0) {
    exts = r.Sub(r.U16());
    if (!r.ok() || r.left() != 0) bad = true;
  }
  bool seen_sni = false;
  while (exts.left() > 0) {
    const uint16_t type = exts.U16();
    const uint16_t ext_len = exts.U16();
    Reader ext = exts.Sub(ext_len);
    if (!exts.ok()) {
      bad = true;
      break;
    }
    l_exts.Add(type);
    if (c.extension_count < kTlsMaxExtensions)
      c.extensions[c.extension_count++] = type;
    else
      truncated_list = true;
    switch (type) {
      case kExtServerName: {
        if (seen_sni) {
          Event(TlsEvent::kMultipleSniExtensions);
          break;
        }
        seen_sni = true;
        Reader list = ext.Sub(ext.U16());
        if (!ext.ok()) {
          Event(TlsEvent::kInvalidSniLength);
          break;
        }
        while (list.left() > 0) {
          const uint8_t name_type = list.U8();
          const uint16_t name_len = list.U16();
          const uint8_t* name = list.cur();
          if (!list.Skip(name_len)) {
            Event(TlsEvent::kInvalidSniLength);
            break;
          }
          if (name_type != 0) {
            Event(TlsEvent::kInvalidSniType);
            continue;
          }
          if (c.has_sni) continue;  // RFC 6066: one host_name
          if (name_len == 0 || name_len > kTlsSniCap) Event(TlsEvent::kInvalidSniLength);
          if (name_len == 0) continue;
          const size_t keep = name_len < kTlsSniCap ? name_len : kTlsSniCap;
          std::memcpy(c.sni_buf.data(), name, keep);
          c.sni_len = static_cast<uint16_t>(keep);
          c.has_sni = true;
        }
        break;
      }
      case kExtSupportedGroups: {
        Reader list = ext.Sub(ext.U16());
        if (!ext.ok()) bad = true;
        while (list.left() >= 2) {
          const uint16_t v = list.U16();
          l_groups.Add(v);
          if (c.group_count < kTlsMaxGroups)
            c.groups[c.group_count++] = v;
          else
            truncated_list = true;
        }
        break;
      }
      case kExtEcPointFormats: {
        Reader list = ext.Sub(ext.U8());
        if (!ext.ok()) bad = true;
        while (list.left() >= 1) {
          const uint8_t v = list.U8();
          l_formats.Add(v);
          if (c.point_format_count < kTlsMaxPointFormats)
            c.point_formats[c.point_format_count++] = v;
          else
            truncated_list = true;
        }
        break;
      }
      case kExtAlpn:
        StoreAlpn<kTlsAlpnCap>(ext, c.alpn, &bad);
        break;
      case kExtSupportedVersions: {
        Reader list = ext.Sub(ext.U8());
        if (!ext.ok()) bad = true;
        while (list.left() >= 2) {
          const uint16_t v = list.U16();
          if (c.version_count < kTlsMaxVersions)
            c.versions[c.version_count++] = v;
          else
            truncated_list = true;
        }
        break;
      }
      default:
        break;
    }
  }
  if (bad) Event(TlsEvent::kHandshakeInvalidLength);
  if (truncated_list) Event(TlsEvent::kListTruncated);

  // JA3 from the wire values, not the capped arrays, so the caps never change it.
  Text t(c.ja3_buf.data(), c.ja3_buf.size());
  t.Dec(c.legacy_version);
  t.Char(',');
  t.Put(j_ciphers.data(), jc.len());
  t.Char(',');
  t.Put(j_exts.data(), je.len());
  t.Char(',');
  t.Put(j_groups.data(), jg.len());
  t.Char(',');
  t.Put(j_formats.data(), jf.len());
  const bool overflow =
      t.overflow() || jc.overflow() || je.overflow() || jg.overflow() || jf.overflow();
  if (overflow || !Md5Hex({c.ja3_buf.data(), t.len()}, c.ja3_hash_buf)) {
    Event(TlsEvent::kJa3Truncated);
    c.ja3_len = 0;
  } else {
    c.ja3_len = static_cast<uint16_t>(t.len());
  }
  state_.has_client_hello = true;
  ready_ |= kTlsClientHelloReady;
}

void TlsParser::ParseServerHello(const uint8_t* body, size_t len) {
  TlsServerHello& s = state_.server;
  s = TlsServerHello{};
  Reader r(body, len);
  bool bad = false;
  bool truncated_list = false;
  s.legacy_version = r.U16();
  r.Skip(32);
  const uint8_t sid_len = r.U8();
  if (sid_len > 32) bad = true;
  r.Skip(sid_len);
  s.cipher = r.U16();
  s.compression = r.U8();
  if (!r.ok()) bad = true;
  Reader exts(nullptr, 0);
  if (r.ok() && r.left() > 0) {
    exts = r.Sub(r.U16());
    if (!r.ok() || r.left() != 0) bad = true;
  }
  Text t(s.ja3s_buf.data(), s.ja3s_buf.size());
  t.Dec(s.legacy_version);
  t.Char(',');
  t.Dec(s.cipher);
  t.Char(',');
  Ja3List l(&t);
  while (exts.left() > 0) {
    const uint16_t type = exts.U16();
    Reader ext = exts.Sub(exts.U16());
    if (!exts.ok()) {
      bad = true;
      break;
    }
    l.Add(type);
    if (s.extension_count < kTlsMaxExtensions)
      s.extensions[s.extension_count++] = type;
    else
      truncated_list = true;
    if (type == kExtSupportedVersions) {
      s.selected_version = ext.U16();
      if (!ext.ok() || ext.left() != 0) bad = true;
    } else if (type == kExtAlpn) {
      StoreAlpn<kTlsAlpnCap>(ext, s.alpn, &bad);
    }
  }
  if (bad) Event(TlsEvent::kHandshakeInvalidLength);
  if (truncated_list) Event(TlsEvent::kListTruncated);
  if (t.overflow() || !Md5Hex({s.ja3s_buf.data(), t.len()}, s.ja3s_hash_buf)) {
    Event(TlsEvent::kJa3Truncated);
    s.ja3s_len = 0;
  } else {
    s.ja3s_len = static_cast<uint16_t>(t.len());
  }
  state_.has_server_hello = true;
  ready_ |= kTlsServerHelloReady;
}

void TlsParser::ParseCertificate(const uint8_t* body, size_t len) {
  TlsChain& chain = state_.chain;
  chain = TlsChain{};
  Reader r(body, len);
  const uint32_t list_len = r.U24();
  if (!r.ok() || list_len != r.left()) Event(TlsEvent::kCertificateInvalidLength);
  Reader list = r.Sub(list_len < r.left() ? list_len : r.left());
  bool too_many = false;
  while (list.left() > 0) {
    const uint32_t n = list.U24();
    const uint8_t* der = list.cur();
    if (!list.Skip(n) || n == 0) {
      Event(TlsEvent::kCertificateInvalidLength);
      break;
    }
    ++chain.total;
    if (chain.count < kTlsMaxCerts)
      chain.der[chain.count++] = {der, n};
    else
      too_many = true;
  }
  if (too_many) Event(TlsEvent::kTooManyCertificates);
  state_.has_chain = true;
  ready_ |= kTlsCertificateReady;
  if (chain.count == 0) return;

  const std::span<const uint8_t> first = chain.der[0];
  CertCache& cache = CertCache::ForThisThread();
  if (const TlsCertInfo* known = cache.Find(first)) {
    state_.cert = *known;
    state_.has_cert = true;
    return;
  }
  CertFields fields;
  if (!WalkCertificate(first, &fields)) {
    Event(TlsEvent::kInvalidCertificate);
    return;
  }
  auto subject = DecodeWhole<X509_NAME, X509NameFree>(fields.subject, d2i_X509_NAME);
  auto issuer = DecodeWhole<X509_NAME, X509NameFree>(fields.issuer, d2i_X509_NAME);
  auto not_before = DecodeWhole<ASN1_TIME, Asn1TimeFree>(fields.not_before, d2i_ASN1_TIME);
  auto not_after = DecodeWhole<ASN1_TIME, Asn1TimeFree>(fields.not_after, d2i_ASN1_TIME);
  if (!subject || !issuer || !not_before || !not_after) {
    Event(TlsEvent::kInvalidCertificate);
    return;
  }
  TlsCertInfo& ci = state_.cert;
  ci = TlsCertInfo{};
  ci.subject_len = FormatName(subject.get(), ci.subject_buf);
  ci.issuer_len = FormatName(issuer.get(), ci.issuer_buf);
  ci.serial_len = FormatSerial(fields.serial, ci.serial_buf);
  FormatTime(not_before.get(), ci.not_before_buf);
  FormatTime(not_after.get(), ci.not_after_buf);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (Digest(DigestAlgo::kSha1, first.data(), first.size(), md, &md_len) && md_len == 20) {
    Text t(ci.fingerprint_buf.data(), 59);
    for (unsigned i = 0; i < md_len; ++i) {
      if (i > 0) t.Char(':');
      t.Hex2(md[i], false);
    }
  }
  state_.has_cert = true;
  cache.Put(first, ci);
}

}  // namespace fs::app
