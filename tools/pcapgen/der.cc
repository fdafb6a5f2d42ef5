#include "tools/pcapgen/der.h"

#include <cstdio>
#include <string>
#include <vector>

#include "tools/pcapgen/civil_time.h"

namespace fs::pcapgen::der {

Bytes Tlv(uint8_t tag, const Bytes& content) {
  Bytes out{tag};
  const size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<uint8_t>(n));
  } else if (n < 0x100) {
    out.push_back(0x81);
    out.push_back(static_cast<uint8_t>(n));
  } else if (n < 0x10000) {
    out.push_back(0x82);
    out.push_back(static_cast<uint8_t>(n >> 8));
    out.push_back(static_cast<uint8_t>(n));
  } else {
    out.push_back(0x83);
    out.push_back(static_cast<uint8_t>(n >> 16));
    out.push_back(static_cast<uint8_t>(n >> 8));
    out.push_back(static_cast<uint8_t>(n));
  }
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes Oid(std::string_view dotted) {
  std::vector<uint64_t> arcs;
  uint64_t cur = 0;
  for (char c : dotted) {
    if (c == '.') {
      arcs.push_back(cur);
      cur = 0;
    } else {
      cur = cur * 10 + static_cast<uint64_t>(c - '0');
    }
  }
  arcs.push_back(cur);
  Bytes body{static_cast<uint8_t>(arcs[0] * 40 + arcs[1])};
  for (size_t i = 2; i < arcs.size(); ++i) {
    uint8_t tmp[10];
    int n = 0;
    uint64_t v = arcs[i];
    do {
      tmp[n++] = static_cast<uint8_t>(v & 0x7f);
      v >>= 7;
    } while (v != 0);
    while (n > 0) {
      --n;
      body.push_back(static_cast<uint8_t>(tmp[n] | (n > 0 ? 0x80 : 0)));
    }
  }
  return Tlv(0x06, body);
}

Bytes Int(uint64_t v) {
  Bytes mag;
  do {
    mag.insert(mag.begin(), static_cast<uint8_t>(v));
    v >>= 8;
  } while (v != 0);
  return UInt(mag);
}

Bytes UInt(const Bytes& magnitude) {
  Bytes body = magnitude;
  while (body.size() > 1 && body[0] == 0 && (body[1] & 0x80) == 0) body.erase(body.begin());
  if (body.empty()) body.push_back(0);
  if (body[0] & 0x80) body.insert(body.begin(), 0);
  return Tlv(0x02, body);
}

Bytes Enumerated(uint8_t v) { return Tlv(0x0a, Bytes{v}); }
Bytes OctetString(const Bytes& v) { return Tlv(0x04, v); }

Bytes BitString(const Bytes& v) {
  Bytes body{0};
  body.insert(body.end(), v.begin(), v.end());
  return Tlv(0x03, body);
}

Bytes Printable(std::string_view s) { return Tlv(0x13, Bytes(s.begin(), s.end())); }
Bytes Utf8(std::string_view s) { return Tlv(0x0c, Bytes(s.begin(), s.end())); }
Bytes Null() { return Bytes{0x05, 0x00}; }

Bytes UtcTime(uint64_t unix_s) {
  const CivilTime t = ToCivil(unix_s);
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%02d%02d%02d%02d%02d%02dZ", t.year % 100, t.month, t.day, t.hour,
                t.minute, t.second);
  return Tlv(0x17, Bytes(buf, buf + 13));
}

}  // namespace fs::pcapgen::der
