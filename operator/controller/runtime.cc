#include "operator/controller/runtime.h"

namespace healthgate::controller {

Runtime::Runtime(const healthgate::Clock& clock, Logger& log, v1alpha1::SecretResolver& secrets,
                 std::uint64_t seed, probes::Scheduler::Options engine)
    : clock_(clock),
      log_(log),
      loop_(clock),
      resolver_(loop_),
      random_(seed),
      store_(clock),
      metrics_(std::make_shared<prometheus::Registry>()),
      controller_(Controller::Deps{loop_, store_, &metrics_, secrets, log}) {
  // Built before the loop thread starts; from then on only the loop touches them.
  timers_ = std::make_unique<probes::UvTimers>(loop_);
  probes_ = std::make_unique<probes::ProbeSet>(loop_, resolver_);
  scheduler_ = std::make_unique<probes::Scheduler>(
      *timers_, clock_, random_, *probes_,
      [this](const probes::ProbeEvent& ev) { controller_.OnProbeEvent(ev); }, engine);
  controller_.AttachScheduler(scheduler_.get());
  store_.Subscribe([this](const results::SnapshotPtr& s, results::Store::Change change) {
    if (change == results::Store::Change::kRemoved) return;  // the controller removed series
    metrics_.CheckReady(s->ns, s->name, s->is_ready());
  });
}

Runtime::~Runtime() {
  Stop();
  scheduler_.reset();
  probes_.reset();
  timers_.reset();
}

void Runtime::Start() {
  if (started_) return;
  started_ = true;
  loop_.Start();
}

void Runtime::Stop() {
  if (stopped_ || !started_) return;
  stopped_ = true;
  loop_.Stop();
}

bool Runtime::WaitApplied(std::chrono::milliseconds timeout) {
  return controller_.WaitApplied(timeout);
}

bool Runtime::LoopAlive(std::chrono::milliseconds max_age) const {
  return clock_.Now() - loop_.LastHeartbeat() <= max_age;
}

}  // namespace healthgate::controller
