#include "patterns/rule.h"

#include <fmt/format.h>

#if FS_HAVE_CONDITIONS
#include "patterns/conditions.h"
#endif

namespace fs::patterns {

std::string Diagnostic::ToString() const {
  std::string where = file;
  if (line != 0) {
    where += fmt::format(":{}", line);
    if (column != 0) where += fmt::format(":{}", column);
  }
  return where.empty() ? message : where + ": " + message;
}

const char* ActionName(Action a) {
  switch (a) {
    case Action::kAlert:
      return "alert";
    case Action::kPass:
      return "pass";
  }
  return "?";
}

#if FS_HAVE_CONDITIONS
RuleConditionsBox::RuleConditionsBox() : p_(std::make_unique<RuleConditions>()) {}
RuleConditionsBox::~RuleConditionsBox() = default;
RuleConditionsBox::RuleConditionsBox(const RuleConditionsBox& o)
    : p_(o.p_ != nullptr ? std::make_unique<RuleConditions>(*o.p_) : nullptr) {}
RuleConditionsBox& RuleConditionsBox::operator=(const RuleConditionsBox& o) {
  if (this != &o) p_ = o.p_ != nullptr ? std::make_unique<RuleConditions>(*o.p_) : nullptr;
  return *this;
}
RuleConditionsBox::RuleConditionsBox(RuleConditionsBox&& o) noexcept = default;
RuleConditionsBox& RuleConditionsBox::operator=(RuleConditionsBox&& o) noexcept = default;
#endif

const char* ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kIp:
      return "ip";
    case Protocol::kTcp:
      return "tcp";
    case Protocol::kUdp:
      return "udp";
    case Protocol::kIcmp:
      return "icmp";
    case Protocol::kIcmpv4:
      return "icmpv4";
    case Protocol::kIcmpv6:
      return "icmpv6";
  }
  return "?";
}

std::string Rule::Location() const { return fmt::format("{}:{}", file, pos.line); }

}  // namespace fs::patterns

namespace fs::patterns {

bool Rule::IsAppRule() const {
  if (!size_checks.empty() || dotprefix != 0) return true;
  for (const PayloadItem& item : payload) {
    if (BufferOf(item) != Buffer::kPayload) return true;
  }
  return app_proto != AppProto::kNone && payload.empty();
}

bool Rule::PayloadOnAppProto() const { return app_proto != AppProto::kNone && !IsAppRule(); }

Buffer Rule::BufferOf(const PayloadItem& item) const {
  switch (item.kind) {
    case PayloadItem::Kind::kContent:
      return contents[item.index].buffer;
    case PayloadItem::Kind::kPcre:
      return pcres[item.index].buffer;
    case PayloadItem::Kind::kByte:
      return byte_ops[item.index].buffer;
  }
  return Buffer::kPayload;
}

}  // namespace fs::patterns
