// Fuzz target for the TLS handshake parser (dataplane/app/tls.h): one TlsParser fed the to-server
// and to-client streams in fuzzer-chosen chunks and interleaving, every TlsState field read after
// each Feed that reports something ready, and LooksLikeTls on the start of each stream. Input
// layout: tests/fuzz/fuzz_schedule.h. The options byte is unused.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "dataplane/app/tls.h"
#include "tests/fuzz/fuzz_schedule.h"

namespace {

using fs::fuzz::Touch;
using fs::fuzz::TouchValue;
using fs::fuzz::TouchView;
using namespace fs::app;

void CheckAlpn(const TlsAlpnList& a) {
  FS_FUZZ_CHECK(a.count <= kTlsMaxAlpn);
  for (size_t i = 0; i < a.count; ++i) {
    FS_FUZZ_CHECK(size_t(a.off[i]) + a.len[i] <= kTlsAlpnCap);
    TouchView(a.get(i));
  }
}

void CheckClient(const TlsClientHello& c) {
  TouchValue(c.legacy_version);
  FS_FUZZ_CHECK(c.version_count <= kTlsMaxVersions);
  Touch(c.versions.data(), c.version_count * sizeof(uint16_t));
  FS_FUZZ_CHECK(c.cipher_count <= kTlsMaxCiphers);
  Touch(c.ciphers.data(), c.cipher_count * sizeof(uint16_t));
  FS_FUZZ_CHECK(c.extension_count <= kTlsMaxExtensions);
  Touch(c.extensions.data(), c.extension_count * sizeof(uint16_t));
  FS_FUZZ_CHECK(c.group_count <= kTlsMaxGroups);
  Touch(c.groups.data(), c.group_count * sizeof(uint16_t));
  FS_FUZZ_CHECK(c.point_format_count <= kTlsMaxPointFormats);
  Touch(c.point_formats.data(), c.point_format_count);
  TouchValue(c.has_sni);
  FS_FUZZ_CHECK(c.sni_len <= kTlsSniCap);
  TouchView(c.sni());
  CheckAlpn(c.alpn);
  FS_FUZZ_CHECK(c.ja3_len <= kTlsJa3Cap);
  TouchView(c.ja3());
  TouchView(c.ja3_hash());
  TouchValue(c.max_version());
}

void CheckServer(const TlsServerHello& s) {
  TouchValue(uint64_t(s.legacy_version) << 32 | uint64_t(s.selected_version) << 16 | s.cipher);
  TouchValue(s.compression);
  FS_FUZZ_CHECK(s.extension_count <= kTlsMaxExtensions);
  Touch(s.extensions.data(), s.extension_count * sizeof(uint16_t));
  CheckAlpn(s.alpn);
  FS_FUZZ_CHECK(s.ja3s_len <= kTlsJa3Cap);
  TouchView(s.ja3s());
  TouchView(s.ja3s_hash());
  const char* v = TlsVersionName(s.version());
  FS_FUZZ_CHECK(v != nullptr);
  Touch(v, std::strlen(v));
}

void CheckState(const TlsParser& p) {
  const TlsState& st = p.state();
  if (st.has_client_hello) CheckClient(st.client);
  if (st.has_server_hello) CheckServer(st.server);
  if (st.has_cert) {
    const TlsCertInfo& c = st.cert;
    FS_FUZZ_CHECK(c.subject_len <= kTlsNameCap && c.issuer_len <= kTlsNameCap);
    FS_FUZZ_CHECK(c.serial_len <= kTlsSerialCap);
    TouchView(c.subject());
    TouchView(c.issuer());
    TouchView(c.serial());
    TouchView(c.fingerprint());
    TouchView(c.not_before());
    TouchView(c.not_after());
  }
  if (st.has_chain) {
    const TlsChain& ch = st.chain;
    FS_FUZZ_CHECK(ch.count <= kTlsMaxCerts);
    FS_FUZZ_CHECK(ch.count <= ch.total);
    for (size_t i = 0; i < ch.count; ++i) TouchView(ch.der[i]);  // spans into the parser
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::fuzz::Input in = fs::fuzz::Split(data, size);
  for (int d = 0; d < 2; ++d) {
    // Exact-size copy: LooksLikeTls must not read past len.
    const size_t n = in.len[d] < 16 ? in.len[d] : 16;
    std::unique_ptr<uint8_t[]> head(new uint8_t[n ? n : 1]);
    if (n) std::memcpy(head.get(), in.stream[d], n);
    for (size_t k = 0; k <= n; ++k) TouchValue(LooksLikeTls(head.get(), k));
  }

  auto parser = std::make_unique<TlsParser>();
  uint32_t all = 0;
  fs::fuzz::Schedule(in, 2, [&](int d, const uint8_t* chunk, size_t n) {
    const TlsDir dir = d == 0 ? TlsDir::kToServer : TlsDir::kToClient;
    const uint32_t ready = parser->Feed(dir, chunk, n);
    FS_FUZZ_CHECK((ready & ~uint32_t(0x1f)) == 0);
    all |= ready;
    if (ready & (kTlsClientHelloReady | kTlsServerHelloReady | kTlsCertificateReady))
      CheckState(*parser);
    TouchValue(parser->records(dir));
    TouchValue(uint64_t(parser->encrypted(dir)) << 2 | uint64_t(parser->parsing(dir)) << 1 |
               parser->stopped(dir));
  });
  CheckState(*parser);
  for (int e = 0; e < kTlsEventCount; ++e) {
    TouchValue(parser->event_count(static_cast<TlsEvent>(e)));
    const char* name = TlsEventName(static_cast<TlsEvent>(e));
    FS_FUZZ_CHECK(name != nullptr);
    Touch(name, std::strlen(name));
  }
  TouchValue(all);
  return 0;
}
