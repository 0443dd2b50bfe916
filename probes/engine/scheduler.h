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
#include <unordered_map>

#include "probes/engine/attempt.h"
#include "probes/engine/random.h"
#include "probes/engine/thresholds.h"
#include "probes/prober.h"

namespace healthgate::probes {

struct ProbeDefinition {
  std::string key;  // unique per scheduler, e.g. "namespace/check/probe"
  Target target;
  Duration interval = std::chrono::seconds(10);
  Duration timeout = std::chrono::seconds(2);
  Duration initial_delay{0};
  Thresholds thresholds;
  bool operator==(const ProbeDefinition& o) const {
    return key == o.key && target == o.target && interval == o.interval && timeout == o.timeout &&
           initial_delay == o.initial_delay && thresholds.success == o.thresholds.success &&
           thresholds.failure == o.thresholds.failure;
  }
};

struct ProbeEvent {
  const std::string& key;
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
  // schedule). An identical definition is left alone, state and schedule intact.
  // Returns true when something changed.
  bool Upsert(const ProbeDefinition& def);
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

  void Plan(Job& job);
  void Fire(const std::string& key);
  void OnDone(const std::string& key, Result result);

  Timers& timers_;
  const Clock& clock_;
  Random& random_;
  Prober& prober_;
  Sink sink_;
  Options options_;
  std::unordered_map<std::string, std::unique_ptr<Job>> jobs_;
  std::uint64_t skipped_runs_ = 0;
};

}  // namespace healthgate::probes
