// Timers keyed by absolute monotonic time. One interface, two drivers:
//  - UvTimers (probes/engine/loop.h) fires callbacks from one libuv timer on the loop;
//  - SimTimers fires them when a test advances a SimClock.
// The scheduler only sees this interface, so its timing is tested exactly.
// Not thread-safe: used from the loop thread (or the test's thread) only.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <queue>
#include <unordered_map>
#include <vector>

#include "common/clock.h"

namespace healthgate {

using TimerId = std::uint64_t;

class Timers {
 public:
  virtual ~Timers() = default;
  // Calls `fn` once at or after `at`. Returns an id for Cancel. A callback may
  // arm and cancel timers, including itself.
  virtual TimerId Arm(MonoTime at, std::function<void()> fn) = 0;
  // No-op for fired or unknown ids.
  virtual void Cancel(TimerId id) = 0;
  // How long, in total, callbacks have fired later than their deadlines (beyond
  // the driver's own resolution), counted once however many were due: the time
  // the thread running them was descheduled, CPU-throttled or busy while a
  // deadline was due. Never decreases. An attempt compares it at its start and at
  // its deadline to tell a slow target from a stalled prober (probes/engine/attempt.h).
  // Any thread (a relaxed sample).
  virtual Duration Stalled() const = 0;
};

// Measures Timers::Stalled() for a driver: each firing pass reports the earliest
// deadline it serves and the time it runs; lateness beyond `allowance` counts,
// and overlapping passes count their common time once.
class StallMeter {
 public:
  explicit StallMeter(Duration allowance) : allowance_(allowance) {}
  void OnFire(MonoTime earliest_due, MonoTime now);
  Duration Total() const { return Duration{total_ns_.load(std::memory_order_relaxed)}; }

 private:
  Duration allowance_;
  MonoTime covered_until_{};
  std::atomic<std::int64_t> total_ns_{0};
};

// A min-heap of deadlines with lazy cancellation; the shared core of both drivers.
class TimerQueue {
 public:
  TimerId Add(MonoTime at, std::function<void()> fn);
  void Remove(TimerId id) { callbacks_.erase(id); }
  // Earliest live deadline, if any.
  bool Next(MonoTime* at);
  // Runs every callback due at or before `now`, in deadline order (ties: arming order).
  // Returns how many ran.
  int RunDue(MonoTime now);
  std::size_t size() const { return callbacks_.size(); }

 private:
  struct Entry {
    MonoTime at;
    TimerId id;
    bool operator>(const Entry& o) const { return at != o.at ? at > o.at : id > o.id; }
  };
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
  std::unordered_map<TimerId, std::function<void()>> callbacks_;
  TimerId next_id_ = 1;
};

class SimTimers final : public Timers {
 public:
  explicit SimTimers(SimClock& clock) : clock_(clock) {}
  TimerId Arm(MonoTime at, std::function<void()> fn) override { return q_.Add(at, std::move(fn)); }
  void Cancel(TimerId id) override { q_.Remove(id); }
  Duration Stalled() const override { return meter_.Total(); }
  // Moves the clock forward to `until`, stopping at each deadline on the way so
  // callbacks observe Now() equal to their deadline.
  void AdvanceTo(MonoTime until);
  void Advance(std::chrono::nanoseconds d) { AdvanceTo(clock_.Now() + d); }
  // The thread running the callbacks does not run for `d`: the clock moves on with
  // no callback, then every callback due by then fires late, in deadline order,
  // and the lateness counts in Stalled(), as on a descheduled or throttled loop.
  void Stall(std::chrono::nanoseconds d);
  std::size_t pending() const { return q_.size(); }
  // Callbacks run so far (by AdvanceTo and Stall).
  std::uint64_t fired() const { return fired_; }

 private:
  SimClock& clock_;
  TimerQueue q_;
  std::uint64_t fired_ = 0;
  StallMeter meter_{Duration::zero()};
};

}  // namespace healthgate
