// Placeholder until the http probe type lands: every attempt fails loudly.
#include "probes/http/http_probe.h"

namespace healthgate::probes {

HttpProber::HttpProber(Loop& loop, Resolver& resolver) : loop_(loop), resolver_(resolver) {}
HttpProber::~HttpProber() = default;

namespace {
class Unavailable final : public ProbeSession {
 public:
  std::string_view Phase() const override { return "start"; }
};
}  // namespace

std::unique_ptr<ProbeSession> HttpProber::Start(const HttpConfig&, DoneFn done) {
  loop_.Post([done] { done(Result::Failure(Reason::kProtocol, "http probes are not available in this build")); });
  return std::make_unique<Unavailable>();
}

}  // namespace healthgate::probes
