#include "probes/engine/engine.h"

#include <algorithm>
#include <utility>

#include "common/random.h"
#include "probes/engine/cpus.h"
#include "probes/engine/loop.h"
#include "probes/engine/resolver.h"
#include "probes/probe_set.h"

namespace healthgate::probes {
namespace {

std::uint64_t Fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::uint64_t Mix(std::uint64_t x) {  // splitmix64's finalizer
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

std::size_t AssignLoop(std::string_view endpoint, std::size_t n) {
  if (n <= 1) return 0;
  const std::uint64_t h = Fnv1a(endpoint);
  std::size_t best = 0;
  std::uint64_t best_score = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t score = Mix(h ^ Mix(i));
    if (i == 0 || score > best_score) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

// One probe loop and everything that lives on it. Built before its thread
// starts; from then on only that thread touches the members below the loop.
struct Engine::Shard {
  Shard(const Clock& clock, std::uint64_t seed, const Scheduler::Options& options,
        const AddressPolicy& policy, Sink sink)
      : loop(clock), resolver(loop), random(seed) {
    timers = std::make_unique<UvTimers>(loop);
    probes = std::make_unique<ProbeSet>(loop, resolver, policy);
    scheduler =
        std::make_unique<Scheduler>(*timers, clock, random, *probes, std::move(sink), options);
  }
  ~Shard() {
    loop.Stop();
    scheduler.reset();
    probes.reset();
    timers.reset();
  }
  Loop loop;
  UvResolver resolver;
  SeededRandom random;
  std::unique_ptr<UvTimers> timers;
  std::unique_ptr<ProbeSet> probes;
  std::unique_ptr<Scheduler> scheduler;
};

Engine::Engine(const Clock& clock, std::uint64_t seed, EngineOptions options, Sink sink)
    : clock_(clock) {
  const std::size_t n =
      std::max<std::size_t>(1, options.threads != 0 ? options.threads : AvailableCpus());
  Scheduler::Options per_loop = options.scheduler;
  if (per_loop.max_in_flight != 0) per_loop.max_in_flight = (per_loop.max_in_flight + n - 1) / n;
  shards_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    shards_.push_back(
        std::make_unique<Shard>(clock, Mix(seed + i), per_loop, options.address_policy, sink));
  }
}

Engine::~Engine() {
  Stop();
  shards_.clear();
}

void Engine::Start() {
  if (started_) return;
  started_ = true;
  for (auto& s : shards_) s->loop.Start();
}

void Engine::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& s : shards_) s->loop.Stop();
}

std::size_t Engine::ShardOf(const ProbeDefinition& def) const {
  if (shards_.size() == 1) return 0;
  return AssignLoop(Endpoint(*def.target), shards_.size());
}

bool Engine::Upsert(ProbeDefinition def) {
  const auto to = static_cast<std::uint32_t>(ShardOf(def));
  auto [it, inserted] = where_.try_emplace(def.key, to);
  const std::uint32_t from = it->second;
  it->second = to;
  Shard* dst = shards_[to].get();
  if (inserted || from == to) {
    dst->loop.Post([dst, d = std::move(def)]() mutable { dst->scheduler->Upsert(std::move(d)); });
    return true;
  }
  // The endpoint moved to another loop: start the probe there first (later
  // changes of this key go there too, in order), then take its thresholds state
  // from the old loop and hand it over, so the verdict survives the move.
  std::string key = def.key;
  dst->loop.Post([dst, d = std::move(def)]() mutable { dst->scheduler->Upsert(std::move(d)); });
  Shard* src = shards_[from].get();
  src->loop.Post([src, dst, key = std::move(key)] {
    auto state = src->scheduler->Take(key);
    if (!state) return;
    dst->loop.Post([dst, key, s = *state] { dst->scheduler->AdoptState(key, s); });
  });
  return true;
}

void Engine::Remove(const std::string& key) {
  auto it = where_.find(key);
  if (it == where_.end()) return;
  Shard* s = shards_[it->second].get();
  where_.erase(it);
  s->loop.Post([s, key] { s->scheduler->Remove(key); });
}

Engine::LoopLoad Engine::Load(std::size_t loop) const {
  const Shard& shard = *shards_.at(loop);
  const Scheduler& s = *shard.scheduler;
  return LoopLoad{s.in_flight(),    s.waiting(),           s.max_in_flight(),
                  s.skipped_runs(), s.inconclusive_runs(), shard.timers->Stalled()};
}

std::uint64_t Engine::skipped_runs() const {
  std::uint64_t total = 0;
  for (const auto& s : shards_) total += s->scheduler->skipped_runs();
  return total;
}

MonoTime Engine::OldestHeartbeat() const {
  MonoTime oldest = MonoTime::max();
  for (const auto& s : shards_) oldest = std::min(oldest, s->loop.LastHeartbeat());
  return oldest;
}

}  // namespace healthgate::probes
