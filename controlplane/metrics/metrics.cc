#include "controlplane/metrics/metrics.h"

#include <fmt/format.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace fs::metrics {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

namespace {

// Builder for one family of metrics assembled at scrape time.
struct FamilyBuilder {
  MetricFamily f;
  FamilyBuilder(std::string name, std::string help, MetricType type) {
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = type;
  }
  void Add(std::vector<ClientMetric::Label> labels, double v) {
    ClientMetric m;
    m.label = std::move(labels);
    if (f.type == MetricType::Counter) {
      m.counter.value = v;
    } else {
      m.gauge.value = v;
    }
    f.metric.push_back(std::move(m));
  }
};

// The block manager's event actions, refusal reasons and backend names (controlplane/enforce):
// every series exists from start-up, and nothing else becomes a label.
constexpr const char* kBlockActions[] = {"add",        "refresh",     "expire",  "remove",
                                         "refused",    "dry_run",     "applied", "failed",
                                         "backend_up", "backend_down"};
constexpr const char* kBlockRefusals[] = {"allowlist", "home_net", "cap", "rate", "invalid"};
constexpr const char* kBlockBackends[] = {"nftables", "bgp", "webhook", "nic"};

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

size_t TopSources::Hash::operator()(const IpAddr& a) const {
  // FNV-1a over the 16 bytes: addresses come from the network, but the table is bounded by
  // max_tracked, so a crafted collision costs lookup time on the output thread, not memory.
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : a.bytes) h = (h ^ b) * 1099511628211ull;
  return size_t(h);
}

TopSources::TopSources(double window_s, size_t top_n, size_t max_tracked)
    : window_s_(window_s), top_n_(top_n), max_tracked_(max_tracked) {}

void TopSources::Roll(double now_s) {
  if (window_start_ < 0) {
    window_start_ = now_s;
    return;
  }
  if (now_s < window_start_ + window_s_) return;
  // One window passed: the current one becomes the previous. Two or more: both are stale.
  if (now_s < window_start_ + 2 * window_s_) {
    previous_.swap(current_);
  } else {
    previous_.clear();
  }
  current_.clear();
  const double windows = std::floor((now_s - window_start_) / window_s_);
  window_start_ += windows * window_s_;
}

void TopSources::Add(const IpAddr& src, double now_s) {
  std::lock_guard<std::mutex> lock(mu_);
  Roll(now_s);
  auto it = current_.find(src);
  if (it != current_.end()) {
    ++it->second;
  } else if (current_.size() < max_tracked_) {
    current_.emplace(src, 1);
  } else {
    ++untracked_;
  }
}

std::vector<TopSources::Entry> TopSources::Top(double now_s) {
  std::vector<Entry> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Roll(now_s);
    Table merged = previous_;
    for (const auto& [src, n] : current_) merged[src] += n;
    all.reserve(merged.size());
    for (const auto& [src, n] : merged) all.push_back({src, n});
  }
  const size_t n = std::min(top_n_, all.size());
  auto better = [](const Entry& a, const Entry& b) {
    return a.alerts != b.alerts ? a.alerts > b.alerts : a.src < b.src;
  };
  std::partial_sort(all.begin(), all.begin() + n, all.end(), better);
  all.resize(n);
  return all;
}

uint64_t TopSources::untracked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return untracked_;
}

class Metrics::WorkerCollectable : public prometheus::Collectable {
 public:
  explicit WorkerCollectable(Sources s)
      : s_(std::move(s)), top_sources_(std::make_shared<TopSources>()) {
    start_ =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }

  std::vector<MetricFamily> Collect() const override {
    std::vector<worker::WorkerStats> w;
    for (const auto* p : s_.workers) w.push_back(p->Read());
    std::vector<MetricFamily> out;
    using C = MetricType;
    auto per_worker = [&](const char* name, const char* help, C type, auto get) {
      FamilyBuilder b(name, help, type);
      for (size_t i = 0; i < w.size(); ++i)
        b.Add({{"worker", std::to_string(i)}}, double(get(w[i])));
      out.push_back(std::move(b.f));
    };
    per_worker("flowsentry_rx_packets_total", "Packets processed by the worker.", C::Counter,
               [](const auto& s) { return s.rx_packets; });
    per_worker("flowsentry_rx_bytes_total",
               "Bytes (captured frame length) processed by the worker.", C::Counter,
               [](const auto& s) { return s.rx_bytes; });
    per_worker(
        "flowsentry_distributed_packets_total",
        "Packets the worker read from a single-queue input and spread to workers by flow hash.",
        C::Counter, [](const auto& s) { return s.distributed; });
    {
      FamilyBuilder b("flowsentry_worker_dropped_packets_total",
                      "Packets dropped inside the sensor, by worker and reason.", C::Counter);
      for (size_t i = 0; i < w.size(); ++i) {
        for (int r = 0; r < worker::kDropReasonCount; ++r) {
          b.Add({{"worker", std::to_string(i)},
                 {"reason", worker::DropReasonName(static_cast<worker::DropReason>(r))}},
                double(w[i].drops[r]));
        }
      }
      out.push_back(std::move(b.f));
    }
    per_worker("flowsentry_app_dns_messages_total",
               "DNS messages parsed (UDP port 53 and DNS over TCP), requests and responses.",
               C::Counter, [](const auto& s) { return s.dns_messages; });
    per_worker("flowsentry_app_dns_tcp_messages_total",
               "DNS messages parsed from TCP streams (also counted in "
               "flowsentry_app_dns_messages_total).",
               C::Counter, [](const auto& s) { return s.dns_tcp_messages; });
    per_worker("flowsentry_app_sessions_in_use", "TCP flows holding an app-layer session.",
               C::Gauge, [](const auto& s) { return s.app_sessions_in_use; });
    per_worker("flowsentry_app_sessions_exhausted_total",
               "TCP flows left without app-layer parsing because every session was in use "
               "(app-layer.max-sessions).",
               C::Counter, [](const auto& s) { return s.app_sessions_exhausted; });
    per_worker("flowsentry_app_sessions_closed_total",
               "App-layer sessions finished when both directions of the connection were over "
               "(FIN, RST or the stream depth), before the flow ended.",
               C::Counter, [](const auto& s) { return s.app_sessions_closed; });
    {
      FamilyBuilder b("flowsentry_app_detected_flows_total",
                      "Flows by detected application protocol.", C::Counter);
      for (size_t i = 0; i < w.size(); ++i) {
        for (int p = 1; p < patterns::kAppProtoCount; ++p) {
          b.Add({{"worker", std::to_string(i)},
                 {"proto", patterns::AppProtoName(static_cast<patterns::AppProto>(p))}},
                double(w[i].app_detected[p]));
        }
      }
      out.push_back(std::move(b.f));
    }
    per_worker("flowsentry_app_detect_failed_total",
               "TCP flows whose first bytes matched no protocol the sensor parses.", C::Counter,
               [](const auto& s) { return s.app_detect_failed; });
    per_worker("flowsentry_app_stream_gaps_total",
               "TCP directions whose app-layer parsing stopped at a gap in the stream.", C::Counter,
               [](const auto& s) { return s.app_gaps; });
    per_worker("flowsentry_app_http_transactions_total", "HTTP requests parsed.", C::Counter,
               [](const auto& s) { return s.http_transactions; });
    per_worker("flowsentry_app_tls_handshakes_total",
               "TLS handshakes parsed (a ClientHello or ServerHello seen), one per TLS flow.",
               C::Counter, [](const auto& s) { return s.tls_handshakes; });
    per_worker("flowsentry_app_tls_encrypted_flows_total",
               "TLS flows whose payload was no longer inspected by payload rules once encrypted "
               "(app-layer.tls.encryption-handling: default).",
               C::Counter, [](const auto& s) { return s.tls_encrypted_flows; });
    per_worker("flowsentry_app_smb_records_total",
               "SMB messages parsed (each element of a compound chain counts).", C::Counter,
               [](const auto& s) { return s.smb_records; });
    {
      FamilyBuilder b("flowsentry_app_events_total",
                      "App-layer parser anomalies, by worker and event (Suricata's app-layer "
                      "event names, e.g. dns.malformed_data).",
                      C::Counter);
      for (size_t i = 0; i < w.size(); ++i) {
        for (int e = 0; e < app::kDnsEventCount; ++e) {
          b.Add({{"worker", std::to_string(i)},
                 {"event", std::string("dns.") + app::DnsEventName(static_cast<app::DnsEvent>(e))}},
                double(w[i].dns_events[e]));
        }
        for (int e = 0; e < app::kHttpEventCount; ++e) {
          b.Add({{"worker", std::to_string(i)},
                 {"event",
                  std::string("http.") + app::HttpEventName(static_cast<app::HttpEvent>(e))}},
                double(w[i].http_events[e]));
        }
        for (int e = 0; e < app::kTlsEventCount; ++e) {
          b.Add({{"worker", std::to_string(i)},
                 {"event", std::string("tls.") + app::TlsEventName(static_cast<app::TlsEvent>(e))}},
                double(w[i].tls_events[e]));
        }
        for (int e = 0; e < app::kSmbEventCount; ++e) {
          b.Add({{"worker", std::to_string(i)},
                 {"event", std::string("smb.") + app::SmbEventName(static_cast<app::SmbEvent>(e))}},
                double(w[i].smb_events[e]));
        }
      }
      out.push_back(std::move(b.f));
    }
    per_worker(
        "flowsentry_app_records_dropped_total",
        "App-layer EVE records (dns, http, tls, smb) lost because the output thread fell behind.",
        C::Counter, [](const auto& s) { return s.app_records_dropped; });
    {
      FamilyBuilder b("flowsentry_decode_events_total",
                      "Malformed or anomalous packets by decoder event (Suricata's names).",
                      C::Counter);
      for (int e = 1; e < decode::kDecodeEventCount; ++e) {  // 0 is kNone
        uint64_t sum = 0;
        for (const auto& s : w) sum += s.decode.events[e];
        b.Add({{"event", decode::DecodeEventName(static_cast<decode::DecodeEvent>(e))}},
              double(sum));
      }
      out.push_back(std::move(b.f));
    }
    {
      FamilyBuilder b("flowsentry_decoded_packets_total", "Packets by decoded protocol layer.",
                      C::Counter);
      auto sum = [&](auto get) {
        uint64_t t = 0;
        for (const auto& s : w) t += get(s.decode);
        return double(t);
      };
      b.Add({{"protocol", "ipv4"}}, sum([](const auto& d) { return d.ipv4; }));
      b.Add({{"protocol", "ipv6"}}, sum([](const auto& d) { return d.ipv6; }));
      b.Add({{"protocol", "tcp"}}, sum([](const auto& d) { return d.tcp; }));
      b.Add({{"protocol", "udp"}}, sum([](const auto& d) { return d.udp; }));
      b.Add({{"protocol", "icmp"}}, sum([](const auto& d) { return d.icmp; }));
      b.Add({{"protocol", "other_ip"}}, sum([](const auto& d) { return d.other_l3; }));
      b.Add({{"protocol", "non_ip"}}, sum([](const auto& d) { return d.non_ip; }));
      b.Add({{"protocol", "fragment"}}, sum([](const auto& d) { return d.fragments; }));
      out.push_back(std::move(b.f));
    }
    {
      FamilyBuilder b("flowsentry_tunnel_packets_total",
                      "Packets found inside each kind of encapsulation (GRE, ERSPAN, VXLAN, ...).",
                      C::Counter);
      for (int t = 1; t < decode::kTunnelCount; ++t) {  // 0 is kNone
        uint64_t sum = 0;
        for (const auto& s : w) sum += s.decode.tunnels[t];
        b.Add({{"tunnel", decode::TunnelName(static_cast<decode::Tunnel>(t))}}, double(sum));
      }
      out.push_back(std::move(b.f));
    }
    per_worker("flowsentry_stream_scanned_bytes_total",
               "Reassembled TCP stream bytes scanned in Hyperscan stream mode.", C::Counter,
               [](const auto& s) { return s.scan.stream_bytes; });
    per_worker("flowsentry_stream_matches_total",
               "Rules reported from stream matches (once per rule and flow).", C::Counter,
               [](const auto& s) { return s.scan.stream_matches; });
    per_worker("flowsentry_stream_resets_total",
               "Hyperscan streams restarted after a gap or a pattern-set swap.", C::Counter,
               [](const auto& s) { return s.scan.stream_resets; });
    per_worker("flowsentry_stream_untracked_total",
               "Flow directions that gave up a partly matched rule of several contents to a "
               "newer one: that rule alerts later, at the latest when the stream closes.",
               C::Counter, [](const auto& s) { return s.scan.stream_untracked; });
    per_worker("flowsentry_stream_rules_alone_total",
               "TCP packets whose payload went into no stream scan (retransmission, flow not "
               "reassembled, past the stream depth), matched against the stream-only rules on "
               "their own.",
               C::Counter, [](const auto& s) { return s.scan.stream_alone; });
    per_worker("flowsentry_stream_open_failures_total",
               "Flow directions left to per-packet inspection because stream state memory was "
               "full (raise stream.contexts).",
               C::Counter,
               [](const auto& s) { return s.scan.stream_open_failures + s.stream_pool.exhausted; });
    per_worker("flowsentry_stream_contexts_active", "Flows holding Hyperscan stream state.",
               C::Gauge, [](const auto& s) { return s.stream_contexts_in_use; });
    per_worker("flowsentry_reassembly_segment_slots_active",
               "Out-of-order TCP segment slots in use (segment memory).", C::Gauge,
               [](const auto& s) { return s.reassembly_slots_in_use; });
    per_worker("flowsentry_stream_only_packets_total",
               "TCP packets inspected through the stream only: their bytes overlapped other data "
               "the stream kept.",
               C::Counter, [](const auto& s) { return s.stream_only_packets; });
    per_worker("flowsentry_flows_bypassed_total",
               "Flows whose inspection stopped: both directions at the stream depth "
               "(stream.bypass), or a pass rule matched (flowsentry_flows_passed_total).",
               C::Counter, [](const auto& s) { return s.bypassed_flows; });
    per_worker("flowsentry_flows_passed_total",
               "Flows a pass rule exempted from further inspection (IP-only pass rules, and pass "
               "rules matching TCP payload, as Suricata).",
               C::Counter, [](const auto& s) { return s.passed_flows; });
    per_worker("flowsentry_bypassed_packets_total",
               "Packets of bypassed flows: counted, not inspected.", C::Counter,
               [](const auto& s) { return s.bypassed_packets; });
    {
      FamilyBuilder b("flowsentry_tcp_reassembly_events_total",
                      "TCP reassembly events by kind (docs/reassembly.md).", C::Counter);
      auto add = [&](const char* event, auto get) {
        uint64_t t = 0;
        for (const auto& s : w) t += get(s.reassembly);
        b.Add({{"event", event}}, double(t));
      };
      add("segment", [](const auto& r) { return r.segments; });
      add("duplicate", [](const auto& r) { return r.duplicates; });
      add("overlap", [](const auto& r) { return r.overlaps; });
      add("overlap_different_data", [](const auto& r) { return r.overlaps_different; });
      add("out_of_order_buffered", [](const auto& r) { return r.ooo_buffered; });
      add("gap", [](const auto& r) { return r.gaps; });
      add("depth_reached", [](const auto& r) { return r.depth_reached; });
      add("segment_memory_full", [](const auto& r) { return r.pool_exhausted; });
      add("flow_segment_cap", [](const auto& r) { return r.dir_cap_reached; });
      add("out_of_window", [](const auto& r) { return r.out_of_window; });
      add("keepalive", [](const auto& r) { return r.keepalives; });
      add("not_tracked", [](const auto& r) { return r.not_tracked; });
      add("midstream_pickup", [](const auto& r) { return r.midstream_pickups; });
      add("syn_data_ignored", [](const auto& r) { return r.syn_data_ignored; });
      add("data_after_fin", [](const auto& r) { return r.after_fin; });
      add("data_after_rst", [](const auto& r) { return r.after_rst; });
      add("data_after_depth", [](const auto& r) { return r.after_depth; });
      out.push_back(std::move(b.f));
    }
    per_worker("flowsentry_tcp_reassembly_delivered_bytes_total",
               "TCP stream bytes delivered in order by reassembly.", C::Counter,
               [](const auto& s) { return s.reassembly.bytes_delivered; });
    per_worker("flowsentry_tcp_reassembly_gap_bytes_total",
               "TCP stream bytes skipped in holes (never seen, or given up under the caps).",
               C::Counter, [](const auto& s) { return s.reassembly.gap_bytes; });
    per_worker("flowsentry_flows_created_total", "Flows created.", C::Counter,
               [](const auto& s) { return s.flow.created; });
    per_worker("flowsentry_flows_active", "Flows currently tracked.", C::Gauge,
               [](const auto& s) { return s.flow.active; });
    per_worker("flowsentry_flows_ended_total", "Flows ended, for any reason.", C::Counter,
               [](const auto& s) { return s.flow.ended; });
    per_worker("flowsentry_flows_evicted_total",
               "Flows ended early because the flow table was full (raise flow.capacity).",
               C::Counter, [](const auto& s) { return s.flow.evicted; });
    per_worker("flowsentry_flows_timed_out_total", "Flows ended by their idle timeout.", C::Counter,
               [](const auto& s) { return s.flow.timed_out; });
    per_worker("flowsentry_defrag_fragments_total",
               "IP fragments given to reassembly (by the worker that reassembles them).",
               C::Counter, [](const auto& s) { return s.defrag.fragments; });
    per_worker("flowsentry_defrag_reassembled_total",
               "IP datagrams rebuilt from fragments (IPv4 and IPv6).", C::Counter,
               [](const auto& s) { return s.defrag.reassembled_ipv4 + s.defrag.reassembled_ipv6; });
    {
      FamilyBuilder b("flowsentry_defrag_datagrams_dropped_total",
                      "Fragmented datagrams given up, by reason: timeout (a piece never came), "
                      "evicted (trackers or pool full: raise defrag.max_datagrams/pool_bytes), "
                      "too_large (over 65535 bytes), too_many (over defrag.max_fragments pieces), "
                      "discarded (incomplete at shutdown), ignored (fragments with no pool room).",
                      C::Counter);
      for (size_t i = 0; i < w.size(); ++i) {
        const auto& d = w[i].defrag;
        const std::pair<const char*, uint64_t> reasons[] = {
            {"timeout", d.timeouts},  {"evicted", d.evicted},     {"too_large", d.too_large},
            {"too_many", d.too_many}, {"discarded", d.discarded}, {"ignored", d.ignored}};
        for (const auto& [reason, v] : reasons) {
          b.Add({{"worker", std::to_string(i)}, {"reason", reason}}, double(v));
        }
      }
      out.push_back(std::move(b.f));
    }
    per_worker(
        "flowsentry_defrag_overlaps_total",
        "IP fragments that overlapped data already held (resolved as Suricata's bsd policy).",
        C::Counter, [](const auto& s) { return s.defrag.overlaps; });
    per_worker("flowsentry_defrag_datagrams_active", "Fragmented datagrams being reassembled.",
               C::Gauge, [](const auto& s) { return s.defrag.active; });
    per_worker("flowsentry_defrag_pool_bytes", "Fragment bytes held for reassembly.", C::Gauge,
               [](const auto& s) { return s.defrag.pool_bytes_used; });
    per_worker("flowsentry_alerts_total", "Alerts raised.", C::Counter,
               [](const auto& s) { return s.alerts; });
    per_worker("flowsentry_payload_scanned_bytes_total", "Payload bytes run through Hyperscan.",
               C::Counter, [](const auto& s) { return s.payload_bytes_scanned; });
    per_worker("flowsentry_event_ring_dropped_total",
               "Alerts/flow records lost because the worker's event ring to the output was full.",
               C::Counter, [](const auto& s) { return s.events_dropped; });
    per_worker("flowsentry_worker_busy_cycles_total",
               "TSC cycles spent on loop rounds that had packets.", C::Counter,
               [](const auto& s) { return s.busy_cycles; });
    per_worker("flowsentry_worker_idle_cycles_total", "TSC cycles spent polling empty inputs.",
               C::Counter, [](const auto& s) { return s.idle_cycles; });

    if (s_.ports) {
      auto ports = s_.ports();
      FamilyBuilder rx("flowsentry_port_rx_packets_total", "Packets the input device delivered.",
                       C::Counter);
      FamilyBuilder rxb("flowsentry_port_rx_bytes_total", "Bytes the input device delivered.",
                        C::Counter);
      FamilyBuilder drop("flowsentry_port_dropped_packets_total",
                         "Packets the input lost before a worker saw them, by reason: imissed (RX "
                         "queue full: workers too slow), no_mbuf (packet pool empty), rx_errors.",
                         C::Counter);
      for (const auto& p : ports) {
        rx.Add({{"port", p.name}}, double(p.ipackets));
        rxb.Add({{"port", p.name}}, double(p.ibytes));
        drop.Add({{"port", p.name}, {"reason", "imissed"}}, double(p.imissed));
        drop.Add({{"port", p.name}, {"reason", "no_mbuf"}}, double(p.rx_nombuf));
        drop.Add({{"port", p.name}, {"reason", "rx_errors"}}, double(p.ierrors));
      }
      out.push_back(std::move(rx.f));
      out.push_back(std::move(rxb.f));
      out.push_back(std::move(drop.f));
    }
    if (s_.enforcement) {
      const EnforcementGauges g = s_.enforcement();
      FamilyBuilder active("flowsentry_blocks_active",
                           "Blocks in force now (dry run: 0, nothing is recorded as active).",
                           C::Gauge);
      active.Add({}, double(g.active));
      out.push_back(std::move(active.f));
      FamilyBuilder up("flowsentry_block_backend_up",
                       "1 when the enforcement backend is started, synchronised and its last "
                       "call succeeded; 0 while it is failing (blocks wait and are retried).",
                       C::Gauge);
      FamilyBuilder pending("flowsentry_block_backend_pending",
                            "Block changes not yet applied by the backend.", C::Gauge);
      for (const auto& b : g.backends) {
        up.Add({{"backend", b.name}}, b.up ? 1 : 0);
        pending.Add({{"backend", b.name}}, double(b.pending));
      }
      out.push_back(std::move(up.f));
      out.push_back(std::move(pending.f));
    }
    if (s_.bypass_offload) {
      const BypassOffloadGauges g = s_.bypass_offload();
      FamilyBuilder active("flowsentry_bypass_offload_active",
                           "Bypassed flows the NIC drops by rte_flow rules (two rules each).",
                           C::Gauge);
      active.Add({}, double(g.active));
      out.push_back(std::move(active.f));
      FamilyBuilder req("flowsentry_bypass_offload_requests_total",
                        "Bypassed flows offered to the NIC, by result: installed, duplicate, "
                        "refused_capacity (bypass-offload.max-flows reached), refused_unavailable "
                        "(the port takes no flow rules), failed (the driver refused the rule).",
                        C::Counter);
      req.Add({{"result", "installed"}}, double(g.installed));
      req.Add({{"result", "duplicate"}}, double(g.duplicates));
      req.Add({{"result", "refused_capacity"}}, double(g.refused_capacity));
      req.Add({{"result", "refused_unavailable"}}, double(g.refused_unavailable));
      req.Add({{"result", "failed"}}, double(g.failed));
      out.push_back(std::move(req.f));
      FamilyBuilder removed("flowsentry_bypass_offload_removed_total",
                            "Offloaded flows whose NIC rules were removed: aged (idle, AGE "
                            "action) or expired (max-lifetime on ports without AGE).",
                            C::Counter);
      removed.Add({{"reason", "aged"}}, double(g.aged));
      removed.Add({{"reason", "expired"}}, double(g.expired));
      out.push_back(std::move(removed.f));
    }
    {
      FamilyBuilder b("flowsentry_alert_source_top",
                      "Alerts over the last 1-2 minutes from each of the 20 source addresses that "
                      "raised the most (a bounded top-N, not every source).",
                      C::Gauge);
      for (const auto& e : top_sources_->Top(SteadySeconds())) {
        b.Add({{"src_ip", e.src.ToString()}}, double(e.alerts));
      }
      out.push_back(std::move(b.f));
      FamilyBuilder u("flowsentry_alert_sources_untracked_total",
                      "Alerts not attributed to a source for flowsentry_alert_source_top because "
                      "too many distinct sources alerted in one window (a scan or spoofed flood).",
                      C::Counter);
      u.Add({}, double(top_sources_->untracked()));
      out.push_back(std::move(u.f));
    }
    {
      FamilyBuilder b("flowsentry_start_time_seconds", "Sensor start time (Unix seconds).",
                      C::Gauge);
      b.Add({}, start_);
      out.push_back(std::move(b.f));
    }
    return out;
  }

  const std::shared_ptr<TopSources>& top_sources() const { return top_sources_; }

 private:
  Sources s_;
  std::shared_ptr<TopSources> top_sources_;
  double start_ = 0;
};

Metrics::Metrics(Sources sources)
    : collectable_(std::make_shared<WorkerCollectable>(std::move(sources))),
      registry_(std::make_shared<prometheus::Registry>()) {
  eve_records_ = &prometheus::BuildCounter()
                      .Name("flowsentry_eve_records_total")
                      .Help("EVE JSON records written, by event_type.")
                      .Register(*registry_);
  eve_errors_ = &prometheus::BuildCounter()
                     .Name("flowsentry_eve_write_errors_total")
                     .Help("EVE records that could not be written (disk full, I/O error).")
                     .Register(*registry_)
                     .Add({});
  signature_alerts_ = &prometheus::BuildCounter()
                           .Name("flowsentry_signature_alerts_total")
                           .Help("Alerts by signature (only signatures that fired appear).")
                           .Register(*registry_);
  auto& ps = prometheus::BuildGauge()
                 .Name("flowsentry_pattern_set_generation")
                 .Help("Generation number of the pattern set in use.")
                 .Register(*registry_);
  generation_ = &ps.Add({});
  auto& pr = prometheus::BuildGauge()
                 .Name("flowsentry_pattern_set_rules")
                 .Help("Rules in the pattern set in use.")
                 .Register(*registry_);
  rules_ = &pr.Add({});
  // Pattern-set reloads (docs/operator-guide.md, "Reloading rules").
  reloads_ = &prometheus::BuildCounter()
                  .Name("flowsentry_reloads_total")
                  .Help("Pattern-set reloads by result (ok, failed, unchanged).")
                  .Register(*registry_);
  for (const char* r : {"ok", "failed", "unchanged"}) reloads_->Add({{"result", r}});
  auto& api = prometheus::BuildCounter()
                  .Name("flowsentry_api_requests_total")
                  .Help(
                      "Operator-API answers by HTTP status: 401 = a mutating call refused for a "
                      "missing or wrong token, 400/404/405/413 = malformed requests.")
                  .Register(*registry_);
  for (int code : {200, 400, 401, 403, 404, 405, 409, 413, 500, 503}) {
    api_by_code_[code] = &api.Add({{"code", std::to_string(code)}});
  }
  api_other_ = &api.Add({{"code", "other"}});
  block_events_ = &prometheus::BuildCounter()
                       .Name("flowsentry_block_events_total")
                       .Help(
                           "Block-manager changes by action (add, refresh, expire, remove, "
                           "refused, dry_run, applied, failed, backend_up, backend_down).")
                       .Register(*registry_);
  for (const char* a : kBlockActions) block_events_->Add({{"action", a}});
  blocks_refused_ = &prometheus::BuildCounter()
                         .Name("flowsentry_blocks_refused_total")
                         .Help(
                             "Block requests refused by reason (allowlist, home_net, cap, rate, "
                             "invalid): nothing was applied.")
                         .Register(*registry_);
  for (const char* r : kBlockRefusals) blocks_refused_->Add({{"reason", r}});
  block_backend_ops_ = &prometheus::BuildCounter()
                            .Name("flowsentry_block_backend_ops_total")
                            .Help("Backend calls by backend and result (applied, failed).")
                            .Register(*registry_);
  compile_seconds_ = &prometheus::BuildGauge()
                          .Name("flowsentry_pattern_set_compile_seconds")
                          .Help("Seconds the last pattern-set reload (parse and compile) took.")
                          .Register(*registry_)
                          .Add({});
  set_info_ = &prometheus::BuildGauge()
                   .Name("flowsentry_pattern_set_info")
                   .Help("1 for the content hash of the pattern set in use.")
                   .Register(*registry_);
  top_sources_ = collectable_->top_sources();
  auto& ended = prometheus::BuildCounter()
                    .Name("flowsentry_flows_ended_by_protocol_total")
                    .Help("Flow records (flow ends) by IP protocol, counted by the output thread.")
                    .Register(*registry_);
  const char* const kProtos[] = {"tcp", "udp", "icmp", "icmpv6", "other"};
  for (size_t i = 0; i < flows_ended_by_proto_.size(); ++i) {
    flows_ended_by_proto_[i] = &ended.Add({{"protocol", kProtos[i]}});
  }
}

Metrics::~Metrics() = default;

bool Metrics::Listen(const std::string& address, std::string* error) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    *error = fmt::format("metrics: cannot listen on {}: {}", address, e.what());
    return false;
  }
  exposer_->RegisterCollectable(collectable_);
  exposer_->RegisterCollectable(registry_);
  return true;
}

std::string Metrics::RenderText() const {
  auto families = collectable_->Collect();
  auto more = registry_->Collect();
  families.insert(families.end(), more.begin(), more.end());
  return prometheus::TextSerializer().Serialize(families);
}

void Metrics::CountEveRecord(const char* event_type) {
  auto it = by_type_.find(event_type);
  if (it == by_type_.end()) {
    it = by_type_.emplace(event_type, &eve_records_->Add({{"event_type", event_type}})).first;
  }
  it->second->Increment();
}

void Metrics::CountEveWriteError() { eve_errors_->Increment(); }

void Metrics::CountSignatureAlert(uint32_t gid, uint32_t sid) {
  const uint64_t key = (uint64_t(gid) << 32) | sid;
  auto it = by_signature_.find(key);
  if (it == by_signature_.end()) {
    it = by_signature_
             .emplace(key, &signature_alerts_->Add(
                               {{"gid", std::to_string(gid)}, {"sid", std::to_string(sid)}}))
             .first;
  }
  it->second->Increment();
}

void Metrics::CountAlertSource(const IpAddr& src) { top_sources_->Add(src, SteadySeconds()); }

void Metrics::CountFlowEnd(uint8_t proto) {
  size_t i = 4;
  switch (proto) {
    case 6:
      i = 0;
      break;
    case 17:
      i = 1;
      break;
    case 1:
      i = 2;
      break;
    case 58:
      i = 3;
      break;
    default:
      break;
  }
  flows_ended_by_proto_[i]->Increment();
}

void Metrics::CountReload(const char* result, double compile_seconds) {
  reloads_->Add({{"result", result}}).Increment();
  compile_seconds_->Set(compile_seconds);
}

void Metrics::SetPatternSetHash(const std::string& hash) {
  std::lock_guard<std::mutex> lock(reload_mu_);
  if (set_info_current_ != nullptr) set_info_->Remove(set_info_current_);
  set_info_current_ = &set_info_->Add({{"hash", hash}});
  set_info_current_->Set(1);
}

void Metrics::SetPatternSet(uint64_t generation, size_t rules) {
  generation_->Set(double(generation));
  rules_->Set(double(rules));
}

void Metrics::CountApiResponse(int status) {
  auto it = api_by_code_.find(status);
  (it != api_by_code_.end() ? it->second : api_other_)->Increment();
}

void Metrics::CountBlockEvent(const std::string& action, const std::string& backend,
                              const std::string& detail) {
  // Label values come from fixed sets (manager.h): unknown ones are not exported.
  auto known = [](const auto& values, const std::string& v) {
    return std::find(std::begin(values), std::end(values), v) != std::end(values);
  };
  if (known(kBlockActions, action)) block_events_->Add({{"action", action}}).Increment();
  if (action == "refused" && known(kBlockRefusals, detail)) {
    blocks_refused_->Add({{"reason", detail}}).Increment();
  }
  if ((action == "applied" || action == "failed") && known(kBlockBackends, backend)) {
    block_backend_ops_->Add({{"backend", backend}, {"result", action}}).Increment();
  }
}

}  // namespace fs::metrics
