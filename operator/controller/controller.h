// Reconciles desired HealthChecks (from a source: local files or the Kubernetes
// watch) into the probe scheduler and the results store. Level-based and keyed by
// namespace/name: every call says what should exist now, the controller compares it
// with what runs and makes the difference (controller-runtime style), so a repeated
// or out-of-order notice is harmless.
//
// Rules:
//  - a probe whose definition is unchanged keeps its schedule, thresholds state and
//    history; a changed probe (an edit, a rotated secret) gets a new schedule with
//    a prompt first run but keeps its verdict, history and series (no "pending"
//    window); a removed probe stops and its series go;
//  - a check whose latest version is invalid keeps running its previous valid
//    version, and the store shows the error beside it (Ready=False, InvalidSpec when
//    there is no previous version);
//  - a probe whose Secret cannot be used does not run; it shows the lookup's reason
//    (SecretNotFound, SecretForbidden, SecretNotAllowed, SecretUnavailable), its
//    success metric is 0 with healthgate_probe_blocked naming the reason, and each
//    change is logged once.
//
// Thread-safety: Replace/Upsert/Remove/Refresh may be called from any thread (one
// source thread at a time); they resolve secrets on the caller's thread (file or
// API reads never run on the probe loops) and post the result to the control
// loop (`Deps::loop`), which alone touches the engine. OnProbeEvent is called on
// the probe loops, concurrently: it touches only thread-safe parts (store,
// metrics, log).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "operator/api/v1alpha1/model.h"
#include "operator/log/log.h"
#include "operator/metrics/metrics.h"
#include "operator/results/store.h"
#include "probes/engine/engine.h"
#include "probes/engine/loop.h"

namespace healthgate::controller {

// What a source wants for one check.
struct DesiredCheck {
  std::string ns;
  std::string name;
  // The latest valid version. A source may leave it unset when the latest version
  // is invalid: the controller then keeps the previous valid one, if any.
  // Immutable and shared: the controller keeps it (to re-resolve secrets) and the
  // scheduler's targets point into it, so each check's spec exists once.
  std::shared_ptr<const v1alpha1::HealthCheck> spec;
  // Non-empty when the latest version is invalid (all its errors, one per line).
  std::string invalid_message;
  // metadata.generation of the latest version (valid or not); 0 when unknown.
  std::int64_t generation = 0;
};

class Controller {
 public:
  struct Deps {
    probes::Loop& loop;
    results::Store& store;
    Metrics* metrics;  // may be null (e.g. in unit tests)
    v1alpha1::SecretResolver& secrets;
    Logger& log;
  };
  explicit Controller(Deps deps);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Must be called before any reconcile runs: the probe engine this controller
  // drives (from the control loop).
  void AttachEngine(probes::Engine* engine) { scheduler_ = engine; }

  // The whole desired state: checks not listed are removed.
  void Replace(std::vector<DesiredCheck> desired);
  // One check added or changed / removed (incremental sources).
  void Upsert(DesiredCheck desired);
  void Remove(const std::string& ns, const std::string& name);
  // Re-resolves secrets of every known check (a Secret may have changed).
  void Refresh();

  // The engine's sink (probe loop threads, concurrently; thread-safe).
  void OnProbeEvent(const probes::ProbeEvent& event);

  // Number of reconciles applied on the loop thread (for readiness and tests).
  std::uint64_t applied_generation() const { return applied_.load(); }
  // Number of reconcile batches submitted (applied_generation() catches up).
  std::uint64_t submitted_generation() const { return submitted_.load(); }
  // Blocks until every batch submitted before the call has been applied on the
  // loop and its temporaries freed, or `timeout` passes. True when caught up.
  // Any thread but the loop's.
  bool WaitApplied(std::chrono::milliseconds timeout);
  // Probes in the scheduler after the last applied reconcile.
  std::size_t scheduled_probes() const { return scheduled_.load(); }

 private:
  struct Planned {  // one check, materialized off the loop
    DesiredCheck desired;
    std::vector<v1alpha1::MaterializedProbe> probes;
  };
  // What the loop runs for one check: only what removal and change detection
  // need (the definitions themselves live in the scheduler, once). A probe's
  // scheduler key is "<ns>/<check>/<probe>".
  struct RunningProbe {
    std::string name;
    std::string type;
    std::string blocked_reason;  // empty: runs
    std::string blocked_message;
    bool blocked() const { return !blocked_reason.empty(); }
  };
  struct Running {
    std::vector<RunningProbe> probes;
    std::string invalid_message;  // last one logged
  };
  Planned Plan(DesiredCheck desired);
  // An invalid new version keeps the previous valid spec (desired_mu_ held).
  void CarryOver(DesiredCheck& d) const;
  void Submit(std::vector<Planned> batch, bool replace_all);
  // Loop thread.
  void Apply(Planned& planned);
  void RemoveOnLoop(const std::string& key);

  Deps deps_;
  probes::Engine* scheduler_ = nullptr;

  std::mutex desired_mu_;  // guards desired_ (source threads)
  std::map<std::string, DesiredCheck> desired_;

  // Loop thread only.
  std::map<std::string, Running> running_;  // by "<ns>/<name>"

  void MarkApplied();

  std::atomic<std::uint64_t> submitted_{0};
  std::atomic<std::uint64_t> applied_{0};
  std::mutex applied_mu_;
  std::condition_variable applied_cv_;
  std::atomic<std::size_t> scheduled_{0};
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace healthgate::controller
