// In-process HTTP(S) targets for probe tests, on free loopback ports: a real
// HTTP server (cpp-httplib, optionally TLS) with canned routes, and raw-socket
// targets that misbehave on purpose. A target that cannot start throws, so the
// test fails loudly.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace healthgate::testing {

// A self-signed certificate (CN and SAN "localhost" and 127.0.0.1) and its key,
// written into `dir` by the openssl command-line tool.
struct TlsFiles {
  std::string cert_path;
  std::string key_path;
  std::string cert_pem;  // the certificate's contents
};
TlsFiles MakeSelfSignedCert(const std::string& dir, const std::string& name = "server");

// A CA (self-signed, may sign) written into `dir`.
TlsFiles MakeCa(const std::string& dir, const std::string& name = "ca");

// A server certificate for `host` (CN and SAN; an IP address gets an IP SAN)
// signed by `ca`. `expired`: valid only in January 2020.
struct CertOptions {
  std::string host = "localhost";
  bool expired = false;
};
TlsFiles MakeCaSignedCert(const std::string& dir, const TlsFiles& ca, const std::string& name,
                          const CertOptions& options = {});

// A real HTTP/1.1 server on 127.0.0.1 with these routes:
//   GET  /ok             200 "ok: healthy"
//   GET  /slow?ms=N      200 "ok: slow" after N milliseconds
//   GET  /status/<code>  <code> "status <code>"
//   GET  /redirect       302, Location: /ok
//   GET, POST /redirect-to?url=U[&code=C]  C (default 302), Location: U
//   GET  /loop           302, Location: /loop
//   GET  /filler?n=N&fill=F&tail=T    200, N bytes of F's first byte, then T
//   GET  /big            200, 100 MB chunked (no Content-Length); see big_bytes_sent()
//   GET  /big-sized      200, Content-Length: 100 MB, streamed; see big_bytes_sent()
//   *    /echo           200, body "<METHOD> <request body>"
// Every request's headers are recorded (see LastHeader).
class HttpTarget {
 public:
  // Plain HTTP, or HTTPS with the given certificate and key.
  explicit HttpTarget(std::optional<TlsFiles> tls = std::nullopt);
  ~HttpTarget();
  HttpTarget(const HttpTarget&) = delete;
  HttpTarget& operator=(const HttpTarget&) = delete;

  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:<port>" or "https://..." with `host` (e.g. "localhost").
  std::string Url(const std::string& path, const std::string& host = "127.0.0.1") const;
  // The value of header `name` in the most recent request, if it had one.
  std::optional<std::string> LastHeader(const std::string& name) const;
  std::uint64_t big_bytes_sent() const { return big_bytes_sent_.load(); }
  int requests() const { return requests_.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
  bool tls_ = false;
  std::atomic<std::uint64_t> big_bytes_sent_{0};
  std::atomic<int> requests_{0};
  mutable std::mutex mu_;
  std::multimap<std::string, std::string> last_headers_;  // lower-case names
};

// A raw TCP listener on 127.0.0.1 that runs `handler` for every accepted
// connection on its own thread. `stop` turns true when the target is destroyed;
// handlers must return soon after. The connection is closed after the handler.
class RawTarget {
 public:
  using Handler = std::function<void(int fd, const std::atomic<bool>& stop)>;
  explicit RawTarget(Handler handler);
  ~RawTarget();
  RawTarget(const RawTarget&) = delete;
  RawTarget& operator=(const RawTarget&) = delete;
  std::uint16_t port() const { return port_; }
  std::string Url(const std::string& path) const;

 private:
  void AcceptLoop();
  Handler handler_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> connections_;
};

// Handlers for RawTarget.
// Reads the request head, answers 200 with Content-Length `length`, then sends one
// body byte every `every` until done, the peer leaves or the target stops.
RawTarget::Handler Trickle(std::size_t length, std::chrono::milliseconds every);
// Reads a little, then writes `bytes` (not HTTP) and closes.
RawTarget::Handler Garbage(std::string bytes);
// Reply and ResetAfter are fakes on purpose: no real HTTP server can be told to
// send broken chunked encoding, a 200 KB header line or a reset on demand.
// Reads the request head, writes `reply` (hand-made HTTP, e.g. broken chunked
// encoding or a huge header line) and closes.
RawTarget::Handler Reply(std::string reply);
// Reads the request head, writes `partial`, then resets the connection (RST, by
// closing with a zero linger time).
RawTarget::Handler ResetAfter(std::string partial);

}  // namespace healthgate::testing
