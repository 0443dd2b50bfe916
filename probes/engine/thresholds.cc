#include "probes/engine/thresholds.h"

namespace healthgate::probes {

std::string_view HealthName(Health h) {
  switch (h) {
    case Health::kUnknown:
      return "Unknown";
    case Health::kHealthy:
      return "Healthy";
    case Health::kUnhealthy:
      return "Unhealthy";
  }
  return "Unknown";
}

ThresholdState Step(ThresholdState s, bool success, Thresholds t) {
  if (success) {
    ++s.consecutive_successes;
    s.consecutive_failures = 0;
    if (s.health != Health::kHealthy && s.consecutive_successes >= t.success) {
      s.health = Health::kHealthy;
    }
  } else {
    ++s.consecutive_failures;
    s.consecutive_successes = 0;
    if (s.health == Health::kUnknown ||
        (s.health == Health::kHealthy && s.consecutive_failures >= t.failure)) {
      s.health = Health::kUnhealthy;
    }
  }
  return s;
}

}  // namespace healthgate::probes
