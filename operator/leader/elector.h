// The leader-election loop: applies lease.h's decisions to a real Lease through
// the API server. Only the leader writes; a standby waits. A leader that cannot
// renew within renew_deadline calls on_lost and stops writing before anyone else
// may take over, then keeps campaigning (on_started fires again if it wins).
// Release() gives the lease up on shutdown (empty holder), so a standby takes
// over at once.
//
// Thread-safety: Start/Stop/Release from the owner; callbacks on the elector's
// thread; leading() from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "operator/kube/client.h"
#include "operator/leader/lease.h"
#include "operator/log/log.h"
#include "operator/metrics/metrics.h"

namespace healthgate::leader {

class Elector {
 public:
  struct Callbacks {
    std::function<void()> on_started;
    std::function<void()> on_lost;
  };
  Elector(kube::Client& client, std::string ns, std::string name, LeaseConfig config,
          const healthgate::Clock& clock, Metrics* metrics, Logger& log, Callbacks callbacks);
  ~Elector();
  void Start();
  void Stop();
  // Gives the lease up if we hold it (on SIGTERM). Call after Stop().
  void Release();
  bool leading() const { return leading_.load(); }

 private:
  void Run();
  // One round: read, decide, write. Returns true while we hold the lease.
  bool Round();

  kube::Client& client_;
  kube::ResourceRef leases_;
  std::string name_;
  LeaseConfig config_;
  const healthgate::Clock& clock_;
  Metrics* metrics_;
  Logger& log_;
  Callbacks callbacks_;
  ElectorState state_;
  std::optional<nlohmann::json> held_;  // the Lease object as we last wrote it
  std::atomic<bool> leading_{false};
  kube::StopSignal stop_;
  std::thread thread_;
};

}  // namespace healthgate::leader
