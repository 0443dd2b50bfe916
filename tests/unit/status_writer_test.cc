#include "operator/sinks/status_writer.h"

#include <gtest/gtest.h>

namespace healthgate::sinks {
namespace {
using nlohmann::json;

json Status(const std::string& ready, const std::string& ready_time, bool probe_healthy,
            const std::string& probe_time, int latency, int successes) {
  return json{
      {"observedGeneration", 3},
      {"summary", probe_healthy ? "1/1" : "0/1"},
      {"lastProbeTime", "2026-11-26T10:00:0" + std::to_string(successes % 10) + "Z"},
      {"conditions",
       json::array({json{{"type", "Ready"},
                         {"status", ready},
                         {"reason", ready == "True" ? "AllCriticalProbesHealthy" : "ProbeFailing"},
                         {"message", ""},
                         {"lastTransitionTime", ready_time},
                         {"observedGeneration", 3}}})},
      {"probes", json::array({json{{"name", "db"},
                                   {"healthy", probe_healthy},
                                   {"reason", "success"},
                                   {"message", ""},
                                   {"latencyMs", latency},
                                   {"consecutiveSuccesses", successes},
                                   {"consecutiveFailures", 0},
                                   {"lastProbeTime", "2026-11-26T10:00:00Z"},
                                   {"lastTransitionTime", probe_time}}})}};
}

TEST(StatusWriterVisible, ProbeRunsThatChangeNothingVisibleAreEqual) {
  auto a = Status("True", "2026-11-26T09:00:00Z", true, "2026-11-26T09:00:00Z", 3, 10);
  auto b = Status("True", "2026-11-26T09:00:00Z", true, "2026-11-26T09:00:00Z", 7, 11);
  EXPECT_NE(a, b);
  EXPECT_EQ(VisibleStatus(a), VisibleStatus(b));
}

TEST(StatusWriterVisible, ConditionOrHealthChangesAreVisible) {
  auto a = Status("True", "2026-11-26T09:00:00Z", true, "2026-11-26T09:00:00Z", 3, 10);
  auto b = Status("False", "2026-11-26T09:05:00Z", false, "2026-11-26T09:05:00Z", 3, 0);
  EXPECT_NE(VisibleStatus(a), VisibleStatus(b));
  auto c = a;
  c["observedGeneration"] = 4;
  EXPECT_NE(VisibleStatus(a), VisibleStatus(c));
}

TEST(StatusWriterVisible, KeepTransitionTimesOfUnchangedStates) {
  // A restarted operator computes fresh transition times; the stored ones win
  // while the state is the same, so nothing visible changes.
  auto stored = Status("True", "2026-11-01T00:00:00Z", true, "2026-11-01T00:00:01Z", 3, 900);
  auto fresh = Status("True", "2026-11-26T12:00:00Z", true, "2026-11-26T12:00:00Z", 2, 1);
  KeepTransitionTimes(fresh, stored);
  EXPECT_EQ(fresh["conditions"][0]["lastTransitionTime"], "2026-11-01T00:00:00Z");
  EXPECT_EQ(fresh["probes"][0]["lastTransitionTime"], "2026-11-01T00:00:01Z");
  EXPECT_EQ(VisibleStatus(fresh), VisibleStatus(stored));
}

TEST(StatusWriterVisible, ChangedStatesKeepTheirNewTransitionTimes) {
  auto stored = Status("True", "2026-11-01T00:00:00Z", true, "2026-11-01T00:00:01Z", 3, 900);
  auto fresh = Status("False", "2026-11-26T12:00:00Z", false, "2026-11-26T12:00:00Z", 2, 0);
  KeepTransitionTimes(fresh, stored);
  EXPECT_EQ(fresh["conditions"][0]["lastTransitionTime"], "2026-11-26T12:00:00Z");
  EXPECT_EQ(fresh["probes"][0]["lastTransitionTime"], "2026-11-26T12:00:00Z");
}

TEST(StatusWriterVisible, NoStoredStatusChangesNothing) {
  auto fresh = Status("True", "2026-11-26T12:00:00Z", true, "2026-11-26T12:00:00Z", 2, 1);
  auto copy = fresh;
  KeepTransitionTimes(fresh, json::object());
  KeepTransitionTimes(fresh, json());
  EXPECT_EQ(fresh, copy);
}

TEST(StatusWriterDecide, WritesWhatDiffersFromTheObservedStatus) {
  auto stored = Status("True", "2026-11-01T00:00:00Z", true, "2026-11-01T00:00:01Z", 3, 900);
  auto same = Status("True", "2026-11-26T12:00:00Z", true, "2026-11-26T12:00:00Z", 2, 1);
  EXPECT_EQ(DecideWrite(same, stored, nullptr, false), WriteDecision::kUpToDate);
  auto failing = Status("False", "2026-11-26T12:00:00Z", false, "2026-11-26T12:00:00Z", 2, 0);
  EXPECT_EQ(DecideWrite(failing, stored, nullptr, false), WriteDecision::kWrite);
}

TEST(StatusWriterDecide, AStaleCacheNeverHidesAWriteForGood) {
  // We wrote W2 (the probe failed once, still healthy); the watch has not shown it
  // yet when the probe recovers, so the cache still holds W1 and the recovered
  // status looks up to date. When the watch delivers W2, the same decision must
  // ask for a write: the stored status converges on the computed one.
  auto w1 = Status("True", "2026-11-01T00:00:00Z", true, "2026-11-01T00:00:01Z", 3, 900);
  auto w2 = w1;
  w2["probes"][0]["message"] = "connect 127.0.0.1:6379: Connection refused";
  w2["probes"][0]["reason"] = "connection_refused";
  auto recovered = w1;
  auto last = VisibleStatus(w2);
  EXPECT_EQ(DecideWrite(recovered, w1, &last, false), WriteDecision::kUpToDate);
  EXPECT_EQ(DecideWrite(recovered, w2, &last, false), WriteDecision::kWrite);
}

TEST(StatusWriterDecide, APendingStatusKeepsAKnownOne) {
  auto stored = Status("True", "2026-11-01T00:00:00Z", true, "2026-11-01T00:00:01Z", 3, 900);
  auto pending = Status("Unknown", "2026-11-26T12:00:00Z", false, "2026-11-26T12:00:00Z", 0, 0);
  EXPECT_EQ(DecideWrite(pending, stored, nullptr, false), WriteDecision::kKeepPending);
  // An invalid spec is news even before any probe ran.
  EXPECT_EQ(DecideWrite(pending, stored, nullptr, true), WriteDecision::kWrite);
  // Nothing stored yet: the pending status is written.
  EXPECT_EQ(DecideWrite(pending, json::object(), nullptr, false), WriteDecision::kWrite);
}

// The CRD defaults status to {observedGeneration: 0} on new objects (so kstatus
// reads them as InProgress): that is no known status to keep, and the first
// computed one, pending or not, replaces it.
TEST(StatusWriterDecide, TheCrdStatusDefaultIsReplacedByTheFirstWrite) {
  const json defaulted{{"observedGeneration", 0}};
  auto pending = Status("Unknown", "2026-11-26T09:00:00Z", false, "2026-11-26T09:00:00Z", 0, 0);
  EXPECT_EQ(DecideWrite(pending, defaulted, nullptr, false), WriteDecision::kWrite);
  auto ready = Status("True", "2026-11-26T09:00:00Z", true, "2026-11-26T09:00:00Z", 3, 1);
  EXPECT_EQ(DecideWrite(ready, defaulted, nullptr, false), WriteDecision::kWrite);
}

TEST(StatusWriterDecide, WithoutACacheOurLastWriteDecides) {
  auto s = Status("True", "2026-11-26T12:00:00Z", true, "2026-11-26T12:00:00Z", 2, 1);
  EXPECT_EQ(DecideWrite(s, std::nullopt, nullptr, false), WriteDecision::kWrite);
  auto last = VisibleStatus(s);
  auto again = Status("True", "2026-11-26T12:00:00Z", true, "2026-11-26T12:00:00Z", 9, 5);
  EXPECT_EQ(DecideWrite(again, std::nullopt, &last, false), WriteDecision::kUpToDate);
}

}  // namespace
}  // namespace healthgate::sinks
