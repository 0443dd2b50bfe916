// The probe event loop: one libuv loop, driven by one thread. Every probe, timer
// and socket lives on it; other threads talk to it only through Post().
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/timers.h"

namespace healthgate::probes {

class Loop {
 public:
  explicit Loop(const Clock& clock);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* raw() { return &loop_; }
  const Clock& clock() const { return clock_; }

  // Thread-safe: runs `fn` on the loop thread soon. Functions posted after Stop()
  // are dropped.
  void Post(std::function<void()> fn);

  // Runs the loop on a new thread until Stop().
  void Start();
  // Thread-safe; waits for the loop thread to finish. Idempotent.
  void Stop();
  // Runs the loop on the calling thread until Stop() (called from a callback).
  void RunHere();
  bool InLoopThread() const { return std::this_thread::get_id() == thread_id_.load(); }

  // Monotonic time of the loop's last heartbeat (every 250 ms while it runs):
  // /livez compares it with now to tell a stuck loop from a live one.
  MonoTime LastHeartbeat() const {
    return MonoTime{std::chrono::nanoseconds{heartbeat_ns_.load()}};
  }

 private:
  static void OnAsync(uv_async_t* handle);
  static void OnHeartbeat(uv_timer_t* handle);
  void Drain();
  void CloseAll();

  const Clock& clock_;
  uv_loop_t loop_{};
  uv_async_t async_{};
  uv_timer_t heartbeat_{};
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
  bool stopping_ = false;
  bool closed_ = false;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::atomic<std::int64_t> heartbeat_ns_{0};
};

// Timers driven by a single uv_timer_t on the loop.
class UvTimers final : public Timers {
 public:
  explicit UvTimers(Loop& loop);
  ~UvTimers() override;
  TimerId Arm(MonoTime at, std::function<void()> fn) override;
  void Cancel(TimerId id) override;
  Duration Stalled() const override { return meter_.Total(); }

 private:
  static void OnTimer(uv_timer_t* handle);
  void Rearm();
  Loop& loop_;
  uv_timer_t* timer_;  // freed in its close callback
  TimerQueue q_;
  // libuv timers have millisecond resolution and Rearm rounds up: lateness
  // within this allowance is the driver's, not a stall.
  StallMeter meter_{std::chrono::milliseconds(2)};
  // While any timer is armed the driver wakes at least this often, so a stall is
  // measured (against wake_at_) even when no deadline falls inside it.
  static constexpr std::int64_t kWatchMs = 10;
  MonoTime wake_at_ = MonoTime::max();
  bool firing_ = false;
};

}  // namespace healthgate::probes
