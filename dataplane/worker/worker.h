// The worker: one poll-mode loop per worker lcore, wiring the stages of ARCHITECTURE.md §2:
// rx burst -> decode -> flow update -> scan -> events. Each Worker is owned by the main thread
// (constructed and destroyed there) and runs Run() on exactly one lcore; everything it touches
// per packet is its own, except the read-only PatternSet and the Shared control flags.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "dataplane/app/http1.h"
#include "dataplane/app/smb.h"
#include "dataplane/decode/packet.h"
#include "dataplane/defrag/defrag.h"
#include "dataplane/flow/flow_table.h"
#include "dataplane/reassembly/reassembly.h"
#include "dataplane/scan/scanner.h"
#include "dataplane/worker/event_ring.h"
#include "dataplane/worker/events.h"
#include "dataplane/worker/stats.h"

struct rte_mbuf;
struct rte_ring;
struct rte_mempool;

namespace fs::patterns {
class PatternSet;
}
namespace fs::port {
class CaptureReader;
}
namespace fs::app {
struct DnsMessage;
class AppSession;
class AppSessionPool;
struct AppHooks;
struct HttpRequestRecord;
struct HttpResponseRecord;
struct SmbRecord;
}  // namespace fs::app
namespace fs::scan {
class Scanner;
class IpMatcher;
class DomainMatcher;
class RuleState;
class StreamPool;
}  // namespace fs::scan
namespace fs::reassembly {
class Reassembler;
}

namespace fs::worker {

class Worker;

// What the main thread and all workers share. Written by the main thread unless noted.
struct Shared {
  std::atomic<bool> stop{false};          // stop reading inputs (end of input or signal)
  std::atomic<uint32_t> distributors{0};  // workers still feeding other workers' rings
  std::atomic<uint32_t> drained{0};       // workers past their last packet (written by them)
  std::atomic<uint64_t> final_ts_us{0};   // newest packet time over all workers (by them)
  std::atomic<const patterns::PatternSet*> patterns{nullptr};
  // IP indicator lists of `patterns` (immutable; nullptr or no IP lists = stage skipped). Stored
  // before `patterns` (release): a worker reads it when it adopts a set (Init, AdoptPatterns),
  // so the set and the matcher it uses always belong to the same generation.
  std::atomic<const scan::IpMatcher*> ip_matcher{nullptr};
  // Domain indicator lists of `patterns`, published and adopted exactly like ip_matcher (stored
  // before `patterns`); nullptr or no domain lists = no name lookups.
  std::atomic<const scan::DomainMatcher*> domain_matcher{nullptr};
  std::vector<Worker*> workers;  // fixed before launch
  int ts_dynfield_offset = -1;   // mbuf Rx timestamp field (pcap PMD), -1 if none
  uint64_t ts_dynflag = 0;
  bool offline = false;  // capture files: back-pressure instead of drops, results deterministic
};

// Per-mbuf private area: the decoded frame travels with the mbuf from a distributing worker,
// with the worker that owns each layer (the frame and each tunnelled packet inside it are
// separate flows, each owned by the worker its own flow hash picks).
struct MbufMeta {
  decode::Packet pkt;
  uint8_t predecoded = 0;
  uint8_t nlayers = 0;
  uint8_t owner[decode::kMaxTunnelDepth + 1] = {};
  // A datagram rebuilt from IP fragments by another worker (Worker::DeliverDatagram): the mbuf
  // holds its bytes, pkt one of its fragments (for what lies below the IP header), reassembled_l3
  // where its IP header starts. Always written by whoever enqueues an mbuf.
  uint8_t reassembled = 0;
  uint16_t reassembled_l3 = 0;
};

struct RxSource {
  uint16_t port = 0;
  uint16_t queue = 0;
  bool distribute = false;  // single-queue device: hash every packet to its owning worker
  // A capture file read by the worker itself (inputs.pcap-reader: buffered) instead of the
  // port's RX queue; mbufs come from pool. Owned by the control plane, outlives the worker run.
  port::CaptureReader* reader = nullptr;
  rte_mempool* pool = nullptr;
};

struct WorkerConfig {
  uint16_t index = 0;
  uint32_t flow_capacity = 65536;
  flow::Timeouts timeouts;
  uint32_t inbox_size = 4096;           // software distribution ring (mbufs)
  uint32_t event_ring_size = 65536;     // events to the control plane
  uint32_t threshold_capacity = 65536;  // threshold/detection_filter tracking entries
  defrag::Config defrag;                // IP fragment reassembly: trackers, pool, timeout
  // TCP reassembly (depth, midstream, out-of-order caps, segment memory) and stream scanning.
  reassembly::Config stream;
  bool stream_enabled = true;  // reassemble and stream-scan TCP (rules with plan().stream)
  // Flows that may hold Hyperscan stream state at once; 0 = the flow capacity. Memory:
  // contexts x (2 x the stream databases' hs_stream_size + 64 bytes), reserved at start-up.
  uint32_t stream_contexts = 0;
  // Stream contexts (and their Hyperscan stream state) whose memory is taken at start-up rather
  // than by the flows that first use it (scan::StreamPool::Prealloc): at most stream_contexts.
  uint32_t stream_prealloc = 32768;
  bool stream_bypass = false;  // stop inspecting a flow whose two directions reached the depth
  // Hand bypassed flows to the control plane for the NIC offload (Event::Kind::kBypass).
  bool bypass_offload = false;
  // App layer: hand parsed DNS messages to the control plane for EVE "dns" records
  // (outputs.dns). Parsing, counting and domain lists work either way.
  bool dns_records = true;
  bool http_records = true;  // EVE "http" records (outputs.http)
  bool tls_records = true;   // EVE "tls" records (outputs.tls)
  bool smb_records = true;   // EVE "smb" records (outputs.smb)
  // App records (dns, http, tls, smb: one 2000-byte slot each) to the control plane. The output
  // thread drains the ring every loop and a capture waits for room, so the ring only absorbs bursts
  // of a live input: 2048 records (4 MB per worker).
  uint32_t app_ring_size = 2048;
  // TCP app layer (docs/app-layer.md): protocol detection and parsing on the reassembled
  // streams. Needs stream_enabled. Sessions per worker (memory: app::AppSessionPool::slot_bytes()
  // each, plus per flow 2 x 48 KB zlib arena (HTTP), 80 KB during the handshake (TLS), or
  // 2 x smb.retain (SMB)).
  bool app_enabled = true;
  uint32_t app_sessions = 512;
  // Sessions readied at start-up (app::AppSessionPool::Prealloc: their pages, and as many HTTP
  // parser pairs, TLS and SMB buffer blocks), at most app_sessions: about 490 KB each.
  uint32_t app_prealloc = 512;
  app::HttpConfig http;
  app::SmbConfig smb;  // bytes kept per SMB message (app-layer.smb.retain-kb)
  // TLS flows once their handshake is over (app-layer.tls.encryption-handling, Suricata's
  // default): the encrypted payload is not inspected by payload rules and no longer reassembled
  // or stream-scanned. false ("full"): every byte is inspected as before the handshake.
  bool tls_skip_encrypted = true;
};

class Worker {
 public:
  // Frames taken from an input per poll.
  static constexpr uint16_t kBurst = 32;
  Worker(const WorkerConfig& cfg, Shared* shared);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Main thread, before launch: reserves every resource the loop needs.
  bool Init(const patterns::PatternSet* set, std::string* error);
  void AddSource(const RxSource& s) { sources_.push_back(s); }
  bool distributes() const;

  // The lcore entry point (rte_eal_remote_launch). Returns 0.
  int Run();

  // Control-plane side.
  SpscRing<Event>& events() { return *events_; }
  SpscRing<AppRecordEvent>& app_events() { return *app_events_; }
  const Published<WorkerStats>& published() const { return published_; }
  // What Init takes in at start-up for the first flows with this config and set
  // (WorkerConfig::stream_prealloc, app_prealloc), computed beforehand: the sensor checks it
  // against the machine's memory and logs it.
  size_t ReadyBytes(const patterns::PatternSet* set) const;
  uint16_t index() const { return cfg_.index; }

  // Pattern-set reload (controlplane/sensor/reloader.h), control thread only. A new set needs
  // Hyperscan scratch and per-rule match state sized for it; allocating them is control-path
  // work, so the reloader builds a whole Scanner for each worker (prepared for the running set
  // and the next one) and offers it here BEFORE publishing the set in Shared::patterns. At the
  // top of its next loop iteration the worker sees the new set, swaps the offered scanner in
  // (pointer moves, no allocation) and leaves its old one in a retired slot. False when an
  // earlier offer was not taken yet (the offer is then not made).
  bool OfferScanner(std::unique_ptr<scan::Scanner> next);
  // The scanner the worker gave up at its last adoption (nullptr if none): freed by the caller.
  std::unique_ptr<scan::Scanner> TakeRetiredScanner();
  // Quiescence report, an epoch counter per worker: the generation of the set this worker uses
  // from its current loop iteration on. A set older than every worker's report is no longer
  // referenced by any worker. UINT64_MAX once the worker has finished (it references none).
  uint64_t quiescent_generation() const {
    return quiescent_generation_.load(std::memory_order_acquire);
  }

 private:
  // The stream pool's block size and streams a context for set (none without a set), and its
  // contexts (stream_contexts, else the flow capacity): Init and ReadyBytes size it alike.
  static scan::StreamPoolSize StreamSizeFor(const patterns::PatternSet* set);
  uint32_t StreamContexts() const;
  // from_ring: the mbuf came from a distributor, which decoded it and assigned layer owners.
  void ProcessBurst(rte_mbuf** bufs, uint16_t n, bool from_ring);
  // decoded: the frame already decoded by ProcessBurst's look-ahead, and prep its packet's flow
  // key; nullptr: decode it here (from_ring: unless the distributor did, into the mbuf).
  void ProcessMbuf(rte_mbuf* m, bool from_ring, decode::Packet* decoded = nullptr,
                   const flow::FlowTable::Prepared* prep = nullptr);
  void Distribute(rte_mbuf** bufs, uint16_t n);
  bool Enqueue(Worker* target, rte_mbuf* m);
  bool DecodeMbuf(rte_mbuf* m, decode::Packet* p, uint64_t now_us);
  // Decodes the tunnelled packets inside *outer into inner_; returns the layer count (>= 1).
  uint8_t DecodeLayers(decode::Packet* outer, decode::Packet** layers);
  uint8_t OwnerOf(const decode::Packet& p, uint32_t nworkers) const;
  uint64_t Timestamp(const rte_mbuf* m, uint64_t fallback_us) const;
  // prep: p's flow key as ProcessBurst computed it ahead, or nullptr (computed here).
  void HandlePacket(decode::Packet& p, bool scan_payload,
                    const flow::FlowTable::Prepared* prep = nullptr);
  // Alerts for IP indicator lists: once per flow and list (f != nullptr), per packet otherwise.
  // Inline: most sets have no IP lists, and the call alone was 2% of a 64-byte frame.
  void MatchIndicators(const decode::Packet& p, flow::Flow* f, flow::Dir dir) {
    if (ip_lists_) MatchIpLists(p, f, dir);
  }
  void MatchIpLists(const decode::Packet& p, flow::Flow* f, flow::Dir dir);
  void AdoptIpMatcher(const scan::IpMatcher* m);
  // UDP port 53: parses the payload into dns_msg_, counts it, matches its query names against
  // the domain lists and hands an EVE record to the control plane.
  void InspectDns(const decode::Packet& p, flow::Flow& f, flow::Dir dir);
  // One DNS message (a UDP payload or a message DnsTcpFramer cut from a TCP stream).
  void InspectDnsMessage(const decode::Packet& p, flow::Flow& f, flow::Dir dir, const uint8_t* data,
                         size_t len);
  void MatchDomains(const decode::Packet& p, flow::Flow& f, flow::Dir dir,
                    const app::DnsMessage& msg);
  // Alerts for the domain lists that list `name` (once per flow and list); kind: what the name
  // is (AlertEvent::kNameDnsQuery ...).
  void MatchDomain(const decode::Packet& p, flow::Flow& f, flow::Dir dir, std::string_view name,
                   uint8_t kind);
  void EmitDnsRecord(const decode::Packet& p, flow::Flow& f, const app::DnsMessage& msg,
                     uint16_t tx_id);
  // An alert event for packet p (marks the flow alerted); the caller fills in the signature.
  Event AlertFor(const decode::Packet& p, flow::Flow* f, flow::Dir dir);
  void EmitFlowEnd(flow::Flow& f, flow::EndReason r);
  // Reassembly and stream scanning of one TCP packet; returns whether the packet's own payload
  // is to be inspected too (false when the stream holds other bytes than the packet for it).
  // stream_scan: the set has stream rules (without, reassembly only feeds the app layer and the
  // packet is always inspected on its own). *in_stream: the packet's payload went into the
  // flow's stream scan (new bytes, a stream context for them, its streams open or not yet
  // tried), which then decides the set's stream-only rules for them (Scanner::ScanPacket).
  bool Reassemble(const patterns::PatternSet& set, const decode::Packet& p, flow::Flow& f,
                  flow::Dir dir, bool stream_scan, bool* in_stream);
  // Returns f's stream memory (reassembly slots, stream-scan context). report (flow end):
  // delivers what reassembly still holds, closes the streams with their end-of-data matches and
  // reports their alerts; otherwise (a pass) drops all of it unreported.
  void ReleaseStreams(flow::Flow& f, bool report);
  // Flow::indicator_alerted holds the bits of the current indicator epoch: starts f over after a
  // matcher change. True when f was already current.
  bool SyncIndicatorEpoch(flow::Flow& f);
  // Stops inspecting f (Flow::bypassed, counted); p is the packet that decided it. A pass frees
  // the flow's stream memory at once (nothing of it will be inspected or reported); at the depth
  // there is none left to free. With the offload on, an untagged outer flow goes to the control
  // plane for a NIC rule.
  void Bypass(flow::Flow& f, const decode::Packet& p, BypassReason why);
  void EmitRuleAlert(const patterns::PatternSet& set, uint32_t rule_index, const decode::Packet& p,
                     flow::Flow* f, flow::Dir dir);
  struct StreamSink;
  // TCP app layer (dataplane/app/session.h), from StreamSink: in-order bytes of direction dir
  // (detection, then the protocol's parser), a gap (that direction stops being parsed), and the
  // flow's end or bypass (report: finish and report what the parsers hold; then the session is
  // released).
  void AppData(StreamSink& sink, int dir, const uint8_t* data, uint32_t len);
  void AppDetect(StreamSink& sink, app::AppSession& s, int dir, const uint8_t* data, uint32_t len);
  void AppFeed(StreamSink& sink, app::AppSession& s, int dir, const uint8_t* data, size_t len);
  void AppGap(flow::Flow& f, int dir);
  void ReleaseApp(StreamSink& sink, bool report);
  // Closes the flow's Hyperscan streams without their end-of-data matches and frees its stream
  // context (a TLS flow whose payload is no longer inspected).
  void StopStreamScan(flow::Flow& f);
  // The raw bytes of direction dir's transaction (app::RawWindow) as Buffer::kPayload of `in`,
  // when the set has app rules of in->proto that inspect them; empty without a session.
  void AddRawPayload(const patterns::PatternSet& set, const flow::Flow& f, int dir,
                     patterns::AppInspect* in);
  // AppHooks: a completed HTTP request / response (with the request it answers) / a request
  // never answered. Called from inside AppFeed and ReleaseApp (app_sink_ is the caller's sink).
  void OnHttpRequest(app::HttpRequestRecord& req);
  void OnHttpResponse(const app::HttpRequestRecord* req, app::HttpResponseRecord& resp);
  void OnHttpUnanswered(const app::HttpRequestRecord& req);
  void EmitHttpRecord(uint64_t ts_us, const flow::Flow& f, const app::HttpRequestRecord* req,
                      const app::HttpResponseRecord* resp);
  // TLS (from AppFeed): what the parser made ready; the ClientHello side (SNI domain lists,
  // to-server rules), the server side (to-client rules with the client's buffers too), and the end
  // of the handshake or flow (EVE "tls" record once, counters; the parser is released).
  void OnTlsProgress(StreamSink& sink, app::AppSession& s, uint32_t ready);
  void InspectTlsClient(StreamSink& sink, app::AppSession& s);
  void InspectTlsServer(StreamSink& sink, app::AppSession& s);
  void FinishTls(StreamSink& sink, app::AppSession& s);
  void CountTlsEvents(app::AppSession& s);
  // SMB (AppHooks::smb_record): rules on every record, EVE for the ones worth a line.
  void OnSmbRecord(app::AppSession& s, const app::SmbRecord& rec);
  void EmitSmbRecord(uint64_t ts_us, const flow::Flow& f, app::AppSession& s,
                     const app::SmbRecord& rec);
  void PushAppRecord();
  // IP fragments (see docs/design-notes.md, "IP fragment reassembly"). HandleFragment: a fragment
  // reached HandlePacket; it is reassembled here unless a distributing worker already took it.
  void HandleFragment(const decode::Packet& p);
  // Decodes a rebuilt datagram and hands each of its layers to the worker that owns its flow
  // (an mbuf copy for other workers); fragments inside it go to this worker's defragmenter.
  void DeliverDatagram(const decode::Packet& frag, const defrag::Datagram& d, rte_mempool* pool);
  // The receiving side: a datagram another worker rebuilt (MbufMeta::reassembled).
  void ProcessReassembled(rte_mbuf* m);
  void Emit(const Event& e);
  // Top of a burst: takes the newest published pattern set (and the scanner offered for it) and
  // reports quiescence. Every use of the set during the iteration goes through set_.
  void AdoptPatterns();
  uint16_t DrainInbox();
  void Finish();
  void Publish();

  WorkerConfig cfg_;
  Shared* shared_;
  std::vector<RxSource> sources_;
  rte_ring* inbox_ = nullptr;
  std::unique_ptr<flow::FlowTable> flows_;
  std::unique_ptr<scan::Scanner> scanner_;
  std::unique_ptr<scan::RuleState> rule_state_;  // thresholds; kept across pattern reloads
  std::unique_ptr<reassembly::Reassembler> reassembler_;
  std::unique_ptr<scan::StreamPool> stream_pool_;
  std::unique_ptr<SpscRing<Event>> events_;
  std::unique_ptr<SpscRing<AppRecordEvent>> app_events_;
  // One parse result and one record under construction per worker (each ~20 KB / ~2 KB):
  // reserved at Init, reused for every message, never per flow.
  std::unique_ptr<app::DnsMessage> dns_msg_;
  std::unique_ptr<AppRecordEvent> app_record_;
  // TCP app layer: the session pool (nullptr when off), its hooks, the sink that is feeding a
  // session right now (for the hooks), scratch for buffers built per inspection (http.start),
  // and a pass an app-layer rule asked for while the stream was being delivered (applied by
  // HandlePacket once reassembly returned).
  std::unique_ptr<app::AppHooks> app_hooks_;
  std::unique_ptr<app::AppSessionPool> app_pool_;
  StreamSink* app_sink_ = nullptr;
  std::unique_ptr<char[]> app_scratch_;
  bool pending_pass_ = false;
  std::unique_ptr<uint8_t[]> linear_;  // reassembles multi-segment frames for decoding
  decode::Packet inner_[decode::kMaxTunnelDepth + 1];  // tunnelled layers of the current frame
  // The frames of the burst being handled, decoded ahead (ProcessBurst): here rather than in
  // each mbuf's private area, whose lines are cold when a frame arrives.
  decode::Packet ahead_[kBurst];
  flow::FlowTable::Prepared ahead_keys_[kBurst];  // their packets' flow keys
  std::unique_ptr<defrag::Defragmenter> defrag_;
  std::unique_ptr<uint8_t[]> rebuilt_;  // linear copy of a rebuilt datagram another worker sent
  bool defrag_upstream_ = false;        // fragments now in HandlePacket were already defragmented
  rte_mempool* cur_pool_ = nullptr;     // pool of the mbuf being processed (datagram copies)
  uint16_t cur_port_ = 0;               // port of the mbuf being processed (bypass offload)
  WorkerStats stats_;
  Published<WorkerStats> published_;
  uint64_t wall_us_ = 0;  // wall clock at the top of the current loop iteration
  // The pattern set of this loop iteration (Shared::patterns as of its top).
  const patterns::PatternSet* set_ = nullptr;
  // The IP matcher adopted with set_, and a counter bumped whenever it changes: a flow looks its
  // addresses up once per matcher (Flow::indicator_generation holds this counter).
  const scan::IpMatcher* ip_matcher_ = nullptr;
  bool ip_lists_ = false;                                // ip_matcher_ has lists (AdoptIpMatcher)
  const scan::DomainMatcher* domain_matcher_ = nullptr;  // adopted with set_, like ip_matcher_
  uint32_t indicator_epoch_ = 1;
  std::atomic<scan::Scanner*> offered_scanner_{nullptr};  // control thread -> worker
  std::atomic<scan::Scanner*> retired_scanner_{nullptr};  // worker -> control thread
  std::atomic<uint64_t> quiescent_generation_{0};
};

}  // namespace fs::worker
