// The raw bytes of one direction of an app-layer transaction: what an app-layer rule's contents
// on the raw payload (no sticky buffer, Buffer::kPayload) inspect beside its buffers
// (docs/rules.md "Raw payload in app-layer rules").
//
// Suricata inspects such contents with a stream engine in the transaction's direction, over the
// raw stream it has not inspected yet. The sensor keeps, per direction, the stream bytes delivered
// since the previous inspection of that direction (or since the flow start): the first kCap of
// them. An inspection takes the window as it is and marks it used; the next delivery then starts
// a new one. So the window of an HTTP request starts at the first delivery after the previous
// request was inspected, and transactions completed by one delivery (pipelining) share it.
//
// Plain storage inside the flow's AppSession (no allocation); owned by the worker that owns the
// flow. Filled only while the pattern set has such rules (PatternSet::app_raw_payload).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fs::app {

class RawWindow {
 public:
  static constexpr uint32_t kCap = 4096;

  // A fresh flow. Touches no page of the buffer.
  void Clear() {
    len_ = 0;
    used_ = false;
  }
  // Stream bytes of this direction, in order. Bytes past kCap are not kept.
  void Append(const uint8_t* data, size_t n) {
    if (used_) Clear();
    const size_t keep = n < kCap - len_ ? n : kCap - len_;
    if (keep > 0) std::memcpy(buf_ + len_, data, keep);
    len_ += static_cast<uint32_t>(keep);
  }
  // The window for an inspection; the next Append starts a new one. The bytes stay valid until
  // then.
  const uint8_t* Take(uint32_t* len) {
    used_ = true;
    *len = len_;
    return buf_;
  }

 private:
  uint32_t len_ = 0;
  bool used_ = false;
  uint8_t buf_[kCap];
};

}  // namespace fs::app
