#include "dataplane/worker/worker.h"

#include <fmt/format.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>

#include "dataplane/app/dns.h"
#include "dataplane/app/session.h"
#include "dataplane/port/capture_reader.h"
#include "dataplane/reassembly/reassembly.h"
#include "dataplane/scan/domain_match.h"
#include "dataplane/scan/ip_match.h"
#include "dataplane/scan/scanner.h"
#include "dataplane/scan/stream_pool.h"
#include "patterns/pattern_set.h"

namespace fs::worker {

namespace {

constexpr uint32_t kLinearBytes = 65536 + 128;
constexpr uint32_t kExpireBudget = 256;
constexpr uint16_t kDnsPort = 53;
constexpr size_t kAppScratchBytes = 8192;

// Flow::app_state.
enum AppState : uint8_t {
  kAppDetecting = 0,  // no decision yet (or no TCP payload yet)
  kAppActive,         // detected, parsed
  kAppDone,           // detected, nothing (more) to parse: no parser for it yet, or released
  kAppFailed,         // detection failed: no app layer for this flow
  kAppNoSession,      // the session pool was empty at the first payload
};

using patterns::AppProto;
using patterns::Buffer;

uint64_t WallClockUs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
}

MbufMeta* Meta(rte_mbuf* m) { return static_cast<MbufMeta*>(rte_mbuf_to_priv(m)); }

// A frame the worker is done with. A NIC's or the replay's frame is one direct segment with one
// reference: it goes straight back to its pool's cache, inline (rte_pktmbuf_free, a call, was 8%
// of a 64-byte frame). Chains, attached and shared frames take DPDK's general free.
inline void FreeFrame(rte_mbuf* m) {
  if (m->nb_segs == 1 && m->next == nullptr && RTE_MBUF_DIRECT(m) &&
      rte_mbuf_refcnt_read(m) == 1) {
    rte_mbuf_raw_free(m);
  } else {
    rte_pktmbuf_free(m);
  }
}

// layers[0] = first, then the packets tunnelled inside it, decoded into storage (at least
// kMaxTunnelDepth packets); returns the layer count (>= 1).
uint8_t DecodeInnerChain(decode::Packet* first, decode::Packet* storage, decode::Packet** layers) {
  uint8_t n = 1;
  layers[0] = first;
  while (n <= decode::kMaxTunnelDepth && layers[n - 1]->inner_kind != decode::InnerKind::kNone) {
    decode::Packet* inner = &storage[n - 1];
    decode::DecodeInner(*layers[n - 1], inner);
    if (inner->depth == 0) break;
    layers[n++] = inner;
  }
  return n;
}

}  // namespace

const char* DropReasonName(DropReason r) {
  switch (r) {
#define FS_X(id, name) \
  case DropReason::id: \
    return name;
    FS_DROP_REASONS(FS_X)
#undef FS_X
    case DropReason::kCount:
      break;
  }
  return "unknown";
}

Worker::Worker(const WorkerConfig& cfg, Shared* shared) : cfg_(cfg), shared_(shared) {}

Worker::~Worker() {
  delete offered_scanner_.exchange(nullptr);
  delete retired_scanner_.exchange(nullptr);
  if (inbox_ != nullptr) {
    // Return any mbuf still queued (only after an aborted start-up).
    rte_mbuf* m;
    while (rte_ring_sc_dequeue(inbox_, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
    rte_ring_free(inbox_);
  }
}

bool Worker::distributes() const {
  return std::any_of(sources_.begin(), sources_.end(),
                     [](const RxSource& s) { return s.distribute; });
}

scan::StreamPoolSize Worker::StreamSizeFor(const patterns::PatternSet* set) {
  if (set == nullptr) return {};
  const patterns::CompileStats& st = set->stats();
  return scan::PoolSizeFor(st.stream_state_bytes,
                           st.stream_port_groups[0] + st.stream_port_groups[1] != 0);
}

uint32_t Worker::StreamContexts() const {
  return cfg_.stream_contexts != 0 ? cfg_.stream_contexts : cfg_.flow_capacity;
}

size_t Worker::ReadyBytes(const patterns::PatternSet* set) const {
  if (!cfg_.stream_enabled) return 0;
  const scan::StreamPoolSize size = StreamSizeFor(set);
  size_t bytes = scan::StreamPool::ReadyBytes(cfg_.stream_prealloc, StreamContexts(),
                                              size.stream_bytes, size.streams);
  if (cfg_.app_enabled && cfg_.app_sessions > 0) {
    bytes += app::AppSessionPool::ReadyBytes(std::min(cfg_.app_prealloc, cfg_.app_sessions),
                                             cfg_.http, cfg_.smb);
  }
  return bytes;
}

bool Worker::Init(const patterns::PatternSet* set, std::string* error) {
  const std::string name = fmt::format("fs_inbox{}", cfg_.index);
  // Multi-producer: any distributing worker may feed it; one consumer: this worker.
  inbox_ = rte_ring_create(name.c_str(), cfg_.inbox_size, rte_socket_id(), RING_F_SC_DEQ);
  if (inbox_ == nullptr) {
    *error = fmt::format("worker {}: cannot create its {}-slot packet ring", cfg_.index,
                         cfg_.inbox_size);
    return false;
  }
  flows_ = std::make_unique<flow::FlowTable>(cfg_.flow_capacity, cfg_.timeouts);
  scanner_ = std::make_unique<scan::Scanner>();
  rule_state_ = std::make_unique<scan::RuleState>(cfg_.threshold_capacity);
  set_ = set;
  AdoptIpMatcher(shared_->ip_matcher.load(std::memory_order_acquire));
  domain_matcher_ = shared_->domain_matcher.load(std::memory_order_acquire);
  if (set != nullptr) quiescent_generation_.store(set->generation(), std::memory_order_release);
  if (set != nullptr && !scanner_->Prepare(*set)) {
    *error = fmt::format("worker {}: cannot allocate Hyperscan scratch", cfg_.index);
    return false;
  }
  if (cfg_.stream_enabled) {
    reassembler_ = std::make_unique<reassembly::Reassembler>(cfg_.stream);
    const scan::StreamPoolSize size = StreamSizeFor(set);
    stream_pool_ =
        std::make_unique<scan::StreamPool>(StreamContexts(), size.stream_bytes, size.streams);
    stream_pool_->Prealloc(cfg_.stream_prealloc);
  }
  events_ = std::make_unique<SpscRing<Event>>(cfg_.event_ring_size);
  app_events_ = std::make_unique<SpscRing<AppRecordEvent>>(cfg_.app_ring_size);
  dns_msg_ = std::make_unique<app::DnsMessage>();
  app_record_ = std::make_unique<AppRecordEvent>();
  if (cfg_.app_enabled && reassembler_ != nullptr && cfg_.app_sessions > 0) {
    app_hooks_ = std::make_unique<app::AppHooks>();
    app_hooks_->ctx = this;
    app_hooks_->http_request = [](void* c, app::AppSession&, app::HttpRequestRecord& r) {
      static_cast<Worker*>(c)->OnHttpRequest(r);
    };
    app_hooks_->http_response = [](void* c, app::AppSession&, const app::HttpRequestRecord* r,
                                   app::HttpResponseRecord& resp) {
      static_cast<Worker*>(c)->OnHttpResponse(r, resp);
    };
    app_hooks_->http_unanswered = [](void* c, app::AppSession&, const app::HttpRequestRecord& r) {
      static_cast<Worker*>(c)->OnHttpUnanswered(r);
    };
    app_hooks_->http_event = [](void* c, app::HttpEvent e) {
      ++static_cast<Worker*>(c)->stats_.http_events[static_cast<int>(e)];
    };
    app_hooks_->smb_record = [](void* c, app::AppSession& s, const app::SmbRecord& r) {
      static_cast<Worker*>(c)->OnSmbRecord(s, r);
    };
    app_hooks_->smb_event = [](void* c, app::SmbEvent e) {
      ++static_cast<Worker*>(c)->stats_.smb_events[static_cast<int>(e)];
    };
    app_pool_ = std::make_unique<app::AppSessionPool>(cfg_.app_sessions, cfg_.http, *app_hooks_);
    app_pool_->Prealloc(cfg_.app_prealloc, cfg_.smb);
    app_scratch_ = std::make_unique<char[]>(kAppScratchBytes);
  }
  linear_ = std::make_unique<uint8_t[]>(kLinearBytes);
  rebuilt_ = std::make_unique<uint8_t[]>(kLinearBytes);
  defrag_ = std::make_unique<defrag::Defragmenter>(cfg_.defrag);
  Publish();
  return true;
}

uint64_t Worker::Timestamp(const rte_mbuf* m, uint64_t fallback_us) const {
  if (shared_->ts_dynfield_offset >= 0 && (m->ol_flags & shared_->ts_dynflag)) {
    return *RTE_MBUF_DYNFIELD(m, shared_->ts_dynfield_offset, const rte_mbuf_timestamp_t*);
  }
  return fallback_us;
}

bool Worker::DecodeMbuf(rte_mbuf* m, decode::Packet* p, uint64_t now_us) {
  const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
  uint32_t len = rte_pktmbuf_data_len(m);
  if (m->nb_segs > 1) {
    // Jumbo frames arrive chained; decoding wants contiguous bytes.
    if (rte_pktmbuf_pkt_len(m) > kLinearBytes) return false;
    data =
        static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, rte_pktmbuf_pkt_len(m), linear_.get()));
    len = rte_pktmbuf_pkt_len(m);
  }
  decode::Decode(data, len, len, Timestamp(m, now_us), p);
  return true;
}

void Worker::Emit(const Event& e) {
  if (shared_->offline) {
    // Reading a capture there is no line rate to keep: wait for the writer rather than lose a
    // record, so that results are complete and identical for any worker count.
    while (!events_->TryPush(e)) rte_pause();
    return;
  }
  if (!events_->TryPush(e)) ++stats_.events_dropped;
}

// Receives what TCP reassembly delivers for one flow and feeds the stream scanner. At flow end
// (ending), stream matches are reported at once, against a packet made from the flow.
struct Worker::StreamSink {
  Worker* w;
  const patterns::PatternSet* set;
  flow::Flow* f;
  bool ending = false;
  const decode::Packet* pkt = nullptr;  // the packet being reassembled (none at flow end)
  int pkt_dir = -1;                     // its direction
  bool app = true;                      // feed the app layer (not when a pass drops the stream)

  // A packet of direction dir for what the stream delivers: the current packet when it goes that
  // way, otherwise one made from the flow (addresses, ports, the packet's or the flow's time).
  decode::Packet PacketFor(int dir) const {
    if (pkt != nullptr && pkt_dir == dir) return *pkt;
    decode::Packet p;
    p.layer = decode::Layer::kL4;
    p.ip_version = f->ip_version;
    p.proto = f->proto;
    p.ts_us = pkt != nullptr ? pkt->ts_us : f->last_ts_us;
    const bool to_server = dir == 0;
    p.src = to_server ? f->client_addr : f->server_addr;
    p.dst = to_server ? f->server_addr : f->client_addr;
    p.sport = to_server ? f->client_port : f->server_port;
    p.dport = to_server ? f->server_port : f->client_port;
    for (int i = 0; i < decode::kMaxVlans; ++i) p.vlan_id[i] = f->key.vlan[i];
    return p;
  }

  scan::StreamCtx* Ctx(bool create) {
    if (f->stream_slot == 0) {
      if (!create || w->stream_pool_ == nullptr) return nullptr;
      // The server port picks the port group its streams scan besides the direction's database.
      f->stream_slot = w->stream_pool_->Acquire(f->proto, f->server_port);
      if (f->stream_slot == 0) return nullptr;
    }
    return &w->stream_pool_->At(f->stream_slot);
  }
  void Data(int dir, const uint8_t* data, uint32_t len, uint32_t /*stream_offset*/) {
    if (app) w->AppData(*this, dir, data, len);
    if (set == nullptr || set->stats().stream_rules == 0 || f->no_payload_inspection) return;
    scan::StreamCtx* ctx = Ctx(true);
    if (ctx == nullptr) return;
    // The flow's address class (both directions have the same: home to home or not).
    const int addr_class =
        set->AddrClassOf(patterns::ToU128(f->client_addr), patterns::ToU128(f->server_addr));
    w->scanner_->StreamData(*set, *ctx, dir, addr_class, data, len);
    if (ending) Report(dir);
  }
  void Gap(int dir, uint32_t /*len*/) {
    if (app) w->AppGap(*f, dir);
    if (scan::StreamCtx* ctx = Ctx(false)) w->scanner_->StreamGap(*ctx, dir);
  }
  void DepthReached(int dir) {
    scan::StreamCtx* ctx = Ctx(false);
    if (ctx == nullptr) return;
    w->scanner_->StreamClose(set, *ctx, dir, true);
    if (ending) Report(dir);
  }
  // Flow end: stream matches have no packet of their own; they are attributed to a packet of
  // their direction made from the flow (its last timestamp, no payload).
  void Report(int dir) {
    scan::StreamCtx* ctx = Ctx(false);
    if (ctx == nullptr || set == nullptr || !w->scanner_->stream_pending()) return;
    decode::Packet p;
    p.layer = decode::Layer::kL4;
    p.ip_version = f->ip_version;
    p.proto = f->proto;
    p.ts_us = f->last_ts_us;
    const bool to_server = dir == 0;
    p.src = to_server ? f->client_addr : f->server_addr;
    p.dst = to_server ? f->server_addr : f->client_addr;
    p.sport = to_server ? f->client_port : f->server_port;
    p.dport = to_server ? f->server_port : f->client_port;
    for (int i = 0; i < decode::kMaxVlans; ++i) p.vlan_id[i] = f->key.vlan[i];
    const auto fd = static_cast<flow::Dir>(dir);
    w->scanner_->ReportStream(*set, p, *f, fd, *w->rule_state_, *ctx,
                              [&](uint32_t r) { w->EmitRuleAlert(*set, r, p, f, fd); });
  }
};

bool Worker::Reassemble(const patterns::PatternSet& set, const decode::Packet& p, flow::Flow& f,
                        flow::Dir dir, bool stream_scan, bool* in_stream) {
  StreamSink sink{this, &set, &f};
  const int d = static_cast<int>(dir);
  sink.pkt = &p;
  sink.pkt_dir = d;
  const reassembly::SegmentResult res = reassembler_->OnPacket(f.streams, d, p, sink);
  // Both directions over (FIN reached in order, RST, or the depth): no more stream bytes come, so
  // the app session is finished now rather than at flow end (the flow itself stays in the table
  // for its closed timeout); its slot serves the next connection.
  if (f.app_slot != 0 && reassembly::StreamsClosed(f.streams)) {
    ++stats_.app_sessions_closed;
    ReleaseApp(sink, /*report=*/true);
  }
  // Reassembly for the app layer alone leaves packet inspection as it was without it.
  if (!stream_scan) return true;
  if (cfg_.stream_bypass && (f.streams.dir[0].flags & reassembly::kDepth) &&
      (f.streams.dir[1].flags & reassembly::kDepth)) {
    Bypass(f, p, BypassReason::kDepth);
  }
  // As Suricata: a segment the stream took (new bytes) is inspected through the stream; a packet
  // the stream did not take (retransmission, not tracked, past the depth) is inspected on its
  // own. The sensor also inspects a taken packet on its own (offsets and depths of rules then
  // count from the packet start, as Suricata's inspection windows mostly do), unless the stream
  // kept other bytes than the packet carries for some of its range (an overlap with different
  // data: what the receiver sees is the stream).
  if (res.verdict == reassembly::Verdict::kAdded && res.overlap_different) {
    ++stats_.stream_only_packets;
    return false;
  }
  if (res.verdict == reassembly::Verdict::kAdded && !f.bypassed && !f.no_payload_inspection) {
    // Bytes buffered ahead of a hole have no stream context yet: take it now, so that a full
    // pool leaves the packet to its own inspection rather than to none.
    if (const scan::StreamCtx* ctx = sink.Ctx(true)) *in_stream = !ctx->AnyFailed(d);
  }
  return true;
}

void Worker::ReleaseStreams(flow::Flow& f, bool report) {
  if (reassembler_ == nullptr || f.proto != patterns::kIpProtoTcp) return;
  const patterns::PatternSet* set = report ? set_ : nullptr;
  // Flow-end reports come from no packet scan: forget the last packet's matches first.
  scanner_->DropPending();
  StreamSink sink{this, set, &f, report};
  sink.app = report;
  reassembler_->Release(f.streams, /*flush=*/report && !f.bypassed, sink);
  ReleaseApp(sink, report);
  pending_pass_ = false;  // a flow that ends (or is passed already) has nothing left to pass
  if (!report) return StopStreamScan(f);
  if (f.stream_slot == 0) return;
  scan::StreamCtx& ctx = stream_pool_->At(f.stream_slot);
  for (int d = 0; d < 2; ++d) {
    scanner_->StreamClose(set, ctx, d, /*flush=*/true);
    sink.Report(d);
  }
  scanner_->DropPending();
  stream_pool_->Release(f.stream_slot);
  f.stream_slot = 0;
}

void Worker::StopStreamScan(flow::Flow& f) {
  if (f.stream_slot == 0) return;
  // As Suricata's raw reassembly once disabled (and a flow passed by a rule): what the streams
  // hold is not inspected, nor their end-of-data matches reported.
  scan::StreamCtx& ctx = stream_pool_->At(f.stream_slot);
  for (int d = 0; d < 2; ++d) scanner_->StreamClose(nullptr, ctx, d, /*flush=*/false);
  scanner_->DropPending();
  stream_pool_->Release(f.stream_slot);
  f.stream_slot = 0;
}

void Worker::Bypass(flow::Flow& f, const decode::Packet& p, BypassReason why) {
  if (f.bypassed) return;
  f.bypassed = true;
  ++stats_.bypassed_flows;
  if (why == BypassReason::kPass) {
    ++stats_.passed_flows;
    // Nothing more of this flow is inspected or reported: drop what the stream holds without
    // delivering it, and close its Hyperscan streams without their end-of-data matches.
    ReleaseStreams(f, /*report=*/false);
  }
  if (!cfg_.bypass_offload || p.depth != 0 || f.key.vlan[0] != 0) return;
  if (f.proto != patterns::kIpProtoTcp && f.proto != patterns::kIpProtoUdp) return;
  Event e;
  e.kind = Event::Kind::kBypass;
  e.worker = cfg_.index;
  e.bypass = BypassEvent{};
  e.bypass.flow = FlowSnapshot::Of(f);
  e.bypass.port = cur_port_;
  e.bypass.reason = why;
  Emit(e);
}

void Worker::EmitFlowEnd(flow::Flow& f, flow::EndReason r) {
  ReleaseStreams(f, /*report=*/true);
  Event e;
  e.kind = Event::Kind::kFlowEnd;
  e.worker = cfg_.index;
  e.flow_end = FlowSnapshot::Of(f);
  e.flow_end.reason = r;
  Emit(e);
}

void Worker::HandlePacket(decode::Packet& p, bool scan_payload,
                          const flow::FlowTable::Prepared* prep) {
  if (p.depth == 0 && !p.reassembled) {
    ++stats_.rx_packets;
    stats_.rx_bytes += p.caplen;
    if (p.ts_us > stats_.last_ts_us) stats_.last_ts_us = p.ts_us;
  }
  stats_.decode.Count(p);
  if ((prep != nullptr ? prep->use : flow::UseOf(p)) == flow::FlowUse::kNone) {
    if (p.layer == decode::Layer::kL3Fragment || p.layer == decode::Layer::kL3Other) {
      MatchIndicators(p, nullptr, flow::Dir::kToServer);
    }
    if (p.layer == decode::Layer::kL3Fragment) HandleFragment(p);
    return;
  }

  auto on_end = [this](flow::Flow& f, flow::EndReason why) { EmitFlowEnd(f, why); };
  auto r = prep != nullptr ? flows_->Update(p, *prep, on_end) : flows_->Update(p, on_end);
  if (r.flow == nullptr) return;
  flow::Flow* f = r.flow;
#if FS_HAVE_CONDITIONS
  // Flow history for flow:established (and flowbits) is kept on every packet of the flow.
  if (p.proto == f->proto) scan::ObservePacket(p, *f);
#endif
  MatchIndicators(p, f, r.dir);
  if (!scan_payload) return;
  if (p.proto == patterns::kIpProtoUdp && p.layer == decode::Layer::kL4 && p.payload_len > 0 &&
      (p.sport == kDnsPort || p.dport == kDnsPort) && !f->bypassed) {
    InspectDns(p, *f, r.dir);
    if (pending_pass_) {
      pending_pass_ = false;
      Bypass(*f, p, BypassReason::kPass);
      return;
    }
  }

  const patterns::PatternSet* set = set_;
  if (set == nullptr) return;
  if (f->bypassed) {
    ++stats_.bypassed_packets;
    return;
  }
  bool own_payload = true;
  bool in_stream = false;
  const bool stream_scan = set->stats().stream_rules > 0;
  // A TLS flow past its handshake (encryption-handling default) is neither reassembled nor
  // scanned any more: its app session is done and payload rules skip it.
  if (reassembler_ != nullptr && p.proto == patterns::kIpProtoTcp &&
      f->proto == patterns::kIpProtoTcp && p.layer == decode::Layer::kL4 &&
      (stream_scan || app_pool_ != nullptr) && !f->no_payload_inspection) {
    own_payload = Reassemble(*set, p, *f, r.dir, stream_scan, &in_stream);
    if (f->no_payload_inspection) StopStreamScan(*f);
  }
  if (f->no_payload_inspection) own_payload = false;
  if (pending_pass_) {
    // An app-layer pass rule matched in what this packet completed.
    pending_pass_ = false;
    Bypass(*f, p, BypassReason::kPass);
    return;
  }
  // A set without rules (flow records and app-layer records only) has nothing to evaluate.
  if (set->size() == 0) return;
  scan::StreamCtx* ctx = f->stream_slot != 0 ? &stream_pool_->At(f->stream_slot) : nullptr;
  auto alert = [&](uint32_t rule_index) {
    if (ctx != nullptr) ctx->NoteAlerted(rule_index);
    EmitRuleAlert(*set, rule_index, p, f, r.dir);
  };
  if (own_payload) {
    stats_.payload_bytes_scanned += p.payload_len;
    scanner_->ScanPacket(*set, p, *f, r.dir, *rule_state_, alert, in_stream);
  } else {
    // Header-only rules still see the packet; its payload is not what the receiver got.
    decode::Packet headers = p;
    headers.payload_len = 0;
    scanner_->ScanPacket(*set, headers, *f, r.dir, *rule_state_, alert);
  }
  if (scanner_->pass_flow()) {
    // A pass for the whole flow (Suricata 7): its stream matches of this packet are passed too.
    Bypass(*f, p, BypassReason::kPass);
    return;
  }
  if (ctx != nullptr && scanner_->stream_pending()) {
    scanner_->ReportStream(*set, p, *f, r.dir, *rule_state_, *ctx, [&](uint32_t rule_index) {
      EmitRuleAlert(*set, rule_index, p, f, r.dir);
    });
  }
}

void Worker::EmitRuleAlert(const patterns::PatternSet& set, uint32_t rule_index,
                           const decode::Packet& p, flow::Flow* f, flow::Dir dir) {
  const auto& rule = set.rules()[rule_index];
  Event e = AlertFor(p, f, dir);
  AlertEvent& a = e.alert;
  a.rule_index = rule_index;
  a.sid = rule.sid;
  a.gid = rule.gid;
  a.rev = rule.rev;
  a.pattern_generation = set.generation();
  Emit(e);
}

Event Worker::AlertFor(const decode::Packet& p, flow::Flow* f, flow::Dir dir) {
  ++stats_.alerts;
  Event e;
  e.kind = Event::Kind::kAlert;
  e.worker = cfg_.index;
  AlertEvent& a = e.alert;
  a.ts_us = p.ts_us;
  a.src = p.src;
  a.dst = p.dst;
  a.sport = p.sport;
  a.dport = p.dport;
  a.dir = dir;
  a.payload_len = p.payload_len;
  if (f != nullptr) {
    f->alerted = true;
    a.flow = FlowSnapshot::Of(*f);
  } else {
    a.flow.proto = p.proto;
    a.flow.ip_version = p.ip_version;
    for (int i = 0; i < decode::kMaxVlans; ++i) a.flow.vlan[i] = p.vlan_id[i];
  }
  return e;
}

bool Worker::SyncIndicatorEpoch(flow::Flow& f) {
  if (f.indicator_generation == indicator_epoch_) return true;
  if (f.indicator_generation != 0) f.indicator_alerted = 0;
  f.indicator_generation = indicator_epoch_;
  return false;
}

void Worker::AdoptIpMatcher(const scan::IpMatcher* m) {
  ip_matcher_ = m;
  ip_lists_ = m != nullptr && m->lists() > 0;
}

void Worker::MatchIpLists(const decode::Packet& p, flow::Flow* f, flow::Dir dir) {
  const scan::IpMatcher* m = ip_matcher_;
  uint64_t fresh;
  scan::IpMatch hit;
  if (f != nullptr) {
    // A flow's addresses never change: one lookup per flow (and per indicator generation).
    if (SyncIndicatorEpoch(*f)) return;
    hit = m->Lookup(p.src, p.dst);
    fresh = hit.any() & ~f->indicator_alerted;
    f->indicator_alerted |= fresh;
  } else {
    hit = m->Lookup(p.src, p.dst);
    fresh = hit.any();
  }
  while (fresh != 0) {
    const int list = __builtin_ctzll(fresh);
    fresh &= fresh - 1;
    Event e = AlertFor(p, f, dir);
    AlertEvent& a = e.alert;
    a.indicator = static_cast<uint8_t>(list);
    a.indicator_side =
        static_cast<uint8_t>(((hit.src >> list) & 1) | (((hit.dst >> list) & 1) << 1));
    // The lists are those of the set adopted with the matcher: the output finds them by it.
    a.pattern_generation = set_ != nullptr ? set_->generation() : 0;
    Emit(e);
  }
}

void Worker::InspectDns(const decode::Packet& p, flow::Flow& f, flow::Dir dir) {
  InspectDnsMessage(p, f, dir, p.payload(), p.payload_len);
}

void Worker::InspectDnsMessage(const decode::Packet& p, flow::Flow& f, flow::Dir dir,
                               const uint8_t* data, size_t len) {
  app::DnsMessage& msg = *dns_msg_;
  const app::DnsDirection d =
      dir == flow::Dir::kToServer ? app::DnsDirection::kToServer : app::DnsDirection::kToClient;
  const bool whole = app::ParseDns(data, len, d, &msg);
  for (uint32_t ev = msg.events; ev != 0; ev &= ev - 1) ++stats_.dns_events[__builtin_ctz(ev)];
  if (!whole) return;  // not even a header: counted as malformed_data, nothing to report
  ++stats_.dns_messages;
  if (f.proto == patterns::kIpProtoTcp) ++stats_.dns_tcp_messages;
  if (f.app_proto == 0) {
    // UDP: the first message that parses makes it a DNS flow (TCP flows are detected earlier).
    f.app_proto = static_cast<uint8_t>(AppProto::kDns);
    ++stats_.app_detected[static_cast<int>(AppProto::kDns)];
  }
  uint16_t tx_id = 0;
  if (!msg.flags.qr) {
    tx_id = f.dns_requests;
    if (f.dns_requests != UINT16_MAX) ++f.dns_requests;
    // Requests by their QR bit, not by the flow's direction: a forged "response" sent first
    // would otherwise make the client's later queries to-client and hide them from the lists.
    MatchDomains(p, f, dir, msg);
    const patterns::PatternSet* set = set_;
    if (set != nullptr && set->app_rule_count(AppProto::kDns) > 0 && msg.query_count > 0) {
      // One transaction per message; one inspection per query name.
      scanner_->AppTxBegin();
      patterns::AppInspect in;
      in.proto = AppProto::kDns;
      in.to_server = true;
      // The raw payload of a DNS transaction is the message (UDP: the packet payload).
      in.Set(Buffer::kPayload, data, len);
      for (uint8_t q = 0; q < msg.query_count && !scanner_->pass_flow(); ++q) {
        in.Set(Buffer::kDnsQuery, msg.queries[q].name.view());
        scanner_->ScanApp(*set, p, f, dir, *rule_state_, in,
                          [&](uint32_t r) { EmitRuleAlert(*set, r, p, &f, dir); });
      }
      if (scanner_->pass_flow()) pending_pass_ = true;
    }
  } else if (f.dns_requests > 0) {
    tx_id = static_cast<uint16_t>(f.dns_requests - 1);  // the request it answers, as a rule
  }
  if (cfg_.dns_records) EmitDnsRecord(p, f, msg, tx_id);
}

void Worker::MatchDomains(const decode::Packet& p, flow::Flow& f, flow::Dir dir,
                          const app::DnsMessage& msg) {
  const scan::DomainMatcher* m = domain_matcher_;
  if (m == nullptr || m->lists() == 0) return;
  // The bits belong to the current indicator epoch (MatchIndicators keeps them in step when
  // there are IP lists; with domain lists only, nothing else does).
  SyncIndicatorEpoch(f);
  for (uint8_t q = 0; q < msg.query_count; ++q) {
    MatchDomain(p, f, dir, msg.queries[q].name.view(), AlertEvent::kNameDnsQuery);
  }
}

void Worker::MatchDomain(const decode::Packet& p, flow::Flow& f, flow::Dir dir,
                         std::string_view name, uint8_t kind) {
  const scan::DomainMatcher* m = domain_matcher_;
  if (m == nullptr || m->lists() == 0 || name.empty()) return;
  SyncIndicatorEpoch(f);
  uint64_t fresh = m->Match(name) & ~f.indicator_alerted;
  f.indicator_alerted |= fresh;
  while (fresh != 0) {
    const int list = __builtin_ctzll(fresh);
    fresh &= fresh - 1;
    Event e = AlertFor(p, &f, dir);
    AlertEvent& a = e.alert;
    a.indicator = static_cast<uint8_t>(list);
    a.indicator_side = 0;
    a.name_kind = kind;
    a.name_len = static_cast<uint16_t>(std::min<size_t>(name.size(), UINT16_MAX));
    const size_t keep = std::min(name.size(), AlertEvent::kNameCap);
    std::memcpy(a.name, name.data() + name.size() - keep, keep);
    a.pattern_generation = set_ != nullptr ? set_->generation() : 0;
    Emit(e);
  }
}

namespace {

// The worker's one app-record slot as a record of kind k: constructed afresh only when the slot
// held another kind (the caller sets every field it writes).
template <class T>
T& ReuseAppRecord(AppRecordEvent& rec, AppRecordEvent::Kind k, T AppRecordEvent::*member) {
  if (rec.kind != k) {
    rec.kind = k;
    new (&(rec.*member)) T();
  }
  return rec.*member;
}

}  // namespace

void Worker::EmitDnsRecord(const decode::Packet& p, flow::Flow& f, const app::DnsMessage& msg,
                           uint16_t tx_id) {
  DnsRecordEvent& r =
      ReuseAppRecord(*app_record_, AppRecordEvent::Kind::kDns, &AppRecordEvent::dns);
  r.ts_us = p.ts_us;
  r.tx_id = tx_id;
  r.flow = FlowSnapshot::Of(f);
  r.response = msg.flags.qr;
  r.id = msg.id;
  r.raw_flags = msg.raw_flags;
  r.query_count = r.answer_count = 0;
  r.queries_dropped = r.answers_dropped = r.names_dropped = 0;
  r.pool_used = 0;
  char sent[app::kDnsMaxNameText];  // names as they were sent (EVE keeps their case)
  for (uint8_t i = 0; i < msg.query_count; ++i) {
    DnsRecordEvent::Query q;
    q.type = msg.queries[i].type;
    if (r.query_count == DnsRecordEvent::kMaxQueries) {
      ++r.queries_dropped;
    } else if (!r.AddName(msg.queries[i].name.AsSent(sent), &q.name)) {
      ++r.names_dropped;
    } else {
      r.queries[r.query_count++] = q;
    }
  }
  for (uint8_t i = 0; i < msg.answer_count; ++i) {
    const app::DnsAnswer& in = msg.answers[i];
    DnsRecordEvent::Answer a;
    a.type = in.type;
    a.ttl = in.ttl;
    if (r.answer_count == DnsRecordEvent::kMaxAnswers) {
      ++r.answers_dropped;
      continue;
    }
    if (!r.AddName(in.name.AsSent(sent), &a.name)) {
      ++r.names_dropped;
      continue;
    }
    auto add_bytes = [&](const uint8_t* b, size_t n) {
      DnsRecordEvent::Answer e = a;
      e.rdata_kind = r.AddName({reinterpret_cast<const char*>(b), n}, &e.target) ? 3 : 0;
      if (e.rdata_kind == 0) ++r.names_dropped;
      r.answers[r.answer_count++] = e;
    };
    if (in.has_addr) {
      a.rdata_kind = 1;
      a.addr = in.addr;
    } else if (in.has_target) {
      a.rdata_kind = r.AddName(in.target.AsSent(sent), &a.target) ? 2 : 0;
      if (a.rdata_kind == 0) ++r.names_dropped;
    } else if (in.type == app::kDnsTypeNull && in.rdata != nullptr) {
      add_bytes(in.rdata, in.rdlength);
      continue;
    } else if (in.type == app::kDnsTypeTxt && in.rdata != nullptr) {
      // As Suricata: one answer per character-string of the TXT record.
      size_t at = 0;
      bool any = false;
      while (at < in.rdlength && r.answer_count < DnsRecordEvent::kMaxAnswers) {
        const size_t n = std::min<size_t>(in.rdata[at], in.rdlength - at - 1);
        add_bytes(in.rdata + at + 1, n);
        at += 1 + n;
        any = true;
      }
      if (any) continue;
    }
    r.answers[r.answer_count++] = a;
  }
  PushAppRecord();
}

void Worker::PushAppRecord() {
  if (shared_->offline) {
    while (!app_events_->TryPush(*app_record_)) rte_pause();
    return;
  }
  if (!app_events_->TryPush(*app_record_)) ++stats_.app_records_dropped;
}

// ---------------------------------------------------------------------------------------------
// TCP app layer

void Worker::AppData(StreamSink& sink, int dir, const uint8_t* data, uint32_t len) {
  flow::Flow& f = *sink.f;
  if (app_pool_ == nullptr || f.app_state > kAppActive || len == 0) return;
  if (f.app_slot == 0) {
    f.app_slot = app_pool_->Acquire();
    if (f.app_slot == 0) {
      f.app_state = kAppNoSession;  // counted by the pool
      return;
    }
  }
  app::AppSession& s = app_pool_->At(f.app_slot);
  if (s.stopped[dir]) return;
  StreamSink* outer = app_sink_;
  app_sink_ = &sink;
  if (s.proto == AppProto::kNone) {
    AppDetect(sink, s, dir, data, len);
  } else {
    AppFeed(sink, s, dir, data, len);
  }
  app_sink_ = outer;
}

void Worker::AppDetect(StreamSink& sink, app::AppSession& s, int dir, const uint8_t* data,
                       uint32_t len) {
  flow::Flow& f = *sink.f;
  const uint8_t* look = data;
  size_t look_len = len;
  uint32_t held = 0;  // bytes of data copied into the probe
  if (s.probe_len[dir] > 0 || len < app::kDetectBytes) {
    held = std::min<uint32_t>(len, app::kDetectBytes - s.probe_len[dir]);
    std::memcpy(s.probe[dir] + s.probe_len[dir], data, held);
    s.probe_len[dir] = static_cast<uint8_t>(s.probe_len[dir] + held);
    look = s.probe[dir];
    look_len = s.probe_len[dir];
  }
  const app::DetectResult r = app::DetectTcp(look, look_len, dir == 0, f.server_port);
  if (r == app::DetectResult::kNeedMore) return;
  if (r == app::DetectResult::kNo) {
    s.probe_no[dir] = true;
    s.stopped[dir] = true;
    if (s.probe_no[1 - dir]) {
      // Neither direction looks like a protocol the sensor parses.
      ++stats_.app_detect_failed;
      f.app_state = kAppFailed;
      app_pool_->Release(f.app_slot);
      f.app_slot = 0;
    }
    return;
  }
  AppProto proto = AppProto::kNone;
  switch (r) {
    case app::DetectResult::kHttp:
      proto = AppProto::kHttp;
      break;
    case app::DetectResult::kDns:
      proto = AppProto::kDns;
      break;
    case app::DetectResult::kTls:
      proto = AppProto::kTls;
      break;
    case app::DetectResult::kSmb:
      proto = AppProto::kSmb;
      break;
    default:
      break;
  }
  s.proto = proto;
  f.app_proto = static_cast<uint8_t>(proto);
  ++stats_.app_detected[static_cast<int>(proto)];
  if (proto == AppProto::kHttp) {
    s.StartHttp();
  } else if (proto == AppProto::kTls) {
    s.StartTls();  // released as soon as the handshake is over (FinishTls)
  } else if (proto == AppProto::kSmb) {
    s.StartSmb(cfg_.smb);
  }
  f.app_state = kAppActive;
  // What was held: the other direction first (it spoke first), then this one.
  const int o = 1 - dir;
  if (s.probe_len[o] > 0 && !s.probe_no[o]) {
    const uint8_t n = s.probe_len[o];
    s.probe_len[o] = 0;
    AppFeed(sink, s, o, s.probe[o], n);
  }
  if (look == s.probe[dir]) {
    const uint8_t n = s.probe_len[dir];
    s.probe_len[dir] = 0;
    AppFeed(sink, s, dir, s.probe[dir], n);
    if (held < len) AppFeed(sink, s, dir, data + held, len - held);
  } else {
    AppFeed(sink, s, dir, data, len);
  }
}

void Worker::AppFeed(StreamSink& sink, app::AppSession& s, int dir, const uint8_t* data,
                     size_t len) {
  // The session may have been released by an earlier feed of the same delivery (end of a TLS
  // handshake).
  if (len == 0 || sink.f->app_slot == 0 || s.stopped[dir]) return;
  // DNS rules inspect the message itself (InspectDnsMessage).
  if (s.proto != AppProto::kDns && sink.set != nullptr && sink.set->app_raw_payload(s.proto)) {
    s.raw[dir].Append(data, len);
  }
  switch (s.proto) {
    case AppProto::kHttp:
      s.FeedHttp(dir, data, len);
      break;
    case AppProto::kTls:
      if (app::TlsParser* t = s.tls()) {
        const app::TlsDir td = dir == 0 ? app::TlsDir::kToServer : app::TlsDir::kToClient;
        OnTlsProgress(sink, s, t->Feed(td, data, len));
      }
      break;
    case AppProto::kSmb:
      s.FeedSmb(dir, data, len);
      break;
    case AppProto::kDns: {
      flow::Flow& f = *sink.f;
      const auto fd = static_cast<flow::Dir>(dir);
      s.dns[dir].Feed(
          data, len,
          [&](const uint8_t* msg, size_t n) {
            const decode::Packet p = sink.PacketFor(dir);
            InspectDnsMessage(p, f, fd, msg, n);
          },
          [&](app::DnsEvent e) { ++stats_.dns_events[static_cast<int>(e)]; });
      break;
    }
    default:
      break;
  }
}

void Worker::AppGap(flow::Flow& f, int dir) {
  if (app_pool_ == nullptr || f.app_slot == 0) return;
  app::AppSession& s = app_pool_->At(f.app_slot);
  if (s.stopped[dir]) return;
  // The parsers cannot resynchronise after missing bytes: this direction is not parsed further.
  s.stopped[dir] = true;
  ++stats_.app_gaps;
  if (s.proto == AppProto::kNone) {
    s.probe_no[dir] = true;
    if (s.probe_no[1 - dir]) {
      ++stats_.app_detect_failed;
      f.app_state = kAppFailed;
      app_pool_->Release(f.app_slot);
      f.app_slot = 0;
    }
  }
}

void Worker::ReleaseApp(StreamSink& sink, bool report) {
  flow::Flow& f = *sink.f;
  if (app_pool_ == nullptr || f.app_slot == 0) return;
  app::AppSession& s = app_pool_->At(f.app_slot);
  if (report && s.proto == AppProto::kHttp) {
    StreamSink* outer = app_sink_;
    app_sink_ = &sink;
    s.CloseHttp();
    app_sink_ = outer;
  } else if (report && s.proto == AppProto::kTls && s.tls() != nullptr) {
    FinishTls(sink, s);  // the flow ended inside the handshake
  }
  app_pool_->Release(f.app_slot);
  f.app_slot = 0;
  // Nothing more is parsed (not even a flow still detecting: its stream is over).
  if (f.app_state <= kAppActive) f.app_state = kAppDone;
}

void Worker::AddRawPayload(const patterns::PatternSet& set, const flow::Flow& f, int dir,
                           patterns::AppInspect* in) {
  if (!set.app_raw_payload(in->proto)) return;
  uint32_t len = 0;
  const uint8_t* data = nullptr;
  if (app_pool_ != nullptr && f.app_slot != 0) data = app_pool_->At(f.app_slot).raw[dir].Take(&len);
  in->Set(Buffer::kPayload, data, len);
}

namespace {

void SetIf(patterns::AppInspect* in, Buffer b, std::string_view v) {
  if (!v.empty()) in->Set(b, v);
}

// http.start: the start line and the header block, each line with its CRLF, then the empty line.
size_t BuildStart(std::string_view line, std::string_view headers, char* out) {
  size_t n = 0;
  for (std::string_view part :
       {line, std::string_view("\r\n"), headers, std::string_view("\r\n")}) {
    std::memcpy(out + n, part.data(), part.size());
    n += part.size();
  }
  return n;
}

static_assert(sizeof(app::HttpRequestRecord::line.buf) +
                  sizeof(app::HttpRequestRecord::header_raw.buf) + 4 <=
              kAppScratchBytes);

// The request's to-server buffers; own: also those of the inspected side (the request is it).
void AddRequestBuffers(const app::HttpRequestRecord& r, bool own, char* scratch,
                       patterns::AppInspect* in) {
  in->Set(Buffer::kHttpUri, r.uri_norm.view());
  in->Set(Buffer::kHttpUriRaw, r.uri_raw.view());
  in->Set(Buffer::kHttpMethod, r.method.view());
  in->Set(Buffer::kHttpRequestLine, r.line.view());
  SetIf(in, Buffer::kHttpHost, r.host.view());
  SetIf(in, Buffer::kHttpHostRaw, r.host_raw.view());
  SetIf(in, Buffer::kHttpUserAgent, r.user_agent.view());
  SetIf(in, Buffer::kHttpCookie, r.cookie.view());
  SetIf(in, Buffer::kHttpReferer, r.referer.view());
  SetIf(in, Buffer::kHttpAccept, r.accept.view());
  SetIf(in, Buffer::kHttpAcceptLang, r.accept_lang.view());
  SetIf(in, Buffer::kHttpAcceptEnc, r.accept_enc.view());
  SetIf(in, Buffer::kHttpRequestBody, r.body.view());
  if (!own) return;
  in->Set(Buffer::kHttpHeader, r.header.view());
  in->Set(Buffer::kHttpHeaderRaw, r.header_raw.view());
  in->Set(Buffer::kHttpHeaderNames, r.header_names.view());
  SetIf(in, Buffer::kHttpContentType, r.content_type.view());
  SetIf(in, Buffer::kHttpContentLen, r.content_len.view());
  SetIf(in, Buffer::kHttpConnection, r.connection.view());
  in->Set(Buffer::kHttpProtocol, r.protocol.view());
  SetIf(in, Buffer::kFileData, r.body.view());
  in->Set(Buffer::kHttpStart, scratch, BuildStart(r.line.view(), r.header_raw.view(), scratch));
}

void AddResponseBuffers(const app::HttpResponseRecord& r, char* scratch, patterns::AppInspect* in) {
  in->Set(Buffer::kHttpStatCode, r.stat_code.view());
  in->Set(Buffer::kHttpStatMsg, r.stat_msg.view());
  in->Set(Buffer::kHttpResponseLine, r.line.view());
  SetIf(in, Buffer::kHttpServer, r.server.view());
  SetIf(in, Buffer::kHttpLocation, r.location.view());
  SetIf(in, Buffer::kHttpResponseBody, r.body.view());
  in->Set(Buffer::kHttpHeader, r.header.view());
  in->Set(Buffer::kHttpHeaderRaw, r.header_raw.view());
  in->Set(Buffer::kHttpHeaderNames, r.header_names.view());
  SetIf(in, Buffer::kHttpContentType, r.content_type.view());
  SetIf(in, Buffer::kHttpContentLen, r.content_len.view());
  SetIf(in, Buffer::kHttpConnection, r.connection.view());
  in->Set(Buffer::kHttpProtocol, r.protocol.view());
  SetIf(in, Buffer::kFileData, r.body.view());
  in->Set(Buffer::kHttpStart, scratch, BuildStart(r.line.view(), r.header_raw.view(), scratch));
}

}  // namespace

void Worker::OnHttpRequest(app::HttpRequestRecord& req) {
  StreamSink& k = *app_sink_;
  flow::Flow& f = *k.f;
  ++stats_.http_transactions;
  const decode::Packet p = k.PacketFor(0);
  MatchDomain(p, f, flow::Dir::kToServer, req.host.view(), AlertEvent::kNameHttpHost);
  const patterns::PatternSet* set = k.set;
  if (set == nullptr || f.bypassed || set->app_rule_count(AppProto::kHttp) == 0) return;
  patterns::AppInspect in;
  in.proto = AppProto::kHttp;
  in.to_server = true;
  AddRequestBuffers(req, /*own=*/true, app_scratch_.get(), &in);
  AddRawPayload(*set, f, 0, &in);
  scanner_->AppTxBegin();
  scanner_->ScanApp(*set, p, f, flow::Dir::kToServer, *rule_state_, in,
                    [&](uint32_t r) { EmitRuleAlert(*set, r, p, &f, flow::Dir::kToServer); });
  if (scanner_->pass_flow() && !k.ending) pending_pass_ = true;
}

void Worker::OnHttpResponse(const app::HttpRequestRecord* req, app::HttpResponseRecord& resp) {
  StreamSink& k = *app_sink_;
  flow::Flow& f = *k.f;
  const decode::Packet p = k.PacketFor(1);
  const patterns::PatternSet* set = k.set;
  if (set != nullptr && !f.bypassed && set->app_rule_count(AppProto::kHttp) > 0) {
    // The response side, with the request's own buffers: a rule that mixes http.uri and
    // http.stat_code matches here.
    patterns::AppInspect in;
    in.proto = AppProto::kHttp;
    in.to_server = false;
    if (req != nullptr) AddRequestBuffers(*req, /*own=*/false, nullptr, &in);
    AddResponseBuffers(resp, app_scratch_.get(), &in);
    AddRawPayload(*set, f, 1, &in);
    scanner_->AppTxBegin();
    scanner_->ScanApp(*set, p, f, flow::Dir::kToClient, *rule_state_, in,
                      [&](uint32_t r) { EmitRuleAlert(*set, r, p, &f, flow::Dir::kToClient); });
    if (scanner_->pass_flow() && !k.ending) pending_pass_ = true;
  }
  if (cfg_.http_records) EmitHttpRecord(p.ts_us, f, req, &resp);
}

void Worker::OnHttpUnanswered(const app::HttpRequestRecord& req) {
  const StreamSink& k = *app_sink_;
  if (cfg_.http_records) EmitHttpRecord(k.f->last_ts_us, *k.f, &req, nullptr);
}

void Worker::EmitHttpRecord(uint64_t ts_us, const flow::Flow& f, const app::HttpRequestRecord* req,
                            const app::HttpResponseRecord* resp) {
  HttpRecordEvent& r =
      ReuseAppRecord(*app_record_, AppRecordEvent::Kind::kHttp, &AppRecordEvent::http);
  r.ts_us = ts_us;
  r.flow = FlowSnapshot::Of(f);
  r.pool_used = 0;
  r.truncated = 0;
  r.hostname = r.url = r.user_agent = r.content_type = r.referer = r.method = r.protocol =
      r.redirect = HttpRecordEvent::Ref{};
  r.tx_id = 0;
  r.http_port = 0;
  if (req != nullptr) {
    r.tx_id = req->tx_id;
    r.http_port = req->host_port;
    r.Add(req->host.view(), &r.hostname);
    r.Add(req->uri_raw.view(), &r.url);
    r.Add(req->user_agent.view(), &r.user_agent);
    r.Add(req->referer.view(), &r.referer);
    r.Add(req->method.view(), &r.method);
    r.Add(req->protocol.view(), &r.protocol);
  }
  r.has_response = resp != nullptr;
  r.status = resp != nullptr ? resp->status : 0;
  r.length = resp != nullptr ? resp->body_len : 0;
  if (resp != nullptr) {
    // Suricata logs the media type without its parameters.
    const std::string_view ct = resp->content_type.view();
    r.Add(ct.substr(0, std::min(ct.size(), ct.find(';'))), &r.content_type);
    r.Add(resp->location.view(), &r.redirect);
    if (req == nullptr) r.Add(resp->protocol.view(), &r.protocol);
  }
  PushAppRecord();
}

// ---------------------------------------------------------------------------------------------
// TLS

namespace {

void AddTlsClientBuffers(const app::TlsClientHello& ch, patterns::AppInspect* in) {
  if (ch.has_sni) in->Set(Buffer::kTlsSni, ch.sni());
  SetIf(in, Buffer::kJa3Hash, ch.ja3_hash());
  SetIf(in, Buffer::kJa3String, ch.ja3());
}

}  // namespace

void Worker::CountTlsEvents(app::AppSession& s) {
  const app::TlsParser& t = *s.tls();
  for (int e = 0; e < app::kTlsEventCount; ++e) {
    const uint32_t n = t.event_count(static_cast<app::TlsEvent>(e));
    stats_.tls_events[e] += n - s.tls_events_seen[e];
    s.tls_events_seen[e] = n;
  }
}

void Worker::OnTlsProgress(StreamSink& sink, app::AppSession& s, uint32_t ready) {
  const app::TlsParser& t = *s.tls();
  if (ready & app::kTlsAnomaly) CountTlsEvents(s);
  if (ready & app::kTlsClientHelloReady) InspectTlsClient(sink, s);
  // The server's clear-text part is over once it is encrypted, overflowed or stopped; its
  // certificate (TLS <= 1.2) is the last thing the sensor reads of it.
  const bool server_over = !t.parsing(app::TlsDir::kToClient);
  if (!s.tls_server_inspected && t.state().has_server_hello &&
      ((ready & app::kTlsCertificateReady) || server_over)) {
    InspectTlsServer(sink, s);
  }
  if (!server_over || t.parsing(app::TlsDir::kToServer)) return;
  // Handshake over in both directions: nothing more to parse. The flow keeps app_proto tls; its
  // session (and the parser's 80 KB) goes back to the pool now.
  FinishTls(sink, s);
  flow::Flow& f = *sink.f;
  // Both directions encrypted (not a parse that stopped or overflowed): as Suricata's
  // encryption-handling "default", payload rules no longer inspect this flow (HandlePacket).
  if (cfg_.tls_skip_encrypted && t.encrypted(app::TlsDir::kToServer) &&
      t.encrypted(app::TlsDir::kToClient) && !f.no_payload_inspection) {
    f.no_payload_inspection = true;
    ++stats_.tls_encrypted_flows;
  }
  app_pool_->Release(f.app_slot);
  f.app_slot = 0;
  f.app_state = kAppDone;
}

void Worker::InspectTlsClient(StreamSink& sink, app::AppSession& s) {
  flow::Flow& f = *sink.f;
  const app::TlsClientHello& ch = s.tls()->state().client;
  const decode::Packet p = sink.PacketFor(0);
  if (ch.has_sni) MatchDomain(p, f, flow::Dir::kToServer, ch.sni(), AlertEvent::kNameTlsSni);
  const patterns::PatternSet* set = sink.set;
  if (set == nullptr || f.bypassed || set->app_rule_count(AppProto::kTls) == 0) return;
  patterns::AppInspect in;
  in.proto = AppProto::kTls;
  in.to_server = true;
  in.tls_version = ch.connp_version();
  AddTlsClientBuffers(ch, &in);
  AddRawPayload(*set, f, 0, &in);
  scanner_->AppTxBegin();
  scanner_->ScanApp(*set, p, f, flow::Dir::kToServer, *rule_state_, in,
                    [&](uint32_t r) { EmitRuleAlert(*set, r, p, &f, flow::Dir::kToServer); });
  if (scanner_->pass_flow() && !sink.ending) pending_pass_ = true;
}

void Worker::InspectTlsServer(StreamSink& sink, app::AppSession& s) {
  s.tls_server_inspected = true;
  flow::Flow& f = *sink.f;
  const patterns::PatternSet* set = sink.set;
  if (set == nullptr || f.bypassed || set->app_rule_count(AppProto::kTls) == 0) return;
  const app::TlsState& st = s.tls()->state();
  const decode::Packet p = sink.PacketFor(1);
  // The to-client side with the client's buffers (one transaction): a rule that mixes tls.sni and
  // tls.cert_subject matches here.
  patterns::AppInspect in;
  in.proto = AppProto::kTls;
  in.to_server = false;
  in.tls_version = st.server.connp_version();
  if (st.has_client_hello) AddTlsClientBuffers(st.client, &in);
  if (st.has_cert) {
    SetIf(&in, Buffer::kTlsCertSubject, st.cert.subject());
    SetIf(&in, Buffer::kTlsCertIssuer, st.cert.issuer());
    SetIf(&in, Buffer::kTlsCertSerial, st.cert.serial());
    in.Set(Buffer::kTlsCertFingerprint, st.cert.fingerprint());
  }
  SetIf(&in, Buffer::kJa3sHash, st.server.ja3s_hash());
  SetIf(&in, Buffer::kJa3sString, st.server.ja3s());
  AddRawPayload(*set, f, 1, &in);
  auto alert = [&](uint32_t r) { EmitRuleAlert(*set, r, p, &f, flow::Dir::kToClient); };
  scanner_->AppTxBegin();
  if (st.has_chain && st.chain.count > 0) {
    // tls.certs: one inspection per certificate of the chain, in the same transaction (each rule
    // alerts once).
    for (uint8_t i = 0; i < st.chain.count && !scanner_->pass_flow(); ++i) {
      in.Set(Buffer::kTlsCerts, st.chain.der[i].data(), st.chain.der[i].size());
      scanner_->ScanApp(*set, p, f, flow::Dir::kToClient, *rule_state_, in, alert);
    }
  } else {
    scanner_->ScanApp(*set, p, f, flow::Dir::kToClient, *rule_state_, in, alert);
  }
  if (scanner_->pass_flow() && !sink.ending) pending_pass_ = true;
}

void Worker::FinishTls(StreamSink& sink, app::AppSession& s) {
  if (s.tls_logged) return;
  s.tls_logged = true;
  const app::TlsState& st = s.tls()->state();
  if (!s.tls_server_inspected && st.has_server_hello) InspectTlsServer(sink, s);
  CountTlsEvents(s);
  if (!st.has_client_hello && !st.has_server_hello) return;
  ++stats_.tls_handshakes;
  if (!cfg_.tls_records) return;
  const flow::Flow& f = *sink.f;
  TlsRecordEvent& r =
      ReuseAppRecord(*app_record_, AppRecordEvent::Kind::kTls, &AppRecordEvent::tls);
  r.ts_us = sink.pkt != nullptr ? sink.pkt->ts_us : f.last_ts_us;
  r.flow = FlowSnapshot::Of(f);
  r.pool_used = 0;
  r.truncated = 0;
  // As Suricata's tls.version: what the server chose; "UNDETERMINED" without a ServerHello.
  r.version = st.has_server_hello ? st.server.version() : 0;
  const bool cert = st.has_cert;
  r.Add(cert ? st.cert.subject() : std::string_view(), &r.subject);
  r.Add(cert ? st.cert.issuer() : std::string_view(), &r.issuer);
  r.Add(cert ? st.cert.serial() : std::string_view(), &r.serial);
  r.Add(cert ? st.cert.fingerprint() : std::string_view(), &r.fingerprint);
  r.Add(st.has_client_hello ? st.client.sni() : std::string_view(), &r.sni);
  r.Add(cert ? st.cert.not_before() : std::string_view(), &r.not_before);
  r.Add(cert ? st.cert.not_after() : std::string_view(), &r.not_after);
  r.Add(st.has_client_hello ? st.client.ja3_hash() : std::string_view(), &r.ja3_hash);
  r.Add(st.has_server_hello ? st.server.ja3s_hash() : std::string_view(), &r.ja3s_hash);
  r.Add(st.has_server_hello ? st.server.ja3s() : std::string_view(), &r.ja3s);
  r.Add(st.has_client_hello ? st.client.ja3() : std::string_view(), &r.ja3);
  PushAppRecord();
}

// ---------------------------------------------------------------------------------------------
// SMB

namespace {

// What an SMB message is worth in EVE. Suricata writes one record per transaction (request and
// response); the parser pairs TREE_CONNECT, CREATE and NEGOTIATE (their responses carry the
// request's share, file name, disposition, and the dialect), so those are written at the response.
// Other commands are written at the request (which carries rename, NTLMSSP, DCERPC details), and
// their responses only when they fail (STATUS_LOGON_FAILURE, ACCESS_DENIED ... are what an
// operator looks for). Bulk and chatty commands (READ, WRITE, ECHO, LOCK, QUERY_*, CHANGE_NOTIFY,
// ...) are not written unless they carry DCERPC; rules still see every message.
enum class SmbLog : uint8_t { kNever, kAtResponse, kAtRequest };

SmbLog SmbLogClass(const app::SmbRecord& r) {
  if (r.is_encrypted || r.is_compressed) return SmbLog::kNever;
  if (r.is_dcerpc) return SmbLog::kAtRequest;
  if (r.version == 1) {
    switch (r.command) {
      case app::kSmb1NegotiateProtocol:
      case app::kSmb1TreeConnectAndx:
      case app::kSmb1NtCreateAndx:
        return SmbLog::kAtResponse;
      case 0x0a:  // READ
      case 0x0b:  // WRITE
      case 0x2b:  // ECHO
      case 0x2e:  // READ_ANDX
      case 0x2f:  // WRITE_ANDX
      case 0x24:  // LOCKING_ANDX
        return SmbLog::kNever;
      default:
        return SmbLog::kAtRequest;
    }
  }
  using C = app::Smb2Command;
  switch (static_cast<C>(r.command)) {
    case C::kNegotiate:
    case C::kTreeConnect:
    case C::kCreate:
      return SmbLog::kAtResponse;
    case C::kSessionSetup:
    case C::kLogoff:
    case C::kTreeDisconnect:
    case C::kClose:
    case C::kSetInfo:
    case C::kIoctl:
      return SmbLog::kAtRequest;
    default:
      return SmbLog::kNever;
  }
}

constexpr uint32_t kNtStatusSuccess = 0;
constexpr uint32_t kNtStatusMoreProcessing = 0xc0000016;

bool SmbWorthLogging(const app::SmbRecord& r) {
  switch (SmbLogClass(r)) {
    case SmbLog::kAtResponse:
      return r.is_response;
    case SmbLog::kAtRequest:
      return !r.is_response ||
             (r.status != kNtStatusSuccess && r.status != kNtStatusMoreProcessing);
    case SmbLog::kNever:
      break;
  }
  return false;
}

static_assert(SmbRecordEvent::kMaxInterfaces == app::kSmbMaxInterfaces);

// The requests that name something for the rules: TREE_CONNECT (smb.share, smb.named_pipe for
// IPC$), CREATE (file.name, smb.share of the tree, smb.named_pipe), a rename (file.name = the new
// name). Responses repeat the names; inspecting them too would only alert twice.
bool SmbNamesSomething(const app::SmbRecord& r) {
  if (r.is_response) return false;
  if (r.is_rename) return true;
  if (r.version == 1) {
    return r.command == app::kSmb1TreeConnectAndx || r.command == app::kSmb1NtCreateAndx;
  }
  const auto c = static_cast<app::Smb2Command>(r.command);
  return c == app::Smb2Command::kTreeConnect || c == app::Smb2Command::kCreate;
}

}  // namespace

void Worker::OnSmbRecord(app::AppSession& s, const app::SmbRecord& rec) {
  StreamSink& k = *app_sink_;
  flow::Flow& f = *k.f;
  ++stats_.smb_records;
  const int dir = rec.direction == app::SmbDirection::kToServer ? 0 : 1;
  const auto fd = static_cast<flow::Dir>(dir);
  const decode::Packet p = k.PacketFor(dir);
  const patterns::PatternSet* set = k.set;
  patterns::AppInspect in;
  in.proto = AppProto::kSmb;
  in.to_server = dir == 0;
  // Every message ends the raw window of its direction, inspected or not.
  if (set != nullptr) AddRawPayload(*set, f, dir, &in);
  if (set != nullptr && !f.bypassed && set->app_rule_count(AppProto::kSmb) > 0 &&
      SmbNamesSomething(rec)) {
    // smb.share on the TREE_CONNECT only (as Suricata): every CREATE on the tree would otherwise
    // alert again for the same share.
    const bool tree_connect =
        rec.version == 1 ? rec.command == app::kSmb1TreeConnectAndx
                         : rec.command == static_cast<uint16_t>(app::Smb2Command::kTreeConnect);
    if (tree_connect) SetIf(&in, Buffer::kSmbShare, rec.share);
    SetIf(&in, Buffer::kSmbNamedPipe, rec.named_pipe);
    SetIf(&in, Buffer::kFileName, rec.is_rename ? rec.rename_to : rec.filename);
    scanner_->AppTxBegin();
    scanner_->ScanApp(*set, p, f, fd, *rule_state_, in,
                      [&](uint32_t r) { EmitRuleAlert(*set, r, p, &f, fd); });
    if (scanner_->pass_flow() && !k.ending) pending_pass_ = true;
  }
  if (cfg_.smb_records && SmbWorthLogging(rec)) EmitSmbRecord(p.ts_us, f, s, rec);
}

void Worker::EmitSmbRecord(uint64_t ts_us, const flow::Flow& f, app::AppSession& s,
                           const app::SmbRecord& in) {
  SmbRecordEvent& r =
      ReuseAppRecord(*app_record_, AppRecordEvent::Kind::kSmb, &AppRecordEvent::smb);
  r.ts_us = ts_us;
  r.flow = FlowSnapshot::Of(f);
  r.pool_used = 0;
  r.truncated = 0;
  r.id = s.smb_next_id++;
  r.session_id = in.session_id;
  r.tree_id = in.tree_id;
  r.status = in.status;
  r.response = in.is_response;
  r.command = in.command;
  r.dialect = in.dialect;
  r.version = in.version;
  r.is_create = in.version == 1 ? in.command == app::kSmb1NtCreateAndx
                                : in.command == static_cast<uint16_t>(app::Smb2Command::kCreate);
  r.disposition = in.disposition;
  r.share_type = in.share_type;
  r.is_pipe = in.is_pipe;
  r.is_rename = in.is_rename;
  r.is_delete = in.is_delete;
  r.is_dcerpc = in.is_dcerpc;
  // FileDispositionInformation (13) and its Ex form (64), SMB2 SET_INFO of a file (type 1).
  r.is_disposition = in.version == 2 &&
                     in.command == static_cast<uint16_t>(app::Smb2Command::kSetInfo) &&
                     in.info_type == 1 && (in.info_class == 13 || in.info_class == 64);
  r.dcerpc_ptype = in.dcerpc_ptype;
  r.dcerpc_opnum = in.dcerpc_opnum;
  r.dcerpc_call_id = in.dcerpc_call_id;
  r.Add(in.share, &r.share);
  r.Add(in.filename, &r.filename);
  r.Add(in.rename_from, &r.rename_from);
  r.Add(in.rename_to, &r.rename_to);
  r.Add(in.ntlmssp_user, &r.user);
  r.Add(in.ntlmssp_domain, &r.domain);
  r.Add(in.ntlmssp_host, &r.host);
  r.Add(in.dcerpc_interface, &r.dcerpc_interface);
  r.interface_count =
      static_cast<uint8_t>(std::min<size_t>(in.interface_count, SmbRecordEvent::kMaxInterfaces));
  for (uint8_t i = 0; i < r.interface_count; ++i) {
    r.Add(in.interfaces[i], &r.interfaces[i]);
    r.interface_versions[i] = in.interface_versions[i];
  }
  PushAppRecord();
}

uint8_t Worker::DecodeLayers(decode::Packet* outer, decode::Packet** layers) {
  return DecodeInnerChain(outer, inner_, layers);
}

uint8_t Worker::OwnerOf(const decode::Packet& p, uint32_t nworkers) const {
  return static_cast<uint8_t>(flow::OwnerOf(p, nworkers));
}

void Worker::ProcessMbuf(rte_mbuf* m, bool from_ring, decode::Packet* decoded,
                         const flow::FlowTable::Prepared* prep) {
  MbufMeta* meta = Meta(m);
  if (from_ring && meta->reassembled) return ProcessReassembled(m);
  // Mbufs from a distributor had their fragments reassembled there (Distribute).
  defrag_upstream_ = from_ring;
  cur_pool_ = m->pool;
  cur_port_ = m->port;
  // Decoded already by a distributor (from_ring: into the mbuf) or by ProcessBurst's look-ahead
  // (decoded).
  decode::Packet* pkt = decoded != nullptr ? decoded : &meta->pkt;
  if (decoded == nullptr && !(from_ring && meta->predecoded)) {
    if (!DecodeMbuf(m, pkt, wall_us_)) {
      ++stats_.drops[static_cast<int>(DropReason::kOversize)];
      rte_pktmbuf_free(m);
      return;
    }
  }
  decode::Packet* layers[decode::kMaxTunnelDepth + 1];
  const uint8_t n = DecodeLayers(pkt, layers);
  for (uint8_t i = 0; i < n; ++i) {
    if (from_ring && i < meta->nlayers && meta->owner[i] != cfg_.index) continue;
    // The payload of a packet that carries a decoded tunnelled packet is scanned as that packet.
    // The key computed ahead is the frame's own packet's: used only for a frame without a tunnel.
    HandlePacket(*layers[i], i + 1 == n, n == 1 ? prep : nullptr);
  }
  FreeFrame(m);
}

void Worker::ProcessBurst(rte_mbuf** bufs, uint16_t n, bool from_ring) {
  if (from_ring) {  // decoded by the distributor
    for (uint16_t i = 0; i < n; ++i) {
      if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(bufs[i + 1], void*));
      ProcessMbuf(bufs[i], true);
    }
    return;
  }
  // Look-ahead over the burst: decode every frame (into ahead_) and compute its flow key,
  // prefetching the flow's hash bucket; then handle the packets, each prefetching the flow of the
  // packet kFlowAhead places on (its bucket arrived meanwhile). Finding a flow was two dependent
  // cache misses per packet (the bucket, then the flow): `FlowTable::Find` 24% of a 64-byte
  // frame, 10% of an imix one. Chained frames are decoded from the worker's one linear buffer,
  // so only when handled.
  flow::FlowTable::Prepared* prep = ahead_keys_;
  bool ahead[kBurst];
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = bufs[i];
    ahead[i] = m->nb_segs == 1 && DecodeMbuf(m, &ahead_[i], wall_us_);
    if (!ahead[i]) continue;
    flow::FlowTable::Prepare(ahead_[i], &prep[i]);
    flows_->PrefetchBucket(prep[i]);
  }
  constexpr uint16_t kFlowAhead = 4;
  for (uint16_t i = 0; i < n && i < kFlowAhead; ++i) {
    if (ahead[i]) flows_->PrefetchFlow(prep[i]);
  }
  for (uint16_t i = 0; i < n; ++i) {
    const uint16_t next = i + kFlowAhead;
    if (next < n && ahead[next]) flows_->PrefetchFlow(prep[next]);
    ProcessMbuf(bufs[i], false, ahead[i] ? &ahead_[i] : nullptr, ahead[i] ? &prep[i] : nullptr);
  }
}

bool Worker::Enqueue(Worker* target, rte_mbuf* m) {
  while (rte_ring_mp_enqueue(target->inbox_, m) != 0) {
    if (!shared_->offline) {
      ++stats_.drops[static_cast<int>(DropReason::kRingFull)];
      rte_pktmbuf_free(m);
      return false;
    }
    // Back-pressure for captures: keep our own ring moving so two distributors waiting on
    // each other cannot deadlock.
    DrainInbox();
    rte_pause();
  }
  return true;
}

void Worker::Distribute(rte_mbuf** bufs, uint16_t n) {
  const uint32_t nworkers = static_cast<uint32_t>(shared_->workers.size());
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = bufs[i];
    MbufMeta* meta = Meta(m);
    if (!DecodeMbuf(m, &meta->pkt, wall_us_)) {
      ++stats_.drops[static_cast<int>(DropReason::kOversize)];
      rte_pktmbuf_free(m);
      continue;
    }
    // A chained frame was decoded from this worker's linear buffer: the owner re-decodes it.
    meta->predecoded = m->nb_segs == 1;
    meta->reassembled = 0;
    decode::Packet* layers[decode::kMaxTunnelDepth + 1];
    meta->nlayers = DecodeLayers(&meta->pkt, layers);
    // Fragments are reassembled here, in input order, so that a rebuilt datagram reaches its
    // flow's owner behind the packets that preceded it, as with one worker.
    rte_mempool* pool = m->pool;
    decode::Packet frag;
    bool rebuilt = false;
    if (layers[meta->nlayers - 1]->layer == decode::Layer::kL3Fragment) {
      frag = *layers[meta->nlayers - 1];
      rebuilt = defrag_->Add(frag, &stats_.decode);
    }
    uint64_t targets = 0;
    for (uint8_t l = 0; l < meta->nlayers; ++l) {
      meta->owner[l] = OwnerOf(*layers[l], nworkers);
      targets |= uint64_t{1} << meta->owner[l];
    }
    ++stats_.distributed;
    // One reference per worker that owns a layer; each frees its own.
    const int refs = __builtin_popcountll(targets);
    if (refs > 1) rte_mbuf_refcnt_update(m, static_cast<int16_t>(refs - 1));
    for (uint32_t w = 0; w < nworkers; ++w) {
      if (!(targets & (uint64_t{1} << w)) || w == cfg_.index) continue;
      Enqueue(shared_->workers[w], m);
    }
    if (targets & (uint64_t{1} << cfg_.index)) ProcessMbuf(m, true);
    if (rebuilt) DeliverDatagram(frag, defrag_->TakeDatagram(&stats_.decode), pool);
  }
}

uint16_t Worker::DrainInbox() {
  rte_mbuf* bufs[kBurst];
  const unsigned n =
      rte_ring_sc_dequeue_burst(inbox_, reinterpret_cast<void**>(bufs), kBurst, nullptr);
  if (n > 0) ProcessBurst(bufs, static_cast<uint16_t>(n), true);
  return static_cast<uint16_t>(n);
}

bool Worker::OfferScanner(std::unique_ptr<scan::Scanner> next) {
  scan::Scanner* expected = nullptr;
  if (!offered_scanner_.compare_exchange_strong(expected, next.get(), std::memory_order_acq_rel)) {
    return false;
  }
  next.release();
  return true;
}

std::unique_ptr<scan::Scanner> Worker::TakeRetiredScanner() {
  return std::unique_ptr<scan::Scanner>(
      retired_scanner_.exchange(nullptr, std::memory_order_acq_rel));
}

void Worker::AdoptPatterns() {
  const patterns::PatternSet* next = shared_->patterns.load(std::memory_order_acquire);
  if (next != set_) {
    // The reloader offers the scanner before it publishes the set: it is there. Pending stream
    // reports are empty between packets, so nothing is lost with the old scanner. The retired
    // slot is empty too: the reloader collects it before it starts the next reload.
    if (scan::Scanner* s = offered_scanner_.exchange(nullptr, std::memory_order_acq_rel)) {
      s->InheritCounters(*scanner_);  // the worker's counters go on across reloads
      retired_scanner_.store(scanner_.release(), std::memory_order_release);
      scanner_.reset(s);
    }
    set_ = next;
    // Published before the set: this is the matcher of `next` (or of a newer set, whose lists
    // are then equal: the reloader reuses a matcher only for identical lists).
    const scan::IpMatcher* m = shared_->ip_matcher.load(std::memory_order_acquire);
    const scan::DomainMatcher* dm = shared_->domain_matcher.load(std::memory_order_acquire);
    if (m != ip_matcher_ || dm != domain_matcher_) {
      // One epoch for both kinds: Flow::indicator_alerted holds the bits of all lists.
      AdoptIpMatcher(m);
      domain_matcher_ = dm;
      // 32 bits (beside the flow's LRU stamp): a reload a second comes round in 136 years; 0
      // stays "never looked up".
      if (++indicator_epoch_ == 0) indicator_epoch_ = 1;
    }
  }
  // One release store per iteration: the epoch the reloader waits on before freeing a set.
  quiescent_generation_.store(set_ != nullptr ? set_->generation() : 0, std::memory_order_release);
}

void Worker::Publish() {
  stats_.flow = flows_ ? flows_->counters() : flow::Counters{};
  if (defrag_) stats_.defrag = defrag_->counters();
  if (scanner_) stats_.scan = scanner_->counters();
  if (reassembler_) {
    stats_.reassembly = reassembler_->counters();
    stats_.reassembly_slots_in_use = reassembler_->pool_slots_in_use();
  }
  if (app_pool_) {
    stats_.app_sessions_in_use = app_pool_->in_use();
    stats_.app_sessions_exhausted = app_pool_->counters().exhausted;
  }
  if (stream_pool_) {
    stats_.stream_pool = stream_pool_->counters();
    stats_.stream_contexts_in_use = stream_pool_->in_use();
  }
  published_.Publish(stats_);
}

int Worker::Run() {
  // Hyperscan stream state of this worker's flows comes from its own pool.
  if (stream_pool_) stream_pool_->Bind();
  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t publish_every = hz / 20;  // 50 ms
  uint64_t next_publish = rte_rdtsc() + publish_every;
  uint64_t last_wall_expire_us = 0;
  const bool distributor = distributes();
  bool inputs_done = false;
  std::vector<bool> source_empty(sources_.size(), false);
  rte_mbuf* bufs[kBurst];
  uint32_t idle_rounds = 0;

  for (;;) {
    const uint64_t t0 = rte_rdtsc();
    wall_us_ = WallClockUs();
    AdoptPatterns();
    const bool stopping = shared_->stop.load(std::memory_order_acquire);
    uint32_t got = 0;
    if (!inputs_done) {
      for (size_t s = 0; s < sources_.size(); ++s) {
        const RxSource& src = sources_[s];
        const uint16_t n = src.reader != nullptr
                               ? src.reader->Burst(src.pool, src.port, bufs, kBurst)
                               : rte_eth_rx_burst(src.port, src.queue, bufs, kBurst);
        got += n;
        source_empty[s] = n == 0;
        if (n == 0) continue;
        if (src.distribute && shared_->workers.size() > 1) {
          Distribute(bufs, n);
        } else {
          ProcessBurst(bufs, n, false);
        }
      }
      // A capture is read to its end; a live input (or an endless replay) stops right away.
      if (stopping && (!shared_->offline || std::all_of(source_empty.begin(), source_empty.end(),
                                                        [](bool e) { return e; }))) {
        inputs_done = true;
        if (distributor) shared_->distributors.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
    got += DrainInbox();

    // Flow timeouts run on packet time (captures) or wall time once idle (live inputs).
    if (got > 0) {
      flows_->Expire(stats_.last_ts_us, kExpireBudget,
                     [this](flow::Flow& f, flow::EndReason r) { EmitFlowEnd(f, r); });
      defrag_->Expire(stats_.last_ts_us, kExpireBudget);
    } else if (!shared_->offline && wall_us_ - last_wall_expire_us > 100000) {
      last_wall_expire_us = wall_us_;
      flows_->Expire(std::max(wall_us_, stats_.last_ts_us), kExpireBudget,
                     [this](flow::Flow& f, flow::EndReason r) { EmitFlowEnd(f, r); });
      defrag_->Expire(std::max(wall_us_, stats_.last_ts_us), kExpireBudget);
    }

    const uint64_t t1 = rte_rdtsc();
    if (got > 0) {
      stats_.busy_cycles += t1 - t0;
      idle_rounds = 0;
    } else {
      stats_.idle_cycles += t1 - t0;
      if (++idle_rounds > 1024) rte_pause();
    }
    if (t1 >= next_publish) {
      Publish();
      next_publish = t1 + publish_every;
    }
    if (inputs_done && shared_->distributors.load(std::memory_order_acquire) == 0 &&
        rte_ring_empty(inbox_) && got == 0) {
      break;
    }
  }
  Finish();
  return 0;
}

void Worker::Finish() {
  // Flows still open at the end are classified against the newest packet time of ALL workers,
  // so that their end reason does not depend on how flows were spread over workers.
  uint64_t mine = stats_.last_ts_us;
  uint64_t cur = shared_->final_ts_us.load(std::memory_order_relaxed);
  while (mine > cur && !shared_->final_ts_us.compare_exchange_weak(cur, mine)) {
  }
  const uint32_t n = static_cast<uint32_t>(shared_->workers.size());
  shared_->drained.fetch_add(1, std::memory_order_acq_rel);
  while (shared_->drained.load(std::memory_order_acquire) < n) rte_pause();
  const uint64_t end_ts = shared_->final_ts_us.load(std::memory_order_acquire);
  // Flows idle past their timeout at the end of input have timed out; the rest end with the
  // sensor. (Suricata reports the former as "shutdown" when its flow manager did not run in time;
  // ours does not depend on timing or on the worker count: see docs/design-notes.md.)
  flows_->ExpireAll(end_ts, [this](flow::Flow& f, flow::EndReason r) { EmitFlowEnd(f, r); });
  flows_->Flush([this](flow::Flow& f, flow::EndReason r) { EmitFlowEnd(f, r); });
  // Datagrams still missing pieces: past their timeout they timed out, the rest are discarded.
  defrag_->Expire(end_ts, UINT32_MAX);
  defrag_->Flush();
  Publish();
  if (stream_pool_) stream_pool_->Unbind();
  // References no set any more: a reload need not wait for this worker.
  quiescent_generation_.store(UINT64_MAX, std::memory_order_release);
}

namespace {

// Decodes a rebuilt datagram and the tunnelled packets inside it into layers[]; returns the count.
uint8_t DecodeDatagram(const decode::Packet& frag, const uint8_t* data, uint32_t len, uint16_t l3,
                       decode::Packet* storage, decode::Packet** layers) {
  decode::DecodeReassembled(frag, data, len, l3, &storage[0]);
  return DecodeInnerChain(&storage[0], storage + 1, layers);
}

// A copy of data[0, len) in a (chained) mbuf from pool; nullptr when the pool is empty.
rte_mbuf* CopyToMbuf(rte_mempool* pool, const uint8_t* data, uint32_t len) {
  rte_mbuf* head = nullptr;
  uint32_t done = 0;
  while (done < len) {
    rte_mbuf* seg = rte_pktmbuf_alloc(pool);
    if (seg == nullptr) {
      if (head != nullptr) rte_pktmbuf_free(head);
      return nullptr;
    }
    const uint32_t n = std::min<uint32_t>(rte_pktmbuf_tailroom(seg), len - done);
    std::memcpy(rte_pktmbuf_mtod(seg, uint8_t*), data + done, n);
    seg->data_len = static_cast<uint16_t>(n);
    seg->pkt_len = n;
    done += n;
    if (head == nullptr) {
      head = seg;
    } else if (rte_pktmbuf_chain(head, seg) != 0) {
      rte_pktmbuf_free(seg);
      rte_pktmbuf_free(head);
      return nullptr;
    }
  }
  return head;
}

}  // namespace

void Worker::HandleFragment(const decode::Packet& p) {
  if (defrag_upstream_) return;  // a distributing worker reassembles (Distribute)
  if (!defrag_->Add(p, &stats_.decode)) return;
  const decode::Packet frag = p;
  DeliverDatagram(frag, defrag_->TakeDatagram(&stats_.decode), cur_pool_);
}

void Worker::DeliverDatagram(const decode::Packet& frag, const defrag::Datagram& d,
                             rte_mempool* pool) {
  if (d.data == nullptr) return;
  decode::Packet storage[decode::kMaxTunnelDepth + 1];
  decode::Packet* layers[decode::kMaxTunnelDepth + 1];
  const uint8_t n = DecodeDatagram(frag, d.data, d.len, d.l3_offset, storage, layers);
  const uint32_t nworkers = static_cast<uint32_t>(shared_->workers.size());
  uint8_t owner[decode::kMaxTunnelDepth + 1] = {};
  uint64_t others = 0;
  for (uint8_t l = 0; l < n; ++l) {
    owner[l] = nworkers > 1 ? OwnerOf(*layers[l], nworkers) : static_cast<uint8_t>(cfg_.index);
    if (owner[l] != cfg_.index) others |= uint64_t{1} << owner[l];
  }
  // A fragmented packet inside a fragmented tunnel packet: its pieces meet here too. Taken in
  // before anything below can reuse the defragmenter's output buffer.
  decode::Packet nested;
  bool rebuilt = false;
  if (layers[n - 1]->layer == decode::Layer::kL3Fragment) {
    nested = *layers[n - 1];
    rebuilt = defrag_->Add(nested, &stats_.decode);
  }
  if (others != 0) {
    // The flow (with ports) of a layer belongs to another worker: hand it a copy, as Distribute
    // hands on frames. Its owner decodes it again from the copy.
    rte_mbuf* m = pool != nullptr ? CopyToMbuf(pool, d.data, d.len) : nullptr;
    if (m == nullptr) {
      ++stats_.drops[static_cast<int>(DropReason::kDefragNoMbuf)];
    } else {
      MbufMeta* meta = Meta(m);
      meta->pkt = frag;
      meta->predecoded = 0;
      meta->reassembled = 1;
      meta->reassembled_l3 = d.l3_offset;
      meta->nlayers = n;
      for (uint8_t l = 0; l < n; ++l) meta->owner[l] = owner[l];
      const int refs = __builtin_popcountll(others);
      if (refs > 1) rte_mbuf_refcnt_update(m, static_cast<int16_t>(refs - 1));
      for (uint32_t w = 0; w < nworkers; ++w) {
        if (others & (uint64_t{1} << w)) Enqueue(shared_->workers[w], m);
      }
    }
  }
  const bool upstream = defrag_upstream_;
  defrag_upstream_ = true;  // the nested fragment, if any, is taken care of below
  for (uint8_t l = 0; l < n; ++l) {
    if (owner[l] == cfg_.index) HandlePacket(*layers[l], l + 1 == n);
  }
  defrag_upstream_ = upstream;
  if (rebuilt) DeliverDatagram(nested, defrag_->TakeDatagram(&stats_.decode), pool);
}

void Worker::ProcessReassembled(rte_mbuf* m) {
  const MbufMeta* meta = Meta(m);
  const uint32_t len = rte_pktmbuf_pkt_len(m);
  const auto* data = len <= kLinearBytes
                         ? static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, len, rebuilt_.get()))
                         : nullptr;
  if (data != nullptr) {
    decode::Packet storage[decode::kMaxTunnelDepth + 1];
    decode::Packet* layers[decode::kMaxTunnelDepth + 1];
    const uint8_t n = DecodeDatagram(meta->pkt, data, len, meta->reassembled_l3, storage, layers);
    const bool upstream = defrag_upstream_;
    defrag_upstream_ = true;  // the sender reassembled any fragment inside
    for (uint8_t l = 0; l < n && l < meta->nlayers; ++l) {
      if (meta->owner[l] == cfg_.index) HandlePacket(*layers[l], l + 1 == n);
    }
    defrag_upstream_ = upstream;
  }
  rte_pktmbuf_free(m);
}

}  // namespace fs::worker
