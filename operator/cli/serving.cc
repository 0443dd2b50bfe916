#include "operator/cli/serving.h"

#include <pthread.h>

namespace healthgate::cli {

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

std::string StopSignals::Wait() {
  int sig = 0;
  sigwait(&set_, &sig);
  return sig == SIGTERM ? "SIGTERM" : "SIGINT";
}

std::optional<server::ServerOptions> ServingOptions(const std::string& address, Logger& log) {
  std::string error;
  if (!server::ParseBindAddress(address, error)) {
    log.Error("invalid --http-address", {{"address", address}, {"error", error}});
    return std::nullopt;
  }
  server::ServerOptions o;
  o.address = address;
  // Idle connections close after 1 s: few are kept open for nothing. The
  // other limits (connections in total and per IP, header size and count,
  // the whole-request deadline) keep ServerOptions' documented defaults.
  o.keep_alive_timeout = std::chrono::seconds(1);
  return o;
}

}  // namespace healthgate::cli
