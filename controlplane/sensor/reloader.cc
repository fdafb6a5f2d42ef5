#include "controlplane/sensor/reloader.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "controlplane/metrics/metrics.h"
#include "dataplane/scan/domain_match.h"
#include "dataplane/scan/ip_match.h"
#include "dataplane/scan/scanner.h"
#include "dataplane/worker/worker.h"

namespace fs::sensor {

namespace {

using Clock = std::chrono::steady_clock;

// A worker adopts a new set within one loop iteration (microseconds); this bound only guards
// against a worker stuck in a long offline back-pressure wait.
constexpr auto kQuiescentTimeout = std::chrono::seconds(10);

}  // namespace

bool LoadDetection(const ReloadSources& sources, uint64_t generation, const Detection* running,
                   const char* log_prefix, Detection* out, std::vector<std::string>* errors,
                   size_t* skipped) {
  patterns::ParseResult parsed = patterns::LoadRules(sources.rule_paths, sources.options);
  for (const auto& w : parsed.warnings) spdlog::warn("{}rules: {}", log_prefix, w.ToString());
  if (!parsed.errors.empty()) {
    for (const auto& e : parsed.errors) errors->push_back(e.ToString());
    return false;
  }
  if (skipped != nullptr) *skipped = parsed.stats.skipped;

  // Indicator lists: a missing file is an error; bad lines are reported and skipped.
  std::vector<patterns::IndicatorList> lists;
  for (const auto& lc : sources.indicators) {
    auto list = patterns::LoadIndicatorList(lc);
    if (!list.ok()) {
      errors->push_back(fmt::format("indicator list '{}': {}", lc.name, list.error().message));
      continue;
    }
    for (const auto& d : list.value().errors)
      spdlog::warn("{}indicators: {} (line skipped)", log_prefix, d.ToString());
    for (const auto& r : parsed.rules) {
      if (r.sid == lc.sid && r.gid == lc.gid) {
        errors->push_back(
            fmt::format("indicator list '{}' uses sid {}:{}, which rule {}:{} also uses", lc.name,
                        lc.gid, lc.sid, r.file, r.pos.line));
      }
    }
    spdlog::info("{}indicator list '{}': {} entries from {}", log_prefix, lc.name,
                 list.value().stats.entries, lc.file);
    lists.push_back(std::move(list.value()));
  }
  if (!errors->empty()) return false;

  const patterns::PatternSet* previous = running != nullptr ? running->set.get() : nullptr;
  auto compiled = patterns::PatternSet::Compile(std::move(parsed.rules), generation, previous,
                                                std::move(lists));
  if (!compiled.ok()) {
    errors->push_back(compiled.error().message);
    return false;
  }
  Detection d;
  d.set = std::move(compiled.value());
  if (!d.set->indicators().empty()) {
    if (running != nullptr && running->ip_matcher != nullptr &&
        running->set->indicators_digest() == d.set->indicators_digest()) {
      // Same lists, same bits: no rebuild, and no re-lookups in the workers (same pointers).
      d.ip_matcher = running->ip_matcher;
      d.domain_matcher = running->domain_matcher;
    } else {
      auto built = scan::IpMatcher::Build(d.set->indicators());
      if (!built.ok()) {
        errors->push_back(fmt::format("indicator lists: {}", built.error().message));
        return false;
      }
      d.ip_matcher = std::make_shared<const scan::IpMatcher>(std::move(built.value()));
      auto domains = scan::DomainMatcher::Build(d.set->indicators());
      if (!domains.ok()) {
        errors->push_back(fmt::format("indicator lists: {}", domains.error().message));
        return false;
      }
      d.domain_matcher = std::make_shared<const scan::DomainMatcher>(std::move(domains.value()));
    }
  }
  *out = std::move(d);
  return true;
}

Reloader::Reloader(ReloadSources sources, Detection initial, worker::Shared* shared,
                   std::vector<worker::Worker*> workers, metrics::Metrics* metrics)
    : sources_(std::move(sources)),
      shared_(shared),
      workers_(std::move(workers)),
      metrics_(metrics),
      current_(std::move(initial)) {
  if (metrics_ != nullptr && current_.set != nullptr)
    metrics_->SetPatternSetHash(current_.set->content_hash());
}

Reloader::~Reloader() = default;

std::shared_ptr<const patterns::PatternSet> Reloader::current() const {
  std::lock_guard<std::mutex> lock(sets_mu_);
  return current_.set;
}

std::shared_ptr<const patterns::PatternSet> Reloader::SetOf(uint64_t generation) const {
  std::lock_guard<std::mutex> lock(sets_mu_);
  if (current_.set != nullptr && current_.set->generation() == generation) return current_.set;
  auto it = retired_.find(generation);
  return it == retired_.end() ? nullptr : it->second.detection.set;
}

bool Reloader::WaitQuiescent(std::string* error) {
  const uint64_t gen = current()->generation();
  const auto deadline = Clock::now() + kQuiescentTimeout;
  for (worker::Worker* w : workers_) {
    while (w->quiescent_generation() < gen) {
      if (Clock::now() > deadline) {
        *error = fmt::format("worker {} has not adopted pattern-set generation {} yet; try again",
                             w->index(), gen);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // Taken over by the worker at its adoption; a finished worker may leave one behind.
    w->TakeRetiredScanner().reset();
  }
  return true;
}

void Reloader::Reclaim() {
  std::lock_guard<std::mutex> lock(sets_mu_);
  for (auto it = retired_.begin(); it != retired_.end();) {
    Retired& r = it->second;
    if (!r.quiescent) {
      bool all = true;
      for (worker::Worker* w : workers_) all = all && w->quiescent_generation() > it->first;
      if (all) {
        r.quiescent = true;
        r.ring_seen_empty.assign(workers_.size(), false);
      }
    }
    if (r.quiescent) {
      // An alert of this generation was pushed before the worker's report; once its ring was
      // seen empty after that, the output thread has taken it.
      bool drained = true;
      for (size_t i = 0; i < workers_.size(); ++i) {
        if (!r.ring_seen_empty[i] && workers_[i]->events().Empty()) r.ring_seen_empty[i] = true;
        drained = drained && r.ring_seen_empty[i];
      }
      if (drained) {
        spdlog::debug("pattern set generation {} freed", it->first);
        it = retired_.erase(it);
        continue;
      }
    }
    ++it;
  }
}

ReloadResult Reloader::Reload() {
  std::lock_guard<std::mutex> serial(reload_mu_);
  ReloadResult res;
  Detection running_detection;
  {
    std::lock_guard<std::mutex> lock(sets_mu_);
    running_detection = current_;
  }
  const std::shared_ptr<const patterns::PatternSet> running = running_detection.set;
  auto fill_running = [&res](const patterns::PatternSet& s) {
    res.generation = s.generation();
    res.content_hash = s.content_hash();
    res.rules = s.rules().size();
  };
  fill_running(*running);
  const auto t0 = Clock::now();
  auto fail = [&](std::vector<std::string> errors) {
    res.ok = false;
    res.errors = std::move(errors);
    res.compile_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    for (const auto& e : res.errors) spdlog::error("reload: {}", e);
    spdlog::error("reload failed ({} error(s)); still running pattern-set generation {} ({})",
                  res.errors.size(), res.generation, res.content_hash);
    if (metrics_ != nullptr) metrics_->CountReload("failed", res.compile_seconds);
    return res;
  };

  // 1. Parse, load the lists and compile: the slow part, on this (control) thread; workers keep
  // scanning.
  Detection next_detection;
  {
    std::vector<std::string> errors;
    if (!LoadDetection(sources_, running->generation() + 1, &running_detection,
                       "reload: ", &next_detection, &errors)) {
      return fail(std::move(errors));
    }
  }
  std::shared_ptr<const patterns::PatternSet> next = next_detection.set;
  res.compile_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (next->content_hash() == running->content_hash()) {
    res.ok = true;
    spdlog::info("reload: rules unchanged (hash {}); generation {} stays", res.content_hash,
                 res.generation);
    if (metrics_ != nullptr) metrics_->CountReload("unchanged", res.compile_seconds);
    return res;
  }

  // 2. The previous swap must be complete: each worker holds at most one offered scanner.
  std::string error;
  if (!WaitQuiescent(&error)) return fail({error});

  // 3. Per-worker scanners sized for the running set AND the next one (a worker may scan with
  // either until it adopts), allocated here so that the worker never allocates at the swap.
  std::vector<std::unique_ptr<scan::Scanner>> scanners;
  for (worker::Worker* w : workers_) {
    auto s = std::make_unique<scan::Scanner>();
    if (!s->Prepare(*running) || !s->Prepare(*next)) {
      return fail(
          {fmt::format("worker {}: cannot prepare Hyperscan scratch: {}", w->index(), s->error())});
    }
    scanners.push_back(std::move(s));
  }
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (!workers_[i]->OfferScanner(std::move(scanners[i]))) {
      // Cannot happen after WaitQuiescent (adoption takes the offer); never swap half-prepared.
      return fail({fmt::format("worker {}: an earlier scanner offer is pending", i)});
    }
  }

  // 4. Publish: workers adopt it at the top of their next burst. The matcher goes first: a worker
  // that sees the new set reads the matcher after it (Worker::AdoptPatterns), and none is still
  // adopting an older set (WaitQuiescent above).
  {
    std::lock_guard<std::mutex> lock(sets_mu_);
    retired_[running->generation()].detection = running_detection;
    current_ = next_detection;
  }
  shared_->ip_matcher.store(next_detection.ip_matcher.get(), std::memory_order_release);
  shared_->domain_matcher.store(next_detection.domain_matcher.get(), std::memory_order_release);
  shared_->patterns.store(next.get(), std::memory_order_release);
  res.ok = true;
  res.changed = true;
  fill_running(*next);
  for (const auto& w : next->warnings()) spdlog::warn("reload: rules: {}", w.ToString());
  spdlog::info("reload: pattern set generation {} in use ({} rules, hash {}, compiled in {:.3f} s)",
               res.generation, res.rules, res.content_hash, res.compile_seconds);
  if (metrics_ != nullptr) {
    metrics_->CountReload("ok", res.compile_seconds);
    metrics_->SetPatternSet(res.generation, res.rules);
    metrics_->SetPatternSetHash(res.content_hash);
  }
  return res;
}

}  // namespace fs::sensor
