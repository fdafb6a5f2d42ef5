#include "tools/bench/hs_limit.h"

#include <netinet/in.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <unordered_map>

#include "dataplane/app/session.h"
#include "dataplane/decode/packet.h"
#include "dataplane/flow/flow_table.h"

namespace fs::bench {

namespace {

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};

int CountMatch(unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
  ++*static_cast<uint64_t*>(ctx);
  return 0;  // keep scanning, as the sensor's scanner does
}

// TLS as the sensor's default encryption handling sees it, from packets alone: a TCP flow whose
// first client payload the sensor's protocol detection (app::DetectTcp) calls TLS is TLS; a
// direction is encrypted once a
// ChangeCipherSpec or application data record starts at a record boundary the packet's own
// records reach; once both are, the flow's payloads are no longer scanned (that packet's
// included). An approximation of the sensor's parser over the reassembled stream (records that
// straddle packets are not followed), close enough for the matcher's limit.
struct TlsTrack {
  bool tls = false;
  bool decided = false;
  uint8_t encrypted = 0;  // bit per direction
};

bool TlsRecordHeader(const uint8_t* d, size_t n) {
  return n >= 5 && d[0] >= 20 && d[0] <= 24 && d[1] == 3 && d[2] <= 4;
}

// Whether the payload's records (from its start) include a ChangeCipherSpec or application data.
bool EncryptsDirection(const uint8_t* d, size_t n) {
  size_t at = 0;
  while (TlsRecordHeader(d + at, n - at)) {
    if (d[at] == 20 || d[at] == 23) return true;
    at += 5 + ((size_t{d[at + 3]} << 8) | d[at + 4]);
    if (at >= n) break;
  }
  return false;
}

// Whether the sensor would scan this payload (false: a TLS flow encrypted both ways).
bool ScannedBySensor(TlsTrack& t, const decode::Packet& p, int dir) {
  if (p.proto != IPPROTO_TCP) return true;
  if (!t.decided && dir == 0) {
    t.decided = true;
    t.tls = app::DetectTcp(p.payload(), p.payload_len, true, p.dport) == app::DetectResult::kTls;
  }
  if (!t.tls) return true;
  if (t.encrypted == 3) return false;
  if (EncryptsDirection(p.payload(), p.payload_len)) t.encrypted |= uint8_t(1u << dir);
  return t.encrypted != 3;
}

}  // namespace

bool ExtractPayloads(const std::string& pcap_path, Payloads* out, std::string* error) {
  *out = Payloads{};
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  std::unique_ptr<pcap_t, PcapCloser> pcap(pcap_open_offline(pcap_path.c_str(), errbuf));
  if (!pcap) {
    *error = "cannot read " + pcap_path + ": " + errbuf;
    return false;
  }
  if (pcap_datalink(pcap.get()) != DLT_EN10MB) {
    *error = pcap_path + ": not an Ethernet capture";
    return false;
  }
  // Direction needs the flow: a table as large as the sensor's default keeps every flow of the
  // benchmark captures (the small profile's 1M-flow variant has no payload to extract anyway).
  flow::FlowTable flows(1u << 18, flow::Timeouts{});
  std::unordered_map<uint64_t, TlsTrack> tls;  // by flow id
  std::unordered_map<uint64_t, uint32_t> index;  // flow id -> dense index
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  decode::Packet p;
  std::vector<uint8_t> bytes;
  int rc;
  while ((rc = pcap_next_ex(pcap.get(), &h, &data)) == 1) {
    ++out->packets;
    out->frame_bytes += h->caplen;
    const uint64_t ts = uint64_t(h->ts.tv_sec) * 1000000 + uint64_t(h->ts.tv_usec);
    decode::Decode(data, h->caplen, h->len, ts, &p);
    if (flow::UseOf(p) == flow::FlowUse::kNone) continue;
    const auto r = flows.Update(p, [](const flow::Flow&, flow::EndReason) {});
    if (r.flow == nullptr || p.payload_len == 0) continue;
    const bool to_client = r.dir == flow::Dir::kToClient;
    if (!ScannedBySensor(tls[r.flow->flow_id], p, to_client ? 1 : 0)) {
      out->tls_skipped_bytes += p.payload_len;
      continue;
    }
    const bool ports = p.layer == decode::Layer::kL4;
    const uint32_t flow = index.try_emplace(r.flow->flow_id, out->flows).first->second;
    if (flow == out->flows) ++out->flows;
    out->items.push_back(Payloads::Item{bytes.size(), p.payload_len,
                                        static_cast<uint8_t>(to_client),
                                        static_cast<uint8_t>(ports ? p.proto : 0), p.sport, p.dport,
                                        flow, patterns::ToU128(p.src), patterns::ToU128(p.dst)});
    bytes.insert(bytes.end(), p.payload(), p.payload() + p.payload_len);
    out->payload_bytes += p.payload_len;
  }
  if (rc == PCAP_ERROR) {
    *error = pcap_path + ": " + pcap_geterr(pcap.get());
    return false;
  }
  out->bytes = LargeArray<uint8_t>::CopyOf(bytes);
  return true;
}

bool MeasureScanLimit(const CompiledRules& rules, const Payloads& payloads, double min_seconds,
                      ScanLimit* out, std::string* error) {
  *out = ScanLimit{};
  const ScratchPtr scratch = rules.AllocScratch(error);
  if (!scratch) return false;
  uint64_t matches = 0, scans = 0, stream_scans = 0, bytes = 0, passes = 0;
  // Per flow: a stream per direction and database (the direction's, its port group's), opened
  // at the flow's first TCP payload of the pass and closed (end-of-data matches counted) at the
  // pass's end.
  std::vector<hs_stream_t*> streams(size_t{payloads.flows} * 4, nullptr);
  auto close_streams = [&] {
    for (hs_stream_t*& s : streams) {
      if (s == nullptr) continue;
      hs_close_stream(s, scratch.get(), CountMatch, &matches);
      s = nullptr;
    }
  };
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    for (const Payloads::Item& it : payloads.items) {
      const hs_database_t* db[2];
      const hs_database_t* sdb[2];
      const int ac = rules.addr_class(it.src, it.dst);
      const int n = rules.databases(it.dir, it.proto, it.sport, it.dport, ac, db);
      const int ns = rules.stream_databases(it.dir, it.proto, it.sport, it.dport, ac, sdb);
      if (n == 0 && ns == 0) continue;
      const char* ptr = reinterpret_cast<const char*>(payloads.bytes.get() + it.offset);
      for (int i = 0; i < n; ++i) {
        if (hs_scan(db[i], ptr, it.len, 0, scratch.get(), CountMatch, &matches) != HS_SUCCESS) {
          *error = "hs_scan failed";
          return false;
        }
        ++scans;
      }
      for (int i = 0; i < ns; ++i) {
        hs_stream_t*& s = streams[size_t{it.flow} * 4 + it.dir * 2u + static_cast<unsigned>(i)];
        if (s == nullptr && hs_open_stream(sdb[i], 0, &s) != HS_SUCCESS) {
          close_streams();
          *error = "hs_open_stream failed";
          return false;
        }
        if (hs_scan_stream(s, ptr, it.len, 0, scratch.get(), CountMatch, &matches) !=
            HS_SUCCESS) {
          close_streams();
          *error = "hs_scan_stream failed";
          return false;
        }
        ++stream_scans;
      }
      bytes += it.len;
    }
    close_streams();
    ++passes;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (elapsed < min_seconds);
  out->seconds = elapsed;
  out->passes = passes;
  out->scans = scans;
  out->stream_scans = stream_scans;
  out->bytes = bytes;
  out->matches = matches;
  out->mbytes_per_s = static_cast<double>(bytes) / elapsed / 1e6;
  out->capture_mpps = static_cast<double>(payloads.packets * passes) / elapsed / 1e6;
  out->capture_gbps = static_cast<double>(payloads.frame_bytes * passes) * 8 / elapsed / 1e9;
  return true;
}

}  // namespace fs::bench
