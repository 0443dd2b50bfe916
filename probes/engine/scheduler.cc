#include "probes/engine/scheduler.h"

namespace healthgate::probes {

Scheduler::Scheduler(Timers& timers, const Clock& clock, Random& random, Prober& prober, Sink sink,
                     Options options)
    : timers_(timers),
      clock_(clock),
      random_(random),
      prober_(prober),
      sink_(std::move(sink)),
      options_(options) {}

Scheduler::~Scheduler() {
  for (auto& [key, job] : jobs_) {
    if (job->timer != 0) timers_.Cancel(job->timer);
  }
}

bool Scheduler::Upsert(ProbeDefinition def) {
  auto it = jobs_.find(def.key);
  if (it != jobs_.end()) {
    if (it->second->def == def) {
      it->second->def.target = std::move(def.target);
      return false;
    }
    Remove(def.key);
  }
  auto job = std::make_unique<Job>();
  job->def = std::move(def);
  auto spread = std::chrono::duration_cast<Duration>(job->def.interval * random_.Uniform());
  job->first = clock_.Now() + job->def.initial_delay + spread;
  Job& ref = *job;
  jobs_.emplace(std::string_view(ref.def.key), std::move(job));
  Plan(ref);
  return true;
}

void Scheduler::Remove(const std::string& key) {
  auto it = jobs_.find(key);
  if (it == jobs_.end()) return;
  if (it->second->timer != 0) timers_.Cancel(it->second->timer);
  jobs_.erase(it);  // destroys any attempt in flight, which cancels it
}

std::size_t Scheduler::in_flight() const {
  std::size_t n = 0;
  for (const auto& [key, job] : jobs_) n += job->attempt ? 1 : 0;
  return n;
}

void Scheduler::Plan(Job& job) {
  MonoTime planned = job.first + job.def.interval * static_cast<std::int64_t>(job.run);
  if (job.run > 0 && options_.jitter > 0) {
    double j = (random_.Uniform() * 2.0 - 1.0) * options_.jitter;
    planned += std::chrono::duration_cast<Duration>(job.def.interval * j);
  }
  ++job.run;
  job.planned = planned;
  job.timer = timers_.Arm(planned, [this, j = &job] { Fire(*j); });
}

void Scheduler::Fire(Job& job) {
  job.timer = 0;
  if (job.attempt) {
    ++skipped_runs_;  // still in flight: do not stack a second attempt
    Plan(job);
    return;
  }
  job.attempt_planned = job.planned;
  job.attempt_started = clock_.Now();
  Plan(job);
  job.attempt = RunAttempt(prober_, timers_, clock_, *job.def.target, job.def.timeout,
                           [this, j = &job](Result r) { OnDone(*j, std::move(r)); });
}

void Scheduler::OnDone(Job& job, Result result) {
  // The attempt is the caller of this callback: keep it alive until we return.
  std::unique_ptr<Attempt> finished = std::move(job.attempt);
  ThresholdState before = job.state;
  job.state = Step(before, result.healthy, job.def.thresholds);
  if (sink_) {
    ProbeEvent ev{job.def.key,         *job.def.target,     result,          before, job.state,
                  job.attempt_planned, job.attempt_started, clock_.WallNow()};
    sink_(ev);
  }
  // The sink may have removed the job: `job` is not touched after it. The finished
  // attempt is destroyed on return, which its contract allows from inside `done`.
}

}  // namespace healthgate::probes
