// The engine's pure parts: assignment of endpoints to loops, and the CPU count
// that sets the default number of loops. The threaded engine is tested in
// tests/integration/engine_loops_test.cc.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "probes/engine/cpus.h"
#include "probes/engine/engine.h"

namespace healthgate::probes {
namespace {

std::vector<std::string> Endpoints(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("svc-" + std::to_string(i) + ".ns.svc:5432");
  return out;
}

TEST(EngineAssignment, StableAndBalanced) {
  const auto eps = Endpoints(8000);
  std::vector<int> count(4, 0);
  for (const auto& e : eps) {
    const std::size_t loop = AssignLoop(e, 4);
    ASSERT_LT(loop, 4u);
    EXPECT_EQ(AssignLoop(e, 4), loop) << "stable";
    ++count[loop];
  }
  for (int c : count) {
    EXPECT_GT(c, 1800) << "balanced";
    EXPECT_LT(c, 2200) << "balanced";
  }
  EXPECT_EQ(AssignLoop("anything:1", 1), 0u);
  EXPECT_EQ(AssignLoop("anything:1", 0), 0u);
}

TEST(EngineAssignment, AnotherLoopMovesOnlyItsShare) {
  const auto eps = Endpoints(8000);
  int moved = 0;
  for (const auto& e : eps) {
    const std::size_t before = AssignLoop(e, 4), after = AssignLoop(e, 5);
    if (before != after) {
      ++moved;
      EXPECT_EQ(after, 4u) << "an endpoint only moves to the new loop";
    }
  }
  EXPECT_GT(moved, 1300);  // about 1/5 of 8000
  EXPECT_LT(moved, 1900);
}

TEST(EngineCpus, CgroupV2CpuMax) {
  EXPECT_FALSE(CpuMaxQuota("max 100000\n").has_value());
  EXPECT_EQ(CpuMaxQuota("200000 100000\n"), 2u);
  EXPECT_EQ(CpuMaxQuota("150000 100000"), 2u) << "rounded up";
  EXPECT_EQ(CpuMaxQuota("50000 100000"), 1u) << "at least one";
  EXPECT_FALSE(CpuMaxQuota("garbage").has_value());
  EXPECT_FALSE(CpuMaxQuota("").has_value());
}

TEST(EngineCpus, CgroupV1Cfs) {
  EXPECT_FALSE(CfsQuota(-1, 100000).has_value());
  EXPECT_EQ(CfsQuota(300000, 100000), 3u);
  EXPECT_EQ(CfsQuota(10000, 100000), 1u);
  EXPECT_FALSE(CfsQuota(100000, 0).has_value());
}

class CgroupTree : public ::testing::Test {
 protected:
  CgroupTree() {
    root_ = std::filesystem::temp_directory_path() /
            ("hg-cgroup-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
  }
  ~CgroupTree() override { std::filesystem::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text) {
    auto p = root_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::filesystem::path root_;
};

TEST_F(CgroupTree, V2OwnCgroupThenRoot) {
  Write("kubepods/pod1/cpu.max", "250000 100000\n");
  EXPECT_EQ(CgroupCpuQuota("0::/kubepods/pod1\n", root_.string()), 3u);
  // A container sees its own cgroup as the root of the mount.
  Write("cpu.max", "100000 100000\n");
  EXPECT_EQ(CgroupCpuQuota("0::/not/visible/here\n", root_.string()), 1u);
}

TEST_F(CgroupTree, V1CpuController) {
  Write("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "150000\n");
  Write("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(
      CgroupCpuQuota("4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n", root_.string()),
      2u);
}

TEST_F(CgroupTree, UnlimitedOrAbsent) {
  Write("cpu/cpu.cfs_quota_us", "-1\n");
  Write("cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_FALSE(CgroupCpuQuota("1:cpu:/\n", root_.string()).has_value());
  EXPECT_FALSE(CgroupCpuQuota("", root_.string()).has_value());
  EXPECT_GE(AvailableCpus(), 1u);
  EXPECT_LE(AvailableCpus(), AffinityCpus());
}

}  // namespace
}  // namespace healthgate::probes
