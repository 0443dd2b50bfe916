#pragma once

#include <cstdint>
#include <optional>
#include <string>

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
  bool operator==(const PostgresConfig&) const = default;
};

}  // namespace healthgate::probes
