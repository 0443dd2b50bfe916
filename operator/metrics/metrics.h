// Prometheus metrics (prefix healthgate_), through prometheus-cpp's core
// registry; served by our own HTTP server. The registry is passed in (no global).
//
// Cardinality: probe series are labelled {namespace, healthcheck, probe, type}
// and removed with their probe or check. `healthgate_probes_total` counters are
// created on a result's first occurrence, so a probe that always succeeds costs
// one counter, not eight. HTTP series use route templates, never raw paths.
// The series that grow with the probes (per probe and per check) live in a
// ProbeSeriesTable (probe_series.h: compact, streamed); the rest in prometheus-cpp.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "operator/metrics/probe_series.h"
#include "probes/engine/thresholds.h"
#include "probes/result.h"

namespace healthgate {

class Metrics {
 public:
  explicit Metrics(std::shared_ptr<prometheus::Registry> registry);
  ~Metrics();

  // After every attempt (probe loop thread).
  void ProbeResult(const std::string& ns, const std::string& check, const std::string& probe,
                   const std::string& type, const probes::Result& result,
                   const probes::ThresholdState& state);
  // The probe cannot run (e.g. SecretNotFound): success 0, healthgate_probe_blocked.
  void ProbeBlocked(const std::string& ns, const std::string& check, const std::string& probe,
                    const std::string& type, const std::string& reason);
  void ProbeRemoved(const std::string& ns, const std::string& check, const std::string& probe);
  void CheckReady(const std::string& ns, const std::string& check, bool ready);
  void CheckRemoved(const std::string& ns, const std::string& check);

  void ScheduleLateness(probes::Duration lateness);
  void ScheduleSkipped(std::uint64_t runs = 1);
  // One probe loop's admission state (sampled every second), `loop` label.
  void ProbeLoad(std::size_t loop, std::size_t in_flight, std::size_t waiting,
                 std::size_t max_in_flight);
  // Growth since the last call of one loop's stall time (Timers::Stalled) and of
  // its inconclusive attempts (Result::inconclusive), `loop` label.
  void ProbeLoopStall(std::size_t loop, double stalled_seconds, std::uint64_t inconclusive);
  void WatchRestart();
  void StatusWrite(const std::string& result);  // success, conflict, error
  void EventEmitted(const std::string& type);   // Normal, Warning
  void HttpRequest(const std::string& route, const std::string& method, int code, double seconds);
  void SetLeader(bool leader);
  void SetReadinessGatePatch(const std::string& result);
  // A pod's gate condition changed to `status` (True, False) with `reason`.
  void ReadinessGateTransition(const std::string& status, const std::string& reason);

  // Prometheus text exposition of every family, plus process_* metrics, in
  // pieces (see ProbeSeriesTable::Write): what the HTTP server streams, so a
  // scrape never holds the whole text. Returns false when `write` did.
  bool WriteExposition(const ProbeSeriesTable::Writer& write) const;
  // The same, as one string (tests, small registries).
  std::string Serialize() const;

  // The prometheus-cpp registry: every family except the per-probe and
  // per-check ones, which only WriteExposition() renders.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  ProbeSeriesTable probe_series_;
  prometheus::Family<prometheus::Histogram>& lateness_;
  prometheus::Histogram& lateness_all_;
  prometheus::Counter& skipped_;
  prometheus::Counter& watch_restarts_;
  prometheus::Family<prometheus::Counter>& status_writes_;
  prometheus::Family<prometheus::Counter>& events_;
  prometheus::Family<prometheus::Counter>& http_requests_;
  prometheus::Family<prometheus::Histogram>& http_duration_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  prometheus::Family<prometheus::Gauge>& waiting_;
  prometheus::Family<prometheus::Gauge>& saturation_;
  prometheus::Family<prometheus::Counter>& stalled_;
  prometheus::Family<prometheus::Counter>& inconclusive_;
  prometheus::Gauge& leader_;
  prometheus::Family<prometheus::Counter>& gate_patches_;
  prometheus::Family<prometheus::Counter>& gate_transitions_;
  prometheus::Gauge& start_time_;

  mutable std::mutex mu_;
  std::map<std::string, prometheus::Histogram*> http_duration_series_;
};

// process_* metrics read from /proc/self (Linux), in Prometheus text format.
std::string ProcessMetricsText();

}  // namespace healthgate
