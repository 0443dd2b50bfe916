#include "probes/engine/attempt.h"

#include <string>
#include <vector>

#include "probes/text.h"

namespace healthgate::probes {
namespace {

std::string FormatMs(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms";
}

class AttemptImpl final : public Attempt {
 public:
  AttemptImpl(Timers& timers, const Clock& clock, std::vector<Secret> secrets, DoneFn done)
      : timers_(timers),
        clock_(clock),
        secrets_(std::move(secrets)),
        done_(std::move(done)),
        start_(clock.Now()) {}

  ~AttemptImpl() override {
    if (timer_ != 0) timers_.Cancel(timer_);
  }

  void Begin(Prober& prober, const Target& target, Duration timeout) {
    timer_ = timers_.Arm(start_ + timeout, [this, timeout] { OnDeadline(timeout); });
    session_ = prober.Start(target, [this](Result r) { Finish(std::move(r)); });
  }

 private:
  void OnDeadline(Duration timeout) {
    timer_ = 0;
    std::string phase = session_ ? std::string(session_->Phase()) : "start";
    session_.reset();  // cancels every phase of the attempt
    Result r = Result::Failure(Reason::kTimeout,
                               "timed out after " + FormatMs(timeout) + " during " + phase);
    r.latency = timeout;
    Deliver(std::move(r));
  }

  void Finish(Result r) {
    if (timer_ != 0) timers_.Cancel(timer_);
    timer_ = 0;
    r.latency = clock_.Now() - start_;
    Deliver(std::move(r));
  }

  // Every result of every probe type passes here: its message (built from the
  // target's untrusted bytes) is scrubbed of the target's secrets, then made
  // valid, visible UTF-8 and capped (probes/text.h), once, for all consumers.
  void Deliver(Result r) {
    if (!done_) return;
    r.message = SafeMessage(r.message, secrets_);
    DoneFn done = std::move(done_);
    done_ = nullptr;
    done(std::move(r));  // may destroy *this: nothing touches members afterwards
  }

  Timers& timers_;
  const Clock& clock_;
  std::vector<Secret> secrets_;  // copied: the target need not outlive the attempt
  DoneFn done_;
  MonoTime start_;
  TimerId timer_ = 0;
  std::unique_ptr<ProbeSession> session_;
};

}  // namespace

std::unique_ptr<Attempt> RunAttempt(Prober& prober, Timers& timers, const Clock& clock,
                                    const Target& target, Duration timeout, DoneFn done) {
  auto a = std::make_unique<AttemptImpl>(timers, clock, MessageSecrets(target), std::move(done));
  a->Begin(prober, target, timeout);
  return a;
}

}  // namespace healthgate::probes
