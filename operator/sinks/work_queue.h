// A keyed work queue in the manner of client-go's rate-limited workqueue, for the
// level-based writers (status, pod readiness gates):
//  - a key added several times before a worker takes it is processed once
//    (notices coalesce; the worker reads the latest state when it gets to it);
//  - a failed key comes back after an exponential backoff (Retry), and its
//    backoff starts over once it succeeds (Succeeded) or is dropped (Forget);
//  - while `may_process` says no (a standby), keys wait in the queue.
//
// Next()'s waits (for a retry to become due, or a standby's poll) go through a
// common::Waits, so tests drive them with a simulated clock.
//
// Thread-safety: every method is thread-safe; Next() is meant for one worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "common/wait.h"

namespace healthgate::sinks {

class WorkQueue {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Options {
    std::chrono::milliseconds retry_min{200};
    std::chrono::milliseconds retry_max{5000};
    std::function<bool()> may_process;  // when set and false, Next() holds keys back
    std::function<TimePoint()> now;     // default: the waits' clock
    common::Waits* waits = nullptr;     // default: common::SystemWaits()
  };
  explicit WorkQueue(Options options);

  void Add(const std::string& key);
  // `key` is added once `delay` has passed (an earlier pending AddAfter of the
  // same key wins; an Add in the meantime processes it sooner, and once more then).
  void AddAfter(const std::string& key, std::chrono::nanoseconds delay);
  // Processing `key` failed: it is due again after its next backoff delay
  // (retry_min, doubling up to retry_max), which is returned.
  std::chrono::milliseconds Retry(const std::string& key);
  // Processing `key` succeeded: its backoff starts over.
  void Succeeded(const std::string& key);
  // `key` is gone: drop it and its backoff.
  void Forget(const std::string& key);

  // Blocks until a key is due (and may_process allows) and takes it; nullopt
  // once Shutdown() was called.
  std::optional<std::string> Next();
  // A key due now, if any, without blocking (ignores may_process).
  std::optional<std::string> TryNext();
  void Shutdown();

  std::size_t size() const;  // keys waiting, due or not (AddAfter included)

 private:
  // mu_ held. A due key, or the earliest time one becomes due.
  std::optional<std::string> TakeDue(TimePoint now, TimePoint* wake);
  TimePoint Now() const { return options_.now ? options_.now() : cond_.Now(); }

  Options options_;
  // cond_.mu() guards everything below.
  mutable common::Condition cond_;
  std::uint64_t adds_ = 0;  // bumped by Add/Retry: wakes a waiting Next()
  std::set<std::string> queued_;
  std::map<std::string, TimePoint> retry_at_;
  std::map<std::string, std::chrono::milliseconds> backoff_;
  std::map<std::string, TimePoint> later_;  // AddAfter, not yet due
  bool shutdown_ = false;
};

}  // namespace healthgate::sinks
