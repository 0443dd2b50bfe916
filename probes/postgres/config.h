#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "probes/reply_limit.h"
#include "probes/secret.h"

namespace healthgate::probes {

struct PostgresConfig {
  std::string host;
  std::uint16_t port = 5432;
  std::string database = "postgres";
  std::string user = "postgres";
  Secret password;
  // disable, allow, prefer, require, verify-ca, verify-full (libpq's sslmode).
  std::string ssl_mode = "prefer";
  Secret ca_pem;  // root CA for verify-ca/verify-full; empty: libpq's default
  std::string query = "SELECT 1";
  std::optional<std::string> expect;  // first column of the first row, as text
  // Most bytes the server may send in one attempt (startup, authentication and
  // the query's reply together); beyond it the attempt fails with kProtocol.
  std::uint64_t max_reply_bytes = kDefaultMaxReplyBytes;
  // Bounds the backend's work to the probe's timeout (Materialize sets it from
  // the probe's timeout): statement_timeout, lock_timeout and
  // idle_in_transaction_session_timeout in the startup packet. Zero: the
  // server's own settings.
  std::chrono::milliseconds server_timeout{0};
  bool operator==(const PostgresConfig&) const = default;
};

}  // namespace healthgate::probes
