#include "operator/sinks/work_queue.h"

#include <algorithm>

namespace healthgate::sinks {

WorkQueue::WorkQueue(Options options)
    : options_(std::move(options)),
      cond_(options_.waits != nullptr ? *options_.waits : common::SystemWaits()) {}

void WorkQueue::Add(const std::string& key) {
  {
    std::lock_guard lock(cond_.mu());
    queued_.insert(key);
    ++adds_;
  }
  cond_.NotifyAll();
}

void WorkQueue::AddAfter(const std::string& key, std::chrono::nanoseconds delay) {
  {
    std::lock_guard lock(cond_.mu());
    const TimePoint at = Now() + std::chrono::duration_cast<TimePoint::duration>(delay);
    auto [it, inserted] = later_.emplace(key, at);
    if (!inserted) it->second = std::min(it->second, at);
    ++adds_;
  }
  cond_.NotifyAll();
}

std::chrono::milliseconds WorkQueue::Retry(const std::string& key) {
  std::chrono::milliseconds b;
  {
    std::lock_guard lock(cond_.mu());
    auto& backoff = backoff_[key];
    backoff = backoff.count() == 0 ? options_.retry_min : std::min(backoff * 2, options_.retry_max);
    b = backoff;
    retry_at_[key] = Now() + b;
    queued_.insert(key);
    ++adds_;
  }
  cond_.NotifyAll();
  return b;
}

void WorkQueue::Succeeded(const std::string& key) {
  std::lock_guard lock(cond_.mu());
  retry_at_.erase(key);
  backoff_.erase(key);
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard lock(cond_.mu());
  queued_.erase(key);
  later_.erase(key);
  retry_at_.erase(key);
  backoff_.erase(key);
}

std::optional<std::string> WorkQueue::TakeDue(TimePoint now, TimePoint* wake) {
  for (auto it = later_.begin(); it != later_.end();) {
    if (it->second <= now) {
      queued_.insert(it->first);
      it = later_.erase(it);
    } else {
      if (wake) *wake = std::min(*wake, it->second);
      ++it;
    }
  }
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
  std::unique_lock lock(cond_.mu());
  while (!shutdown_) {
    const TimePoint now = Now();
    TimePoint wake = now + std::chrono::hours(1);
    const bool any_due =
        std::any_of(queued_.begin(), queued_.end(),
                    [&](const std::string& k) {
                      auto r = retry_at_.find(k);
                      return r == retry_at_.end() || r->second <= now;
                    }) ||
        std::any_of(later_.begin(), later_.end(), [&](const auto& l) { return l.second <= now; });
    if (any_due && options_.may_process && !options_.may_process()) {
      // Standby: keep them; look again in a while.
      cond_.WaitFor(lock, std::chrono::milliseconds(200), [this] { return shutdown_; });
      continue;
    }
    if (auto key = TakeDue(now, &wake)) return key;
    const std::uint64_t seen = adds_;
    cond_.WaitUntil(lock, wake, [&] { return shutdown_ || adds_ != seen; });
  }
  return std::nullopt;
}

std::optional<std::string> WorkQueue::TryNext() {
  std::lock_guard lock(cond_.mu());
  return TakeDue(Now(), nullptr);
}

void WorkQueue::Shutdown() {
  {
    std::lock_guard lock(cond_.mu());
    shutdown_ = true;
  }
  cond_.NotifyAll();
}

std::size_t WorkQueue::size() const {
  std::lock_guard lock(cond_.mu());
  std::size_t n = queued_.size();
  for (const auto& [key, at] : later_) n += queued_.count(key) ? 0 : 1;
  return n;
}

}  // namespace healthgate::sinks
