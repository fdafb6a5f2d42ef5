#include "dataplane/port/capture_reader.h"

#include <fmt/format.h>
#include <pcap/pcap.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_memcpy.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>

#include "dataplane/common/net_bytes.h"
#include "dataplane/common/prefetch.h"
#include "dataplane/decode/packet.h"

namespace fs::port {

namespace {

// libpcap's own file format (pcap-savefile(5)), the variant read in place: version 2.4 with the
// microsecond or nanosecond magic, in either byte order.
constexpr uint32_t kMagicMicro = 0xa1b2c3d4, kMagicNano = 0xa1b23c4d;
constexpr size_t kFileHeader = 24, kRecordHeader = 16;

bool ClassicHeader(const uint8_t* h, bool* swapped, bool* nano) {
  uint32_t magic;
  uint16_t major, minor;
  std::memcpy(&magic, h, 4);
  std::memcpy(&major, h + 4, 2);
  std::memcpy(&minor, h + 6, 2);
  *swapped = magic == __builtin_bswap32(kMagicMicro) || magic == __builtin_bswap32(kMagicNano);
  if (*swapped) {
    magic = __builtin_bswap32(magic);
    major = __builtin_bswap16(major);
    minor = __builtin_bswap16(minor);
  }
  *nano = magic == kMagicNano;
  return (magic == kMagicMicro || magic == kMagicNano) && major == 2 && minor == 4;
}

// libpcap's largest accepted capture length for a link type (max_snaplen_for_dlt).
uint32_t MaxCaplen(int dlt) {
  switch (dlt) {
    case DLT_DBUS:
      return 128u << 20;
    case DLT_EBHSCR:
      return 8u << 20;
    case DLT_USBPCAP:
      return 1u << 20;
    default:
      return 262144;  // MAXIMUM_SNAPLEN
  }
}

}  // namespace

std::unique_ptr<CaptureReader> CaptureReader::Open(const std::string& path, int ts_offset,
                                                   uint64_t ts_flag, std::string* error,
                                                   size_t buffer_bytes, Reading reading) {
  std::unique_ptr<CaptureReader> r(new CaptureReader());
  r->path_ = path;
  r->file_ = std::fopen(path.c_str(), "rb");
  if (r->file_ == nullptr) {
    *error = fmt::format("{}: {}", path, std::strerror(errno));
    return nullptr;
  }
  // A regular file in the classic format is read directly (see the header); libpcap still
  // reads its file header through the stream below.
  const int fd = fileno(r->file_);
  struct stat st {};
  uint8_t head[kFileHeader];
  if (reading == Reading::kAny && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
      pread(fd, head, kFileHeader, 0) == static_cast<ssize_t>(kFileHeader) &&
      ClassicHeader(head, &r->swapped_, &r->nsec_)) {
    r->direct_ = true;
    r->fd_ = fd;
    r->buffer_bytes_ = buffer_bytes > 0 ? buffer_bytes : kDefaultBuffer;
    r->file_off_ = kFileHeader;
  } else if (buffer_bytes > 0) {
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
  if (r->direct_) {
    // The limits libpcap applies to this file's records (its snapshot length is the header's,
    // or the link type's maximum when the header's is 0 or larger).
    r->snapshot_ = static_cast<uint32_t>(pcap_snapshot(r->pcap_));
    r->max_caplen_ = MaxCaplen(r->datalink_);
    r->stats_.direct = true;
  }
  r->ts_offset_ = ts_offset;
  r->ts_flag_ = ts_flag;
  return r;
}

struct CaptureReader::Buffer {
  rte_mbuf_ext_shared_info shinfo;
  std::unique_ptr<uint8_t[]> bytes;
  size_t cap = 0;
};

void CaptureReader::FreeBufferCallback(void* /*addr*/, void* buffer) {
  delete static_cast<Buffer*>(buffer);
}

void CaptureReader::DropReference(Buffer* b) {
  if (rte_mbuf_ext_refcnt_update(&b->shinfo, -1) == 0) delete b;
}

namespace {

// The most mbufs attached to one buffer at once (its reference count is 16 bits); past it the
// reader copies.
constexpr uint16_t kMaxAttached = UINT16_MAX - 2;

}  // namespace

CaptureReader::Buffer* CaptureReader::FreeReadBuffer(size_t need) {
  auto is_free = [need](Buffer* b) {
    // Only the reader's own reference left: no mbuf refers to the bytes (the acquire orders the
    // readers' last accesses, on whatever thread, before our refill).
    if (b->cap < need || rte_mbuf_ext_refcnt_read(&b->shinfo) != 1) return false;
    std::atomic_thread_fence(std::memory_order_acquire);
    return true;
  };
  if (cur_ != nullptr && is_free(cur_)) return cur_;
  for (Buffer* b : buffers_) {
    if (b != cur_ && is_free(b)) return b;
  }
  if (buffers_.size() >= kMaxBuffers && need <= buffer_bytes_) return nullptr;
  // A new buffer (a record larger than the buffers gets one of its own size, even past
  // kMaxBuffers: it is only made while no smaller one could hold the record).
  auto* b = new (std::nothrow) Buffer();
  if (b == nullptr) return nullptr;
  b->cap = std::max(need, buffer_bytes_);
  b->bytes.reset(new (std::nothrow) uint8_t[b->cap]);
  if (b->bytes == nullptr) {
    delete b;
    return nullptr;
  }
  b->shinfo.free_cb = FreeBufferCallback;
  b->shinfo.fcb_opaque = b;
  rte_mbuf_ext_refcnt_set(&b->shinfo, 1);  // the reader's
  buffers_.push_back(b);
  ++stats_.buffers;
  return b;
}

CaptureReader::Fill CaptureReader::FillBuffer(size_t need) {
  while (rbuf_have_ - rbuf_at_ < need) {
    if (file_end_) return Fill::kEnd;
    if (cur_ == nullptr || rbuf_at_ != 0 || need > cur_->cap) {
      // The unread tail (part of one record) to the front of a buffer no mbuf refers to: this
      // one when it is free, another one while mbufs of this one are in flight.
      Buffer* to = FreeReadBuffer(need);
      if (to == nullptr) return Fill::kBusy;
      const size_t tail = rbuf_have_ - rbuf_at_;
      if (to == cur_) {
        std::memmove(cur_->bytes.get(), cur_->bytes.get() + rbuf_at_, tail);
      } else if (tail != 0) {
        std::memcpy(to->bytes.get(), cur_->bytes.get() + rbuf_at_, tail);
      }
      cur_ = to;
      rbuf_have_ = tail;
      rbuf_at_ = 0;
    }
    const ssize_t got = pread(fd_, cur_->bytes.get() + rbuf_have_, cur_->cap - rbuf_have_,
                              static_cast<off_t>(file_off_));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (got < 0) read_errno_ = errno;
      file_end_ = true;
      return Fill::kEnd;
    }
    file_off_ += static_cast<uint64_t>(got);
    rbuf_have_ += static_cast<size_t>(got);
  }
  return Fill::kOk;
}

CaptureReader::Fill CaptureReader::NextDirect() {
  // The input ends at a record libpcap would refuse, with libpcap's message.
  auto refuse = [this](std::string why) {
    stats_.truncated_file = true;
    error_ = std::move(why);
    done_ = true;
    return Fill::kEnd;
  };
  auto read_error = [&refuse, this]() {
    return refuse(fmt::format("error reading dump file: {}", std::strerror(read_errno_)));
  };
  Fill filled = FillBuffer(kRecordHeader);
  if (filled == Fill::kBusy) return filled;
  if (filled == Fill::kEnd) {
    if (read_errno_ != 0) return read_error();
    const size_t left = rbuf_have_ - rbuf_at_;
    if (left == 0) {  // the end of the capture
      done_ = true;
      return Fill::kEnd;
    }
    return refuse(fmt::format("truncated dump file; tried to read {} header bytes, only got {}",
                              kRecordHeader, left));
  }
  uint32_t f[4];  // seconds, micro- or nanoseconds, captured length, original length
  std::memcpy(f, cur_->bytes.get() + rbuf_at_, sizeof f);
  if (swapped_) {
    for (uint32_t& v : f) v = __builtin_bswap32(v);
  }
  const uint32_t caplen = f[2];
  if (caplen > max_caplen_) {
    return refuse(caplen > snapshot_
                      ? fmt::format("invalid packet capture length {}, bigger than snaplen of {}",
                                    caplen, snapshot_)
                      : fmt::format("invalid packet capture length {}, bigger than maximum of {}",
                                    caplen, max_caplen_));
  }
  // A record longer than the file's snapshot length is cut to it, as libpcap does.
  const uint32_t keep = std::min(caplen, snapshot_);
  filled = FillBuffer(kRecordHeader + caplen);
  if (filled == Fill::kBusy) return filled;  // the header is read again next time
  if (filled == Fill::kEnd) {
    if (read_errno_ != 0) return read_error();
    const size_t avail = rbuf_have_ - rbuf_at_ - kRecordHeader;
    return refuse(fmt::format("truncated dump file; tried to read {} captured bytes, only got {}",
                              avail < keep ? keep : caplen, avail));
  }
  // libpcap's record header holds signed 32-bit fields.
  int64_t sub = static_cast<int32_t>(f[1]);
  if (nsec_) sub /= 1000;
  held_ts_us_ =
      static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(f[0]))) * 1000000ull +
      static_cast<uint64_t>(sub);
  held_data_ = cur_->bytes.get() + rbuf_at_ + kRecordHeader;
  held_caplen_ = keep;
  held_ = true;
  rbuf_at_ += kRecordHeader + caplen;
  return Fill::kOk;
}

std::unique_ptr<CaptureReader> CaptureReader::OpenReplay(const std::string& path, int ts_offset,
                                                         uint64_t ts_flag, std::string* error) {
  // Loaded once at start-up: through libpcap's stream.
  std::unique_ptr<CaptureReader> r =
      Open(path, ts_offset, ts_flag, error, kDefaultBuffer, Reading::kStream);
  if (r == nullptr) return nullptr;
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  uint64_t first = UINT64_MAX, last = 0;
  int rc;
  std::vector<uint8_t> store;
  while ((rc = pcap_next_ex(r->pcap_, &h, &data)) == 1) {
    const uint64_t ts =
        static_cast<uint64_t>(h->ts.tv_sec) * 1000000ull + static_cast<uint64_t>(h->ts.tv_usec);
    first = std::min(first, ts);
    last = std::max(last, ts);
    // Where each record's ports are is found once, here, not in every pass (a second decode of
    // every replayed frame was a tenth of a 64-byte frame's cost).
    const ReplayPorts where =
        r->datalink_ == DLT_EN10MB ? FindReplayPorts(data, h->caplen) : ReplayPorts{};
    r->recs_.push_back({store.size(), h->caplen, where, ts});
    store.insert(store.end(), data, data + h->caplen);
  }
  if (rc != PCAP_ERROR_BREAK) {
    // As the file reader: a record cut short ends the input; the records before it are replayed.
    r->stats_.truncated_file = true;
    r->error_ = pcap_geterr(r->pcap_);
  }
  if (r->recs_.empty()) {
    *error = fmt::format("{}: no packet to replay{}", path,
                         r->error_.empty() ? "" : " (" + r->error_ + ")");
    return nullptr;
  }
  // On 2 MB pages where transparent huge pages allow: on 4 KB pages each page of the store the
  // copy reached was a TLB miss the prefetch ahead of it did not hide (the copy's first load of a
  // record was 62% of its samples, `memmove` 11.6% of an attack + ET replay; 3.2% after).
  r->store_ = LargeArray<uint8_t>::CopyOf(store);
  r->replay_ = true;
  r->pass_ = 1;
  r->shift_us_ = last - first + 1000000;
  return r;
}

namespace {

using net::Rd16;
using net::Wr16;

// RFC 1624 eqn. 3: checksum c after one 16-bit word changed from old_v to new_v (c unchanged
// when the word is).
uint16_t Adjusted(uint16_t c, uint16_t old_v, uint16_t new_v) {
  if (old_v == new_v) return c;
  uint32_t sum = static_cast<uint16_t>(~c) + static_cast<uint16_t>(~old_v) + new_v;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

uint16_t ReplayPort(uint16_t port, uint64_t pass) {
  if (port < 32768 || pass == 0) return port;
  return static_cast<uint16_t>(32768 + (port - 32768 + pass * 7919) % 32768);
}

ReplayPorts FindReplayPorts(const uint8_t* frame, uint32_t len) {
  // The sensor's own decoder finds the transport header (VLAN tags, IPv4 options, IPv6 extension
  // headers); fragments after the first carry no ports.
  decode::Packet p;
  decode::Decode(frame, len, len, 0, &p);
  if (p.layer != decode::Layer::kL4 || p.fragment || (p.proto != 6 && p.proto != 17)) return {};
  const size_t at = p.l4_offset;
  const size_t csum = at + (p.proto == 6 ? 16 : 6);
  if (len < csum + 2 || csum > UINT16_MAX) return {};
  const bool has_csum = p.proto == 6 || Rd16(frame + csum) != 0;  // UDP over IPv4 may have none
  return {static_cast<uint16_t>(at), has_csum ? static_cast<uint16_t>(csum) : uint16_t{0}};
}

namespace {

// RenameReplayPorts' body, inlined into the replay's loop (a call there was 3.6% of a 64-byte
// frame).
[[gnu::always_inline]] inline void RenamePorts(const uint8_t* from, uint8_t* frame, uint32_t len,
                                               ReplayPorts where, uint64_t pass) {
  if (pass == 0 || where.ports == 0 || len < where.ports + 4u ||
      (where.checksum != 0 && len < where.checksum + 2u)) {
    return;
  }
  const size_t at = where.ports;
  const uint16_t old_s = Rd16(from + at), old_d = Rd16(from + at + 2);
  const uint16_t new_s = ReplayPort(old_s, pass), new_d = ReplayPort(old_d, pass);
  Wr16(frame + at, new_s);
  Wr16(frame + at + 2, new_d);
  if (where.checksum == 0) return;
  uint16_t sum = Rd16(from + where.checksum);
  sum = Adjusted(sum, old_s, new_s);
  sum = Adjusted(sum, old_d, new_d);
  Wr16(frame + where.checksum, sum);
}

}  // namespace

void RenameReplayPorts(const uint8_t* from, uint8_t* frame, uint32_t len, ReplayPorts where,
                       uint64_t pass) {
  RenamePorts(from, frame, len, where, pass);
}

CaptureReader::~CaptureReader() {
  // Buffers that mbufs still refer to are freed with the last of them.
  for (Buffer* b : buffers_) DropReference(b);
  // pcap_close closes the stream it was given.
  if (pcap_ != nullptr) {
    pcap_close(pcap_);
  } else if (file_ != nullptr) {
    std::fclose(file_);
  }
}

// The replay's own loop: each record that fits one mbuf copied with the fields it needs set from
// locals (the general loop of Burst goes through held_* for every record). A record that does not
// fit, or an empty pool, is left to the general loop. Flattened: the mbuf allocation inlined (a
// call was 5% of a 64-byte frame).
[[gnu::flatten]] uint16_t CaptureReader::ReplayBurst(rte_mempool* pool, uint16_t port_id,
                                                     rte_mbuf** out, uint16_t n) {
  uint16_t got = 0;
  const uint32_t data_room = rte_pktmbuf_data_room_size(pool);
  const uint32_t room = data_room > RTE_PKTMBUF_HEADROOM ? data_room - RTE_PKTMBUF_HEADROOM : 0;
  const uint8_t* store = store_.get();
  while (got < n) {
    const Rec& rec = PeekRecord();
    if (rec.len > room) break;
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) break;
    TakeRecord(rec);
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    // DPDK's inline copy for short records (a call to the C library's was 2% of a 64-byte
    // frame); the library's for the others, which it copies faster here.
    if (rec.len <= 128) {
      rte_memcpy(frame, store + rec.at, rec.len);
    } else {
      std::memcpy(frame, store + rec.at, rec.len);
    }
    if (pass_ > 1) RenamePorts(store + rec.at, frame, rec.len, rec.ports, pass_ - 1);
    m->data_len = static_cast<uint16_t>(rec.len);
    m->pkt_len = rec.len;
    m->port = port_id;
    if (ts_offset_ >= 0) {
      *RTE_MBUF_DYNFIELD(m, ts_offset_, rte_mbuf_timestamp_t*) = PassTs(rec);
      m->ol_flags |= ts_flag_;
    }
    out[got++] = m;
    ++stats_.packets;
    stats_.bytes += rec.len;
  }
  return got;
}

uint16_t CaptureReader::Burst(rte_mempool* pool, uint16_t port_id, rte_mbuf** out, uint16_t n) {
  uint16_t got = 0;
  if (replay_ && !held_ && !done_) got = ReplayBurst(pool, port_id, out, n);
  while (got < n && !done_) {
    if (!held_ && replay_) {
      const Rec& rec = PeekRecord();
      TakeRecord(rec);
      held_data_ = store_.get() + rec.at;
      held_caplen_ = rec.len;
      held_ts_us_ = PassTs(rec);
      held_ports_ = rec.ports;
      held_ = true;
    }
    if (!held_ && direct_) {
      const Fill next = NextDirect();
      if (next == Fill::kBusy) ++stats_.buffers_busy;
      if (next != Fill::kOk) break;
    }
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
      held_ts_us_ =
          static_cast<uint64_t>(h->ts.tv_sec) * 1000000ull + static_cast<uint64_t>(h->ts.tv_usec);
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
    if (direct_ && copied == len && len >= kAttachMin &&
        rte_mbuf_ext_refcnt_read(&cur_->shinfo) < kMaxAttached) {
      // In place: the mbuf refers to the record in the read buffer (see the header).
      rte_mbuf_ext_refcnt_update(&cur_->shinfo, 1);
      rte_pktmbuf_attach_extbuf(m, const_cast<uint8_t*>(held_data_), RTE_BAD_IOVA,
                                static_cast<uint16_t>(len), &cur_->shinfo);
    } else {
      std::memcpy(rte_pktmbuf_mtod(m, void*), held_data_, copied);
    }
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
    if (replay_ && pass_ > 1) {
      RenameReplayPorts(held_data_, rte_pktmbuf_mtod(m, uint8_t*), m->data_len, held_ports_,
                        pass_ - 1);
    }
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
  if (done_) finished_.store(true, std::memory_order_release);
  return got;
}

}  // namespace fs::port
