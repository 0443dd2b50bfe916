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

std::vector<Secret> MessageSecrets(const Target& target) {
  std::vector<Secret> out;
  if (const auto* c = std::get_if<PostgresConfig>(&target)) {
    if (!c->password.empty()) out.push_back(c->password);
  } else if (const auto* r = std::get_if<RedisConfig>(&target)) {
    if (!r->password.empty()) out.push_back(r->password);
  } else if (const auto* h = std::get_if<HttpConfig>(&target)) {
    for (const HttpHeader& header : h->headers) {
      if (header.from_secret && !header.value.empty()) out.push_back(header.value);
    }
  }
  return out;
}

}  // namespace healthgate::probes
