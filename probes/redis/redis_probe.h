#pragma once

#include <memory>

#include "probes/engine/loop.h"
#include "probes/engine/resolver.h"
#include "probes/probe.h"
#include "probes/redis/config.h"

namespace healthgate::probes {

class RedisProber {
 public:
  RedisProber(Loop& loop, Resolver& resolver);
  ~RedisProber();
  RedisProber(const RedisProber&) = delete;
  RedisProber& operator=(const RedisProber&) = delete;
  std::unique_ptr<ProbeSession> Start(const RedisConfig& config, DoneFn done);

 private:
  Loop& loop_;
  Resolver& resolver_;
};

}  // namespace healthgate::probes
