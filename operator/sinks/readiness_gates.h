// Pod readiness gates: for every HealthCheck with `spec.readinessGate`, the pods
// it selects (same namespace, `podSelector`) get a status condition of type
// `conditionType`. A pod opts in by listing that type in `spec.readinessGates`;
// the kubelet keeps it out of its Services, and a rollout waits, while the
// condition is not True. Pods that do not list the type are never touched.
//
// What the condition follows is the gate's mode (docs/operator.md, "Readiness
// gates"):
//  - Rollout (the default): False until the check is Ready on a verdict made
//    after the pod was created, then True for the pod's lifetime (the pod's own
//    condition is the latch, so a restarted healthgate keeps it). A later
//    dependency failure never pulls a serving pod.
//  - Continuous: True while the check is Ready; turned False when it is not, but
//    never while maxUnavailable of the selected pods are already False.
//  - failOpenAfter: a pod still gated that long gets True with reason FailOpen.
// Each transition of a pod's condition (released, failed open, closed) is
// reported once through Options::on_event (a pod Event); the first False a new
// pod gets is not a transition (without the condition the gate is unmet too).
//
// Level-based, like the status writer: a pod is marked dirty when it changes (pod
// watch), when a check that selects it changes Ready (store notice), when a
// check's gate changes (spec), when a pod it selects is deleted (Continuous
// budget), or when a decision asked to look again (a fail-open deadline, a
// verdict newer than the pod); a worker thread compares the pod's condition with
// the wanted one and patches `pods/status` (strategic merge on the condition's
// `type`) only when they differ. Its own patch comes back through the watch and
// compares equal, so a stable cluster causes no pod traffic. Until it does, the
// patched pod stands in for the cached one, so the Continuous budget counts
// what was written. Failed patches are retried with backoff. The pod watch
// starts with the first check that declares a gate, so clusters that use none
// never list pods.
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
#include "common/rfc3339.h"
#include "common/wait.h"
#include "operator/api/v1alpha1/model.h"
#include "operator/kube/interface.h"
#include "operator/kube/reflector.h"
#include "operator/log/log.h"
#include "operator/metrics/metrics.h"
#include "operator/results/store.h"
#include "operator/sinks/work_queue.h"

namespace healthgate::sinks {

// Whether `labels` (a pod's metadata.labels, a JSON object or null) match the
// selector: every matchLabels pair and every matchExpressions requirement (In,
// NotIn, Exists, DoesNotExist). An empty selector matches every pod. Pure.
bool SelectorMatches(const v1alpha1::LabelSelector& selector, const nlohmann::json& labels);

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

// The strategic-merge patch body for `pods/status` that sets `type` to `want`, or
// nullopt when the pod already has that status, reason and message. The
// transition time is kept when the status does not change. Pure.
std::optional<nlohmann::json> PodConditionPatch(const nlohmann::json& pod, const std::string& type,
                                                const GateCondition& want, const std::string& now);

// Whether the pod's spec.readinessGates lists `type`. Pure.
bool PodHasGate(const nlohmann::json& pod, const std::string& type);

// What a gate decision reads of a pod.
struct PodGate {
  std::optional<GateCondition> current;  // its condition of the gate's type; nullopt: none
  WallTime created{};                    // metadata.creationTimestamp
  // Since when the pod has been gated: its creation, or the lastTransitionTime
  // of a False condition when that is later (Continuous mode turned it False).
  WallTime gated_since{};
};
// From a pod (or its GatePodView). Missing or malformed times read as the epoch
// (so they never delay a fail-open). Pure.
PodGate PodGateOf(const nlohmann::json& pod, const std::string& type);

// Whether every critical probe of the check has a result from `t` or later (a
// verdict made after the pod was created). Pure.
bool VerdictSince(const results::CheckSnapshot& check, WallTime t);

struct GateDecision {
  std::optional<GateCondition> want;   // nullopt: leave the pod's condition as it is
  std::optional<WallTime> recheck_at;  // decide again then (the fail-open deadline)
  // Ready, on results older than the pod: decide again after the next result
  // (the store announces changes, not results, so the caller polls).
  bool await_verdict = false;
};

// One gate's decision for one pod, from the check's snapshot (null: none yet).
// `may_close`: Continuous mode may turn this pod False now (fewer than
// maxUnavailable selected pods are False). Pure.
GateDecision DecideGate(const v1alpha1::ReadinessGate& gate, const std::string& check_name,
                        const results::CheckSnapshot* check, const PodGate& pod, bool may_close,
                        WallTime now);

// Several gates of one type on one pod: False if any wants False (the first),
// else True if any wants True (FailOpen shown over Ready), else nullopt. Pure.
std::optional<GateCondition> CombineDecisions(const std::vector<GateDecision>& decisions);

// The Event for a change of a pod's condition from `before` to `after`:
// Normal ReadinessGateReleased (to True, Ready), Warning ReadinessGateFailOpen
// (to True, FailOpen), Warning ReadinessGateClosed (True to False); nullopt for
// no transition (same status, or a first False). Pure.
struct GateEvent {
  std::string type;  // Normal, Warning
  std::string reason;
  std::string message;
};
std::optional<GateEvent> TransitionEvent(const std::optional<GateCondition>& before,
                                         const GateCondition& after,
                                         const std::string& condition_type);

// An Event on a pod, for Options::on_event.
struct PodEvent {
  std::string ns, name, uid;
  GateEvent event;
};

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
    // Each transition of a pod's condition, after its patch succeeded.
    std::function<void(const PodEvent&)> on_event;
    // How often a pod waiting for a verdict newer than itself looks again (the
    // store announces changes, not every result).
    std::chrono::milliseconds verdict_poll{1000};
  };
  // `waits` gives the clock (transition times), the retry waits and the pod
  // reflector's backoff.
  ReadinessGates(kube::Interface& client, const results::Store& store, Metrics* metrics,
                 Logger& log, common::Waits& waits, Options options);
  ~ReadinessGates();
  ReadinessGates(const ReadinessGates&) = delete;
  ReadinessGates& operator=(const ReadinessGates&) = delete;

  void Start();
  void Stop();

  // The check's gate as its latest valid spec declares it (nullopt: none).
  void SetGate(const std::string& ns, const std::string& name,
               const std::optional<v1alpha1::ReadinessGate>& gate);
  // The check is gone.
  void Forget(const std::string& ns, const std::string& name);
  // The check's snapshot changed (a store notice).
  void CheckChanged(const std::string& ns, const std::string& name);

  // For tests: the pod reflector (null until the first gate), pods waiting.
  const kube::Reflector* pod_reflector() const;
  std::size_t pending() const { return queue_.size(); }

 private:
  struct Gate {
    std::string ns;
    std::string check;
    v1alpha1::ReadinessGate gate;
  };
  // What the pod index keeps of a pod that lists readiness gates.
  struct GatedPod {
    nlohmann::json labels;
    std::map<std::string, std::string> status;  // condition type -> status, of listed types
  };
  // A pod as this worker patched it, until the watch brings that version.
  struct Written {
    nlohmann::json view;  // GatePodView of the patch's answer
    std::string resource_version;
    MonoTime at;
  };
  static constexpr std::chrono::seconds kWrittenTtl{60};
  void OnPod(const nlohmann::json& pod);
  void OnPodDeleted(const nlohmann::json& pod);
  void Index(const std::string& key, const nlohmann::json& view);  // mu_ held
  void MarkSelected(const Gate& gate);                             // mu_ held
  void StartPodWatch();                                            // mu_ held
  // Continuous: whether one more selected pod may turn False (mu_ held).
  bool MayClose(const Gate& gate) const;
  void Run();
  void Reconcile(const std::string& pod_key);

  kube::Interface& client_;
  const results::Store& store_;
  Metrics* metrics_;
  Logger& log_;
  common::Waits& waits_;
  const healthgate::Clock& clock_;
  Options options_;

  WorkQueue queue_;  // pod keys ns/name
  mutable std::mutex mu_;
  std::map<std::string, Gate> gates_;  // by check key ns/name
  // Pods that list any readiness gate, by pod key ns/name.
  std::map<std::string, GatedPod> gated_pods_;
  std::map<std::string, Written> written_;  // by pod key
  std::unique_ptr<kube::Reflector> pods_;
  bool started_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace healthgate::sinks
