// What one probe points at: exactly one of the probe types.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "probes/http/config.h"
#include "probes/postgres/config.h"
#include "probes/redis/config.h"
#include "probes/tcp/config.h"

namespace healthgate::probes {

using Target = std::variant<HttpConfig, TcpConfig, PostgresConfig, RedisConfig>;

// "http", "tcp", "postgres", "redis": the `type` metrics label.
std::string_view TypeName(const Target& target);

// The server a target's attempts load: "host:port" (for HTTP the URL's host and
// port, default 80/443), lower-cased. Attempts are bounded per endpoint so that
// many checks of one server never storm it.
std::string Endpoint(const Target& target);

// The credentials of `target` that a server might echo: the postgres and redis
// passwords and the HTTP header values taken from a Secret. RunAttempt scrubs
// every result message of them (SafeMessage in probes/text.h). CA bundles are
// not listed: they are public certificates, and a PEM would only cost windows.
std::vector<Secret> MessageSecrets(const Target& target);

}  // namespace healthgate::probes
