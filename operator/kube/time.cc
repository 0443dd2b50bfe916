#include "operator/kube/time.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace healthgate::kube {

std::string MicroTime(probes::WallTime t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us % 1000000));
  return buf;
}

std::string Time(probes::WallTime t) { return MicroTime(t).substr(0, 19) + "Z"; }

}  // namespace healthgate::kube
