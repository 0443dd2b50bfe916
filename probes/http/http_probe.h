// HTTP(S) probe: one request per attempt on a fresh connection, through a libcurl
// multi handle driven by the probe loop (see curl_multi.h).
//
// An attempt resolves the URL's host with our asynchronous Resolver, hands the
// numeric addresses to curl (CURLOPT_RESOLVE, so the host name still drives SNI,
// certificate verification and the Host header), sends the request and checks the
// status against any of `expect_status` and the body against `body_regex`.
//
// Behaviour worth knowing:
//  - every attempt opens a new connection and performs a full TLS handshake (no
//    connection or TLS-session reuse): a probe measures what a new client sees;
//  - proxies from the environment (http_proxy, ...) are ignored;
//  - `ca_pem` is trusted in addition to the system store (added to the OpenSSL
//    store of the connection); `insecure_skip_verify` turns all verification off;
//  - `server_name` overrides the name used for SNI and certificate verification
//    (the connection still goes to the URL host's addresses; the Host header
//    keeps the URL's host);
//  - redirects are not followed unless `follow_redirects` (then at most 5, http
//    and https only); a redirect to another host name is resolved by curl's own
//    threaded resolver, which does not block the loop either;
//  - bodies beyond `max_body_bytes` abort the transfer (kProtocol); only the
//    body of the final response counts and is kept, and only when a regex needs it.
//
// Thread-safety: the prober and its sessions are used on the loop thread only.
// Sessions may outlive the prober (they share the curl multi handle).
#pragma once

#include <map>
#include <memory>
#include <regex>
#include <string>

#include "probes/engine/loop.h"
#include "probes/engine/resolver.h"
#include "probes/http/config.h"
#include "probes/probe.h"

namespace healthgate::probes {

class CurlMulti;

class HttpProber {
 public:
  HttpProber(Loop& loop, Resolver& resolver);
  ~HttpProber();
  HttpProber(const HttpProber&) = delete;
  HttpProber& operator=(const HttpProber&) = delete;
  std::unique_ptr<ProbeSession> Start(const HttpConfig& config, DoneFn done);

 private:
  // Compiled body regexes by pattern, so a pattern compiles once, not per attempt.
  // Null when the pattern does not compile (`error` says why).
  struct CompiledRegex {
    std::shared_ptr<const std::regex> regex;
    std::string error;
  };
  const CompiledRegex& Compile(const std::string& pattern);

  Loop& loop_;
  Resolver& resolver_;
  std::shared_ptr<CurlMulti> multi_;  // one per prober, created by the first Start()
  std::map<std::string, CompiledRegex> regexes_;
};

}  // namespace healthgate::probes
