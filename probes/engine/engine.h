// The probe engine: N probe loops, each a thread with its own libuv loop,
// libcurl multi, timers, resolver, probe types and scheduler (with its own
// admission state), owning a disjoint set of probes.
//
// Assignment: a probe runs on the loop chosen by rendezvous hashing of its
// endpoint (host:port, probes/target.h): every probe of one server lands on the
// same loop, so the per-endpoint and per-database bounds (and a probe's
// maxConcurrent) hold for the whole process, with no shared counter between
// loops; a change of N (a restart with another --probe-threads) moves only about
// 1/N of the endpoints; a definition whose endpoint changed moves to that
// endpoint's loop and takes its thresholds state along. The process-wide
// `max_in_flight` is divided between the loops (each gets ceil(total / N)).
//
// Thread-safety: Upsert/Remove/Contains/size are called from one control thread
// at a time (the controller's loop); they forward to the owning loop with
// Loop::Post, so a probe's changes apply in the order they were made. Load(),
// skipped_runs() and OldestHeartbeat() may be called from any thread. The sink
// is called on the probe loops, concurrently from different loops: it must be
// thread-safe. Nothing outside the engine needs to know how many loops exist.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "probes/address_policy.h"
#include "probes/engine/scheduler.h"

namespace healthgate::probes {

struct EngineOptions {
  std::size_t threads = 0;  // probe loops; 0: AvailableCpus() (probes/engine/cpus.h)
  // Admission bounds as the user gives them: max_in_flight for the whole process
  // (divided between the loops), the per-endpoint bounds as they are (each
  // endpoint lives on one loop).
  Scheduler::Options scheduler;
  // Which addresses probes may connect to (--probe-deny-cidrs,
  // --probe-allow-cidrs); by default the link-local and metadata ranges are denied.
  AddressPolicy address_policy;
};

// The loop (0..n-1) that owns `endpoint`'s probes: highest rendezvous score.
std::size_t AssignLoop(std::string_view endpoint, std::size_t n);

class Engine {
 public:
  using Sink = Scheduler::Sink;
  Engine(const Clock& clock, std::uint64_t seed, EngineOptions options, Sink sink);
  ~Engine();  // stops every loop, then frees what lived on them
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void Start();  // starts the loop threads
  void Stop();   // joins them; idempotent

  // Control thread (see above). Upsert returns true when it forwarded a change
  // (the loop compares the definition itself and leaves an identical one alone).
  bool Upsert(ProbeDefinition def);
  void Remove(const std::string& key);
  bool Contains(const std::string& key) const { return where_.contains(key); }
  std::size_t size() const { return where_.size(); }

  // Any thread.
  std::size_t loops() const { return shards_.size(); }
  struct LoopLoad {
    std::size_t in_flight = 0;
    std::size_t waiting = 0;
    std::size_t max_in_flight = 0;  // this loop's bound (0: none)
    std::uint64_t skipped_runs = 0;
    std::uint64_t inconclusive_runs = 0;  // also in skipped_runs
    Duration stalled{};                   // Timers::Stalled() of the loop
  };
  LoopLoad Load(std::size_t loop) const;
  std::uint64_t skipped_runs() const;
  // The oldest heartbeat among the probe loops (for /livez: every loop must live).
  MonoTime OldestHeartbeat() const;

 private:
  struct Shard;
  std::size_t ShardOf(const ProbeDefinition& def) const;

  const Clock& clock_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unordered_map<std::string, std::uint32_t> where_;  // key -> loop (control thread)
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace healthgate::probes
