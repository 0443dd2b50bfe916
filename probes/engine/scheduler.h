// Runs every probe on its own schedule, on the loop thread.
//
// Timing contract (tested with SimTimers, exact instants):
//  - a new probe first runs at  added + initialDelay + U*W  (U uniform in [0,1)), with
//    W = clamp(pending/max_first_runs_per_second, first_run_window, interval) where
//    `pending` counts the probes (this one included) whose first run is still due:
//    a new check or an edit gets its verdict within about a second, while many
//    probes added together (start-up) spread out instead of bursting;
//  - a changed definition replaces the job but keeps its thresholds state (the
//    verdict stays until the new definition's results move it, by the thresholds)
//    and first runs like a new probe (promptly);
//  - run k is planned at  first + k*interval + J_k, J_k uniform in
//    [-jitter*interval, +jitter*interval]: no drift, however late a run starts;
//  - an attempt still in flight when its next run is due is not stacked: that run
//    is skipped (counted) and the following one planned as usual;
//  - admission: an attempt starts only while fewer than `max_in_flight` attempts run
//    on this scheduler and fewer than the per-endpoint bound run against its server
//    (`Endpoint()`); otherwise the due run waits, in order of its due time, and starts
//    when a slot frees. Its deadline starts when it starts. A run still waiting when
//    the next one is due is skipped (counted, like a stacked run): overload shows as
//    lateness and skipped runs, never as a failure, and never moves the thresholds;
//  - a definition's `max_concurrent` (the probe's maxConcurrent) replaces the
//    per-endpoint bound for that probe's attempts;
//  - after every attempt the thresholds advance and the sink hears about it, except
//    an inconclusive one (Result::inconclusive: the loop itself stalled through the
//    attempt's deadline, probes/engine/attempt.h), which counts as a skipped run and
//    in inconclusive_runs(), and leaves state, verdict and last result as they were.
// Not thread-safe: call it on the loop thread. Exception: the load counters
// (skipped_runs, inconclusive_runs, in_flight, waiting, max_in_flight) may be read from any thread
// (relaxed atomics: a sample, for gauges), so the engine can report every loop's
// load without posting to it.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/random.h"
#include "probes/definition.h"
#include "probes/engine/attempt.h"
#include "probes/engine/thresholds.h"
#include "probes/prober.h"

namespace healthgate::probes {

// Targets are immutable once defined and shared: the controller keeps the spec a
// target came from, and the scheduler points into it rather than holding a copy
// (tens of thousands of probes).
struct ProbeEvent {
  const std::string& key;
  const Target& target;
  const Result& result;
  ThresholdState before;
  ThresholdState after;
  MonoTime planned;  // when the run was due
  MonoTime started;  // when it started (started - planned = lateness)
  WallTime finished_wall;
};

class Scheduler {
 public:
  struct Options {
    double jitter = 0.05;  // fraction of the interval, each side
    // First runs of new and changed probes spread over at least this window (and
    // at most their interval), widened so that no more than
    // `max_first_runs_per_second` start per second on average.
    Duration first_run_window = std::chrono::seconds(1);
    double max_first_runs_per_second = 2000;
    // Admission: attempts running at once on this scheduler (0: no bound), and
    // per endpoint (host:port). Connection-heavy servers (PostgreSQL) get the
    // smaller bound: each attempt starts a backend.
    std::size_t max_in_flight = 4096;
    std::size_t max_in_flight_per_endpoint = 64;
    std::size_t max_in_flight_per_database = 8;
  };
  using Sink = std::function<void(const ProbeEvent&)>;

  Scheduler(Timers& timers, const Clock& clock, Random& random, Prober& prober, Sink sink,
            Options options);
  Scheduler(Timers& timers, const Clock& clock, Random& random, Prober& prober, Sink sink)
      : Scheduler(timers, clock, random, prober, std::move(sink), Options{}) {}
  ~Scheduler();

  // Adds a probe, or replaces one whose definition changed (new schedule, first
  // run promptly; the thresholds state is kept, so the verdict does not reset).
  // An identical definition is left alone, state and schedule intact (it only
  // takes the new target pointer, so the old copy can be freed).
  // Returns true when something changed.
  bool Upsert(ProbeDefinition def);
  // Stops a probe; an attempt in flight is cancelled and never reported.
  void Remove(const std::string& key);
  // Removes a probe like Remove() and returns its thresholds state (nullopt when
  // unknown): the engine moves a probe to another loop with its verdict.
  std::optional<ThresholdState> Take(const std::string& key);
  // Gives a probe the thresholds state it had elsewhere, unless it has already
  // finished an attempt here (its own results are newer). False when not applied.
  bool AdoptState(const std::string& key, ThresholdState state);
  bool Contains(const std::string& key) const { return jobs_.contains(key); }
  std::size_t size() const { return jobs_.size(); }
  // Any thread (see above).
  std::uint64_t skipped_runs() const { return skipped_runs_.load(std::memory_order_relaxed); }
  std::uint64_t inconclusive_runs() const {
    return inconclusive_runs_.load(std::memory_order_relaxed);
  }
  std::size_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  // Due runs waiting for an admission slot.
  std::size_t waiting() const { return waiting_.load(std::memory_order_relaxed); }
  std::size_t max_in_flight() const { return options_.max_in_flight; }

 private:
  struct Job {
    ProbeDefinition def;
    ThresholdState state;
    MonoTime first{};
    std::uint64_t run = 0;      // index of the next planned run
    bool first_pending = true;  // counted in first_pending_ until its first run fires
    MonoTime planned{};
    TimerId timer = 0;
    std::unique_ptr<Attempt> attempt;
    MonoTime attempt_planned{};
    MonoTime attempt_started{};
    std::string endpoint;  // Endpoint(*def.target), for the per-endpoint bound
    std::size_t endpoint_bound = 0;
    bool waiting = false;   // in wait_
    bool reported = false;  // an attempt has finished since the Upsert
  };

  // Timer and attempt callbacks hold a Job*: Remove() cancels the job's timer
  // and destroys its attempt (which never reports afterwards) before the Job goes.
  void Plan(Job& job);
  void Fire(Job& job);
  void OnDone(Job& job, Result result);
  bool Admissible(const Job& job) const;
  void Start(Job& job);
  void Release(Job& job);  // the attempt's slot
  void Drain();            // starts waiting runs while slots are free

  Timers& timers_;
  const Clock& clock_;
  Random& random_;
  Prober& prober_;
  Sink sink_;
  Options options_;
  // Keyed by a view of the job's own def.key (one copy of each key).
  std::unordered_map<std::string_view, std::unique_ptr<Job>> jobs_;
  // Written by the loop thread only; read anywhere (relaxed).
  std::atomic<std::uint64_t> skipped_runs_{0};
  std::atomic<std::uint64_t> inconclusive_runs_{0};
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::size_t> waiting_{0};  // wait_.size()
  std::size_t first_pending_ = 0;        // jobs whose first run has not fired yet
  std::unordered_map<std::string, std::size_t> per_endpoint_;  // running attempts
  std::deque<Job*> wait_;                                      // by due time
  void CountSkipped(std::uint64_t n = 1) {
    skipped_runs_.store(skipped_runs_.load(std::memory_order_relaxed) + n,
                        std::memory_order_relaxed);
  }
  void SetInFlight(std::size_t n) { in_flight_.store(n, std::memory_order_relaxed); }
  void SyncWaiting() { waiting_.store(wait_.size(), std::memory_order_relaxed); }
};

}  // namespace healthgate::probes
