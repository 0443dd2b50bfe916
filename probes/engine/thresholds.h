// Success/failure thresholds as a pure state machine (kubelet semantics,
// pkg/kubelet/prober/worker.go): a result must repeat `threshold` times in a row
// before it changes the state. Table-tested without threads or time.
#pragma once

#include <cstdint>
#include <string_view>

namespace healthgate::probes {

enum class Health { kUnknown, kHealthy, kUnhealthy };
std::string_view HealthName(Health h);

struct ThresholdState {
  Health health = Health::kUnknown;
  std::uint32_t consecutive_successes = 0;
  std::uint32_t consecutive_failures = 0;
  bool operator==(const ThresholdState&) const = default;
};

struct Thresholds {
  std::uint32_t success = 1;
  std::uint32_t failure = 3;
};

// Applies one result. From kUnknown (no verdict yet) a single failure is enough to
// say kUnhealthy: there is no healthy state to protect from a blip, and a
// dependency that is down at start-up should say so at once. Success from
// kUnknown needs `success` results in a row, as kubelet's readiness does.
ThresholdState Step(ThresholdState state, bool success, Thresholds t);

}  // namespace healthgate::probes
