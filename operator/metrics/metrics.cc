#include "operator/metrics/metrics.h"

#include <dirent.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/version.h"

namespace healthgate {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

namespace {

const Histogram::BucketBoundaries kLatenessBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                      0.025,  0.05,  0.1,    0.25,  1};
const Histogram::BucketBoundaries kHttpBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                  0.025,  0.05,  0.1,    0.5,   1};

}  // namespace

Metrics::Metrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      lateness_(BuildHistogram()
                    .Name("healthgate_schedule_lateness_seconds")
                    .Help("How late probe attempts started against their planned time.")
                    .Register(*registry_)),
      lateness_all_(lateness_.Add({}, kLatenessBuckets)),
      skipped_(BuildCounter()
                   .Name("healthgate_schedule_skipped_total")
                   .Help("Planned runs skipped: the previous attempt was still running, or the "
                         "run waited a whole interval for an admission slot (overload).")
                   .Register(*registry_)
                   .Add({})),
      watch_restarts_(BuildCounter()
                          .Name("healthgate_watch_restarts_total")
                          .Help("Restarts of the Kubernetes watch (dropped streams, relists).")
                          .Register(*registry_)
                          .Add({})),
      status_writes_(BuildCounter()
                         .Name("healthgate_status_writes_total")
                         .Help("HealthCheck status writes by result: success, conflict, error.")
                         .Register(*registry_)),
      events_(BuildCounter()
                  .Name("healthgate_events_total")
                  .Help("Kubernetes Events emitted, by type.")
                  .Register(*registry_)),
      http_requests_(BuildCounter()
                         .Name("healthgate_http_requests_total")
                         .Help("HTTP requests served, by route template, method and status code.")
                         .Register(*registry_)),
      http_duration_(BuildHistogram()
                         .Name("healthgate_http_request_duration_seconds")
                         .Help("Time to serve HTTP requests, by route template.")
                         .Register(*registry_)),
      in_flight_(BuildGauge()
                     .Name("healthgate_probe_loop_in_flight")
                     .Help("Probe attempts running now, per probe loop.")
                     .Register(*registry_)),
      waiting_(BuildGauge()
                   .Name("healthgate_probe_loop_waiting")
                   .Help("Due probe runs waiting for an admission slot, per probe loop.")
                   .Register(*registry_)),
      saturation_(BuildGauge()
                      .Name("healthgate_probe_loop_saturation")
                      .Help("Attempts in flight as a share of the probe loop's admission bound "
                            "(1: full).")
                      .Register(*registry_)),
      stalled_(BuildCounter()
                   .Name("healthgate_probe_loop_stalled_seconds_total")
                   .Help("Time the probe loop ran its timers late (descheduled, CPU-throttled or "
                         "busy), per probe loop.")
                   .Register(*registry_)),
      inconclusive_(BuildCounter()
                        .Name("healthgate_probe_inconclusive_total")
                        .Help("Attempts given no verdict because the probe loop itself stalled "
                              "through their deadline (counted as skipped runs, never as "
                              "failures), per probe loop.")
                        .Register(*registry_)),
      leader_(BuildGauge()
                  .Name("healthgate_leader")
                  .Help("Whether this instance holds the leader lease (1) or not (0).")
                  .Register(*registry_)
                  .Add({})),
      gate_patches_(BuildCounter()
                        .Name("healthgate_readiness_gate_patches_total")
                        .Help("Pod readiness-gate condition patches, by result.")
                        .Register(*registry_)),
      gate_transitions_(BuildCounter()
                            .Name("healthgate_readiness_gate_transitions_total")
                            .Help("Pod readiness-gate condition writes, by the status and "
                                  "reason written (True/Ready, True/FailOpen, False/...).")
                            .Register(*registry_)),
      start_time_(BuildGauge()
                      .Name("healthgate_build_info")
                      .Help("Build information; always 1.")
                      .Register(*registry_)
                      .Add({{"version", HEALTHGATE_VERSION}})) {
  start_time_.Set(1);
  for (const char* r : {"success", "conflict", "error"}) status_writes_.Add({{"result", r}});
}

Metrics::~Metrics() = default;

void Metrics::ProbeResult(const std::string& ns, const std::string& check, const std::string& probe,
                          const std::string& type, const probes::Result& result,
                          const probes::ThresholdState& state) {
  probe_series_.Record(ns, check, probe, type, result.healthy,
                       std::chrono::duration<double>(result.latency).count(), result.reason,
                       state.consecutive_failures);
}

void Metrics::ProbeBlocked(const std::string& ns, const std::string& check,
                           const std::string& probe, const std::string& type,
                           const std::string& reason) {
  probe_series_.SetBlocked(ns, check, probe, type, reason);
}

void Metrics::ProbeRemoved(const std::string& ns, const std::string& check,
                           const std::string& probe) {
  probe_series_.RemoveProbe(ns, check, probe);
}

void Metrics::CheckReady(const std::string& ns, const std::string& check, bool ready) {
  probe_series_.SetReady(ns, check, ready);
}

void Metrics::CheckRemoved(const std::string& ns, const std::string& check) {
  probe_series_.RemoveCheck(ns, check);
}

void Metrics::ScheduleLateness(probes::Duration lateness) {
  lateness_all_.Observe(std::max(0.0, std::chrono::duration<double>(lateness).count()));
}

void Metrics::ScheduleSkipped(std::uint64_t runs) { skipped_.Increment(static_cast<double>(runs)); }

void Metrics::ProbeLoad(std::size_t loop, std::size_t in_flight, std::size_t waiting,
                        std::size_t max_in_flight) {
  const prometheus::Labels labels{{"loop", std::to_string(loop)}};
  in_flight_.Add(labels).Set(static_cast<double>(in_flight));
  waiting_.Add(labels).Set(static_cast<double>(waiting));
  saturation_.Add(labels).Set(max_in_flight == 0 ? 0.0
                                                 : static_cast<double>(in_flight) /
                                                       static_cast<double>(max_in_flight));
}
void Metrics::ProbeLoopStall(std::size_t loop, double stalled_seconds, std::uint64_t inconclusive) {
  const prometheus::Labels labels{{"loop", std::to_string(loop)}};
  stalled_.Add(labels).Increment(std::max(0.0, stalled_seconds));
  inconclusive_.Add(labels).Increment(static_cast<double>(inconclusive));
}
void Metrics::WatchRestart() { watch_restarts_.Increment(); }
void Metrics::StatusWrite(const std::string& result) {
  status_writes_.Add({{"result", result}}).Increment();
}
void Metrics::EventEmitted(const std::string& type) { events_.Add({{"type", type}}).Increment(); }
void Metrics::SetLeader(bool leader) { leader_.Set(leader ? 1 : 0); }
void Metrics::SetReadinessGatePatch(const std::string& result) {
  gate_patches_.Add({{"result", result}}).Increment();
}
void Metrics::ReadinessGateTransition(const std::string& status, const std::string& reason) {
  gate_transitions_.Add({{"status", status}, {"reason", reason}}).Increment();
}

void Metrics::HttpRequest(const std::string& route, const std::string& method, int code,
                          double seconds) {
  http_requests_.Add({{"route", route}, {"method", method}, {"code", std::to_string(code)}})
      .Increment();
  prometheus::Histogram* h;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = http_duration_series_.try_emplace(route, nullptr);
    if (inserted) it->second = &http_duration_.Add({{"route", route}}, kHttpBuckets);
    h = it->second;
  }
  h->Observe(seconds);
}

bool Metrics::WriteExposition(const ProbeSeriesTable::Writer& write) const {
  {
    // The registry holds only the operator's own families (a few dozen series):
    // Collect() + TextSerializer are fine for them.
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, registry_->Collect());
    if (!write(std::move(out).str())) return false;
  }
  if (!probe_series_.Write(write)) return false;
  return write(ProcessMetricsText());
}

std::string Metrics::Serialize() const {
  std::string text;
  WriteExposition([&text](std::string_view piece) {
    text.append(piece);
    return true;
  });
  return text;
}

std::string ProcessMetricsText() {
  double cpu = 0, start = 0, vsize = 0, rss = 0;
  // A number from /proc, or 0 when the field is missing or malformed: a scrape
  // must never fail (or throw) because of an unexpected /proc layout.
  auto num = [](const std::string& s) {
    double v = 0;
    return std::sscanf(s.c_str(), "%lf", &v) == 1 ? v : 0.0;
  };
  {
    std::ifstream stat("/proc/self/stat");
    std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // Fields after the command name (which may contain spaces) start after ')'.
    auto pos = content.rfind(')');
    if (pos != std::string::npos && pos + 2 < content.size()) {
      std::istringstream rest(content.substr(pos + 2));
      std::string f[24];
      for (auto& x : f) rest >> x;
      // f[0] is field 3 (state); utime=14, stime=15, starttime=22, vsize=23, rss=24.
      auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
      cpu = (num(f[11]) + num(f[12])) / ticks;
      double boot = 0;
      std::ifstream s2("/proc/stat");
      std::string line;
      while (std::getline(s2, line)) {
        if (line.rfind("btime ", 0) == 0) boot = num(line.substr(6));
      }
      start = boot + num(f[19]) / ticks;
      vsize = num(f[20]);
      rss = num(f[21]) * static_cast<double>(sysconf(_SC_PAGESIZE));
    }
  }
  int fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++fds;
    closedir(d);
    fds -= 3;  // ".", ".." and the directory's own descriptor
  }
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  char buf[1024];
  std::snprintf(
      buf, sizeof buf,
      "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
      "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.2f\n"
      "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
      "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %.0f\n"
      "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
      "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %.0f\n"
      "# HELP process_open_fds Number of open file descriptors.\n"
      "# TYPE process_open_fds gauge\nprocess_open_fds %d\n"
      "# HELP process_max_fds Maximum number of open file descriptors.\n"
      "# TYPE process_max_fds gauge\nprocess_max_fds %.0f\n"
      "# HELP process_start_time_seconds Start time of the process since unix epoch in "
      "seconds.\n"
      "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.2f\n",
      cpu, rss, vsize, fds, static_cast<double>(lim.rlim_cur), start);
  return buf;
}

}  // namespace healthgate
