#include "controlplane/sensor/capture_probe.h"

#include <fmt/format.h>
#include <pcap/pcap.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace fs::sensor {

namespace {

bool IsGzip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char magic[2] = {0, 0};
  in.read(reinterpret_cast<char*>(magic), 2);
  return in.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

bool Gunzip(const std::string& from, const std::string& to, std::string* error) {
  gzFile in = gzopen(from.c_str(), "rb");
  if (in == nullptr) {
    *error = fmt::format("cannot open '{}' for decompression: {}", from, std::strerror(errno));
    return false;
  }
  FILE* out = std::fopen(to.c_str(), "wb");
  if (out == nullptr) {
    gzclose(in);
    *error = fmt::format("cannot create '{}': {}", to, std::strerror(errno));
    return false;
  }
  char buf[1 << 16];
  int n;
  bool ok = true;
  while ((n = gzread(in, buf, sizeof(buf))) > 0) {
    if (std::fwrite(buf, 1, size_t(n), out) != size_t(n)) {
      *error = fmt::format("cannot write '{}': {}", to, std::strerror(errno));
      ok = false;
      break;
    }
  }
  if (ok && n < 0) {
    int zerr;
    *error = fmt::format("'{}' is not a valid gzip file: {}", from, gzerror(in, &zerr));
    ok = false;
  }
  gzclose(in);
  if (std::fclose(out) != 0 && ok) {
    *error = fmt::format("cannot write '{}': {}", to, std::strerror(errno));
    ok = false;
  }
  if (!ok) unlink(to.c_str());
  return ok;
}

}  // namespace

bool ProbeCapture(const std::string& path, const std::string& temp_dir, CaptureInfo* info,
                  std::string* error, bool count) {
  *info = CaptureInfo{};
  info->path = path;
  info->read_path = path;
  if (access(path.c_str(), R_OK) != 0) {
    *error = fmt::format("capture '{}': {}", path, std::strerror(errno));
    return false;
  }
  if (IsGzip(path)) {
    static int counter = 0;
    info->read_path = fmt::format("{}/flowsentry-{}-{}.pcap", temp_dir, getpid(), counter++);
    if (!Gunzip(path, info->read_path, error)) {
      *error = fmt::format("capture '{}': {}", path, *error);
      return false;
    }
    info->temporary = true;
  }
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_t* p = pcap_open_offline(info->read_path.c_str(), errbuf);
  if (p == nullptr) {
    *error = fmt::format("capture '{}' cannot be read: {}", path, errbuf);
    return false;
  }
  const int link = pcap_datalink(p);
  if (link != DLT_EN10MB) {
    const char* name = pcap_datalink_val_to_name(link);
    *error =
        fmt::format("capture '{}' has link type {} ({}); flowsentry reads Ethernet captures only",
                    path, name ? name : "unknown", link);
    pcap_close(p);
    return false;
  }
  if (!count) {
    pcap_close(p);
    return true;
  }
  pcap_pkthdr* hdr;
  const u_char* data;
  int rc;
  while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
    const uint64_t ts = uint64_t(hdr->ts.tv_sec) * 1000000 + uint64_t(hdr->ts.tv_usec);
    if (info->packets == 0) info->first_ts_us = ts;
    info->last_ts_us = ts;
    ++info->packets;
    info->bytes += hdr->caplen;
  }
  if (rc == PCAP_ERROR) {
    info->truncated = true;
    info->truncation = pcap_geterr(p);
  }
  pcap_close(p);
  return true;
}

}  // namespace fs::sensor
