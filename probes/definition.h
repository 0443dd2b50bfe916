// What the engine runs: one probe's target, schedule and thresholds. The
// operator's model materializes these (operator/spec/materialize.cc); the
// scheduler consumes them. No engine types here, so the model needs only this.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "probes/engine/thresholds.h"
#include "probes/result.h"
#include "probes/target.h"

namespace healthgate::probes {

using TargetPtr = std::shared_ptr<const Target>;

struct ProbeDefinition {
  std::string key;   // unique per scheduler, e.g. "namespace/check/probe"
  TargetPtr target;  // never null in a definition given to the scheduler
  Duration interval = std::chrono::seconds(10);
  Duration timeout = std::chrono::seconds(2);
  Duration initial_delay{0};
  Thresholds thresholds;
  // Attempts of this probe start only while fewer than this many run against its
  // endpoint (0: the scheduler's per-endpoint or per-database bound).
  std::size_t max_concurrent = 0;
  // Equal targets compare by value: the same probe from a re-read spec is the same.
  bool operator==(const ProbeDefinition& o) const {
    return key == o.key && (target == o.target || (target && o.target && *target == *o.target)) &&
           interval == o.interval && timeout == o.timeout && initial_delay == o.initial_delay &&
           thresholds.success == o.thresholds.success &&
           thresholds.failure == o.thresholds.failure && max_concurrent == o.max_concurrent;
  }
};

}  // namespace healthgate::probes
