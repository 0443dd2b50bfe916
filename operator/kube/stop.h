// A stop request shared between a controlling thread and a worker blocked in a
// watch or a backoff wait. Copies share one state. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

namespace healthgate::kube {

class StopSignal {
 public:
  StopSignal() : state_(std::make_shared<State>()) {}

  // Idempotent. Wakes every WaitFor and interrupts a blocked watch at once.
  void Stop();
  bool stopped() const;
  // Waits up to `d`; returns true when stopped (at once if already stopped).
  bool WaitFor(std::chrono::nanoseconds d) const;

  // For the watch loop: while attached, Stop() wakes the libcurl multi handle
  // (curl_multi_wakeup). Attach returns false when already stopped. The handle
  // stays valid until Detach returns.
  bool AttachMulti(void* multi) const;
  void DetachMulti() const;
  // The same for any other blocking wait (an in-memory watch): while attached,
  // Stop() calls `wake` (under the signal's lock: `wake` must not call back
  // into this signal). Attach returns false when already stopped; Detach
  // returns after a call in flight has finished.
  bool AttachWaker(std::function<void()> wake) const;
  void DetachWaker() const;

 private:
  struct State {
    mutable std::mutex mu;
    std::condition_variable cv;
    bool stopped = false;
    void* multi = nullptr;        // CURLM*, guarded by mu
    std::function<void()> waker;  // guarded by mu
  };
  std::shared_ptr<State> state_;
};

}  // namespace healthgate::kube
