// Result of one probe attempt. Errors are values: a network failure is an
// unhealthy Result with a reason from a fixed set, never an exception.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace healthgate::probes {

using Duration = std::chrono::nanoseconds;

// The fixed set of outcomes. It is a metrics label (`result`), so it never grows
// per target: add a value only with a contract change.
enum class Reason {
  kSuccess,
  kTimeout,    // the probe's deadline passed in any phase
  kDns,        // the host name did not resolve
  kConnect,    // refused, unreachable, reset during connect
  kTls,        // handshake or certificate verification failed
  kAuth,       // the server rejected the credentials
  kProtocol,   // the peer did not speak the expected protocol, or a limit was exceeded
  kAssertion,  // the peer answered, but not what the probe expects
};

inline constexpr Reason kAllReasons[] = {Reason::kSuccess,  Reason::kTimeout,  Reason::kDns,
                                         Reason::kConnect,  Reason::kTls,      Reason::kAuth,
                                         Reason::kProtocol, Reason::kAssertion};

std::string_view ReasonName(Reason reason);

// Per-phase timings, measured from the start of the attempt. Phases a probe type
// does not have stay empty.
struct Timings {
  std::optional<Duration> dns;
  std::optional<Duration> connect;
  std::optional<Duration> tls;
  std::optional<Duration> first_byte;
  bool operator==(const Timings&) const = default;
};

struct Result {
  bool healthy = false;
  Reason reason = Reason::kConnect;
  Duration latency{0};
  // For humans. Never contains a credential: probe types build it from the
  // server's answer and their own words, never from the request's secrets.
  // The server's answer is untrusted bytes: RunAttempt (probes/engine/attempt.h)
  // scrubs the target's secrets from every message, repairs its UTF-8, escapes
  // control characters and caps it at kMaxMessageBytes (probes/text.h), so
  // whatever `done` receives is safe for logs, JSON, status and Events.
  std::string message;
  Timings timings;
  // No verdict about the target: healthgate itself could not run the attempt on
  // time (its probe loop stalled; see probes/engine/attempt.h). Not healthy and
  // not a failure: the scheduler counts it as a skipped run, keeps the previous
  // result and never moves the thresholds with it.
  bool inconclusive = false;

  static Result Success(std::string message = {}) {
    return Result{true, Reason::kSuccess, Duration{0}, std::move(message), {}};
  }
  static Result Failure(Reason reason, std::string message) {
    return Result{false, reason, Duration{0}, std::move(message), {}};
  }
  static Result Inconclusive(std::string message) {
    Result r{false, Reason::kTimeout, Duration{0}, std::move(message), {}};
    r.inconclusive = true;
    return r;
  }
};

}  // namespace healthgate::probes
