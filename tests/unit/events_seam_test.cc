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
using nlohmann::json;
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

// A snapshot with one probe blocked because its Secret lacks the label.
results::CheckSnapshot NotAllowed(const std::string& ready, bool critical = true,
                                  const std::string& secret = "pg") {
  results::CheckSnapshot s = Snap(ready, "");
  auto info = std::make_shared<results::ProbeInfo>();
  info->name = "web";
  info->type = "http";
  info->critical = critical;
  info->blocked_reason = "SecretNotAllowed";
  info->blocked_message = "http.headers[0].valueSecretRef: secret \"" + secret +
                          "\" in namespace \"shop\" is not allowed for probes: it lacks the "
                          "label healthgate.dev/probe-credentials=true";
  results::ProbeRecord r;
  r.info = info;
  s.probes.push_back(r);
  if (ready == "False") {
    s.ready.reason = "SecretNotAllowed";
    s.ready.message = "web: " + info->blocked_message;
  }
  return s;
}

std::size_t EventsWithReason(const FakeKube& kube, const std::string& reason) {
  std::size_t n = 0;
  for (const auto& e : kube.Objects(kEvents)) n += e["reason"] == reason;
  return n;
}

TEST_F(EventRecorderSeam, ASecretNotAllowedIsOneWarningEventNotOnePerRefresh) {
  // The check starts blocked, then every secret refresh reconciles it again.
  for (int i = 0; i < 5; ++i) recorder_.Observe(NotAllowed("False"));
  ASSERT_TRUE(Eventually([&] { return recorder_.emitted() == 1; }));
  auto events = kube_.Objects(kEvents);
  ASSERT_EQ(events.size(), 1u) << "one Event: no NotReady beside it";
  EXPECT_EQ(events[0]["reason"], "SecretNotAllowed");
  EXPECT_EQ(events[0]["type"], "Warning");
  EXPECT_EQ(events[0]["involvedObject"]["kind"], "HealthCheck");
  const std::string message = events[0]["message"];
  EXPECT_NE(message.find("web: "), std::string::npos) << message;
  EXPECT_NE(message.find("secret \"pg\""), std::string::npos) << message;
  EXPECT_NE(message.find("healthgate.dev/probe-credentials=true"), std::string::npos) << message;
  // Labelled: the probe runs and the check becomes ready.
  recorder_.Observe(Snap("Unknown", ""));
  recorder_.Observe(Snap("True", ""));
  ASSERT_TRUE(Eventually([&] { return recorder_.emitted() == 2; }));
  EXPECT_EQ(EventsWithReason(kube_, "Ready"), 1u);
  // Unlabelled again within the window: the same Event's count goes up.
  waits_.Advance(1min);
  recorder_.Observe(NotAllowed("False"));
  recorder_.Observe(NotAllowed("False"));
  ASSERT_TRUE(Eventually([&] { return recorder_.emitted() == 3; }));
  EXPECT_EQ(kube_.Count(Verb::kCreate), 2u);
  EXPECT_EQ(kube_.Count(Verb::kPatch), 1u);
  EXPECT_EQ(EventsWithReason(kube_, "NotReady"), 0u);
  EXPECT_EQ(EventsWithReason(kube_, "SecretNotAllowed"), 1u);
}

TEST_F(EventRecorderSeam, ANonCriticalProbeOrAnotherSecretIsAnnouncedToo) {
  recorder_.Observe(Snap("True", ""));  // first seen ready: not news
  recorder_.Observe(NotAllowed("True", /*critical=*/false));
  recorder_.Observe(NotAllowed("True", /*critical=*/false));
  ASSERT_TRUE(Eventually([&] { return recorder_.emitted() == 1; }));
  EXPECT_EQ(EventsWithReason(kube_, "SecretNotAllowed"), 1u);
  // The probe now points at another unlabelled Secret: that is news.
  recorder_.Observe(NotAllowed("True", false, "other"));
  ASSERT_TRUE(Eventually([&] { return recorder_.emitted() == 2; }));
  EXPECT_EQ(kube_.Count(Verb::kCreate), 2u);
}

TEST_F(EventRecorderSeam, ARestartDoesNotAnnounceASecretNotAllowedAgain) {
  // The stored status already shows the probe blocked (written before a restart).
  recorder_.Seed(json{
      {"metadata", {{"namespace", "shop"}, {"name", "orders"}, {"uid", "u1"}}},
      {"status",
       {{"conditions", json::array({{{"type", "Ready"}, {"status", "False"}}})},
        {"probes",
         json::array({{{"name", "web"},
                       {"reason", "SecretNotAllowed"},
                       {"message", NotAllowed("False").probes[0].info->blocked_message}}})}}}});
  recorder_.Observe(NotAllowed("False"));
  recorder_.Observe(Snap("True", ""));
  ASSERT_TRUE(Eventually([&] { return recorder_.emitted() == 1; }));
  EXPECT_EQ(EventsWithReason(kube_, "SecretNotAllowed"), 0u);
  EXPECT_EQ(EventsWithReason(kube_, "Ready"), 1u);
}

}  // namespace
}  // namespace healthgate::sinks
