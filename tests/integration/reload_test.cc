// Integration tests of live pattern reload (docs/operator-guide.md, "Reloading rules"): the real
// flowsentry binary replays the district capture forever while its rule file changes and SIGHUP
// asks for a reload.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/process.h"

namespace fs::testing {
namespace {

std::string Sensor() { return BinDir() + "/flowsentry"; }
std::string Gen() { return BinDir() + "/flowsentry-pcapgen"; }

// RDP cookie: the district capture's external RDP brute force carries it.
constexpr const char* kRdpRule =
    "alert tcp any any -> any 3389 (msg:\"reload test rdp cookie\"; "
    "content:\"Cookie|3a| mstshash=\"; sid:1000001; rev:1;)\n";
// SMB svcctl pipe: the capture's lateral movement carries it; added by the reload.
constexpr const char* kSmbRule =
    "alert tcp any any -> any 445 (msg:\"reload test svcctl\"; "
    "content:\"s|00|v|00|c|00|c|00|t|00|l|00|\"; sid:1000002; rev:1;)\n";
// Line 3 of the broken file: an unknown keyword.
constexpr const char* kBadRule =
    "alert tcp any any -> any any (msg:\"broken\"; content:\"x\"; frobnicate; sid:1000003;)\n";

// The district capture in a fresh directory (the replayed input of every test here).
void GenerateDistrict(const std::string& dir, std::string* capture) {
  ASSERT_FALSE(dir.empty());
  *capture = dir + "/district.pcap";
  auto g = RunProcess({Gen(), "district", "--out", *capture});
  ASSERT_EQ(g.exit_code, 0) << g.err;
}

void WriteText(const std::string& path, const std::string& text) {
  // Written aside and renamed, as an operator's editor or deployment tool would.
  std::ofstream(path + ".tmp", std::ios::binary) << text;
  std::filesystem::rename(path + ".tmp", path);
}

// Sum of the samples of one metric whose line matches labels_re (a regex for "{...}").
double MetricSum(const std::string& body, const std::string& name, const std::string& labels_re) {
  std::regex re("^" + name + labels_re + R"( ([0-9.e+-]+)$)");
  std::istringstream in(body);
  std::string line;
  double total = 0;
  bool found = false;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, re)) {
      total += std::stod(m[1]);
      found = true;
    }
  }
  return found ? total : -1;
}

// Follows a growing EVE file. A replay-forever run appends tens of MB a second, faster than a
// test reading it line by line keeps up with on a loaded 2-core machine: the file is read in
// large blocks, searched with Boyer-Moore-Horspool, and SkipToEnd() passes over what was written
// before a step whose effect the test waits for (a reload can only show in later records).
class EveFollower {
 public:
  using Searcher = std::boyer_moore_horspool_searcher<std::string::const_iterator>;

  explicit EveFollower(std::string path) : path_(std::move(path)) {}

  // Complete lines appended since the last read (or skip) that contain needle.
  std::vector<std::string> Poll(const std::string& needle) {
    std::vector<std::string> out;
    const Searcher search(needle.begin(), needle.end());
    ReadNew([&](std::string_view text) {
      ForEachLineWith(text, search, [&](std::string_view line) { out.emplace_back(line); });
    });
    return out;
  }

  // Passes over everything written so far, complete or not (the next line read is the first
  // that starts after this point).
  void SkipToEnd() {
    std::ifstream in(path_, std::ios::binary | std::ios::ate);
    if (!in) return;
    offset_ = static_cast<uint64_t>(in.tellg());
    partial_.clear();
    // Unless the last byte ends a line, the next read starts inside one: pass over its rest.
    char last = '\n';
    if (offset_ > 0) in.seekg(static_cast<std::streamoff>(offset_ - 1)).get(last);
    skip_to_line_ = last != '\n';
  }

  // Calls fn with the complete lines appended since the last read, in blocks of whole lines
  // (each block ends with a newline).
  void ReadNew(const std::function<void(std::string_view)>& fn) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) return;
    in.seekg(static_cast<std::streamoff>(offset_));
    std::string block(kBlock, '\0');
    while (in) {
      in.read(block.data(), static_cast<std::streamsize>(block.size()));
      const size_t n = static_cast<size_t>(in.gcount());
      if (n == 0) break;
      offset_ += n;
      partial_.append(block.data(), n);
      if (skip_to_line_) {  // the rest of a line that was partly skipped
        const size_t nl = partial_.find('\n');
        if (nl == std::string::npos) {
          partial_.clear();
          continue;
        }
        partial_.erase(0, nl + 1);
        skip_to_line_ = false;
      }
      const size_t last = partial_.rfind('\n');
      if (last == std::string::npos) continue;
      fn(std::string_view(partial_).substr(0, last + 1));
      partial_.erase(0, last + 1);
    }
  }

  // Calls fn(line) once for each line of text (whole lines) that holds a match of search.
  template <typename Fn>
  static void ForEachLineWith(std::string_view text, const Searcher& search, Fn&& fn) {
    auto from = text.begin();
    while (true) {
      const auto hit = std::search(from, text.end(), search);
      if (hit == text.end()) return;
      const size_t at = static_cast<size_t>(hit - text.begin());
      const size_t nl = text.rfind('\n', at);
      const size_t begin = nl == std::string_view::npos ? 0 : nl + 1;
      size_t end = text.find('\n', at);
      if (end == std::string_view::npos) end = text.size();
      fn(text.substr(begin, end - begin));
      if (end == text.size()) return;
      from = text.begin() + static_cast<std::ptrdiff_t>(end) + 1;
    }
  }

 private:
  static constexpr size_t kBlock = 8 << 20;
  std::string path_;
  uint64_t offset_ = 0;
  std::string partial_;  // the start of a line whose end is not written yet
  bool skip_to_line_ = false;
};

// Counts, as the EVE file grows, the lines that contain each of a fixed set of needles.
class EveCounts {
 public:
  EveCounts(std::string path, std::vector<std::string> needles)
      : follow_(std::move(path)), needles_(std::move(needles)), counts_(needles_.size(), 0) {
    for (const std::string& n : needles_) searchers_.emplace_back(n.begin(), n.end());
  }
  // Lines containing needle seen so far (after reading what was appended).
  size_t operator()(const std::string& needle) {
    follow_.ReadNew([&](std::string_view text) {
      for (size_t i = 0; i < needles_.size(); ++i)
        EveFollower::ForEachLineWith(text, searchers_[i], [&](std::string_view) { ++counts_[i]; });
    });
    for (size_t i = 0; i < needles_.size(); ++i)
      if (needles_[i] == needle) return counts_[i];
    ADD_FAILURE() << "not a watched needle: " << needle;
    return 0;
  }
  // What was written so far is not counted (see EveFollower::SkipToEnd).
  void SkipToEnd() { follow_.SkipToEnd(); }

 private:
  EveFollower follow_;
  std::vector<std::string> needles_;
  std::vector<EveFollower::Searcher> searchers_;
  std::vector<size_t> counts_;
};

// Parameter: the worker count. With two, the swap waits for both workers' quiescence reports.
class ReloadTest : public ::testing::TestWithParam<int> {};

TEST_P(ReloadTest, SighupSwapsRulesUnderTrafficAndKeepsThemOnABadFile) {
  const int workers = GetParam();
  const std::string dir = MakeTempDir("reload");
  std::string capture;
  ASSERT_NO_FATAL_FAILURE(GenerateDistrict(dir, &capture));
  const std::string rules = dir + "/rules.txt";
  WriteText(rules, kRdpRule);
  const std::string eve_path = dir + "/eve.json";
  const int port = FreeLoopbackPort();
  // Alerts and flow records only: the app-layer records would more than double what the test
  // has to read through, and are not what a reload changes.
  WriteText(dir + "/c.yaml", "outputs: {dns: false, http: false, tls: false, smb: false}\n");
  BackgroundProcess p({Sensor(), "--config", dir + "/c.yaml", "--pcap", capture, "--replay-forever",
                       "--duration", "120", "--workers", std::to_string(workers), "--rules", rules,
                       "--eve", eve_path, "--metrics-listen", fmt::format("127.0.0.1:{}", port),
                       "--api-listen", ""});
  auto scrape = [&] {
    int status = 0;
    std::string body = HttpGet(port, "/metrics", &status);
    return status == 200 ? body : std::string();
  };
  EveCounts eve(eve_path, {"\"signature_id\":1000001", "\"signature_id\":1000002",
                           "\"signature_id\":1000003", "\"flowsentry_generation\":[\"1\"]",
                           "\"flowsentry_generation\":[\"2\"]", "\"flowsentry_ruleset_hash\":[\""});
  auto eve_has = [&](const std::string& needle) { return eve(needle) > 0; };

  // Generation 1 alerts, and carries its generation and hash in the alert metadata.
  ASSERT_TRUE(WaitFor([&] { return eve_has("\"signature_id\":1000001"); }, 60)) << p.ErrSoFar();
  EXPECT_TRUE(eve_has("\"flowsentry_generation\":[\"1\"]"));
  EXPECT_TRUE(eve_has("\"flowsentry_ruleset_hash\":[\""));
  EXPECT_FALSE(eve_has("\"signature_id\":1000002"));

  // A good reload: the new rule alerts within a bounded time, from generation 2 (read from here
  // on: nothing before the signal can show it).
  eve.SkipToEnd();
  WriteText(rules, std::string(kRdpRule) + kSmbRule);
  p.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return eve_has("\"signature_id\":1000002"); }, 60)) << p.ErrSoFar();
  EXPECT_TRUE(eve_has("\"flowsentry_generation\":[\"2\"]"));
  std::string body = scrape();
  EXPECT_EQ(MetricSum(body, "flowsentry_reloads_total", R"(\{result="ok"\})"), 1) << body;
  EXPECT_EQ(MetricSum(body, "flowsentry_pattern_set_generation", ""), 2) << body;

  // A bad file: the running set stays, the log names FILE:LINE, the failure is counted.
  WriteText(rules, std::string(kRdpRule) + kSmbRule + kBadRule);
  p.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricSum(scrape(), "flowsentry_reloads_total", R"(\{result="failed"\})") == 1;
      },
      60))
      << p.ErrSoFar();
  EXPECT_NE(p.ErrSoFar().find(rules + ":3"), std::string::npos) << p.ErrSoFar();
  body = scrape();
  EXPECT_EQ(MetricSum(body, "flowsentry_pattern_set_generation", ""), 2) << body;
  // Old rules still alert after the failed reload: more generation-2 alerts arrive.
  eve.SkipToEnd();
  const size_t before = eve("\"flowsentry_generation\":[\"2\"]");
  EXPECT_TRUE(WaitFor([&] { return eve("\"flowsentry_generation\":[\"2\"]") > before; }, 60))
      << p.ErrSoFar();
  EXPECT_EQ(eve("\"signature_id\":1000003"), 0u);
  // The test reads only part of the EVE file; the sensor's own count per signature covers all of
  // it: both loaded rules alerted, the broken file's never did.
  body = scrape();
  EXPECT_GT(MetricSum(body, "flowsentry_signature_alerts_total", R"(\{.*sid="1000002".*\})"), 0)
      << body;
  EXPECT_EQ(MetricSum(body, "flowsentry_signature_alerts_total", R"(\{.*sid="1000003".*\})"), -1)
      << body;

  // The same content again: "unchanged", no new generation.
  WriteText(rules, std::string(kRdpRule) + kSmbRule);
  p.Signal(SIGHUP);
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricSum(scrape(), "flowsentry_reloads_total", R"(\{result="unchanged"\})") == 1;
      },
      60))
      << p.ErrSoFar();

  // No packet and no event was lost because of the reloads. Only checked with one worker: with
  // two, the single-queue replay is spread by worker 0 through a software ring that a shared
  // 2-core test machine overruns at replay speed (ring_full drops), reload or not.
  body = scrape();
  EXPECT_EQ(MetricSum(body, "flowsentry_event_ring_dropped_total", R"(\{.*\})"), 0) << body;
  if (workers == 1) {
    EXPECT_EQ(MetricSum(body, "flowsentry_worker_dropped_packets_total", R"(\{.*\})"), 0) << body;
  }
  p.Signal(SIGINT);
  auto r = p.Wait(60);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (workers == 1) {
    EXPECT_NE(r.out.find("dropped   0\n"), std::string::npos) << r.out;
  }
  std::filesystem::remove_all(dir);
}

// Indicator lists are part of a generation: SIGHUP re-reads them with the rules. A new entry
// alerts from the next generation; a missing list file fails the reload and the running lists
// keep alerting.
TEST(ReloadIndicatorsTest, SighupReloadsIndicatorListsAndKeepsThemWhenAFileIsMissing) {
  const std::string dir = MakeTempDir("reload-ioc");
  std::string capture;
  ASSERT_NO_FATAL_FAILURE(GenerateDistrict(dir, &capture));
  WriteText(dir + "/rules.txt", kRdpRule);
  const std::string list = dir + "/bad-ips.txt";
  WriteText(list, "# nothing of the capture yet\n192.0.2.77\n");
  WriteText(
      dir + "/c.yaml",
      "rules: [rules.txt]\n"
      "indicators:\n  - {name: attackers, type: ip, file: bad-ips.txt, msg: \"known attacker\","
      " sid: 9100001, severity: 1}\n"
      "outputs: {dns: false, http: false, tls: false, smb: false}\n");
  const std::string eve_path = dir + "/eve.json";
  const int port = FreeLoopbackPort();
  int api_port = FreeLoopbackPort();
  while (api_port == port) api_port = FreeLoopbackPort();
  BackgroundProcess p({Sensor(), "--config", dir + "/c.yaml", "--pcap", capture, "--replay-forever",
                       "--duration", "120", "--workers", "1", "--eve", eve_path, "--metrics-listen",
                       fmt::format("127.0.0.1:{}", port), "--api-listen",
                       fmt::format("127.0.0.1:{}", api_port)});
  auto scrape = [&] {
    int status = 0;
    std::string body = HttpGet(port, "/metrics", &status);
    return status == 200 ? body : std::string();
  };
  // Only alert lines matter (the app-layer records are off, see ReloadTest).
  EveFollower follow(eve_path);
  std::vector<std::string> rule_alerts, list_alerts;
  auto poll = [&] {
    for (auto& l : follow.Poll("\"event_type\":\"alert\"")) {
      (l.find("\"signature_id\":9100001") != std::string::npos ? list_alerts : rule_alerts)
          .push_back(std::move(l));
    }
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        poll();
        return !rule_alerts.empty();
      },
      60))
      << p.ErrSoFar();
  EXPECT_TRUE(list_alerts.empty());

  // The attacker's range joins the list: its alerts come from generation 2.
  follow.SkipToEnd();
  WriteText(list, "192.0.2.77\n203.0.113.0/24\n");
  p.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor(
      [&] {
        poll();
        return !list_alerts.empty();
      },
      60))
      << p.ErrSoFar();
  for (const auto& line : list_alerts) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    EXPECT_EQ(j["alert"]["metadata"]["indicator_list"][0], "attackers");
    EXPECT_EQ(j["alert"]["metadata"]["indicator_entry"][0], "203.0.113.0/24");
    EXPECT_EQ(j["alert"]["metadata"]["flowsentry_generation"][0], "2");
  }
  EXPECT_EQ(MetricSum(scrape(), "flowsentry_pattern_set_generation", ""), 2);

  // The list file disappears (a broken deployment): the reload fails naming the list, and the
  // running generation keeps its lists (a flow alerts once per list, and the replayed flows
  // already did: the operator API shows what is loaded).
  std::filesystem::remove(list);
  p.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricSum(scrape(), "flowsentry_reloads_total", R"(\{result="failed"\})") == 1;
      },
      60))
      << p.ErrSoFar();
  EXPECT_NE(p.ErrSoFar().find("indicator list 'attackers'"), std::string::npos) << p.ErrSoFar();
  EXPECT_EQ(MetricSum(scrape(), "flowsentry_pattern_set_generation", ""), 2);
  int status = 0;
  auto st = nlohmann::json::parse(HttpGet(api_port, "/api/v1/status", &status), nullptr, false);
  ASSERT_EQ(status, 200);
  EXPECT_EQ(st["pattern_set"]["generation"], 2) << st.dump();
  ASSERT_EQ(st["indicator_lists"].size(), 1u) << st.dump();
  EXPECT_EQ(st["indicator_lists"][0]["entries"], 2) << st.dump();
  const std::string body = scrape();
  EXPECT_EQ(MetricSum(body, "flowsentry_worker_dropped_packets_total", R"(\{.*\})"), 0) << body;
  p.Signal(SIGINT);
  auto r = p.Wait(60);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::filesystem::remove_all(dir);
}

// Whether path exists and holds a byte, from its size: a replay-forever run appends to its EVE
// file faster than reading it back goes, so a read to the end may never end.
bool HasBytes(const std::string& path) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(path, ec);
  return !ec && n > 0;
}

// logrotate: the EVE file is renamed, SIGHUP reopens the path; the records of both files add up
// to what the sensor says it wrote, and every line of both is a complete JSON record.
TEST(EveReopenTest, SighupReopensTheFileWithoutLosingARecord) {
  const std::string dir = MakeTempDir("reopen");
  std::string capture;
  ASSERT_NO_FATAL_FAILURE(GenerateDistrict(dir, &capture));
  const std::string eve_path = dir + "/eve.json";
  // --duration: bounded even if a step below stalls (it is signalled long before).
  BackgroundProcess p({Sensor(), "--pcap", capture, "--replay-forever", "--duration", "120",
                       "--workers", "1", "--eve", eve_path, "--metrics-listen", ""});
  ASSERT_TRUE(WaitFor([&] { return HasBytes(eve_path); }, 60)) << p.ErrSoFar();
  std::filesystem::rename(eve_path, eve_path + ".1");
  p.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return HasBytes(eve_path); }, 60)) << p.ErrSoFar();
  p.Signal(SIGINT);
  auto r = p.Wait(60);
  ASSERT_FALSE(r.timed_out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  uint64_t lines = 0;
  for (const std::string& path : {eve_path + ".1", eve_path}) {
    std::istringstream in(ReadFile(path));
    std::string line;
    while (std::getline(in, line)) {
      ++lines;
      EXPECT_TRUE(nlohmann::json::accept(line)) << path << ": " << line;
    }
  }
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(eve +\S+ \(([0-9,]+) records\))")))
      << r.out;
  std::string written = m[1];
  std::erase(written, ',');
  EXPECT_EQ(lines, std::stoull(written)) << r.out;
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Workers, ReloadTest, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& i) {
                           return fmt::format("{}_workers", i.param);
                         });

}  // namespace
}  // namespace fs::testing
