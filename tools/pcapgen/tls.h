// TLS 1.2 / 1.3 handshake and record builders. Handshake messages a parser reads are well formed
// (ClientHello with SNI, ALPN, key_share; ServerHello; a DER certificate chain for TLS 1.2);
// everything that would be encrypted is random bytes of realistic length.
// One TlsConversation per TCP connection; single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "tools/pcapgen/packet_builder.h"

namespace fs::pcapgen {

class Rng;

class TlsConversation {
 public:
  // `sni` empty: no server_name extension (as an RDP client sends). `cert_cn`: the subject of the
  // server certificate (sent in clear only in TLS 1.2). `tls13`: the client offers 1.3 and the
  // server selects it; otherwise both speak TLS 1.2 (ECDHE-RSA-AES128-GCM). `alpn_http`: offer
  // h2 and http/1.1.
  TlsConversation(Rng* rng, std::string sni, std::string cert_cn, bool tls13, bool alpn_http,
                  uint64_t now_us);

  // Certificates by (subject, issuer): with a store, a server presents the same certificate in
  // every conversation, as real servers do (the first one made for it); without one, each
  // conversation makes a new one. The random stream is consumed alike either way.
  using CertStore = std::map<std::string, Bytes>;
  void set_cert_store(CertStore* store) { store_ = store; }

  Bytes ClientHello();
  // 1.2: ServerHello, Certificate, ServerKeyExchange, ServerHelloDone.
  // 1.3: ServerHello, ChangeCipherSpec, encrypted flight (EE, Certificate, CertVerify, Finished).
  Bytes ServerFlight();
  // 1.2: ClientKeyExchange, ChangeCipherSpec, Finished. 1.3: ChangeCipherSpec, Finished.
  Bytes ClientFinish();
  // 1.2: ChangeCipherSpec, Finished. 1.3: two NewSessionTickets.
  Bytes ServerFinish();
  // Application data records carrying `plaintext_len` bytes (max 16384 per record).
  Bytes AppData(size_t plaintext_len);
  // The close_notify alert (sealed).
  Bytes CloseNotify();

 private:
  Bytes Record(uint8_t type, const Bytes& body) const;
  Bytes Certificate(std::string_view subject_cn, std::string_view issuer_cn,
                    std::string_view issuer_o, bool leaf);

  Rng* rng_;
  CertStore* store_ = nullptr;
  std::string sni_;
  std::string cert_cn_;
  bool tls13_;
  bool alpn_http_;
  uint64_t now_us_;
  Bytes session_id_;
};

}  // namespace fs::pcapgen
