#pragma once

#include <memory>

#include "probes/engine/loop.h"
#include "probes/engine/resolver.h"
#include "probes/probe.h"
#include "probes/postgres/config.h"

namespace healthgate::probes {

class PostgresProber {
 public:
  PostgresProber(Loop& loop, Resolver& resolver);
  ~PostgresProber();
  PostgresProber(const PostgresProber&) = delete;
  PostgresProber& operator=(const PostgresProber&) = delete;
  std::unique_ptr<ProbeSession> Start(const PostgresConfig& config, DoneFn done);

 private:
  Loop& loop_;
  Resolver& resolver_;
};

}  // namespace healthgate::probes
