// The most recent alert records, for the API's /api/v1/alerts and `flowsentryctl alerts tail`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace fs::api {

// A bounded ring of EVE alert lines (JSON text, as written to the EVE file). Owned by the sensor;
// Add is called by the output thread (the main loop), Recent by the API's threads. A mutex is
// enough here: neither side is on the packet path, and Add holds it for one string move.
class AlertLog {
 public:
  explicit AlertLog(size_t capacity = 1000);

  // Keeps the record, dropping the oldest when full.
  void Add(std::string record);
  // The newest min(limit, size) records, oldest first.
  std::vector<std::string> Recent(size_t limit) const;

  size_t capacity() const { return ring_.size(); }
  uint64_t total() const;  // records ever added

 private:
  mutable std::mutex mu_;
  std::vector<std::string> ring_;  // capacity slots; slot (total_ % capacity) is written next
  uint64_t total_ = 0;
};

}  // namespace fs::api
