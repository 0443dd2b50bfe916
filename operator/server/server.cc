#include "operator/server/server.h"

#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>
#include <vector>

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

class MetricsStream;

// The credentials of an "Authorization: Bearer <token>" header (the scheme is
// case-insensitive, RFC 7235); "" for any other scheme or a malformed value.
std::string BearerToken(std::string_view header) {
  constexpr std::string_view kScheme = "bearer";
  while (!header.empty() && (header.front() == ' ' || header.front() == '\t')) {
    header.remove_prefix(1);
  }
  if (header.size() <= kScheme.size()) return "";
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return "";
  }
  header.remove_prefix(kScheme.size());
  if (header.front() != ' ') return "";
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t'))
    header.remove_suffix(1);
  if (header.empty() || header.find_first_of(" \t") != std::string_view::npos) return "";
  return std::string(header);
}

// A response being prepared: status, headers and either a body or a /metrics
// stream.
struct Reply {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<MetricsStream> stream;  // set: the body is streamed from it
};

void SetJson(Reply& res, int status, const json& body) {
  res.status = status;
  res.body = Dump(body) + "\n";
  res.content_type = kJson;
}

void SetError(Reply& res, int status, const std::string& message) {
  SetJson(res, status, json{{"error", message}, {"status", status}});
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

double AgeSeconds(const std::optional<healthgate::WallTime>& t, const healthgate::Clock& clock) {
  if (!t) return -1;
  return std::max(0.0, std::chrono::duration<double>(clock.WallNow() - *t).count());
}

std::string CheckState(const results::CheckSnapshot& s) {
  if (s.is_ready()) return s.degraded.status == "True" ? "Degraded" : "Ready";
  return s.ready.status == "Unknown" ? "Pending" : "NotReady";
}

// Body of /ready/NS/NAME and /health/NS/NAME: the verdict and one line per
// probe, small enough for a kubelet probe or a human with curl.
json VerdictJson(const results::CheckSnapshot& s, const healthgate::Clock& clock) {
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

StatusFn HeartbeatLiveness(std::function<healthgate::MonoTime()> heartbeat,
                           const healthgate::Clock& clock, probes::Duration max_age) {
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

bool RouteRequiresAuth(RouteId id, bool protect_readiness_urls) {
  switch (id) {
    case RouteId::kMetrics:
    case RouteId::kList:
    case RouteId::kOne:
    case RouteId::kDashboard:
      return true;
    case RouteId::kReady:
    case RouteId::kHealth:
      return protect_readiness_urls;
    case RouteId::kLivez:
    case RouteId::kReadyz:
    case RouteId::kOther:
      return false;
  }
  return true;
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

namespace {

using SteadyClock = std::chrono::steady_clock;

// The /metrics body between its producer (a handler thread running
// Metrics::WriteExposition, which renders under the metrics lock) and its
// consumer (the network thread's content reader). The buffer is bounded: the
// producer waits while the client has not read enough, and gives up after
// write_timeout without progress (a client that stops reading must not hold
// the metrics lock). When the buffer is empty the consumer suspends its
// connection; the producer resumes it when it adds data or finishes.
class MetricsStream {
 public:
  static constexpr std::size_t kCapacity = 256 * 1024;
  static constexpr std::size_t kWakeBytes = 64 * 1024;

  MetricsStream(MHD_Connection* connection, std::chrono::seconds write_timeout,
                const std::atomic<bool>& cancel_all)
      : connection_(connection), write_timeout_(write_timeout), cancel_all_(cancel_all) {}

  // Producer side: false once the client is gone, too slow, or the server stops.
  bool Write(std::string_view piece) {
    std::unique_lock<std::mutex> lock(mu_);
    SteadyClock::time_point deadline = SteadyClock::now() + write_timeout_;
    while (!cancelled_ && Buffered() > 0 && Buffered() + piece.size() > kCapacity) {
      if (suspended_) {
        WakeConsumer(lock);  // it must drain what is buffered
        lock.lock();
        continue;
      }
      if (cancel_all_.load() || SteadyClock::now() >= deadline) {
        cancelled_ = true;
        break;
      }
      cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
    if (cancelled_) return false;
    buf_.append(piece);
    // Small pieces are batched: one wake-up (a thread hand-off) per block.
    if (Buffered() >= kWakeBytes) WakeConsumer(lock);
    return true;
  }
  void Finish(bool ok) {
    std::unique_lock<std::mutex> lock(mu_);
    done_ = true;
    ok_ = ok;
    WakeConsumer(lock);
  }
  // A HEAD request: no body, nothing produced.
  void FinishEmpty() {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    ok_ = true;
  }

  // Consumer side, on the network thread (MHD_ContentReaderCallback).
  ssize_t Read(char* out, std::size_t max) {
    std::lock_guard<std::mutex> lock(mu_);
    std::size_t avail = Buffered();
    if (avail > 0) {
      std::size_t n = std::min(avail, max);
      std::memcpy(out, buf_.data() + off_, n);
      off_ += n;
      if (off_ == buf_.size()) {
        buf_.clear();
        off_ = 0;
      } else if (off_ >= 64 * 1024) {
        buf_.erase(0, off_);
        off_ = 0;
      }
      cv_.notify_all();
      return static_cast<ssize_t>(n);
    }
    if (done_) return ok_ ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
    // Nothing to send yet: take the connection out of the event loop (no
    // busy polling) until the producer adds data or finishes.
    suspended_ = true;
    MHD_suspend_connection(connection_);
    return 0;
  }
  // The response is gone (sent, or the connection closed).
  void Cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }

 private:
  std::size_t Buffered() const { return buf_.size() - off_; }
  // Resumes the consumer if it is suspended; returns with `lock` released
  // (the resume runs outside it). While the consumer is suspended its
  // connection cannot close, so `connection_` is valid.
  void WakeConsumer(std::unique_lock<std::mutex>& lock) {
    bool wake = suspended_;
    suspended_ = false;
    lock.unlock();
    if (wake) MHD_resume_connection(connection_);
  }

  MHD_Connection* connection_;
  const std::chrono::seconds write_timeout_;
  const std::atomic<bool>& cancel_all_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string buf_;
  std::size_t off_ = 0;
  bool done_ = false, ok_ = true, cancelled_ = false, suspended_ = false;
};

ssize_t StreamRead(void* cls, std::uint64_t, char* buf, std::size_t max) {
  return (*static_cast<std::shared_ptr<MetricsStream>*>(cls))->Read(buf, max);
}
void StreamFree(void* cls) {
  auto* holder = static_cast<std::shared_ptr<MetricsStream>*>(cls);
  (*holder)->Cancel();
  delete holder;
}

// The handler threads. A job is queued with its connection suspended, and
// resumes it when its answer is ready. Heavy jobs (/metrics, the API list) may
// use at most max_heavy threads, so the probes always find one free.
class HandlerPool {
 public:
  void Start(std::size_t threads) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = false;
    }
    threads = std::max<std::size_t>(1, threads);
    max_heavy_ = threads > 1 ? threads - 1 : 1;
    for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  // Suspends `connection` and queues `job`; false (nothing done) once closed.
  bool Dispatch(MHD_Connection* connection, bool heavy, std::function<void()> job) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    MHD_suspend_connection(connection);
    (heavy ? heavy_ : light_).push_back(std::move(job));
    cv_.notify_all();
    return true;
  }
  // Runs what is queued, then joins the threads.
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }

 private:
  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] {
        return !light_.empty() || (!heavy_.empty() && heavy_running_ < max_heavy_) ||
               (closed_ && light_.empty() && heavy_.empty());
      });
      bool heavy = light_.empty();
      if (heavy && heavy_.empty()) return;  // closed and drained
      std::deque<std::function<void()>>& q = heavy ? heavy_ : light_;
      std::function<void()> job = std::move(q.front());
      q.pop_front();
      if (heavy) ++heavy_running_;
      lock.unlock();
      job();
      lock.lock();
      if (heavy) {
        --heavy_running_;
        cv_.notify_all();
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> light_, heavy_;
  std::size_t heavy_running_ = 0, max_heavy_ = 1;
  bool closed_ = false;
  std::vector<std::thread> workers_;
};

// One request, from its headers to its completion (MHD's con_cls).
struct Request {
  std::string method;
  RouteMatch match;
  bool head = false;
  std::optional<std::string> ns_param;  // ?namespace= of the API list
  healthgate::MonoTime start;
  std::size_t body_bytes = 0;
  std::string path;         // the request path, for authorization
  bool needs_auth = false;  // RouteRequiresAuth, with an authorizer
  std::string token;        // the bearer token sent (secret: never logged)
  bool dispatched = false;
  bool ready = false;  // `reply` was filled by a handler thread
  Reply reply;
};

// An open connection, for the limits MHD does not enforce itself.
struct Conn {
  int fd = -1;
  SteadyClock::time_point since;  // accepted, or its last response done
  bool busy = false;              // a request is in progress
  bool closing = false;           // shut down by us; MHD closes it next
};

}  // namespace

// Request handling and connection bookkeeping. The MHD callbacks run on the
// network thread; answers are computed on the handler pool.
class Server::Impl {
 public:
  Impl(ServerOptions options, ServerInputs in) : options_(std::move(options)), in_(std::move(in)) {}

  std::optional<std::string> Start(int& bound_port);
  void Stop();
  bool running() const { return daemon_ != nullptr; }
  Logger& logger() { return in_.logger; }

 private:
  static MHD_Result OnAccess(void* cls, MHD_Connection* c, const char* url, const char* method,
                             const char*, const char*, std::size_t* upload_size, void** con_cls) {
    try {
      return static_cast<Impl*>(cls)->Access(c, url, method, *upload_size, con_cls);
    } catch (...) {
      return MHD_NO;  // closes the connection
    }
  }
  static void OnCompleted(void* cls, MHD_Connection* c, void** con_cls,
                          MHD_RequestTerminationCode) {
    static_cast<Impl*>(cls)->Completed(c, con_cls);
  }
  static void OnConnection(void* cls, MHD_Connection* c, void**,
                           MHD_ConnectionNotificationCode code) {
    static_cast<Impl*>(cls)->Connection(c, code);
  }

  MHD_Result Access(MHD_Connection* c, const char* url, const char* method,
                    std::size_t& upload_size, void** con_cls);
  void Completed(MHD_Connection* c, void** con_cls);
  void Connection(MHD_Connection* c, MHD_ConnectionNotificationCode code);
  void EvictIdleLocked(MHD_Connection* keep);
  void Reap();

  MHD_Result Queue(MHD_Connection* c, Request& r);
  void Compute(Request& r, MHD_Connection* c);
  // Asks the authorizer; false (with the 401/403/503 reply set) when denied.
  bool Authorized(Request& r);
  void Produce(const std::shared_ptr<MetricsStream>& stream);
  void Record(std::string_view route, const std::string& method, int status, double seconds);
  void Dispatch(const RouteMatch& m, Request& req, Reply& res, MHD_Connection* c);

  static void Status(Reply& res, const HealthStatus& st) {
    res.status = st.ok ? 200 : 503;
    std::string body = st.ok ? "ok" : "not ok";
    if (!st.reason.empty()) body += ": " + st.reason;
    res.body = body + "\n";
    res.content_type = kText;
  }
  // Names are echoed JSON-escaped; they are DNS labels the client sent.
  static void NotFound(Reply& res, const RouteMatch& m) {
    SetError(res, 404, "healthcheck " + m.ns + "/" + m.name + " not found");
  }

  ServerOptions options_;
  ServerInputs in_;
  MHD_Daemon* daemon_ = nullptr;
  int listen_fd_ = -1;
  HandlerPool pool_;
  std::atomic<bool> cancel_streams_{false};

  // Requests in progress (first headers to completion), for Stop().
  std::mutex active_mu_;
  std::condition_variable active_cv_;
  std::size_t active_ = 0;

  // Open connections (network thread adds and removes; the reaper reads).
  std::mutex conns_mu_;
  std::unordered_map<MHD_Connection*, Conn> conns_;
  std::size_t closing_ = 0;  // entries of conns_ with `closing` set
  std::size_t soft_limit_ = 0;

  std::mutex reaper_mu_;
  std::condition_variable reaper_cv_;
  bool reaper_stop_ = false;
  std::thread reaper_;
};

MHD_Result Server::Impl::Access(MHD_Connection* c, const char* url, const char* method,
                                std::size_t& upload_size, void** con_cls) {
  auto* req = static_cast<Request*>(*con_cls);
  if (req == nullptr) {
    // First call: the request line and headers are in.
    req = new Request;
    *con_cls = req;
    req->start = in_.clock.Now();
    req->method = method;
    req->match = MatchRoute(url);
    req->head = req->method == "HEAD";
    {
      std::lock_guard<std::mutex> lock(active_mu_);
      ++active_;
    }
    {
      std::lock_guard<std::mutex> lock(conns_mu_);
      auto it = conns_.find(c);
      if (it != conns_.end()) it->second.busy = true;
    }
    Reply& res = req->reply;
    int headers = MHD_get_connection_values(c, MHD_HEADER_KIND, nullptr, nullptr);
    if (headers < 0 || static_cast<std::size_t>(headers) > options_.max_header_count) {
      SetError(res, 431,
               "too many header fields (limit " + std::to_string(options_.max_header_count) + ")");
      return Queue(c, *req);
    }
    if (req->match.id == RouteId::kOther) {
      // Answered now, without reading a body.
      if (req->method != "GET" && req->method != "HEAD") {
        SetError(res, 404, "not found");
        return Queue(c, *req);
      }
    } else if (req->method != "GET" && req->method != "HEAD") {
      // Every endpoint is read-only: refuse at once, never wait for a body.
      res.headers.emplace_back("Allow", std::string(kAllow));
      SetError(res, 405, "method not allowed; allowed: " + std::string(kAllow));
      return Queue(c, *req);
    }
    const char* length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (length != nullptr) {
      std::string_view v(length);
      std::size_t n = 0;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || ptr != v.data() + v.size() || n > options_.payload_max_length) {
        SetError(res, 413, "payload too large");
        return Queue(c, *req);
      }
    }
    if (req->match.id == RouteId::kList) {
      const char* ns = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "namespace");
      if (ns != nullptr) req->ns_param = ns;
    }
    if (in_.authorize && RouteRequiresAuth(req->match.id, options_.protect_readiness_urls)) {
      req->needs_auth = true;
      req->path = url;
      const char* auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
      if (auth != nullptr) req->token = BearerToken(auth);
    }
    return MHD_YES;
  }
  if (upload_size > 0) {
    // A body on a GET (chunked, so its size was not known): discarded.
    req->body_bytes += upload_size;
    upload_size = 0;
    return req->body_bytes > options_.payload_max_length ? MHD_NO : MHD_YES;
  }
  if (req->ready) return Queue(c, *req);
  if (req->dispatched) return MHD_YES;  // not expected: answers come only when ready
  RouteId id = req->match.id;
  if ((id == RouteId::kOther || id == RouteId::kDashboard) && !req->needs_auth) {
    Dispatch(req->match, *req, req->reply, c);  // fixed answers: no handler thread needed
    return Queue(c, *req);
  }
  req->dispatched = true;
  // An authorization may wait on the API server: it never takes the thread
  // kept for the open probes' routes.
  bool heavy = id == RouteId::kMetrics || id == RouteId::kList || req->needs_auth;
  bool queued = pool_.Dispatch(c, heavy, [this, req, c] {
    if (!req->needs_auth || Authorized(*req)) Compute(*req, c);
    std::shared_ptr<MetricsStream> stream = req->head ? nullptr : req->reply.stream;
    req->ready = true;
    MHD_resume_connection(c);
    // `req` may be gone from here on: only the stream is used.
    if (stream) Produce(stream);
  });
  if (!queued) {
    SetError(req->reply, 503, "server is stopping");
    return Queue(c, *req);
  }
  return MHD_YES;
}

void Server::Impl::Compute(Request& r, MHD_Connection* c) {
  try {
    Dispatch(r.match, r, r.reply, c);
  } catch (const std::exception& e) {
    in_.logger.Error("http handler failed",
                     {{"route", std::string(r.match.route)}, {"error", std::string(e.what())}});
    r.reply = Reply{};
    SetError(r.reply, 500, "internal error");
  } catch (...) {
    in_.logger.Error("http handler failed",
                     {{"route", std::string(r.match.route)}, {"error", "unknown exception"}});
    r.reply = Reply{};
    SetError(r.reply, 500, "internal error");
  }
}

bool Server::Impl::Authorized(Request& r) {
  AuthDecision d;
  try {
    const RouteId id = r.match.id;
    if (id == RouteId::kMetrics || id == RouteId::kDashboard) {
      d = in_.authorize(AuthRequest{r.token, false, "get", r.path, "", ""});
    } else if (id == RouteId::kList) {
      d = in_.authorize(AuthRequest{r.token, true, "list", "", r.ns_param.value_or(""), ""});
    } else {
      d = in_.authorize(AuthRequest{r.token, true, "get", "", r.match.ns, r.match.name});
    }
  } catch (const std::exception& e) {
    d = {AuthDecision::Outcome::kUnavailable, "authorization failed"};
    in_.logger.Error("authorization failed",
                     {{"route", std::string(r.match.route)}, {"error", std::string(e.what())}});
  }
  switch (d.outcome) {
    case AuthDecision::Outcome::kAllowed:
      return true;
    case AuthDecision::Outcome::kUnauthenticated:
      r.reply.headers.emplace_back("WWW-Authenticate", "Bearer");
      SetError(r.reply, 401, d.message.empty() ? "unauthorized" : d.message);
      return false;
    case AuthDecision::Outcome::kForbidden:
      SetError(r.reply, 403, d.message.empty() ? "forbidden" : d.message);
      return false;
    case AuthDecision::Outcome::kUnavailable:
      r.reply.headers.emplace_back("Retry-After", "5");
      SetError(r.reply, 503, d.message.empty() ? "authorization unavailable" : d.message);
      return false;
  }
  return false;
}

void Server::Impl::Produce(const std::shared_ptr<MetricsStream>& stream) {
  bool ok = false;
  try {
    ok = in_.metrics.WriteExposition(
        [&stream](std::string_view piece) { return stream->Write(piece); });
  } catch (const std::exception& e) {
    in_.logger.Error("http handler failed",
                     {{"route", "/metrics"}, {"error", std::string(e.what())}});
  }
  stream->Finish(ok);
}

MHD_Result Server::Impl::Queue(MHD_Connection* c, Request& r) {
  Reply& res = r.reply;
  MHD_Response* response = nullptr;
  if (res.stream) {
    auto* holder = new std::shared_ptr<MetricsStream>(res.stream);
    response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, &StreamRead, holder,
                                                 &StreamFree);
    if (response == nullptr) delete holder;
  } else {
    response =
        MHD_create_response_from_buffer(res.body.size(), res.body.data(), MHD_RESPMEM_MUST_COPY);
  }
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, "Content-Type", res.content_type.c_str());
  for (const auto& [k, v] : res.headers) MHD_add_response_header(response, k.c_str(), v.c_str());
  MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(response, "Cache-Control", "no-store");
  MHD_Result ret = MHD_queue_response(c, static_cast<unsigned>(res.status), response);
  MHD_destroy_response(response);
  double seconds = std::chrono::duration<double>(in_.clock.Now() - r.start).count();
  Record(r.match.route, r.method, res.status, seconds);
  return ret;
}

void Server::Impl::Completed(MHD_Connection* c, void** con_cls) {
  auto* req = static_cast<Request*>(*con_cls);
  if (req == nullptr) return;
  delete req;
  *con_cls = nullptr;
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    auto it = conns_.find(c);
    if (it != conns_.end()) {
      it->second.busy = false;
      it->second.since = SteadyClock::now();
    }
  }
  std::lock_guard<std::mutex> lock(active_mu_);
  --active_;
  active_cv_.notify_all();
}

void Server::Impl::Connection(MHD_Connection* c, MHD_ConnectionNotificationCode code) {
  std::lock_guard<std::mutex> lock(conns_mu_);
  if (code != MHD_CONNECTION_NOTIFY_STARTED) {
    // Called before MHD closes the socket: a shutdown() under conns_mu_
    // never reaches a reused descriptor.
    auto it = conns_.find(c);
    if (it != conns_.end()) {
      if (it->second.closing) --closing_;
      conns_.erase(it);
    }
    return;
  }
  const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  Conn& conn = conns_[c];
  conn.fd = info != nullptr ? info->connect_fd : -1;
  conn.since = SteadyClock::now();
  EvictIdleLocked(c);
}

// Past the soft limit, closes the oldest connections that have no request in
// progress (idle keep-alive, or still sending headers), keeping `keep` (the
// new one). shutdown() makes MHD see the end of the stream and close it.
void Server::Impl::EvictIdleLocked(MHD_Connection* keep) {
  std::size_t open = conns_.size() - closing_;
  if (open <= soft_limit_) return;
  std::vector<std::pair<SteadyClock::time_point, Conn*>> idle;
  for (auto& [conn, st] : conns_) {
    if (conn != keep && !st.busy && !st.closing && st.fd >= 0) idle.emplace_back(st.since, &st);
  }
  std::size_t n = std::min(open - soft_limit_, idle.size());
  std::partial_sort(idle.begin(), idle.begin() + static_cast<std::ptrdiff_t>(n), idle.end(),
                    [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < n; ++i) {
    idle[i].second->closing = true;
    ++closing_;
    ::shutdown(idle[i].second->fd, SHUT_RDWR);
  }
}

// The whole-request deadline: a connection without a request in progress for
// longer than request_timeout (a request still arriving, or idle) is closed.
void Server::Impl::Reap() {
  auto period =
      std::min<SteadyClock::duration>(std::chrono::milliseconds(250), options_.request_timeout / 4);
  period = std::max<SteadyClock::duration>(period, std::chrono::milliseconds(10));
  std::unique_lock<std::mutex> lock(reaper_mu_);
  while (!reaper_cv_.wait_for(lock, period, [this] { return reaper_stop_; })) {
    SteadyClock::time_point cutoff = SteadyClock::now() - options_.request_timeout;
    std::lock_guard<std::mutex> conns_lock(conns_mu_);
    for (auto& [conn, st] : conns_) {
      if (!st.busy && !st.closing && st.fd >= 0 && st.since < cutoff) {
        st.closing = true;
        ++closing_;
        ::shutdown(st.fd, SHUT_RDWR);
      }
    }
  }
}

void Server::Impl::Record(std::string_view route, const std::string& method, int status,
                          double seconds) {
  std::string method_label = MethodLabel(method);
  in_.metrics.HttpRequest(std::string(route), method_label, status, seconds);
  if (in_.logger.Enabled(LogLevel::kDebug)) {
    in_.logger.Debug("http request", {{"route", std::string(route)},
                                      {"method", method_label},
                                      {"code", status},
                                      {"durationMs", seconds * 1000}});
  }
}

void Server::Impl::Dispatch(const RouteMatch& m, Request& req, Reply& res, MHD_Connection* c) {
  switch (m.id) {
    case RouteId::kDashboard:
      res.status = 200;
      res.headers.emplace_back("Content-Security-Policy",
                               "default-src 'none'; script-src 'unsafe-inline'; "
                               "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' "
                               "data:");
      res.body.assign(DashboardHtml().data(), DashboardHtml().size());
      res.content_type = "text/html; charset=utf-8";
      return;
    case RouteId::kLivez:
      return Status(res, in_.liveness ? in_.liveness() : HealthStatus{true, ""});
    case RouteId::kReadyz:
      return Status(res, in_.readiness ? in_.readiness() : HealthStatus{false, "not wired"});
    case RouteId::kMetrics:
      res.status = 200;
      res.content_type = kMetricsType;
      // Streamed in pieces as they are rendered: with tens of thousands of
      // probes the exposition is tens of MB, which would otherwise be held
      // (and copied into the response) for the whole scrape.
      res.stream = std::make_shared<MetricsStream>(c, options_.write_timeout, cancel_streams_);
      if (req.head) res.stream->FinishEmpty();
      return;
    case RouteId::kList: {
      json items = json::array();
      for (const results::SnapshotPtr& s : in_.store.List(req.ns_param.value_or(""))) {
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

std::optional<std::string> Server::Impl::Start(int& bound_port) {
  std::string error;
  std::optional<BindAddress> addr = ParseBindAddress(options_.address, error);
  if (!addr) return error;

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port_text = std::to_string(addr->port);
  int rc = ::getaddrinfo(addr->host.c_str(), port_text.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    return "cannot bind " + options_.address + ": " + ::gai_strerror(rc);
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> found_guard(found, &::freeaddrinfo);
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return "cannot bind " + options_.address + ": " + std::strerror(errno);
  // SO_REUSEADDR only: SO_REUSEPORT would let a second instance share the
  // port silently, and a port in use must be an error.
  int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return "cannot bind " + options_.address + " (in use, or not a local address): " + why;
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  bound_port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  std::size_t max_connections = std::max<std::size_t>(1, options_.max_connections);
  // Each connection is a descriptor: make room for them (many systems start
  // processes with a soft limit of 1024).
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY &&
      files.rlim_cur < max_connections + 256) {
    rlim_t want = static_cast<rlim_t>(max_connections + 256);
    files.rlim_cur = files.rlim_max == RLIM_INFINITY ? want : std::min(want, files.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &files);
    ::getrlimit(RLIMIT_NOFILE, &files);
    if (files.rlim_cur < max_connections + 256) {
      in_.logger.Warn("descriptor limit is below the connection limit",
                      {{"limit", static_cast<std::int64_t>(files.rlim_cur)},
                       {"maxConnections", static_cast<std::int64_t>(max_connections)}});
    }
  }
  soft_limit_ = max_connections - std::max<std::size_t>(1, max_connections / 16);
  if (soft_limit_ == 0) soft_limit_ = 1;
  cancel_streams_ = false;
  reaper_stop_ = false;
  pool_.Start(options_.threads);
  unsigned int flags = MHD_USE_EPOLL | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME;
  // TLS (GnuTLS inside libmicrohttpd): the PEM texts are copied by MHD at start.
  std::vector<MHD_OptionItem> tls;
  if (!options_.tls_cert_pem.empty() || !options_.tls_key_pem.empty()) {
    if (options_.tls_cert_pem.empty() || options_.tls_key_pem.empty()) {
      ::close(fd);
      return "TLS needs both a certificate and its private key";
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      ::close(fd);
      return "this libmicrohttpd was built without TLS support";
    }
    flags |= MHD_USE_TLS;
    tls.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(options_.tls_cert_pem.c_str())});
    tls.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(options_.tls_key_pem.c_str())});
    // TLS 1.2 and 1.3 only, GnuTLS's secure defaults otherwise.
    tls.push_back({MHD_OPTION_HTTPS_PRIORITIES, 0,
                   const_cast<char*>("NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2")});
  }
  tls.push_back({MHD_OPTION_END, 0, nullptr});
  daemon_ = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &Impl::OnAccess, this, MHD_OPTION_ARRAY, tls.data(),
      MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
      static_cast<unsigned int>(max_connections), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      static_cast<unsigned int>(std::max<std::size_t>(1, options_.max_connections_per_ip)),
      MHD_OPTION_CONNECTION_TIMEOUT,
      static_cast<unsigned int>(std::max<std::int64_t>(1, options_.keep_alive_timeout.count())),
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, std::max<std::size_t>(4096, options_.max_header_bytes),
      MHD_OPTION_NOTIFY_COMPLETED, &Impl::OnCompleted, this, MHD_OPTION_NOTIFY_CONNECTION,
      &Impl::OnConnection, this, MHD_OPTION_END);
  if (daemon_ == nullptr) {
    pool_.Close();
    ::close(fd);
    return "http server on " + options_.address + " did not start" +
           (tls.size() > 1 ? " (is the TLS certificate and key pair valid PEM?)" : "");
  }
  listen_fd_ = fd;
  reaper_ = std::thread([this] { Reap(); });
  return std::nullopt;
}

void Server::Impl::Stop() {
  if (daemon_ == nullptr) return;
  MHD_quiesce_daemon(daemon_);  // no new connections; the socket stays ours
  {
    // Let requests in progress finish: handlers, then sending.
    std::unique_lock<std::mutex> lock(active_mu_);
    active_cv_.wait_for(lock, options_.write_timeout, [this] { return active_ == 0; });
  }
  // Streams still running end now; then no connection stays suspended (each
  // job and stream resumes its connection when it ends), as MHD_stop_daemon
  // requires.
  cancel_streams_ = true;
  pool_.Close();
  MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
  ::close(listen_fd_);
  listen_fd_ = -1;
  {
    std::lock_guard<std::mutex> lock(reaper_mu_);
    reaper_stop_ = true;
  }
  reaper_cv_.notify_all();
  reaper_.join();
  std::lock_guard<std::mutex> lock(conns_mu_);
  conns_.clear();
  closing_ = 0;
}

Server::Server(ServerOptions options, ServerInputs inputs)
    : options_(options), impl_(std::make_unique<Impl>(std::move(options), std::move(inputs))) {}

Server::~Server() { Stop(); }

std::optional<std::string> Server::Start() {
  if (impl_->running()) return "server already started";
  int port = 0;
  if (auto err = impl_->Start(port)) return err;
  bound_port_ = port;
  impl_->logger().Info("http server listening",
                       {{"address", options_.address}, {"port", bound_port_}});
  return std::nullopt;
}

void Server::Stop() {
  if (!impl_->running()) return;
  impl_->Stop();
  impl_->logger().Info("http server stopped", {{"port", bound_port_}});
}

}  // namespace healthgate::server
