// `healthgate local`: probe HealthCheck manifests from files continuously,
// without a cluster, serving the same endpoints, metrics and dashboard as the
// operator. Returns the process exit code (0 after SIGTERM/SIGINT). SIGHUP
// reloads every manifest (and secret) at once; SIGUSR1/SIGUSR2 are ignored.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/clock.h"
#include "operator/api/v1alpha1/model.h"
#include "operator/log/log.h"
#include "probes/engine/engine.h"

namespace healthgate::cli {

struct LocalOptions {
  std::vector<std::string> paths;
  std::string secrets_dir;
  std::string http_address = ":8080";
  // /readyz waits at most this long after the initial load for every check's
  // first verdict (--startup-verdict-wait).
  std::chrono::seconds verdict_wait{30};
  // Probe loops (--probe-threads) and admission bounds of the probe engine
  // (--max-in-flight, --max-in-flight-per-endpoint, --max-in-flight-per-database).
  // (--probe-deny-cidrs, --probe-allow-cidrs: engine.address_policy.)
  probes::EngineOptions engine;
  // --redis-allow-commands.
  v1alpha1::ValidationOptions validation;
  // How often the manifests' metadata is polled for changes; SIGHUP reloads at once.
  std::chrono::milliseconds poll_interval{500};
};

int RunLocal(const LocalOptions& options, const healthgate::Clock& clock, Logger& log);

}  // namespace healthgate::cli
