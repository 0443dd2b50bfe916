// The probe address policy (--probe-deny-cidrs, --probe-allow-cidrs) against real
// listeners on loopback: a refused address fails the probe with reason `connect`
// and the policy's message, and no connection ever reaches the listener, for
// every probe type, for a redirect hop, and through the binary (`check` and
// `local`). Also the Redis read-only allowlist through the binary against a real
// Redis, whose data stays untouched.
#include "probes/address_policy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "probes/run_once.h"
#include "tests/support/http_targets.h"
#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/servers.h"

namespace healthgate::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using probes::AddressPolicy;
using probes::HttpConfig;
using probes::OnceRequest;
using probes::PostgresConfig;
using probes::Reason;
using probes::RedisConfig;
using probes::Result;
using probes::TcpConfig;

// A TCP listener on `ip` that accepts nothing by itself: the kernel completes
// handshakes into the backlog, and Accepted() drains it, counting every
// connection that ever arrived. A connection a probe made is in the backlog by
// the time the probe's connect returned.
class CountingListener {
 public:
  explicit CountingListener(const std::string& ip) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    if (fd_ < 0 || inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1 ||
        bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 128) != 0) {
      throw std::runtime_error("cannot listen on " + ip + ": " + std::strerror(errno));
    }
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~CountingListener() {
    for (int c : accepted_) close(c);
    close(fd_);
  }
  CountingListener(const CountingListener&) = delete;
  CountingListener& operator=(const CountingListener&) = delete;
  std::uint16_t port() const { return port_; }
  int Accepted() {
    while (true) {
      const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) break;
      accepted_.push_back(c);  // kept open: the probe sees a silent peer
    }
    return static_cast<int>(accepted_.size());
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> accepted_;
};

AddressPolicy Policy(const std::string& deny, const std::string& allow = "") {
  std::string error;
  auto d = probes::ParseCidrList(deny, &error);
  auto a = probes::ParseCidrList(allow, &error);
  EXPECT_TRUE(d && a) << error;
  return AddressPolicy(d.value_or(std::vector<probes::Cidr>{}),
                       a.value_or(std::vector<probes::Cidr>{}));
}

// One target of each probe type at host:port.
std::vector<OnceRequest> EveryType(const std::string& host, std::uint16_t port) {
  const std::string p = std::to_string(port);
  HttpConfig http;
  http.url = "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + p +
             "/healthz";
  PostgresConfig pg;
  pg.host = host;
  pg.port = port;
  pg.ssl_mode = "disable";
  RedisConfig redis;
  redis.host = host;
  redis.port = port;
  return {{http, 1000ms},
          {TcpConfig{host, port, "", std::nullopt}, 1000ms},
          {pg, 1000ms},
          {redis, 1000ms}};
}

constexpr const char* kTypes[] = {"http", "tcp", "postgres", "redis"};

TEST(ProbePolicy, DeniedAddressIsNeverConnectedByAnyProbeType) {
  CountingListener listener("127.0.0.2");
  const auto results = probes::RunOnce(EveryType("127.0.0.2", listener.port()),
                                       Policy("169.254.0.0/16,127.0.0.2/32"));
  ASSERT_EQ(results.size(), 4u);
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_FALSE(results[i].healthy) << kTypes[i];
    EXPECT_EQ(results[i].reason, Reason::kConnect) << kTypes[i] << ": " << results[i].message;
    EXPECT_EQ(results[i].message,
              "address 127.0.0.2 is denied by --probe-deny-cidrs (127.0.0.2/32)")
        << kTypes[i];
  }
  EXPECT_EQ(listener.Accepted(), 0);
  // The listener counts: without the rule, each probe type connects.
  probes::RunOnce(EveryType("127.0.0.2", listener.port()), Policy("169.254.0.0/16"));
  EXPECT_EQ(listener.Accepted(), 4);
}

TEST(ProbePolicy, MappedIpv6FormOfADeniedAddressIsDenied) {
  CountingListener listener("127.0.0.2");
  // ::ffff:127.0.0.2 reaches the IPv4 listener through an IPv6 socket.
  const auto results =
      probes::RunOnce(EveryType("::ffff:127.0.0.2", listener.port()), Policy("127.0.0.2/32"));
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].reason, Reason::kConnect) << kTypes[i] << ": " << results[i].message;
    EXPECT_EQ(results[i].message,
              "address ::ffff:127.0.0.2 is denied by --probe-deny-cidrs (127.0.0.2/32)")
        << kTypes[i];
  }
  EXPECT_EQ(listener.Accepted(), 0);
}

TEST(ProbePolicy, RedirectHopToADeniedAddressIsBlocked) {
  HttpTarget allowed;  // 127.0.0.1
  CountingListener denied("127.0.0.2");
  const std::string hop = "http://127.0.0.2:" + std::to_string(denied.port()) + "/ok";
  HttpConfig c;
  c.url = allowed.Url("/redirect-to?url=" + hop);
  c.follow_redirects = true;
  const auto results = probes::RunOnce({{c, 1000ms}}, Policy("127.0.0.2/32"));
  EXPECT_EQ(results[0].reason, Reason::kConnect) << results[0].message;
  EXPECT_EQ(results[0].message, "redirect to " + hop +
                                    ": address 127.0.0.2 is denied by --probe-deny-cidrs "
                                    "(127.0.0.2/32)");
  EXPECT_EQ(allowed.requests(), 1);
  EXPECT_EQ(denied.Accepted(), 0);
}

TEST(ProbePolicy, AllowListRefusesEverythingOutsideIt) {
  CountingListener outside("127.0.0.2");
  HungListener inside;  // 127.0.0.1
  auto requests = EveryType("127.0.0.2", outside.port());
  requests.push_back({TcpConfig{"127.0.0.1", inside.port(), "", std::nullopt}, 1000ms});
  const auto results = probes::RunOnce(requests, Policy("", "127.0.0.1/32"));
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(results[i].reason, Reason::kConnect) << kTypes[i] << ": " << results[i].message;
    EXPECT_EQ(results[i].message, "address 127.0.0.2 is not in --probe-allow-cidrs (127.0.0.1/32)")
        << kTypes[i];
  }
  EXPECT_TRUE(results[4].healthy) << results[4].message;
  EXPECT_EQ(outside.Accepted(), 0);
}

TEST(ProbePolicy, DefaultPolicyDeniesTheMetadataAddress) {
  // Refused before a socket exists: nothing leaves loopback.
  const auto results = probes::RunOnce(EveryType("169.254.169.254", 80));
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].reason, Reason::kConnect) << kTypes[i] << ": " << results[i].message;
    EXPECT_EQ(results[i].message,
              "address 169.254.169.254 is denied by --probe-deny-cidrs (169.254.0.0/16)")
        << kTypes[i];
  }
}

// ---------------------------------------------------------------------------------------
// Through the binary.
// ---------------------------------------------------------------------------------------

void WriteFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
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

std::string EveryTypeManifest(const std::string& host, std::uint16_t port) {
  const std::string p = std::to_string(port);
  return R"(apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: deps, namespace: ci}
spec:
  timeout: 1s
  probes:
  - name: web
    http: {url: "http://)" +
         host + ":" + p + R"(/healthz"}
  - name: broker
    tcp: {host: )" +
         host + ", port: " + p + R"(}
  - name: db
    postgres: {host: )" +
         host + ", port: " + p + R"(, sslMode: disable}
  - name: cache
    redis: {host: )" +
         host + ", port: " + p + R"(}
)";
}

// The message of every probe in `check -o json` output, by probe name.
std::map<std::string, std::string> Messages(const std::string& output) {
  std::map<std::string, std::string> out;
  const auto start = output.find('{');
  if (start == std::string::npos) return out;
  auto j = nlohmann::json::parse(output.substr(start), nullptr, false);
  if (j.is_discarded()) return out;
  for (const auto& check : j["checks"]) {
    for (const auto& p : check["probes"]) {
      out[p["name"].get<std::string>()] =
          p["reason"].get<std::string>() + ": " + p["message"].get<std::string>();
    }
  }
  return out;
}

TEST(CliProbePolicy, CheckDeniesAndAllowsByFlagAndNeverConnects) {
  CountingListener listener("127.0.0.2");
  TempDir tmp;
  const fs::path m = fs::path(tmp.path()) / "deps.yaml";
  WriteFile(m, EveryTypeManifest("127.0.0.2", listener.port()));

  auto denied = testing::Run({HEALTHGATE_BINARY, "check", "-f", m.string(), "-o", "json",
                              "--probe-deny-cidrs", "169.254.0.0/16,127.0.0.2/32"});
  EXPECT_EQ(denied.exit_code, 1) << denied.output;
  auto msgs = Messages(denied.output);
  ASSERT_EQ(msgs.size(), 4u) << denied.output;
  for (const auto& [name, msg] : msgs) {
    EXPECT_EQ(msg, "connect: address 127.0.0.2 is denied by --probe-deny-cidrs (127.0.0.2/32)")
        << name;
  }

  auto outside = testing::Run({HEALTHGATE_BINARY, "check", "-f", m.string(), "-o", "json",
                               "--probe-allow-cidrs", "127.0.0.1/32"});
  EXPECT_EQ(outside.exit_code, 1) << outside.output;
  msgs = Messages(outside.output);
  ASSERT_EQ(msgs.size(), 4u) << outside.output;
  for (const auto& [name, msg] : msgs) {
    EXPECT_EQ(msg, "connect: address 127.0.0.2 is not in --probe-allow-cidrs (127.0.0.1/32)")
        << name;
  }
  EXPECT_EQ(listener.Accepted(), 0);
}

TEST(CliProbePolicy, DefaultDenyListIsActiveWithoutFlags) {
  TempDir tmp;
  const fs::path m = fs::path(tmp.path()) / "meta.yaml";
  WriteFile(m, EveryTypeManifest("169.254.169.254", 80));
  auto r = testing::Run({HEALTHGATE_BINARY, "check", "-f", m.string(), "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  auto msgs = Messages(r.output);
  ASSERT_EQ(msgs.size(), 4u) << r.output;
  for (const auto& [name, msg] : msgs) {
    EXPECT_EQ(msg,
              "connect: address 169.254.169.254 is denied by --probe-deny-cidrs (169.254.0.0/16)")
        << name;
  }
}

TEST(CliProbePolicy, BadFlagValuesExit2NamingTheFlagAndValue) {
  TempDir tmp;
  const fs::path m = fs::path(tmp.path()) / "deps.yaml";
  WriteFile(m, EveryTypeManifest("127.0.0.1", 1));
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"--probe-deny-cidrs", "10.0.0.0/33"},
       "error: --probe-deny-cidrs \"10.0.0.0/33\": \"10.0.0.0/33\": the prefix length"},
      {{"--probe-allow-cidrs", "10.0.0.0/8,nope"},
       "error: --probe-allow-cidrs \"10.0.0.0/8,nope\": \"nope\" is not a CIDR block"},
      {{"--probe-deny-cidrs", "169.254.1.1/16"}, "did you mean 169.254.0.0/16?"},
      {{"--redis-allow-commands", "GET;FLUSHALL"},
       "error: --redis-allow-commands \"GET;FLUSHALL\": \"GET;FLUSHALL\" is not a Redis command"},
  };
  for (const auto& c : cases) {
    for (const std::string sub : {"check", "local", "operator"}) {
      std::vector<std::string> argv = {HEALTHGATE_BINARY, sub};
      if (sub != "operator") argv.insert(argv.end(), {"-f", m.string()});
      if (sub == "operator") argv.insert(argv.end(), {"--kubeconfig", "/nonexistent"});
      argv.insert(argv.end(), c.args.begin(), c.args.end());
      auto r = testing::Run(argv, 20s);
      EXPECT_EQ(r.exit_code, 2) << sub << " " << c.args[1] << "\n" << r.output;
      EXPECT_NE(r.output.find(c.expect), std::string::npos) << sub << "\n" << r.output;
    }
  }
  // An explicit empty value is valid input (an empty deny list turns the default
  // off), written either way; the chart renders "--probe-deny-cidrs=".
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--probe-deny-cidrs", ""},
        std::vector<std::string>{
            "--probe-deny-cidrs=", "--probe-allow-cidrs=", "--redis-allow-commands="}}) {
    std::vector<std::string> argv = {HEALTHGATE_BINARY, "check", "-f", m.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = testing::Run(argv);
    EXPECT_EQ(r.exit_code, 1) << args[0] << "\n" << r.output;
  }
}

class LocalPolicy : public ::testing::Test {
 protected:
  void Start(const std::vector<std::string>& extra) {
    port_ = FreePort();
    log_ = dir_.path() + "/healthgate.log";
    std::vector<std::string> argv = {HEALTHGATE_BINARY,
                                     "local",
                                     "-f",
                                     (fs::path(dir_.path()) / "m").string(),
                                     "--http-address",
                                     "127.0.0.1:" + std::to_string(port_)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    hg_ = Process(argv, log_);
    ASSERT_TRUE(WaitFor([&] { return Status("/readyz") == 200; }, 10s))
        << "healthgate local did not become ready:\n"
        << ReadFile(log_);
  }
  int Status(const std::string& path) {
    auto r = Get(path);
    return r ? r->status : -1;
  }
  httplib::Result Get(const std::string& path) {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(1s);
    c.set_read_timeout(2s);
    return c.Get(path);
  }
  nlohmann::json Check(const std::string& key) {
    auto r = Get("/api/v1/healthchecks/" + key);
    if (!r || r->status != 200) return nlohmann::json();
    return nlohmann::json::parse(r->body, nullptr, false);
  }

  TempDir dir_;
  int port_ = 0;
  std::string log_;
  Process hg_;
};

TEST_F(LocalPolicy, EngineProbesObeyTheDenyFlag) {
  CountingListener listener("127.0.0.2");
  std::string manifest = EveryTypeManifest("127.0.0.2", listener.port());
  manifest.replace(manifest.find("  timeout: 1s"), 13, "  interval: 500ms\n  timeout: 300ms");
  WriteFile(fs::path(dir_.path()) / "m/deps.yaml", manifest);
  Start({"--probe-deny-cidrs", "127.0.0.2/32"});
  // Every probe has failed at least twice.
  nlohmann::json check;
  ASSERT_TRUE(WaitFor(
      [&] {
        check = Check("ci/deps");
        if (!check.is_object() || !check.contains("probes")) return false;
        for (const auto& p : check["probes"]) {
          if (p.value("consecutiveFailures", 0) < 2) return false;
        }
        return check["probes"].size() == 4;
      },
      10s))
      << check.dump(2) << ReadFile(log_);
  for (const auto& p : check["probes"]) {
    EXPECT_EQ(p.value("message", ""),
              "address 127.0.0.2 is denied by --probe-deny-cidrs (127.0.0.2/32)")
        << p.dump();
  }
  EXPECT_EQ(listener.Accepted(), 0);
}

// ---------------------------------------------------------------------------------------
// The Redis read-only allowlist, through the binary, against a real Redis.
// ---------------------------------------------------------------------------------------

std::string RedisManifest(std::uint16_t port, const std::string& command) {
  return R"(apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: cache, namespace: ci}
spec:
  interval: 500ms
  timeout: 300ms
  probes:
  - name: ok
    redis: {host: 127.0.0.1, port: )" +
         std::to_string(port) + R"(}
  - name: wipe
    redis: {host: 127.0.0.1, port: )" +
         std::to_string(port) + ", command: '" + command + R"('}
)";
}

TEST(CliRedisAllowlist, CheckRefusesAWriteCommandAndRedisIsUntouched) {
  RedisServer redis;
  ASSERT_EQ(redis.Cli({"SET", "orders:1", "kept"}), "OK\n");
  TempDir tmp;
  const fs::path m = fs::path(tmp.path()) / "cache.yaml";
  for (const std::string command : {"FLUSHALL", "flushdb", "DEL orders:1", "CONFIG SET dir /"}) {
    WriteFile(m, RedisManifest(redis.port(), command));
    auto r = testing::Run({HEALTHGATE_BINARY, "check", "-f", m.string()});
    EXPECT_EQ(r.exit_code, 2) << command << "\n" << r.output;
    EXPECT_NE(r.output.find("spec.probes[1].redis.command: \""), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("is not in the read-only allowlist"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("nothing was probed"), std::string::npos) << r.output;
  }
  EXPECT_EQ(redis.Cli({"GET", "orders:1"}), "kept\n");
  EXPECT_EQ(redis.Cli({"DBSIZE"}), "1\n");

  // The cluster admin may widen the list; a read-only command outside it then runs.
  WriteFile(m, RedisManifest(redis.port(), "CONFIG GET maxmemory"));
  auto refused = testing::Run({HEALTHGATE_BINARY, "check", "-f", m.string()});
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  auto widened = testing::Run(
      {HEALTHGATE_BINARY, "check", "-f", m.string(), "--redis-allow-commands", "config get"});
  EXPECT_EQ(widened.exit_code, 0) << widened.output;
}

TEST_F(LocalPolicy, LocalRefusesAWriteCommandAndRedisIsUntouched) {
  RedisServer redis;
  ASSERT_EQ(redis.Cli({"SET", "orders:1", "kept"}), "OK\n");
  WriteFile(fs::path(dir_.path()) / "m/cache.yaml", RedisManifest(redis.port(), "FLUSHALL"));
  Start({});
  const std::string logs = ReadFile(log_);
  EXPECT_NE(logs.find("spec.probes[1].redis.command"), std::string::npos) << logs;
  EXPECT_NE(logs.find("is not in the read-only allowlist"), std::string::npos) << logs;
  auto check = Check("ci/cache");
  EXPECT_NE(check.dump().find("is not in the read-only allowlist"), std::string::npos)
      << check.dump(2);
  // Several intervals later the data is still there: nothing was sent.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(redis.Cli({"GET", "orders:1"}), "kept\n");
  EXPECT_EQ(redis.Cli({"DBSIZE"}), "1\n");
}

}  // namespace
}  // namespace healthgate::testing
