// TLS handshake parsing (dataplane/app/tls): ClientHello/ServerHello/Certificate flights built
// here (the certificates generated at test time with OpenSSL), every field checked, JA3/JA3S
// strings and MD5s against hand-computed values and the Salesforce README vector, GREASE removal,
// the same result whatever the chunking (1-byte chunks and every 2-way split of each flight),
// handshake messages spanning records, truncation at every byte, hostile lengths, record-layer
// anomalies, content detection, and a fixed-seed mutation run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dataplane/app/tls.h"

namespace fs::app {
namespace {

using Bytes = std::vector<uint8_t>;
using ::testing::HasSubstr;

// Writes TLS wire format. Open16/Open24/Open8 start a length-prefixed block that Close fills in.
struct W {
  Bytes b;
  std::vector<std::pair<size_t, int>> open;
  W& U8(uint32_t v) {
    b.push_back(uint8_t(v));
    return *this;
  }
  W& U16(uint32_t v) { return U8(v >> 8).U8(v); }
  W& U24(uint32_t v) { return U8(v >> 16).U16(v); }
  W& Raw(const Bytes& v) {
    b.insert(b.end(), v.begin(), v.end());
    return *this;
  }
  W& Str(const std::string& s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  W& Fill(size_t n, uint8_t v) {
    b.insert(b.end(), n, v);
    return *this;
  }
  W& Open(int width) {
    open.push_back({b.size(), width});
    b.insert(b.end(), size_t(width), 0);
    return *this;
  }
  W& Open8() { return Open(1); }
  W& Open16() { return Open(2); }
  W& Open24() { return Open(3); }
  W& Close() {
    auto [at, width] = open.back();
    open.pop_back();
    const size_t n = b.size() - at - size_t(width);
    for (int i = 0; i < width; ++i) b[at + size_t(i)] = uint8_t(n >> (8 * (width - 1 - i)));
    return *this;
  }
};

struct Ext {
  uint16_t type;
  Bytes data;
};

Ext Sni(const std::string& host) {
  W w;
  w.Open16().U8(0).U16(uint32_t(host.size())).Str(host).Close();
  return {0, w.b};
}
Ext Groups(const std::vector<uint16_t>& g) {
  W w;
  w.Open16();
  for (auto v : g) w.U16(v);
  w.Close();
  return {10, w.b};
}
Ext PointFormats(const std::vector<uint8_t>& f) {
  W w;
  w.Open8();
  for (auto v : f) w.U8(v);
  w.Close();
  return {11, w.b};
}
Ext Alpn(const std::vector<std::string>& names) {
  W w;
  w.Open16();
  for (auto& n : names) w.U8(uint32_t(n.size())).Str(n);
  w.Close();
  return {16, w.b};
}
Ext ClientVersions(const std::vector<uint16_t>& v) {
  W w;
  w.Open8();
  for (auto x : v) w.U16(x);
  w.Close();
  return {43, w.b};
}
Ext ServerVersion(uint16_t v) {
  W w;
  w.U16(v);
  return {43, w.b};
}

// A handshake message: type, 24-bit length, body.
Bytes Handshake(uint8_t type, const Bytes& body) {
  W w;
  w.U8(type).U24(uint32_t(body.size())).Raw(body);
  return w.b;
}

Bytes ClientHello(uint16_t version, const std::vector<uint16_t>& ciphers,
                  const std::vector<Ext>& exts, bool with_ext_block = true) {
  W w;
  w.U16(version).Fill(32, 0x11).U8(32).Fill(32, 0x22);
  w.Open16();
  for (auto c : ciphers) w.U16(c);
  w.Close();
  w.U8(1).U8(0);
  if (with_ext_block) {
    w.Open16();
    for (auto& e : exts) w.U16(e.type).U16(uint32_t(e.data.size())).Raw(e.data);
    w.Close();
  }
  return Handshake(1, w.b);
}

Bytes ServerHello(uint16_t version, uint16_t cipher, const std::vector<Ext>& exts) {
  W w;
  w.U16(version).Fill(32, 0x33).U8(32).Fill(32, 0x44).U16(cipher).U8(0);
  w.Open16();
  for (auto& e : exts) w.U16(e.type).U16(uint32_t(e.data.size())).Raw(e.data);
  w.Close();
  return Handshake(2, w.b);
}

Bytes CertificateMsg(const std::vector<Bytes>& ders) {
  W w;
  w.Open24();
  for (auto& d : ders) w.U24(uint32_t(d.size())).Raw(d);
  w.Close();
  return Handshake(11, w.b);
}

// Wraps payload into records of at most `frag` bytes.
Bytes Records(uint8_t type, const Bytes& payload, size_t frag = 16384, uint16_t version = 0x0303) {
  W w;
  size_t at = 0;
  do {
    const size_t n = std::min(frag, payload.size() - at);
    w.U8(type).U16(version).U16(uint32_t(n));
    w.b.insert(w.b.end(), payload.begin() + long(at), payload.begin() + long(at + n));
    at += n;
  } while (at < payload.size());
  return w.b;
}

Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// ---- certificates generated with OpenSSL ----

struct X509Del {
  void operator()(X509* x) const { X509_free(x); }
};
struct PKeyDel {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

void AddName(X509_NAME* n, const char* field, const char* value) {
  X509_NAME_add_entry_by_txt(n, field, MBSTRING_ASC, reinterpret_cast<const unsigned char*>(value),
                             -1, -1, 0);
}

std::unique_ptr<X509, X509Del> MakeCert(const char* cn, bool multi_rdn = false) {
  std::unique_ptr<EVP_PKEY, PKeyDel> key(EVP_EC_gen("P-256"));
  EXPECT_TRUE(key);
  std::unique_ptr<X509, X509Del> x(X509_new());
  X509_set_version(x.get(), 2);
  BIGNUM* bn = nullptr;
  BN_hex2bn(&bn, "ABCD01");  // high bit set: DER adds a leading 00
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
  BN_free(bn);
  ASN1_TIME_set_string(X509_getm_notBefore(x.get()), "20240102030405Z");
  ASN1_TIME_set_string(X509_getm_notAfter(x.get()), "20250607080910Z");
  X509_NAME* subj = X509_get_subject_name(x.get());
  AddName(subj, "C", "US");
  AddName(subj, "ST", "Iowa");
  AddName(subj, "O", "Des Moines Public Schools");
  AddName(subj, "CN", cn);
  if (multi_rdn) {
    // A new RDN (OU), then emailAddress added to that same RDN (set = -1): "OU=IT + Email=...".
    X509_NAME_add_entry_by_txt(subj, "OU", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("IT"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(subj, "emailAddress", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("noc@example.org"), -1, -1,
                               -1);
  }
  X509_NAME* iss = X509_get_issuer_name(x.get());
  AddName(iss, "C", "US");
  AddName(iss, "O", "Let's Encrypt");
  AddName(iss, "CN", "R3");
  X509_set_pubkey(x.get(), key.get());
  EXPECT_GT(X509_sign(x.get(), key.get(), EVP_sha256()), 0);
  return x;
}

Bytes Der(X509* x) {
  const int n = i2d_X509(x, nullptr);
  Bytes out(size_t(n > 0 ? n : 0));
  unsigned char* p = out.data();
  i2d_X509(x, &p);
  return out;
}

std::string Sha1Colon(X509* x) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(x, EVP_sha1(), md, &n);
  std::string out;
  char tmp[4];
  for (unsigned i = 0; i < n; ++i) {
    snprintf(tmp, sizeof(tmp), i ? ":%02x" : "%02x", md[i]);
    out += tmp;
  }
  return out;
}

std::string Md5Hex(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_md5(), nullptr);
  std::string out;
  char tmp[3];
  for (unsigned i = 0; i < n; ++i) {
    snprintf(tmp, sizeof(tmp), "%02x", md[i]);
    out += tmp;
  }
  return out;
}

// ---- standard flights ----

const std::vector<uint16_t> kCiphers = {0x0a0a, 0x1301, 0x1302, 0xc02b, 0x002f};
const std::vector<Ext> kClientExts = {
    {0x1a1a, {}},
    Sni("www.example.org"),
    {23, {}},
    Groups({0x2a2a, 29, 23, 24}),
    PointFormats({0}),
    Alpn({"h2", "http/1.1"}),
    ClientVersions({0x3a3a, 0x0304, 0x0303}),
    {0xfafa, {0}},
};
const char* kJa3 = "771,4865-4866-49195-47,0-23-10-11-16-43,29-23-24,0";
const char* kJa3Md5 = "bba7671475376df0c0cfe8e736072e36";  // md5sum of kJa3, computed offline

Bytes ClientFlight() {
  return Records(22, ClientHello(0x0303, kCiphers, kClientExts), 16384, 0x0301);
}

struct ServerFlight {
  Bytes bytes;
  std::vector<Bytes> ders;
  std::string fingerprint;
};

// TLS 1.2: ServerHello, Certificate (2 certs), ServerHelloDone in records of `frag` bytes, then
// ChangeCipherSpec and an encrypted Finished.
ServerFlight MakeServerFlight(size_t frag) {
  static auto leaf = MakeCert("www.example.org");
  static auto ca = MakeCert("R3");
  ServerFlight f;
  f.ders = {Der(leaf.get()), Der(ca.get())};
  f.fingerprint = Sha1Colon(leaf.get());
  const Bytes hs =
      Cat({ServerHello(0x0303, 0xc02f, {{0xff01, {0}}, PointFormats({0}), Alpn({"h2"}), {23, {}}}),
           CertificateMsg(f.ders), Handshake(14, {})});
  f.bytes = Cat({Records(22, hs, frag), Records(20, {1}), Records(22, Bytes(40, 0x5a))});
  return f;
}

void FeedChunks(TlsParser& p, TlsDir dir, const Bytes& b, size_t chunk) {
  for (size_t at = 0; at < b.size(); at += chunk)
    p.Feed(dir, b.data() + at, std::min(chunk, b.size() - at));
}

// Everything the parser reports, as text, to compare runs.
std::string Summary(const TlsParser& p) {
  const TlsState& s = p.state();
  std::string out;
  auto add = [&out](const std::string& k, const std::string& v) { out += k + "=" + v + "\n"; };
  add("ch", std::to_string(s.has_client_hello));
  if (s.has_client_hello) {
    add("sni", std::string(s.client.sni()));
    add("ja3", std::string(s.client.ja3()));
    add("ja3h", std::string(s.client.ja3_hash()));
    add("nc", std::to_string(s.client.cipher_count));
    add("ne", std::to_string(s.client.extension_count));
    add("alpn", std::to_string(s.client.alpn.count));
  }
  add("sh", std::to_string(s.has_server_hello));
  if (s.has_server_hello) {
    add("ja3s", std::string(s.server.ja3s()));
    add("ver", std::to_string(s.server.version()));
  }
  add("chain", std::to_string(s.has_chain) + "/" + std::to_string(s.chain.count));
  for (size_t i = 0; i < s.chain.count; ++i)
    add("der" + std::to_string(i), std::string(s.chain.der[i].begin(), s.chain.der[i].end()));
  add("cert", std::to_string(s.has_cert));
  if (s.has_cert) {
    add("subj", std::string(s.cert.subject()));
    add("iss", std::string(s.cert.issuer()));
    add("serial", std::string(s.cert.serial()));
    add("fp", std::string(s.cert.fingerprint()));
  }
  for (int e = 0; e < kTlsEventCount; ++e)
    add(TlsEventName(TlsEvent(e)), std::to_string(p.event_count(TlsEvent(e))));
  add("rec", std::to_string(p.records(TlsDir::kToServer)) + "/" +
                 std::to_string(p.records(TlsDir::kToClient)));
  add("enc", std::to_string(p.encrypted(TlsDir::kToServer)) +
                 std::to_string(p.encrypted(TlsDir::kToClient)));
  return out;
}

uint32_t TotalEvents(const TlsParser& p) {
  uint32_t n = 0;
  for (int e = 0; e < kTlsEventCount; ++e) n += p.event_count(TlsEvent(e));
  return n;
}

// ---- tests ----

TEST(TlsClientHello, Fields) {
  TlsParser p;
  const Bytes b = ClientFlight();
  const uint32_t ready = p.Feed(TlsDir::kToServer, b.data(), b.size());
  EXPECT_EQ(ready, kTlsClientHelloReady);
  const TlsState& s = p.state();
  ASSERT_TRUE(s.has_client_hello);
  const TlsClientHello& c = s.client;
  EXPECT_EQ(c.legacy_version, 0x0303);
  ASSERT_EQ(c.version_count, 3);
  EXPECT_EQ(c.versions[0], 0x3a3a);
  EXPECT_EQ(c.versions[1], 0x0304);
  EXPECT_EQ(c.max_version(), 0x0304);
  ASSERT_EQ(c.cipher_count, 5);  // as sent, GREASE kept
  EXPECT_EQ(c.ciphers[0], 0x0a0a);
  EXPECT_EQ(c.ciphers[4], 0x002f);
  ASSERT_EQ(c.extension_count, 8);
  const uint16_t want_ext[] = {0x1a1a, 0, 23, 10, 11, 16, 43, 0xfafa};
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(c.extensions[i], want_ext[i]) << i;
  EXPECT_TRUE(c.has_sni);
  EXPECT_EQ(c.sni(), "www.example.org");
  ASSERT_EQ(c.group_count, 4);
  EXPECT_EQ(c.groups[1], 29);
  ASSERT_EQ(c.point_format_count, 1);
  EXPECT_EQ(c.point_formats[0], 0);
  ASSERT_EQ(c.alpn.count, 2);
  EXPECT_EQ(c.alpn.get(0), "h2");
  EXPECT_EQ(c.alpn.get(1), "http/1.1");
  EXPECT_EQ(c.ja3(), kJa3);
  EXPECT_EQ(c.ja3_hash(), kJa3Md5);
  EXPECT_EQ(Md5Hex(kJa3), kJa3Md5);
  EXPECT_EQ(TotalEvents(p), 0u);
  EXPECT_EQ(p.records(TlsDir::kToServer), 1u);
  EXPECT_FALSE(s.has_server_hello);
  EXPECT_TRUE(p.parsing(TlsDir::kToServer));
}

TEST(TlsClientHello, Ja3SalesforceVector) {
  // The example in Salesforce's JA3 README.
  const Bytes hs = ClientHello(769, {47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4},
                               {Sni("example.com"), Groups({23, 24, 25}), PointFormats({0})});
  TlsParser p;
  const Bytes b = Records(22, hs);
  p.Feed(TlsDir::kToServer, b.data(), b.size());
  ASSERT_TRUE(p.state().has_client_hello);
  EXPECT_EQ(p.state().client.ja3(),
            "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0");
  EXPECT_EQ(p.state().client.ja3_hash(), "ada70206e40642a3e4461f35503241d5");
}

TEST(TlsClientHello, GreaseRemovedEverywhere) {
  const Bytes hs = ClientHello(0x0303, {0xdada, 0x1301, 0xfafa},
                               {{0x0a0a, {}},
                                Groups({0x4a4a, 29, 0x5a5a}),
                                {0xeaea, {0}},
                                PointFormats({0, 1}),
                                ClientVersions({0x6a6a, 0x0304})});
  TlsParser p;
  const Bytes b = Records(22, hs);
  p.Feed(TlsDir::kToServer, b.data(), b.size());
  ASSERT_TRUE(p.state().has_client_hello);
  EXPECT_EQ(p.state().client.ja3(), "771,4865,10-11-43,29,0-1");
  EXPECT_EQ(p.state().client.ja3_hash(), Md5Hex("771,4865,10-11-43,29,0-1"));
  EXPECT_EQ(p.state().client.cipher_count, 3);
  for (uint32_t i = 0; i < 16; ++i) EXPECT_TRUE(IsTlsGrease(uint16_t(0x0a0a + 0x1010 * i))) << i;
  EXPECT_FALSE(IsTlsGrease(0x0a1a));
  EXPECT_FALSE(IsTlsGrease(0x1301));
}

TEST(TlsClientHello, NoSniNoExtensions) {
  TlsParser p;
  Bytes b = Records(22, ClientHello(0x0303, {0xc02f}, {Groups({23})}));
  p.Feed(TlsDir::kToServer, b.data(), b.size());
  ASSERT_TRUE(p.state().has_client_hello);
  EXPECT_FALSE(p.state().client.has_sni);
  EXPECT_EQ(p.state().client.sni(), "");
  EXPECT_EQ(p.state().client.ja3(), "771,49199,10,23,");

  TlsParser q;  // an old client: no extension block at all
  b = Records(22, ClientHello(0x0301, {0x002f, 0x0035}, {}, false));
  q.Feed(TlsDir::kToServer, b.data(), b.size());
  ASSERT_TRUE(q.state().has_client_hello);
  EXPECT_EQ(q.state().client.ja3(), "769,47-53,,,");
  EXPECT_EQ(q.state().client.ja3_hash(), Md5Hex("769,47-53,,,"));
  EXPECT_EQ(TotalEvents(q), 0u);
}

TEST(TlsClientHello, SniAnomalies) {
  {
    TlsParser p;
    const Bytes b = Records(22, ClientHello(0x0303, {1}, {Sni("a.example"), Sni("b.example")}));
    p.Feed(TlsDir::kToServer, b.data(), b.size());
    EXPECT_EQ(p.event_count(TlsEvent::kMultipleSniExtensions), 1u);
    EXPECT_EQ(p.state().client.sni(), "a.example");
  }
  {
    // host_name length runs past the list.
    W w;
    w.U16(8).U8(0).U16(200).Str("short");
    TlsParser p;
    const Bytes b = Records(22, ClientHello(0x0303, {1}, {{0, w.b}}));
    p.Feed(TlsDir::kToServer, b.data(), b.size());
    EXPECT_EQ(p.event_count(TlsEvent::kInvalidSniLength), 1u);
    EXPECT_FALSE(p.state().client.has_sni);
  }
  {
    // A name type other than host_name, and an over-long name (kept truncated).
    const std::string longname(300, 'x');
    W w;
    w.Open16().U8(1).U16(3).Str("abc").U8(0).U16(300).Str(longname).Close();
    TlsParser p;
    const Bytes b = Records(22, ClientHello(0x0303, {1}, {{0, w.b}}));
    p.Feed(TlsDir::kToServer, b.data(), b.size());
    EXPECT_EQ(p.event_count(TlsEvent::kInvalidSniType), 1u);
    EXPECT_EQ(p.event_count(TlsEvent::kInvalidSniLength), 1u);
    EXPECT_EQ(p.state().client.sni().size(), kTlsSniCap);
  }
}

// What Suricata 7 keeps as each side's version (app-layer-ssl.c), which tls.version compares.
TEST(TlsConnpVersion, AsSuricataKeepsIt) {
  TlsClientHello c;
  c.legacy_version = 0x0303;
  EXPECT_EQ(c.connp_version(), 0x0303);  // no supported_versions
  c.versions = {0x3a3a, 0x0304, 0x0303};
  c.version_count = 3;
  EXPECT_EQ(c.connp_version(), 0x0304);  // the first valid entry, GREASE skipped
  c.versions = {0x0303, 0x0304};
  c.version_count = 2;
  EXPECT_EQ(c.connp_version(), 0x0303);  // the first, not the highest
  c.versions = {0x1a1a};
  c.version_count = 1;
  EXPECT_EQ(c.connp_version(), 0x0303);  // nothing valid: the hello's field
  c.legacy_version = 0x0304;
  EXPECT_EQ(c.connp_version(), 0x7f01);  // read as an early draft
  c.legacy_version = 0x7f05;
  EXPECT_EQ(c.connp_version(), 0x7f01);
  c.legacy_version = 0x7f12;
  EXPECT_EQ(c.connp_version(), 0x7f12);

  TlsServerHello s;
  s.legacy_version = 0x0301;
  EXPECT_EQ(s.connp_version(), 0x0301);
  s.legacy_version = 0x0303;
  s.selected_version = 0x0304;
  EXPECT_EQ(s.connp_version(), 0x0304);
  s.selected_version = 0x7f1c;
  EXPECT_EQ(s.connp_version(), 0x7f1c);

  EXPECT_TRUE(TlsVersionValid(0x0300));
  EXPECT_TRUE(TlsVersionValid(0xfb1a));
  EXPECT_FALSE(TlsVersionValid(0x0200));
  EXPECT_FALSE(TlsVersionValid(0x7f02));
  EXPECT_FALSE(TlsVersionValid(0x0a0a));
}

TEST(TlsServerHello, Tls13SupportedVersions) {
  TlsParser p;
  W ks;
  ks.U16(29).U16(32).Fill(32, 7);
  const Bytes b =
      Cat({Records(22, ServerHello(0x0303, 0x1301, {ServerVersion(0x0304), {51, ks.b}})),
           Records(20, {1}), Records(23, Bytes(100, 0x99)), Records(23, Bytes(50, 0x98))});
  const uint32_t ready = p.Feed(TlsDir::kToClient, b.data(), b.size());
  EXPECT_EQ(ready, kTlsServerHelloReady | kTlsEncrypted);
  const TlsServerHello& s = p.state().server;
  ASSERT_TRUE(p.state().has_server_hello);
  EXPECT_EQ(s.legacy_version, 0x0303);
  EXPECT_EQ(s.selected_version, 0x0304);
  EXPECT_EQ(s.version(), 0x0304);
  EXPECT_STREQ(TlsVersionName(s.version()), "TLS 1.3");
  EXPECT_EQ(s.cipher, 0x1301);
  EXPECT_EQ(s.ja3s(), "771,4865,43-51");
  EXPECT_EQ(s.ja3s_hash(), "f4febc55ea12b31ae17cfb7e614afda8");
  EXPECT_EQ(s.ja3s_hash(), Md5Hex("771,4865,43-51"));
  EXPECT_EQ(p.records(TlsDir::kToClient), 4u);
  EXPECT_TRUE(p.encrypted(TlsDir::kToClient));
  EXPECT_FALSE(p.encrypted(TlsDir::kToServer));
  EXPECT_FALSE(p.state().has_chain);
  EXPECT_EQ(TotalEvents(p), 0u);
}

TEST(TlsServerHello, Tls12WithCertificate) {
  const ServerFlight f = MakeServerFlight(16384);
  TlsParser p;
  const uint32_t ready = p.Feed(TlsDir::kToClient, f.bytes.data(), f.bytes.size());
  EXPECT_EQ(ready, kTlsServerHelloReady | kTlsCertificateReady | kTlsEncrypted);
  const TlsState& s = p.state();
  ASSERT_TRUE(s.has_server_hello);
  EXPECT_EQ(s.server.version(), 0x0303);
  EXPECT_STREQ(TlsVersionName(s.server.version()), "TLS 1.2");
  EXPECT_EQ(s.server.cipher, 0xc02f);
  EXPECT_EQ(s.server.ja3s(), "771,49199,65281-11-16-23");
  EXPECT_EQ(s.server.ja3s_hash(), "27eabd2e03c903c0e38682b67d24b578");
  ASSERT_EQ(s.server.alpn.count, 1);
  EXPECT_EQ(s.server.alpn.get(0), "h2");

  ASSERT_TRUE(s.has_chain);
  ASSERT_EQ(s.chain.count, 2);
  EXPECT_EQ(s.chain.total, 2u);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_TRUE(std::equal(s.chain.der[i].begin(), s.chain.der[i].end(), f.ders[i].begin(),
                           f.ders[i].end()))
        << i;
  ASSERT_TRUE(s.has_cert);
  EXPECT_EQ(s.cert.subject(), "C=US, ST=Iowa, O=Des Moines Public Schools, CN=www.example.org");
  EXPECT_EQ(s.cert.issuer(), "C=US, O=Let's Encrypt, CN=R3");
  EXPECT_EQ(s.cert.serial(), "00:AB:CD:01");
  EXPECT_EQ(s.cert.fingerprint(), f.fingerprint);
  EXPECT_EQ(s.cert.fingerprint().size(), 59u);
  EXPECT_EQ(s.cert.not_before(), "2024-01-02T03:04:05");
  EXPECT_EQ(s.cert.not_after(), "2025-06-07T08:09:10");
  EXPECT_EQ(p.records(TlsDir::kToClient), 3u);
  EXPECT_TRUE(p.encrypted(TlsDir::kToClient));
  EXPECT_EQ(TotalEvents(p), 0u);
}

TEST(TlsCertificate, MultiValuedRdnAndEmail) {
  auto x = MakeCert("host", true);
  TlsParser p;
  const Bytes b = Records(22, Cat({ServerHello(0x0303, 0x9c, {}), CertificateMsg({Der(x.get())})}));
  p.Feed(TlsDir::kToClient, b.data(), b.size());
  ASSERT_TRUE(p.state().has_cert);
  EXPECT_EQ(p.state().cert.subject(),
            "C=US, ST=Iowa, O=Des Moines Public Schools, CN=host, OU=IT + Email=noc@example.org");
}

// The first certificate is decoded from its TBS fields: a v1 certificate (no [0] version) decodes;
// a certificate whose validity holds no Time, which has bytes after its outer SEQUENCE, or whose
// subject is cut short counts invalid_certificate and yields no fields (the chain is kept).
TEST(TlsCertificate, TbsFieldsAndBrokenStructure) {
  auto parse = [](const Bytes& der, TlsParser* p) {
    const Bytes b = Records(22, Cat({ServerHello(0x0303, 0x9c, {}), CertificateMsg({der})}));
    p->Feed(TlsDir::kToClient, b.data(), b.size());
  };
  auto v1 = MakeCert("v1.example");
  X509_set_version(v1.get(), 0);
  std::unique_ptr<EVP_PKEY, PKeyDel> key(EVP_EC_gen("P-256"));
  ASSERT_GT(X509_sign(v1.get(), key.get(), EVP_sha256()), 0);
  const Bytes v1_der = Der(v1.get());
  ASSERT_NE(v1_der[4], 0xa0);  // TBS starts with the serial, not [0]
  {
    TlsParser p;
    parse(v1_der, &p);
    ASSERT_TRUE(p.state().has_cert);
    EXPECT_EQ(p.state().cert.subject(),
              "C=US, ST=Iowa, O=Des Moines Public Schools, CN=v1.example");
    EXPECT_EQ(p.state().cert.serial(), "00:AB:CD:01");
    EXPECT_EQ(p.state().cert.not_after(), "2025-06-07T08:09:10");
    EXPECT_EQ(p.event_count(TlsEvent::kInvalidCertificate), 0u);
  }
  auto x = MakeCert("www.example.org");
  const Bytes good = Der(x.get());
  // notBefore "20240102030405Z" as MakeCert sets it: a GeneralizedTime, tag 0x18, length 15.
  const Bytes utc = {0x18, 0x0f, '2', '0', '2', '4', '0', '1', '0', '2'};
  const auto at = std::search(good.begin(), good.end(), utc.begin(), utc.end());
  ASSERT_NE(at, good.end());
  Bytes bad_time = good;
  bad_time[at - good.begin()] = 0x04;  // an OCTET STRING where a Time must be
  Bytes trailing = good;
  trailing.push_back(0x00);
  // The subject's last byte cut away, the lengths around it left as they were: the walk runs
  // past the TBS.
  const std::string cn = "www.example.org";
  const auto name_at = std::search(good.begin(), good.end(), cn.begin(), cn.end());
  ASSERT_NE(name_at, good.end());
  Bytes cut = good;
  cut.erase(cut.begin() + (name_at - good.begin()) + 3);
  for (const Bytes* der : {&bad_time, &trailing, &cut}) {
    TlsParser p;
    parse(*der, &p);
    EXPECT_TRUE(p.state().has_chain);
    EXPECT_FALSE(p.state().has_cert);
    EXPECT_EQ(p.event_count(TlsEvent::kInvalidCertificate), 1u);
  }
}

// A worker remembers the leaf certificates it decoded last (servers repeat theirs): a repeated
// certificate yields the same fields, and one that differs only inside (same length, same
// signature bytes at the end, so the same cache slot) is decoded, never taken for the other.
TEST(TlsCertificate, RepeatedCertificateDecodesTheSame) {
  auto fields = [](const Bytes& der) {
    TlsParser p;
    const Bytes b = Records(22, Cat({ServerHello(0x0303, 0x9c, {}), CertificateMsg({der})}));
    p.Feed(TlsDir::kToClient, b.data(), b.size());
    EXPECT_TRUE(p.state().has_cert);
    const TlsCertInfo& c = p.state().cert;
    return std::string(c.subject()) + "|" + std::string(c.issuer()) + "|" +
           std::string(c.serial()) + "|" + std::string(c.fingerprint()) + "|" +
           std::string(c.not_before()) + "|" + std::string(c.not_after());
  };
  auto x = MakeCert("cache.example");
  const Bytes der = Der(x.get());
  const std::string first = fields(der);
  EXPECT_THAT(first, HasSubstr("CN=cache.example|"));
  EXPECT_THAT(first, HasSubstr("|" + Sha1Colon(x.get()) + "|"));
  EXPECT_EQ(fields(der), first);
  const std::string cn = "cache.example";
  const auto at = std::search(der.begin(), der.end(), cn.begin(), cn.end());
  ASSERT_NE(at, der.end());
  Bytes other = der;
  other[(at - der.begin()) + 4] = 'f';  // "cachf.example"
  const std::string second = fields(other);
  EXPECT_THAT(second, HasSubstr("CN=cachf.example|"));
  EXPECT_NE(second, first);
  EXPECT_EQ(fields(der), first);
  EXPECT_EQ(fields(other), second);
}

TEST(TlsCertificate, ChainCapAndBadDer) {
  std::vector<Bytes> ders(kTlsMaxCerts + 2, Bytes{0x30, 0x03, 0x02, 0x01, 0x01});
  TlsParser p;
  const Bytes b = Records(22, Cat({ServerHello(0x0303, 0x9c, {}), CertificateMsg(ders)}));
  const uint32_t ready = p.Feed(TlsDir::kToClient, b.data(), b.size());
  EXPECT_TRUE(ready & kTlsCertificateReady);
  EXPECT_TRUE(ready & kTlsAnomaly);
  EXPECT_TRUE(p.state().has_chain);
  EXPECT_FALSE(p.state().has_cert);
  EXPECT_EQ(p.state().chain.count, kTlsMaxCerts);
  EXPECT_EQ(p.state().chain.total, kTlsMaxCerts + 2);
  EXPECT_EQ(p.event_count(TlsEvent::kTooManyCertificates), 1u);
  EXPECT_EQ(p.event_count(TlsEvent::kInvalidCertificate), 1u);
}

TEST(TlsCertificate, LengthOverrun) {
  W w;
  w.U24(100).U24(90).Fill(20, 0x30);  // claims more than is there
  TlsParser p;
  const Bytes b = Records(22, Handshake(11, w.b));
  p.Feed(TlsDir::kToClient, b.data(), b.size());
  EXPECT_GE(p.event_count(TlsEvent::kCertificateInvalidLength), 1u);
  EXPECT_EQ(p.state().chain.count, 0);
  EXPECT_FALSE(p.state().has_cert);
}

TEST(TlsRecords, MessageSpansRecordsAndRecordsHoldSeveralMessages) {
  // ClientHello cut into 7-byte records; the server flight into 50-byte records.
  TlsParser p;
  const Bytes c = Records(22, ClientHello(0x0303, kCiphers, kClientExts), 7);
  p.Feed(TlsDir::kToServer, c.data(), c.size());
  EXPECT_EQ(p.state().client.ja3(), kJa3);
  EXPECT_GT(p.records(TlsDir::kToServer), 20u);
  const ServerFlight f = MakeServerFlight(50);
  p.Feed(TlsDir::kToClient, f.bytes.data(), f.bytes.size());
  EXPECT_TRUE(p.state().has_cert);
  EXPECT_EQ(p.state().cert.issuer(), "C=US, O=Let's Encrypt, CN=R3");
  EXPECT_EQ(TotalEvents(p), 0u);
}

TEST(TlsRecords, SameResultWhateverTheChunking) {
  const Bytes client = ClientFlight();
  for (size_t frag : {16384u, 33u}) {
    const ServerFlight f = MakeServerFlight(frag);
    TlsParser whole;
    whole.Feed(TlsDir::kToServer, client.data(), client.size());
    whole.Feed(TlsDir::kToClient, f.bytes.data(), f.bytes.size());
    const std::string want = Summary(whole);
    ASSERT_TRUE(whole.state().has_cert);

    TlsParser bytewise;
    FeedChunks(bytewise, TlsDir::kToServer, client, 1);
    FeedChunks(bytewise, TlsDir::kToClient, f.bytes, 1);
    EXPECT_EQ(Summary(bytewise), want);

    for (size_t cut = 0; cut <= client.size(); ++cut) {
      TlsParser p;
      p.Feed(TlsDir::kToServer, client.data(), cut);
      p.Feed(TlsDir::kToServer, client.data() + cut, client.size() - cut);
      p.Feed(TlsDir::kToClient, f.bytes.data(), f.bytes.size());
      ASSERT_EQ(Summary(p), want) << "client cut " << cut;
    }
    for (size_t cut = 0; cut <= f.bytes.size(); ++cut) {
      TlsParser p;
      p.Feed(TlsDir::kToServer, client.data(), client.size());
      p.Feed(TlsDir::kToClient, f.bytes.data(), cut);
      p.Feed(TlsDir::kToClient, f.bytes.data() + cut, f.bytes.size() - cut);
      ASSERT_EQ(Summary(p), want) << "server cut " << cut << " frag " << frag;
    }
  }
}

TEST(TlsRecords, TruncationAtEveryLength) {
  const Bytes client = ClientFlight();
  const ServerFlight f = MakeServerFlight(100);
  for (size_t n = 0; n < client.size(); ++n) {
    TlsParser p;
    p.Feed(TlsDir::kToServer, client.data(), n);
    EXPECT_FALSE(p.state().has_client_hello) << n;
  }
  // Truncate the hello message itself (record and handshake lengths rewritten to match): the
  // parser must flag it, not read past it.
  const Bytes hs = ClientHello(0x0303, kCiphers, kClientExts);
  for (size_t n = 4; n < hs.size(); ++n) {
    Bytes cut(hs.begin(), hs.begin() + long(n));
    const size_t body = n - 4;
    cut[1] = uint8_t(body >> 16);
    cut[2] = uint8_t(body >> 8);
    cut[3] = uint8_t(body);
    TlsParser p;
    const Bytes b = Records(22, cut);
    p.Feed(TlsDir::kToServer, b.data(), b.size());
    ASSERT_TRUE(p.state().has_client_hello) << n;
    // Cut right before the extension block it is a valid extension-less hello.
    const size_t ext_block_at = 4 + 2 + 32 + 1 + 32 + 2 + 2 * kCiphers.size() + 2;
    if (n != ext_block_at) {
      EXPECT_GT(TotalEvents(p), 0u) << n;
    }
    EXPECT_LE(p.state().client.sni().size(), kTlsSniCap);
  }
  for (size_t n = 0; n < f.bytes.size(); ++n) {
    TlsParser p;
    p.Feed(TlsDir::kToClient, f.bytes.data(), n);
    if (p.state().has_chain) {
      EXPECT_LE(p.state().chain.count, 2);
    }
  }
}

TEST(TlsRecords, EncryptedDirectionOnlyCountsRecords) {
  TlsParser p;
  const Bytes b = Cat({Records(20, {1}), Records(22, ClientHello(0x0303, kCiphers, kClientExts)),
                       Records(23, Bytes(10, 1))});
  const uint32_t ready = p.Feed(TlsDir::kToServer, b.data(), b.size());
  EXPECT_EQ(ready, kTlsEncrypted);
  EXPECT_FALSE(p.state().has_client_hello);
  EXPECT_EQ(p.records(TlsDir::kToServer), 3u);
  EXPECT_FALSE(p.parsing(TlsDir::kToServer));
  EXPECT_FALSE(p.stopped(TlsDir::kToServer));
}

TEST(TlsRecords, RecordLayerAnomalies) {
  {
    TlsParser p;
    const Bytes b = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P'};
    p.Feed(TlsDir::kToServer, b.data(), b.size());
    EXPECT_EQ(p.event_count(TlsEvent::kInvalidRecordType), 1u);
    EXPECT_TRUE(p.stopped(TlsDir::kToServer));
    p.Feed(TlsDir::kToServer, b.data(), b.size());  // ignored now
    EXPECT_EQ(p.event_count(TlsEvent::kInvalidRecordType), 1u);
  }
  {
    TlsParser p;
    const Bytes b = {22, 4, 1, 0, 4, 1, 0, 0, 0};
    p.Feed(TlsDir::kToServer, b.data(), b.size());
    EXPECT_EQ(p.event_count(TlsEvent::kInvalidRecordVersion), 1u);
    EXPECT_TRUE(p.stopped(TlsDir::kToServer));
  }
  {
    TlsParser p;
    const Bytes b = {22, 3, 3, 0x48, 0x01};  // 18433 > 2^14 + 2048
    p.Feed(TlsDir::kToServer, b.data(), b.size());
    EXPECT_EQ(p.event_count(TlsEvent::kInvalidRecordLength), 1u);
    EXPECT_TRUE(p.stopped(TlsDir::kToServer));
  }
  {
    TlsParser p;
    const Bytes b =
        Cat({Records(22, {}), Records(24, {1, 0, 16}), Records(22, ClientHello(0x0303, {1}, {}))});
    p.Feed(TlsDir::kToServer, b.data(), b.size());
    EXPECT_EQ(p.event_count(TlsEvent::kInvalidRecordLength), 1u);
    EXPECT_EQ(p.event_count(TlsEvent::kHeartbeatMessage), 1u);
    EXPECT_TRUE(p.state().has_client_hello);
  }
  {
    // A handshake message cut by an alert record, then a fresh hello.
    const Bytes hs = ClientHello(0x0303, {1}, {});
    const Bytes b = Cat(
        {Records(22, Bytes(hs.begin(), hs.begin() + 10)), Records(21, {1, 0}), Records(22, hs)});
    TlsParser p;
    p.Feed(TlsDir::kToServer, b.data(), b.size());
    EXPECT_EQ(p.event_count(TlsEvent::kInvalidHandshakeMessage), 1u);
    EXPECT_TRUE(p.state().has_client_hello);
    EXPECT_EQ(p.state().client.ja3(), "771,1,,,");
  }
}

TEST(TlsRecords, HandshakeMessageTooLong) {
  W w;
  w.U8(1).U24(70000);
  TlsParser p;
  Bytes b = Records(22, Cat({w.b, Bytes(1000, 0)}));
  uint32_t ready = p.Feed(TlsDir::kToServer, b.data(), b.size());
  EXPECT_TRUE(ready & kTlsAnomaly);
  EXPECT_EQ(p.event_count(TlsEvent::kHandshakeTooLong), 1u);
  EXPECT_FALSE(p.parsing(TlsDir::kToServer));
  b = Records(22, Bytes(100, 0));
  p.Feed(TlsDir::kToServer, b.data(), b.size());
  EXPECT_EQ(p.records(TlsDir::kToServer), 2u);
  EXPECT_FALSE(p.state().has_client_hello);

  // An uninteresting message may be long: it is skipped, not copied.
  TlsParser q;
  W big;
  big.U8(12).U24(40000);
  Bytes payload = Cat({big.b, Bytes(40000, 1), Handshake(14, {})});
  b = Records(22, payload, 16384);
  q.Feed(TlsDir::kToClient, b.data(), b.size());
  EXPECT_EQ(TotalEvents(q), 0u);
  EXPECT_TRUE(q.parsing(TlsDir::kToClient));
}

TEST(TlsRecords, WrongDirectionAndUnknownHandshakeType) {
  TlsParser p;
  const Bytes b =
      Cat({Records(22, ServerHello(0x0303, 1, {})), Records(22, Handshake(99, {1, 2}))});
  p.Feed(TlsDir::kToServer, b.data(), b.size());
  EXPECT_EQ(p.event_count(TlsEvent::kInvalidHandshakeMessage), 2u);
  EXPECT_FALSE(p.state().has_server_hello);
}

TEST(TlsDetect, LooksLikeTls) {
  const Bytes c = ClientFlight();
  const ServerFlight f = MakeServerFlight(16384);
  EXPECT_TRUE(LooksLikeTls(c.data(), c.size()));
  EXPECT_TRUE(LooksLikeTls(c.data(), 6));
  EXPECT_TRUE(LooksLikeTls(f.bytes.data(), f.bytes.size()));
  EXPECT_FALSE(LooksLikeTls(c.data(), 5));
  EXPECT_FALSE(LooksLikeTls(nullptr, 0));
  const std::string http = "GET / HTTP/1.1\r\n";
  EXPECT_FALSE(LooksLikeTls(reinterpret_cast<const uint8_t*>(http.data()), http.size()));
  Bytes bad = c;
  bad[1] = 2;  // SSLv2-style version in a TLS header
  EXPECT_FALSE(LooksLikeTls(bad.data(), bad.size()));
  bad = c;
  bad[5] = 11;  // Certificate first
  EXPECT_FALSE(LooksLikeTls(bad.data(), bad.size()));
  bad = c;
  bad[0] = 23;
  EXPECT_FALSE(LooksLikeTls(bad.data(), bad.size()));
  bad = c;
  bad[3] = 0xff;
  EXPECT_FALSE(LooksLikeTls(bad.data(), bad.size()));
}

TEST(TlsNames, EventAndVersionNames) {
  EXPECT_STREQ(TlsEventName(TlsEvent::kInvalidRecordType), "invalid_record_type");
  EXPECT_STREQ(TlsEventName(TlsEvent::kMultipleSniExtensions), "multiple_sni_extensions");
  EXPECT_STREQ(TlsEventName(TlsEvent::kCertificateInvalidLength), "certificate_invalid_length");
  EXPECT_STREQ(TlsEventName(TlsEvent::kCount), "unknown");
  EXPECT_STREQ(TlsVersionName(0x0301), "TLSv1");
  EXPECT_STREQ(TlsVersionName(0x0300), "SSLv3");
  EXPECT_STREQ(TlsVersionName(0x7f1c), "UNDETERMINED");
}

TEST(TlsFuzz, MutationNeverCrashes) {
  const Bytes client = ClientFlight();
  const ServerFlight f = MakeServerFlight(200);
  std::mt19937 rng(20261129);
  for (int iter = 0; iter < 2000; ++iter) {
    const bool to_client = iter % 2 == 1;
    Bytes b = to_client ? f.bytes : client;
    const int flips = 1 + int(rng() % 8);
    for (int k = 0; k < flips; ++k) {
      const size_t at = rng() % b.size();
      switch (rng() % 4) {
        case 0:
          b[at] = uint8_t(rng());
          break;
        case 1:
          b[at] ^= uint8_t(1u << (rng() % 8));
          break;
        case 2:
          b[at] = (rng() % 2) ? 0xff : 0x00;
          break;
        default:
          b.resize(at + 1);
          break;
      }
    }
    TlsParser p;
    const size_t chunk = 1 + rng() % 300;
    FeedChunks(p, to_client ? TlsDir::kToClient : TlsDir::kToServer, b, chunk);
    const TlsState& s = p.state();
    EXPECT_LE(s.client.sni_len, kTlsSniCap);
    EXPECT_LE(s.client.ja3_len, kTlsJa3Cap);
    EXPECT_LE(s.client.alpn.count, kTlsMaxAlpn);
    EXPECT_LE(s.chain.count, kTlsMaxCerts);
    for (size_t i = 0; i < s.chain.count; ++i)
      EXPECT_LE(s.chain.der[i].size(), kTlsServerFlightCap);
    if (s.has_cert) {
      EXPECT_LE(s.cert.subject_len, kTlsNameCap);
      EXPECT_LE(s.cert.serial_len, kTlsSerialCap);
    }
  }
}

}  // namespace
}  // namespace fs::app
