// The HTTP server: operator liveness/readiness, Prometheus metrics, the JSON API
// of check results, per-check readiness URLs and the dashboard (DESIGN.md, "HTTP
// endpoints"). Built on libmicrohttpd: one event-driven network thread (epoll)
// parses requests and writes responses for every connection, and a small pool
// of handler threads computes the answers (the network thread suspends a
// connection while its answer is computed), so neither an open connection nor a
// slow handler (a /metrics of 100k probes) holds what another client needs.
//
// Hostile clients are bounded: connections in total and per client IP, the size
// and count of request headers, an idle timeout, a whole-request deadline (a
// request's line and headers must arrive within request_timeout, so a client
// sending a byte every few seconds is cut off) and, at the connection limit,
// the oldest connections without a request in progress are closed first.
// Methods other than GET and HEAD are answered 405 at once, without reading a
// body.
//
// Endpoints only READ: they take immutable snapshots from results::Store and
// never run or schedule probes, so a slow or hostile client cannot change what
// the probe loop does. Every request is counted in Metrics by its route template
// (e.g. "/ready/{namespace}/{name}", unknown paths "other"), never by its raw
// path, so label cardinality stays fixed whatever clients send.
//
// Thread-safety: Start() and Stop() are called from one owner thread. Handlers
// run on the pool's threads; they touch only thread-safe inputs (Store, Metrics,
// Logger, Clock) and the status functions, which must be thread-safe too.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "operator/log/log.h"
#include "operator/metrics/metrics.h"
#include "operator/results/store.h"

namespace healthgate::server {

// The answer of a liveness or readiness function. `reason` says why it is not
// ok (503 body); when ok, a non-empty reason is extra detail shown after "ok"
// (e.g. "leader" / "standby").
struct HealthStatus {
  bool ok = false;
  std::string reason;
};
// Must be thread-safe and cheap: called on a server thread per request.
using StatusFn = std::function<HealthStatus()>;

// Liveness from a loop heartbeat: fails when the last heartbeat is older than
// `max_age` by `clock`. `heartbeat` must be thread-safe (probes::Loop's
// LastHeartbeat() is an atomic read).
StatusFn HeartbeatLiveness(std::function<healthgate::MonoTime()> heartbeat,
                           const healthgate::Clock& clock, probes::Duration max_age);

struct BindAddress {
  std::string host;  // "0.0.0.0" when the address gave none
  int port = 0;      // 0: an ephemeral port, see Server::BoundPort()
};
// Parses "host:port", ":port" (all IPv4 interfaces) and "[v6]:port". On failure
// returns nullopt and sets `error`.
std::optional<BindAddress> ParseBindAddress(std::string_view text, std::string& error);

// Which endpoint a path is. `route` is the metrics label: a fixed template.
enum class RouteId { kDashboard, kLivez, kReadyz, kMetrics, kList, kOne, kReady, kHealth, kOther };
struct RouteMatch {
  RouteId id = RouteId::kOther;
  std::string_view route = "other";
  std::string ns;    // for the /NS/NAME routes
  std::string name;  // for the /NS/NAME routes
};
// Pure: maps a decoded request path to its route.
RouteMatch MatchRoute(std::string_view path);

// Who may read an endpoint, when the server authenticates its clients (secure
// serving, operator mode): the bearer token of the request ("" when it sent
// none), and what it asks for as the Kubernetes authorizer sees it (the
// operator asks with a TokenReview, then a SubjectAccessReview):
//  - /metrics and the dashboard are non-resource URLs: `path`, verb get (as
//    controller-runtime's metrics filter and kube-rbac-proxy do);
//  - the JSON API and the per-check URLs show HealthChecks' results, so they
//    are authorized as reading those objects: `verb` get of
//    healthchecks.healthgate.dev `name` in `ns`, or list in `ns` ("" = every
//    namespace). Whoever may read a HealthCheck may read its results, and
//    these paths can never be granted by the API server's own non-resource
//    rules (system:discovery allows every user "/api/*").
struct AuthRequest {
  std::string_view token;  // secret: never logged or echoed
  bool resource = false;   // true: a HealthCheck request (ns, name); false: `path`
  std::string_view verb;   // "get" or "list" (HEAD is authorized as GET)
  std::string_view path;   // non-resource: the request path, without the query
  std::string_view ns;     // resource: the namespace ("" = all, for list)
  std::string_view name;   // resource: the object ("" for list)
};
struct AuthDecision {
  enum class Outcome {
    kAllowed,
    kUnauthenticated,  // no token, or the API server did not accept it: 401
    kForbidden,        // authenticated, not authorized for this path: 403
    kUnavailable,      // the review could not be made (API server down): 503
  };
  Outcome outcome = Outcome::kUnauthenticated;
  std::string message;  // for the client; never holds the token
};
// Must be thread-safe; called on a handler thread, may block on a round trip
// to the API server (the implementation bounds it and caches answers).
using AuthorizeFn = std::function<AuthDecision(const AuthRequest&)>;

// Which endpoints need an authorized client when an AuthorizeFn is given:
// /metrics, the JSON API and the dashboard always; /ready/... and /health/...
// when `protect_readiness_urls`; never /livez and /readyz (the kubelet probes
// them without a token) nor unknown paths (a fixed 404).
bool RouteRequiresAuth(RouteId id, bool protect_readiness_urls);

struct ServerOptions {
  std::string address = ":8080";
  // TLS: both set (PEM text) serves HTTPS only; both empty serves plain HTTP.
  std::string tls_cert_pem;  // the serving certificate, then its chain
  std::string tls_key_pem;   // its private key (secret: never logged)
  // With an AuthorizeFn: the per-check readiness URLs need authorization too.
  bool protect_readiness_urls = false;
  // Handler threads. Open connections hold none (the network thread serves
  // them all); a handler thread is busy only while an answer is computed or a
  // /metrics exposition is rendered. At most threads - 1 of them render
  // /metrics or the API list at once, so one is always left for the probes
  // (/livez, /readyz, /ready/..., /health/...).
  std::size_t threads = 4;
  // Open connections in total. Past 15/16 of it, each new connection closes
  // the oldest connection that has no request in progress (idle keep-alive
  // or still sending its headers); beyond it, new connections wait in the
  // listen backlog.
  // Start() raises the process's soft descriptor limit (RLIMIT_NOFILE) up
  // to the hard one if it is lower than this plus 256.
  std::size_t max_connections = 4096;
  // Open connections from one client IP; more are closed at accept.
  std::size_t max_connections_per_ip = 128;
  // A connection with no traffic in either direction for this long is closed
  // (idle keep-alive, a stalled client; also a client that stops reading a
  // response). request_timeout bounds it too: an idle keep-alive connection
  // is waiting for its next request.
  std::chrono::seconds keep_alive_timeout{2};
  // A request's line and headers must have arrived this long after the
  // connection was accepted or its previous response was sent; otherwise the
  // connection is closed (a slow-header client cannot hold it open).
  std::chrono::seconds request_timeout{10};
  // A /metrics stream whose client reads nothing for this long is abandoned
  // (its renderer waits this long for room in the stream's buffer; the
  // socket itself is closed after keep_alive_timeout without progress);
  // Stop() waits at most this long for responses still being sent.
  std::chrono::seconds write_timeout{5};
  // Bytes a connection may buffer: the request line and all headers must fit
  // (about this much minus 1-2 KB of bookkeeping). Larger requests get 431
  // (414 for a long request line) and the connection is closed.
  std::size_t max_header_bytes = 32 * 1024;
  // Request header fields; more get 431.
  std::size_t max_header_count = 100;
  // Every endpoint is GET: a request body is never needed. A GET or HEAD with
  // a larger body gets 413; other methods get 405 without their body read.
  std::size_t payload_max_length = 8 * 1024;
};

// What the server reads; all referenced objects must outlive the Server.
struct ServerInputs {
  const results::Store& store;
  Metrics& metrics;
  StatusFn liveness;
  StatusFn readiness;
  Logger& logger;
  const healthgate::Clock& clock;  // request durations and result ages
  // Set: the endpoints RouteRequiresAuth names answer only authorized clients.
  AuthorizeFn authorize = {};
};

class Server {
 public:
  Server(ServerOptions options, ServerInputs inputs);
  ~Server();  // Stop()s if still running.
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the address and serves on a background thread. Returns an error
  // message (bad address, port in use) or nullopt once the server accepts.
  std::optional<std::string> Start();
  // The port actually bound (useful with port 0); 0 before Start().
  int BoundPort() const { return bound_port_; }
  // Stops accepting, lets in-flight responses finish (waiting for running
  // handlers, and at most options.write_timeout for responses still being
  // sent), closes idle connections at once and joins the threads. Idempotent.
  void Stop();

 private:
  class Impl;
  ServerOptions options_;
  std::unique_ptr<Impl> impl_;
  int bound_port_ = 0;
};

}  // namespace healthgate::server
