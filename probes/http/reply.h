// What an HTTP probe makes of the response it received, apart from the
// connection: the body kept under `max_body_bytes` (fed by curl's header and
// write callbacks), then the verdict from the status, the Location header and
// the body (expectStatus ranges, bodyRegex, a redirect to follow). Pure code, so
// it is unit-tested and fuzzed (tests/fuzz/http_reply_fuzz.cc) without a socket.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "probes/http/config.h"
#include "probes/result.h"

namespace healthgate::probes {

// The final response's body as far as it is kept, and where its headers are.
struct HttpReply {
  std::string body;  // kept only when the config has a body regex
  std::uint64_t body_bytes = 0;
  bool cap_exceeded = false;  // the body passed max_body_bytes: the transfer is aborted
  bool in_headers = false;    // between a status line and the end of its headers

  // One header line as curl hands it over (with its CRLF). A status line
  // ("HTTP/...") starts a new response (after a 1xx): only the final one's body counts.
  void OnHeader(std::string_view line);
  // A piece of the body. False (and `cap_exceeded`) once the body would pass
  // `config.max_body_bytes`; nothing more is kept then.
  bool OnBody(std::string_view data, const HttpConfig& config);
  // Forgets everything (a redirect starts a new hop).
  void Clear();
};

// "response body exceeds the limit of N bytes".
std::string BodyCapMessage(std::uint64_t max_body_bytes);

// `location` (a Location header's value) resolved against `base`; empty if it
// does not parse.
std::string ResolveLocation(const std::string& base, const std::string& location);
// `url` without user name and password (for messages); empty if it does not parse.
std::string WithoutUserinfo(const char* url);

struct HttpVerdict {
  std::string redirect;  // not empty: follow this absolute URL (no verdict yet)
  Result result;         // the verdict when `redirect` is empty
};

// The verdict on a transfer curl completed without an error. `url` is the hop's
// URL; `status` the response code; `location` returns the response's Location
// header (empty when none) and is called only for a 3xx status.
HttpVerdict JudgeReply(const HttpConfig& config, const std::string& url, long status,
                       const HttpReply& reply, const std::function<std::string()>& location);

}  // namespace healthgate::probes
