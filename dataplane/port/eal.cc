#include "dataplane/port/eal.h"

#include <fmt/format.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <sched.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs::port {

namespace {

std::string CpuList(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(cpus[i]);
  }
  return out;
}

}  // namespace

bool PlanEal(const EalRequest& req, EalPlan* plan, std::string* error) {
  *plan = EalPlan{};
  plan->file_prefix = fmt::format("flowsentry-{}", req.pid);
  auto& a = plan->args;
  a.push_back("flowsentry");
  a.push_back("--file-prefix=" + plan->file_prefix);
  a.push_back("--log-level=lib.*:warning");
  a.push_back("--log-level=pmd.*:warning");
  // DPDK's telemetry socket is not used (metrics go through Prometheus) and prints noise.
  a.push_back("--no-telemetry");

  // lcore 0 runs the control plane; 1..workers run the poll loops. With enough CPUs each lcore
  // gets its own; otherwise they share the allowed CPUs (the OS schedules them).
  const uint32_t lcores = req.workers + 1;
  std::vector<int> cpus = req.cpus.empty() ? std::vector<int>{0} : req.cpus;
  std::string map;
  if (cpus.size() >= lcores) {
    for (uint32_t l = 0; l < lcores; ++l) {
      if (l) map += ',';
      map += fmt::format("{}@{}", l, cpus[l]);
    }
  } else {
    map = fmt::format("(0-{})@({})", lcores - 1, CpuList(cpus));
  }
  a.push_back("--lcores=" + map);

  if (!req.hugepages_available) {
    plan->no_huge = true;
    // The mbuf pools are the bulk of DPDK memory; double them for rings, ethdev queues and
    // allocator slack, with a floor for the EAL's own needs.
    uint64_t mb = (2 * req.pool_bytes) / (1024 * 1024) + 64;
    if (mb < 128) mb = 128;
    plan->memory_mb = static_cast<uint32_t>(mb);
    a.push_back("--no-huge");
    a.push_back("-m");
    a.push_back(std::to_string(plan->memory_mb));
  }

  bool any_pci = false;
  int pcap_n = 0, afp_n = 0;
  for (const Input& in : req.inputs) {
    switch (in.kind) {
      case Input::Kind::kPcap: {
        if (in.value.find(',') != std::string::npos || in.value.find('=') != std::string::npos) {
          *error = fmt::format(
              "capture path '{}' contains ',' or '=', which DPDK device arguments cannot carry; "
              "rename or symlink it",
              in.value);
          return false;
        }
        std::string name = fmt::format("net_pcap{}", pcap_n++);
        a.push_back("--vdev");
        a.push_back(fmt::format("{},rx_pcap={}{}", name, in.value,
                                req.infinite_rx ? ",infinite_rx=1" : ""));
        plan->vdev_names.push_back(name);
        break;
      }
      case Input::Kind::kIface: {
        if (in.value.empty() || in.value.find_first_of(",= ") != std::string::npos) {
          *error = fmt::format("interface name '{}' is not valid", in.value);
          return false;
        }
        std::string name = fmt::format("net_af_packet{}", afp_n++);
        // One queue pair: DPDK's af_packet sets PACKET_FANOUT_FLAG_ROLLOVER, which moves packets
        // of a flow to another socket under load; our symmetric software hash never does.
        a.push_back("--vdev");
        a.push_back(fmt::format("{},iface={},qpairs=1", name, in.value));
        plan->vdev_names.push_back(name);
        break;
      }
      case Input::Kind::kPci:
        any_pci = true;
        a.push_back("-a");
        a.push_back(in.value);
        plan->vdev_names.push_back(in.value);
        break;
    }
  }
  if (!any_pci) a.push_back("--no-pci");
  for (const auto& u : req.user_args) a.push_back(u);
  return true;
}

bool HugepagesAvailable() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t value = 0;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    ls >> key >> value;
    if (key == "HugePages_Free:") return value > 0;
  }
  return false;
}

std::vector<int> AllowedCpus() {
  std::vector<int> out;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) out.push_back(c);
    }
  }
  if (out.empty()) out.push_back(0);
  return out;
}

bool InitEal(const EalPlan& plan, std::string* error) {
  std::vector<std::string> copy = plan.args;  // rte_eal_init may permute argv
  std::vector<char*> argv;
  for (auto& s : copy) argv.push_back(s.data());
  argv.push_back(nullptr);
  int rc = rte_eal_init(static_cast<int>(copy.size()), argv.data());
  if (rc < 0) {
    std::string joined;
    for (const auto& s : plan.args) joined += " " + s;
    *error = fmt::format("DPDK EAL initialisation failed: {} (arguments:{})",
                         rte_strerror(rte_errno), joined);
    return false;
  }
  return true;
}

void CleanupEal(const EalPlan& plan) {
  rte_eal_cleanup();
  std::error_code ec;
  for (const char* base : {"/var/run/dpdk/", "/run/dpdk/"}) {
    std::filesystem::remove_all(std::string(base) + plan.file_prefix, ec);
  }
  if (const char* xdg = getenv("XDG_RUNTIME_DIR")) {
    std::filesystem::remove_all(std::string(xdg) + "/dpdk/" + plan.file_prefix, ec);
  }
}

}  // namespace fs::port
