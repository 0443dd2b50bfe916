// `healthgate local`: probe HealthCheck manifests from files continuously,
// without a cluster, serving the same endpoints, metrics and dashboard as the
// operator. Returns the process exit code (0 after SIGTERM/SIGINT).
#pragma once

#include <string>
#include <vector>

#include "operator/log/log.h"
#include "probes/engine/clock.h"

namespace healthgate::cli {

struct LocalOptions {
  std::vector<std::string> paths;
  std::string secrets_dir;
  std::string http_address = ":8080";
};

int RunLocal(const LocalOptions& options, const probes::Clock& clock, Logger& log);

}  // namespace healthgate::cli
