// Kubernetes timestamps: metav1.Time (RFC 3339, whole seconds) and
// metav1.MicroTime (RFC 3339 with microseconds), both UTC.
#pragma once

#include <string>

#include "probes/engine/clock.h"

namespace healthgate::kube {

std::string Time(probes::WallTime t);       // 2026-11-26T13:28:20Z
std::string MicroTime(probes::WallTime t);  // 2026-11-26T13:28:20.123456Z

}  // namespace healthgate::kube
