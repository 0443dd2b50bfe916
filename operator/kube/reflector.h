// Reflector: keeps a local copy of one resource type (list, then watch) and
// reports changes, in the manner of client-go's reflector + informer store.
//
//  - Initial list (paged), then a watch from the list's resourceVersion;
//    OnSynced fires once, after the initial list has been delivered.
//  - Bookmarks advance the resourceVersion; a dropped or failed watch resumes
//    from the last resourceVersion after an exponential backoff with jitter.
//  - 410 Gone / Expired: relist and REPLACE the store as a whole, emitting
//    OnDelete only for objects really gone and OnUpsert only for new or changed
//    ones (by resourceVersion), so a relist causes no spurious churn.
//
// The loop is an explicit state machine (as kube-rs' watcher.rs): kEmpty
// (nothing listed, or a relist is due) -> kListing -> kWatching; a failed list
// or watch -> kBackoff (exponential with jitter, and at least the Retry-After a
// 429/5xx answer asked for) -> back to kListing (relist needed) or kWatching
// (resume from the last resourceVersion); 410 Gone -> kEmpty at once; Stop()
// -> kStopped. Waits go through a common::Waits, so tests drive them with a
// simulated clock.
//
// Threading: Run() (or the thread Start() creates) is the only writer; every
// handler is called on that thread, after the store reflects the change.
// Readers (Items, Find, counters, state) are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/wait.h"
#include "operator/kube/error.h"
#include "operator/kube/interface.h"
#include "operator/kube/stop.h"

namespace healthgate::kube {

struct BackoffPolicy {
  std::chrono::milliseconds initial{800};
  std::chrono::milliseconds max{30'000};
  double factor = 2.0;
  double jitter = 1.0;  // a delay d becomes d * (1 + jitter * U[0,1)), capped at max
};

// Exponential backoff with jitter. Pure; not thread-safe.
class Backoff {
 public:
  Backoff(BackoffPolicy policy, std::function<double()> uniform);
  std::chrono::milliseconds Next();
  void Reset();

 private:
  BackoffPolicy policy_;
  std::function<double()> uniform_;
  std::chrono::milliseconds current_;
};

// "namespace/name", or "name" for cluster-scoped objects.
std::string ObjectKey(const nlohmann::json& object);
std::string ResourceVersionOf(const nlohmann::json& object);

using Store = std::map<std::string, nlohmann::json>;

// What replacing `before` with `after` means to handlers: objects new or whose
// resourceVersion changed (upserts) and objects no longer present (deletes,
// carrying their last known state). Pure.
struct StoreDelta {
  std::vector<nlohmann::json> upserts;
  std::vector<nlohmann::json> deletes;
};
StoreDelta DiffStores(const Store& before, const Store& after);

struct ReflectorOptions {
  ResourceRef ref;  // ns empty: all namespaces
  std::string label_selector;
  std::string field_selector;
  std::int64_t page_size = 500;
  std::chrono::seconds watch_timeout{300};
  BackoffPolicy backoff;
  // Uniform [0,1) for jitter; default: a generator seeded from std::random_device.
  std::function<double()> uniform;
  // Time for backoff waits, and to tell a watch the server ends within a second
  // without any event (treated as a failure, so a misbehaving server cannot
  // make the reflector spin). Default: common::SystemWaits().
  common::Waits* waits = nullptr;
  // Applied to every object before it is stored and handed to handlers (like
  // client-go's SetTransform): keep only the fields the owner reads, so a cache
  // of many large objects (pods) stays small. It must keep metadata.namespace,
  // name and resourceVersion.
  std::function<nlohmann::json(const nlohmann::json&)> transform;
};

struct ReflectorHandlers {
  std::function<void(const nlohmann::json&)> on_upsert;
  std::function<void(const nlohmann::json&)> on_delete;
  std::function<void()> on_synced;                    // once, after the initial list
  std::function<void(const Error&)> on_error;         // each failed list or watch
  std::function<void(bool relist)> on_watch_restart;  // each new watch after the first
};

enum class ReflectorState {
  kEmpty,     // no list yet, or a relist is due (after 410 Gone)
  kListing,   // listing (all pages)
  kWatching,  // a watch from the last resourceVersion is open (or opening)
  kBackoff,   // waiting after a failed list or watch
  kStopped,
};
const char* ReflectorStateName(ReflectorState s);

class Reflector {
 public:
  Reflector(Interface& client, ReflectorOptions options, ReflectorHandlers handlers);
  ~Reflector();  // stops and joins
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  // Runs on a thread of its own until Stop().
  void Start();
  // Blocks the calling thread until Stop(). Call either Start or Run, once.
  void Run();
  // Interrupts a blocked list/watch/backoff promptly; joins Start()'s thread.
  void Stop();

  bool synced() const { return synced_.load(); }
  std::string resource_version() const;
  std::vector<nlohmann::json> Items() const;
  std::optional<nlohmann::json> Find(const std::string& key) const;
  std::uint64_t watch_restarts() const { return watch_restarts_.load(); }
  std::uint64_t relists() const { return relists_.load(); }  // after the initial list
  ReflectorState state() const { return state_.load(); }
  // The delay of the latest backoff wait (zero before the first).
  std::chrono::milliseconds last_backoff() const { return last_backoff_.load(); }

 private:
  // false: failed (reported); *error gets the failure.
  bool ListAndReplace(Error* error);
  void OnEvent(const WatchEvent& ev);
  // Backoff state for `d` (at least the error's Retry-After); true when stopped.
  bool Sleep(Backoff& backoff, const Error* error);

  Interface& client_;
  ReflectorOptions options_;
  ReflectorHandlers handlers_;
  StopSignal stop_;          // interrupts a blocked list/watch
  common::Stopper sleeper_;  // interrupts a backoff wait
  std::thread thread_;

  mutable std::mutex mu_;
  Store store_;          // guarded by mu_
  std::string rv_;       // guarded by mu_
  std::mt19937_64 rng_;  // default jitter source, used by the run thread only
  std::atomic<bool> synced_{false};
  std::atomic<std::uint64_t> watch_restarts_{0};
  std::atomic<std::uint64_t> relists_{0};
  std::atomic<ReflectorState> state_{ReflectorState::kEmpty};
  std::atomic<std::chrono::milliseconds> last_backoff_{std::chrono::milliseconds(0)};
  std::uint64_t events_this_watch_ = 0;  // run thread only
};

}  // namespace healthgate::kube
