#include "controlplane/sensor/sensor.h"

#include <fmt/format.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf_dyn.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "controlplane/metrics/metrics.h"
#include "controlplane/output/eve.h"
#include "controlplane/sensor/api_glue.h"
#include "controlplane/sensor/capture_probe.h"
#include "controlplane/sensor/enforce_glue.h"
#include "controlplane/sensor/offload_glue.h"
#include "controlplane/sensor/reloader.h"
#include "dataplane/common/large_array.h"
#include "dataplane/port/capture_reader.h"
#include "dataplane/port/eal.h"
#include "dataplane/port/port.h"
#include "dataplane/scan/domain_match.h"
#include "dataplane/scan/ip_match.h"
#include "dataplane/worker/worker.h"
#include "patterns/hs_memory.h"
#include "patterns/indicators.h"
#include "patterns/pattern_set.h"
#include "patterns/rule_parser.h"

#ifndef FS_DEFAULT_PACK_DIR
#define FS_DEFAULT_PACK_DIR "patterns/packs"
#endif

namespace fs::sensor {

namespace {

std::atomic<bool> g_stop_requested{false};
std::atomic<bool> g_reload_requested{false};

using Clock = std::chrono::steady_clock;

// Counts what the output thread wrote, for the summary.
struct RunTotals {
  uint64_t alerts = 0, flows = 0;
  std::map<uint8_t, uint64_t> flows_by_proto;
  // (gid << 32 | sid) -> count, and the rule's gid/sid/rev/msg as of its first alert: rule
  // indices differ between pattern-set generations, signatures do not.
  std::map<uint64_t, uint64_t> alerts_by_rule;
  struct RuleLabel {
    uint32_t gid = 1, sid = 0, rev = 0;
    std::string msg;
  };
  std::map<uint64_t, RuleLabel> rule_labels;
  // By list name (list indices differ between generations), with the list's config as of its
  // latest alert.
  struct ListLabel {
    uint64_t count = 0;
    patterns::IndicatorListConfig config;
  };
  std::map<std::string, ListLabel> alerts_by_indicator;
  uint64_t alerted_flows = 0;
  uint64_t dns_records = 0;   // DNS messages the workers handed over (outputs.dns)
  uint64_t http_records = 0;  // HTTP transactions the workers handed over (outputs.http)
  uint64_t tls_records = 0;   // TLS handshakes the workers handed over (outputs.tls)
  uint64_t smb_records = 0;   // SMB messages the workers handed over (outputs.smb)
  std::map<std::string, uint64_t> block_actions;  // block-manager events by action
};

const char* ProtoName(uint8_t p) {
  switch (p) {
    case 6:
      return "tcp";
    case 17:
      return "udp";
    case 1:
      return "icmp";
    case 58:
      return "icmpv6";
    default:
      return "other";
  }
}

std::string DefaultPack() { return std::string(FS_DEFAULT_PACK_DIR) + "/district.rules"; }

// The control-plane side of the event rings: turns events into EVE lines and metrics.
class Output {
 public:
  Output(const patterns::PatternSet* set, output::EveFile* eve, metrics::Metrics* m)
      : set_(set), eve_(eve), metrics_(m) {}

  // Drains every worker's ring once; returns the number of events handled.
  // At most kMaxPerCall events per worker, so that the main loop still checks its stop
  // conditions (--duration, signals, end of input) while workers produce alerts faster than
  // they can be written. The final drain calls this until it returns 0.
  size_t Drain(const std::vector<std::unique_ptr<worker::Worker>>& workers) {
    size_t total = 0;
    for (auto& w : workers) {
      uint32_t n, taken = 0;
      while (taken < kMaxPerCall && (n = w->events().PopBulk(buf_, kBatch)) > 0) {
        for (uint32_t i = 0; i < n; ++i) Handle(buf_[i]);
        taken += n;
      }
      // App records (EVE "dns", "http") come through their own ring: their slots are large.
      uint32_t app = 0;
      while (app < kMaxPerCall && (n = w->app_events().PopBulk(app_buf_.get(), kAppBatch)) > 0) {
        for (uint32_t i = 0; i < n; ++i) HandleApp(app_buf_[i]);
        app += n;
      }
      total += taken + app;
    }
    return total;
  }

  const RunTotals& totals() const { return totals_; }

 private:
  static constexpr uint32_t kBatch = 256;
  static constexpr uint32_t kMaxPerCall = 16 * kBatch;
  static constexpr uint32_t kAppBatch = 32;

  void HandleApp(const worker::AppRecordEvent& r) {
    switch (r.kind) {
      case worker::AppRecordEvent::Kind::kHttp:
        ++totals_.http_records;
        if (eve_ != nullptr) Write(output::FormatHttp(r.http), "http");
        return;
      case worker::AppRecordEvent::Kind::kTls:
        ++totals_.tls_records;
        if (eve_ != nullptr) Write(output::FormatTls(r.tls), "tls");
        return;
      case worker::AppRecordEvent::Kind::kSmb:
        ++totals_.smb_records;
        if (eve_ != nullptr) Write(output::FormatSmb(r.smb), "smb");
        return;
      case worker::AppRecordEvent::Kind::kDns:
        break;
    }
    HandleDns(r.dns);
  }

  void HandleDns(const worker::DnsRecordEvent& r) {
    ++totals_.dns_records;
    if (eve_ == nullptr) return;
    for (const std::string& line : output::FormatDns(r)) Write(line, "dns");
  }

  // Alerts also go to the operator API's recent-alerts ring (api_glue.h).
  void WriteAlert(const std::string& line) {
    if (alert_log_ != nullptr) alert_log_->Add(line);
    Write(line, "alert");
  }

  void Write(const std::string& line, const char* type) {
    if (eve_ == nullptr) return;
    if (eve_->Write(line)) {
      metrics_->CountEveRecord(type);
    } else {
      metrics_->CountEveWriteError();
    }
  }

  // What every alert gets, rule or indicator list: metrics, the generation and hash of the set
  // that raised it in its metadata, the EVE line and the API's recent-alerts ring.
  void Record(const worker::AlertEvent& a, const patterns::PatternSet& set,
              output::RuleInfo* info) {
    metrics_->CountSignatureAlert(info->gid, info->sid);
    metrics_->CountAlertSource(a.src);
    info->metadata.push_back({"flowsentry_generation", std::to_string(set.generation())});
    info->metadata.push_back({"flowsentry_ruleset_hash", set.content_hash()});
    if (eve_ != nullptr || alert_log_ != nullptr) WriteAlert(output::FormatAlert(a, *info));
  }

  // A rule or list with a block action fired: ask the block manager (which applies the
  // allowlist, HOME_NET, cap, rate and TTL rules, and dedupes repeated requests cheaply).
  // sides: Rule::kBlockSrc/kBlockDst bits, the same bits as AlertEvent::indicator_side.
  static_assert(patterns::Rule::kBlockSrc == 1 && patterns::Rule::kBlockDst == 2);
  void RequestBlocks(const worker::AlertEvent& a, uint8_t sides, enforce::BlockSource source,
                     uint32_t gid, uint32_t sid, const std::string& reason, uint32_t ttl) {
    if (blocks_ == nullptr) return;
    for (const auto& [bit, addr] : {std::pair{patterns::Rule::kBlockSrc, &a.src},
                                    std::pair{patterns::Rule::kBlockDst, &a.dst}}) {
      if ((sides & bit) == 0) continue;
      enforce::BlockRequest r;
      r.target.addr = *addr;
      r.target.len = 128;
      r.source = source;
      r.gid = gid;
      r.sid = sid;
      r.reason = reason;
      r.ttl_s = ttl;
      blocks_->Request(r);
    }
  }

  void HandleIndicator(const worker::AlertEvent& a) {
    // The lists of the alert's own generation: a reload may have changed them since.
    const patterns::PatternSet* set = SetFor(a.pattern_generation);
    if (set == nullptr || a.indicator >= set->indicators().size()) {
      spdlog::error("indicator alert of unknown pattern-set generation {} dropped",
                    a.pattern_generation);
      return;
    }
    const patterns::IndicatorList& list = set->indicators()[a.indicator];
    ++totals_.alerts;
    RunTotals::ListLabel& label = totals_.alerts_by_indicator[list.config.name];
    ++label.count;
    label.config = list.config;
    output::RuleInfo info;
    info.sid = list.config.sid;
    info.gid = list.config.gid;
    info.rev = 1;
    info.msg = list.config.msg;
    info.severity = static_cast<int>(list.config.severity);
    info.metadata.push_back({"indicator_list", list.config.name});
    if (a.name_kind != 0) {
      // A domain list matched a DNS query name or an HTTP Host. The event holds the name, or
      // only its end when it was longer than AlertEvent::kNameCap (then printed after "...").
      const bool whole = a.name_len <= worker::AlertEvent::kNameCap;
      const std::string name = (whole ? "" : "...") + std::string(a.name_tail());
      if (auto entry = list.MatchingDomain(a.name_tail(), whole))
        info.metadata.push_back({"indicator_entry", entry->ToString()});
      const char* key = a.name_kind == worker::AlertEvent::kNameHttpHost ? "http_host"
                        : a.name_kind == worker::AlertEvent::kNameTlsSni ? "tls_sni"
                                                                         : "dns_query";
      info.metadata.push_back({key, name});
      Record(a, *set, &info);
      return;  // block applies to IP lists only (refused for domain lists at config load)
    }
    const bool src = a.indicator_side & 1, dst = a.indicator_side & 2;
    info.metadata.push_back({"indicator_side", src && dst ? "both" : src ? "src" : "dst"});
    for (const IpAddr* addr : {src ? &a.src : nullptr, dst ? &a.dst : nullptr}) {
      if (addr == nullptr) continue;
      if (auto entry = list.LongestMatch(*addr))
        info.metadata.push_back({"indicator_entry", entry->ToString()});
    }
    // The lists are part of the pattern set: its generation and hash name them too.
    Record(a, *set, &info);
    if (list.config.block) {
      RequestBlocks(a, a.indicator_side, enforce::BlockSource::kIndicator, list.config.gid,
                    list.config.sid, list.config.msg, list.config.block_ttl);
    }
  }

  void Handle(const worker::Event& e) {
    if (e.kind == worker::Event::Kind::kAlert &&
        e.alert.indicator != worker::AlertEvent::kNoIndicator) {
      HandleIndicator(e.alert);
    } else if (e.kind == worker::Event::Kind::kAlert) {
      // The alert's own generation: after a reload, alerts of the old set may still be queued.
      const patterns::PatternSet* set = SetFor(e.alert.pattern_generation);
      if (set == nullptr || e.alert.rule_index >= set->rules().size()) {
        spdlog::error("alert of unknown pattern-set generation {} dropped",
                      e.alert.pattern_generation);
        return;
      }
      const auto& rule = set->rules()[e.alert.rule_index];
      ++totals_.alerts;
      const uint64_t key = uint64_t{rule.gid} << 32 | rule.sid;
      if (++totals_.alerts_by_rule[key] == 1) {
        totals_.rule_labels[key] = {rule.gid, rule.sid, rule.rev, rule.msg};
      }
      output::RuleInfo info;
      info.sid = rule.sid;
      info.gid = rule.gid;
      info.rev = rule.rev;
      info.msg = rule.msg;
      info.category = rule.category;
      info.severity = rule.severity;
      info.target = rule.target == patterns::Rule::Target::kSrc   ? output::RuleInfo::Target::kSrc
                    : rule.target == patterns::Rule::Target::kDst ? output::RuleInfo::Target::kDst
                                                                  : output::RuleInfo::Target::kNone;
      Record(e.alert, *set, &info);
      if (rule.block_side != 0) {
        RequestBlocks(e.alert, rule.block_side, enforce::BlockSource::kRule, rule.gid, rule.sid,
                      rule.msg, rule.block_ttl);
      }
    } else if (e.kind == worker::Event::Kind::kBypass) {
      if (offload_ != nullptr) offload_->Handle(e.bypass);
    } else {
      ++totals_.flows;
      ++totals_.flows_by_proto[e.flow_end.proto];
      metrics_->CountFlowEnd(e.flow_end.proto);
      if (e.flow_end.alerted) ++totals_.alerted_flows;
      // Formatting is most of the output thread's work: none without an EVE file.
      if (eve_ != nullptr) Write(output::FormatFlow(e.flow_end), "flow");
    }
  }

  // The set of an alert's generation: the initial one, or from the reloader (kept alive here
  // while its alerts are handled; the reloader frees sets only after their alerts left the rings).
  const patterns::PatternSet* SetFor(uint64_t generation) {
    if (cur_ != nullptr && cur_->generation() == generation) return cur_.get();
    if (set_ != nullptr && set_->generation() == generation) return set_;
    if (reloader_ == nullptr) return nullptr;
    cur_ = reloader_->SetOf(generation);
    return cur_.get();
  }

 public:
  void set_reloader(Reloader* r) { reloader_ = r; }
  void set_blocks(enforce::BlockManager* m) { blocks_ = m; }
  void set_offload(BypassOffloadService* o) { offload_ = o; }

  // The block manager's events since the last call: EVE "block" records and metrics.
  size_t DrainBlockEvents() {
    if (blocks_ == nullptr) return 0;
    block_events_.clear();
    blocks_->TakeEvents(&block_events_);
    for (const auto& ev : block_events_) {
      ++totals_.block_actions[ev.action];
      metrics_->CountBlockEvent(ev.action, ev.backend, ev.detail);
      if (eve_ != nullptr) Write(FormatBlockEvent(ev), "block");
    }
    return block_events_.size();
  }
  void set_alert_log(api::AlertLog* log) { alert_log_ = log; }

 private:
  const patterns::PatternSet* set_;
  Reloader* reloader_ = nullptr;
  api::AlertLog* alert_log_ = nullptr;
  enforce::BlockManager* blocks_ = nullptr;
  BypassOffloadService* offload_ = nullptr;
  std::vector<enforce::BlockEvent> block_events_;
  std::shared_ptr<const patterns::PatternSet> cur_;
  output::EveFile* eve_;
  metrics::Metrics* metrics_;
  RunTotals totals_;
  worker::Event buf_[kBatch];
  std::unique_ptr<worker::AppRecordEvent[]> app_buf_ =
      std::make_unique<worker::AppRecordEvent[]>(kAppBatch);
};

int LaunchWorker(void* arg) { return static_cast<worker::Worker*>(arg)->Run(); }

// 1234567 -> "1,234,567".
std::string Human(uint64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// A capture that ends inside a record or has a damaged one: its records up to there are read.
// Said at start-up when the probe counted the capture (net_pcap), else when its reader stopped.
void WarnTruncatedCapture(const std::string& path, uint64_t packets, const std::string& why) {
  spdlog::warn("capture '{}' is truncated or corrupt after {} packets ({}); only those are read",
               path, packets, why);
}

// The memory the kernel can give without swapping (/proc/meminfo MemAvailable), 0 when unknown.
uint64_t MemAvailableBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  uint64_t value = 0;
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return value * 1024;
  }
  return 0;
}

}  // namespace

void RequestStop() { g_stop_requested.store(true); }

void RequestReload() { g_reload_requested.store(true); }

int RunSensor(const config::Config& cfg) {
  // Logs go to stderr; stdout carries the summary only.
  spdlog::set_default_logger(spdlog::stderr_color_mt("flowsentry"));
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  const auto t_start = Clock::now();

  // 1. Patterns: parse and compile before touching DPDK, so a bad rule file fails fast.
  std::vector<std::string> rule_paths = cfg.rules;
  if (rule_paths.empty()) rule_paths.push_back(DefaultPack());
  patterns::ParseOptions popts;
  for (const auto& [name, value] : cfg.address_groups) popts.vars.SetAddress(name, value);
  for (const auto& [name, value] : cfg.port_groups) popts.vars.SetPort(name, value);
  popts.classification_file = cfg.classification;
  if (popts.classification_file.empty() && cfg.rules.empty()) {
    popts.classification_file = std::string(FS_DEFAULT_PACK_DIR) + "/classification.config";
  }
  ReloadSources sources{rule_paths, popts, cfg.indicators};
  Detection detection;
  {
    std::vector<std::string> errors;
    size_t skipped = 0;
    if (!LoadDetection(sources, 1, nullptr, "", &detection, &errors, &skipped)) {
      for (const auto& e : errors) fmt::print(stderr, "flowsentry: {}\n", e);
      fmt::print(stderr,
                 "flowsentry: {} error(s) in the rule files or indicator lists; not starting\n",
                 errors.size());
      return 1;
    }
    const patterns::PatternSet& s = *detection.set;
    for (const auto& w : s.warnings()) spdlog::warn("rules: {}", w.ToString());
    spdlog::info("pattern set generation {} ({} rules, {} skipped, {} indicator list(s), hash {})",
                 s.generation(), s.rules().size(), skipped, s.indicators().size(),
                 s.content_hash());
  }
  const std::shared_ptr<const patterns::PatternSet> set = detection.set;

  // Enforcement: built (and its settings checked) before DPDK, started once the inputs are up.
  std::unique_ptr<enforce::BlockManager> blocks;
  {
    std::string block_error;
    blocks = MakeBlockManager(cfg, popts.vars, &block_error);
    if (blocks == nullptr && !block_error.empty()) {
      fmt::print(stderr, "flowsentry: {}\n", block_error);
      return 1;
    }
  }

  // 2. Inputs.
  std::vector<port::Input> inputs;
  std::vector<CaptureInfo> captures;
  uint64_t expected_packets = 0;
  const bool offline = !cfg.pcaps.empty() && !cfg.replay_forever;
  // --replay-forever through CaptureReaders (each pass new flows, see capture_reader.h) unless
  // inputs.pcap-reader is pmd (net_pcap's infinite_rx: the same flows again).
  const bool reader_replay = cfg.replay_forever && cfg.pcap_reader == "buffered";
  const bool replay_per_worker = reader_replay && cfg.workers > 1 && cfg.ifaces.empty() &&
                                 cfg.ports.empty() && cfg.pcaps.size() == cfg.workers;
  std::string error;
  const std::string tmp = std::filesystem::temp_directory_path().string();
  auto cleanup_captures = [&captures]() {
    for (const auto& c : captures) {
      if (c.temporary) unlink(c.read_path.c_str());
    }
  };
  // Capture files read by CaptureReaders (inputs.pcap-reader: buffered, the default) end where
  // the reader says; only net_pcap needs the number of packets beforehand (see the main loop).
  const bool count_captures = cfg.pcap_reader != "buffered";
  for (const auto& p : cfg.pcaps) {
    CaptureInfo info;
    if (!ProbeCapture(p, tmp, &info, &error, count_captures)) {
      fmt::print(stderr, "flowsentry: {}\n", error);
      cleanup_captures();
      return 1;
    }
    if (info.truncated) WarnTruncatedCapture(p, info.packets, info.truncation);
    expected_packets += info.packets;
    inputs.push_back({port::Input::Kind::kPcap, info.read_path});
    captures.push_back(info);
  }
  for (const auto& i : cfg.ifaces) inputs.push_back({port::Input::Kind::kIface, i});
  for (const auto& p : cfg.ports) inputs.push_back({port::Input::Kind::kPci, p});

  // 3. Outputs that can fail on bad paths, before DPDK starts.
  std::unique_ptr<output::EveFile> eve;
  if (!cfg.eve.empty()) {
    eve = std::make_unique<output::EveFile>();
    if (!eve->Open(cfg.eve, &error)) {
      fmt::print(stderr, "flowsentry: {}\n", error);
      cleanup_captures();
      return 1;
    }
  }

  // 4. DPDK.
  port::PortConfig pcfg;
  pcfg.workers = cfg.workers;
  pcfg.mbuf_priv_size = sizeof(worker::MbufMeta);
  pcfg.mbufs = cfg.mbufs != 0 ? cfg.mbufs
                              : port::MbufsNeeded(
                                    inputs.size(), cfg.workers, pcfg.rx_descriptors, cfg.ring_size,
                                    cfg.replay_forever && !reader_replay ? expected_packets : 0);
  port::EalRequest req;
  req.inputs = inputs;
  req.workers = cfg.workers;
  req.pool_bytes = uint64_t(pcfg.mbufs) * port::MbufFootprint(pcfg.mbuf_priv_size);
  req.hugepages_available = port::HugepagesAvailable();
  req.cpus = port::AllowedCpus();
  req.pid = getpid();
  req.infinite_rx = cfg.replay_forever && !reader_replay;
  req.user_args = cfg.eal_args;
  port::EalPlan plan;
  if (!port::PlanEal(req, &plan, &error)) {
    fmt::print(stderr, "flowsentry: {}\n", error);
    cleanup_captures();
    return 1;
  }
  if (plan.no_huge)
    spdlog::info("no hugepages reserved: running DPDK with --no-huge -m {}", plan.memory_mb);
  if (!port::InitEal(plan, &error)) {
    fmt::print(stderr, "flowsentry: {}\n", error);
    cleanup_captures();
    return 1;
  }
  if (rte_lcore_count() != cfg.workers + 1) {
    fmt::print(stderr, "flowsentry: DPDK gave {} lcores, {} needed (1 main + {} workers)\n",
               rte_lcore_count(), cfg.workers + 1, cfg.workers);
    port::CleanupEal(plan);
    cleanup_captures();
    return 1;
  }

  worker::Shared shared;
  shared.offline = offline;
  if (rte_mbuf_dyn_rx_timestamp_register(&shared.ts_dynfield_offset, &shared.ts_dynflag) != 0) {
    shared.ts_dynfield_offset = -1;
  }

  int rc = 0;
  {
    port::Ports ports;
    if (!ports.Setup(inputs, plan.vdev_names, pcfg, &error)) {
      fmt::print(stderr, "flowsentry: {}\n", error);
      ports.Stop();
      port::CleanupEal(plan);
      cleanup_captures();
      return 1;
    }

    // Workers and their inputs: an RSS device gives each worker its own queue; a single-queue
    // device is read by one worker that spreads packets by symmetric flow hash.
    std::vector<std::unique_ptr<worker::Worker>> workers;
    for (uint32_t i = 0; i < cfg.workers; ++i) {
      worker::WorkerConfig wc;
      wc.index = static_cast<uint16_t>(i);
      wc.flow_capacity = cfg.flow_capacity;
      wc.timeouts = flow::Timeouts{cfg.timeouts.tcp_new,          cfg.timeouts.tcp_established,
                                   cfg.timeouts.tcp_closed,       cfg.timeouts.udp_new,
                                   cfg.timeouts.udp_established,  cfg.timeouts.icmp_new,
                                   cfg.timeouts.icmp_established, cfg.timeouts.other_new,
                                   cfg.timeouts.other_established};
      wc.inbox_size = cfg.ring_size;
      wc.event_ring_size = cfg.event_ring_size;
      wc.stream_enabled = cfg.stream_enabled;
      wc.stream.depth = cfg.stream_depth;
      wc.stream.midstream = cfg.stream_midstream;
      wc.stream.max_ooo_slots_per_dir = cfg.stream_ooo_segments;
      wc.stream.pool_bytes = uint64_t{cfg.stream_memory_mb} << 20;
      wc.stream_contexts = cfg.stream_contexts;
      wc.stream_prealloc = cfg.stream_prealloc;
      wc.stream_bypass = cfg.stream_bypass;
      wc.bypass_offload = cfg.bypass_offload.enabled;
      wc.dns_records = cfg.dns_output;
      wc.http_records = cfg.http_output;
      wc.tls_records = cfg.tls_output;
      wc.smb_records = cfg.smb_output;
      wc.smb.retain = size_t{cfg.smb_retain_kb} << 10;
      wc.tls_skip_encrypted = cfg.tls_encryption_handling != "full";
      wc.app_enabled = cfg.app_enabled;
      wc.app_sessions = cfg.app_max_sessions;
      wc.app_prealloc = cfg.app_prealloc;
      wc.http.body_limit = cfg.http_body_limit;
      wc.http.decompress = cfg.http_decompress;
      auto policy = [](const std::string& name) {
        return name == "bsd" ? defrag::Policy::kBsd : defrag::Policy::kWindows;
      };
      wc.defrag.ipv4_policy = policy(cfg.defrag_ipv4_policy);
      wc.defrag.ipv6_policy = policy(cfg.defrag_ipv6_policy);
      wc.defrag.max_datagrams = cfg.defrag_max_datagrams;
      wc.defrag.pool_bytes = cfg.defrag_memory_kb << 10;
      wc.defrag.timeout_s = cfg.defrag_timeout;
      wc.defrag.max_fragments = static_cast<uint16_t>(cfg.defrag_max_fragments);
      workers.push_back(std::make_unique<worker::Worker>(wc, &shared));
      shared.workers.push_back(workers.back().get());
    }
    // Capture files are read by their worker through a CaptureReader on a large buffer
    // (inputs.pcap-reader: buffered), not through net_pcap's 4 KiB reads, and replayed from
    // memory by one (new flows each pass); the net_pcap port stays configured but is never polled.
    std::vector<std::unique_ptr<port::CaptureReader>> readers;
    std::map<uint16_t, const port::CaptureReader*> reader_of;
    uint32_t next_owner = 0;
    for (const auto& p : ports.ports()) {
      if (p.hw_rss) {
        for (uint16_t q = 0; q < p.rx_queues; ++q) workers[q]->AddSource({p.port_id, q, false});
      } else {
        // A replay with one capture per worker (the bench's flow-split inputs): each worker
        // replays its own capture's flows, as an RSS queue would deliver them. Hashing them to
        // their owner would send every renamed flow of a later pass across workers.
        worker::RxSource src{p.port_id, 0, cfg.workers > 1 && !replay_per_worker};
        if ((offline || reader_replay) && p.input.kind == port::Input::Kind::kPcap &&
            cfg.pcap_reader == "buffered") {
          auto reader =
              reader_replay
                  ? port::CaptureReader::OpenReplay(p.input.value, shared.ts_dynfield_offset,
                                                    shared.ts_dynflag, &error)
                  : port::CaptureReader::Open(p.input.value, shared.ts_dynfield_offset,
                                              shared.ts_dynflag, &error);
          if (reader == nullptr) {
            fmt::print(stderr, "flowsentry: {}\n", error);
            workers.clear();
            ports.Stop();
            port::CleanupEal(plan);
            cleanup_captures();
            return 1;
          }
          src.reader = reader.get();
          src.pool = ports.pool();
          reader_of[p.port_id] = reader.get();
          readers.push_back(std::move(reader));
        }
        workers[next_owner % cfg.workers]->AddSource(src);
        ++next_owner;
      }
    }
    // What an input delivered: the device's counters, plus its reader's for a capture file.
    auto input_stats = [&ports, &reader_of](const port::Port& p) {
      port::Ports::DeviceStats s = ports.Stats(p);
      if (auto it = reader_of.find(p.port_id); it != reader_of.end()) {
        s.ipackets += it->second->delivered_packets();
        s.ibytes += it->second->delivered_bytes();
      }
      return s;
    };
    // Before Init: a worker takes the matcher together with its first set.
    shared.ip_matcher.store(detection.ip_matcher.get(), std::memory_order_release);
    shared.domain_matcher.store(detection.domain_matcher.get(), std::memory_order_release);
    // What the workers take in at start-up for their first flows (app-layer.prealloc,
    // stream.prealloc), against what the machine has free: more would end in the kernel's OOM
    // killer halfway through start-up rather than in a message.
    size_t readied = 0;
    for (auto& w : workers) readied += w->ReadyBytes(set.get());
    if (const uint64_t avail = MemAvailableBytes(); avail != 0 && readied > avail) {
      fmt::print(stderr,
                 "flowsentry: {} worker(s) would take {:.0f} MB at start-up for their first flows "
                 "(app-layer.prealloc {} sessions of app-layer.max-sessions {}, stream.prealloc "
                 "{} stream contexts), more than the {:.0f} MB this machine has available: lower "
                 "app-layer.prealloc or stream.prealloc (0 takes nothing at start-up)\n",
                 cfg.workers, double(readied) / 1e6, cfg.app_prealloc, cfg.app_max_sessions,
                 cfg.stream_prealloc, double(avail) / 1e6);
      workers.clear();
      ports.Stop();
      port::CleanupEal(plan);
      cleanup_captures();
      return 1;
    }
    for (auto& w : workers) {
      if (!w->Init(set.get(), &error)) {
        fmt::print(stderr, "flowsentry: {}\n", error);
        workers.clear();
        ports.Stop();
        port::CleanupEal(plan);
        cleanup_captures();
        return 1;
      }
      if (w->distributes()) shared.distributors.fetch_add(1);
    }
    if (readied > 0) {
      spdlog::info(
          "{:.0f} MB a worker taken in memory at start-up for its first flows' sessions and "
          "streams (app-layer.prealloc {}, stream.prealloc {})",
          double(readied) / double(workers.size()) / 1e6, cfg.app_prealloc, cfg.stream_prealloc);
    }
    // Huge pages for the worker's tables and the large databases (dataplane/common/large_array.h).
    const std::string thp = TransparentHugePages();
    if (thp == "always" || thp == "madvise") {
      spdlog::info(
          "worker tables and {} large pattern databases ({:.1f} MB) advised for huge pages "
          "(transparent huge pages: {})",
          patterns::LargeDatabases(), double(patterns::LargeDatabaseBytes()) / 1e6, thp);
    } else {
      spdlog::info(
          "worker tables on 4 KB pages: transparent huge pages are '{}' here; 'madvise' "
          "or 'always' in /sys/kernel/mm/transparent_hugepage/enabled lets the kernel "
          "back them with 2 MB pages, which is faster (docs/PERFORMANCE.md)",
          thp.empty() ? "absent" : thp);
    }
    shared.patterns.store(set.get(), std::memory_order_release);

    metrics::Sources msrc;
    for (auto& w : workers) msrc.workers.push_back(&w->published());
    msrc.ports = [&ports, &cfg, input_stats]() {
      std::vector<metrics::PortCounters> out;
      size_t i = 0;
      for (const auto& p : ports.ports()) {
        auto s = input_stats(p);
        metrics::PortCounters c;
        c.name = i < cfg.pcaps.size() ? cfg.pcaps[i] : p.input.value;
        c.ipackets = s.ipackets;
        c.ibytes = s.ibytes;
        c.imissed = s.imissed;
        c.ierrors = s.ierrors;
        c.rx_nombuf = s.rx_nombuf;
        out.push_back(c);
        ++i;
      }
      return out;
    };
    const bool dry_run = cfg.enforcement.dry_run;
    if (blocks) {
      msrc.enforcement = [&blocks, dry_run] { return GaugesOf(*blocks, dry_run); };
      // Loads the state file (a corrupt one stops the start: silently forgetting blocks is
      // worse) and starts the backends on their own threads.
      if (!blocks->Start(&error)) {
        fmt::print(stderr, "flowsentry: enforcement: {}\n", error);
        workers.clear();
        ports.Stop();
        port::CleanupEal(plan);
        cleanup_captures();
        return 1;
      }
      spdlog::info("enforcement on{}: {} active block(s) restored", dry_run ? " (dry run)" : "",
                   blocks->List().size());
    }
    // The NIC offload of bypassed flows, on the started input ports.
    std::unique_ptr<BypassOffloadService> offload;
    if (cfg.bypass_offload.enabled) {
      std::vector<uint16_t> port_ids;
      for (const auto& p : ports.ports()) port_ids.push_back(p.port_id);
      offload = BypassOffloadService::Start(cfg.bypass_offload, port_ids, &error);
      if (offload == nullptr) {
        fmt::print(stderr, "flowsentry: bypass-offload: {}\n", error);
        if (blocks) blocks->Stop();
        workers.clear();
        ports.Stop();
        port::CleanupEal(plan);
        cleanup_captures();
        return 1;
      }
      msrc.bypass_offload = [&offload] { return offload->Gauges(); };
    }
    metrics::Metrics metrics(msrc);
    metrics.SetPatternSet(set->generation(), set->rules().size());
    if (!cfg.metrics_listen.empty()) {
      if (!metrics.Listen(cfg.metrics_listen, &error)) {
        fmt::print(stderr, "flowsentry: {}\n", error);
        if (offload) offload->Shutdown();
        workers.clear();
        ports.Stop();
        port::CleanupEal(plan);
        cleanup_captures();
        return 1;
      }
      spdlog::info("metrics on http://{}/metrics", cfg.metrics_listen);
    }

    // Live reload: the same rule paths and variables as above, re-read on SIGHUP (or the API).
    Reloader reloader(
        sources, detection, &shared,
        [&workers] {
          std::vector<worker::Worker*> ws;
          for (auto& w : workers) ws.push_back(w.get());
          return ws;
        }(),
        &metrics);
    Output out(set.get(), eve.get(), &metrics);
    out.set_reloader(&reloader);
    out.set_blocks(blocks.get());
    out.set_offload(offload.get());
    // Operator API (api_glue.h): answers on its own threads; the main loop serves its EVE reopen
    // requests. A port in use is logged, not fatal: detection matters more than the API.
    ApiService api_service;
    out.set_alert_log(api_service.alert_log());
    api_service.SetReload([&reloader] { return ReloadResultJson(reloader.Reload()); });
    if (!api_service.Start({&cfg, t_start, msrc, [&reloader] { return reloader.current(); },
                            &metrics, blocks.get(), cfg.enforcement.dry_run},
                           &error)) {
      spdlog::error("{}; running without the API", error);
    }
    // A SIGHUP reload runs on its own thread: this one keeps draining the event rings meanwhile.
    std::future<ReloadResult> sighup_reload;
    bool sighup_again = false;  // a SIGHUP came during the running reload: one more after it
    {
      size_t i = 0;
      unsigned lcore;
      RTE_LCORE_FOREACH_WORKER(lcore) {
        if (i < workers.size()) rte_eal_remote_launch(LaunchWorker, workers[i++].get(), lcore);
      }
    }
    const auto t_launch = Clock::now();
    spdlog::info(
        "{} worker(s) running on {} input(s){}", cfg.workers, inputs.size(),
        offline && count_captures ? fmt::format(", {} packets to read", expected_packets) : "");

    // Main loop: drain events, watch for end of input or a signal.
    auto last_progress = Clock::now();
    uint64_t last_consumed = 0;
    auto last_flush = Clock::now();
    for (;;) {
      const size_t handled = out.Drain(workers) + out.DrainBlockEvents();
      if (offload) offload->Poll();
      reloader.Reclaim();
      // A finished reload first: a SIGHUP that arrived meanwhile must not find it still "running".
      if (sighup_reload.valid() &&
          sighup_reload.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
        sighup_reload.get();  // logged and counted by the reloader
      }
      if (g_reload_requested.exchange(false)) {
        // logrotate: the EVE file is reopened here, on the thread that writes it, so that no
        // record is lost (what was buffered goes to the old file first).
        if (eve) {
          std::string reopen_error;
          if (eve->Reopen(&reopen_error)) {
            spdlog::info("SIGHUP: EVE file '{}' reopened", cfg.eve);
          } else {
            spdlog::error("SIGHUP: cannot reopen the EVE file: {}", reopen_error);
          }
        }
        if (sighup_reload.valid()) {
          // The files may have changed after the running reload read them: reload once more
          // when it is done (several SIGHUPs meanwhile make one).
          spdlog::info("SIGHUP: a reload is running; the rules are reloaded again after it");
          sighup_again = true;
        } else {
          sighup_again = false;
          spdlog::info("SIGHUP: reloading the rules");
          sighup_reload = std::async(std::launch::async, [&reloader] { return reloader.Reload(); });
        }
      } else if (sighup_again && !sighup_reload.valid()) {
        sighup_again = false;
        spdlog::info("SIGHUP (queued): reloading the rules");
        sighup_reload = std::async(std::launch::async, [&reloader] { return reloader.Reload(); });
      }
      if (!shared.stop.load()) {
        const double running_s = std::chrono::duration<double>(Clock::now() - t_launch).count();
        uint64_t processed = 0;
        if (cfg.max_packets > 0) {
          for (auto& w : workers) processed += w->published().Read().rx_packets;
        }
        if (g_stop_requested.load()) {
          spdlog::info("stop requested: flushing flows");
          shared.stop.store(true);
        } else if (cfg.duration_s > 0 && running_s >= cfg.duration_s) {
          spdlog::info("ran {:.1f} s: stopping", running_s);
          shared.stop.store(true);
        } else if (cfg.max_packets > 0 && processed >= cfg.max_packets) {
          spdlog::info("processed {} packets: stopping", processed);
          shared.stop.store(true);
        } else if (offline) {
          uint64_t consumed = 0;
          for (const auto& p : ports.ports()) {
            auto s = input_stats(p);
            consumed += s.ipackets + s.rx_nombuf + s.ierrors;
          }
          // The end of the input: every reader has delivered its file's last record, or (net_pcap)
          // as many packets came in as the probe counted.
          const bool all_read = count_captures
                                    ? consumed >= expected_packets
                                    : std::all_of(readers.begin(), readers.end(),
                                                  [](const auto& r) { return r->finished(); });
          if (all_read) {
            shared.stop.store(true);
          } else if (consumed != last_consumed) {
            last_consumed = consumed;
            last_progress = Clock::now();
          } else if (Clock::now() - last_progress > std::chrono::seconds(10)) {
            spdlog::warn("input stalled at {} packets{} for 10 s; stopping", consumed,
                         count_captures ? fmt::format(" of {}", expected_packets) : "");
            shared.stop.store(true);
          }
        }
      }
      if (shared.drained.load() == workers.size()) {
        bool all_idle = true;
        unsigned lcore;
        RTE_LCORE_FOREACH_WORKER(lcore) {
          if (rte_eal_get_lcore_state(lcore) == RUNNING) all_idle = false;
        }
        if (all_idle) break;
      }
      if (eve && Clock::now() - last_flush > std::chrono::milliseconds(200)) {
        eve->Flush();
        last_flush = Clock::now();
      }
      api_service.ServeEveReopen(eve.get());  // the output thread owns the EVE file
      if (handled == 0) std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    api_service.Stop();  // before the workers and the reloader it reads stop or go away
    rte_eal_mp_wait_lcore();
    const double processing_s = std::chrono::duration<double>(Clock::now() - t_launch).count();
    if (offline && !count_captures) {
      // The readers counted the captures as they read them, and say where one was cut short.
      expected_packets = 0;
      for (const auto& r : readers) {
        expected_packets += r->stats().packets;
        if (!r->error().empty()) {
          const auto c = std::find_if(captures.begin(), captures.end(),
                                      [&r](const auto& c) { return c.read_path == r->path(); });
          WarnTruncatedCapture(c != captures.end() ? c->path : r->path(), r->stats().packets,
                               r->error());
        }
      }
    }
    while (out.Drain(workers) > 0) {
    }
    if (blocks) {
      blocks->Stop();  // saves the state file; backends keep their entries (with timeouts)
      out.DrainBlockEvents();
    }
    if (eve) eve->Flush();
    const double seconds = std::chrono::duration<double>(Clock::now() - t_start).count();

    // Summary.
    worker::WorkerStats sum;
    uint64_t drops = 0, events_dropped = 0;
    std::map<int, uint64_t> decode_events;
    for (auto& w : workers) {
      auto s = w->published().Read();
      sum.rx_packets += s.rx_packets;
      sum.rx_bytes += s.rx_bytes;
      for (int r = 0; r < worker::kDropReasonCount; ++r) drops += s.drops[r];
      events_dropped += s.events_dropped;
      for (int e = 1; e < decode::kDecodeEventCount; ++e) {
        if (s.decode.events[e]) decode_events[e] += s.decode.events[e];
      }
      sum.flow.evicted += s.flow.evicted;
      sum.reassembly.bytes_delivered += s.reassembly.bytes_delivered;
      sum.reassembly.gaps += s.reassembly.gaps;
      sum.reassembly.gap_bytes += s.reassembly.gap_bytes;
      sum.reassembly.overlaps_different += s.reassembly.overlaps_different;
      sum.reassembly.depth_reached += s.reassembly.depth_reached;
      sum.scan.stream_matches += s.scan.stream_matches;
      sum.scan.stream_untracked += s.scan.stream_untracked;
      sum.scan.stream_alone += s.scan.stream_alone;
      sum.scan.stream_open_failures += s.scan.stream_open_failures + s.stream_pool.exhausted;
      sum.bypassed_flows += s.bypassed_flows;
      sum.passed_flows += s.passed_flows;
      sum.bypassed_packets += s.bypassed_packets;
    }
    uint64_t port_drops = 0;
    for (const auto& p : ports.ports()) {
      auto s = ports.Stats(p);
      port_drops += s.imissed + s.rx_nombuf + s.ierrors;
    }
    if (!cfg.metrics_out.empty()) {
      std::ofstream mo(cfg.metrics_out);
      mo << metrics.RenderText();
      if (!mo) spdlog::error("cannot write metrics to '{}'", cfg.metrics_out);
    }
    uint64_t busy = 0, idle = 0;
    for (auto& w : workers) {
      auto s = w->published().Read();
      busy += s.busy_cycles;
      idle += s.idle_cycles;
    }
    const double mpps = processing_s > 0 ? double(sum.rx_packets) / processing_s / 1e6 : 0;
    const double gbps = processing_s > 0 ? double(sum.rx_bytes) * 8 / processing_s / 1e9 : 0;
    if (!cfg.summary_json.empty()) {
      const RunTotals& t = out.totals();
      nlohmann::json j;
      j["seconds_total"] = seconds;
      j["seconds_processing"] = processing_s;
      j["workers"] = cfg.workers;
      j["packets"] = sum.rx_packets;
      j["bytes"] = sum.rx_bytes;
      j["mpps"] = mpps;
      j["gbps"] = gbps;
      j["busy_cycles"] = busy;
      j["idle_cycles"] = idle;
      j["flows"] = t.flows;
      j["alerts"] = t.alerts;
      j["alerted_flows"] = t.alerted_flows;
      j["dropped"] = drops + port_drops;
      j["events_dropped"] = events_dropped;
      j["flows_evicted"] = sum.flow.evicted;
      j["stream"] = {{"bytes_reassembled", sum.reassembly.bytes_delivered},
                     {"gaps", sum.reassembly.gaps},
                     {"gap_bytes", sum.reassembly.gap_bytes},
                     {"overlaps_different_data", sum.reassembly.overlaps_different},
                     {"depth_reached", sum.reassembly.depth_reached},
                     {"stream_matches", sum.scan.stream_matches},
                     {"stream_open_failures", sum.scan.stream_open_failures},
                     {"stream_untracked", sum.scan.stream_untracked},
                     {"stream_rules_alone", sum.scan.stream_alone},
                     {"bypassed_flows", sum.bypassed_flows},
                     {"passed_flows", sum.passed_flows},
                     {"bypassed_packets", sum.bypassed_packets}};
      if (offload) {
        const metrics::BypassOffloadGauges g = offload->Gauges();
        j["bypass_offload"] = {{"installed", g.installed},
                               {"refused_unavailable", g.refused_unavailable},
                               {"refused_capacity", g.refused_capacity},
                               {"failed", g.failed}};
      }
      j["rules"] = reloader.current()->rules().size();
      j["pattern_set_generation"] = reloader.current()->generation();
      nlohmann::json sigs = nlohmann::json::object();
      for (const auto& [key, n] : t.alerts_by_rule) {
        const auto& r = t.rule_labels.at(key);
        sigs[fmt::format("{}:{}", r.gid, r.sid)] = n;
      }
      j["alerts_by_signature"] = sigs;
      std::ofstream sj(cfg.summary_json);
      sj << j.dump(2) << "\n";
      if (!sj) spdlog::error("cannot write the summary to '{}'", cfg.summary_json);
    }
    if (cfg.summary) {
      const RunTotals& t = out.totals();
      fmt::print("flowsentry summary ({:.2f} s, {} worker{})\n", seconds, cfg.workers,
                 cfg.workers > 1 ? "s" : "");
      fmt::print("  rate      {:.3f} Mpps, {:.3f} Gbit/s over {:.2f} s of processing\n", mpps, gbps,
                 processing_s);
      fmt::print("  packets   {} ({} bytes){}\n", Human(sum.rx_packets), Human(sum.rx_bytes),
                 offline ? fmt::format(" of {} in the capture{}", Human(expected_packets),
                                       captures.size() > 1 ? "s" : "")
                         : "");
      std::string by_proto;
      for (const auto& [proto, n] : t.flows_by_proto) {
        by_proto +=
            fmt::format("{}{} {}", by_proto.empty() ? "" : ", ", ProtoName(proto), Human(n));
      }
      fmt::print("  flows     {} ({}){}\n", Human(t.flows), by_proto,
                 sum.flow.evicted
                     ? fmt::format(", {} evicted (table full)", Human(sum.flow.evicted))
                     : "");
      fmt::print("  alerts    {} in {} flow{}\n", Human(t.alerts), Human(t.alerted_flows),
                 t.alerted_flows == 1 ? "" : "s");
      std::vector<std::pair<uint64_t, uint64_t>> order;
      for (const auto& [key, n] : t.alerts_by_rule) order.push_back({n, key});
      std::sort(order.rbegin(), order.rend());
      for (const auto& [n, idx] : order) {
        const auto& r = t.rule_labels.at(idx);
        fmt::print("    {:>8}  [{}:{}:{}] {}\n", Human(n), r.gid, r.sid, r.rev, r.msg);
      }
      for (const auto& [name, label] : t.alerts_by_indicator) {
        const auto& c = label.config;
        fmt::print("    {:>8}  [{}:{}:1] {} (indicator list {})\n", Human(label.count), c.gid,
                   c.sid, c.msg, name);
      }
      if (sum.reassembly.bytes_delivered > 0) {
        std::string extra;
        if (sum.scan.stream_matches > 0) {
          extra +=
              fmt::format(", {} alert{} only the stream showed", Human(sum.scan.stream_matches),
                          sum.scan.stream_matches == 1 ? "" : "s");
        }
        if (sum.reassembly.gaps > 0) {
          extra += fmt::format(", {} gaps ({} bytes missed)", Human(sum.reassembly.gaps),
                               Human(sum.reassembly.gap_bytes));
        }
        if (sum.reassembly.overlaps_different > 0) {
          extra += fmt::format(", {} overlaps with different data",
                               Human(sum.reassembly.overlaps_different));
        }
        if (sum.scan.stream_open_failures > 0) {
          extra += fmt::format(", {} per packet only (stream memory full)",
                               Human(sum.scan.stream_open_failures));
        }
        fmt::print("  streams   {} bytes reassembled{}\n", Human(sum.reassembly.bytes_delivered),
                   extra);
      }
      if (sum.bypassed_flows > 0) {
        fmt::print(
            "  bypassed  {} flow{} ({} by pass rules), {} packets not inspected{}\n",
            Human(sum.bypassed_flows), sum.bypassed_flows == 1 ? "" : "s", Human(sum.passed_flows),
            Human(sum.bypassed_packets),
            offload ? fmt::format(", {} offloaded to the NIC", Human(offload->Gauges().installed))
                    : "");
      }
      if (!decode_events.empty()) {
        std::string ev;
        for (const auto& [e, n] : decode_events) {
          ev += fmt::format("{}{} {}", ev.empty() ? "" : ", ",
                            decode::DecodeEventName(static_cast<decode::DecodeEvent>(e)), Human(n));
        }
        fmt::print("  decode    {}\n", ev);
      }
      fmt::print("  dropped   {}{}\n", Human(drops + port_drops),
                 events_dropped
                     ? fmt::format(" (and {} events lost: output too slow)", Human(events_dropped))
                     : "");
      if (cfg.enforcement.enabled) {
        const auto& b = t.block_actions;
        auto n = [&b](const char* a) { return b.contains(a) ? b.at(a) : uint64_t{0}; };
        if (cfg.enforcement.dry_run) {
          fmt::print("  blocks    {} would be added (dry run), {} refused\n", Human(n("dry_run")),
                     Human(n("refused")));
        } else {
          fmt::print("  blocks    {} added, {} refused, {} applied, {} failed backend calls\n",
                     Human(n("add")), Human(n("refused")), Human(n("applied")), Human(n("failed")));
        }
      }
      if (eve) fmt::print("  eve       {} ({} records)\n", cfg.eve, Human(eve->lines_written()));
      if (!cfg.metrics_out.empty()) fmt::print("  metrics   {}\n", cfg.metrics_out);
    }
    if (eve && eve->write_errors() > 0) {
      spdlog::error("{} EVE records could not be written to '{}'", eve->write_errors(), cfg.eve);
      rc = 1;
    }
    workers.clear();
    blocks.reset();  // the NIC backend removes its rules while the port still exists
    if (offload) offload->Shutdown();  // so does the bypass offload
    ports.Stop();
  }
  port::CleanupEal(plan);
  cleanup_captures();
  return rc;
}

}  // namespace fs::sensor
