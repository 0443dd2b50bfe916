// Runs every probe on its own schedule, on the loop thread.
//
// Timing contract (tested with SimTimers, exact instants):
//  - a new probe first runs at  added + initialDelay + U*interval  (U uniform in [0,1)),
//    so probes added together spread across one interval instead of bursting;
//  - run k is planned at  first + k*interval + J_k, J_k uniform in
//    [-jitter*interval, +jitter*interval]: no drift, however late a run starts;
//  - an attempt still in flight when its next run is due is not stacked: that run
//    is skipped (counted) and the following one planned as usual;
//  - after every attempt the thresholds advance and the sink hears about it.
// Not thread-safe: call it on the loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "probes/engine/attempt.h"
#include "probes/engine/random.h"
#include "probes/engine/thresholds.h"
#include "probes/prober.h"

namespace healthgate::probes {

// Targets are immutable once defined and shared: the controller keeps the spec a
// target came from, and the scheduler points into it rather than holding a copy
// (tens of thousands of probes).
using TargetPtr = std::shared_ptr<const Target>;

struct ProbeDefinition {
  std::string key;   // unique per scheduler, e.g. "namespace/check/probe"
  TargetPtr target;  // never null in a definition given to the scheduler
  Duration interval = std::chrono::seconds(10);
  Duration timeout = std::chrono::seconds(2);
  Duration initial_delay{0};
  Thresholds thresholds;
  // Equal targets compare by value: the same probe from a re-read spec is the same.
  bool operator==(const ProbeDefinition& o) const {
    return key == o.key && (target == o.target || (target && o.target && *target == *o.target)) &&
           interval == o.interval && timeout == o.timeout && initial_delay == o.initial_delay &&
           thresholds.success == o.thresholds.success && thresholds.failure == o.thresholds.failure;
  }
};

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
  };
  using Sink = std::function<void(const ProbeEvent&)>;

  Scheduler(Timers& timers, const Clock& clock, Random& random, Prober& prober, Sink sink,
            Options options);
  Scheduler(Timers& timers, const Clock& clock, Random& random, Prober& prober, Sink sink)
      : Scheduler(timers, clock, random, prober, std::move(sink), Options{}) {}
  ~Scheduler();

  // Adds a probe, or replaces one whose definition changed (fresh state and
  // schedule). An identical definition is left alone, state and schedule intact
  // (it only takes the new target pointer, so the old copy can be freed).
  // Returns true when something changed.
  bool Upsert(ProbeDefinition def);
  // Stops a probe; an attempt in flight is cancelled and never reported.
  void Remove(const std::string& key);
  bool Contains(const std::string& key) const { return jobs_.contains(key); }
  std::size_t size() const { return jobs_.size(); }
  std::uint64_t skipped_runs() const { return skipped_runs_; }
  std::size_t in_flight() const;

 private:
  struct Job {
    ProbeDefinition def;
    ThresholdState state;
    MonoTime first{};
    std::uint64_t run = 0;  // index of the next planned run
    MonoTime planned{};
    TimerId timer = 0;
    std::unique_ptr<Attempt> attempt;
    MonoTime attempt_planned{};
    MonoTime attempt_started{};
  };

  // Timer and attempt callbacks hold a Job*: Remove() cancels the job's timer
  // and destroys its attempt (which never reports afterwards) before the Job goes.
  void Plan(Job& job);
  void Fire(Job& job);
  void OnDone(Job& job, Result result);

  Timers& timers_;
  const Clock& clock_;
  Random& random_;
  Prober& prober_;
  Sink sink_;
  Options options_;
  // Keyed by a view of the job's own def.key (one copy of each key).
  std::unordered_map<std::string_view, std::unique_ptr<Job>> jobs_;
  std::uint64_t skipped_runs_ = 0;
};

}  // namespace healthgate::probes
