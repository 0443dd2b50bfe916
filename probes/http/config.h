#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "probes/http/body_regex.h"
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
  // The value came from a Kubernetes Secret (valueSecretRef): like Authorization
  // and Cookie, never sent to another origin on a followed redirect, and result
  // messages are scrubbed of it (MessageSecrets in probes/target.h).
  bool from_secret = false;
  bool operator==(const HttpHeader&) const = default;
};

struct HttpConfig {
  std::string url;
  std::string method = "GET";
  std::vector<StatusRange> expect_status = {StatusRange{200, 299}};
  std::optional<BodyRegex> body_regex;  // RE2 syntax, searched in the body
  std::vector<HttpHeader> headers;
  std::string body;                            // request body
  std::uint64_t max_body_bytes = 1024 * 1024;  // beyond it: protocol failure
  // Up to 5 redirects; headers from Secrets, Authorization and Cookie go only to
  // the original scheme, host and port.
  bool follow_redirects = false;
  bool insecure_skip_verify = false;
  Secret ca_pem;            // extra trusted CA (PEM); empty: system store only
  std::string server_name;  // TLS SNI / verification name override
  bool operator==(const HttpConfig&) const = default;
};

}  // namespace healthgate::probes
