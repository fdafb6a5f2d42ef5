// The sensor process: wires config, patterns, DPDK ports, workers, outputs and metrics, runs
// until end of input or a signal, and prints the summary. Runs on the main lcore (main thread).
#pragma once

#include <string>
#include <vector>

#include "controlplane/config/config.h"

namespace fs::sensor {

// Returns the process exit code: 0 success, 1 runtime/config failure.
int RunSensor(const config::Config& cfg);

// Set from a signal handler: stop reading inputs, flush and exit.
void RequestStop();

// Set from a signal handler (SIGHUP): reload the rule files (docs/operator-guide.md, "Reloading
// rules") and reopen the EVE file (logrotate).
void RequestReload();

}  // namespace fs::sensor
