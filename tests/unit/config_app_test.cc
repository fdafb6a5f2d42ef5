// The app-layer settings of the configuration (issue 8): app-layer.* and outputs.http.
#include <gtest/gtest.h>

#include <string>

#include "controlplane/config/config.h"

namespace fs::config {
namespace {

TEST(ConfigAppLayer, DefaultsAndKeys) {
  const Config d;
  EXPECT_TRUE(d.app_enabled);
  EXPECT_EQ(d.app_max_sessions, 512u);
  EXPECT_EQ(d.http_body_limit, 1u << 20);
  EXPECT_TRUE(d.http_decompress);
  EXPECT_TRUE(d.http_output);
  EXPECT_EQ(d.tls_encryption_handling, "default");

  Config c;
  std::string err;
  ASSERT_TRUE(LoadYamlString(
      "app-layer:\n  enabled: false\n  max-sessions: 64\n  prealloc: 16\n"
      "  http: {body-limit: 4096, decompress: false}\n  tls: {encryption-handling: full}\n"
      "outputs: {http: false}\n",
      "t.yaml", &c, &err))
      << err;
  EXPECT_FALSE(c.app_enabled);
  EXPECT_EQ(c.app_max_sessions, 64u);
  EXPECT_EQ(c.app_prealloc, 16u);
  EXPECT_EQ(c.http_body_limit, 4096u);
  EXPECT_FALSE(c.http_decompress);
  EXPECT_FALSE(c.http_output);
  EXPECT_EQ(c.tls_encryption_handling, "full");
}

TEST(ConfigAppLayer, BadValuesNameTheKey) {
  Config c;
  std::string err;
  EXPECT_FALSE(LoadYamlString("app-layer: {max-sessions: 0}\n", "t.yaml", &c, &err));
  EXPECT_NE(err.find("max-sessions"), std::string::npos) << err;
  EXPECT_FALSE(LoadYamlString("app-layer: {prealloc: 2000000}\n", "t.yaml", &c, &err));
  EXPECT_NE(err.find("prealloc"), std::string::npos) << err;
  EXPECT_FALSE(LoadYamlString("app-layer: {http: {gzip: true}}\n", "t.yaml", &c, &err));
  EXPECT_NE(err.find("gzip"), std::string::npos) << err;
  EXPECT_FALSE(
      LoadYamlString("app-layer: {tls: {encryption-handling: bypass}}\n", "t.yaml", &c, &err));
  EXPECT_NE(err.find("encryption-handling: must be default or full, got 'bypass'"),
            std::string::npos)
      << err;
}

}  // namespace
}  // namespace fs::config
