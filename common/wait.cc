#include "common/wait.h"

#include <thread>

namespace healthgate::common {

Condition::Condition(Waits& waits) : waits_(waits) { waits_.Register(this); }
Condition::~Condition() { waits_.Unregister(this); }

void Stopper::Stop() {
  {
    std::lock_guard lock(cond_.mu());
    stopped_ = true;
  }
  cond_.NotifyAll();
}

bool Stopper::stopped() {
  std::lock_guard lock(cond_.mu());
  return stopped_;
}

bool Stopper::SleepFor(std::chrono::nanoseconds d) {
  std::unique_lock lock(cond_.mu());
  return cond_.WaitFor(lock, d, [this] { return stopped_; });
}

bool RealWaits::Wait(Condition& c, std::unique_lock<std::mutex>& lock,
                     std::optional<MonoTime> deadline, const std::function<bool()>& pred) {
  if (!deadline) {
    c.cv_.wait(lock, pred);
    return true;
  }
  // MonoTime is steady_clock's time point: the real clock's deadline as is.
  return c.cv_.wait_until(lock, *deadline, pred);
}

Waits& SystemWaits() {
  static RealWaits waits;
  return waits;
}

SimWaits::~SimWaits() = default;

void SimWaits::Register(Condition* c) {
  std::lock_guard lock(conds_mu_);
  conds_.insert(c);
}

void SimWaits::Unregister(Condition* c) {
  std::lock_guard lock(conds_mu_);
  conds_.erase(c);
}

void SimWaits::Advance(std::chrono::nanoseconds d) {
  std::lock_guard lock(conds_mu_);
  clock_.Advance(d);
  for (Condition* c : conds_) {
    // Taking the waiter's mutex orders this wake-up after a waiter that has
    // checked the old time and is about to block: it cannot be missed.
    { std::lock_guard held(c->mu_); }
    c->cv_.notify_all();
  }
}

bool SimWaits::Wait(Condition& c, std::unique_lock<std::mutex>& lock,
                    std::optional<MonoTime> deadline, const std::function<bool()>& pred) {
  while (!pred()) {
    if (deadline && clock_.Now() >= *deadline) return false;
    std::multiset<MonoTime>::iterator entry;
    {
      std::lock_guard s(stats_mu_);
      if (deadline)
        entry = deadlines_.insert(*deadline);
      else
        ++untimed_;
    }
    stats_cv_.notify_all();
    c.cv_.wait(lock);
    {
      std::lock_guard s(stats_mu_);
      if (deadline)
        deadlines_.erase(entry);
      else
        --untimed_;
    }
  }
  return true;
}

std::size_t SimWaits::blocked() const {
  std::lock_guard s(stats_mu_);
  return untimed_ + deadlines_.size();
}

std::size_t SimWaits::timed_blocked() const {
  std::lock_guard s(stats_mu_);
  return deadlines_.size();
}

std::optional<MonoTime> SimWaits::NextDeadline() const {
  std::lock_guard s(stats_mu_);
  if (deadlines_.empty()) return std::nullopt;
  return *deadlines_.begin();
}

bool SimWaits::AwaitTimedBlocked(std::size_t n, std::chrono::milliseconds limit) const {
  std::unique_lock s(stats_mu_);
  return stats_cv_.wait_for(s, limit, [&] { return deadlines_.size() >= n; });
}

std::optional<std::chrono::nanoseconds> SimWaits::AdvanceToNextDeadline(
    std::chrono::milliseconds limit) {
  if (!AwaitTimedBlocked(1, limit)) return std::nullopt;
  auto next = NextDeadline();
  if (!next) return std::nullopt;
  const auto d = std::max(std::chrono::nanoseconds(0), *next - clock_.Now());
  Advance(d);
  return d;
}

}  // namespace healthgate::common
