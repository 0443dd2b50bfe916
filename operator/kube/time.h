// Kubernetes timestamps: metav1.Time (RFC 3339, whole seconds) and
// metav1.MicroTime (RFC 3339 with microseconds), both UTC.
#pragma once

#include <string>

#include "common/rfc3339.h"

namespace healthgate::kube {

// 2026-11-26T13:28:20Z
inline std::string Time(WallTime t) { return Rfc3339(t, Rfc3339Precision::kSeconds); }
// 2026-11-26T13:28:20.123456Z
inline std::string MicroTime(WallTime t) { return Rfc3339(t, Rfc3339Precision::kMicros); }

}  // namespace healthgate::kube
