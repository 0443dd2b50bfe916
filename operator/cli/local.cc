#include "operator/cli/local.h"

#include <pthread.h>
#include <signal.h>

#include <random>

#include "operator/controller/runtime.h"
#include "operator/server/server.h"
#include "operator/sources/file_source.h"
#include "operator/spec/model.h"

namespace healthgate::cli {

int RunLocal(const LocalOptions& options, const probes::Clock& clock, Logger& log) {
  // Block the stop signals in every thread we start; the main thread takes them
  // with sigwait, so shutdown runs in a normal thread context.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string address_error;
  if (!server::ParseBindAddress(options.http_address, address_error)) {
    log.Error("invalid --http-address",
              {{"address", options.http_address}, {"error", address_error}});
    return 2;
  }

  spec::LocalSecretResolver secrets(options.secrets_dir);
  controller::Runtime runtime(clock, log, secrets, std::random_device{}());
  runtime.Start();

  std::atomic<bool> loaded{false};
  server::ServerOptions server_options;
  server_options.address = options.http_address;
  // An idle keep-alive connection holds its worker until this timeout, and
  // shutdown waits for workers: 1 s keeps SIGTERM-to-exit under 2 s.
  server_options.keep_alive_timeout = std::chrono::seconds(1);
  server::Server http(
      server_options,
      server::ServerInputs{
          runtime.store(), runtime.metrics(),
          server::HeartbeatLiveness([&runtime] { return runtime.loop().LastHeartbeat(); }, clock,
                                    std::chrono::seconds(5)),
          [&] {
            if (!loaded.load()) return server::HealthStatus{false, "initial load in progress"};
            return server::HealthStatus{true, ""};
          },
          log, clock});
  if (auto err = http.Start()) {
    log.Error("cannot serve HTTP", {{"address", options.http_address}, {"error", *err}});
    runtime.Stop();
    return 1;
  }

  sources::FileSource files({options.paths, options.secrets_dir, std::chrono::milliseconds(500)},
                            runtime.controller(), log);
  auto report = files.LoadNow();
  runtime.WaitApplied(std::chrono::seconds(30));
  loaded = true;
  files.Start();
  log.Info("healthgate local is running", {{"address", options.http_address},
                                           {"port", http.BoundPort()},
                                           {"checks", report.valid},
                                           {"invalid_documents", report.documents - report.valid},
                                           {"probes", runtime.scheduled_probes()}});

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log.Info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  files.Stop();
  http.Stop();
  runtime.Stop();
  log.Info("stopped");
  return 0;
}

}  // namespace healthgate::cli
