#include "tools/pcapgen/tls.h"

#include <algorithm>
#include <utility>

#include "tools/pcapgen/byte_writer.h"
#include "tools/pcapgen/der.h"
#include "tools/pcapgen/rng.h"

namespace fs::pcapgen {

namespace {

constexpr uint8_t kChangeCipherSpec = 20, kAlert = 21, kHandshake = 22, kApplicationData = 23;
constexpr uint16_t kTls12 = 0x0303;

// A handshake message: type, 24-bit length, body.
Bytes Handshake(uint8_t type, const Bytes& body) {
  ByteWriter w;
  w.U8(type).Be24(static_cast<uint32_t>(body.size())).Append(body);
  return w.Take();
}

// An extension: type, 16-bit length, body.
void Extension(ByteWriter* w, uint16_t type, const Bytes& body) {
  w->Be16(type).Be16(static_cast<uint16_t>(body.size())).Append(body);
}

Bytes Name(std::string_view cn, std::string_view org) {
  using namespace der;
  return Seq({Set({Seq({Oid("2.5.4.6"), Printable("US")})}),
              Set({Seq({Oid("2.5.4.10"), Utf8(org)})}), Set({Seq({Oid("2.5.4.3"), Utf8(cn)})})});
}

}  // namespace

TlsConversation::TlsConversation(Rng* rng, std::string sni, std::string cert_cn, bool tls13,
                                 bool alpn_http, uint64_t now_us)
    : rng_(rng),
      sni_(std::move(sni)),
      cert_cn_(std::move(cert_cn)),
      tls13_(tls13),
      alpn_http_(alpn_http),
      now_us_(now_us),
      session_id_(rng->Bytes(32)) {}

Bytes TlsConversation::Record(uint8_t type, const Bytes& body) const {
  ByteWriter w;
  w.U8(type).Be16(kTls12).Be16(static_cast<uint16_t>(body.size())).Append(body);
  return w.Take();
}

Bytes TlsConversation::ClientHello() {
  ByteWriter ext;
  if (!sni_.empty()) {
    ByteWriter sn;
    sn.Be16(static_cast<uint16_t>(sni_.size() + 3)).U8(0).Be16(static_cast<uint16_t>(sni_.size()));
    sn.Text(sni_);
    Extension(&ext, 0x0000, sn.Take());
  }
  Extension(&ext, 0x0017, {});      // extended_master_secret
  Extension(&ext, 0xff01, {0x00});  // renegotiation_info
  Extension(&ext, 0x000a, {0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18});  // x25519, P-256/384
  Extension(&ext, 0x000b, {0x01, 0x00});  // ec_point_formats: uncompressed
  Extension(&ext, 0x0023, {});            // session_ticket
  if (alpn_http_) {
    Extension(&ext, 0x0010,
              {0x00, 0x0c, 0x02, 'h', '2', 0x08, 'h', 't', 't', 'p', '/', '1', '.', '1'});
  }
  Extension(&ext, 0x0005, {0x01, 0x00, 0x00, 0x00, 0x00});  // status_request (OCSP)
  Extension(&ext, 0x000d,
            {0x00, 0x10, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03, 0x08, 0x05, 0x05, 0x01,
             0x08, 0x06, 0x06, 0x01});  // signature_algorithms
  if (tls13_) {
    ByteWriter ks;
    ks.Be16(36).Be16(0x001d).Be16(32).Append(rng_->Bytes(32));
    Extension(&ext, 0x0033, ks.Take());                       // key_share
    Extension(&ext, 0x002d, {0x01, 0x01});                    // psk_key_exchange_modes: psk_dhe_ke
    Extension(&ext, 0x002b, {0x04, 0x03, 0x04, 0x03, 0x03});  // supported_versions 1.3, 1.2
  }

  static const Bytes kSuites13 = {0x13, 0x01, 0x13, 0x02, 0x13, 0x03};
  static const Bytes kSuites12 = {0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x2c, 0xc0, 0x30,
                                  0xcc, 0xa9, 0xcc, 0xa8, 0xc0, 0x13, 0xc0, 0x14,
                                  0x00, 0x9c, 0x00, 0x9d, 0x00, 0x2f, 0x00, 0x35};
  ByteWriter hello;
  hello.Be16(kTls12).Append(rng_->Bytes(32));
  hello.U8(32).Append(session_id_);
  const size_t suites = (tls13_ ? kSuites13.size() : 0) + kSuites12.size();
  hello.Be16(static_cast<uint16_t>(suites));
  if (tls13_) hello.Append(kSuites13);
  hello.Append(kSuites12);
  hello.U8(1).U8(0);  // compression: null
  hello.Be16(static_cast<uint16_t>(ext.size())).Append(ext.bytes());
  // The ClientHello record carries version 1.0 for compatibility with old middleboxes.
  ByteWriter rec;
  const Bytes hs = Handshake(1, hello.bytes());
  rec.U8(kHandshake).Be16(0x0301).Be16(static_cast<uint16_t>(hs.size())).Append(hs);
  return rec.Take();
}

Bytes TlsConversation::Certificate(std::string_view subject_cn, std::string_view issuer_cn,
                                   std::string_view issuer_o, bool leaf) {
  using namespace der;
  const uint64_t now_s = now_us_ / 1000000;
  const Bytes sig_alg = Seq({Oid("1.2.840.113549.1.1.11"), Null()});  // sha256WithRSAEncryption
  Bytes modulus = rng_->Bytes(256);
  modulus[0] |= 0x80;
  const Bytes spki = Seq(
      {Seq({Oid("1.2.840.113549.1.1.1"), Null()}), BitString(Seq({UInt(modulus), Int(65537)}))});
  Bytes extensions;
  if (leaf) {
    // subjectAltName with the one DNS name: dNSName is [2] IMPLICIT IA5String.
    const Bytes san = Seq({Tlv(0x82, Bytes(subject_cn.begin(), subject_cn.end()))});
    extensions = Ctx(3, Seq({Seq({Oid("2.5.29.17"), OctetString(san)})}));
  } else {
    // basicConstraints: cA TRUE.
    extensions = Ctx(
        3,
        Seq({Seq({Oid("2.5.29.19"), Tlv(0x01, {0xff}), OctetString(Seq({Tlv(0x01, {0xff})}))})}));
  }
  const Bytes tbs = Seq({Ctx(0, Int(2)), UInt(rng_->Bytes(16)), sig_alg, Name(issuer_cn, issuer_o),
                         Seq({UtcTime(now_s - 30 * 86400), UtcTime(now_s + 60 * 86400)}),
                         Name(subject_cn, leaf ? "District Partner" : issuer_o), spki, extensions});
  Bytes cert = Seq({tbs, sig_alg, BitString(rng_->Bytes(256))});
  if (store_ == nullptr) return cert;
  const std::string key = std::string(subject_cn) + "\n" + std::string(issuer_cn);
  return store_->try_emplace(key, std::move(cert)).first->second;
}

Bytes TlsConversation::ServerFlight() {
  ByteWriter sh;
  sh.Be16(kTls12).Append(rng_->Bytes(32));
  sh.U8(32).Append(tls13_ ? session_id_ : rng_->Bytes(32));
  ByteWriter ext;
  if (tls13_) {
    sh.Be16(0x1301).U8(0);
    Extension(&ext, 0x002b, {0x03, 0x04});
    ByteWriter ks;
    ks.Be16(0x001d).Be16(32).Append(rng_->Bytes(32));
    Extension(&ext, 0x0033, ks.Take());
  } else {
    sh.Be16(0xc02f).U8(0);
    Extension(&ext, 0xff01, {0x00});
    Extension(&ext, 0x000b, {0x01, 0x00});
    Extension(&ext, 0x0017, {});
  }
  sh.Be16(static_cast<uint16_t>(ext.size())).Append(ext.bytes());

  ByteWriter out;
  if (tls13_) {
    out.Append(Record(kHandshake, Handshake(2, sh.bytes())));
    out.Append(Record(kChangeCipherSpec, {0x01}));
    // EncryptedExtensions + Certificate + CertificateVerify + Finished, sealed.
    out.Append(Record(kApplicationData, rng_->Bytes(rng_->Range(2400, 4200))));
    return out.Take();
  }
  const Bytes leaf = Certificate(cert_cn_, "Example Issuing CA 1", "Example Trust Services", true);
  const Bytes inter =
      Certificate("Example Issuing CA 1", "Example Root CA", "Example Trust Services", false);
  ByteWriter certs;
  certs.Be24(static_cast<uint32_t>(leaf.size() + inter.size() + 6));
  certs.Be24(static_cast<uint32_t>(leaf.size())).Append(leaf);
  certs.Be24(static_cast<uint32_t>(inter.size())).Append(inter);
  ByteWriter ske;
  ske.U8(3).Be16(0x001d).U8(32).Append(rng_->Bytes(32));  // named_curve x25519, public key
  ske.Be16(0x0804).Be16(256).Append(rng_->Bytes(256));    // rsa_pss_rsae_sha256 signature
  ByteWriter flight;
  flight.Append(Handshake(2, sh.bytes())).Append(Handshake(11, certs.bytes()));
  flight.Append(Handshake(12, ske.bytes())).Append(Handshake(14, {}));
  out.Append(Record(kHandshake, flight.bytes()));
  return out.Take();
}

Bytes TlsConversation::ClientFinish() {
  ByteWriter out;
  if (!tls13_) {
    ByteWriter cke;
    cke.U8(32).Append(rng_->Bytes(32));
    out.Append(Record(kHandshake, Handshake(16, cke.bytes())));
  }
  out.Append(Record(kChangeCipherSpec, {0x01}));
  if (tls13_) {
    out.Append(Record(kApplicationData, rng_->Bytes(53)));
  } else {
    out.Append(Record(kHandshake, rng_->Bytes(40)));  // encrypted Finished
  }
  return out.Take();
}

Bytes TlsConversation::ServerFinish() {
  ByteWriter out;
  if (tls13_) {
    out.Append(Record(kApplicationData, rng_->Bytes(rng_->Range(220, 280))));
    out.Append(Record(kApplicationData, rng_->Bytes(rng_->Range(220, 280))));
  } else {
    out.Append(Record(kChangeCipherSpec, {0x01}));
    out.Append(Record(kHandshake, rng_->Bytes(40)));
  }
  return out.Take();
}

Bytes TlsConversation::AppData(size_t plaintext_len) {
  // AEAD overhead: 1.3 adds the inner content type and a 16-byte tag; 1.2 GCM an 8-byte explicit
  // nonce and the tag.
  const size_t overhead = tls13_ ? 17 : 24;
  ByteWriter out;
  while (plaintext_len > 0) {
    const size_t n = std::min<size_t>(plaintext_len, 16384);
    out.Append(Record(kApplicationData, rng_->Bytes(n + overhead)));
    plaintext_len -= n;
  }
  return out.Take();
}

Bytes TlsConversation::CloseNotify() {
  // 1.3 hides the alert inside an application data record; 1.2 seals a 2-byte alert with GCM.
  return tls13_ ? Record(kApplicationData, rng_->Bytes(19)) : Record(kAlert, rng_->Bytes(26));
}

}  // namespace fs::pcapgen
