// TCP probe: connect (trying each resolved address in turn), optionally send
// bytes and wait for expected bytes in the reply.
#pragma once

#include <memory>

#include "probes/engine/loop.h"
#include "probes/engine/resolver.h"
#include "probes/probe.h"
#include "probes/tcp/config.h"

namespace healthgate::probes {

class TcpProber {
 public:
  TcpProber(Loop& loop, Resolver& resolver) : loop_(loop), resolver_(resolver) {}
  std::unique_ptr<ProbeSession> Start(const TcpConfig& config, DoneFn done);

 private:
  Loop& loop_;
  Resolver& resolver_;
};

}  // namespace healthgate::probes
