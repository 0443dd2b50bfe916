// What the long-running subcommands (`local`, `operator`) share: stop-signal
// handling and the server's options.
#pragma once

#include <signal.h>

#include <string>

#include "operator/log/log.h"
#include "operator/server/server.h"

namespace healthgate::cli {

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts
// afterwards; WaitForStop() then takes them with sigwait on the main thread, so
// shutdown runs in an ordinary thread context. Call before starting threads.
class StopSignals {
 public:
  StopSignals();
  // Blocks until SIGTERM or SIGINT; returns its name.
  std::string Wait();

 private:
  sigset_t set_{};
};

// Server options for an address; nullopt (logged) when the address is invalid.
std::optional<server::ServerOptions> ServingOptions(const std::string& address, Logger& log);

}  // namespace healthgate::cli
