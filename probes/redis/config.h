#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "probes/reply_limit.h"
#include "probes/secret.h"

namespace healthgate::probes {

struct RedisConfig {
  std::string host;
  std::uint16_t port = 6379;
  std::string username;  // ACL user; empty: AUTH with the password only
  Secret password;
  int db = 0;
  std::vector<std::string> command = {"PING"};
  // Expected reply (status or bulk string). Unset: "PONG" for PING, any non-error otherwise.
  std::optional<std::string> expect;
  std::optional<std::string> role;  // "master" or "replica" (from ROLE)
  // Most bytes the server may send in one attempt (all replies together: AUTH,
  // SELECT, the command, ROLE); beyond it the attempt fails with kProtocol.
  std::uint64_t max_reply_bytes = kDefaultMaxReplyBytes;
  bool operator==(const RedisConfig&) const = default;
};

}  // namespace healthgate::probes
