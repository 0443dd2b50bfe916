#include "probes/probe_set.h"

namespace healthgate::probes {

ProbeSet::ProbeSet(Loop& loop, Resolver& resolver, const AddressPolicy& policy)
    : tcp_(loop, resolver, policy),
      http_(loop, resolver, policy),
      postgres_(loop, resolver, policy),
      redis_(loop, resolver, policy) {}

ProbeSet::~ProbeSet() = default;

std::unique_ptr<ProbeSession> ProbeSet::Start(const Target& target, DoneFn done) {
  struct Visitor {
    ProbeSet& self;
    DoneFn& done;
    std::unique_ptr<ProbeSession> operator()(const TcpConfig& c) {
      return self.tcp_.Start(c, std::move(done));
    }
    std::unique_ptr<ProbeSession> operator()(const HttpConfig& c) {
      return self.http_.Start(c, std::move(done));
    }
    std::unique_ptr<ProbeSession> operator()(const PostgresConfig& c) {
      return self.postgres_.Start(c, std::move(done));
    }
    std::unique_ptr<ProbeSession> operator()(const RedisConfig& c) {
      return self.redis_.Start(c, std::move(done));
    }
  };
  return std::visit(Visitor{*this, done}, target);
}

}  // namespace healthgate::probes
