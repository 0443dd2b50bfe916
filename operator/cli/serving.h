// What the long-running subcommands (`local`, `operator`) share: stop-signal
// handling and the server's options.
#pragma once

#include <signal.h>

#include <functional>
#include <string>

#include "operator/log/log.h"
#include "operator/server/server.h"

namespace healthgate::cli {

// Blocks SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 in the calling thread and
// every thread it starts afterwards; Wait() then takes them with sigwait on the
// main thread, so shutdown and reloads run in an ordinary thread context. Call
// before starting threads. (Unblocked, SIGHUP and SIGUSR1/2 would kill the
// process without a clean shutdown.)
class StopSignals {
 public:
  StopSignals();
  // Blocks until SIGTERM or SIGINT; returns its name. SIGHUP calls `on_hup`
  // (logged and ignored when it is empty); SIGUSR1 and SIGUSR2 are logged and
  // ignored.
  std::string Wait(Logger& log, const std::function<void()>& on_hup = {});

 private:
  sigset_t set_{};
};

// Server options for an address; nullopt (logged) when the address is invalid.
std::optional<server::ServerOptions> ServingOptions(const std::string& address, Logger& log);

}  // namespace healthgate::cli
