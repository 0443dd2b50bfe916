// PostgreSQL probe: resolve the host asynchronously, connect with libpq in
// non-blocking mode on the probe loop, run one query and optionally compare the
// first column of the first row with an expected value.
//
// Failure reasons (what an operator acts on):
//   kDns        the host name did not resolve
//   kConnect    refused/unreachable, or the server is not accepting connections
//               (SQLSTATE classes 08, 53, 57: starting up, shutting down, too many
//               connections)
//   kTls        TLS negotiation or certificate verification failed (sslMode
//               require/verify-ca/verify-full, or a server without TLS)
//   kAuth       the server rejected the login (SQLSTATE class 28: wrong password,
//               unknown role, no pg_hba.conf entry)
//   kAssertion  the login worked far enough for the server to answer, but not as
//               the check expects: unknown database (3D000), a failing query, or
//               a value different from `expect`. An unknown database is a
//               configuration/state problem of the target, not a credential
//               problem, so it is not reported as kAuth.
//   kProtocol   the peer did not speak the PostgreSQL protocol, or sent more
//               than max_reply_bytes in the attempt (the query's reply is relayed
//               to libpq through a local socket pair and counted; see Interpose)
// The session is read-only (default_transaction_read_only) and, when
// server_timeout is set, its statements, lock waits and idle transactions are
// bounded by it on the server (startup options), so a timed-out probe leaves no
// backend working behind it.
// Messages carry the server's primary message and SQLSTATE, never the password.
#pragma once

#include <memory>

#include "probes/address_policy.h"
#include "probes/engine/loop.h"
#include "probes/engine/resolver.h"
#include "probes/postgres/config.h"
#include "probes/probe.h"

namespace healthgate::probes {

// Thread-safety: Start() and the sessions it returns live on the loop thread.
class PostgresProber {
 public:
  // Connects only to addresses `policy` allows (probes/address_policy.h).
  PostgresProber(Loop& loop, Resolver& resolver, AddressPolicy policy = {});
  ~PostgresProber();
  PostgresProber(const PostgresProber&) = delete;
  PostgresProber& operator=(const PostgresProber&) = delete;
  std::unique_ptr<ProbeSession> Start(const PostgresConfig& config, DoneFn done);

 private:
  Loop& loop_;
  Resolver& resolver_;
  AddressPolicy policy_;
};

}  // namespace healthgate::probes
