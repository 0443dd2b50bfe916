#include "common/timers.h"

#include <algorithm>

namespace healthgate {

TimerId TimerQueue::Add(MonoTime at, std::function<void()> fn) {
  TimerId id = next_id_++;
  heap_.push(Entry{at, id});
  callbacks_.emplace(id, std::move(fn));
  return id;
}

bool TimerQueue::Next(MonoTime* at) {
  while (!heap_.empty() && !callbacks_.contains(heap_.top().id)) heap_.pop();
  if (heap_.empty()) return false;
  *at = heap_.top().at;
  return true;
}

int TimerQueue::RunDue(MonoTime now) {
  int ran = 0;
  MonoTime at;
  while (Next(&at) && at <= now) {
    TimerId id = heap_.top().id;
    heap_.pop();
    auto it = callbacks_.find(id);
    std::function<void()> fn = std::move(it->second);
    callbacks_.erase(it);
    fn();
    ++ran;
  }
  return ran;
}

void StallMeter::OnFire(MonoTime earliest_due, MonoTime now) {
  const MonoTime from = std::max(earliest_due + allowance_, covered_until_);
  if (now <= from) return;
  total_ns_.store(total_ns_.load(std::memory_order_relaxed) + (now - from).count(),
                  std::memory_order_relaxed);
  covered_until_ = now;
}

void SimTimers::Stall(std::chrono::nanoseconds d) {
  const MonoTime until = clock_.Now() + d;
  clock_.Set(until);
  MonoTime at;
  if (q_.Next(&at) && at <= until) meter_.OnFire(at, until);
  fired_ += static_cast<std::uint64_t>(q_.RunDue(until));
}

void SimTimers::AdvanceTo(MonoTime until) {
  MonoTime at;
  while (q_.Next(&at) && at <= until) {
    if (at > clock_.Now()) clock_.Set(at);
    fired_ += static_cast<std::uint64_t>(q_.RunDue(clock_.Now()));
  }
  if (until > clock_.Now()) clock_.Set(until);
}

}  // namespace healthgate
