#include "operator/sinks/work_queue.h"

#include <algorithm>

namespace healthgate::sinks {

WorkQueue::WorkQueue(Options options) : options_(std::move(options)) {}

void WorkQueue::Add(const std::string& key) {
  {
    std::lock_guard lock(mu_);
    queued_.insert(key);
  }
  cv_.notify_all();
}

std::chrono::milliseconds WorkQueue::Retry(const std::string& key) {
  std::chrono::milliseconds b;
  {
    std::lock_guard lock(mu_);
    auto& backoff = backoff_[key];
    backoff = backoff.count() == 0 ? options_.retry_min : std::min(backoff * 2, options_.retry_max);
    b = backoff;
    retry_at_[key] = Now() + b;
    queued_.insert(key);
  }
  cv_.notify_all();
  return b;
}

void WorkQueue::Succeeded(const std::string& key) {
  std::lock_guard lock(mu_);
  retry_at_.erase(key);
  backoff_.erase(key);
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  queued_.erase(key);
  retry_at_.erase(key);
  backoff_.erase(key);
}

std::optional<std::string> WorkQueue::TakeDue(TimePoint now, TimePoint* wake) {
  for (auto it = queued_.begin(); it != queued_.end(); ++it) {
    auto r = retry_at_.find(*it);
    if (r == retry_at_.end() || r->second <= now) {
      std::string key = *it;
      queued_.erase(it);
      return key;
    }
    if (wake) *wake = std::min(*wake, r->second);
  }
  return std::nullopt;
}

std::optional<std::string> WorkQueue::Next() {
  std::unique_lock lock(mu_);
  while (!shutdown_) {
    const TimePoint now = Now();
    TimePoint wake = now + std::chrono::hours(1);
    const bool any_due = std::any_of(queued_.begin(), queued_.end(), [&](const std::string& k) {
      auto r = retry_at_.find(k);
      return r == retry_at_.end() || r->second <= now;
    });
    if (any_due && options_.may_process && !options_.may_process()) {
      cv_.wait_for(lock, std::chrono::milliseconds(200));  // standby: keep them
      continue;
    }
    if (auto key = TakeDue(now, &wake)) return key;
    cv_.wait_until(lock, wake);
  }
  return std::nullopt;
}

std::optional<std::string> WorkQueue::TryNext() {
  std::lock_guard lock(mu_);
  return TakeDue(Now(), nullptr);
}

void WorkQueue::Shutdown() {
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
  }
  cv_.notify_all();
}

std::size_t WorkQueue::size() const {
  std::lock_guard lock(mu_);
  return queued_.size();
}

}  // namespace healthgate::sinks
