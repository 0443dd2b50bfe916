#include "operator/cli/serving.h"

#include <pthread.h>

namespace healthgate::cli {

StopSignals::StopSignals() {
  sigemptyset(&set_);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&set_, sig);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

std::string StopSignals::Wait(Logger& log, const std::function<void()>& on_hup) {
  for (;;) {
    int sig = 0;
    if (sigwait(&set_, &sig) != 0) continue;
    switch (sig) {
      case SIGTERM:
        return "SIGTERM";
      case SIGINT:
        return "SIGINT";
      case SIGHUP:
        if (on_hup) {
          log.Info("SIGHUP received: reloading");
          on_hup();
        } else {
          log.Info("SIGHUP received and ignored (nothing to reload in this mode)");
        }
        break;
      default:
        log.Info("signal received and ignored",
                 {{"signal", sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2"}});
        break;
    }
  }
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
