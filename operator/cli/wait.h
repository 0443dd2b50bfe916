// `healthgate wait --for NS/NAME`: block until a HealthCheck is Ready, asking a
// running healthgate's /ready/NS/NAME endpoint (init-container gating).
// Exit codes: 0 ready, 1 timeout, 2 bad arguments.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "common/clock.h"

namespace healthgate::cli {

struct WaitOptions {
  std::string target;  // NS/NAME
  std::string url = "http://127.0.0.1:8080";
  std::chrono::milliseconds timeout = std::chrono::minutes(5);
  std::chrono::milliseconds period = std::chrono::seconds(1);
};

int RunWait(const WaitOptions& options, const healthgate::Clock& clock, std::FILE* out,
            std::FILE* err);

}  // namespace healthgate::cli
