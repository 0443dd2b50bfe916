#include "probes/engine/scheduler.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <vector>

#include "probes/engine/timers.h"

namespace healthgate::probes {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Returns the given values in turn, then 0.5 forever.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::deque<double> values) : values_(std::move(values)) {}
  double Uniform() override {
    if (values_.empty()) return 0.5;
    double v = values_.front();
    values_.pop_front();
    return v;
  }

 private:
  std::deque<double> values_;
};

// A prober whose attempts stay in flight until the test completes them.
class ManualProber final : public Prober {
 public:
  struct Pending {
    DoneFn done;
    bool alive = true;
  };
  class Session final : public ProbeSession {
   public:
    explicit Session(std::shared_ptr<Pending> p) : p_(std::move(p)) {}
    ~Session() override { p_->alive = false; }
    std::string_view Phase() const override { return "connect"; }

   private:
    std::shared_ptr<Pending> p_;
  };

  std::unique_ptr<ProbeSession> Start(const Target& target, DoneFn done) override {
    auto p = std::make_shared<Pending>();
    p->done = std::move(done);
    starts.push_back({std::get<TcpConfig>(target).host, p});
    return std::make_unique<Session>(p);
  }

  // Completes the oldest live attempt for `host`.
  bool Complete(const std::string& host, bool healthy) {
    for (auto& [h, p] : starts) {
      if (h == host && p->alive && p->done) {
        DoneFn fn = std::move(p->done);
        p->done = nullptr;
        fn(healthy ? Result::Success() : Result::Failure(Reason::kConnect, "refused"));
        return true;
      }
    }
    return false;
  }

  std::vector<std::pair<std::string, std::shared_ptr<Pending>>> starts;
};

ProbeDefinition Def(const std::string& key, Duration interval = seconds(10),
                    Duration timeout = seconds(2)) {
  ProbeDefinition d;
  d.key = key;
  d.target = std::make_shared<const Target>(TcpConfig{key, 1, "", std::nullopt});
  d.interval = interval;
  d.timeout = timeout;
  return d;
}

struct Recorded {
  std::string key;
  Reason reason;
  Health after;
  MonoTime planned;
  MonoTime started;
  MonoTime at;
};

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() : timers_(clock_) {}

  Scheduler& Make(std::deque<double> randoms, double jitter = 0.0) {
    random_ = std::make_unique<ScriptedRandom>(std::move(randoms));
    scheduler_ = std::make_unique<Scheduler>(
        timers_, clock_, *random_, prober_,
        [this](const ProbeEvent& e) {
          events_.push_back(
              {e.key, e.result.reason, e.after.health, e.planned, e.started, clock_.Now()});
        },
        Scheduler::Options{jitter});
    return *scheduler_;
  }

  std::vector<MonoTime> StartTimes(const std::string& key) {
    std::vector<MonoTime> out;
    for (const auto& e : events_) {
      if (e.key == key) out.push_back(e.started);
    }
    return out;
  }

  SimClock clock_;
  SimTimers timers_;
  std::unique_ptr<Random> random_;
  ManualProber prober_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<Recorded> events_;
  MonoTime t0_ = MonoTime{};
};

TEST_F(SchedulerTest, FirstRunsSpreadAcrossTheIntervalThenExactPeriod) {
  Scheduler& s = Make({0.0, 0.25, 0.5});
  s.Upsert(Def("a"));
  s.Upsert(Def("b"));
  s.Upsert(Def("c"));
  // Complete every attempt right when it starts.
  for (int step = 0; step < 400; ++step) {
    timers_.Advance(milliseconds(100));
    for (const char* k : {"a", "b", "c"}) prober_.Complete(k, true);
  }
  // Advance 40 s: a runs at 0,10,20,30,40 ; b at 2.5,...,32.5 ; c at 5,...,35.
  auto a = StartTimes("a");
  auto b = StartTimes("b");
  ASSERT_GE(a.size(), 4u);
  EXPECT_EQ(a[0], t0_ + seconds(0));
  EXPECT_EQ(a[1], t0_ + seconds(10));
  EXPECT_EQ(a[3], t0_ + seconds(30));
  EXPECT_EQ(b[0], t0_ + milliseconds(2500));
  EXPECT_EQ(b[1], t0_ + milliseconds(12500));
  EXPECT_EQ(StartTimes("c")[0], t0_ + seconds(5));
}

TEST_F(SchedulerTest, EqualDefinitionKeepsScheduleAndAdoptsTheNewTarget) {
  Scheduler& s = Make({0.0, 0.9});
  ProbeDefinition first = Def("a");
  std::weak_ptr<const Target> old_target = first.target;
  EXPECT_TRUE(s.Upsert(std::move(first)));
  timers_.Advance(seconds(1));
  ASSERT_EQ(prober_.starts.size(), 1u);
  prober_.Complete("a", true);
  // The same probe from a re-read spec: another object with equal contents.
  ProbeDefinition again = Def("a");
  const Target* new_target = again.target.get();
  EXPECT_FALSE(s.Upsert(std::move(again))) << "equal definition: nothing changes";
  EXPECT_TRUE(old_target.expired()) << "the previous copy is released";
  timers_.Advance(seconds(9));
  ASSERT_EQ(prober_.starts.size(), 2u) << "schedule kept: next run at 10 s, not re-spread";
  EXPECT_EQ(std::get<TcpConfig>(*new_target).host, "a");
  prober_.Complete("a", true);
  EXPECT_EQ(StartTimes("a"), (std::vector<MonoTime>{t0_, t0_ + seconds(10)}));
  // A changed target is a new definition: fresh schedule.
  ProbeDefinition changed = Def("a");
  changed.target = std::make_shared<const Target>(TcpConfig{"a", 2, "", std::nullopt});
  EXPECT_TRUE(s.Upsert(std::move(changed)));
}

TEST_F(SchedulerTest, InitialDelayComesBeforeTheSpread) {
  Scheduler& s = Make({0.5});
  ProbeDefinition d = Def("a");
  d.initial_delay = seconds(3);
  s.Upsert(d);
  timers_.Advance(milliseconds(7999));
  EXPECT_TRUE(prober_.starts.empty());
  timers_.Advance(milliseconds(1));
  ASSERT_EQ(prober_.starts.size(), 1u);
  prober_.Complete("a", true);
  EXPECT_EQ(events_.at(0).started, t0_ + seconds(8));
}

TEST_F(SchedulerTest, JitterStaysWithinBoundsAndDoesNotDrift) {
  // First run at 0; jitter draws: 0.0 -> -10%, 1.0 -> +10%, 0.5 -> 0.
  Scheduler& s = Make({0.0, 0.0, 1.0, 0.5}, 0.1);
  s.Upsert(Def("a"));
  for (int i = 0; i < 400; ++i) {
    timers_.Advance(milliseconds(100));
    prober_.Complete("a", true);
  }
  auto a = StartTimes("a");
  ASSERT_GE(a.size(), 4u);
  EXPECT_EQ(a[0], t0_);
  EXPECT_EQ(a[1], t0_ + seconds(9));   // 10 s - 1 s
  EXPECT_EQ(a[2], t0_ + seconds(21));  // 20 s + 1 s
  EXPECT_EQ(a[3], t0_ + seconds(30));  // 30 s, no drift from the earlier jitter
}

TEST_F(SchedulerTest, DeadlineCancelsTheAttemptAndReportsTimeoutWithPhase) {
  Scheduler& s = Make({0.0});
  s.Upsert(Def("a", seconds(10), milliseconds(200)));
  timers_.Advance(milliseconds(199));
  EXPECT_TRUE(events_.empty());
  timers_.Advance(milliseconds(1));
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].reason, Reason::kTimeout);
  EXPECT_EQ(events_[0].at, t0_ + milliseconds(200));
  EXPECT_FALSE(prober_.starts[0].second->alive) << "session destroyed on deadline";
  EXPECT_FALSE(prober_.Complete("a", true)) << "a cancelled attempt cannot report";
}

TEST_F(SchedulerTest, AnAttemptInFlightIsNotStacked) {
  Scheduler& s = Make({0.0});
  // Timeout equal to the interval would be rejected by validation; the engine
  // must still never stack attempts if a deadline is long.
  s.Upsert(Def("a", seconds(1), seconds(5)));
  timers_.Advance(milliseconds(3500));
  EXPECT_EQ(prober_.starts.size(), 1u);
  EXPECT_EQ(s.skipped_runs(), 3u);
  prober_.Complete("a", true);
  timers_.Advance(milliseconds(500));  // run planned at 4 s starts
  EXPECT_EQ(prober_.starts.size(), 2u);
}

TEST_F(SchedulerTest, LatenessIsStartMinusPlan) {
  Scheduler& s = Make({0.0});
  s.Upsert(Def("a"));
  timers_.Advance(seconds(1));
  prober_.Complete("a", true);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].planned, t0_);
  EXPECT_EQ(events_[0].started, t0_);
}

TEST_F(SchedulerTest, ThresholdsApplyAcrossRuns) {
  Scheduler& s = Make({0.0});
  ProbeDefinition d = Def("a", seconds(1), milliseconds(500));
  d.thresholds = {1, 2};
  s.Upsert(d);
  std::vector<Health> seen;
  for (bool ok : {true, false, false, true}) {
    timers_.Advance(milliseconds(1));
    prober_.Complete("a", ok);
    seen.push_back(events_.back().after);
    timers_.Advance(milliseconds(999));
  }
  EXPECT_EQ(seen, (std::vector<Health>{Health::kHealthy, Health::kHealthy, Health::kUnhealthy,
                                       Health::kHealthy}));
}

TEST_F(SchedulerTest, IdenticalUpsertKeepsStateChangedUpsertRestarts) {
  Scheduler& s = Make({0.0, 0.0});
  s.Upsert(Def("a"));
  timers_.Advance(milliseconds(1));
  prober_.Complete("a", true);
  EXPECT_FALSE(s.Upsert(Def("a")));
  timers_.Advance(seconds(10));
  prober_.Complete("a", true);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[1].started, t0_ + seconds(10)) << "schedule kept";
  EXPECT_TRUE(s.Upsert(Def("a", seconds(5))));
  EXPECT_EQ(s.size(), 1u);
}

TEST_F(SchedulerTest, RemoveCancelsInFlightAttemptSilently) {
  Scheduler& s = Make({0.0});
  s.Upsert(Def("a"));
  timers_.Advance(milliseconds(1));
  ASSERT_EQ(prober_.starts.size(), 1u);
  s.Remove("a");
  EXPECT_FALSE(prober_.starts[0].second->alive);
  timers_.Advance(seconds(60));
  EXPECT_TRUE(events_.empty());
  EXPECT_EQ(prober_.starts.size(), 1u);
}

TEST_F(SchedulerTest, SinkMayRemoveTheReportingProbe) {
  random_ = std::make_unique<ScriptedRandom>(std::deque<double>{0.0});
  scheduler_ = std::make_unique<
      Scheduler>(timers_, clock_, *random_, prober_, [this](const ProbeEvent& e) {
    events_.push_back({e.key, e.result.reason, e.after.health, e.planned, e.started, clock_.Now()});
    scheduler_->Remove(e.key);
  });
  scheduler_->Upsert(Def("a"));
  timers_.Advance(milliseconds(1));
  prober_.Complete("a", true);
  EXPECT_EQ(scheduler_->size(), 0u);
  EXPECT_EQ(events_.size(), 1u);
}

}  // namespace
}  // namespace healthgate::probes
