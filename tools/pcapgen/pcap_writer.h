// PcapWriter: writes a classic libpcap capture file (magic 0xa1b2c3d4, microsecond timestamps,
// version 2.4, LINKTYPE_ETHERNET, snaplen 65535), little-endian, without depending on libpcap.
// Owned by one thread (the capture generator or a test); not thread-safe. Errors are returned
// as false plus a message naming the file and the errno text; nothing throws.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace fs::pcapgen {

using Bytes = std::vector<uint8_t>;

class PcapWriter {
 public:
  static constexpr uint32_t kSnaplen = 65535;
  static constexpr uint32_t kLinktypeEthernet = 1;

  PcapWriter() = default;
  ~PcapWriter();  // closes the file if still open (errors then go unreported: call Close())
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;
  PcapWriter(PcapWriter&& other) noexcept;
  PcapWriter& operator=(PcapWriter&& other) noexcept;

  // Creates (truncates) path and writes the file header.
  bool Open(const std::string& path, std::string* error);
  // One record. The frame is cut to kSnaplen; the record keeps wire_len (0: the frame size) as
  // the original length. A wire_len smaller than what is stored is raised to the stored size.
  bool Write(uint64_t ts_us, const Bytes& frame, uint32_t wire_len = 0);
  // Flushes and closes; false if any buffered write failed.
  bool Close();

  bool is_open() const { return file_ != nullptr; }
  uint64_t packets() const { return packets_; }
  // Message for the last failed Write()/Close(), naming the file.
  const std::string& last_error() const { return last_error_; }

 private:
  bool Fail(const char* what, int err);

  std::FILE* file_ = nullptr;
  std::string path_;
  uint64_t packets_ = 0;
  std::string last_error_;
};

}  // namespace fs::pcapgen
