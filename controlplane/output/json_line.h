// One compact JSON object written straight into a string, field by field, byte for byte as
// nlohmann::json::dump() (compact, error_handler_t::replace) prints the same ordered object.
// The EVE writer builds its records with it: a DOM per record (its allocations, its dump) was
// most of the output thread's time on DNS-heavy and alert-heavy captures.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fs::output {

// Appends s as a JSON string (quotes included), escaped as nlohmann escapes it with
// ensure_ascii = false: '"', '\\', \b \f \n \r \t, the other bytes below 0x20 as \u00xx; valid
// UTF-8 as is, every invalid sequence replaced by U+FFFD as error_handler_t::replace does.
void AppendJsonString(std::string* out, std::string_view s);

// Writes "{", then the fields in call order, then "}" at End(). Keys are escaped as strings are.
// The caller keeps keys unique within an object (as an ordered_json would) and nests
// Begin/End pairs properly; nothing is checked at run time.
class JsonLine {
 public:
  explicit JsonLine(std::string* out) : out_(out) { out_->push_back('{'); }

  void Str(std::string_view key, std::string_view value) {
    Key(key);
    AppendJsonString(out_, value);
  }
  void UInt(std::string_view key, uint64_t value) {
    Key(key);
    AppendUInt(value);
  }
  void Int(std::string_view key, int64_t value) {
    Key(key);
    AppendInt(value);
  }
  void Bool(std::string_view key, bool value) {
    Key(key);
    out_->append(value ? "true" : "false");
  }
  void BeginObject(std::string_view key) {
    Key(key);
    Open('{');
  }
  void BeginArray(std::string_view key) {
    Key(key);
    Open('[');
  }
  // Array elements.
  void StrItem(std::string_view value) {
    Sep();
    AppendJsonString(out_, value);
  }
  void UIntItem(uint64_t value) {
    Sep();
    AppendUInt(value);
  }
  void BeginObjectItem() {
    Sep();
    Open('{');
  }
  // Closes the innermost object or array (EndObject, EndArray) or the record itself (End).
  void EndObject() { Close('}'); }
  void EndArray() { Close(']'); }
  void End() { Close('}'); }

 private:
  void Sep() {
    if (!first_) out_->push_back(',');
    first_ = false;
  }
  void Key(std::string_view key) {
    Sep();
    AppendJsonString(out_, key);
    out_->push_back(':');
  }
  void Open(char c) {
    out_->push_back(c);
    first_ = true;
  }
  void Close(char c) {
    out_->push_back(c);
    first_ = false;
  }
  void AppendUInt(uint64_t v);
  void AppendInt(int64_t v);

  std::string* out_;
  bool first_ = true;
};

}  // namespace fs::output
