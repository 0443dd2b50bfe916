#include "operator/controller/runtime.h"

namespace healthgate::controller {

Runtime::Runtime(const healthgate::Clock& clock, Logger& log, v1alpha1::SecretResolver& secrets,
                 std::uint64_t seed, probes::EngineOptions engine)
    : clock_(clock),
      log_(log),
      loop_(clock),
      store_(clock),
      metrics_(std::make_shared<prometheus::Registry>()),
      controller_(Controller::Deps{loop_, store_, &metrics_, secrets, log}),
      engine_(clock, seed, engine,
              [this](const probes::ProbeEvent& ev) { controller_.OnProbeEvent(ev); }) {
  // Built before the loop threads start; from then on only the control loop
  // touches the timers and the watch state.
  timers_ = std::make_unique<probes::UvTimers>(loop_);
  watch_.resize(engine_.loops());
  controller_.AttachEngine(&engine_);
  store_.Subscribe([this](const results::SnapshotPtr& s, results::Store::Change change) {
    if (change == results::Store::Change::kRemoved) return;  // the controller removed series
    metrics_.CheckReady(s->ns, s->name, s->is_ready());
  });
  for (std::size_t i = 0; i < engine_.loops(); ++i) metrics_.ProbeLoad(i, 0, 0, 0);
}

Runtime::~Runtime() {
  Stop();
  engine_.Stop();
  timers_.reset();
}

void Runtime::Start() {
  if (started_) return;
  started_ = true;
  engine_.Start();
  loop_.Post([this] { ReportLoad(); });
  loop_.Start();
}

void Runtime::Stop() {
  if (stopped_ || !started_) return;
  stopped_ = true;
  loop_.Stop();  // no reconcile reaches the engine after this
  engine_.Stop();
}

void Runtime::ReportLoad() {
  const auto now = clock_.Now();
  for (std::size_t i = 0; i < engine_.loops(); ++i) {
    const probes::Engine::LoopLoad load = engine_.Load(i);
    LoopWatch& w = watch_[i];
    metrics_.ProbeLoad(i, load.in_flight, load.waiting, load.max_in_flight);
    if (load.skipped_runs > w.skipped_seen) {
      metrics_.ScheduleSkipped(load.skipped_runs - w.skipped_seen);
      w.skipped_seen = load.skipped_runs;
    }
    if (load.stalled > w.stalled_seen || load.inconclusive_runs > w.inconclusive_seen) {
      metrics_.ProbeLoopStall(i,
                              std::chrono::duration<double>(load.stalled - w.stalled_seen).count(),
                              load.inconclusive_runs - w.inconclusive_seen);
      w.stalled_seen = load.stalled;
      w.inconclusive_seen = load.inconclusive_runs;
    }
    if (load.waiting == 0) {
      if (w.warned) {
        log_.Info("probe loop no longer saturated",
                  {{"loop", i}, {"skipped_runs", load.skipped_runs}});
      }
      w.saturated_since.reset();
      w.warned = false;
      continue;
    }
    if (!w.saturated_since) w.saturated_since = now;
    if (!w.warned && now - *w.saturated_since >= std::chrono::seconds(30)) {
      w.warned = true;
      log_.Warn(
          "probe loop saturated for 30 s: probe runs wait for a slot and some are skipped (not "
          "failed); give healthgate more CPU, probe fewer checks, or lengthen their intervals",
          {{"loop", i},
           {"loops", engine_.loops()},
           {"in_flight", load.in_flight},
           {"waiting", load.waiting},
           {"max_in_flight", load.max_in_flight},
           {"skipped_runs", load.skipped_runs}});
    }
  }
  timers_->Arm(clock_.Now() + std::chrono::seconds(1), [this] { ReportLoad(); });
}

bool Runtime::WaitApplied(std::chrono::milliseconds timeout) {
  return controller_.WaitApplied(timeout);
}

healthgate::MonoTime Runtime::LastHeartbeat() const {
  return std::min(loop_.LastHeartbeat(), engine_.OldestHeartbeat());
}

bool Runtime::LoopAlive(std::chrono::milliseconds max_age) const {
  return clock_.Now() - LastHeartbeat() <= max_age;
}

}  // namespace healthgate::controller
