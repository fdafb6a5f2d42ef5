// Prometheus metrics. Per-worker counters are not prometheus-cpp objects: the WorkerCollectable
// reads each worker's published stats and sums/labels them at scrape time, so the dataplane never
// calls prometheus-cpp. Control-plane counters (EVE records, signatures that fired) are ordinary
// prometheus-cpp counters updated by the output thread.
// Owned by main(); Collect() runs on the exposer's HTTP threads; Count* on the output thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

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

struct Sources {
  std::vector<const worker::Published<worker::WorkerStats>*> workers;
  std::function<std::vector<PortCounters>()> ports;  // called at scrape time
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
  void SetPatternSet(uint64_t generation, size_t rules);

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
  std::unordered_map<uint64_t, prometheus::Counter*> by_signature_;
  std::unordered_map<std::string, prometheus::Counter*> by_type_;
};

}  // namespace fs::metrics
