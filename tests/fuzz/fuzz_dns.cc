// Fuzz target for the DNS parser (dataplane/app/dns.h): ParseDns on whole messages (UDP) and
// DnsTcpFramer + ParseDns on two chunked TCP streams. Input layout: tests/fuzz/fuzz_schedule.h.
// Options byte: bit 0 TCP mode (else UDP), bit 1 parse with DnsDirection::kUnknown instead of the
// stream's direction.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "dataplane/app/dns.h"
#include "tests/fuzz/fuzz_schedule.h"

namespace {

using fs::fuzz::Touch;
using fs::fuzz::TouchValue;
using fs::fuzz::TouchView;
using namespace fs::app;

void CheckName(const DnsName& n) {
  FS_FUZZ_CHECK(n.len <= kDnsMaxNameText);
  TouchView(n.view());
  TouchValue(n.truncated);
}

void CheckMessage(const DnsMessage& m, bool ok) {
  TouchValue(m.id);
  TouchValue(m.raw_flags);
  TouchValue(uint64_t(m.flags.qr) | uint64_t(m.flags.opcode) << 1 | uint64_t(m.flags.aa) << 5 |
             uint64_t(m.flags.tc) << 6 | uint64_t(m.flags.rd) << 7 | uint64_t(m.flags.ra) << 8 |
             uint64_t(m.flags.z) << 9 | uint64_t(m.flags.rcode) << 10);
  TouchValue(uint64_t(m.qdcount) << 48 | uint64_t(m.ancount) << 32 | uint64_t(m.nscount) << 16 |
             m.arcount);
  if (!ok) {
    FS_FUZZ_CHECK(m.Has(DnsEvent::kMalformedData));
    return;
  }
  FS_FUZZ_CHECK(m.query_count <= kDnsMaxQueries);
  FS_FUZZ_CHECK(m.answer_count <= kDnsMaxAnswers);
  FS_FUZZ_CHECK(m.query_count <= m.qdcount);
  FS_FUZZ_CHECK(m.answer_count <= m.ancount);
  for (size_t i = 0; i < m.query_count; ++i) {
    const DnsQuery& q = m.queries[i];
    CheckName(q.name);
    TouchValue(uint64_t(q.type) << 16 | q.rclass);
  }
  for (size_t i = 0; i < m.answer_count; ++i) {
    const DnsAnswer& a = m.answers[i];
    CheckName(a.name);
    TouchValue(uint64_t(a.type) << 48 | uint64_t(a.rclass) << 32 | a.ttl);
    TouchValue(a.rdlength);
    if (a.has_addr) TouchView(a.addr.bytes);
    if (a.has_target) CheckName(a.target);
  }
  for (int e = 0; e < kDnsEventCount; ++e) {
    if (!m.Has(static_cast<DnsEvent>(e))) continue;
    const char* name = DnsEventName(static_cast<DnsEvent>(e));
    FS_FUZZ_CHECK(name != nullptr);
    Touch(name, std::strlen(name));
  }
  FS_FUZZ_CHECK((m.events >> kDnsEventCount) == 0);
}

// ParseDns on an exact-size copy, so a read past `len` is caught whatever buffer `msg` is in.
void Parse(const uint8_t* msg, size_t len, DnsDirection dir, DnsMessage* out) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[len ? len : 1]);
  if (len) std::memcpy(copy.get(), msg, len);
  const bool ok = ParseDns(copy.get(), len, dir, out);
  CheckMessage(*out, ok);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static DnsMessage* msg = new DnsMessage;  // ~20 KB: one, reused, as a worker does
  const fs::fuzz::Input in = fs::fuzz::Split(data, size);
  const bool tcp = in.options & 1u;
  const bool unknown_dir = in.options & 2u;
  auto dir_of = [&](int d) {
    if (unknown_dir) return DnsDirection::kUnknown;
    return d == 0 ? DnsDirection::kToServer : DnsDirection::kToClient;
  };

  if (!tcp) {
    // UDP: each stream is one datagram.
    for (int d = 0; d < 2; ++d) Parse(in.stream[d], in.len[d], dir_of(d), msg);
    return 0;
  }

  auto framers = std::make_unique<DnsTcpFramer[]>(2);
  size_t delivered[2] = {0, 0};
  size_t fed[2] = {0, 0};
  fs::fuzz::Schedule(in, 2, [&](int d, const uint8_t* chunk, size_t n) {
    fed[d] += n;
    size_t seen = 0;
    const size_t got = framers[d].Feed(
        chunk, n,
        [&](const uint8_t* m, size_t len) {
          ++seen;
          FS_FUZZ_CHECK(len > 0 && len <= kDnsTcpBufferCap);
          Parse(m, len, dir_of(d), msg);
        },
        [&](DnsEvent e) {
          FS_FUZZ_CHECK(e == DnsEvent::kTcpMessageEmpty || e == DnsEvent::kTcpMessageTooLong);
          TouchValue(static_cast<uint64_t>(e));
        });
    FS_FUZZ_CHECK(got == seen);
    delivered[d] += got;
    FS_FUZZ_CHECK(framers[d].pending() <= fed[d]);
    TouchValue(framers[d].pending());
  });
  TouchValue(delivered[0] + delivered[1]);
  return 0;
}
