#include "operator/sinks/work_queue.h"

#include <gtest/gtest.h>

#include <thread>

namespace healthgate::sinks {
namespace {
using namespace std::chrono_literals;

class WorkQueueTest : public ::testing::Test {
 protected:
  WorkQueue::TimePoint now_{};
  WorkQueue queue_{WorkQueue::Options{100ms, 400ms, {}, [this] { return now_; }}};
};

TEST_F(WorkQueueTest, NoticesForOneKeyCoalesce) {
  queue_.Add("shop/orders");
  queue_.Add("shop/orders");
  queue_.Add("shop/billing");
  EXPECT_EQ(queue_.size(), 2u);
  std::set<std::string> taken;
  while (auto k = queue_.TryNext()) taken.insert(*k);
  EXPECT_EQ(taken, (std::set<std::string>{"shop/billing", "shop/orders"}));
  EXPECT_FALSE(queue_.TryNext());
}

TEST_F(WorkQueueTest, FailedKeysBackOffExponentiallyUpToTheCap) {
  EXPECT_EQ(queue_.Retry("k"), 100ms);
  EXPECT_FALSE(queue_.TryNext()) << "not due before its delay";
  queue_.Add("k");
  EXPECT_FALSE(queue_.TryNext()) << "a new notice does not skip the backoff";
  now_ += 100ms;
  EXPECT_EQ(queue_.TryNext(), "k");
  EXPECT_EQ(queue_.Retry("k"), 200ms);
  EXPECT_EQ(queue_.Retry("k"), 400ms);
  EXPECT_EQ(queue_.Retry("k"), 400ms) << "capped";
  queue_.Succeeded("k");
  EXPECT_EQ(queue_.Retry("k"), 100ms) << "success starts the backoff over";
}

TEST_F(WorkQueueTest, OtherKeysAreNotHeldUpByOneInBackoff) {
  queue_.Retry("a");
  queue_.Add("b");
  EXPECT_EQ(queue_.TryNext(), "b");
  EXPECT_FALSE(queue_.TryNext());
}

TEST_F(WorkQueueTest, ForgetDropsTheKeyAndItsBackoff) {
  queue_.Retry("k");
  queue_.Retry("k");
  queue_.Forget("k");
  EXPECT_EQ(queue_.size(), 0u);
  EXPECT_EQ(queue_.Retry("k"), 100ms);
}

TEST(WorkQueue, NextReturnsQueuedKeysThenNulloptAfterShutdown) {
  WorkQueue q{WorkQueue::Options{}};
  q.Add("x");
  EXPECT_EQ(q.Next(), "x");
  std::thread stopper([&q] { q.Shutdown(); });
  EXPECT_FALSE(q.Next()) << "a blocked worker wakes up on shutdown";
  stopper.join();
}

TEST(WorkQueue, AStandbyHoldsItsKeys) {
  bool may = false;
  WorkQueue q{WorkQueue::Options{100ms, 400ms, [&may] { return may; }, {}}};
  q.Add("x");
  EXPECT_EQ(q.size(), 1u);
  std::thread stopper([&q] { q.Shutdown(); });
  EXPECT_FALSE(q.Next()) << "held back while may_process is false, until shutdown";
  stopper.join();
  EXPECT_EQ(q.size(), 1u) << "the key is still there for a future leader";
}

}  // namespace
}  // namespace healthgate::sinks
