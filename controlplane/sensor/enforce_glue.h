// The sensor's side of enforcement (docs/enforcement.md): builds the block manager and its
// backends from the configuration, turns alerts into block requests, and block events into EVE
// records and metrics, and answers the operator API's block calls.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controlplane/config/config.h"
#include "controlplane/enforce/manager.h"
#include "controlplane/metrics/metrics.h"
#include "patterns/range_set.h"
#include "patterns/vars.h"

namespace fs::sensor {

// The block manager the configuration describes, not started (RunSensor starts it once the
// inputs are up: the NIC backend needs its port). nullptr without error when enforcement is off;
// nullptr with *error naming the setting when a setting is wrong (the sensor does not start).
// vars: the rule variables, for HOME_NET.
std::unique_ptr<enforce::BlockManager> MakeBlockManager(const config::Config& cfg,
                                                        const patterns::Vars& vars,
                                                        std::string* error);

// The smallest list of CIDR blocks covering exactly `set` (HOME_NET as prefixes).
std::vector<patterns::IpPrefix> PrefixesOf(const patterns::IpSet& set);

// One EVE line (event_type "block") for a block event.
std::string FormatBlockEvent(const enforce::BlockEvent& e);

// The gauges the metrics read at scrape time.
metrics::EnforcementGauges GaugesOf(const enforce::BlockManager& m, bool dry_run);

// Operator API (api::Backend::blocks / block_add / block_del, and the status's enforcement part).
nlohmann::json BackendsJson(const enforce::BlockManager& m);
nlohmann::json BlocksJson(const enforce::BlockManager& m, bool dry_run);
nlohmann::json BlockAddJson(enforce::BlockManager* m, const nlohmann::json& request);
nlohmann::json BlockDelJson(enforce::BlockManager* m, const std::string& target);

}  // namespace fs::sensor
