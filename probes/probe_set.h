// The production Prober: one instance of each probe type, sharing the loop and
// the resolver. Lives on the loop thread.
#pragma once

#include <memory>

#include "probes/address_policy.h"
#include "probes/engine/loop.h"
#include "probes/engine/resolver.h"
#include "probes/http/http_probe.h"
#include "probes/postgres/postgres_probe.h"
#include "probes/prober.h"
#include "probes/redis/redis_probe.h"
#include "probes/tcp/tcp_probe.h"

namespace healthgate::probes {

class ProbeSet final : public Prober {
 public:
  // Every probe type connects only to addresses `policy` allows.
  ProbeSet(Loop& loop, Resolver& resolver, const AddressPolicy& policy);
  ~ProbeSet() override;
  std::unique_ptr<ProbeSession> Start(const Target& target, DoneFn done) override;

 private:
  TcpProber tcp_;
  HttpProber http_;
  PostgresProber postgres_;
  RedisProber redis_;
};

}  // namespace healthgate::probes
