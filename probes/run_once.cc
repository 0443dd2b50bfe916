#include "probes/run_once.h"

#include <functional>
#include <memory>

#include "probes/engine/attempt.h"
#include "probes/engine/loop.h"
#include "probes/engine/resolver.h"
#include "probes/probe_set.h"

namespace healthgate::probes {

std::vector<Result> RunOnce(const std::vector<OnceRequest>& requests, const AddressPolicy& policy) {
  std::vector<Result> results(requests.size());
  if (requests.empty()) return results;
  RealClock clock;
  Loop loop(clock);
  UvResolver resolver(loop);
  std::vector<std::unique_ptr<Attempt>> attempts(requests.size());
  {
    UvTimers timers(loop);
    ProbeSet probes(loop, resolver, policy);
    std::size_t left = requests.size();
    std::vector<int> tries(requests.size(), 0);
    std::function<void(std::size_t)> run = [&](std::size_t i) {
      ++tries[i];
      attempts[i] = RunAttempt(probes, timers, clock, requests[i].target, requests[i].timeout,
                               [&, i](Result r) {
                                 if (r.inconclusive && tries[i] < kMaxOnceTries) {
                                   // The loop stalled (a loaded CI runner): this attempt
                                   // says nothing about the target; run it again. The
                                   // finished attempt is the caller: replace it later.
                                   loop.Post([&run, i] { run(i); });
                                   return;
                                 }
                                 results[i] = std::move(r);
                                 if (--left == 0) loop.Stop();
                               });
    };
    loop.Post([&] {
      for (std::size_t i = 0; i < requests.size(); ++i) run(i);
    });
    loop.RunHere();
    attempts.clear();
  }
  return results;
}

}  // namespace healthgate::probes
