// The results store: the single place where probe outcomes become per-check
// state (conditions, per-probe records, history). Writers are the probe loop
// (results) and the controller (check definitions); readers are the HTTP server,
// the status writer and the metrics, which get immutable snapshots.
//
// Thread-safety: every method is thread-safe. Snapshots are immutable and shared
// (copy-on-write under a short lock), so readers never block the probe loop for
// longer than a pointer copy. Subscribers are called on the writer's thread,
// outside the lock, only when something a user can see changed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "operator/results/history.h"
#include "probes/engine/thresholds.h"
#include "probes/result.h"

namespace healthgate::results {

using healthgate::WallTime;

// What the controller tells the store about one probe of a check.
struct ProbeInfo {
  std::string name;
  std::string type;  // http, tcp, postgres, redis
  bool critical = true;
  // Non-empty: the probe cannot run (e.g. its Secret is missing); it counts as
  // failing with reason SecretNotFound.
  std::string blocked_reason;   // e.g. "SecretNotFound"
  std::string blocked_message;  // names the secret, never a value
  bool operator==(const ProbeInfo&) const = default;
};

// Immutable once made; shared by the controller's reconcile and every snapshot.
using ProbeInfoPtr = std::shared_ptr<const ProbeInfo>;

struct CheckInfo {
  std::string ns;
  std::string name;
  std::int64_t generation = 0;
  std::vector<ProbeInfoPtr> probes;  // none null
  // Non-empty: the latest spec is invalid. If `probes` is non-empty too, the
  // previous valid version keeps running and the error is shown beside it.
  std::string invalid_message;
};

// One probe in a snapshot. Every result copies the check's records
// (copy-on-write), so a record is kept to one inline block plus the shared
// definition: the history is a fixed ring, not a container that allocates.
struct ProbeRecord {
  ProbeInfoPtr info;  // never null
  probes::Health health = probes::Health::kUnknown;
  bool has_result = false;
  probes::Reason reason = probes::Reason::kSuccess;  // of the last result
  std::uint32_t consecutive_successes = 0;
  std::uint32_t consecutive_failures = 0;
  double latency_ms = 0;
  std::string message;  // of the last result
  probes::Timings timings;
  std::optional<WallTime> last_probe_time;
  std::optional<WallTime> last_transition_time;
  History history;  // oldest first, the newest Store::kHistory results
  bool healthy() const { return health == probes::Health::kHealthy; }
};

// A metav1.Condition.
struct Condition {
  std::string type;
  std::string status = "Unknown";  // True, False, Unknown
  std::string reason;
  std::string message;
  WallTime last_transition_time{};
  std::int64_t observed_generation = 0;
  bool SameVisible(const Condition& o) const {
    return type == o.type && status == o.status && reason == o.reason && message == o.message &&
           observed_generation == o.observed_generation;
  }
};

struct CheckSnapshot {
  std::string ns;
  std::string name;
  std::int64_t generation = 0;
  std::string invalid_message;
  std::vector<ProbeRecord> probes;
  Condition ready;     // type Ready
  Condition degraded;  // type Degraded
  // kstatus' abnormal-true pair (docs/operator.md, "Status contract"): Reconciling
  // is True while Ready has no verdict yet (Ready Unknown); Stalled is True for an
  // error that waiting cannot fix (an invalid generation, a missing, forbidden or
  // unlabelled Secret, a critical probe's credentials rejected past its failure
  // threshold). Never both True.
  Condition reconciling;
  Condition stalled;
  std::optional<WallTime> last_probe_time;
  // Bumped on every change a user can see (conditions, probe health/reason/message).
  std::uint64_t visible_version = 0;

  bool is_ready() const { return ready.status == "True"; }
  // Every probe (critical or not) healthy.
  bool all_healthy() const;
  std::size_t healthy_count() const;
  std::string key() const { return ns + "/" + name; }
};

using SnapshotPtr = std::shared_ptr<const CheckSnapshot>;

// Whether a Ready reason names an error that waiting cannot fix (it makes
// Stalled True): InvalidSpec, SecretNotFound, SecretForbidden, SecretNotAllowed.
bool IsPermanentReason(const std::string& ready_reason);

// Pure: the four conditions (Ready, Degraded, Reconciling, Stalled) from probe
// records and the spec's validity. `previous` keeps lastTransitionTime when a
// condition's status does not change.
void ComputeConditions(CheckSnapshot& s, const CheckSnapshot* previous, WallTime now);

class Store {
 public:
  static constexpr std::size_t kHistory = kHistoryLength;
  enum class Change { kUpserted, kRemoved };
  using Subscriber = std::function<void(const SnapshotPtr& snapshot, Change change)>;

  explicit Store(const healthgate::Clock& clock) : clock_(clock) {}

  // Adds or updates a check's definition. Records of probes whose name and type
  // are unchanged are kept unless `reset_probes` names them (their definition
  // changed: they start over).
  void UpsertCheck(const CheckInfo& info, const std::vector<std::string>& reset_probes = {});
  void RemoveCheck(const std::string& ns, const std::string& name);
  // Records one attempt's result and the thresholds' state after it.
  void RecordResult(const std::string& ns, const std::string& name, const std::string& probe,
                    const probes::Result& result, const probes::ThresholdState& state);

  SnapshotPtr Get(const std::string& ns, const std::string& name) const;
  // Sorted by namespace, then name. Empty `ns`: every namespace.
  std::vector<SnapshotPtr> List(const std::string& ns = "") const;
  std::size_t size() const;
  // Checks still waiting for their first verdict (Ready Unknown, ProbesPending).
  std::size_t PendingChecks() const;

  // Subscribers must not call back into the store's writers.
  void Subscribe(Subscriber s);

 private:
  void Publish(const SnapshotPtr& s, Change c);

  const healthgate::Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, SnapshotPtr> checks_;  // key ns/name
  std::mutex sub_mu_;
  std::vector<Subscriber> subscribers_;
};

}  // namespace healthgate::results
