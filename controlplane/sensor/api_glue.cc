#include "controlplane/sensor/api_glue.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>

#include "controlplane/output/eve.h"
#include "controlplane/sensor/enforce_glue.h"
#include "dataplane/worker/stats.h"

#ifndef FS_VERSION
#define FS_VERSION "0.0.0"
#endif

namespace fs::sensor {

namespace {

using Json = nlohmann::json;

// How long a reopen request waits for the main loop (which turns every millisecond or so).
constexpr auto kReopenWait = std::chrono::seconds(5);

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Json ReloadResultJson(const ReloadResult& r) {
  Json j = {{"ok", r.ok},
            {"changed", r.changed},
            {"generation", r.generation},
            {"content_hash", r.content_hash},
            {"rules", r.rules},
            {"compile_seconds", r.compile_seconds},
            {"errors", r.errors}};
  if (!r.ok) j["error"] = r.errors.empty() ? std::string("reload failed") : r.errors.front();
  return j;
}

Json RuleSummaryJson(const patterns::Rule& r) {
  return {{"sid", r.sid},
          {"gid", r.gid},
          {"rev", r.rev},
          {"msg", r.msg},
          {"action", patterns::ActionName(r.action)},
          {"classtype", r.classtype},
          {"severity", r.severity},
          {"location", r.Location()}};
}

Json RuleDetailJson(const patterns::Rule& r) {
  Json j = RuleSummaryJson(r);
  j["category"] = r.category;
  j["metadata"] = r.metadata;
  j["references"] = r.references.size();
  j["text"] = r.text;
  return j;
}

Json SearchRules(const patterns::PatternSet& set, const std::string& query, size_t limit) {
  uint32_t sid = 0;
  auto [end, ec] = std::from_chars(query.data(), query.data() + query.size(), sid);
  const bool by_sid = !query.empty() && ec == std::errc() && end == query.data() + query.size();
  const std::string needle = Lower(query);
  std::vector<const patterns::Rule*> found;
  for (const auto& r : set.rules()) {
    if (by_sid ? r.sid == sid : Lower(r.msg).find(needle) != std::string::npos) {
      found.push_back(&r);
    }
  }
  std::sort(found.begin(), found.end(), [](const auto* a, const auto* b) {
    return a->gid != b->gid ? a->gid < b->gid : a->sid < b->sid;
  });
  Json out = Json::array();
  for (size_t i = 0; i < found.size() && i < limit; ++i) out.push_back(RuleSummaryJson(*found[i]));
  return out;
}

bool ReadTokenFile(const std::string& path, std::string* token, std::string* error) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    *error = "api.token-file: cannot read '" + path + "' (or it is empty)";
    return false;
  }
  const auto first = line.find_first_not_of(" \t\r");
  const auto last = line.find_last_not_of(" \t\r");
  if (first == std::string::npos) {
    *error = "api.token-file: the first line of '" + path + "' is empty; put the token there";
    return false;
  }
  *token = line.substr(first, last - first + 1);
  return true;
}

bool ApiService::Start(ApiSources sources, std::string* error) {
  src_ = std::move(sources);
  if (src_.cfg == nullptr || src_.cfg->api_listen.empty()) return true;
  std::string token;
  if (!src_.cfg->api_token_file.empty() &&
      !ReadTokenFile(src_.cfg->api_token_file, &token, error)) {
    return false;
  }
  api::Backend b;
  if (src_.metrics != nullptr) {
    b.observe = [m = src_.metrics](int status) { m->CountApiResponse(status); };
  }
  b.status = [this] { return Status(); };
  if (enforce::BlockManager* m = src_.blocks) {
    const bool dry_run = src_.dry_run;
    b.blocks = [m, dry_run] { return BlocksJson(*m, dry_run); };
    b.block_add = [m](const Json& request) { return BlockAddJson(m, request); };
    b.block_del = [m](const std::string& target) { return BlockDelJson(m, target); };
  }
  b.rules = [this](const std::string& q) {
    auto set = Patterns();
    return set ? SearchRules(*set, q, api::kMaxRuleResults + 1) : Json::array();
  };
  b.rule = [this](uint32_t sid) -> std::optional<Json> {
    auto set = Patterns();
    if (!set) return std::nullopt;
    for (const auto& r : set->rules()) {
      if (r.sid == sid) {
        Json j = RuleDetailJson(r);
        j["generation"] = set->generation();
        return j;
      }
    }
    return std::nullopt;
  };
  b.recent_alerts = [this](size_t limit) {
    Json out = Json::array();
    for (const auto& line : alerts_.Recent(limit)) {
      Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      out.push_back(j.is_discarded() ? Json{{"raw", line}} : std::move(j));
    }
    return out;
  };
  b.reload = [this] {
    std::function<Json()> reload;
    {
      std::lock_guard<std::mutex> lock(mu_);
      reload = reload_;
    }
    if (!reload) return Json{{"ok", false}, {"error", "reload not available"}};
    return reload();
  };
  b.reopen_eve = [this] { return RequestEveReopen(); };
  return server_.Start(src_.cfg->api_listen, token, std::move(b), error);
}

void ApiService::Stop() {
  server_.Stop();
  // Anyone still waiting for a reopen gets an answer rather than the full wait.
  std::lock_guard<std::mutex> lock(mu_);
  reopen_served_ = reopen_requested_.load();
  reopen_result_ = {{"ok", false}, {"error", "the sensor is stopping"}};
  reopen_cv_.notify_all();
}

void ApiService::SetReload(std::function<Json()> reload) {
  std::lock_guard<std::mutex> lock(mu_);
  reload_ = std::move(reload);
}

void ApiService::SetPatternSource(
    std::function<std::shared_ptr<const patterns::PatternSet>()> patterns) {
  std::lock_guard<std::mutex> lock(mu_);
  src_.patterns = std::move(patterns);
}

std::shared_ptr<const patterns::PatternSet> ApiService::Patterns() {
  std::function<std::shared_ptr<const patterns::PatternSet>()> get;
  {
    std::lock_guard<std::mutex> lock(mu_);
    get = src_.patterns;
  }
  return get ? get() : nullptr;
}

Json ApiService::RequestEveReopen() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t ticket = reopen_requested_.fetch_add(1) + 1;
  if (!reopen_cv_.wait_for(lock, kReopenWait, [&] { return reopen_served_ >= ticket; })) {
    return {{"ok", false}, {"error", "the output thread did not perform the reopen in time"}};
  }
  return reopen_result_;
}

void ApiService::ServeEveReopen(output::EveFile* eve) {
  const uint64_t wanted = reopen_requested_.load(std::memory_order_acquire);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (reopen_served_ >= wanted) return;
  }
  Json result;
  std::string error;
  if (eve == nullptr) {
    result = {{"ok", false}, {"error", "no EVE file is configured"}};
  } else if (eve->path() == "-") {
    result = {{"ok", false}, {"error", "EVE goes to stdout: nothing to reopen"}};
  } else if (eve->Reopen(&error)) {
    spdlog::info("EVE file '{}' reopened (API request)", eve->path());
    result = {{"ok", true}, {"path", eve->path()}};
  } else {
    spdlog::error("EVE reopen failed: {}", error);
    result = {{"ok", false}, {"error", error}};
  }
  std::lock_guard<std::mutex> lock(mu_);
  reopen_served_ = std::max(reopen_served_, wanted);
  reopen_result_ = std::move(result);
  reopen_cv_.notify_all();
}

Json ApiService::Status() {
  const config::Config& cfg = *src_.cfg;
  Json j;
  j["version"] = FS_VERSION;
  j["uptime_seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - src_.start).count();
  j["inputs"] = {{"pcap", cfg.pcaps},
                 {"iface", cfg.ifaces},
                 {"port", cfg.ports},
                 {"replay_forever", cfg.replay_forever}};
  uint64_t packets = 0, bytes = 0, drops = 0, events_dropped = 0, alerts = 0;
  Json workers = Json::array();
  for (size_t i = 0; i < src_.stats.workers.size(); ++i) {
    const worker::WorkerStats s = src_.stats.workers[i]->Read();
    Json by_reason = Json::object();
    uint64_t wdrops = 0;
    for (int r = 0; r < worker::kDropReasonCount; ++r) {
      by_reason[worker::DropReasonName(static_cast<worker::DropReason>(r))] = s.drops[r];
      wdrops += s.drops[r];
    }
    const uint64_t cycles = s.busy_cycles + s.idle_cycles;
    workers.push_back({{"index", i},
                       {"packets", s.rx_packets},
                       {"bytes", s.rx_bytes},
                       {"drops", by_reason},
                       {"events_dropped", s.events_dropped},
                       {"alerts", s.alerts},
                       {"busy_ratio", cycles ? double(s.busy_cycles) / double(cycles) : 0.0}});
    packets += s.rx_packets;
    bytes += s.rx_bytes;
    drops += wdrops;
    events_dropped += s.events_dropped;
    alerts += s.alerts;
  }
  j["workers"] = workers;
  Json ports = Json::array();
  uint64_t port_drops = 0;
  if (src_.stats.ports) {
    for (const auto& p : src_.stats.ports()) {
      ports.push_back({{"name", p.name},
                       {"packets", p.ipackets},
                       {"bytes", p.ibytes},
                       {"missed", p.imissed},
                       {"errors", p.ierrors},
                       {"no_mbuf", p.rx_nombuf}});
      port_drops += p.imissed + p.ierrors + p.rx_nombuf;
    }
  }
  j["ports"] = ports;
  j["totals"] = {{"packets", packets},
                 {"bytes", bytes},
                 {"worker_drops", drops},
                 {"port_drops", port_drops},
                 {"events_dropped", events_dropped},
                 {"alerts", alerts}};
  if (auto set = Patterns()) {
    const patterns::CompileStats& st = set->stats();
    j["pattern_set"] = {{"generation", set->generation()},
                        {"content_hash", set->content_hash()},
                        {"rules", set->rules().size()},
                        {"stats",
                         {{"exact", st.exact},
                          {"confirm", st.confirm},
                          {"header_only", st.header_only},
                          {"never", st.never},
                          {"pcres", st.pcres},
                          {"stream_rules", st.stream_rules},
                          {"stream_only_rules", st.stream_only},
                          {"compile_seconds", st.seconds}}}};
  }
  Json lists = Json::array();
  if (auto running = Patterns()) {
    for (const auto& l : running->indicators()) {
      lists.push_back({{"name", l.config.name},
                       {"type", patterns::IndicatorTypeName(l.config.type)},
                       {"sid", l.config.sid},
                       {"file", l.config.file},
                       {"entries", l.stats.entries}});
    }
  }
  j["indicator_lists"] = lists;
  if (src_.blocks != nullptr) {
    j["enforcement"] = {{"dry_run", src_.dry_run},
                        {"active_blocks", src_.blocks->ActiveCount()},
                        {"backends", BackendsJson(*src_.blocks)}};
  }
  j["eve"] = cfg.eve;
  j["alerts_recorded"] = alerts_.total();
  return j;
}

}  // namespace fs::sensor
