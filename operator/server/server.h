// The HTTP server: operator liveness/readiness, Prometheus metrics, the JSON API
// of check results, per-check readiness URLs and the dashboard (DESIGN.md, "HTTP
// endpoints"). Built on cpp-httplib with a bounded thread pool.
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

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "operator/log/log.h"
#include "operator/results/store.h"
#include "operator/sinks/metrics.h"
#include "probes/engine/clock.h"

namespace httplib {
class Server;
}

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
StatusFn HeartbeatLiveness(std::function<probes::MonoTime()> heartbeat, const probes::Clock& clock,
                           probes::Duration max_age);

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

struct ServerOptions {
  std::string address = ":8080";
  // Worker threads. cpp-httplib keeps one thread per open connection, so this
  // is also the number of connections served at once; others wait in the queue.
  std::size_t threads = 8;
  std::size_t keep_alive_max_count = 1000;
  // Short: an idle keep-alive connection holds a worker (and delays Stop())
  // for at most this long.
  std::chrono::seconds keep_alive_timeout{2};
  std::chrono::seconds read_timeout{5};
  std::chrono::seconds write_timeout{5};
  // Every endpoint is GET: a request body is never needed.
  std::size_t payload_max_length = 8 * 1024;
};

// What the server reads; all referenced objects must outlive the Server.
struct ServerInputs {
  const results::Store& store;
  Metrics& metrics;
  StatusFn liveness;
  StatusFn readiness;
  Logger& logger;
  const probes::Clock& clock;  // request durations and result ages
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
  // Stops accepting, lets in-flight responses finish and joins the workers.
  // Idle keep-alive connections end within options.keep_alive_timeout.
  // Idempotent.
  void Stop();

 private:
  class Impl;
  ServerOptions options_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::atomic<bool> listen_done_{false};
  int bound_port_ = 0;
};

}  // namespace healthgate::server
