#include "controlplane/sensor/offload_glue.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace fs::sensor {

namespace {

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

std::unique_ptr<BypassOffloadService> BypassOffloadService::Start(const offload::BypassConfig& cfg,
                                                                  std::span<const uint16_t> ports,
                                                                  std::string* error) {
  if (!cfg.enabled) return nullptr;
  auto s = std::make_unique<BypassOffloadService>(cfg);
  if (!s->offload_->Start(ports, error)) return nullptr;
  // Start logged each port's verdict (with the driver's reason where it refuses).
  if (!s->offload_->any_available()) {
    spdlog::warn(
        "bypass offload: no input port takes flow rules; bypassed flows are skipped in software "
        "only");
  }
  return s;
}

void BypassOffloadService::Handle(const worker::BypassEvent& e) {
  offload::BypassFlow f;
  f.port_id = e.port;
  f.ip_version = e.flow.ip_version;
  f.proto = e.flow.proto;
  f.client = e.flow.client_addr;
  f.server = e.flow.server_addr;
  f.client_port = e.flow.client_port;
  f.server_port = e.flow.server_port;
  std::lock_guard<std::mutex> lock(mu_);
  if (offload_ != nullptr) offload_->Offload(f, NowMs());
}

void BypassOffloadService::Poll() {
  const uint64_t now = NowMs();
  if (now - last_poll_ms_ < 1000) return;
  last_poll_ms_ = now;
  std::lock_guard<std::mutex> lock(mu_);
  if (offload_ != nullptr) offload_->Poll(now);
}

void BypassOffloadService::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  if (offload_ == nullptr) return;
  final_ = GaugesLocked();
  final_.active = 0;
  offload_.reset();
}

metrics::BypassOffloadGauges BypassOffloadService::Gauges() const {
  std::lock_guard<std::mutex> lock(mu_);
  return offload_ != nullptr ? GaugesLocked() : final_;
}

metrics::BypassOffloadGauges BypassOffloadService::GaugesLocked() const {
  const offload::BypassCounters& c = offload_->counters();
  metrics::BypassOffloadGauges g;
  g.active = offload_->active();
  g.installed = c.installed;
  g.duplicates = c.duplicates;
  g.refused_capacity = c.refused_capacity;
  g.refused_unavailable = c.refused_unavailable;
  g.failed = c.failed;
  g.aged = c.aged;
  g.expired = c.expired;
  return g;
}

}  // namespace fs::sensor
