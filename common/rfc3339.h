// The one RFC 3339 formatter: UTC, "Z", a chosen number of fraction digits.
// Kubernetes metav1.Time is kSeconds, metav1.MicroTime kMicros; logs and the
// JSON results use kMillis.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace healthgate {

enum class Rfc3339Precision { kSeconds, kMillis, kMicros };

// 2026-11-26T13:28:20Z, ...20.123Z, ...20.123456Z. Truncates, never rounds up
// into the next second; instants before 1970 are formatted correctly too.
std::string Rfc3339(WallTime t, Rfc3339Precision precision);

// Parses an RFC 3339 date-time as Kubernetes writes it (metav1.Time,
// metav1.MicroTime): YYYY-MM-DDTHH:MM:SS, an optional fraction of up to 9
// digits, and "Z" or a +hh:mm/-hh:mm offset. nullopt for anything else (a
// field from the API is input: no exceptions, no partial parses).
std::optional<WallTime> ParseRfc3339(std::string_view text);

}  // namespace healthgate
