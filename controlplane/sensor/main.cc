// flowsentry: the sensor binary. Parses the command line (CLI11) over the YAML config, then hands
// over to RunSensor. Only main() exits.
#include <fmt/format.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "controlplane/config/config.h"
#include "controlplane/sensor/sensor.h"

#ifndef FS_VERSION
#define FS_VERSION "0.0.0"
#endif

namespace {

void OnSignal(int) { fs::sensor::RequestStop(); }
void OnHangup(int) { fs::sensor::RequestReload(); }

}  // namespace

int main(int argc, char** argv) {
  // Everything after "--" goes to DPDK's EAL untouched.
  std::vector<std::string> eal_args;
  int own_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") {
      own_argc = i;
      for (int j = i + 1; j < argc; ++j) eal_args.push_back(argv[j]);
      break;
    }
  }

  CLI::App app{"flowsentry: DPDK + Hyperscan flow sensor for a district network mirror port",
               "flowsentry"};
  app.set_version_flag("--version", FS_VERSION);
  std::string config_file;
  std::vector<std::string> pcaps, ifaces, ports, rules;
  uint32_t workers = 0;
  std::string eve, metrics_listen, metrics_out, classification, log_level, api_listen;
  uint32_t flow_capacity = 0;
  bool no_summary = false, replay_forever = false;
  double duration_s = 0;
  uint64_t max_packets = 0;
  std::string summary_json;
  auto* o_config = app.add_option("-c,--config", config_file, "YAML configuration file")
                       ->check(CLI::ExistingFile);
  (void)o_config;
  auto* o_pcap =
      app.add_option("-r,--pcap", pcaps, "Capture file to read (pcap/pcapng/.gz); repeatable");
  auto* o_iface = app.add_option("-i,--iface", ifaces,
                                 "Network interface to read (DPDK af_packet); repeatable");
  auto* o_port = app.add_option("--port", ports, "PCI address of a NIC bound to DPDK; repeatable");
  auto* o_rules = app.add_option("-S,--rules", rules,
                                 "Rule file or directory (repeatable); default: the district pack");
  auto* o_class = app.add_option("--classification", classification, "classification.config file");
  auto* o_workers =
      app.add_option("-w,--workers", workers, "Worker lcores (1-64)")->check(CLI::Range(1, 64));
  auto* o_eve =
      app.add_option("--eve", eve, "EVE JSON output file ('-' for stdout, '' to disable)");
  auto* o_listen =
      app.add_option("--metrics-listen", metrics_listen,
                     "Prometheus endpoint ADDRESS:PORT ('' to disable); default 127.0.0.1:9580");
  auto* o_api = app.add_option(
      "--api-listen", api_listen,
      "Operator API ADDRESS:PORT ('' to disable); default 127.0.0.1:9581 (flowsentryctl)");
  auto* o_mout =
      app.add_option("--metrics-out", metrics_out,
                     "Write the final metrics (Prometheus text format) to this file at exit");
  auto* o_cap = app.add_option("--flow-capacity", flow_capacity, "Flows per worker")
                    ->check(CLI::Range(1024u, 1u << 26));
  auto* o_log =
      app.add_option("--log-level", log_level, "trace|debug|info|warning|error|critical|off");
  auto* o_nosum = app.add_flag("--no-summary", no_summary, "Do not print the end-of-run summary");
  auto* o_replay =
      app.add_flag("--replay-forever", replay_forever,
                   "Replay capture files from memory in a loop (benchmarks; stop with SIGINT)");
  auto* o_dur = app.add_option("--duration", duration_s, "Stop after this many seconds")
                    ->check(CLI::PositiveNumber);
  auto* o_maxp = app.add_option("--max-packets", max_packets,
                                "Stop once this many packets were processed (approximate, 50 ms)");
  auto* o_sjson = app.add_option("--summary-json", summary_json,
                                 "Write the end-of-run summary as JSON to this file");
  app.footer(
      "Arguments after '--' are passed to DPDK's EAL. Without hugepages the sensor adds --no-huge "
      "and a computed -m itself.");
  try {
    app.parse(own_argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help/--version exit 0; any usage error exits 2, as scripts expect of a CLI.
    return app.exit(e) == 0 ? 0 : 2;
  }

  fs::config::Config cfg;
  std::string error;
  if (!config_file.empty() && !fs::config::LoadYamlFile(config_file, &cfg, &error)) {
    std::fprintf(stderr, "flowsentry: %s\n", error.c_str());
    return 1;
  }
  // Command-line options override the file.
  if (o_pcap->count()) cfg.pcaps = pcaps;
  if (o_iface->count()) cfg.ifaces = ifaces;
  if (o_port->count()) cfg.ports = ports;
  if (o_rules->count()) cfg.rules = rules;
  if (o_class->count()) cfg.classification = classification;
  if (o_workers->count()) cfg.workers = workers;
  if (o_eve->count()) cfg.eve = eve;
  if (o_listen->count()) cfg.metrics_listen = metrics_listen;
  if (o_api->count()) cfg.api_listen = api_listen;
  if (o_mout->count()) cfg.metrics_out = metrics_out;
  if (o_cap->count()) cfg.flow_capacity = flow_capacity;
  if (o_log->count()) cfg.log_level = log_level;
  if (o_nosum->count()) cfg.summary = false;
  if (o_replay->count()) cfg.replay_forever = true;
  if (o_dur->count()) cfg.duration_s = duration_s;
  if (o_maxp->count()) cfg.max_packets = max_packets;
  if (o_sjson->count()) cfg.summary_json = summary_json;
  for (auto& a : eal_args) cfg.eal_args.push_back(a);
  if (!fs::config::Validate(cfg, &error)) {
    std::fprintf(stderr, "flowsentry: %s\n", error.c_str());
    return 1;
  }

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  struct sigaction hup = {};
  hup.sa_handler = OnHangup;
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
  signal(SIGPIPE, SIG_IGN);

  return fs::sensor::RunSensor(cfg);
}
