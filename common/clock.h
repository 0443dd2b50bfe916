// Injected time. Production code never calls std::chrono clocks directly, so
// tests drive time with SimClock and assert exact instants without sleeping.
#pragma once

#include <atomic>
#include <chrono>

namespace healthgate {

using MonoTime = std::chrono::time_point<std::chrono::steady_clock, std::chrono::nanoseconds>;
using WallTime = std::chrono::time_point<std::chrono::system_clock, std::chrono::nanoseconds>;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time for schedules and deadlines.
  virtual MonoTime Now() const = 0;
  // Wall-clock time for timestamps shown to users.
  virtual WallTime WallNow() const = 0;
};

class RealClock final : public Clock {
 public:
  MonoTime Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
};

// Thread-safe simulated clock: time only moves when a test calls Advance/Set.
class SimClock final : public Clock {
 public:
  explicit SimClock(WallTime wall_epoch = WallTime{std::chrono::seconds{1'800'000'000}})
      : wall_epoch_(wall_epoch) {}
  MonoTime Now() const override { return MonoTime{std::chrono::nanoseconds{ns_.load()}}; }
  WallTime WallNow() const override { return wall_epoch_ + std::chrono::nanoseconds{ns_.load()}; }
  void Advance(std::chrono::nanoseconds d) { ns_ += d.count(); }
  void Set(MonoTime t) { ns_ = t.time_since_epoch().count(); }

 private:
  WallTime wall_epoch_;
  std::atomic<std::int64_t> ns_{0};
};

}  // namespace healthgate
