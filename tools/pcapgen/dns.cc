#include "tools/pcapgen/dns.h"

#include <arpa/inet.h>

#include <algorithm>

#include "tools/pcapgen/byte_writer.h"

namespace fs::pcapgen::dns {

Bytes EncodeName(std::string_view name) {
  Bytes out;
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    const size_t len = std::min<size_t>(dot - start, 63);
    if (len > 0) {
      out.push_back(static_cast<uint8_t>(len));
      out.insert(out.end(), name.begin() + start, name.begin() + start + len);
    }
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

namespace {

void Header(ByteWriter* w, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an) {
  w->Be16(id).Be16(flags).Be16(qd).Be16(an).Be16(0).Be16(0);
}

}  // namespace

Bytes Query(uint16_t id, std::string_view name, uint16_t qtype) {
  ByteWriter w;
  Header(&w, id, 0x0100 /* RD */, 1, 0);
  w.Append(EncodeName(name)).Be16(qtype).Be16(1 /* IN */);
  return w.Take();
}

Bytes Response(uint16_t id, std::string_view name, uint16_t qtype,
               const std::vector<Answer>& answers, uint8_t rcode) {
  ByteWriter w;
  // QR, RD, RA and the response code.
  Header(&w, id, static_cast<uint16_t>(0x8180 | (rcode & 0x0f)), 1,
         static_cast<uint16_t>(answers.size()));
  w.Append(EncodeName(name)).Be16(qtype).Be16(1);
  uint16_t owner = 12;  // the question name right after the header
  for (const Answer& a : answers) {
    w.Be16(static_cast<uint16_t>(0xc000 | owner)).Be16(a.type).Be16(1).Be32(a.ttl);
    if (a.type == kTypeCname) {
      const Bytes target = EncodeName(a.data);
      w.Be16(static_cast<uint16_t>(target.size()));
      owner = static_cast<uint16_t>(w.size());
      w.Append(target);
    } else if (a.type == kTypeAaaa) {
      uint8_t raw[16] = {};
      inet_pton(AF_INET6, a.data.c_str(), raw);
      w.Be16(16);
      for (uint8_t b : raw) w.U8(b);
    } else {
      uint8_t raw[4] = {};
      inet_pton(AF_INET, a.data.c_str(), raw);
      w.Be16(4);
      for (uint8_t b : raw) w.U8(b);
    }
  }
  return w.Take();
}

}  // namespace fs::pcapgen::dns
