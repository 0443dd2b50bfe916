// Start-up readiness of the long-running modes (`local`, `operator`): /readyz says
// 200 only once the per-check URLs behind it say something true. Until the initial
// load (or list) is applied nothing is known; after it, each check's first verdict
// is awaited, for at most `verdict_wait` (probes are spread over a short window, so
// this is normally a second or two). A fresh replica behind a Service therefore
// never answers 503 "pending" for checks that another replica knows are Ready.
// Once ready it stays ready: later checks and edits keep their previous verdicts
// (see controller.h) and do not take the replica out of the Service.
//
// Thread-safety: every method from any thread.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>

#include "common/clock.h"
#include "operator/results/store.h"
#include "operator/server/server.h"

namespace healthgate::cli {

class StartupReadiness {
 public:
  StartupReadiness(const results::Store& store, const healthgate::Clock& clock,
                   probes::Duration verdict_wait)
      : store_(store), clock_(clock), verdict_wait_(verdict_wait) {}

  // The initial load/list has been applied to the controller. Idempotent; any thread.
  void Loaded();
  // `not_loaded` is the reason given before Loaded().
  server::HealthStatus Check(const char* not_loaded) const;

 private:
  const results::Store& store_;
  const healthgate::Clock& clock_;
  const probes::Duration verdict_wait_;
  std::mutex mu_;  // serializes Loaded()
  std::atomic<bool> loaded_{false};
  mutable std::atomic<bool> ready_{false};
  healthgate::MonoTime loaded_at_{};  // written before loaded_ is set
};

}  // namespace healthgate::cli
