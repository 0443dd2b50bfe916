// Kubernetes Events on Ready transitions of a HealthCheck: Normal "Ready" when
// it becomes ready, Warning "NotReady" when it stops being ready (the message
// names the failing probes). Never one per probe run: only a change of the Ready
// condition between True and False emits, and a repeat of the same event within
// `dedupe_window` bumps the existing Event's count instead of creating another
// (as client-go's event correlator does).
//
// The last Ready state known per check is seeded from the object's stored
// status, so a restarted operator does not announce what users already saw.
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
#include <string>
#include <thread>

#include "operator/kube/client.h"
#include "operator/log/log.h"
#include "operator/results/store.h"
#include "operator/sinks/metrics.h"
#include "probes/engine/clock.h"

namespace healthgate::sinks {

class EventRecorder {
 public:
  struct Options {
    std::string reporting_instance;  // this replica's identity
    std::chrono::minutes dedupe_window{10};
    // When set and false (a standby), transitions are not announced: the
    // leader announces them.
    std::function<bool()> may_write;
  };
  EventRecorder(kube::Client& client, Metrics* metrics, Logger& log, const probes::Clock& clock,
                Options options);
  ~EventRecorder();

  void Start();
  void Stop();
  // The object as seen in the API (uid for involvedObject; its stored Ready
  // status seeds the last known state).
  void Seed(const nlohmann::json& object);
  // A store change: emits when Ready flipped between True and False.
  void Observe(const results::CheckSnapshot& snapshot);
  void Forget(const std::string& ns, const std::string& name);
  std::uint64_t emitted() const;

 private:
  struct Pending {
    std::string ns, name, type, reason, message;
  };
  struct Sent {
    std::string event_name;
    int count = 0;
    probes::WallTime at{};
  };
  void Run();
  void Emit(const Pending& e);

  kube::Client& client_;
  Metrics* metrics_;
  Logger& log_;
  const probes::Clock& clock_;
  Options options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> last_ready_;  // key -> "True"/"False"
  std::map<std::string, std::string> uids_;
  std::deque<Pending> queue_;
  std::map<std::string, Sent> sent_;  // key|reason|message -> last Event
  bool stop_ = false;
  std::uint64_t emitted_ = 0;
  std::thread thread_;
};

}  // namespace healthgate::sinks
