// Leader election over a coordination.k8s.io/v1 Lease, with client-go's
// semantics: the holder renews every `retry_period`; a candidate takes over only
// when the lease record has not changed for `lease_duration` as measured by ITS
// OWN monotonic clock since it last saw the record change (so clock skew between
// replicas does not matter); a leader that cannot renew within `renew_deadline`
// steps down before anyone else may take over. A released lease (empty holder)
// can be taken at once.
//
// This file is the pure decision step, table-tested with a simulated clock; the
// elector thread that talks to the API server applies its decisions.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/clock.h"
#include "operator/kube/time.h"

namespace healthgate::leader {

struct LeaseConfig {
  std::string identity;  // this replica, e.g. pod name + random suffix
  std::chrono::seconds lease_duration{15};
  std::chrono::seconds renew_deadline{10};
  std::chrono::seconds retry_period{2};
};

// The fields of a Lease's spec that election uses.
struct LeaseRecord {
  std::string holder;
  std::int64_t lease_duration_seconds = 0;
  std::string acquire_time;  // RFC 3339 micro time, as stored
  std::string renew_time;
  std::int64_t transitions = 0;
  bool operator==(const LeaseRecord&) const = default;
};

LeaseRecord RecordFromLease(const nlohmann::json& lease);
// The `spec` object for a Lease holding `record`.
nlohmann::json LeaseSpec(const LeaseRecord& record);
using kube::MicroTime;

enum class Action {
  kCreate,   // no lease yet: create it holding it
  kAcquire,  // expired or released: take it over (update with resourceVersion)
  kRenew,    // we hold it: update renewTime
  kWait,     // someone else holds a live lease
};

// What a replica remembers between steps.
struct ElectorState {
  std::optional<LeaseRecord> observed;  // last record seen
  healthgate::MonoTime observed_at{};   // when it last CHANGED, by our clock
  bool leading = false;
  healthgate::MonoTime last_renew{};  // our last successful renew/acquire
};

// Called after reading the lease (nullopt: it does not exist). Updates the
// observation and returns what to do next.
Action Decide(ElectorState& state, const std::optional<LeaseRecord>& current,
              const LeaseConfig& config, healthgate::MonoTime now);

// The record to write for kCreate/kAcquire/kRenew.
LeaseRecord NextRecord(Action action, const std::optional<LeaseRecord>& current,
                       const LeaseConfig& config, healthgate::WallTime wall_now);

// A leader that has not renewed within renew_deadline must stop leading.
bool MustStepDown(const ElectorState& state, const LeaseConfig& config, healthgate::MonoTime now);

}  // namespace healthgate::leader
