// Real PostgreSQL and Redis servers for tests, on free loopback ports, from the
// Debian packages (see scripts/setup.sh). A server that cannot start throws
// std::runtime_error carrying the server's log: the test fails loudly.
// Not thread-safe; one test thread drives a server.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.h"

namespace healthgate::testing {

// A throwaway certificate authority made with the openssl CLI (EC P-256 keys).
class TestCa {
 public:
  explicit TestCa(const std::string& common_name = "healthgate test CA");
  const std::string& cert_pem() const { return cert_pem_; }
  // Issues a server certificate for localhost / 127.0.0.1 / ::1 into
  // `cert_path` and `key_path` (PEM).
  void IssueServerCert(const std::string& cert_path, const std::string& key_path) const;

 private:
  TempDir dir_;
  std::string cert_pem_;
};

struct PostgresOptions {
  // pg_hba method for TCP connections: "trust", "scram-sha-256", "md5", "reject".
  std::string auth = "trust";
  // Password of the `postgres` superuser (set whatever `auth` is).
  std::string password;
  // Serve TLS with a certificate issued by ca() for localhost/127.0.0.1.
  bool ssl = false;
  // With ssl: accept TCP connections only over TLS (pg_hba `hostssl`).
  bool ssl_only = false;
};

class PostgresServer {
 public:
  explicit PostgresServer(PostgresOptions options = {});
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  std::uint16_t port() const { return port_; }
  // The CA that signed the server certificate (only with options.ssl).
  const TestCa& ca() const { return *ca_; }
  // Starts again on the same port after Stop().
  void Start();
  void Stop();
  // Runs SQL as the superuser over the server's unix socket; throws on error.
  std::string Sql(const std::string& sql) const;
  std::string Log() const;

 private:
  PostgresOptions options_;
  TempDir dir_;
  std::string data_;
  std::uint16_t port_ = 0;
  std::unique_ptr<TestCa> ca_;
  bool running_ = false;
};

struct RedisOptions {
  std::string requirepass;  // password of the default user
  // An ACL user with every permission (Redis 6+ `user` directive).
  std::string acl_user;
  std::string acl_password;
  // Replicate from a master on 127.0.0.1 (with its requirepass as masterauth).
  std::optional<std::uint16_t> replica_of;
  std::string master_password;
};

class RedisServer {
 public:
  explicit RedisServer(RedisOptions options = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  void Start();  // again on the same port after Stop()
  void Stop();
  // Runs redis-cli against the server (authenticated with requirepass); returns its output.
  std::string Cli(const std::vector<std::string>& args) const;
  std::string Log() const;

 private:
  RedisOptions options_;
  TempDir dir_;
  std::uint16_t port_ = 0;
  Process process_;
};

// A TCP server on 127.0.0.1 that answers every connection with an HTTP error
// and closes it: a peer that does not speak the protocol a probe expects.
class WrongProtocolServer {
 public:
  WrongProtocolServer();
  ~WrongProtocolServer();
  WrongProtocolServer(const WrongProtocolServer&) = delete;
  WrongProtocolServer& operator=(const WrongProtocolServer&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  int stop_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace healthgate::testing
