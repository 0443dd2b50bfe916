// The real binary under overload on one probe loop: 2,000 probes every 100 ms
// (20,000 attempts/s asked) against a healthy local HTTP target, with
// --probe-threads 1 and a small in-flight bound. Runs that find no slot within
// their interval are skipped and counted; no attempt fails.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/support/http_targets.h"
#include "tests/support/net.h"
#include "tests/support/process.h"

namespace healthgate::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

double Sum(const std::string& text, const std::string& pattern) {
  double total = 0;
  std::regex re(pattern);
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) {
    total += std::stod((*it)[1]);
  }
  return total;
}

TEST(ProbeThreads, OneLoopOverloadedSkipsRunsAndNeverFails) {
  TempDir dir;
  HttpTarget target;
  std::ostringstream manifests;
  for (int c = 0; c < 20; ++c) {
    manifests << "---\napiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\n"
              << "metadata: {name: c" << c << ", namespace: load}\n"
              << "spec:\n  interval: 100ms\n  timeout: 90ms\n  probes:\n";
    for (int p = 0; p < 100; ++p) {
      manifests << "  - name: p" << p << "\n    http: {url: \"" << target.Url("/ok") << "\"}\n";
    }
  }
  const fs::path manifest = fs::path(dir.path()) / "load.yaml";
  std::ofstream(manifest) << manifests.str();
  const int port = FreePort();
  Process hg({HEALTHGATE_BINARY, "local", "-f", manifest.string(), "--http-address",
              "127.0.0.1:" + std::to_string(port), "--probe-threads", "1", "--max-in-flight", "4"},
             dir.path() + "/healthgate.log");
  auto get = [port](const std::string& path) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1s);
    c.set_read_timeout(5s);
    auto r = c.Get(path);
    return r ? r->body : std::string();
  };
  ASSERT_TRUE(WaitFor([&] { return get("/readyz").rfind("ok", 0) == 0; }, 30s));
  std::this_thread::sleep_for(5s);
  const std::string metrics = get("/metrics");
  const double ok =
      Sum(metrics, R"re(healthgate_probes_total\{[^}]*result="success"[^}]*\} ([0-9.e+]+))re");
  const double failed = Sum(
      metrics,
      R"re(healthgate_probes_total\{[^}]*result="(?:timeout|dns|connect|tls|auth|protocol|assertion)"[^}]*\} ([0-9.e+]+))re");
  const double skipped = Sum(metrics, R"re(\nhealthgate_schedule_skipped_total ([0-9.e+]+))re");
  EXPECT_GT(ok, 2000) << metrics.substr(0, 2000);
  EXPECT_EQ(failed, 0) << "overload must not become failures";
  EXPECT_GT(skipped, 2000) << "the runs that found no slot are counted";
  // One loop, so one series per load gauge, labelled loop="0".
  EXPECT_NE(metrics.find("healthgate_probe_loop_saturation{loop=\"0\"}"), std::string::npos);
  EXPECT_EQ(metrics.find("loop=\"1\""), std::string::npos);
  EXPECT_GT(Sum(metrics, R"re(healthgate_probe_loop_waiting\{loop="0"\} ([0-9.e+]+))re"), 0)
      << "runs are waiting for a slot";
  for (int c = 0; c < 20; ++c) {
    EXPECT_NE(get("/ready/load/c" + std::to_string(c)).find("\"ready\":true"), std::string::npos)
        << "c" << c;
  }
  hg.Stop();
}

}  // namespace
}  // namespace healthgate::testing
