// Unit tests for the bounded top-N of alerting sources behind flowsentry_alert_source_top, and
// for the exposition of the metrics the dashboard needs as zero-valued series.
#include "controlplane/metrics/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fs::metrics {
namespace {

IpAddr V4(uint32_t a) { return IpAddr::FromV4(a); }

std::vector<std::pair<std::string, uint64_t>> Flatten(const std::vector<TopSources::Entry>& v) {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const auto& e : v) out.push_back({e.src.ToString(), e.alerts});
  return out;
}

struct AddAt {
  uint32_t src;
  double t;
};

struct TopCase {
  const char* name;
  size_t top_n, max_tracked;
  std::vector<AddAt> adds;
  double query_t;
  std::vector<std::pair<std::string, uint64_t>> want;
  uint64_t want_untracked;
};

TEST(TopSourcesTest, Table) {
  const uint32_t a = 0x0a000001, b = 0x0a000002, c = 0x0a000003;
  const TopCase cases[] = {
      {"empty", 2, 10, {}, 0, {}, 0},
      {"most alerts first, cut to top_n",
       2,
       10,
       {{a, 0}, {b, 1}, {b, 2}, {c, 3}, {c, 4}, {c, 5}},
       6,
       {{"10.0.0.3", 3}, {"10.0.0.2", 2}},
       0},
      {"ties broken by address",
       3,
       10,
       {{c, 0}, {a, 0}, {b, 0}},
       1,
       {{"10.0.0.1", 1}, {"10.0.0.2", 1}, {"10.0.0.3", 1}},
       0},
      {"previous window still counts",
       5,
       10,
       {{a, 0}, {a, 50}, {b, 70}},
       90,
       {{"10.0.0.1", 2}, {"10.0.0.2", 1}},
       0},
      {"two windows later a quiet source drops out",
       5,
       10,
       {{a, 0}, {b, 130}},
       130,
       {{"10.0.0.2", 1}},
       0},
      {"after a long silence nothing is left", 5, 10, {{a, 0}, {b, 1}}, 1000, {}, 0},
      {"addresses beyond max_tracked are counted as untracked",
       5,
       2,
       {{a, 0}, {b, 0}, {c, 0}, {c, 1}, {a, 2}},
       3,
       {{"10.0.0.1", 2}, {"10.0.0.2", 1}},
       2},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    TopSources top(60, tc.top_n, tc.max_tracked);
    for (const auto& add : tc.adds) top.Add(V4(add.src), add.t);
    EXPECT_EQ(Flatten(top.Top(tc.query_t)), tc.want);
    EXPECT_EQ(top.untracked(), tc.want_untracked);
  }
}

TEST(TopSourcesTest, NeverExportsMoreThanTopN) {
  TopSources top(60, TopSources::kTopN, 1000);
  for (uint32_t i = 0; i < 500; ++i) {
    for (uint32_t k = 0; k <= i % 7; ++k) top.Add(V4(0xc0a80000 + i), 1);
  }
  const auto got = top.Top(2);
  ASSERT_EQ(got.size(), TopSources::kTopN);
  for (const auto& e : got) EXPECT_EQ(e.alerts, 7u);
}

TEST(MetricsTest, DashboardSeriesExistBeforeAnyEvent) {
  worker::Published<worker::WorkerStats> w0;
  Sources src;
  src.workers.push_back(&w0);
  Metrics m(src);
  const std::string text = m.RenderText();
  // The dashboard's error panels must show 0, not "no data", on a healthy sensor.
  for (const char* want : {"flowsentry_eve_write_errors_total 0",
                           "flowsentry_event_ring_dropped_total{worker=\"0\"} 0",
                           "flowsentry_flows_ended_total{worker=\"0\"} 0",
                           "flowsentry_flows_ended_by_protocol_total{protocol=\"tcp\"} 0",
                           "flowsentry_alert_sources_untracked_total 0"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
  m.CountAlertSource(V4(0x0a000009));
  m.CountFlowEnd(17);
  m.CountFlowEnd(47);
  const std::string after = m.RenderText();
  EXPECT_NE(after.find("flowsentry_alert_source_top{src_ip=\"10.0.0.9\"} 1"), std::string::npos)
      << after;
  EXPECT_NE(after.find("flowsentry_flows_ended_by_protocol_total{protocol=\"udp\"} 1"),
            std::string::npos);
  EXPECT_NE(after.find("flowsentry_flows_ended_by_protocol_total{protocol=\"other\"} 1"),
            std::string::npos);
}

}  // namespace
}  // namespace fs::metrics
