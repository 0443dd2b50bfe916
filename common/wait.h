// Waits that an injected clock drives: a worker that sleeps for a backoff, a
// retry period or until its queue has work waits on a common::Condition, and
// the Waits it was given decides what time is.
//
//  - RealWaits: steady_clock; a wait is a condition_variable wait_until.
//  - SimWaits: a SimClock that only moves when a test calls Advance(); Advance
//    wakes every waiter, which re-checks its predicate and its deadline against
//    the simulated time. Tests see how many threads are blocked in a wait and
//    their deadlines (AwaitBlocked, NextDeadline), so they advance time exactly
//    when a worker is waiting and assert the exact delay it chose.
//
// Thread-safety: every method is thread-safe. A Condition must not outlive its
// Waits. Never call SimWaits::Advance while holding a Condition's mutex.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "common/clock.h"

namespace healthgate::common {

using MonoTime = healthgate::MonoTime;
class Condition;

class Waits {
 public:
  virtual ~Waits() = default;
  virtual const healthgate::Clock& clock() const = 0;

 protected:
  friend class Condition;
  // Blocks on `cv` (lock held on entry and on return) until pred() is true or
  // clock().Now() reaches `deadline` (nullopt: no deadline). Returns pred().
  virtual bool Wait(Condition& c, std::unique_lock<std::mutex>& lock,
                    std::optional<MonoTime> deadline, const std::function<bool()>& pred) = 0;
  virtual void Register(Condition*) {}
  virtual void Unregister(Condition*) {}
};

// A mutex and a condition variable whose timed waits follow a Waits' clock.
// Guard the state the predicate reads with mu().
class Condition {
 public:
  explicit Condition(Waits& waits);
  ~Condition();
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  std::mutex& mu() { return mu_; }
  Waits& waits() const { return waits_; }
  MonoTime Now() const { return waits_.clock().Now(); }

  // Call after changing the state under mu() (with or without holding it).
  void NotifyAll() { cv_.notify_all(); }

  // `lock` holds mu(). Each returns pred() at the end.
  bool Wait(std::unique_lock<std::mutex>& lock, const std::function<bool()>& pred) {
    return waits_.Wait(*this, lock, std::nullopt, pred);
  }
  bool WaitUntil(std::unique_lock<std::mutex>& lock, MonoTime deadline,
                 const std::function<bool()>& pred) {
    return waits_.Wait(*this, lock, deadline, pred);
  }
  bool WaitFor(std::unique_lock<std::mutex>& lock, std::chrono::nanoseconds d,
               const std::function<bool()>& pred) {
    return waits_.Wait(*this, lock, Now() + d, pred);
  }

 private:
  friend class RealWaits;
  friend class SimWaits;
  Waits& waits_;
  std::mutex mu_;
  std::condition_variable cv_;
};

// A stop flag whose sleeps follow a Waits' clock: SleepFor(d) returns true when
// stopped (at once if already), false when `d` passed.
class Stopper {
 public:
  explicit Stopper(Waits& waits) : cond_(waits) {}
  void Stop();
  bool stopped();
  bool SleepFor(std::chrono::nanoseconds d);
  const healthgate::Clock& clock() const { return cond_.waits().clock(); }

 private:
  Condition cond_;
  bool stopped_ = false;  // guarded by cond_.mu()
};

class RealWaits final : public Waits {
 public:
  const healthgate::Clock& clock() const override { return clock_; }

 protected:
  bool Wait(Condition& c, std::unique_lock<std::mutex>& lock, std::optional<MonoTime> deadline,
            const std::function<bool()>& pred) override;

 private:
  healthgate::RealClock clock_;
};

// The process's real waits (steady_clock).
Waits& SystemWaits();

class SimWaits final : public Waits {
 public:
  SimWaits() = default;
  ~SimWaits() override;
  const healthgate::Clock& clock() const override { return clock_; }
  healthgate::SimClock& sim_clock() { return clock_; }

  // Moves simulated time and wakes every waiter.
  void Advance(std::chrono::nanoseconds d);
  // Threads blocked in a wait now (timed or not).
  std::size_t blocked() const;
  std::size_t timed_blocked() const;
  // The earliest deadline of a blocked timed wait.
  std::optional<MonoTime> NextDeadline() const;
  // Blocks (real time, at most `limit`) until at least `n` threads are blocked
  // in timed waits. True when they are. For tests; not a timing assertion.
  bool AwaitTimedBlocked(std::size_t n,
                         std::chrono::milliseconds limit = std::chrono::milliseconds(10'000)) const;
  // Advances to the earliest blocked deadline (after AwaitTimedBlocked(1));
  // returns the delay advanced, or nullopt when nobody was waiting in time.
  std::optional<std::chrono::nanoseconds> AdvanceToNextDeadline(
      std::chrono::milliseconds limit = std::chrono::milliseconds(10'000));

 protected:
  bool Wait(Condition& c, std::unique_lock<std::mutex>& lock, std::optional<MonoTime> deadline,
            const std::function<bool()>& pred) override;
  void Register(Condition* c) override;
  void Unregister(Condition* c) override;

 private:
  healthgate::SimClock clock_{};
  // Order: conds_mu_ before any Condition's mutex; stats_mu_ is a leaf.
  std::mutex conds_mu_;
  std::set<Condition*> conds_;
  mutable std::mutex stats_mu_;
  mutable std::condition_variable stats_cv_;
  std::size_t untimed_ = 0;
  std::multiset<MonoTime> deadlines_;
};

}  // namespace healthgate::common
