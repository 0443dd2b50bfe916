#include "probes/engine/scheduler.h"

#include <algorithm>

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
  ThresholdState carried;
  auto it = jobs_.find(def.key);
  if (it != jobs_.end()) {
    if (it->second->def == def) {
      it->second->def.target = std::move(def.target);
      return false;
    }
    carried = it->second->state;
    Remove(def.key);
  }
  auto job = std::make_unique<Job>();
  job->def = std::move(def);
  job->state = carried;
  job->endpoint = Endpoint(*job->def.target);
  job->endpoint_bound = job->def.max_concurrent != 0 ? job->def.max_concurrent
                        : std::holds_alternative<PostgresConfig>(*job->def.target)
                            ? options_.max_in_flight_per_database
                            : options_.max_in_flight_per_endpoint;
  ++first_pending_;
  Duration window = options_.first_run_window;
  if (options_.max_first_runs_per_second > 0) {
    const auto needed = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(
        static_cast<double>(first_pending_) / options_.max_first_runs_per_second));
    window = std::max(window, needed);
  }
  window = std::min(window, job->def.interval);
  auto spread = std::chrono::duration_cast<Duration>(window * random_.Uniform());
  job->first = clock_.Now() + job->def.initial_delay + spread;
  Job& ref = *job;
  jobs_.emplace(std::string_view(ref.def.key), std::move(job));
  Plan(ref);
  return true;
}

void Scheduler::Remove(const std::string& key) {
  auto it = jobs_.find(key);
  if (it == jobs_.end()) return;
  Job& job = *it->second;
  if (job.timer != 0) timers_.Cancel(job.timer);
  if (job.first_pending) --first_pending_;
  if (job.waiting) {
    std::erase(wait_, &job);
    SyncWaiting();
  }
  const bool had_attempt = job.attempt != nullptr;
  if (had_attempt) Release(job);
  jobs_.erase(it);  // destroys any attempt in flight, which cancels it
  if (had_attempt) Drain();
}

std::optional<ThresholdState> Scheduler::Take(const std::string& key) {
  auto it = jobs_.find(key);
  if (it == jobs_.end()) return std::nullopt;
  ThresholdState state = it->second->state;
  Remove(key);
  return state;
}

bool Scheduler::AdoptState(const std::string& key, ThresholdState state) {
  auto it = jobs_.find(key);
  if (it == jobs_.end() || it->second->reported) return false;
  it->second->state = state;
  return true;
}

bool Scheduler::Admissible(const Job& job) const {
  if (options_.max_in_flight != 0 && in_flight() >= options_.max_in_flight) return false;
  if (job.endpoint_bound == 0) return true;
  auto it = per_endpoint_.find(job.endpoint);
  return it == per_endpoint_.end() || it->second < job.endpoint_bound;
}

void Scheduler::Start(Job& job) {
  SetInFlight(in_flight() + 1);
  ++per_endpoint_[job.endpoint];
  job.attempt_started = clock_.Now();
  job.attempt = RunAttempt(prober_, timers_, clock_, *job.def.target, job.def.timeout,
                           [this, j = &job](Result r) { OnDone(*j, std::move(r)); });
}

void Scheduler::Release(Job& job) {
  SetInFlight(in_flight() - 1);
  auto it = per_endpoint_.find(job.endpoint);
  if (it != per_endpoint_.end() && --it->second == 0) per_endpoint_.erase(it);
}

void Scheduler::Drain() {
  // Oldest due first. A run whose endpoint is at its bound keeps its place and
  // lets later runs of other endpoints pass; the scan is bounded so a long queue
  // for one busy endpoint costs little per finished attempt.
  constexpr std::size_t kMaxScan = 256;
  std::size_t scanned = 0;
  for (auto it = wait_.begin(); it != wait_.end() && scanned < kMaxScan;) {
    if (options_.max_in_flight != 0 && in_flight() >= options_.max_in_flight) break;
    Job* j = *it;
    if (!Admissible(*j)) {
      ++it;
      ++scanned;
      continue;
    }
    it = wait_.erase(it);
    j->waiting = false;
    Start(*j);
  }
  SyncWaiting();
}

void Scheduler::Plan(Job& job) {
  MonoTime planned = job.first + job.def.interval * static_cast<std::int64_t>(job.run);
  // A loop that ran late (stopped, starved, overloaded) would otherwise replay
  // every due time it missed, one timer callback each, all in the same pass over
  // the due timers: late by L, that is L/interval callbacks per probe, and the
  // pass itself makes the loop later still (a 5 ms interval under load never
  // got out of it). Jump to the first due time not yet past instead; the missed
  // ones are skipped runs, as they would have been one by one.
  const MonoTime now = clock_.Now();
  if (job.run > 0 && planned < now && job.def.interval.count() > 0) {
    const auto missed = (now - planned + job.def.interval - Duration(1)) / job.def.interval;
    job.run += static_cast<std::uint64_t>(missed);
    planned += job.def.interval * missed;
    CountSkipped(static_cast<std::uint64_t>(missed));
  }
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
  if (job.first_pending) {
    job.first_pending = false;
    --first_pending_;
  }
  if (job.attempt) {
    CountSkipped();  // still in flight: do not stack a second attempt
    Plan(job);
    return;
  }
  if (job.waiting) {
    // Waited a whole interval for a slot: this run is skipped; the waiting one
    // now stands for the newer due time (its lateness counts from there).
    CountSkipped();
    job.attempt_planned = job.planned;
    Plan(job);
    return;
  }
  job.attempt_planned = job.planned;
  Plan(job);
  if (!Admissible(job) || !wait_.empty()) {
    // Behind earlier due runs, or no slot: wait in due order.
    job.waiting = true;
    wait_.push_back(&job);
    SyncWaiting();
    Drain();
    return;
  }
  Start(job);
}

void Scheduler::OnDone(Job& job, Result result) {
  // The attempt is the caller of this callback: keep it alive until we return.
  std::unique_ptr<Attempt> finished = std::move(job.attempt);
  Release(job);
  if (result.inconclusive) {
    // healthgate could not run this attempt on time: like a run that found no
    // slot, it is skipped; the verdict and the last result stay.
    CountSkipped();
    inconclusive_runs_.store(inconclusive_runs_.load(std::memory_order_relaxed) + 1,
                             std::memory_order_relaxed);
    Drain();
    return;
  }
  job.reported = true;
  ThresholdState before = job.state;
  job.state = Step(before, result.healthy, job.def.thresholds);
  if (sink_) {
    ProbeEvent ev{job.def.key,         *job.def.target,     result,          before, job.state,
                  job.attempt_planned, job.attempt_started, clock_.WallNow()};
    sink_(ev);
  }
  // The sink may have removed the job: `job` is not touched after it. The finished
  // attempt is destroyed on return, which its contract allows from inside `done`.
  Drain();
}

}  // namespace healthgate::probes
