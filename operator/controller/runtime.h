// The probing half of a running healthgate, shared by `local` and `operator`:
// the control loop (where the controller applies reconciles), the probe engine
// (N probe loops, probes/engine/engine.h), the results store, metrics and the
// controller that feeds them. Sources (files, the Kubernetes watch) drive the
// controller; sinks (HTTP server, status writer) read the store.
//
// Threads: the control loop runs the controller's reconciles and, every second,
// samples each probe loop's load into the saturation gauges (a `loop` label),
// counts skipped runs and logs one warning per loop that stays saturated for
// 30 s. The probe loops call Controller::OnProbeEvent (thread-safe) directly.
//
// Lifetime: construct, Start(), feed the controller, Stop() (joins every loop
// thread), destroy. Everything that lives on a loop is destroyed after the loop
// threads have stopped, so no callback runs concurrently with destruction.
#pragma once

#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "common/clock.h"
#include "operator/api/v1alpha1/model.h"
#include "operator/controller/controller.h"
#include "operator/log/log.h"
#include "operator/metrics/metrics.h"
#include "operator/results/store.h"
#include "probes/engine/engine.h"
#include "probes/engine/loop.h"

namespace healthgate::controller {

class Runtime {
 public:
  Runtime(const healthgate::Clock& clock, Logger& log, v1alpha1::SecretResolver& secrets,
          std::uint64_t seed, probes::EngineOptions engine = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  void Start();
  void Stop();  // idempotent

  // Blocks until every reconcile submitted so far has been applied on the
  // control loop (or `timeout` passes). Returns true when caught up.
  bool WaitApplied(std::chrono::milliseconds timeout);
  // Every loop (control and probe loops) made progress within `max_age` (/livez).
  bool LoopAlive(std::chrono::milliseconds max_age) const;
  // The oldest heartbeat of all loops (for server::HeartbeatLiveness).
  healthgate::MonoTime LastHeartbeat() const;

  results::Store& store() { return store_; }
  Metrics& metrics() { return metrics_; }
  Controller& controller() { return controller_; }
  std::size_t probe_loops() const { return engine_.loops(); }
  std::size_t scheduled_probes() const { return controller_.scheduled_probes(); }

 private:
  void ReportLoad();  // control loop, every second

  const healthgate::Clock& clock_;
  Logger& log_;
  probes::Loop loop_;  // the control loop
  results::Store store_;
  Metrics metrics_;
  Controller controller_;
  probes::Engine engine_;
  std::unique_ptr<probes::UvTimers> timers_;  // on the control loop
  // Control loop only.
  struct LoopWatch {
    std::uint64_t skipped_seen = 0;
    std::uint64_t inconclusive_seen = 0;
    probes::Duration stalled_seen{};
    std::optional<healthgate::MonoTime> saturated_since;
    bool warned = false;
  };
  std::vector<LoopWatch> watch_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace healthgate::controller
