// Per-worker statistics. The worker is the only writer of its WorkerStats (plain counters on
// the hot path); a few times a second it publishes a copy through a Published<> seqlock, which
// the metrics collectable and the summary read from any thread. No atomics per packet.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "dataplane/app/dns.h"
#include "dataplane/app/http1.h"
#include "dataplane/app/smb.h"
#include "dataplane/app/tls.h"
#include "dataplane/decode/packet.h"
#include "dataplane/defrag/defrag.h"
#include "dataplane/flow/flow_table.h"
#include "dataplane/reassembly/reassembly.h"
#include "dataplane/scan/scanner.h"
#include "patterns/buffers.h"

namespace fs::worker {

// Why a packet was not processed. Each is counted; nothing is dropped silently.
#define FS_DROP_REASONS(X)                                                                     \
  X(kRingFull, "ring_full")          /* software distribution ring to the worker was full */   \
  X(kOversize, "oversize")           /* multi-segment frame larger than the worker's buffer */ \
  X(kDefragNoMbuf, "defrag_no_mbuf") /* no mbuf to hand a rebuilt datagram to its owner */

enum class DropReason : uint8_t {
#define FS_X(id, name) id,
  FS_DROP_REASONS(FS_X)
#undef FS_X
      kCount
};
inline constexpr int kDropReasonCount = static_cast<int>(DropReason::kCount);
const char* DropReasonName(DropReason r);

struct WorkerStats {
  uint64_t rx_packets = 0;  // packets this worker processed
  uint64_t rx_bytes = 0;
  uint64_t drops[kDropReasonCount] = {};
  uint64_t distributed = 0;  // packets this worker read from a port and handed to a ring
  uint64_t alerts = 0;
  uint64_t events_dropped = 0;  // event ring to the control plane full (live mode)
  uint64_t payload_bytes_scanned = 0;
  uint64_t busy_cycles = 0, idle_cycles = 0;
  uint64_t last_ts_us = 0;  // newest packet timestamp seen
  decode::DecodeCounters decode;
  flow::Counters flow;
  defrag::Counters defrag;
  scan::ScanCounters scan;
  reassembly::Counters reassembly;
  scan::StreamPoolCounters stream_pool;
  uint64_t reassembly_slots_in_use = 0;  // gauge: out-of-order segment slots held
  uint64_t stream_contexts_in_use = 0;   // gauge: flows with stream-scan state
  uint64_t bypassed_flows = 0;           // flows whose inspection stopped (either reason below)
  uint64_t passed_flows = 0;             // ... because a pass rule matched (the rest: stream depth)
  uint64_t bypassed_packets = 0;         // packets of bypassed flows (counted, not inspected)
  uint64_t stream_only_packets = 0;      // TCP packets inspected through the stream only (their
                                         // bytes differ from what the stream kept: overlaps)
  // App layer (issue 8). DNS: messages parsed (UDP port 53 for now), and anomalies by event,
  // indexed by app::DnsEvent (one count per message that has the event).
  uint64_t dns_messages = 0;
  uint64_t dns_events[app::kDnsEventCount] = {};
  uint64_t app_records_dropped = 0;  // app-record ring to the control plane full (live mode)
  // TCP app layer: sessions (gauge), flows that found the pool empty, flows by detected protocol
  // (indexed by patterns::AppProto; kNone unused), flows whose detection failed, directions whose
  // parsing stopped at a stream gap, HTTP transactions (requests completed), HTTP anomalies by
  // app::HttpEvent (one count per occurrence), DNS messages that came over TCP (also in
  // dns_messages).
  uint64_t app_sessions_in_use = 0;
  uint64_t app_sessions_exhausted = 0;
  uint64_t app_sessions_closed = 0;  // sessions finished at the connection's close (FIN/RST both
                                     // ways), before flow end
  uint64_t app_detected[patterns::kAppProtoCount] = {};
  uint64_t app_detect_failed = 0;
  uint64_t app_gaps = 0;
  uint64_t http_transactions = 0;
  uint64_t http_events[app::kHttpEventCount] = {};
  uint64_t dns_tcp_messages = 0;
  // TLS: handshakes logged (one per TLS flow with a ClientHello or ServerHello, at the end of the
  // handshake or flow end) and anomalies by app::TlsEvent. SMB: messages parsed (SmbRecords,
  // compound elements each) and anomalies by app::SmbEvent (each occurrence counts once).
  uint64_t tls_handshakes = 0;
  // TLS flows whose encrypted payload was no longer inspected (encryption-handling: default).
  uint64_t tls_encrypted_flows = 0;
  uint64_t tls_events[app::kTlsEventCount] = {};
  uint64_t smb_records = 0;
  uint64_t smb_events[app::kSmbEventCount] = {};
};

// Seqlock-published copy of a trivially copyable T: one writer, any number of readers.
template <class T>
class Published {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  // Writer thread only.
  void Publish(const T& v) {
    const uint64_t s = seq_.load(std::memory_order_relaxed);
    seq_.store(s + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    CopyWords(&v, &value_);
    seq_.store(s + 2, std::memory_order_release);
  }
  // Any thread.
  T Read() const {
    T out;
    for (;;) {
      const uint64_t s1 = seq_.load(std::memory_order_acquire);
      if (s1 & 1) continue;
      CopyWords(&value_, &out);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (seq_.load(std::memory_order_relaxed) == s1) return out;
    }
  }

 private:
  // Word-wise relaxed atomic copy: no data race between the writer and readers.
  static void CopyWords(const T* from, T* to) {
    static_assert(sizeof(T) % sizeof(uint64_t) == 0);
    auto* src = reinterpret_cast<const uint64_t*>(from);
    auto* dst = reinterpret_cast<uint64_t*>(to);
    for (size_t i = 0; i < sizeof(T) / sizeof(uint64_t); ++i) {
      uint64_t w =
          std::atomic_ref<uint64_t>(const_cast<uint64_t&>(src[i])).load(std::memory_order_relaxed);
      std::atomic_ref<uint64_t>(dst[i]).store(w, std::memory_order_relaxed);
    }
  }

  alignas(64) std::atomic<uint64_t> seq_{0};
  mutable T value_{};
};

}  // namespace fs::worker
