// Fault injection for multi-address hosts: a resolver that answers every lookup
// with a dead address (127.0.0.2, where nothing listens) before the live one.
// The system resolver cannot be made to produce such a name on demand. Lookups
// are not cancellable; tests wait for every attempt.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "probes/engine/loop.h"
#include "probes/engine/resolver.h"
#include "probes/probe.h"

namespace healthgate::testing {

class DeadThenLiveResolver final : public probes::Resolver {
 public:
  explicit DeadThenLiveResolver(probes::Loop& loop) : loop_(loop) {}
  std::unique_ptr<probes::ResolveHandle> Resolve(
      const std::string&, std::uint16_t port,
      std::function<void(probes::Resolution)> done) override {
    probes::Resolution r;
    r.addresses.resize(2);
    probes::ParseNumericAddress("127.0.0.2", port, &r.addresses[0]);
    probes::ParseNumericAddress("127.0.0.1", port, &r.addresses[1]);
    loop_.Post([done, r] { done(r); });
    return std::make_unique<probes::ResolveHandle>();
  }

 private:
  probes::Loop& loop_;
};

// Runs one attempt of `Prober` with a DeadThenLiveResolver on a private loop.
template <typename Prober, typename Config>
probes::Result RunWithDeadThenLive(const Config& config) {
  healthgate::RealClock clock;
  probes::Loop loop(clock);
  DeadThenLiveResolver resolver(loop);
  Prober prober(loop, resolver);
  std::optional<probes::Result> got;
  std::unique_ptr<probes::ProbeSession> session;
  loop.Post([&] {
    session = prober.Start(config, [&](probes::Result r) {
      got = std::move(r);
      loop.Stop();
    });
  });
  loop.RunHere();
  session.reset();
  EXPECT_TRUE(got.has_value());
  return got.value_or(probes::Result::Failure(probes::Reason::kTimeout, "no result"));
}

}  // namespace healthgate::testing
