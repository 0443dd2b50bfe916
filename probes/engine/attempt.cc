#include "probes/engine/attempt.h"

#include <algorithm>
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
    timeout_ = timeout;
    stalled_at_ = timers_.Stalled();
    timer_ = timers_.Arm(start_ + timeout, [this] { OnDeadline(); });
    session_ = prober.Start(target, [this](Result r) { Finish(std::move(r)); });
  }

 private:
  void OnDeadline() {
    timer_ = 0;
    const Duration stalled = timers_.Stalled() - stalled_at_;
    stalled_at_ = timers_.Stalled();
    if (stalled > StallTolerance(timeout_)) {
      if (!extended_) {
        // The loop did not run on time during this attempt, so an answer may be
        // waiting unread (timers run before I/O), or the request went out late:
        // this deadline says nothing about the target. Give it a whole timeout
        // again, from now.
        extended_ = true;
        renewed_for_ = stalled;
        timer_ = timers_.Arm(clock_.Now() + timeout_, [this] { OnDeadline(); });
        return;
      }
      // Stalled again: no verdict about the target can be drawn from this attempt.
      session_.reset();
      Result r = Result::Inconclusive(
          "healthgate's probe loop was stalled for " + FormatMs(stalled) +
          " of this attempt's deadline (CPU starvation or overload); the run is not counted");
      r.latency = clock_.Now() - start_;
      Deliver(std::move(r));
      return;
    }
    std::string phase = session_ ? std::string(session_->Phase()) : "start";
    session_.reset();  // cancels every phase of the attempt
    Result r = Result::Failure(
        Reason::kTimeout,
        "timed out after " + FormatMs(timeout_) + " during " + phase +
            (extended_ ? " (deadline renewed once: the probe loop had stalled for " +
                             FormatMs(renewed_for_) + ")"
                       : ""));
    r.latency = extended_ ? clock_.Now() - start_ : timeout_;
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
  Duration timeout_{};
  Duration stalled_at_{};  // timers_.Stalled() when the current deadline was armed
  bool extended_ = false;
  Duration renewed_for_{};  // the stall that renewed the deadline
  TimerId timer_ = 0;
  std::unique_ptr<ProbeSession> session_;
};

}  // namespace

Duration StallTolerance(Duration timeout) {
  return std::max<Duration>(timeout / 20, std::chrono::milliseconds(1));
}

std::unique_ptr<Attempt> RunAttempt(Prober& prober, Timers& timers, const Clock& clock,
                                    const Target& target, Duration timeout, DoneFn done) {
  auto a = std::make_unique<AttemptImpl>(timers, clock, MessageSecrets(target), std::move(done));
  a->Begin(prober, target, timeout);
  return a;
}

}  // namespace healthgate::probes
