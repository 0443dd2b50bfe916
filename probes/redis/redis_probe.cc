// Placeholder until the redis probe type lands: every attempt fails loudly.
#include "probes/redis/redis_probe.h"

namespace healthgate::probes {

RedisProber::RedisProber(Loop& loop, Resolver& resolver) : loop_(loop), resolver_(resolver) {}
RedisProber::~RedisProber() = default;

namespace {
class Unavailable final : public ProbeSession {
 public:
  std::string_view Phase() const override { return "start"; }
};
}  // namespace

std::unique_ptr<ProbeSession> RedisProber::Start(const RedisConfig&, DoneFn done) {
  loop_.Post([done] { done(Result::Failure(Reason::kProtocol, "redis probes are not available in this build")); });
  return std::make_unique<Unavailable>();
}

}  // namespace healthgate::probes
