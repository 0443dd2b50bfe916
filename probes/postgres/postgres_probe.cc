// Placeholder until the postgres probe type lands: every attempt fails loudly.
#include "probes/postgres/postgres_probe.h"

namespace healthgate::probes {

PostgresProber::PostgresProber(Loop& loop, Resolver& resolver) : loop_(loop), resolver_(resolver) {}
PostgresProber::~PostgresProber() = default;

namespace {
class Unavailable final : public ProbeSession {
 public:
  std::string_view Phase() const override { return "start"; }
};
}  // namespace

std::unique_ptr<ProbeSession> PostgresProber::Start(const PostgresConfig&, DoneFn done) {
  loop_.Post([done] { done(Result::Failure(Reason::kProtocol, "postgres probes are not available in this build")); });
  return std::make_unique<Unavailable>();
}

}  // namespace healthgate::probes
