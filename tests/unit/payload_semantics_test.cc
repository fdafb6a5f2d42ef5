// Content and pcre semantics: crafted cases with the outcome Suricata 7.0.10 gives (each checked
// on the scanner, i.e. Hyperscan plus confirmation, and on the reference matcher, a direct port of
// Suricata's inspection), then differential tests on random rules and payloads: the scanner must
// agree with the reference, and for content chains Hyperscan decides alone, with a PCRE2 regex
// written independently from the chain.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "dataplane/scan/reference_matcher.h"
#include "dataplane/scan/scanner.h"
#include "patterns/pcre.h"
#include "tests/unit/scanner_test_util.h"

namespace fs::scan {
namespace {

using patterns::PayloadMode;
using testing::Build;
using testing::Harness;
using testing::Hex;
using testing::TestPacket;
using testing::kExactPlans;
using namespace std::string_literals;

constexpr const char* kSrc = "198.51.100.7";
constexpr const char* kDst = "10.20.0.9";

using SemanticsCase = testing::VerdictCase;

class PayloadSemanticsTest : public ::testing::TestWithParam<SemanticsCase> {};

TEST_P(PayloadSemanticsTest, ScannerAndReferenceGiveSuricatasVerdict) {
  testing::ExpectVerdicts(GetParam(), [](const patterns::PatternSet& set, Harness& h,
                                         TestPacket& p, bool expected) {
    EXPECT_EQ(!h.Sids(p).empty(), expected) << "scanner, payload " << Hex(p.payload());
    EXPECT_EQ(ReferenceRuleMatch(set.rules()[0], p.packet()), expected)
        << "reference, payload " << Hex(p.payload());
  });
}

INSTANTIATE_TEST_SUITE_P(
    Table, PayloadSemanticsTest,
    ::testing::Values(
        SemanticsCase{"offset_starts_the_window",
                      R"(content:"ab"; offset:2;)",
                      {{"xxab", true}, {"xab", false}, {"abxab", true}},
                      PayloadMode::kExact},
        SemanticsCase{"depth_counts_from_offset",
                      R"(content:"ab"; offset:2; depth:3;)",
                      {{"..xab", true}, {"...xab", false}, {"ab", false}},
                      PayloadMode::kExact},
        SemanticsCase{"distance_and_within_bound_the_gap",
                      R"(content:"a"; content:"b"; distance:1; within:2;)",
                      // within counts from where distance puts the window's start
                      {{"a.b", true}, {"ab", false}, {"a..b", true}, {"a...b", false}},
                      PayloadMode::kExact},
        // The first "a" is followed by "-", so Suricata retries the content at its next
        // occurrence.
        SemanticsCase{"later_occurrence_is_retried",
                      R"(content:"a"; content:"b"; within:1;)",
                      {{"a-ab", true}, {"a-a-", false}},
                      PayloadMode::kExact},
        SemanticsCase{
            "chain_head_with_depth",
            R"(content:"GET "; depth:4; content:"/admin"; distance:0; within:12;)",
            {{"GET /x/admin", true}, {" GET /admin", false}, {"GET /aaaaaaa/admin", false}},
            PayloadMode::kExact},
        SemanticsCase{
            "two_chains_are_both_required",
            R"(content:"ab"; content:"c"; distance:0; within:1; content:"x"; content:"y"; within:2;)",
            {{"abc x-y", true}, {"x-y abc", true}, {"abc xy", true}, {"ab-c x-y", false}},
            PayloadMode::kExact},
        SemanticsCase{"negative_distance_looks_back",
                      R"(content:"cd"; content:"bc"; distance:-3; within:2;)",
                      {{"abcd", true}, {"bxcd", false}},
                      PayloadMode::kConfirm},
        // A relative keyword's window ends before it starts once distance goes far below the
        // previous match: Suricata's signed comparison then leaves the whole buffer searchable.
        SemanticsCase{"window_end_before_start_searches_everything",
                      R"(content:"aaaa"; content:"b"; distance:-20; within:1;)",
                      {{"baaaa", true}, {"aaaa", false}},
                      PayloadMode::kConfirm},
        SemanticsCase{"negated_content_anywhere",
                      R"(content:"GET"; content:!"admin";)",
                      {{"GET /x", true}, {"GET /admin", false}, {"admin GET", false}},
                      PayloadMode::kExact},
        SemanticsCase{"negated_content_in_a_window",
                      R"(content:!"x"; depth:2;)",
                      {{"ax", false}, {"aax", true}},
                      PayloadMode::kExact},
        SemanticsCase{"negated_relative_content_is_per_occurrence",
                      R"(content:"a"; content:!"b"; within:1;)",
                      {{"ab", false}, {"abac", true}, {"a", true}},
                      PayloadMode::kConfirm},
        SemanticsCase{"only_negated_content_needs_a_payload",
                      R"(content:!"zz";)",
                      {{"abc", true}, {"azz", false}, {"", false}},
                      PayloadMode::kExact},
        SemanticsCase{"nocase_per_content",
                      R"(content:"AB"; nocase; content:"c"; distance:0;)",
                      {{"xabc", true}, {"xaBc", true}, {"xabC", false}},
                      PayloadMode::kExact},
        // Suricata turns a leading relative content into offset/depth (PropagateLimits).
        SemanticsCase{"leading_relative_content",
                      R"(content:"b"; distance:2; within:2;)",
                      {{"aabb", true}, {"ab", false}, {"aaab", true}, {"aaaab", false}},
                      PayloadMode::kExact},
        // PropagateLimits keeps a negated content's length as the running offset when the
        // negated content has no modifier, so the next relative content may not start before 1.
        SemanticsCase{"propagated_offset_after_a_negated_content",
                      R"(content:!"Ba"; nocase; content:"-|00|B"; nocase; distance:-1; within:5;)",
                      {{"-\0bb\0a"s, false}, {"x-\0b"s, true}},
                      PayloadMode::kConfirm},
        SemanticsCase{"relative_pcre_is_anchored_at_the_previous_match",
                      R"(content:"user="; pcre:"/^[a-z]+\x00/R";)",
                      {{"user=bob\0"s, true}, {"user= bob\0"s, false}, {"user=1 user=ab\0"s, true}},
                      PayloadMode::kConfirm},
        SemanticsCase{"pcre_is_retried_for_a_relative_content",
                      R"(pcre:"/a./"; content:"z"; within:1;)",
                      {{"abacz", true}, {"abac", false}},
                      PayloadMode::kConfirm},
        SemanticsCase{"negated_pcre",
                      R"(content:"a"; pcre:!"/b+c/";)",
                      {{"a", true}, {"abbc", false}},
                      PayloadMode::kExact},
        SemanticsCase{"independent_pcre_in_hyperscan",
                      R"(pcre:"/\d{3}-\d{4}/"; content:"call";)",
                      {{"call 555-1234", true}, {"call 55-1234", false}},
                      PayloadMode::kExact},
        SemanticsCase{"pcre_dollar_before_a_final_newline",
                      R"(pcre:"/end$/"; content:"st";)",
                      {{"st end\n", true}, {"end st", false}},
                      PayloadMode::kConfirm},
        SemanticsCase{"pcre_backreference_prefiltered",
                      R"(pcre:"/(a)\1/";)",
                      {{"xaax", true}, {"xa-a", false}},
                      PayloadMode::kConfirm},
        SemanticsCase{"pcre_modifiers",
                      R"(pcre:"/^A.B$/smi";)",
                      {{"x\na\nb\ny", true}, {"xa\nb", false}},
                      PayloadMode::kExact},
        SemanticsCase{"content_window_shorter_than_content_never_matches",
                      R"(content:"abc"; offset:65000; depth:1000;)",
                      {{"abc", false}},
                      PayloadMode::kNever}),
    [](const ::testing::TestParamInfo<SemanticsCase>& info) { return info.param.name; });

// Suricata gives up a rule's inspection after 3000 steps of its backtracking search
// (detect.inspection-recursion-limit). A chain Hyperscan decides alone has no such limit, so it
// matches where Suricata stops: a documented difference (docs/rules.md).
TEST(PayloadSemanticsTest, RecursionLimitIsADocumentedDifference) {
  auto set =
      Build(R"(alert tcp any any -> any any (msg:"m"; content:"a"; content:"b"; within:1; sid:1;)
alert tcp any any -> any any (msg:"m"; content:"a"; content:"b"; distance:-1; within:2; sid:2;))",
            {}, kExactPlans);
  ASSERT_TRUE(set);
  ASSERT_EQ(set->plan(0).mode, PayloadMode::kExact);
  ASSERT_EQ(set->plan(1).mode, PayloadMode::kConfirm);
  // Each occurrence of "a" is one inspection step of "b": the limit stops at the 3000th "a".
  const std::string payload = std::string(5000, 'a') + "b";
  TestPacket p(payload, kSrc, 1, kDst, 2);
  Harness h(*set);
  EXPECT_THAT(h.Sids(p), ::testing::ElementsAre(1));  // the confirmed rule stops as Suricata
  EXPECT_FALSE(ReferenceRuleMatch(set->rules()[0], p.packet()));
  ReferenceOptions unlimited;
  unlimited.recursion_limit = 0;
  EXPECT_TRUE(ReferenceRuleMatch(set->rules()[0], p.packet(), unlimited));
}

// ---- random rules and payloads -----------------------------------------------------------------

class Random {
 public:
  explicit Random(uint32_t seed) : rng_(seed) {}
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  template <class T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Int(0, static_cast<int>(v.size()) - 1))];
  }
  std::string Bytes(int lo, int hi) {
    static const std::string kAlphabet = "abAB-\x00\n"s;
    std::string s(static_cast<size_t>(Int(lo, hi)), '\0');
    for (char& c : s) c = kAlphabet[static_cast<size_t>(Int(0, 6))];
    return s;
  }

 private:
  std::mt19937 rng_;
};

// Rules of every shape the language allows on the payload: absolute and relative contents
// (negative distances too), negations, nocase, fast_pattern, pcres with and without R and with
// constructs Hyperscan only pre-filters.
std::string RandomRule(Random& r, uint32_t sid) {
  static const std::vector<std::string> kPcres = {
      "a+b", "[ab]{2}", "^a",   "b.?a",  "(a|B)-", "a\\x00",  "^[^a]",  "(a)\\1",    "a$",
      "^b$", "\\ba",    "a.*b", "a\\nb", "^-",     "[AB]+?a", "(?i)ab", "\\x00\\x00"};
  std::string opts;
  const int n = r.Int(1, 5);
  for (int k = 0; k < n; ++k) {
    if (r.Chance(0.25)) {
      std::string mods;
      for (char m : std::string("ismG")) {
        if (r.Chance(0.25)) mods += m;
      }
      if (k > 0 && r.Chance(0.5)) mods += 'R';
      opts += "pcre:" + std::string(r.Chance(0.15) ? "!" : "") + "\"/" + r.Pick(kPcres) + "/" +
              mods + "\"; ";
      continue;
    }
    const std::string bytes = r.Bytes(1, 3);
    const auto len = static_cast<int>(bytes.size());
    opts += "content:" + std::string(r.Chance(0.2) ? "!" : "") + "\"" + Hex(bytes) + "\"; ";
    if (r.Chance(0.3)) opts += "nocase; ";
    if (r.Chance(0.6)) {
      if (r.Chance(0.7)) opts += "distance:" + std::to_string(r.Int(-8, 8)) + "; ";
      if (r.Chance(0.6)) opts += "within:" + std::to_string(len + r.Int(0, 8)) + "; ";
    } else {
      if (r.Chance(0.3)) opts += "offset:" + std::to_string(r.Int(0, 10)) + "; ";
      if (r.Chance(0.3)) opts += "depth:" + std::to_string(len + r.Int(0, 10)) + "; ";
    }
  }
  return "alert udp any any -> any any (msg:\"r\"; " + opts + "sid:" + std::to_string(sid) + ";)";
}

TEST(PayloadSemanticsTest, ScannerAgreesWithTheReferenceOnRandomRules) {
  Random r(7);
  size_t matches = 0, non_matches = 0, exact = 0, confirmed = 0;
  for (int round = 0; round < 24; ++round) {
    // Even rounds: Hyperscan decides what it can alone; odd: the sensor's fast-pattern plans.
    const patterns::CompileOptions compile =
        round % 2 == 0 ? kExactPlans : patterns::CompileOptions{};
    // Parse each rule on its own and keep the valid ones (some combinations are invalid, as in
    // Suricata: rule_parser_test checks those).
    std::string text;
    for (uint32_t sid = 1; sid <= 120; ++sid) {
      const std::string rule = RandomRule(r, sid);
      if (patterns::ParseRules(rule, "r.rules", {}).rules.size() == 1) text += rule + "\n";
    }
    auto set = Build(text, {}, compile);
    ASSERT_TRUE(set);
    if (!compile.fast_pattern_prefilter) exact += set->stats().exact;
    confirmed += set->stats().confirm;
    Harness h(*set);
    for (int i = 0; i < 150; ++i) {
      TestPacket p(r.Bytes(1, 48), kSrc, 1, kDst, 2, patterns::kIpProtoUdp);
      std::vector<uint32_t> expected;
      for (const patterns::Rule& rule : set->rules()) {
        if (ReferenceRuleMatch(rule, p.packet())) expected.push_back(rule.sid);
      }
      const std::vector<uint32_t> got = h.Sids(p);
      ASSERT_EQ(got, expected) << "payload " << Hex(p.payload()) << "\nrules:\n" << text;
      matches += expected.size();
      non_matches += set->size() - expected.size();
    }
  }
  std::printf("random rules: %zu exact, %zu confirmed; %zu matches, %zu non-matches\n", exact,
              confirmed, matches, non_matches);
  EXPECT_GT(exact, 300u);
  EXPECT_GT(confirmed, 600u);
  EXPECT_GT(matches, 20000u);
  EXPECT_GT(non_matches, 20000u);
}

// One content chain, as the test builds it: head window and gaps, written as rule text and
// independently as the PCRE2 regex that says "these positions exist".
struct Chain {
  std::string rule_options;
  std::string pcre2;
};

std::string Pcre2Literal(const std::string& bytes, bool nocase) {
  std::string out = nocase ? "(?i:" : "(?:";
  for (unsigned char c : bytes) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "\\x%02x", c);
    out += buf;
  }
  return out + ")";
}

Chain RandomChain(Random& r) {
  Chain c;
  const int n = r.Int(1, 4);
  std::string regex;
  std::string head_bytes = r.Bytes(1, 3);
  bool nocase = r.Chance(0.3);
  c.rule_options = "content:\"" + Hex(head_bytes) + "\"; " + (nocase ? "nocase; " : "");
  const auto head_len = static_cast<int>(head_bytes.size());
  int offset = 0, depth = 0;
  if (r.Chance(0.4)) offset = r.Int(0, 6);
  if (r.Chance(0.4)) depth = head_len + r.Int(0, 8);
  if (offset > 0) c.rule_options += "offset:" + std::to_string(offset) + "; ";
  if (depth > 0) c.rule_options += "depth:" + std::to_string(depth) + "; ";
  // Suricata: start >= offset, end <= offset + depth.
  regex = depth > 0 ? "^.{" + std::to_string(offset) + "," +
                          std::to_string(offset + depth - head_len) + "}"
          : offset > 0 ? "^.{" + std::to_string(offset) + ",}"
                       : "";
  regex += Pcre2Literal(head_bytes, nocase);
  for (int k = 1; k < n; ++k) {
    const std::string bytes = r.Bytes(1, 3);
    const auto len = static_cast<int>(bytes.size());
    nocase = r.Chance(0.3);
    c.rule_options += "content:\"" + Hex(bytes) + "\"; " + (nocase ? "nocase; " : "");
    const int distance = r.Int(0, 4);
    const bool has_distance = distance > 0 || r.Chance(0.5);
    const bool has_within = r.Chance(0.7) || !has_distance;
    const int within = len + r.Int(0, 5);
    if (has_distance) c.rule_options += "distance:" + std::to_string(distance) + "; ";
    if (has_within) c.rule_options += "within:" + std::to_string(within) + "; ";
    const int lo = has_distance ? distance : 0;
    regex += has_within ? ".{" + std::to_string(lo) + "," + std::to_string(lo + within - len) + "}"
                        : ".{" + std::to_string(lo) + ",}";
    regex += Pcre2Literal(bytes, nocase);
  }
  c.pcre2 = regex;
  return c;
}

bool Pcre2Finds(const std::string& regex, std::string_view subject) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(regex.data()), regex.size(),
                                 PCRE2_DOTALL, &code, &offset, nullptr);
  EXPECT_NE(re, nullptr) << regex;
  if (re == nullptr) return false;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(re, nullptr);
  const int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0,
                             md, nullptr);
  EXPECT_TRUE(rc >= 0 || rc == PCRE2_ERROR_NOMATCH) << rc;
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return rc >= 0;
}

TEST(PayloadSemanticsTest, HyperscanChainsEqualReferenceAndPcre2) {
  Random r(11);
  size_t matches = 0, non_matches = 0;
  for (int round = 0; round < 10; ++round) {
    std::vector<Chain> chains;
    std::string text;
    for (uint32_t sid = 1; sid <= 60; ++sid) {
      chains.push_back(RandomChain(r));
      text += "alert udp any any -> any any (msg:\"c\"; " + chains.back().rule_options +
              "sid:" + std::to_string(sid) + ";)\n";
    }
    auto set = Build(text, {}, kExactPlans);
    ASSERT_TRUE(set);
    for (uint32_t i = 0; i < set->size(); ++i) {
      ASSERT_EQ(set->plan(i).mode, PayloadMode::kExact) << set->rules()[i].text;
    }
    Harness h(*set);
    ReferenceOptions unlimited;  // Hyperscan has no recursion limit
    unlimited.recursion_limit = 0;
    for (int i = 0; i < 200; ++i) {
      TestPacket p(r.Bytes(1, 40), kSrc, 1, kDst, 2, patterns::kIpProtoUdp);
      const std::vector<uint32_t> got = h.Sids(p);
      for (uint32_t ri = 0; ri < set->size(); ++ri) {
        const patterns::Rule& rule = set->rules()[ri];
        const bool pcre2 = Pcre2Finds(chains[rule.sid - 1].pcre2, p.payload());
        const bool reference = ReferenceRuleMatch(rule, p.packet(), unlimited);
        const bool scanner = std::find(got.begin(), got.end(), rule.sid) != got.end();
        ASSERT_EQ(reference, pcre2)
            << rule.text << " / " << chains[rule.sid - 1].pcre2 << " on " << Hex(p.payload());
        ASSERT_EQ(scanner, pcre2) << rule.text << " on " << Hex(p.payload());
        (pcre2 ? matches : non_matches)++;
      }
    }
  }
  EXPECT_GT(matches, 5000u);
  EXPECT_GT(non_matches, 5000u);
}

}  // namespace
}  // namespace fs::scan
