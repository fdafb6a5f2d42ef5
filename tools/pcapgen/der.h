// Minimal DER (ASN.1) encoding helpers for the synthetic X.509 certificates and SPNEGO tokens the
// generator puts on the wire. Encoding only; plain functions, any thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "tools/pcapgen/packet_builder.h"

namespace fs::pcapgen::der {

Bytes Tlv(uint8_t tag, const Bytes& content);
Bytes Cat(std::initializer_list<Bytes> parts);
inline Bytes Seq(std::initializer_list<Bytes> parts) { return Tlv(0x30, Cat(parts)); }
inline Bytes Set(std::initializer_list<Bytes> parts) { return Tlv(0x31, Cat(parts)); }
// Context-specific constructed tag [n].
inline Bytes Ctx(uint8_t n, const Bytes& content) { return Tlv(0xa0 | n, content); }
Bytes Oid(std::string_view dotted);
Bytes Int(uint64_t v);
// A non-negative INTEGER from big-endian magnitude bytes (a 0x00 is prepended if the top bit is
// set, so the value stays positive).
Bytes UInt(const Bytes& magnitude);
Bytes Enumerated(uint8_t v);
Bytes OctetString(const Bytes& v);
Bytes BitString(const Bytes& v);  // no unused bits
Bytes Printable(std::string_view s);
Bytes Utf8(std::string_view s);
Bytes Null();
// UTCTime "YYMMDDHHMMSSZ" for a Unix time in seconds.
Bytes UtcTime(uint64_t unix_s);

}  // namespace fs::pcapgen::der
