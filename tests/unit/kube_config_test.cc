#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <map>

#include "operator/kube/config.h"
#include "tests/support/process.h"

namespace healthgate::kube {
namespace {

using std::chrono::seconds;
using std::chrono::steady_clock;

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

struct FakeNow {
  steady_clock::time_point t{};
  NowFn fn() {
    return [this] { return t; };
  }
};

GetenvFn MapEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// base64 of "CA-PEM", "CERT-PEM", "KEY-PEM".
constexpr const char* kDataConfig = R"(apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: dev-cluster
  cluster:
    server: https://dev.example:6443
    insecure-skip-tls-verify: true
- name: prod-cluster
  cluster:
    server: https://prod.example:6443/prefix/
    certificate-authority-data: Q0EtUEVN
users:
- name: dev-user
  user:
    token: dev-token
- name: prod-user
  user:
    client-certificate-data: Q0VSVC1QRU0=
    client-key-data: S0VZLVBFTQ==
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user}
- name: prod
  context: {cluster: prod-cluster, user: prod-user, namespace: shop}
)";

TEST(KubeConfig, DataFieldsOfCurrentContext) {
  FakeNow now;
  auto cfg = ParseKubeconfig(kDataConfig, "/nowhere", "", now.fn());
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  EXPECT_EQ(cfg->server, "https://prod.example:6443/prefix");
  EXPECT_EQ(cfg->ca_pem, "CA-PEM");
  EXPECT_FALSE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(cfg->client_cert_pem, "CERT-PEM");
  EXPECT_EQ(cfg->client_key_pem, "KEY-PEM");
  EXPECT_EQ(cfg->token, nullptr);
  EXPECT_EQ(cfg->default_namespace, "shop");
}

TEST(KubeConfig, ExplicitContextWins) {
  FakeNow now;
  auto cfg = ParseKubeconfig(kDataConfig, "/nowhere", "dev", now.fn());
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  EXPECT_EQ(cfg->server, "https://dev.example:6443");
  EXPECT_TRUE(cfg->insecure_skip_tls_verify);
  EXPECT_TRUE(cfg->ca_pem.empty());
  ASSERT_NE(cfg->token, nullptr);
  EXPECT_EQ(cfg->token->Token().value(), "dev-token");
  EXPECT_EQ(cfg->default_namespace, "default");
  // The description names the context and server, never the token.
  EXPECT_EQ(cfg->description.find("dev-token"), std::string::npos);
}

TEST(KubeConfig, FileFieldsResolveAgainstTheKubeconfigDirectory) {
  testing::TempDir dir;
  ASSERT_EQ(mkdir((dir.path() + "/pki").c_str(), 0700), 0);
  WriteFile(dir.path() + "/pki/ca.crt", "FILE-CA");
  WriteFile(dir.path() + "/pki/client.crt", "FILE-CERT");
  WriteFile(dir.path() + "/pki/client.key", "FILE-KEY");
  WriteFile(dir.path() + "/token", "file-token\n");
  WriteFile(dir.path() + "/kubeconfig", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://127.0.0.1:1", certificate-authority: pki/ca.crt}}]
users: [{name: u, user: {tokenFile: token, client-certificate: pki/client.crt, client-key: )" +
                                            dir.path() + R"(/pki/client.key}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)");
  FakeNow now;
  auto cfg = LoadKubeconfigFile(dir.path() + "/kubeconfig", "", now.fn());
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  EXPECT_EQ(cfg->ca_pem, "FILE-CA");
  EXPECT_EQ(cfg->client_cert_pem, "FILE-CERT");
  EXPECT_EQ(cfg->client_key_pem, "FILE-KEY");
  ASSERT_NE(cfg->token, nullptr);
  EXPECT_EQ(cfg->token->Token().value(), "file-token");
}

TEST(KubeConfig, DataFieldWinsOverFileField) {
  FakeNow now;
  auto cfg = ParseKubeconfig(R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1", certificate-authority: /does/not/exist,
            certificate-authority-data: Q0EtUEVN}}]
contexts: [{name: c, context: {cluster: k}}]
)",
                             "/", "", now.fn());
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  EXPECT_EQ(cfg->ca_pem, "CA-PEM");
}

TEST(KubeConfig, ErrorsNameTheProblemNotTheSecret) {
  FakeNow now;
  auto missing_ctx = ParseKubeconfig(kDataConfig, "/", "staging", now.fn());
  ASSERT_FALSE(missing_ctx.ok());
  EXPECT_EQ(missing_ctx.error().kind, ErrorKind::kConfig);
  EXPECT_NE(missing_ctx.error().message.find("staging"), std::string::npos);

  auto bad_b64 = ParseKubeconfig(R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1", certificate-authority-data: "no!base64"}}]
contexts: [{name: c, context: {cluster: k}}]
)",
                                 "/", "", now.fn());
  ASSERT_FALSE(bad_b64.ok());
  EXPECT_NE(bad_b64.error().message.find("certificate-authority-data"), std::string::npos);

  auto exec = ParseKubeconfig(R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {exec: {command: aws}}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)",
                              "/", "", now.fn());
  ASSERT_FALSE(exec.ok());
  EXPECT_NE(exec.error().message.find("exec"), std::string::npos);

  auto half_cert = ParseKubeconfig(R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {client-certificate-data: Q0VSVC1QRU0=, token: sekrit}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)",
                                   "/", "", now.fn());
  ASSERT_FALSE(half_cert.ok());
  EXPECT_EQ(half_cert.error().message.find("sekrit"), std::string::npos);

  auto not_yaml = ParseKubeconfig("clusters: [unclosed", "/", "", now.fn());
  ASSERT_FALSE(not_yaml.ok());
  EXPECT_EQ(not_yaml.error().kind, ErrorKind::kConfig);

  auto no_server = ParseKubeconfig(R"(
current-context: c
clusters: [{name: k, cluster: {}}]
contexts: [{name: c, context: {cluster: k}}]
)",
                                   "/", "", now.fn());
  ASSERT_FALSE(no_server.ok());
}

TEST(KubeConfig, FlagThenFirstKubeconfigOfTheListThenInCluster) {
  testing::TempDir dir;
  const std::string a = dir.path() + "/a", b = dir.path() + "/b";
  auto config_for = [](const std::string& server) {
    return "current-context: c\nclusters: [{name: k, cluster: {server: \"" + server +
           "\"}}]\ncontexts: [{name: c, context: {cluster: k}}]\n";
  };
  WriteFile(a, config_for("https://a:1"));
  WriteFile(b, config_for("https://b:1"));
  FakeNow now;
  auto env = MapEnv({{"KUBECONFIG", ":" + b + ":" + a}});
  EXPECT_EQ(LoadConfig(a, env, now.fn())->server, "https://a:1");
  EXPECT_EQ(LoadConfig("", env, now.fn())->server, "https://b:1");

  InClusterPaths paths{dir.path() + "/sa-token", dir.path() + "/sa-ca", dir.path() + "/sa-ns"};
  auto none = LoadConfig("", MapEnv({}), now.fn(), paths);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("KUBERNETES_SERVICE_HOST"), std::string::npos);
}

TEST(KubeConfig, InCluster) {
  testing::TempDir dir;
  InClusterPaths paths{dir.path() + "/token", dir.path() + "/ca.crt", dir.path() + "/namespace"};
  WriteFile(paths.token, "sa-token-1\n");
  WriteFile(paths.ca, "IN-CLUSTER-CA");
  WriteFile(paths.namespace_file, "shop\n");
  FakeNow now;
  auto cfg = LoadInClusterConfig(
      paths, MapEnv({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}),
      now.fn());
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  EXPECT_EQ(cfg->server, "https://10.0.0.1:443");
  EXPECT_EQ(cfg->ca_pem, "IN-CLUSTER-CA");
  EXPECT_EQ(cfg->default_namespace, "shop");
  EXPECT_EQ(cfg->token->Token().value(), "sa-token-1");

  auto v6 = LoadInClusterConfig(
      paths, MapEnv({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}}),
      now.fn());
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->server, "https://[fd00::1]:443");

  std::remove(paths.ca.c_str());
  auto no_ca = LoadInClusterConfig(
      paths, MapEnv({{"KUBERNETES_SERVICE_HOST", "h"}, {"KUBERNETES_SERVICE_PORT", "1"}}),
      now.fn());
  ASSERT_FALSE(no_ca.ok());
  EXPECT_NE(no_ca.error().message.find("ca.crt"), std::string::npos);
}

TEST(KubeFileTokenSource, RereadsWhenTheFileChangesAndEveryMinute) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/token";
  WriteFile(path, "token-aaaa");
  FakeNow now;
  FileTokenSource source(path, now.fn(), seconds(60));
  EXPECT_EQ(source.Token().value(), "token-aaaa");

  // A rotation that changes the size is seen at once.
  WriteFile(path, "token-bbbbbb");
  EXPECT_EQ(source.Token().value(), "token-bbbbbb");

  // A rotation that keeps size and (here, forced) mtime is seen after a minute.
  struct stat before {};
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  WriteFile(path, "token-cccccc");
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  now.t += seconds(59);
  EXPECT_EQ(source.Token().value(), "token-bbbbbb");
  now.t += seconds(1);
  EXPECT_EQ(source.Token().value(), "token-cccccc");

  // A vanished file keeps the last good token (rotation in progress).
  std::remove(path.c_str());
  now.t += seconds(120);
  EXPECT_EQ(source.Token().value(), "token-cccccc");
}

TEST(KubeFileTokenSource, MissingFileIsAConfigError) {
  FakeNow now;
  FileTokenSource source("/does/not/exist/token", now.fn());
  auto t = source.Token();
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().kind, ErrorKind::kConfig);
}

TEST(KubeBase64, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(DecodeBase64("aGVsbG8=").value(), "hello");
  EXPECT_EQ(DecodeBase64("aGVsbG8").value(), "hello");
  EXPECT_EQ(DecodeBase64("aGVs\nbG8h").value(), "hello!");
  EXPECT_EQ(DecodeBase64("").value(), "");
  EXPECT_FALSE(DecodeBase64("aGVsbG8=x").has_value());
  EXPECT_FALSE(DecodeBase64("a").has_value());
  EXPECT_FALSE(DecodeBase64("a*b").has_value());
}

}  // namespace
}  // namespace healthgate::kube
