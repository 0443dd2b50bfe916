// The real binary under overload on one probe loop: 2,000 probes every second
// against a healthy local HTTP target that answers in 20 ms, with
// --probe-threads 1 and --max-in-flight 8 (at most ~400 attempts/s). Runs that
// find no slot within their interval are skipped and counted; no attempt fails.
// And the real binary stopped (SIGSTOP) through its deadlines: the stall is
// measured and no attempt fails.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

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

const char* const kFailed =
    R"re(healthgate_probes_total\{[^}]*result="(?:timeout|dns|connect|tls|auth|protocol|assertion)"[^}]*\} ([0-9.e+]+))re";

// The failure series, for the assertion message.
std::string FailureLines(const std::string& metrics) {
  std::string out;
  std::regex re(
      R"re(healthgate_probes_total\{[^}]*result="(?!success)[^"]*"[^}]*\} [1-9][^\n]*)re");
  for (std::sregex_iterator it(metrics.begin(), metrics.end(), re), end; it != end; ++it) {
    out += it->str() + "\n";
  }
  return out;
}

struct Local {
  Local(const TempDir& dir, const std::string& manifest_text, std::vector<std::string> extra)
      : port(FreePort()) {
    const fs::path manifest = fs::path(dir.path()) / "load.yaml";
    std::ofstream(manifest) << manifest_text;
    std::vector<std::string> args{
        HEALTHGATE_BINARY, "local",          "-f",
        manifest.string(), "--http-address", "127.0.0.1:" + std::to_string(port)};
    args.insert(args.end(), extra.begin(), extra.end());
    hg = Process(args, dir.path() + "/healthgate.log");
  }
  std::string Get(const std::string& path) const {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1s);
    c.set_read_timeout(5s);
    auto r = c.Get(path);
    return r ? r->body : std::string();
  }
  int port;
  Process hg;
};

TEST(ProbeThreads, OneLoopOverloadedSkipsRunsAndNeverFails) {
  TempDir dir;
  HttpTarget target;
  std::ostringstream manifests;
  for (int c = 0; c < 20; ++c) {
    manifests << "---\napiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\n"
              << "metadata: {name: c" << c << ", namespace: load}\n"
              << "spec:\n  interval: 1s\n  timeout: 900ms\n  probes:\n";
    for (int p = 0; p < 100; ++p) {
      manifests << "  - name: p" << p << "\n    http: {url: \"" << target.Url("/slow?ms=20")
                << "\"}\n";
    }
  }
  Local hg(dir, manifests.str(), {"--probe-threads", "1", "--max-in-flight", "8"});
  // Every check gets its verdicts although most runs find no slot.
  ASSERT_TRUE(WaitFor(
      [&] {
        for (int c = 0; c < 20; ++c) {
          if (hg.Get("/ready/load/c" + std::to_string(c)).find("\"ready\":true") ==
              std::string::npos) {
            return false;
          }
        }
        return true;
      },
      90s));
  std::this_thread::sleep_for(3s);
  const std::string metrics = hg.Get("/metrics");
  const double ok =
      Sum(metrics, R"re(healthgate_probes_total\{[^}]*result="success"[^}]*\} ([0-9.e+]+))re");
  const double skipped = Sum(metrics, R"re(\nhealthgate_schedule_skipped_total ([0-9.e+]+))re");
  EXPECT_GE(ok, 2000) << metrics.substr(0, 2000);
  EXPECT_EQ(Sum(metrics, kFailed), 0) << "overload must not become failures:\n"
                                      << FailureLines(metrics);
  EXPECT_GT(skipped, 2000) << "the runs that found no slot are counted";
  // One loop, so one series per load gauge, labelled loop="0".
  EXPECT_NE(metrics.find("healthgate_probe_loop_saturation{loop=\"0\"}"), std::string::npos);
  EXPECT_EQ(metrics.find("loop=\"1\""), std::string::npos);
  EXPECT_GT(Sum(metrics, R"re(healthgate_probe_loop_waiting\{loop="0"\} ([0-9.e+]+))re"), 0)
      << "runs are waiting for a slot";
  hg.hg.Stop();
}

// The whole process stopped for longer than the timeout, again and again, while
// attempts are in flight (a CPU-throttled or descheduled pod does the same at
// random): every deadline that passes during a stop fires late, after the
// target has answered. Before the deadline was stall-aware each such attempt
// was reported as a timeout of a healthy target.
TEST(ProbeThreads, StoppedThroughItsDeadlinesNeverFails) {
  TempDir dir;
  HttpTarget target;
  std::ostringstream manifest;
  manifest << "apiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\n"
           << "metadata: {name: slow, namespace: stall}\n"
           << "spec:\n  interval: 500ms\n  timeout: 400ms\n  probes:\n";
  for (int p = 0; p < 4; ++p) {
    manifest << "  - name: p" << p << "\n    http: {url: \"" << target.Url("/slow?ms=150")
             << "\"}\n";
  }
  Local hg(dir, manifest.str(), {});
  ASSERT_TRUE(WaitFor(
      [&] { return hg.Get("/ready/stall/slow").find("\"ready\":true") != std::string::npos; },
      30s));
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(170 + 37 * i));
    hg.hg.Signal(SIGSTOP);
    std::this_thread::sleep_for(600ms);
    hg.hg.Signal(SIGCONT);
  }
  std::this_thread::sleep_for(1500ms);
  const std::string metrics = hg.Get("/metrics");
  EXPECT_EQ(Sum(metrics, kFailed), 0) << "a stopped prober must not fail its targets:\n"
                                      << FailureLines(metrics);
  EXPECT_GT(
      Sum(metrics, R"re(healthgate_probes_total\{[^}]*result="success"[^}]*\} ([0-9.e+]+))re"), 16);
  EXPECT_GT(Sum(metrics, R"re(healthgate_probe_loop_stalled_seconds_total\{[^}]*\} ([0-9.e+]+))re"),
            2.0)
      << "eight stops of 600 ms are measured as stall:\n"
      << metrics.substr(0, 4000);
  EXPECT_NE(hg.Get("/ready/stall/slow").find("\"ready\":true"), std::string::npos);
  hg.hg.Stop();
}

}  // namespace
}  // namespace healthgate::testing
