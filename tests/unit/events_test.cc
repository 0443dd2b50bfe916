#include "operator/sinks/events.h"

#include <gtest/gtest.h>

namespace healthgate::sinks {
namespace {

using std::chrono::minutes;

healthgate::WallTime At(int minute) { return healthgate::WallTime{} + minutes(minute); }

TEST(SentEvents, RepeatWithinTheWindowIsFoundForTheCountBump) {
  SentEvents sent(minutes(10));
  sent.Remember("shop/orders", "NotReady", {"orders.1", "db: refused", 1, At(0)});
  auto again = sent.Find("shop/orders", "NotReady", "db: refused", At(5));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->event_name, "orders.1");
  EXPECT_FALSE(sent.Find("shop/orders", "NotReady", "db: other", At(5)));
  EXPECT_FALSE(sent.Find("shop/orders", "NotReady", "db: refused", At(10))) << "window passed";
}

// A check that flaps with a new message every time (a latency, a changing
// server error) must not grow the recorder's memory: one entry per reason.
TEST(SentEvents, BoundedPerCheckWhateverTheMessages) {
  SentEvents sent(minutes(10));
  for (int i = 0; i < 10000; ++i) {
    sent.Remember(
        "shop/orders", "NotReady",
        {"orders." + std::to_string(i), "db: took " + std::to_string(i) + "ms", 1, At(0)});
    sent.Remember("shop/orders", "Ready", {"orders.r" + std::to_string(i), "ok", 1, At(0)});
  }
  EXPECT_EQ(sent.size(), 2u);
  sent.Forget("shop/orders");
  EXPECT_EQ(sent.size(), 0u);
}

TEST(SentEvents, ExpiredEntriesAreDroppedWhenMet) {
  SentEvents sent(minutes(10));
  sent.Remember("shop/a", "NotReady", {"a.1", "x", 1, At(0)});
  sent.Remember("shop/a", "Ready", {"a.2", "ok", 1, At(8)});
  EXPECT_FALSE(sent.Find("shop/a", "NotReady", "x", At(12)));
  EXPECT_EQ(sent.size(), 1u) << "the expired NotReady entry is gone, the recent Ready stays";
}

}  // namespace
}  // namespace healthgate::sinks
