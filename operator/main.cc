// Composition root: parses the command line and wires the pieces together.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "operator/version.h"

int main(int argc, char** argv) {
  CLI::App app{"healthgate: dependency health checks for Kubernetes workloads"};
  app.set_version_flag("--version", std::string("healthgate ") + HEALTHGATE_VERSION);
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
