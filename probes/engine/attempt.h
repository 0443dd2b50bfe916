// Runs one attempt under one deadline: measures latency, and on the deadline
// destroys the session (cancelling every phase) and reports a timeout that names
// the phase it was in. Used by the scheduler and by one-shot `check`.
//
// A deadline measures the target only while the loop runs on time. When the
// timers report a stall of more than StallTolerance(timeout) during the attempt
// (Timers::Stalled: the loop thread was descheduled, CPU-throttled or busy), the
// deadline says nothing about the target (an answer may wait unread, since timers
// run before I/O, or the request went out late), so it is renewed once: a whole
// timeout from then. If the loop stalls again before the renewed deadline, the
// result is Result::Inconclusive: healthgate's own overload, never a failure of
// the target.
#pragma once

#include <memory>

#include "common/clock.h"
#include "common/timers.h"
#include "probes/prober.h"

namespace healthgate::probes {

// The stall during an attempt beyond which its deadline is renewed: timeout/20,
// at least 1 ms.
Duration StallTolerance(Duration timeout);

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
