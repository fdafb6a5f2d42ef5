// The block manager (controlplane/enforce/manager.h) against fake backends that record every
// call and can be told to fail or to hang: each refusal reason, dedupe and refresh timing on a
// test clock, dry run, expiry, the per-backend queues (coalescing, retry with back-off, a stuck
// backend, a backend that comes up late), the state file (round trip, expiry while down,
// corrupt and partly bad files) and the event stream.
//
// Waits are bounded polls (up to 5 s); nothing asserts on elapsed time except lower bounds that
// the back-off guarantees.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/enforce/manager.h"
#include "controlplane/enforce/state_file.h"

namespace fs::enforce {

// Readable failure messages for EXPECT_EQ on outcomes.
void PrintTo(Outcome o, std::ostream* os) { *os << OutcomeName(o); }

namespace {

using patterns::IpPrefix;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr uint64_t kT0 = 1'780'000'000'000;  // a wall-clock time in 2026, ms

IpPrefix P(const char* text) {
  IpPrefix p;
  bool host_bits = false;
  std::string reason;
  EXPECT_TRUE(patterns::ParseIpEntry(text, &p, &host_bits, &reason)) << text << ": " << reason;
  return p;
}

// Polls `pred` every 2 ms for up to 5 s.
template <class Pred>
bool WaitFor(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

// What the fake backends record, and the knobs a test turns. Shared between the test and the
// backend (which the manager owns).
struct FakeState {
  struct Call {
    std::string op;  // "start", "add", "remove", "sync"
    IpPrefix target;
    uint64_t expires_ms = 0;
    std::vector<IpPrefix> live;  // sync
    bool ok = true;
    std::chrono::steady_clock::time_point at;
  };

  std::mutex mu;
  std::condition_variable cv;
  std::vector<Call> calls;
  bool start_ok = true;          // Start fails with "connection refused" while false
  int fail_ops = 0;              // the next N Add/Remove calls fail
  std::vector<IpPrefix> refuse;  // Add/Remove of these always fails
  bool hold = false;             // Add/Remove wait while true
  int holding = 0;               // calls currently waiting on hold
  std::string name = "fake";

  void Release() {
    std::lock_guard lk(mu);
    hold = false;
    cv.notify_all();
  }
  std::vector<Call> Calls() {
    std::lock_guard lk(mu);
    return calls;
  }
  // The add/remove calls, as "add 10.0.0.1" strings.
  std::vector<std::string> Ops() {
    std::lock_guard lk(mu);
    std::vector<std::string> out;
    for (const Call& c : calls) {
      if (c.op == "add" || c.op == "remove") out.push_back(c.op + " " + c.target.ToString());
    }
    return out;
  }
  size_t Count(const std::string& op, bool ok_only = true) {
    std::lock_guard lk(mu);
    return std::count_if(calls.begin(), calls.end(),
                         [&](const Call& c) { return c.op == op && (c.ok || !ok_only); });
  }
};

class FakeBackend : public Backend {
 public:
  explicit FakeBackend(std::shared_ptr<FakeState> s) : s_(std::move(s)) {}
  const char* name() const override { return s_->name.c_str(); }
  bool Start(std::string* error) override {
    std::lock_guard lk(s_->mu);
    Record("start", {}, s_->start_ok);
    if (!s_->start_ok) *error = "connection refused";
    return s_->start_ok;
  }
  bool Add(const Block& b, std::string* error) override { return Op("add", b, error); }
  bool Remove(const Block& b, std::string* error) override { return Op("remove", b, error); }
  bool Sync(std::span<const Block> live, std::string* error) override {
    (void)error;
    std::lock_guard lk(s_->mu);
    FakeState::Call c{"sync", {}, 0, {}, true, std::chrono::steady_clock::now()};
    for (const Block& b : live) c.live.push_back(b.target);
    s_->calls.push_back(std::move(c));
    return true;
  }

 private:
  void Record(const char* op, const Block& b, bool ok) {
    s_->calls.push_back({op, b.target, b.expires_ms, {}, ok, std::chrono::steady_clock::now()});
  }
  bool Op(const char* op, const Block& b, std::string* error) {
    std::unique_lock lk(s_->mu);
    ++s_->holding;
    s_->cv.wait(lk, [&] { return !s_->hold; });
    --s_->holding;
    const bool refused =
        std::find(s_->refuse.begin(), s_->refuse.end(), b.target) != s_->refuse.end();
    const bool ok = s_->fail_ops == 0 && !refused;
    if (!ok) {
      if (!refused) --s_->fail_ops;
      *error = "firewall said no";
    }
    Record(op, b, ok);
    return ok;
  }
  std::shared_ptr<FakeState> s_;
};

// A manager over n fake backends, with a test clock at kT0.
struct Harness {
  std::vector<std::shared_ptr<FakeState>> fakes;
  std::atomic<uint64_t> now{kT0};
  std::unique_ptr<BlockManager> mgr;

  explicit Harness(ManagerConfig cfg, int n = 1) {
    std::vector<std::unique_ptr<Backend>> backends;
    for (int i = 0; i < n; ++i) {
      fakes.push_back(std::make_shared<FakeState>());
      fakes.back()->name = "fake" + std::to_string(i);
      backends.push_back(std::make_unique<FakeBackend>(fakes.back()));
    }
    if (cfg.retry_initial_ms == ManagerConfig{}.retry_initial_ms) {
      cfg.retry_initial_ms = 5;
      cfg.retry_max_ms = 20;
    }
    mgr = std::make_unique<BlockManager>(std::move(cfg), std::move(backends));
    mgr->SetClockForTest([this] { return now.load(); });
  }
  // A held fake would make Stop wait forever when an assertion returns early.
  ~Harness() {
    for (auto& f : fakes) f->Release();
    mgr.reset();
  }
  bool Start() {
    std::string error;
    const bool ok = mgr->Start(&error);
    EXPECT_TRUE(ok) << error;
    return ok;
  }
  // Started and synced on every backend.
  bool StartAndSync() {
    if (!Start()) return false;
    return WaitFor([&] {
      return std::all_of(fakes.begin(), fakes.end(), [](auto& f) { return f->Count("sync") > 0; });
    });
  }
  void Advance(uint64_t seconds) { now += seconds * 1000; }
  std::vector<BlockEvent> Events() {
    std::vector<BlockEvent> ev;
    mgr->TakeEvents(&ev);
    return ev;
  }
  // Waits until backend i has no queued op and none in flight: no further call can come.
  bool Settled(size_t i) {
    return WaitFor([&] {
      for (const BackendStatus& s : mgr->Backends()) {
        if (s.name == fakes[i]->name) return s.pending == 0;
      }
      return false;
    });
  }
};

BlockRequest Rule(const char* target, uint64_t ttl_s = 0) {
  BlockRequest r;
  r.target = P(target);
  r.source = BlockSource::kRule;
  r.gid = 1;
  r.sid = 2000001;
  r.reason = "ET EXPLOIT test";
  r.ttl_s = ttl_s;
  return r;
}

BlockRequest Operator(const char* target, uint64_t ttl_s = 0) {
  BlockRequest r = Rule(target, ttl_s);
  r.source = BlockSource::kOperator;
  r.gid = r.sid = 0;
  r.reason = "operator";
  return r;
}

std::vector<std::string> Actions(const std::vector<BlockEvent>& ev, bool with_backend = false) {
  std::vector<std::string> out;
  for (const BlockEvent& e : ev) {
    if (!with_backend && !e.backend.empty()) continue;
    std::string s = e.action;
    if (e.backend.empty()) s += " " + e.block.target.ToString();
    if (!e.detail.empty()) s += " (" + e.detail + ")";
    out.push_back(s);
  }
  return out;
}

size_t CountAction(const std::vector<BlockEvent>& ev, const std::string& action) {
  return std::count_if(ev.begin(), ev.end(),
                       [&](const BlockEvent& e) { return e.action == action; });
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fs-block-mgr-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
    EXPECT_FALSE(path_.empty());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(BlockManager, OutcomeNames) {
  const std::vector<std::pair<Outcome, const char*>> cases = {
      {Outcome::kAdded, "added"},
      {Outcome::kRefreshed, "refreshed"},
      {Outcome::kDuplicate, "duplicate"},
      {Outcome::kDryRun, "dry_run"},
      {Outcome::kRefusedAllowlist, "refused_allowlist"},
      {Outcome::kRefusedHomeNet, "refused_home_net"},
      {Outcome::kRefusedCap, "refused_cap"},
      {Outcome::kRefusedRate, "refused_rate"},
      {Outcome::kInvalid, "invalid"},
  };
  for (const auto& [o, name] : cases) EXPECT_STREQ(OutcomeName(o), name);
}

ManagerConfig PolicyConfig() {
  ManagerConfig cfg;
  cfg.allowlist = {P("10.1.2.0/24"), P("192.168.5.5"), P("2001:db8:aa::1")};
  cfg.home_net = {P("192.168.0.0/16"), P("172.16.0.0/12"), P("2001:db8::/32")};
  cfg.rate_per_minute = 1000;
  cfg.burst = 1000;
  return cfg;
}

TEST(BlockManager, RefusalsAndValidity) {
  IpPrefix host_bits = P("10.9.9.0/24");
  host_bits.addr.bytes[15] = 1;     // 10.9.9.1/24: not a prefix anyone should hand over
  IpPrefix v6_all_v4 = P("::/80");  // covers every IPv4-mapped address
  struct Case {
    const char* name;
    BlockRequest req;
    Outcome want;
    const char* detail;  // of the refused event, "" for none
  };
  auto with_target = [](BlockRequest r, IpPrefix t) {
    r.target = t;
    return r;
  };
  const std::vector<Case> cases = {
      {"allowlisted host", Rule("10.1.2.3"), Outcome::kRefusedAllowlist, "allowlist"},
      {"prefix containing an allowlisted net", Operator("10.1.0.0/16"), Outcome::kRefusedAllowlist,
       "allowlist"},
      {"prefix inside an allowlisted net", Operator("10.1.2.128/25"), Outcome::kRefusedAllowlist,
       "allowlist"},
      {"allowlist is checked before home_net", Rule("192.168.5.5"), Outcome::kRefusedAllowlist,
       "allowlist"},
      {"allowlisted IPv6 host", Rule("2001:db8:aa::1"), Outcome::kRefusedAllowlist, "allowlist"},
      {"home host", Rule("192.168.7.7"), Outcome::kRefusedHomeNet, "home_net"},
      {"prefix containing home_net", Operator("172.0.0.0/8"), Outcome::kRefusedHomeNet, "home_net"},
      {"home IPv6 host", Rule("2001:db8:1::5"), Outcome::kRefusedHomeNet, "home_net"},
      {"0.0.0.0/0 even from an operator", Operator("0.0.0.0/0"), Outcome::kInvalid, "invalid"},
      {"::/0 even from an operator", Operator("::/0"), Outcome::kInvalid, "invalid"},
      {"IPv6 prefix covering all of IPv4", with_target(Operator("::1"), v6_all_v4),
       Outcome::kInvalid, "invalid"},
      {"/8 from a rule", Rule("11.0.0.0/8"), Outcome::kInvalid, "invalid"},
      {"/15 from an indicator",
       [] {
         BlockRequest r = Rule("11.2.0.0/15");
         r.source = BlockSource::kIndicator;
         return r;
       }(),
       Outcome::kInvalid, "invalid"},
      {"/32 IPv6 from a rule", Rule("2001:db9::/32"), Outcome::kInvalid, "invalid"},
      {"host bits set", with_target(Operator("10.9.9.1"), host_bits), Outcome::kInvalid, "invalid"},
      {"/16 from a rule", Rule("11.3.0.0/16"), Outcome::kAdded, ""},
      {"/48 IPv6 from a rule", Rule("2001:db9:1::/48"), Outcome::kAdded, ""},
      {"/8 from an operator", Operator("12.0.0.0/8"), Outcome::kAdded, ""},
      {"external host", Rule("203.0.113.9"), Outcome::kAdded, ""},
      {"external IPv6 host", Rule("2001:db9::9"), Outcome::kAdded, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Harness h(PolicyConfig());
    ASSERT_TRUE(h.StartAndSync());
    EXPECT_EQ(h.mgr->Request(c.req), c.want);
    // Asked again at once: a duplicate, or the same refusal without a second event.
    EXPECT_EQ(h.mgr->Request(c.req), c.want == Outcome::kAdded ? Outcome::kDuplicate : c.want);
    std::vector<BlockEvent> ev;
    for (BlockEvent& e : h.Events()) {
      if (e.backend.empty()) ev.push_back(std::move(e));  // not backend_up, applied ...
    }
    if (c.want == Outcome::kAdded) {
      EXPECT_THAT(Actions(ev), ElementsAre("add " + c.req.target.ToString()));
      ASSERT_TRUE(WaitFor([&] { return h.fakes[0]->Count("add") == 1; }));
      EXPECT_THAT(h.mgr->List(), testing::SizeIs(1));
    } else {
      ASSERT_EQ(ev.size(), 1u);
      EXPECT_EQ(ev[0].action, "refused");
      EXPECT_EQ(ev[0].detail, c.detail);
      EXPECT_EQ(ev[0].block.target, c.req.target);
      EXPECT_EQ(ev[0].block.sid, c.req.sid);
      EXPECT_THAT(h.mgr->List(), IsEmpty());
    }
    h.mgr->Stop();
    if (c.want != Outcome::kAdded) {
      EXPECT_THAT(h.fakes[0]->Ops(), IsEmpty());
    }
  }
}

TEST(BlockManager, AllowInternalLetsHomeNetThroughButNotTheAllowlist) {
  ManagerConfig cfg = PolicyConfig();
  cfg.allow_internal = true;
  Harness h(cfg);
  ASSERT_TRUE(h.StartAndSync());
  EXPECT_EQ(h.mgr->Request(Rule("192.168.7.7")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("2001:db8:1::5")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("192.168.5.5")), Outcome::kRefusedAllowlist);
  EXPECT_EQ(h.mgr->Request(Operator("192.168.0.0/16")), Outcome::kRefusedAllowlist);
}

TEST(BlockManager, CapAppliesToOperatorsToo) {
  ManagerConfig cfg;
  cfg.max_active = 2;
  Harness h(cfg);
  ASSERT_TRUE(h.StartAndSync());
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.2")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.3")), Outcome::kRefusedCap);
  EXPECT_EQ(h.mgr->Request(Operator("203.0.113.4")), Outcome::kRefusedCap);
  // Refreshing an active block is not a new block.
  h.Advance(3600);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1")), Outcome::kRefreshed);
  std::string error;
  ASSERT_TRUE(h.mgr->Remove(P("203.0.113.2"), "alice", &error)) << error;
  EXPECT_EQ(h.mgr->Request(Operator("203.0.113.4")), Outcome::kAdded);
  const auto ev = h.Events();
  EXPECT_EQ(CountAction(ev, "refused"), 2u);
  for (const BlockEvent& e : ev) {
    if (e.action == "refused") {
      EXPECT_EQ(e.detail, "cap");
    }
  }
}

TEST(BlockManager, RateLimitsNewAutomaticBlocksOperatorsBypass) {
  ManagerConfig cfg;
  cfg.rate_per_minute = 60;  // one per second
  cfg.burst = 3;
  Harness h(cfg);
  ASSERT_TRUE(h.StartAndSync());
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.2")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.3")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.4")), Outcome::kRefusedRate);
  EXPECT_EQ(h.mgr->Request(Operator("203.0.113.5")), Outcome::kAdded);
  // Dedupe costs no token.
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1")), Outcome::kDuplicate);
  h.now += 1000;
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.4")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.6")), Outcome::kRefusedRate);
  h.now += 3 * 1000;
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.6")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.7")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.8")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.9")), Outcome::kRefusedRate);
}

TEST(BlockManager, RefusedEventsAreLimitedPerTargetPerRefreshInterval) {
  ManagerConfig cfg = PolicyConfig();
  cfg.refresh_interval_s = 60;
  Harness h(cfg);
  ASSERT_TRUE(h.StartAndSync());
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(h.mgr->Request(Rule("10.1.2.3")), Outcome::kRefusedAllowlist);
  }
  EXPECT_EQ(h.mgr->Request(Rule("192.168.7.7")), Outcome::kRefusedHomeNet);
  EXPECT_THAT(Actions(h.Events()),
              ElementsAre("refused 10.1.2.3 (allowlist)", "refused 192.168.7.7 (home_net)"));
  h.Advance(59);
  EXPECT_EQ(h.mgr->Request(Rule("10.1.2.3")), Outcome::kRefusedAllowlist);
  EXPECT_THAT(h.Events(), IsEmpty());
  h.Advance(1);
  h.mgr->ExpireNowForTest();  // also prunes the flood-control memory: must not reset the limit
  EXPECT_EQ(h.mgr->Request(Rule("10.1.2.3")), Outcome::kRefusedAllowlist);
  EXPECT_EQ(h.mgr->Request(Rule("10.1.2.3")), Outcome::kRefusedAllowlist);
  EXPECT_THAT(Actions(h.Events()), ElementsAre("refused 10.1.2.3 (allowlist)"));
}

TEST(BlockManager, DedupeRefreshAndDuplicateTiming) {
  ManagerConfig cfg;
  cfg.refresh_interval_s = 60;
  cfg.default_ttl_s = 600;
  cfg.max_ttl_s = 3600;
  Harness h(cfg);
  ASSERT_TRUE(h.StartAndSync());
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1", 100)), Outcome::kAdded);
  ASSERT_THAT(h.mgr->List(), testing::SizeIs(1));
  EXPECT_EQ(h.mgr->List()[0].created_ms, kT0);
  EXPECT_EQ(h.mgr->List()[0].expires_ms, kT0 + 100'000);
  // Applied before the refresh (else the queue would rightly merge the two adds).
  ASSERT_TRUE(WaitFor([&] { return h.fakes[0]->Count("add") == 1; }));
  h.Advance(10);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1", 100)), Outcome::kDuplicate);
  EXPECT_EQ(h.mgr->List()[0].expires_ms, kT0 + 100'000);
  h.Advance(50);  // 60 s after the add
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1", 100)), Outcome::kRefreshed);
  EXPECT_EQ(h.mgr->List()[0].expires_ms, kT0 + 160'000);
  EXPECT_EQ(h.mgr->List()[0].created_ms, kT0);
  h.Advance(59);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1", 100)), Outcome::kDuplicate);
  h.Advance(1);
  // A shorter ttl than what is left does not shorten the block, and is no refresh.
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1", 5)), Outcome::kDuplicate);
  EXPECT_EQ(h.mgr->List()[0].expires_ms, kT0 + 160'000);
  // ttl 0 is the default, a huge ttl is clamped to max_ttl_s.
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.2")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.3", 999'999'999)), Outcome::kAdded);
  const auto list = h.mgr->List();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[1].expires_ms, h.now.load() + 600'000);
  EXPECT_EQ(list[2].expires_ms, h.now.load() + 3'600'000);

  EXPECT_THAT(Actions(h.Events()), ElementsAre("add 203.0.113.1", "refresh 203.0.113.1",
                                               "add 203.0.113.2", "add 203.0.113.3"));
  // The refresh reached the backend with the new expiry.
  ASSERT_TRUE(WaitFor([&] { return h.fakes[0]->Count("add") == 4; }));
  const auto calls = h.fakes[0]->Calls();
  std::vector<uint64_t> expiries;
  for (const auto& c : calls) {
    if (c.op == "add" && c.target == P("203.0.113.1")) expiries.push_back(c.expires_ms);
  }
  EXPECT_THAT(expiries, ElementsAre(kT0 + 100'000, kT0 + 160'000));
}

TEST(BlockManager, ListIsSortedByTarget) {
  Harness h(ManagerConfig{});
  ASSERT_TRUE(h.StartAndSync());
  for (const char* t : {"203.0.113.9", "198.51.100.1", "2001:db9::1", "203.0.113.1"}) {
    EXPECT_EQ(h.mgr->Request(Rule(t)), Outcome::kAdded);
  }
  std::vector<std::string> got;
  for (const Block& b : h.mgr->List()) got.push_back(b.target.ToString());
  std::vector<std::string> sorted = got;
  std::sort(sorted.begin(), sorted.end(),
            [](const std::string& a, const std::string& b) { return P(a.c_str()) < P(b.c_str()); });
  EXPECT_EQ(got, sorted);
  EXPECT_EQ(got.size(), 4u);
}

TEST(BlockManager, DryRunNeverTouchesBackends) {
  ManagerConfig cfg;
  cfg.dry_run = true;
  cfg.max_active = 2;
  cfg.refresh_interval_s = 60;
  Harness h(cfg, 2);
  ASSERT_TRUE(h.Start());
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1")), Outcome::kDryRun);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1")), Outcome::kDryRun);  // no second event
  EXPECT_EQ(h.mgr->Request(Operator("198.51.100.0/24")), Outcome::kDryRun);
  // What the real run would refuse is still refused.
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.3")), Outcome::kRefusedCap);
  EXPECT_EQ(h.mgr->Request(Rule("0.0.0.0/0")), Outcome::kInvalid);
  EXPECT_THAT(h.mgr->List(), IsEmpty());
  std::string error;
  EXPECT_TRUE(h.mgr->Remove(P("203.0.113.1"), "alice", &error));
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.3")), Outcome::kDryRun);
  h.Advance(7200);
  h.mgr->ExpireNowForTest();
  EXPECT_THAT(Actions(h.Events()),
              ElementsAre("dry_run 203.0.113.1", "dry_run 198.51.100.0/24",
                          "refused 203.0.113.3 (cap)", "refused 0.0.0.0/0 (invalid)",
                          "remove 203.0.113.1 (alice)", "dry_run 203.0.113.3"));
  for (const BackendStatus& s : h.mgr->Backends()) EXPECT_FALSE(s.available);
  h.mgr->Stop();
  for (auto& f : h.fakes) EXPECT_THAT(f->Calls(), IsEmpty());
}

TEST(BlockManager, ExpiryRemovesFromEveryBackend) {
  Harness h(ManagerConfig{}, 2);
  ASSERT_TRUE(h.StartAndSync());
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1", 10)), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.2", 20)), Outcome::kAdded);
  // Applied first (an add still queued would be cancelled by the remove instead).
  for (auto& f : h.fakes) ASSERT_TRUE(WaitFor([&] { return f->Count("add") == 2; }));
  h.Advance(9);
  h.mgr->ExpireNowForTest();
  EXPECT_THAT(h.mgr->List(), testing::SizeIs(2));
  h.Advance(1);
  h.mgr->ExpireNowForTest();
  ASSERT_THAT(h.mgr->List(), testing::SizeIs(1));
  EXPECT_EQ(h.mgr->List()[0].target, P("203.0.113.2"));
  EXPECT_THAT(Actions(h.Events()),
              ElementsAre("add 203.0.113.1", "add 203.0.113.2", "expire 203.0.113.1"));
  for (size_t i = 0; i < h.fakes.size(); ++i) {
    ASSERT_TRUE(h.Settled(i));
    EXPECT_THAT(h.fakes[i]->Ops(),
                ElementsAre("add 203.0.113.1", "add 203.0.113.2", "remove 203.0.113.1"));
  }
}

TEST(BlockManager, TimerThreadExpiresWithoutHelp) {
  Harness h(ManagerConfig{}, 2);
  ASSERT_TRUE(h.StartAndSync());
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1", 10)), Outcome::kAdded);
  h.Advance(10);
  ASSERT_TRUE(WaitFor([&] { return h.mgr->List().empty(); }));  // wakes at least every second
  for (auto& f : h.fakes) {
    ASSERT_TRUE(WaitFor([&] { return f->Count("remove") == 1; }));
  }
  EXPECT_THAT(Actions(h.Events()), ElementsAre("add 203.0.113.1", "expire 203.0.113.1"));
}

TEST(BlockManager, RemoveByOperator) {
  Harness h(ManagerConfig{});
  ASSERT_TRUE(h.StartAndSync());
  std::string error;
  EXPECT_FALSE(h.mgr->Remove(P("203.0.113.1"), "alice", &error));
  EXPECT_EQ(error, "203.0.113.1 is not blocked");
  EXPECT_EQ(h.mgr->Request(Operator("198.51.100.0/24")), Outcome::kAdded);
  ASSERT_TRUE(WaitFor([&] { return h.fakes[0]->Count("add") == 1; }));
  EXPECT_TRUE(h.mgr->Remove(P("198.51.100.0/24"), "alice", &error));
  EXPECT_THAT(h.mgr->List(), IsEmpty());
  ASSERT_TRUE(h.Settled(0));
  EXPECT_THAT(h.fakes[0]->Ops(), ElementsAre("add 198.51.100.0/24", "remove 198.51.100.0/24"));
  EXPECT_THAT(Actions(h.Events()),
              ElementsAre("add 198.51.100.0/24", "remove 198.51.100.0/24 (alice)"));
}

TEST(BlockManager, QueueCoalescesPerTarget) {
  ManagerConfig cfg;
  cfg.refresh_interval_s = 1;
  Harness h(cfg);
  ASSERT_TRUE(h.StartAndSync());
  {
    std::lock_guard lk(h.fakes[0]->mu);
    h.fakes[0]->hold = true;
  }
  // A is in flight (held); everything after it queues.
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1")), Outcome::kAdded);
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lk(h.fakes[0]->mu);
    return h.fakes[0]->holding == 1;
  }));
  std::string error;
  // B: added and removed before the backend saw it: nothing to send.
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.2")), Outcome::kAdded);
  // C: added, then refreshed: one add with the latest expiry.
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.3", 100)), Outcome::kAdded);
  EXPECT_TRUE(h.mgr->Remove(P("203.0.113.2"), "alice", &error));
  h.Advance(5);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.3", 100)), Outcome::kRefreshed);
  // A: in flight, then removed: the remove must still be sent.
  EXPECT_TRUE(h.mgr->Remove(P("203.0.113.1"), "alice", &error));
  EXPECT_EQ(h.mgr->Backends()[0].pending, 3u);  // C, remove A, and A in flight
  h.fakes[0]->Release();
  ASSERT_TRUE(h.Settled(0));
  EXPECT_THAT(h.fakes[0]->Ops(),
              ElementsAre("add 203.0.113.1", "add 203.0.113.3", "remove 203.0.113.1"));
  for (const auto& c : h.fakes[0]->Calls()) {
    if (c.op == "add" && c.target == P("203.0.113.3")) {
      EXPECT_EQ(c.expires_ms, kT0 + 105'000);
    }
  }
}

TEST(BlockManager, FailedOpsAreRetriedWithBackoff) {
  ManagerConfig cfg;
  cfg.retry_initial_ms = 20;
  cfg.retry_max_ms = 50;
  Harness h(cfg, 2);
  ASSERT_TRUE(h.StartAndSync());
  {
    std::lock_guard lk(h.fakes[0]->mu);
    h.fakes[0]->fail_ops = 4;
  }
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1")), Outcome::kAdded);
  ASSERT_TRUE(WaitFor([&] { return h.fakes[0]->Count("add") == 1; }));
  ASSERT_TRUE(WaitFor([&] { return h.fakes[1]->Count("add") == 1; }));

  const auto calls = h.fakes[0]->Calls();
  std::vector<std::chrono::steady_clock::time_point> attempts;
  for (const auto& c : calls) {
    if (c.op == "add") attempts.push_back(c.at);
  }
  ASSERT_EQ(attempts.size(), 5u);
  EXPECT_EQ(calls.back().op, "add");
  EXPECT_TRUE(calls.back().ok);
  // Lower bounds only: the back-off doubles from 20 ms and stops at 50 ms.
  const int min_gap_ms[] = {20, 40, 50, 50};
  for (size_t i = 0; i + 1 < attempts.size(); ++i) {
    EXPECT_GE(attempts[i + 1] - attempts[i], std::chrono::milliseconds(min_gap_ms[i])) << i;
  }
  // The events follow the calls: collect until the success shows.
  std::vector<BlockEvent> ev;
  ASSERT_TRUE(WaitFor([&] {
    h.mgr->TakeEvents(&ev);
    return std::any_of(ev.begin(), ev.end(), [](const BlockEvent& e) {
      return e.backend == "fake0" && e.action == "applied" && e.detail == "add";
    });
  }));
  size_t failed = 0, applied_add = 0;
  for (const BlockEvent& e : ev) {
    if (e.backend != "fake0") continue;
    if (e.action == "failed") {
      ++failed;
      EXPECT_EQ(e.detail, "add: firewall said no");
      EXPECT_EQ(e.block.target, P("203.0.113.1"));
    }
    if (e.action == "applied" && e.detail == "add") ++applied_add;
  }
  EXPECT_EQ(failed, 4u);
  EXPECT_EQ(applied_add, 1u);
  const auto status = h.mgr->Backends();
  EXPECT_EQ(status[0].failures, 4u);
  EXPECT_EQ(status[0].last_error, "firewall said no");
  EXPECT_TRUE(status[0].available);
  EXPECT_EQ(status[1].failures, 0u);
}

TEST(BlockManager, AnOpThatKeepsFailingDoesNotHoldUpTheOthers) {
  Harness h(ManagerConfig{});
  ASSERT_TRUE(h.StartAndSync());
  {
    std::lock_guard lk(h.fakes[0]->mu);
    h.fakes[0]->refuse = {P("203.0.113.1")};
  }
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.2")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.3")), Outcome::kAdded);
  ASSERT_TRUE(WaitFor([&] { return h.fakes[0]->Count("add") == 2; }));
  ASSERT_TRUE(WaitFor([&] { return h.fakes[0]->Count("add", false) >= 5; }));  // still retried
  EXPECT_EQ(h.mgr->Backends()[0].pending, 1u);
  // Removing the block replaces the failing add; the remove is sent (the add was attempted, so
  // the enforcement point may hold some of it).
  std::string error;
  EXPECT_TRUE(h.mgr->Remove(P("203.0.113.1"), "alice", &error));
  {
    std::lock_guard lk(h.fakes[0]->mu);
    h.fakes[0]->refuse.clear();
  }
  ASSERT_TRUE(h.Settled(0));
  EXPECT_EQ(h.fakes[0]->Ops().back(), "remove 203.0.113.1");
  EXPECT_EQ(h.fakes[0]->Count("remove"), 1u);
}

TEST(BlockManager, StuckBackendBlocksNeitherRequestNorOtherBackends) {
  ManagerConfig cfg;
  cfg.burst = 100;
  Harness h(cfg, 2);
  ASSERT_TRUE(h.StartAndSync());
  {
    std::lock_guard lk(h.fakes[0]->mu);
    h.fakes[0]->hold = true;
  }
  auto requests = std::async(std::launch::async, [&] {
    for (int i = 1; i <= 50; ++i) {
      const std::string t = "203.0.113." + std::to_string(i);
      if (h.mgr->Request(Rule(t.c_str())) != Outcome::kAdded) return false;
    }
    return h.mgr->List().size() == 50;
  });
  ASSERT_EQ(requests.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(requests.get());
  ASSERT_TRUE(WaitFor([&] { return h.fakes[1]->Count("add") == 50; }));
  EXPECT_EQ(h.fakes[0]->Count("add"), 0u);
  std::vector<BlockEvent> ev;
  EXPECT_GT(h.mgr->TakeEvents(&ev), 0u);
  h.fakes[0]->Release();
  ASSERT_TRUE(WaitFor([&] { return h.fakes[0]->Count("add") == 50; }));
}

TEST(BlockManager, BackendDownThenUpIsSyncedWithLiveBlocks) {
  Harness h(ManagerConfig{}, 2);
  {
    std::lock_guard lk(h.fakes[0]->mu);
    h.fakes[0]->start_ok = false;
  }
  ASSERT_TRUE(h.Start());
  ASSERT_TRUE(WaitFor([&] { return h.fakes[0]->Count("start", false) >= 3; }));
  EXPECT_FALSE(h.mgr->Backends()[0].available);
  EXPECT_EQ(h.mgr->Backends()[0].last_error, "connection refused");
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1")), Outcome::kAdded);
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.2")), Outcome::kAdded);
  std::string error;
  EXPECT_TRUE(h.mgr->Remove(P("203.0.113.2"), "alice", &error));
  {
    std::lock_guard lk(h.fakes[0]->mu);
    h.fakes[0]->start_ok = true;
  }
  ASSERT_TRUE(WaitFor([&] { return h.mgr->Backends()[0].available; }));
  ASSERT_TRUE(h.Settled(0));
  EXPECT_EQ(h.fakes[0]->Count("sync"), 1u);
  std::vector<IpPrefix> live;
  for (const auto& c : h.fakes[0]->Calls()) {
    if (c.op == "sync") live = c.live;
  }
  EXPECT_THAT(live, ElementsAre(P("203.0.113.1")));
  // The sync replaced the queued ops: nothing is sent twice.
  EXPECT_THAT(h.fakes[0]->Ops(), IsEmpty());

  std::vector<std::string> fake0;
  ASSERT_TRUE(WaitFor([&] {
    for (const BlockEvent& e : h.Events()) {
      if (e.backend == "fake0") fake0.push_back(e.action + " " + e.detail);
    }
    return fake0.size() >= 3;
  }));
  // One backend_down for many identical failures.
  EXPECT_THAT(fake0, ElementsAre("backend_down connection refused", "backend_up ",
                                 "applied sync (1 blocks)"));
  // After the sync, changes flow as ops again.
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.3")), Outcome::kAdded);
  ASSERT_TRUE(WaitFor([&] { return h.fakes[0]->Count("add") == 1; }));
}

TEST(BlockManager, EventsAreDrainedOnce) {
  Harness h(ManagerConfig{});
  ASSERT_TRUE(h.StartAndSync());
  EXPECT_EQ(h.mgr->Request(Rule("203.0.113.1")), Outcome::kAdded);
  ASSERT_TRUE(WaitFor([&] { return h.fakes[0]->Count("add") == 1; }));
  std::vector<BlockEvent> seen;
  ASSERT_TRUE(WaitFor([&] {
    h.mgr->TakeEvents(&seen);                  // appends
    return CountAction(seen, "applied") == 2;  // the sync and the add
  }));
  EXPECT_EQ(seen[0].action, "backend_up");
  EXPECT_EQ(seen[0].backend, "fake0");
  EXPECT_EQ(CountAction(seen, "add"), 1u);
  for (const BlockEvent& e : seen) EXPECT_EQ(e.ts_ms, kT0);
  std::vector<BlockEvent> out;
  EXPECT_EQ(h.mgr->TakeEvents(&out), 0u);
  EXPECT_THAT(out, IsEmpty());
}

TEST(BlockManager, ConcurrentRequestsFromManyThreads) {
  ManagerConfig cfg;
  cfg.max_active = 10000;
  cfg.burst = 10000;
  Harness h(cfg, 2);
  ASSERT_TRUE(h.StartAndSync());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        const std::string target = fmt::format("10.{}.{}.{}", 100 + t, i / 200, i % 200 + 1);
        h.mgr->Request(Rule(target.c_str()));
        h.mgr->Request(Rule(target.c_str()));
        std::vector<BlockEvent> ev;
        h.mgr->TakeEvents(&ev);
        (void)h.mgr->List();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.mgr->List().size(), 1000u);
  for (auto& f : h.fakes) ASSERT_TRUE(WaitFor([&] { return f->Count("add") == 1000; }));
}

// --- persistence ---

TEST(BlockManager, StateRoundTripAcrossRestart) {
  TempDir dir;
  ManagerConfig cfg;
  cfg.state_file = dir.File("blocks.json");
  {
    Harness h(cfg);
    ASSERT_TRUE(h.StartAndSync());  // no file yet: empty
    BlockRequest a = Rule("203.0.113.1", 100);
    a.reason = "ET \"quoted\" \xc3\xa9t\xc3\xa9";
    EXPECT_EQ(h.mgr->Request(a), Outcome::kAdded);
    EXPECT_EQ(h.mgr->Request(Operator("198.51.100.0/24", 10)), Outcome::kAdded);
    EXPECT_EQ(h.mgr->Request(Rule("2001:db9::7", 1000)), Outcome::kAdded);
    // Written by the manager's own thread, without waiting for Stop.
    ASSERT_TRUE(WaitFor([&] {
      StateFileContents s;
      std::string error;
      return ReadStateFile(cfg.state_file, &s, &error) && s.blocks.size() == 3;
    }));
    h.mgr->Stop();
  }
  const nlohmann::json doc = nlohmann::json::parse(ReadFile(cfg.state_file));
  EXPECT_EQ(doc["version"], 1);
  ASSERT_EQ(doc["blocks"].size(), 3u);
  EXPECT_EQ(doc["blocks"][0]["target"], "198.51.100.0/24");
  EXPECT_EQ(doc["blocks"][0]["source"], "operator");
  EXPECT_FALSE(std::filesystem::exists(cfg.state_file + ".tmp"));

  // 20 s later: the /24 (ttl 10 s) expired while the sensor was down.
  Harness h(cfg, 2);
  h.now = kT0 + 20'000;
  ASSERT_TRUE(h.StartAndSync());
  const auto list = h.mgr->List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].target, P("203.0.113.1"));
  EXPECT_EQ(list[0].source, BlockSource::kRule);
  EXPECT_EQ(list[0].gid, 1u);
  EXPECT_EQ(list[0].sid, 2000001u);
  EXPECT_EQ(list[0].reason, "ET \"quoted\" \xc3\xa9t\xc3\xa9");
  EXPECT_EQ(list[0].created_ms, kT0);
  EXPECT_EQ(list[0].expires_ms, kT0 + 100'000);
  EXPECT_EQ(list[1].target, P("2001:db9::7"));
  for (size_t i = 0; i < h.fakes.size(); ++i) {
    ASSERT_TRUE(h.Settled(i));
    const auto calls = h.fakes[i]->Calls();
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[0].op, "start");
    EXPECT_EQ(calls[1].op, "sync");
    EXPECT_THAT(calls[1].live, ElementsAre(P("203.0.113.1"), P("2001:db9::7")));
  }
  const auto ev = h.Events();
  EXPECT_THAT(Actions(ev), ElementsAre("expire 198.51.100.0/24"));
  // The file no longer holds the expired block.
  ASSERT_TRUE(WaitFor([&] {
    StateFileContents s;
    std::string error;
    return ReadStateFile(cfg.state_file, &s, &error) && s.blocks.size() == 2;
  }));
}

TEST(BlockManager, StateFileProblems) {
  struct Case {
    const char* name;
    std::string text;
    std::string error;  // "" = loads
  };
  const std::vector<Case> cases = {
      {"not json", "{\"version\": 1, \"blocks\": [", "not valid JSON"},
      {"empty file", "", "not valid JSON"},
      {"an array", "[]", "not a JSON object"},
      {"no version", "{\"blocks\": []}", "version: missing or not an integer"},
      {"future version", "{\"version\": 2, \"blocks\": []}", "version 2 is not supported"},
      {"no blocks", "{\"version\": 1}", "blocks: missing or not an array"},
      {"blocks not an array", "{\"version\": 1, \"blocks\": {}}",
       "blocks: missing or not an array"},
      {"empty", "{\"version\": 1, \"blocks\": []}", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    ManagerConfig cfg;
    cfg.state_file = dir.File("blocks.json");
    WriteFile(cfg.state_file, c.text);
    Harness h(cfg);
    std::string error;
    const bool ok = h.mgr->Start(&error);
    EXPECT_EQ(ok, c.error.empty()) << error;
    if (!c.error.empty()) {
      EXPECT_THAT(error, StartsWith("state file " + cfg.state_file + ": "));
      EXPECT_THAT(error, HasSubstr(c.error));
      h.mgr->Stop();
      // The file the operator has to look at is left as it was.
      EXPECT_EQ(ReadFile(cfg.state_file), c.text);
      EXPECT_THAT(h.fakes[0]->Calls(), IsEmpty());
    }
  }
}

TEST(BlockManager, UnreadableStateFileIsAnError) {
  TempDir dir;
  ManagerConfig cfg;
  cfg.state_file = dir.File("blocks.json");
  std::filesystem::create_directory(cfg.state_file);  // a directory cannot be read as a file
  Harness h(cfg);
  std::string error;
  EXPECT_FALSE(h.mgr->Start(&error));
  EXPECT_THAT(error, StartsWith("state file " + cfg.state_file + ": cannot read"));
}

TEST(BlockManager, UnwritableStateFileIsAStartError) {
  TempDir dir;
  ManagerConfig cfg;
  cfg.state_file = dir.File("missing-dir/blocks.json");
  Harness h(cfg);
  EXPECT_EQ(h.mgr->Request(Operator("203.0.113.1")), Outcome::kAdded);
  std::string error;
  EXPECT_FALSE(h.mgr->Start(&error));
  EXPECT_THAT(error, StartsWith("state file " + cfg.state_file + ": cannot create "));
  EXPECT_THAT(error, HasSubstr("No such file or directory"));
  h.mgr->Stop();
  for (auto& f : h.fakes) EXPECT_THAT(f->Calls(), IsEmpty());
}

TEST(BlockManager, BadStateEntriesAreSkipped) {
  TempDir dir;
  ManagerConfig cfg;
  cfg.state_file = dir.File("blocks.json");
  auto entry = [](std::string target, std::string source, int64_t sid, uint64_t expires) {
    return nlohmann::json{{"target", target},     {"source", source}, {"gid", 1},
                          {"sid", sid},           {"reason", "r"},    {"created_ms", kT0},
                          {"expires_ms", expires}};
  };
  nlohmann::json doc = {{"version", 1}, {"blocks", nlohmann::json::array()}};
  auto& blocks = doc["blocks"];
  blocks.push_back(entry("203.0.113.1", "rule", 5, kT0 + 60'000));      // good
  blocks.push_back(entry("not-an-ip", "rule", 5, kT0 + 60'000));        // bad target
  blocks.push_back(entry("203.0.113.0/24x", "rule", 5, kT0 + 60'000));  // bad target
  blocks.push_back(entry("203.0.113.5/24", "rule", 5, kT0 + 60'000));   // host bits
  blocks.push_back(entry("203.0.113.2", "magic", 5, kT0 + 60'000));     // bad source
  blocks.push_back(entry("203.0.113.3", "rule", -5, kT0 + 60'000));     // bad sid
  blocks.push_back(entry("203.0.113.4", "rule", 5, 0));                 // no expiry
  blocks.push_back("203.0.113.6");                                      // not an object
  nlohmann::json missing = entry("203.0.113.7", "rule", 5, kT0 + 60'000);
  missing.erase("created_ms");
  blocks.push_back(missing);
  blocks.push_back(entry("2001:db9::1", "indicator", 7, kT0 + 60'000));  // good
  WriteFile(cfg.state_file, doc.dump());

  StateFileContents contents;
  std::string error;
  ASSERT_TRUE(ReadStateFile(cfg.state_file, &contents, &error)) << error;
  EXPECT_EQ(contents.blocks.size(), 2u);
  ASSERT_EQ(contents.warnings.size(), 8u);
  EXPECT_THAT(contents.warnings[0], StartsWith("blocks[1]: target: "));
  EXPECT_THAT(contents.warnings[2], HasSubstr("host bits"));
  EXPECT_THAT(contents.warnings[3], StartsWith("blocks[4]: source: 'magic'"));
  EXPECT_THAT(contents.warnings[4], StartsWith("blocks[5]: sid: "));
  EXPECT_THAT(contents.warnings[5], StartsWith("blocks[6]: expires_ms: 0"));
  EXPECT_THAT(contents.warnings[6], StartsWith("blocks[7]: not an object"));
  EXPECT_THAT(contents.warnings[7], StartsWith("blocks[8]: created_ms: missing"));

  Harness h(cfg);
  ASSERT_TRUE(h.StartAndSync());
  const auto list = h.mgr->List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].target, P("203.0.113.1"));
  EXPECT_EQ(list[1].target, P("2001:db9::1"));
  EXPECT_EQ(list[1].source, BlockSource::kIndicator);
}

TEST(BlockManager, RestoredBlocksFollowTheCurrentConfiguration) {
  TempDir dir;
  ManagerConfig cfg;
  cfg.state_file = dir.File("blocks.json");
  cfg.max_ttl_s = 3600;
  std::vector<Block> blocks(3);
  blocks[0].target = P("203.0.113.1");   // now allowlisted
  blocks[1].target = P("192.168.1.1");   // now home_net
  blocks[2].target = P("198.51.100.1");  // longer than max_ttl_s now allows
  for (Block& b : blocks) {
    b.created_ms = kT0;
    b.expires_ms = kT0 + 86'400'000;
  }
  std::string error;
  ASSERT_TRUE(WriteStateFile(cfg.state_file, blocks, &error)) << error;
  cfg.allowlist = {P("203.0.113.0/24")};
  cfg.home_net = {P("192.168.0.0/16")};
  Harness h(cfg);
  ASSERT_TRUE(h.StartAndSync());
  const auto list = h.mgr->List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].target, P("198.51.100.1"));
  EXPECT_EQ(list[0].expires_ms, kT0 + 3'600'000);
  EXPECT_THAT(Actions(h.Events()),
              ElementsAre("remove 203.0.113.1 (allowlist)", "remove 192.168.1.1 (home_net)"));
}

TEST(StateFile, JsonRoundTrip) {
  std::vector<Block> blocks(2);
  blocks[0].target = P("203.0.113.0/25");
  blocks[0].source = BlockSource::kIndicator;
  blocks[0].gid = 1;
  blocks[0].sid = 4294967295u;
  blocks[0].reason = "list \"x\"";
  blocks[0].created_ms = kT0;
  blocks[0].expires_ms = kT0 + 1;
  blocks[1].target = P("2001:db9::/64");
  blocks[1].created_ms = 1;
  blocks[1].expires_ms = 18'446'744'073'709'551'615u;
  StateFileContents out;
  std::string error;
  ASSERT_TRUE(ParseState(StateToJson(blocks), &out, &error)) << error;
  EXPECT_THAT(out.warnings, IsEmpty());
  ASSERT_EQ(out.blocks.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(out.blocks[i].target, blocks[i].target);
    EXPECT_EQ(out.blocks[i].source, blocks[i].source);
    EXPECT_EQ(out.blocks[i].gid, blocks[i].gid);
    EXPECT_EQ(out.blocks[i].sid, blocks[i].sid);
    EXPECT_EQ(out.blocks[i].reason, blocks[i].reason);
    EXPECT_EQ(out.blocks[i].created_ms, blocks[i].created_ms);
    EXPECT_EQ(out.blocks[i].expires_ms, blocks[i].expires_ms);
  }
}

TEST(StateFile, WriteFailureNamesTheFile) {
  std::string error;
  EXPECT_FALSE(WriteStateFile("/nonexistent-dir/blocks.json", {}, &error));
  EXPECT_THAT(error, StartsWith("state file /nonexistent-dir/blocks.json: cannot create "
                                "/nonexistent-dir/blocks.json.tmp: "));
}

}  // namespace
}  // namespace fs::enforce
