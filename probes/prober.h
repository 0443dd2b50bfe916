// Starts attempts for any Target. ProbeSet (probe_set.h) dispatches to the four
// probe types; tests substitute their own Prober to drive the scheduler.
#pragma once

#include <memory>

#include "probes/probe.h"
#include "probes/target.h"

namespace healthgate::probes {

class Prober {
 public:
  virtual ~Prober() = default;
  // Starts one attempt on the loop thread; see ProbeSession for the contract.
  virtual std::unique_ptr<ProbeSession> Start(const Target& target, DoneFn done) = 0;
};

}  // namespace healthgate::probes
