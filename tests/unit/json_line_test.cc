// JsonLine, the EVE writer's JSON: byte for byte what nlohmann::ordered_json prints (compact,
// invalid UTF-8 replaced) for the same object, strings of every kind included.
#include "controlplane/output/json_line.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace fs::output {
namespace {

using Json = nlohmann::ordered_json;

std::string Nlohmann(const std::string& s) {
  return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string Ours(const std::string& s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

TEST(JsonLine, StringsEscapeAsNlohmannEscapesThem) {
  std::vector<std::string> cases = {
      "", "plain text", "quote \" and backslash \\", "\b\f\n\r\t", std::string("nul \0 in", 8),
      "\x01\x1f\x7f", "caf\xc3\xa9", "\xe2\x82\xac euro", "\xf0\x9f\x98\x80 emoji",
      "\xef\xbf\xbd",                       // U+FFFD itself
      "\xc0\xaf", "\xe0\x80\xaf",           // overlong forms
      "\xed\xa0\x80",                       // a surrogate
      "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",  // above U+10FFFF
      "\x80", "\xbf\xbf", "ab\xff", "\xfe\xff",  // lone continuation bytes, never-valid bytes
      "\xc3", "x\xe2\x82", "\xf0\x9f\x98",  // cut off at the end
      "\xc3(", "\xe2\x28\xa1", "\xe2\x82\x28", "\xf0\x28\x8c\xbc", "\xf0\x90\x28\xbc",
      "\xc3\xa9\xc3", "\\x41 stays as typed"};
  for (int c = 0; c < 256; ++c) cases.push_back(std::string(1, static_cast<char>(c)));
  for (const std::string& s : cases) EXPECT_EQ(Ours(s), Nlohmann(s)) << testing::PrintToString(s);
}

TEST(JsonLine, RandomByteStringsEscapeAsNlohmannEscapesThem) {
  // Short strings from an alphabet that makes every UTF-8 state likely: ASCII, escapes, lead
  // bytes of each length with their edge values, continuation bytes, never-valid bytes.
  const std::vector<uint8_t> alphabet = {'a',  '"',  '\\', '\n', 0x00, 0x1f, 0x7f, 0x80, 0x8f,
                                         0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0,
                                         0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4,
                                         0xf5, 0xf8, 0xfe, 0xff};
  std::mt19937 rng(20261130);
  std::uniform_int_distribution<size_t> len(0, 10), pick(0, alphabet.size() - 1);
  int mismatches = 0;
  for (int n = 0; n < 200000 && mismatches < 5; ++n) {
    std::string s(len(rng), '\0');
    for (char& c : s) c = static_cast<char>(alphabet[pick(rng)]);
    const std::string want = Nlohmann(s);
    if (Ours(s) != want) {
      ++mismatches;
      ADD_FAILURE() << testing::PrintToString(s) << ": " << Ours(s) << " != " << want;
    }
  }
}

TEST(JsonLine, ObjectsArraysNumbersAndNestingPrintAsTheOrderedDom) {
  std::string out = "prefix ";  // appends: what was in the string stays
  JsonLine j(&out);
  j.Str("timestamp", "2026-11-30T20:00:00.000001+0000");
  j.UInt("zero", 0);
  j.UInt("max", std::numeric_limits<uint64_t>::max());
  j.Int("neg", std::numeric_limits<int64_t>::min());
  j.Int("pos", 42);
  j.Bool("t", true);
  j.Bool("f", false);
  j.BeginArray("empty");
  j.EndArray();
  j.BeginObject("nested");
  j.BeginObject("deeper");
  j.EndObject();
  j.BeginArray("list");
  j.UIntItem(1);
  j.StrItem("two\t");
  j.BeginObjectItem();
  j.Str("k\"ey", "v");
  j.EndObject();
  j.BeginObjectItem();
  j.EndObject();
  j.EndArray();
  j.Str("after", "x");
  j.EndObject();
  j.Str("last", "\xff");
  j.End();

  Json want;
  want["timestamp"] = "2026-11-30T20:00:00.000001+0000";
  want["zero"] = 0u;
  want["max"] = std::numeric_limits<uint64_t>::max();
  want["neg"] = std::numeric_limits<int64_t>::min();
  want["pos"] = 42;
  want["t"] = true;
  want["f"] = false;
  want["empty"] = Json::array();
  want["nested"]["deeper"] = Json::object();
  Json& list = want["nested"]["list"];
  list.push_back(1u);
  list.push_back("two\t");
  list.push_back(Json{{"k\"ey", "v"}});
  list.push_back(Json::object());
  want["nested"]["after"] = "x";
  want["last"] = "\xff";
  EXPECT_EQ(out, "prefix " + want.dump(-1, ' ', false, Json::error_handler_t::replace));
}

TEST(JsonLine, AnEmptyRecordIsAnEmptyObject) {
  std::string out;
  JsonLine(&out).End();
  EXPECT_EQ(out, "{}");
}

}  // namespace
}  // namespace fs::output
