#include "probes/target.h"

namespace healthgate::probes {

std::string_view TypeName(const Target& target) {
  struct Visitor {
    std::string_view operator()(const HttpConfig&) const { return "http"; }
    std::string_view operator()(const TcpConfig&) const { return "tcp"; }
    std::string_view operator()(const PostgresConfig&) const { return "postgres"; }
    std::string_view operator()(const RedisConfig&) const { return "redis"; }
  };
  return std::visit(Visitor{}, target);
}

}  // namespace healthgate::probes
