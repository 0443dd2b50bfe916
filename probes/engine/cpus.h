// How many CPUs this process may use: the default number of probe loops.
// The smaller of the affinity mask (sched_getaffinity: taskset, cpusets) and the
// cgroup CPU quota (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us, as a
// container's CPU limit sets it), the quota rounded up; at least 1.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace healthgate::probes {

// CPUs in this process's affinity mask (at least 1).
std::size_t AffinityCpus();

// The quota of a cgroup v2 `cpu.max` text ("max 100000" or "50000 100000"), in
// CPUs rounded up; nullopt when unlimited or unreadable.
std::optional<std::size_t> CpuMaxQuota(std::string_view cpu_max);
// The same for cgroup v1 (quota -1: unlimited).
std::optional<std::size_t> CfsQuota(long long quota_us, long long period_us);

// The quota of this process's cgroup, read from `proc_self_cgroup` (the text of
// /proc/self/cgroup) and the files under `cgroup_root` (/sys/fs/cgroup): its own
// cgroup's files, else the root's (a container sees its own cgroup as the root).
std::optional<std::size_t> CgroupCpuQuota(const std::string& proc_self_cgroup,
                                          const std::string& cgroup_root);

// min(affinity, quota), at least 1: the default for --probe-threads.
std::size_t AvailableCpus();

}  // namespace healthgate::probes
