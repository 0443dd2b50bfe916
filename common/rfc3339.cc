#include "common/rfc3339.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace healthgate {

std::string Rfc3339(WallTime t, Rfc3339Precision precision) {
  using std::chrono::floor;
  const auto since = t.time_since_epoch();
  const auto secs = floor<std::chrono::seconds>(since);
  const long long us = std::chrono::duration_cast<std::chrono::microseconds>(since - secs).count();
  std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  switch (precision) {
    case Rfc3339Precision::kSeconds:
      break;
    case Rfc3339Precision::kMillis:
      n += std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), ".%03lld", us / 1000);
      break;
    case Rfc3339Precision::kMicros:
      n += std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), ".%06lld", us);
      break;
  }
  std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), "Z");
  return buf;
}

}  // namespace healthgate
