// flowsentry-pcapgen: writes deterministic synthetic captures for demos, integration tests and
// benchmarks. Each capture profile is a subcommand; to add one (evasion, imix, 64-byte, elephant,
// dns-heavy, attack-heavy, ...) write a Register<Profile>Command() like the district one below
// and call it from main(). Only main() exits; errors are one message on stderr and exit code 1.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/pcapgen/district.h"
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flowsentry-pcapgen: deterministic synthetic captures"};
  app.require_subcommand(1);
  int rc = 0;
  DistrictArgs district;
  RegisterDistrictCommand(app, &district, &rc);
  ReplayArgs replay;
  RegisterReplayCommand(app, &replay, &rc);
  CLI11_PARSE(app, argc, argv);
  return rc;
}
