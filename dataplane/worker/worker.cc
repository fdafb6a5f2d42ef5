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

#include "dataplane/scan/ip_match.h"
#include "dataplane/scan/scanner.h"
#include "patterns/pattern_set.h"

namespace fs::worker {

namespace {

constexpr uint16_t kBurst = 32;
constexpr uint32_t kLinearBytes = 65536 + 128;
constexpr uint32_t kExpireBudget = 256;

uint64_t WallClockUs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
}

MbufMeta* Meta(rte_mbuf* m) { return static_cast<MbufMeta*>(rte_mbuf_to_priv(m)); }

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
  if (set != nullptr && !scanner_->Prepare(*set)) {
    *error = fmt::format("worker {}: cannot allocate Hyperscan scratch", cfg_.index);
    return false;
  }
  events_ = std::make_unique<SpscRing<Event>>(cfg_.event_ring_size);
  linear_ = std::make_unique<uint8_t[]>(kLinearBytes);
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

void Worker::EmitFlowEnd(const flow::Flow& f, flow::EndReason r) {
  Event e;
  e.kind = Event::Kind::kFlowEnd;
  e.worker = cfg_.index;
  e.flow_end = FlowSnapshot::Of(f);
  e.flow_end.reason = r;
  Emit(e);
}

void Worker::HandlePacket(decode::Packet& p, bool scan_payload) {
  if (p.depth == 0) {
    ++stats_.rx_packets;
    stats_.rx_bytes += p.caplen;
    if (p.ts_us > stats_.last_ts_us) stats_.last_ts_us = p.ts_us;
  }
  stats_.decode.Count(p);
  if (flow::UseOf(p) == flow::FlowUse::kNone) {
    if (p.layer == decode::Layer::kL3Fragment || p.layer == decode::Layer::kL3Other) {
      MatchIndicators(p, nullptr, flow::Dir::kToServer);
    }
    return;
  }

  auto r =
      flows_->Update(p, [this](const flow::Flow& f, flow::EndReason why) { EmitFlowEnd(f, why); });
  if (r.flow == nullptr) return;
  flow::Flow* f = r.flow;
#if FS_HAVE_CONDITIONS
  // Flow history for flow:established (and flowbits) is kept on every packet of the flow.
  if (p.proto == f->proto) scan::ObservePacket(p, *f);
#endif
  MatchIndicators(p, f, r.dir);
  if (!scan_payload) return;

  const patterns::PatternSet* set = shared_->patterns.load(std::memory_order_acquire);
  if (set == nullptr) return;
  stats_.payload_bytes_scanned += p.payload_len;
  scanner_->ScanPacket(*set, p, *f, r.dir, *rule_state_, [&](uint32_t rule_index) {
    const auto& rule = set->rules()[rule_index];
    Event e = AlertFor(p, f, r.dir);
    AlertEvent& a = e.alert;
    a.rule_index = rule_index;
    a.sid = rule.sid;
    a.gid = rule.gid;
    a.rev = rule.rev;
    a.pattern_generation = set->generation();
    Emit(e);
  });
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

void Worker::MatchIndicators(const decode::Packet& p, flow::Flow* f, flow::Dir dir) {
  const scan::IpMatcher* m = shared_->ip_matcher.load(std::memory_order_acquire);
  if (m == nullptr || m->lists() == 0) return;
  uint64_t fresh;
  scan::IpMatch hit;
  if (f != nullptr) {
    // A flow's addresses never change: one lookup per flow (and per indicator generation).
    const uint64_t gen = shared_->indicator_generation.load(std::memory_order_acquire);
    if (f->indicator_generation == gen) return;
    if (f->indicator_generation != 0) f->indicator_alerted = 0;
    f->indicator_generation = gen;
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
    Emit(e);
  }
}

uint8_t Worker::DecodeLayers(decode::Packet* outer, decode::Packet** layers) {
  uint8_t n = 1;
  layers[0] = outer;
  while (n <= decode::kMaxTunnelDepth && layers[n - 1]->inner_kind != decode::InnerKind::kNone) {
    decode::Packet* inner = &inner_[n - 1];
    decode::DecodeInner(*layers[n - 1], inner);
    if (inner->depth == 0) break;
    layers[n++] = inner;
  }
  return n;
}

uint8_t Worker::OwnerOf(const decode::Packet& p, uint32_t nworkers) const {
  bool lo;
  if (flow::UseOf(p) != flow::FlowUse::kNone) {
    return static_cast<uint8_t>(flow::HashKey(flow::MakeKey(p, &lo)) % nworkers);
  }
  if (p.layer == decode::Layer::kNone) return 0;  // not IP: nothing but counting
  // Fragments and flowless IP: by addresses only, so every fragment of a datagram meets.
  decode::Packet addr_only;
  addr_only.layer = decode::Layer::kL3Other;
  addr_only.ip_version = p.ip_version;
  addr_only.proto = p.proto;
  addr_only.src = p.src;
  addr_only.dst = p.dst;
  return static_cast<uint8_t>(flow::HashKey(flow::MakeKey(addr_only, &lo)) % nworkers);
}

void Worker::ProcessMbuf(rte_mbuf* m, bool from_ring) {
  MbufMeta* meta = Meta(m);
  if (!(from_ring && meta->predecoded)) {
    if (!DecodeMbuf(m, &meta->pkt, wall_us_)) {
      ++stats_.drops[static_cast<int>(DropReason::kOversize)];
      rte_pktmbuf_free(m);
      return;
    }
  }
  decode::Packet* layers[decode::kMaxTunnelDepth + 1];
  const uint8_t n = DecodeLayers(&meta->pkt, layers);
  for (uint8_t i = 0; i < n; ++i) {
    if (from_ring && i < meta->nlayers && meta->owner[i] != cfg_.index) continue;
    // The payload of a packet that carries a decoded tunnelled packet is scanned as that packet.
    HandlePacket(*layers[i], i + 1 == n);
  }
  rte_pktmbuf_free(m);
}

void Worker::ProcessBurst(rte_mbuf** bufs, uint16_t n, bool from_ring) {
  for (uint16_t i = 0; i < n; ++i) {
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(bufs[i + 1], void*));
    ProcessMbuf(bufs[i], from_ring);
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
    decode::Packet* layers[decode::kMaxTunnelDepth + 1];
    meta->nlayers = DecodeLayers(&meta->pkt, layers);
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
  }
}

uint16_t Worker::DrainInbox() {
  rte_mbuf* bufs[kBurst];
  const unsigned n =
      rte_ring_sc_dequeue_burst(inbox_, reinterpret_cast<void**>(bufs), kBurst, nullptr);
  if (n > 0) ProcessBurst(bufs, static_cast<uint16_t>(n), true);
  return static_cast<uint16_t>(n);
}

void Worker::Publish() {
  stats_.flow = flows_ ? flows_->counters() : flow::Counters{};
  published_.Publish(stats_);
}

int Worker::Run() {
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
    const bool stopping = shared_->stop.load(std::memory_order_acquire);
    uint32_t got = 0;
    if (!inputs_done) {
      for (size_t s = 0; s < sources_.size(); ++s) {
        const RxSource& src = sources_[s];
        const uint16_t n = rte_eth_rx_burst(src.port, src.queue, bufs, kBurst);
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
                     [this](const flow::Flow& f, flow::EndReason r) { EmitFlowEnd(f, r); });
    } else if (!shared_->offline && wall_us_ - last_wall_expire_us > 100000) {
      last_wall_expire_us = wall_us_;
      flows_->Expire(std::max(wall_us_, stats_.last_ts_us), kExpireBudget,
                     [this](const flow::Flow& f, flow::EndReason r) { EmitFlowEnd(f, r); });
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
  while (flows_->Expire(end_ts, kExpireBudget, [this](const flow::Flow& f, flow::EndReason r) {
    EmitFlowEnd(f, r);
  }) > 0) {
  }
  flows_->Flush([this](const flow::Flow& f, flow::EndReason r) { EmitFlowEnd(f, r); });
  Publish();
}

}  // namespace fs::worker
