#include "patterns/classification.h"

#include <fmt/format.h>

#include "patterns/text_util.h"

namespace fs::patterns {

void ClassificationMap::Parse(std::string_view text, std::string_view file_name,
                              std::vector<Diagnostic>* errors) {
  uint32_t line_no = 0;
  ForEachLine(text, [&](std::string_view line) {
    ++line_no;
    std::string_view s = Trim(line);
    if (s.empty() || s.front() == '#') return;
    auto fail = [&](std::string message) {
      errors->push_back(Diagnostic{std::string(file_name), line_no, 0, std::move(message), {}});
    };
    // "config classification:" with any blanks around the words and the colon.
    std::string_view rest = s;
    if (!ConsumeWord(&rest, "config") || !ConsumeWord(&rest, "classification")) {
      fail("expected 'config classification: name,description,priority'");
      return;
    }
    rest = TrimLeft(rest);
    if (rest.empty() || rest.front() != ':') {
      fail("expected ':' after 'config classification'");
      return;
    }
    rest.remove_prefix(1);
    // The description may itself contain commas: it runs from the first to the last comma.
    size_t first = rest.find(',');
    size_t last = rest.rfind(',');
    if (first == std::string_view::npos || first == last) {
      fail("expected 'name,description,priority'");
      return;
    }
    std::string_view name = Trim(rest.substr(0, first));
    std::string_view description = Trim(rest.substr(first + 1, last - first - 1));
    std::string_view prio_text = Trim(rest.substr(last + 1));
    if (!IsClasstypeName(name)) {
      fail(
          fmt::format("bad classtype name '{}' (letters, digits, '-' and '_', starting with a "
                      "letter)",
                      name));
      return;
    }
    uint32_t priority = 0;
    if (!ParseDecimal(prio_text, &priority)) {
      fail(
          fmt::format("bad priority '{}' for classtype '{}' (expected a number)", prio_text, name));
      return;
    }
    map_[std::string(name)] = Classification{std::string(name), std::string(description), priority};
  });
}

}  // namespace fs::patterns
