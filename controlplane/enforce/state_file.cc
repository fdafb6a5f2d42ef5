#include "controlplane/enforce/state_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

namespace fs::enforce {

namespace {

using nlohmann::json;

bool ParseSource(const std::string& s, BlockSource* out) {
  for (BlockSource src : {BlockSource::kRule, BlockSource::kIndicator, BlockSource::kOperator}) {
    if (s == BlockSourceName(src)) {
      *out = src;
      return true;
    }
  }
  return false;
}

// One entry; false with *why naming the field. Nothing here throws: types are checked before
// every get<>.
bool ParseEntry(const json& e, Block* b, std::string* why) {
  if (!e.is_object()) {
    *why = "not an object";
    return false;
  }
  auto unsigned_field = [&](const char* key, uint64_t max, uint64_t* out) {
    const auto it = e.find(key);
    if (it == e.end()) {
      *why = fmt::format("{}: missing", key);
      return false;
    }
    if (!it->is_number_unsigned() || it->get<uint64_t>() > max) {
      *why = fmt::format("{}: not an unsigned integer up to {}", key, max);
      return false;
    }
    *out = it->get<uint64_t>();
    return true;
  };
  auto string_field = [&](const char* key, std::string* out) {
    const auto it = e.find(key);
    if (it == e.end() || !it->is_string()) {
      *why = fmt::format("{}: missing or not a string", key);
      return false;
    }
    *out = it->get<std::string>();
    return true;
  };

  std::string target, source;
  if (!string_field("target", &target)) return false;
  bool host_bits = false;
  std::string reason;
  if (!patterns::ParseIpEntry(target, &b->target, &host_bits, &reason)) {
    *why = fmt::format("target: {}", reason);
    return false;
  }
  if (host_bits) {
    // The manager never writes such a target: the file was edited, and guessing the intended
    // block could block more than was asked for.
    *why = fmt::format("target: '{}' has host bits set", target);
    return false;
  }
  if (!string_field("source", &source)) return false;
  if (!ParseSource(source, &b->source)) {
    *why = fmt::format("source: '{}' is not rule, indicator or operator", source);
    return false;
  }
  constexpr uint64_t kU32 = std::numeric_limits<uint32_t>::max();
  constexpr uint64_t kU64 = std::numeric_limits<uint64_t>::max();
  uint64_t gid = 0, sid = 0;
  if (!unsigned_field("gid", kU32, &gid) || !unsigned_field("sid", kU32, &sid)) return false;
  b->gid = static_cast<uint32_t>(gid);
  b->sid = static_cast<uint32_t>(sid);
  if (!string_field("reason", &b->reason)) return false;
  if (!unsigned_field("created_ms", kU64, &b->created_ms) ||
      !unsigned_field("expires_ms", kU64, &b->expires_ms)) {
    return false;
  }
  if (b->expires_ms == 0) {
    *why = "expires_ms: 0 (every block has an expiry)";
    return false;
  }
  return true;
}

std::string Errno(const char* what, const std::string& path) {
  return fmt::format("{} {}: {}", what, path, std::strerror(errno));
}

// Writes all of data to fd, retrying short writes and EINTR.
bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::string StateToJson(std::span<const Block> blocks) {
  json arr = json::array();
  for (const Block& b : blocks) {
    arr.push_back({{"target", b.target.ToString()},
                   {"source", BlockSourceName(b.source)},
                   {"gid", b.gid},
                   {"sid", b.sid},
                   {"reason", b.reason},
                   {"created_ms", b.created_ms},
                   {"expires_ms", b.expires_ms}});
  }
  json doc = {{"version", kStateFileVersion}, {"blocks", std::move(arr)}};
  // A reason comes from rule text or an operator: replace invalid UTF-8 rather than throw.
  return doc.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

bool ParseState(std::string_view text, StateFileContents* out, std::string* error) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    *error = fmt::format("not valid JSON ({})", e.what());
    return false;
  }
  if (!doc.is_object()) {
    *error = "not a JSON object";
    return false;
  }
  const auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer()) {
    *error = "version: missing or not an integer";
    return false;
  }
  if (version->get<int64_t>() != kStateFileVersion) {
    *error = fmt::format("version {} is not supported (this sensor reads version {})",
                         version->dump(), kStateFileVersion);
    return false;
  }
  const auto blocks = doc.find("blocks");
  if (blocks == doc.end() || !blocks->is_array()) {
    *error = "blocks: missing or not an array";
    return false;
  }
  out->blocks.clear();
  out->warnings.clear();
  for (size_t i = 0; i < blocks->size(); ++i) {
    Block b;
    std::string why;
    if (ParseEntry((*blocks)[i], &b, &why)) {
      out->blocks.push_back(std::move(b));
    } else {
      out->warnings.push_back(fmt::format("blocks[{}]: {}; entry skipped", i, why));
    }
  }
  return true;
}

bool ReadStateFile(const std::string& path, StateFileContents* out, std::string* error) {
  out->blocks.clear();
  out->warnings.clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return true;  // first start: nothing blocked yet
    *error = fmt::format("state file {}: cannot open: {}", path, std::strerror(errno));
    return false;
  }
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = fmt::format("state file {}: cannot read: {}", path, std::strerror(errno));
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  std::string why;
  if (!ParseState(text, out, &why)) {
    *error = fmt::format("state file {}: {}", path, why);
    return false;
  }
  return true;
}

bool WriteStateFile(const std::string& path, std::span<const Block> blocks, std::string* error) {
  const std::string text = StateToJson(blocks);
  const std::string tmp = path + ".tmp";
  auto fail = [&](std::string why) {
    *error = fmt::format("state file {}: {}", path, why);
    return false;
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return fail(Errno("cannot create", tmp));
  if (!WriteAll(fd, text)) {
    std::string why = Errno("cannot write", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return fail(why);
  }
  if (::fsync(fd) != 0) {
    std::string why = Errno("cannot fsync", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return fail(why);
  }
  if (::close(fd) != 0) {
    std::string why = Errno("cannot close", tmp);
    ::unlink(tmp.c_str());
    return fail(why);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = Errno("cannot rename", tmp);
    ::unlink(tmp.c_str());
    return fail(why);
  }
  // The rename is durable only once the directory entry is on disk.
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    const int rc = ::fsync(dfd);
    const int saved = errno;
    ::close(dfd);
    if (rc != 0) {
      errno = saved;
      return fail(Errno("cannot fsync directory", dir));
    }
  }
  return true;
}

}  // namespace fs::enforce
