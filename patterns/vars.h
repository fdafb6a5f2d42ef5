// Rule variables ($HOME_NET, $HTTP_PORTS, ...). Address and port variables are separate
// namespaces, as in suricata.yaml (vars.address-groups / vars.port-groups). Values are rule
// syntax ("[192.168.0.0/16,10.0.0.0/8]", "!$HOME_NET") and are parsed where they are used, so a
// bad value is reported at the rule that uses it. Built by the control plane (config), copied
// into the parse options; plain value type.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace fs::patterns {

class Vars {
 public:
  // Suricata 7's default suricata.yaml values. Config overrides them with SetAddress/SetPort.
  static Vars SuricataDefaults();

  // name without '$'.
  void SetAddress(std::string name, std::string value) {
    address_[std::move(name)] = std::move(value);
  }
  void SetPort(std::string name, std::string value) { port_[std::move(name)] = std::move(value); }

  // nullptr when undefined.
  const std::string* FindAddress(std::string_view name) const { return Find(address_, name); }
  const std::string* FindPort(std::string_view name) const { return Find(port_, name); }

  const std::map<std::string, std::string, std::less<>>& addresses() const { return address_; }
  const std::map<std::string, std::string, std::less<>>& ports() const { return port_; }

 private:
  using Map = std::map<std::string, std::string, std::less<>>;
  static const std::string* Find(const Map& m, std::string_view name) {
    auto it = m.find(name);
    return it == m.end() ? nullptr : &it->second;
  }

  Map address_;
  Map port_;
};

}  // namespace fs::patterns
