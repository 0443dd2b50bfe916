#include "operator/cli/readiness.h"

#include <string>

namespace healthgate::cli {

void StartupReadiness::Loaded() {
  if (loaded_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(mu_);
  if (loaded_.load(std::memory_order_relaxed)) return;
  loaded_at_ = clock_.Now();
  loaded_.store(true, std::memory_order_release);
}

server::HealthStatus StartupReadiness::Check(const char* not_loaded) const {
  if (ready_.load(std::memory_order_acquire)) return {true, ""};
  if (!loaded_.load(std::memory_order_acquire)) return {false, not_loaded};
  const std::size_t pending = store_.PendingChecks();
  if (pending > 0 && clock_.Now() - loaded_at_ < verdict_wait_) {
    return {false, "waiting for the first verdict of " + std::to_string(pending) + " checks"};
  }
  ready_.store(true, std::memory_order_release);
  return {true, ""};
}

}  // namespace healthgate::cli
