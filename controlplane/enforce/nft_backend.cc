#include "controlplane/enforce/nft_backend.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace fs::enforce {
namespace {

using patterns::IpPrefix;

// Elements per `add element` command: keeps a Sync of thousands of blocks readable in an error
// (nft points at the failing line) without a command per element.
constexpr size_t kElementsPerLine = 64;
// Bounds what a misbehaving command can make us buffer.
constexpr size_t kMaxCapture = 64 * 1024;
// An error is a log line: nft repeats itself for every line of a failing transaction.
constexpr size_t kMaxErrorText = 2000;

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 255) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// p contains all of q (q equal to p or longer).
bool PrefixContains(const IpPrefix& p, const IpPrefix& q) {
  return p.len <= q.len && p.Contains(q.addr);
}
bool Overlap(const IpPrefix& p, const IpPrefix& q) {
  return PrefixContains(p, q) || PrefixContains(q, p);
}

bool BitSet(const IpPrefix& p, unsigned bit) {
  return (p.addr.bytes[bit / 8] & (0x80u >> (bit % 8))) != 0;
}

uint64_t TimeoutSeconds(uint64_t expires_ms, uint64_t now_ms) {
  Block b;
  b.expires_ms = expires_ms;
  return std::max<uint64_t>(1, b.RemainingSeconds(now_ms));
}

using Piece = std::pair<IpPrefix, uint64_t>;  // element, expires_ms

// The disjoint elements an interval set holds for possibly nested blocks: every address gets the
// latest expiry of the blocks containing it. Blocks are prefixes, so two either nest or are
// disjoint: a forest. A nested block that expires no later than its container needs no element of
// its own (the container covers it for its whole life); one that outlives it is cut out of the
// container, which is written as the prefixes that remain.
class Decomposer {
 public:
  explicit Decomposer(const std::vector<Piece>& sorted_blocks) {
    std::vector<size_t> stack;
    for (const Piece& b : sorted_blocks) {
      while (!stack.empty() && !PrefixContains(nodes_[stack.back()].prefix, b.first)) {
        stack.pop_back();
      }
      const size_t idx = nodes_.size();
      nodes_.push_back({b.first, b.second, {}});
      (stack.empty() ? roots_ : nodes_[stack.back()].kids).push_back(idx);
      stack.push_back(idx);
    }
  }

  std::vector<Piece> Pieces() {
    std::vector<Piece> out;
    for (size_t r : roots_) Emit(r, 0, &out);
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  struct Node {
    IpPrefix prefix;
    uint64_t expires_ms;
    std::vector<size_t> kids;
  };

  void Emit(size_t idx, uint64_t inherited, std::vector<Piece>* out) {
    const uint64_t eff = std::max(nodes_[idx].expires_ms, inherited);
    std::vector<size_t> cuts;
    CollectCuts(idx, eff, &cuts);
    std::vector<IpPrefix> holes;
    for (size_t c : cuts) holes.push_back(nodes_[c].prefix);
    Subtract(nodes_[idx].prefix, holes, eff, out);
    for (size_t c : cuts) Emit(c, eff, out);
  }

  void CollectCuts(size_t idx, uint64_t eff, std::vector<size_t>* cuts) {
    for (size_t k : nodes_[idx].kids) {
      if (nodes_[k].expires_ms > eff) {
        cuts->push_back(k);
      } else {
        CollectCuts(k, eff, cuts);
      }
    }
  }

  // p minus the (disjoint, contained) holes, as prefixes: halve p until each half is hole-free
  // or is a hole.
  static void Subtract(const IpPrefix& p, const std::vector<IpPrefix>& holes, uint64_t expires_ms,
                       std::vector<Piece>* out) {
    if (holes.empty()) {
      out->push_back({p, expires_ms});
      return;
    }
    for (const IpPrefix& h : holes) {
      if (h.len == p.len) return;  // contained and as long: p is the hole
    }
    IpPrefix lo = p, hi = p;
    lo.len = hi.len = static_cast<uint8_t>(p.len + 1);
    hi.addr.bytes[p.len / 8] |= static_cast<uint8_t>(0x80u >> (p.len % 8));
    std::vector<IpPrefix> lo_holes, hi_holes;
    for (const IpPrefix& h : holes) (BitSet(h, p.len) ? hi_holes : lo_holes).push_back(h);
    Subtract(lo, lo_holes, expires_ms, out);
    Subtract(hi, hi_holes, expires_ms, out);
  }

  std::vector<Node> nodes_;
  std::vector<size_t> roots_;
};

// "a timeout 30s, b timeout 5s" lines of at most kElementsPerLine elements.
std::string ElementLines(const std::string& verb, const std::string& set_ref,
                         const std::vector<Piece>& pieces, uint64_t now_ms, bool with_timeout) {
  std::string out;
  for (size_t i = 0; i < pieces.size(); i += kElementsPerLine) {
    out += fmt::format("{} element {} {{ ", verb, set_ref);
    const size_t end = std::min(pieces.size(), i + kElementsPerLine);
    for (size_t j = i; j < end; ++j) {
      if (j > i) out += ", ";
      out += pieces[j].first.ToString();
      if (with_timeout)
        out += fmt::format(" timeout {}s", TimeoutSeconds(pieces[j].second, now_ms));
    }
    out += " }\n";
  }
  return out;
}

// nft's error output on one line: its messages and the script line it quotes, without the caret
// line underneath (meaningless once joined).
std::string OneLine(const std::string& text) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    const bool carets = line.find_first_not_of(" \t^~") == std::string::npos;
    if (line.empty() || carets) continue;
    if (!out.empty()) out += " | ";
    out += line;
  }
  return out;
}

// Adds the script line nft's error points at when nft's own text does not quote it (netlink
// errors are reported as "<location>:LINE:COL: Error: ..." or without any line).
std::string WithScriptLine(const std::string& nft_error, const std::string& script) {
  std::string out = OneLine(nft_error);
  // Every quoted script line already present: done.
  size_t pos = 0;
  while (pos < script.size()) {
    size_t nl = script.find('\n', pos);
    if (nl == std::string::npos) nl = script.size();
    const std::string line = script.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && out.find(line) != std::string::npos) return out;
  }
  // nft locations look like "/dev/stdin:3:40-50: Error" or "<cmdline>:3:40-50: Error".
  const size_t err = out.find(": Error");
  if (err != std::string::npos) {
    size_t colon2 = out.rfind(':', err - 1);
    size_t colon1 =
        colon2 == std::string::npos || colon2 == 0 ? std::string::npos : out.rfind(':', colon2 - 1);
    if (colon1 != std::string::npos) {
      const int n = std::atoi(out.substr(colon1 + 1, colon2 - colon1 - 1).c_str());
      int cur = 1;
      pos = 0;
      while (n > 0 && pos < script.size()) {
        size_t nl = script.find('\n', pos);
        if (nl == std::string::npos) nl = script.size();
        if (cur == n)
          return out + " | script line " + std::to_string(n) + ": " + script.substr(pos, nl - pos);
        pos = nl + 1;
        ++cur;
      }
    }
  }
  return out;
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t w = write(fd, data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    done += static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

void NftBackend::CtxDeleter::operator()(nft_ctx* ctx) const { nft_ctx_free(ctx); }

NftBackend::NftBackend(NftConfig cfg) : cfg_(std::move(cfg)) {
  prefix_ = cfg_.family + " " + cfg_.table;
  has4_ = cfg_.family != "ip6";
  has6_ = cfg_.family != "ip";
}

NftBackend::~NftBackend() = default;

bool NftBackend::ValidateConfig(const NftConfig& cfg, std::string* error) {
  if (cfg.family != "inet" && cfg.family != "ip" && cfg.family != "ip6") {
    *error =
        fmt::format("nftables: family '{}' is not supported (use inet, ip or ip6)", cfg.family);
    return false;
  }
  const std::pair<const char*, const std::string*> names[] = {
      {"table", &cfg.table}, {"set4", &cfg.set4}, {"set6", &cfg.set6}};
  for (const auto& [key, value] : names) {
    if (!ValidName(*value)) {
      *error = fmt::format(
          "nftables: {} name '{}' is not valid (a letter or _, then letters, digits or _)", key,
          *value);
      return false;
    }
  }
  if (cfg.family == "inet" && cfg.set4 == cfg.set6) {
    *error =
        fmt::format("nftables: set4 and set6 are both '{}'; they need different names", cfg.set4);
    return false;
  }
  if (cfg.command_timeout_s < 1) {
    *error = fmt::format("nftables: command_timeout_s must be at least 1 (is {})",
                         cfg.command_timeout_s);
    return false;
  }
  return true;
}

bool NftBackend::Serves(const IpPrefix& p) const { return p.IsV4() ? has4_ : has6_; }

const std::string& NftBackend::SetFor(const IpPrefix& p) const {
  return p.IsV4() ? cfg_.set4 : cfg_.set6;
}

std::string NftBackend::StartScript() const {
  std::string s = fmt::format("add table {}\n", prefix_);
  if (has4_) {
    s += fmt::format("add set {} {} {{ type ipv4_addr; flags interval, timeout; }}\n", prefix_,
                     cfg_.set4);
  }
  if (has6_) {
    s += fmt::format("add set {} {} {{ type ipv6_addr; flags interval, timeout; }}\n", prefix_,
                     cfg_.set6);
  }
  if (!cfg_.create_chains) return s;
  for (const char* hook : {"forward", "input"}) {
    const std::string chain = fmt::format("{} block_{}", prefix_, hook);
    // add (so the rest works when it is missing), flush (older kernels refuse to delete a chain
    // that has rules), delete and re-add: the hook and priority follow the config, and the rules
    // are written exactly once.
    s += fmt::format("add chain {}\n", chain);
    s += fmt::format("flush chain {}\n", chain);
    s += fmt::format("delete chain {}\n", chain);
    s += fmt::format("add chain {} {{ type filter hook {} priority {}; policy accept; }}\n", chain,
                     hook, cfg_.chain_priority);
    if (has4_) {
      s += fmt::format("add rule {} ip saddr @{} drop\n", chain, cfg_.set4);
      s += fmt::format("add rule {} ip daddr @{} drop\n", chain, cfg_.set4);
    }
    if (has6_) {
      s += fmt::format("add rule {} ip6 saddr @{} drop\n", chain, cfg_.set6);
      s += fmt::format("add rule {} ip6 daddr @{} drop\n", chain, cfg_.set6);
    }
  }
  return s;
}

std::string NftBackend::RewriteSet(bool v4, const LiveMap& live, uint64_t now_ms) const {
  std::vector<Piece> blocks;
  for (const auto& [target, expires_ms] : live) {
    if (target.IsV4() == v4 && expires_ms > now_ms) blocks.push_back({target, expires_ms});
  }
  const std::string set_ref = fmt::format("{} {}", prefix_, v4 ? cfg_.set4 : cfg_.set6);
  return fmt::format("flush set {}\n", set_ref) +
         ElementLines("add", set_ref, Decomposer(blocks).Pieces(), now_ms, true);
}

bool NftBackend::OverlapsOther(const IpPrefix& p, uint64_t now_ms) const {
  for (const auto& [target, expires_ms] : live_) {
    if (expires_ms > now_ms && target != p && target.IsV4() == p.IsV4() && Overlap(target, p)) {
      return true;
    }
  }
  return false;
}

std::string NftBackend::AddScript(const Block& b, uint64_t now_ms) const {
  if (b.RemainingSeconds(now_ms) == 0 || !Serves(b.target)) return "";
  if (OverlapsOther(b.target, now_ms)) {
    LiveMap next = live_;
    next[b.target] = b.expires_ms;
    return RewriteSet(b.target.IsV4(), next, now_ms);
  }
  const std::string set_ref = fmt::format("{} {}", prefix_, SetFor(b.target));
  const std::vector<Piece> one = {{b.target, b.expires_ms}};
  return ElementLines("add", set_ref, one, now_ms, true) +
         ElementLines("delete", set_ref, one, now_ms, false) +
         ElementLines("add", set_ref, one, now_ms, true);
}

std::string NftBackend::RemoveScript(const Block& b) const { return RemoveScript(b, NowMs()); }

std::string NftBackend::RemoveScript(const Block& b, uint64_t now_ms) const {
  if (!Serves(b.target)) return "";
  if (OverlapsOther(b.target, now_ms)) {
    LiveMap next = live_;
    next.erase(b.target);
    return RewriteSet(b.target.IsV4(), next, now_ms);
  }
  // Adding first makes the delete succeed when the element is already gone (expired, removed).
  const std::string set_ref = fmt::format("{} {}", prefix_, SetFor(b.target));
  const std::vector<Piece> one = {{b.target, 0}};
  return ElementLines("add", set_ref, one, now_ms, false) +
         ElementLines("delete", set_ref, one, now_ms, false);
}

std::string NftBackend::SyncScript(std::span<const Block> live, uint64_t now_ms) const {
  LiveMap next;
  for (const Block& b : live) {
    if (b.RemainingSeconds(now_ms) == 0 || !Serves(b.target)) continue;
    uint64_t& e = next[b.target];
    e = std::max(e, b.expires_ms);
  }
  std::string s = StartScript();
  if (has4_) s += RewriteSet(true, next, now_ms);
  if (has6_) s += RewriteSet(false, next, now_ms);
  return s;
}

bool NftBackend::Start(std::string* error) {
  if (!ValidateConfig(cfg_, error)) return false;
  if (!Apply("Start", StartScript(), /*may_recreate=*/false, error)) return false;
  recreate_ = false;
  return true;
}

bool NftBackend::Add(const Block& b, std::string* error) {
  const uint64_t now = NowMs();
  if (!Serves(b.target)) {
    spdlog::warn("nftables: not blocking {}: table {} (family {}) holds only IPv{} addresses",
                 b.target.ToString(), prefix_, cfg_.family, has4_ ? 4 : 6);
    return true;
  }
  const std::string script = AddScript(b, now);
  if (script.empty()) return true;  // already expired: nothing to enforce
  if (!Apply("add " + b.target.ToString(), script, true, error)) return false;
  live_[b.target] = b.expires_ms;
  std::erase_if(live_, [now](const auto& kv) { return kv.second <= now; });
  return true;
}

bool NftBackend::Remove(const Block& b, std::string* error) {
  if (!Serves(b.target)) return true;
  const uint64_t now = NowMs();
  if (!Apply("remove " + b.target.ToString(), RemoveScript(b, now), true, error)) return false;
  live_.erase(b.target);
  return true;
}

bool NftBackend::Sync(std::span<const Block> live, std::string* error) {
  const uint64_t now = NowMs();
  size_t skipped = 0;
  for (const Block& b : live) skipped += Serves(b.target) ? 0 : 1;
  if (skipped > 0) {
    spdlog::warn("nftables: not blocking {} address(es): table {} (family {}) holds only IPv{}",
                 skipped, prefix_, cfg_.family, has4_ ? 4 : 6);
  }
  if (!Apply("sync", SyncScript(live, now), /*may_recreate=*/false, error)) return false;
  recreate_ = false;
  live_.clear();
  for (const Block& b : live) {
    if (b.RemainingSeconds(now) == 0 || !Serves(b.target)) continue;
    uint64_t& e = live_[b.target];
    e = std::max(e, b.expires_ms);
  }
  return true;
}

bool NftBackend::Apply(const std::string& what, const std::string& script, bool may_recreate,
                       std::string* error) {
  if (script.empty()) return true;
  // Names go into the script verbatim: never send one that did not pass validation.
  if (!ValidateConfig(cfg_, error)) return false;
  const std::string full = may_recreate && recreate_ ? StartScript() + script : script;
  std::string detail;
  const bool ok = cfg_.command.empty() ? ApplyLocal(full, &detail) : ApplyCommand(full, &detail);
  if (ok) {
    if (may_recreate) recreate_ = false;
    return true;
  }
  if (detail.size() > kMaxErrorText) {
    detail = fmt::format("{} ... ({} more characters)", detail.substr(0, kMaxErrorText),
                         detail.size() - kMaxErrorText);
  }
  *error = fmt::format("nftables {} (table {}): {}", what, prefix_, detail);
  if (detail.find("No such file or directory") != std::string::npos) {
    // The table or a set vanished (flushed ruleset, rebooted firewall): put them back with the
    // next call, in the same transaction.
    recreate_ = true;
    *error += " (table or set missing: it is re-created on the next attempt)";
  } else if (detail.find("interval overlaps") != std::string::npos) {
    *error +=
        " (the set holds an element this sensor did not put there, or from before a restart: "
        "the next sync rewrites the set)";
  } else if (detail.find("File exists") != std::string::npos &&
             detail.find("add set") != std::string::npos) {
    *error += fmt::format(
        " (a set of that name exists with a different type or flags: delete it with "
        "'nft delete set {} NAME' or configure another name)",
        prefix_);
  }
  return false;
}

bool NftBackend::ApplyLocal(const std::string& script, std::string* detail) {
  if (!ctx_) {
    ctx_.reset(nft_ctx_new(NFT_CTX_DEFAULT));
    if (!ctx_) {
      *detail = "libnftables: nft_ctx_new failed (out of memory?)";
      return false;
    }
    if (nft_ctx_buffer_output(ctx_.get()) != 0 || nft_ctx_buffer_error(ctx_.get()) != 0) {
      ctx_.reset();
      *detail = "libnftables: cannot buffer output";
      return false;
    }
  }
  // libnftables 1.0.6 quotes the first line of a buffer in its errors whatever line failed, so the
  // script goes in as an in-memory file, for which nft reports and quotes the right line.
  int rc;
  std::string path;
  const int fd = memfd_create("flowsentry-nft", MFD_CLOEXEC);
  if (fd >= 0 && WriteAll(fd, script)) {
    path = fmt::format("/proc/self/fd/{}", fd);
    rc = nft_run_cmd_from_filename(ctx_.get(), path.c_str());
  } else {
    rc = nft_run_cmd_from_buffer(ctx_.get(), script.c_str());
  }
  if (fd >= 0) close(fd);
  // Reading the buffers also empties them for the next call.
  const char* err = nft_ctx_get_error_buffer(ctx_.get());
  (void)nft_ctx_get_output_buffer(ctx_.get());
  if (rc == 0) return true;
  std::string text = err != nullptr ? err : "";
  // "/proc/self/fd/5:3:40-50: Error: ..." -> "script:3:40-50: Error: ...".
  for (size_t at; !path.empty() && (at = text.find(path + ":")) != std::string::npos;) {
    text.replace(at, path.size(), "script");
  }
  if (text.find_first_not_of(" \n") == std::string::npos) text = "nft failed without a message";
  *detail = WithScriptLine(text, script);
  return false;
}

bool NftBackend::ApplyCommand(const std::string& script, std::string* detail) {
  // stdin is a socket so that writing to a command that exited early fails with EPIPE instead of
  // raising SIGPIPE in the sensor; all our ends are close-on-exec so that children other threads
  // fork meanwhile do not hold them open.
  int in_fds[2], out_fds[2], err_fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_fds) != 0) {
    *detail = fmt::format("socketpair: {}", std::strerror(errno));
    return false;
  }
  if (pipe2(out_fds, O_CLOEXEC) != 0) {
    *detail = fmt::format("pipe: {}", std::strerror(errno));
    close(in_fds[0]);
    close(in_fds[1]);
    return false;
  }
  if (pipe2(err_fds, O_CLOEXEC) != 0) {
    *detail = fmt::format("pipe: {}", std::strerror(errno));
    for (int fd : {in_fds[0], in_fds[1], out_fds[0], out_fds[1]}) close(fd);
    return false;
  }
  const char* argv[] = {"/bin/sh", "-c", cfg_.command.c_str(), nullptr};
  const pid_t pid = fork();
  if (pid < 0) {
    *detail = fmt::format("fork: {}", std::strerror(errno));
    for (int fd : {in_fds[0], in_fds[1], out_fds[0], out_fds[1], err_fds[0], err_fds[1]}) close(fd);
    return false;
  }
  if (pid == 0) {
    // Own process group, so that a timeout kills the whole pipeline (sh, ssh, ...).
    setpgid(0, 0);
    dup2(in_fds[1], 0);
    dup2(out_fds[1], 1);
    dup2(err_fds[1], 2);
    signal(SIGPIPE, SIG_DFL);
    execv("/bin/sh", const_cast<char* const*>(argv));
    _exit(127);
  }
  setpgid(pid, pid);  // also from here: no window where a kill(-pid) would miss
  close(in_fds[1]);
  close(out_fds[1]);
  close(err_fds[1]);
  const int in = in_fds[0], out = out_fds[0], errfd = err_fds[0];
  fcntl(in, F_SETFL, fcntl(in, F_GETFL) | O_NONBLOCK);

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(cfg_.command_timeout_s);
  auto remaining_ms = [&] {
    return std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
  };
  std::string out_text, err_text;
  size_t written = 0;
  bool in_open = true, out_open = true, err_open = true, timed_out = false;
  if (script.empty()) {
    shutdown(in, SHUT_WR);
    in_open = false;
  }
  while (out_open || err_open) {
    pollfd fds[3];
    nfds_t n = 0;
    int in_idx = -1, out_idx = -1, err_idx = -1;
    if (in_open) {
      in_idx = static_cast<int>(n);
      fds[n++] = {in, POLLOUT, 0};
    }
    if (out_open) {
      out_idx = static_cast<int>(n);
      fds[n++] = {out, POLLIN, 0};
    }
    if (err_open) {
      err_idx = static_cast<int>(n);
      fds[n++] = {errfd, POLLIN, 0};
    }
    const int64_t left = remaining_ms();
    if (left == 0) {
      timed_out = true;
      break;
    }
    const int r = poll(fds, n, static_cast<int>(left));
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    if (in_idx >= 0 && fds[in_idx].revents != 0) {
      const ssize_t w = send(in, script.data() + written, script.size() - written, MSG_NOSIGNAL);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR) written = script.size();  // reader gone
      if (written == script.size()) {
        shutdown(in, SHUT_WR);  // EOF for `nft -f -`
        in_open = false;
      }
    }
    auto drain = [](int fd, std::string* buf, bool* open) {
      char chunk[4096];
      const ssize_t r = read(fd, chunk, sizeof chunk);
      if (r > 0) {
        if (buf->size() < kMaxCapture) buf->append(chunk, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        *open = false;
      }
    };
    if (out_idx >= 0 && fds[out_idx].revents != 0) drain(out, &out_text, &out_open);
    if (err_idx >= 0 && fds[err_idx].revents != 0) drain(errfd, &err_text, &err_open);
  }
  close(in);
  close(out);
  close(errfd);

  // Output closed: the command is (nearly always) done; wait for its status until the deadline.
  int status = 0;
  pid_t waited = 0;
  while (!timed_out) {
    waited = waitpid(pid, &status, WNOHANG);
    if (waited == pid || (waited < 0 && errno != EINTR)) break;
    if (remaining_ms() == 0) {
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (timed_out) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    *detail = fmt::format("nftables command '{}' timed out after {}s (killed){}", cfg_.command,
                          cfg_.command_timeout_s, err_text.empty() ? "" : ": " + OneLine(err_text));
    return false;
  }
  if (waited != pid) {
    *detail = fmt::format("nftables command '{}': waitpid: {}", cfg_.command, std::strerror(errno));
    return false;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::string text = !err_text.empty() ? err_text : out_text;
  if (text.find_first_not_of(" \n") == std::string::npos) text = "(no output)";
  *detail = fmt::format("nftables command '{}' exited {}: {}", cfg_.command, code,
                        WithScriptLine(text, script));
  return false;
}

}  // namespace fs::enforce
