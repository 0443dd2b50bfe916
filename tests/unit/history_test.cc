// The history ring: order, overwrite of the oldest, and the compact entry.
#include "operator/results/history.h"

#include <gtest/gtest.h>

#include <vector>

namespace healthgate::results {
namespace {

using probes::Reason;

std::vector<int> Values(const Ring<int, 4>& r) { return {r.begin(), r.end()}; }

TEST(RingTest, KeepsTheNewestOldestFirst) {
  Ring<int, 4> r;
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.begin(), r.end());
  for (int i = 1; i <= 3; ++i) r.push_back(i);
  EXPECT_EQ(Values(r), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(r.front(), 1);
  EXPECT_EQ(r.back(), 3);
  r.push_back(4);
  r.push_back(5);  // drops 1
  EXPECT_EQ(Values(r), (std::vector<int>{2, 3, 4, 5}));
  EXPECT_EQ(r.size(), 4u);
  for (int i = 6; i <= 13; ++i) r.push_back(i);  // wraps around twice
  EXPECT_EQ(Values(r), (std::vector<int>{10, 11, 12, 13}));
  EXPECT_EQ(r[0], 10);
  EXPECT_EQ(r[3], 13);
  EXPECT_EQ(r.size(), r.capacity());
}

TEST(RingTest, CopiesAreIndependent) {
  Ring<int, 4> a;
  a.push_back(1);
  Ring<int, 4> b = a;
  b.push_back(2);
  EXPECT_EQ(Values(a), (std::vector<int>{1}));
  EXPECT_EQ(Values(b), (std::vector<int>{1, 2}));
}

TEST(HistoryEntryTest, KeepsEveryFieldInSixteenBytes) {
  static_assert(sizeof(History) <= kHistoryLength * 16 + 8);
  healthgate::WallTime at{std::chrono::seconds(1'700'000'000) + std::chrono::nanoseconds(123)};
  HistoryEntry e(at, false, Reason::kAssertion, std::chrono::nanoseconds(2'345'678));
  EXPECT_EQ(e.at(), at);
  EXPECT_FALSE(e.healthy());
  EXPECT_EQ(e.reason(), Reason::kAssertion);
  EXPECT_DOUBLE_EQ(e.latency_ms(), 2.345) << "microsecond resolution";
  for (Reason r : probes::kAllReasons) {
    EXPECT_EQ(HistoryEntry(at, true, r, {}).reason(), r);
  }
}

TEST(HistoryEntryTest, LatencySaturatesInsteadOfWrapping) {
  HistoryEntry negative({}, true, Reason::kSuccess, std::chrono::milliseconds(-5));
  EXPECT_EQ(negative.latency_ms(), 0);
  HistoryEntry huge({}, false, Reason::kTimeout, std::chrono::hours(24 * 365));
  EXPECT_DOUBLE_EQ(huge.latency_ms(), static_cast<double>(UINT32_MAX) / 1000.0);
}

}  // namespace
}  // namespace healthgate::results
