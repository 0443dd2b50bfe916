// `healthgate local` end to end: the real binary against real Redis and
// PostgreSQL servers, observed only through its HTTP endpoints and its logs.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/servers.h"

namespace healthgate::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr char kCanary[] = "canary-pw-5Jx9Qe";

void WriteFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  // Write then rename: the reloader never sees a half-written file.
  const fs::path tmp = p.string() + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, p);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string RedisCheck(const std::string& name, std::uint16_t port, const std::string& extra = "") {
  return R"(apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: )" +
         name + R"(, namespace: shop}
spec:
  interval: 500ms
  timeout: 300ms
  failureThreshold: 2
  probes:
  - name: cache
    redis: {host: 127.0.0.1, port: )" +
         std::to_string(port) +
         R"(, passwordSecretRef: {name: redis, key: password}}
)" + extra;
}

// Polls `path` every 50 ms on its own thread and keeps every status that is not 200.
class StatusWatch {
 public:
  StatusWatch(int port, std::string path) : port_(port), path_(std::move(path)) {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        httplib::Client c("127.0.0.1", port_);
        c.set_connection_timeout(1s);
        c.set_read_timeout(2s);
        auto r = c.Get(path_);
        const int status = r ? r->status : -1;
        ++polls_;
        if (status != 200) {
          std::lock_guard lock(mu_);
          bad_.push_back(status);
        }
        std::this_thread::sleep_for(50ms);
      }
    });
  }
  ~StatusWatch() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int polls() const { return polls_.load(); }
  std::string Bad() {
    std::lock_guard lock(mu_);
    std::string out;
    for (int b : bad_) out += std::to_string(b) + " ";
    return out;
  }

 private:
  int port_;
  std::string path_;
  std::atomic<bool> stop_{false};
  std::atomic<int> polls_{0};
  std::mutex mu_;
  std::vector<int> bad_;
  std::thread thread_;
};

class LocalMode : public ::testing::Test {
 protected:
  void SetUp() override {
    RedisOptions ro;
    ro.requirepass = kCanary;
    redis_ = std::make_unique<RedisServer>(ro);
    WriteFile(fs::path(dir_.path()) / "secrets/shop/redis/password", kCanary);
    manifests_ = fs::path(dir_.path()) / "manifests";
    fs::create_directories(manifests_);
    port_ = FreePort();
  }
  void TearDown() override {
    if (hg_.pid() > 0) hg_.Stop();
  }

  void StartHealthgate(const std::vector<std::string>& extra = {}) {
    log_ = dir_.path() + "/healthgate.log";
    std::vector<std::string> argv = {HEALTHGATE_BINARY,
                                     "local",
                                     "-f",
                                     manifests_.string(),
                                     "--secrets-dir",
                                     dir_.path() + "/secrets",
                                     "--http-address",
                                     "127.0.0.1:" + std::to_string(port_),
                                     "--log-level",
                                     "debug"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    hg_ = Process(argv, log_);
    ASSERT_TRUE(WaitFor([&] { return Status("/readyz") == 200; }, 10s))
        << "healthgate local did not become ready:\n"
        << ReadFile(log_);
  }

  httplib::Result Get(const std::string& path) {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(1s);
    c.set_read_timeout(2s);
    return c.Get(path);
  }
  int Status(const std::string& path) {
    auto r = Get(path);
    return r ? r->status : -1;
  }
  std::string Body(const std::string& path) {
    auto r = Get(path);
    return r ? r->body : "";
  }

  TempDir dir_;
  std::unique_ptr<RedisServer> redis_;
  fs::path manifests_;
  int port_ = 0;
  std::string log_;
  Process hg_;
};

TEST_F(LocalMode, RedisOutageTurnsReadyTo503AndBack) {
  WriteFile(manifests_ / "cache.yaml", RedisCheck("orders", redis_->port()));
  StartHealthgate();
  ASSERT_TRUE(WaitFor([&] { return Status("/ready/shop/orders") == 200; }, 5s))
      << Body("/ready/shop/orders") << ReadFile(log_);
  EXPECT_NE(
      Body("/metrics")
          .find(
              R"(healthgate_probe_success{healthcheck="orders",namespace="shop",probe="cache",type="redis"} 1)"),
      std::string::npos);

  redis_->Stop();
  const auto stopped = std::chrono::steady_clock::now();
  // interval x failureThreshold + timeout = 1.3 s, plus slack for jitter and polling.
  ASSERT_TRUE(WaitFor([&] { return Status("/ready/shop/orders") == 503; }, 2500ms))
      << Body("/ready/shop/orders");
  const auto took = std::chrono::steady_clock::now() - stopped;
  EXPECT_LT(took, 2500ms);
  auto body = nlohmann::json::parse(Body("/api/v1/healthchecks/shop/orders"));
  EXPECT_EQ(body["probes"][0]["healthy"], false) << body.dump(2);
  EXPECT_NE(Body("/metrics")
                .find(R"(healthgate_healthcheck_ready{healthcheck="orders",namespace="shop"} 0)"),
            std::string::npos);
  EXPECT_EQ(Status("/health/shop/orders"), 503);

  redis_->Start();
  ASSERT_TRUE(WaitFor([&] { return Status("/ready/shop/orders") == 200; }, 10s));
  EXPECT_NE(Body("/metrics")
                .find(R"(healthgate_healthcheck_ready{healthcheck="orders",namespace="shop"} 1)"),
            std::string::npos);
  // Transitions are logged; successful probes are not, one line each.
  const std::string logs = ReadFile(log_);
  EXPECT_NE(logs.find("\"probe unhealthy\""), std::string::npos) << logs;
  EXPECT_NE(logs.find("\"probe healthy\""), std::string::npos) << logs;
}

TEST_F(LocalMode, ReloadAddsEditsAndRemovesChecks) {
  WriteFile(manifests_ / "a.yaml", RedisCheck("alpha", redis_->port()));
  StartHealthgate();
  ASSERT_TRUE(WaitFor([&] { return Status("/ready/shop/alpha") == 200; }, 5s));
  auto before = nlohmann::json::parse(Body("/api/v1/healthchecks/shop/alpha"));
  ASSERT_EQ(Status("/ready/shop/beta"), 404);

  // Add: seen at the next poll (0.5 s); the waits leave room for a loaded
  // 2-core machine under TSan.
  WriteFile(manifests_ / "b.yaml", RedisCheck("beta", redis_->port()));
  ASSERT_TRUE(WaitFor([&] { return Status("/ready/shop/beta") == 200; }, 10s));

  // Edit alpha by adding a probe: the unchanged probe keeps its state and history.
  WriteFile(manifests_ / "a.yaml", RedisCheck("alpha", redis_->port(),
                                              "  - name: port\n    tcp: {host: 127.0.0.1, port: " +
                                                  std::to_string(redis_->port()) + "}\n"));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto j = nlohmann::json::parse(Body("/api/v1/healthchecks/shop/alpha"));
        return j["probes"].size() == 2;
      },
      10s));
  auto after = nlohmann::json::parse(Body("/api/v1/healthchecks/shop/alpha"));
  EXPECT_EQ(after["probes"][0]["name"], "cache");
  EXPECT_GE(after["probes"][0]["consecutiveSuccesses"].get<int>(),
            before["probes"][0]["consecutiveSuccesses"].get<int>())
      << "the unchanged probe started over:\n"
      << before.dump(2) << "\n"
      << after.dump(2);
  EXPECT_EQ(after["probes"][0]["lastTransitionTime"], before["probes"][0]["lastTransitionTime"]);

  // Remove: the endpoint and the series go away.
  fs::remove(manifests_ / "b.yaml");
  ASSERT_TRUE(WaitFor([&] { return Status("/ready/shop/beta") == 404; }, 10s));
  ASSERT_TRUE(WaitFor([&] { return Body("/metrics").find("\"beta\"") == std::string::npos; }, 10s))
      << Body("/metrics");
}

TEST_F(LocalMode, InvalidFileBesideValidOnesIsReportedAndSkipped) {
  WriteFile(manifests_ / "good.yaml", RedisCheck("good", redis_->port()));
  WriteFile(manifests_ / "bad.yaml", R"(apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: bad, namespace: shop}
spec:
  interval: 1s
  timeout: 5s
  probes:
  - name: x
    tcp: {host: 127.0.0.1, port: 99999}
)");
  StartHealthgate();
  ASSERT_TRUE(WaitFor([&] { return Status("/ready/shop/good") == 200; }, 5s));
  // The invalid check is visible with its errors, and not ready.
  EXPECT_EQ(Status("/ready/shop/bad"), 503);
  const std::string bad = Body("/api/v1/healthchecks/shop/bad");
  EXPECT_NE(bad.find("InvalidSpec"), std::string::npos) << bad;
  EXPECT_NE(bad.find("spec.probes[0].tcp.port"), std::string::npos) << bad;
  const std::string logs = ReadFile(log_);
  EXPECT_NE(logs.find("bad.yaml"), std::string::npos) << logs;
  EXPECT_NE(logs.find("spec.timeout"), std::string::npos) << logs;

  // Breaking a valid check keeps its previous version running; the API shows why.
  WriteFile(manifests_ / "good.yaml",
            RedisCheck("good", redis_->port()) + "  - name: broken\n    tcp: {host: 127.0.0.1}\n");
  ASSERT_TRUE(WaitFor(
      [&] {
        return Body("/api/v1/healthchecks/shop/good").find("spec.probes[1].tcp.port") !=
               std::string::npos;
      },
      3s))
      << Body("/api/v1/healthchecks/shop/good");
  auto j = nlohmann::json::parse(Body("/api/v1/healthchecks/shop/good"));
  EXPECT_EQ(j["probes"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["probes"][0]["healthy"], true) << j.dump(2);
  // A YAML syntax error does not stop anything either.
  WriteFile(manifests_ / "broken.yaml", "apiVersion: [unterminated\n");
  std::this_thread::sleep_for(1500ms);  // two reload periods
  EXPECT_EQ(Status("/livez"), 200);
  EXPECT_EQ(Status("/ready/shop/good"), 200);
}

TEST_F(LocalMode, SigtermExitsZeroWithinTwoSeconds) {
  WriteFile(manifests_ / "cache.yaml", RedisCheck("orders", redis_->port()));
  StartHealthgate();
  // A keep-alive client is connected while the signal arrives.
  httplib::Client keep("127.0.0.1", port_);
  keep.set_keep_alive(true);
  ASSERT_TRUE(keep.Get("/livez"));
  const auto t0 = std::chrono::steady_clock::now();
  hg_.Signal(SIGTERM);
  EXPECT_EQ(hg_.Wait(3s), 0) << ReadFile(log_);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST_F(LocalMode, CanaryPasswordNeverLeaksAndMetricsPassPromtool) {
  // One probe with the right password, one where Redis rejects it: error paths too.
  WriteFile(fs::path(dir_.path()) / "secrets/shop/wrong/password", std::string(kCanary) + "-x");
  WriteFile(manifests_ / "cache.yaml",
            RedisCheck("orders", redis_->port(),
                       "  - name: wrong\n    redis: {host: 127.0.0.1, port: " +
                           std::to_string(redis_->port()) +
                           ", passwordSecretRef: {name: wrong, key: password}}\n"));
  StartHealthgate();
  ASSERT_TRUE(WaitFor(
      [&] {
        return Body("/api/v1/healthchecks/shop/orders").find("\"auth\"") != std::string::npos;
      },
      5s))
      << Body("/api/v1/healthchecks/shop/orders");
  for (const char* path :
       {"/", "/metrics", "/api/v1/healthchecks", "/api/v1/healthchecks/shop/orders",
        "/ready/shop/orders", "/health/shop/orders"}) {
    EXPECT_EQ(Body(path).find(kCanary), std::string::npos) << path;
  }
  hg_.Signal(SIGTERM);
  hg_.Wait(3s);
  EXPECT_EQ(ReadFile(log_).find(kCanary), std::string::npos);

  // promtool on the real output of a process that probed.
  StartHealthgate();
  ASSERT_TRUE(WaitFor(
      [&] { return Body("/metrics").find("healthgate_probes_total") != std::string::npos; }, 5s));
  const std::string metrics_file = dir_.path() + "/metrics.txt";
  std::ofstream(metrics_file) << Body("/metrics");
  auto r = testing::Run({"sh", "-c", "promtool check metrics < " + metrics_file});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("lint"), std::string::npos) << r.output;
}

TEST_F(LocalMode, WaitCommandGatesOnReadiness) {
  WriteFile(manifests_ / "cache.yaml", RedisCheck("orders", redis_->port()));
  StartHealthgate();
  const std::string url = "http://127.0.0.1:" + std::to_string(port_);
  auto ready = testing::Run(
      {HEALTHGATE_BINARY, "wait", "--for", "shop/orders", "--url", url, "--timeout", "10s"},
      std::chrono::seconds(15));
  EXPECT_EQ(ready.exit_code, 0) << ready.output;
  EXPECT_NE(ready.output.find("shop/orders is Ready"), std::string::npos) << ready.output;
  auto unknown = testing::Run(
      {HEALTHGATE_BINARY, "wait", "--for", "shop/nope", "--url", url, "--timeout", "1500ms"},
      std::chrono::seconds(10));
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_NE(unknown.output.find("unknown HealthCheck (404)"), std::string::npos) << unknown.output;
  auto bad = testing::Run({HEALTHGATE_BINARY, "wait", "--for", "no-slash", "--url", url});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
}

TEST_F(LocalMode, SighupReloadsAtOnceAndUsr1Usr2AreIgnored) {
  WriteFile(manifests_ / "a.yaml", RedisCheck("alpha", redis_->port()));
  // Polling every hour: only SIGHUP can make a change visible within the test.
  StartHealthgate({"--poll-interval", "1h"});
  ASSERT_TRUE(WaitFor([&] { return Status("/ready/shop/alpha") == 200; }, 5s));
  WriteFile(manifests_ / "b.yaml", RedisCheck("beta", redis_->port()));
  std::this_thread::sleep_for(1s);  // two default poll periods: not picked up by polling
  ASSERT_EQ(Status("/ready/shop/beta"), 404);

  hg_.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return Status("/ready/shop/beta") == 200; }, 5s))
      << "SIGHUP did not reload:\n"
      << ReadFile(log_);
  EXPECT_TRUE(hg_.running());
  EXPECT_EQ(Status("/ready/shop/alpha"), 200);

  for (int sig : {SIGUSR1, SIGUSR2, SIGHUP}) {
    hg_.Signal(sig);
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(hg_.running()) << "signal " << sig << " ended the process:\n" << ReadFile(log_);
    EXPECT_EQ(Status("/livez"), 200);
  }
  const std::string logs = ReadFile(log_);
  EXPECT_NE(logs.find("SIGUSR1"), std::string::npos) << logs;
  // SIGTERM still shuts down cleanly.
  hg_.Signal(SIGTERM);
  EXPECT_EQ(hg_.Wait(3s), 0) << ReadFile(log_);
}

TEST_F(LocalMode, VanishedDirectoryKeepsItsChecksAndADeletedFileRemovesThem) {
  WriteFile(manifests_ / "a.yaml", RedisCheck("alpha", redis_->port()));
  WriteFile(manifests_ / "b.yaml", RedisCheck("beta", redis_->port()));
  StartHealthgate();
  ASSERT_TRUE(WaitFor([&] { return Status("/ready/shop/alpha") == 200; }, 5s));
  ASSERT_TRUE(WaitFor([&] { return Status("/ready/shop/beta") == 200; }, 5s));
  const auto before = nlohmann::json::parse(Body("/api/v1/healthchecks/shop/alpha"));
  const std::string metric =
      "healthgate_manifest_source_errors{path=\"" + manifests_.string() + "\"} ";
  EXPECT_NE(Body("/metrics").find(metric + "0"), std::string::npos);

  StatusWatch watch(port_, "/ready/shop/alpha");
  // Moved away (a ConfigMap volume re-mounted, a deploy script swapping directories).
  const fs::path away = manifests_.string() + ".away";
  fs::rename(manifests_, away);
  ASSERT_TRUE(WaitFor(
      [&] {
        return Body("/api/v1/healthchecks/shop/alpha").find("unreadable") != std::string::npos;
      },
      5s))
      << Body("/api/v1/healthchecks/shop/alpha") << ReadFile(log_);
  EXPECT_NE(Body("/metrics").find(metric + "1"), std::string::npos) << Body("/metrics");
  EXPECT_EQ(Status("/readyz"), 200);
  EXPECT_EQ(Status("/ready/shop/beta"), 200);
  std::this_thread::sleep_for(1500ms);  // three poll periods away
  fs::rename(away, manifests_);
  ASSERT_TRUE(WaitFor(
      [&] {
        return Body("/api/v1/healthchecks/shop/alpha").find("invalidSpec") == std::string::npos;
      },
      5s))
      << Body("/api/v1/healthchecks/shop/alpha");
  std::this_thread::sleep_for(600ms);
  watch.Stop();
  EXPECT_GT(watch.polls(), 20);
  EXPECT_EQ(watch.Bad(), "") << "non-200 answers of /ready/shop/alpha while the directory was away";
  EXPECT_NE(Body("/metrics").find(metric + "0"), std::string::npos);
  // The probe history continued: no restart, no new transition.
  const auto after = nlohmann::json::parse(Body("/api/v1/healthchecks/shop/alpha"));
  EXPECT_GT(after["probes"][0]["consecutiveSuccesses"].get<int>(),
            before["probes"][0]["consecutiveSuccesses"].get<int>())
      << before.dump(2) << "\n"
      << after.dump(2);
  EXPECT_EQ(after["probes"][0]["lastTransitionTime"], before["probes"][0]["lastTransitionTime"]);
  const std::string logs = ReadFile(log_);
  EXPECT_NE(logs.find("manifest source unreadable"), std::string::npos) << logs;
  EXPECT_NE(logs.find("manifest source readable again"), std::string::npos) << logs;

  // A file deleted from a directory that is still there: its check goes, promptly.
  fs::remove(manifests_ / "b.yaml");
  ASSERT_TRUE(WaitFor([&] { return Status("/ready/shop/beta") == 404; }, 10s));
  EXPECT_EQ(Status("/ready/shop/alpha"), 200);
}

TEST_F(LocalMode, EmptiedFileKeepsItsChecksAndSpecialFilesAreSkipped) {
  WriteFile(manifests_ / "a.yaml", RedisCheck("alpha", redis_->port()));
  // A FIFO and a symlink to /dev/zero among the manifests: neither is read
  // (one used to block the load forever, the other to abort it with bad_alloc).
  ASSERT_EQ(::mkfifo((manifests_ / "pipe.yaml").c_str(), 0600), 0);
  fs::create_symlink("/dev/zero", manifests_ / "zero.yaml");
  StartHealthgate();
  ASSERT_TRUE(WaitFor([&] { return Status("/ready/shop/alpha") == 200; }, 5s));
  std::string logs = ReadFile(log_);
  EXPECT_NE(logs.find((manifests_ / "pipe.yaml").string()), std::string::npos) << logs;
  EXPECT_NE(logs.find("a FIFO"), std::string::npos) << logs;
  EXPECT_NE(logs.find("a character device"), std::string::npos) << logs;
  const auto before = nlohmann::json::parse(Body("/api/v1/healthchecks/shop/alpha"));

  StatusWatch watch(port_, "/ready/shop/alpha");
  // Truncated in place, as a non-atomic save does first.
  const std::string text = ReadFile(manifests_ / "a.yaml");
  { std::ofstream(manifests_ / "a.yaml", std::ios::trunc); }
  ASSERT_EQ(fs::file_size(manifests_ / "a.yaml"), 0u);
  ASSERT_TRUE(WaitFor(
      [&] { return Body("/api/v1/healthchecks/shop/alpha").find("empty") != std::string::npos; },
      5s))
      << Body("/api/v1/healthchecks/shop/alpha") << ReadFile(log_);
  std::this_thread::sleep_for(1500ms);
  { std::ofstream(manifests_ / "a.yaml", std::ios::trunc) << text; }
  ASSERT_TRUE(WaitFor(
      [&] {
        return Body("/api/v1/healthchecks/shop/alpha").find("invalidSpec") == std::string::npos;
      },
      5s))
      << Body("/api/v1/healthchecks/shop/alpha");
  std::this_thread::sleep_for(600ms);
  watch.Stop();
  EXPECT_GT(watch.polls(), 20);
  EXPECT_EQ(watch.Bad(), "") << "non-200 answers of /ready/shop/alpha while the file was empty";
  const auto after = nlohmann::json::parse(Body("/api/v1/healthchecks/shop/alpha"));
  EXPECT_GT(after["probes"][0]["consecutiveSuccesses"].get<int>(),
            before["probes"][0]["consecutiveSuccesses"].get<int>())
      << before.dump(2) << "\n"
      << after.dump(2);
  EXPECT_EQ(after["probes"][0]["lastTransitionTime"], before["probes"][0]["lastTransitionTime"]);
  EXPECT_EQ(Status("/readyz"), 200);
}

}  // namespace
}  // namespace healthgate::testing
