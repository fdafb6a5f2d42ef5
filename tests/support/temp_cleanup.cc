// Linked into every GoogleTest binary that uses the test support library (fs_add_test): once all
// of its tests have run, the temporary directories they made (MakeTempDir: sensor outputs, EVE
// files, lab configs) are removed if every test passed, and listed on stderr if one failed, so a
// failure can be looked at. FS_KEEP_TEMP=1 keeps them in any case.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/support/process.h"

namespace fs::testing {
namespace {

class TempDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    const char* keep = std::getenv("FS_KEEP_TEMP");
    const bool passed = ::testing::UnitTest::GetInstance()->Passed();
    if (passed && (keep == nullptr || std::strcmp(keep, "1") != 0)) {
      RemoveTempDirs();
      return;
    }
    for (const std::string& d : TempDirs())
      std::fprintf(stderr, "kept test directory %s\n", d.c_str());
  }
};

// Registered before main (gtest_main) runs the tests; GoogleTest owns and deletes it.
[[maybe_unused]] ::testing::Environment* const kCleanup =
    ::testing::AddGlobalTestEnvironment(new TempDirCleanup);

}  // namespace
}  // namespace fs::testing
