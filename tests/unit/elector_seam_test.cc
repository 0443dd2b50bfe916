// The leader-election loop against the in-memory API and simulated waits: the
// retry period, the renew deadline and the lease duration pass only when the
// test advances the clock.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>

#include "common/wait.h"
#include "operator/leader/elector.h"
#include "tests/support/fake_kube.h"

namespace healthgate::leader {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::FakeKube;
using testing::Verb;

const kube::ResourceRef kLeases{"coordination.k8s.io", "v1", "leases", "hg"};
const std::string kLeasePath = "/apis/coordination.k8s.io/v1/namespaces/hg/leases/healthgate";

class ElectorLoop : public ::testing::Test {
 protected:
  ElectorLoop() : out_(std::tmpfile()), log_(LogLevel::kError, out_, waits_.clock()) {}
  ~ElectorLoop() override {
    elector_.Stop();
    std::fclose(out_);
  }
  void Start() { elector_.Start(); }
  // Waits until round `n` is done and the elector sleeps its retry period,
  // then advances the clock by it.
  void NextRound() {
    const auto done = elector_.rounds();
    ASSERT_TRUE(waits_.AwaitTimedBlocked(1));
    waits_.Advance(2s);
    ASSERT_TRUE(Eventually([&] { return elector_.rounds() > done; }));
  }
  void AwaitRounds(std::uint64_t n) {
    ASSERT_TRUE(Eventually([&] { return elector_.rounds() >= n; }));
  }
  std::string Holder() {
    auto l = kube_.Object(kLeases, "healthgate");
    return l ? l->value("/spec/holderIdentity"_json_pointer, std::string()) : "";
  }

  FakeKube kube_;
  common::SimWaits waits_;
  std::FILE* out_;
  Logger log_;
  std::atomic<int> started_{0}, lost_{0};
  Elector elector_{kube_,        "hg",
                   "healthgate", LeaseConfig{"me", 15s, 10s, 2s},
                   waits_,       nullptr,
                   log_,         Elector::Callbacks{[this] { ++started_; }, [this] { ++lost_; }}};
};

TEST_F(ElectorLoop, AcquiresAMissingLeaseAndRenewsItEveryRetryPeriod) {
  Start();
  AwaitRounds(1);
  EXPECT_TRUE(elector_.leading());
  EXPECT_EQ(started_, 1);
  EXPECT_EQ(Holder(), "me");
  EXPECT_EQ(kube_.Count(Verb::kCreate), 1u);
  const std::string first_renew =
      kube_.Object(kLeases, "healthgate")->value("/spec/renewTime"_json_pointer, std::string());
  NextRound();
  EXPECT_EQ(kube_.Count(Verb::kUpdate, kLeasePath), 1u);
  const auto calls = kube_.calls();
  EXPECT_FALSE(calls.back().resource_version.empty()) << "renewals carry the resourceVersion";
  EXPECT_NE(
      kube_.Object(kLeases, "healthgate")->value("/spec/renewTime"_json_pointer, std::string()),
      first_renew);
  EXPECT_TRUE(elector_.leading());
  EXPECT_EQ(started_, 1) << "a renewal is not a new term";
}

TEST_F(ElectorLoop, LosesAtOnceWhenAnotherReplicaHoldsTheLease) {
  Start();
  AwaitRounds(1);
  ASSERT_TRUE(elector_.leading());
  // Another replica wrote the lease (so our next write would conflict).
  auto lease = *kube_.Object(kLeases, "healthgate");
  lease["spec"]["holderIdentity"] = "other";
  kube_.Put(kLeases, lease);
  NextRound();
  EXPECT_FALSE(elector_.leading());
  EXPECT_EQ(lost_, 1);
  EXPECT_EQ(kube_.Count(Verb::kUpdate), 0u) << "a live lease of another is not written";
}

TEST_F(ElectorLoop, ConflictingRenewalsStepDownOnlyAfterTheRenewDeadline) {
  Start();
  AwaitRounds(1);
  kube_.FailAlways(Verb::kUpdate, kLeasePath, FakeKube::Conflict());
  for (int i = 0; i < 5; ++i) NextRound();  // t = 2 .. 10 s: within the deadline
  EXPECT_TRUE(elector_.leading());
  EXPECT_EQ(kube_.Count(Verb::kUpdate), 5u);
  NextRound();  // t = 12 s: 12 s since the last renewal > 10 s
  EXPECT_FALSE(elector_.leading());
  EXPECT_EQ(lost_, 1);
  kube_.ClearFaults();
  NextRound();  // the lease is still ours: we take it again
  EXPECT_TRUE(elector_.leading());
  EXPECT_EQ(started_, 2);
}

TEST_F(ElectorLoop, NeverLeadsWhileTheApiServerIsUnreachable) {
  kube_.Unreachable();
  Start();
  for (int i = 0; i < 10; ++i) {
    AwaitRounds(static_cast<std::uint64_t>(i) + 1);
    EXPECT_FALSE(elector_.leading());
    NextRound();
  }
  EXPECT_EQ(started_, 0);
  EXPECT_EQ(kube_.Count(Verb::kCreate), 0u);
  kube_.ClearFaults();
  NextRound();
  EXPECT_TRUE(elector_.leading());
}

TEST_F(ElectorLoop, ALeaderCutOffStepsDownAtTheRenewDeadline) {
  Start();
  AwaitRounds(1);
  kube_.Unreachable();
  for (int i = 0; i < 5; ++i) NextRound();
  EXPECT_TRUE(elector_.leading()) << "10 s without renewal is still within the deadline";
  NextRound();
  EXPECT_FALSE(elector_.leading());
  EXPECT_EQ(lost_, 1);
}

}  // namespace
}  // namespace healthgate::leader
