// Never storm a target: a real PostgreSQL probed by many checks at about twice
// the connection rate it serves. The per-database bound keeps healthgate's
// backends at or below the bound; runs beyond it wait or are skipped, never
// failed; successful probes stay near what the server can do (measured in the
// same test with pgbench -C on the same machine).
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/servers.h"

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

// Connections per second the server accepts, authenticates and serves one
// SELECT on, four clients at a time (pgbench -C: a new connection per query).
double PgbenchConnectRate(const PostgresServer& pg, const std::string& dir) {
  const std::string script = dir + "/select1.sql";
  std::ofstream(script) << "SELECT 1;\n";
  const std::string cmd =
      "/usr/lib/postgresql/15/bin/pgbench -n -C -c 4 -j 2 -T 3 -h 127.0.0.1 -p " +
      std::to_string(pg.port()) + " -U postgres -f " + script + " postgres 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return 0;
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  pclose(p);
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(R"(tps = ([0-9.]+))"))) {
    ADD_FAILURE() << "pgbench: " << out;
    return 0;
  }
  return std::stod(m[1]);
}

TEST(PostgresStorm, BoundedBackendsNoFalseFailures) {
  TempDir dir;
  PostgresServer pg;
  const double capacity = PgbenchConnectRate(pg, dir.path());
  ASSERT_GT(capacity, 20) << "pgbench could not connect";
  // About twice the server's connection rate, in checks of one probe each at 1 s.
  const int checks = std::clamp(static_cast<int>(capacity * 2), 100, 3000);
  constexpr int kBound = 4;
  std::ostringstream manifests;
  for (int c = 0; c < checks; ++c) {
    manifests << "---\napiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\n"
              << "metadata: {name: c" << c << ", namespace: storm}\n"
              << "spec:\n  interval: 1s\n  timeout: 900ms\n  probes:\n"
              << "  - name: db\n    postgres: {host: 127.0.0.1, port: " << pg.port()
              << ", database: postgres, user: postgres, sslMode: disable}\n";
  }
  const fs::path manifest = fs::path(dir.path()) / "storm.yaml";
  std::ofstream(manifest) << manifests.str();
  const int port = FreePort();
  Process hg(
      {HEALTHGATE_BINARY, "local", "-f", manifest.string(), "--http-address",
       "127.0.0.1:" + std::to_string(port), "--max-in-flight-per-database", std::to_string(kBound)},
      dir.path() + "/healthgate.log");
  auto get = [port](const std::string& path) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1s);
    c.set_read_timeout(5s);
    auto r = c.Get(path);
    return r ? r->body : std::string();
  };
  ASSERT_TRUE(WaitFor([&] { return !get("/livez").empty(); }, 30s));
  // Sample the server's TCP client backends (healthgate's; psql here comes over the
  // unix socket) while the storm runs.
  const auto metrics_at = [&] { return get("/metrics"); };
  std::this_thread::sleep_for(2s);
  const std::string m0 = metrics_at();
  const auto t0 = std::chrono::steady_clock::now();
  int max_backends = 0, samples = 0;
  while (std::chrono::steady_clock::now() - t0 < 8s) {
    const std::string n = pg.Sql(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND "
        "client_addr IS NOT NULL");
    max_backends = std::max(max_backends, std::stoi(n));
    ++samples;
    std::this_thread::sleep_for(50ms);
  }
  const std::string m1 = metrics_at();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string ok_re =
      R"re(healthgate_probes_total\{[^}]*result="success"[^}]*\} ([0-9.e+]+))re";
  const std::string failed_re =
      R"re(healthgate_probes_total\{[^}]*result="(?:timeout|dns|connect|tls|auth|protocol|assertion)"[^}]*\} ([0-9.e+]+))re";
  const double ok_rate = (Sum(m1, ok_re) - Sum(m0, ok_re)) / seconds;
  const double failed = Sum(m1, failed_re);
  const double skipped = Sum(m1, R"re(\nhealthgate_schedule_skipped_total ([0-9.e+]+))re");
  RecordProperty("pgbench_connect_tps", std::to_string(capacity));
  RecordProperty("healthgate_success_per_s", std::to_string(ok_rate));
  EXPECT_GT(samples, 20);
  EXPECT_LE(max_backends, kBound) << "healthgate opened more backends than its bound";
  EXPECT_EQ(failed, 0) << "a server at capacity is not down";
  EXPECT_GT(skipped, 0) << "the runs beyond the server's rate are skipped";
  // Near capacity; wide margin for a loaded 2-core machine, where healthgate and
  // the server share the cores that pgbench had to itself.
  EXPECT_GT(ok_rate, 0.4 * capacity) << "pgbench -C: " << capacity << "/s";
  hg.Stop();
}

}  // namespace
}  // namespace healthgate::testing
