// Pod readiness gates against the in-memory API and simulated waits: the pod
// condition is patched, a 409 is retried after the queue's backoff, a 404 (the
// pod is gone) is not retried.
#include <gtest/gtest.h>

#include <cstdio>
#include <mutex>
#include <vector>

#include "common/wait.h"
#include "operator/kube/time.h"
#include "operator/sinks/readiness_gates.h"
#include "tests/support/fake_kube.h"

namespace healthgate::sinks {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::Eventually;
using testing::FakeKube;
using testing::Verb;

const kube::ResourceRef kPods{"", "v1", "pods", "shop"};
const std::string kType = "healthgate.dev/orders";

json Pod(const std::string& name) {
  return json{{"metadata", {{"name", name}, {"labels", {{"app", "web"}}}}},
              {"spec", {{"readinessGates", json::array({{{"conditionType", kType}}})}}},
              {"status", {{"conditions", json::array()}}}};
}

std::string PodPath(const std::string& name) {
  return "/api/v1/namespaces/shop/pods/" + name + "/status";
}

std::string GateStatus(const std::optional<json>& pod) {
  if (!pod) return "no pod";
  for (const auto& c : pod->value("/status/conditions"_json_pointer, json::array()))
    if (c.value("type", "") == kType) return c.value("status", "") + "/" + c.value("reason", "");
  return "none";
}

class ReadinessGatesSeam : public ::testing::Test {
 protected:
  ReadinessGatesSeam()
      : out_(std::tmpfile()),
        log_(LogLevel::kError, out_, waits_.clock()),
        store_(waits_.clock()) {}
  ~ReadinessGatesSeam() override {
    gates_.Stop();
    std::fclose(out_);
  }
  void StartGate() {
    gates_.Start();
    v1alpha1::ReadinessGate g;
    g.pod_selector.match_labels = {{"app", "web"}};
    g.condition_type = kType;
    gates_.SetGate("shop", "orders", g);
  }
  FakeKube kube_;
  common::SimWaits waits_;
  std::FILE* out_;
  Logger log_;
  results::Store store_;
  ReadinessGates::Options Opts() {
    ReadinessGates::Options o;
    o.ns = "shop";
    o.retry_min = 500ms;
    o.retry_max = 30s;
    o.on_event = [this](const PodEvent& e) {
      std::lock_guard lock(events_mu_);
      events_.push_back(e);
    };
    return o;
  }
  std::vector<PodEvent> Events() {
    std::lock_guard lock(events_mu_);
    return events_;
  }
  std::mutex events_mu_;
  std::vector<PodEvent> events_;
  ReadinessGates gates_{kube_, store_, nullptr, log_, waits_, Opts()};
};

TEST_F(ReadinessGatesSeam, PatchesThePodConditionOnce) {
  kube_.Put(kPods, Pod("web-1"));
  StartGate();
  ASSERT_TRUE(kube_.AwaitCalls(Verb::kPatchStatus, PodPath("web-1"), 1));
  EXPECT_EQ(GateStatus(kube_.Object(kPods, "web-1")), "False/ProbesPending")
      << "no verdict yet: the pod stays out of its Services";
  for (const auto& c : kube_.calls())
    if (c.verb == Verb::kPatchStatus) {
      EXPECT_EQ(c.patch_type, kube::PatchType::kStrategicMerge);
    }
  // The patched pod comes back through the watch and compares equal.
  ASSERT_TRUE(Eventually([&] {
    auto p = gates_.pod_reflector() ? gates_.pod_reflector()->Find("shop/web-1") : std::nullopt;
    return p && GateStatus(p) == "False/ProbesPending" && gates_.pending() == 0;
  }));
  EXPECT_EQ(kube_.Count(Verb::kPatchStatus), 1u);
}

TEST_F(ReadinessGatesSeam, AConflictIsRetriedAfterTheBackoff) {
  kube_.Put(kPods, Pod("web-1"));
  kube_.FailNext(Verb::kPatchStatus, PodPath("web-1"), FakeKube::Conflict());
  StartGate();
  ASSERT_TRUE(kube_.AwaitCalls(Verb::kPatchStatus, PodPath("web-1"), 1));
  ASSERT_TRUE(Eventually([&] { return gates_.pending() == 1; })) << "queued for a retry";
  EXPECT_EQ(GateStatus(kube_.Object(kPods, "web-1")), "none");
  ASSERT_TRUE(waits_.AwaitTimedBlocked(1));
  EXPECT_EQ(*waits_.NextDeadline() - waits_.clock().Now(), 500ms) << "retry_min";
  waits_.Advance(500ms);
  ASSERT_TRUE(kube_.AwaitCalls(Verb::kPatchStatus, PodPath("web-1"), 2));
  EXPECT_EQ(GateStatus(kube_.Object(kPods, "web-1")), "False/ProbesPending");
}

TEST_F(ReadinessGatesSeam, AGonePodIsNotRetried) {
  kube_.Put(kPods, Pod("web-1"));
  kube_.FailNext(Verb::kPatchStatus, PodPath("web-1"), FakeKube::NotFound());
  StartGate();
  ASSERT_TRUE(kube_.AwaitCalls(Verb::kPatchStatus, PodPath("web-1"), 1));
  waits_.Advance(1min);            // past any retry delay
  kube_.Put(kPods, Pod("web-2"));  // a later reconcile, to know the worker moved on
  ASSERT_TRUE(kube_.AwaitCalls(Verb::kPatchStatus, PodPath("web-2"), 1));
  EXPECT_EQ(kube_.Count(Verb::kPatchStatus, PodPath("web-1")), 1u);
}

// failOpenAfter: a pod still gated that long is released with reason FailOpen
// and one Warning Event, on the simulated clock (no verdict ever arrives).
TEST_F(ReadinessGatesSeam, AGatedPodFailsOpenAfterItsDurationWithOneWarningEvent) {
  json pod = Pod("web-1");
  pod["metadata"]["creationTimestamp"] = kube::Time(waits_.clock().WallNow());
  pod["metadata"]["uid"] = "uid-web-1";
  kube_.Put(kPods, pod);
  gates_.Start();
  v1alpha1::ReadinessGate g;
  g.pod_selector.match_labels = {{"app", "web"}};
  g.condition_type = kType;
  g.fail_open_after = 10s;
  gates_.SetGate("shop", "orders", g);
  ASSERT_TRUE(kube_.AwaitCalls(Verb::kPatchStatus, PodPath("web-1"), 1));
  EXPECT_EQ(GateStatus(kube_.Object(kPods, "web-1")), "False/ProbesPending");
  EXPECT_TRUE(Events().empty()) << "a first False is not a transition";
  ASSERT_TRUE(waits_.AwaitTimedBlocked(1));
  waits_.Advance(10s);
  ASSERT_TRUE(kube_.AwaitCalls(Verb::kPatchStatus, PodPath("web-1"), 2));
  EXPECT_EQ(GateStatus(kube_.Object(kPods, "web-1")), "True/FailOpen");
  ASSERT_TRUE(Eventually([&] { return Events().size() == 1; }));
  const PodEvent e = Events()[0];
  EXPECT_EQ(e.name, "web-1");
  EXPECT_EQ(e.uid, "uid-web-1");
  EXPECT_EQ(e.event.type, "Warning");
  EXPECT_EQ(e.event.reason, "ReadinessGateFailOpen");
  waits_.Advance(1min);
  EXPECT_EQ(kube_.Count(Verb::kPatchStatus, PodPath("web-1")), 2u)
      << "True latches: no more writes";
}

}  // namespace
}  // namespace healthgate::sinks
