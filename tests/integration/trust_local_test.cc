// Truthful verdicts in `healthgate local`: an edit of a probe's definition and a
// rotated secret are healthgate's own changes, not news about the target, so the
// per-check URL must never answer 503 "pending" for them (the real binary against a
// real Redis that accepts both the old and the new password).
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/support/http_targets.h"
#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/servers.h"

namespace healthgate::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

void WriteAtomically(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  const fs::path tmp = p.string() + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, p);
}

std::string Manifest(std::uint16_t port, const std::string& timeout) {
  // A long interval makes a "pending" window long: before the fix a restarted
  // probe first ran anywhere within its interval, so /ready said 503 for ~1.5 s
  // on average after each change.
  return "apiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\n"
         "metadata: {name: orders, namespace: shop}\n"
         "spec:\n  interval: 3s\n  timeout: " +
         timeout + "\n  probes:\n  - name: cache\n    redis: {host: 127.0.0.1, port: " +
         std::to_string(port) + ", passwordSecretRef: {name: redis, key: password}}\n";
}

TEST(LocalTrust, EditsAndRotationsNeverOpenAPendingWindow) {
  TempDir dir;
  RedisOptions ro;
  ro.requirepass = "canary-old-7Qw";
  RedisServer redis(ro);
  const fs::path secret = fs::path(dir.path()) / "secrets/shop/redis/password";
  const fs::path manifest = fs::path(dir.path()) / "manifests/orders.yaml";
  WriteAtomically(secret, "canary-old-7Qw");
  WriteAtomically(manifest, Manifest(redis.port(), "500ms"));
  const int port = FreePort();
  const std::string log = dir.path() + "/healthgate.log";
  Process hg({HEALTHGATE_BINARY, "local", "-f", manifest.parent_path().string(), "--secrets-dir",
              dir.path() + "/secrets", "--http-address", "127.0.0.1:" + std::to_string(port)},
             log);
  auto status = [port](const std::string& path) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1s);
    c.set_read_timeout(2s);
    auto r = c.Get(path);
    return r ? r->status : -1;
  };
  // /readyz waits for the first verdict: once it says 200, /ready is true at once.
  ASSERT_TRUE(WaitFor([&] { return status("/readyz") == 200; }, 15s));
  EXPECT_EQ(status("/ready/shop/orders"), 200) << "readyz 200 before the first verdict";

  std::atomic<bool> stop{false};
  std::atomic<int> polls{0}, not_ok{0}, first_bad{0};
  std::thread poller([&] {
    while (!stop) {
      const int s = status("/ready/shop/orders");
      ++polls;
      if (s != 200) {
        ++not_ok;
        int none = 0;
        first_bad.compare_exchange_strong(none, s);
      }
      std::this_thread::sleep_for(50ms);
    }
  });
  // Rotate: the server accepts both passwords, the secret changes to the new one.
  redis.Cli({"ACL", "SETUSER", "default", "on", ">canary-new-3Zp"});
  WriteAtomically(secret, "canary-new-3Zp");
  std::this_thread::sleep_for(4s);
  // Edit a field that is not the target's.
  WriteAtomically(manifest, Manifest(redis.port(), "600ms"));
  std::this_thread::sleep_for(4s);
  stop = true;
  poller.join();
  EXPECT_GT(polls.load(), 60);
  EXPECT_EQ(not_ok.load(), 0) << "first non-200 answer: " << first_bad.load() << " of "
                              << polls.load();
  // And the new definition really runs with the new password (the old one revoked).
  redis.Cli({"ACL", "SETUSER", "default", "resetpass", ">canary-new-3Zp"});
  std::this_thread::sleep_for(4s);
  EXPECT_EQ(status("/ready/shop/orders"), 200);
  hg.Stop();
}

// Overload is never a verdict: 1,000 probes every 200 ms (5,000 attempts/s asked)
// against a healthy target that answers after 10 ms, on a binary whose admission
// bound lets only 4 attempts run at once (at most 400 attempts/s, whatever the
// machine's speed). Runs that cannot get a slot within their interval are skipped
// and counted; no attempt fails, and every check becomes and stays Ready.
TEST(LocalTrust, OverloadSkipsRunsAndNeverFails) {
  TempDir dir;
  HttpTarget target;
  std::ostringstream manifests;
  for (int c = 0; c < 10; ++c) {
    manifests << "---\napiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\n"
              << "metadata: {name: c" << c << ", namespace: load}\n"
              << "spec:\n  interval: 200ms\n  timeout: 150ms\n  probes:\n";
    for (int p = 0; p < 100; ++p) {
      manifests << "  - name: p" << p << "\n    http: {url: \"" << target.Url("/slow?ms=10")
                << "\"}\n";
    }
  }
  const fs::path manifest = fs::path(dir.path()) / "load.yaml";
  WriteAtomically(manifest, manifests.str());
  const int port = FreePort();
  Process hg({HEALTHGATE_BINARY, "local", "-f", manifest.string(), "--http-address",
              "127.0.0.1:" + std::to_string(port), "--max-in-flight", "4"},
             dir.path() + "/healthgate.log");
  auto get = [port](const std::string& path) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1s);
    c.set_read_timeout(5s);
    auto r = c.Get(path);
    return r ? r->body : std::string();
  };
  ASSERT_TRUE(WaitFor([&] { return get("/readyz").rfind("ok", 0) == 0; }, 20s));
  auto all_ready = [&] {
    for (int c = 0; c < 10; ++c) {
      if (get("/ready/load/c" + std::to_string(c)).find("\"ready\":true") == std::string::npos) {
        return false;
      }
    }
    return true;
  };
  // Every probe has to get a slot once (1,000 attempts at <= 400/s).
  ASSERT_TRUE(WaitFor(all_ready, 60s)) << "every check becomes Ready despite the overload";
  std::this_thread::sleep_for(5s);
  const std::string metrics = get("/metrics");
  auto sum = [&metrics](const std::string& pattern) {
    double total = 0;
    std::regex re(pattern);
    for (std::sregex_iterator it(metrics.begin(), metrics.end(), re), end; it != end; ++it) {
      total += std::stod((*it)[1]);
    }
    return total;
  };
  const double ok = sum(R"re(healthgate_probes_total\{[^}]*result="success"[^}]*\} ([0-9.e+]+))re");
  const double failed = sum(
      R"re(healthgate_probes_total\{[^}]*result="(?:timeout|dns|connect|tls|auth|protocol|assertion)"[^}]*\} ([0-9.e+]+))re");
  const double skipped = sum(R"re(\nhealthgate_schedule_skipped_total ([0-9.e+]+))re");
  EXPECT_GT(ok, 1000) << metrics.substr(0, 2000);
  EXPECT_EQ(failed, 0) << "overload must not become failures";
  EXPECT_GT(skipped, 1000) << "the runs that found no slot are counted";
  EXPECT_NE(metrics.find("healthgate_probe_loop_waiting"), std::string::npos);
  for (int c = 0; c < 10; ++c) {
    EXPECT_NE(get("/ready/load/c" + std::to_string(c)).find("\"ready\":true"), std::string::npos)
        << "c" << c;
  }
  hg.Stop();
}

}  // namespace
}  // namespace healthgate::testing
