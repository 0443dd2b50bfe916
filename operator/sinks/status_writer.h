// Writes each HealthCheck's `status` through the status subresource, only when
// something a user can see changed: conditions, per-probe health, reason or
// message, observedGeneration, the summary. Probe runs that change nothing
// visible (latency, counters, lastProbeTime) cause no write; lastProbeTime and
// latencies are refreshed only along with a visible change (documented in
// docs/operator.md), so a stable cluster sees no status traffic at all.
//
// Level-based and coalesced: a notice only marks the object dirty; the writer
// thread reads the latest snapshot from the store when it gets to it, so ten
// changes in a row become one write. A failed write is retried with backoff;
// a Conflict or NotFound is retried (re-read) the same way; an object that is
// gone from the store is forgotten.
//
// Thread-safety: Notify/Forget from any thread; one writer thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "operator/log/log.h"
#include "operator/metrics/metrics.h"
#include "operator/results/store.h"
#include "operator/sinks/work_queue.h"

namespace healthgate::sinks {

enum class WriteResult { kOk, kConflict, kNotFound, kError };

// Writes `status` (the whole status object) for ns/name; sets `error` on failure.
using StatusPatchFn = std::function<WriteResult(const std::string& ns, const std::string& name,
                                                const nlohmann::json& status, std::string* error)>;

// The part of a status that a write is needed for (volatile fields removed).
nlohmann::json VisibleStatus(const nlohmann::json& status);

// Copies lastTransitionTime from `observed` (the status as stored) into `status`
// for every condition (by type) and probe (by name) whose state did not change,
// so a restarted operator does not rewrite transition times it never saw.
void KeepTransitionTimes(nlohmann::json& status, const nlohmann::json& observed);

// Whether a computed status must be written. Pure; the writer's policy:
// - `observed` (the status in the watch cache) known: write exactly when its
//   visible part differs, except that a pending (Unknown) Ready never replaces a
//   known one (a restarted operator keeps the status until probes have a verdict).
//   The cache may lag behind our own last write; a stale cache costs at most one
//   no-op write, and the watch event that brings the cache up to date triggers a
//   new comparison, so the stored status always converges on the computed one.
// - not known: write unless it equals the visible part of our last write.
// `status` gets the stored transition times of unchanged states (KeepTransitionTimes).
enum class WriteDecision { kWrite, kUpToDate, kKeepPending };
WriteDecision DecideWrite(nlohmann::json& status, const std::optional<nlohmann::json>& observed,
                          const nlohmann::json* last_written, bool invalid_spec);

// The object's status as the API server has it (from the watch cache), if known.
using ObservedStatusFn =
    std::function<std::optional<nlohmann::json>(const std::string& ns, const std::string& name)>;

class StatusWriter {
 public:
  struct Options {
    std::chrono::milliseconds retry_min{200};
    // Short: after an API server outage every status must catch up soon, and only
    // objects whose write failed are retried.
    std::chrono::milliseconds retry_max{5000};
    // When set: a status equal to what the server already has is not written,
    // and a pending (Unknown) status never overwrites a known one (restarts).
    ObservedStatusFn observed;
    // When set and false, nothing is written (a standby); dirty objects wait.
    std::function<bool()> may_write;
  };
  StatusWriter(const results::Store& store, StatusPatchFn patch, Metrics* metrics, Logger& log,
               Options options);
  StatusWriter(const results::Store& store, StatusPatchFn patch, Metrics* metrics, Logger& log)
      : StatusWriter(store, std::move(patch), metrics, log, Options{}) {}
  ~StatusWriter();

  void Start();
  void Stop();
  // Marks ns/name dirty (a store change, or a new observed status from the watch).
  void Notify(const std::string& ns, const std::string& name);
  // The object is gone: drop what we remember of it.
  void Forget(const std::string& ns, const std::string& name);
  std::uint64_t writes() const;

 private:
  void Run();
  void WriteOne(const std::string& key);

  const results::Store& store_;
  StatusPatchFn patch_;
  Metrics* metrics_;
  Logger& log_;
  Options options_;

  WorkQueue queue_;  // keys ns/name
  mutable std::mutex mu_;
  std::map<std::string, nlohmann::json> written_;  // visible part of the last write
  std::uint64_t writes_ = 0;
  std::thread thread_;
};

}  // namespace healthgate::sinks
