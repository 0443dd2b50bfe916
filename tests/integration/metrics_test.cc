// The metrics text is checked by Prometheus' own linter, promtool (Debian
// package `prometheus`). A missing promtool fails the test: it is a declared
// test dependency (scripts/setup.sh), never a reason to skip.
#include "operator/metrics/metrics.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/process.h"

namespace healthgate {
namespace {

using probes::Health;
using probes::Reason;
using probes::ThresholdState;

testing::RunResult PromtoolCheck(const std::string& text) {
  testing::TempDir dir;
  std::string path = dir.path() + "/metrics.txt";
  {
    std::ofstream out(path);
    out << text;
  }
  return testing::Run({"sh", "-c", "promtool check metrics < '" + path + "'"});
}

void FillEverything(Metrics& m) {
  for (const char* probe : {"db", "cache", "pay"}) {
    for (Reason r : probes::kAllReasons) {
      probes::Result res =
          r == Reason::kSuccess ? probes::Result::Success() : probes::Result::Failure(r, "boom");
      res.latency = std::chrono::milliseconds(7);
      m.ProbeResult("shop", "orders", probe, "http", res, ThresholdState{Health::kUnhealthy, 0, 2});
    }
  }
  m.ProbeResult("billing", "invoices", "broker", "tcp", probes::Result::Success(),
                ThresholdState{Health::kHealthy, 1, 0});
  m.CheckReady("shop", "orders", false);
  m.CheckReady("billing", "invoices", true);
  m.ScheduleLateness(std::chrono::microseconds(700));
  m.ScheduleSkipped();
  m.WatchRestart();
  for (const char* r : {"success", "conflict", "error"}) m.StatusWrite(r);
  m.EventEmitted("Normal");
  m.EventEmitted("Warning");
  m.HttpRequest("/ready/{namespace}/{name}", "GET", 503, 0.0004);
  m.HttpRequest("other", "POST", 404, 0.0001);
  m.SetLeader(true);
  m.SetReadinessGatePatch("success");
  m.SetReadinessGatePatch("error");
}

TEST(MetricsPromtool, PromtoolIsInstalled) {
  auto r = testing::Run({"sh", "-c", "command -v promtool"});
  ASSERT_EQ(r.exit_code, 0) << "promtool not found: install the Debian package `prometheus` "
                               "(scripts/setup.sh does)";
}

TEST(MetricsPromtool, FullRegistryIsLintClean) {
  Metrics m(std::make_shared<prometheus::Registry>());
  FillEverything(m);
  std::string text = m.Serialize();
  auto r = PromtoolCheck(text);
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- metrics ---\n" << text;
  EXPECT_EQ(r.output, "") << "lint warnings:\n" << r.output;
  for (const char* name :
       {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
        "process_max_fds", "process_start_time_seconds", "healthgate_probe_success{",
        "healthgate_probe_duration_seconds_bucket{", "healthgate_probes_total{",
        "healthgate_healthcheck_ready{", "healthgate_probe_consecutive_failures{"}) {
    EXPECT_NE(text.find(std::string("\n") + name), std::string::npos) << name;
  }
}

TEST(MetricsPromtool, FreshRegistryIsLintClean) {
  Metrics m(std::make_shared<prometheus::Registry>());
  auto r = PromtoolCheck(m.Serialize());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "");
}

TEST(MetricsPromtool, AfterRemovalsIsLintCleanAndSeriesAreGone) {
  Metrics m(std::make_shared<prometheus::Registry>());
  FillEverything(m);
  m.ProbeRemoved("shop", "orders", "cache");
  m.CheckRemoved("billing", "invoices");
  std::string text = m.Serialize();
  EXPECT_EQ(text.find("probe=\"cache\""), std::string::npos);
  EXPECT_EQ(text.find("healthcheck=\"invoices\""), std::string::npos);
  EXPECT_NE(text.find("probe=\"pay\""), std::string::npos);
  auto r = PromtoolCheck(text);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "");
}

TEST(MetricsPromtool, DetectsABrokenExposition) {
  // The harness itself must be able to fail: promtool rejects garbage.
  auto r = PromtoolCheck("# TYPE x counter\nx{a=\"1\" 1\n");
  EXPECT_NE(r.exit_code, 0) << r.output;
}

}  // namespace
}  // namespace healthgate
