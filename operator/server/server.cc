#include "operator/server/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "operator/results/json.h"
#include "operator/server/dashboard.h"

namespace healthgate::server {

using nlohmann::json;

namespace {

constexpr std::string_view kAllow = "GET, HEAD";
constexpr const char* kJson = "application/json";
constexpr const char* kText = "text/plain; charset=utf-8";
// The Prometheus text exposition format, version 0.0.4.
constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

// Peer-supplied probe messages may hold invalid UTF-8: never throw on them.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void SetJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(Dump(body) + "\n", kJson);
}

void SetError(httplib::Response& res, int status, const std::string& message) {
  SetJson(res, status, json{{"error", message}, {"status", status}});
}

std::string_view StatusWord(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 413:
      return "payload too large";
    case 414:
      return "uri too long";
    case 500:
      return "internal error";
    default:
      return "error";
  }
}

// The method as a metrics label: a fixed set, whatever a client sends.
std::string MethodLabel(const std::string& method) {
  static constexpr std::string_view kKnown[] = {"GET",     "HEAD",  "POST",    "PUT",  "DELETE",
                                                "OPTIONS", "PATCH", "CONNECT", "TRACE"};
  for (std::string_view m : kKnown) {
    if (method == m) return method;
  }
  return "other";
}

// Splits "/a/b/c" into {"a","b","c"}; an empty segment (e.g. "//" or a
// trailing "/") makes the path match no route.
std::vector<std::string_view> Segments(std::string_view path, bool& ok) {
  std::vector<std::string_view> out;
  ok = !path.empty() && path.front() == '/';
  if (!ok) return out;
  path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    if (seg.empty()) {
      ok = false;
      return out;
    }
    out.push_back(seg);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

double AgeSeconds(const std::optional<probes::WallTime>& t, const probes::Clock& clock) {
  if (!t) return -1;
  return std::max(0.0, std::chrono::duration<double>(clock.WallNow() - *t).count());
}

std::string CheckState(const results::CheckSnapshot& s) {
  if (s.is_ready()) return s.degraded.status == "True" ? "Degraded" : "Ready";
  return s.ready.status == "Unknown" ? "Pending" : "NotReady";
}

// Body of /ready/NS/NAME and /health/NS/NAME: the verdict and one line per
// probe, small enough for a kubelet probe or a human with curl.
json VerdictJson(const results::CheckSnapshot& s, const probes::Clock& clock) {
  json probes_json = json::array();
  for (const results::ProbeRecord& p : s.probes) {
    bool blocked = !p.info->blocked_reason.empty();
    probes_json.push_back(
        {{"name", p.info->name},
         {"type", p.info->type},
         {"critical", p.info->critical},
         {"healthy", !blocked && p.healthy()},
         {"state", blocked ? std::string("Blocked") : std::string(probes::HealthName(p.health))},
         {"reason", blocked ? p.info->blocked_reason
                            : (p.has_result ? std::string(probes::ReasonName(p.reason)) : "")},
         {"message", blocked ? p.info->blocked_message : p.message},
         {"latencyMs", p.latency_ms},
         {"lastProbeAgeSeconds", AgeSeconds(p.last_probe_time, clock)}});
  }
  return json{{"namespace", s.ns},
              {"name", s.name},
              {"state", CheckState(s)},
              {"ready", s.is_ready()},
              {"healthy", s.all_healthy()},
              {"summary", results::Summary(s)},
              {"reason", s.ready.reason},
              {"message", s.ready.message},
              {"probes", std::move(probes_json)}};
}

}  // namespace

StatusFn HeartbeatLiveness(std::function<probes::MonoTime()> heartbeat, const probes::Clock& clock,
                           probes::Duration max_age) {
  return [heartbeat = std::move(heartbeat), &clock, max_age]() -> HealthStatus {
    probes::Duration age = clock.Now() - heartbeat();
    if (age <= max_age) return {true, ""};
    auto ms = [](probes::Duration d) {
      return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
    };
    return {false, "probe loop heartbeat is " + ms(age) + " ms old (limit " + ms(max_age) + " ms)"};
  };
}

std::optional<BindAddress> ParseBindAddress(std::string_view text, std::string& error) {
  BindAddress out;
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = "bad address \"" + std::string(text) + "\": expected [ipv6]:port";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.empty()) {
      error = "bad address \"" + std::string(text) + "\": empty IPv6 host";
      return std::nullopt;
    }
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      error = "bad address \"" + std::string(text) + "\": expected host:port or :port";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      error = "bad address \"" + std::string(text) + "\": write IPv6 hosts as [host]:port";
      return std::nullopt;
    }
  }
  int value = -1;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value < 0 ||
      value > 65535) {
    error = "bad address \"" + std::string(text) + "\": port must be 0-65535";
    return std::nullopt;
  }
  out.host = host.empty() ? "0.0.0.0" : std::string(host);
  out.port = value;
  return out;
}

RouteMatch MatchRoute(std::string_view path) {
  RouteMatch m;
  if (path == "/") {
    m.id = RouteId::kDashboard;
    m.route = "/";
    return m;
  }
  bool ok = false;
  std::vector<std::string_view> seg = Segments(path, ok);
  if (!ok) return m;
  auto set = [&m](RouteId id, std::string_view route) {
    m.id = id;
    m.route = route;
    return m;
  };
  auto set_named = [&m, &set](RouteId id, std::string_view route, std::string_view ns,
                              std::string_view name) {
    m.ns = std::string(ns);
    m.name = std::string(name);
    return set(id, route);
  };
  if (seg.size() == 1) {
    if (seg[0] == "livez") return set(RouteId::kLivez, "/livez");
    if (seg[0] == "readyz") return set(RouteId::kReadyz, "/readyz");
    if (seg[0] == "metrics") return set(RouteId::kMetrics, "/metrics");
  } else if (seg.size() == 3 && seg[0] == "api" && seg[1] == "v1" && seg[2] == "healthchecks") {
    return set(RouteId::kList, "/api/v1/healthchecks");
  } else if (seg.size() == 5 && seg[0] == "api" && seg[1] == "v1" && seg[2] == "healthchecks") {
    return set_named(RouteId::kOne, "/api/v1/healthchecks/{namespace}/{name}", seg[3], seg[4]);
  } else if (seg.size() == 3 && seg[0] == "ready") {
    return set_named(RouteId::kReady, "/ready/{namespace}/{name}", seg[1], seg[2]);
  } else if (seg.size() == 3 && seg[0] == "health") {
    return set_named(RouteId::kHealth, "/health/{namespace}/{name}", seg[1], seg[2]);
  }
  return m;
}

// Request handling, on the pool's threads. Stateless apart from the inputs.
class Server::Impl {
 public:
  explicit Impl(ServerInputs in) : in_(std::move(in)) {}

  void Handle(const httplib::Request& req, httplib::Response& res) {
    probes::MonoTime start = in_.clock.Now();
    RouteMatch m = MatchRoute(req.path);
    Dispatch(m, req, res);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-store");
    double seconds = std::chrono::duration<double>(in_.clock.Now() - start).count();
    Record(m.route, req.method, res.status, seconds);
  }

  // Responses httplib makes itself, before any handler runs (unparsable
  // request, body too large, a method no handler is registered for). Our own
  // responses always have a body, so an empty body marks httplib's.
  httplib::Server::HandlerResponse OnError(const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    SetError(res, res.status, std::string(StatusWord(res.status)));
    Record("other", req.method, res.status, 0);
    return httplib::Server::HandlerResponse::Handled;
  }

  void OnException(const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    in_.logger.Error("http handler failed",
                     {{"route", std::string(MatchRoute(req.path).route)}, {"error", what}});
    SetError(res, 500, "internal error");
  }

  Logger& logger() { return in_.logger; }

 private:
  void Record(std::string_view route, const std::string& method, int status, double seconds) {
    std::string method_label = MethodLabel(method);
    in_.metrics.HttpRequest(std::string(route), method_label, status, seconds);
    if (in_.logger.Enabled(LogLevel::kDebug)) {
      in_.logger.Debug("http request", {{"route", std::string(route)},
                                        {"method", method_label},
                                        {"code", status},
                                        {"durationMs", seconds * 1000}});
    }
  }

  void Dispatch(const RouteMatch& m, const httplib::Request& req, httplib::Response& res) {
    if (m.id == RouteId::kOther) return SetError(res, 404, "not found");
    if (req.method != "GET" && req.method != "HEAD") {
      res.set_header("Allow", std::string(kAllow));
      return SetError(res, 405, "method not allowed; allowed: " + std::string(kAllow));
    }
    switch (m.id) {
      case RouteId::kDashboard:
        res.status = 200;
        res.set_header("Content-Security-Policy",
                       "default-src 'none'; script-src 'unsafe-inline'; "
                       "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:");
        res.set_content(DashboardHtml().data(), DashboardHtml().size(), "text/html; charset=utf-8");
        return;
      case RouteId::kLivez:
        return Status(res, in_.liveness ? in_.liveness() : HealthStatus{true, ""});
      case RouteId::kReadyz:
        return Status(res, in_.readiness ? in_.readiness() : HealthStatus{false, "not wired"});
      case RouteId::kMetrics:
        res.status = 200;
        // Streamed in pieces as they are rendered: with tens of thousands of
        // probes the exposition is tens of MB, which would otherwise be held
        // (and copied into the response) for the whole scrape.
        res.set_chunked_content_provider(
            kMetricsType, [&metrics = in_.metrics](std::size_t, httplib::DataSink& sink) {
              if (!metrics.WriteExposition([&sink](std::string_view piece) {
                    return sink.write(piece.data(), piece.size());
                  })) {
                return false;  // the client went away
              }
              sink.done();
              return true;
            });
        return;
      case RouteId::kList: {
        std::string ns = req.has_param("namespace") ? req.get_param_value("namespace") : "";
        json items = json::array();
        for (const results::SnapshotPtr& s : in_.store.List(ns)) {
          items.push_back(results::CheckJson(*s));
        }
        return SetJson(res, 200, items);
      }
      case RouteId::kOne: {
        results::SnapshotPtr s = in_.store.Get(m.ns, m.name);
        if (!s) return NotFound(res, m);
        return SetJson(res, 200, results::CheckJson(*s));
      }
      case RouteId::kReady: {
        results::SnapshotPtr s = in_.store.Get(m.ns, m.name);
        if (!s) return NotFound(res, m);
        return SetJson(res, s->is_ready() ? 200 : 503, VerdictJson(*s, in_.clock));
      }
      case RouteId::kHealth: {
        results::SnapshotPtr s = in_.store.Get(m.ns, m.name);
        if (!s) return NotFound(res, m);
        return SetJson(res, s->all_healthy() ? 200 : 503, VerdictJson(*s, in_.clock));
      }
      case RouteId::kOther:
        break;
    }
    SetError(res, 404, "not found");
  }

  static void Status(httplib::Response& res, const HealthStatus& st) {
    res.status = st.ok ? 200 : 503;
    std::string body = st.ok ? "ok" : "not ok";
    if (!st.reason.empty()) body += ": " + st.reason;
    res.set_content(body + "\n", kText);
  }

  // Names are echoed JSON-escaped; they are DNS labels the client sent.
  static void NotFound(httplib::Response& res, const RouteMatch& m) {
    SetError(res, 404, "healthcheck " + m.ns + "/" + m.name + " not found");
  }

  ServerInputs in_;
};

Server::Server(ServerOptions options, ServerInputs inputs)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(std::move(inputs))) {}

Server::~Server() { Stop(); }

std::optional<std::string> Server::Start() {
  if (http_) return "server already started";
  std::string error;
  std::optional<BindAddress> addr = ParseBindAddress(options_.address, error);
  if (!addr) return error;

  auto http = std::make_unique<httplib::Server>();
  std::size_t threads = std::max<std::size_t>(1, options_.threads);
  http->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http->set_tcp_nodelay(true);
  // httplib's default also sets SO_REUSEPORT, which would let a second
  // instance share the port silently; a port in use must be an error.
  http->set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  http->set_keep_alive_max_count(std::max<std::size_t>(1, options_.keep_alive_max_count));
  http->set_keep_alive_timeout(static_cast<time_t>(options_.keep_alive_timeout.count()));
  http->set_read_timeout(options_.read_timeout);
  http->set_write_timeout(options_.write_timeout);
  http->set_payload_max_length(options_.payload_max_length);

  // One handler for every method: routing, 404 and 405 are ours, so every
  // answer is JSON and counted under its route template.
  Impl* impl = impl_.get();
  auto handler = [impl](const httplib::Request& req, httplib::Response& res) {
    impl->Handle(req, res);
  };
  const std::string any = ".*";
  http->Get(any, handler);
  http->Post(any, handler);
  http->Put(any, handler);
  http->Patch(any, handler);
  http->Delete(any, handler);
  http->Options(any, handler);
  http->set_error_handler(httplib::Server::HandlerWithResponse(
      [impl](const httplib::Request& req, httplib::Response& res) {
        return impl->OnError(req, res);
      }));
  http->set_exception_handler([impl](const httplib::Request& req, httplib::Response& res,
                                     std::exception_ptr ep) { impl->OnException(req, res, ep); });

  int port = addr->port;
  if (port == 0) {
    port = http->bind_to_any_port(addr->host);
    if (port <= 0) return "cannot bind " + options_.address + ": no free port";
  } else if (!http->bind_to_port(addr->host, port)) {
    return "cannot bind " + options_.address + " (in use, or not a local address)";
  }
  bound_port_ = port;
  httplib::Server* raw = http.get();
  http_ = std::move(http);
  listen_done_ = false;
  thread_ = std::thread([this, raw] {
    raw->listen_after_bind();
    listen_done_ = true;
  });
  // httplib's stop() is a no-op until the accept loop runs, so wait for it:
  // afterwards Stop() always ends the loop. The loop starts at once; the bound
  // only guards against a loop that ended on its own.
  for (int i = 0; i < 10'000 && !raw->is_running() && !listen_done_; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!raw->is_running()) {
    Stop();
    return "http server on " + options_.address + " did not start";
  }
  impl_->logger().Info("http server listening",
                       {{"address", options_.address}, {"port", bound_port_}});
  return std::nullopt;
}

void Server::Stop() {
  if (!http_) return;
  http_->stop();
  if (thread_.joinable()) thread_.join();
  http_.reset();
  impl_->logger().Info("http server stopped", {{"port", bound_port_}});
}

}  // namespace healthgate::server
