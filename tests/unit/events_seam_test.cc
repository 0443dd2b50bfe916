// The event recorder against the in-memory API and simulated waits: one Event
// per Ready transition, repeats within the window bump the count, 429/5xx are
// retried after the delay (and Retry-After) without real time passing.
#include <gtest/gtest.h>

#include <cstdio>

#include "common/wait.h"
#include "operator/sinks/events.h"
#include "tests/support/fake_kube.h"

namespace healthgate::sinks {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::FakeKube;
using testing::Verb;

const kube::ResourceRef kEvents{"", "v1", "events", "shop"};
const std::string kEventsPath = "/api/v1/namespaces/shop/events";

results::CheckSnapshot Snap(const std::string& ready, const std::string& message) {
  results::CheckSnapshot s;
  s.ns = "shop";
  s.name = "orders";
  s.ready.status = ready;
  s.ready.message = message;
  return s;
}

class EventRecorderSeam : public ::testing::Test {
 protected:
  EventRecorderSeam() : out_(std::tmpfile()), log_(LogLevel::kError, out_, waits_.clock()) {
    recorder_.Start();
  }
  ~EventRecorderSeam() override {
    recorder_.Stop();
    std::fclose(out_);
  }
  FakeKube kube_;
  common::SimWaits waits_;
  std::FILE* out_;
  Logger log_;
  EventRecorder recorder_{kube_, nullptr, log_, waits_, EventRecorder::Options{"me", 10min, {}}};
};

TEST_F(EventRecorderSeam, OneEventPerTransitionAndRepeatsBumpTheCount) {
  recorder_.Observe(Snap("False", "db: connection refused"));
  ASSERT_TRUE(Eventually([&] { return recorder_.emitted() == 1; }));
  auto events = kube_.Objects(kEvents);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["reason"], "NotReady");
  EXPECT_EQ(events[0]["type"], "Warning");
  EXPECT_EQ(events[0]["count"], 1);
  recorder_.Observe(Snap("False", "db: connection refused"));  // no transition: nothing
  recorder_.Observe(Snap("True", ""));
  ASSERT_TRUE(Eventually([&] { return recorder_.emitted() == 2; }));
  waits_.Advance(1min);
  recorder_.Observe(Snap("False", "db: connection refused"));  // same event, in the window
  ASSERT_TRUE(Eventually([&] { return recorder_.emitted() == 3; }));
  EXPECT_EQ(kube_.Count(Verb::kCreate), 2u);
  EXPECT_EQ(kube_.Count(Verb::kPatch), 1u) << "aggregated into the first NotReady Event";
  events = kube_.Objects(kEvents);
  ASSERT_EQ(events.size(), 2u);
  int not_ready_count = 0;
  for (const auto& e : events)
    if (e["reason"] == "NotReady") not_ready_count = e["count"];
  EXPECT_EQ(not_ready_count, 2);
}

TEST_F(EventRecorderSeam, OutsideTheWindowARepeatIsANewEvent) {
  recorder_.Observe(Snap("False", "x"));
  recorder_.Observe(Snap("True", ""));
  ASSERT_TRUE(Eventually([&] { return recorder_.emitted() == 2; }));
  waits_.Advance(11min);
  recorder_.Observe(Snap("False", "x"));
  ASSERT_TRUE(Eventually([&] { return recorder_.emitted() == 3; }));
  EXPECT_EQ(kube_.Count(Verb::kCreate), 3u);
  EXPECT_EQ(kube_.Count(Verb::kPatch), 0u);
}

TEST_F(EventRecorderSeam, TooManyRequestsAndServerErrorsAreRetriedAfterTheDelay) {
  kube_.FailNext(Verb::kCreate, kEventsPath, FakeKube::TooManyRequests(5s));
  kube_.FailNext(Verb::kCreate, kEventsPath, FakeKube::ServerError(503));
  recorder_.Observe(Snap("False", "x"));
  ASSERT_TRUE(kube_.AwaitCalls(Verb::kCreate, kEventsPath, 1));
  ASSERT_TRUE(waits_.AwaitTimedBlocked(1));
  EXPECT_EQ(*waits_.NextDeadline() - waits_.clock().Now(), 5s) << "Retry-After beats 1 s";
  waits_.Advance(4999ms);
  EXPECT_EQ(kube_.Count(Verb::kCreate), 1u);
  waits_.Advance(1ms);
  ASSERT_TRUE(kube_.AwaitCalls(Verb::kCreate, kEventsPath, 2));
  ASSERT_TRUE(waits_.AwaitTimedBlocked(1));
  EXPECT_EQ(*waits_.NextDeadline() - waits_.clock().Now(), 2s) << "the delay doubles";
  waits_.Advance(2s);
  ASSERT_TRUE(Eventually([&] { return recorder_.emitted() == 1; }));
  EXPECT_EQ(kube_.Count(Verb::kCreate), 3u);
  EXPECT_EQ(recorder_.dropped(), 0u);
}

TEST_F(EventRecorderSeam, GivesUpAfterMaxAttemptsAndOnPermanentRefusals) {
  kube_.FailAlways(Verb::kCreate, kEventsPath, FakeKube::ServerError(500));
  recorder_.Observe(Snap("False", "x"));
  for (int i = 1; i < EventRecorder::kMaxAttempts; ++i) {
    ASSERT_TRUE(kube_.AwaitCalls(Verb::kCreate, kEventsPath, static_cast<std::size_t>(i)));
    ASSERT_TRUE(waits_.AwaitTimedBlocked(1));
    waits_.Advance(1h);
  }
  ASSERT_TRUE(Eventually([&] { return recorder_.dropped() == 1; }));
  EXPECT_EQ(kube_.Count(Verb::kCreate), static_cast<std::size_t>(EventRecorder::kMaxAttempts));
  kube_.ClearFaults();
  kube_.FailNext(Verb::kCreate, kEventsPath, FakeKube::Forbidden());
  recorder_.Observe(Snap("True", ""));
  ASSERT_TRUE(Eventually([&] { return recorder_.dropped() == 2; }));
  EXPECT_EQ(kube_.Count(Verb::kCreate), EventRecorder::kMaxAttempts + 1u) << "403: no retry";
}

}  // namespace
}  // namespace healthgate::sinks
