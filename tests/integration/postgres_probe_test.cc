// The PostgreSQL probe against real PostgreSQL 15 servers started by the tests.
#include "probes/postgres/postgres_probe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "probes/run_once.h"
#include "probes/text.h"
#include "tests/support/dead_then_live.h"
#include "tests/support/hostile_servers.h"
#include "tests/support/net.h"
#include "tests/support/probe_runner.h"
#include "tests/support/process.h"
#include "tests/support/servers.h"

namespace healthgate::probes {
namespace {

using std::chrono::milliseconds;
using testing::PostgresOptions;
using testing::PostgresServer;
using testing::RunProbes;

constexpr char kPassword[] = "pg-canary-9c1e77";

PostgresConfig Config(std::uint16_t port, std::string ssl_mode = "disable") {
  PostgresConfig c;
  c.host = "127.0.0.1";
  c.port = port;
  c.ssl_mode = std::move(ssl_mode);
  return c;
}

PostgresOptions Options(std::string auth, std::string password = "", bool ssl = false,
                        bool ssl_only = false) {
  PostgresOptions o;
  o.auth = std::move(auth);
  o.password = std::move(password);
  o.ssl = ssl;
  o.ssl_only = ssl_only;
  return o;
}

Result RunOne(const PostgresConfig& c, milliseconds timeout = milliseconds(5000)) {
  return testing::RunOneWithoutLeak(c, timeout, kPassword);
}

using testing::Has;

TEST(PostgresProbe, TrustSucceeds) {
  PostgresServer server;
  Result r = RunOne(Config(server.port()));
  EXPECT_TRUE(r.healthy) << r.message;
  EXPECT_EQ(r.reason, Reason::kSuccess);
  EXPECT_TRUE(r.timings.dns.has_value());
  EXPECT_TRUE(r.timings.connect.has_value());
  EXPECT_TRUE(r.timings.first_byte.has_value());
  EXPECT_EQ(r.message, "query returned \"1\"");
}

TEST(PostgresProbe, HostNameIsResolvedAsynchronously) {
  PostgresServer server;
  PostgresConfig c = Config(server.port());
  c.host = "localhost";  // may resolve to ::1 first, where nothing listens: libpq tries each
  Result r = RunOne(c);
  EXPECT_TRUE(r.healthy) << r.message;
}

TEST(PostgresProbe, UnresolvableHostIsDns) {
  PostgresConfig c = Config(5432);
  c.host = "no-such-host.invalid";
  Result r = RunOne(c);
  EXPECT_EQ(r.reason, Reason::kDns) << r.message;
}

TEST(PostgresProbe, ScramWithTheRightPasswordSucceeds) {
  PostgresServer server(Options("scram-sha-256", kPassword));
  PostgresConfig c = Config(server.port(), "prefer");
  c.password = Secret(kPassword);
  Result r = RunOne(c);
  EXPECT_TRUE(r.healthy) << r.message;
}

TEST(PostgresProbe, PasswordWithSpecialCharacters) {
  // Handed to libpq as a keyword/value pair: no quoting or escaping needed.
  const std::string password = std::string(kPassword) + " it's = \\ \"x\"";
  PostgresServer server(Options("scram-sha-256", password));
  PostgresConfig c = Config(server.port());
  c.password = Secret(password);
  Result r = RunOne(c);
  EXPECT_TRUE(r.healthy) << r.message;
}

TEST(PostgresProbe, WrongPasswordIsAuth) {
  PostgresServer server(Options("scram-sha-256", kPassword));
  PostgresConfig c = Config(server.port());
  c.password = Secret(std::string("wrong-") + kPassword);
  Result r = RunOne(c);
  EXPECT_EQ(r.reason, Reason::kAuth) << r.message;
  EXPECT_TRUE(Has(r.message, "password authentication failed")) << r.message;
  EXPECT_TRUE(Has(r.message, "28P01")) << r.message;
  EXPECT_FALSE(Has(r.message, kPassword)) << r.message;
}

TEST(PostgresProbe, MissingPasswordIsAuth) {
  PostgresServer server(Options("scram-sha-256", kPassword));
  Result r = RunOne(Config(server.port()));
  EXPECT_EQ(r.reason, Reason::kAuth) << r.message;
}

TEST(PostgresProbe, UnknownRoleIsAuth) {
  PostgresServer server(Options("trust"));
  PostgresConfig c = Config(server.port());
  c.user = "nobody";
  Result r = RunOne(c);
  EXPECT_EQ(r.reason, Reason::kAuth) << r.message;
  EXPECT_TRUE(Has(r.message, "28000")) << r.message;
}

TEST(PostgresProbe, UnknownDatabaseIsAssertion) {
  PostgresServer server;
  PostgresConfig c = Config(server.port());
  c.database = "orders";
  Result r = RunOne(c);
  EXPECT_EQ(r.reason, Reason::kAssertion) << r.message;
  EXPECT_TRUE(Has(r.message, "3D000")) << r.message;
  EXPECT_TRUE(Has(r.message, "\"orders\" does not exist")) << r.message;

  server.Sql("CREATE DATABASE orders");
  EXPECT_TRUE(RunOne(c).healthy);
}

TEST(PostgresProbe, QueryWithExpectedValue) {
  PostgresServer server;
  PostgresConfig c = Config(server.port());
  c.query = "SELECT 40 + 2";
  c.expect = "42";
  Result ok = RunOne(c);
  EXPECT_TRUE(ok.healthy) << ok.message;

  c.expect = "43";
  Result bad = RunOne(c);
  EXPECT_EQ(bad.reason, Reason::kAssertion);
  EXPECT_EQ(bad.message, "query returned \"42\", expected \"43\"");

  c.query = "SELECT 1 WHERE false";
  Result none = RunOne(c);
  EXPECT_EQ(none.reason, Reason::kAssertion);
  EXPECT_TRUE(Has(none.message, "no rows")) << none.message;

  c.query = "SELECT pg_is_in_recovery()";
  c.expect = "f";
  EXPECT_TRUE(RunOne(c).healthy);
}

TEST(PostgresProbe, FailingQueryIsAssertion) {
  PostgresServer server;
  PostgresConfig c = Config(server.port());
  c.query = "SELECT * FROM no_such_table";
  Result r = RunOne(c);
  EXPECT_EQ(r.reason, Reason::kAssertion) << r.message;
  EXPECT_TRUE(Has(r.message, "42P01")) << r.message;
}

TEST(PostgresProbe, StoppedServerIsConnectAndRecovers) {
  PostgresServer server;
  PostgresConfig c = Config(server.port());
  ASSERT_TRUE(RunOne(c).healthy);
  server.Stop();
  Result down = RunOne(c);
  EXPECT_EQ(down.reason, Reason::kConnect) << down.message;
  EXPECT_TRUE(Has(down.message, "refused")) << down.message;
  server.Start();
  Result up = RunOne(c);
  EXPECT_TRUE(up.healthy) << up.message;
}

TEST(PostgresProbe, SilentPeerTimesOutNamingThePhase) {
  testing::HungListener listener;
  Result plain = RunOne(Config(listener.port(), "disable"), milliseconds(300));
  EXPECT_EQ(plain.reason, Reason::kTimeout);
  EXPECT_TRUE(Has(plain.message, "during auth")) << plain.message;
  EXPECT_EQ(plain.latency, milliseconds(300));

  Result tls = RunOne(Config(listener.port(), "prefer"), milliseconds(300));
  EXPECT_EQ(tls.reason, Reason::kTimeout);
  EXPECT_TRUE(Has(tls.message, "during tls")) << tls.message;
}

TEST(PostgresProbe, NonPostgresPeerIsProtocol) {
  testing::WrongProtocolServer peer;
  for (const char* mode : {"disable", "prefer"}) {
    Result r = RunOne(Config(peer.port(), mode));
    EXPECT_EQ(r.reason, Reason::kProtocol) << mode << ": " << r.message;
  }
}

TEST(PostgresProbe, TlsModes) {
  PostgresServer server(Options("scram-sha-256", kPassword, true));
  PostgresConfig c = Config(server.port(), "require");
  c.password = Secret(kPassword);
  Result required = RunOne(c);
  EXPECT_TRUE(required.healthy) << required.message;
  EXPECT_TRUE(required.timings.tls.has_value());

  c.ssl_mode = "verify-full";
  c.ca_pem = Secret(server.ca().cert_pem());
  Result verified = RunOne(c);
  EXPECT_TRUE(verified.healthy) << verified.message;

  c.host = "localhost";  // verified against the DNS name in the certificate
  Result by_name = RunOne(c);
  EXPECT_TRUE(by_name.healthy) << by_name.message;

  c.ca_pem = Secret();  // libpq's default root store: nothing there trusts the test CA
  Result no_ca = RunOne(c);
  EXPECT_EQ(no_ca.reason, Reason::kTls) << no_ca.message;

  testing::TestCa other("another CA");
  c.ca_pem = Secret(other.cert_pem());
  Result wrong_ca = RunOne(c);
  EXPECT_EQ(wrong_ca.reason, Reason::kTls) << wrong_ca.message;
  EXPECT_FALSE(Has(wrong_ca.message, kPassword));
}

TEST(PostgresProbe, RequireAgainstAServerWithoutTlsIsTls) {
  PostgresServer server;
  Result r = RunOne(Config(server.port(), "require"));
  EXPECT_EQ(r.reason, Reason::kTls) << r.message;
}

TEST(PostgresProbe, DisableAgainstATlsOnlyServerFails) {
  PostgresServer server(Options("trust", "", true, true));
  Result plain = RunOne(Config(server.port(), "disable"));
  EXPECT_FALSE(plain.healthy);
  // pg_hba has no entry for an unencrypted connection: the server rejects the login.
  EXPECT_EQ(plain.reason, Reason::kAuth) << plain.message;
  EXPECT_TRUE(Has(plain.message, "no encryption")) << plain.message;
  EXPECT_TRUE(RunOne(Config(server.port(), "require")).healthy);
}

TEST(PostgresProbe, HundredConcurrentProbesSucceed) {
  PostgresServer server(Options("scram-sha-256", kPassword));
  PostgresConfig c = Config(server.port());
  c.password = Secret(kPassword);
  std::vector<Target> targets(100, Target{c});
  auto results = RunProbes(targets, milliseconds(20000));
  ASSERT_EQ(results.size(), 100u);
  int healthy = 0;
  for (const auto& r : results) {
    if (r.healthy)
      ++healthy;
    else
      ADD_FAILURE() << ReasonName(r.reason) << ": " << r.message;
  }
  EXPECT_EQ(healthy, 100);
}

TEST(PostgresProbe, CancelledAttemptsReleaseEverything) {
  // Many attempts cut by the deadline in every phase: nothing leaks or crashes
  // (checked under ASan), and the server still serves afterwards.
  PostgresServer server(Options("scram-sha-256", kPassword));
  PostgresConfig c = Config(server.port(), "prefer");
  c.password = Secret(kPassword);
  c.query = "SELECT pg_sleep(5)";
  // Deadlines from 1 ms to 40 ms cut attempts in every phase (connect, TLS,
  // auth, query); the rest are cut while the server works on the command.
  std::vector<OnceRequest> requests;
  for (int ms = 1; ms <= 40; ++ms) requests.push_back({c, milliseconds(ms)});
  for (int i = 0; i < 20; ++i) requests.push_back({c, milliseconds(200)});
  for (const auto& r : RunOnce(requests)) {
    EXPECT_EQ(r.reason, Reason::kTimeout) << r.message;
  }
  c.query = "SELECT 1";
  EXPECT_TRUE(RunOne(c).healthy);
}

TEST(PostgresProbe, TriesEveryResolvedAddress) {
  PostgresServer server;
  Result r = testing::RunWithDeadThenLive<PostgresProber>(Config(server.port()));
  EXPECT_TRUE(r.healthy) << r.message;
}

// --- hostile replies (fake servers: a real PostgreSQL cannot be made to send these) ---

constexpr std::uint64_t kRssBound = 64ull << 20;  // +64 MiB over the process' RSS

Result RunMeasured(const PostgresConfig& c, milliseconds timeout, std::uint64_t* growth) {
  testing::ResetPeakRss();
  const std::uint64_t before = testing::RssBytes();
  Result r = RunProbes({c}, timeout).at(0);
  const std::uint64_t peak = testing::PeakRssBytes();
  *growth = peak > before ? peak - before : 0;
  ::testing::Test::RecordProperty("peak_rss_growth_kib", std::to_string(*growth >> 10));
  return r;
}

TEST(PostgresProbe, HugeFieldIsProtocolAndMemoryStaysBounded) {
  // A DataRow announcing a 1.5 GB field, of which 256 MiB are streamed: libpq
  // grows its buffer to the announced length and fills it.
  testing::ScriptedServer peer(
      testing::HostilePostgres(testing::PgHostility::kHugeField, 1536ull << 20, 256ull << 20));
  std::uint64_t growth = 0;
  Result r = RunMeasured(Config(peer.port()), milliseconds(10000), &growth);
  EXPECT_EQ(r.reason, Reason::kProtocol) << r.message;
  EXPECT_TRUE(Has(r.message, "more than maxReplyBytes (1048576 bytes) during query")) << r.message;
  EXPECT_LT(r.latency, milliseconds(5000));
  std::uint64_t bound = kRssBound;
#if defined(__SANITIZE_ADDRESS__)
  // libpq still reserves the announced 1.5 GB (untouched, so not resident), but
  // ASan's allocator writes the shadow of the block: 1/8 of it becomes resident.
  bound += (1536ull << 20) / 8;
#endif
  EXPECT_LT(growth, bound) << "peak RSS grew by " << (growth >> 20) << " MiB";
}

TEST(PostgresProbe, EndlessRowsAreProtocolAndMemoryStaysBounded) {
  // Small rows without end: libpq keeps every row of the result until it is complete.
  testing::ScriptedServer peer(
      testing::HostilePostgres(testing::PgHostility::kEndlessRows, 0, 256ull << 20));
  std::uint64_t growth = 0;
  Result r = RunMeasured(Config(peer.port(), "prefer"), milliseconds(10000), &growth);
  EXPECT_EQ(r.reason, Reason::kProtocol) << r.message;
  EXPECT_TRUE(Has(r.message, "maxReplyBytes")) << r.message;
  EXPECT_LT(growth, kRssBound) << "peak RSS grew by " << (growth >> 20) << " MiB";
}

TEST(PostgresProbe, MaxReplyBytesBoundsARealServersReply) {
  PostgresServer server;
  PostgresConfig c = Config(server.port());
  c.query = "SELECT repeat('x', 20000)";
  Result whole = RunOne(c);
  EXPECT_TRUE(whole.healthy) << whole.message;
  EXPECT_LE(whole.message.size(), kMaxMessageBytes);  // the 20000 bytes are capped in the message
  EXPECT_TRUE(whole.message.ends_with(kTruncatedMarker)) << whole.message.substr(0, 80);
  c.max_reply_bytes = 8192;
  Result capped = RunOne(c);
  EXPECT_EQ(capped.reason, Reason::kProtocol) << capped.message;
  EXPECT_TRUE(Has(capped.message, "maxReplyBytes (8192 bytes)")) << capped.message;
}

// psql's answer without its line break.
std::string Value(const PostgresServer& server, const std::string& sql) {
  std::string out = server.Sql(sql);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// Backends of healthgate probes (application_name "healthgate") on `server`.
int ProbeBackends(const PostgresServer& server) {
  return std::stoi(
      Value(server, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'healthgate'"));
}

TEST(PostgresProbe, TimedOutAttemptsLeaveNoBackendWaitingBehind) {
  PostgresServer server;
  server.Sql("CREATE TABLE locked (i int)");
  // Another session holds the table locked for the whole test.
  testing::TempDir tmp;
  testing::Process holder(
      {"runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/psql", "-h", "127.0.0.1",
       "-p", std::to_string(server.port()), "-U", "postgres", "-d", "postgres", "-c",
       "BEGIN; LOCK TABLE locked IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300);"},
      tmp.path() + "/holder.log");
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return Value(server,
                     "SELECT count(*) FROM pg_locks l JOIN pg_class c ON l.relation = c.oid "
                     "WHERE c.relname = 'locked' AND l.mode = 'AccessExclusiveLock' AND "
                     "l.granted") == "1";
      },
      std::chrono::seconds(30)))
      << "the lock holder did not take the lock";

  PostgresConfig c = Config(server.port());
  c.query = "SELECT count(*) FROM locked";
  c.server_timeout = milliseconds(500);  // Materialize sets it to the probe's timeout
  int worst = 0;
  for (int i = 0; i < 20; ++i) {
    Result r = RunOne(c, milliseconds(500));
    EXPECT_FALSE(r.healthy) << r.message;
    worst = std::max(worst, ProbeBackends(server));
  }
  // The previous attempt's backend may still be between its lock timeout and exit.
  EXPECT_LE(worst, 2) << "timed-out attempts left their backends waiting on the lock";
  EXPECT_LE(ProbeBackends(server), 1);
  EXPECT_TRUE(testing::WaitFor([&] { return ProbeBackends(server) == 0; }, std::chrono::seconds(5)))
      << ProbeBackends(server) << " backends still there";
  holder.Stop();
}

TEST(PostgresProbe, SessionIsReadOnly) {
  PostgresServer server;
  PostgresConfig c = Config(server.port());
  c.query = "CREATE TABLE x (i int)";
  Result r = RunOne(c);
  EXPECT_EQ(r.reason, Reason::kAssertion) << r.message;
  EXPECT_TRUE(Has(r.message, "read-only transaction")) << r.message;
  EXPECT_EQ(Value(server, "SELECT to_regclass('public.x') IS NULL"), "t");
  // Reading still works.
  c.query = "SELECT count(*) FROM pg_class";
  EXPECT_TRUE(RunOne(c).healthy);
}

}  // namespace
}  // namespace healthgate::probes
