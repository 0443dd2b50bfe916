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

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

std::string HostPort(const std::string& host, std::uint16_t port) {
  return Lower(host) + ":" + std::to_string(port);
}

// "scheme://[user@]host[:port][/...]" -> "host:port". Validation made sure the URL
// has this shape; anything else is its own endpoint (the whole text).
std::string UrlEndpoint(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return Lower(url);
  const std::string scheme = Lower(url.substr(0, scheme_end));
  std::string authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  const auto bracket = authority.rfind(']');
  const auto colon = authority.rfind(':');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    return Lower(authority);
  }
  return Lower(authority) + (scheme == "https" ? ":443" : ":80");
}

}  // namespace

std::string Endpoint(const Target& target) {
  struct Visitor {
    std::string operator()(const HttpConfig& c) const { return UrlEndpoint(c.url); }
    std::string operator()(const TcpConfig& c) const { return HostPort(c.host, c.port); }
    std::string operator()(const PostgresConfig& c) const { return HostPort(c.host, c.port); }
    std::string operator()(const RedisConfig& c) const { return HostPort(c.host, c.port); }
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
