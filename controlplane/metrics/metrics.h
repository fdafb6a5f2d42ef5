// Prometheus metrics. Per-worker counters are not prometheus-cpp objects: the WorkerCollectable
// reads each worker's published stats and sums/labels them at scrape time, so the dataplane never
// calls prometheus-cpp. Control-plane counters (EVE records, signatures that fired) are ordinary
// prometheus-cpp counters updated by the output thread.
// Owned by main(); Collect() runs on the exposer's HTTP threads; Count* on the output thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataplane/common/ip_addr.h"
#include "dataplane/worker/stats.h"

namespace prometheus {
class Exposer;
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
}  // namespace prometheus

namespace fs::metrics {

struct PortCounters {
  std::string name;  // input as the operator named it (file, interface, PCI address)
  uint64_t ipackets = 0, ibytes = 0, imissed = 0, ierrors = 0, rx_nombuf = 0;
};

// Enforcement state read at scrape time (controlplane/sensor/enforce_glue.h).
struct EnforcementGauges {
  bool enabled = false, dry_run = false;
  size_t active = 0;
  struct Backend {
    std::string name;
    bool up = false;
    size_t pending = 0;
  };
  std::vector<Backend> backends;
};

// Flow-bypass offload counters read at scrape time (controlplane/sensor/offload_glue.h).
struct BypassOffloadGauges {
  size_t active = 0;  // flows whose NIC drop rules are in place
  uint64_t installed = 0, duplicates = 0, refused_capacity = 0, refused_unavailable = 0, failed = 0,
           aged = 0, expired = 0;
};

struct Sources {
  std::vector<const worker::Published<worker::WorkerStats>*> workers;
  std::function<std::vector<PortCounters>()> ports;     // called at scrape time
  std::function<EnforcementGauges()> enforcement;       // optional; called at scrape time
  std::function<BypassOffloadGauges()> bypass_offload;  // optional (offload enabled)
};

// The sources that raised the most alerts recently, for the "top alerting sources" panel.
// A counter labelled by source address would grow without bound (a scan or a spoofed flood
// brings millions of addresses, and Prometheus keeps every series it ever saw), so only the
// kTopN busiest sources are exported, as a gauge of their alerts over the last one to two
// windows. Memory is bounded too: at most max_tracked addresses are counted per window; alerts
// from further addresses are counted as untracked instead of growing the table.
// Owned by Metrics; Add() runs on the output thread, Top() on scrape threads (a mutex, never
// taken on the packet path).
class TopSources {
 public:
  static constexpr size_t kTopN = 20;
  static constexpr size_t kMaxTracked = 65536;
  static constexpr double kWindowSeconds = 60;

  struct Entry {
    IpAddr src;
    uint64_t alerts = 0;
  };

  explicit TopSources(double window_s = kWindowSeconds, size_t top_n = kTopN,
                      size_t max_tracked = kMaxTracked);

  // now_s: any monotonic clock in seconds (tests pass their own).
  void Add(const IpAddr& src, double now_s);
  // The top_n sources of the previous and the current window together, most alerts first
  // (ties: lower address first). Sources quiet for two windows drop out.
  std::vector<Entry> Top(double now_s);
  // Alerts not attributed because max_tracked addresses were already counted in the window.
  uint64_t untracked() const;

 private:
  struct Hash {
    size_t operator()(const IpAddr& a) const;
  };
  using Table = std::unordered_map<IpAddr, uint64_t, Hash>;
  void Roll(double now_s);  // mu_ held

  const double window_s_;
  const size_t top_n_, max_tracked_;
  mutable std::mutex mu_;
  double window_start_ = -1;  // start of the current window; < 0 before the first call
  Table current_, previous_;
  uint64_t untracked_ = 0;
};

class Metrics {
 public:
  explicit Metrics(Sources sources);
  ~Metrics();

  // Starts the HTTP endpoint (GET /metrics) on ADDRESS:PORT.
  bool Listen(const std::string& address, std::string* error);
  // The whole exposition as text (for --metrics-out and tests).
  std::string RenderText() const;

  // Output thread.
  void CountEveRecord(const char* event_type);
  void CountEveWriteError();
  void CountSignatureAlert(uint32_t gid, uint32_t sid);
  // The alert's source address (EVE src_ip), for flowsentry_alert_source_top.
  void CountAlertSource(const IpAddr& src);
  // A flow record (flow end) of this IP protocol, for flowsentry_flows_ended_by_protocol_total.
  void CountFlowEnd(uint8_t proto);
  void SetPatternSet(uint64_t generation, size_t rules);
  // Pattern-set reloads (any control thread; prometheus-cpp metrics are thread-safe).
  // result: "ok", "failed" or "unchanged". hash: the running set's content hash, exported as
  // flowsentry_pattern_set_info{hash} 1 (the previous hash's series is removed).
  void CountReload(const char* result, double compile_seconds);
  void SetPatternSetHash(const std::string& hash);
  // A block-manager event (output thread): flowsentry_block_events_total{action},
  // flowsentry_blocks_refused_total{reason} and flowsentry_block_backend_ops_total{backend,result}.
  void CountBlockEvent(const std::string& action, const std::string& backend,
                       const std::string& detail);
  // An operator-API answer (API threads): flowsentry_api_requests_total{code}. 401 counts the
  // mutating calls refused for a missing or wrong token.
  void CountApiResponse(int status);

 private:
  class WorkerCollectable;
  std::shared_ptr<WorkerCollectable> collectable_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Counter>* eve_records_ = nullptr;
  prometheus::Counter* eve_errors_ = nullptr;
  prometheus::Family<prometheus::Counter>* signature_alerts_ = nullptr;
  prometheus::Gauge* generation_ = nullptr;
  prometheus::Gauge* rules_ = nullptr;
  prometheus::Family<prometheus::Counter>* reloads_ = nullptr;
  prometheus::Gauge* compile_seconds_ = nullptr;
  prometheus::Family<prometheus::Gauge>* set_info_ = nullptr;
  prometheus::Gauge* set_info_current_ = nullptr;
  std::mutex reload_mu_;  // set_info_current_
  // By status code, created at start (a bounded label set: other codes count as "other").
  std::unordered_map<int, prometheus::Counter*> api_by_code_;
  prometheus::Family<prometheus::Counter>* block_events_ = nullptr;
  prometheus::Family<prometheus::Counter>* blocks_refused_ = nullptr;
  prometheus::Family<prometheus::Counter>* block_backend_ops_ = nullptr;
  prometheus::Counter* api_other_ = nullptr;
  std::unordered_map<uint64_t, prometheus::Counter*> by_signature_;
  std::unordered_map<std::string, prometheus::Counter*> by_type_;
  std::shared_ptr<TopSources> top_sources_;
  // tcp, udp, icmp, icmpv6, other: created at start so that every series exists at 0.
  std::array<prometheus::Counter*, 5> flows_ended_by_proto_{};
};

}  // namespace fs::metrics
