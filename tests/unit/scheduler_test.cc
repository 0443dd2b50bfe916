#include "probes/engine/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <vector>

#include "common/timers.h"

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

  // `first_window` defaults to a day: capped at the interval, first runs then
  // spread over one whole interval, which the timing tests below spell out.
  Scheduler& Make(std::deque<double> randoms, double jitter = 0.0,
                  Duration first_window = std::chrono::hours(24), double first_rate = 0,
                  std::size_t max_in_flight = 0, std::size_t per_endpoint = 0) {
    random_ = std::make_unique<ScriptedRandom>(std::move(randoms));
    scheduler_ = std::make_unique<Scheduler>(
        timers_, clock_, *random_, prober_,
        [this](const ProbeEvent& e) {
          events_.push_back(
              {e.key, e.result.reason, e.after.health, e.planned, e.started, clock_.Now()});
        },
        Scheduler::Options{jitter, first_window, first_rate, max_in_flight, per_endpoint,
                           per_endpoint});
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

// The loop stalls through an attempt's deadline (descheduled, CPU-throttled or
// busy): on the real loop timers run before I/O, so the answer may be waiting
// unread. The deadline is renewed for a whole timeout and the answer counts.
TEST_F(SchedulerTest, AStalledLoopRenewsTheDeadlineSoAWaitingAnswerCounts) {
  Scheduler& s = Make({0.0});
  s.Upsert(Def("a", seconds(10), milliseconds(200)));
  timers_.Advance(milliseconds(10));
  ASSERT_EQ(prober_.starts.size(), 1u);
  timers_.Stall(milliseconds(290));  // the deadline (200 ms) fires 100 ms late
  EXPECT_TRUE(events_.empty()) << "a stalled deadline says nothing about the target";
  EXPECT_TRUE(prober_.starts[0].second->alive);
  ASSERT_TRUE(prober_.Complete("a", true));  // the I/O pass reads the answer
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].reason, Reason::kSuccess);
  EXPECT_EQ(events_[0].after, Health::kHealthy);
}

// After the renewal a punctual loop judges the target again: a target that still
// does not answer within the renewed timeout has timed out.
TEST_F(SchedulerTest, ARenewedDeadlineOnAPunctualLoopIsATimeout) {
  Scheduler& s = Make({0.0});
  s.Upsert(Def("a", seconds(10), milliseconds(200)));
  timers_.Advance(milliseconds(10));
  timers_.Stall(milliseconds(290));
  timers_.Advance(milliseconds(199));
  EXPECT_TRUE(events_.empty());
  timers_.Advance(milliseconds(1));
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].reason, Reason::kTimeout);
  EXPECT_EQ(events_[0].at, t0_ + milliseconds(500));
  EXPECT_FALSE(prober_.starts[0].second->alive);
}

// Lateness within the tolerance (timeout/20) is no stall: the deadline holds.
TEST_F(SchedulerTest, LatenessWithinTheToleranceKeepsTheDeadline) {
  Scheduler& s = Make({0.0});
  s.Upsert(Def("a", seconds(10), milliseconds(200)));
  EXPECT_EQ(StallTolerance(milliseconds(200)), milliseconds(10));
  timers_.Advance(milliseconds(10));
  timers_.Stall(milliseconds(200));  // fires 10 ms late: at the tolerance, not over
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].reason, Reason::kTimeout);
}

// Stalled through the renewed deadline too: no verdict. The run counts as
// skipped and inconclusive, the sink hears nothing, and the thresholds stay.
TEST_F(SchedulerTest, StalledAgainIsInconclusiveNeverAFailure) {
  Scheduler& s = Make(std::deque<double>(20, 0.0));
  ProbeDefinition a = Def("a", seconds(1), milliseconds(200));
  a.thresholds = Thresholds{1, 1};  // one failure would flip it
  s.Upsert(a);
  timers_.Advance(milliseconds(1));
  ASSERT_TRUE(prober_.Complete("a", true));
  ASSERT_EQ(events_.size(), 1u);
  timers_.Advance(milliseconds(1000));  // next run starts
  ASSERT_EQ(prober_.starts.size(), 2u);
  timers_.Stall(milliseconds(300));  // deadline missed: renewed
  timers_.Stall(milliseconds(300));  // renewed deadline missed too
  EXPECT_EQ(events_.size(), 1u) << "an inconclusive attempt is not a result";
  EXPECT_EQ(s.inconclusive_runs(), 1u);
  EXPECT_GE(s.skipped_runs(), 1u);
  EXPECT_FALSE(prober_.starts[1].second->alive) << "its session is cancelled";
  EXPECT_EQ(s.in_flight(), 0u) << "its slot is free";
  // The next real failure is the first one the thresholds see.
  timers_.Advance(milliseconds(400));  // run 3, due at 2 s, starts
  ASSERT_EQ(prober_.starts.size(), 3u);
  ASSERT_TRUE(prober_.Complete("a", false));
  EXPECT_EQ(events_.back().reason, Reason::kConnect);
  EXPECT_EQ(events_.back().after, Health::kUnhealthy);
}

// A loop late by many intervals jumps to the next due time: the missed runs are
// counted as skipped in one step, not replayed one timer callback each (late by
// 10 s at a 10 ms interval, that was 1,000 callbacks per probe in one pass, and
// a pass that long made the loop later still).
TEST_F(SchedulerTest, ALateLoopSkipsToTheNextDueTimeInOneStep) {
  Scheduler& s = Make(std::deque<double>(20, 0.0));
  s.Upsert(Def("a", milliseconds(10), milliseconds(5)));
  timers_.Advance(milliseconds(1));
  ASSERT_EQ(prober_.starts.size(), 1u);
  ASSERT_TRUE(prober_.Complete("a", true));
  const std::uint64_t fired_before = timers_.fired();
  const std::uint64_t skipped_before = s.skipped_runs();
  timers_.Stall(seconds(10));
  EXPECT_LE(timers_.fired() - fired_before, 3u) << "no replay of the missed due times";
  EXPECT_EQ(prober_.starts.size(), 2u) << "one late run starts";
  EXPECT_GE(s.skipped_runs() - skipped_before, 998u) << "the others are counted as skipped";
  EXPECT_LE(s.skipped_runs() - skipped_before, 1000u);
  // And the schedule is back on its grid: the next run is due within an interval.
  ASSERT_TRUE(prober_.Complete("a", true));
  timers_.Advance(milliseconds(10));
  EXPECT_EQ(prober_.starts.size(), 3u);
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

// A new or edited probe gets its verdict promptly: its first run falls in the
// first-run window (1 s), not anywhere in its 60 s interval.
TEST_F(SchedulerTest, FirstRunOfANewProbeFallsInTheShortWindow) {
  Scheduler& s = Make({0.99}, 0.0, seconds(1), 2000);
  s.Upsert(Def("a", seconds(60)));
  timers_.Advance(milliseconds(990));
  prober_.Complete("a", true);
  ASSERT_EQ(StartTimes("a").size(), 1u);
  EXPECT_EQ(StartTimes("a")[0], t0_ + milliseconds(990));
}

// Many probes added at once spread so that at most the configured rate of first
// runs start per second (no start-up burst), and never beyond their interval.
TEST_F(SchedulerTest, ManyNewProbesWidenTheFirstRunWindow) {
  std::deque<double> near_one(5000, 0.999);
  Scheduler& s = Make(near_one, 0.0, seconds(1), 1000);
  for (int i = 0; i < 4000; ++i) s.Upsert(Def("p" + std::to_string(i), seconds(10)));
  // The last of 4000 at 1000/s: window 4 s. The 4000th probe starts near 4 s.
  timers_.Advance(milliseconds(3900));
  EXPECT_LT(prober_.starts.size(), 4000u);
  timers_.Advance(milliseconds(200));
  EXPECT_EQ(prober_.starts.size(), 4000u);
  // And with 20000 at 1000/s the window would be 20 s: capped at the 10 s interval.
  Scheduler& t = Make(std::deque<double>(30000, 0.999), 0.0, seconds(1), 1000);
  prober_.starts.clear();
  for (int i = 0; i < 20000; ++i) t.Upsert(Def("q" + std::to_string(i), seconds(10)));
  timers_.Advance(seconds(10));
  EXPECT_EQ(prober_.starts.size(), 20000u);
}

// An edit (here: a new timeout) restarts the schedule but keeps the verdict:
// no pending window while the new definition waits for its first run.
TEST_F(SchedulerTest, ChangedDefinitionKeepsItsThresholdsState) {
  Scheduler& s = Make({0.0, 0.5}, 0.0, seconds(1), 2000);
  s.Upsert(Def("a", seconds(10)));
  timers_.Advance(milliseconds(1));
  ASSERT_TRUE(prober_.Complete("a", true));
  ASSERT_EQ(events_.back().after, Health::kHealthy);
  s.Upsert(Def("a", seconds(10), seconds(3)));  // changed
  timers_.Advance(milliseconds(499));
  EXPECT_EQ(prober_.starts.size(), 1u) << "not yet";
  timers_.Advance(milliseconds(2));
  ASSERT_EQ(prober_.starts.size(), 2u) << "first run of the new definition within the window";
  ASSERT_TRUE(prober_.Complete("a", false));
  // failureThreshold 3: one failure of the new definition does not flip it.
  EXPECT_EQ(events_.back().after, Health::kHealthy);
}

// Admission: never more attempts at once than the bound; the rest wait in due
// order and start as slots free, each with its own full deadline.
TEST_F(SchedulerTest, AdmissionNeverStartsMoreThanTheBound) {
  Scheduler& s = Make(std::deque<double>(10, 0.0), 0.0, seconds(1), 0, 3);
  for (const char* k : {"a", "b", "c", "d", "e"}) s.Upsert(Def(k, seconds(10), seconds(2)));
  timers_.Advance(milliseconds(1));
  EXPECT_EQ(s.in_flight(), 3u);
  EXPECT_EQ(s.waiting(), 2u);
  EXPECT_EQ(prober_.starts.size(), 3u);
  clock_.Advance(milliseconds(500));
  ASSERT_TRUE(prober_.Complete("a", true));
  EXPECT_EQ(s.in_flight(), 3u) << "d started in a's slot";
  ASSERT_EQ(prober_.starts.size(), 4u);
  EXPECT_EQ(prober_.starts[3].first, "d") << "due order";
  // d's deadline runs from its start (t=501ms), not from when it was due (t=0).
  timers_.Advance(milliseconds(1999));
  EXPECT_EQ(
      std::count_if(events_.begin(), events_.end(), [](const Recorded& e) { return e.key == "d"; }),
      0);
  timers_.Advance(milliseconds(2));
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.back().key, "d");
  EXPECT_EQ(events_.back().reason, Reason::kTimeout);
  EXPECT_EQ(events_.back().started, t0_ + milliseconds(501));
  EXPECT_EQ(events_.back().started - events_.back().planned, milliseconds(501)) << "lateness";
}

// A run that waited a whole interval is skipped (counted), not failed, and the
// thresholds do not move.
TEST_F(SchedulerTest, ARunThatWaitedPastItsIntervalIsSkippedNotFailed) {
  Scheduler& s = Make(std::deque<double>(10, 0.0), 0.0, seconds(1), 0, 1);
  s.Upsert(Def("hung", seconds(10), seconds(9)));
  s.Upsert(Def("b", seconds(1), milliseconds(500)));
  timers_.Advance(milliseconds(1));
  ASSERT_EQ(s.waiting(), 1u);
  timers_.Advance(seconds(3));  // b's runs at 1 s, 2 s, 3 s come while it still waits
  EXPECT_EQ(s.skipped_runs(), 3u);
  EXPECT_EQ(s.waiting(), 1u) << "one waiting entry, not one per run";
  EXPECT_TRUE(std::none_of(events_.begin(), events_.end(), [](const Recorded& e) {
    return e.key == "b";
  })) << "no result, so no verdict and no threshold step";
  ASSERT_TRUE(prober_.Complete("hung", true));
  ASSERT_EQ(prober_.starts.size(), 2u);
  EXPECT_EQ(prober_.starts[1].first, "b");
  ASSERT_TRUE(prober_.Complete("b", true));
  EXPECT_EQ(events_.back().key, "b");
  EXPECT_EQ(events_.back().after, Health::kHealthy);
  EXPECT_EQ(events_.back().planned, t0_ + seconds(3)) << "the waiting run stands for the newest";
}

// The per-endpoint bound: a busy server gets at most its bound, other servers
// are not held up behind it.
TEST_F(SchedulerTest, PerEndpointBoundLetsOtherEndpointsPass) {
  random_ = std::make_unique<ScriptedRandom>(std::deque<double>(10, 0.0));
  scheduler_ = std::make_unique<Scheduler>(
      timers_, clock_, *random_, prober_, [](const ProbeEvent&) {},
      Scheduler::Options{0.0, seconds(1), 0, 0, 2, 2});
  auto def = [](const std::string& key, const std::string& host) {
    ProbeDefinition d = Def(key);
    d.target = std::make_shared<const Target>(TcpConfig{host, 5432, "", std::nullopt});
    return d;
  };
  for (int i = 0; i < 5; ++i) scheduler_->Upsert(def("db" + std::to_string(i), "db.local"));
  scheduler_->Upsert(def("web", "web.local"));
  timers_.Advance(milliseconds(1));
  EXPECT_EQ(scheduler_->in_flight(), 3u) << "two to db.local, one to web.local";
  EXPECT_EQ(scheduler_->waiting(), 3u);
  EXPECT_EQ(Endpoint(TcpConfig{"DB.local", 5432, "", std::nullopt}), "db.local:5432");
  HttpConfig web;
  web.url = "https://user@Pay.Example/healthz";
  EXPECT_EQ(Endpoint(web), "pay.example:443");
  web.url = "http://[::1]:8080/x";
  EXPECT_EQ(Endpoint(web), "[::1]:8080");
}

// A probe's maxConcurrent replaces the per-endpoint bound for its attempts.
TEST_F(SchedulerTest, MaxConcurrentOverridesTheEndpointBound) {
  random_ = std::make_unique<ScriptedRandom>(std::deque<double>(20, 0.0));
  scheduler_ = std::make_unique<Scheduler>(
      timers_, clock_, *random_, prober_, [](const ProbeEvent&) {},
      Scheduler::Options{0.0, seconds(1), 0, 0, 2, 2});
  auto def = [](const std::string& key, std::size_t max_concurrent) {
    ProbeDefinition d = Def(key);
    d.target = std::make_shared<const Target>(TcpConfig{"db.local", 5432, "", std::nullopt});
    d.max_concurrent = max_concurrent;
    return d;
  };
  for (int i = 0; i < 6; ++i) scheduler_->Upsert(def("p" + std::to_string(i), 5));
  timers_.Advance(milliseconds(1));
  EXPECT_EQ(scheduler_->in_flight(), 5u) << "maxConcurrent 5, not the default 2";
  EXPECT_EQ(scheduler_->waiting(), 1u);
  // A changed bound is a changed definition.
  EXPECT_FALSE(def("x", 1) == def("x", 2));
}

// Skipped runs never move the thresholds: two failures, then runs skipped for
// lack of a slot, then the third real failure is the one that flips the verdict.
TEST_F(SchedulerTest, SkippedRunsDoNotMoveTheThresholds) {
  Scheduler& s = Make(std::deque<double>(20, 0.0), 0.0, seconds(1), 0, 1);
  ProbeDefinition a = Def("a", seconds(1), milliseconds(900));
  a.thresholds = Thresholds{1, 3};
  s.Upsert(a);
  timers_.Advance(milliseconds(1));
  ASSERT_TRUE(prober_.Complete("a", true));
  ASSERT_EQ(events_.back().after, Health::kHealthy);
  for (int i = 0; i < 2; ++i) {
    timers_.Advance(seconds(1));
    ASSERT_TRUE(prober_.Complete("a", false));
  }
  EXPECT_EQ(events_.back().after, Health::kHealthy) << "two failures of three";
  const std::size_t results = events_.size();
  // A long attempt of another probe holds the only slot: a's next runs wait and
  // are skipped.
  s.Upsert(Def("hog", seconds(60), seconds(30)));
  timers_.Advance(seconds(1));  // hog starts (it was due first), a waits
  ASSERT_EQ(s.waiting(), 1u);
  const std::uint64_t skipped = s.skipped_runs();
  timers_.Advance(seconds(5));
  EXPECT_GE(s.skipped_runs(), skipped + 4);
  EXPECT_EQ(events_.size(), results) << "a skipped run produces no result";
  ASSERT_TRUE(prober_.Complete("hog", true));
  ASSERT_TRUE(prober_.Complete("a", false));
  EXPECT_EQ(events_.back().key, "a");
  EXPECT_EQ(events_.back().after, Health::kUnhealthy)
      << "the third failure flips it: the skips neither counted nor reset the failures";
}

// The engine moves a probe between loops with Take + AdoptState: the verdict
// goes along, unless the new place already has a result of its own.
TEST_F(SchedulerTest, TakeAndAdoptStateCarryTheVerdict) {
  Scheduler& s = Make(std::deque<double>(20, 0.0));
  s.Upsert(Def("a", seconds(1), milliseconds(500)));
  timers_.Advance(milliseconds(1));
  ASSERT_TRUE(prober_.Complete("a", false));
  auto state = s.Take("a");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->health, Health::kUnhealthy);
  EXPECT_FALSE(s.Contains("a"));
  EXPECT_FALSE(s.Take("a").has_value());

  SimClock clock2;
  SimTimers timers2(clock2);
  ScriptedRandom random2({0.0});
  ManualProber prober2;
  std::vector<ThresholdState> after;
  Scheduler other(timers2, clock2, random2, prober2,
                  [&](const ProbeEvent& e) { after.push_back(e.after); });
  other.Upsert(Def("a", seconds(1), milliseconds(500)));
  EXPECT_TRUE(other.AdoptState("a", *state));
  timers2.Advance(milliseconds(1));
  ASSERT_TRUE(prober2.Complete("a", false));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].consecutive_failures, 2u) << "counted on from the adopted state";
  EXPECT_FALSE(other.AdoptState("a", ThresholdState{})) << "its own result is newer";
  EXPECT_FALSE(other.AdoptState("unknown", ThresholdState{}));
}

}  // namespace
}  // namespace healthgate::probes
