#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "probes/secret.h"

namespace healthgate::probes {

struct StatusRange {
  int low = 200;
  int high = 299;
  bool operator==(const StatusRange&) const = default;
};

struct HttpHeader {
  std::string name;
  Secret value;  // may come from a Secret (e.g. Authorization); never echoed
  // Set when the value came from valueSecretRef: then result messages are
  // scrubbed of it (MessageSecrets in probes/target.h).
  bool from_secret = false;
  bool operator==(const HttpHeader&) const = default;
};

struct HttpConfig {
  std::string url;
  std::string method = "GET";
  std::vector<StatusRange> expect_status = {StatusRange{200, 299}};
  std::optional<std::string> body_regex;  // ECMAScript syntax, searched in the body
  std::vector<HttpHeader> headers;
  std::string body;                            // request body
  std::uint64_t max_body_bytes = 1024 * 1024;  // beyond it: protocol failure
  bool follow_redirects = false;
  bool insecure_skip_verify = false;
  Secret ca_pem;            // extra trusted CA (PEM); empty: system store only
  std::string server_name;  // TLS SNI / verification name override
  bool operator==(const HttpConfig&) const = default;
};

}  // namespace healthgate::probes
