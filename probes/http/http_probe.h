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
//  - every connection curl opens (each address it tries, each redirect hop) goes
//    through CURLOPT_OPENSOCKETFUNCTION, which refuses an address the
//    AddressPolicy refuses before a socket exists; a transfer that could open
//    none fails with reason `connect` and the policy's message;
//  - redirects are not followed unless `follow_redirects`; then the probe follows
//    at most 5 itself (http and https only), each hop a new transfer within the
//    same deadline, resolved by our Resolver. Headers from Secrets
//    (`from_secret`), Authorization and Cookie are sent only to the configured
//    scheme, host and port, never to another origin (curl, following by itself,
//    would send every custom header to every hop);
//  - bodies beyond `max_body_bytes` abort the transfer (kProtocol); only the
//    body of the final response counts and is kept, and only when a regex needs it;
//    the regex (RE2, see body_regex.h) was compiled with the config and matches in
//    linear time;
//  - a reset connection says "connection reset by peer" (kConnect); a response
//    curl refuses without a socket error (bad chunked encoding, oversized
//    headers) is kProtocol; a certificate failure names its cause (hostname
//    mismatch, expired, unknown CA, self-signed).
//
// Thread-safety: the prober and its sessions are used on the loop thread only.
// Sessions may outlive the prober (they share the curl multi handle).
#pragma once

#include <memory>
#include <string>

#include "probes/address_policy.h"
#include "probes/engine/loop.h"
#include "probes/engine/resolver.h"
#include "probes/http/config.h"
#include "probes/probe.h"

namespace healthgate::probes {

class CurlMulti;

class HttpProber {
 public:
  // Connects only to addresses `policy` allows (probes/address_policy.h).
  HttpProber(Loop& loop, Resolver& resolver, AddressPolicy policy = {});
  ~HttpProber();
  HttpProber(const HttpProber&) = delete;
  HttpProber& operator=(const HttpProber&) = delete;
  std::unique_ptr<ProbeSession> Start(const HttpConfig& config, DoneFn done);

 private:
  Loop& loop_;
  Resolver& resolver_;
  std::shared_ptr<const AddressPolicy> policy_;  // shared with sessions that outlive us
  std::shared_ptr<CurlMulti> multi_;             // one per prober, created by the first Start()
};

}  // namespace healthgate::probes
