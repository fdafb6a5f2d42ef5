// Unit tests of sensor::Reloader without workers: the compile, compare and swap decisions, the
// errors a failed reload returns, and the lifetime of retired sets.
#include "controlplane/sensor/reloader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "dataplane/scan/domain_match.h"
#include "dataplane/scan/ip_match.h"
#include "dataplane/worker/worker.h"

namespace fs::sensor {
namespace {

constexpr const char* kRuleA =
    "alert tcp any any -> any 80 (msg:\"a\"; content:\"alpha\"; sid:1; rev:1;)\n";
constexpr const char* kRuleB =
    "alert tcp any any -> any 80 (msg:\"b\"; content:\"bravo\"; sid:2; rev:1;)\n";
constexpr const char* kBroken =
    "alert tcp any any -> any 80 (msg:\"c\"; content:\"x\"; frobnicate; sid:3; rev:1;)\n";

class ReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("fs-reloader-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "test.rules").string();
    Write(kRuleA);
    auto parsed = patterns::LoadRules({path_}, patterns::ParseOptions{});
    ASSERT_TRUE(parsed.ok());
    auto set = patterns::PatternSet::Compile(std::move(parsed.rules), 1);
    ASSERT_TRUE(set.ok()) << set.error().message;
    initial_ = set.value();
    shared_.patterns.store(initial_.get());
    reloader_ = std::make_unique<Reloader>(ReloadSources{{path_}, {}, {}},
                                           Detection{initial_, nullptr, nullptr}, &shared_,
                                           std::vector<worker::Worker*>{}, nullptr);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& text) { std::ofstream(path_, std::ios::trunc) << text; }

  std::filesystem::path dir_;
  std::string path_;
  std::shared_ptr<const patterns::PatternSet> initial_;
  worker::Shared shared_;
  std::unique_ptr<Reloader> reloader_;
};

TEST_F(ReloaderTest, ChangedRulesAreSwappedInWithTheNextGeneration) {
  Write(std::string(kRuleA) + kRuleB);
  const ReloadResult r = reloader_->Reload();
  EXPECT_TRUE(r.ok);
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.generation, 2u);
  EXPECT_EQ(r.rules, 2u);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_NE(r.content_hash, initial_->content_hash());
  ASSERT_NE(shared_.patterns.load(), nullptr);
  EXPECT_EQ(shared_.patterns.load()->generation(), 2u);
  EXPECT_EQ(reloader_->current()->content_hash(), r.content_hash);
  // The old set serves alerts still queued until Reclaim() saw it unused (no workers: at once).
  EXPECT_EQ(reloader_->SetOf(1).get(), initial_.get());
  reloader_->Reclaim();
  EXPECT_EQ(reloader_->SetOf(1), nullptr);
  EXPECT_EQ(reloader_->SetOf(2).get(), shared_.patterns.load());
}

TEST_F(ReloaderTest, SameContentIsUnchangedAndKeepsTheGeneration) {
  const ReloadResult r = reloader_->Reload();
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.changed);
  EXPECT_EQ(r.generation, 1u);
  EXPECT_EQ(r.content_hash, initial_->content_hash());
  EXPECT_EQ(shared_.patterns.load(), initial_.get());
}

TEST_F(ReloaderTest, BrokenFileLeavesTheRunningSetAndNamesFileAndLine) {
  Write(std::string(kRuleA) + kRuleB + kBroken);
  const ReloadResult r = reloader_->Reload();
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.changed);
  EXPECT_EQ(r.generation, 1u);
  EXPECT_EQ(r.content_hash, initial_->content_hash());
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].rfind(path_ + ":3:", 0), 0u) << r.errors[0];
  EXPECT_NE(r.errors[0].find("frobnicate"), std::string::npos) << r.errors[0];
  EXPECT_EQ(shared_.patterns.load(), initial_.get());
  // A fixed file afterwards reloads normally, as generation 2.
  Write(std::string(kRuleA) + kRuleB);
  EXPECT_EQ(reloader_->Reload().generation, 2u);
}

TEST_F(ReloaderTest, MissingFileFailsWithItsName) {
  std::filesystem::remove(path_);
  const ReloadResult r = reloader_->Reload();
  EXPECT_FALSE(r.ok);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_NE(r.errors[0].find(path_), std::string::npos) << r.errors[0];
  EXPECT_EQ(shared_.patterns.load(), initial_.get());
}

// Indicator lists belong to the generation: LoadDetection folds them into the content hash,
// reuses the running IP matcher when the lists are equal and builds a new one when they differ;
// a missing list file or a sid clash with a rule is an error.
class DetectionTest : public ReloaderTest {
 protected:
  ReloadSources Sources(const std::string& list_text) {
    const std::string list = (dir_ / "ips.txt").string();
    std::ofstream(list, std::ios::trunc) << list_text;
    patterns::IndicatorListConfig lc;
    lc.name = "bad";
    lc.file = list;
    lc.msg = "bad ip";
    lc.sid = 9100001;
    lc.severity = 1;
    return ReloadSources{{path_}, {}, {lc}};
  }
};

TEST_F(DetectionTest, ListsArePartOfTheHashAndTheirMatcherIsReusedWhenEqual) {
  Detection first, same, changed, rules_only;
  std::vector<std::string> errors;
  ASSERT_TRUE(LoadDetection(Sources("192.0.2.1\n"), 1, nullptr, "", &first, &errors));
  ASSERT_NE(first.ip_matcher, nullptr);
  ASSERT_EQ(first.set->indicators().size(), 1u);
  EXPECT_EQ(first.set->indicators()[0].stats.entries, 1u);
  ASSERT_TRUE(LoadDetection(ReloadSources{{path_}, {}, {}}, 1, nullptr, "", &rules_only, &errors));
  EXPECT_EQ(rules_only.ip_matcher, nullptr);
  EXPECT_NE(first.set->content_hash(), rules_only.set->content_hash());

  ASSERT_TRUE(LoadDetection(Sources("192.0.2.1\n"), 2, &first, "", &same, &errors));
  EXPECT_EQ(same.set->content_hash(), first.set->content_hash());
  EXPECT_EQ(same.ip_matcher, first.ip_matcher);  // shared: no rebuild, no re-lookups

  ASSERT_TRUE(
      LoadDetection(Sources("192.0.2.1\n198.51.100.0/24\n"), 2, &first, "", &changed, &errors));
  EXPECT_NE(changed.set->content_hash(), first.set->content_hash());
  EXPECT_NE(changed.ip_matcher, first.ip_matcher);
  EXPECT_TRUE(errors.empty());
}

TEST_F(DetectionTest, MissingListAndSidClashAreErrors) {
  ReloadSources src = Sources("192.0.2.1\n");
  src.indicators[0].file = (dir_ / "gone.txt").string();
  Detection d;
  std::vector<std::string> errors;
  EXPECT_FALSE(LoadDetection(src, 1, nullptr, "", &d, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("indicator list 'bad'"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("gone.txt"), std::string::npos) << errors[0];

  src = Sources("192.0.2.1\n");
  src.indicators[0].sid = 1;  // kRuleA's sid
  errors.clear();
  EXPECT_FALSE(LoadDetection(src, 1, nullptr, "", &d, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("uses sid 1:1"), std::string::npos) << errors[0];
}

// Domain lists get their matcher where the IP lists get theirs: built from the same lists (bit i
// = list i), reused when the lists are equal, and published by a reload before the set, like
// the IP matcher.
TEST_F(DetectionTest, DomainListsGetAMatcherBuiltReusedAndPublishedLikeTheIpOne) {
  ReloadSources src = Sources("192.0.2.1\n");
  const std::string names = (dir_ / "names.txt").string();
  std::ofstream(names, std::ios::trunc) << "*.badcdn.example\nexact.example\n";
  patterns::IndicatorListConfig dl = src.indicators[0];
  dl.name = "c2";
  dl.type = patterns::IndicatorType::kDomain;
  dl.file = names;
  dl.sid = 9100002;
  src.indicators.push_back(dl);

  Detection first, same;
  std::vector<std::string> errors;
  ASSERT_TRUE(LoadDetection(src, 1, nullptr, "", &first, &errors)) << errors[0];
  ASSERT_NE(first.domain_matcher, nullptr);
  EXPECT_EQ(first.domain_matcher->lists(), 0b10u);  // list 1; the IP list 0 adds nothing
  EXPECT_EQ(first.domain_matcher->Match("Update-Check.BadCDN.example."), 0b10u);
  EXPECT_EQ(first.domain_matcher->Match("exact.example"), 0b10u);
  EXPECT_EQ(first.domain_matcher->Match("www.exact.example"), 0u);
  EXPECT_EQ(first.domain_matcher->Match("notbadcdn.example"), 0u);
  EXPECT_EQ(first.ip_matcher->lists(), 0b01u);

  ASSERT_TRUE(LoadDetection(src, 2, &first, "", &same, &errors));
  EXPECT_EQ(same.domain_matcher, first.domain_matcher);

  // A reload that changes the rules publishes the new generation's matchers.
  Write(std::string(kRuleA) + kRuleB);
  Reloader reloader(src, first, &shared_, std::vector<worker::Worker*>{}, nullptr);
  std::ofstream(names, std::ios::trunc) << "other.example\n";
  const ReloadResult r = reloader.Reload();
  ASSERT_TRUE(r.ok) << (r.errors.empty() ? "" : r.errors[0]);
  ASSERT_TRUE(r.changed);
  const scan::DomainMatcher* published = shared_.domain_matcher.load();
  ASSERT_NE(published, nullptr);
  EXPECT_NE(published, first.domain_matcher.get());
  EXPECT_EQ(published->Match("other.example"), 0b10u);
  EXPECT_EQ(published->Match("update-check.badcdn.example"), 0u);
  EXPECT_EQ(shared_.patterns.load(), reloader.current().get());
}

// The entry an alert names is computed in the control plane from the name the worker copied.
TEST(IndicatorListTest, MatchingDomainNamesTheExactOrLongestSuffixEntry) {
  patterns::IndicatorList list;
  list.config.type = patterns::IndicatorType::kDomain;
  list.domains = {{"badcdn.example", true}, {"cdn.badcdn.example", true}, {"x.example", false}};
  std::sort(list.domains.begin(), list.domains.end());
  auto entry = [&](std::string_view name, bool complete = true) {
    auto e = list.MatchingDomain(name, complete);
    return e ? e->ToString() : std::string("-");
  };
  EXPECT_EQ(entry("update-check.badcdn.example"), "*.badcdn.example");
  EXPECT_EQ(entry("A.CDN.badcdn.example."), "*.cdn.badcdn.example");
  EXPECT_EQ(entry("badcdn.example"), "*.badcdn.example");
  EXPECT_EQ(entry("x.example"), "x.example");
  EXPECT_EQ(entry("y.x.example"), "-");
  EXPECT_EQ(entry("notbadcdn.example"), "-");
  // The end of a longer name: the cut label is skipped, exact entries are not tried.
  EXPECT_EQ(entry("ong-label.badcdn.example", false), "*.badcdn.example");
  EXPECT_EQ(entry("dx.example", false), "-");
}

}  // namespace
}  // namespace fs::sensor
