#include "controlplane/api/alert_log.h"

#include <algorithm>

namespace fs::api {

AlertLog::AlertLog(size_t capacity) : ring_(std::max<size_t>(capacity, 1)) {}

void AlertLog::Add(std::string record) {
  std::lock_guard<std::mutex> lock(mu_);
  ring_[total_ % ring_.size()] = std::move(record);
  ++total_;
}

std::vector<std::string> AlertLog::Recent(size_t limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t held = std::min<uint64_t>(total_, ring_.size());
  const uint64_t n = std::min<uint64_t>(held, limit);
  std::vector<std::string> out;
  out.reserve(n);
  for (uint64_t i = total_ - n; i < total_; ++i) out.push_back(ring_[i % ring_.size()]);
  return out;
}

uint64_t AlertLog::total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

}  // namespace fs::api
