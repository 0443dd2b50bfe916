// TCP probe: connect (trying each resolved address in turn), optionally send
// bytes and wait for expected bytes in the reply.
#pragma once

#include <memory>
#include <utility>

#include "probes/address_policy.h"
#include "probes/engine/loop.h"
#include "probes/engine/resolver.h"
#include "probes/probe.h"
#include "probes/tcp/config.h"

namespace healthgate::probes {

class TcpProber {
 public:
  // Connects only to addresses `policy` allows (probes/address_policy.h).
  TcpProber(Loop& loop, Resolver& resolver, AddressPolicy policy = {})
      : loop_(loop), resolver_(resolver), policy_(std::move(policy)) {}
  std::unique_ptr<ProbeSession> Start(const TcpConfig& config, DoneFn done);

 private:
  Loop& loop_;
  Resolver& resolver_;
  AddressPolicy policy_;
};

}  // namespace healthgate::probes
