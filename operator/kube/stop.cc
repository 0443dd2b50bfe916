#include "operator/kube/stop.h"

#include <curl/curl.h>

namespace healthgate::kube {

void StopSignal::Stop() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->stopped = true;
  // Under the lock: DetachMulti cannot return (and the handle cannot be freed)
  // while the wakeup is in flight.
  if (state_->multi != nullptr) curl_multi_wakeup(static_cast<CURLM*>(state_->multi));
  if (state_->waker) state_->waker();
  state_->cv.notify_all();
}

bool StopSignal::stopped() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stopped;
}

bool StopSignal::WaitFor(std::chrono::nanoseconds d) const {
  std::unique_lock<std::mutex> lock(state_->mu);
  return state_->cv.wait_for(lock, d, [this] { return state_->stopped; });
}

bool StopSignal::AttachMulti(void* multi) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->stopped) return false;
  state_->multi = multi;
  return true;
}

void StopSignal::DetachMulti() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->multi = nullptr;
}

bool StopSignal::AttachWaker(std::function<void()> wake) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->stopped) return false;
  state_->waker = std::move(wake);
  return true;
}

void StopSignal::DetachWaker() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->waker = nullptr;
}

}  // namespace healthgate::kube
