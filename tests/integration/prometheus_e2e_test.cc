// End-to-end test of the Grafana dashboard against a real Prometheus: the sensor replays the
// district capture in a loop, Prometheus (Debian's `prometheus`) scrapes it every second on
// loopback, and every query of every panel in tools/grafana/flowsentry-dashboard.json must
// return data through the Prometheus HTTP API. A panel that shows "No data" on a healthy
// sensor is a broken panel (a renamed metric, a label that does not exist, a counter that only
// appears after its first increment), and the operator cannot tell it from an outage.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.h"

namespace fs::testing {
namespace {

using Clock = std::chrono::steady_clock;

// What the test gives Grafana's variables. Rate windows must hold a few 1 s scrapes.
constexpr const char* kRateInterval = "10s";
constexpr const char* kInterval = "5s";

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  std::string p = path;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string cand = p.substr(start, end - start) + "/" + name;
    if (access(cand.c_str(), X_OK) == 0) return cand;
    start = end + 1;
  }
  return "";
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// Grafana's substitution, as far as the dashboard uses it.
std::string Substitute(std::string expr) {
  const std::pair<std::string, std::string> vars[] = {{"$__rate_interval", kRateInterval},
                                                      {"${__rate_interval}", kRateInterval},
                                                      {"$__interval", kInterval},
                                                      {"${__interval}", kInterval},
                                                      {"$instance", ".*"},
                                                      {"${instance}", ".*"}};
  for (const auto& [from, to] : vars) {
    for (size_t pos; (pos = expr.find(from)) != std::string::npos;)
      expr.replace(pos, from.size(), to);
  }
  return expr;
}

std::set<std::string> MetricNames(const std::string& expr) {
  std::set<std::string> out;
  static const std::regex kName(R"(flowsentry_[a-z0-9_]+)");
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), kName);
       it != std::sregex_iterator(); ++it) {
    out.insert(it->str());
  }
  return out;
}

struct PanelQuery {
  std::string panel, ref, expr;
};

std::vector<PanelQuery> DashboardQueries(const nlohmann::json& dash) {
  std::vector<PanelQuery> out;
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& panels) {
    for (const auto& p : panels) {
      if (p.contains("panels")) walk(p.at("panels"));  // rows
      if (!p.contains("targets")) continue;
      for (const auto& t : p.at("targets")) {
        out.push_back({p.value("title", "?"), t.value("refId", "?"), t.value("expr", "")});
      }
    }
  };
  walk(dash.at("panels"));
  return out;
}

// GET /api/v1/query; returns the parsed answer or null.
nlohmann::json Query(int port, const std::string& expr, std::string* raw) {
  int status = 0;
  *raw = HttpGet(port, "/api/v1/query?query=" + UrlEncode(expr), &status);
  if (status != 200) return nullptr;
  auto j = nlohmann::json::parse(*raw, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || j.value("status", "") != "success") return nullptr;
  return j;
}

size_t ResultCount(const nlohmann::json& j) {
  if (j.is_null()) return 0;
  const auto& d = j.at("data");
  const auto& r = d.at("result");
  if (d.value("resultType", "") == "scalar") return 1;
  return r.size();
}

TEST(PrometheusE2eTest, EveryDashboardQueryReturnsData) {
  const std::string prometheus = FindOnPath("prometheus");
  if (prometheus.empty()) GTEST_SKIP() << "prometheus is not on PATH (tools/install-deps.sh)";

  const nlohmann::json dash = nlohmann::json::parse(
      ReadFile(SourceDir() + "/tools/grafana/flowsentry-dashboard.json"), nullptr, false);
  ASSERT_FALSE(dash.is_discarded()) << "tools/grafana/flowsentry-dashboard.json is not JSON";
  const auto queries = DashboardQueries(dash);
  ASSERT_GE(queries.size(), 10u);

  // Every metric the dashboard uses is in the catalog.
  const std::string catalog = ReadFile(SourceDir() + "/docs/metrics.md");
  for (const auto& q : queries) {
    for (const auto& name : MetricNames(q.expr)) {
      EXPECT_NE(catalog.find("`" + name + "`"), std::string::npos)
          << name << " (panel \"" << q.panel << "\") is not in docs/metrics.md";
    }
  }

  const std::string dir = MakeTempDir("prometheus-e2e");
  ASSERT_FALSE(dir.empty());
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};

  const std::string capture = dir + "/district.pcap";
  auto gen = RunProcess({BinDir() + "/flowsentry-pcapgen", "district", "--out", capture});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;

  // Enforcement in dry run with a webhook backend (never called in a dry run), so that the
  // dashboard's enforcement panels have their series.
  {
    std::ofstream cfg(dir + "/flowsentry.yaml");
    cfg << "enforcement:\n  enabled: true\n  dry-run: true\n"
        << "  webhook: {url: \"http://127.0.0.1:9/flowsentry\"}\n";
  }
  const int metrics_port = FreeLoopbackPort();
  BackgroundProcess sensor({BinDir() + "/flowsentry", "--config", dir + "/flowsentry.yaml",
                            "--pcap", capture, "--replay-forever",
                            "--duration", "40", "--workers", "1", "--eve", dir + "/eve.json",
                            "--metrics-listen", fmt::format("127.0.0.1:{}", metrics_port),
                            "--no-summary"});

  const int prom_port = FreeLoopbackPort();
  {
    std::ofstream cfg(dir + "/prometheus.yml");
    cfg << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "scrape_configs:\n  - job_name: flowsentry\n    static_configs:\n"
        << fmt::format("      - targets: ['127.0.0.1:{}']\n", metrics_port);
  }
  BackgroundProcess prom({prometheus, "--config.file=" + dir + "/prometheus.yml",
                          "--storage.tsdb.path=" + dir + "/tsdb",
                          fmt::format("--web.listen-address=127.0.0.1:{}", prom_port),
                          "--log.level=warn"});

  // Wait until Prometheus has scraped the sensor successfully.
  const auto t0 = Clock::now();
  bool up = false;
  std::string raw;
  while (Clock::now() - t0 < std::chrono::seconds(30)) {
    ASSERT_TRUE(sensor.Running()) << "sensor exited early:\n" << sensor.ErrSoFar();
    ASSERT_TRUE(prom.Running()) << "prometheus exited early:\n" << prom.ErrSoFar();
    auto j = Query(prom_port, "up{job=\"flowsentry\"} == 1", &raw);
    if (ResultCount(j) == 1) {
      up = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_TRUE(up) << "the sensor target never came up in Prometheus; last answer: " << raw
                  << "\nprometheus:\n"
                  << prom.ErrSoFar();
  // Enough 1 s scrapes for every rate window, plus a margin for the first one.
  std::this_thread::sleep_for(std::chrono::seconds(14));
  ASSERT_TRUE(sensor.Running()) << sensor.ErrSoFar();

  // The sensor is really replaying (otherwise zero-valued series would pass everything).
  auto rate = Query(prom_port, "sum(rate(flowsentry_rx_packets_total[10s])) > 0", &raw);
  EXPECT_EQ(ResultCount(rate), 1u) << "no packet rate: " << raw;

  for (const auto& q : queries) {
    const std::string expr = Substitute(q.expr);
    SCOPED_TRACE(fmt::format("panel \"{}\" query {}: {}", q.panel, q.ref, expr));
    EXPECT_EQ(expr.find('$'), std::string::npos) << "unsubstituted variable";
    auto j = Query(prom_port, expr, &raw);
    ASSERT_FALSE(j.is_null()) << "Prometheus rejected the query: " << raw;
    EXPECT_GT(ResultCount(j), 0u) << "no data: " << raw;
  }

  sensor.Signal(SIGINT);
  prom.Signal(SIGTERM);
  auto rs = sensor.Wait(30);
  EXPECT_EQ(rs.exit_code, 0) << rs.err;
  prom.Wait(30);
}

}  // namespace
}  // namespace fs::testing
