#include <gtest/gtest.h>

#include "operator/results/json.h"
#include "operator/results/store.h"

namespace healthgate::results {
namespace {

using probes::Health;
using probes::Reason;
using probes::Result;
using probes::ThresholdState;

ProbeInfoPtr Probe(std::string name, std::string type, bool critical,
                   std::string blocked_reason = "", std::string blocked_message = "") {
  return std::make_shared<const ProbeInfo>(ProbeInfo{std::move(name), std::move(type), critical,
                                                     std::move(blocked_reason),
                                                     std::move(blocked_message)});
}

CheckInfo Info() {
  CheckInfo i;
  i.ns = "shop";
  i.name = "orders";
  i.generation = 4;
  i.probes = {Probe("db", "postgres", true), Probe("pay", "http", false)};
  return i;
}

ThresholdState St(Health h, std::uint32_t s, std::uint32_t f) { return {h, s, f}; }

class ResultsStoreTest : public ::testing::Test {
 protected:
  ResultsStoreTest() : store_(clock_) {
    store_.Subscribe([this](const SnapshotPtr& s, Store::Change c) { notices_.push_back({s, c}); });
  }
  healthgate::SimClock clock_;
  Store store_;
  std::vector<std::pair<SnapshotPtr, Store::Change>> notices_;
};

TEST_F(ResultsStoreTest, PendingUntilFirstVerdictThenReady) {
  store_.UpsertCheck(Info());
  auto s = store_.Get("shop", "orders");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->ready.status, "Unknown");
  EXPECT_EQ(s->ready.reason, "ProbesPending");
  EXPECT_EQ(s->ready.observed_generation, 4);
  store_.RecordResult("shop", "orders", "db", Result::Success(), St(Health::kHealthy, 1, 0));
  s = store_.Get("shop", "orders");
  EXPECT_EQ(s->ready.status, "True");
  EXPECT_EQ(s->ready.reason, "AllCriticalProbesHealthy");
  EXPECT_TRUE(s->is_ready());
  EXPECT_FALSE(s->all_healthy()) << "pay has no verdict yet";
}

TEST_F(ResultsStoreTest, NonCriticalFailureDegradesButStaysReady) {
  store_.UpsertCheck(Info());
  store_.RecordResult("shop", "orders", "db", Result::Success(), St(Health::kHealthy, 1, 0));
  store_.RecordResult("shop", "orders", "pay", Result::Failure(Reason::kAssertion, "HTTP 503"),
                      St(Health::kUnhealthy, 0, 1));
  auto s = store_.Get("shop", "orders");
  EXPECT_EQ(s->ready.status, "True");
  EXPECT_EQ(s->degraded.status, "True");
  EXPECT_EQ(s->degraded.message, "pay: HTTP 503");
  EXPECT_FALSE(s->all_healthy());
}

TEST_F(ResultsStoreTest, CriticalFailureNamesTheProbeAndKeepsTransitionTimeStable) {
  store_.UpsertCheck(Info());
  store_.RecordResult("shop", "orders", "db", Result::Success(), St(Health::kHealthy, 1, 0));
  auto t_ready = store_.Get("shop", "orders")->ready.last_transition_time;
  clock_.Advance(std::chrono::seconds(10));
  store_.RecordResult("shop", "orders", "db", Result::Success(), St(Health::kHealthy, 2, 0));
  EXPECT_EQ(store_.Get("shop", "orders")->ready.last_transition_time, t_ready);
  clock_.Advance(std::chrono::seconds(10));
  store_.RecordResult("shop", "orders", "db",
                      Result::Failure(Reason::kConnect, "connection refused"),
                      St(Health::kUnhealthy, 0, 3));
  auto s = store_.Get("shop", "orders");
  EXPECT_EQ(s->ready.status, "False");
  EXPECT_EQ(s->ready.reason, "ProbeFailing");
  EXPECT_EQ(s->ready.message, "db: connection refused");
  EXPECT_EQ(s->ready.last_transition_time, clock_.WallNow());
}

TEST_F(ResultsStoreTest, PublishesOnlyVisibleChanges) {
  store_.UpsertCheck(Info());
  ASSERT_EQ(notices_.size(), 1u);
  store_.RecordResult("shop", "orders", "db", Result::Success(), St(Health::kHealthy, 1, 0));
  ASSERT_EQ(notices_.size(), 2u);
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(std::chrono::seconds(10));
    store_.RecordResult("shop", "orders", "db", Result::Success(), St(Health::kHealthy, 2 + i, 0));
  }
  EXPECT_EQ(notices_.size(), 2u) << "repeated identical results are not changes";
  auto s = store_.Get("shop", "orders");
  EXPECT_EQ(s->probes[0].history.size(), 11u);
  EXPECT_EQ(s->probes[0].consecutive_successes, 11u);
  store_.UpsertCheck(Info());
  EXPECT_EQ(notices_.size(), 2u) << "identical definition is not a change";
}

TEST_F(ResultsStoreTest, HistoryIsBounded) {
  store_.UpsertCheck(Info());
  for (int i = 0; i < 50; ++i) {
    clock_.Advance(std::chrono::seconds(1));
    Result r = i % 5 == 4 ? Result::Failure(Reason::kTimeout, "timed out") : Result::Success();
    r.latency = std::chrono::microseconds(1000 + i);
    store_.RecordResult("shop", "orders", "db", r,
                        St(r.healthy ? Health::kHealthy : Health::kUnhealthy, 1, 0));
  }
  const History& h = store_.Get("shop", "orders")->probes[0].history;
  ASSERT_EQ(h.size(), Store::kHistory);
  // The newest 20 results (30..49), oldest first.
  EXPECT_EQ(h.back().at(), clock_.WallNow());
  EXPECT_EQ(h.front().at(), clock_.WallNow() - std::chrono::seconds(19));
  EXPECT_DOUBLE_EQ(h.front().latency_ms(), 1.030);
  EXPECT_DOUBLE_EQ(h.back().latency_ms(), 1.049);
  EXPECT_FALSE(h.back().healthy());
  EXPECT_EQ(h.back().reason(), Reason::kTimeout);
  EXPECT_TRUE(h[0].healthy());
  // The other probe's history is untouched.
  EXPECT_TRUE(store_.Get("shop", "orders")->probes[1].history.empty());
}

TEST_F(ResultsStoreTest, SnapshotsShareTheProbeDefinition) {
  CheckInfo info = Info();
  store_.UpsertCheck(info);
  auto before = store_.Get("shop", "orders");
  store_.RecordResult("shop", "orders", "db", Result::Success(), St(Health::kHealthy, 1, 0));
  auto after = store_.Get("shop", "orders");
  ASSERT_NE(before, after) << "copy-on-write: a new snapshot per result";
  EXPECT_EQ(after->probes[0].info, info.probes[0]) << "the definition is shared, not copied";
  EXPECT_EQ(before->probes[0].info, after->probes[0].info);
  EXPECT_TRUE(before->probes[0].history.empty()) << "published snapshots never change";
  EXPECT_EQ(after->probes[0].history.size(), 1u);
}

TEST_F(ResultsStoreTest, EditKeepsUnchangedProbesAndResetsNamedOnes) {
  store_.UpsertCheck(Info());
  store_.RecordResult("shop", "orders", "db", Result::Success(), St(Health::kHealthy, 1, 0));
  store_.RecordResult("shop", "orders", "pay", Result::Success(), St(Health::kHealthy, 1, 0));
  CheckInfo edited = Info();
  edited.generation = 5;
  edited.probes.push_back(Probe("cache", "redis", true));
  store_.UpsertCheck(edited, {"pay"});
  auto s = store_.Get("shop", "orders");
  ASSERT_EQ(s->probes.size(), 3u);
  EXPECT_EQ(s->probes[0].health, Health::kHealthy) << "db kept";
  EXPECT_EQ(s->probes[1].health, Health::kUnknown) << "pay reset";
  EXPECT_EQ(s->probes[2].health, Health::kUnknown) << "cache new";
  EXPECT_EQ(s->ready.observed_generation, 5);
}

TEST_F(ResultsStoreTest, BlockedCriticalProbeIsSecretNotFound) {
  CheckInfo i = Info();
  i.probes[0] =
      Probe("db", "postgres", true, "SecretNotFound", "secret shop/pg has no key password");
  store_.UpsertCheck(i);
  auto s = store_.Get("shop", "orders");
  EXPECT_EQ(s->ready.status, "False");
  EXPECT_EQ(s->ready.reason, "SecretNotFound");
  EXPECT_EQ(s->ready.message, "db: secret shop/pg has no key password");
}

TEST_F(ResultsStoreTest, InvalidSpecWithoutProbes) {
  CheckInfo i = Info();
  i.probes.clear();
  i.invalid_message = "spec.probes[0].tcp.port: must be between 1 and 65535";
  store_.UpsertCheck(i);
  auto s = store_.Get("shop", "orders");
  EXPECT_EQ(s->ready.reason, "InvalidSpec");
  EXPECT_EQ(s->ready.status, "False");
}

TEST_F(ResultsStoreTest, InvalidNewGenerationKeepsThePreviousProbesAndShowsTheError) {
  store_.UpsertCheck(Info());
  store_.RecordResult("shop", "orders", "db", Result::Success(), St(Health::kHealthy, 1, 0));
  CheckInfo next = Info();
  next.generation = 5;
  next.invalid_message = "spec.probes[0].timeout: must be less than interval";
  store_.UpsertCheck(next);
  auto s = store_.Get("shop", "orders");
  EXPECT_TRUE(s->is_ready()) << "the previous valid probes keep deciding readiness";
  EXPECT_EQ(s->probes[0].consecutive_successes, 1u);
  auto status = StatusJson(*s);
  EXPECT_EQ(status["observedGeneration"], 5);
  EXPECT_EQ(status["invalidSpec"], next.invalid_message);
  store_.UpsertCheck(Info());
  EXPECT_FALSE(StatusJson(*store_.Get("shop", "orders")).contains("invalidSpec"));
}

// kstatus (Helm 4 --wait, Flux, kpt) reads Reconciling True as InProgress and
// Stalled True as Failed: Reconciling while there is no verdict, Stalled only for
// what waiting cannot fix, never both.
TEST_F(ResultsStoreTest, ReconcilingUntilTheFirstVerdictThenNot) {
  store_.UpsertCheck(Info());
  auto s = store_.Get("shop", "orders");
  EXPECT_EQ(s->reconciling.status, "True");
  EXPECT_EQ(s->reconciling.reason, "ProbesPending");
  EXPECT_EQ(s->reconciling.observed_generation, 4);
  EXPECT_EQ(s->stalled.status, "False");
  store_.RecordResult("shop", "orders", "db",
                      Result::Failure(Reason::kConnect, "connection refused"),
                      St(Health::kUnhealthy, 0, 3));
  s = store_.Get("shop", "orders");
  EXPECT_EQ(s->ready.status, "False");
  EXPECT_EQ(s->reconciling.status, "False") << "a verdict, even a failing one, ends Reconciling";
  EXPECT_EQ(s->reconciling.reason, "VerdictReached");
  EXPECT_EQ(s->stalled.status, "False") << "a refused connection may heal: not Stalled";
  auto conditions = StatusJson(*s)["conditions"];
  ASSERT_EQ(conditions.size(), 4u);
  EXPECT_EQ(conditions[2]["type"], "Reconciling");
  EXPECT_EQ(conditions[3]["type"], "Stalled");
  EXPECT_EQ(conditions[3]["reason"], "NoPermanentError");
}

TEST_F(ResultsStoreTest, StalledForPermanentErrorsOnly) {
  for (const char* reason : {"SecretNotFound", "SecretForbidden", "SecretNotAllowed"}) {
    CheckInfo i = Info();
    i.probes[0] = Probe("db", "postgres", true, reason, "secret shop/pg: no");
    store_.UpsertCheck(i);
    auto s = store_.Get("shop", "orders");
    EXPECT_EQ(s->stalled.status, "True") << reason;
    EXPECT_EQ(s->stalled.reason, reason);
    EXPECT_EQ(s->stalled.message, "db: secret shop/pg: no");
    EXPECT_EQ(s->reconciling.status, "False") << reason;
  }
  // healthgate's own passing trouble is not permanent.
  CheckInfo i = Info();
  i.probes[0] = Probe("db", "postgres", true, "SecretUnavailable", "API server did not answer");
  store_.UpsertCheck(i);
  EXPECT_EQ(store_.Get("shop", "orders")->stalled.status, "False");
  // A non-critical probe's missing Secret does not stall the check.
  i = Info();
  i.probes[1] = Probe("pay", "http", false, "SecretNotFound", "secret shop/pay: no");
  store_.UpsertCheck(i);
  EXPECT_EQ(store_.Get("shop", "orders")->stalled.status, "False");
}

TEST_F(ResultsStoreTest, StalledWhenCredentialsAreRejectedPastTheThreshold) {
  store_.UpsertCheck(Info());
  store_.RecordResult("shop", "orders", "db",
                      Result::Failure(Reason::kAuth, "password authentication failed"),
                      St(Health::kUnknown, 0, 1));
  EXPECT_EQ(store_.Get("shop", "orders")->stalled.status, "False") << "below the threshold";
  store_.RecordResult("shop", "orders", "db",
                      Result::Failure(Reason::kAuth, "password authentication failed"),
                      St(Health::kUnhealthy, 0, 3));
  auto s = store_.Get("shop", "orders");
  EXPECT_EQ(s->stalled.status, "True");
  EXPECT_EQ(s->stalled.reason, "AuthenticationFailing");
  EXPECT_NE(s->stalled.message.find("db: password authentication failed"), std::string::npos)
      << s->stalled.message;
  store_.RecordResult("shop", "orders", "db", Result::Success(), St(Health::kHealthy, 1, 0));
  s = store_.Get("shop", "orders");
  EXPECT_EQ(s->stalled.status, "False") << "fixed credentials end Stalled";
  EXPECT_TRUE(s->is_ready());
}

TEST_F(ResultsStoreTest, AnInvalidGenerationStallsEvenWithThePreviousProbesRunning) {
  store_.UpsertCheck(Info());
  store_.RecordResult("shop", "orders", "db", Result::Success(), St(Health::kHealthy, 1, 0));
  CheckInfo next = Info();
  next.generation = 5;
  next.invalid_message = "spec.probes[0].timeout: must be less than interval";
  store_.UpsertCheck(next);
  auto s = store_.Get("shop", "orders");
  EXPECT_TRUE(s->is_ready());
  EXPECT_EQ(s->stalled.status, "True");
  EXPECT_EQ(s->stalled.reason, "InvalidSpec");
  EXPECT_EQ(s->stalled.message, next.invalid_message);
  EXPECT_EQ(s->stalled.observed_generation, 5);
  // Pending probes of an invalid spec: Stalled wins, Reconciling stays False.
  CheckInfo fresh = Info();
  fresh.name = "fresh";
  fresh.invalid_message = "spec.interval: bad";
  store_.UpsertCheck(fresh);
  s = store_.Get("shop", "fresh");
  EXPECT_EQ(s->ready.status, "Unknown");
  EXPECT_EQ(s->stalled.status, "True");
  EXPECT_EQ(s->reconciling.status, "False");
}

TEST_F(ResultsStoreTest, RemoveNotifiesAndForgets) {
  store_.UpsertCheck(Info());
  store_.RemoveCheck("shop", "orders");
  EXPECT_EQ(store_.Get("shop", "orders"), nullptr);
  EXPECT_EQ(notices_.back().second, Store::Change::kRemoved);
  store_.RecordResult("shop", "orders", "db", Result::Success(), St(Health::kHealthy, 1, 0));
  EXPECT_EQ(store_.size(), 0u);
}

TEST_F(ResultsStoreTest, ListFiltersByNamespace) {
  store_.UpsertCheck(Info());
  CheckInfo other = Info();
  other.ns = "billing";
  store_.UpsertCheck(other);
  EXPECT_EQ(store_.List().size(), 2u);
  ASSERT_EQ(store_.List("billing").size(), 1u);
  EXPECT_EQ(store_.List("billing")[0]->ns, "billing");
}

// A success payload that changes every run (SELECT now(), DBSIZE) is not a state:
// it must not notify the status writer, and the status shows no message for a
// healthy probe (it would otherwise be rewritten on every run).
TEST_F(ResultsStoreTest, VaryingSuccessMessageIsNotAVisibleChange) {
  store_.UpsertCheck(Info());
  store_.RecordResult("shop", "orders", "db", Result::Success("query returned \"10:00:01\""),
                      St(Health::kHealthy, 1, 0));
  const std::size_t notices = notices_.size();
  const auto version = store_.Get("shop", "orders")->visible_version;
  for (int i = 2; i < 20; ++i) {
    store_.RecordResult("shop", "orders", "db",
                        Result::Success("query returned \"10:00:" + std::to_string(i) + "\""),
                        St(Health::kHealthy, static_cast<std::uint32_t>(i), 0));
  }
  EXPECT_EQ(notices_.size(), notices);
  auto s = store_.Get("shop", "orders");
  EXPECT_EQ(s->visible_version, version);
  EXPECT_EQ(s->probes[0].message, "query returned \"10:00:19\"") << "the API keeps the payload";
  auto status = StatusJson(*s);
  EXPECT_EQ(status["probes"][0]["message"], "");
  for (const char* gone :
       {"latencyMs", "consecutiveSuccesses", "consecutiveFailures", "lastProbeTime"}) {
    EXPECT_FALSE(status["probes"][0].contains(gone)) << gone;
  }
  EXPECT_FALSE(status.contains("lastProbeTime"));
}

TEST_F(ResultsStoreTest, FailureMessagesStayVisible) {
  store_.UpsertCheck(Info());
  store_.RecordResult("shop", "orders", "db", Result::Failure(Reason::kConnect, "refused"),
                      St(Health::kUnhealthy, 0, 1));
  const std::size_t notices = notices_.size();
  store_.RecordResult("shop", "orders", "db", Result::Failure(Reason::kConnect, "reset"),
                      St(Health::kUnhealthy, 0, 2));
  EXPECT_EQ(notices_.size(), notices + 1);
  EXPECT_EQ(StatusJson(*store_.Get("shop", "orders"))["probes"][0]["message"], "reset");
}

// Kubernetes caps condition messages at 32,768 characters: 100 failing probes
// with long messages give a capped message that says how many were left out.
TEST_F(ResultsStoreTest, ConditionMessagesAreCappedWithACount) {
  CheckInfo info = Info();
  info.probes.clear();
  for (int i = 0; i < 100; ++i) info.probes.push_back(Probe("p" + std::to_string(i), "http", true));
  store_.UpsertCheck(info);
  for (int i = 0; i < 100; ++i) {
    store_.RecordResult("shop", "orders", "p" + std::to_string(i),
                        Result::Failure(Reason::kAssertion, std::string(1000, 'x')),
                        St(Health::kUnhealthy, 0, 1));
  }
  const auto s = store_.Get("shop", "orders");
  EXPECT_LE(s->ready.message.size(), 32768u);
  EXPECT_GT(s->ready.message.size(), 30000u);
  EXPECT_NE(s->ready.message.find("more probes)"), std::string::npos)
      << s->ready.message.substr(32000);
}

}  // namespace
}  // namespace healthgate::results
