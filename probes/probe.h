// The one small interface every probe type implements (checker/session split:
// the engine owns timers, deadlines and thresholds; a probe type only knows how
// to run one attempt against one target).
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "probes/result.h"

namespace healthgate::probes {

using DoneFn = std::function<void(Result)>;

// One attempt in flight. Contract:
//  - `done` is called exactly once, on the loop thread, never from inside the
//    call that started the attempt, unless the session is destroyed first;
//  - destroying the session cancels the attempt: `done` is not called afterwards
//    and every socket/handle is released (asynchronously where libuv requires);
//  - the engine enforces the deadline by destroying the session, so a probe type
//    needs no timer of its own.
class ProbeSession {
 public:
  virtual ~ProbeSession() = default;
  // The phase the attempt is in (e.g. "dns", "connect", "tls", "request"), for the
  // timeout message.
  virtual std::string_view Phase() const = 0;
};

}  // namespace healthgate::probes
