#include "operator/cli/operator.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <random>
#include <set>

#include "common/wait.h"
#include "operator/cli/readiness.h"
#include "operator/cli/serving.h"
#include "operator/controller/runtime.h"
#include "operator/kube/client.h"
#include "operator/kube/config.h"
#include "operator/kube/delegated_auth.h"
#include "operator/leader/elector.h"
#include "operator/server/server.h"
#include "operator/server/tls.h"
#include "operator/sinks/events.h"
#include "operator/sinks/readiness_gates.h"
#include "operator/sinks/status_writer.h"
#include "operator/sources/kube_source.h"

namespace healthgate::cli {
namespace {

std::string DefaultIdentity() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "_%08x", rd());
  return std::string(host) + suffix;
}

// The serving certificate and key of secure serving; false (logged) on error.
bool ServingTls(const OperatorOptions& options, server::ServerOptions& server_options,
                Logger& log) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    log.Error("--tls-cert-file and --tls-private-key-file go together");
    return false;
  }
  if (!options.secure_serving) {
    if (!options.tls_cert_file.empty() || options.protect_readiness_urls) {
      log.Error(
          "--tls-cert-file, --tls-private-key-file and --protect-readiness-urls need "
          "--secure-serving");
      return false;
    }
    return true;
  }
  std::string error;
  std::optional<server::TlsMaterial> tls;
  if (!options.tls_cert_file.empty()) {
    tls = server::LoadTlsFiles(options.tls_cert_file, options.tls_key_file, error);
  } else {
    std::vector<std::string> names = options.tls_server_names;
    if (names.empty()) {
      char host[256] = {0};
      gethostname(host, sizeof host - 1);
      if (host[0] != '\0') names.emplace_back(host);
      names.insert(names.end(), {"localhost", "127.0.0.1", "::1"});
    }
    tls = server::SelfSignedCertificate(names, 365, error);
    if (tls) log.Info("secure serving with a self-signed certificate", {{"names", names}});
  }
  if (!tls) {
    log.Error("cannot set up the serving certificate", {{"error", error}});
    return false;
  }
  server_options.tls_cert_pem = std::move(tls->cert_pem);
  server_options.tls_key_pem = std::move(tls->key_pem);
  server_options.protect_readiness_urls = options.protect_readiness_urls;
  return true;
}

server::AuthDecision FromReview(const kube::AccessReview& r) {
  using O = server::AuthDecision::Outcome;
  switch (r.outcome) {
    case kube::AccessReview::Outcome::kAllowed:
      return {O::kAllowed, ""};
    case kube::AccessReview::Outcome::kUnauthenticated:
      return {O::kUnauthenticated, r.message};
    case kube::AccessReview::Outcome::kForbidden:
      return {O::kForbidden, r.message};
    case kube::AccessReview::Outcome::kUnavailable:
      return {O::kUnavailable, r.message};
  }
  return {O::kUnavailable, "authorization unavailable"};
}

}  // namespace

int RunOperator(const OperatorOptions& options, const healthgate::Clock& clock, Logger& log) {
  StopSignals stop;  // before any thread starts
  auto server_options = ServingOptions(options.http_address, log);
  if (!server_options) return 2;
  if (!ServingTls(options, *server_options, log)) return 2;
  auto config = kube::LoadConfig(options.kubeconfig, kube::ProcessEnv(), kube::SteadyNow());
  if (!config.ok()) {
    log.Error("cannot load the Kubernetes client configuration",
              {{"error", config.error().ToString()}});
    return 2;
  }
  const std::string config_namespace = config->default_namespace;
  log.Info("Kubernetes client configured", {{"source", config->description}});
  auto created = kube::Client::Create(std::move(config.value()));
  if (!created.ok()) {
    log.Error("cannot create the Kubernetes client", {{"error", created.error().ToString()}});
    return 2;
  }
  kube::Client& client = **created;
  const std::string identity = options.identity.empty() ? DefaultIdentity() : options.identity;

  sources::KubeSecretResolver secrets(
      client, log, sources::KubeSecretResolver::Options{options.require_secret_label});
  if (!options.require_secret_label) {
    log.Warn("--require-secret-label=false: probes may use any Secret of their check's namespace",
             {{"label", std::string(sources::kProbeCredentialsLabel)}});
  }
  controller::Runtime runtime(clock, log, secrets, std::random_device{}(), options.engine);
  sources::KubeSource* source_ptr = nullptr;

  std::atomic<bool> leading{false};  // this replica may write (leader, or no election)
  sinks::StatusWriter::Options writer_options;
  writer_options.may_write = [&leading] { return leading.load(); };
  writer_options.observed = [&source_ptr](
                                const std::string& ns,
                                const std::string& name) -> std::optional<nlohmann::json> {
    if (source_ptr == nullptr) return std::nullopt;
    auto obj = source_ptr->Find(ns, name);
    if (!obj) return std::nullopt;
    return obj->value("status", nlohmann::json::object());
  };
  const kube::ResourceRef checks = sources::kHealthChecks;
  sinks::StatusWriter writer(runtime.store(), sinks::PatchStatusThrough(client, checks),
                             &runtime.metrics(), log, writer_options);
  sinks::EventRecorder events(client, &runtime.metrics(), log, common::SystemWaits(),
                              sinks::EventRecorder::Options{identity, std::chrono::minutes(10),
                                                            [&leading] { return leading.load(); }});
  sinks::ReadinessGates::Options gate_options;
  gate_options.ns = options.ns;
  gate_options.may_write = [&leading] { return leading.load(); };
  gate_options.on_event = [&events](const sinks::PodEvent& e) {
    events.Record({"v1", "Pod", e.ns, e.name, e.uid}, e.event.type, e.event.reason,
                  e.event.message);
  };
  sinks::ReadinessGates gates(client, runtime.store(), &runtime.metrics(), log,
                              common::SystemWaits(), gate_options);
  runtime.store().Subscribe([&](const results::SnapshotPtr& s, results::Store::Change change) {
    if (change != results::Store::Change::kUpserted) return;
    writer.Notify(s->ns, s->name);
    events.Observe(*s);
    gates.CheckChanged(s->ns, s->name);
  });

  std::set<std::string> ignored_gates;  // reflector thread only
  sources::KubeSource source(
      client, runtime.controller(), &runtime.metrics(), log,
      sources::KubeSource::Options{options.ns, options.secret_refresh, options.validation},
      sources::KubeSource::Hooks{
          [&](const nlohmann::json& o) {
            events.Seed(o);
            // Level-based: compare against every newly observed
            // status (ours, late, or someone else's).
            const auto& meta = o.value("metadata", nlohmann::json::object());
            writer.Notify(meta.value("namespace", ""), meta.value("name", ""));
          },
          [&](const std::string& ns, const std::string& name) {
            writer.Forget(ns, name);
            events.Forget(ns, name);
            gates.Forget(ns, name);
            ignored_gates.erase(ns + "/" + name);
          },
          [&](const std::string& ns, const std::string& name,
              const std::optional<v1alpha1::ReadinessGate>& gate) {
            if (options.readiness_gates) {
              gates.SetGate(ns, name, gate);
            } else if (gate && ignored_gates.insert(ns + "/" + name).second) {
              log.Warn("readiness gates are off (--no-readiness-gates): readinessGate ignored",
                       {{"namespace", ns}, {"healthcheck", name}});
            }
          }});
  source_ptr = &source;

  StartupReadiness readiness(runtime.store(), clock, options.verdict_wait);
  std::unique_ptr<kube::DelegatedAuth> auth;
  server::AuthorizeFn authorize;
  if (options.secure_serving) {
    auth = std::make_unique<kube::DelegatedAuth>(client, clock);
    authorize = [&auth, &log](const server::AuthRequest& r) {
      kube::AccessAttributes what;
      what.verb = r.verb;
      if (r.resource) {
        what.group = "healthgate.dev";
        what.resource = "healthchecks";
        what.ns = r.ns;
        what.name = r.name;
      } else {
        what.path = r.path;
      }
      kube::AccessReview review = auth->Review(r.token, what);
      if (review.outcome == kube::AccessReview::Outcome::kUnavailable) {
        log.Warn("cannot authorize an HTTP client",
                 {{"path", std::string(r.resource ? r.ns : r.path)}, {"error", review.message}});
      }
      return FromReview(review);
    };
  }
  server::Server http(
      *server_options,
      server::ServerInputs{
          runtime.store(), runtime.metrics(),
          server::HeartbeatLiveness([&runtime] { return runtime.LastHeartbeat(); }, clock,
                                    std::chrono::seconds(5)),
          // Every replica watches and probes (a hot standby), so any of them can
          // answer the per-check URLs behind a Service: ready once synced, whether
          // it leads or not. Only the leader writes.
          [&]() -> server::HealthStatus {
            auto st = readiness.Check("initial list of HealthChecks in progress");
            if (!st.ok) {
              // Loaded once the list is applied on the loop (checked here: the
              // reflector has no "applied" notice of its own).
              if (source.synced() && runtime.controller().applied_generation() >=
                                         runtime.controller().submitted_generation()) {
                readiness.Loaded();
              }
              return st;
            }
            if (!options.leader_elect) return {true, ""};
            return {true, leading.load() ? "leader" : "standby: probes, does not write"};
          },
          log, clock, authorize});
  if (auto err = http.Start()) {
    log.Error("cannot serve HTTP", {{"address", options.http_address}, {"error", *err}});
    return 1;
  }
  // Leader or not, this replica watches and probes (hot standby: a takeover
  // starts from current results, and every replica serves them); the writers
  // hold their work until `leading` says this replica may write.
  runtime.Start();
  writer.Start();
  events.Start();
  gates.Start();
  source.Start();
  auto start_leading = [&] { leading = true; };
  std::unique_ptr<leader::Elector> elector;
  if (options.leader_elect) {
    std::string lease_ns = options.lease_namespace;
    if (lease_ns.empty()) {
      const char* pod_ns = std::getenv("POD_NAMESPACE");
      lease_ns = pod_ns != nullptr && *pod_ns != '\0' ? pod_ns : config_namespace;
    }
    leader::LeaseConfig lc{identity, options.lease_duration, options.renew_deadline,
                           options.retry_period};
    elector = std::make_unique<leader::Elector>(
        client, lease_ns, options.lease_name, lc, common::SystemWaits(), &runtime.metrics(), log,
        leader::Elector::Callbacks{start_leading, [&leading] { leading = false; }});
    log.Info("waiting for the leader lease",
             {{"lease", lease_ns + "/" + options.lease_name}, {"identity", identity}});
    elector->Start();
  } else {
    start_leading();
  }
  log.Info("healthgate operator is running",
           {{"address", options.http_address},
            {"port", http.BoundPort()},
            {"namespace", options.ns.empty() ? "(all)" : options.ns},
            {"leader_elect", options.leader_elect},
            {"secure_serving", options.secure_serving}});

  // SIGHUP is logged and ignored: the watch already keeps everything current.
  log.Info("shutting down", {{"signal", stop.Wait(log)}});
  if (elector) elector->Stop();
  source.Stop();
  events.Stop();
  gates.Stop();
  writer.Stop();
  http.Stop();
  runtime.Stop();
  if (elector) elector->Release();
  log.Info("stopped");
  return 0;
}

}  // namespace healthgate::cli
