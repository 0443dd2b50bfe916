#pragma once

#include <memory>

#include "probes/engine/loop.h"
#include "probes/engine/resolver.h"
#include "probes/probe.h"
#include "probes/http/config.h"

namespace healthgate::probes {

class HttpProber {
 public:
  HttpProber(Loop& loop, Resolver& resolver);
  ~HttpProber();
  HttpProber(const HttpProber&) = delete;
  HttpProber& operator=(const HttpProber&) = delete;
  std::unique_ptr<ProbeSession> Start(const HttpConfig& config, DoneFn done);

 private:
  Loop& loop_;
  Resolver& resolver_;
};

}  // namespace healthgate::probes
