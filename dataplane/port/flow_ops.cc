// rte_flow_get_aged_flows is still an experimental DPDK symbol (22.11): without this its
// declaration carries a deprecation attribute, which -Werror turns into a build failure. Only this
// file calls it, so the opt-in stays here rather than on every target that includes rte_flow.h.
#define ALLOW_EXPERIMENTAL_API 1

#include "dataplane/port/flow_ops.h"

#include <fmt/format.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

namespace fs::port {

FlowOps RteFlowOps() {
  FlowOps ops;
  ops.port_valid = [](uint16_t port) { return rte_eth_dev_is_valid_port(port) != 0; };
  ops.driver_name = [](uint16_t port) -> std::string {
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(port, &info) != 0 || info.driver_name == nullptr) return "unknown";
    return info.driver_name;
  };
  ops.validate = rte_flow_validate;
  ops.create = rte_flow_create;
  ops.destroy = rte_flow_destroy;
  ops.get_aged_flows = rte_flow_get_aged_flows;
  return ops;
}

std::string FlowErrorText(int rc, const rte_flow_error& e) {
  const int err = rc < 0 ? -rc : rte_errno;
  std::string errno_text = err ? rte_strerror(err) : "unknown error";
  if (e.message == nullptr || *e.message == '\0' || errno_text == e.message) return errno_text;
  return fmt::format("{} ({})", e.message, errno_text);
}

}  // namespace fs::port
