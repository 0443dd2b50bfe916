// Redis probe: resolve the host asynchronously, connect with hiredis' async API
// on the probe loop, then (pipelined) AUTH [user] password, SELECT db, the
// configured command, and ROLE when a role is expected.
//
// Failure reasons:
//   kDns        the host name did not resolve
//   kConnect    refused/unreachable, or the connection broke before a reply
//   kAuth       AUTH was rejected, or a command failed with NOAUTH/WRONGPASS/NOPERM
//   kProtocol   the peer did not speak RESP, or sent more than max_reply_bytes
//               in the attempt (counted on the socket, and from a bulk or array
//               header that announces more)
//   kAssertion  SELECT or the command failed, the reply differs from `expect`
//               (PONG for a bare PING), or the server has another role
// Messages carry the server's error text, never the password.
//
// The peer is written with write(2): the process must ignore SIGPIPE (as every
// program writing to sockets does).
#pragma once

#include <memory>

#include "probes/address_policy.h"
#include "probes/engine/loop.h"
#include "probes/engine/resolver.h"
#include "probes/probe.h"
#include "probes/redis/config.h"

namespace healthgate::probes {

// Thread-safety: Start() and the sessions it returns live on the loop thread.
class RedisProber {
 public:
  // Connects only to addresses `policy` allows (probes/address_policy.h).
  RedisProber(Loop& loop, Resolver& resolver, AddressPolicy policy = {});
  ~RedisProber();
  RedisProber(const RedisProber&) = delete;
  RedisProber& operator=(const RedisProber&) = delete;
  std::unique_ptr<ProbeSession> Start(const RedisConfig& config, DoneFn done);

 private:
  Loop& loop_;
  Resolver& resolver_;
  AddressPolicy policy_;
};

}  // namespace healthgate::probes
