// Pod readiness gates: for every HealthCheck with `spec.readinessGate`, the pods
// it selects (same namespace, `podSelector`) get a status condition of type
// `conditionType` that is True exactly while the check is Ready. A pod opts in by
// listing that type in `spec.readinessGates`; the kubelet then keeps it out of its
// Services, and a rollout waits, until the check's dependencies are healthy.
// Pods that do not list the type are never touched.
//
// Level-based, like the status writer: a pod is marked dirty when it changes (pod
// watch), when a check that selects it changes Ready (store notice) or when a
// check's gate changes (spec); a worker thread compares the pod's condition with
// the wanted one and patches `pods/status` (strategic merge on the condition's
// `type`) only when they differ. Its own patch comes back through the watch and
// compares equal, so a stable cluster causes no pod traffic. Failed patches are
// retried with backoff. The pod watch starts with the first check that declares a
// gate, so clusters that use none never list pods.
//
// A deleted check, or one whose gate was removed, leaves its pods' condition as
// it was: healthgate never marks pods unready for a check that no longer exists.
//
// Thread-safety: every public method is thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "operator/kube/client.h"
#include "operator/kube/reflector.h"
#include "operator/log/log.h"
#include "operator/metrics/metrics.h"
#include "operator/results/store.h"
#include "operator/sinks/work_queue.h"
#include "operator/spec/model.h"

namespace healthgate::sinks {

// Whether `labels` (a pod's metadata.labels, a JSON object or null) match the
// selector: every matchLabels pair and every matchExpressions requirement (In,
// NotIn, Exists, DoesNotExist). An empty selector matches every pod. Pure.
bool SelectorMatches(const spec::LabelSelector& selector, const nlohmann::json& labels);

// The condition a gate wants on its pods.
struct GateCondition {
  std::string status;  // True, False
  std::string reason;
  std::string message;
  bool operator==(const GateCondition&) const = default;
};

// From a check's snapshot: True when Ready, else False with the Ready reason and
// message (ProbesPending while there is no verdict yet). Pure.
GateCondition GateConditionFor(const results::CheckSnapshot& check);

// Several checks gating the same pod with the same type: True only if all are.
GateCondition Combine(const GateCondition& a, const GateCondition& b);

// The strategic-merge patch body for `pods/status` that sets `type` to `want`, or
// nullopt when the pod already has that status, reason and message. The
// transition time is kept when the status does not change. Pure.
std::optional<nlohmann::json> PodConditionPatch(const nlohmann::json& pod, const std::string& type,
                                                const GateCondition& want, const std::string& now);

// Whether the pod's spec.readinessGates lists `type`. Pure.
bool PodHasGate(const nlohmann::json& pod, const std::string& type);

// What the pod cache keeps of a pod: identity and resourceVersion, and for pods
// that list readiness gates also labels, spec.readinessGates and
// status.conditions. Everything else (containers, volumes, status details) is
// dropped as the pod arrives, so watching every pod costs little memory. Pure.
nlohmann::json GatePodView(const nlohmann::json& pod);

class ReadinessGates {
 public:
  struct Options {
    std::string ns;                   // empty: pods of all namespaces
    std::function<bool()> may_write;  // when set and false: nothing is patched (standby)
    std::chrono::milliseconds retry_min{500};
    std::chrono::milliseconds retry_max{30'000};
  };
  ReadinessGates(kube::Client& client, const results::Store& store, Metrics* metrics, Logger& log,
                 const healthgate::Clock& clock, Options options);
  ~ReadinessGates();
  ReadinessGates(const ReadinessGates&) = delete;
  ReadinessGates& operator=(const ReadinessGates&) = delete;

  void Start();
  void Stop();

  // The check's gate as its latest valid spec declares it (nullopt: none).
  void SetGate(const std::string& ns, const std::string& name,
               const std::optional<spec::ReadinessGate>& gate);
  // The check is gone.
  void Forget(const std::string& ns, const std::string& name);
  // The check's snapshot changed (a store notice).
  void CheckChanged(const std::string& ns, const std::string& name);

 private:
  struct Gate {
    std::string ns;
    std::string check;
    spec::ReadinessGate gate;
  };
  void OnPod(const nlohmann::json& pod);
  void OnPodDeleted(const nlohmann::json& pod);
  void MarkSelected(const Gate& gate);  // mu_ held
  void StartPodWatch();                 // mu_ held
  void Run();
  void Reconcile(const std::string& pod_key);

  kube::Client& client_;
  const results::Store& store_;
  Metrics* metrics_;
  Logger& log_;
  const healthgate::Clock& clock_;
  Options options_;

  WorkQueue queue_;  // pod keys ns/name
  mutable std::mutex mu_;
  std::map<std::string, Gate> gates_;  // by check key ns/name
  // Pods that list any readiness gate: their labels, by pod key ns/name.
  std::map<std::string, nlohmann::json> gated_pods_;
  std::unique_ptr<kube::Reflector> pods_;
  bool started_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace healthgate::sinks
