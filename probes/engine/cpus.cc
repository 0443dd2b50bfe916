#include "probes/engine/cpus.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace healthgate::probes {
namespace {

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<long long> ParseInt(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::string s(text);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end == s.c_str() || *end != '\0') return std::nullopt;
  return v;
}

std::optional<std::size_t> Quota(long long quota, long long period) {
  if (quota <= 0 || period <= 0) return std::nullopt;
  return static_cast<std::size_t>(std::max<long long>(1, (quota + period - 1) / period));
}

}  // namespace

std::size_t AffinityCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  const int n = CPU_COUNT(&set);
  return n > 0 ? static_cast<std::size_t>(n) : 1;
}

std::optional<std::size_t> CpuMaxQuota(std::string_view cpu_max) {
  const auto space = cpu_max.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view quota = cpu_max.substr(0, space);
  if (quota == "max") return std::nullopt;
  auto q = ParseInt(quota);
  auto p = ParseInt(cpu_max.substr(space + 1));
  if (!q || !p) return std::nullopt;
  return Quota(*q, *p);
}

std::optional<std::size_t> CfsQuota(long long quota_us, long long period_us) {
  return Quota(quota_us, period_us);
}

std::optional<std::size_t> CgroupCpuQuota(const std::string& proc_self_cgroup,
                                          const std::string& cgroup_root) {
  // Lines "ID:CONTROLLERS:PATH"; v2 is "0::PATH", v1 lists "cpu" among its controllers.
  std::istringstream lines(proc_self_cgroup);
  std::string line;
  std::optional<std::string> v2_path, v1_path;
  while (std::getline(lines, line)) {
    const auto a = line.find(':');
    const auto b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (controllers.empty()) {
      v2_path = path;
      continue;
    }
    std::istringstream cs(controllers);
    std::string c;
    while (std::getline(cs, c, ',')) {
      if (c == "cpu") v1_path = path;
    }
  }
  std::vector<std::optional<std::size_t>> found;
  if (v1_path) {
    for (const char* dir : {"/cpu,cpuacct", "/cpu"}) {
      for (const std::string& base :
           {cgroup_root + dir + *v1_path, cgroup_root + std::string(dir)}) {
        auto q = ReadFile(base + "/cpu.cfs_quota_us");
        auto p = ReadFile(base + "/cpu.cfs_period_us");
        if (!q || !p) continue;
        auto qi = ParseInt(*q), pi = ParseInt(*p);
        if (qi && pi) return CfsQuota(*qi, *pi);
      }
    }
  }
  if (v2_path) {
    for (const std::string& base : {cgroup_root + *v2_path, cgroup_root}) {
      if (auto text = ReadFile(base + "/cpu.max")) return CpuMaxQuota(*text);
    }
  }
  return std::nullopt;
}

std::size_t AvailableCpus() {
  std::size_t n = AffinityCpus();
  if (auto self = ReadFile("/proc/self/cgroup")) {
    if (auto q = CgroupCpuQuota(*self, "/sys/fs/cgroup")) n = std::min(n, *q);
  }
  return std::max<std::size_t>(1, n);
}

}  // namespace healthgate::probes
