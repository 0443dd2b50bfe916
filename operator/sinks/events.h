// Kubernetes Events on Ready transitions of a HealthCheck: Normal "Ready" when
// it becomes ready, Warning "NotReady" when it stops being ready (the message
// names the failing probes). Never one per probe run: only a change of the Ready
// condition between True and False emits, and a repeat of the same event within
// `dedupe_window` bumps the existing Event's count instead of creating another
// (as client-go's event correlator does).
//
// A probe that becomes blocked because its Secret lacks the label
// healthgate.dev/probe-credentials: "true" gets one Warning "SecretNotAllowed"
// Event naming the probe, the Secret, the key and the label (never a value),
// whether the probe is critical or not and whatever Ready did: once per change
// of the probes so blocked (and their messages), not per secret refresh. When the
// same change turns the check NotReady, that Event is the announcement: no
// second "NotReady" one.
//
// The last Ready state known per check, and which of its probes were blocked
// with SecretNotAllowed, are seeded from the object's stored status, so a
// restarted operator does not announce what users already saw.
//
// An Event the API server refuses for a passing reason (429, 5xx, no answer) is
// retried up to kMaxAttempts times with a doubling delay (1 s, 2 s, 4 s ...), and
// never sooner than a Retry-After the server asked for; Stop() interrupts the
// wait. A permanent refusal (403, 422 ...) is logged and dropped.
//
// Thread-safety: Observe/Seed/Forget are cheap and may be called from any thread
// (the probe loop included); API calls happen on the recorder's own thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/wait.h"
#include "operator/kube/interface.h"
#include "operator/log/log.h"
#include "operator/metrics/metrics.h"
#include "operator/results/store.h"

namespace healthgate::sinks {

// What the recorder remembers of the Events it sent, for the dedupe window:
// per check, at most one Event per reason (Ready, NotReady), the newest. So memory
// is bounded by the checks that exist (Forget drops a deleted check's), however
// many different messages a flapping check produces, and entries older than the
// window are dropped as they are met, and all of them every kSweepEvery Events
// (so objects never met again, such as deleted pods, leave). Not thread-safe
// (the recorder's lock).
class SentEvents {
 public:
  struct Sent {
    std::string event_name;
    std::string message;
    int count = 0;
    healthgate::WallTime at{};
  };
  explicit SentEvents(std::chrono::minutes window) : window_(window) {}
  // The Event to bump for (check, reason, message) at `now`, if one is in the window.
  std::optional<Sent> Find(const std::string& check, const std::string& reason,
                           const std::string& message, healthgate::WallTime now);
  void Remember(const std::string& check, const std::string& reason, Sent sent);
  void Forget(const std::string& check) { by_check_.erase(check); }
  std::size_t size() const;  // remembered Events, all checks

 private:
  static constexpr std::uint64_t kSweepEvery = 256;
  std::chrono::minutes window_;
  std::map<std::string, std::map<std::string, Sent>> by_check_;  // check -> reason -> last
  std::uint64_t remembered_ = 0;
};

class EventRecorder {
 public:
  struct Options {
    std::string reporting_instance;  // this replica's identity
    std::chrono::minutes dedupe_window{10};
    // When set and false (a standby), transitions are not announced: the
    // leader announces them.
    std::function<bool()> may_write;
  };
  static constexpr int kMaxAttempts = 5;
  static constexpr std::chrono::seconds kFirstRetry{1};

  EventRecorder(kube::Interface& client, Metrics* metrics, Logger& log, common::Waits& waits,
                Options options);
  ~EventRecorder();

  void Start();
  void Stop();
  // The object as seen in the API (uid for involvedObject; its stored Ready
  // status seeds the last known state).
  void Seed(const nlohmann::json& object);
  // A store change: emits when Ready flipped between True and False, or a probe
  // became blocked with SecretNotAllowed.
  void Observe(const results::CheckSnapshot& snapshot);
  void Forget(const std::string& ns, const std::string& name);

  // An Event on another object (a pod whose readiness gate changed), through
  // the same queue, retries, dedupe window and standby rule.
  struct ObjectRef {
    std::string api_version;  // v1
    std::string kind;         // Pod
    std::string ns, name, uid;
  };
  void Record(const ObjectRef& object, const std::string& type, const std::string& reason,
              const std::string& message);
  std::uint64_t emitted() const;
  // Transitions given up after kMaxAttempts or a permanent refusal.
  std::uint64_t dropped() const;

 private:
  struct Pending {
    std::string ns, name, type, reason, message;
    std::optional<ObjectRef> object;  // unset: the HealthCheck ns/name
  };
  // Transitions waiting for the API (it may be down): at most this many; the
  // oldest are dropped (logged) beyond it.
  static constexpr std::size_t kMaxQueued = 1024;
  void Run();
  // One attempt; nullopt when done (sent, or not to be sent), else the error.
  std::optional<kube::Error> Emit(const Pending& e);

  kube::Interface& client_;
  Metrics* metrics_;
  Logger& log_;
  const healthgate::Clock& clock_;
  Options options_;

  // cond_.mu() guards everything below.
  mutable common::Condition cond_;
  std::map<std::string, std::string> last_ready_;  // key -> "True"/"False"
  // key -> probe -> message, of the probes blocked with SecretNotAllowed (an
  // empty map once the check was seen: seeding happens only before that).
  std::map<std::string, std::map<std::string, std::string>> not_allowed_;
  std::map<std::string, std::string> uids_;
  std::deque<Pending> queue_;
  SentEvents sent_;
  bool stop_ = false;
  std::uint64_t emitted_ = 0;
  std::uint64_t dropped_ = 0;
  std::thread thread_;
};

}  // namespace healthgate::sinks
