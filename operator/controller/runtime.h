// The probing half of a running healthgate, shared by `local` and `operator`:
// loop thread, resolver, probe types, scheduler, results store, metrics and the
// controller that feeds them. Sources (files, the Kubernetes watch) drive the
// controller; sinks (HTTP server, status writer) read the store.
//
// Lifetime: construct, Start(), feed the controller, Stop() (joins the loop
// thread), destroy. Everything that lives on the loop is destroyed after the loop
// thread has stopped, so no callback runs concurrently with destruction.
#pragma once

#include <prometheus/registry.h>

#include <chrono>
#include <memory>

#include "common/clock.h"
#include "common/random.h"
#include "operator/controller/controller.h"
#include "operator/log/log.h"
#include "operator/metrics/metrics.h"
#include "operator/results/store.h"
#include "operator/api/v1alpha1/model.h"
#include "probes/engine/loop.h"
#include "probes/engine/resolver.h"
#include "probes/engine/scheduler.h"
#include "probes/probe_set.h"

namespace healthgate::controller {

class Runtime {
 public:
  Runtime(const healthgate::Clock& clock, Logger& log, v1alpha1::SecretResolver& secrets,
          std::uint64_t seed, probes::Scheduler::Options engine = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  void Start();
  void Stop();  // idempotent

  // Blocks until every reconcile submitted so far has been applied on the loop
  // (or `timeout` passes). Returns true when caught up.
  bool WaitApplied(std::chrono::milliseconds timeout);
  // The loop made progress within `max_age` (for /livez).
  bool LoopAlive(std::chrono::milliseconds max_age) const;

  results::Store& store() { return store_; }
  Metrics& metrics() { return metrics_; }
  Controller& controller() { return controller_; }
  probes::Loop& loop() { return loop_; }
  std::size_t scheduled_probes() const { return controller_.scheduled_probes(); }

 private:
  const healthgate::Clock& clock_;
  Logger& log_;
  probes::Loop loop_;
  probes::UvResolver resolver_;
  healthgate::SeededRandom random_;
  results::Store store_;
  Metrics metrics_;
  Controller controller_;
  std::unique_ptr<probes::UvTimers> timers_;
  std::unique_ptr<probes::ProbeSet> probes_;
  std::unique_ptr<probes::Scheduler> scheduler_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace healthgate::controller
