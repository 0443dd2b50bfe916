// `healthgate check` as users run it: the real binary, real targets, exit codes.
// The invalid-manifest table is the one the CRD test runs against a real
// kube-apiserver (tests/e2e/crd_test.sh), so the binary and the schema agree.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/http_targets.h"
#include "tests/support/net.h"
#include "tests/support/process.h"
#include "tests/support/servers.h"

namespace healthgate::testing {
namespace {
namespace fs = std::filesystem;

void WriteFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string FirstLine(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  return line;
}

TEST(CliCheck, EveryInvalidManifestExits2AndNamesItsField) {
  const fs::path dir = fs::path(HEALTHGATE_SOURCE_DIR) / "tests/testdata/invalid";
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 30u);
  for (const auto& f : files) {
    const std::string first = FirstLine(f);
    ASSERT_EQ(first.rfind("# field: ", 0), 0u) << f << " must start with '# field: <path>'";
    const std::string field = first.substr(9);
    auto r = testing::Run({HEALTHGATE_BINARY, "check", "-f", f.string()});
    EXPECT_EQ(r.exit_code, 2) << f << "\n" << r.output;
    EXPECT_NE(r.output.find(field), std::string::npos)
        << f.filename() << ": the error does not name " << field << ":\n"
        << r.output;
  }
}

TEST(CliCheck, ValidManifestsParse) {
  // Valid data points at hosts that do not exist: the probes fail (exit 1), but
  // the input is accepted (not 2).
  const fs::path dir = fs::path(HEALTHGATE_SOURCE_DIR) / "tests/testdata/valid";
  for (const auto& e : fs::directory_iterator(dir)) {
    auto r = testing::Run(
        {HEALTHGATE_BINARY, "check", "-f", e.path().string(), "--secrets-dir", "/nonexistent"},
        std::chrono::seconds(60));
    EXPECT_NE(r.exit_code, 2) << e.path() << "\n" << r.output;
  }
}

TEST(CliCheck, PassesFailsAndReportsAsJson) {
  RedisOptions ro;
  ro.requirepass = "canary-Zq8W";
  RedisServer redis(ro);
  TempDir tmp;
  WriteFile(fs::path(tmp.path()) / "secrets/ci/redis/password", "canary-Zq8W\n");
  const std::string port = std::to_string(redis.port());
  const std::string refused = std::to_string(FreePort());
  WriteFile(fs::path(tmp.path()) / "m/ok.yaml", R"(apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: deps, namespace: ci}
spec:
  probes:
  - name: cache
    redis: {host: 127.0.0.1, port: )" + port + R"(, passwordSecretRef: {name: redis, key: password}}
  - name: optional
    critical: false
    tcp: {host: 127.0.0.1, port: )" + refused + R"(}
)");
  auto r = testing::Run({HEALTHGATE_BINARY, "check", "-f", tmp.path() + "/m", "--secrets-dir",
                         tmp.path() + "/secrets"});
  EXPECT_EQ(r.exit_code, 0) << r.output;  // the failing probe is not critical
  EXPECT_NE(r.output.find("ci/deps"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("connect"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("canary-Zq8W"), std::string::npos) << r.output;

  auto j = testing::Run({HEALTHGATE_BINARY, "check", "-o", "json", "-f", tmp.path() + "/m",
                         "--secrets-dir", tmp.path() + "/secrets"});
  ASSERT_EQ(j.exit_code, 0) << j.output;
  auto doc = nlohmann::json::parse(j.output);
  EXPECT_EQ(doc["ok"], true);
  ASSERT_EQ(doc["checks"].size(), 1u);
  EXPECT_EQ(doc["checks"][0]["probes"][0]["healthy"], true);
  EXPECT_EQ(doc["checks"][0]["probes"][1]["reason"], "connect");

  // A critical failure: the Redis password is wrong -> auth, exit 1.
  WriteFile(fs::path(tmp.path()) / "secrets/ci/redis/password", "wrong");
  auto bad = testing::Run({HEALTHGATE_BINARY, "check", "-f", tmp.path() + "/m", "--secrets-dir",
                           tmp.path() + "/secrets"});
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("auth"), std::string::npos) << bad.output;

  // A missing secret fails only its probe, with a clear reason.
  auto missing = testing::Run({HEALTHGATE_BINARY, "check", "-f", tmp.path() + "/m"});
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("SecretNotFound"), std::string::npos) << missing.output;
}

TEST(CliCheck, BadArgumentsAndMissingFilesExit2) {
  EXPECT_EQ(testing::Run({HEALTHGATE_BINARY, "check"}).exit_code, 2);
  auto r = testing::Run({HEALTHGATE_BINARY, "check", "-f", "/does/not/exist.yaml"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("/does/not/exist.yaml"), std::string::npos) << r.output;
}

TEST(CliCheck, DuplicateCheckIsInvalidInput) {
  TempDir tmp;
  const std::string port = std::to_string(FreePort());
  const std::string doc = R"(apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: deps, namespace: ci}
spec:
  probes:
  - name: port
    tcp: {host: 127.0.0.1, port: )" +
                          port + "}\n";
  WriteFile(fs::path(tmp.path()) / "m/a.yaml", doc);
  WriteFile(fs::path(tmp.path()) / "m/b.yaml", doc);
  auto r = testing::Run({HEALTHGATE_BINARY, "check", "-f", tmp.path() + "/m"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("duplicate HealthCheck ci/deps"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("b.yaml document 0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("a.yaml document 0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nothing was probed"), std::string::npos) << r.output;
  // Within one file too.
  WriteFile(fs::path(tmp.path()) / "one.yaml", doc + "---\n" + doc);
  auto one = testing::Run({HEALTHGATE_BINARY, "check", "-f", tmp.path() + "/one.yaml"});
  EXPECT_EQ(one.exit_code, 2) << one.output;
  EXPECT_NE(one.output.find("one.yaml document 1: duplicate HealthCheck ci/deps (first defined in"),
            std::string::npos)
      << one.output;
}

TEST(CliCheck, TableEscapesControlCharactersFromTheTarget) {
  // A fake Redis: a real server cannot be made to put terminal escapes in an
  // error reply. It answers the probe's first command with clear-screen, a
  // window-title sequence, a C1 CSI and DEL in the error text.
  RawTarget hostile([](int fd, const std::atomic<bool>& stop) {
    // Waits for the first command (any bytes), answers it with the error.
    char buf[512];
    while (!stop.load()) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      if (::recv(fd, buf, sizeof buf, 0) <= 0) return;
      const std::string reply =
          "-ERR \x1b[2J\x1b]0;owned\x07 \xc2\x9b"
          "31m \x7f gotcha\r\n";
      (void)::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
    }
  });
  TempDir tmp;
  WriteFile(fs::path(tmp.path()) / "m.yaml", R"(apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: hostile, namespace: ci}
spec:
  probes:
  - name: cache
    redis: {host: 127.0.0.1, port: )" + std::to_string(hostile.port()) +
                                                 "}\n");
  auto r = testing::Run({HEALTHGATE_BINARY, "check", "-f", tmp.path() + "/m.yaml"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("gotcha"), std::string::npos) << r.output;  // the message is there
  EXPECT_EQ(r.output.find('\x1b'), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find('\x07'), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find('\x7f'), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("\xc2\x9b"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\\x1b[2J"), std::string::npos) << r.output;  // shown, escaped
}

// A CI runner can deschedule the gate: `check` stopped (SIGSTOP) for longer
// than the probe's timeout while the target answers. The deadline that passed
// during the stop is renewed, so the answer counts and the gate passes. Before,
// the run reported a timeout of the healthy target and exited 1.
TEST(CliCheck, StoppedThroughTheDeadlineStillPasses) {
  TempDir dir;
  HttpTarget target;
  WriteFile(fs::path(dir.path()) / "c.yaml",
            "apiVersion: healthgate.dev/v1alpha1\nkind: HealthCheck\n"
            "metadata: {name: web, namespace: ci}\n"
            "spec:\n  timeout: 1s\n  probes:\n  - name: slow\n    http: {url: \"" +
                target.Url("/slow?ms=300") + "\"}\n");
  const std::string log = dir.path() + "/check.log";
  Process check({HEALTHGATE_BINARY, "check", "-f", dir.path() + "/c.yaml"}, log);
  // Stop it while its request is out (the target takes 300 ms), for longer than
  // the timeout.
  ASSERT_TRUE(WaitFor([&] { return target.requests() > 0; }, std::chrono::seconds(30)));
  check.Signal(SIGSTOP);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  check.Signal(SIGCONT);
  const int code = check.Wait(std::chrono::seconds(30));
  std::ifstream in(log);
  const std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(code, 0) << output;
  EXPECT_NE(output.find("success"), std::string::npos) << output;
}

}  // namespace
}  // namespace healthgate::testing
