// common::SimWaits: a wait ends exactly when simulated time reaches its
// deadline, or when its predicate becomes true; never by real time.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/wait.h"

namespace healthgate::common {
namespace {

using namespace std::chrono_literals;

TEST(SimWaits, ASleepEndsExactlyAtItsSimulatedDeadline) {
  SimWaits waits;
  Stopper stopper(waits);
  std::atomic<int> result{-1};
  std::thread t([&] { result = stopper.SleepFor(3s) ? 1 : 0; });
  ASSERT_TRUE(waits.AwaitTimedBlocked(1));
  EXPECT_EQ(*waits.NextDeadline() - waits.clock().Now(), 3s);
  waits.Advance(2999ms);
  EXPECT_EQ(waits.timed_blocked(), 1u);
  waits.Advance(1ms);
  t.join();
  EXPECT_EQ(result, 0) << "the delay passed; not stopped";
  EXPECT_EQ(waits.timed_blocked(), 0u);
}

TEST(SimWaits, StopEndsASleepAtOnce) {
  SimWaits waits;
  Stopper stopper(waits);
  std::atomic<int> result{-1};
  std::thread t([&] { result = stopper.SleepFor(1h) ? 1 : 0; });
  ASSERT_TRUE(waits.AwaitTimedBlocked(1));
  stopper.Stop();
  t.join();
  EXPECT_EQ(result, 1);
  EXPECT_TRUE(stopper.SleepFor(1h)) << "already stopped: returns at once";
}

TEST(SimWaits, AConditionWakesOnNotifyBeforeItsDeadline) {
  SimWaits waits;
  Condition c(waits);
  bool ready = false;
  std::atomic<int> result{-1};
  std::thread t([&] {
    std::unique_lock lock(c.mu());
    result = c.WaitFor(lock, 10s, [&] { return ready; }) ? 1 : 0;
  });
  ASSERT_TRUE(waits.AwaitTimedBlocked(1));
  {
    std::lock_guard lock(c.mu());
    ready = true;
  }
  c.NotifyAll();
  t.join();
  EXPECT_EQ(result, 1);
  EXPECT_EQ(waits.clock().Now().time_since_epoch(), 0ns) << "no time passed";
}

TEST(RealWaits, ATimedWaitUsesTheSteadyClock) {
  Stopper stopper(SystemWaits());
  EXPECT_FALSE(stopper.SleepFor(1ms));
  stopper.Stop();
  EXPECT_TRUE(stopper.SleepFor(1h));
}

}  // namespace
}  // namespace healthgate::common
