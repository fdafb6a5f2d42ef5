// classification.config (Suricata/Snort format):
//   config classification: shortname,short description,priority
// gives each classtype a category text (EVE alert.category) and a default priority (EVE
// alert.severity). Loaded once per rule load on the control plane; read-only afterwards.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "patterns/rule.h"

namespace fs::patterns {

struct Classification {
  std::string name;
  std::string description;
  uint32_t priority = 3;
};

class ClassificationMap {
 public:
  // Parses the text of a classification.config; bad lines go to *errors (named file:line) and
  // are left out. Later definitions of a name replace earlier ones, as in Suricata.
  void Parse(std::string_view text, std::string_view file_name, std::vector<Diagnostic>* errors);

  const Classification* Find(std::string_view name) const {
    auto it = map_.find(name);
    return it == map_.end() ? nullptr : &it->second;
  }
  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }

 private:
  std::map<std::string, Classification, std::less<>> map_;
};

}  // namespace fs::patterns
