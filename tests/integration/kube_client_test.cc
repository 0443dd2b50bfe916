// The Kubernetes client and reflector against a REAL kube-apiserver + etcd,
// started for this suite by tests/e2e/testenv (binaries built once and cached).
// A cluster that cannot start fails every test here; nothing is skipped.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "operator/kube/client.h"
#include "operator/kube/config.h"
#include "operator/kube/reflector.h"
#include "tests/support/process.h"

namespace healthgate::kube {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Run;
using testing::RunResult;
using testing::WaitFor;

const ResourceRef kConfigMaps{"", "v1", "configmaps", ""};
const ResourceRef kNamespaces{"", "v1", "namespaces", ""};
const ResourceRef kHealthChecks{"healthgate.dev", "v1alpha1", "healthchecks", ""};

// One etcd + kube-apiserver for the whole suite.
class Cluster {
 public:
  // Empty string on success, else what went wrong (with testenv's output).
  std::string Up() {
    char tmpl[] = "/tmp/healthgate-kube-client-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return "mkdtemp failed";
    state_ = tmpl;
    RunResult up = Testenv({"up", state_}, seconds(600));
    if (up.exit_code != 0) return "tests/e2e/testenv up failed:\n" + up.output;
    std::istringstream lines(up.output);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("KUBECONFIG=", 0) == 0) kubeconfig_ = line.substr(11);
      if (line.rfind("KUBECTL=", 0) == 0) kubectl_ = line.substr(8);
    }
    if (kubeconfig_.empty() || kubectl_.empty()) return "unexpected testenv output:\n" + up.output;
    RunResult crd =
        Kubectl({"apply", "-f",
                 std::string(HEALTHGATE_SOURCE_DIR) + "/crds/healthgate.dev_healthchecks.yaml"});
    if (crd.exit_code != 0) return "applying the CRD failed:\n" + crd.output;
    // Right after the apply the CRD may have no status yet, and `kubectl wait`
    // then fails at once ("<nil> is of the type <nil>"): poll the condition.
    RunResult est;
    const bool established = WaitFor(
        [&] {
          est = Kubectl({"get", "crd/healthchecks.healthgate.dev", "-o",
                         "jsonpath={.status.conditions[?(@.type==\"Established\")].status}"});
          return est.exit_code == 0 && est.output.find("True") != std::string::npos;
        },
        std::chrono::seconds(60));
    if (!established) return "the CRD was not established:\n" + est.output;
    return "";
  }
  void Down() {
    if (!state_.empty()) Testenv({"down", state_});
  }
  RunResult Testenv(std::vector<std::string> args, milliseconds timeout = seconds(180)) {
    std::vector<std::string> argv{"env", "HEALTHGATE_TESTENV_STATE=" + state_, "bash",
                                  std::string(HEALTHGATE_SOURCE_DIR) + "/tests/e2e/testenv"};
    argv.insert(argv.end(), args.begin(), args.end());
    return Run(argv, timeout);
  }
  RunResult Kubectl(std::vector<std::string> args) {
    std::vector<std::string> argv{kubectl_, "--kubeconfig", kubeconfig_};
    argv.insert(argv.end(), args.begin(), args.end());
    return Run(argv, seconds(60));
  }
  const std::string& kubeconfig() const { return kubeconfig_; }
  const std::string& state() const { return state_; }

 private:
  std::string state_, kubeconfig_, kubectl_;
};

// Records what a reflector reports. Thread-safe.
struct Recorder {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> upserts;  // key, resourceVersion
  std::vector<std::string> deletes;
  std::vector<std::string> errors;
  int synced = 0;

  ReflectorHandlers Handlers() {
    ReflectorHandlers h;
    h.on_upsert = [this](const json& o) {
      std::lock_guard<std::mutex> l(mu);
      upserts.emplace_back(ObjectKey(o), ResourceVersionOf(o));
    };
    h.on_delete = [this](const json& o) {
      std::lock_guard<std::mutex> l(mu);
      deletes.push_back(ObjectKey(o));
    };
    h.on_synced = [this] {
      std::lock_guard<std::mutex> l(mu);
      ++synced;
    };
    h.on_error = [this](const Error& e) {
      std::lock_guard<std::mutex> l(mu);
      errors.push_back(e.ToString());
    };
    return h;
  }
  std::size_t UpsertCount() {
    std::lock_guard<std::mutex> l(mu);
    return upserts.size();
  }
  bool SawUpsert(const std::string& key, const std::string& rv) {
    std::lock_guard<std::mutex> l(mu);
    for (const auto& [k, v] : upserts) {
      if (k == key && v == rv) return true;
    }
    return false;
  }
  std::string Errors() {
    std::lock_guard<std::mutex> l(mu);
    return ::testing::PrintToString(errors);
  }
  std::vector<std::string> Deletes() {
    std::lock_guard<std::mutex> l(mu);
    return deletes;
  }
};

class KubeClient : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new Cluster();
    error_ = cluster_->Up();
  }
  static void TearDownTestSuite() {
    cluster_->Down();
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(error_.empty()) << "the test cluster did not start: " << error_;
    auto cfg = LoadKubeconfigFile(cluster_->kubeconfig(), "", SteadyNow());
    ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
    config_ = cfg.value();
    auto c = Client::Create(config_);
    ASSERT_TRUE(c.ok()) << c.error().ToString();
    client_ = std::move(c).value();
  }

  void CreateNamespace(const std::string& ns) {
    auto r = client_->Create(
        kNamespaces, {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    ASSERT_TRUE(r.ok() || r.error().IsAlreadyExists()) << r.error().ToString();
  }
  json ConfigMap(const std::string& ns, const std::string& name, json data) {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"namespace", ns}}},
            {"data", std::move(data)}};
  }
  std::string MustCreateConfigMap(const std::string& ns, const std::string& name, json data) {
    auto r = client_->Create(kConfigMaps.InNamespace(ns), ConfigMap(ns, name, std::move(data)));
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return r.ok() ? ResourceVersionOf(r.value()) : "";
  }
  std::string CurrentRv(const std::string& ns, const std::string& name) {
    auto r = client_->Get(kConfigMaps.InNamespace(ns), name);
    return r.ok() ? ResourceVersionOf(r.value()) : "";
  }

  static inline Cluster* cluster_ = nullptr;
  static inline std::string error_;
  Config config_;
  std::unique_ptr<Client> client_;
};

TEST_F(KubeClient, AdminKubeconfigReachesTheApiServer) {
  // testenv's admin kubeconfig authenticates with a bearer token and a CA file.
  ASSERT_NE(config_.token, nullptr);
  EXPECT_TRUE(config_.client_cert_pem.empty());
  EXPECT_NE(config_.ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_EQ(config_.default_namespace, "default");
  auto v = client_->GetPath("/version");
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  EXPECT_EQ(v.value()["major"], "1");
  EXPECT_EQ(v.value()["gitVersion"].get<std::string>().rfind("v1.", 0), 0u) << v.value().dump();
}

TEST_F(KubeClient, ConfigMapLifecycle) {
  CreateNamespace("kc-crud");
  const ResourceRef cms = kConfigMaps.InNamespace("kc-crud");
  auto created = client_->Create(cms, ConfigMap("kc-crud", "app", {{"a", "1"}}));
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_FALSE(ResourceVersionOf(created.value()).empty());

  auto got = client_->Get(cms, "app");
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(got.value()["data"]["a"], "1");

  json updated_obj = got.value();
  updated_obj["data"]["b"] = "2";
  auto updated = client_->Update(cms, updated_obj);
  ASSERT_TRUE(updated.ok()) << updated.error().ToString();
  EXPECT_EQ(updated.value()["data"]["b"], "2");

  auto merged =
      client_->Patch(cms, "app", PatchType::kMerge, {{"data", {{"a", nullptr}, {"c", "3"}}}});
  ASSERT_TRUE(merged.ok()) << merged.error().ToString();
  EXPECT_EQ(merged.value()["data"], (json{{"b", "2"}, {"c", "3"}}));

  auto jpatched =
      client_->Patch(cms, "app", PatchType::kJson,
                     json::array({{{"op", "replace"}, {"path", "/data/b"}, {"value", "20"}},
                                  {{"op", "remove"}, {"path", "/data/c"}}}));
  ASSERT_TRUE(jpatched.ok()) << jpatched.error().ToString();
  EXPECT_EQ(jpatched.value()["data"], (json{{"b", "20"}}));

  auto strategic = client_->Patch(cms, "app", PatchType::kStrategicMerge, {{"data", {{"s", "1"}}}});
  ASSERT_TRUE(strategic.ok()) << strategic.error().ToString();
  EXPECT_EQ(strategic.value()["data"]["s"], "1");

  WriteOptions apply{"healthgate-test", true, false};
  auto applied = client_->Patch(cms, "app", PatchType::kApply,
                                {{"apiVersion", "v1"},
                                 {"kind", "ConfigMap"},
                                 {"metadata", {{"name", "app"}}},
                                 {"data", {{"owned", "yes"}}}},
                                apply);
  ASSERT_TRUE(applied.ok()) << applied.error().ToString();
  EXPECT_EQ(applied.value()["data"]["owned"], "yes");
  EXPECT_EQ(client_->Patch(cms, "app", PatchType::kApply, json::object()).error().kind,
            ErrorKind::kConfig);  // apply without a field manager is refused locally

  auto deleted = client_->Delete(cms, "app");
  ASSERT_TRUE(deleted.ok()) << deleted.error().ToString();
  auto gone = client_->Get(cms, "app");
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(gone.error().IsNotFound()) << gone.error().ToString();
  EXPECT_EQ(gone.error().http_code, 404);
  EXPECT_NE(gone.error().message.find("\"app\" not found"), std::string::npos)
      << gone.error().message;
  auto delete_again = client_->Delete(cms, "app");
  EXPECT_TRUE(!delete_again.ok() && delete_again.error().IsNotFound());
}

TEST_F(KubeClient, GetMetadataReturnsLabelsButNoDataOrAnnotations) {
  CreateNamespace("kc-meta");
  const ResourceRef secrets{"", "v1", "secrets", "kc-meta"};
  // As `kubectl apply` leaves it: a copy of the data in an annotation.
  auto created =
      client_->Create(secrets, {{"apiVersion", "v1"},
                                {"kind", "Secret"},
                                {"metadata",
                                 {{"name", "pg"},
                                  {"labels", {{"healthgate.dev/probe-credentials", "true"}}},
                                  {"annotations",
                                   {{"kubectl.kubernetes.io/last-applied-configuration",
                                     R"({"data":{"password":"bWV0YS1jYW5hcnk="}})"}}}}},
                                {"data", {{"password", "bWV0YS1jYW5hcnk="}}}});  // meta-canary
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  auto meta = client_->GetMetadata(secrets, "pg");
  ASSERT_TRUE(meta.ok()) << meta.error().ToString();
  EXPECT_EQ(meta.value()["kind"], "PartialObjectMetadata");
  EXPECT_EQ(meta.value()["metadata"]["labels"]["healthgate.dev/probe-credentials"], "true");
  EXPECT_EQ(meta.value()["metadata"]["resourceVersion"], ResourceVersionOf(created.value()));
  EXPECT_FALSE(meta.value().contains("data"));
  EXPECT_FALSE(meta.value()["metadata"].contains("annotations"));
  EXPECT_EQ(meta.value().dump().find("bWV0YS1jYW5hcnk"), std::string::npos) << meta.value().dump();
  auto missing = client_->GetMetadata(secrets, "absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.error().IsNotFound()) << missing.error().ToString();
}

TEST_F(KubeClient, StaleResourceVersionIsATypedConflict) {
  CreateNamespace("kc-conflict");
  const ResourceRef cms = kConfigMaps.InNamespace("kc-conflict");
  auto created = client_->Create(cms, ConfigMap("kc-conflict", "c", {{"v", "1"}}));
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  json first = created.value();
  json second = first;
  first["data"]["v"] = "2";
  ASSERT_TRUE(client_->Update(cms, first).ok());
  second["data"]["v"] = "3";  // still carries the old resourceVersion
  auto conflict = client_->Update(cms, second);
  ASSERT_FALSE(conflict.ok());
  EXPECT_TRUE(conflict.error().IsConflict()) << conflict.error().ToString();
  EXPECT_EQ(conflict.error().http_code, 409);
  EXPECT_EQ(conflict.error().kind, ErrorKind::kApi);

  // Precondition on delete with a stale resourceVersion: Conflict too.
  auto stale_delete = client_->Delete(
      cms, "c", {{"preconditions", {{"resourceVersion", ResourceVersionOf(created.value())}}}});
  ASSERT_FALSE(stale_delete.ok());
  EXPECT_TRUE(stale_delete.error().IsConflict()) << stale_delete.error().ToString();

  auto dup = client_->Create(cms, ConfigMap("kc-conflict", "c", {}));
  ASSERT_FALSE(dup.ok());
  EXPECT_TRUE(dup.error().IsAlreadyExists()) << dup.error().ToString();

  auto invalid = client_->Create(cms, ConfigMap("kc-conflict", "Not_A_Name", {}));
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().reason, Reason::kInvalid) << invalid.error().ToString();
  EXPECT_EQ(invalid.error().http_code, 422);
}

TEST_F(KubeClient, HealthCheckSpecAndStatusSubresource) {
  CreateNamespace("kc-hc");
  const ResourceRef hcs = kHealthChecks.InNamespace("kc-hc");
  json hc = {
      {"apiVersion", "healthgate.dev/v1alpha1"},
      {"kind", "HealthCheck"},
      {"metadata", {{"name", "orders-deps"}, {"namespace", "kc-hc"}}},
      {"spec",
       {{"probes",
         json::array({{{"name", "web"}, {"http", {{"url", "http://127.0.0.1:8080/healthz"}}}}})}}}};
  auto created = client_->Create(hcs, hc);
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_EQ(created.value()["metadata"]["generation"], 1);

  // The CRD's schema rejects what it can: a typed Invalid error.
  json bad = hc;
  bad["metadata"]["name"] = "bad";
  bad["spec"]["probes"] = json::array();
  auto rejected = client_->Create(hcs, bad);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().reason, Reason::kInvalid) << rejected.error().ToString();

  json with_status = created.value();
  with_status["status"] = {
      {"observedGeneration", 1},
      {"conditions", json::array({{{"type", "Ready"},
                                   {"status", "True"},
                                   {"reason", "AllCriticalProbesHealthy"},
                                   {"message", "1/1 probes healthy"},
                                   {"lastTransitionTime", "2026-11-26T10:00:00Z"},
                                   {"observedGeneration", 1}}})}};
  with_status["spec"]["interval"] = "5s";  // ignored by the status subresource
  auto st = client_->UpdateStatus(hcs, with_status);
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  EXPECT_EQ(st.value()["status"]["conditions"][0]["reason"], "AllCriticalProbesHealthy");
  EXPECT_NE(st.value()["spec"].value("interval", ""), "5s");
  EXPECT_EQ(st.value()["metadata"]["generation"], 1);

  // A stale status write is a Conflict as well.
  auto stale = client_->UpdateStatus(hcs, with_status);
  ASSERT_FALSE(stale.ok());
  EXPECT_TRUE(stale.error().IsConflict()) << stale.error().ToString();

  auto patched = client_->PatchStatus(hcs, "orders-deps", PatchType::kMerge,
                                      {{"status", {{"observedGeneration", 2}}}});
  ASSERT_TRUE(patched.ok()) << patched.error().ToString();
  EXPECT_EQ(patched.value()["status"]["observedGeneration"], 2);
  EXPECT_EQ(patched.value()["status"]["conditions"].size(), 1u);

  // Spec writes do not touch status, and bump the generation.
  auto spec =
      client_->Patch(hcs, "orders-deps", PatchType::kMerge,
                     {{"spec", {{"interval", "30s"}}}, {"status", {{"observedGeneration", 9}}}});
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  EXPECT_EQ(spec.value()["metadata"]["generation"], 2);
  EXPECT_EQ(spec.value()["status"]["observedGeneration"], 2);

  auto list = client_->List(hcs);
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  ASSERT_EQ(list.value()["items"].size(), 1u);
  ASSERT_TRUE(client_->Delete(hcs, "orders-deps").ok());
  EXPECT_TRUE(client_->Get(hcs, "orders-deps").error().IsNotFound());
}

TEST_F(KubeClient, ListPaginatesWithContinue) {
  CreateNamespace("kc-pages");
  for (int i = 0; i < 5; ++i) MustCreateConfigMap("kc-pages", "p" + std::to_string(i), {});
  const ResourceRef cms = kConfigMaps.InNamespace("kc-pages");
  ListOptions o;
  o.limit = 2;
  auto page = client_->List(cms, o);
  ASSERT_TRUE(page.ok()) << page.error().ToString();
  EXPECT_EQ(page.value()["items"].size(), 2u);
  EXPECT_FALSE(page.value()["metadata"]["continue"].get<std::string>().empty());
  auto all = client_->ListAll(cms, o);
  ASSERT_TRUE(all.ok()) << all.error().ToString();
  ASSERT_EQ(all.value()["items"].size(), 5u);
  EXPECT_EQ(all.value()["items"][4]["metadata"]["name"], "p4");
  EXPECT_FALSE(all.value()["metadata"]["resourceVersion"].get<std::string>().empty());
}

TEST_F(KubeClient, WatchDeliversKubectlChangesAndStopsPromptly) {
  CreateNamespace("kc-watch");
  const ResourceRef cms = kConfigMaps.InNamespace("kc-watch");
  auto list = client_->List(cms);
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  WatchOptions wo;
  wo.resource_version = list.value()["metadata"]["resourceVersion"];
  std::mutex mu;
  std::vector<std::pair<WatchEvent::Type, std::string>> events;
  StopSignal stop;
  std::optional<Result<WatchEnd>> outcome;
  std::thread watcher([&] {
    auto r = client_->Watch(
        cms, wo,
        [&](const WatchEvent& ev) {
          std::lock_guard<std::mutex> l(mu);
          events.emplace_back(ev.type,
                              ev.object.value("/metadata/name"_json_pointer, std::string()));
        },
        stop);
    std::lock_guard<std::mutex> l(mu);
    outcome.emplace(std::move(r));
  });
  auto count = [&](WatchEvent::Type t) {
    std::lock_guard<std::mutex> l(mu);
    return std::count_if(events.begin(), events.end(),
                         [&](const auto& e) { return e.first == t && e.second == "w"; });
  };
  ASSERT_EQ(cluster_->Kubectl({"-n", "kc-watch", "create", "configmap", "w", "--from-literal=a=1"})
                .exit_code,
            0);
  EXPECT_TRUE(WaitFor([&] { return count(WatchEvent::Type::kAdded) == 1; }, seconds(20)));
  ASSERT_EQ(cluster_
                ->Kubectl({"-n", "kc-watch", "patch", "configmap", "w", "--type=merge", "-p",
                           R"({"data":{"a":"2"}})"})
                .exit_code,
            0);
  EXPECT_TRUE(WaitFor([&] { return count(WatchEvent::Type::kModified) == 1; }, seconds(20)));
  ASSERT_EQ(cluster_->Kubectl({"-n", "kc-watch", "delete", "configmap", "w"}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] { return count(WatchEvent::Type::kDeleted) == 1; }, seconds(20)));

  const auto t0 = std::chrono::steady_clock::now();
  stop.Stop();
  watcher.join();
  // Well under the 5 s poll interval: the stop woke the transfer.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(1000));
  ASSERT_TRUE(outcome.has_value());
  ASSERT_FALSE(outcome->ok());
  EXPECT_TRUE(outcome->error().IsStopped()) << outcome->error().ToString();
  std::lock_guard<std::mutex> l(mu);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0].first, WatchEvent::Type::kAdded);
}

TEST_F(KubeClient, WatchFromACompactedVersionIsGone) {
  CreateNamespace("kc-gone");
  const std::string old_rv = MustCreateConfigMap("kc-gone", "g", {{"v", "1"}});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client_
                    ->Patch(kConfigMaps.InNamespace("kc-gone"), "g", PatchType::kMerge,
                            {{"data", {{"v", std::to_string(i)}}}})
                    .ok());
  }
  ASSERT_EQ(cluster_->Testenv({"compact", cluster_->state()}).exit_code, 0);
  // The API server's watch cache still holds recent events after an etcd
  // compaction; a restart rebuilds it from the current revision, so a watch
  // from the old version now gets 410 (as an ERROR event): the caller relists.
  RunResult restart = cluster_->Testenv({"restart-apiserver", cluster_->state()});
  ASSERT_EQ(restart.exit_code, 0) << restart.output;
  WatchOptions wo;
  wo.resource_version = old_rv;
  wo.timeout = seconds(20);  // bounds the test if the server accepted the watch
  StopSignal stop;
  std::vector<WatchEvent::Type> seen;
  Result<WatchEnd> r = WatchEnd{};
  // Right after the restart the cache may still be initialising (429) or the
  // server not yet serving: retry transient failures briefly.
  ASSERT_TRUE(WaitFor(
      [&] {
        seen.clear();
        r = client_->Watch(
            kConfigMaps.InNamespace("kc-gone"), wo,
            [&](const WatchEvent& ev) { seen.push_back(ev.type); }, stop);
        if (r.ok() || r.error().IsGone()) return true;
        const Error& e = r.error();
        return !(e.kind == ErrorKind::kTransport || e.http_code == 429 || e.http_code >= 500);
      },
      seconds(30)));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().IsGone()) << r.error().ToString();
  EXPECT_EQ(r.error().http_code, 410);
  EXPECT_EQ(r.error().reason, Reason::kExpired);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], WatchEvent::Type::kError);
}

TEST_F(KubeClient, RestrictedAndBadTokensAreTyped) {
  RunResult token = cluster_->Testenv({"token", "kc-rbac", "reader"});
  ASSERT_EQ(token.exit_code, 0) << token.output;
  std::string last;
  std::istringstream lines(token.output);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) last = line;
  }
  Config restricted = config_;
  restricted.token = std::make_shared<StaticTokenSource>(last);
  auto rc = Client::Create(restricted);
  ASSERT_TRUE(rc.ok());
  auto forbidden = rc.value()->List(kConfigMaps.InNamespace("kube-system"));
  ASSERT_FALSE(forbidden.ok());
  EXPECT_TRUE(forbidden.error().IsForbidden()) << forbidden.error().ToString();
  EXPECT_EQ(forbidden.error().http_code, 403);
  EXPECT_NE(forbidden.error().message.find("system:serviceaccount:kc-rbac:reader"),
            std::string::npos);
  EXPECT_EQ(forbidden.error().ToString().find(last), std::string::npos);  // never the token

  Config bogus = config_;
  bogus.token = std::make_shared<StaticTokenSource>("not-a-valid-token");
  auto bc = Client::Create(bogus);
  ASSERT_TRUE(bc.ok());
  auto unauthorized = bc.value()->GetPath("/api/v1/namespaces");
  ASSERT_FALSE(unauthorized.ok());
  EXPECT_TRUE(unauthorized.error().IsUnauthorized()) << unauthorized.error().ToString();
  EXPECT_EQ(unauthorized.error().ToString().find("not-a-valid-token"), std::string::npos);
}

std::string Base64(const std::string& in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

TEST_F(KubeClient, ClientCertificateAuthenticationFromFilesAndData) {
  // testenv's admin kubeconfig uses a token; it also issues an admin client
  // certificate, used here through both kubeconfig forms.
  const std::string pki = cluster_->state() + "/pki";
  const std::string dir = cluster_->state() + "/cert-kubeconfigs";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  const std::string head =
      "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
      "contexts: [{name: c, context: {cluster: k, user: u}}]\n";
  {
    std::ofstream f(dir + "/files.yaml");
    f << head << "clusters: [{name: k, cluster: {server: \"" << config_.server
      << "\", certificate-authority: ../pki/ca.crt}}]\n"
      << "users: [{name: u, user: {client-certificate: ../pki/admin-client.crt, client-key: " << pki
      << "/admin-client.key}}]\n";
  }
  auto cert = ReadFile(pki + "/admin-client.crt");
  auto key = ReadFile(pki + "/admin-client.key");
  ASSERT_TRUE(cert.ok() && key.ok());
  {
    std::ofstream f(dir + "/data.yaml");
    f << head << "clusters: [{name: k, cluster: {server: \"" << config_.server
      << "\", certificate-authority-data: " << Base64(config_.ca_pem) << "}}]\n"
      << "users: [{name: u, user: {client-certificate-data: " << Base64(cert.value())
      << ", client-key-data: " << Base64(key.value()) << "}}]\n";
  }
  for (const char* name : {"/files.yaml", "/data.yaml"}) {
    SCOPED_TRACE(name);
    auto cfg = LoadKubeconfigFile(dir + name, "", SteadyNow());
    ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
    EXPECT_EQ(cfg->token, nullptr);
    auto c = Client::Create(cfg.value());
    ASSERT_TRUE(c.ok());
    auto ns = c.value()->Get(kNamespaces, "kube-system");
    ASSERT_TRUE(ns.ok()) << ns.error().ToString();
    EXPECT_EQ(ns.value()["metadata"]["name"], "kube-system");
  }
  // Without any credential the server refuses: 401 or 403, typed.
  Config anonymous = config_;
  anonymous.token = nullptr;
  auto a = Client::Create(anonymous);
  ASSERT_TRUE(a.ok());
  auto denied = a.value()->Get(kNamespaces, "kube-system");
  ASSERT_FALSE(denied.ok());
  EXPECT_TRUE(denied.error().IsForbidden() || denied.error().IsUnauthorized())
      << denied.error().ToString();
}

std::string LastLine(const std::string& out) {
  std::string last;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) last = line;
  }
  return last;
}

TEST_F(KubeClient, InClusterConfigFollowsTokenRotation) {
  // The files a pod's service account mount provides, pointing at the test
  // cluster; the token file is then swapped for another account's token.
  RunResult reader = cluster_->Testenv({"token", "kc-incluster", "reader"});
  ASSERT_EQ(reader.exit_code, 0) << reader.output;
  RunResult viewer = cluster_->Testenv({"token", "kc-incluster", "viewer"});
  ASSERT_EQ(viewer.exit_code, 0) << viewer.output;
  // (No controllers run here, so the aggregated "view" ClusterRole stays empty:
  // grant through a Role of our own.)
  RunResult role = cluster_->Kubectl({"-n", "kc-incluster", "create", "role", "cm-reader",
                                      "--verb=list", "--resource=configmaps"});
  ASSERT_EQ(role.exit_code, 0) << role.output;
  RunResult binding =
      cluster_->Kubectl({"-n", "kc-incluster", "create", "rolebinding", "viewer",
                         "--role=cm-reader", "--serviceaccount=kc-incluster:viewer"});
  ASSERT_EQ(binding.exit_code, 0) << binding.output;
  const std::string dir = cluster_->state() + "/serviceaccount";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  InClusterPaths paths{dir + "/token", cluster_->state() + "/pki/ca.crt", dir + "/namespace"};
  {
    std::ofstream(paths.token) << LastLine(reader.output);
    std::ofstream(paths.namespace_file) << "kc-incluster";
  }
  const std::string host_port = config_.server.substr(std::string("https://").size());
  const std::string host = host_port.substr(0, host_port.rfind(':'));
  const std::string port = host_port.substr(host_port.rfind(':') + 1);
  auto env = [&](const std::string& k) -> std::optional<std::string> {
    if (k == "KUBERNETES_SERVICE_HOST") return host;
    if (k == "KUBERNETES_SERVICE_PORT") return port;
    return std::nullopt;
  };
  auto cfg = LoadInClusterConfig(paths, env, SteadyNow());
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  EXPECT_EQ(cfg->default_namespace, "kc-incluster");
  auto c = Client::Create(cfg.value());
  ASSERT_TRUE(c.ok());
  const ResourceRef cms = kConfigMaps.InNamespace(cfg->default_namespace);
  auto denied = c.value()->List(cms);
  ASSERT_FALSE(denied.ok());
  EXPECT_TRUE(denied.error().IsForbidden()) << denied.error().ToString();
  EXPECT_NE(denied.error().message.find("kc-incluster:reader"), std::string::npos);

  // Rotation as the kubelet does it: write a new file, rename it into place.
  { std::ofstream(paths.token + ".new") << LastLine(viewer.output) << "\n"; }
  ASSERT_EQ(std::rename((paths.token + ".new").c_str(), paths.token.c_str()), 0);
  auto allowed = c.value()->List(cms);
  EXPECT_TRUE(allowed.ok()) << allowed.error().ToString();
}

TEST_F(KubeClient, TlsIsVerifiedUnlessExplicitlySkipped) {
  Config system_ca = config_;
  system_ca.ca_pem.clear();  // the system trust store does not know testenv's CA
  auto c1 = Client::Create(system_ca);
  ASSERT_TRUE(c1.ok());
  auto r1 = c1.value()->GetPath("/version");
  ASSERT_FALSE(r1.ok());
  EXPECT_EQ(r1.error().kind, ErrorKind::kTransport) << r1.error().ToString();

  Config insecure = system_ca;
  insecure.insecure_skip_tls_verify = true;
  auto c2 = Client::Create(insecure);
  ASSERT_TRUE(c2.ok());
  auto r2 = c2.value()->GetPath("/version");
  EXPECT_TRUE(r2.ok()) << r2.error().ToString();
}

TEST_F(KubeClient, ReflectorSurvivesAnApiServerRestartWithoutLosingUpdates) {
  CreateNamespace("kc-refl");
  for (int i = 0; i < 3; ++i) MustCreateConfigMap("kc-refl", "r" + std::to_string(i), {{"v", "0"}});
  Recorder rec;
  ReflectorOptions ro;
  ro.ref = kConfigMaps.InNamespace("kc-refl");
  ro.page_size = 2;  // exercise paging in the initial list
  ro.backoff.initial = milliseconds(100);
  ro.backoff.max = milliseconds(1000);
  Reflector reflector(*client_, ro, rec.Handlers());
  reflector.Start();
  ASSERT_TRUE(WaitFor([&] { return reflector.synced(); }, seconds(20))) << rec.Errors();
  EXPECT_EQ(reflector.Items().size(), 3u);
  EXPECT_EQ(rec.UpsertCount(), 3u);

  auto patched = client_->Patch(kConfigMaps.InNamespace("kc-refl"), "r0", PatchType::kMerge,
                                {{"data", {{"v", "1"}}}});
  ASSERT_TRUE(patched.ok());
  EXPECT_TRUE(
      WaitFor([&] { return rec.SawUpsert("kc-refl/r0", ResourceVersionOf(patched.value())); },
              seconds(20)));

  RunResult restart = cluster_->Testenv({"restart-apiserver", cluster_->state()});
  ASSERT_EQ(restart.exit_code, 0) << restart.output;
  // Changes made right after the restart, while the reflector is backing off or
  // re-watching, must all arrive.
  ASSERT_EQ(cluster_
                ->Kubectl({"-n", "kc-refl", "patch", "configmap", "r1", "--type=merge", "-p",
                           R"({"data":{"v":"2"}})"})
                .exit_code,
            0);
  ASSERT_EQ(cluster_->Kubectl({"-n", "kc-refl", "create", "configmap", "r3"}).exit_code, 0);
  ASSERT_EQ(cluster_->Kubectl({"-n", "kc-refl", "delete", "configmap", "r2"}).exit_code, 0);
  const std::string r1_rv = CurrentRv("kc-refl", "r1");
  const std::string r3_rv = CurrentRv("kc-refl", "r3");
  EXPECT_TRUE(WaitFor([&] { return rec.SawUpsert("kc-refl/r1", r1_rv); }, seconds(30)));
  EXPECT_TRUE(WaitFor([&] { return rec.SawUpsert("kc-refl/r3", r3_rv); }, seconds(30)));
  EXPECT_TRUE(WaitFor([&] { return rec.Deletes() == std::vector<std::string>{"kc-refl/r2"}; },
                      seconds(30)));
  EXPECT_GE(reflector.watch_restarts(), 1u);
  auto items = reflector.Items();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(ObjectKey(items[0]), "kc-refl/r0");
  EXPECT_EQ(ObjectKey(items[1]), "kc-refl/r1");
  EXPECT_EQ(items[1]["data"]["v"], "2");
  EXPECT_EQ(ObjectKey(items[2]), "kc-refl/r3");
  std::lock_guard<std::mutex> l(rec.mu);
  EXPECT_EQ(rec.synced, 1);
}

TEST_F(KubeClient, ReflectorRelistsAfterCompactionWithoutSpuriousDeletes) {
  CreateNamespace("kc-relist");
  CreateNamespace("kc-elsewhere");
  for (int i = 0; i < 3; ++i) MustCreateConfigMap("kc-relist", "c" + std::to_string(i), {});
  Recorder rec;
  ReflectorOptions ro;
  ro.ref = kConfigMaps.InNamespace("kc-relist");
  ro.backoff.initial = milliseconds(100);
  ro.backoff.max = milliseconds(1000);
  Reflector reflector(*client_, ro, rec.Handlers());
  reflector.Start();
  ASSERT_TRUE(WaitFor([&] { return reflector.synced(); }, seconds(20))) << rec.Errors();
  ASSERT_EQ(rec.UpsertCount(), 3u);

  // Move etcd past the reflector's resourceVersion with writes it does not
  // watch, compact, and break its watch: it resumes from a version that is gone
  // (410) and must relist. A bookmark could advance its version in between, so
  // try a few times.
  for (int attempt = 0; attempt < 3 && reflector.relists() == 0; ++attempt) {
    MustCreateConfigMap("kc-elsewhere", "bump" + std::to_string(attempt), {});
    ASSERT_EQ(cluster_->Testenv({"compact", cluster_->state()}).exit_code, 0);
    RunResult restart = cluster_->Testenv({"restart-apiserver", cluster_->state()});
    ASSERT_EQ(restart.exit_code, 0) << restart.output;
    WaitFor([&] { return reflector.relists() > 0; }, seconds(20));
  }
  ASSERT_GT(reflector.relists(), 0u);
  {
    std::lock_guard<std::mutex> l(rec.mu);
    bool saw_gone = false;
    for (const auto& e : rec.errors) saw_gone |= e.find(" 410 ") != std::string::npos;
    EXPECT_TRUE(saw_gone) << ::testing::PrintToString(rec.errors);
  }
  // The relist replaced the store with identical objects: no delete, no upsert.
  EXPECT_TRUE(rec.Deletes().empty());
  EXPECT_EQ(rec.UpsertCount(), 3u);
  EXPECT_EQ(reflector.Items().size(), 3u);

  // And the watch after the relist works.
  const std::string rv = MustCreateConfigMap("kc-relist", "after", {});
  EXPECT_TRUE(WaitFor([&] { return rec.SawUpsert("kc-relist/after", rv); }, seconds(20)));
  reflector.Stop();
}

}  // namespace
}  // namespace healthgate::kube
