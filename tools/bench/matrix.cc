#include "tools/bench/matrix.h"

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <pcap/pcap.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include "dataplane/decode/packet.h"
#include "dataplane/flow/flow_table.h"
#include "tools/bench/hs_limit.h"
#include "tools/bench/process.h"
#include "tools/bench/rules_adapter.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace fs::bench {

namespace {

namespace stdfs = std::filesystem;
using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kDefaultFlowCapacity = 262144;  // the sensor's default per worker

// What one tier of the harness runs. Sizes: the larger a file capture, the smaller the share of
// start-up noise in mode (b); the full tier's keep the whole run under ten minutes on 2 cores.
// Replay runs use a prefix of the same capture, since
// every replayed packet occupies a ~2.5 KB mbuf and, without hugepages, each 4 KB page costs a
// page fault at start-up (about 20 us on this VM: 1M packets took 25 s to load).
struct Tier {
  std::vector<std::pair<std::string, uint64_t>> profiles;  // generator profile, packets
  uint64_t replay_prefix = 0;                              // packets replayed from memory (mode a)
  double replay_s = 3;
  double scan_s = 1;
  int file_reps = 1;  // mode (b): best of N runs of each command
  int replay_reps = 1;  // mode (a): best of N runs, each 1-worker run with a new raw limit
  // Rule sets per profile: `rulesets`, plus "et" for the profiles listed.
  std::vector<std::string> rulesets = {"none", "district"};
  std::vector<std::string> et_profiles;
  std::vector<std::string> multi_worker;  // "profile/rules" combos also run with 2..N workers
  std::vector<uint32_t> rule_counts;      // ET subsets on imix (the full set is "et")
  std::vector<uint32_t> flow_counts;      // small --flows F
  uint64_t flow_base_packets = 0;         // flow series: max(this, 4 x flows) packets
  bool suricata_flow_series = true;
};

Tier MakeTier(const std::string& name) {
  Tier t;
  if (name == "smoke") {
    // imix: the attack profile's alert rate would make the replay overshoot its duration (the
    // sensor's main loop drains events before it checks the clock) and the test slow.
    t.profiles = {{"imix", 20000}};
    t.rulesets = {"district"};
    t.replay_prefix = 20000;
    t.replay_s = 1;
    t.scan_s = 0.2;
    return t;
  }
  if (name == "quick") {
    t.profiles = {{"imix", 100000},
                  {"small", 400000},
                  {"elephant", 50000},
                  {"short-flows", 100000},
                  {"attack", 100000}};
    t.replay_prefix = 400000;  // whole captures: the replay reader holds the raw bytes only
    t.replay_s = 1.5;
    t.scan_s = 0.5;
    t.et_profiles = {"imix"};
    t.multi_worker = {"imix/district", "small/none"};
    t.rule_counts = {100};
    t.flow_counts = {1000, 100000};
    t.flow_base_packets = 400000;
    return t;
  }
  t.file_reps = 2;
  t.replay_reps = 2;
  t.profiles = {{"imix", 300000},
                {"small", 1000000},
                {"elephant", 150000},
                {"short-flows", 300000},
                {"attack", 300000}};
  t.replay_prefix = 1000000;  // whole captures (see the quick tier)
  t.replay_s = 3;
  t.scan_s = 1;
  t.et_profiles = {"imix", "small", "elephant", "short-flows", "attack"};
  t.multi_worker = {"imix/district", "small/none", "elephant/district", "short-flows/district",
                    "attack/district"};
  t.rule_counts = {10, 100, 1000};
  t.flow_counts = {1000, 10000, 100000, 1000000};
  t.flow_base_packets = 1000000;
  return t;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<Json> ReadJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    return Json::parse(in);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string FirstLineStarting(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return line;
  }
  return "";
}

std::string Trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  const auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// TSC ticks per second, measured against the steady clock (cycles-per-packet from CPU time).
double MeasureTscHz() {
#if defined(__x86_64__) || defined(__i386__)
  const auto t0 = Clock::now();
  const uint64_t c0 = __rdtsc();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const uint64_t c1 = __rdtsc();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return static_cast<double>(c1 - c0) / s;
#else
  return 0;
#endif
}

std::string LoadAverage() { return Trim(ReadText("/proc/loadavg")); }

// Copies the first `count` packets of a capture (count 0: none, just the header).
bool WritePrefix(const std::string& src, const std::string& dst, uint64_t count,
                 std::string* error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* in = pcap_open_offline(src.c_str(), errbuf);
  if (in == nullptr) {
    *error = "cannot read " + src + ": " + errbuf;
    return false;
  }
  pcap_dumper_t* out = pcap_dump_open(in, dst.c_str());
  if (out == nullptr) {
    *error = "cannot write " + dst + ": " + pcap_geterr(in);
    pcap_close(in);
    return false;
  }
  pcap_pkthdr* h;
  const u_char* data;
  uint64_t n = 0;
  while (n < count && pcap_next_ex(in, &h, &data) == 1) {
    pcap_dump(reinterpret_cast<u_char*>(out), h, data);
    ++n;
  }
  pcap_dump_close(out);
  pcap_close(in);
  return true;
}

// Splits a capture into dsts.size() files as a NIC's symmetric RSS would spread it over that
// many queues: each frame goes to the file of the worker that owns its outermost layer
// (flow::OwnerOf, the hash the sensor's software distribution uses), so with one file per worker
// every worker reads its own flows and hands few packets (inner layers of tunnels, fragments
// whose owner differs) to another.
bool SplitByOwner(const std::string& src, const std::vector<std::string>& dsts,
                  std::string* error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* in = pcap_open_offline(src.c_str(), errbuf);
  if (in == nullptr) {
    *error = "cannot read " + src + ": " + errbuf;
    return false;
  }
  std::vector<pcap_dumper_t*> outs;
  bool ok = true;
  for (const std::string& d : dsts) {
    pcap_dumper_t* out = pcap_dump_open(in, d.c_str());
    if (out == nullptr) {
      *error = "cannot write " + d + ": " + pcap_geterr(in);
      ok = false;
      break;
    }
    outs.push_back(out);
  }
  pcap_pkthdr* h;
  const u_char* data;
  while (ok && pcap_next_ex(in, &h, &data) == 1) {
    decode::Packet p;
    decode::Decode(data, h->caplen, h->len, 0, &p);
    const uint32_t owner = flow::OwnerOf(p, static_cast<uint32_t>(dsts.size()));
    pcap_dump(reinterpret_cast<u_char*>(outs[owner]), h, data);
  }
  for (pcap_dumper_t* out : outs) pcap_dump_close(out);
  pcap_close(in);
  return ok;
}

// Writes the capture, then the capture again with its timestamps moved past the end (plus one
// second): the same traffic twice, in time order, as a replay would present it.
bool WriteTwice(const std::string& src, const std::string& dst, std::string* error) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* in = pcap_open_offline(src.c_str(), errbuf);
  if (in == nullptr) {
    *error = "cannot read " + src + ": " + errbuf;
    return false;
  }
  pcap_dumper_t* out = pcap_dump_open(in, dst.c_str());
  if (out == nullptr) {
    *error = "cannot write " + dst + ": " + pcap_geterr(in);
    pcap_close(in);
    return false;
  }
  pcap_pkthdr* h;
  const u_char* data;
  int64_t first_us = -1, last_us = 0;
  while (pcap_next_ex(in, &h, &data) == 1) {
    const int64_t ts = int64_t(h->ts.tv_sec) * 1000000 + h->ts.tv_usec;
    if (first_us < 0) first_us = ts;
    last_us = std::max(last_us, ts);
    pcap_dump(reinterpret_cast<u_char*>(out), h, data);
  }
  pcap_close(in);
  in = pcap_open_offline(src.c_str(), errbuf);
  if (in == nullptr) {
    *error = "cannot read " + src + ": " + errbuf;
    pcap_dump_close(out);
    return false;
  }
  const int64_t shift = last_us - first_us + 1000000;
  while (pcap_next_ex(in, &h, &data) == 1) {
    pcap_pkthdr moved = *h;
    const int64_t ts = int64_t(h->ts.tv_sec) * 1000000 + h->ts.tv_usec + shift;
    moved.ts.tv_sec = ts / 1000000;
    moved.ts.tv_usec = ts % 1000000;
    pcap_dump(reinterpret_cast<u_char*>(out), &moved, data);
  }
  pcap_close(in);
  pcap_dump_close(out);
  return true;
}

// Counts EVE alert records without parsing every line.
uint64_t CountAlerts(const std::string& eve_path) {
  std::ifstream in(eve_path);
  std::string line;
  uint64_t n = 0;
  while (std::getline(in, line)) {
    if (line.find("\"event_type\":\"alert\"") != std::string::npos) ++n;
  }
  return n;
}

std::string Num(double v, int prec = 2) {
  if (v <= 0) return "-";
  return fmt::format("{:.{}f}", v, prec);
}
std::string Ratio(double a, double b) {
  if (a <= 0 || b <= 0) return "-";
  return fmt::format("{:.1f}x", a / b);
}
std::string Percent(double a, double b) {
  if (a <= 0 || b <= 0) return "-";
  return fmt::format("{:.0f}%", 100 * a / b);
}

struct CaptureFile {
  std::string name;     // "imix", "small-flows-1000", ...
  std::string profile;  // generator subcommand
  std::string path;
  std::string replay_path;  // prefix replayed in mode (a)
  uint64_t replay_packets = 0;
  uint64_t packets = 0, bytes = 0;
  uint32_t flows_option = 0;
  double gen_s = 0;
  Json stats;
};

struct RuleSet {
  std::string name;  // none, district, et, et-10, ...
  std::string path;
  size_t rules = 0;  // accepted by the sensor's parser
};

struct ReplayRow {
  std::string capture, rules, series;
  uint32_t workers = 1;
  // "one": the capture as one input, which worker 0 spreads in software; "rss": one input per
  // worker, the capture split by flow as a NIC's symmetric RSS spreads it over its queues.
  std::string input = "one";
  bool ok = false;
  std::string error;
  uint64_t packets = 0, bytes = 0, dropped = 0, alerts = 0;
  uint64_t events_dropped = 0;  // alerts/flow records the control plane did not take in time
  double seconds = 0, mpps = 0, gbps = 0, cycles_per_packet = 0;
  double wall_s = 0, rss_mb = 0;
  std::vector<double> mpps_runs;  // every successful repetition's rate, in run order
  std::string cmd;
};

struct StartupRow {
  bool ok = false;
  double wall_s = 0, cpu_s = 0, rss_mb = 0;
};

struct FileRow {
  std::string capture, rules, series, engine;
  bool ok = false;
  std::string error;
  uint64_t packets = 0, bytes = 0, alerts = 0, dropped = 0;
  double wall_s = 0, wall2_s = 0;  // the capture once, twice over
  double startup_s = 0;            // the one-packet capture
  double run_s = 0;                // wall_s - startup_s: the time for the capture's packets
  double mpps = 0, gbps = 0;
  double steady_mpps = 0;  // --steady-state: N / (wall2_s - wall_s)
  double cpu_cycles_per_packet = 0, worker_cycles_per_packet = 0;
  double rss_mb = 0, rss2_mb = 0, startup_rss_mb = 0;
  double self_seconds = 0;  // the engine's own processing time (flowsentry: seconds_processing;
                            // Suricata: its "time elapsed"), start-up excluded
  int64_t rules_loaded = -1, rules_failed = -1;  // Suricata's count
  double self_mpps = 0;                          // packets / self_seconds
  bool measured = false;                         // run_s was long enough for a rate
  // Every repetition's wall and own processing time, in run order (the row keeps the shortest
  // of each: this VM's noise only ever slows a run down).
  std::vector<double> wall_runs, self_runs;
  std::string cmd;
};

struct ScanRow {
  std::string capture, rules, series;
  bool ok = false;
  std::string error;
  uint32_t expressions = 0;
  size_t db_bytes = 0;
  double compile_s = 0;
  uint64_t items = 0, payload_bytes = 0;
  uint64_t tls_skipped_bytes = 0;  // TLS ciphertext the sensor does not scan, left out too
  ScanLimit limit;                 // the measurement with the highest rate
  // Every measurement's limit (Mpps), in run order: the first in mode (c), then one after each
  // one-worker replay run of the same capture and rules (--replay-reps).
  std::vector<double> limit_runs;
};

class Matrix {
 public:
  explicit Matrix(const MatrixOptions& o) : o_(o), tier_(MakeTier(o.tier)) {}
  int Run();

 private:
  bool Setup();
  bool Generate(const std::string& name, const std::string& profile, uint64_t packets,
                uint32_t flows, CaptureFile* out);
  bool PrepareRules();
  bool WriteRules(const std::string& name, const std::vector<std::string>& texts, RuleSet* out);
  const RuleSet* Rules(const std::string& name) const;

  void Replay(const CaptureFile& c, const RuleSet& r, uint32_t workers, const std::string& series,
              uint32_t flow_capacity = 0, bool split = false);
  struct EngineRun {
    bool ok = false;
    std::string error, cmd;
    ProcessResult pr;
    uint64_t packets = 0, bytes = 0, alerts = 0, dropped = 0, busy_cycles = 0;
    double self_seconds = 0;
    int64_t rules_loaded = -1, rules_failed = -1;
  };
  EngineRun RunEngine(const std::string& engine, const std::string& pcap, const RuleSet& r,
                      uint32_t flow_capacity, const std::vector<std::string>& extra,
                      const std::string& tag);
  // Mode (b) for both engines on one capture and rule set: their repetitions alternate
  // (flowsentry, Suricata, flowsentry, ...) so a slow spell of the machine falls on both;
  // suricata_extra: Suricata's extra arguments. Needs doubled_path_ for c with --steady-state.
  void FileRuns(const CaptureFile& c, const RuleSet& r, const std::string& series,
                uint32_t flow_capacity = 0, const std::vector<std::string>& suricata_extra = {});
  // One engine's row from its repetitions (runs) and its start-up (st).
  FileRow FileRowOf(const CaptureFile& c, const RuleSet& r, const std::string& series,
                    const std::string& engine, const StartupRow& st,
                    const std::vector<EngineRun>& runs, const EngineRun& twice);
  bool MakeDoubled(const CaptureFile& c);
  void DropDoubled();
  StartupRow Startup(const std::string& key, const std::vector<std::string>& argv,
                     const std::string& out_dir);
  void Scan(const CaptureFile& c, const std::vector<const RuleSet*>& sets,
            const std::string& series);
  // The raw limit of (capture, rules) measured once more, beside a replay run; the row keeps
  // the higher. Nothing when mode (c) has no row for them.
  void MeasureLimitAgain(const std::string& capture, const std::string& rules,
                         const std::string& series);
  CompiledRules* Compiled(const RuleSet& r, std::string* error);
  // Mode (b): runs of each engine per capture and rule set (--file-reps, else the tier's).
  int FileReps() const { return o_.file_reps > 0 ? o_.file_reps : tier_.file_reps; }
  // Mode (a): runs of each replay (--replay-reps, else the tier's).
  int ReplayReps() const { return o_.replay_reps > 0 ? o_.replay_reps : tier_.replay_reps; }

  std::vector<std::string> FlowsentryReplayArgs(const std::vector<std::string>& pcaps,
                                                const RuleSet& r, uint32_t workers,
                                                const std::string& summary,
                                                uint32_t flow_capacity) const;
  std::vector<std::string> FlowsentryFileArgs(const std::string& pcap, const RuleSet& r,
                                              const std::string& dir, uint32_t flow_capacity) const;
  std::vector<std::string> SuricataArgs(const std::string& pcap, const RuleSet& r,
                                        const std::string& dir,
                                        const std::vector<std::string>& extra) const;
  std::string RunDir(const std::string& tag);
  std::string LogPath(const std::string& tag) const;
  void Step(const std::string& what, double seconds);
  void Progress(const std::string& line);

  const ReplayRow* FindReplay(const std::string& capture, const std::string& rules,
                              uint32_t workers) const;
  // measured: only a row whose wall-clock rate could be taken (false: any completed run, e.g.
  // for the engines' own processing rates).
  const FileRow* FindFile(const std::string& capture, const std::string& rules,
                          const std::string& engine, bool measured = true) const;
  const ScanRow* FindScan(const std::string& capture, const std::string& rules) const;

  Json ToJson() const;
  void Save() const;
  void PrintTables() const;

  MatrixOptions o_;
  Tier tier_;
  std::string fs_bin_, gen_bin_, suricata_;
  std::string captures_dir_, rules_dir_, runs_dir_, logs_dir_, json_path_;
  std::string one_packet_;
  std::string doubled_path_;  // the current capture twice over, for mode (b)
  double tsc_hz_ = 0;
  uint32_t workers_max_ = 1;
  Json machine_;
  std::string suricata_version_;
  Clock::time_point t_start_;
  int run_seq_ = 0;

  std::vector<CaptureFile> captures_;
  std::vector<RuleSet> rulesets_;
  std::map<std::string, CompiledRules> compiled_;
  std::map<std::string, Payloads> payloads_;  // by capture name: what mode (c) scans
  std::map<std::string, StartupRow> startups_;
  std::vector<ReplayRow> replay_;
  std::vector<FileRow> file_;
  std::vector<ScanRow> scan_;
  std::vector<std::pair<std::string, double>> steps_;
  std::vector<std::string> notes_;
  size_t et_accepted_ = 0, et_seen_ = 0;
  bool failed_ = false;
};

void Matrix::Progress(const std::string& line) {
  const double t = std::chrono::duration<double>(Clock::now() - t_start_).count();
  fmt::print(stderr, "[{:6.1f} s] {}\n", t, line);
}

void Matrix::Step(const std::string& what, double seconds) {
  for (auto& [name, s] : steps_) {
    if (name == what) {
      s += seconds;
      return;
    }
  }
  steps_.emplace_back(what, seconds);
}

std::string Matrix::RunDir(const std::string& tag) {
  const std::string dir = fmt::format("{}/{:03d}-{}", runs_dir_, ++run_seq_, tag);
  std::error_code ec;
  stdfs::remove_all(dir, ec);
  stdfs::create_directories(dir, ec);
  return dir;
}

std::string Matrix::LogPath(const std::string& tag) const {
  return fmt::format("{}/{}.log", logs_dir_, tag);
}

bool Matrix::Setup() {
  t_start_ = Clock::now();
  fs_bin_ = o_.bin_dir + "/flowsentry";
  gen_bin_ = o_.bin_dir + "/flowsentry-pcapgen";
  for (const std::string& b : {fs_bin_, gen_bin_}) {
    if (access(b.c_str(), X_OK) != 0) {
      fmt::print(stderr, "flowsentry-bench: {} not found or not executable (build it first)\n", b);
      return false;
    }
  }
  if (!o_.suricata.empty() && access(o_.suricata.c_str(), X_OK) == 0) suricata_ = o_.suricata;
  captures_dir_ = o_.work_dir + "/captures";
  rules_dir_ = o_.work_dir + "/rules";
  runs_dir_ = o_.work_dir + "/runs";
  logs_dir_ = o_.work_dir + "/logs";
  json_path_ = o_.json_out.empty() ? o_.work_dir + "/results.json" : o_.json_out;
  std::error_code ec;
  for (const std::string& d : {captures_dir_, rules_dir_, runs_dir_, logs_dir_}) {
    stdfs::create_directories(d, ec);
    if (ec) {
      fmt::print(stderr, "flowsentry-bench: cannot create {}: {}\n", d, ec.message());
      return false;
    }
  }
  // Logs of an earlier run would be appended to: start clean.
  for (const auto& e : stdfs::directory_iterator(logs_dir_, ec)) stdfs::remove(e.path(), ec);

  tsc_hz_ = MeasureTscHz();
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  workers_max_ = o_.max_workers != 0 ? o_.max_workers : cpus;

  std::string model;
  {
    const std::string cpuinfo = ReadText("/proc/cpuinfo");
    const std::string line = FirstLineStarting(cpuinfo, "model name");
    if (auto p = line.find(':'); p != std::string::npos) model = Trim(line.substr(p + 1));
  }
  const std::string meminfo = ReadText("/proc/meminfo");
  auto mem_field = [&meminfo](const std::string& key) {
    const std::string line = FirstLineStarting(meminfo, key);
    if (auto p = line.find(':'); p != std::string::npos) return Trim(line.substr(p + 1));
    return std::string();
  };
  utsname u{};
  uname(&u);
  machine_ = Json{{"cpu_model", model},
                  {"cpus", cpus},
                  {"tsc_ghz", tsc_hz_ / 1e9},
                  {"memory", mem_field("MemTotal")},
                  {"hugepages_total", mem_field("HugePages_Total")},
                  {"kernel", std::string(u.release)},
                  {"loadavg_start", LoadAverage()}};
  if (!suricata_.empty()) {
    ProcessResult pr;
    std::string error;
    const std::string log = LogPath("suricata-version");
    if (RunProcess({suricata_, "-V"}, log, 30, &pr, &error) && pr.ok()) {
      suricata_version_ = Trim(ReadText(log));
    }
  }
  Progress(
      fmt::format("flowsentry-bench {} tier: {} ({} CPUs, TSC {:.2f} GHz, load {}), work dir {}",
                  o_.tier, model, cpus, tsc_hz_ / 1e9, LoadAverage(), o_.work_dir));
  if (suricata_.empty()) {
    notes_.push_back("Suricata not found: its columns are empty.");
    Progress("suricata not found: Suricata columns stay empty");
  }
  return true;
}

bool Matrix::Generate(const std::string& name, const std::string& profile, uint64_t packets,
                      uint32_t flows, CaptureFile* out) {
  const auto t0 = Clock::now();
  *out = CaptureFile{};
  out->name = name;
  out->profile = profile;
  out->flows_option = flows;
  out->path = captures_dir_ + "/" + name + ".pcap";
  const std::string stats_path = captures_dir_ + "/" + name + ".json";
  // A capture from an earlier --keep-captures run is reused when it was made by this generator
  // binary with the same parameters (generation is deterministic).
  bool reuse = false;
  if (auto stats = ReadJson(stats_path); stats && stdfs::exists(out->path)) {
    std::error_code ec;
    const bool newer = stdfs::last_write_time(out->path, ec) > stdfs::last_write_time(gen_bin_, ec);
    reuse = newer && (*stats)["packets_target"] == packets && (*stats)["seed"] == o_.seed &&
            (*stats)["flows_option"] == flows;
    if (reuse) out->stats = *stats;
  }
  if (!reuse) {
    std::vector<std::string> argv = {gen_bin_,    profile,
                                     "--out",     out->path,
                                     "--packets", std::to_string(packets),
                                     "--seed",    std::to_string(o_.seed),
                                     "--stats",   stats_path};
    if (flows != 0) {
      argv.push_back("--flows");
      argv.push_back(std::to_string(flows));
    }
    ProcessResult pr;
    std::string error;
    if (!RunProcess(argv, LogPath("generate-" + name), 600, &pr, &error) || !pr.ok()) {
      Progress(fmt::format("generate {}: FAILED ({}; see {})", name, error,
                           LogPath("generate-" + name)));
      return false;
    }
    auto stats = ReadJson(stats_path);
    if (!stats) {
      Progress(fmt::format("generate {}: no statistics written", name));
      return false;
    }
    out->stats = *stats;
  }
  out->packets = out->stats.value("packets", uint64_t{0});
  out->bytes = out->stats.value("bytes", uint64_t{0});
  out->replay_packets = std::min(out->packets, tier_.replay_prefix);
  out->replay_path = out->path;
  std::string error;
  if (out->replay_packets < out->packets) {
    out->replay_path = captures_dir_ + "/" + name + ".replay.pcap";
    if (!WritePrefix(out->path, out->replay_path, out->replay_packets, &error)) {
      Progress(fmt::format("generate {}: {}", name, error));
      return false;
    }
  }
  out->gen_s = std::chrono::duration<double>(Clock::now() - t0).count();
  Step("generate captures", out->gen_s);
  Progress(fmt::format("capture {}: {} packets, {:.1f} MB, avg frame {:.0f} B{} ({:.1f} s)", name,
                       out->packets, out->bytes / 1e6,
                       out->packets ? double(out->bytes) / out->packets : 0.0,
                       reuse ? ", reused" : "", out->gen_s));
  return true;
}

bool Matrix::WriteRules(const std::string& name, const std::vector<std::string>& texts,
                        RuleSet* out) {
  out->name = name;
  out->path = rules_dir_ + "/" + name + ".rules";
  out->rules = texts.size();
  std::ofstream f(out->path, std::ios::trunc);
  f << "# flowsentry-bench rule set '" << name << "': " << texts.size() << " rules\n";
  for (const std::string& t : texts) f << t << '\n';
  f.close();
  if (!f) {
    Progress("cannot write " + out->path);
    return false;
  }
  return true;
}

bool Matrix::PrepareRules() {
  const auto t0 = Clock::now();
  RuleSet none;
  if (!WriteRules("none", {}, &none)) return false;
  rulesets_.push_back(none);

  std::string error;
  AcceptedRules district;
  if (!LoadAccepted({o_.district_rules}, &district, &error)) {
    Progress(fmt::format("district pack {}: {}", o_.district_rules, error));
    return false;
  }
  RuleSet d;
  d.name = "district";
  d.path = o_.district_rules;
  d.rules = district.texts.size();
  rulesets_.push_back(d);

  const bool want_et = !tier_.et_profiles.empty() || !tier_.rule_counts.empty();
  if (want_et && !o_.et_rules.empty() && stdfs::exists(o_.et_rules)) {
    AcceptedRules et;
    if (!LoadAccepted({o_.et_rules}, &et, &error)) {
      Progress(fmt::format("ET rules {}: {}", o_.et_rules, error));
    } else {
      et_accepted_ = et.texts.size();
      et_seen_ = et.seen;
      RuleSet all;
      if (!WriteRules("et", et.texts, &all)) return false;
      rulesets_.push_back(all);
      // Subsets spread evenly over the accepted rules in file order (rule floor(i * total / n)),
      // so each keeps the full set's mix. The first n in file order would be IP-reputation
      // rules only: 3coresec, botcc, ciarmy and compromised sort before emerging-*.
      for (uint32_t n : tier_.rule_counts) {
        if (n >= et.texts.size()) continue;
        std::vector<std::string> subset;
        for (uint32_t i = 0; i < n; ++i) {
          subset.push_back(et.texts[static_cast<size_t>(uint64_t{i} * et.texts.size() / n)]);
        }
        RuleSet s;
        if (!WriteRules(fmt::format("et-{}", n), subset, &s)) return false;
        rulesets_.push_back(s);
      }
      Progress(fmt::format("ET Open: {} of {} rules accepted by the sensor's parser", et_accepted_,
                           et_seen_));
    }
  } else if (want_et) {
    notes_.push_back("ET Open rules not found: ET rows skipped.");
    Progress("ET Open rules not found: skipping ET rows");
  }
  Step("prepare rule sets", std::chrono::duration<double>(Clock::now() - t0).count());
  return true;
}

const RuleSet* Matrix::Rules(const std::string& name) const {
  for (const RuleSet& r : rulesets_) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

std::vector<std::string> Matrix::FlowsentryReplayArgs(const std::vector<std::string>& pcaps,
                                                      const RuleSet& r, uint32_t workers,
                                                      const std::string& summary,
                                                      uint32_t flow_capacity) const {
  std::vector<std::string> a = {fs_bin_};
  for (const std::string& pcap : pcaps) {
    a.push_back("--pcap");
    a.push_back(pcap);
  }
  const std::vector<std::string> rest = {
      "--replay-forever",
      "--duration",
      fmt::format("{}", o_.duration_s > 0 ? o_.duration_s : tier_.replay_s),
      "--workers",
      std::to_string(workers),
      "--eve",
      "",
      "--metrics-listen",
      "",
      "--no-summary",
      "--summary-json",
      summary,
      "--rules",
      r.path,
      "--log-level",
      "warning"};
  a.insert(a.end(), rest.begin(), rest.end());
  if (flow_capacity != 0 && flow_capacity != kDefaultFlowCapacity) {
    a.push_back("--flow-capacity");
    a.push_back(std::to_string(flow_capacity));
  }
  return a;
}

std::vector<std::string> Matrix::FlowsentryFileArgs(const std::string& pcap, const RuleSet& r,
                                                    const std::string& dir,
                                                    uint32_t flow_capacity) const {
  // EVE on (into the RAM dir), as Suricata's stock configuration writes its eve.json.
  std::vector<std::string> a = {fs_bin_,
                                "--pcap",
                                pcap,
                                "--workers",
                                "1",
                                "--eve",
                                dir + "/eve.json",
                                "--metrics-listen",
                                "",
                                "--no-summary",
                                "--summary-json",
                                dir + "/summary.json",
                                "--rules",
                                r.path,
                                "--log-level",
                                "warning"};
  if (flow_capacity != 0 && flow_capacity != kDefaultFlowCapacity) {
    a.push_back("--flow-capacity");
    a.push_back(std::to_string(flow_capacity));
  }
  return a;
}

std::vector<std::string> Matrix::SuricataArgs(const std::string& pcap, const RuleSet& r,
                                              const std::string& dir,
                                              const std::vector<std::string>& extra) const {
  std::vector<std::string> a = {suricata_, "-r", pcap,   "-S", r.path, "--runmode",
                                "single",  "-k", "none", "-l", dir};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

void Matrix::Replay(const CaptureFile& c, const RuleSet& r, uint32_t workers,
                    const std::string& series, uint32_t flow_capacity, bool split) {
  const auto t0 = Clock::now();
  ReplayRow row;
  row.capture = c.name;
  row.rules = r.name;
  row.series = series;
  row.workers = workers;
  row.input = split ? "rss" : "one";
  const std::string tag =
      fmt::format("replay-{}-{}-w{}{}", c.name, r.name, workers, split ? "-rss" : "");
  const std::string dir = RunDir(tag);
  std::vector<std::string> pcaps = {c.replay_path};
  ProcessResult pr;
  std::string error;
  bool split_ok = true;
  if (split) {
    pcaps.clear();
    for (uint32_t w = 0; w < workers; ++w) {
      pcaps.push_back(fmt::format("{}/{}.rss{}-{}.pcap", captures_dir_, c.name, workers, w));
    }
    split_ok = SplitByOwner(c.replay_path, pcaps, &error);
  }
  const auto argv = FlowsentryReplayArgs(pcaps, r, workers, dir + "/summary.json", flow_capacity);
  row.cmd = ShellJoin(argv);
  const double duration = o_.duration_s > 0 ? o_.duration_s : tier_.replay_s;
  // One-worker runs alternate with a new measurement of their raw limit (% of raw Hyperscan
  // compares the two): this VM's slow spells only ever slow a run down, so each keeps its best.
  const bool with_limit = workers == 1 && !split;
  const int reps = ReplayReps();
  std::vector<double> rates;  // every successful run's
  for (int rep = 0; rep < reps && split_ok; ++rep) {
    ReplayRow run = row;
    ProcessResult one;
    if (!RunProcess(argv, LogPath(tag), duration + 300, &one, &error)) {
      run.error = error;
    } else if (!one.ok()) {
      run.error = fmt::format("exit {}{} (see {})", one.exit_code,
                              one.timed_out ? ", timed out" : "", LogPath(tag));
    } else if (auto j = ReadJson(dir + "/summary.json"); !j) {
      run.error = "no summary JSON";
    } else {
      run.ok = true;
      run.packets = j->value("packets", uint64_t{0});
      run.bytes = j->value("bytes", uint64_t{0});
      run.dropped = j->value("dropped", uint64_t{0});
      run.alerts = j->value("alerts", uint64_t{0});
      run.events_dropped = j->value("events_dropped", uint64_t{0});
      run.seconds = j->value("seconds_processing", 0.0);
      run.mpps = j->value("mpps", 0.0);
      run.gbps = j->value("gbps", 0.0);
      const uint64_t busy = j->value("busy_cycles", uint64_t{0});
      run.cycles_per_packet = run.packets ? double(busy) / double(run.packets) : 0;
      if (run.packets == 0) {
        run.ok = false;
        run.error = "no packet processed";
      }
    }
    run.wall_s = one.wall_s;
    run.rss_mb = one.max_rss_kb / 1024.0;
    if (run.ok) rates.push_back(run.mpps);
    // The row: the fastest successful run (or the last failure while none succeeded).
    if ((run.ok && (!row.ok || run.mpps > row.mpps)) || (!run.ok && !row.ok)) {
      row = std::move(run);
      pr = one;
    }
    if (with_limit) MeasureLimitAgain(c.name, r.name, series);
  }
  row.mpps_runs = std::move(rates);
  if (!split_ok) row.error = error;
  std::error_code ec;
  stdfs::remove_all(dir, ec);
  if (split) {
    for (const std::string& p : pcaps) stdfs::remove(p, ec);
  }
  if (!row.ok) failed_ = true;
  Progress(fmt::format("a replay  {:<18} {:<9} w{}{}: {}", c.name, r.name, workers,
                       split ? " rss" : "",
                       row.ok ? fmt::format("{:.3f} Mpps {:.2f} Gbit/s {:.0f} cyc/pkt, {} drops, "
                                            "RSS {:.0f} MB ({:.1f} s){}",
                                            row.mpps, row.gbps, row.cycles_per_packet, row.dropped,
                                            row.rss_mb, pr.wall_s,
                                            row.mpps_runs.size() > 1
                                                ? fmt::format(" (of {:.3f})",
                                                              fmt::join(row.mpps_runs, " "))
                                                : "")
                              : "FAILED: " + row.error));
  replay_.push_back(row);
  Step("(a) replay from memory", std::chrono::duration<double>(Clock::now() - t0).count());
  Save();
}

StartupRow Matrix::Startup(const std::string& key, const std::vector<std::string>& argv,
                           const std::string& out_dir) {
  if (auto it = startups_.find(key); it != startups_.end()) return it->second;
  StartupRow best;
  // Best of at least two: the first start of a binary after a build or another benchmark pays
  // for cold caches, and the start-up is subtracted from every run with this key.
  const int reps = std::max(2, FileReps() + 1);
  for (int rep = 0; rep < reps; ++rep) {
    ProcessResult pr;
    std::string error;
    std::error_code ec;
    stdfs::remove_all(out_dir, ec);
    stdfs::create_directories(out_dir, ec);
    const std::string tag = "startup-" + key;
    if (!RunProcess(argv, LogPath(tag), 300, &pr, &error) || !pr.ok()) continue;
    if (!best.ok || pr.wall_s < best.wall_s) {
      best.ok = true;
      best.wall_s = pr.wall_s;
      best.cpu_s = pr.user_s + pr.sys_s;
      best.rss_mb = pr.max_rss_kb / 1024.0;
    }
  }
  std::error_code ec;
  stdfs::remove_all(out_dir, ec);
  startups_[key] = best;
  Progress(fmt::format(
      "b start-up {:<40} {}", key,
      best.ok ? fmt::format("{:.2f} s, RSS {:.0f} MB", best.wall_s, best.rss_mb) : "FAILED"));
  return best;
}

Matrix::EngineRun Matrix::RunEngine(const std::string& engine, const std::string& pcap,
                                    const RuleSet& r, uint32_t flow_capacity,
                                    const std::vector<std::string>& extra, const std::string& tag) {
  EngineRun run;
  const std::string dir = RunDir(tag);
  const bool fs = engine == "flowsentry";
  const auto argv =
      fs ? FlowsentryFileArgs(pcap, r, dir, flow_capacity) : SuricataArgs(pcap, r, dir, extra);
  run.cmd = ShellJoin(argv);
  std::string error;
  if (!RunProcess(argv, LogPath(tag), 1800, &run.pr, &error)) {
    run.error = error;
  } else if (!run.pr.ok()) {
    run.error = fmt::format("exit {}{} (see {})", run.pr.exit_code,
                            run.pr.timed_out ? ", timed out" : "", LogPath(tag));
  } else if (fs) {
    auto j = ReadJson(dir + "/summary.json");
    if (!j) {
      run.error = "no summary JSON";
    } else {
      run.ok = true;
      run.packets = j->value("packets", uint64_t{0});
      run.bytes = j->value("bytes", uint64_t{0});
      run.alerts = j->value("alerts", uint64_t{0});
      run.dropped = j->value("dropped", uint64_t{0});
      run.self_seconds = j->value("seconds_processing", 0.0);
      run.busy_cycles = j->value("busy_cycles", uint64_t{0});
    }
  } else {
    run.ok = true;
    run.alerts = CountAlerts(dir + "/eve.json");
    const std::string log = ReadText(dir + "/suricata.log");
    std::smatch m;
    static const std::regex kLoaded("(\\d+) rules successfully loaded, (\\d+) rules failed");
    if (std::regex_search(log, m, kLoaded)) {
      run.rules_loaded = std::stoll(m[1]);
      run.rules_failed = std::stoll(m[2]);
    }
    static const std::regex kRead("read 1 file, (\\d+) packets, (\\d+) bytes");
    if (std::regex_search(log, m, kRead)) {
      run.packets = std::stoull(m[1]);
      run.bytes = std::stoull(m[2]);
    }
    // Suricata's own processing time: from its packet threads' start (after the rules are
    // loaded) to the end of the capture's flush (suricata.c: SCSetStartTime before
    // RunModeDispatch, SCPrintElapsedTime after FlowForceReassembly), as flowsentry's
    // seconds_processing runs from its workers' launch until they drained their flows.
    static const std::regex kElapsed("time elapsed ([0-9.]+)s");
    if (std::regex_search(log, m, kElapsed)) run.self_seconds = std::stod(m[1]);
  }
  std::error_code ec;
  stdfs::remove_all(dir, ec);
  return run;
}

void Matrix::FileRuns(const CaptureFile& c, const RuleSet& r, const std::string& series,
                      uint32_t flow_capacity, const std::vector<std::string>& suricata_extra) {
  std::vector<std::string> engines = {"flowsentry"};
  if (!suricata_.empty()) engines.push_back("suricata");
  const size_t n = engines.size();
  std::vector<StartupRow> st(n);
  std::vector<std::chrono::duration<double>> spent(n);
  auto extra_of = [&](size_t e) {
    return engines[e] == "flowsentry" ? std::vector<std::string>{} : suricata_extra;
  };
  for (size_t e = 0; e < n; ++e) {
    const auto t0 = Clock::now();
    const bool fs = engines[e] == "flowsentry";
    const std::string key =
        fs ? fmt::format("flowsentry-{}-cap{}", r.name, flow_capacity)
           : fmt::format("suricata-{}{}", r.name, suricata_extra.empty() ? "" : "-tuned");
    const std::string sdir = RunDir("startup-" + key);
    st[e] = Startup(key,
                    fs ? FlowsentryFileArgs(one_packet_, r, sdir, flow_capacity)
                       : SuricataArgs(one_packet_, r, sdir, suricata_extra),
                    sdir);
    std::error_code ec;
    stdfs::remove_all(sdir, ec);
    spent[e] += Clock::now() - t0;
  }
  // Rate = packets / (wall - wall of the 1-packet run): start-up measured apart and subtracted.
  // With --steady-state also the capture twice over (2N packets): N / (wall(2N) - wall(N)) has
  // every fixed cost cancelled, but also the first pass's warm-up (page faults of pools, new
  // flows), since the second copy repeats the same flows; it reads higher for both engines.
  auto tag_of = [&](size_t e) { return fmt::format("file-{}-{}-{}", engines[e], c.name, r.name); };
  std::vector<std::vector<EngineRun>> runs(n);
  const int reps = FileReps();
  for (int rep = 0; rep < reps; ++rep) {
    for (size_t e = 0; e < n; ++e) {
      const auto t0 = Clock::now();
      runs[e].push_back(RunEngine(engines[e], c.path, r, flow_capacity, extra_of(e), tag_of(e)));
      spent[e] += Clock::now() - t0;
    }
  }
  for (size_t e = 0; e < n; ++e) {
    const auto t0 = Clock::now();
    EngineRun twice;
    const bool any_ok =
        std::any_of(runs[e].begin(), runs[e].end(), [](const EngineRun& x) { return x.ok; });
    if (any_ok && !doubled_path_.empty()) {
      for (int rep = 0; rep < reps; ++rep) {
        EngineRun run =
            RunEngine(engines[e], doubled_path_, r, flow_capacity, extra_of(e), tag_of(e) + "-x2");
        if (!twice.ok || (run.ok && run.pr.wall_s < twice.pr.wall_s)) twice = run;
      }
    }
    FileRow row = FileRowOf(c, r, series, engines[e], st[e], runs[e], twice);
    if (!row.ok) failed_ = true;
    Progress(fmt::format(
        "b file    {:<18} {:<9} {:<10}: {}", c.name, r.name, engines[e],
        row.ok ? fmt::format("{:.2f} s, {:.2f} s start-up: {}, self {:.3f} s (of {}), {} alerts, "
                             "RSS {:.0f} MB{}",
                             row.wall_s, row.startup_s,
                             row.measured
                                 ? fmt::format("{:.3f} Mpps {:.2f} Gbit/s", row.mpps, row.gbps)
                                 : row.error,
                             row.self_seconds, fmt::join(row.self_runs, " "), row.alerts,
                             row.rss_mb,
                             twice.ok ? fmt::format("; twice over {:.2f} s: steady {:.3f} Mpps",
                                                    row.wall2_s, row.steady_mpps)
                                      : "")
               : "FAILED: " + row.error));
    file_.push_back(std::move(row));
    spent[e] += Clock::now() - t0;
    Step(engines[e] == "flowsentry" ? "(b) capture file: flowsentry" : "(b) capture file: Suricata",
         spent[e].count());
  }
  Save();
}

FileRow Matrix::FileRowOf(const CaptureFile& c, const RuleSet& r, const std::string& series,
                          const std::string& engine, const StartupRow& st,
                          const std::vector<EngineRun>& runs, const EngineRun& twice) {
  const bool fs = engine == "flowsentry";
  FileRow row;
  row.capture = c.name;
  row.rules = r.name;
  row.series = series;
  row.engine = engine;
  // The run with the shortest wall time gives the wall-clock figures; the shortest own
  // processing time of any run gives the self figures (with a large rule set the start-up,
  // not the processing, decides which run is shortest on the wall).
  const EngineRun* once = nullptr;
  const EngineRun* self = nullptr;
  for (const EngineRun& run : runs) {
    if (!run.ok) continue;
    row.wall_runs.push_back(run.pr.wall_s);
    row.self_runs.push_back(run.self_seconds);
    if (once == nullptr || run.pr.wall_s < once->pr.wall_s) once = &run;
    if (run.self_seconds > 0 && (self == nullptr || run.self_seconds < self->self_seconds)) {
      self = &run;
    }
  }
  if (once == nullptr) {
    row.error = runs.empty() ? "no run" : runs.back().error;
    row.cmd = runs.empty() ? "" : runs.back().cmd;
    return row;
  }
  row.cmd = once->cmd;
  if (!st.ok) {
    row.error = "start-up run failed";
    return row;
  }
  row.ok = true;
  row.packets = once->packets != 0 ? once->packets : c.packets;
  row.bytes = once->bytes != 0 ? once->bytes : c.bytes;
  row.alerts = once->alerts;
  row.dropped = once->dropped;
  row.rules_loaded = once->rules_loaded;
  row.rules_failed = once->rules_failed;
  row.startup_s = st.wall_s;
  row.startup_rss_mb = st.rss_mb;
  row.wall_s = once->pr.wall_s;
  row.run_s = once->pr.wall_s - st.wall_s;
  row.rss_mb = once->pr.max_rss_kb / 1024.0;
  if (row.run_s < 0.05) {
    // Within the noise of a process start: the capture is too small for a rate (smoke runs).
    row.error = fmt::format(
        "{:.2f} s with the capture, {:.2f} s with one packet: too short "
        "for a rate",
        once->pr.wall_s, st.wall_s);
  } else {
    row.measured = true;
    row.mpps = double(row.packets) / row.run_s / 1e6;
    row.gbps = double(row.bytes) * 8 / row.run_s / 1e9;
    const double cpu = once->pr.user_s + once->pr.sys_s - st.cpu_s;
    row.cpu_cycles_per_packet = cpu > 0 ? cpu * tsc_hz_ / double(row.packets) : 0;
  }
  if (twice.ok) {
    row.wall2_s = twice.pr.wall_s;
    row.rss2_mb = twice.pr.max_rss_kb / 1024.0;
    const double dt = twice.pr.wall_s - once->pr.wall_s;
    row.steady_mpps = dt > 0.05 ? double(row.packets) / dt / 1e6 : 0;
  }
  if (self != nullptr) {
    row.self_seconds = self->self_seconds;
    row.self_mpps = double(row.packets) / self->self_seconds / 1e6;
  }
  if (fs) {
    const EngineRun& w = self != nullptr ? *self : *once;
    row.worker_cycles_per_packet = w.packets ? double(w.busy_cycles) / double(w.packets) : 0;
    for (const EngineRun& run : runs) {
      if (run.ok && run.packets != c.packets) {
        row.ok = false;
        row.error = fmt::format("processed {} packets of {}", run.packets, c.packets);
      }
    }
    if (twice.ok && twice.packets != 2 * c.packets) {
      row.ok = false;
      row.error = fmt::format("processed {} packets of {} (twice over)", twice.packets,
                              2 * c.packets);
    }
  }
  return row;
}

bool Matrix::MakeDoubled(const CaptureFile& c) {
  const auto t0 = Clock::now();
  doubled_path_ = captures_dir_ + "/" + c.name + ".x2.pcap";
  std::string error;
  if (!WriteTwice(c.path, doubled_path_, &error)) {
    Progress("--steady-state: cannot write the capture twice over: " + error);
    doubled_path_.clear();
    failed_ = true;
    return false;
  }
  Step("generate captures", std::chrono::duration<double>(Clock::now() - t0).count());
  return true;
}

void Matrix::DropDoubled() {
  std::error_code ec;
  if (!doubled_path_.empty()) stdfs::remove(doubled_path_, ec);
  doubled_path_.clear();
}

CompiledRules* Matrix::Compiled(const RuleSet& r, std::string* error) {
  if (auto it = compiled_.find(r.name); it != compiled_.end()) return &it->second;
  CompiledRules c;
  if (!c.Compile({r.path}, error)) return nullptr;
  return &compiled_.emplace(r.name, std::move(c)).first->second;
}

void Matrix::Scan(const CaptureFile& c, const std::vector<const RuleSet*>& sets,
                  const std::string& series) {
  const auto t0 = Clock::now();
  Payloads payloads;
  std::string error;
  // The packets mode (a) replays: "% of raw Hyperscan" compares the same bytes.
  const bool extracted = ExtractPayloads(c.replay_path, &payloads, &error);
  if (extracted && payloads.payload_bytes == 0) {
    Progress(fmt::format("c hyperscan {:<16}: no payload to scan", c.name));
    return;
  }
  for (const RuleSet* r : sets) {
    ScanRow row;
    row.capture = c.name;
    row.rules = r->name;
    row.series = series;
    CompiledRules* compiled = extracted ? Compiled(*r, &error) : nullptr;
    if (compiled != nullptr) {
      row.expressions = compiled->expressions();
      row.db_bytes = compiled->database_bytes();
      row.compile_s = compiled->compile_seconds();
      row.items = payloads.items.size();
      row.payload_bytes = payloads.payload_bytes;
      row.tls_skipped_bytes = payloads.tls_skipped_bytes;
      row.ok = MeasureScanLimit(*compiled, payloads, tier_.scan_s, &row.limit, &error);
      if (row.ok) row.limit_runs.push_back(row.limit.capture_mpps);
    }
    if (!row.ok) {
      row.error = error;
      failed_ = true;
    }
    Progress(fmt::format(
        "c hyperscan {:<16} {:<9}: {}", c.name, r->name,
        row.ok ? fmt::format("{:.0f} MB/s over {:.1f} MB of payload, limit {:.2f} "
                             "Mpps / {:.1f} Gbit/s, {} matches/pass",
                             row.limit.mbytes_per_s, row.payload_bytes / 1e6,
                             row.limit.capture_mpps, row.limit.capture_gbps,
                             row.limit.passes ? row.limit.matches / row.limit.passes : 0)
               : "FAILED: " + row.error));
    scan_.push_back(row);
  }
  // Kept for the measurements beside the replay runs (MeasureLimitAgain).
  if (extracted) payloads_[c.name] = std::move(payloads);
  Step("(c) raw Hyperscan", std::chrono::duration<double>(Clock::now() - t0).count());
  Save();
}

void Matrix::MeasureLimitAgain(const std::string& capture, const std::string& rules,
                               const std::string& series) {
  const auto t0 = Clock::now();
  auto row = std::find_if(scan_.begin(), scan_.end(), [&](const ScanRow& s) {
    return s.ok && s.capture == capture && s.rules == rules && s.series == series;
  });
  auto payloads = payloads_.find(capture);
  const RuleSet* set = Rules(rules);
  if (row == scan_.end() || payloads == payloads_.end() || set == nullptr) return;
  std::string error;
  CompiledRules* compiled = Compiled(*set, &error);
  ScanLimit limit;
  if (compiled == nullptr ||
      !MeasureScanLimit(*compiled, payloads->second, tier_.scan_s, &limit, &error)) {
    Progress(fmt::format("c hyperscan {:<16} {:<9}: measured again: FAILED: {}", capture, rules,
                         error));
    row->ok = false;
    row->error = error;
    failed_ = true;
    return;
  }
  row->limit_runs.push_back(limit.capture_mpps);
  if (limit.capture_mpps > row->limit.capture_mpps) row->limit = limit;
  Progress(fmt::format("c hyperscan {:<16} {:<9}: measured again: limit {:.2f} Mpps (best {:.2f})",
                       capture, rules, limit.capture_mpps, row->limit.capture_mpps));
  Step("(c) raw Hyperscan", std::chrono::duration<double>(Clock::now() - t0).count());
}

const ReplayRow* Matrix::FindReplay(const std::string& capture, const std::string& rules,
                                    uint32_t workers) const {
  for (const ReplayRow& r : replay_) {
    if (r.ok && r.capture == capture && r.rules == rules && r.workers == workers &&
        r.input == "one") {
      return &r;
    }
  }
  return nullptr;
}

const FileRow* Matrix::FindFile(const std::string& capture, const std::string& rules,
                                const std::string& engine, bool measured) const {
  for (const FileRow& r : file_) {
    if (r.ok && (r.measured || !measured) && r.capture == capture && r.rules == rules &&
        r.engine == engine) {
      return &r;
    }
  }
  return nullptr;
}

const ScanRow* Matrix::FindScan(const std::string& capture, const std::string& rules) const {
  for (const ScanRow& r : scan_) {
    if (r.ok && r.capture == capture && r.rules == rules) return &r;
  }
  return nullptr;
}

Json Matrix::ToJson() const {
  Json j;
  j["harness"] = "flowsentry-bench";
  j["tier"] = o_.tier;
  j["revision"] = o_.revision;
  j["elapsed_s"] = std::chrono::duration<double>(Clock::now() - t_start_).count();
  Json m = machine_;
  m["loadavg_now"] = LoadAverage();
  m["suricata"] = suricata_version_;
  j["machine"] = m;
  j["settings"] = {{"work_dir", o_.work_dir},
                   {"replay_seconds", o_.duration_s > 0 ? o_.duration_s : tier_.replay_s},
                   {"replay_prefix_packets", tier_.replay_prefix},
                   {"scan_min_seconds", tier_.scan_s},
                   {"file_repetitions", FileReps()},
                   {"replay_repetitions", ReplayReps()},
                   {"max_workers", workers_max_},
                   {"seed", o_.seed},
                   {"district_rules", o_.district_rules},
                   {"et_rules", o_.et_rules},
                   {"et_accepted", et_accepted_},
                   {"rss_floor_mb", SpawnerRssFloorKb() / 1024.0},
                   {"et_seen", et_seen_}};
  j["captures"] = Json::array();
  for (const CaptureFile& c : captures_) {
    j["captures"].push_back({{"name", c.name},
                             {"profile", c.profile},
                             {"path", c.path},
                             {"packets", c.packets},
                             {"bytes", c.bytes},
                             {"replay_packets", c.replay_packets},
                             {"generate_s", c.gen_s},
                             {"stats", c.stats}});
  }
  j["rule_sets"] = Json::array();
  for (const RuleSet& r : rulesets_) {
    j["rule_sets"].push_back({{"name", r.name}, {"path", r.path}, {"rules", r.rules}});
  }
  j["replay"] = Json::array();
  for (const ReplayRow& r : replay_) {
    const FileRow* suri = FindFile(r.capture, r.rules, "suricata");
    const FileRow* suri_self = FindFile(r.capture, r.rules, "suricata", /*measured=*/false);
    const ScanRow* hs = FindScan(r.capture, r.rules);
    j["replay"].push_back(
        {{"capture", r.capture},
         {"rules", r.rules},
         {"series", r.series},
         {"workers", r.workers},
         {"input", r.input},
         {"ok", r.ok},
         {"error", r.error},
         {"packets", r.packets},
         {"bytes", r.bytes},
         {"seconds_processing", r.seconds},
         {"mpps", r.mpps},
         {"mpps_runs", r.mpps_runs},
         {"gbps", r.gbps},
         {"cycles_per_packet", r.cycles_per_packet},
         {"dropped", r.dropped},
         {"alerts", r.alerts},
         {"peak_rss_mb", r.rss_mb},
         {"wall_s", r.wall_s},
         {"ratio_to_suricata", suri && r.ok ? r.mpps / suri->mpps : 0.0},
         {"ratio_to_suricata_self",
          suri_self && r.ok && suri_self->self_mpps > 0 ? r.mpps / suri_self->self_mpps : 0.0},
         {"ratio_to_hyperscan", hs && r.ok ? r.mpps / hs->limit.capture_mpps : 0.0},
         {"command", r.cmd}});
  }
  j["file"] = Json::array();
  for (const FileRow& r : file_) {
    const FileRow* suri = FindFile(r.capture, r.rules, "suricata");
    const FileRow* suri_self = FindFile(r.capture, r.rules, "suricata", /*measured=*/false);
    j["file"].push_back(
        {{"capture", r.capture},
         {"rules", r.rules},
         {"series", r.series},
         {"engine", r.engine},
         {"ok", r.ok},
         {"error", r.error},
         {"packets", r.packets},
         {"bytes", r.bytes},
         {"wall_s", r.wall_s},
         {"wall_twice_s", r.wall2_s},
         {"startup_s", r.startup_s},
         {"run_s", r.run_s},
         {"mpps", r.mpps},
         {"gbps", r.gbps},
         {"rate_measured", r.measured},
         {"mpps_steady_state", r.steady_mpps},
         {"cpu_cycles_per_packet", r.cpu_cycles_per_packet},
         {"worker_cycles_per_packet", r.worker_cycles_per_packet},
         {"self_seconds_processing", r.self_seconds},
         {"self_seconds_runs", r.self_runs},
         {"wall_s_runs", r.wall_runs},
         {"alerts", r.alerts},
         {"dropped", r.dropped},
         {"peak_rss_mb", r.rss_mb},
         {"peak_rss_twice_mb", r.rss2_mb},
         {"startup_peak_rss_mb", r.startup_rss_mb},
         {"self_mpps", r.self_mpps},
         {"suricata_rules_loaded", r.rules_loaded},
         {"suricata_rules_failed", r.rules_failed},
         {"ratio_to_suricata", suri && r.ok && r.engine != "suricata" ? r.mpps / suri->mpps : 0.0},
         {"self_ratio_to_suricata",
          suri_self && r.ok && r.engine != "suricata" && suri_self->self_mpps > 0
              ? r.self_mpps / suri_self->self_mpps
              : 0.0},
         {"command", r.cmd}});
  }
  j["hyperscan"] = Json::array();
  for (const ScanRow& r : scan_) {
    j["hyperscan"].push_back(
        {{"capture", r.capture},
         {"rules", r.rules},
         {"series", r.series},
         {"ok", r.ok},
         {"error", r.error},
         {"expressions", r.expressions},
         {"database_bytes", r.db_bytes},
         {"compile_s", r.compile_s},
         {"payloads", r.items},
         {"payload_bytes", r.payload_bytes},
         {"tls_skipped_bytes", r.tls_skipped_bytes},
         {"seconds", r.limit.seconds},
         {"passes", r.limit.passes},
         {"mbytes_per_s", r.limit.mbytes_per_s},
         {"limit_mpps", r.limit.capture_mpps},
         {"limit_gbps", r.limit.capture_gbps},
         {"limit_mpps_runs", r.limit_runs},
         {"matches_per_pass", r.limit.passes ? r.limit.matches / r.limit.passes : 0}});
  }
  j["steps"] = Json::array();
  for (const auto& [name, s] : steps_) j["steps"].push_back({{"step", name}, {"seconds", s}});
  j["notes"] = notes_;
  return j;
}

void Matrix::Save() const {
  const std::string tmp = json_path_ + ".tmp";
  std::ofstream out(tmp, std::ios::trunc);
  out << ToJson().dump(2) << '\n';
  out.close();
  std::error_code ec;
  if (out) stdfs::rename(tmp, json_path_, ec);
}

void Matrix::PrintTables() const {
  auto rss = [](double mb) { return mb > 0 ? fmt::format("{:.0f}", mb) : std::string("-"); };
  fmt::print("\nflowsentry-bench ({} tier{}{}) on {}, {} CPUs, {}, kernel {}, hugepages {}\n",
             o_.tier, o_.revision.empty() ? "" : ", revision ", o_.revision,
             machine_.value("cpu_model", ""), machine_.value("cpus", 0),
             machine_.value("memory", ""), machine_.value("kernel", ""),
             machine_.value("hugepages_total", ""));
  fmt::print("load average at start {}, at end {}; {}\n", machine_.value("loadavg_start", ""),
             LoadAverage(), suricata_version_.empty() ? "no Suricata" : suricata_version_);

  fmt::print("\nCaptures (RAM dir {})\n", captures_dir_);
  fmt::print("  {:<20} {:>9} {:>9} {:>7} {:>8} {:>8}\n", "capture", "packets", "MB", "avg B",
             "flows", "replayed");
  for (const CaptureFile& c : captures_) {
    fmt::print("  {:<20} {:>9} {:>9.1f} {:>7.0f} {:>8} {:>8}\n", c.name, c.packets, c.bytes / 1e6,
               c.packets ? double(c.bytes) / c.packets : 0.0,
               c.stats.contains("flows") ? c.stats["flows"].value("total", uint64_t{0}) : 0,
               c.replay_packets);
  }
  fmt::print("  rule sets:");
  for (const RuleSet& r : rulesets_) fmt::print(" {} ({})", r.name, r.rules);
  fmt::print("\n");

  auto print_replay = [&](const std::string& series) {
    fmt::print("  {:<20} {:<9} {:>2} {:<3} {:>7} {:>7} {:>8} {:>7} {:>7} {:>8} {:>8} {:>7} {:>6}\n",
               "capture", "rules", "w", "in", "Mpps", "Gbit/s", "cyc/pkt", "drops", "RSS MB",
               "alerts", "ev drops", "x Suri", "% HS");
    for (const ReplayRow& r : replay_) {
      if (r.series != series) continue;
      if (!r.ok) {
        fmt::print("  {:<20} {:<9} {:>2} {:<3} FAILED: {}\n", r.capture, r.rules, r.workers,
                   r.input, r.error);
        continue;
      }
      const FileRow* suri = FindFile(r.capture, r.rules, "suricata", /*measured=*/false);
      const ScanRow* hs = FindScan(r.capture, r.rules);
      fmt::print(
          "  {:<20} {:<9} {:>2} {:<3} {:>7.3f} {:>7.2f} {:>8.0f} {:>7} {:>7} {:>8} {:>8} {:>7} "
          "{:>6}\n",
          r.capture, r.rules, r.workers, r.input, r.mpps, r.gbps, r.cycles_per_packet, r.dropped,
          rss(r.rss_mb), r.alerts, r.events_dropped,
          suri ? Ratio(r.mpps, suri->self_mpps > 0 ? suri->self_mpps : suri->mpps) : "-",
          hs ? Percent(r.mpps, hs->limit.capture_mpps) : "-");
    }
  };
  auto print_file = [&](const std::string& series) {
    fmt::print(
        "  {:<20} {:<9} {:<10} {:>7} {:>6} {:>7} {:>7} {:>8} {:>8} {:>7} {:>7} {:>9} {:>6}\n",
        "capture", "rules", "engine", "start s", "run s", "Mpps", "Gbit/s", "cpu cyc", "alerts",
        "RSS MB", "x Suri", "self Mpps", "self x");
    for (const FileRow& r : file_) {
      if (r.series != series) continue;
      if (!r.ok) {
        fmt::print("  {:<20} {:<9} {:<10} FAILED: {}\n", r.capture, r.rules, r.engine, r.error);
        continue;
      }
      const FileRow* suri = FindFile(r.capture, r.rules, "suricata", /*measured=*/false);
      const bool fs = r.engine != "suricata";
      fmt::print(
          "  {:<20} {:<9} {:<10} {:>7.2f} {:>6.2f} {:>7} {:>7} {:>8} {:>8} {:>7} {:>7} {:>9} "
          "{:>6}\n",
          r.capture, r.rules, r.engine, r.startup_s, r.run_s, r.measured ? Num(r.mpps, 3) : "-",
          r.measured ? Num(r.gbps, 2) : "-", Num(r.cpu_cycles_per_packet, 0), r.alerts,
          rss(r.rss_mb),
          fs && suri && r.measured && suri->measured ? Ratio(r.mpps, suri->mpps) : "-",
          Num(r.self_mpps, 3), fs && suri ? Ratio(r.self_mpps, suri->self_mpps) : "-");
    }
  };

  fmt::print("\n(a) flowsentry replaying from memory (each pass new flows), {} s per run\n",
             o_.duration_s > 0 ? o_.duration_s : tier_.replay_s);
  print_replay("");
  fmt::print(
      "  x Suri: Mpps / Suricata's self Mpps reading the file (b); % HS: Mpps / raw Hyperscan "
      "limit (c). cyc/pkt: worker busy TSC cycles per packet.\n  ev drops: alert/flow "
      "events the control plane did not take in time (the packets were processed).\n");

  fmt::print(
      "\n(b) reading the capture file from the RAM dir, 1 worker, EVE written to the RAM dir. "
      "start s: the same\n    command on a 1-packet capture; run s = wall - start s; Mpps = "
      "packets / run s; each figure the best of {} runs,\n    the engines' runs alternating\n",
      FileReps());
  print_file("");
  fmt::print(
      "  cpu cyc: (user+sys CPU time - the 1-packet run's) x TSC / packets. self Mpps: "
      "packets / the engine's own\n  processing time, start-up excluded (flowsentry: "
      "seconds_processing; Suricata: its \"time elapsed\"); self x: their ratio.\n"
      "  RSS: peak resident set (wait4).\n");

  fmt::print(
      "\n(c) raw Hyperscan over the payloads of the packets replayed in (a), same databases "
      "(the matcher's limit), 1 core\n");
  fmt::print("  {:<20} {:<9} {:>6} {:>10} {:>9} {:>9} {:>9} {:>11} {:>9}\n", "capture", "rules",
             "exprs", "payload MB", "MB/s", "lim Mpps", "lim Gb/s", "replay Mpps", "pipeline");
  for (const ScanRow& r : scan_) {
    if (!r.ok) {
      fmt::print("  {:<20} {:<9} FAILED: {}\n", r.capture, r.rules, r.error);
      continue;
    }
    const ReplayRow* rp = FindReplay(r.capture, r.rules, 1);
    fmt::print("  {:<20} {:<9} {:>6} {:>10.1f} {:>9.0f} {:>9.2f} {:>9.1f} {:>11} {:>9}\n",
               r.capture, r.rules, r.expressions, r.payload_bytes / 1e6, r.limit.mbytes_per_s,
               r.limit.capture_mpps, r.limit.capture_gbps, rp ? Num(rp->mpps, 3) : "-",
               rp ? Percent(rp->mpps, r.limit.capture_mpps) : "-");
  }

  bool any_rules = false, any_flows = false;
  for (const ReplayRow& r : replay_) any_rules |= r.series == "rules";
  for (const FileRow& r : file_) any_flows |= r.series == "flows";
  if (any_rules) {
    fmt::print(
        "\nScaling by rule count: ET Open subsets on imix (evenly spread over the "
        "accepted rules)\n");
    fmt::print("  {:<9} {:>6} {:>6} {:>11} {:>9} {:>9} {:>7} {:>9} {:>6}\n", "rules", "count",
               "exprs", "replay Mpps", "file Mpps", "Suri Mpps", "x Suri", "HS MB/s", "% HS");
    std::vector<std::string> names;
    for (const RuleSet& r : rulesets_) {
      if (r.name.rfind("et", 0) == 0) names.push_back(r.name);
    }
    std::sort(names.begin(), names.end(), [this](const std::string& a, const std::string& b) {
      return Rules(a)->rules < Rules(b)->rules;
    });
    for (const std::string& n : names) {
      const ReplayRow* rp = FindReplay("imix", n, 1);
      const FileRow* f = FindFile("imix", n, "flowsentry");
      const FileRow* s = FindFile("imix", n, "suricata");
      const ScanRow* hs = FindScan("imix", n);
      fmt::print("  {:<9} {:>6} {:>6} {:>11} {:>9} {:>9} {:>7} {:>9} {:>6}\n", n, Rules(n)->rules,
                 hs ? std::to_string(hs->expressions) : "-", rp ? Num(rp->mpps, 3) : "-",
                 f ? Num(f->mpps, 3) : "-", s ? Num(s->mpps, 3) : "-",
                 f && s ? Ratio(f->mpps, s->mpps) : "-", hs ? Num(hs->limit.mbytes_per_s, 0) : "-",
                 rp && hs ? Percent(rp->mpps, hs->limit.capture_mpps) : "-");
    }
  }
  if (any_flows) {
    fmt::print(
        "\nScaling by concurrent flows: 64-byte frames round-robin over N open TCP flows, "
        "district pack, 1 worker\n");
    fmt::print("  {:<20} {:>9} {:>11} {:>8} {:>9} {:>8} {:>7} {:>9} {:>7}\n", "capture", "packets",
               "replay Mpps", "cyc/pkt", "file Mpps", "cpu cyc", "RSS MB", "Suri Mpps", "x Suri");
    for (const CaptureFile& c : captures_) {
      if (c.flows_option == 0) continue;
      const ReplayRow* rp = FindReplay(c.name, "district", 1);
      const FileRow* f = FindFile(c.name, "district", "flowsentry");
      const FileRow* s = FindFile(c.name, "district", "suricata");
      fmt::print("  {:<20} {:>9} {:>11} {:>8} {:>9} {:>8} {:>7} {:>9} {:>7}\n", c.name, c.packets,
                 rp ? Num(rp->mpps, 3) : "-", rp ? Num(rp->cycles_per_packet, 0) : "-",
                 f ? Num(f->mpps, 3) : "-", f ? Num(f->cpu_cycles_per_packet, 0) : "-",
                 f ? rss(f->rss_mb) : "-", s ? Num(s->mpps, 3) : "-",
                 f && s ? Ratio(f->mpps, s->mpps) : "-");
    }
  }

  fmt::print("\nSteps:");
  for (const auto& [name, s] : steps_) fmt::print(" {} {:.1f} s;", name, s);
  fmt::print(" total {:.0f} s\n", std::chrono::duration<double>(Clock::now() - t_start_).count());
  for (const std::string& n : notes_) fmt::print("Note: {}\n", n);
  fmt::print("JSON: {}\n", json_path_);
}

int Matrix::Run() {
  if (!Setup()) return 2;
  // 1. Captures.
  std::vector<std::pair<std::string, uint64_t>> profiles = tier_.profiles;
  if (!o_.profiles.empty()) {
    std::erase_if(profiles, [this](const auto& p) {
      return std::find(o_.profiles.begin(), o_.profiles.end(), p.first) == o_.profiles.end();
    });
  }
  for (const auto& [profile, packets] : profiles) {
    CaptureFile c;
    if (!Generate(profile, profile, packets, 0, &c)) return 2;
    captures_.push_back(c);
  }
  if (captures_.empty()) {
    fmt::print(stderr, "flowsentry-bench: no capture profile selected\n");
    return 2;
  }
  {
    std::string error;
    one_packet_ = captures_dir_ + "/one-packet.pcap";
    if (!WritePrefix(captures_.front().path, one_packet_, 1, &error)) {
      fmt::print(stderr, "flowsentry-bench: {}\n", error);
      return 2;
    }
  }
  // 2. Rule sets.
  if (!PrepareRules()) return 2;
  auto rules_for = [this](const std::string& profile) {
    std::vector<const RuleSet*> out;
    for (const std::string& name : tier_.rulesets) out.push_back(Rules(name));
    if (Rules("et") != nullptr && std::find(tier_.et_profiles.begin(), tier_.et_profiles.end(),
                                            profile) != tier_.et_profiles.end()) {
      out.push_back(Rules("et"));
    }
    return out;
  };
  auto multi = [this](const std::string& profile, const std::string& rules) {
    const std::string key = profile + "/" + rules;
    return std::find(tier_.multi_worker.begin(), tier_.multi_worker.end(), key) !=
           tier_.multi_worker.end();
  };
  const std::vector<CaptureFile> main_captures = captures_;

  // 3. (c) first: cheap, and its figures are what the pipeline is compared with.
  for (const CaptureFile& c : main_captures) {
    std::vector<const RuleSet*> sets;
    for (const RuleSet* r : rules_for(c.profile)) {
      if (r->name != "none") sets.push_back(r);
    }
    Scan(c, sets, "");
  }
  // 4. (b) capture files, flowsentry and Suricata.
  for (const CaptureFile& c : main_captures) {
    if (o_.steady_state) MakeDoubled(c);
    for (const RuleSet* r : rules_for(c.profile)) {
      FileRuns(c, *r, "");
    }
    DropDoubled();
  }
  // 5. (a) replay from memory.
  for (const CaptureFile& c : main_captures) {
    for (const RuleSet* r : rules_for(c.profile)) {
      Replay(c, *r, 1, "");
      if (multi(c.profile, r->name)) {
        for (uint32_t w = 2; w <= workers_max_; ++w) {
          Replay(c, *r, w, "");
          Replay(c, *r, w, "", 0, /*split=*/true);
        }
      }
    }
  }
  // 6. Series.
  const CaptureFile* imix = nullptr;
  for (const CaptureFile& c : captures_) {
    if (c.name == "imix") imix = &c;
  }
  if (o_.series && imix != nullptr) {
    const CaptureFile imix_copy = *imix;
    std::vector<const RuleSet*> subsets;
    for (uint32_t n : tier_.rule_counts) {
      if (const RuleSet* r = Rules(fmt::format("et-{}", n))) subsets.push_back(r);
    }
    if (!subsets.empty()) {
      Scan(imix_copy, subsets, "rules");
      if (o_.steady_state) MakeDoubled(imix_copy);
      for (const RuleSet* r : subsets) {
        FileRuns(imix_copy, *r, "rules");
      }
      DropDoubled();
      for (const RuleSet* r : subsets) Replay(imix_copy, *r, 1, "rules");
    }
  }
  if (o_.series) {
    for (uint32_t flows : tier_.flow_counts) {
      CaptureFile c;
      const uint64_t packets = std::max<uint64_t>(tier_.flow_base_packets, uint64_t{4} * flows);
      const std::string name =
          flows >= 1000000 && flows % 1000000 == 0 ? fmt::format("small-flows-{}M", flows / 1000000)
          : flows >= 1000 && flows % 1000 == 0     ? fmt::format("small-flows-{}k", flows / 1000)
                                                   : fmt::format("small-flows-{}", flows);
      if (!Generate(name, "small", packets, flows, &c)) {
        failed_ = true;
        continue;
      }
      captures_.push_back(c);
      // Room for every flow: the point is the cost of a large table, not of eviction.
      uint32_t capacity = kDefaultFlowCapacity;
      while (capacity < flows + flows / 4) capacity *= 2;
      const RuleSet& district = *Rules("district");
      if (o_.steady_state) MakeDoubled(c);
      // Suricata's stock flow and stream memcaps (128 MB, 64 MB) would put it into emergency
      // mode with a million flows: give it the memory, as an operator would.
      FileRuns(c, district, "flows", capacity,
               {"--set", "flow.memcap=4gb", "--set", "stream.memcap=4gb", "--set",
                fmt::format("flow.hash-size={}", capacity)});
      DropDoubled();
      // A replayed prefix must hold the whole handshake of every flow and then some.
      if (uint64_t{8} * flows <= tier_.replay_prefix) Replay(c, district, 1, "flows", capacity);
      if (!o_.keep_captures) {
        std::error_code ec;
        stdfs::remove(c.path, ec);
        if (c.replay_path != c.path) stdfs::remove(c.replay_path, ec);
      }
    }
  }
  machine_["loadavg_end"] = LoadAverage();
  Save();
  PrintTables();
  if (!o_.keep_captures) {
    std::error_code ec;
    stdfs::remove_all(captures_dir_, ec);
  }
  std::error_code ec;
  stdfs::remove_all(runs_dir_, ec);
  return failed_ ? 1 : 0;
}

}  // namespace

namespace {

// A JSON row's array of numbers (empty when absent or not an array).
std::vector<double> Doubles(const Json& row, const char* field) {
  const Json v = row.value(field, Json::array());
  return v.is_array() ? v.get<std::vector<double>>() : std::vector<double>{};
}

}  // namespace

bool CheckResults(const std::string& json_path, std::vector<std::string>* problems) {
  problems->clear();
  auto j = ReadJson(json_path);
  if (!j) {
    problems->push_back("cannot read or parse " + json_path);
    return false;
  }
  auto bad = [problems](const std::string& what) { problems->push_back(what); };
  auto positive = [&bad](const Json& row, const char* field, const std::string& where) {
    if (!row.contains(field) || !row[field].is_number() || row[field].get<double>() <= 0) {
      bad(fmt::format("{}: {} is not > 0", where, field));
    }
  };
  if ((*j)["machine"].value("cpu_model", "").empty()) bad("machine.cpu_model is empty");
  std::map<std::string, std::pair<uint64_t, std::string>> captures;  // packets, profile
  for (const Json& c : (*j)["captures"]) {
    const std::string name = c.value("name", "");
    positive(c, "packets", "capture " + name);
    positive(c, "bytes", "capture " + name);
    captures[name] = {c.value("packets", uint64_t{0}), c.value("profile", "")};
  }
  if (captures.empty()) bad("no capture");
  auto attack_with_rules = [&captures](const Json& row) {
    auto it = captures.find(row.value("capture", ""));
    return it != captures.end() && it->second.second == "attack" &&
           row.value("rules", "") == "district";
  };
  // A row's repetitions: `want` of them in runs_field (a failed one would leave the row resting
  // on fewer), and the row's value_field the best of them (the lowest or the highest).
  auto check_runs = [&bad](const Json& row, const std::string& where, const char* runs_field,
                           size_t want, const char* value_field, bool lowest) {
    const std::vector<double> runs = Doubles(row, runs_field);
    if (runs.size() != want) {
      bad(fmt::format("{}: {} of {} expected in {}", where, runs.size(), want, runs_field));
      return;
    }
    if (runs.empty()) return;
    const double best = lowest ? *std::min_element(runs.begin(), runs.end())
                               : *std::max_element(runs.begin(), runs.end());
    if (std::abs(best - row.value(value_field, 0.0)) > 1e-9) {
      bad(fmt::format("{}: {} is not the {} of {}", where, value_field,
                      lowest ? "lowest" : "highest", runs_field));
    }
  };
  const char* sections[] = {"replay", "file", "hyperscan"};
  for (const char* section : sections) {
    if (!(*j).contains(section) || (*j)[section].empty())
      bad(fmt::format("no {} results", section));
  }
  for (const Json& r : (*j)["replay"]) {
    const std::string where =
        fmt::format("replay {} {} w{} {}", r.value("capture", ""), r.value("rules", ""),
                    r.value("workers", 0), r.value("input", "one"));
    if (!r.value("ok", false)) {
      bad(where + ": failed: " + r.value("error", ""));
      continue;
    }
    for (const char* f : {"packets", "bytes", "seconds_processing", "mpps", "gbps",
                          "cycles_per_packet", "peak_rss_mb"}) {
      positive(r, f, where);
    }
    if (attack_with_rules(r)) positive(r, "alerts", where);
    check_runs(r, where, "mpps_runs", (*j)["settings"].value("replay_repetitions", size_t{1}),
               "mpps", /*lowest=*/false);
  }
  for (const Json& r : (*j)["file"]) {
    const std::string where = fmt::format("file {} {} {}", r.value("capture", ""),
                                          r.value("rules", ""), r.value("engine", ""));
    if (!r.value("ok", false)) {
      bad(where + ": failed: " + r.value("error", ""));
      continue;
    }
    for (const char* f : {"packets", "wall_s", "startup_s", "peak_rss_mb"}) {
      positive(r, f, where);
    }
    check_runs(r, where, "wall_s_runs", (*j)["settings"].value("file_repetitions", size_t{1}),
               "wall_s", /*lowest=*/true);
    if (r.value("rate_measured", false)) {
      for (const char* f : {"run_s", "mpps", "gbps"}) positive(r, f, where);
    }
    auto it = captures.find(r.value("capture", ""));
    if (it != captures.end() && r.value("packets", uint64_t{0}) != it->second.first) {
      bad(fmt::format("{}: {} packets processed, the capture has {}", where,
                      r.value("packets", uint64_t{0}), it->second.first));
    }
    if (attack_with_rules(r)) positive(r, "alerts", where);
    if (r.value("engine", "") == "suricata" && r.value("rules", "") != "none") {
      positive(r, "suricata_rules_loaded", where);
    }
  }
  for (const Json& r : (*j)["hyperscan"]) {
    const std::string where =
        fmt::format("hyperscan {} {}", r.value("capture", ""), r.value("rules", ""));
    if (!r.value("ok", false)) {
      bad(where + ": failed: " + r.value("error", ""));
      continue;
    }
    for (const char* f : {"expressions", "payload_bytes", "mbytes_per_s", "limit_mpps"}) {
      positive(r, f, where);
    }
    if (attack_with_rules(r)) positive(r, "matches_per_pass", where);
    // Mode (c)'s measurement, then one beside each one-worker replay run of the same capture and
    // rules; the row keeps the highest.
    size_t expect = 1;
    for (const Json& rp : (*j)["replay"]) {
      if (rp.value("capture", "") == r.value("capture", "") &&
          rp.value("rules", "") == r.value("rules", "") &&
          rp.value("series", "") == r.value("series", "") && rp.value("workers", 0) == 1 &&
          rp.value("input", "one") == "one") {
        expect += (*j)["settings"].value("replay_repetitions", size_t{1});
      }
    }
    check_runs(r, where, "limit_mpps_runs", expect, "limit_mpps", /*lowest=*/false);
  }
  return problems->empty();
}

int RunMatrix(const MatrixOptions& options) {
  Matrix m(options);
  return m.Run();
}

}  // namespace fs::bench
