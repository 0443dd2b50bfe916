#pragma once

#include <chrono>
#include <vector>

#include "probes/run_once.h"

namespace healthgate::testing {

// Runs every target once, concurrently, each under `timeout`.
inline std::vector<probes::Result> RunProbes(const std::vector<probes::Target>& targets,
                                             std::chrono::milliseconds timeout) {
  std::vector<probes::OnceRequest> reqs;
  for (const auto& t : targets) reqs.push_back({t, timeout});
  return probes::RunOnce(reqs);
}

}  // namespace healthgate::testing
