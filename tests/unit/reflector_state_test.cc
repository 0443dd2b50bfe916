// The reflector's list/watch/relist state machine against the in-memory API
// (tests/support/fake_kube.h) and simulated waits: every backoff is asserted to
// the millisecond, and time only moves when the test advances it.
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/wait.h"
#include "operator/kube/reflector.h"
#include "tests/support/fake_kube.h"

namespace healthgate::kube {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::Eventually;
using testing::FakeKube;
using testing::Verb;

const ResourceRef kMaps{"", "v1", "configmaps", "shop"};
const std::string kPath = "/api/v1/namespaces/shop/configmaps";

json Map(const std::string& name, const std::string& value = "v") {
  return json{{"metadata", {{"name", name}}}, {"data", {{"k", value}}}};
}

class ReflectorStateMachine : public ::testing::Test {
 protected:
  void Start(std::int64_t page_size = 500) {
    ReflectorOptions o;
    o.ref = kMaps;
    o.waits = &waits_;
    o.uniform = [] { return 0.0; };  // no jitter: exact delays
    o.page_size = page_size;
    ReflectorHandlers h;
    h.on_upsert = [this](const json& obj) {
      Record("upsert " + ObjectKey(obj) + "@" + ResourceVersionOf(obj));
    };
    h.on_delete = [this](const json& obj) { Record("delete " + ObjectKey(obj)); };
    h.on_synced = [this] { Record("synced"); };
    h.on_error = [this](const Error& e) { Record("error " + std::to_string(e.http_code)); };
    h.on_watch_restart = [this](bool relist) { Record(relist ? "restart relist" : "restart"); };
    reflector_ = std::make_unique<Reflector>(kube_, o, h);
    reflector_->Start();
  }
  void TearDown() override {
    if (reflector_) reflector_->Stop();
  }
  void Record(const std::string& s) {
    std::lock_guard lock(mu_);
    seen_.push_back(s);
  }
  std::vector<std::string> Seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  void ClearSeen() {
    std::lock_guard lock(mu_);
    seen_.clear();
  }
  bool WatchingWith(std::size_t watch_calls) {
    return Eventually([&] {
      return reflector_->state() == ReflectorState::kWatching && kube_.open_watches() == 1 &&
             kube_.Count(Verb::kWatch) == watch_calls;
    });
  }
  // The delay the reflector is waiting for right now (it must be in backoff).
  std::chrono::nanoseconds BackoffDelay() {
    EXPECT_TRUE(Eventually([&] { return reflector_->state() == ReflectorState::kBackoff; }));
    EXPECT_TRUE(waits_.AwaitTimedBlocked(1));
    auto next = waits_.NextDeadline();
    return next ? *next - waits_.clock().Now() : std::chrono::nanoseconds(-1);
  }
  std::string LastWatchVersion() {
    std::string rv = "none";
    for (const auto& c : kube_.calls())
      if (c.verb == Verb::kWatch) rv = c.resource_version;
    return rv;
  }

  FakeKube kube_;
  common::SimWaits waits_;
  std::unique_ptr<Reflector> reflector_;
  std::mutex mu_;
  std::vector<std::string> seen_;
};

TEST_F(ReflectorStateMachine, InitialListPagesThenWatchesFromTheListVersion) {
  kube_.Put(kMaps, Map("a"));
  kube_.Put(kMaps, Map("b"));
  kube_.Put(kMaps, Map("c"));
  const std::string list_rv = kube_.resource_version();
  EXPECT_EQ(ReflectorState::kEmpty, Reflector(kube_, {}, {}).state());
  Start(/*page_size=*/2);
  ASSERT_TRUE(WatchingWith(1));
  EXPECT_TRUE(reflector_->synced());
  EXPECT_EQ(kube_.Count(Verb::kList), 2u) << "3 objects in pages of 2";
  EXPECT_EQ(LastWatchVersion(), list_rv);
  EXPECT_EQ(reflector_->resource_version(), list_rv);
  EXPECT_EQ(reflector_->Items().size(), 3u);
  EXPECT_EQ(Seen(), (std::vector<std::string>{"upsert shop/a@101", "upsert shop/b@102",
                                              "upsert shop/c@103", "synced"}));
}

TEST_F(ReflectorStateMachine, WatchEventsReachTheStoreAndTheHandlers) {
  kube_.Put(kMaps, Map("a"));
  Start();
  ASSERT_TRUE(WatchingWith(1));
  ClearSeen();
  kube_.Put(kMaps, Map("b"));
  kube_.Put(kMaps, Map("a", "changed"));
  kube_.Remove(kMaps, "b");
  ASSERT_TRUE(Eventually([&] { return Seen().size() == 3; }));
  EXPECT_EQ(Seen(),
            (std::vector<std::string>{"upsert shop/b@102", "upsert shop/a@103", "delete shop/b"}));
  EXPECT_FALSE(reflector_->Find("shop/b"));
  EXPECT_EQ(reflector_->Find("shop/a")->at("data").at("k"), "changed");
  EXPECT_EQ(reflector_->resource_version(), "104");
  EXPECT_EQ(reflector_->state(), ReflectorState::kWatching);
}

TEST_F(ReflectorStateMachine, AStreamTheServerEndsResumesFromTheLastVersionWithoutRelisting) {
  Start();
  ASSERT_TRUE(WatchingWith(1));
  kube_.Put(kMaps, Map("a"));
  ASSERT_TRUE(Eventually([&] { return reflector_->resource_version() == "101"; }));
  kube_.CloseWatches();  // timeoutSeconds passed, after a healthy watch
  ASSERT_TRUE(WatchingWith(2));
  EXPECT_EQ(LastWatchVersion(), "101");
  EXPECT_EQ(kube_.Count(Verb::kList), 1u) << "a resume is not a relist";
  EXPECT_EQ(reflector_->watch_restarts(), 1u);
  EXPECT_EQ(reflector_->relists(), 0u);
  EXPECT_EQ(Seen().back(), "restart");
}

TEST_F(ReflectorStateMachine, AStreamEndedAtOnceWithoutEventsBacksOff) {
  Start();
  ASSERT_TRUE(WatchingWith(1));
  kube_.CloseWatches();  // no event, no time passed: a misbehaving server
  EXPECT_EQ(BackoffDelay(), 800ms);
  EXPECT_EQ(kube_.Count(Verb::kWatch), 1u) << "no new watch before the backoff passed";
  waits_.Advance(800ms);
  ASSERT_TRUE(WatchingWith(2));
}

TEST_F(ReflectorStateMachine, GoneRelistsAndReplacesTheStoreWithOnlyRealChanges) {
  kube_.Put(kMaps, Map("same"));
  kube_.Put(kMaps, Map("changed"));
  kube_.Put(kMaps, Map("gone"));
  Start();
  ASSERT_TRUE(WatchingWith(1));
  // The watch fails; while the reflector backs off, objects change and the
  // history is compacted, so its resume version is gone.
  kube_.FailWatches(FakeKube::ServerError(503));
  EXPECT_EQ(BackoffDelay(), 800ms);
  kube_.Put(kMaps, Map("changed", "2"));
  kube_.Remove(kMaps, "gone");
  kube_.Put(kMaps, Map("new"));
  kube_.Compact();
  ClearSeen();
  waits_.Advance(800ms);
  // Resume from 103 -> 410 -> relist at once (no backoff) -> watch from the list.
  ASSERT_TRUE(WatchingWith(3));
  EXPECT_EQ(kube_.Count(Verb::kList), 2u);
  EXPECT_EQ(reflector_->relists(), 1u);
  EXPECT_EQ(LastWatchVersion(), kube_.resource_version());
  EXPECT_EQ(Seen(), (std::vector<std::string>{"restart", "error 410", "delete shop/gone",
                                              "upsert shop/changed@104", "upsert shop/new@106",
                                              "restart relist"}))
      << "no event for the unchanged object";
  EXPECT_EQ(reflector_->Items().size(), 3u);
}

TEST_F(ReflectorStateMachine, ServerErrorsAndTimeoutsBackOffExponentially) {
  kube_.FailNext(Verb::kList, kPath, FakeKube::ServerError(500));
  kube_.FailNext(Verb::kList, kPath, FakeKube::ServerError(503));
  kube_.FailNext(Verb::kList, kPath, FakeKube::Timeout());
  Start();
  EXPECT_EQ(BackoffDelay(), 800ms);
  waits_.Advance(799ms);
  ASSERT_TRUE(kube_.AwaitCalls(Verb::kList, kPath, 1));
  EXPECT_EQ(kube_.Count(Verb::kList), 1u) << "not before the delay";
  waits_.Advance(1ms);
  ASSERT_TRUE(kube_.AwaitCalls(Verb::kList, kPath, 2));
  EXPECT_EQ(BackoffDelay(), 1600ms);
  waits_.Advance(1600ms);
  ASSERT_TRUE(kube_.AwaitCalls(Verb::kList, kPath, 3));
  EXPECT_EQ(BackoffDelay(), 3200ms);
  EXPECT_EQ(reflector_->last_backoff(), 3200ms);
  EXPECT_FALSE(reflector_->synced());
  waits_.Advance(3200ms);
  ASSERT_TRUE(WatchingWith(1));
  EXPECT_TRUE(reflector_->synced());
  EXPECT_EQ(Seen(), (std::vector<std::string>{"error 500", "error 503", "error 0", "synced"}));
}

TEST_F(ReflectorStateMachine, TooManyRequestsWaitsAtLeastTheRetryAfter) {
  kube_.FailNext(Verb::kList, kPath, FakeKube::TooManyRequests(7s));
  Start();
  EXPECT_EQ(BackoffDelay(), 7s) << "Retry-After beats the 800 ms backoff";
  waits_.Advance(6999ms);
  EXPECT_EQ(kube_.Count(Verb::kList), 1u);
  waits_.Advance(1ms);
  ASSERT_TRUE(WatchingWith(1));
  // The same on a failed watch.
  kube_.FailWatches(FakeKube::TooManyRequests(5s));
  EXPECT_EQ(BackoffDelay(), 5s);
  waits_.Advance(5s);
  ASSERT_TRUE(WatchingWith(2));
  EXPECT_EQ(kube_.Count(Verb::kList), 2u) << "a 429 on a watch resumes, it does not relist";
}

TEST_F(ReflectorStateMachine, ABookmarkAdvancesTheResumeVersion) {
  Start();
  ASSERT_TRUE(WatchingWith(1));
  const ResourceRef other{"", "v1", "secrets", "shop"};
  kube_.Put(other, Map("s1"));  // the version moves on elsewhere
  kube_.Put(other, Map("s2"));
  kube_.Bookmark(kMaps);
  ASSERT_TRUE(Eventually([&] { return reflector_->resource_version() == "102"; }));
  EXPECT_TRUE(Seen() == std::vector<std::string>{"synced"}) << "a bookmark is not an object";
  kube_.CloseWatches();
  ASSERT_TRUE(WatchingWith(2));
  EXPECT_EQ(LastWatchVersion(), "102");
}

TEST_F(ReflectorStateMachine, StopInterruptsABackoffWait) {
  kube_.FailAlways(Verb::kList, kPath, FakeKube::ServerError(503));
  Start();
  EXPECT_EQ(BackoffDelay(), 800ms);
  reflector_->Stop();
  EXPECT_EQ(reflector_->state(), ReflectorState::kStopped);
  EXPECT_EQ(kube_.Count(Verb::kList), 1u);
}

TEST_F(ReflectorStateMachine, StopInterruptsAnOpenWatch) {
  Start();
  ASSERT_TRUE(WatchingWith(1));
  reflector_->Stop();
  EXPECT_EQ(reflector_->state(), ReflectorState::kStopped);
  EXPECT_EQ(kube_.open_watches(), 0u);
}

}  // namespace
}  // namespace healthgate::kube
