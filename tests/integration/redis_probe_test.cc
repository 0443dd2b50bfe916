// The Redis probe against real redis-server processes started by the tests.
#include "probes/redis/redis_probe.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "probes/run_once.h"
#include "tests/support/dead_then_live.h"
#include "tests/support/hostile_servers.h"
#include "tests/support/net.h"
#include "tests/support/probe_runner.h"
#include "tests/support/process.h"
#include "tests/support/servers.h"

namespace healthgate::probes {
namespace {

using std::chrono::milliseconds;
using testing::RedisOptions;
using testing::RedisServer;
using testing::RunProbes;

constexpr char kCanary[] = "redis-canary-5b2d91";

RedisConfig Config(std::uint16_t port) {
  RedisConfig c;
  c.host = "127.0.0.1";
  c.port = port;
  return c;
}

Result RunOne(const RedisConfig& c, milliseconds timeout = milliseconds(3000)) {
  return testing::RunOneWithoutLeak(c, timeout, kCanary);
}

using testing::Has;

RedisOptions WithPassword(std::string password) {
  RedisOptions o;
  o.requirepass = std::move(password);
  return o;
}

TEST(RedisProbe, PingSucceeds) {
  RedisServer server;
  Result r = RunOne(Config(server.port()));
  EXPECT_TRUE(r.healthy) << r.message;
  EXPECT_EQ(r.reason, Reason::kSuccess);
  EXPECT_EQ(r.message, "reply \"PONG\"");
  EXPECT_TRUE(r.timings.dns.has_value());
  EXPECT_TRUE(r.timings.connect.has_value());
  EXPECT_TRUE(r.timings.first_byte.has_value());
}

TEST(RedisProbe, HostNameIsResolvedAsynchronously) {
  RedisServer server;
  RedisConfig c = Config(server.port());
  c.host = "localhost";  // every resolved address is tried in turn (::1 may come first)
  Result r = RunOne(c);
  EXPECT_TRUE(r.healthy) << r.message;
  c.host = "no-such-host.invalid";
  EXPECT_EQ(RunOne(c).reason, Reason::kDns);
}

TEST(RedisProbe, RequirepassWithTheRightPasswordSucceeds) {
  RedisServer server(WithPassword(kCanary));
  RedisConfig c = Config(server.port());
  c.password = Secret(kCanary);
  Result r = RunOne(c);
  EXPECT_TRUE(r.healthy) << r.message;
}

TEST(RedisProbe, WrongPasswordIsAuth) {
  RedisServer server(WithPassword("the-real-one"));
  RedisConfig c = Config(server.port());
  c.password = Secret(kCanary);
  Result r = RunOne(c);
  EXPECT_EQ(r.reason, Reason::kAuth) << r.message;
  EXPECT_TRUE(Has(r.message, "WRONGPASS")) << r.message;
}

TEST(RedisProbe, NoPasswordAgainstRequirepassIsAuth) {
  RedisServer server(WithPassword(kCanary));
  Result r = RunOne(Config(server.port()));
  EXPECT_EQ(r.reason, Reason::kAuth) << r.message;
  EXPECT_TRUE(Has(r.message, "NOAUTH")) << r.message;
}

TEST(RedisProbe, PasswordAgainstAServerWithoutOneIsAuth) {
  RedisServer server;
  RedisConfig c = Config(server.port());
  c.password = Secret(kCanary);
  Result r = RunOne(c);
  EXPECT_EQ(r.reason, Reason::kAuth) << r.message;
}

TEST(RedisProbe, AclUser) {
  RedisOptions o;
  o.acl_user = "probe";
  o.acl_password = kCanary;
  RedisServer server(o);
  RedisConfig c = Config(server.port());
  c.username = "probe";
  c.password = Secret(kCanary);
  Result ok = RunOne(c);
  EXPECT_TRUE(ok.healthy) << ok.message;

  c.password = Secret(std::string(kCanary) + "-wrong");
  Result bad = RunOne(c);
  EXPECT_EQ(bad.reason, Reason::kAuth) << bad.message;
}

TEST(RedisProbe, SelectsTheDatabase) {
  RedisServer server;
  server.Cli({"-n", "3", "SET", "healthgate:key", "in-db-3"});
  RedisConfig c = Config(server.port());
  c.db = 3;
  c.command = {"GET", "healthgate:key"};
  c.expect = "in-db-3";
  Result r = RunOne(c);
  EXPECT_TRUE(r.healthy) << r.message;

  c.db = 0;
  Result other = RunOne(c);
  EXPECT_EQ(other.reason, Reason::kAssertion) << other.message;
  EXPECT_EQ(other.message, "reply nil, expected \"in-db-3\"");

  c.db = 99;  // beyond the 16 databases of the default configuration
  Result out_of_range = RunOne(c);
  EXPECT_EQ(out_of_range.reason, Reason::kAssertion) << out_of_range.message;
  EXPECT_TRUE(Has(out_of_range.message, "select:")) << out_of_range.message;
}

TEST(RedisProbe, CustomCommandWithExpect) {
  RedisServer server;
  RedisConfig c = Config(server.port());
  c.command = {"ECHO", "hello world"};
  c.expect = "hello world";
  EXPECT_TRUE(RunOne(c).healthy);

  c.expect = "goodbye";
  Result bad = RunOne(c);
  EXPECT_EQ(bad.reason, Reason::kAssertion);
  EXPECT_EQ(bad.message, "reply \"hello world\", expected \"goodbye\"");

  c.command = {"DBSIZE"};
  c.expect = "0";  // integer replies compare as decimal text
  EXPECT_TRUE(RunOne(c).healthy);

  c.command = {"NOSUCHCOMMAND"};
  c.expect.reset();
  Result err = RunOne(c);
  EXPECT_EQ(err.reason, Reason::kAssertion);
  EXPECT_TRUE(Has(err.message, "unknown command")) << err.message;

  c.command = {"INFO", "server"};  // any non-error reply without `expect`
  EXPECT_TRUE(RunOne(c).healthy);
}

TEST(RedisProbe, StoppedServerIsConnectAndRecovers) {
  RedisServer server;
  RedisConfig c = Config(server.port());
  ASSERT_TRUE(RunOne(c).healthy);
  server.Stop();
  Result down = RunOne(c);
  EXPECT_EQ(down.reason, Reason::kConnect) << down.message;
  EXPECT_TRUE(Has(down.message, "refused")) << down.message;
  server.Start();
  EXPECT_TRUE(RunOne(c).healthy);
}

TEST(RedisProbe, SilentPeerTimesOutNamingThePhase) {
  testing::HungListener listener;
  RedisConfig c = Config(listener.port());
  Result r = RunOne(c, milliseconds(300));
  EXPECT_EQ(r.reason, Reason::kTimeout);
  EXPECT_TRUE(Has(r.message, "during command")) << r.message;
  EXPECT_EQ(r.latency, milliseconds(300));

  c.password = Secret(kCanary);
  Result auth = RunOne(c, milliseconds(300));
  EXPECT_TRUE(Has(auth.message, "during auth")) << auth.message;
}

TEST(RedisProbe, NonRedisPeerIsProtocol) {
  testing::WrongProtocolServer peer;
  Result r = RunOne(Config(peer.port()));
  EXPECT_EQ(r.reason, Reason::kProtocol) << r.message;
}

TEST(RedisProbe, Roles) {
  RedisServer master(WithPassword(kCanary));
  RedisConfig c = Config(master.port());
  c.password = Secret(kCanary);
  c.role = "master";
  Result ok = RunOne(c);
  EXPECT_TRUE(ok.healthy) << ok.message;
  EXPECT_TRUE(Has(ok.message, "role master")) << ok.message;

  c.role = "replica";
  Result wrong = RunOne(c);
  EXPECT_EQ(wrong.reason, Reason::kAssertion) << wrong.message;
  EXPECT_EQ(wrong.message, "role is master, expected replica");

  RedisOptions o;
  o.replica_of = master.port();
  o.master_password = kCanary;
  RedisServer replica(o);
  RedisConfig rc = Config(replica.port());
  rc.role = "replica";
  Result replica_ok = RunOne(rc);
  EXPECT_TRUE(replica_ok.healthy) << replica_ok.message;
}

TEST(RedisProbe, HundredConcurrentProbesSucceed) {
  RedisServer server(WithPassword(kCanary));
  RedisConfig c = Config(server.port());
  c.password = Secret(kCanary);
  c.role = "master";
  std::vector<Target> targets(100, Target{c});
  auto results = RunProbes(targets, milliseconds(10000));
  ASSERT_EQ(results.size(), 100u);
  int healthy = 0;
  for (const auto& r : results) {
    if (r.healthy) {
      ++healthy;
    } else {
      ADD_FAILURE() << ReasonName(r.reason) << ": " << r.message;
    }
  }
  EXPECT_EQ(healthy, 100);
}

TEST(RedisProbe, CancelledAttemptsReleaseEverything) {
  // Attempts cut by the deadline while a command blocks: nothing leaks or
  // crashes (checked under ASan), and the server still serves afterwards.
  RedisServer server;
  RedisConfig c = Config(server.port());
  c.command = {"BLPOP", "healthgate:nothing", "5"};
  // Deadlines from 1 ms to 40 ms cut attempts in every phase (connect, TLS,
  // auth, query); the rest are cut while the server works on the command.
  std::vector<OnceRequest> requests;
  for (int ms = 1; ms <= 40; ++ms) requests.push_back({c, milliseconds(ms)});
  for (int i = 0; i < 20; ++i) requests.push_back({c, milliseconds(200)});
  for (const auto& r : RunOnce(requests)) {
    EXPECT_EQ(r.reason, Reason::kTimeout) << r.message;
  }
  EXPECT_TRUE(RunOne(Config(server.port())).healthy);
}

TEST(RedisProbe, TriesEveryResolvedAddress) {
  RedisServer server;
  Result r = testing::RunWithDeadThenLive<RedisProber>(Config(server.port()));
  EXPECT_TRUE(r.healthy) << r.message;
}

// --- hostile replies (fake servers: a real Redis cannot be made to send these) ---

constexpr std::uint64_t kRssBound = 64ull << 20;  // +64 MiB over the process' RSS

// Runs one attempt against a hostile peer; returns the result and how much the
// process' peak RSS grew over its RSS before the attempt.
Result RunMeasured(const RedisConfig& c, milliseconds timeout, std::uint64_t* growth) {
  testing::ResetPeakRss();
  const std::uint64_t before = testing::RssBytes();
  Result r = RunProbes({c}, timeout).at(0);
  const std::uint64_t peak = testing::PeakRssBytes();
  *growth = peak > before ? peak - before : 0;
  ::testing::Test::RecordProperty("peak_rss_growth_kib", std::to_string(*growth >> 10));
  return r;
}

TEST(RedisProbe, HugeBulkReplyIsProtocolAndMemoryStaysBounded) {
  // Announces a 512 MB bulk string and streams (up to 256 MiB of) it: hiredis
  // would buffer it all before the reply is complete.
  testing::ScriptedServer peer(testing::HostileRedis("$536870912\r\n", 256ull << 20));
  std::uint64_t growth = 0;
  Result r = RunMeasured(Config(peer.port()), milliseconds(10000), &growth);
  EXPECT_EQ(r.reason, Reason::kProtocol) << r.message;
  EXPECT_TRUE(Has(r.message, "maxReplyBytes")) << r.message;
  EXPECT_LT(r.latency, milliseconds(5000));
  EXPECT_LT(growth, kRssBound) << "peak RSS grew by " << (growth >> 20) << " MiB";
}

TEST(RedisProbe, EndlessReplyWithoutHeaderIsProtocolAndMemoryStaysBounded) {
  // A status line that never ends: nothing announces its size, so only the
  // bytes counted on the socket can stop it.
  testing::ScriptedServer peer(testing::HostileRedis("+", 256ull << 20));
  std::uint64_t growth = 0;
  RedisConfig c = Config(peer.port());
  c.max_reply_bytes = 256 * 1024;
  Result r = RunMeasured(c, milliseconds(10000), &growth);
  EXPECT_EQ(r.reason, Reason::kProtocol) << r.message;
  EXPECT_TRUE(Has(r.message, "more than maxReplyBytes (262144 bytes)")) << r.message;
  EXPECT_LT(growth, kRssBound) << "peak RSS grew by " << (growth >> 20) << " MiB";
}

TEST(RedisProbe, MaxReplyBytesBoundsARealServersReply) {
  RedisServer server;
  server.Cli({"SET", "big", std::string(5000, 'v')});
  RedisConfig c = Config(server.port());
  c.command = {"GET", "big"};
  Result whole = RunOne(c);
  EXPECT_TRUE(whole.healthy) << whole.message;
  c.max_reply_bytes = 4096;
  Result capped = RunOne(c);
  EXPECT_EQ(capped.reason, Reason::kProtocol) << capped.message;
  EXPECT_TRUE(Has(capped.message, "maxReplyBytes (4096 bytes)")) << capped.message;
}

TEST(RedisProbe, InvalidUtf8AndEscapesInAReplyAreMadeSafe) {
  testing::ScriptedServer peer(testing::HostileRedis("+P\xffNG\x1b[2J\r\n"));
  Result r = RunOne(Config(peer.port()));
  EXPECT_EQ(r.reason, Reason::kAssertion) << r.message;
  EXPECT_EQ(r.message, "reply \"P\xef\xbf\xbdNG\\x1b[2J\", expected \"PONG\"");
}

TEST(RedisProbe, EchoedPasswordPiecesNeverReachTheMessage) {
  // A server that echoes the AUTH password back, upper-cased and split.
  testing::ScriptedServer peer(
      testing::HostileRedis("-ERR bad password REDIS-CANARY\r\n-5B2D91 rejected\r\n"));
  RedisConfig c = Config(peer.port());
  c.password = Secret(kCanary);
  Result r = RunOne(c);
  EXPECT_EQ(r.reason, Reason::kAuth) << r.message;
  EXPECT_FALSE(Has(r.message, "CANARY")) << r.message;
  EXPECT_TRUE(Has(r.message, "***")) << r.message;
}

TEST(RedisProbe, CheckJsonSurvivesAnInvalidUtf8Reply) {
  // `healthgate check -o json` once aborted (nlohmann type_error 316) on this.
  testing::ScriptedServer peer(testing::HostileRedis("+P\xffNG\r\n"));
  testing::TempDir tmp;
  const std::string manifest = tmp.path() + "/check.yaml";
  std::ofstream(manifest) << "apiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\n"
                             "metadata: {name: hostile, namespace: ci}\nspec:\n  probes:\n"
                             "  - name: cache\n    redis: {host: 127.0.0.1, port: "
                          << peer.port() << "}\n";
  auto r = testing::Run({HEALTHGATE_BINARY, "check", "-o", "json", "-f", manifest},
                        std::chrono::seconds(30));
  ASSERT_EQ(r.exit_code, 1) << r.output;  // unhealthy, not a crash
  nlohmann::json doc;
  ASSERT_NO_THROW(doc = nlohmann::json::parse(r.output)) << r.output;
  const auto& probe = doc["checks"][0]["probes"][0];
  EXPECT_EQ(probe["reason"], "assertion") << r.output;
  EXPECT_NE(probe["message"].get<std::string>().find("P\xef\xbf\xbdNG"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace healthgate::probes
