#include "dataplane/port/capture_reader.h"

#include <pcap/pcap.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace fs::port {

std::unique_ptr<CaptureReader> CaptureReader::Open(const std::string& path, int ts_offset,
                                                   uint64_t ts_flag, std::string* error,
                                                   size_t buffer_bytes) {
  std::unique_ptr<CaptureReader> r(new CaptureReader());
  r->file_ = std::fopen(path.c_str(), "rb");
  if (r->file_ == nullptr) {
    *error = fmt::format("{}: {}", path, std::strerror(errno));
    return nullptr;
  }
  if (buffer_bytes > 0) {
    r->buffer_.reset(new char[buffer_bytes]);
    // Must precede the first read of the stream; libpcap reads it with fread.
    std::setvbuf(r->file_, r->buffer_.get(), _IOFBF, buffer_bytes);
  }
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  // Microsecond timestamps, as net_pcap stores them in the RX-timestamp field.
  r->pcap_ = pcap_fopen_offline(r->file_, errbuf);
  if (r->pcap_ == nullptr) {
    *error = fmt::format("{}: {}", path, errbuf);
    std::fclose(r->file_);  // pcap_fopen_offline does not take the stream on failure
    r->file_ = nullptr;
    return nullptr;
  }
  r->datalink_ = pcap_datalink(r->pcap_);
  r->ts_offset_ = ts_offset;
  r->ts_flag_ = ts_flag;
  return r;
}

CaptureReader::~CaptureReader() {
  // pcap_close closes the stream it was given.
  if (pcap_ != nullptr) {
    pcap_close(pcap_);
  } else if (file_ != nullptr) {
    std::fclose(file_);
  }
}

uint16_t CaptureReader::Burst(rte_mempool* pool, uint16_t port_id, rte_mbuf** out, uint16_t n) {
  uint16_t got = 0;
  while (got < n && !done_) {
    if (!held_) {
      pcap_pkthdr* h = nullptr;
      const u_char* data = nullptr;
      const int rc = pcap_next_ex(pcap_, &h, &data);
      if (rc == PCAP_ERROR_BREAK) {  // end of the capture
        done_ = true;
        break;
      }
      if (rc != 1) {
        // A record cut short by the end of the file, or a read error: the input ends here.
        stats_.truncated_file = true;
        error_ = pcap_geterr(pcap_);
        done_ = true;
        break;
      }
      held_data_ = data;
      held_caplen_ = h->caplen;
      held_ts_us_ = static_cast<uint64_t>(h->ts.tv_sec) * 1000000ull +
                    static_cast<uint64_t>(h->ts.tv_usec);
      held_ = true;
    }
    // A record longer than one mbuf's data room becomes a chain of segments, as net_pcap's
    // jumbo RX builds it (the worker linearises chains before decoding).
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
      ++stats_.pool_empty;
      break;  // the record stays held for the next burst
    }
    const uint32_t len = held_caplen_;
    uint32_t copied = std::min<uint32_t>(len, rte_pktmbuf_tailroom(m));
    std::memcpy(rte_pktmbuf_mtod(m, void*), held_data_, copied);
    m->data_len = static_cast<uint16_t>(copied);
    rte_mbuf* last = m;
    while (copied < len) {
      rte_mbuf* seg = rte_pktmbuf_alloc(pool);
      if (seg == nullptr) break;
      const uint32_t n = std::min<uint32_t>(len - copied, rte_pktmbuf_tailroom(seg));
      std::memcpy(rte_pktmbuf_mtod(seg, void*), held_data_ + copied, n);
      seg->data_len = static_cast<uint16_t>(n);
      last->next = seg;
      last = seg;
      ++m->nb_segs;
      copied += n;
    }
    if (copied < len) {
      rte_pktmbuf_free(m);  // the whole chain; the record stays held for the next burst
      ++stats_.pool_empty;
      break;
    }
    if (m->nb_segs > 1) ++stats_.chained_records;
    m->pkt_len = len;
    m->port = port_id;
    if (ts_offset_ >= 0) {
      *RTE_MBUF_DYNFIELD(m, ts_offset_, rte_mbuf_timestamp_t*) = held_ts_us_;
      m->ol_flags |= ts_flag_;
    }
    out[got++] = m;
    held_ = false;
    ++stats_.packets;
    stats_.bytes += len;
  }
  if (got != 0) {
    delivered_packets_.store(stats_.packets, std::memory_order_relaxed);
    delivered_bytes_.store(stats_.bytes, std::memory_order_relaxed);
  }
  return got;
}

}  // namespace fs::port
