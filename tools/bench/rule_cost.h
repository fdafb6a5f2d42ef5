// flowsentry-bench rule-cost: which rules cost what on a capture. Scans the capture's payloads
// through each Hyperscan database the sensor's scanner would use for them (the packet database of
// the payload's protocol and address class, its port's group, and for TCP the flow's stream
// databases in stream mode), timing each database and counting its reports per rule. A rule
// whose literal reports on most payloads costs a header check and often a confirmation each time:
// the table shows an operator which rules to look at when a rule set is slow on their traffic.
#pragma once

#include <string>
#include <vector>

namespace fs::bench {

struct RuleCostOptions {
  std::string pcap;
  std::vector<std::string> rules;  // rule files or directories
  int passes = 3;                  // scans of every payload (the times are summed)
  int top = 15;                    // rules listed
  std::string json;                // also write the figures here (empty: no)
};

// Prints the tables to stdout; returns 0, or 1 with the reason on stderr.
int RunRuleCost(const RuleCostOptions& options);

}  // namespace fs::bench
