#include "operator/leader/lease.h"

#include <gtest/gtest.h>

namespace healthgate::leader {
namespace {
using namespace std::chrono_literals;

healthgate::MonoTime At(std::chrono::milliseconds ms) { return healthgate::MonoTime{ms}; }

LeaseConfig Config(const std::string& id) {
  LeaseConfig c;
  c.identity = id;
  c.lease_duration = 15s;
  c.renew_deadline = 10s;
  c.retry_period = 2s;
  return c;
}

LeaseRecord Held(const std::string& holder, const std::string& renew, std::int64_t duration = 15) {
  return LeaseRecord{holder, duration, "2026-01-01T00:00:00.000000Z", renew, 3};
}

TEST(Lease, NoLeaseMeansCreate) {
  ElectorState s;
  EXPECT_EQ(Decide(s, std::nullopt, Config("a"), At(0ms)), Action::kCreate);
}

TEST(Lease, OwnLeaseIsRenewed) {
  ElectorState s;
  EXPECT_EQ(Decide(s, Held("a", "t1"), Config("a"), At(0ms)), Action::kRenew);
}

TEST(Lease, ReleasedLeaseIsTakenAtOnce) {
  ElectorState s;
  EXPECT_EQ(Decide(s, Held("", "t1"), Config("b"), At(0ms)), Action::kAcquire);
}

TEST(Lease, ForeignLeaseExpiresByOurOwnClockSinceItLastChanged) {
  ElectorState s;
  auto cfg = Config("b");
  EXPECT_EQ(Decide(s, Held("a", "t1"), cfg, At(0ms)), Action::kWait);
  EXPECT_EQ(Decide(s, Held("a", "t1"), cfg, At(14999ms)), Action::kWait);
  // The holder renews: the clock starts again from this observation.
  EXPECT_EQ(Decide(s, Held("a", "t2"), cfg, At(14999ms)), Action::kWait);
  EXPECT_EQ(Decide(s, Held("a", "t2"), cfg, At(29998ms)), Action::kWait);
  EXPECT_EQ(Decide(s, Held("a", "t2"), cfg, At(29999ms)), Action::kAcquire);
}

TEST(Lease, HolderDurationWinsOverOurs) {
  ElectorState s;
  auto cfg = Config("b");
  EXPECT_EQ(Decide(s, Held("a", "t1", 5), cfg, At(0ms)), Action::kWait);
  EXPECT_EQ(Decide(s, Held("a", "t1", 5), cfg, At(5000ms)), Action::kAcquire);
}

TEST(Lease, NextRecordCountsTransitionsOnlyOnTakeover) {
  auto cfg = Config("b");
  healthgate::WallTime wall{std::chrono::seconds(1'800'000'000) + 123456us};
  auto renew = NextRecord(Action::kRenew, Held("b", "x"), cfg, wall);
  EXPECT_EQ(renew.transitions, 3);
  EXPECT_EQ(renew.acquire_time, "2026-01-01T00:00:00.000000Z");
  EXPECT_EQ(renew.renew_time, "2027-01-15T08:00:00.123456Z");
  auto take = NextRecord(Action::kAcquire, Held("a", "x"), cfg, wall);
  EXPECT_EQ(take.holder, "b");
  EXPECT_EQ(take.transitions, 4);
  EXPECT_EQ(take.acquire_time, take.renew_time);
  EXPECT_EQ(take.lease_duration_seconds, 15);
  auto created = NextRecord(Action::kCreate, std::nullopt, cfg, wall);
  EXPECT_EQ(created.transitions, 0);
}

TEST(Lease, LeaderStepsDownWhenItCannotRenewInTime) {
  ElectorState s;
  s.leading = true;
  s.last_renew = At(1000ms);
  auto cfg = Config("a");
  EXPECT_FALSE(MustStepDown(s, cfg, At(11000ms)));
  EXPECT_TRUE(MustStepDown(s, cfg, At(11001ms)));
  s.leading = false;
  EXPECT_FALSE(MustStepDown(s, cfg, At(99000ms)));
}

TEST(Lease, RecordRoundTripsThroughTheLeaseObject) {
  auto r = Held("pod-1", "2026-11-26T10:00:00.000001Z");
  nlohmann::json lease = {
      {"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"}, {"spec", LeaseSpec(r)}};
  EXPECT_EQ(RecordFromLease(lease), r);
  EXPECT_EQ(RecordFromLease(nlohmann::json::object()), LeaseRecord{});
}

}  // namespace
}  // namespace healthgate::leader
