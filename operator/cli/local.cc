#include "operator/cli/local.h"

#include <random>

#include "operator/api/v1alpha1/model.h"
#include "operator/cli/readiness.h"
#include "operator/cli/serving.h"
#include "operator/controller/runtime.h"
#include "operator/server/server.h"
#include "operator/sources/file_source.h"

namespace healthgate::cli {

int RunLocal(const LocalOptions& options, const healthgate::Clock& clock, Logger& log) {
  StopSignals stop;  // before any thread starts
  auto server_options = ServingOptions(options.http_address, log);
  if (!server_options) return 2;

  v1alpha1::LocalSecretResolver secrets(options.secrets_dir);
  controller::Runtime runtime(clock, log, secrets, std::random_device{}(), options.engine);
  runtime.Start();

  StartupReadiness readiness(runtime.store(), clock, options.verdict_wait);
  server::Server http(
      *server_options,
      server::ServerInputs{runtime.store(), runtime.metrics(),
                           server::HeartbeatLiveness([&runtime] { return runtime.LastHeartbeat(); },
                                                     clock, std::chrono::seconds(5)),
                           [&readiness] { return readiness.Check("initial load in progress"); },
                           log, clock});
  if (auto err = http.Start()) {
    log.Error("cannot serve HTTP", {{"address", options.http_address}, {"error", *err}});
    runtime.Stop();
    return 1;
  }

  sources::FileSource files({options.paths, options.secrets_dir, options.poll_interval,
                             runtime.metrics().registry(), options.validation},
                            runtime.controller(), log);
  auto report = files.LoadNow();
  runtime.WaitApplied(std::chrono::seconds(30));
  readiness.Loaded();
  files.Start();
  log.Info("healthgate local is running", {{"address", options.http_address},
                                           {"port", http.BoundPort()},
                                           {"checks", report.valid},
                                           {"invalid_documents", report.documents - report.valid},
                                           {"probes", runtime.scheduled_probes()}});

  log.Info("shutting down", {{"signal", stop.Wait(log, [&files] { files.ReloadNow(); })}});
  files.Stop();
  http.Stop();
  runtime.Stop();
  log.Info("stopped");
  return 0;
}

}  // namespace healthgate::cli
