#include "tools/pcapgen/pcap_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace fs::pcapgen {
namespace {

// Fixed little-endian layout, so a capture is byte-identical whatever host wrote it.
void PutLe32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
  p[2] = uint8_t(v >> 16);
  p[3] = uint8_t(v >> 24);
}
void PutLe16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
}

}  // namespace

PcapWriter::~PcapWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

PcapWriter::PcapWriter(PcapWriter&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)),
      path_(std::move(other.path_)),
      packets_(std::exchange(other.packets_, 0)),
      last_error_(std::move(other.last_error_)) {}

PcapWriter& PcapWriter::operator=(PcapWriter&& other) noexcept {
  if (this != &other) {
    if (file_ != nullptr) std::fclose(file_);
    file_ = std::exchange(other.file_, nullptr);
    path_ = std::move(other.path_);
    packets_ = std::exchange(other.packets_, 0);
    last_error_ = std::move(other.last_error_);
  }
  return *this;
}

bool PcapWriter::Fail(const char* what, int err) {
  last_error_ = std::string(what) + " '" + path_ + "': " + std::strerror(err);
  return false;
}

bool PcapWriter::Open(const std::string& path, std::string* error) {
  if (file_ != nullptr) Close();
  path_ = path;
  packets_ = 0;
  last_error_.clear();
  file_ = std::fopen(path.c_str(), "wb");
  if (file_ == nullptr) {
    Fail("cannot create capture file", errno);
    if (error != nullptr) *error = last_error_;
    return false;
  }
  uint8_t hdr[24];
  PutLe32(hdr, 0xa1b2c3d4);
  PutLe16(hdr + 4, 2);
  PutLe16(hdr + 6, 4);
  PutLe32(hdr + 8, 0);   // thiszone
  PutLe32(hdr + 12, 0);  // sigfigs
  PutLe32(hdr + 16, kSnaplen);
  PutLe32(hdr + 20, kLinktypeEthernet);
  if (std::fwrite(hdr, sizeof(hdr), 1, file_) != 1) {
    Fail("cannot write capture file header to", errno);
    std::fclose(file_);
    file_ = nullptr;
    if (error != nullptr) *error = last_error_;
    return false;
  }
  return true;
}

bool PcapWriter::Write(uint64_t ts_us, const Bytes& frame, uint32_t wire_len) {
  if (file_ == nullptr) {
    last_error_ = "capture file '" + path_ + "' is not open";
    return false;
  }
  const uint32_t incl = uint32_t(std::min<size_t>(frame.size(), kSnaplen));
  uint32_t orig = wire_len == 0 ? uint32_t(std::min<size_t>(frame.size(), UINT32_MAX)) : wire_len;
  orig = std::max(orig, incl);
  uint8_t rec[16];
  PutLe32(rec, uint32_t(ts_us / 1000000));
  PutLe32(rec + 4, uint32_t(ts_us % 1000000));
  PutLe32(rec + 8, incl);
  PutLe32(rec + 12, orig);
  if (std::fwrite(rec, sizeof(rec), 1, file_) != 1 ||
      (incl > 0 && std::fwrite(frame.data(), incl, 1, file_) != 1)) {
    return Fail("cannot write packet to", errno);
  }
  ++packets_;
  return true;
}

bool PcapWriter::Close() {
  if (file_ == nullptr) return true;
  const bool write_error = std::ferror(file_) != 0;
  const int close_rc = std::fclose(file_);
  const int err = errno;
  file_ = nullptr;
  if (write_error) return Fail("write error on", EIO);
  if (close_rc != 0) return Fail("cannot close", err);
  return true;
}

}  // namespace fs::pcapgen
