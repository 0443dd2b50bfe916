#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
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

// Runs one target and checks that its message does not carry `secret` (every
// probe test passes its canary credential here).
inline probes::Result RunOneWithoutLeak(const probes::Target& target,
                                        std::chrono::milliseconds timeout,
                                        const std::string& secret) {
  auto results = RunProbes({target}, timeout);
  EXPECT_EQ(results.size(), 1u);
  probes::Result r = results.at(0);
  EXPECT_EQ(r.message.find(secret), std::string::npos) << r.message;
  return r;
}

inline bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace healthgate::testing
