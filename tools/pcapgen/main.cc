// flowsentry-pcapgen: writes deterministic synthetic captures for demos, integration tests and
// benchmarks. Each capture profile is a subcommand; to add one (evasion, ...) write a
// Register<Profile>Command() like the district one below and call it from main(). The benchmark
// profiles (imix, small, elephant, short-flows, attack: bench_profiles.h) share one registration.
// Only main() exits; errors are one message on stderr and exit code 1.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/pcapgen/bench_profiles.h"
#include "tools/pcapgen/district.h"
#include "tools/pcapgen/evasion.h"
#include "tools/pcapgen/replay.h"

namespace {

using fs::pcapgen::DistrictOptions;
using fs::pcapgen::DistrictTruth;
using fs::pcapgen::TruthFlow;

nlohmann::ordered_json FlowJson(const TruthFlow& f) {
  return nlohmann::ordered_json{{"name", f.name},           {"proto", f.proto},
                                {"client_ip", f.client_ip}, {"client_port", f.client_port},
                                {"server_ip", f.server_ip}, {"server_port", f.server_port},
                                {"sids", f.sids},           {"first_ts_us", f.first_ts_us}};
}

bool WriteTruthJson(const std::string& path, const DistrictOptions& options,
                    const DistrictTruth& truth, std::string* error) {
  nlohmann::ordered_json j;
  j["profile"] = "district";
  j["seed"] = options.seed;
  j["scale"] = options.scale;
  j["start_ts_us"] = options.start_ts_us;
  j["totals"] = {{"packets", truth.packets},         {"bytes", truth.bytes},
                 {"flows", truth.flows_total},       {"tcp_flows", truth.tcp_flows},
                 {"udp_flows", truth.udp_flows},     {"icmp_flows", truth.icmp_flows},
                 {"arp_packets", truth.arp_packets}, {"first_ts_us", truth.first_ts_us},
                 {"last_ts_us", truth.last_ts_us}};
  j["flows"] = nlohmann::ordered_json::array();
  for (const TruthFlow& f : truth.flows) j["flows"].push_back(FlowJson(f));
  j["controls"] = nlohmann::ordered_json::array();
  for (const TruthFlow& f : truth.controls) j["controls"].push_back(FlowJson(f));

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    *error = fmt::format("cannot create truth file {}", path);
    return false;
  }
  out << j.dump(2) << '\n';
  out.close();
  if (!out) {
    *error = fmt::format("cannot write truth file {}", path);
    return false;
  }
  return true;
}

struct DistrictArgs {
  std::string out;
  std::string truth;
  DistrictOptions options;
};

int RunDistrict(const DistrictArgs& args) {
  DistrictTruth truth;
  std::string error;
  if (!fs::pcapgen::WriteDistrictCapture(args.out, args.options, &truth, &error)) {
    fmt::print(stderr, "flowsentry-pcapgen district: {}\n", error);
    return 1;
  }
  if (!args.truth.empty() && !WriteTruthJson(args.truth, args.options, truth, &error)) {
    fmt::print(stderr, "flowsentry-pcapgen district: {}\n", error);
    return 1;
  }
  size_t alerting = 0;
  for (const TruthFlow& f : truth.flows) alerting += f.sids.size();
  fmt::print(
      "district: wrote {} ({} packets, {:.1f} MB, {:.1f} s; {} flows: {} tcp, {} udp, {} icmp; "
      "story: {} flows, {} expected alerts) seed={} scale={}\n",
      args.out, truth.packets, static_cast<double>(truth.bytes) / 1e6,
      static_cast<double>(truth.last_ts_us - truth.first_ts_us) / 1e6, truth.flows_total,
      truth.tcp_flows, truth.udp_flows, truth.icmp_flows, truth.flows.size(), alerting,
      args.options.seed, args.options.scale);
  return 0;
}

void RegisterDistrictCommand(CLI::App& app, DistrictArgs* args, int* rc) {
  CLI::App* cmd = app.add_subcommand(
      "district", "five minutes of school-district traffic with the embedded intrusion story");
  cmd->add_option("--out", args->out, "pcap file to write")->required();
  cmd->add_option("--seed", args->options.seed, "random seed (same seed: identical file)")
      ->capture_default_str();
  cmd->add_option("--scale", args->options.scale, "multiplies the benign background volume")
      ->check(CLI::Range(1u, 1000u))
      ->capture_default_str();
  cmd->add_option("--truth", args->truth,
                  "also write the expected story flows, sids and totals as JSON");
  cmd->callback([args, rc] { *rc = RunDistrict(*args); });
}

struct BenchArgs {
  std::string out;
  std::string stats;
  fs::pcapgen::BenchOptions options;
};

bool WriteBenchStatsJson(const std::string& path, const char* profile,
                         const fs::pcapgen::BenchOptions& options, const fs::pcapgen::BenchStats& s,
                         std::string* error) {
  nlohmann::ordered_json j;
  j["profile"] = profile;
  j["seed"] = options.seed;
  j["packets_target"] = options.packets;
  j["scale"] = options.scale;
  j["flows_option"] = options.flows;
  j["packets"] = s.packets;
  j["bytes"] = s.bytes;
  j["avg_frame_bytes"] = s.packets ? static_cast<double>(s.bytes) / s.packets : 0.0;
  j["flows"] = {{"total", s.flows},
                {"tcp", s.tcp_flows},
                {"udp", s.udp_flows},
                {"icmp", s.icmp_flows},
                {"ipv6", s.ipv6_flows}};
  j["arp_packets"] = s.arp_packets;
  j["frame_sizes"] = {{"64", s.sizes[0]},      {"65-127", s.sizes[1]},   {"128-255", s.sizes[2]},
                      {"256-511", s.sizes[3]}, {"512-1023", s.sizes[4]}, {"1024-1518", s.sizes[5]}};
  j["sessions"] = nlohmann::ordered_json::object();
  for (const auto& [kind, n] : s.sessions) j["sessions"][kind] = n;
  j["first_ts_us"] = s.first_ts_us;
  j["last_ts_us"] = s.last_ts_us;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << j.dump(2) << '\n';
  out.close();
  if (!out) {
    *error = fmt::format("cannot write stats file {}", path);
    return false;
  }
  return true;
}

int RunBench(const fs::pcapgen::BenchProfileInfo& info, const BenchArgs& args) {
  fs::pcapgen::BenchStats s;
  std::string error;
  if (!fs::pcapgen::WriteBenchCapture(args.out, info.profile, args.options, &s, &error) ||
      (!args.stats.empty() &&
       !WriteBenchStatsJson(args.stats, info.name, args.options, s, &error))) {
    fmt::print(stderr, "flowsentry-pcapgen {}: {}\n", info.name, error);
    return 1;
  }
  const double avg = s.packets ? static_cast<double>(s.bytes) / static_cast<double>(s.packets) : 0;
  fmt::print(
      "{}: wrote {} ({} packets, {:.1f} MB, avg frame {:.0f} B, {:.1f} s; {} flows: {} tcp, {} "
      "udp, {} icmp, {} ipv6) seed={}\n",
      info.name, args.out, s.packets, static_cast<double>(s.bytes) / 1e6, avg,
      static_cast<double>(s.last_ts_us - s.first_ts_us) / 1e6, s.flows, s.tcp_flows, s.udp_flows,
      s.icmp_flows, s.ipv6_flows, args.options.seed);
  return 0;
}

// One subcommand per benchmark profile (bench_profiles.h), all with the same options.
void RegisterBenchCommands(CLI::App& app, BenchArgs* args, int* rc) {
  for (const fs::pcapgen::BenchProfileInfo& info : fs::pcapgen::BenchProfiles()) {
    CLI::App* cmd = app.add_subcommand(info.name, info.description);
    cmd->add_option("--out", args->out, "pcap file to write")->required();
    cmd->add_option("--seed", args->options.seed, "random seed (same seed: identical file)")
        ->capture_default_str();
    auto* packets = cmd->add_option(
        "--packets", args->options.packets,
        fmt::format("packet target (default {}); whole conversations, so a little more",
                    info.default_packets));
    cmd->add_option("--scale", args->options.scale, "multiplies the default packet target")
        ->check(CLI::Range(1u, 1000u))
        ->excludes(packets)
        ->capture_default_str();
    if (info.profile == fs::pcapgen::BenchProfile::kSmall) {
      cmd->add_option("--flows", args->options.flows,
                      "concurrent TCP flows (default 4096); at least 4 packets each")
          ->check(CLI::Range(1u, 1u << 24));
    }
    cmd->add_option("--stats", args->stats, "also write the capture's statistics as JSON");
    cmd->callback([info, args, rc] { *rc = RunBench(info, *args); });
  }
}

struct ReplayArgs {
  std::string pcap, iface;
  uint32_t pps = 0;
};

void RegisterReplayCommand(CLI::App& app, ReplayArgs* args, int* rc) {
  CLI::App* cmd = app.add_subcommand(
      "replay", "send a capture's frames once onto an interface (tests: a veth in a test netns)");
  cmd->add_option("--pcap", args->pcap, "capture to send")->required()->check(CLI::ExistingFile);
  cmd->add_option("--iface", args->iface, "interface to send on")->required();
  cmd->add_option("--pps", args->pps, "packets per second (0: as fast as possible)")
      ->capture_default_str();
  cmd->callback([args, rc] {
    fs::pcapgen::ReplayResult r;
    std::string error;
    if (!fs::pcapgen::ReplayCapture(args->pcap, args->iface, args->pps, &r, &error)) {
      fmt::print(stderr, "flowsentry-pcapgen: {}\n", error);
      *rc = 1;
      return;
    }
    fmt::print("replay: sent {} frames on {} ({} failed)\n", r.sent, args->iface, r.failed);
    *rc = r.failed == 0 ? 0 : 1;
  });
}

struct EvasionArgs {
  std::string out;
};

bool WriteTextFile(const std::string& path, const std::string& text, std::string* error) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    *error = fmt::format("cannot write {}", path);
    return false;
  }
  return true;
}

// One pcap per case, the rule file, and evasion.json: what each case is and what is expected of
// it (the integration test reads it).
int RunEvasion(const EvasionArgs& args) {
  std::error_code ec;
  std::filesystem::create_directories(args.out, ec);
  if (ec) {
    fmt::print(stderr, "flowsentry-pcapgen evasion: cannot create {}: {}\n", args.out,
               ec.message());
    return 1;
  }
  const std::vector<fs::pcapgen::EvasionCase> cases = fs::pcapgen::BuildEvasionCases();
  nlohmann::ordered_json j;
  j["profile"] = "evasion";
  j["rules"] = "evasion.rules";
  j["sids"] = {{"tcp_marker", fs::pcapgen::kEvasionTcpSid},
               {"tcp_decoy", fs::pcapgen::kEvasionTcpDecoySid},
               {"udp_marker", fs::pcapgen::kEvasionUdpSid},
               {"udp_decoy", fs::pcapgen::kEvasionUdpDecoySid}};
  j["patterns"] = {{"tcp_marker", fs::pcapgen::kEvasionTcpPattern},
                   {"tcp_decoy", fs::pcapgen::kEvasionTcpDecoy},
                   {"udp_marker", fs::pcapgen::kEvasionUdpPattern},
                   {"udp_decoy", fs::pcapgen::kEvasionUdpDecoy}};
  j["cases"] = nlohmann::ordered_json::array();
  std::string error;
  size_t packets = 0;
  for (const fs::pcapgen::EvasionCase& c : cases) {
    const std::string file = c.name + ".pcap";
    if (!fs::pcapgen::WriteEvasionCapture(args.out + "/" + file, c, &error)) {
      fmt::print(stderr, "flowsentry-pcapgen evasion: {}\n", error);
      return 1;
    }
    packets += c.capture.size();
    j["cases"].push_back({{"name", c.name},
                          {"file", file},
                          {"description", c.description},
                          {"proto", c.proto},
                          {"ip_version", c.ip_version},
                          {"client_ip", c.client_ip},
                          {"client_port", c.client_port},
                          {"server_ip", c.server_ip},
                          {"server_port", c.server_port},
                          {"packets", c.capture.size()},
                          {"pattern_whole_in_packet", c.pattern_whole_in_packet},
                          {"delivered", c.delivered},
                          {"must_alert_sids", c.must_alert},
                          {"suricata_sids", c.suricata_sids},
                          {"suricata_note", c.suricata_note}});
  }
  if (!WriteTextFile(args.out + "/evasion.rules", fs::pcapgen::EvasionRules(), &error) ||
      !WriteTextFile(args.out + "/evasion.json", j.dump(2) + "\n", &error)) {
    fmt::print(stderr, "flowsentry-pcapgen evasion: {}\n", error);
    return 1;
  }
  fmt::print("evasion: wrote {} captures ({} packets), evasion.rules and evasion.json to {}\n",
             cases.size(), packets, args.out);
  return 0;
}

void RegisterEvasionCommand(CLI::App& app, EvasionArgs* args, int* rc) {
  CLI::App* cmd = app.add_subcommand(
      "evasion", "one capture per TCP/IP evasion technique, with rules and expected verdicts");
  cmd->add_option("--out", args->out, "directory to write the captures into")->required();
  cmd->callback([args, rc] { *rc = RunEvasion(*args); });
}

struct SynFloodArgs {
  std::string out;
  fs::pcapgen::SynFloodOptions options;
};

void RegisterSynFloodCommand(CLI::App& app, SynFloodArgs* args, int* rc) {
  CLI::App* cmd = app.add_subcommand(
      "syn-flood", "SYNs to distinct destination addresses/ports: every packet is a new flow");
  cmd->add_option("--out", args->out, "pcap file to write")->required();
  cmd->add_option("--packets", args->options.packets, "number of SYNs")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32))
      ->capture_default_str();
  cmd->add_option("--sources", args->options.sources, "distinct source addresses (1-254)")
      ->check(CLI::Range(1u, 254u))
      ->capture_default_str();
  cmd->add_option("--gap-us", args->options.gap_us, "microseconds between SYNs")
      ->capture_default_str();
  cmd->callback([args, rc] {
    std::string error;
    if (!fs::pcapgen::WriteSynFloodCapture(args->out, args->options, &error)) {
      fmt::print(stderr, "flowsentry-pcapgen syn-flood: {}\n", error);
      *rc = 1;
      return;
    }
    fmt::print("syn-flood: wrote {} ({} SYNs from {} sources)\n", args->out, args->options.packets,
               args->options.sources);
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flowsentry-pcapgen: deterministic synthetic captures"};
  app.require_subcommand(1);
  int rc = 0;
  DistrictArgs district;
  RegisterDistrictCommand(app, &district, &rc);
  BenchArgs bench;
  RegisterBenchCommands(app, &bench, &rc);
  ReplayArgs replay;
  RegisterReplayCommand(app, &replay, &rc);
  EvasionArgs evasion;
  RegisterEvasionCommand(app, &evasion, &rc);
  SynFloodArgs syn_flood;
  RegisterSynFloodCommand(app, &syn_flood, &rc);
  CLI11_PARSE(app, argc, argv);
  return rc;
}
