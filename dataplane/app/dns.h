// DNS message parsing for the app layer (issue 8): one message from a UDP payload, or from a TCP
// stream after DnsTcpFramer has cut it at its 2-byte length prefix. The result goes into a
// caller-owned, fixed-capacity DnsMessage: parsing never allocates, never throws, and reads
// nothing outside the bytes it is given, whatever they hold.
//
// Names are decompressed with two guards, because a compression pointer is an attacker-chosen
// offset: every pointer must go strictly below the lowest offset the name has visited so far (so
// a chain always terminates, and no legitimate compressor ever needs anything else), and a name
// may take at most kDnsMaxJumps pointers and kDnsMaxNameWire wire bytes (RFC 1035: 255). Records
// beyond the stored caps, and the authority and additional sections, are walked without
// decompressing their names, so the work per message stays linear in its length.
//
// Anomalies are flags in DnsMessage::events; their names are Suricata's app-layer-event names
// (dns.malformed_data, dns.infinite_loop ...) where Suricata has one.
//
// Plain functions and value types: any thread; a DnsTcpFramer belongs to one flow direction and
// is called only by the worker that owns that flow.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "dataplane/common/ip_addr.h"

namespace fs::app {

inline constexpr size_t kDnsHeaderLen = 12;
inline constexpr size_t kDnsMaxQueries = 8;     // queries stored per message; more are walked
inline constexpr size_t kDnsMaxAnswers = 32;    // answer records stored per message
inline constexpr size_t kDnsMaxNameWire = 255;  // RFC 1035 3.1: a name is at most 255 octets
inline constexpr size_t kDnsMaxNameText = 255;  // dotted text of a name (at most 253 in practice)
inline constexpr int kDnsMaxJumps = 32;         // compression pointers followed per name

// X(id, name): the anomaly events. Names match Suricata's app-layer-event names (rules say
// app-layer-event:dns.<name>) where Suricata has the event; the others are flowsentry's own.
#define FS_DNS_EVENTS(X)                                                                        \
  X(kMalformedData, "malformed_data")           /* header, record or rdata past the end */      \
  X(kNotRequest, "not_request")                 /* QR set in the to-server direction */         \
  X(kNotResponse, "not_response")               /* QR clear in the to-client direction */       \
  X(kZFlagSet, "z_flag_set")                    /* the reserved Z bit is set */                 \
  X(kInvalidOpcode, "invalid_opcode")           /* opcode 7..15 (unassigned) */                 \
  X(kNameTooLong, "name_too_long")              /* name past 255 wire octets; text truncated */ \
  X(kInfiniteLoop, "infinite_loop")             /* pointer not backwards, or too many jumps */  \
  X(kInvalidAuthorities, "invalid_authorities") /* authority section does not parse */          \
  X(kInvalidAdditionals, "invalid_additionals") /* additional section does not parse */         \
  X(kBadLabel, "bad_label")                     /* label type 01/10 (reserved, RFC 6891) */     \
  X(kBadPointer, "bad_pointer")                 /* pointer outside the message */               \
  X(kTooManyRecords, "too_many_records")        /* more queries/answers than stored */          \
  X(kTrailingData, "trailing_data")             /* bytes after the last counted record */       \
  X(kTcpMessageTooLong, "tcp_message_too_long") /* TCP message larger than the framer buffer */ \
  X(kTcpMessageEmpty, "tcp_message_empty")      /* TCP length prefix of zero */

enum class DnsEvent : uint8_t {
#define FS_X(id, name) id,
  FS_DNS_EVENTS(FS_X)
#undef FS_X
      kCount
};
inline constexpr int kDnsEventCount = static_cast<int>(DnsEvent::kCount);
static_assert(kDnsEventCount <= 32, "DnsMessage::events is a 32-bit set");

// "malformed_data" ... (without the "dns." prefix).
const char* DnsEventName(DnsEvent e);

// Which way the message went, when the caller knows: it decides not_request / not_response.
enum class DnsDirection : uint8_t { kUnknown, kToServer, kToClient };

// A name as dotted lowercase text without the trailing dot ("" is the root). Label bytes other
// than A-Z are kept as they are on the wire (Suricata's dns.query does the same).
struct DnsName {
  std::array<char, kDnsMaxNameText> text{};
  uint16_t len = 0;
  bool truncated = false;  // name_too_long / infinite_loop / malformed: text is what was read
  // Which bytes of text were upper case on the wire (bit i % 8 of upper[i / 8]): matching uses
  // the lowercase text, EVE prints the name as it was sent (as Suricata does).
  std::array<uint8_t, (kDnsMaxNameText + 7) / 8> upper{};
  std::string_view view() const { return {text.data(), len}; }
  // The text with the wire's case restored, into out (room for len bytes).
  std::string_view AsSent(char* out) const;
};

struct DnsQuery {
  DnsName name;
  uint16_t type = 0;
  uint16_t rclass = 0;
};

inline constexpr uint16_t kDnsTypeA = 1;
inline constexpr uint16_t kDnsTypeNs = 2;
inline constexpr uint16_t kDnsTypeCname = 5;
inline constexpr uint16_t kDnsTypePtr = 12;
inline constexpr uint16_t kDnsTypeAaaa = 28;
inline constexpr uint16_t kDnsTypeNull = 10;
inline constexpr uint16_t kDnsTypeMx = 15;
inline constexpr uint16_t kDnsTypeTxt = 16;

struct DnsAnswer {
  DnsName name;
  uint16_t type = 0;
  uint16_t rclass = 0;
  uint32_t ttl = 0;
  uint16_t rdlength = 0;
  bool has_addr = false;    // A (4-byte rdata) or AAAA (16-byte rdata)
  IpAddr addr;              // IPv4 as IPv4-mapped
  bool has_target = false;  // CNAME, PTR, NS, MX (the exchange)
  DnsName target;
  const uint8_t* rdata = nullptr;  // the rdlength bytes, inside the parsed buffer (TXT, NULL)
};

struct DnsFlags {
  bool qr = false;
  uint8_t opcode = 0;
  bool aa = false;
  bool tc = false;
  bool rd = false;
  bool ra = false;
  bool z = false;
  uint8_t rcode = 0;
};

// Caller-owned result (about 20 KB: keep one per worker, not per flow). ParseDns overwrites every
// field it reports; the arrays past query_count/answer_count hold stale data.
struct DnsMessage {
  uint16_t id = 0;
  uint16_t raw_flags = 0;
  DnsFlags flags;
  uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;  // as the header claims
  uint8_t query_count = 0;                                      // stored in queries[]
  uint8_t answer_count = 0;                                     // stored in answers[]
  std::array<DnsQuery, kDnsMaxQueries> queries;
  std::array<DnsAnswer, kDnsMaxAnswers> answers;
  uint32_t events = 0;  // bit (1 << DnsEvent)

  bool Has(DnsEvent e) const { return (events >> static_cast<int>(e)) & 1u; }
  void Set(DnsEvent e) { events |= 1u << static_cast<int>(e); }
};

// Parses one message. Returns false only when there is no whole 12-byte header (events then has
// malformed_data); otherwise true, with whatever could be read and the anomalies in out->events.
bool ParseDns(const uint8_t* data, size_t len, DnsDirection dir, DnsMessage* out);

inline constexpr size_t kDnsTcpBufferCap = 8192;

// Cuts one direction of a DNS-over-TCP stream into messages (RFC 1035 4.2.2: 2-byte big-endian
// length, then the message). Fed in-order stream bytes in arbitrary chunks. A message that lies
// whole inside one chunk is handed on in place; one split across chunks is gathered in a fixed
// kDnsTcpBufferCap buffer. A message longer than the buffer is skipped (whatever the chunking,
// so results never depend on how the stream was cut) and reported as tcp_message_too_long.
// Owned by the flow's app-layer state; called only by the worker that owns the flow.
class DnsTcpFramer {
 public:
  // on_message(const uint8_t* msg, size_t len) for each whole message, on_event(DnsEvent) for
  // framing anomalies. Returns the number of messages delivered.
  template <class OnMessage, class OnEvent>
  size_t Feed(const uint8_t* data, size_t len, OnMessage&& on_message, OnEvent&& on_event);

  // Bytes of a partial message (or length prefix) held: what a flow end would lose.
  size_t pending() const { return have_len_ ? have_ : prefix_have_; }

 private:
  std::array<uint8_t, kDnsTcpBufferCap> buf_{};
  uint8_t prefix_[2] = {0, 0};
  uint8_t prefix_have_ = 0;
  bool have_len_ = false;
  uint16_t need_ = 0;  // message length from the prefix
  uint16_t have_ = 0;  // message bytes seen so far (held in buf_ unless skipping)
  bool skipping_ = false;
};

template <class OnMessage, class OnEvent>
size_t DnsTcpFramer::Feed(const uint8_t* data, size_t len, OnMessage&& on_message,
                          OnEvent&& on_event) {
  size_t delivered = 0;
  while (len > 0) {
    if (!have_len_) {
      prefix_[prefix_have_++] = *data++;
      --len;
      if (prefix_have_ < 2) continue;
      prefix_have_ = 0;
      need_ = static_cast<uint16_t>((prefix_[0] << 8) | prefix_[1]);
      if (need_ == 0) {
        on_event(DnsEvent::kTcpMessageEmpty);
        continue;
      }
      have_len_ = true;
      have_ = 0;
      skipping_ = need_ > kDnsTcpBufferCap;
      if (skipping_) on_event(DnsEvent::kTcpMessageTooLong);
    }
    const size_t want = need_ - have_;
    if (have_ == 0 && !skipping_ && len >= want) {
      // Whole message in this chunk: no copy.
      on_message(data, want);
      ++delivered;
      data += want;
      len -= want;
      have_len_ = false;
      continue;
    }
    const size_t take = len < want ? len : want;
    if (!skipping_) std::memcpy(buf_.data() + have_, data, take);
    have_ = static_cast<uint16_t>(have_ + take);
    data += take;
    len -= take;
    if (have_ == need_) {
      if (!skipping_) {
        on_message(buf_.data(), static_cast<size_t>(need_));
        ++delivered;
      }
      have_len_ = false;
    }
  }
  return delivered;
}

}  // namespace fs::app
