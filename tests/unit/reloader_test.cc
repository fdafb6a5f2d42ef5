// Unit tests of sensor::Reloader without workers: the compile, compare and swap decisions, the
// errors a failed reload returns, and the lifetime of retired sets.
#include "controlplane/sensor/reloader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

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
    reloader_ = std::make_unique<Reloader>(ReloadSources{{path_}, {}}, initial_, &shared_,
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

}  // namespace
}  // namespace fs::sensor
