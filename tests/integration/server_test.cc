// The HTTP server end to end: a real server on an ephemeral loopback port, a
// real HTTP client (cpp-httplib's), results from a Store the test fills
// directly.
#include "operator/server/server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "operator/server/dashboard.h"
#include "tests/support/process.h"

namespace healthgate::server {
namespace {

using nlohmann::json;
using probes::Health;
using probes::Reason;
using probes::Result;
using probes::ThresholdState;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Never put into the store; sent by clients in headers and queries. No
// response, metric or log line may echo it.
constexpr const char* kCanary = "hg-canary-5ecr3t-9f1c";

std::string ReadAll(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return out;
}

// Sum of the samples of `family` whose label set contains every `needle`.
double SumSeries(const std::string& text, const std::string& family,
                 const std::vector<std::string>& needles = {}) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(family + "{", 0) != 0 && line.rfind(family + " ", 0) != 0) continue;
    bool all = true;
    for (const auto& n : needles) all = all && line.find(n) != std::string::npos;
    if (all) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

std::size_t CountSeries(const std::string& text, const std::string& family) {
  std::size_t n = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(family + "{", 0) == 0) ++n;
  }
  return n;
}

class ServerTest : public ::testing::Test {
 protected:
  ServerTest()
      : log_file_(std::tmpfile()),
        logger_(LogLevel::kDebug, log_file_, clock_),
        metrics_(std::make_shared<prometheus::Registry>()) {}

  ~ServerTest() override {
    server_.reset();
    if (log_file_) std::fclose(log_file_);
  }

  void StartServer(ServerOptions options = {}) {
    options.address = "127.0.0.1:0";
    server_ = std::make_unique<Server>(
        options,
        ServerInputs{
            store_, metrics_,
            HeartbeatLiveness(
                [this] { return probes::MonoTime(std::chrono::nanoseconds(heartbeat_ns_.load())); },
                clock_, seconds(5)),
            [this]() -> HealthStatus {
              if (ready_) return {true, "leader"};
              return {false, "initial load not done"};
            },
            logger_, clock_});
    auto err = server_->Start();
    ASSERT_FALSE(err.has_value()) << *err;
    ASSERT_GT(server_->BoundPort(), 0);
  }

  std::unique_ptr<httplib::Client> Client() {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", server_->BoundPort());
    c->set_connection_timeout(seconds(2));
    c->set_read_timeout(seconds(10));
    c->set_write_timeout(seconds(5));
    return c;
  }

  static results::ProbeInfoPtr Probe(std::string name, std::string type, bool critical) {
    return std::make_shared<const results::ProbeInfo>(
        results::ProbeInfo{std::move(name), std::move(type), critical, "", ""});
  }
  // shop/orders: db (postgres, critical), pay (http, non-critical).
  void AddOrders() {
    results::CheckInfo i;
    i.ns = "shop";
    i.name = "orders";
    i.generation = 3;
    i.probes = {Probe("db", "postgres", true), Probe("pay", "http", false)};
    store_.UpsertCheck(i);
  }
  void AddCheck(const std::string& ns, const std::string& name) {
    results::CheckInfo i;
    i.ns = ns;
    i.name = name;
    i.generation = 1;
    i.probes = {Probe("tcp", "tcp", true)};
    store_.UpsertCheck(i);
  }
  void Ok(const std::string& probe, const std::string& ns = "shop",
          const std::string& name = "orders") {
    Result r = Result::Success();
    r.latency = milliseconds(3);
    store_.RecordResult(ns, name, probe, r, ThresholdState{Health::kHealthy, 1, 0});
  }
  void Fail(const std::string& probe, Reason reason, const std::string& message) {
    store_.RecordResult("shop", "orders", probe, Result::Failure(reason, message),
                        ThresholdState{Health::kUnhealthy, 0, 3});
  }

  static json Json(const httplib::Result& r) {
    EXPECT_TRUE(r);
    if (!r) return json();
    EXPECT_NE(r->get_header_value("Content-Type").find("application/json"), std::string::npos);
    return json::parse(r->body);
  }

  std::string Scrape() {
    auto r = Client()->Get("/metrics");
    EXPECT_TRUE(r);
    return r ? r->body : "";
  }

  probes::SimClock clock_;
  results::Store store_{clock_};
  std::FILE* log_file_;
  Logger logger_;
  Metrics metrics_;
  std::atomic<std::int64_t> heartbeat_ns_{0};
  std::atomic<bool> ready_{false};
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, LivezFollowsTheLoopHeartbeat) {
  StartServer();
  auto c = Client();
  auto r = c->Get("/livez");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok\n");
  clock_.Advance(seconds(6));  // heartbeat stays at 0: 6 s old, limit 5 s
  r = c->Get("/livez");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("heartbeat is 6000 ms old"), std::string::npos) << r->body;
  heartbeat_ns_ = clock_.Now().time_since_epoch().count();
  EXPECT_EQ(c->Get("/livez")->status, 200);
}

TEST_F(ServerTest, ReadyzFollowsTheReadinessFunction) {
  StartServer();
  auto c = Client();
  auto r = c->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "not ok: initial load not done\n");
  ready_ = true;
  r = c->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok: leader\n");
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; charset=utf-8");
}

TEST_F(ServerTest, ReadyAndHealthFollowTheStore) {
  AddOrders();
  StartServer();
  auto c = Client();
  // No verdicts yet: Ready=Unknown.
  auto r = c->Get("/ready/shop/orders");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(Json(r)["state"], "Pending");
  EXPECT_EQ(c->Get("/health/shop/orders")->status, 503);

  // Critical probe healthy, non-critical without a verdict: ready, not healthy.
  Ok("db");
  r = c->Get("/ready/shop/orders");
  EXPECT_EQ(r->status, 200);
  json body = Json(r);
  EXPECT_EQ(body["ready"], true);
  EXPECT_EQ(body["healthy"], false);
  EXPECT_EQ(body["summary"], "1/2");
  ASSERT_EQ(body["probes"].size(), 2u);
  EXPECT_EQ(body["probes"][0]["name"], "db");
  EXPECT_EQ(body["probes"][0]["healthy"], true);
  EXPECT_EQ(body["probes"][0]["state"], "Healthy");
  EXPECT_EQ(body["probes"][0]["reason"], "success");
  EXPECT_EQ(body["probes"][0]["latencyMs"], 3.0);
  EXPECT_EQ(body["probes"][0]["lastProbeAgeSeconds"], 0.0);
  EXPECT_EQ(body["probes"][1]["state"], "Unknown");
  EXPECT_EQ(body["probes"][1]["lastProbeAgeSeconds"], -1.0);
  EXPECT_EQ(c->Get("/health/shop/orders")->status, 503);

  // Every probe healthy.
  Ok("pay");
  EXPECT_EQ(c->Get("/ready/shop/orders")->status, 200);
  r = c->Get("/health/shop/orders");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Json(r)["healthy"], true);

  // Non-critical failing: Degraded, still ready, not healthy.
  clock_.Advance(seconds(4));
  Fail("pay", Reason::kAssertion, "HTTP 503");
  r = c->Get("/ready/shop/orders");
  EXPECT_EQ(r->status, 200);
  body = Json(r);
  EXPECT_EQ(body["state"], "Degraded");
  EXPECT_EQ(body["probes"][0]["lastProbeAgeSeconds"], 4.0);
  EXPECT_EQ(body["probes"][1]["reason"], "assertion");
  EXPECT_EQ(body["probes"][1]["message"], "HTTP 503");
  r = c->Get("/health/shop/orders");
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(Json(r)["healthy"], false);

  // Critical failing: not ready.
  Fail("db", Reason::kConnect, "connection refused");
  r = c->Get("/ready/shop/orders");
  EXPECT_EQ(r->status, 503);
  body = Json(r);
  EXPECT_EQ(body["state"], "NotReady");
  EXPECT_EQ(body["reason"], "ProbeFailing");
  EXPECT_EQ(body["message"], "db: connection refused");
}

TEST_F(ServerTest, UnknownChecksAre404Json) {
  AddOrders();
  StartServer();
  auto c = Client();
  for (const char* path :
       {"/ready/shop/nope", "/health/nope/orders", "/api/v1/healthchecks/shop/nope"}) {
    auto r = c->Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 404) << path;
    json body = Json(r);
    EXPECT_EQ(body["status"], 404) << path;
    EXPECT_NE(body["error"].get<std::string>().find("not found"), std::string::npos);
  }
  for (const char* path : {"/nope", "/ready/shop", "/ready/shop/orders/x", "/ready/shop/orders/",
                           "/api/v1/healthchecks/", "/api/v2/healthchecks", "//livez", "/livez/"}) {
    auto r = c->Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_EQ(Json(r), (json{{"error", "not found"}, {"status", 404}})) << path;
  }
}

TEST_F(ServerTest, ApiListsEveryCheckAndFiltersByNamespace) {
  AddOrders();
  AddCheck("shop", "cart");
  AddCheck("billing", "invoices");
  Ok("db");
  StartServer();
  auto c = Client();
  json all = Json(c->Get("/api/v1/healthchecks"));
  ASSERT_TRUE(all.is_array());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0]["namespace"], "billing");  // sorted by namespace, then name
  EXPECT_EQ(all[1]["name"], "cart");
  EXPECT_EQ(all[2]["name"], "orders");
  EXPECT_TRUE(all[2].contains("conditions"));
  EXPECT_EQ(all[2]["probes"][0]["history"].size(), 1u);

  json shop = Json(c->Get("/api/v1/healthchecks?namespace=shop"));
  ASSERT_EQ(shop.size(), 2u);
  for (const auto& ch : shop) EXPECT_EQ(ch["namespace"], "shop");
  json none = Json(c->Get("/api/v1/healthchecks?namespace=elsewhere"));
  EXPECT_EQ(none, json::array());
}

TEST_F(ServerTest, ApiShowsOneCheck) {
  AddOrders();
  Ok("db");
  Fail("pay", Reason::kTimeout, "no answer within 2s");
  StartServer();
  auto r = Client()->Get("/api/v1/healthchecks/shop/orders");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  json body = Json(r);
  EXPECT_EQ(body["namespace"], "shop");
  EXPECT_EQ(body["name"], "orders");
  EXPECT_EQ(body["state"], "Degraded");
  EXPECT_EQ(body["summary"], "1/2");
  EXPECT_EQ(body["conditions"][0]["type"], "Ready");
  EXPECT_EQ(body["conditions"][0]["status"], "True");
  EXPECT_EQ(body["probes"][1]["reason"], "timeout");
  EXPECT_EQ(body["probes"][1]["history"][0]["healthy"], false);
}

TEST_F(ServerTest, InvalidUtf8InAMessageIsServedNotFailed) {
  AddOrders();
  Fail("db", Reason::kProtocol, "bad banner \xff\xfe");
  StartServer();
  auto c = Client();
  for (const char* path :
       {"/api/v1/healthchecks", "/ready/shop/orders", "/api/v1/healthchecks/shop/orders"}) {
    auto r = c->Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_NE(r->status, 500) << path;
    EXPECT_TRUE(json::accept(r->body)) << path;
  }
}

TEST_F(ServerTest, OtherMethodsAre405WithAllow) {
  AddOrders();
  StartServer();
  auto c = Client();
  std::vector<httplib::Result> results;
  results.push_back(c->Post("/ready/shop/orders", "x", "text/plain"));
  results.push_back(c->Put("/api/v1/healthchecks/shop/orders", "{}", "application/json"));
  results.push_back(c->Delete("/metrics"));
  results.push_back(c->Patch("/livez", "x", "text/plain"));
  results.push_back(c->Options("/"));
  for (auto& r : results) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
    json body = Json(r);
    EXPECT_EQ(body["status"], 405);
    EXPECT_NE(body["error"].get<std::string>().find("method not allowed"), std::string::npos);
  }
  // An unknown path stays 404 whatever the method.
  auto r = c->Post("/nope", "x", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(Json(r)["status"], 404);
  // The connection still works after a request with a body.
  EXPECT_EQ(c->Get("/livez")->status, 200);
}

TEST_F(ServerTest, OversizedBodyIs413Json) {
  StartServer();
  auto r = Client()->Post("/ready/shop/orders", std::string(9000, 'x'), "text/plain");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(Json(r)["status"], 413);
}

TEST_F(ServerTest, HeadAnswersLikeGetWithoutBody) {
  AddOrders();
  Ok("db");
  StartServer();
  auto c = Client();
  for (const char* path : {"/", "/livez", "/readyz", "/metrics", "/api/v1/healthchecks",
                           "/api/v1/healthchecks/shop/orders", "/ready/shop/orders",
                           "/health/shop/orders", "/ready/shop/nope", "/nope"}) {
    auto get = c->Get(path);
    auto head = c->Head(path);
    ASSERT_TRUE(get) << path;
    ASSERT_TRUE(head) << path;
    EXPECT_EQ(head->status, get->status) << path;
    EXPECT_TRUE(head->body.empty()) << path;
    EXPECT_EQ(head->get_header_value("Content-Type"), get->get_header_value("Content-Type"))
        << path;
  }
  // The connection is still in sync after HEADs (no stray body bytes).
  EXPECT_EQ(c->Get("/livez")->body, "ok\n");
}

TEST_F(ServerTest, MetricsEndpointServesPrometheusText) {
  AddOrders();
  StartServer();
  metrics_.CheckReady("shop", "orders", true);
  auto c = Client();
  ASSERT_EQ(c->Get("/livez")->status, 200);
  auto r = c->Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(
      r->body.find("healthgate_healthcheck_ready{healthcheck=\"orders\",namespace=\"shop\"} 1"),
      std::string::npos);
  EXPECT_EQ(SumSeries(r->body, "healthgate_http_requests_total",
                      {"route=\"/livez\"", "method=\"GET\"", "code=\"200\""}),
            1);
  EXPECT_NE(r->body.find("process_resident_memory_bytes"), std::string::npos);
}

TEST_F(ServerTest, RequestSeriesUseRouteTemplatesNotPaths) {
  AddOrders();
  StartServer();
  auto c = Client();
  for (int i = 0; i < 100; ++i) {
    std::string n = "name" + std::to_string(i);
    EXPECT_EQ(c->Get("/ready/shop/" + n)->status, 404);
    EXPECT_EQ(c->Get("/health/ns" + std::to_string(i) + "/x")->status, 404);
    EXPECT_EQ(c->Get("/api/v1/healthchecks/shop/" + n)->status, 404);
    EXPECT_EQ(c->Get("/random/" + n)->status, 404);
    EXPECT_EQ(c->Post("/ready/shop/" + n, "", "text/plain")->status, 405);
  }
  std::string text = Scrape();
  // route x method x code combinations actually used: a handful.
  EXPECT_LE(CountSeries(text, "healthgate_http_requests_total"), 8u) << text;
  EXPECT_LE(CountSeries(text, "healthgate_http_request_duration_seconds_count"), 6u);
  EXPECT_EQ(text.find("name42"), std::string::npos);
  EXPECT_EQ(text.find("ns42"), std::string::npos);
  EXPECT_EQ(SumSeries(text, "healthgate_http_requests_total",
                      {"route=\"/ready/{namespace}/{name}\"", "method=\"GET\"", "code=\"404\""}),
            100);
  EXPECT_EQ(SumSeries(text, "healthgate_http_requests_total",
                      {"route=\"/ready/{namespace}/{name}\"", "method=\"POST\"", "code=\"405\""}),
            100);
  EXPECT_EQ(SumSeries(text, "healthgate_http_requests_total", {"route=\"other\""}), 100);
}

TEST_F(ServerTest, DashboardIsSelfContainedAndEscapesText) {
  AddOrders();
  StartServer();
  auto r = Client()->Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("default-src 'none'"),
            std::string::npos);
  const std::string& html = r->body;
  EXPECT_EQ(html, std::string(DashboardHtml()));
  EXPECT_NE(html.find("<!doctype html>"), std::string::npos);
  // Polls the API every 2 s.
  EXPECT_NE(html.find("api/v1/healthchecks"), std::string::npos);
  EXPECT_NE(html.find("POLL_MS = 2000"), std::string::npos);
  // Stable attributes for tests and scripts.
  for (const char* attr : {"data-check", "data-probe", "data-state", "\"healthy\"", "\"unhealthy\"",
                           "\"unknown\"", "history"}) {
    EXPECT_NE(html.find(attr), std::string::npos) << attr;
  }
  // Offline: no external resources. Escaping: text only through textContent.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("innerHTML"), std::string::npos);
  EXPECT_EQ(html.find("outerHTML"), std::string::npos);
  EXPECT_EQ(html.find("insertAdjacentHTML"), std::string::npos);
  EXPECT_EQ(html.find("document.write"), std::string::npos);
  EXPECT_NE(html.find("textContent"), std::string::npos);
}

// A real browser (headless Chromium, from scripts/setup.sh) runs the page's
// script against the live API and the DOM it builds is checked.
TEST_F(ServerTest, DashboardRendersChecksInABrowser) {
  AddOrders();
  Ok("db");
  Fail("pay", Reason::kAssertion, "<b id=\"injected\">HTTP 503</b>");
  StartServer();
  testing::TempDir profile;
  auto r =
      testing::Run({"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--user-data-dir=" + profile.path(), "--virtual-time-budget=5000", "--dump-dom",
                    "http://127.0.0.1:" + std::to_string(server_->BoundPort()) + "/"},
                   std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << "headless chromium failed (install the Debian package "
                               "`chromium`):\n"
                            << r.output;
  const std::string& dom = r.output;
  EXPECT_NE(dom.find("data-check=\"shop/orders\""), std::string::npos) << dom;
  EXPECT_NE(dom.find("data-check-state=\"Degraded\""), std::string::npos);
  EXPECT_NE(dom.find("data-probe=\"db\" data-state=\"healthy\""), std::string::npos);
  EXPECT_NE(dom.find("data-probe=\"pay\" data-state=\"unhealthy\""), std::string::npos);
  EXPECT_NE(dom.find("1/1 checks ready"), std::string::npos);
  // The message is text, not markup.
  EXPECT_NE(dom.find("&lt;b id=\"injected\"&gt;HTTP 503&lt;/b&gt;"), std::string::npos) << dom;
  EXPECT_EQ(dom.find("<b id=\"injected\">"), std::string::npos);
  // API requests made by the page are counted under their route.
  EXPECT_GE(SumSeries(Scrape(), "healthgate_http_requests_total",
                      {"route=\"/api/v1/healthchecks\"", "code=\"200\""}),
            1);
}

TEST_F(ServerTest, CanaryFromClientsNeverAppearsInAnyOutput) {
  AddOrders();
  Ok("db");
  Fail("pay", Reason::kAuth, "authentication failed for user app");
  ready_ = true;
  StartServer();
  auto c = Client();
  httplib::Headers headers = {{"Authorization", std::string("Bearer ") + kCanary},
                              {"Cookie", std::string("session=") + kCanary},
                              {"X-Api-Key", kCanary}};
  std::string q = std::string("?token=") + kCanary;
  std::string all;
  for (const char* path : {"/", "/livez", "/readyz", "/metrics", "/api/v1/healthchecks",
                           "/api/v1/healthchecks/shop/orders", "/ready/shop/orders",
                           "/health/shop/orders", "/ready/shop/nope", "/nope"}) {
    std::vector<httplib::Result> rs;
    rs.push_back(c->Get(std::string(path) + q, headers));
    rs.push_back(c->Head(path, headers));
    rs.push_back(c->Post(std::string(path) + q, headers, kCanary, "text/plain"));
    for (const auto& r : rs) {
      ASSERT_TRUE(r) << path;
      all += r->body;
      for (const auto& [k, v] : r->headers) all += k + ": " + v + "\n";
    }
  }
  all += Scrape();
  all += metrics_.Serialize();
  std::string logs = ReadAll(log_file_);
  EXPECT_NE(logs.find("http request"), std::string::npos) << "debug request logs expected";
  EXPECT_EQ(all.find(kCanary), std::string::npos);
  EXPECT_EQ(all.find("5ecr3t"), std::string::npos);
  EXPECT_EQ(logs.find(kCanary), std::string::npos) << logs;
  EXPECT_EQ(logs.find("5ecr3t"), std::string::npos);
}

TEST_F(ServerTest, ConcurrentKeepAliveClientsAllSucceed) {
  AddOrders();
  AddCheck("billing", "invoices");
  Ok("db");
  Ok("pay");
  ready_ = true;
  ServerOptions opts;
  opts.threads = 8;
  StartServer(opts);

  // A writer keeps changing the store while the clients read it.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    int i = 0;
    while (!stop) {
      Ok("tcp", "billing", "invoices");
      if (++i % 2 == 0) Ok("pay");
      metrics_.CheckReady("shop", "orders", i % 2 == 0);
    }
  });

  constexpr int kThreads = 8;
  constexpr int kRequests = 200;
  const std::vector<std::pair<std::string, int>> plan = {
      {"/ready/shop/orders", 200},
      {"/livez", 200},
      {"/api/v1/healthchecks", 200},
      {"/api/v1/healthchecks/billing/invoices", 200},
      {"/metrics", 200},
      {"/readyz", 200},
      {"/ready/shop/nope", 404},
      {"/", 200}};
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  std::mutex failures_mu;
  std::vector<std::string> failures;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      httplib::Client cli("127.0.0.1", server_->BoundPort());
      cli.set_keep_alive(true);
      cli.set_connection_timeout(seconds(2));
      cli.set_read_timeout(seconds(10));
      for (int i = 0; i < kRequests; ++i) {
        const auto& [path, want] = plan[static_cast<std::size_t>(t + i) % plan.size()];
        auto r = cli.Get(path);
        if (r && r->status == want) {
          ++ok;
        } else {
          std::lock_guard<std::mutex> lock(failures_mu);
          failures.push_back(path + ": " +
                             (r ? std::to_string(r->status) : httplib::to_string(r.error())));
        }
      }
    });
  }
  for (auto& th : clients) th.join();
  stop = true;
  writer.join();
  EXPECT_EQ(ok.load(), kThreads * kRequests);
  EXPECT_TRUE(failures.empty()) << failures.front() << " (+" << failures.size() - 1 << ")";
  std::string text = Scrape();
  EXPECT_GE(SumSeries(text, "healthgate_http_requests_total"), kThreads * kRequests);
}

TEST_F(ServerTest, StopWithAnIdleKeepAliveClientReturnsPromptly) {
  ServerOptions opts;
  opts.keep_alive_timeout = seconds(1);
  StartServer(opts);
  httplib::Client cli("127.0.0.1", server_->BoundPort());
  cli.set_keep_alive(true);
  ASSERT_EQ(cli.Get("/livez")->status, 200);  // the connection stays open, idle
  auto start = std::chrono::steady_clock::now();
  server_->Stop();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, seconds(3)) << "Stop() took "
                              << std::chrono::duration_cast<milliseconds>(took).count() << " ms";
  // Nothing accepts any more.
  httplib::Client fresh("127.0.0.1", server_->BoundPort());
  fresh.set_connection_timeout(seconds(1));
  EXPECT_FALSE(fresh.Get("/livez"));
  server_->Stop();  // idempotent
}

TEST_F(ServerTest, StopLetsAnInFlightResponseFinish) {
  StartServer();
  // The readiness function blocks until released, so a request is in flight
  // while Stop() runs.
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  ServerOptions opts;
  opts.address = "127.0.0.1:0";
  Server blocking(opts, ServerInputs{store_, metrics_, nullptr,
                                     [&]() -> HealthStatus {
                                       std::unique_lock<std::mutex> lock(mu);
                                       entered = true;
                                       cv.notify_all();
                                       cv.wait(lock, [&] { return release; });
                                       return {true, ""};
                                     },
                                     logger_, clock_});
  ASSERT_FALSE(blocking.Start().has_value());
  auto response = std::async(std::launch::async, [&] {
    httplib::Client cli("127.0.0.1", blocking.BoundPort());
    cli.set_read_timeout(seconds(10));
    auto r = cli.Get("/readyz");
    return r ? r->status : -1;
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, seconds(5), [&] { return entered; }));
  }
  auto stopped = std::async(std::launch::async, [&] { blocking.Stop(); });
  EXPECT_EQ(stopped.wait_for(milliseconds(200)), std::future_status::timeout)
      << "Stop() must wait for the in-flight response";
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_EQ(response.get(), 200);
  ASSERT_EQ(stopped.wait_for(seconds(5)), std::future_status::ready);
}

TEST_F(ServerTest, StartReportsBadAddressesAndPortsInUse) {
  StartServer();
  ServerOptions opts;
  opts.address = "127.0.0.1:" + std::to_string(server_->BoundPort());
  Server second(opts, ServerInputs{store_, metrics_, nullptr, nullptr, logger_, clock_});
  auto err = second.Start();
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find("cannot bind"), std::string::npos) << *err;

  opts.address = "localhost";
  Server bad(opts, ServerInputs{store_, metrics_, nullptr, nullptr, logger_, clock_});
  err = bad.Start();
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find("bad address"), std::string::npos) << *err;
}

TEST(ServerAddress, Parses) {
  std::string err;
  auto a = ParseBindAddress(":8080", err);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(a->port, 8080);
  a = ParseBindAddress("127.0.0.1:0", err);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 0);
  a = ParseBindAddress("[::1]:9000", err);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 9000);
  a = ParseBindAddress("metrics.local:65535", err);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "metrics.local");
  for (const char* bad :
       {"", "8080", ":", ":65536", ":-1", ":80x", "::1:80", "[::1]", "[]:80", "host:", ":8080 "}) {
    err.clear();
    EXPECT_FALSE(ParseBindAddress(bad, err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(ServerRoutes, MatchTemplates) {
  EXPECT_EQ(MatchRoute("/").route, "/");
  EXPECT_EQ(MatchRoute("/livez").id, RouteId::kLivez);
  EXPECT_EQ(MatchRoute("/readyz").id, RouteId::kReadyz);
  EXPECT_EQ(MatchRoute("/metrics").id, RouteId::kMetrics);
  EXPECT_EQ(MatchRoute("/api/v1/healthchecks").id, RouteId::kList);
  auto m = MatchRoute("/api/v1/healthchecks/shop/orders");
  EXPECT_EQ(m.id, RouteId::kOne);
  EXPECT_EQ(m.route, "/api/v1/healthchecks/{namespace}/{name}");
  EXPECT_EQ(m.ns, "shop");
  EXPECT_EQ(m.name, "orders");
  m = MatchRoute("/ready/a/b");
  EXPECT_EQ(m.route, "/ready/{namespace}/{name}");
  EXPECT_EQ(m.ns, "a");
  EXPECT_EQ(m.name, "b");
  EXPECT_EQ(MatchRoute("/health/a/b").route, "/health/{namespace}/{name}");
  for (const char* other : {"", "livez", "/livez/", "/ready/a", "/ready/a/b/c", "/ready//b",
                            "/api/v1", "/api/v1/healthchecks/a", "/x"}) {
    EXPECT_EQ(MatchRoute(other).id, RouteId::kOther) << other;
    EXPECT_EQ(MatchRoute(other).route, "other") << other;
  }
}

}  // namespace
}  // namespace healthgate::server
