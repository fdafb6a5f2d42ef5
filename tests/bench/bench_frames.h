// Frames for the per-stage Google Benchmark programs: captures from the project's generator
// (tools/pcapgen), written to a temporary file, read back with libpcap into one contiguous
// buffer and cached for the life of the benchmark process. Header-only; benchmark main thread.
#pragma once

#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "dataplane/decode/packet.h"
#include "tools/pcapgen/bench_profiles.h"
#include "tools/pcapgen/district.h"

namespace fs::benchdata {

struct Frames {
  std::vector<uint8_t> bytes;
  std::vector<uint64_t> offset;
  std::vector<uint32_t> len;
  std::vector<uint64_t> ts_us;
  uint64_t total_bytes = 0;

  size_t size() const { return len.size(); }
  const uint8_t* data(size_t i) const { return bytes.data() + offset[i]; }
};

// A scratch capture file; /dev/shm when it exists (no disk I/O in set-up).
inline std::string TempCapturePath() {
  const char* dir =
      access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  std::string path = std::string(dir) + "/fs-bench-XXXXXX";
  const int fd = mkstemp(path.data());
  if (fd >= 0) close(fd);
  return path;
}

// Reads a capture into memory; aborts the benchmark process on failure (a set-up bug).
inline Frames ReadCapture(const std::string& path) {
  Frames f;
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(path.c_str(), errbuf);
  if (p == nullptr) {
    std::fprintf(stderr, "cannot read %s: %s\n", path.c_str(), errbuf);
    std::abort();
  }
  pcap_pkthdr* h;
  const u_char* data;
  while (pcap_next_ex(p, &h, &data) == 1) {
    f.offset.push_back(f.bytes.size());
    f.len.push_back(h->caplen);
    f.ts_us.push_back(uint64_t(h->ts.tv_sec) * 1000000 + uint64_t(h->ts.tv_usec));
    f.bytes.insert(f.bytes.end(), data, data + h->caplen);
    f.total_bytes += h->caplen;
  }
  pcap_close(p);
  return f;
}

// The district capture (five minutes of district traffic with the intrusion story).
inline const Frames& DistrictFrames(uint32_t scale) {
  static std::map<uint32_t, Frames> cache;
  if (auto it = cache.find(scale); it != cache.end()) return it->second;
  const std::string path = TempCapturePath();
  pcapgen::DistrictOptions o;
  o.scale = scale;
  std::string error;
  if (!pcapgen::WriteDistrictCapture(path, o, nullptr, &error)) {
    std::fprintf(stderr, "district capture: %s\n", error.c_str());
    std::abort();
  }
  Frames f = ReadCapture(path);
  unlink(path.c_str());
  return cache.emplace(scale, std::move(f)).first->second;
}

// A benchmark profile capture (bench_profiles.h).
inline const Frames& ProfileFrames(pcapgen::BenchProfile profile, uint64_t packets,
                                   uint32_t flows = 0) {
  static std::map<std::tuple<int, uint64_t, uint32_t>, Frames> cache;
  const auto key = std::make_tuple(static_cast<int>(profile), packets, flows);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  const std::string path = TempCapturePath();
  pcapgen::BenchOptions o;
  o.packets = packets;
  o.flows = flows;
  std::string error;
  if (!pcapgen::WriteBenchCapture(path, profile, o, nullptr, &error)) {
    std::fprintf(stderr, "bench capture: %s\n", error.c_str());
    std::abort();
  }
  Frames f = ReadCapture(path);
  unlink(path.c_str());
  return cache.emplace(key, std::move(f)).first->second;
}

// Every frame decoded (the Packets point into `frames`, which the caches keep alive).
inline std::vector<decode::Packet> DecodeAll(const Frames& frames) {
  std::vector<decode::Packet> out(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    decode::Decode(frames.data(i), frames.len[i], frames.len[i], frames.ts_us[i], &out[i]);
  }
  return out;
}

}  // namespace fs::benchdata
