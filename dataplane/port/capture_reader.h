// Reading a capture file into mbufs for a worker, without a PMD (issue 7, "file runs").
//
// net_pcap's file RX reads the capture through libpcap on a stdio stream whose buffer is the
// file's block size (4 KiB on tmpfs): one read() system call every few packets. On this VM a system
// call costs thousands of cycles (paravirtual interrupt masking dominates the profile), and the
// file run of a capture cost 3-4x the in-memory replay per packet (docs/PERFORMANCE.md, "Replay
// against file"). The reader copies each record into an mbuf from the worker's pool, with its
// capture timestamp in the mbuf's RX-timestamp dynamic field (microseconds since the epoch, as
// DPDK 22.11's net_pcap stores it). It reads a capture one of two ways:
//
// - **Direct** (a regular file in libpcap's own format, version 2.4, micro- or nanosecond
//   timestamps, either byte order: what tcpdump, Suricata, Zeek and our generator write): the
//   reader reads the file with pread() into its own buffers (256 KiB each by default; the one
//   being filled stays in the core's L2 cache) and hands each record over in place: the mbuf is
//   attached to the record's bytes in the buffer as an external buffer
//   (rte_pktmbuf_attach_extbuf), as a NIC's DMA leaves a frame in memory the driver owns. Each
//   buffer counts the mbufs attached to it (its rte_mbuf_ext_shared_info); the reader refills
//   only a buffer no mbuf refers to any more, taking another one (up to kMaxBuffers, made when
//   needed and kept) while mbufs of the last one are still in flight, and ends a burst early
//   when every buffer is still referred to (counted; the record waits, nothing is lost). A
//   buffer outlives the reader while mbufs still refer to it (the last one frees it). Through
//   libpcap's stdio stream every byte was copied three times (the kernel into the stream's
//   buffer, libpcap into its packet buffer, the reader into the mbuf), with stdio's locking per
//   record; now once, by the kernel (docs/PERFORMANCE.md, "Capture files read directly", "Records
//   handed over in place"). Records that need a chain (below), and records shorter than
//   kAttachMin, are copied. libpcap still opens the file (it checks the header and gives the
//   link type and snapshot length) and the records are checked as libpcap checks them: a
//   capture length beyond its maximum ends the input with libpcap's message, one beyond the
//   file's snapshot length is cut to it, a record cut short by the end of the file ends the
//   input (the same records and the same message as libpcap; tests compare both ways). A record
//   larger than the buffers gets a buffer of its own size.
// - **Stream** (pcapng, other pcap variants, pipes): libpcap on a stdio stream with a 256 KiB
//   buffer (one read() per ~300 imix packets; with 4 MiB every refill evicted the core's L2).
//
// Used by one worker thread (the one that owns the input); no locks (the mbufs it hands over may
// be freed on other threads: the buffers' reference counts are atomic, as DPDK keeps them). A
// record longer than an mbuf's data room becomes a chain of segments (as net_pcap's jumbo RX
// does; captures taken with segmentation offload hold 64 KiB "packets"); a pool with no free mbuf
// ends the burst early (the record waits for the next burst, nothing is lost); a capture that
// ends in the middle of a record (a truncated file) ends the input and is counted, as libpcap
// reports it.
//
// Replay (OpenReplay, for benchmarks: `--replay-forever` with `inputs.pcap-reader: buffered`): the
// records are loaded into memory at open and served in a loop, each pass as NEW flows. Replaying
// the same bytes again (net_pcap's infinite_rx) repeats every TCP connection with its ISN: from
// the second pass on every segment is a retransmission of a known flow (no reassembly, no stream
// scan, no app layer), so the rate measured is not that of the traffic. Here pass k >= 1 moves
// every TCP/UDP port in the ephemeral range [32768, 65535] (both directions alike, checksums
// updated) to 32768 + (port - 32768 + k x 7919) mod 32768 and every timestamp by k x (the
// capture's span + 1 s): new connections, the same services and addresses.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/common/large_array.h"
#include "dataplane/common/prefetch.h"

struct rte_mbuf;
struct rte_mempool;
typedef struct pcap pcap_t;

namespace fs::port {

struct CaptureReaderStats {
  uint64_t packets = 0;          // records delivered in mbufs
  uint64_t bytes = 0;            // their captured bytes
  uint64_t chained_records = 0;  // records longer than one mbuf: a chain of segments
  uint64_t pool_empty = 0;       // bursts ended early: no free mbuf
  uint64_t buffers_busy = 0;     // bursts ended early: every read buffer still had mbufs
                                 // attached (direct reading)
  uint32_t buffers = 0;          // read buffers made (direct reading)
  bool truncated_file = false;   // the capture ended inside a record, or a record was invalid
                                 // (libpcap's checks; error() says which)
  bool direct = false;           // records read by the reader itself (above), not through stdio
};

// Replay pass `pass`'s number for a TCP/UDP port: ports in [32768, 65535] move by pass x 7919
// within that range (a permutation per pass); others, and pass 0, stay.
uint16_t ReplayPort(uint16_t port, uint64_t pass);
// Renaming the flows of one Ethernet frame for a replay pass, in two steps so that a replay finds
// each record's ports once, when it loads the capture: FindReplayPorts finds the TCP/UDP header
// with the sensor's decoder (its offset, 0 for none; its checksum's, 0 when there is none to
// update); RenameReplayPorts rewrites both ports of frame, a copy of the record `from`, with
// ReplayPort and updates the checksum (RFC 1624). It reads the record and only writes the copy:
// reading back a copy just made waits for its stores. Frames without ports stay as they are.
struct ReplayPorts {
  uint16_t ports = 0;
  uint16_t checksum = 0;
};
ReplayPorts FindReplayPorts(const uint8_t* frame, uint32_t len);
void RenameReplayPorts(const uint8_t* from, uint8_t* frame, uint32_t len, ReplayPorts where,
                       uint64_t pass);

class CaptureReader {
 public:
  static constexpr size_t kDefaultBuffer = 256u << 10;
  // Read buffers a direct reader makes at most (each of the buffer size; a record larger than
  // that gets a buffer of its own size).
  static constexpr size_t kMaxBuffers = 64;
  // Direct reading copies records shorter than this into their mbufs rather than attaching them:
  // two cache lines cost less than the two atomic updates of the buffer's reference count
  // (attach, free) that handing a record over in place takes (64-byte frames: 9% fewer worker
  // cycles a packet; larger records unchanged).
  static constexpr uint32_t kAttachMin = 128;
  // A replay prefetches its in-memory capture this many bytes ahead of the record it copies.
  static constexpr size_t kReplayAhead = 4096;

  enum class Reading : uint8_t {
    kAny,     // directly when the file allows it, else through stdio
    kStream,  // always through libpcap's stdio stream (tests compare both ways)
  };
  // Opens path (pcap or pcapng). nullptr with *error ("FILE: reason") when it cannot.
  // ts_offset/ts_flag: the RX-timestamp dynamic field and flag
  // (rte_mbuf_dyn_rx_timestamp_register); ts_offset < 0: timestamps are not stored.
  // buffer_bytes: the reader's buffer (read directly) or the stdio buffer (through a stream).
  static std::unique_ptr<CaptureReader> Open(const std::string& path, int ts_offset,
                                             uint64_t ts_flag, std::string* error,
                                             size_t buffer_bytes = kDefaultBuffer,
                                             Reading reading = Reading::kAny);
  // Loads every record of path into memory for a replay loop (see above). nullptr with *error when
  // the capture cannot be read or holds no record.
  static std::unique_ptr<CaptureReader> OpenReplay(const std::string& path, int ts_offset,
                                                   uint64_t ts_flag, std::string* error);
  ~CaptureReader();
  CaptureReader(const CaptureReader&) = delete;
  CaptureReader& operator=(const CaptureReader&) = delete;

  // Up to n records into mbufs from pool (port field set to port_id); returns how many.
  // 0 and done(): the capture is finished.
  uint16_t Burst(rte_mempool* pool, uint16_t port_id, rte_mbuf** out, uint16_t n);
  bool done() const { return done_; }
  uint64_t replay_passes() const { return pass_; }  // replay: the pass being served (from 1)
  int datalink() const { return datalink_; }
  const std::string& path() const { return path_; }
  const CaptureReaderStats& stats() const { return stats_; }  // the reading thread only
  // Records delivered and their bytes, readable from any thread (the control plane's progress
  // check and port metrics, as rte_eth_stats would give them for a PMD).
  uint64_t delivered_packets() const { return delivered_packets_.load(std::memory_order_relaxed); }
  uint64_t delivered_bytes() const { return delivered_bytes_.load(std::memory_order_relaxed); }
  // done(), readable from any thread: every record has been delivered (the control plane's end
  // of a file run). error() and stats() may be read once the reading thread has stopped.
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  // Why the input ended early ("" when it ended cleanly or has not ended).
  const std::string& error() const { return error_; }

 private:
  CaptureReader() = default;
  // One read buffer of a direct reader (capture_reader.cc). Its references: the reader's own
  // while it keeps the buffer, and one per mbuf attached to its bytes; whichever drops the last
  // one frees it: the reader at its end (DropReference) or DPDK when it frees the last mbuf
  // (FreeBufferCallback, its rte_mbuf_extbuf_free_callback_t).
  struct Buffer;
  static void FreeBufferCallback(void* addr, void* buffer);
  static void DropReference(Buffer* b);
  // Burst's loop for a replay's records that fit one mbuf (capture_reader.cc).
  uint16_t ReplayBurst(rte_mempool* pool, uint16_t port_id, rte_mbuf** out, uint16_t n);
  enum class Fill : uint8_t { kOk, kEnd, kBusy };
  // The next record of a directly read file into held_*: kEnd at its end (done_, and error_
  // when the end was not clean), kBusy when every read buffer is still referred to.
  Fill NextDirect();
  // Makes `need` bytes from rbuf_at_ on available in a buffer (moving the unread tail to a free
  // buffer, reading, making a bigger buffer); kEnd when the file ends first (read_errno_ set on a
  // read error), kBusy when no buffer is free.
  Fill FillBuffer(size_t need);
  // A buffer of at least `need` bytes that no mbuf refers to (the current one if it is free),
  // nullptr when every one is referred to and kMaxBuffers exist.
  Buffer* FreeReadBuffer(size_t need);

  std::string path_;
  FILE* file_ = nullptr;
  pcap_t* pcap_ = nullptr;
  std::unique_ptr<char[]> buffer_;
  int ts_offset_ = -1;
  uint64_t ts_flag_ = 0;
  int datalink_ = 0;
  bool done_ = false;
  // A record read but not delivered (the pool was empty).
  const uint8_t* held_data_ = nullptr;
  uint32_t held_caplen_ = 0;
  uint64_t held_ts_us_ = 0;
  ReplayPorts held_ports_;
  bool held_ = false;
  CaptureReaderStats stats_;
  // Direct reading: the file (the stream's descriptor), the buffer and the next record in it,
  // the file offset of the buffer's end, how record headers read, and the limits libpcap applies
  // (its snapshot length and maximum capture length).
  bool direct_ = false;
  int fd_ = -1;
  std::vector<Buffer*> buffers_;  // each holds the reader's reference
  Buffer* cur_ = nullptr;         // the buffer records are read from
  // Each buffer's size (a record larger gets one of its own), and how far cur_ is filled and read.
  size_t buffer_bytes_ = 0, rbuf_have_ = 0, rbuf_at_ = 0;
  uint64_t file_off_ = 0;
  bool file_end_ = false;
  int read_errno_ = 0;
  bool swapped_ = false;
  bool nsec_ = false;
  uint32_t snapshot_ = 0;
  uint32_t max_caplen_ = 0;
  // Replay: the records in memory, the next one, the pass, and the capture's span.
  struct Rec {
    size_t at;
    uint32_t len;
    ReplayPorts ports;  // FindReplayPorts, at load
    uint64_t ts_us;
  };
  bool replay_ = false;
  LargeArray<uint8_t> store_;
  std::vector<Rec> recs_;
  size_t next_ = 0;
  size_t prefetched_ = 0;  // store_ is prefetched up to here (Burst)
  uint64_t pass_ = 0;
  uint64_t shift_us_ = 0;  // span + 1 s
  // The replay's next record (starting the next pass after the last), TakeRecord moving past it
  // and prefetching the store ahead of it, and its timestamp in the current pass. Both of
  // Burst's loops use them.
  const Rec& PeekRecord() {
    if (next_ == recs_.size()) {
      next_ = 0;
      prefetched_ = 0;
      ++pass_;
    }
    return recs_[next_];
  }
  void TakeRecord(const Rec& rec) {
    ++next_;
    // The store is read once per pass, front to back, and is larger than the caches: loading it
    // kReplayAhead bytes ahead keeps the copy from waiting on memory.
    const size_t ahead = std::min(rec.at + rec.len + kReplayAhead, store_.size());
    for (; prefetched_ < ahead; prefetched_ += 64) Prefetch(store_.get() + prefetched_);
  }
  uint64_t PassTs(const Rec& rec) const { return rec.ts_us + (pass_ - 1) * shift_us_; }
  std::atomic<uint64_t> delivered_packets_{0}, delivered_bytes_{0};
  std::atomic<bool> finished_{false};
  std::string error_;
};

}  // namespace fs::port
