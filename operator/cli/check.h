// `healthgate check`: run every probe of every HealthCheck once, concurrently, and
// report. Exit codes: 0 every critical probe passed, 1 some critical probe failed,
// 2 invalid input (every validation error is printed; nothing is probed).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "operator/api/v1alpha1/model.h"
#include "probes/address_policy.h"

namespace healthgate::cli {

struct CheckOptions {
  std::vector<std::string> paths;
  std::string secrets_dir;
  std::string output = "table";  // table | json
  // --probe-deny-cidrs, --probe-allow-cidrs.
  probes::AddressPolicy address_policy;
  // --redis-allow-commands.
  v1alpha1::ValidationOptions validation;
};

int RunCheck(const CheckOptions& options, std::FILE* out, std::FILE* err);

}  // namespace healthgate::cli
