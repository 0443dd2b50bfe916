// `healthgate operator`: Kubernetes mode. Watches HealthChecks, probes them,
// writes status and Events, serves the endpoints; with --leader-elect only the
// Lease holder probes and writes. Returns the process exit code.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/clock.h"
#include "operator/api/v1alpha1/model.h"
#include "operator/log/log.h"
#include "probes/engine/engine.h"

namespace healthgate::cli {

struct OperatorOptions {
  std::string kubeconfig;  // empty: KUBECONFIG, else in-cluster
  std::string ns;          // empty: every namespace
  std::string http_address = ":8080";
  bool leader_elect = false;
  std::string lease_name = "healthgate-operator";
  std::string lease_namespace;  // empty: POD_NAMESPACE, else the config's namespace
  std::string identity;         // empty: hostname + random suffix
  std::chrono::seconds lease_duration{15};
  std::chrono::seconds renew_deadline{10};
  std::chrono::seconds retry_period{2};
  std::chrono::seconds secret_refresh{30};
  // Secure serving: HTTPS, and the endpoints other than /livez, /readyz (and
  // the per-check URLs unless protect_readiness_urls) answer only clients whose
  // bearer token the API server authenticates (TokenReview) and authorizes for
  // the path (SubjectAccessReview).
  bool secure_serving = false;
  std::string tls_cert_file;  // both empty: a self-signed certificate made at start
  std::string tls_key_file;
  std::vector<std::string> tls_server_names;  // of the self-signed certificate
  bool protect_readiness_urls = false;

  bool readiness_gates = true;             // false: spec.readinessGate is logged and ignored
  std::chrono::seconds verdict_wait{30};   // as LocalOptions::verdict_wait
  probes::EngineOptions engine;            // as LocalOptions::engine
  v1alpha1::ValidationOptions validation;  // as LocalOptions::validation
  // Probes use only Secrets labelled healthgate.dev/probe-credentials: "true".
  bool require_secret_label = true;
};

int RunOperator(const OperatorOptions& options, const healthgate::Clock& clock, Logger& log);

}  // namespace healthgate::cli
