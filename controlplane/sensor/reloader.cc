#include "controlplane/sensor/reloader.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "controlplane/metrics/metrics.h"
#include "dataplane/scan/scanner.h"
#include "dataplane/worker/worker.h"

namespace fs::sensor {

namespace {

using Clock = std::chrono::steady_clock;

// A worker adopts a new set within one loop iteration (microseconds); this bound only guards
// against a worker stuck in a long offline back-pressure wait.
constexpr auto kQuiescentTimeout = std::chrono::seconds(10);

}  // namespace

Reloader::Reloader(ReloadSources sources, std::shared_ptr<const patterns::PatternSet> initial,
                   worker::Shared* shared, std::vector<worker::Worker*> workers,
                   metrics::Metrics* metrics)
    : sources_(std::move(sources)),
      shared_(shared),
      workers_(std::move(workers)),
      metrics_(metrics),
      current_(std::move(initial)) {
  if (metrics_ != nullptr && current_ != nullptr)
    metrics_->SetPatternSetHash(current_->content_hash());
}

Reloader::~Reloader() = default;

std::shared_ptr<const patterns::PatternSet> Reloader::current() const {
  std::lock_guard<std::mutex> lock(sets_mu_);
  return current_;
}

std::shared_ptr<const patterns::PatternSet> Reloader::SetOf(uint64_t generation) const {
  std::lock_guard<std::mutex> lock(sets_mu_);
  if (current_ != nullptr && current_->generation() == generation) return current_;
  auto it = retired_.find(generation);
  return it == retired_.end() ? nullptr : it->second.set;
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
  const std::shared_ptr<const patterns::PatternSet> running = current();
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

  // 1. Parse and compile: the slow part, on this (control) thread; workers keep scanning.
  patterns::ParseResult parsed = patterns::LoadRules(sources_.rule_paths, sources_.options);
  for (const auto& w : parsed.warnings) spdlog::warn("reload: rules: {}", w.ToString());
  if (!parsed.ok()) {
    std::vector<std::string> errors;
    for (const auto& e : parsed.errors) errors.push_back(e.ToString());
    return fail(std::move(errors));
  }
  auto compiled = patterns::PatternSet::Compile(std::move(parsed.rules), running->generation() + 1,
                                                running.get());
  if (!compiled.ok()) return fail({compiled.error().message});
  std::shared_ptr<const patterns::PatternSet> next = std::move(compiled.value());
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

  // 4. Publish: workers adopt it at the top of their next burst.
  {
    std::lock_guard<std::mutex> lock(sets_mu_);
    retired_[running->generation()].set = running;
    current_ = next;
  }
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
