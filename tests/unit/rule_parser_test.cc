// Rule parser: the accepted subset and its AST, the exact errors (reason, line, column) for what
// Suricata would refuse, skip warnings for what the sensor does not evaluate yet, files,
// directories, variables, classification and strict mode.
#include "patterns/rule_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "patterns/pattern_set.h"

namespace fs::patterns {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kFile = "test.rules";

ParseResult Parse(const std::string& text, const ParseOptions& options = ParseOptions{}) {
  return ParseRules(text, kFile, options);
}

bool Contains(const IpSet& set, const char* addr) {
  return set.Contains(ToU128(*IpAddr::Parse(addr)));
}

std::string Dump(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const Diagnostic& d : ds) out += d.ToString() + "\n";
  return out;
}

// A directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (std::string("fs_rule_parser_") + info->name() + "_" + std::to_string(getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) const {
    const std::filesystem::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// ---- valid rules ------------------------------------------------------------------------------

struct ContentSpec {
  std::string bytes;
  bool nocase;
};

struct ValidCase {
  const char* name;
  std::string text;
  Protocol protocol;
  Direction direction;
  std::string msg;
  uint32_t sid, gid, rev;
  std::string classtype;
  uint32_t priority, severity;
  std::vector<ContentSpec> contents;
};

class ValidRuleTest : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ValidRuleTest, ParsesIntoAst) {
  const ValidCase& c = GetParam();
  ParseResult r = Parse(c.text);
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  ASSERT_TRUE(r.warnings.empty()) << Dump(r.warnings);
  ASSERT_EQ(r.rules.size(), 1u);
  const Rule& rule = r.rules[0];
  EXPECT_EQ(rule.protocol, c.protocol);
  EXPECT_EQ(rule.direction, c.direction);
  EXPECT_EQ(rule.msg, c.msg);
  EXPECT_EQ(rule.sid, c.sid);
  EXPECT_EQ(rule.gid, c.gid);
  EXPECT_EQ(rule.rev, c.rev);
  EXPECT_EQ(rule.classtype, c.classtype);
  EXPECT_EQ(rule.priority, c.priority);
  EXPECT_EQ(rule.severity, c.severity);
  ASSERT_EQ(rule.contents.size(), c.contents.size());
  for (size_t i = 0; i < c.contents.size(); ++i) {
    EXPECT_EQ(rule.contents[i].bytes, c.contents[i].bytes) << "content " << i;
    EXPECT_EQ(rule.contents[i].nocase, c.contents[i].nocase) << "content " << i;
  }
  EXPECT_EQ(rule.file, kFile);
  EXPECT_EQ(rule.pos, (Position{1, 1}));
}

INSTANTIATE_TEST_SUITE_P(
    Table, ValidRuleTest,
    ::testing::Values(
        ValidCase{"minimal",
                  R"(alert tcp any any -> any any (msg:"m"; sid:1;))",
                  Protocol::kTcp,
                  Direction::kToDst,
                  "m",
                  1,
                  1,
                  0,
                  "",
                  0,
                  3,
                  {}},
        ValidCase{
            "hex_and_text",
            R"(alert tcp any any -> any 445 (msg:"smb"; content:"|5c 00|A|00|"; sid:2; rev:3;))",
            Protocol::kTcp,
            Direction::kToDst,
            "smb",
            2,
            1,
            3,
            "",
            0,
            3,
            {{std::string("\x5c\x00"
                          "A\x00",
                          4),
              false}}},
        ValidCase{
            "escapes",
            R"(alert udp any any -> any any (msg:"a \"quoted\"\; msg"; content:"a\"b\;c\\d\:e"; nocase; sid:3;))",
            Protocol::kUdp,
            Direction::kToDst,
            "a \"quoted\"; msg",
            3,
            1,
            0,
            "",
            0,
            3,
            {{"a\"b;c\\d:e", true}}},
        ValidCase{"hex_commas_and_case",
                  R"(alert ip any any <> any any (msg:"x"; content:"|0D0a,FF|x|3A|"; sid:4;))",
                  Protocol::kIp,
                  Direction::kBoth,
                  "x",
                  4,
                  1,
                  0,
                  "",
                  0,
                  3,
                  {{std::string("\x0d\x0a\xff"
                                "x:"),
                    false}}},
        ValidCase{
            "several_contents_and_modifiers",
            R"(alert tcp any any -> any any (msg:"two"; content:"GET "; fast_pattern; content:"/gate.php"; nocase; fast_pattern:only; sid:5;))",
            Protocol::kTcp,
            Direction::kToDst,
            "two",
            5,
            1,
            0,
            "",
            0,
            3,
            {{"GET ", false}, {"/gate.php", true}}},
        ValidCase{
            "meta_options",
            R"(alert icmp any any -> any any (msg:"meta"; reference:url,example.com/a; reference:cve,2017-0144; metadata:created_at 2024_01_01, deployment Perimeter; classtype:trojan-activity; priority:2; gid:3; sid:6; rev:1;))",
            Protocol::kIcmp,
            Direction::kToDst,
            "meta",
            6,
            3,
            1,
            "trojan-activity",
            2,
            2,
            {}},
        ValidCase{
            "case_insensitive_words_and_blanks",
            "ALERT TCP ANY ANY -> ANY ANY ( msg : \"sp\" ; Content : \"x\" ; NOCASE ; sid : 7 ; )",
            Protocol::kTcp,
            Direction::kToDst,
            "sp",
            7,
            1,
            0,
            "",
            0,
            3,
            {{"x", true}}},
        ValidCase{"icmpv6_and_ipv6",
                  R"(alert icmpv6 2001:db8::/32 any -> [::1,fe80::/10] any (msg:"v6"; sid:8;))",
                  Protocol::kIcmpv6,
                  Direction::kToDst,
                  "v6",
                  8,
                  1,
                  0,
                  "",
                  0,
                  3,
                  {}}),
    [](const ::testing::TestParamInfo<ValidCase>& info) { return info.param.name; });

// Addresses as numbers (header checks, indicator ranges): big-endian, IPv4 in ::ffff:0:0/96.
TEST(AddressNumbersTest, BytesReadBigEndianAndRoundTrip) {
  EXPECT_TRUE(ToU128(*IpAddr::Parse("10.0.0.1")) == ((U128{0xffff} << 32) | 0x0a000001));
  const U128 v6 = ToU128(*IpAddr::Parse("2001:db8::102:304"));
  EXPECT_EQ(static_cast<uint64_t>(v6 >> 64), 0x20010db800000000ull);
  EXPECT_EQ(static_cast<uint64_t>(v6), 0x0000000001020304ull);
  for (const char* a : {"::", "::1", "255.255.255.255", "fe80::1:2:3:4", "ffff:ffff::"}) {
    EXPECT_EQ(FromU128(ToU128(*IpAddr::Parse(a))), *IpAddr::Parse(a)) << a;
  }
  EXPECT_TRUE(ToU128(*IpAddr::Parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")) == kU128Max);
}

TEST(RuleParserTest, KeepsEveryOptionWithPositions) {
  ParseResult r = Parse(R"(alert tcp any any -> any any (msg:"m"; content:"ab"; nocase; sid:1;))");
  ASSERT_EQ(r.rules.size(), 1u) << Dump(r.errors);
  const Rule& rule = r.rules[0];
  ASSERT_EQ(rule.options.size(), 4u);
  EXPECT_EQ(rule.options[1].name, "content");
  EXPECT_EQ(rule.options[1].value, "\"ab\"");
  EXPECT_EQ(rule.options[1].pos, (Position{1, 40}));
  EXPECT_EQ(rule.options[1].value_pos, (Position{1, 48}));
  EXPECT_FALSE(rule.options[2].has_value);
  EXPECT_EQ(rule.contents[0].pos, (Position{1, 40}));
  EXPECT_EQ(rule.contents[0].option_index, 1u);
}

// A block request rides in metadata (docs/enforcement.md): the side and TTL are parsed, the
// metadata entries stay as written (EVE alert.metadata, Suricata loads the same file).
TEST(RuleParserTest, BlockMetadataGivesSideAndTtl) {
  ParseResult r = Parse(
      R"(alert tcp any any -> any any (msg:"m"; metadata:created_at 2024, flowsentry_block both, flowsentry_block_ttl 600; sid:1;))"
      "\n"
      R"(alert tcp any any -> any any (msg:"m"; metadata:flowsentry_block dst; sid:2;))"
      "\n"
      R"(alert tcp any any -> any any (msg:"m"; metadata:deployment Perimeter; sid:3;))");
  ASSERT_EQ(r.rules.size(), 3u) << Dump(r.errors);
  EXPECT_EQ(r.rules[0].block_side, Rule::kBlockSrc | Rule::kBlockDst);
  EXPECT_EQ(r.rules[0].block_ttl, 600u);
  EXPECT_EQ(r.rules[0].metadata.size(), 3u);
  EXPECT_EQ(r.rules[1].block_side, Rule::kBlockDst);
  EXPECT_EQ(r.rules[1].block_ttl, 0u);
  EXPECT_EQ(r.rules[2].block_side, 0);
}

TEST(RuleParserTest, ContentModifiersKeepWhatWasWritten) {
  ParseResult r = Parse(
      // depth counts from offset, in either order (Suricata's cd->depth = offset + depth)
      "alert tcp any any -> any any (msg:\"a\"; content:\"ab\"; offset:2; depth:4; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"b\"; content:\"ab\"; depth:4; offset:0x2; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"c\"; content:\"a\"; content:\"bc\"; distance:-1; "
      "within:3; sid:3;)\n"
      "alert tcp any any -> any any (msg:\"d\"; content:!\"AB\"; nocase; rawbytes; sid:4;)\n"
      "alert tcp any any -> any any (msg:\"e\"; content:\"abc\"; fast_pattern:1,2; content:\"d\"; "
      "fast_pattern:only; content:\"e\"; sid:5;)\n"
      // Suricata reads distance/within with strtol and ignores what follows the number.
      "alert tcp any any -> any any (msg:\"f\"; content:\"a\"; content:\"b\"; within:5x; sid:6;)\n"
      // offset 65000 + depth 1000 wraps in Suricata's 16-bit cd->depth
      "alert tcp any any -> any any (msg:\"g\"; content:\"a\"; offset:65000; depth:1000; "
      "sid:7;)\n");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  ASSERT_TRUE(r.warnings.empty()) << Dump(r.warnings);
  ASSERT_EQ(r.rules.size(), 7u);
  for (int i : {0, 1}) {
    const Content& c = r.rules[i].contents[0];
    EXPECT_TRUE(c.has_offset && c.has_depth) << i;
    EXPECT_EQ(c.offset, 2u) << i;
    EXPECT_EQ(c.depth, 4u) << i;
    EXPECT_EQ(c.depth_end(), 6u) << i;
    EXPECT_FALSE(c.relative()) << i;
  }
  const Content& rel = r.rules[2].contents[1];
  EXPECT_TRUE(rel.has_distance && rel.has_within);
  EXPECT_EQ(rel.distance, -1);
  EXPECT_EQ(rel.within, 3);
  EXPECT_EQ(rel.depth_end(), 0u);
  const Content& neg = r.rules[3].contents[0];
  EXPECT_TRUE(neg.negated && neg.nocase && neg.rawbytes);
  EXPECT_EQ(neg.bytes, "AB");
  const std::vector<Content>& fp = r.rules[4].contents;
  EXPECT_TRUE(fp[0].fast_pattern && fp[0].fast_pattern_chop && !fp[0].fast_pattern_only);
  EXPECT_EQ(fp[0].fast_pattern_offset, 1u);
  EXPECT_EQ(fp[0].fast_pattern_length, 2u);
  EXPECT_TRUE(fp[1].fast_pattern && fp[1].fast_pattern_only);
  EXPECT_FALSE(fp[2].fast_pattern);
  EXPECT_EQ(r.rules[5].contents[1].within, 5);
  EXPECT_EQ(r.rules[6].contents[0].depth_end(), (65000 + 1000) % 65536);
}

TEST(RuleParserTest, ByteKeywordsKeepTheirFields) {
  ParseResult r = Parse(
      R"(alert tcp any any -> any any (msg:"m"; content:"|18 03|"; depth:2; byte_test:1, !&, 0x80 ,0,relative,bitmask 0xf0; byte_jump:2,1,relative,little,multiplier 2,post_offset -1,align; byte_extract:2,0,len,relative,string,hex; content:"x"; distance:len; within:len; isdataat:!len,relative,rawbytes; sid:1;)
alert tcp any any -> any any (msg:"m"; byte_test:4,<=,100,-2,string,dec; byte_jump:4,0,from_end; isdataat:10; content:"end"; isdataat:!1,relative; sid:2;)
alert tcp any any -> any any (msg:"m"; content:"GET "; startswith; content:"x"; byte_test:1,!,0,0,relative; sid:3;)
alert http any any -> any any (msg:"m"; http.uri; content:"/a"; byte_test:1,=,0x41,0,relative; isdataat:2; sid:4;)
alert http any any -> any any (msg:"m"; content:"/a"; http_uri; byte_jump:1,0,relative; sid:5;))");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  ASSERT_TRUE(r.warnings.empty()) << Dump(r.warnings);
  ASSERT_EQ(r.rules.size(), 5u);

  const Rule& a = r.rules[0];
  ASSERT_EQ(a.byte_ops.size(), 4u);
  ASSERT_EQ(a.payload.size(), 6u);
  EXPECT_EQ(a.payload[1].kind, PayloadItem::Kind::kByte);
  const ByteOp& t = a.byte_ops[0];
  EXPECT_EQ(t.kind, ByteOp::Kind::kTest);
  EXPECT_EQ(t.nbytes, 1u);
  EXPECT_TRUE(t.negated);
  EXPECT_EQ(t.op, ByteOp::Op::kAnd);
  EXPECT_EQ(t.value, 0x80u);
  EXPECT_TRUE(t.relative);
  EXPECT_TRUE(t.bitmask);
  EXPECT_EQ(t.bitmask_value, 0xf0u);
  EXPECT_EQ(t.bitmask_shift, 4);
  EXPECT_EQ(t.buffer, Buffer::kPayload);
  EXPECT_EQ(t.pos.column, 68u);
  EXPECT_TRUE(a.contents[0].byte_relative_next);  // the relative byte_test refers to it
  const ByteOp& j = a.byte_ops[1];
  EXPECT_EQ(j.kind, ByteOp::Kind::kJump);
  EXPECT_EQ(j.offset, 1);
  EXPECT_TRUE(j.little && j.align && j.relative);
  EXPECT_EQ(j.multiplier, 2);
  EXPECT_EQ(j.post_offset, -1);
  const ByteOp& e = a.byte_ops[2];
  EXPECT_EQ(e.kind, ByteOp::Kind::kExtract);
  EXPECT_EQ(e.name, "len");
  EXPECT_TRUE(e.string);
  EXPECT_EQ(e.base, 16);
  EXPECT_EQ(a.contents[1].distance_var, 2);
  EXPECT_EQ(a.contents[1].within_var, 2);
  EXPECT_TRUE(a.contents[1].has_distance && a.contents[1].has_within);
  const ByteOp& d = a.byte_ops[3];
  EXPECT_EQ(d.kind, ByteOp::Kind::kIsdataat);
  EXPECT_TRUE(d.negated && d.relative && d.rawbytes);
  EXPECT_EQ(d.offset_var, 2);

  const Rule& b = r.rules[1];
  ASSERT_EQ(b.byte_ops.size(), 3u);
  EXPECT_EQ(b.byte_ops[0].op, ByteOp::Op::kLe);
  EXPECT_EQ(b.byte_ops[0].offset, -2);
  EXPECT_EQ(b.byte_ops[0].base, 10);
  EXPECT_TRUE(b.byte_ops[1].from_end);
  EXPECT_EQ(b.byte_ops[2].offset, 10);
  EXPECT_FALSE(b.byte_ops[2].relative);
  // isdataat:!1,relative right after a content is that content's endswith (Suricata).
  EXPECT_TRUE(b.contents[0].endswith);

  const Rule& c = r.rules[2];
  EXPECT_TRUE(c.contents[0].startswith);
  EXPECT_EQ(c.contents[0].depth, 4);
  EXPECT_TRUE(c.byte_ops[0].negated);  // "!" alone: not equal
  EXPECT_EQ(c.byte_ops[0].op, ByteOp::Op::kEq);

  // In a sticky buffer, or relative to a content moved there: the byte keyword inspects that
  // buffer; an absolute one in a sticky buffer too.
  const Rule& h = r.rules[3];
  EXPECT_EQ(h.byte_ops[0].buffer, Buffer::kHttpUri);
  EXPECT_EQ(h.byte_ops[1].buffer, Buffer::kHttpUri);
  EXPECT_EQ(r.rules[4].byte_ops[0].buffer, Buffer::kHttpUri);
}

TEST(RuleParserTest, PcreKeepsRegexModifiersAndOrder) {
  ParseResult r = Parse(
      "alert tcp any any -> any any (msg:\"a\"; content:\"x\"; pcre:\"/b\\;c/smiR\"; "
      "content:\"y\"; distance:0; sid:1;)\n"
      // unquoted and negated; a quote inside the regex (Suricata strips only the outer quotes)
      "alert tcp any any -> any any (msg:\"b\"; pcre:!/x[\"]y/GiBO; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"c\"; pcre:\"/(%22|\")x\\/y/xAE\"; sid:3;)\n"
      "pass tcp any any -> any any (msg:\"d\"; content:\"ok\"; sid:4;)\n");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  ASSERT_TRUE(r.warnings.empty()) << Dump(r.warnings);
  ASSERT_EQ(r.rules.size(), 4u);
  const Rule& a = r.rules[0];
  ASSERT_EQ(a.pcres.size(), 1u);
  EXPECT_EQ(a.pcres[0].regex, "b\\;c");
  EXPECT_EQ(a.pcres[0].modifiers, "smiR");
  EXPECT_TRUE(a.pcres[0].relative && a.pcres[0].dotall && a.pcres[0].multiline &&
              a.pcres[0].caseless);
  EXPECT_FALSE(a.pcres[0].negated);
  ASSERT_EQ(a.payload.size(), 3u);
  EXPECT_EQ(a.payload[0].kind, PayloadItem::Kind::kContent);
  EXPECT_EQ(a.payload[1].kind, PayloadItem::Kind::kPcre);
  EXPECT_EQ(a.payload[2].kind, PayloadItem::Kind::kContent);
  EXPECT_EQ(a.payload[2].index, 1u);
  EXPECT_EQ(a.pcres[0].pos, (Position{1, 53}));
  const Pcre& b = r.rules[1].pcres[0];
  EXPECT_TRUE(b.negated && b.ungreedy && b.caseless);
  EXPECT_EQ(b.regex, "x[\"]y");
  const Pcre& c = r.rules[2].pcres[0];
  EXPECT_EQ(c.regex, "(%22|\")x\\/y");
  EXPECT_TRUE(c.extended && c.anchored && c.dollar_endonly);
  EXPECT_EQ(r.rules[3].action, Action::kPass);
}

// ---- invalid rules: exact message, line and column -------------------------------------------

struct InvalidCase {
  const char* name;
  std::string text;
  uint32_t line, column;
  std::string message;
};

class InvalidRuleTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidRuleTest, ReportsReasonAndPlace) {
  const InvalidCase& c = GetParam();
  ParseResult r = Parse(c.text);
  EXPECT_TRUE(r.rules.empty());
  EXPECT_TRUE(r.warnings.empty()) << Dump(r.warnings);
  ASSERT_EQ(r.errors.size(), 1u) << Dump(r.errors);
  const Diagnostic& d = r.errors[0];
  EXPECT_EQ(d.file, kFile);
  EXPECT_EQ(d.message, c.message);
  EXPECT_EQ(d.line, c.line);
  EXPECT_EQ(d.column, c.column);
  EXPECT_EQ(r.stats.rejected, 1u);
}

// Column helper for readability: the rules below start with this 30-byte header.
constexpr const char* kHead = "alert tcp any any -> any any (";

INSTANTIATE_TEST_SUITE_P(
    Table, InvalidRuleTest,
    ::testing::Values(
        InvalidCase{
            "unterminated_quote", std::string(kHead) + R"(msg:"oops; sid:1;))", 1, 35,
            R"(unterminated quote in the value of 'msg' (a ';' inside quotes must be written \;))"},
        InvalidCase{
            "semicolon_inside_content", std::string(kHead) + R"(msg:"m"; content:"a;b"; sid:1;))",
            1, 48,
            R"(unterminated quote in the value of 'content' (a ';' inside quotes must be written \;))"},
        InvalidCase{"missing_semicolon_at_end", std::string(kHead) + R"(msg:"m"; sid:1))", 1, 45,
                    "missing ';' after option 'sid'"},
        InvalidCase{"block_side_typo",
                    std::string(kHead) + R"(msg:"m"; metadata:flowsentry_block source; sid:1;))", 1,
                    49, "metadata flowsentry_block: expected src, dst or both, got 'source'"},
        InvalidCase{
            "block_ttl_not_a_number",
            std::string(kHead) +
                R"(msg:"m"; metadata:flowsentry_block src, flowsentry_block_ttl 1h; sid:1;))",
            1, 49, "metadata flowsentry_block_ttl: expected seconds from 1 to 31536000, got '1h'"},
        InvalidCase{"block_ttl_alone",
                    std::string(kHead) + R"(msg:"m"; metadata:flowsentry_block_ttl 60; sid:1;))", 1,
                    49, "metadata flowsentry_block_ttl without flowsentry_block"},
        InvalidCase{"missing_semicolon_after_quote",
                    std::string(kHead) + R"(msg:"m"; content:"abc" nocase; sid:1;))", 1, 54,
                    "unexpected 'nocase' after the closing quote of the content value (missing "
                    "';'?)"},
        InvalidCase{"bad_hex", std::string(kHead) + R"(msg:"m"; content:"|4g|"; sid:1;))", 1, 51,
                    "bad hex character 'g' in content"},
        InvalidCase{"odd_hex", std::string(kHead) + R"(msg:"m"; content:"|414|"; sid:1;))", 1, 53,
                    "incomplete hex byte in content (odd number of hex digits)"},
        InvalidCase{"unterminated_hex", std::string(kHead) + R"(msg:"m"; content:"x|41"; sid:1;))",
                    1, 50, "unterminated hex section in content (missing '|')"},
        InvalidCase{
            "bad_escape", std::string(kHead) + R"(msg:"m"; content:"a\x41"; sid:1;))", 1, 50,
            R"(bad escape '\x' in content (only \" \; \\ \: are allowed; write other bytes as |hex|))"},
        InvalidCase{"empty_content", std::string(kHead) + R"(msg:"m"; content:""; sid:1;))", 1, 48,
                    "empty content"},
        InvalidCase{"unquoted_content", std::string(kHead) + R"(msg:"m"; content:abc; sid:1;))", 1,
                    48, "content value must be in double quotes"},
        InvalidCase{"missing_sid", std::string(kHead) + R"(msg:"m"; content:"a";))", 1, 52,
                    "rule has no sid"},
        InvalidCase{"missing_msg", std::string(kHead) + "sid:1;)", 1, 37, "rule has no msg"},
        InvalidCase{"sid_zero", std::string(kHead) + R"(msg:"m"; sid:0;))", 1, 44,
                    "bad sid '0' (expected a number from 1 to 4294967294)"},
        InvalidCase{"sid_not_a_number", std::string(kHead) + R"(msg:"m"; sid:12a;))", 1, 44,
                    "bad sid '12a' (expected a number from 1 to 4294967294)"},
        InvalidCase{"duplicate_option", std::string(kHead) + R"(msg:"m"; sid:1; sid:2;))", 1, 47,
                    "duplicate 'sid' option"},
        InvalidCase{"unknown_keyword", std::string(kHead) + R"(msg:"m"; conten:"a"; sid:1;))", 1,
                    40, "unknown rule keyword 'conten'"},
        InvalidCase{"nocase_without_content", std::string(kHead) + R"(msg:"m"; nocase; sid:1;))", 1,
                    40, "'nocase' needs a preceding content"},
        InvalidCase{"nocase_with_value",
                    std::string(kHead) + R"(msg:"m"; content:"a"; nocase:1; sid:1;))", 1, 60,
                    "'nocase' takes no value"},
        InvalidCase{"bad_classtype", std::string(kHead) + R"(msg:"m"; classtype:bad type; sid:1;))",
                    1, 50,
                    "bad classtype 'bad type' (letters, digits, '-' and '_', starting with a "
                    "letter)"},
        InvalidCase{"bad_reference", std::string(kHead) + R"(msg:"m"; reference:nocomma; sid:1;))",
                    1, 50, "bad reference 'nocomma' (expected type,value)"},
        InvalidCase{"missing_close_paren", std::string(kHead) + R"(msg:"m"; sid:1;)", 1, 46,
                    "rule options must end with ')'"},
        InvalidCase{"stray_semicolon", std::string(kHead) + R"(msg:"m";; sid:1;))", 1, 39,
                    "empty option (stray ';')"},
        InvalidCase{"option_without_colon", std::string(kHead) + R"(msg "m"; sid:1;))", 1, 34,
                    "bad option name 'msg \"m\"' (missing ':' or ';'?)"},
        InvalidCase{"unknown_action", R"(alrt tcp any any -> any any (msg:"m"; sid:1;))", 1, 1,
                    "unknown action 'alrt' (expected alert, pass, drop, reject, rejectsrc, "
                    "rejectdst or rejectboth)"},
        InvalidCase{"unknown_protocol", R"(alert tcpp any any -> any any (msg:"m"; sid:1;))", 1, 7,
                    "unknown protocol 'tcpp'"},
        InvalidCase{"bad_address", R"(alert tcp 10.0.0.300 any -> any any (msg:"m"; sid:1;))", 1,
                    11, "bad address '10.0.0.300'"},
        InvalidCase{"bad_prefix", R"(alert tcp any any -> [10.0.0.0/33] any (msg:"m"; sid:1;))", 1,
                    23, "bad prefix length in '10.0.0.0/33' (at most 32)"},
        InvalidCase{"bad_port", R"(alert tcp any 70000 -> any any (msg:"m"; sid:1;))", 1, 15,
                    "bad port '70000' (expected 0-65535, N:M, any, $VAR or a [group])"},
        InvalidCase{"reversed_port_range",
                    R"(alert tcp any any -> any [80,90:80] (msg:"m"; sid:1;))", 1, 30,
                    "port range '90:80' is reversed"},
        InvalidCase{"negated_everything", R"(alert tcp !any any -> any any (msg:"m"; sid:1;))", 1,
                    11, "address '!any' matches no address"},
        InvalidCase{"group_cancels_itself",
                    R"(alert tcp any [80,!80] -> any any (msg:"m"; sid:1;))", 1, 15,
                    "port '[80,!80]' matches no port"},
        InvalidCase{"empty_group", R"(alert tcp [] any -> any any (msg:"m"; sid:1;))", 1, 12,
                    "empty address group '[]'"},
        InvalidCase{"unbalanced_group", R"(alert tcp [10.0.0.1 any -> any any (msg:"m"; sid:1;))",
                    1, 11, "unbalanced '[' in the source address: missing ']'"},
        InvalidCase{"undefined_variable", R"(alert tcp $NOPE any -> any any (msg:"m"; sid:1;))", 1,
                    11, "undefined address variable $NOPE"},
        InvalidCase{"port_variable_as_address",
                    R"(alert tcp $HTTP_PORTS any -> any any (msg:"m"; sid:1;))", 1, 11,
                    "undefined address variable $HTTP_PORTS"},
        InvalidCase{"bad_direction", R"(alert tcp any any => any any (msg:"m"; sid:1;))", 1, 19,
                    "bad direction '=>' (expected -> or <>)"},
        InvalidCase{"incomplete_header", R"(alert tcp any any -> any (msg:"m"; sid:1;))", 1, 26,
                    "incomplete rule header: missing the destination port"},
        InvalidCase{"no_options", "alert tcp any any -> any any", 1, 29,
                    "missing rule options: expected '(' after the destination port"},
        InvalidCase{"extra_header_field", R"(alert tcp any any -> any any any (msg:"m"; sid:1;))",
                    1, 30,
                    "unexpected 'any' after the destination port (expected '(' to start the rule "
                    "options)"},
        InvalidCase{"control_character", std::string(kHead) + "msg:\"a\x01\"; sid:1;)", 1, 37,
                    "control character 0x01 in rule"},
        InvalidCase{"indented_rule_columns",
                    "   alert tcp any any -> any 99999 (msg:\"m\"; sid:1;)", 1, 29,
                    "bad port '99999' (expected 0-65535, N:M, any, $VAR or a [group])"},
        // A skipped rule must still be one Suricata would load: the error wins over the skip.
        InvalidCase{"error_wins_over_skip",
                    std::string(kHead) + R"(msg:"m"; byte_math:1,>,2,0; content:"|4|"; sid:1;))", 1,
                    70, "incomplete hex byte in content (odd number of hex digits)"},
        // Content modifiers and pcre: each of these is refused by `suricata -T` too.
        InvalidCase{"offset_twice",
                    std::string(kHead) + R"(msg:"m"; content:"abc"; offset:1; offset:2; sid:1;))",
                    1, 65, "'offset' is already set for this content"},
        InvalidCase{"depth_smaller_than_content",
                    std::string(kHead) + R"(msg:"m"; content:"abcd"; depth:3; sid:1;))", 1, 62,
                    "depth 3 is smaller than the content length 4 (the content could never match)"},
        InvalidCase{
            "within_smaller_than_content",
            std::string(kHead) + R"(msg:"m"; content:"a"; content:"bcd"; within:2; sid:1;))", 1, 75,
            "within 2 is smaller than the content length 3 (the content could never match)"},
        InvalidCase{"offset_on_relative_content",
                    std::string(kHead) +
                        R"(msg:"m"; content:"a"; content:"b"; distance:1; offset:2; sid:1;))",
                    1, 78,
                    "'offset' cannot be combined with distance or within on the same content "
                    "(absolute and relative)"},
        InvalidCase{"distance_on_absolute_content",
                    std::string(kHead) + R"(msg:"m"; content:"ab"; depth:4; distance:1; sid:1;))",
                    1, 63,
                    "'distance' cannot be combined with offset or depth on the same content "
                    "(relative and absolute)"},
        InvalidCase{"negative_offset",
                    std::string(kHead) + R"(msg:"m"; content:"a"; offset:-1; sid:1;))", 1, 60,
                    "bad offset '-1' (expected a number from 0 to 65535)"},
        InvalidCase{"offset_too_large",
                    std::string(kHead) + R"(msg:"m"; content:"a"; offset:70000; sid:1;))", 1, 60,
                    "bad offset '70000' (expected a number from 0 to 65535)"},
        InvalidCase{
            "distance_out_of_range",
            std::string(kHead) + R"(msg:"m"; content:"a"; content:"b"; distance:2000000; sid:1;))",
            1, 75, "bad distance '2000000' (expected a number from -1048576 to 1048576)"},
        InvalidCase{
            "undefined_byte_variable",
            std::string(kHead) + R"(msg:"m"; content:"a"; offset:start; sid:1;))", 1, 60,
            "'offset' names the variable 'start' but no byte_extract or byte_math defines one"},
        InvalidCase{"byte_test_too_few_fields",
                    std::string(kHead) + R"(msg:"m"; byte_test:1,>,2; sid:1;))", 1, 50,
                    "bad byte_test value '1,>,2' (expected bytes, operator, value, offset, then up to 6 options)"},
        InvalidCase{"byte_test_bad_operator",
                    std::string(kHead) + R"(msg:"m"; byte_test:1,=>,2,0; sid:1;))", 1, 52,
                    "bad byte_test operator '=>' (expected =, <, >, <=, >=, & or ^, optionally after !)"},
        InvalidCase{"byte_test_more_than_8_bytes",
                    std::string(kHead) + R"(msg:"m"; byte_test:9,=,2,0; sid:1;))", 1, 50,
                    "byte_test cannot convert more than 8 bytes without 'string'"},
        InvalidCase{"byte_test_more_than_23_string_bytes",
                    std::string(kHead) + R"(msg:"m"; byte_test:24,=,2,0,string,dec; sid:1;))", 1, 50,
                    "byte_test cannot convert more than 23 bytes with 'string'"},
        InvalidCase{"byte_test_base_without_string",
                    std::string(kHead) + R"(msg:"m"; byte_test:2,=,2,0,hex; sid:1;))", 1, 50,
                    "byte_test: a base (dec, hex, oct) needs 'string'"},
        InvalidCase{"byte_test_unknown_option",
                    std::string(kHead) + R"(msg:"m"; byte_test:2,=,2,0,relativ; sid:1;))", 1, 58,
                    "unknown byte_test option 'relativ'"},
        InvalidCase{"byte_test_bad_bitmask",
                    std::string(kHead) + R"(msg:"m"; byte_test:2,=,2,0,bitmask zz; sid:1;))", 1, 58,
                    "bad byte_test bitmask 'bitmask zz' (expected bitmask and a 32-bit number)"},
        InvalidCase{"byte_test_unknown_variable",
                    std::string(kHead) + R"(msg:"m"; byte_test:2,=,len,0; sid:1;))", 1, 54,
                    "'byte_test' names the variable 'len' but no byte_extract or byte_math defines one"},
        InvalidCase{"byte_test_dce_with_little",
                    std::string(kHead) + R"(msg:"m"; byte_test:2,=,1,0,little,dce; sid:1;))", 1, 50,
                    "byte_test with dce cannot use string, big, little, a base, from_beginning or from_end"},
        InvalidCase{"byte_jump_both_ends",
                    std::string(kHead) + R"(msg:"m"; byte_jump:2,0,from_end,from_beginning; sid:1;))", 1, 50,
                    "'from_end' and 'from_beginning' cannot be used in the same byte_jump"},
        InvalidCase{"byte_jump_bad_multiplier",
                    std::string(kHead) + R"(msg:"m"; byte_jump:2,0,multiplier 0; sid:1;))", 1, 54,
                    "bad byte_jump multiplier '0' (expected a number from 1 to 65535)"},
        InvalidCase{"byte_jump_offset_out_of_range",
                    std::string(kHead) + R"(msg:"m"; byte_jump:2,70000; sid:1;))", 1, 52,
                    "bad byte_jump offset '70000' (expected a number from -65535 to 65535)"},
        InvalidCase{"byte_extract_string_with_endian",
                    std::string(kHead) + R"(msg:"m"; byte_extract:2,0,n,string,big; sid:1;))", 1, 53,
                    "byte_extract cannot have an endianness (big, little, dce) with 'string'"},
        InvalidCase{"byte_extract_bad_align",
                    std::string(kHead) + R"(msg:"m"; byte_extract:2,0,n,align 3; sid:1;))", 1, 59,
                    "bad byte_extract align 'align 3' (expected align 2 or align 4)"},
        InvalidCase{"byte_extract_base_before_string",
                    std::string(kHead) + R"(msg:"m"; byte_extract:2,0,n,hex,string; sid:1;))", 1, 59,
                    "byte_extract: base 'hex' needs 'string' before it"},
        InvalidCase{"byte_extract_too_long_decimal",
                    std::string(kHead) + R"(msg:"m"; byte_extract:21,0,n,string,dec; sid:1;))", 1, 53,
                    "byte_extract cannot convert more than 20 bytes with 'string' in this base"},
        InvalidCase{"byte_extract_option_twice",
                    std::string(kHead) + R"(msg:"m"; byte_extract:2,0,n,relative,relative; sid:1;))", 1, 68,
                    "byte_extract option 'relative' given more than once"},
        InvalidCase{"byte_extract_missing_name",
                    std::string(kHead) + R"(msg:"m"; byte_extract:2,0; sid:1;))", 1, 53,
                    "bad byte_extract value '2,0' (expected bytes, offset, variable name, then up to 5 options)"},
        InvalidCase{"isdataat_rawbytes_without_relative",
                    std::string(kHead) + R"(msg:"m"; isdataat:5,rawbytes; sid:1;))", 1, 49,
                    "bad isdataat '5,rawbytes' (expected [!]N or a byte_extract variable, then ,relative and ,rawbytes)"},
        InvalidCase{"isdataat_too_large",
                    std::string(kHead) + R"(msg:"m"; isdataat:70000; sid:1;))", 1, 49,
                    "bad isdataat '70000' (expected a number from 0 to 65535)"},
        InvalidCase{"isdataat_unknown_variable",
                    std::string(kHead) + R"(msg:"m"; isdataat:len,relative; sid:1;))", 1, 49,
                    "'isdataat' names the variable 'len' but no byte_extract or byte_math defines one"},
        InvalidCase{"startswith_after_offset_on_payload",
                    std::string(kHead) + R"(msg:"m"; content:"a"; offset:1; startswith; sid:1;))", 1, 63,
                    "'startswith' cannot be combined with offset"},
        InvalidCase{"modifier_without_content",
                    std::string(kHead) + R"(msg:"m"; offset:3; sid:1;))", 1, 40,
                    "'offset' needs a preceding content"},
        InvalidCase{"distance_twice",
                    std::string(kHead) +
                        R"(msg:"m"; content:"a"; content:"b"; distance:1; distance:2; sid:1;))",
                    1, 78, "'distance' is already set for this content"},
        InvalidCase{"rawbytes_twice",
                    std::string(kHead) + R"(msg:"m"; content:"a"; rawbytes; rawbytes; sid:1;))", 1,
                    63, "'rawbytes' is already set for this content"},
        InvalidCase{"rawbytes_with_value",
                    std::string(kHead) + R"(msg:"m"; content:"a"; rawbytes:1; sid:1;))", 1, 62,
                    "'rawbytes' takes no value"},
        InvalidCase{"two_fast_patterns",
                    std::string(kHead) +
                        R"(msg:"m"; content:"a"; fast_pattern; content:"b"; fast_pattern; sid:1;))",
                    1, 80, "'fast_pattern' can be used on only one content in a rule"},
        InvalidCase{"fast_pattern_twice_on_one_content",
                    std::string(kHead) +
                        R"(msg:"m"; content:"a"; fast_pattern:only; fast_pattern; sid:1;))",
                    1, 72, "'fast_pattern' is already set for this content"},
        InvalidCase{
            "fast_pattern_only_with_offset",
            std::string(kHead) + R"(msg:"m"; content:"a"; offset:1; fast_pattern:only; sid:1;))", 1,
            76,
            "'fast_pattern:only' cannot be used on a negated content or with offset, depth, "
            "distance or within"},
        InvalidCase{
            "fast_pattern_only_then_depth",
            std::string(kHead) + R"(msg:"m"; content:"a"; fast_pattern:only; depth:3; sid:1;))", 1,
            72, "'depth' cannot be used on a content with fast_pattern:only"},
        InvalidCase{"fast_pattern_chop_too_long",
                    std::string(kHead) + R"(msg:"m"; content:"abc"; fast_pattern:2,2; sid:1;))", 1,
                    68, "fast_pattern offset + length (4) exceeds the content length (3)"},
        InvalidCase{"fast_pattern_bad_value",
                    std::string(kHead) + R"(msg:"m"; content:"abc"; fast_pattern:first; sid:1;))",
                    1, 68, "bad fast_pattern value 'first' (expected only or offset,length)"},
        InvalidCase{
            "relative_to_fast_pattern_only",
            std::string(kHead) +
                R"(msg:"m"; content:"a"; fast_pattern:only; content:"b"; distance:0; sid:1;))",
            1, 85,
            "'distance' refers to the previous content, which has fast_pattern:only (relative "
            "keywords cannot refer to it)"},
        InvalidCase{"negated_fast_pattern_then_distance",
                    std::string(kHead) +
                        R"(msg:"m"; content:"a"; content:!"b"; fast_pattern; distance:1; sid:1;))",
                    1, 81, "'distance' cannot be used on a negated content with fast_pattern"},
        InvalidCase{"fast_pattern_on_negated_relative",
                    std::string(kHead) +
                        R"(msg:"m"; content:"a"; content:!"b"; within:4; fast_pattern; sid:1;))",
                    1, 77,
                    "'fast_pattern' cannot be used on a negated content with offset, depth, "
                    "distance or within"},
        InvalidCase{"pcre_unknown_modifier",
                    std::string(kHead) + R"(msg:"m"; pcre:"/a/z"; sid:1;))", 1, 49,
                    "unknown pcre modifier 'z'"},
        InvalidCase{"pcre_does_not_compile",
                    std::string(kHead) + R"(msg:"m"; pcre:"/a(b/"; sid:1;))", 1, 46,
                    "pcre2 compile of \"/a(b/\" failed at offset 3: missing closing parenthesis"},
        InvalidCase{"pcre_relative_without_preceding_match",
                    std::string(kHead) + R"(msg:"m"; pcre:"/a/R"; sid:1;))", 1, 40,
                    "pcre with R (relative) needs a preceding content or pcre to be relative to"},
        InvalidCase{"pcre_without_slashes", std::string(kHead) + R"(msg:"m"; pcre:"abc"; sid:1;))",
                    1, 46, "bad pcre value 'abc' (expected \"/regex/modifiers\")"},
        InvalidCase{"pcre_two_buffers", std::string(kHead) + R"(msg:"m"; pcre:"/a/UH"; sid:1;))", 1,
                    50, "pcre modifiers 'U' and 'H' both select a buffer (only one is allowed)"},
        InvalidCase{"pcre_rawbytes_then_buffer",
                    std::string(kHead) + R"(msg:"m"; pcre:"/a/BU"; sid:1;))", 1, 50,
                    "pcre modifier 'U' is inconsistent with 'B'"},
        InvalidCase{
            "pcre_missing_closing_quote", std::string(kHead) + R"(msg:"m"; pcre:"/a/i; sid:1;))", 1,
            45,
            "unterminated quote in the value of 'pcre' (a ';' inside quotes must be written \\;)"}),
    [](const ::testing::TestParamInfo<InvalidCase>& info) { return info.param.name; });

#if FS_HAVE_CONDITIONS
// Suricata's DetectContentPMATCHValidateCallback: contents that need more bytes than dsize allows.
INSTANTIATE_TEST_SUITE_P(
    Dsize, InvalidRuleTest,
    ::testing::Values(
        InvalidCase{
            "dsize_smaller_than_contents",
            std::string(kHead) + R"(msg:"m"; content:"abcdef"; dsize:3; sid:1;))", 1, 58,
            "the contents need 6 bytes but dsize allows at most 3 (the rule could never match)"},
        InvalidCase{
            "dsize_smaller_than_offset",
            std::string(kHead) + R"(msg:"m"; content:"ab"; offset:5; dsize:<6; sid:1;))", 1, 64,
            "the contents need 7 bytes but dsize allows at most 6 (the rule could never match)"}),
    [](const ::testing::TestParamInfo<InvalidCase>& info) { return info.param.name; });
#endif

#if FS_HAVE_CONDITIONS
// flags, itype, icode (detect-tcp-flags.c, Suricata's u8 grammar) and target (detect-target.c).
INSTANTIATE_TEST_SUITE_P(
    PacketKeywords, InvalidRuleTest,
    ::testing::Values(
        InvalidCase{"flags_unknown_letter", std::string(kHead) + R"(msg:"m"; flags:Q; sid:1;))", 1,
                    46,
                    "flags: cannot parse \"Q\": 'Q' is not a flag (expected [+*!]FLAGS[,IGNORED] "
                    "with the upper-case flags S A F R P U C E, 1, 2 or 0, e.g. flags:S,12 or "
                    "flags:!R)"},
        InvalidCase{"flags_lower_case", std::string(kHead) + R"(msg:"m"; flags:s; sid:1;))", 1, 46,
                    "flags: cannot parse \"s\": 's' is not a flag (expected [+*!]FLAGS[,IGNORED] "
                    "with the upper-case flags S A F R P U C E, 1, 2 or 0, e.g. flags:S,12 or "
                    "flags:!R)"},
        InvalidCase{"flags_modifier_only", std::string(kHead) + R"(msg:"m"; flags:!; sid:1;))", 1,
                    46,
                    "flags: cannot parse \"!\": no flags (expected [+*!]FLAGS[,IGNORED] with the "
                    "upper-case flags S A F R P U C E, 1, 2 or 0, e.g. flags:S,12 or flags:!R)"},
        InvalidCase{"flags_two_modifiers", std::string(kHead) + R"(msg:"m"; flags:+S*; sid:1;))",
                    1, 46,
                    "flags: cannot parse \"+S*\": only one modifier (+, * or !) is allowed "
                    "(expected [+*!]FLAGS[,IGNORED] with the upper-case flags S A F R P U C E, 1, 2 "
                    "or 0, e.g. flags:S,12 or flags:!R)"},
        InvalidCase{"flags_zero_in_mask", std::string(kHead) + R"(msg:"m"; flags:S,0; sid:1;))", 1,
                    46,
                    "flags: cannot parse \"S,0\": '0' is not a flag the mask can ignore "
                    "(expected [+*!]FLAGS[,IGNORED] with the upper-case flags S A F R P U C E, 1, 2 "
                    "or 0, e.g. flags:S,12 or flags:!R)"},
        InvalidCase{"itype_out_of_range",
                    "alert icmp any any -> any any (msg:\"m\"; itype:>300; sid:1;)", 1, 47,
                    "itype: cannot parse \">300\" (expected N, <N, <=N, >N, >=N, !N or N<>M with "
                    "M > N + 1, each within 0-255; a bound that can never match is refused)"},
        InvalidCase{"itype_never_matches",
                    "alert icmp any any -> any any (msg:\"m\"; itype:>255; sid:1;)", 1, 47,
                    "itype: cannot parse \">255\" (expected N, <N, <=N, >N, >=N, !N or N<>M with "
                    "M > N + 1, each within 0-255; a bound that can never match is refused)"},
        InvalidCase{"icode_empty_range",
                    "alert icmp any any -> any any (msg:\"m\"; icode:3<>4; sid:1;)", 1, 47,
                    "icode: cannot parse \"3<>4\" (expected N, <N, <=N, >N, >=N, !N or N<>M with "
                    "M > N + 1, each within 0-255; a bound that can never match is refused)"},
        InvalidCase{"target_unknown", std::string(kHead) + R"(msg:"m"; target:foo; sid:1;))", 1,
                    47, "target: expected src_ip or dest_ip, got 'foo'"},
        InvalidCase{"target_conflict",
                    std::string(kHead) + R"(msg:"m"; target:src_ip; target:dest_ip; sid:1;))", 1,
                    62, "target: conflicts with the rule's other target option"}),
    [](const ::testing::TestParamInfo<InvalidCase>& info) { return info.param.name; });

TEST(RuleParserTest, PacketKeywordsTcpPktAndTarget) {
  ParseResult r = Parse(
      R"(alert tcp-pkt any any -> any any (msg:"p"; content:"x"; flags:+PA,12; sid:1;)
alert icmp any any -> any any (msg:"i"; itype:8; icode:<3; target:dest_ip; sid:2;)
alert tcp any any -> any any (msg:"t"; tcp.flags:!R; target: src_ip ; sid:3;))");
  ASSERT_TRUE(r.errors.empty()) << Dump(r.errors);
  ASSERT_TRUE(r.warnings.empty()) << Dump(r.warnings);
  ASSERT_EQ(r.rules.size(), 3u);
  const Rule& p = r.rules[0];
  EXPECT_EQ(p.protocol, Protocol::kTcp);
  EXPECT_TRUE(p.packet_only);
  EXPECT_EQ(p.target, Rule::Target::kNone);
  EXPECT_TRUE(p.conditions->tcp_flags.set);
  EXPECT_EQ(p.conditions->tcp_flags.modifier, TcpFlagsTest::Modifier::kPlus);
  EXPECT_EQ(p.conditions->tcp_flags.flags, 0x18);
  EXPECT_EQ(p.conditions->tcp_flags.keep, 0x3f);
  const Rule& i = r.rules[1];
  EXPECT_FALSE(i.packet_only);
  EXPECT_EQ(i.target, Rule::Target::kDst);
  EXPECT_TRUE(i.conditions->itype.set);
  EXPECT_EQ(i.conditions->itype.lo, 8);
  EXPECT_EQ(i.conditions->icode.mode, UintMode::kLt);
  EXPECT_EQ(r.rules[2].target, Rule::Target::kSrc);
  EXPECT_EQ(r.rules[2].conditions->tcp_flags.modifier, TcpFlagsTest::Modifier::kNot);
  EXPECT_EQ(r.rules[2].conditions->tcp_flags.flags, 0x04);
}
#endif

// ---- skipped rules ---------------------------------------------------------------------------

struct SkipCase {
  const char* name;
  std::string text;
  std::string keyword;
  uint32_t column;
  std::string message;
};

class SkippedRuleTest : public ::testing::TestWithParam<SkipCase> {};

TEST_P(SkippedRuleTest, NamesTheFirstUnsupportedThing) {
  const SkipCase& c = GetParam();
  ParseResult r = Parse(c.text);
  EXPECT_TRUE(r.rules.empty());
  EXPECT_TRUE(r.errors.empty()) << Dump(r.errors);
  ASSERT_EQ(r.warnings.size(), 1u) << Dump(r.warnings);
  EXPECT_EQ(r.warnings[0].keyword, c.keyword);
  EXPECT_EQ(r.warnings[0].message, c.message);
  EXPECT_EQ(r.warnings[0].line, 1u);
  EXPECT_EQ(r.warnings[0].column, c.column);
  EXPECT_EQ(r.stats.skipped, 1u);
  EXPECT_EQ(r.stats.rules_seen, 1u);

  // --strict turns the same skip into an error.
  ParseOptions strict;
  strict.strict = true;
  ParseResult s = Parse(c.text, strict);
  EXPECT_TRUE(s.rules.empty());
  EXPECT_TRUE(s.warnings.empty());
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_EQ(s.errors[0].keyword, c.keyword);
  EXPECT_THAT(s.errors[0].message, HasSubstr("(rejected in strict mode)"));
}

INSTANTIATE_TEST_SUITE_P(
    Table, SkippedRuleTest,
    ::testing::Values(
        SkipCase{"pcre_capture",
                 std::string(kHead) + R"(msg:"m"; pcre:"/(a)b/,flow:name"; sid:1;))",
                 "pcre/capture", 40,
                 "pcre capture into a pkt/flow variable is not supported yet; rule skipped"},
        SkipCase{"byte_test_dce_first_of_several",
                 std::string(kHead) +
                     R"(msg:"m"; byte_test:1,>,2,0,relative,dce; content:"a"; byte_math:x; sid:1;))",
                 "byte_test:dce", 40,
                 "'byte_test' with dce (DCE/RPC byte order) is not supported yet; rule skipped"},
        SkipCase{"byte_jump_dce", std::string(kHead) + R"(msg:"m"; byte_jump:4,0,dce; sid:1;))",
                 "byte_jump:dce", 40,
                 "'byte_jump' with dce (DCE/RPC byte order) is not supported yet; rule skipped"},
        SkipCase{"byte_extract_dce",
                 std::string(kHead) + R"(msg:"m"; byte_extract:4,0,n,dce; sid:1;))",
                 "byte_extract:dce", 40,
                 "'byte_extract' with dce (DCE/RPC byte order) is not supported yet; rule skipped"},
        SkipCase{"offset_from_byte_math",
                 std::string(kHead) +
                     R"(msg:"m"; byte_math:bytes 1,offset 0,oper +,rvalue 1,result len; content:"a"; offset:len; sid:1;))",
                 "byte_math", 40, "keyword 'byte_math' is not supported yet; rule skipped"},
        SkipCase{"byte_extract_variable_in_another_buffer",
                 R"(alert http any any -> any any (msg:"m"; http.uri; content:"a"; byte_extract:1,0,len,relative; http.host; content:"b"; offset:len; sid:1;))",
                 "byte_extract:other-buffer", 106,
                 "the byte_extract variable 'len' is used in another buffer than the one it is "
                 "extracted from; not supported yet; rule skipped"},
        SkipCase{"app_layer_protocol_not_parsed",
                 R"(alert smtp any any -> any any (msg:"m"; content:"a"; sid:1;))", "proto:smtp", 7,
                 "protocol 'smtp' is not supported yet; rule skipped"},
        SkipCase{"tcp_stream", R"(alert tcp-stream any any -> any any (msg:"m"; sid:1;))",
                 "proto:tcp-stream", 7, "protocol 'tcp-stream' is not supported yet; rule skipped"},
        SkipCase{"drop_action",
                 R"(drop tcp any any -> any any (msg:"m"; flow:established; sid:1;))",
                 "action:drop", 1, "action 'drop' is not supported yet; rule skipped"}),
    [](const ::testing::TestParamInfo<SkipCase>& info) { return info.param.name; });

// ---- files: comments, continuation lines, duplicate sids, directories -------------------------

TEST(RuleParserTest, CommentsBlankLinesAndContinuations) {
  const std::string text =
      "# a comment\n"
      "\n"
      "   # an indented comment\r\n"
      "alert tcp any any -> any any (msg:\"first\"; \\\n"
      "    content:\"abc\"; \\\n"
      "    sid:1;)\n"
      "alert tcp any any -> any any (msg:\"second\"; sid:2;)\r\n"
      "alert tcp any any -> any any (msg:\"third\"; \\\n"
      "  sid:0;)\n";
  ParseResult r = Parse(text);
  ASSERT_EQ(r.rules.size(), 2u) << Dump(r.errors);
  EXPECT_EQ(r.rules[0].msg, "first");
  EXPECT_EQ(r.rules[0].pos, (Position{4, 1}));
  EXPECT_EQ(r.rules[0].contents[0].pos, (Position{5, 5}));
  EXPECT_EQ(r.rules[0].options[2].pos, (Position{6, 5}));
  EXPECT_EQ(r.rules[1].pos, (Position{7, 1}));
  EXPECT_EQ(r.stats.rules_seen, 3u);
  // The error in a continued rule points at the physical line and column.
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(),
            "test.rules:9:7: bad sid '0' (expected a number from 1 to 4294967294)");
}

TEST(RuleParserTest, FileEndingInsideAContinuationIsAnError) {
  ParseResult r = Parse(
      "alert tcp any any -> any any (msg:\"m\"; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"m\"; \\\n");
  EXPECT_EQ(r.rules.size(), 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(),
            "test.rules:2:1: file ends inside a rule continued with a trailing '\\'");
}

TEST(RuleParserTest, DuplicateSidNamesBothPlaces) {
  ParseResult r = Parse(
      "alert tcp any any -> any any (msg:\"a\"; sid:5;)\n"
      "alert tcp any any -> any any (msg:\"b\"; gid:2; sid:5;)\n"  // other gid: fine
      "\n"
      "alert udp any any -> any any (msg:\"c\"; sid:5; rev:2;)\n");
  ASSERT_EQ(r.rules.size(), 2u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(),
            "test.rules:4:40: duplicate sid 5 (gid 1): first defined at test.rules:1");
}

TEST(RuleParserTest, DirectoryLoadsRulesFilesInSortedOrder) {
  TempDir dir;
  dir.Write("b.rules", "alert tcp any any -> any any (msg:\"b\"; sid:2;)\n");
  dir.Write("a.rules", "alert tcp any any -> any any (msg:\"a\"; sid:1;)\n");
  dir.Write("c.rules", "alert tcp any any -> any any (msg:\"c\"; sid:1;)\n");
  dir.Write("notes.txt", "this is not a rule file\n");
  std::filesystem::create_directories(std::filesystem::path(dir.path()) / "sub.rules.d");
  ParseResult r = LoadRules({dir.path()}, ParseOptions{});
  EXPECT_EQ(r.stats.files, 3u);
  ASSERT_EQ(r.rules.size(), 2u);
  EXPECT_EQ(r.rules[0].msg, "a");
  EXPECT_EQ(r.rules[1].msg, "b");
  EXPECT_EQ(r.rules[0].file, dir.path() + "/a.rules");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(), dir.path() +
                                        "/c.rules:1:40: duplicate sid 1 (gid 1): first "
                                        "defined at " +
                                        dir.path() + "/a.rules:1");
}

TEST(RuleParserTest, MissingPathIsAnError) {
  ParseResult r = LoadRules({"/nonexistent/flowsentry.rules"}, ParseOptions{});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, "/nonexistent/flowsentry.rules");
  EXPECT_THAT(r.errors[0].message, HasSubstr("cannot read"));
}

// ---- variables and address/port expressions ---------------------------------------------------

TEST(RuleParserTest, DefaultVariablesAndNegatedGroups) {
  ParseResult r = Parse(
      "alert tcp $EXTERNAL_NET any -> $HOME_NET $HTTP_PORTS (msg:\"a\"; sid:1;)\n"
      "alert tcp [10.0.0.0/8, !10.1.0.0/16, ![10.2.0.0/16,10.3.0.1]] [1024:,!1500] -> "
      "![$HOME_NET,192.0.2.0/24] [$FILE_DATA_PORTS,!110] (msg:\"b\"; sid:2;)\n"
      "alert tcp 192.0.2.1-192.0.2.10 !$SHELLCODE_PORTS -> 10.0.0.0/255.255.0.0 :1023 (msg:\"c\"; "
      "sid:3;)\n");
  ASSERT_EQ(r.rules.size(), 3u) << Dump(r.errors);
  const Rule& a = r.rules[0];
  EXPECT_TRUE(Contains(a.dst_addr.set, "10.20.0.15"));
  EXPECT_TRUE(Contains(a.dst_addr.set, "192.168.1.1"));
  EXPECT_TRUE(Contains(a.dst_addr.set, "172.31.255.255"));
  EXPECT_FALSE(Contains(a.dst_addr.set, "172.32.0.0"));
  EXPECT_TRUE(Contains(a.src_addr.set, "203.0.113.66"));
  EXPECT_FALSE(Contains(a.src_addr.set, "10.20.1.50"));
  EXPECT_TRUE(Contains(a.src_addr.set, "2001:db8::1"));  // negation covers IPv6 too
  EXPECT_TRUE(a.src_port.set.IsAll());
  EXPECT_EQ(PortSetToString(a.dst_port.set), "80");
  EXPECT_EQ(a.src_addr.expr.kind, ExprNode::Kind::kVariable);
  EXPECT_EQ(a.src_addr.expr.text, "EXTERNAL_NET");
  ASSERT_EQ(a.src_addr.expr.children.size(), 1u);

  const Rule& b = r.rules[1];
  EXPECT_TRUE(Contains(b.src_addr.set, "10.9.9.9"));
  EXPECT_FALSE(Contains(b.src_addr.set, "10.1.2.3"));
  EXPECT_FALSE(Contains(b.src_addr.set, "10.2.0.1"));
  EXPECT_FALSE(Contains(b.src_addr.set, "10.3.0.1"));
  EXPECT_TRUE(Contains(b.src_addr.set, "10.3.0.2"));
  EXPECT_FALSE(Contains(b.src_addr.set, "11.0.0.1"));
  EXPECT_EQ(PortSetToString(b.src_port.set), "1024:1499,1501:65535");
  EXPECT_FALSE(Contains(b.dst_addr.set, "10.0.0.1"));
  EXPECT_FALSE(Contains(b.dst_addr.set, "192.0.2.7"));
  EXPECT_TRUE(Contains(b.dst_addr.set, "198.51.100.77"));
  EXPECT_EQ(PortSetToString(b.dst_port.set), "80,143");
  EXPECT_EQ(b.src_addr.expr.kind, ExprNode::Kind::kGroup);
  ASSERT_EQ(b.src_addr.expr.children.size(), 3u);
  EXPECT_TRUE(b.src_addr.expr.children[1].negated);
  EXPECT_EQ(b.src_addr.expr.children[1].text, "10.1.0.0/16");
  EXPECT_EQ(b.src_addr.expr.children[1].pos, (Position{2, 24}));

  const Rule& c = r.rules[2];
  EXPECT_TRUE(Contains(c.src_addr.set, "192.0.2.10"));
  EXPECT_FALSE(Contains(c.src_addr.set, "192.0.2.11"));
  EXPECT_EQ(PortSetToString(c.src_port.set), "80");
  EXPECT_TRUE(c.src_addr.expr.kind == ExprNode::Kind::kValue);
  EXPECT_EQ(PortSetToString(r.rules[2].dst_port.set), "0:1023");
  EXPECT_TRUE(Contains(c.dst_addr.set, "10.0.255.255"));
  EXPECT_FALSE(Contains(c.dst_addr.set, "10.1.0.0"));
}

TEST(RuleParserTest, CallerOverridesVariables) {
  ParseOptions options;
  options.vars.SetAddress("HOME_NET", "[10.20.0.0/16]");
  options.vars.SetPort("HTTP_PORTS", "[80,8080]");
  ParseResult r =
      Parse("alert tcp $EXTERNAL_NET any -> $HOME_NET $HTTP_PORTS (msg:\"a\"; sid:1;)\n", options);
  ASSERT_EQ(r.rules.size(), 1u) << Dump(r.errors);
  EXPECT_TRUE(Contains(r.rules[0].src_addr.set, "10.30.0.1"));  // no longer HOME_NET
  EXPECT_FALSE(Contains(r.rules[0].dst_addr.set, "10.30.0.1"));
  EXPECT_EQ(PortSetToString(r.rules[0].dst_port.set), "80,8080");
}

TEST(RuleParserTest, BadVariableValuesAreReportedWhereUsed) {
  ParseOptions options;
  options.vars.SetAddress("HOME_NET", "[10.0.0.0/8,bogus]");
  options.vars.SetAddress("LOOP_A", "$LOOP_B");
  options.vars.SetAddress("LOOP_B", "[10.0.0.1,$LOOP_A]");
  ParseResult r = Parse(
      "alert tcp any any -> $EXTERNAL_NET any (msg:\"a\"; sid:1;)\n"
      "alert tcp $LOOP_A any -> any any (msg:\"b\"; sid:2;)\n",
      options);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].ToString(),
            "test.rules:1:22: in $EXTERNAL_NET = \"!$HOME_NET\": in $HOME_NET = "
            "\"[10.0.0.0/8,bogus]\": bad address 'bogus'");
  EXPECT_EQ(r.errors[1].line, 2u);
  EXPECT_EQ(r.errors[1].column, 11u);
  EXPECT_EQ(r.errors[1].message,
            "variable $LOOP_A refers to itself ($LOOP_A -> $LOOP_B -> $LOOP_A)");
}

// ---- classification ---------------------------------------------------------------------------

TEST(RuleParserTest, ClassificationGivesCategoryAndSeverity) {
  TempDir dir;
  ParseOptions options;
  options.classification_file = dir.Write("classification.config",
                                          "# comment\n"
                                          "config classification: trojan-activity,A Network "
                                          "Trojan was detected, 1\n"
                                          "config classification: misc, Misc, with, commas ,3\n"
                                          "config classification: broken\n");
  ParseResult r = Parse(
      "alert tcp any any -> any any (msg:\"a\"; classtype:trojan-activity; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"b\"; classtype:trojan-activity; priority:3; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"c\"; classtype:misc; sid:3;)\n"
      "alert tcp any any -> any any (msg:\"d\"; classtype:nosuch; sid:4;)\n"
      "alert tcp any any -> any any (msg:\"e\"; sid:5;)\n",
      options);
  ASSERT_EQ(r.rules.size(), 5u);
  EXPECT_EQ(r.rules[0].category, "A Network Trojan was detected");
  EXPECT_EQ(r.rules[0].severity, 1u);
  EXPECT_EQ(r.rules[1].severity, 3u);  // the priority keyword wins
  EXPECT_EQ(r.rules[2].category, "Misc, with, commas");
  EXPECT_EQ(r.rules[2].severity, 3u);
  EXPECT_EQ(r.rules[3].category, "");
  EXPECT_EQ(r.rules[3].severity, 3u);
  EXPECT_EQ(r.rules[4].severity, 3u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(),
            options.classification_file + ":4: expected 'name,description,priority'");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].ToString(), "test.rules:4:50: unknown classtype 'nosuch' (not in " +
                                          options.classification_file + ")");
  EXPECT_TRUE(r.warnings[0].keyword.empty());
}

TEST(RuleParserTest, StrictModeKeepsSupportedRules) {
  ParseOptions strict;
  strict.strict = true;
  ParseResult r = Parse(
      "alert tcp any any -> any any (msg:\"ok\"; content:\"a\"; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"no\"; content:\"a\"; byte_math:x; sid:2;)\n",
      strict);
  ASSERT_EQ(r.rules.size(), 1u);
  EXPECT_EQ(r.rules[0].sid, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(),
            "test.rules:2:54: keyword 'byte_math' is not supported yet (rejected in strict mode)");
}

// Contents, pcres and byte keywords on the raw payload beside app-layer buffers are accepted (in
// strict mode too): they stay on Buffer::kPayload and the rule is an app rule; a byte_extract
// variable still may not cross from the raw payload into a buffer.
TEST(RuleParserTest, AppRuleWithRawPayloadIsAcceptedInStrictMode) {
  ParseOptions strict;
  strict.strict = true;
  ParseResult r = Parse(
      std::string(kHead) + R"(msg:"m"; content:"a"; pcre:"/a\;b/Ui"; sid:1;))" + "\n" +
          R"(alert http any any -> any any (msg:"m"; flow:to_server; content:"|0d 0a 0d 0a|cmd="; fast_pattern; isdataat:4,relative; http.method; content:"POST"; sid:2;))" +
          "\n" +
          R"(alert http any any -> any any (msg:"m"; content:"a"; byte_extract:1,0,n,relative; http.uri; content:"b"; offset:n; sid:3;))",
      strict);
  ASSERT_EQ(r.rules.size(), 2u) << Dump(r.errors);
  const Rule& a = r.rules[0];
  EXPECT_EQ(a.app_proto, AppProto::kHttp);
  EXPECT_EQ(a.contents[0].buffer, Buffer::kPayload);
  EXPECT_EQ(a.pcres[0].buffer, Buffer::kHttpUri);
  EXPECT_TRUE(a.IsAppRule());
  const Rule& b = r.rules[1];
  EXPECT_EQ(b.contents[0].buffer, Buffer::kPayload);
  EXPECT_TRUE(b.contents[0].fast_pattern);
  EXPECT_EQ(b.byte_ops[0].buffer, Buffer::kPayload);
  EXPECT_EQ(b.contents[1].buffer, Buffer::kHttpMethod);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].keyword, "byte_extract:other-buffer");
  EXPECT_EQ(r.errors[0].line, 3u);
}

// ---- the shipped district pack and the public ET Open set --------------------------------------

TEST(RuleParserTest, DistrictPackLoadsCompletelyInStrictMode) {
  ParseOptions strict;
  strict.strict = true;
  strict.classification_file = std::string(FS_SOURCE_DIR) + "/patterns/packs/classification.config";
  ParseResult r =
      LoadRules({std::string(FS_SOURCE_DIR) + "/patterns/packs/district.rules"}, strict);
  EXPECT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_TRUE(r.warnings.empty()) << Dump(r.warnings);
  std::vector<uint32_t> sids;
  for (const Rule& rule : r.rules) {
    sids.push_back(rule.sid);
    EXPECT_FALSE(rule.category.empty()) << rule.sid;
    EXPECT_FALSE(rule.contents.empty()) << rule.sid;
  }
  EXPECT_THAT(sids, ElementsAre(9000001, 9000010, 9000011, 9000012, 9000020, 9000021, 9000022,
                                9000030, 9000031,
                                // app layer: SMB, DNS, TLS
                                9000013, 9000023, 9000025, 9000024, 9000032, 9000033, 9000034,
                                9000035, 9000040, 9000041, 9000042, 9000043, 9000044));
}

TEST(RuleParserTest, EtOpenParsesWithoutErrors) {
  const std::string dir = "/work/shared/data/rules/et-open";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << dir << " not present (shared data)";
  ParseOptions options;
  options.classification_file = dir + "/classification.config";
  ParseResult r = LoadRules({dir}, options);
  std::map<std::string, size_t> by_keyword;
  for (const Diagnostic& w : r.warnings) ++by_keyword[w.keyword];
  std::printf("ET Open: %zu files, %zu rules seen, %zu accepted, %zu skipped, %zu errors\n",
              r.stats.files, r.stats.rules_seen, r.rules.size(), r.stats.skipped, r.errors.size());
  for (const auto& [keyword, count] : by_keyword) {
    if (count >= 50) std::printf("  skipped %6zu  %s\n", count, keyword.c_str());
  }
  // Suricata 7.0.10 loads every rule of this snapshot (`suricata -T`): none may be an error here.
  EXPECT_TRUE(r.errors.empty()) << Dump(r.errors);
  EXPECT_EQ(r.rules.size() + r.stats.skipped, r.stats.rules_seen);
  const size_t accepted = r.rules.size();
  auto set = PatternSet::Compile(std::move(r.rules), 1);
  ASSERT_TRUE(set.ok()) << set.error().message;
  const CompileStats& st = (*set)->stats();
  std::printf(
      "compiled %zu rules: %zu exact in Hyperscan, %zu confirmed in software (%zu without a "
      "pre-filter), %zu header-only (%zu IP-only), %zu never match; %u + %u expressions%s; "
      "pcre %zu exact, %zu pre-filtered, %zu software only\n",
      st.rules, st.exact, st.confirm, st.confirm_unfiltered, st.header_only, st.ip_only, st.never,
      st.expressions[0], st.expressions[1], st.shared_database ? " (shared)" : "", st.pcre_exact,
      st.pcre_prefilter, st.pcre_software);
  EXPECT_EQ(st.rules, accepted);
  // Every accepted rule compiles as planned: no Hyperscan expression had to be given up.
  EXPECT_EQ(st.demoted, 0u);
  EXPECT_EQ(st.exact + st.confirm + st.header_only + st.never + st.app_rules, st.rules);
  // Issue 8: at least 80% of the alert rules are accepted (sticky buffers and app protocols).
  EXPECT_GE(static_cast<double>(accepted) / static_cast<double>(r.stats.rules_seen), 0.80);
  EXPECT_EQ(st.pcre_exact + st.pcre_prefilter + st.pcre_software, st.pcres);
}

}  // namespace
}  // namespace fs::patterns
