#include "operator/sinks/readiness_gates.h"

#include <gtest/gtest.h>

namespace healthgate::sinks {
namespace {
using nlohmann::json;

v1alpha1::LabelSelector Selector(std::map<std::string, std::string> labels,
                                 std::vector<v1alpha1::LabelSelectorRequirement> exprs = {}) {
  v1alpha1::LabelSelector s;
  s.match_labels = std::move(labels);
  s.match_expressions = std::move(exprs);
  return s;
}

TEST(ReadinessGateSelector, MatchLabelsAndExpressions) {
  const json labels{{"app", "orders"}, {"tier", "web"}};
  EXPECT_TRUE(SelectorMatches(Selector({{"app", "orders"}}), labels));
  EXPECT_FALSE(SelectorMatches(Selector({{"app", "billing"}}), labels));
  EXPECT_FALSE(SelectorMatches(Selector({{"app", "orders"}, {"zone", "a"}}), labels));
  EXPECT_TRUE(SelectorMatches(Selector({}), labels)) << "empty selects every pod";
  EXPECT_TRUE(SelectorMatches(Selector({}), json())) << "a pod without labels";

  EXPECT_TRUE(SelectorMatches(Selector({}, {{"tier", "In", {"web", "api"}}}), labels));
  EXPECT_FALSE(SelectorMatches(Selector({}, {{"tier", "In", {"api"}}}), labels));
  EXPECT_FALSE(SelectorMatches(Selector({}, {{"tier", "NotIn", {"web"}}}), labels));
  EXPECT_TRUE(SelectorMatches(Selector({}, {{"zone", "NotIn", {"a"}}}), labels));
  EXPECT_TRUE(SelectorMatches(Selector({}, {{"app", "Exists", {}}}), labels));
  EXPECT_FALSE(SelectorMatches(Selector({}, {{"zone", "Exists", {}}}), labels));
  EXPECT_TRUE(SelectorMatches(Selector({}, {{"zone", "DoesNotExist", {}}}), labels));
  EXPECT_FALSE(SelectorMatches(Selector({}, {{"app", "DoesNotExist", {}}}), labels));
  EXPECT_FALSE(SelectorMatches(Selector({{"app", "orders"}}, {{"tier", "In", {"api"}}}), labels))
      << "labels and expressions must all match";
}

json Pod(const json& conditions, const json& gates) {
  return json{{"metadata", {{"namespace", "shop"}, {"name", "orders-1"}}},
              {"spec", {{"readinessGates", gates}}},
              {"status", {{"conditions", conditions}}}};
}

TEST(ReadinessGatePod, OnlyPodsListingTheTypeAreGated) {
  auto pod = Pod(json::array(), json::array({{{"conditionType", "healthgate.dev/orders"}}}));
  EXPECT_TRUE(PodHasGate(pod, "healthgate.dev/orders"));
  EXPECT_FALSE(PodHasGate(pod, "healthgate.dev/billing"));
  EXPECT_FALSE(PodHasGate(json{{"spec", json::object()}}, "healthgate.dev/orders"));
}

TEST(ReadinessGatePod, PatchSetsTheConditionOnlyWhenItDiffers) {
  const std::string type = "healthgate.dev/orders";
  const GateCondition ready{"True", "Ready", "all 2 critical probes healthy"};
  auto pod = Pod(json::array({{{"type", "Ready"}, {"status", "False"}}}), json::array());
  auto patch = PodConditionPatch(pod, type, ready, "2026-11-26T12:00:00Z");
  ASSERT_TRUE(patch);
  const json& c = (*patch)["status"]["conditions"][0];
  EXPECT_EQ(c["type"], type);
  EXPECT_EQ(c["status"], "True");
  EXPECT_EQ(c["reason"], "Ready");
  EXPECT_EQ(c["lastTransitionTime"], "2026-11-26T12:00:00Z");
  EXPECT_EQ((*patch)["status"]["conditions"].size(), 1u) << "other conditions untouched";

  // Applied: the same wish is a no-op.
  json applied = c;
  auto pod2 = Pod(json::array({applied}), json::array());
  EXPECT_FALSE(PodConditionPatch(pod2, type, ready, "2026-11-26T12:05:00Z"));

  // Same status, new message: the transition time stays.
  auto again = PodConditionPatch(pod2, type, {"True", "Ready", "all 3 critical probes healthy"},
                                 "2026-11-26T12:05:00Z");
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)["status"]["conditions"][0]["lastTransitionTime"], "2026-11-26T12:00:00Z");

  // A real transition gets the new time.
  auto down = PodConditionPatch(pod2, type, {"False", "ProbeFailing", "cache: refused"},
                                "2026-11-26T12:06:00Z");
  ASSERT_TRUE(down);
  EXPECT_EQ((*down)["status"]["conditions"][0]["lastTransitionTime"], "2026-11-26T12:06:00Z");
  EXPECT_EQ((*down)["status"]["conditions"][0]["message"], "cache: refused");
}

TEST(ReadinessGatePod, TheCacheKeepsOnlyWhatGatesRead) {
  json pod = Pod(json::array({{{"type", "healthgate.dev/orders"}, {"status", "True"}}}),
                 json::array({{{"conditionType", "healthgate.dev/orders"}}}));
  pod["metadata"]["labels"] = {{"app", "orders"}};
  pod["metadata"]["resourceVersion"] = "42";
  pod["metadata"]["annotations"] = {{"big", std::string(4096, 'x')}};
  pod["spec"]["containers"] = json::array({{{"name", "app"}, {"image", "orders:1"}}});
  pod["status"]["phase"] = "Running";
  json view = GatePodView(pod);
  EXPECT_EQ(view["metadata"], (json{{"namespace", "shop"},
                                    {"name", "orders-1"},
                                    {"resourceVersion", "42"},
                                    {"labels", {{"app", "orders"}}}}));
  EXPECT_EQ(view["spec"], (json{{"readinessGates", pod["spec"]["readinessGates"]}}));
  EXPECT_EQ(view["status"], (json{{"conditions", pod["status"]["conditions"]}}));
  EXPECT_TRUE(PodHasGate(view, "healthgate.dev/orders"));

  json plain{{"metadata",
              {{"namespace", "shop"},
               {"name", "web-1"},
               {"resourceVersion", "7"},
               {"labels", {{"app", "web"}}}}},
             {"spec", {{"containers", json::array()}}}};
  EXPECT_EQ(
      GatePodView(plain),
      (json{{"metadata", {{"namespace", "shop"}, {"name", "web-1"}, {"resourceVersion", "7"}}}}))
      << "a pod without gates is kept as its identity only";
}

TEST(ReadinessGateCondition, FromTheCheckAndCombined) {
  results::CheckSnapshot s;
  s.ready.status = "True";
  s.ready.reason = "AllCriticalProbesHealthy";
  s.ready.message = "all 1 critical probes healthy";
  EXPECT_EQ(GateConditionFor(s), (GateCondition{"True", "Ready", "all 1 critical probes healthy"}));
  s.ready.status = "Unknown";
  s.ready.reason = "ProbesPending";
  s.ready.message = "waiting for a verdict from: db";
  const GateCondition pending = GateConditionFor(s);
  EXPECT_EQ(pending.status, "False") << "a pod is not ready before its dependencies are";
  EXPECT_EQ(pending.reason, "ProbesPending");

  const GateCondition up{"True", "Ready", "a"};
  const GateCondition down{"False", "ProbeFailing", "b"};
  const auto combine = [](const GateCondition& a, const GateCondition& b) {
    return CombineDecisions(
        {GateDecision{a, std::nullopt, false}, GateDecision{b, std::nullopt, false}});
  };
  EXPECT_EQ(combine(up, up), up);
  EXPECT_EQ(combine(up, down), down);
  EXPECT_EQ(combine(down, up), down);
}

results::CheckSnapshot CheckAt(const char* status, std::optional<WallTime> probed) {
  results::CheckSnapshot s;
  s.ready.status = status;
  s.ready.reason = std::string(status) == "True" ? "AllCriticalProbesHealthy" : "ProbeFailing";
  s.ready.message = std::string(status) == "True" ? "healthy" : "db: connection refused";
  results::ProbeRecord r;
  r.info =
      std::make_shared<const results::ProbeInfo>(results::ProbeInfo{"db", "redis", true, "", ""});
  r.last_probe_time = probed;
  s.probes.push_back(r);
  return s;
}

const WallTime kCreated{std::chrono::seconds(1'800'000'000)};

PodGate PodIn(const char* status) {
  PodGate p;
  p.created = p.gated_since = kCreated;
  if (status) p.current = GateCondition{status, "x", "y"};
  return p;
}

TEST(ReadinessGateDecision, RolloutReleasesOnAVerdictNewerThanThePodThenLatches) {
  v1alpha1::ReadinessGate g;  // mode Rollout by default
  const auto later = kCreated + std::chrono::seconds(3);
  auto stale = CheckAt("True", kCreated - std::chrono::seconds(1));
  auto d = DecideGate(g, "shop/orders", &stale, PodIn(nullptr), false, later);
  ASSERT_TRUE(d.want);
  EXPECT_EQ(d.want->status, "False") << "Ready on results older than the pod";
  EXPECT_TRUE(d.await_verdict);
  auto fresh = CheckAt("True", kCreated + std::chrono::seconds(2));
  d = DecideGate(g, "shop/orders", &fresh, PodIn("False"), false, later);
  ASSERT_TRUE(d.want);
  EXPECT_EQ(d.want->status, "True");
  auto down = CheckAt("False", later);
  d = DecideGate(g, "shop/orders", &down, PodIn("True"), true, later);
  EXPECT_FALSE(d.want) << "a serving pod is never pulled in Rollout mode";
  d = DecideGate(g, "shop/orders", &down, PodIn(nullptr), true, later);
  ASSERT_TRUE(d.want);
  EXPECT_EQ(d.want->status, "False") << "a pod created while the dependency is down waits";
  EXPECT_EQ(d.want->reason, "ProbeFailing");
}

TEST(ReadinessGateDecision, ContinuousClosesOnlyWithinTheBudget) {
  v1alpha1::ReadinessGate g;
  g.mode = v1alpha1::GateMode::kContinuous;
  auto down = CheckAt("False", kCreated);
  auto d = DecideGate(g, "shop/orders", &down, PodIn("True"), true, kCreated);
  ASSERT_TRUE(d.want);
  EXPECT_EQ(d.want->status, "False");
  d = DecideGate(g, "shop/orders", &down, PodIn("True"), false, kCreated);
  EXPECT_FALSE(d.want) << "maxUnavailable reached: the pod stays True";
  auto up = CheckAt("True", kCreated - std::chrono::seconds(5));
  d = DecideGate(g, "shop/orders", &up, PodIn("False"), false, kCreated);
  ASSERT_TRUE(d.want);
  EXPECT_EQ(d.want->status, "True") << "Continuous follows Ready, fresh or not";
}

TEST(ReadinessGateDecision, FailOpenAfterItsDurationOnly) {
  v1alpha1::ReadinessGate g;
  g.fail_open_after = std::chrono::minutes(10);
  auto down = CheckAt("False", kCreated);
  auto d = DecideGate(g, "shop/orders", &down, PodIn("False"), false,
                      kCreated + std::chrono::minutes(9));
  ASSERT_TRUE(d.want);
  EXPECT_EQ(d.want->status, "False");
  EXPECT_EQ(d.recheck_at, kCreated + std::chrono::minutes(10));
  d = DecideGate(g, "shop/orders", &down, PodIn("False"), false,
                 kCreated + std::chrono::minutes(10));
  ASSERT_TRUE(d.want);
  EXPECT_EQ(d.want->status, "True");
  EXPECT_EQ(d.want->reason, "FailOpen");
  EXPECT_NE(d.want->message.find("db: connection refused"), std::string::npos) << d.want->message;
  // Continuous: a failed-open pod is not closed again while the check is still down.
  g.mode = v1alpha1::GateMode::kContinuous;
  PodGate open = PodIn("True");
  open.current->reason = "FailOpen";
  EXPECT_FALSE(DecideGate(g, "shop/orders", &down, open, true, kCreated).want);
}

TEST(ReadinessGateDecision, MaxUnavailablePercentagesRoundDown) {
  EXPECT_EQ((v1alpha1::IntOrPercent{25, true}).Of(3), 0);
  EXPECT_EQ((v1alpha1::IntOrPercent{25, true}).Of(4), 1);
  EXPECT_EQ((v1alpha1::IntOrPercent{99, true}).Of(10), 9) << "below 100% never covers every pod";
  EXPECT_EQ((v1alpha1::IntOrPercent{2, false}).Of(10), 2);
}

TEST(ReadinessGateDecision, EventsOnTransitionsOnly) {
  const GateCondition up{"True", "Ready", "healthy"};
  const GateCondition open{"True", "FailOpen", "released"};
  const GateCondition down{"False", "ProbeFailing", "refused"};
  EXPECT_FALSE(TransitionEvent(std::nullopt, down, "t")) << "a first False";
  EXPECT_FALSE(TransitionEvent(down, GateCondition{"False", "ProbesPending", "z"}, "t"));
  EXPECT_EQ(TransitionEvent(down, up, "t")->reason, "ReadinessGateReleased");
  EXPECT_EQ(TransitionEvent(down, up, "t")->type, "Normal");
  EXPECT_EQ(TransitionEvent(std::nullopt, open, "t")->reason, "ReadinessGateFailOpen");
  EXPECT_EQ(TransitionEvent(up, down, "t")->reason, "ReadinessGateClosed");
  EXPECT_EQ(TransitionEvent(up, down, "t")->type, "Warning");
  EXPECT_FALSE(TransitionEvent(up, open, "t"));
}

}  // namespace
}  // namespace healthgate::sinks
