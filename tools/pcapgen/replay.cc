#include "tools/pcapgen/replay.h"

#include <pcap/pcap.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>

namespace fs::pcapgen {

bool ReplayCapture(const std::string& pcap_path, const std::string& iface, uint32_t pps,
                   ReplayResult* result, std::string* error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_t* in = pcap_open_offline(pcap_path.c_str(), errbuf);
  if (in == nullptr) {
    *error = fmt::format("cannot read '{}': {}", pcap_path, errbuf);
    return false;
  }
  pcap_t* out = pcap_open_live(iface.c_str(), 65535, 0, 100, errbuf);
  if (out == nullptr) {
    *error = fmt::format("cannot open interface '{}': {}", iface, errbuf);
    pcap_close(in);
    return false;
  }
  const auto start = std::chrono::steady_clock::now();
  pcap_pkthdr* hdr;
  const u_char* data;
  while (pcap_next_ex(in, &hdr, &data) == 1) {
    if (pcap_inject(out, data, hdr->caplen) == static_cast<int>(hdr->caplen)) {
      ++result->sent;
    } else {
      ++result->failed;
    }
    if (pps > 0) {
      const auto due = start + std::chrono::microseconds(uint64_t(result->sent + result->failed) *
                                                         1000000 / pps);
      std::this_thread::sleep_until(due);
    }
  }
  pcap_close(out);
  pcap_close(in);
  return true;
}

}  // namespace fs::pcapgen
