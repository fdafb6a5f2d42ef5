// byte_test, byte_jump, byte_extract, isdataat, and startswith/endswith on the packet payload:
// crafted payloads with the verdict Suricata 7.0.10 gives (detect-bytetest.c, detect-bytejump.c,
// detect-byte-extract.c, detect-isdataat.c and its content inspection), through the scanner
// (Hyperscan pre-filter, then the confirmation program) with both compile plans, and the same
// keywords on an app-layer buffer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dataplane/scan/scanner.h"
#include "patterns/pattern_set.h"
#include "tests/unit/scanner_test_util.h"

namespace fs::scan {
namespace {

using patterns::PayloadMode;
using testing::Build;
using ::testing::ElementsAre;
using testing::Harness;
using testing::Hex;
using ::testing::IsEmpty;
using testing::kExactPlans;
using testing::TestPacket;
using namespace std::string_literals;

using ByteCase = testing::VerdictCase;

class ByteKeywordTest : public ::testing::TestWithParam<ByteCase> {};

TEST_P(ByteKeywordTest, ScannerGivesSuricatasVerdict) {
  testing::ExpectVerdicts(
      GetParam(), [](const patterns::PatternSet&, Harness& h, TestPacket& p, bool expected) {
        EXPECT_EQ(!h.Sids(p).empty(), expected) << "payload " << Hex(p.payload());
      });
}

INSTANTIATE_TEST_SUITE_P(
    ByteTest, ByteKeywordTest,
    ::testing::Values(
        ByteCase{"big_endian_by_default",
                 "byte_test:2,=,0x0102,1;",
                 {{"\x00\x01\x02"s, true}, {"\x00\x02\x01"s, false}, {"\x00\x01"s, false}},
                 PayloadMode::kConfirm},
        ByteCase{"little_endian",
                 "byte_test:2,=,0x0102,1,little;",
                 {{"\x00\x02\x01"s, true}, {"\x00\x01\x02"s, false}},
                 PayloadMode::kConfirm},
        ByteCase{"relative_to_the_content_end",
                 R"(content:"AB"; byte_test:1,>,5,1,relative;)",
                 {{"AB.\x06", true},
                  {"AB.\x05", false},
                  {"AB\x09", false},
                  {"xxAB.\x07", true},
                  // The content is not retried for a byte keyword (no WITHIN_NEXT): the first
                  // "AB" fails and Suricata gives up although the second would match.
                  {"AB.\x01"
                   "AB.\x09",
                   false}},
                 PayloadMode::kConfirm},
        ByteCase{"negative_relative_offset",
                 R"(content:"ZZ"; byte_test:1,=,0x41,-3,relative;)",
                 {{"AZZ", true}, {"BZZ", false}, {"ZZ", false}},
                 PayloadMode::kConfirm},
        ByteCase{"negated_equal",
                 "byte_test:1,!=,5,0;",
                 {{"\x05", false}, {"\x06", true}},
                 PayloadMode::kConfirm},
        ByteCase{"negated_and",
                 "byte_test:1,!&,0x80,0;",
                 {{"\x7f", true}, {"\x80", false}, {"\xff", false}},
                 PayloadMode::kConfirm},
        ByteCase{"less_or_equal",
                 "byte_test:1,<=,5,0;",
                 {{"\x05", true}, {"\x06", false}, {"\x00"s, true}},
                 PayloadMode::kConfirm},
        ByteCase{"greater_or_equal",
                 "byte_test:1,>=,5,0;",
                 {{"\x05", true}, {"\x04", false}},
                 PayloadMode::kConfirm},
        ByteCase{"xor_is_different",
                 "byte_test:1,^,5,0;",
                 {{"\x05", false}, {"\x04", true}},
                 PayloadMode::kConfirm},
        ByteCase{"bitmask_shifts_by_its_trailing_zeros",
                 "byte_test:2,=,0x0a,0,bitmask 0x0ff0;",
                 {{"\x00\xa0"s, true}, {"\xf0\xa5"s, true}, {"\x00\xb0"s, false}},
                 PayloadMode::kConfirm},
        ByteCase{"string_decimal",
                 "byte_test:3,>,99,0,string,dec;",
                 {{"100", true}, {"099", false}, {"abc", false}},
                 PayloadMode::kConfirm},
        ByteCase{"string_without_base_is_strtoull_automatic",
                 "byte_test:4,=,16,0,string;",
                 {{"0x10", true}, {"020x", true}, {"0x11", false}},
                 PayloadMode::kConfirm}),
    [](const ::testing::TestParamInfo<ByteCase>& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    ByteJump, ByteKeywordTest,
    ::testing::Values(
        ByteCase{"relative_jump_then_within",
                 R"(content:"L"; byte_jump:1,0,relative; content:"X"; within:1;)",
                 {{"L\x02"
                   "abX",
                   true},
                  {"L\x02"
                   "aXb",
                   false},
                  {"L\x09X", false},
                  // The next content is relative (within) to the first: "L" is retried at its
                  // next occurrence after the jump from the first one failed.
                  {"L\x05L\x00X"s, true}},
                 PayloadMode::kConfirm},
        ByteCase{"from_beginning_with_post_offset",
                 R"(byte_jump:1,0,from_beginning,post_offset 2; content:"Q"; within:1;)",
                 {{"\x01xxQ", true}, {"\x01xQx", false}},
                 PayloadMode::kConfirm},
        ByteCase{"multiplier",
                 R"(byte_jump:1,0,multiplier 2; content:"Q"; within:1;)",
                 {{"\x02"
                   "abcdQ",
                   true},
                  {"\x02"
                   "abQ",
                   false}},
                 PayloadMode::kConfirm},
        ByteCase{"align_to_four",
                 R"(byte_jump:1,0,align; content:"Q"; within:1;)",
                 {{"\x02"
                   "abcdQ",
                   true},
                  {"\x02"
                   "aQ",
                   false}},
                 PayloadMode::kConfirm},
        ByteCase{"from_end_back_two",
                 R"(byte_jump:0,0,from_end,post_offset -2; content:"QQ"; within:2;)",
                 {{"abQQ", true}, {"abQQx", false}},
                 PayloadMode::kConfirm},
        ByteCase{"past_the_end_fails",
                 R"(content:"L"; byte_jump:1,0,relative; isdataat:0,relative;)",
                 {{"L\x01x", true}, {"L\x02x", false}},
                 PayloadMode::kConfirm},
        ByteCase{"string_jump_counts_the_digits_read",
                 R"(byte_jump:3,0,string,dec; content:"Q"; within:1;)",
                 {{"2\x00\x00Q"s, true}, {"002..Q", true}, {"002.Q", false}},
                 PayloadMode::kConfirm}),
    [](const ::testing::TestParamInfo<ByteCase>& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    ByteExtract, ByteKeywordTest,
    ::testing::Values(
        ByteCase{"value_of_byte_test",
                 "byte_extract:1,0,n; byte_test:1,=,n,1;",
                 {{"\x05\x05", true}, {"\x05\x06", false}},
                 PayloadMode::kConfirm},
        ByteCase{"offset_and_depth_of_a_content",
                 R"(byte_extract:1,0,off; content:"X"; offset:off; depth:1;)",
                 {{"\x03"
                   "abX",
                   true},
                  {"\x03"
                   "aXb",
                   false},
                  {"\x03"
                   "abcX",
                   false}},
                 PayloadMode::kConfirm},
        ByteCase{"distance_of_a_content",
                 R"(byte_extract:1,0,skip; content:"X"; distance:skip;)",
                 {{"\x02"
                   "abX",
                   true},
                  {"\x03"
                   "abX",
                   false}},
                 PayloadMode::kConfirm},
        ByteCase{"string_value_for_isdataat",
                 "byte_extract:2,0,n,string,dec; isdataat:n,relative;",
                 {{"10" + std::string(10, 'x'), true}, {"10" + std::string(9, 'x'), false}},
                 PayloadMode::kConfirm},
        ByteCase{"multiplier",
                 "byte_extract:1,0,n,multiplier 2; byte_test:1,=,n,1;",
                 {{"\x03\x06", true}, {"\x03\x03", false}},
                 PayloadMode::kConfirm},
        ByteCase{"align",
                 "byte_extract:1,0,n,align 4; byte_test:1,=,n,1;",
                 {{"\x05\x08", true}, {"\x05\x05", false}},
                 PayloadMode::kConfirm},
        ByteCase{"byte_jump_by_the_variable",
                 R"(byte_extract:1,0,n; byte_jump:1,n,from_beginning; content:"Q"; within:1;)",
                 {{"\x01\x02Qx", true}, {"\x01\x03Qx", false}},
                 PayloadMode::kConfirm}),
    [](const ::testing::TestParamInfo<ByteCase>& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Isdataat, ByteKeywordTest,
    ::testing::Values(ByteCase{"absolute",
                               "isdataat:3;",
                               {{"abcd", true}, {"abc", false}},
                               PayloadMode::kConfirm},
                      ByteCase{"absolute_negated",
                               "isdataat:!3;",
                               {{"abc", true}, {"abcd", false}},
                               PayloadMode::kConfirm},
                      ByteCase{"relative",
                               R"(content:"ab"; isdataat:2,relative;)",
                               {{"abcd", true}, {"abc", false}, {"xabcd", true}},
                               PayloadMode::kConfirm},
                      ByteCase{"relative_negated",
                               R"(content:"ab"; isdataat:!2,relative,rawbytes;)",
                               {{"abc", true}, {"abcd", false}},
                               PayloadMode::kConfirm},
                      ByteCase{"after_a_pcre_that_is_retried",
                               R"(pcre:"/A./"; byte_test:1,=,0x42,0,relative;)",
                               // pcre is retried at its next match when the relative keyword fails
                               {{"AxCAyB", true}, {"AxCAyC", false}},
                               PayloadMode::kConfirm}),
    [](const ::testing::TestParamInfo<ByteCase>& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Edges, ByteKeywordTest,
    ::testing::Values(ByteCase{"startswith_on_the_payload",
                               R"(content:"GET"; startswith;)",
                               {{"GET /", true}, {" GET /", false}},
                               PayloadMode::kExact},
                      ByteCase{
                          "endswith_on_the_payload",
                          R"(content:"END"; endswith;)",
                          {{"xxEND", true}, {"xxENDx", false}, {"ENDxEND", true}, {"END", true}},
                          PayloadMode::kConfirm},
                      ByteCase{"isdataat_not_1_relative_is_endswith",
                               R"(content:"END"; isdataat:!1,relative;)",
                               {{"xxEND", true}, {"xxENDx", false}},
                               PayloadMode::kConfirm},
                      ByteCase{"startswith_and_endswith_is_the_whole_payload",
                               R"(content:"ab"; startswith; endswith;)",
                               {{"ab", true}, {"abab", false}, {"xab", false}},
                               PayloadMode::kConfirm}),
    [](const ::testing::TestParamInfo<ByteCase>& info) { return info.param.name; });

TEST(ByteKeywordPlanTest, OnlyByteKeywordsRunOnEveryPayloadPacket) {
  auto set = Build(R"(alert tcp any any -> any any (msg:"m"; isdataat:!1; sid:1;))");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->plan(0).mode, PayloadMode::kConfirm);
  EXPECT_EQ(set->stats().confirm_unfiltered, 1u);
  EXPECT_FALSE(set->plan(0).ip_only);
  EXPECT_FALSE(set->plan(0).stream);
}

// The inspection points into its arguments: pass literals or strings that outlive it.
patterns::AppInspect Uri(std::string_view uri) {
  patterns::AppInspect in;
  in.proto = patterns::AppProto::kHttp;
  in.to_server = true;
  in.Set(patterns::Buffer::kHttpMethod, "GET");
  in.Set(patterns::Buffer::kHttpUri, uri);
  in.Set(patterns::Buffer::kHttpUriRaw, uri);
  return in;
}

TEST(ByteKeywordAppTest, StickyBufferIsTheInspectedBuffer) {
  auto set = Build(R"(
alert http any any -> any any (msg:"id"; http.uri; content:"/id="; byte_test:3,>,100,0,relative,string,dec; sid:1;)
alert http any any -> any any (msg:"long"; http.uri; content:"/q"; startswith; isdataat:10; sid:2;)
alert http any any -> any any (msg:"legacy"; content:"/j"; http_uri; byte_jump:1,0,relative,string; content:"Z"; within:1; http_uri; sid:3;))");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->stats().app_rules, 3u);
  Harness h(*set);
  TestPacket pkt("", "10.20.1.50", 40000, "203.0.113.66", 80);
  EXPECT_THAT(h.AppSids(pkt, Uri("/id=200")), ElementsAre(1));
  EXPECT_THAT(h.AppSids(pkt, Uri("/id=050")), IsEmpty());
  EXPECT_THAT(h.AppSids(pkt, Uri("/id=2")), IsEmpty());             // fewer than 3 bytes left
  EXPECT_THAT(h.AppSids(pkt, Uri("/q?aaaaaaaa")), ElementsAre(2));  // isdataat: of the uri
  EXPECT_THAT(h.AppSids(pkt, Uri("/q?aaaaaaa")), IsEmpty());
  EXPECT_THAT(h.AppSids(pkt, Uri("/j2abZ")), ElementsAre(3));
  EXPECT_THAT(h.AppSids(pkt, Uri("/j2aZb")), IsEmpty());
  // The packet payload is not the uri.
  TestPacket raw("GET /id=200 HTTP/1.1\r\n\r\n", "10.20.1.50", 40000, "203.0.113.66", 80);
  EXPECT_THAT(h.Sids(raw), IsEmpty());
}

}  // namespace
}  // namespace fs::scan
