#include "probes/result.h"

namespace healthgate::probes {

std::string_view ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kSuccess:
      return "success";
    case Reason::kTimeout:
      return "timeout";
    case Reason::kDns:
      return "dns";
    case Reason::kConnect:
      return "connect";
    case Reason::kTls:
      return "tls";
    case Reason::kAuth:
      return "auth";
    case Reason::kProtocol:
      return "protocol";
    case Reason::kAssertion:
      return "assertion";
  }
  return "protocol";
}

}  // namespace healthgate::probes
