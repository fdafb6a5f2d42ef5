// The sensor's side of the flow-bypass offload (dataplane/offload, docs/streams.md "Bypass"):
// owns the BypassOffload on the output thread, turns the workers' bypass events into NIC rules,
// collects aged ones, and gives the metrics their counters at scrape time.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "controlplane/metrics/metrics.h"
#include "dataplane/offload/bypass_offload.h"
#include "dataplane/worker/events.h"

namespace fs::sensor {

// Created once the ports are started; destroyed before they are closed (the rules it created are
// destroyed with it). Handle/Poll: the output thread; Gauges: any thread (scrapes). The mutex is
// never contended on the packet path: workers only enqueue events.
class BypassOffloadService {
 public:
  // nullptr when the offload is disabled. Each input port that cannot take the rules is logged
  // with the driver's reason; flows on it stay bypassed in software only. *error and nullptr when
  // a port id is invalid (a bug: the ports come from the started inputs).
  static std::unique_ptr<BypassOffloadService> Start(const offload::BypassConfig& cfg,
                                                     std::span<const uint16_t> ports,
                                                     std::string* error);

  // A worker bypassed a flow: offer it to its port's NIC.
  void Handle(const worker::BypassEvent& e);
  // Collects aged and expired rules; does the work at most once a second.
  void Poll();
  metrics::BypassOffloadGauges Gauges() const;
  // Destroys every NIC rule (call before the ports are stopped); later events are ignored and
  // Gauges keeps answering with the final counters (a scrape may still come in).
  void Shutdown();

  explicit BypassOffloadService(offload::BypassConfig cfg)
      : offload_(std::make_unique<offload::BypassOffload>(cfg)) {}

 private:
  metrics::BypassOffloadGauges GaugesLocked() const;

  mutable std::mutex mu_;
  std::unique_ptr<offload::BypassOffload> offload_;  // nullptr after Shutdown
  metrics::BypassOffloadGauges final_;               // the counters at Shutdown
  uint64_t last_poll_ms_ = 0;
};

}  // namespace fs::sensor
