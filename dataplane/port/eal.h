// EAL start-up: turns the sensor's inputs and sizing into rte_eal_init arguments. Planning is a
// pure function (unit-tested without DPDK); InitEal runs once per process on the main thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fs::port {

struct Input {
  enum class Kind { kPcap, kIface, kPci };
  Kind kind = Kind::kPcap;
  std::string value;  // file path, interface name or PCI address
};

struct EalRequest {
  std::vector<Input> inputs;
  uint32_t workers = 1;
  uint64_t pool_bytes = 0;  // total mbuf pool memory the sensor will ask for
  bool hugepages_available = false;
  std::vector<int> cpus;               // CPUs this process may run on
  int pid = 0;                         // for the unique file prefix
  bool infinite_rx = false;            // replay pcaps from memory forever (benchmarks)
  std::vector<std::string> user_args;  // after "--" on the command line; appended last
};

struct EalPlan {
  std::vector<std::string> args;  // argv[0] included
  std::string file_prefix;
  bool no_huge = false;
  uint32_t memory_mb = 0;               // -m value when no_huge
  std::vector<std::string> vdev_names;  // per input, in order: the ethdev name to look up
};

// Builds the argument list. Returns an error message instead when an input cannot be expressed
// (e.g. a path containing ',' which DPDK's devargs syntax cannot carry).
bool PlanEal(const EalRequest& req, EalPlan* plan, std::string* error);

// True when free hugepages are reserved (HugePages_Free > 0 in /proc/meminfo).
bool HugepagesAvailable();

// CPUs in this process's affinity mask.
std::vector<int> AllowedCpus();

// Runs rte_eal_init with the plan. Returns false with a message on failure.
bool InitEal(const EalPlan& plan, std::string* error);

// rte_eal_cleanup and removal of the per-process runtime directory.
void CleanupEal(const EalPlan& plan);

}  // namespace fs::port
