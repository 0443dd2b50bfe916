// The per-probe and per-check Prometheus series, held compactly and written
// straight to the text exposition format:
//
//   healthgate_probe_success{namespace,healthcheck,probe,type}               gauge
//   healthgate_probe_duration_seconds{namespace,healthcheck,probe,type}      histogram
//   healthgate_probes_total{namespace,healthcheck,probe,type,result}         counter
//   healthgate_probe_consecutive_failures{namespace,healthcheck,probe,type}  gauge
//   healthgate_healthcheck_ready{namespace,healthcheck}                      gauge
//   healthgate_probe_blocked{namespace,healthcheck,probe,type,reason}       gauge, 1 while blocked
//
// Why not prometheus-cpp's Family/Gauge/Histogram for these: they are the only
// series whose number grows with the probes (14 per probe, tens of thousands of
// probes). prometheus-cpp keeps a label map per series in each family (~2.9 KB per
// probe measured with heaptrack), and a scrape first copies every series into a
// vector<MetricFamily> (one ClientMetric with its own label strings per series)
// before TextSerializer renders it, so a scrape transiently needs several times
// the size of its text. Here a probe costs one small struct (the label strings
// once, plain counters), and Write() renders the families in bounded pieces that
// the HTTP server streams out, so a scrape needs one piece of memory, not the
// whole exposition. The format written is the one TextSerializer writes (same
// names, HELP, TYPE, label names in the same sorted order); `promtool check
// metrics` is run on it by the tests. Everything else stays in prometheus-cpp.
//
// Semantics kept from the prometheus-cpp version: a probe's series appear with
// its first result; a `probes_total` series appears with the first result of its
// `result` label (a probe that always succeeds has one, not eight); a family
// without series is not written at all; series of a removed probe or check go.
//
// Thread-safety: every method is thread-safe. Write() holds the lock only while
// it renders one piece, never while the writer sends it, so a slow scraper does
// not block the probe loop; a scrape that overlaps changes shows each check
// either before or after the change.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "probes/result.h"

namespace healthgate {

class ProbeSeriesTable {
 public:
  // Upper bounds (seconds) of the duration histogram's finite buckets: 1 ms..5 s,
  // enough for histogram_quantile on probe latency (+Inf is implied).
  static constexpr std::array<double, 8> kDurationBuckets = {0.001, 0.005, 0.01, 0.05,
                                                             0.1,   0.5,   1,    5};
  // Receives the text piece by piece; returning false stops the writing.
  using Writer = std::function<bool(std::string_view)>;

  // One attempt's outcome and the consecutive failures after it.
  void Record(std::string_view ns, std::string_view check, std::string_view probe,
              std::string_view type, bool healthy, double seconds, probes::Reason reason,
              std::uint32_t consecutive_failures);
  // The probe cannot run (`reason`, e.g. SecretNotFound): its success gauge says 0
  // (it is not passing, whatever it did before) and healthgate_probe_blocked
  // names the reason. The next Record() (it runs again) ends the blocked state.
  void SetBlocked(std::string_view ns, std::string_view check, std::string_view probe,
                  std::string_view type, std::string_view reason);
  void RemoveProbe(std::string_view ns, std::string_view check, std::string_view probe);
  void SetReady(std::string_view ns, std::string_view check, bool ready);
  // Every series of the check (its probes' and its ready gauge).
  void RemoveCheck(std::string_view ns, std::string_view check);

  // Renders the five families in pieces of about `piece_bytes` (a check's series
  // are never split). Returns false when `write` did.
  bool Write(const Writer& write, std::size_t piece_bytes = 64 * 1024) const;

  std::size_t probes() const;
  std::size_t checks() const;

 private:
  struct Probe {
    std::string name;
    std::string type;
    bool success = false;
    std::uint32_t consecutive_failures = 0;
    std::string blocked;  // the reason while blocked, else empty
    // Per bucket (not cumulative); the last one is +Inf.
    std::array<std::uint64_t, kDurationBuckets.size() + 1> buckets{};
    double duration_sum = 0;
    // By probes::Reason; a series is written once its count is non-zero.
    std::array<std::uint64_t, std::size(probes::kAllReasons)> totals{};
  };
  struct Check {
    std::optional<bool> ready;  // unset: no ready series
    std::vector<Probe> probes;  // only probes with a result, or blocked
    bool empty() const { return !ready && probes.empty(); }
  };
  using Key = std::pair<std::string, std::string>;  // namespace, name
  struct KeyLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      int c = std::string_view(a.first).compare(std::string_view(b.first));
      return c != 0 ? c < 0 : std::string_view(a.second) < std::string_view(b.second);
    }
  };
  using Map = std::map<Key, Check, KeyLess>;
  enum class Family { kSuccess, kDuration, kTotals, kConsecutiveFailures, kReady, kBlocked };
  Probe& FindOrAdd(std::string_view ns, std::string_view check, std::string_view probe,
                   std::string_view type);  // mu_ held

  // Appends the check's series of `family` to `out`; false when it has none.
  static bool Render(Family family, const Key& key, const Check& check, std::string& out);

  mutable std::mutex mu_;
  Map checks_;
};

}  // namespace healthgate
