// Metrics without a server: series per probe and check, their removal, the
// process_* block, and concurrent writers against scrapes (run under TSan).
#include <gtest/gtest.h>

#include <sstream>
#include <thread>
#include <vector>

#include "operator/metrics/metrics.h"

namespace healthgate {
namespace {

using probes::Health;
using probes::Reason;
using probes::Result;
using probes::ThresholdState;

Result Attempt(Reason reason, std::chrono::milliseconds latency) {
  Result r = reason == Reason::kSuccess ? Result::Success() : Result::Failure(reason, "failed");
  r.latency = latency;
  return r;
}

// Value of the one sample whose line starts with `series` (name plus labels
// exactly as serialized); nullopt when absent.
std::optional<double> Sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

std::size_t Lines(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("#", 0) != 0 && line.find(needle) != std::string::npos) ++n;
  }
  return n;
}

class MetricsTest : public ::testing::Test {
 protected:
  Metrics metrics_{std::make_shared<prometheus::Registry>()};
};

TEST_F(MetricsTest, ProbeResultsFillEveryProbeFamily) {
  ThresholdState st{Health::kUnhealthy, 0, 0};
  for (Reason r : probes::kAllReasons) {
    st.consecutive_failures = r == Reason::kSuccess ? 0 : st.consecutive_failures + 1;
    metrics_.ProbeResult("shop", "orders", "db", "postgres",
                         Attempt(r, std::chrono::milliseconds(20)), st);
  }
  metrics_.ProbeResult("shop", "orders", "db", "postgres",
                       Attempt(Reason::kTimeout, std::chrono::milliseconds(2000)),
                       ThresholdState{Health::kUnhealthy, 0, 8});
  metrics_.CheckReady("shop", "orders", false);
  std::string text = metrics_.Serialize();
  const std::string l = "healthcheck=\"orders\",namespace=\"shop\",probe=\"db\"";
  for (Reason r : probes::kAllReasons) {
    std::string series = "healthgate_probes_total{" + l + ",result=\"" +
                         std::string(probes::ReasonName(r)) + "\",type=\"postgres\"}";
    EXPECT_EQ(Sample(text, series), r == Reason::kTimeout ? 2 : 1) << series;
  }
  EXPECT_EQ(Sample(text, "healthgate_probe_success{" + l + ",type=\"postgres\"}"), 0);
  EXPECT_EQ(Sample(text, "healthgate_probe_consecutive_failures{" + l + ",type=\"postgres\"}"), 8);
  EXPECT_EQ(Sample(text, "healthgate_probe_duration_seconds_count{" + l + ",type=\"postgres\"}"),
            9);
  EXPECT_EQ(Sample(text, "healthgate_probe_duration_seconds_bucket{" + l +
                             ",type=\"postgres\",le=\"0.05\"}"),
            8);
  EXPECT_EQ(Sample(text, "healthgate_healthcheck_ready{healthcheck=\"orders\",namespace=\"shop\"}"),
            0);
  metrics_.ProbeResult("shop", "orders", "db", "postgres",
                       Attempt(Reason::kSuccess, std::chrono::milliseconds(1)),
                       ThresholdState{Health::kHealthy, 1, 0});
  text = metrics_.Serialize();
  EXPECT_EQ(Sample(text, "healthgate_probe_success{" + l + ",type=\"postgres\"}"), 1);
  EXPECT_EQ(Sample(text, "healthgate_probe_consecutive_failures{" + l + ",type=\"postgres\"}"), 0);
}

TEST_F(MetricsTest, SuccessOnlyProbeHasOneCounter) {
  for (int i = 0; i < 5; ++i) {
    metrics_.ProbeResult("a", "b", "c", "tcp",
                         Attempt(Reason::kSuccess, std::chrono::milliseconds(1)),
                         ThresholdState{Health::kHealthy, 1, 0});
  }
  EXPECT_EQ(Lines(metrics_.Serialize(), "healthgate_probes_total{"), 1u);
}

TEST_F(MetricsTest, SeriesOfRemovedProbesAndChecksDisappear) {
  ThresholdState st{Health::kUnhealthy, 0, 1};
  for (const char* probe : {"db", "cache"}) {
    for (Reason r : probes::kAllReasons) {
      metrics_.ProbeResult("shop", "orders", probe, "redis",
                           Attempt(r, std::chrono::milliseconds(5)), st);
    }
  }
  metrics_.ProbeResult("shop", "cart", "db", "tcp",
                       Attempt(Reason::kSuccess, std::chrono::milliseconds(5)), st);
  metrics_.CheckReady("shop", "orders", true);
  metrics_.CheckReady("shop", "cart", true);
  std::string text = metrics_.Serialize();
  ASSERT_GT(Lines(text, "probe=\"cache\""), 0u);

  metrics_.ProbeRemoved("shop", "orders", "cache");
  text = metrics_.Serialize();
  EXPECT_EQ(Lines(text, "probe=\"cache\""), 0u) << text;
  EXPECT_GT(Lines(text, "healthcheck=\"orders\",namespace=\"shop\",probe=\"db\""), 0u);

  metrics_.CheckRemoved("shop", "orders");
  text = metrics_.Serialize();
  EXPECT_EQ(Lines(text, "healthcheck=\"orders\""), 0u) << text;
  // The other check keeps its series.
  EXPECT_EQ(Sample(text, "healthgate_healthcheck_ready{healthcheck=\"cart\",namespace=\"shop\"}"),
            1);
  EXPECT_GT(Lines(text, "healthcheck=\"cart\",namespace=\"shop\",probe=\"db\""), 0u);
  // Removing again, or removing what never existed, is harmless.
  metrics_.CheckRemoved("shop", "orders");
  metrics_.ProbeRemoved("nope", "nope", "nope");
  // A check that comes back starts from zero.
  metrics_.ProbeResult("shop", "orders", "db", "redis",
                       Attempt(Reason::kDns, std::chrono::milliseconds(5)), st);
  text = metrics_.Serialize();
  EXPECT_EQ(Sample(text,
                   "healthgate_probes_total{healthcheck=\"orders\",namespace=\"shop\",probe=\"db\","
                   "result=\"dns\",type=\"redis\"}"),
            1);
}

TEST_F(MetricsTest, ProcessMetricsArePlausible) {
  std::string text = metrics_.Serialize();
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"}) {
    auto v = Sample(text, name);
    ASSERT_TRUE(v.has_value()) << name << "\n" << text;
    EXPECT_GE(*v, 0) << name;
  }
  EXPECT_GT(*Sample(text, "process_resident_memory_bytes"), 1e5);
  EXPECT_GT(*Sample(text, "process_open_fds"), 0);
  EXPECT_GE(*Sample(text, "process_max_fds"), *Sample(text, "process_open_fds"));
  double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  double start = *Sample(text, "process_start_time_seconds");
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 24 * 3600);
}

TEST_F(MetricsTest, OperatorInternalsAreExported) {
  metrics_.ScheduleLateness(std::chrono::milliseconds(3));
  metrics_.ScheduleLateness(std::chrono::milliseconds(-3));  // early counts as 0
  metrics_.ScheduleSkipped();
  metrics_.WatchRestart();
  metrics_.StatusWrite("conflict");
  metrics_.EventEmitted("Warning");
  metrics_.HttpRequest("/livez", "GET", 200, 0.001);
  metrics_.SetLeader(true);
  metrics_.SetReadinessGatePatch("success");
  std::string text = metrics_.Serialize();
  EXPECT_EQ(Sample(text, "healthgate_schedule_lateness_seconds_count"), 2);
  EXPECT_EQ(Sample(text, "healthgate_schedule_lateness_seconds_bucket{le=\"0.0005\"}"), 1);
  EXPECT_EQ(Sample(text, "healthgate_schedule_skipped_total"), 1);
  EXPECT_EQ(Sample(text, "healthgate_watch_restarts_total"), 1);
  EXPECT_EQ(Sample(text, "healthgate_status_writes_total{result=\"conflict\"}"), 1);
  EXPECT_EQ(Sample(text, "healthgate_status_writes_total{result=\"success\"}"), 0);
  EXPECT_EQ(Sample(text, "healthgate_events_total{type=\"Warning\"}"), 1);
  EXPECT_EQ(
      Sample(text, "healthgate_http_requests_total{code=\"200\",method=\"GET\",route=\"/livez\"}"),
      1);
  EXPECT_EQ(Sample(text, "healthgate_http_request_duration_seconds_count{route=\"/livez\"}"), 1);
  EXPECT_EQ(Sample(text, "healthgate_leader"), 1);
  EXPECT_EQ(Sample(text, "healthgate_readiness_gate_patches_total{result=\"success\"}"), 1);
}

// Writers on several threads (probe loop, controller, server) against scrapes.
TEST_F(MetricsTest, ConcurrentWritersAndScrapes) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string check = "c" + std::to_string(t);
      for (int i = 0; i < 300; ++i) {
        Reason r =
            probes::kAllReasons[static_cast<std::size_t>(i) % std::size(probes::kAllReasons)];
        metrics_.ProbeResult("ns", check, "p" + std::to_string(i % 3), "http",
                             Attempt(r, std::chrono::milliseconds(i % 50)),
                             ThresholdState{Health::kHealthy, 1, 0});
        metrics_.CheckReady("ns", check, i % 2 == 0);
        metrics_.HttpRequest("/metrics", "GET", 200, 0.0001);
        if (i % 50 == 49) metrics_.ProbeRemoved("ns", check, "p1");
        if (i % 100 == 99) metrics_.CheckRemoved("ns", check);
      }
    });
  }
  std::thread scraper([&] {
    while (!stop) EXPECT_FALSE(metrics_.Serialize().empty());
  });
  for (auto& th : threads) th.join();
  stop = true;
  scraper.join();
  std::string text = metrics_.Serialize();
  EXPECT_EQ(
      Sample(text,
             "healthgate_http_requests_total{code=\"200\",method=\"GET\",route=\"/metrics\"}"),
      1200);
  // Every check was removed at its end (i == 299): no probe series are left.
  EXPECT_EQ(Lines(text, "healthgate_probe_success{"), 0u) << text;
  EXPECT_EQ(Lines(text, "healthgate_healthcheck_ready{"), 0u);
}

}  // namespace
}  // namespace healthgate
