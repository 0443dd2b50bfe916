#include "probes/engine/thresholds.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace healthgate::probes {
namespace {

struct Case {
  std::string name;
  Thresholds t;
  std::string results;  // 's' success, 'f' failure
  std::vector<Health> expected;
};

class ThresholdTable : public ::testing::TestWithParam<Case> {};

TEST_P(ThresholdTable, StepsLikeKubelet) {
  const Case& c = GetParam();
  ThresholdState s;
  ASSERT_EQ(c.results.size(), c.expected.size());
  for (std::size_t i = 0; i < c.results.size(); ++i) {
    s = Step(s, c.results[i] == 's', c.t);
    EXPECT_EQ(s.health, c.expected[i]) << "after result " << i << " of " << c.results;
  }
}

constexpr Health U = Health::kUnknown;
constexpr Health H = Health::kHealthy;
constexpr Health X = Health::kUnhealthy;

INSTANTIATE_TEST_SUITE_P(
    Table, ThresholdTable,
    ::testing::Values(
        Case{"one_success_is_healthy", {1, 3}, "s", {H}},
        Case{"first_failure_from_unknown_is_unhealthy", {1, 3}, "f", {X}},
        Case{"failures_below_threshold_keep_healthy", {1, 3}, "sff", {H, H, H}},
        Case{"third_failure_flips", {1, 3}, "sfff", {H, H, H, X}},
        Case{"success_resets_failure_run", {1, 3}, "sffsff", {H, H, H, H, H, H}},
        Case{"success_threshold_two", {2, 1}, "ssfss", {U, H, X, X, H}},
        Case{"success_threshold_needs_consecutive", {3, 1}, "ssfsss", {U, U, X, X, X, H}},
        Case{"failure_threshold_one", {1, 1}, "sfs", {H, X, H}},
        Case{"recovery_after_unhealthy", {1, 2}, "ffs", {X, X, H}}),
    [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

TEST(Thresholds, CountsConsecutiveRuns) {
  ThresholdState s;
  Thresholds t{1, 3};
  s = Step(s, true, t);
  s = Step(s, true, t);
  EXPECT_EQ(s.consecutive_successes, 2u);
  EXPECT_EQ(s.consecutive_failures, 0u);
  s = Step(s, false, t);
  EXPECT_EQ(s.consecutive_successes, 0u);
  EXPECT_EQ(s.consecutive_failures, 1u);
}

}  // namespace
}  // namespace healthgate::probes
