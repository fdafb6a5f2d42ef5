#include "dataplane/app/dns.h"

namespace fs::app {

const char* DnsEventName(DnsEvent e) {
  switch (e) {
#define FS_X(id, name) \
  case DnsEvent::id:   \
    return name;
    FS_DNS_EVENTS(FS_X)
#undef FS_X
    case DnsEvent::kCount:
      break;
  }
  return "unknown";
}

std::string_view DnsName::AsSent(char* out) const {
  for (size_t i = 0; i < len; ++i) {
    const char c = text[i];
    out[i] = (upper[i / 8] >> (i % 8)) & 1u ? static_cast<char>(c - 'a' + 'A') : c;
  }
  return {out, len};
}

namespace {

// Bounds-checked reader over one message. Every accessor fails (returns false) rather than read
// past the end, so a hostile length can only ever end the parse early.
struct Reader {
  const uint8_t* msg;
  size_t len;

  bool U16(size_t* pos, uint16_t* v) const {
    if (*pos > len || len - *pos < 2) return false;
    *v = static_cast<uint16_t>((msg[*pos] << 8) | msg[*pos + 1]);
    *pos += 2;
    return true;
  }
  bool U32(size_t* pos, uint32_t* v) const {
    if (*pos > len || len - *pos < 4) return false;
    *v = (uint32_t{msg[*pos]} << 24) | (uint32_t{msg[*pos + 1]} << 16) |
         (uint32_t{msg[*pos + 2]} << 8) | msg[*pos + 3];
    *pos += 4;
    return true;
  }
};

enum class NameStatus : uint8_t { kOk, kMalformed, kBadLabel, kBadPointer };

// Steps over the name at *pos in place (pointers end it, they are not followed): where the record
// goes on. Linear in the name's wire bytes.
NameStatus SkipName(const Reader& r, size_t* pos) {
  size_t p = *pos;
  for (;;) {
    if (p >= r.len) return NameStatus::kMalformed;
    const uint8_t b = r.msg[p];
    if ((b & 0xC0) == 0xC0) {
      if (r.len - p < 2) return NameStatus::kMalformed;
      *pos = p + 2;
      return NameStatus::kOk;
    }
    if ((b & 0xC0) != 0) return NameStatus::kBadLabel;
    if (b == 0) {
      *pos = p + 1;
      return NameStatus::kOk;
    }
    // Name length is checked when the name is decoded; here only the bytes must exist.
    if (r.len - p < 1u + b) return NameStatus::kMalformed;
    p += 1u + b;
  }
}

// Decodes the (possibly compressed) name at `start` into out. Sets events on msg; never reads
// outside the message and does bounded work (kDnsMaxNameWire bytes, kDnsMaxJumps pointers).
void DecodeName(const Reader& r, size_t start, DnsName* out, DnsMessage* msg) {
  out->len = 0;
  out->truncated = false;
  out->upper.fill(0);
  size_t p = start;
  size_t lowest = start;  // every pointer must go below this: chains cannot loop
  size_t wire = 0;
  int jumps = 0;
  auto fail = [&](DnsEvent e) {
    msg->Set(e);
    out->truncated = true;
  };
  for (;;) {
    if (p >= r.len) return fail(DnsEvent::kMalformedData);
    const uint8_t b = r.msg[p];
    if ((b & 0xC0) == 0xC0) {
      if (r.len - p < 2) return fail(DnsEvent::kMalformedData);
      const size_t target = (size_t{b & 0x3Fu} << 8) | r.msg[p + 1];
      if (target >= r.len) return fail(DnsEvent::kBadPointer);
      if (target >= lowest || ++jumps > kDnsMaxJumps) return fail(DnsEvent::kInfiniteLoop);
      lowest = target;
      p = target;
      continue;
    }
    if ((b & 0xC0) != 0) return fail(DnsEvent::kBadLabel);
    if (b == 0) return;
    wire += 1u + b;
    // The terminating zero octet counts too: a name of wire length > 255 is invalid.
    if (wire + 1 > kDnsMaxNameWire) return fail(DnsEvent::kNameTooLong);
    if (r.len - p < 1u + b) return fail(DnsEvent::kMalformedData);
    const size_t need = (out->len ? 1u : 0u) + b;
    if (out->len + need > kDnsMaxNameText) return fail(DnsEvent::kNameTooLong);
    if (out->len) out->text[out->len++] = '.';
    for (size_t i = 0; i < b; ++i) {
      char c = static_cast<char>(r.msg[p + 1 + i]);
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
        out->upper[out->len / 8] |= static_cast<uint8_t>(1u << (out->len % 8));
      }
      out->text[out->len++] = c;
    }
    p += 1u + b;
  }
}

DnsEvent SkipEvent(NameStatus s) {
  switch (s) {
    case NameStatus::kBadLabel:
      return DnsEvent::kBadLabel;
    case NameStatus::kBadPointer:
      return DnsEvent::kBadPointer;
    default:
      return DnsEvent::kMalformedData;
  }
}

// Walks `count` resource records without storing them; false when they run past the end.
bool SkipRecords(const Reader& r, size_t* pos, uint16_t count, DnsMessage* msg) {
  for (uint32_t i = 0; i < count; ++i) {
    const NameStatus s = SkipName(r, pos);
    if (s != NameStatus::kOk) {
      if (s != NameStatus::kMalformed) msg->Set(SkipEvent(s));
      return false;
    }
    uint16_t type, rclass, rdlen;
    uint32_t ttl;
    if (!r.U16(pos, &type) || !r.U16(pos, &rclass) || !r.U32(pos, &ttl) || !r.U16(pos, &rdlen))
      return false;
    if (r.len - *pos < rdlen) return false;
    *pos += rdlen;
  }
  return true;
}

}  // namespace

bool ParseDns(const uint8_t* data, size_t len, DnsDirection dir, DnsMessage* out) {
  out->events = 0;
  out->query_count = 0;
  out->answer_count = 0;
  out->id = 0;
  out->raw_flags = 0;
  out->flags = DnsFlags{};
  out->qdcount = out->ancount = out->nscount = out->arcount = 0;
  if (data == nullptr || len < kDnsHeaderLen) {
    out->Set(DnsEvent::kMalformedData);
    return false;
  }
  const Reader r{data, len};
  size_t pos = 0;
  r.U16(&pos, &out->id);
  r.U16(&pos, &out->raw_flags);
  r.U16(&pos, &out->qdcount);
  r.U16(&pos, &out->ancount);
  r.U16(&pos, &out->nscount);
  r.U16(&pos, &out->arcount);

  const uint16_t f = out->raw_flags;
  DnsFlags& fl = out->flags;
  fl.qr = f & 0x8000;
  fl.opcode = (f >> 11) & 0xF;
  fl.aa = f & 0x0400;
  fl.tc = f & 0x0200;
  fl.rd = f & 0x0100;
  fl.ra = f & 0x0080;
  fl.z = f & 0x0040;
  fl.rcode = f & 0xF;
  if (fl.z) out->Set(DnsEvent::kZFlagSet);
  if (fl.opcode >= 7) out->Set(DnsEvent::kInvalidOpcode);
  if (dir == DnsDirection::kToServer && fl.qr) out->Set(DnsEvent::kNotRequest);
  if (dir == DnsDirection::kToClient && !fl.qr) out->Set(DnsEvent::kNotResponse);
  if (out->qdcount > kDnsMaxQueries || out->ancount > kDnsMaxAnswers)
    out->Set(DnsEvent::kTooManyRecords);

  for (uint32_t i = 0; i < out->qdcount; ++i) {
    const size_t name_at = pos;
    const NameStatus s = SkipName(r, &pos);
    if (s != NameStatus::kOk) {
      out->Set(SkipEvent(s));
      return true;
    }
    uint16_t type, rclass;
    if (!r.U16(&pos, &type) || !r.U16(&pos, &rclass)) {
      out->Set(DnsEvent::kMalformedData);
      return true;
    }
    if (i < kDnsMaxQueries) {
      DnsQuery& q = out->queries[out->query_count++];
      DecodeName(r, name_at, &q.name, out);
      q.type = type;
      q.rclass = rclass;
    }
  }

  for (uint32_t i = 0; i < out->ancount; ++i) {
    const size_t name_at = pos;
    const NameStatus s = SkipName(r, &pos);
    if (s != NameStatus::kOk) {
      out->Set(SkipEvent(s));
      return true;
    }
    uint16_t type, rclass, rdlen;
    uint32_t ttl;
    if (!r.U16(&pos, &type) || !r.U16(&pos, &rclass) || !r.U32(&pos, &ttl) ||
        !r.U16(&pos, &rdlen) || r.len - pos < rdlen) {
      out->Set(DnsEvent::kMalformedData);
      return true;
    }
    const size_t rdata = pos;
    pos += rdlen;
    if (i >= kDnsMaxAnswers) continue;
    DnsAnswer& a = out->answers[out->answer_count++];
    DecodeName(r, name_at, &a.name, out);
    a.type = type;
    a.rclass = rclass;
    a.ttl = ttl;
    a.rdlength = rdlen;
    a.has_addr = false;
    a.has_target = false;
    a.target.len = 0;
    a.target.truncated = false;
    a.rdata = data + rdata;
    if (type == kDnsTypeA && rdlen == 4) {
      a.has_addr = true;
      a.addr = IpAddr::FromV4(data + rdata);
    } else if (type == kDnsTypeAaaa && rdlen == 16) {
      a.has_addr = true;
      a.addr = IpAddr::FromV6(data + rdata);
    } else if (type == kDnsTypeCname || type == kDnsTypePtr || type == kDnsTypeNs ||
               (type == kDnsTypeMx && rdlen > 2)) {
      // The target must lie inside the rdata (it may point outside it, as compression allows).
      // MX: the exchange follows the 2-byte preference.
      const size_t at = rdata + (type == kDnsTypeMx ? 2 : 0);
      const Reader rd{data, rdata + rdlen};
      size_t tp = at;
      const NameStatus ts = SkipName(rd, &tp);
      if (ts != NameStatus::kOk) {
        out->Set(SkipEvent(ts));
      } else {
        a.has_target = true;
        DecodeName(r, at, &a.target, out);
      }
    } else if (type == kDnsTypeA || type == kDnsTypeAaaa) {
      out->Set(DnsEvent::kMalformedData);  // address of the wrong size
    }
  }

  if (!SkipRecords(r, &pos, out->nscount, out)) {
    out->Set(DnsEvent::kInvalidAuthorities);
    return true;
  }
  if (!SkipRecords(r, &pos, out->arcount, out)) {
    out->Set(DnsEvent::kInvalidAdditionals);
    return true;
  }
  if (pos != len) out->Set(DnsEvent::kTrailingData);
  return true;
}

}  // namespace fs::app
