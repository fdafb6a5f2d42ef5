// Events a worker hands to the control plane (alerts, flow ends) through its event ring.
// Plain fixed-size data, copied by value: the control plane never touches worker memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "dataplane/app/dns.h"
#include "dataplane/common/ip_addr.h"
#include "dataplane/flow/flow_table.h"

namespace fs::worker {

// Snapshot of a flow as EVE prints it (in alert.flow and in flow records).
struct FlowSnapshot {
  uint64_t flow_id = 0;
  IpAddr client_addr, server_addr;
  uint16_t client_port = 0, server_port = 0;
  uint16_t vlan[decode::kMaxVlans] = {};
  uint8_t proto = 0;
  uint8_t ip_version = 0;
  flow::State state = flow::State::kNew;
  flow::EndReason reason = flow::EndReason::kShutdown;  // flow records only
  bool alerted = false;
  uint8_t app_proto = 0;  // patterns::AppProto detected on the flow (EVE "app_proto"), 0 = none
  uint8_t tcp_flags[2] = {0, 0};
  uint64_t first_ts_us = 0, last_ts_us = 0;
  uint64_t pkts[2] = {0, 0};
  uint64_t bytes[2] = {0, 0};

  static FlowSnapshot Of(const flow::Flow& f);
};

struct AlertEvent {
  uint64_t ts_us = 0;       // the packet's timestamp
  uint32_t rule_index = 0;  // index into the PatternSet that produced it
  uint32_t sid = 0, gid = 1, rev = 0;
  // Indicator-list alerts: the list's index (kNoIndicator for rule alerts) and which of the
  // packet's addresses is listed (bit 0 source, bit 1 destination).
  static constexpr uint8_t kNoIndicator = 0xff;
  uint8_t indicator = kNoIndicator;
  uint8_t indicator_side = 0;
  // Domain-list alerts (indicator_side 0): the name that matched, for alert.metadata. The last
  // kNameCap bytes when it is longer (the tail is what a suffix entry matches; name_len keeps the
  // full length). A fixed array because events are copied by value through the ring; 64 bytes
  // hold almost every real name and keep the event small (every event is as large as this one).
  static constexpr size_t kNameCap = 64;
  // What the name is: 0 none, 1 a DNS query name, 2 an HTTP Host (http.host), 3 a TLS SNI.
  static constexpr uint8_t kNameDnsQuery = 1, kNameHttpHost = 2, kNameTlsSni = 3;
  uint8_t name_kind = 0;
  uint16_t name_len = 0;
  char name[kNameCap] = {};
  std::string_view name_tail() const { return {name, name_len < kNameCap ? name_len : kNameCap}; }
  uint64_t pattern_generation = 0;
  IpAddr src, dst;  // the packet's addresses
  uint16_t sport = 0, dport = 0;
  flow::Dir dir = flow::Dir::kToServer;
  uint16_t payload_len = 0;
  FlowSnapshot flow;
};

// Why a worker stopped inspecting a flow (Flow::bypassed).
enum class BypassReason : uint8_t { kDepth, kPass };

// A flow the worker bypassed, for the NIC offload (dataplane/offload): only flows seen on the
// outer frame (not tunnelled) and untagged, whose 5-tuple a NIC rule can match.
struct BypassEvent {
  FlowSnapshot flow;
  uint16_t port = 0;  // the DPDK port its packet arrived on
  BypassReason reason = BypassReason::kDepth;
};

// A parsed DNS message for an EVE "dns" record. The names live in one fixed pool (queries and
// answers often repeat a name, which is stored once), so the event stays around 2 KB: these go
// through their own ring (Worker::app_events), not the alert/flow ring, whose slots stay small.
// What does not fit (more queries or answers, or names past the pool) is left out and counted
// in *_dropped.
struct DnsRecordEvent {
  static constexpr size_t kMaxQueries = 4;
  static constexpr size_t kMaxAnswers = 8;
  static constexpr size_t kNamePool = 1536;
  struct NameRef {
    uint16_t offset = 0;
    uint16_t len = 0;
  };
  struct Query {
    NameRef name;
    uint16_t type = 0;
  };
  struct Answer {
    NameRef name;
    uint16_t type = 0;
    uint32_t ttl = 0;
    uint8_t rdata_kind = 0;  // 0: none (rdata not decoded), 1: address, 2: name, 3: bytes
    IpAddr addr;
    NameRef target;  // the name (2) or the bytes (3: a TXT string, NULL data)
  };

  uint64_t ts_us = 0;
  uint64_t tx_id = 0;  // per flow and direction: the how-manieth message (Suricata's tx_id)
  FlowSnapshot flow;   // tuple and flow_id (client = src, as Suricata 7 prints dns records)
  bool response = false;
  uint16_t id = 0;
  uint16_t raw_flags = 0;
  uint8_t query_count = 0, answer_count = 0;
  uint8_t queries_dropped = 0, answers_dropped = 0, names_dropped = 0;
  Query queries[kMaxQueries];
  Answer answers[kMaxAnswers];
  uint16_t pool_used = 0;
  char pool[kNamePool] = {};

  std::string_view Name(const NameRef& r) const { return {pool + r.offset, r.len}; }
  // Stores s (reusing an identical name already stored); false when the pool is full.
  bool AddName(std::string_view s, NameRef* out);
};

// One HTTP transaction for an EVE "http" record (Suricata 7's layout): written when its response
// completes, or at flow end for a request that got none. The strings share one fixed pool, so the
// event stays about as large as a DnsRecordEvent (the two share the app-record ring); a value that
// does not fit is cut (truncated counts them).
struct HttpRecordEvent {
  static constexpr size_t kPool = 1664;
  using Ref = DnsRecordEvent::NameRef;

  uint64_t ts_us = 0;
  uint64_t tx_id = 0;      // per flow: the how-manieth request (Suricata's tx_id)
  FlowSnapshot flow;       // client = src, as Suricata prints http records
  uint64_t length = 0;     // response body bytes (after transfer decoding)
  uint16_t status = 0;     // 0: no response (or no valid status)
  uint16_t http_port = 0;  // port in the Host header, 0 when none
  bool has_response = false;
  uint8_t truncated = 0;
  Ref hostname, url, user_agent, content_type, referer, method, protocol, redirect;
  uint16_t pool_used = 0;
  char pool[kPool] = {};

  std::string_view Get(const Ref& r) const { return {pool + r.offset, r.len}; }
  // Stores s, cut to what the pool still holds.
  void Add(std::string_view s, Ref* out);
};

// One TLS handshake for an EVE "tls" record (Suricata 7's extended layout), written once per flow
// when the handshake ends (both directions encrypted) or at flow end. Strings share one pool; a
// value that does not fit whole is left out (a cut hash or JA3 string would mislead) and counted
// in truncated. The JA3/JA3S strings go in last: they are the long ones.
struct TlsRecordEvent {
  static constexpr size_t kPool = 1792;
  using Ref = DnsRecordEvent::NameRef;

  uint64_t ts_us = 0;
  FlowSnapshot flow;     // client = src
  uint16_t version = 0;  // negotiated (ServerHello), else the ClientHello's highest; 0 = none
  uint8_t truncated = 0;
  Ref subject, issuer, serial, fingerprint, sni, not_before, not_after, ja3_hash, ja3, ja3s_hash,
      ja3s;
  uint16_t pool_used = 0;
  char pool[kPool] = {};

  std::string_view Get(const Ref& r) const { return {pool + r.offset, r.len}; }
  // Stores s whole, or leaves it out (returns false, counted) when the pool cannot hold it.
  bool Add(std::string_view s, Ref* out);
};

// One SMB message for an EVE "smb" record (Suricata 7's layout; see Worker::OnSmbRecord for which
// messages are written). Strings share one pool; a value that does not fit is cut and counted.
struct SmbRecordEvent {
  static constexpr size_t kPool = 1536;
  static constexpr size_t kMaxInterfaces = 8;  // app::kSmbMaxInterfaces
  using Ref = DnsRecordEvent::NameRef;

  uint64_t ts_us = 0;
  FlowSnapshot flow;  // client = src
  uint64_t id = 0;    // per flow: the how-manieth record (Suricata's smb.id)
  uint64_t session_id = 0;
  uint32_t tree_id = 0;
  uint32_t status = 0;
  uint32_t disposition = 0;
  int32_t dcerpc_opnum = -1;
  uint32_t dcerpc_call_id = 0;
  uint16_t command = 0;
  uint16_t dialect = 0;
  uint8_t version = 2;
  bool response = false;  // status is meaningful
  bool is_create = false;
  uint8_t share_type = 0;  // TREE_CONNECT response
  bool is_pipe = false;
  bool is_rename = false;
  bool is_delete = false;
  bool is_dcerpc = false;
  bool is_disposition = false;  // SET_INFO FileDisposition(Ex)Information
  uint8_t dcerpc_ptype = 0;
  uint8_t interface_count = 0;
  uint8_t truncated = 0;
  Ref share, filename, rename_from, rename_to, user, domain, host, dcerpc_interface;
  Ref interfaces[kMaxInterfaces];
  uint16_t interface_versions[kMaxInterfaces] = {};
  uint16_t pool_used = 0;
  char pool[kPool] = {};

  std::string_view Get(const Ref& r) const { return {pool + r.offset, r.len}; }
  // Stores s, cut to what the pool still holds.
  void Add(std::string_view s, Ref* out);
};

// An element of the app-record ring (Worker::app_events): one record of any kind. A slot is as
// large as the largest kind (about 2 KB; asserted below, documented in docs/app-layer.md).
struct AppRecordEvent {
  enum class Kind : uint8_t { kDns, kHttp, kTls, kSmb } kind = Kind::kDns;
  union {
    DnsRecordEvent dns;
    HttpRecordEvent http;
    TlsRecordEvent tls;
    SmbRecordEvent smb;
  };
  AppRecordEvent() : dns() {}
};
static_assert(std::is_trivially_copyable_v<AppRecordEvent>);
static_assert(sizeof(AppRecordEvent) <= 2176, "app-record ring slots: keep them about 2 KB");

struct Event {
  enum class Kind : uint8_t { kAlert, kFlowEnd, kBypass } kind = Kind::kAlert;
  uint16_t worker = 0;
  union {
    AlertEvent alert;
    FlowSnapshot flow_end;
    BypassEvent bypass;
  };
  Event() : alert() {}
};

}  // namespace fs::worker
