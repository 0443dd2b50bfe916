// Runs one attempt under one deadline: measures latency, and on the deadline
// destroys the session (cancelling every phase) and reports a timeout that names
// the phase it was in. Used by the scheduler and by one-shot `check`.
#pragma once

#include <memory>

#include "common/clock.h"
#include "common/timers.h"
#include "probes/prober.h"

namespace healthgate::probes {

class Attempt {
 public:
  virtual ~Attempt() = default;  // cancels: `done` is not called afterwards
};

// `done` gets the result with latency set and its message made safe: scrubbed of
// the target's secrets, valid UTF-8 with controls escaped, at most
// kMaxMessageBytes (SafeMessage in probes/text.h). Called on the loop thread, at most once,
// never from inside RunAttempt.
std::unique_ptr<Attempt> RunAttempt(Prober& prober, Timers& timers, const Clock& clock,
                                    const Target& target, Duration timeout, DoneFn done);

}  // namespace healthgate::probes
