#include "common/timers.h"

#include <gtest/gtest.h>

#include <vector>

namespace healthgate::probes {
namespace {

using std::chrono::milliseconds;

TEST(SimTimers, FireInDeadlineOrderAtTheirInstant) {
  SimClock clock;
  SimTimers timers(clock);
  std::vector<std::pair<int, MonoTime>> fired;
  MonoTime t0 = clock.Now();
  timers.Arm(t0 + milliseconds(30), [&] { fired.push_back({3, clock.Now()}); });
  timers.Arm(t0 + milliseconds(10), [&] { fired.push_back({1, clock.Now()}); });
  timers.Arm(t0 + milliseconds(20), [&] { fired.push_back({2, clock.Now()}); });
  timers.Advance(milliseconds(25));
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0], std::make_pair(1, t0 + milliseconds(10)));
  EXPECT_EQ(fired[1], std::make_pair(2, t0 + milliseconds(20)));
  EXPECT_EQ(clock.Now(), t0 + milliseconds(25));
  timers.Advance(milliseconds(100));
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(fired[2].second, t0 + milliseconds(30));
}

TEST(SimTimers, CancelledTimersDoNotFire) {
  SimClock clock;
  SimTimers timers(clock);
  int fired = 0;
  TimerId a = timers.Arm(clock.Now() + milliseconds(5), [&] { ++fired; });
  timers.Arm(clock.Now() + milliseconds(6), [&] { fired += 10; });
  timers.Cancel(a);
  timers.Advance(milliseconds(10));
  EXPECT_EQ(fired, 10);
  EXPECT_EQ(timers.pending(), 0u);
}

TEST(SimTimers, CallbackMayArmAndCancel) {
  SimClock clock;
  SimTimers timers(clock);
  std::vector<MonoTime> fired;
  MonoTime t0 = clock.Now();
  std::function<void()> tick = [&] {
    fired.push_back(clock.Now());
    if (fired.size() < 3) timers.Arm(clock.Now() + milliseconds(7), tick);
  };
  timers.Arm(t0 + milliseconds(7), tick);
  timers.Advance(milliseconds(100));
  EXPECT_EQ(fired, (std::vector<MonoTime>{t0 + milliseconds(7), t0 + milliseconds(14),
                                          t0 + milliseconds(21)}));
}

TEST(SimTimers, TiesFireInArmingOrder) {
  SimClock clock;
  SimTimers timers(clock);
  std::vector<int> order;
  for (int i = 0; i < 5; ++i)
    timers.Arm(clock.Now() + milliseconds(1), [&, i] { order.push_back(i); });
  timers.Advance(milliseconds(1));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

}  // namespace
// Lateness beyond the allowance counts once, however many passes overlap it.
TEST(StallMeter, CountsLatenessBeyondTheAllowanceOnce) {
  StallMeter m(milliseconds(2));
  const MonoTime t0{};
  m.OnFire(t0 + milliseconds(10), t0 + milliseconds(11));
  EXPECT_EQ(m.Total(), Duration::zero()) << "within the driver's resolution";
  m.OnFire(t0 + milliseconds(20), t0 + milliseconds(50));
  EXPECT_EQ(m.Total(), milliseconds(28));
  // A later pass serving an earlier deadline: only the new time counts.
  m.OnFire(t0 + milliseconds(30), t0 + milliseconds(60));
  EXPECT_EQ(m.Total(), milliseconds(38));
  m.OnFire(t0 + milliseconds(100), t0 + milliseconds(100));
  EXPECT_EQ(m.Total(), milliseconds(38));
}

TEST(SimTimers, StallFiresLateAndCountsTheLateness) {
  SimClock clock;
  SimTimers timers(clock);
  const MonoTime t0 = clock.Now();
  std::vector<MonoTime> fired;
  timers.Arm(t0 + milliseconds(10), [&] { fired.push_back(clock.Now()); });
  timers.Arm(t0 + milliseconds(20), [&] { fired.push_back(clock.Now()); });
  timers.Advance(milliseconds(5));
  EXPECT_EQ(timers.Stalled(), Duration::zero());
  timers.Stall(milliseconds(45));
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0], t0 + milliseconds(50));
  EXPECT_EQ(fired[1], t0 + milliseconds(50));
  EXPECT_EQ(timers.Stalled(), milliseconds(40)) << "from the first deadline missed";
  timers.Stall(milliseconds(10));
  EXPECT_EQ(timers.Stalled(), milliseconds(40)) << "nothing was due: nothing was late";
}

}  // namespace healthgate::probes
