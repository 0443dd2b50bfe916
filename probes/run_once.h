// Runs a batch of probe attempts once, concurrently, on a private loop on the
// calling thread, and returns when every attempt has finished or timed out.
// Used by `healthgate check` and by tests.
#pragma once

#include <vector>

#include "probes/address_policy.h"
#include "probes/result.h"
#include "probes/target.h"

namespace healthgate::probes {

struct OnceRequest {
  Target target;
  Duration timeout;
};

// An attempt that ends inconclusive (Result::inconclusive: the loop stalled) is
// run again, up to this many tries in all; the last try's result is returned.
inline constexpr int kMaxOnceTries = 3;

// Results in request order. Probes connect only to addresses `policy` allows.
std::vector<Result> RunOnce(const std::vector<OnceRequest>& requests,
                            const AddressPolicy& policy = {});

}  // namespace healthgate::probes
