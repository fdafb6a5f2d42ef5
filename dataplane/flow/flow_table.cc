#include "dataplane/flow/flow_table.h"

#include <netinet/in.h>

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstring>

namespace fs::flow {
namespace {

constexpr uint64_t kUsPerSec = 1000000;
constexpr uint64_t kFlowIdMask = (uint64_t{1} << 51) - 1;
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kHashSeed = 0x6a09e667f3bcc909ULL;    // HashKey
constexpr uint64_t kFlowIdSeed = 0xbb67ae8584caa73bULL;  // MakeFlowId: independent of HashKey

// Flow::tcp_seen bits. Direction bits serve every protocol (UDP/ICMP/other become established
// once both were seen); the rest model as much of Suricata's TCP session as a table can see.
constexpr uint8_t kSeenToServer = 0x01;
constexpr uint8_t kSeenToClient = 0x02;
constexpr uint8_t kSessionSyn = 0x04;  // flow began with a client SYN: Suricata has a session
constexpr uint8_t kSynAck = 0x08;      // server answered SYN+ACK
constexpr uint8_t kFinToServer = 0x10;
constexpr uint8_t kFinToClient = 0x20;

// murmur3's 64-bit finaliser: every input bit affects every output bit.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Chained mix over the key's 44 bytes (read as 64-bit words, last one zero-extended).
inline uint64_t HashKeyWords(const FlowKey& k, uint64_t seed) {
  uint64_t w[6] = {};
  std::memcpy(w, &k, sizeof(k));
  uint64_t h = seed;
  for (int i = 0; i < 6; ++i) h = Mix64(h ^ (w[i] + kGolden * static_cast<uint64_t>(i + 1)));
  return h;
}

inline bool IsTcp(const decode::Packet& p) {
  return p.layer == decode::Layer::kL4 && p.proto == IPPROTO_TCP;
}

// Suricata's TcpSessionPacketIsStreamStarter without midstream pickup: SYN, no ACK/RST/FIN.
inline bool IsStreamStarter(uint8_t flags) {
  using namespace decode::tcpflag;
  return (flags & (kSyn | kAck | kRst | kFin)) == kSyn;
}

// ICMPv4GetCounterpart: the reply type of a request and vice versa; 0 when there is none.
inline uint8_t IcmpCounterpart(uint8_t type) {
  switch (type) {
    case 8:  // echo
      return 0;
    case 0:
      return 8;
    case 13:  // timestamp
      return 14;
    case 14:
      return 13;
    case 15:  // information
      return 16;
    case 16:
      return 15;
    case 10:  // router solicitation / advertisement
      return 9;
    case 9:
      return 10;
    case 17:  // address mask
      return 18;
    case 18:
      return 17;
    default:
      return 0;
  }
}

// Suricata's FlowGetPacketDirection. TCP/UDP/SCTP by port when the ports differ (else by
// address), ICMP by address, every other protocol (ESP, IPv6-in-IPv4) always to the server.
// An ICMP error counted on the flow it reports on is an ICMP packet: by address.
inline Dir PacketDir(const Flow& f, const decode::Packet& p) {
  switch (p.proto) {
    case IPPROTO_TCP:
    case IPPROTO_UDP:
    case IPPROTO_SCTP:
      if (p.sport != p.dport) return p.sport == f.client_port ? Dir::kToServer : Dir::kToClient;
      return p.src == f.client_addr ? Dir::kToServer : Dir::kToClient;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return p.src == f.client_addr ? Dir::kToServer : Dir::kToClient;
    default:
      return Dir::kToServer;
  }
}

}  // namespace

FlowKey MakeKey(const decode::Packet& p, FlowUse use, bool* sender_is_lo) {
  FlowKey k;
  const IpAddr* src = &p.src;
  const IpAddr* dst = &p.dst;
  uint8_t proto = p.proto;
  // Ports only mean something for a decoded transport header (ICMPv6 carries 0).
  uint16_t sport = 0, dport = 0;
  if (use == FlowUse::kEmbedded) {
    src = &p.emb_src;
    dst = &p.emb_dst;
    sport = p.emb_sport;
    dport = p.emb_dport;
    proto = p.emb_proto;
  } else if (p.layer == decode::Layer::kL4) {
    if (p.proto == IPPROTO_ICMP) {
      sport = p.icmp_type;
      dport = IcmpCounterpart(p.icmp_type);
    } else if (p.proto != IPPROTO_ICMPV6) {
      sport = p.sport;
      dport = p.dport;
    }
  } else if (p.proto == IPPROTO_SCTP) {
    sport = p.sport;
    dport = p.dport;
  } else if (p.proto == IPPROTO_ESP) {
    // Suricata matches ESP flows by SPI, one direction each (every SA has its own SPI).
    sport = static_cast<uint16_t>(p.esp_spi >> 16);
    dport = static_cast<uint16_t>(p.esp_spi);
  }
  // The addresses as 8-byte words, each read once. The decoder has just written them, as two
  // 8-byte stores each: a 16-byte load of a whole address would span both, and such a load
  // waits for them to reach the cache (store forwarding fails). The key's addresses are stored
  // from these words.
  auto word = [](const IpAddr& a, size_t at) {
    uint64_t v;
    std::memcpy(&v, a.bytes.data() + at, 8);
    return v;
  };
  const uint64_t sw0 = word(*src, 0), sw1 = word(*src, 8), dw0 = word(*dst, 0), dw1 = word(*dst, 8);
  // Byte order of the addresses (memcmp's), as two big-endian words: no library call per packet.
  const uint64_t s0 = __builtin_bswap64(sw0), d0 = __builtin_bswap64(dw0),
                 s1 = __builtin_bswap64(sw1), d1 = __builtin_bswap64(dw1);
  const bool lo = s0 != d0 ? s0 < d0 : s1 != d1 ? s1 < d1 : sport <= dport;
  static_assert(offsetof(FlowKey, addr_lo) == 0 && offsetof(FlowKey, addr_hi) == 16);
  auto put = [&k](size_t at, uint64_t v) { std::memcpy(reinterpret_cast<char*>(&k) + at, &v, 8); };
  put(0, lo ? sw0 : dw0);
  put(8, lo ? sw1 : dw1);
  put(16, lo ? dw0 : sw0);
  put(24, lo ? dw1 : sw1);
  // The 12 bytes after the addresses (ports, VLAN ids, protocol, depth) are put together in
  // registers and stored as one 8-byte and one 4-byte word: HashKey and the table's compare read
  // the key back in words at once, and a load spanning several narrower stores waits for them
  // to reach the cache (store forwarding fails) - most of the hash's cost per packet.
  static_assert(std::endian::native == std::endian::little && decode::kMaxVlans == 3);
  static_assert(offsetof(FlowKey, port_lo) == 32 && offsetof(FlowKey, port_hi) == 34 &&
                offsetof(FlowKey, vlan) == 36 && offsetof(FlowKey, proto) == 42 &&
                offsetof(FlowKey, depth) == 43);
  uint16_t vlan[decode::kMaxVlans] = {0, 0, 0};
  for (uint8_t i = 0; i < p.vlan_count && i < decode::kMaxVlans; ++i) vlan[i] = p.vlan_id[i];
  const uint64_t ports_vlans = uint64_t{lo ? sport : dport} | uint64_t{lo ? dport : sport} << 16 |
                               uint64_t{vlan[0]} << 32 | uint64_t{vlan[1]} << 48;
  const uint32_t rest = uint32_t{vlan[2]} | uint32_t{proto} << 16 | uint32_t{p.depth} << 24;
  std::memcpy(reinterpret_cast<char*>(&k) + 32, &ports_vlans, 8);
  std::memcpy(reinterpret_cast<char*>(&k) + 40, &rest, 4);
  if (sender_is_lo != nullptr) *sender_is_lo = lo;
  return k;
}

const char* StateName(State s) {
  switch (s) {
    case State::kNew:
      return "new";
    case State::kEstablished:
      return "established";
    case State::kClosed:
      return "closed";
    case State::kBypassed:
      return "bypassed";
  }
  return "unknown";
}

const char* EndReasonName(EndReason r) {
  switch (r) {
    case EndReason::kTimeout:
      return "timeout";
    case EndReason::kForced:
      return "forced";
    case EndReason::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

FlowUse UseOf(const decode::Packet& p) {
  if (p.layer == decode::Layer::kL4) {
    if (p.proto != IPPROTO_ICMP || !decode::IsIcmpv4Error(p.icmp_type)) return FlowUse::kOwn;
    // ICMPV4_DEST_UNREACH_IS_VALID: a valid packet quoting an IPv4 header and a whole TCP or
    // UDP header (a router's 8 quoted bytes of TCP are not enough).
    // Suricata reads the quoted ports 20 bytes into the quoted IPv4 header; past options that is
    // not a real tuple and finds no flow, so a quoted header with options is tied to none.
    if (p.icmp_type == 3 && p.icmp_error_embedded && p.emb_l4_complete && p.emb_ip_hlen == 20 &&
        !p.invalid) {
      return FlowUse::kEmbedded;
    }
    return FlowUse::kNone;
  }
  if (p.layer == decode::Layer::kL3Other) {
    // Suricata sets up flows for these only (decode-esp.c, decode-sctp.c, decode-ipv4.c).
    if (p.proto == IPPROTO_ESP || p.proto == IPPROTO_SCTP) return FlowUse::kOwn;
    if (p.proto == IPPROTO_IPV6 && p.ip_version == 4) return FlowUse::kOwn;
  }
  return FlowUse::kNone;
}

FlowKey MakeKey(const decode::Packet& p, bool* sender_is_lo) {
  return MakeKey(p, UseOf(p), sender_is_lo);
}

// 64 x 64 -> 128-bit product folded to 64 bits: every bit of both inputs reaches the result.
inline uint64_t FoldMul(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

// Per packet (and a second time on a distributing worker), so built for latency: the key's six
// words are multiplied in three independent pairs, each word first offset by its own constant
// (no byte of them is zero, so an IPv4 key's zero words never cancel one), then one more folded
// product. About a third of the chained Mix64 rounds' latency (HashKeyWords, kept for flow ids,
// which are computed once per flow).
uint32_t HashKey(const FlowKey& k) {
  // The words straight from the key (as MakeKey stored them), not through a copy on the stack.
  const auto* b = reinterpret_cast<const char*>(&k);
  auto word = [b](size_t at) {
    uint64_t v;
    std::memcpy(&v, b + at, 8);
    return v;
  };
  uint32_t last;
  std::memcpy(&last, b + 40, 4);
  const uint64_t h = FoldMul(word(0) ^ 0xa0761d6478bd642fULL, word(8) ^ 0xe7037ed1a0b428dbULL) ^
                     FoldMul(word(16) ^ 0x8ebc6af09c88c6e3ULL, word(24) ^ 0x589965cc75374cc3ULL) ^
                     FoldMul(word(32) ^ 0x1d8e4e27c47d124fULL, last ^ 0xeb44accab455d165ULL);
  const uint64_t m = FoldMul(h ^ kHashSeed, kGolden);
  return static_cast<uint32_t>(m ^ (m >> 32));
}

uint32_t OwnerOf(const decode::Packet& p, uint32_t nworkers) {
  bool lo;
  if (UseOf(p) != FlowUse::kNone) return HashKey(MakeKey(p, &lo)) % nworkers;
  if (p.layer == decode::Layer::kNone) return 0;  // not IP: nothing but counting
  decode::Packet addr_only;
  addr_only.layer = decode::Layer::kL3Other;
  addr_only.ip_version = p.ip_version;
  addr_only.proto = p.proto;
  addr_only.src = p.src;
  addr_only.dst = p.dst;
  return HashKey(MakeKey(addr_only, &lo)) % nworkers;
}

uint64_t MakeFlowId(const FlowKey& k, uint64_t first_ts_us) {
  const uint64_t id =
      Mix64(HashKeyWords(k, kFlowIdSeed) ^ Mix64(first_ts_us + kGolden)) & kFlowIdMask;
  return id != 0 ? id : 1;
}

FlowTable::FlowTable(uint32_t capacity, const Timeouts& t) {
  constexpr uint32_t kMaxCapacity = (uint32_t{1} << 31) - 1;
  capacity_ = capacity < 1 ? 1 : (capacity > kMaxCapacity ? kMaxCapacity : capacity);
  uint32_t buckets = 1;
  while (buckets < capacity_) buckets <<= 1;
  bucket_mask_ = buckets - 1;

  // LargeArray(n) value-initialises: the memory is touched (faulted in) now, not per packet.
  pool_ = LargeArray<Flow>(static_cast<size_t>(capacity_) + 1);
  buckets_ = LargeArray<uint32_t>(buckets);
  for (uint32_t i = 1; i <= capacity_; ++i) {
    pool_[i].list = kFreeList;
    pool_[i].hash_next = i < capacity_ ? i + 1 : 0;
  }
  free_head_ = 1;

  timeout_s_[kTcpNew] = t.tcp_new;
  timeout_s_[kTcpEstablished] = t.tcp_established;
  timeout_s_[kTcpClosed] = t.tcp_closed;
  timeout_s_[kUdpNew] = t.udp_new;
  timeout_s_[kUdpEstablished] = t.udp_established;
  timeout_s_[kIcmpNew] = t.icmp_new;
  timeout_s_[kIcmpEstablished] = t.icmp_established;
  timeout_s_[kOtherNew] = t.other_new;
  timeout_s_[kOtherEstablished] = t.other_established;
}

FlowTable::~FlowTable() = default;

FlowTable::ListId FlowTable::ListFor(const Flow& f) const {
  const bool est = f.state != State::kNew;  // only TCP ever closes
  switch (f.proto) {
    case IPPROTO_TCP:
      return f.state == State::kNew           ? kTcpNew
             : f.state == State::kEstablished ? kTcpEstablished
                                              : kTcpClosed;
    case IPPROTO_UDP:
      return est ? kUdpEstablished : kUdpNew;
    case IPPROTO_ICMP:  // Suricata maps only ICMPv4 to its icmp timeouts; ICMPv6 is "default"
      return est ? kIcmpEstablished : kIcmpNew;
    default:
      return est ? kOtherEstablished : kOtherNew;
  }
}

uint32_t FlowTable::TimeoutOf(const Flow& f) const { return timeout_s_[ListFor(f)]; }

// Suricata 7 (flow-manager.c FlowManagerFlowTimeout, flow-hash.c FlowIsTimedOut) keeps
// timeout_at = SECS(lastts) + timeout and ends the flow when timeout_at < SECS(now): whole
// seconds, strict. Matching it exactly makes our flow records end when Suricata's do.
bool FlowTable::TimedOut(const Flow& f, uint64_t now_us) const {
  const uint64_t deadline_s = f.last_ts_us / kUsPerSec + timeout_s_[f.list];
  return deadline_s < now_us / kUsPerSec;
}

uint64_t FlowTable::Deadline(const Flow& f) const {
  return f.last_ts_us + uint64_t{timeout_s_[f.list]} * kUsPerSec;
}

void FlowTable::ListAppend(ListId list, uint32_t idx) {
  Flow& f = pool_[idx];
  List& l = lists_[list];
  f.list = list;
  f.lru_stamp = LruStamp(f.last_ts_us);
  f.lru_prev = l.tail;
  f.lru_next = 0;
  if (l.tail != 0) {
    pool_[l.tail].lru_next = idx;
  } else {
    l.head = idx;
  }
  l.tail = idx;
}

void FlowTable::ListRemove(uint32_t idx) {
  Flow& f = pool_[idx];
  assert(f.list < kListCount);
  List& l = lists_[f.list];
  if (f.lru_prev != 0) {
    pool_[f.lru_prev].lru_next = f.lru_next;
  } else {
    l.head = f.lru_next;
  }
  if (f.lru_next != 0) {
    pool_[f.lru_next].lru_prev = f.lru_prev;
  } else {
    l.tail = f.lru_prev;
  }
  f.lru_prev = f.lru_next = 0;
}

FlowTable::Lookup FlowTable::Find(const decode::Packet& p, const FlowKey& key, uint32_t hash,
                                  uint32_t* idx) {
  uint32_t i = buckets_[hash & bucket_mask_];
  while (i != 0 && !(pool_[i].hash == hash && pool_[i].key == key)) i = pool_[i].hash_next;
  *idx = i;
  if (i == 0) return Lookup::kMissing;
  const Flow& f = pool_[i];

  // The expiry pass runs on a budget, so a packet may find its flow already past its timeout.
  // Suricata's lookup ends such a flow (reason timeout) and starts a new one; so do we.
  if (TimedOut(f, p.ts_us)) return Lookup::kTimedOut;

  // TCP port reuse, after Suricata 7 (flow-hash.c FlowGetFlowFromHash -> TcpSessionPacketSsnReuse
  // -> TcpReuseReplace, then MoveToWorkQueue which sets FLOW_END_FLAG_TIMEOUT): a stream starter
  // (SYN without ACK) on a flow whose session is closed (TCP_LAST_ACK and later, i.e. our
  // kClosed) or which never had a session (picked up mid-stream: no SYN opened it) ends the old
  // flow and opens a new one. The old flow's EVE reason is therefore "timeout", not "forced".
  // A SYN from the client carrying the original ISN is a retransmission and stays on the flow.
  if (IsTcp(p) && IsStreamStarter(p.tcp_flags)) {
    const bool session = (f.tcp_seen & kSessionSyn) != 0;
    const bool to_server = PacketDir(f, p) == Dir::kToServer;
    if (!session || (f.state == State::kClosed && !(to_server && p.tcp_seq == f.client_isn))) {
      ++counters_.tcp_reuse;
      return Lookup::kReused;
    }
  }
  return Lookup::kFound;
}

uint32_t FlowTable::Create(const decode::Packet& p, const FlowKey& key, uint32_t hash,
                           bool sender_is_lo) {
  const uint32_t idx = free_head_;
  assert(idx != 0);
  Flow& f = pool_[idx];
  free_head_ = f.hash_next;
  f = Flow{};
  f.key = key;
  f.hash = hash;
  f.client_addr = p.src;
  f.server_addr = p.dst;
  f.client_port = sender_is_lo ? key.port_lo : key.port_hi;
  f.server_port = sender_is_lo ? key.port_hi : key.port_lo;
  f.proto = key.proto;
  f.ip_version = p.ip_version;
  f.flow_id = MakeFlowId(key, p.ts_us);
  f.first_ts_us = f.last_ts_us = p.ts_us;

  // Find walked this chain just now: its first flow is in cache.
  uint32_t& head = buckets_[hash & bucket_mask_];
  f.hash_next = head;
  if (head != 0) pool_[head].hash_prev = idx;
  head = idx;
  ListAppend(ListFor(f), idx);
  ++counters_.created;
  ++counters_.active;
  return idx;
}

Dir FlowTable::Touch(uint32_t idx, const decode::Packet& p, FlowUse use) {
  using namespace decode::tcpflag;
  Flow& f = pool_[idx];
  const Dir dir = PacketDir(f, p);
  const int d = static_cast<int>(dir);
  ++f.pkts[d];
  f.bytes[d] += p.caplen;                              // GET_PKT_LEN: the captured frame
  if (p.ts_us > f.last_ts_us) f.last_ts_us = p.ts_us;  // as Suricata: lastts never goes back
  // An ICMP error does not count as the flow's peer answering (FlowUpdateSeenFlag).
  if (use != FlowUse::kEmbedded) {
    f.tcp_seen |= dir == Dir::kToServer ? kSeenToServer : kSeenToClient;
  }

  if (f.proto == IPPROTO_TCP) {
    if (IsTcp(p)) {
      const uint8_t flags = p.tcp_flags;
      f.tcp_flags[d] |= flags;
      // Suricata (midstream pickup off, its default) only keeps a TCP session for a flow opened
      // by a client SYN; without one the flow stays "new" whatever follows.
      if (f.pkts[0] + f.pkts[1] == 1 && dir == Dir::kToServer && IsStreamStarter(flags)) {
        f.tcp_seen |= kSessionSyn;
        f.client_isn = p.tcp_seq;
      }
      if ((f.tcp_seen & kSessionSyn) != 0 && f.state != State::kClosed) {
        if (flags & kRst) {
          f.state = State::kClosed;  // TCP_CLOSED
        } else {
          if (f.state == State::kNew) {
            if (dir == Dir::kToClient && (flags & (kSyn | kAck)) == (kSyn | kAck)) {
              f.tcp_seen |= kSynAck;  // TCP_SYN_RECV
            } else if (dir == Dir::kToServer && (flags & (kSyn | kAck)) == kAck &&
                       (f.tcp_seen & kSynAck) != 0) {
              f.state = State::kEstablished;  // 3-way handshake complete
            }
          }
          if (flags & kFin) f.tcp_seen |= dir == Dir::kToServer ? kFinToServer : kFinToClient;
          // The second FIN moves Suricata's session to TCP_LAST_ACK/TIME_WAIT: flow closed.
          if ((f.tcp_seen & (kFinToServer | kFinToClient)) == (kFinToServer | kFinToClient)) {
            f.state = State::kClosed;
          }
        }
      }
    }
  } else if (f.state == State::kNew &&
             (f.tcp_seen & (kSeenToServer | kSeenToClient)) == (kSeenToServer | kSeenToClient)) {
    f.state = State::kEstablished;
  }

  // Most recently used goes to the tail of the list of its (possibly new) timeout class; a flow
  // already there (the previous packet was its own, as in a burst of one connection) stays, and
  // its neighbour is not touched; so does one put there less than kLruSlack ago.
  const ListId list = ListFor(f);
  if (f.list == list &&
      (lists_[list].tail == idx ||
       LruStamp(f.last_ts_us) - f.lru_stamp < kLruSlack)) {
    return dir;
  }
  ListRemove(idx);
  ListAppend(list, idx);
  return dir;
}

void FlowTable::Release(uint32_t idx, EndReason reason) {
  Flow& f = pool_[idx];
  if (f.hash_prev != 0) {
    pool_[f.hash_prev].hash_next = f.hash_next;
  } else {
    assert(buckets_[f.hash & bucket_mask_] == idx);
    buckets_[f.hash & bucket_mask_] = f.hash_next;
  }
  if (f.hash_next != 0) pool_[f.hash_next].hash_prev = f.hash_prev;
  // A free slot's hash_prev means nothing (Create resets the whole flow); hash_next links the
  // free list.
  ListRemove(idx);
  f.list = kFreeList;
  f.hash_next = free_head_;
  free_head_ = idx;

  --counters_.active;
  ++counters_.ended;
  if (reason == EndReason::kForced) ++counters_.evicted;
  if (reason == EndReason::kTimeout) ++counters_.timed_out;
}

uint32_t FlowTable::Oldest() const {
  uint32_t best = 0;
  for (int l = 0; l < kListCount; ++l) {
    const uint32_t h = lists_[l].head;
    if (h != 0 && (best == 0 || pool_[h].last_ts_us < pool_[best].last_ts_us)) best = h;
  }
  return best;
}

uint32_t FlowTable::NextExpired(uint64_t now_us) const {
  uint32_t best = 0;
  uint64_t best_deadline = 0;
  for (int l = 0; l < kListCount; ++l) {
    const uint32_t h = lists_[l].head;
    if (h == 0 || !TimedOut(pool_[h], now_us)) continue;
    const uint64_t deadline = Deadline(pool_[h]);
    if (best == 0 || deadline < best_deadline) {
      best = h;
      best_deadline = deadline;
    }
  }
  return best;
}

bool FlowTable::Validate() const {
  const uint32_t nbuckets = bucket_mask_ + 1;
  if ((nbuckets & bucket_mask_) != 0 || nbuckets < capacity_) return false;

  uint64_t free_count = 0;
  for (uint32_t i = free_head_; i != 0; i = pool_[i].hash_next) {
    if (i > capacity_ || pool_[i].list != kFreeList || ++free_count > capacity_) return false;
  }

  uint64_t listed = 0;
  for (int l = 0; l < kListCount; ++l) {
    uint32_t prev = 0;
    for (uint32_t i = lists_[l].head; i != 0; i = pool_[i].lru_next) {
      const Flow& f = pool_[i];
      if (i > capacity_ || f.list != l || f.lru_prev != prev || ++listed > capacity_) return false;
      if (ListFor(f) != l || f.hash != HashKey(f.key) || f.flow_id == 0 ||
          f.flow_id > kFlowIdMask || f.last_ts_us < f.first_ts_us) {
        return false;
      }
      uint32_t j = buckets_[f.hash & bucket_mask_];
      while (j != 0 && j != i) j = pool_[j].hash_next;
      if (j != i) return false;
      prev = i;
    }
    if (lists_[l].tail != prev) return false;
  }

  uint64_t chained = 0;
  for (uint32_t b = 0; b < nbuckets; ++b) {
    uint32_t prev = 0;
    for (uint32_t i = buckets_[b]; i != 0; i = pool_[i].hash_next) {
      if (i > capacity_ || pool_[i].list >= kListCount || (pool_[i].hash & bucket_mask_) != b ||
          pool_[i].hash_prev != prev || ++chained > capacity_) {
        return false;
      }
      prev = i;
    }
  }

  return listed == counters_.active && chained == listed && free_count + listed == capacity_ &&
         counters_.created - counters_.ended == counters_.active;
}

}  // namespace fs::flow
